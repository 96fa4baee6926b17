-- 0001_init.sql: sites, tenants, credit policies, tariffs, meters, accounts, the
-- append-only ledger, API keys, idempotency keys and the audit log.
-- Money is bigint minor units; rates bigint micro-units per kWh; times timestamptz UTC.

CREATE TABLE sites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL,
    currency    char(3) NOT NULL,
    created_at  timestamptz NOT NULL
);
COMMENT ON COLUMN sites.timezone IS 'IANA zone: TOU bands, billing months and quiet hours are in this local time';

CREATE TABLE tenants (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites(id),
    name            text NOT NULL,
    category        text NOT NULL,
    area_centi_m2   bigint NOT NULL CHECK (area_centi_m2 >= 0),
    credit_rating   char(1) NOT NULL CHECK (credit_rating IN ('A', 'B', 'C', 'D')),
    phone           text,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
COMMENT ON COLUMN tenants.area_centi_m2 IS 'floor area in hundredths of a square metre (exact; the API shows "86.50")';
CREATE INDEX tenants_site ON tenants (site_id, id);

CREATE TABLE credit_policies (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id             bigint NOT NULL REFERENCES sites(id),
    rating              char(1) NOT NULL CHECK (rating IN ('A', 'B', 'C', 'D')),
    warn_levels_minor   bigint[] NOT NULL,
    overdraft_minor     bigint NOT NULL CHECK (overdraft_minor >= 0),
    grace_minutes       integer NOT NULL CHECK (grace_minutes >= 0),
    restore_min_minor   bigint NOT NULL CHECK (restore_min_minor >= 0),
    quiet_from_min      smallint CHECK (quiet_from_min BETWEEN 0 AND 1439),
    quiet_to_min        smallint CHECK (quiet_to_min BETWEEN 0 AND 1440),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (site_id, rating),
    CHECK ((quiet_from_min IS NULL) = (quiet_to_min IS NULL))
);
COMMENT ON COLUMN credit_policies.warn_levels_minor IS 'descending balances; crossing one downwards warns once';
COMMENT ON COLUMN credit_policies.overdraft_minor IS 'the cut threshold is -overdraft_minor';
COMMENT ON COLUMN credit_policies.quiet_from_min IS 'quiet hours in site-local minutes since midnight; no cut is executed inside them';

CREATE TABLE tariffs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites(id),
    name            text NOT NULL,
    currency        char(3) NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('flat', 'tou', 'tiered')),
    spec            jsonb NOT NULL,
    effective_from  timestamptz NOT NULL,
    created_at      timestamptz NOT NULL
);
COMMENT ON COLUMN tariffs.spec IS 'validated pricing rules: flat {rate_micros_per_kwh}, tou {bands, schedule}, tiered {tiers}';

CREATE TABLE meters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial          text NOT NULL UNIQUE,
    site_id         bigint NOT NULL REFERENCES sites(id),
    tenant_id       bigint REFERENCES tenants(id),
    purpose         text NOT NULL CHECK (purpose IN ('tenant', 'hvac', 'lighting', 'elevator', 'other')),
    tariff_id       bigint REFERENCES tariffs(id),
    multiplier      integer NOT NULL DEFAULT 1 CHECK (multiplier > 0),
    max_power_w     bigint CHECK (max_power_w > 0),
    protected       boolean NOT NULL DEFAULT false,
    gateway         text,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
COMMENT ON COLUMN meters.tenant_id IS 'NULL: a public-area meter whose cost is shared through cost pools';
COMMENT ON COLUMN meters.protected IS 'never cut automatically (life safety, cold rooms)';
CREATE INDEX meters_tenant ON meters (tenant_id) WHERE tenant_id IS NOT NULL;

CREATE TABLE accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL UNIQUE REFERENCES tenants(id),
    currency        char(3) NOT NULL,
    balance_minor   bigint NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT 'normal' CHECK (state IN ('normal', 'warned', 'grace', 'cut_off')),
    grace_until     timestamptz,
    supply          text NOT NULL DEFAULT 'on' CHECK (supply IN ('on', 'off', 'pending_off', 'pending_on')),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
COMMENT ON COLUMN accounts.balance_minor IS 'signed: negative inside the overdraft; always equals the sum of the account''s ledger entries';
CREATE INDEX accounts_grace_due ON accounts (grace_until) WHERE grace_until IS NOT NULL;

CREATE TABLE ledger_entries (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id          bigint NOT NULL REFERENCES accounts(id),
    at                  timestamptz NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('topup', 'energy_charge', 'allocation', 'adjustment', 'refund', 'reversal')),
    amount_minor        bigint NOT NULL,
    balance_after_minor bigint NOT NULL,
    ref                 jsonb NOT NULL DEFAULT '{}',
    request_id          text
);
COMMENT ON TABLE ledger_entries IS 'append-only: corrections are new entries, never UPDATE or DELETE';
COMMENT ON COLUMN ledger_entries.amount_minor IS 'signed: credits positive, debits negative';
CREATE INDEX ledger_account ON ledger_entries (account_id, id);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'finance', 'operator', 'gateway', 'tenant')),
    tenant_id   bigint REFERENCES tenants(id),
    key_hash    text NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
);
COMMENT ON COLUMN api_keys.key_hash IS 'hex SHA-256 of the key; the key itself is shown once and never stored';

CREATE TABLE idempotency_keys (
    api_key_id  bigint NOT NULL REFERENCES api_keys(id),
    idem_key    text NOT NULL,
    method      text NOT NULL,
    path        text NOT NULL,
    body_sha256 text NOT NULL,
    status      integer,
    response    text,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);
COMMENT ON TABLE idempotency_keys IS 'first answer to each (key, Idempotency-Key); written in the same transaction as the change';

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    api_key_id  bigint REFERENCES api_keys(id),
    role        text NOT NULL,
    method      text NOT NULL,
    path        text NOT NULL,
    request_id  text NOT NULL,
    action      text NOT NULL,
    target      jsonb NOT NULL
);
COMMENT ON TABLE audit_log IS 'every change made through the API or CLI: who, what, when, and the request id';
