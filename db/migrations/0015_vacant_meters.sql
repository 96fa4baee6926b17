-- 0015_vacant_meters.sql: what a meter charged while it had no tenant (a vacant shop, a
-- public-area meter) is posted to no ledger; counting it lets `wattle verify` check every
-- meter's charges against the ledgers to the unit. And the audit chain's head row may not
-- be deleted: without it every audited change would be refused.
ALTER TABLE meter_state ADD COLUMN unposted_minor bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN meter_state.unposted_minor IS 'minor units of charged_minor charged while the meter had no tenant (posted to no ledger)';
UPDATE meter_state st SET unposted_minor = st.charged_minor - coalesce((SELECT -sum(e.amount_minor) FROM ledger_entries e
    WHERE e.kind = 'energy_charge' AND e.ref->>'meter_id' = 'mtr_' || st.meter_id), 0);

CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
