-- 0020_reconciliations.sql: a day's provider bill checked against the ledger (issue 15).
-- Each run is kept whole: what matched, what the provider has and wattle had not (credited
-- at the run when it matches an order, else kept as a payment conflict), what wattle has and
-- the provider's bill has not, and what differs in amount.
CREATE TABLE reconciliations (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider             text NOT NULL CHECK (provider IN ('wechat', 'alipay', 'stripe')),
    bill_date            date NOT NULL,
    site_id              bigint NOT NULL REFERENCES sites(id),
    timezone             text NOT NULL,
    state                text NOT NULL CHECK (state IN ('done', 'failed')),
    matched              integer NOT NULL DEFAULT 0,
    missing_in_wattle    integer NOT NULL DEFAULT 0,
    missing_at_provider  integer NOT NULL DEFAULT 0,
    amount_mismatch      integer NOT NULL DEFAULT 0,
    credited             integer NOT NULL DEFAULT 0,
    provider_total_minor bigint NOT NULL DEFAULT 0,
    wattle_total_minor   bigint NOT NULL DEFAULT 0,
    error                text,
    origin               text NOT NULL CHECK (origin IN ('finance', 'schedule')),
    created_at           timestamptz NOT NULL,
    api_key_id           bigint REFERENCES api_keys(id)
);
COMMENT ON TABLE reconciliations IS 'one run of a provider''s bill for one site-local day against the payments wattle recorded; runs may be repeated, each is kept';
COMMENT ON COLUMN reconciliations.provider_total_minor IS 'payments less refunds on the provider''s bill';
COMMENT ON COLUMN reconciliations.wattle_total_minor IS 'payments credited less refunds wattle recorded for the same day (received in its bounds); a payment kept as a conflict matches its line but is not in this total';
CREATE INDEX reconciliations_day ON reconciliations (provider, bill_date, id);

CREATE TABLE reconciliation_lines (
    reconciliation_id bigint NOT NULL REFERENCES reconciliations(id),
    n                 integer NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('missing_in_wattle', 'missing_at_provider', 'amount_mismatch')),
    type              text NOT NULL CHECK (type IN ('payment', 'refund')),
    provider_txn_id   text NOT NULL,
    out_trade_no      text,
    refund_ref        text,
    provider_minor    bigint,
    wattle_minor      bigint,
    payment_id        bigint REFERENCES payments(id),
    action            text NOT NULL,
    PRIMARY KEY (reconciliation_id, n)
);
COMMENT ON TABLE reconciliation_lines IS 'every line of a run that did not match';
COMMENT ON COLUMN reconciliation_lines.action IS 'what the run did: credited (a paid order found only on the bill), conflict (kept for finance, with its reason), none (a person looks)';
