-- 0006_allocation.sql: cost pools for public areas and their monthly allocation runs.
CREATE TABLE cost_pools (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites(id),
    name            text NOT NULL,
    method          text NOT NULL CHECK (method IN ('area', 'consumption', 'quota')),
    meter_ids       bigint[] NOT NULL DEFAULT '{}',
    main_meter_id   bigint REFERENCES meters(id),
    minus_meter_ids bigint[] NOT NULL DEFAULT '{}',
    tariff_id       bigint REFERENCES tariffs(id),
    auto            boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL
);
COMMENT ON COLUMN cost_pools.meter_ids IS 'public meters whose energy and cost the pool shares';
COMMENT ON COLUMN cost_pools.main_meter_id IS 'a virtual meter: the main meter minus minus_meter_ids (line losses), added to meter_ids';
COMMENT ON COLUMN cost_pools.tariff_id IS 'a flat tariff that prices the pool''s energy; NULL: the energy cost as billed';

CREATE TABLE cost_pool_members (
    pool_id     bigint NOT NULL REFERENCES cost_pools(id),
    tenant_id   bigint NOT NULL REFERENCES tenants(id),
    quota_ppm   integer CHECK (quota_ppm BETWEEN 0 AND 1000000),
    PRIMARY KEY (pool_id, tenant_id)
);

CREATE TABLE allocation_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id         bigint NOT NULL REFERENCES cost_pools(id),
    period          text NOT NULL,
    state           text NOT NULL CHECK (state IN ('committed', 'reversed')),
    total_wh        bigint NOT NULL,
    total_minor     bigint NOT NULL,
    result          jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    api_key_id      bigint REFERENCES api_keys(id),
    reversed_at     timestamptz,
    reverse_reason  text
);
COMMENT ON COLUMN allocation_runs.result IS 'the run as answered: lines with basis and amount_minor';
CREATE UNIQUE INDEX allocation_runs_once ON allocation_runs (pool_id, period) WHERE state = 'committed';
