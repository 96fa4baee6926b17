-- 0019_receipts.sql: numbered electronic receipts (issue 15, item 5). Every credited top-up
-- (any channel) and every refund or cash payout gets one, issued in the transaction that
-- posts its ledger entry. Numbers are gapless per site, series and site-local year: a
-- counter row bumped (INSERT .. ON CONFLICT DO UPDATE .. RETURNING) in that transaction,
-- never a sequence, so a rolled-back credit hands out no number and the counter's row lock
-- orders the issuers of one series. Receipts are chained by hash within their counter, like
-- the audit log (0014). A receipt is not a tax invoice (fapiao) and says so.
ALTER TABLE sites ADD COLUMN legal_name text, ADD COLUMN tax_id text;
COMMENT ON COLUMN sites.legal_name IS 'the operator''s registered name, printed on receipts; NULL: the receipt says it is not set';
COMMENT ON COLUMN sites.tax_id IS 'the operator''s tax id (China: the unified social credit code), printed on receipts; NULL: not set';

-- The series:
--   TOPUP   money in: a provider payment credited (notification, query, a resolved conflict)
--           or a cashier top-up (cash, bank, card)
--   REFUND  money back to the tenant through the channel it came in by (a provider refund,
--           however initiated): a credit note citing the TOPUP receipt of the payment
--   PAYOUT  money back in cash (a move-out settled in cash), citing what it settles if known
CREATE TABLE receipt_counters (
    site_id    bigint NOT NULL REFERENCES sites(id),
    series     text NOT NULL CHECK (series IN ('TOPUP', 'REFUND', 'PAYOUT')),
    year       integer NOT NULL CHECK (year BETWEEN 1970 AND 9999),
    last_no    bigint NOT NULL CHECK (last_no >= 1),
    last_hash  text NOT NULL,
    PRIMARY KEY (site_id, series, year)
);
COMMENT ON TABLE receipt_counters IS 'one row per site, series and site-local year: last_no is the last number issued (1, 2, ... without gaps), last_hash that receipt''s hash; bumped in the issuing transaction, so its row lock serializes the issuers of a series';

CREATE TABLE receipts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id           bigint NOT NULL REFERENCES sites(id),
    series            text NOT NULL CHECK (series IN ('TOPUP', 'REFUND', 'PAYOUT')),
    year              integer NOT NULL,
    seq               bigint NOT NULL CHECK (seq >= 1),
    number            text NOT NULL UNIQUE,
    issued_at         timestamptz NOT NULL,
    issued_local      text NOT NULL,
    legal_name        text,
    tax_id            text,
    site_name         text NOT NULL,
    tenant_id         bigint NOT NULL REFERENCES tenants(id),
    tenant_name       text NOT NULL,
    shop              text NOT NULL,
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    currency          char(3) NOT NULL,
    channel           text NOT NULL,
    provider_txn_id   text,
    reference         text,
    payment_id        bigint REFERENCES payments(id),
    ledger_entry_id   bigint NOT NULL UNIQUE REFERENCES ledger_entries(id),
    balance_before_minor bigint NOT NULL,
    balance_after_minor  bigint NOT NULL,
    cites_receipt_id  bigint REFERENCES receipts(id),
    cites_number      text,
    prev_hash         text NOT NULL,
    hash              text NOT NULL,
    UNIQUE (site_id, series, year, seq),
    FOREIGN KEY (site_id, series, year) REFERENCES receipt_counters (site_id, series, year),
    CHECK ((series = 'TOPUP') = (balance_after_minor > balance_before_minor)),
    CHECK ((cites_receipt_id IS NULL) = (cites_number IS NULL))
);
COMMENT ON TABLE receipts IS 'append-only: a refund is a new REFUND receipt citing the original, never an edit';
COMMENT ON COLUMN receipts.number IS '"S<site id>-<series>-<site-local year>-<seq, 6 digits or more>", e.g. S1-TOPUP-2026-000017';
COMMENT ON COLUMN receipts.issued_local IS 'the issue time in the site''s time zone, "YYYY-MM-DD HH:MM:SS +HH:MM", as printed';
COMMENT ON COLUMN receipts.amount_minor IS 'what the tenant paid (TOPUP) or was given back (REFUND, PAYOUT): positive; the balances say which way it went';
COMMENT ON COLUMN receipts.shop IS 'the tenant''s trading name and category as printed ("name (category)")';
COMMENT ON COLUMN receipts.channel IS 'wechat, alipay, stripe, cash, bank or card';
COMMENT ON COLUMN receipts.provider_txn_id IS 'the provider''s payment id (WeChat transaction_id, Alipay trade_no, Stripe PaymentIntent); NULL for the cashier';
COMMENT ON COLUMN receipts.reference IS 'the cashier''s reference, or the provider''s refund id';
COMMENT ON COLUMN receipts.prev_hash IS 'the hash of the receipt before it in its counter (site, series, year); "" for the first';
COMMENT ON COLUMN receipts.hash IS 'receipt_hash(the row): lowercase hex SHA-256, set on insert';
CREATE INDEX receipts_tenant ON receipts (tenant_id, id);
CREATE INDEX receipts_payment ON receipts (payment_id) WHERE payment_id IS NOT NULL;

-- What a receipt's hash covers: the UTF-8 text of these fields, one per line in this order
-- (an absent one is an empty line), after the previous receipt's hash:
--   prev_hash, number, series, year, seq, issued_at (unix microseconds), issued_local,
--   legal_name, tax_id, site_id, site_name, tenant_id, tenant_name, shop, amount_minor, currency,
--   channel, provider_txn_id, reference, balance_before_minor, balance_after_minor,
--   cites_number
-- so anyone holding a receipt and the one before it can recompute it.
CREATE FUNCTION receipt_hash(r receipts) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\n', r.prev_hash, r.number, r.series, r.year::text, r.seq::text,
        ((extract(epoch FROM r.issued_at) * 1000000)::bigint)::text, r.issued_local, coalesce(r.legal_name, ''),
        coalesce(r.tax_id, ''), r.site_id::text, r.site_name, r.tenant_id::text, r.tenant_name, r.shop, r.amount_minor::text,
        r.currency::text, r.channel, coalesce(r.provider_txn_id, ''), coalesce(r.reference, ''),
        r.balance_before_minor::text, r.balance_after_minor::text, coalesce(r.cites_number, '')), 'UTF8')), 'hex')
$$;

CREATE FUNCTION receipt_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.hash := receipt_hash(NEW);
    RETURN NEW;
END $$;
CREATE TRIGGER receipt_seal BEFORE INSERT ON receipts FOR EACH ROW EXECUTE FUNCTION receipt_seal();

CREATE FUNCTION receipt_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'receipts are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER receipts_no_update BEFORE UPDATE OR DELETE ON receipts
    FOR EACH ROW EXECUTE FUNCTION receipt_append_only();
CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON receipts
    FOR EACH STATEMENT EXECUTE FUNCTION receipt_append_only();
