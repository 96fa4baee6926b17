-- 0008_alarms.sql: alarm settings, the detector's memory per meter, and the alarms.
ALTER TABLE sites ADD COLUMN alarm_settings jsonb NOT NULL DEFAULT '{}';
ALTER TABLE meters ADD COLUMN alarm_settings jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN sites.alarm_settings IS 'defaults for the site''s meters, and site-only keys (duty_phone, sms_severities, auto_cut_malicious, forbidden_categories)';
COMMENT ON COLUMN meters.alarm_settings IS 'overrides the site''s alarm_settings key by key';

ALTER TABLE meter_state ADD COLUMN alarm_det bigint[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN meter_state.alarm_det IS 'the alarm detector''s memory between batches (billing/alarm.h, bill_alarm_state_pack order)';

CREATE TABLE alarms (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id        bigint NOT NULL REFERENCES meters(id),
    site_id         bigint NOT NULL REFERENCES sites(id),
    tenant_id       bigint REFERENCES tenants(id),
    kind            text NOT NULL CHECK (kind IN ('overload', 'suspected_malicious_load', 'over_voltage',
                        'under_voltage', 'low_power_factor', 'high_harmonics', 'comm_lost',
                        'energy_regressed', 'relay_mismatch')),
    severity        text NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acked', 'closed')),
    opened_at       timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    detections      integer NOT NULL DEFAULT 1,
    peak            double precision,
    detail          jsonb NOT NULL,
    clear_after_s   integer NOT NULL,
    acked_at        timestamptz,
    acked_by_key    bigint REFERENCES api_keys(id),
    ack_note        text,
    closed_at       timestamptz,
    cut_command_id  bigint
);
COMMENT ON TABLE alarms IS 'one open (or acked) alarm per meter and kind; repeated detections update last_seen_at and peak';
COMMENT ON COLUMN alarms.detail IS 'what the first detection saw (for a step: its size and signature)';
COMMENT ON COLUMN alarms.peak IS 'the worst value seen: a measurement, not money';
COMMENT ON COLUMN alarms.clear_after_s IS 'closed automatically once not seen for this long';
CREATE UNIQUE INDEX alarms_one_open ON alarms (meter_id, kind) WHERE state <> 'closed';
CREATE INDEX alarms_site ON alarms (site_id, id);
CREATE INDEX alarms_live ON alarms (last_seen_at) WHERE state <> 'closed';
