-- 0004_prepaid.sql: the prepaid control loop's state: warning marks, site holidays, and the
-- outboxes of meter commands and notifications (DESIGN.md, money path step 5).

ALTER TABLE accounts ADD COLUMN warned_mask integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN accounts.warned_mask IS 'bit i: warning level i of the policy was sent and not re-armed';
COMMENT ON COLUMN accounts.supply IS 'the relay as last acknowledged, or pending_off / pending_on while a command is out';

CREATE TABLE site_holidays (
    site_id bigint NOT NULL REFERENCES sites(id),
    day     date NOT NULL,
    name    text NOT NULL,
    PRIMARY KEY (site_id, day)
);
COMMENT ON TABLE site_holidays IS 'site-local dates on which no cut is executed';

CREATE TABLE commands (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id        bigint NOT NULL REFERENCES meters(id),
    account_id      bigint REFERENCES accounts(id),
    action          text NOT NULL CHECK (action IN ('cut_off', 'restore')),
    reason          text NOT NULL,
    origin          text NOT NULL CHECK (origin IN ('auto', 'operator')),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'acked', 'failed', 'superseded')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    sent_at         timestamptz,
    acked_at        timestamptz,
    result          text,
    relay           text,
    detail          text,
    api_key_id      bigint REFERENCES api_keys(id)
);
COMMENT ON TABLE commands IS 'outbox of relay commands, per meter in id order; a restore supersedes a pending cut and the reverse';
CREATE INDEX commands_due ON commands (next_attempt_at) WHERE state = 'pending';
CREATE INDEX commands_meter ON commands (meter_id, id);
CREATE INDEX commands_state ON commands (state, id);

CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint REFERENCES tenants(id),
    kind            text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('sms', 'webhook')),
    recipient       text,
    body            text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    sent_at         timestamptz,
    last_error      text
);
COMMENT ON TABLE notifications IS 'outbox of messages to tenants (sms) and events to the control room (webhook)';
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_state ON notifications (state, id);
