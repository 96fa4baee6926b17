-- 0025_message_limits.sql: the limits on messages to a tenant (issue 16): at most N an hour
-- (WATTLE_TENANT_MESSAGES_PER_HOUR; only the cut-off notice goes beyond it) and the same event
-- with the same text once in 10 minutes. The sender admits each message when it has rendered
-- it, under the tenant's row lock, counting the messages admitted before; what it does not
-- admit is 'suppressed' (last_error says why).
ALTER TABLE notifications ADD COLUMN admitted_at timestamptz;
COMMENT ON COLUMN notifications.admitted_at IS 'when the sender let this tenant message go out (the limits count these); NULL: not yet, or suppressed, or not a tenant''s message';
CREATE INDEX notifications_tenant_admitted ON notifications (tenant_id, admitted_at) WHERE admitted_at IS NOT NULL;
