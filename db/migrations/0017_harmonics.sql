-- 0017_harmonics.sql: spectra of harmonics 2 to 31 from readings, at most one per meter and
-- 15-minute slot (the first of the slot that reaches the database), for
-- GET /v1/meters/{id}/power-quality. Alarm detection sees every reading's spectrum; only
-- what is kept is throttled. (The alarm kind high_harmonics exists since 0008.)
CREATE TABLE meter_harmonics (
    meter_id    bigint NOT NULL,
    slot        timestamptz NOT NULL,
    ts          timestamptz NOT NULL,
    v           smallint[] CHECK (cardinality(v) = 30 AND 0 <= ALL (v) AND 10000 >= ALL (v)),
    i           smallint[] CHECK (cardinality(i) = 30 AND 0 <= ALL (i) AND 10000 >= ALL (i)),
    PRIMARY KEY (meter_id, slot),
    CHECK (v IS NOT NULL OR i IS NOT NULL),
    CHECK (ts >= slot AND ts < slot + interval '15 minutes')
);
COMMENT ON TABLE meter_harmonics IS 'one spectrum per meter and 15-minute slot, written with its readings batch (ON CONFLICT DO NOTHING: the first stays); no foreign key, like readings, so the bulk insert stays cheap';
COMMENT ON COLUMN meter_harmonics.slot IS 'the start of the 15-minute slot (from the epoch) that holds ts';
COMMENT ON COLUMN meter_harmonics.ts IS 'the time of the reading that carried the spectrum';
COMMENT ON COLUMN meter_harmonics.v IS 'voltage harmonics of orders 2..31 (v[1] is the 2nd), in hundredths of a percent of the fundamental; NULL when the reading carried none';
COMMENT ON COLUMN meter_harmonics.i IS 'current harmonics of orders 2..31, as v';
