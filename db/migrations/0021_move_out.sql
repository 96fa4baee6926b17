-- 0021_move_out.sql: a tenant moves out (issue 15, item 6): its final readings billed, its
-- share of the month's pools so far posted, a final statement, the balance paid back or left
-- as arrears, its meters vacant and its account closed to new money; once.
CREATE TABLE move_outs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           bigint NOT NULL UNIQUE REFERENCES tenants(id),
    at                  timestamptz NOT NULL,
    at_date             date NOT NULL,
    settlement          text NOT NULL CHECK (settlement IN ('refund', 'cash', 'carry')),
    energy_minor        bigint NOT NULL,
    shared_minor        bigint NOT NULL,
    final_balance_minor bigint NOT NULL,
    refund_minor        bigint NOT NULL CHECK (refund_minor >= 0),
    cash_minor          bigint NOT NULL CHECK (cash_minor >= 0),
    arrears_minor       bigint NOT NULL CHECK (arrears_minor >= 0),
    cash_entry_id       bigint REFERENCES ledger_entries(id),
    statement_id        bigint NOT NULL REFERENCES reports(id),
    meter_ids           bigint[] NOT NULL,
    created_at          timestamptz NOT NULL,
    api_key_id          bigint REFERENCES api_keys(id),
    request_id          text
);
COMMENT ON TABLE move_outs IS 'one row per tenant that moved out: the UNIQUE tenant_id is what makes a move-out happen once';
COMMENT ON COLUMN move_outs.at_date IS 'the site-local day of at: tenants.move_out, the last day the tenant occupied its unit';
COMMENT ON COLUMN move_outs.final_balance_minor IS 'the balance once the final readings and the shared costs were posted, before any settlement: signed';
COMMENT ON COLUMN move_outs.refund_minor IS 'asked of the providers (refunds with origin move_out); debited as each is confirmed';
COMMENT ON COLUMN move_outs.cash_minor IS 'paid out in cash now (ledger kind refund, ref channel cash): what no provider could take back';
COMMENT ON COLUMN move_outs.arrears_minor IS 'a negative final balance, left on the closed account for collection';
COMMENT ON COLUMN move_outs.meter_ids IS 'the meters the tenant had, now vacant';

-- A moved-out tenant's share of a pool's month, posted at the move-out: the month's run
-- keeps that line as it is (posted once) and shares the rest among the others.
CREATE TABLE move_out_shares (
    move_out_id     bigint NOT NULL REFERENCES move_outs(id),
    tenant_id       bigint NOT NULL REFERENCES tenants(id),
    pool_id         bigint NOT NULL REFERENCES cost_pools(id),
    period          text NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    basis           jsonb NOT NULL,
    days            integer NOT NULL,
    days_in_period  integer NOT NULL,
    ledger_entry_id bigint REFERENCES ledger_entries(id),
    PRIMARY KEY (pool_id, period, tenant_id)
);
COMMENT ON TABLE move_out_shares IS 'what a tenant that moved out during a period paid of a pool''s cost so far, over the days it occupied its unit; the period''s run keeps it as that tenant''s line and posts it no second time';
COMMENT ON COLUMN move_out_shares.ledger_entry_id IS 'NULL when the share was 0 (nothing posted)';

ALTER TABLE accounts ADD COLUMN closed_at timestamptz;
COMMENT ON COLUMN accounts.closed_at IS 'the tenant moved out: no top-up, payment or order credits it any more (a payment that still arrives is kept as a conflict, account_closed); refunds and adjustments still post; a negative balance is arrears';

ALTER TABLE payment_conflicts DROP CONSTRAINT payment_conflicts_reason_check;
ALTER TABLE payment_conflicts ADD CONSTRAINT payment_conflicts_reason_check
    CHECK (reason IN ('unknown_order', 'amount_mismatch', 'currency_mismatch', 'order_already_paid', 'no_account',
                      'account_closed'));

ALTER TABLE reports DROP CONSTRAINT reports_origin_check;
ALTER TABLE reports ADD CONSTRAINT reports_origin_check CHECK (origin IN ('api', 'month_close', 'move_out'));
COMMENT ON COLUMN reports.origin IS 'api: asked for; month_close: the month close; move_out: a tenant''s final statement, from the month''s start to its move-out';
