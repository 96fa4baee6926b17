-- 0013_trust.sql: energy is billed because it was used, and alarms stay until a person
-- has seen them (ISA-18.2).
--
-- max_power_w was both the overload alarm's threshold and the bound above which an energy
-- step was refused, so an overload's own readings were refused and its energy never
-- billed. The refusal now has its own, higher bound.
ALTER TABLE meters ADD COLUMN max_plausible_power_w bigint CHECK (max_plausible_power_w > 0);
-- below the limit, the bound would refuse an overload's energy again
ALTER TABLE meters ADD CONSTRAINT meters_plausible_above_limit
    CHECK (max_plausible_power_w IS NULL OR max_power_w IS NULL OR max_plausible_power_w >= max_power_w);
COMMENT ON COLUMN meters.max_plausible_power_w IS 'the draw above which an energy step is physically impossible: refused as implausible_delta with an energy_implausible alarm; NULL: 4 x max_power_w';

-- States: open (active, not acknowledged), acked (acknowledged, not yet clear), cleared
-- (clear, not acknowledged: still in the control room's list), closed (clear and
-- acknowledged). Clearing is judged on the readings' own time (meter_state.last_ts).
ALTER TABLE alarms DROP CONSTRAINT alarms_state_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_state_check CHECK (state IN ('open', 'acked', 'cleared', 'closed'));
ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check CHECK (kind IN ('overload', 'suspected_malicious_load',
    'over_voltage', 'under_voltage', 'low_power_factor', 'high_harmonics', 'comm_lost', 'energy_regressed',
    'relay_mismatch', 'energy_implausible'));
ALTER TABLE alarms ADD COLUMN cleared_at timestamptz;
ALTER TABLE alarms ADD COLUMN shelved_until timestamptz;
ALTER TABLE alarms ADD COLUMN shelve_reason text;
ALTER TABLE alarms ADD COLUMN shelved_by_key bigint REFERENCES api_keys(id);
COMMENT ON COLUMN alarms.cleared_at IS 'when the condition was judged gone, in the readings'' time';
COMMENT ON COLUMN alarms.shelved_until IS 'its meter and kind send no duty SMS until then (webhook events still go, marked shelved), with shelve_reason';

CREATE INDEX alarms_shelved ON alarms (meter_id, kind) WHERE shelved_until IS NOT NULL;

-- The duty phone's flood guard counts the alarm SMS sent to a number in the last hour.
CREATE INDEX notifications_sms_recipient ON notifications (recipient, created_at) WHERE channel = 'sms';
