-- 0002_readings.sql: tariff versions, meter billing state, readings, daily rollups and
-- meter events (the money path of DESIGN.md, steps 1-3).

CREATE TABLE tariff_versions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tariff_id       bigint NOT NULL REFERENCES tariffs(id),
    effective_from  timestamptz NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('flat', 'tou', 'tiered')),
    spec            jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (tariff_id, effective_from)
);
COMMENT ON TABLE tariff_versions IS 'the rules in force from effective_from until the next version; tariffs holds the first';
INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at)
    SELECT id, effective_from, kind, spec, created_at FROM tariffs;

ALTER TABLE meters
    ADD COLUMN register_max_wh bigint CHECK (register_max_wh > 0),
    ADD COLUMN start_register_wh bigint CHECK (start_register_wh >= 0);
COMMENT ON COLUMN meters.register_max_wh IS 'the register counts 0 .. register_max_wh - 1 and then wraps to 0; NULL: never wraps';
COMMENT ON COLUMN meters.start_register_wh IS 'register value when installed (a replacement meter): its first reading is billed from here';

CREATE TABLE meter_state (
    meter_id            bigint PRIMARY KEY REFERENCES meters(id),
    last_ts             timestamptz,
    last_register_wh    bigint,
    carry_nano          bigint NOT NULL DEFAULT 0 CHECK (carry_nano >= 0),
    month_key           integer NOT NULL DEFAULT 0,
    month_wh            bigint NOT NULL DEFAULT 0,
    billed_wh           bigint NOT NULL DEFAULT 0,
    cost_nano_total     numeric NOT NULL DEFAULT 0,
    charged_minor       bigint NOT NULL DEFAULT 0,
    last_seen_at        timestamptz
);
COMMENT ON TABLE meter_state IS 'one row per meter, locked by every batch that bills it (in meter id order)';
COMMENT ON COLUMN meter_state.last_ts IS 'the last billed reading (the baseline); NULL until the first reading';
COMMENT ON COLUMN meter_state.carry_nano IS 'exact cost not yet charged: below one minor unit, in 10^-9 major units';
COMMENT ON COLUMN meter_state.month_key IS 'site-local billing month (year * 12 + month - 1) of month_wh, for tiers';
COMMENT ON COLUMN meter_state.cost_nano_total IS 'exact lifetime cost (numeric: never overflows); charged_minor = floor(cost_nano_total / minor unit)';
INSERT INTO meter_state (meter_id, last_ts, last_register_wh)
    SELECT id, NULL, NULL FROM meters;

CREATE TABLE readings (
    meter_id        bigint NOT NULL,
    ts              timestamptz NOT NULL,
    energy_wh       bigint NOT NULL,
    power_w         bigint,
    voltage_v       real,
    current_a       real,
    pf              real,
    frequency_hz    real,
    thd_v_pct       real,
    thd_i_pct       real,
    relay           text CHECK (relay IN ('on', 'off')),
    billed          boolean NOT NULL,
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (meter_id, ts)
);
COMMENT ON TABLE readings IS 'every stored reading; meters are never deleted (retired instead), so no foreign key slows the bulk insert';
COMMENT ON COLUMN readings.energy_wh IS 'the register as reported (before the multiplier)';
COMMENT ON COLUMN readings.billed IS 'false for a baseline or a late reading (older than the last billed one)';

CREATE TABLE meter_daily (
    meter_id    bigint NOT NULL,
    day         date NOT NULL,
    band        text NOT NULL,
    wh          bigint NOT NULL,
    cost_nano   bigint NOT NULL,
    PRIMARY KEY (meter_id, day, band)
);
COMMENT ON TABLE meter_daily IS 'billed energy and exact cost per meter, site-local day and band; reports read this, never raw readings';

CREATE TABLE meter_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id    bigint NOT NULL REFERENCES meters(id),
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    detail      jsonb NOT NULL
);
COMMENT ON TABLE meter_events IS 'refused readings worth an operator''s look (energy_regressed, implausible_delta), for the alarms capability';
CREATE INDEX meter_events_meter ON meter_events (meter_id, at);
