-- 0009_reports.sql: stored reports, the month close, and the hourly rollup of public-area
-- load that the energy report's heat map reads.
CREATE TABLE reports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('tenant_statement', 'finance_summary', 'energy')),
    site_id     bigint NOT NULL REFERENCES sites(id),
    tenant_id   bigint REFERENCES tenants(id),
    period      text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    api_key_id  bigint REFERENCES api_keys(id),
    origin      text NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'month_close'))
);
COMMENT ON TABLE reports IS 'a report as computed when asked for: a snapshot, rendered as JSON, CSV or HTML on GET';
CREATE INDEX reports_site ON reports (site_id, period, kind);

CREATE TABLE month_closes (
    site_id     bigint NOT NULL REFERENCES sites(id),
    period      text NOT NULL,
    closed_at   timestamptz NOT NULL,
    statements  integer NOT NULL,
    allocations integer NOT NULL,
    PRIMARY KEY (site_id, period)
);
COMMENT ON TABLE month_closes IS 'one row per site and month closed: the primary key is what makes the close happen once across processes';

CREATE TABLE meter_hourly (
    meter_id    bigint NOT NULL,
    day         date NOT NULL,
    hour        smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    wh          bigint NOT NULL,
    PRIMARY KEY (meter_id, day, hour)
);
COMMENT ON TABLE meter_hourly IS 'public meters only: billed energy by site-local day and hour, each interval counted in the hour it ends in';

CREATE INDEX ledger_account_at ON ledger_entries (account_id, at);
