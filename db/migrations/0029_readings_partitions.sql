-- 0029_readings_partitions.sql: readings and meter_harmonics partitioned by UTC month (issue 19,
-- item 6), so raw data older than WATTLE_READINGS_KEEP_MONTHS is dropped a month at a time
-- (DROP TABLE, no DELETE, no bloat) while the rollups (meter_daily, meter_hourly), the ledger
-- and the stored reports, which never read raw readings, are kept forever.
--
-- The months are UTC months: one partition scheme for every site whatever its time zone. A
-- partition is named <table>_pYYYY_MM and holds [YYYY-MM-01 00:00Z, next month). Each table
-- also has a DEFAULT partition, so a reading for a month that has no partition (far late or
-- far ahead) is stored, never refused; creating that month's partition later moves its rows
-- out of the default. wattle's partitions worker (server/workers.c) creates the months from
-- the oldest kept to three ahead and drops the expired ones through the functions below; this
-- migration makes a partition for each month that holds data (a month between them with no
-- data gets its partition from the worker, when it is within the kept months) and for the
-- current month and three ahead.
--
-- An upgrade keeps every row: the old table is renamed, the partitioned one created like it,
-- the rows copied (into their months' partitions) and the old table dropped, in this
-- migration's one transaction. On a large table that copy takes a while and holds its lock:
-- run it in a maintenance window (docs/operations.md).

-- The month partitions of parent (not its default), with their ranges.
CREATE FUNCTION month_partitions(parent text) RETURNS TABLE (name text, lo timestamptz, hi timestamptz)
LANGUAGE sql STABLE SET TimeZone TO 'UTC' AS $$
    SELECT c.relname::text,
           to_date(right(c.relname, 7), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC',
           (to_date(right(c.relname, 7), 'YYYY_MM') + interval '1 month') AT TIME ZONE 'UTC'
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = parent::regclass AND c.relname ~ ('^' || parent || '_p[0-9]{4}_[0-9]{2}$')
     ORDER BY 2
$$;
COMMENT ON FUNCTION month_partitions(text) IS 'the month partitions <parent>_pYYYY_MM of parent and their UTC ranges [lo, hi), oldest first';

-- Create the partition of parent for the UTC month m unless it exists, moving the rows its
-- default partition holds for that month into it. True when it was created.
CREATE FUNCTION partition_month_create(parent text, key text, m date) RETURNS boolean
LANGUAGE plpgsql SET TimeZone TO 'UTC' AS $$
DECLARE
    part text := parent || '_p' || to_char(m, 'YYYY_MM');
    lo timestamptz := date_trunc('month', m)::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', m) + interval '1 month')::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Inserts wait until this commits (reads do not): an insert routed by the partitions
    -- it saw before the attach would put a row of the new month in the default partition,
    -- which then violates the default's narrowed constraint.
    EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', parent);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *)'
                   ' INSERT INTO %I SELECT * FROM moved', parent || '_default', key, key, part) USING lo, hi;
    -- the parent's primary key is made on the partition as it is attached
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, lo, hi);
    RETURN true;
END
$$;
COMMENT ON FUNCTION partition_month_create(text, text, date) IS 'make <parent>_pYYYY_MM for the UTC month of m (rows of that month move out of the default partition); false when it existed';

-- The partitions of parent made for the UTC months from_m to to_m (both included).
CREATE FUNCTION partitions_ensure(parent text, key text, from_m date, to_m date) RETURNS SETOF text
LANGUAGE plpgsql SET TimeZone TO 'UTC' AS $$
DECLARE
    m date := date_trunc('month', from_m)::date;
BEGIN
    PERFORM pg_advisory_xact_lock(7227370132); -- one process at a time makes or drops partitions
    WHILE m <= to_m LOOP
        IF partition_month_create(parent, key, m) THEN
            RETURN NEXT parent || '_p' || to_char(m, 'YYYY_MM');
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END
$$;

-- Whether every site-local month that overlaps [lo, hi) is closed, for every site that
-- existed during that month (the month close's own rule, store_closes_due). The month
-- close builds statements and reports from the rollups, which ingest writes in the readings'
-- own transaction: once a month is closed its raw readings are not needed by any document.
CREATE FUNCTION partition_months_closed(lo timestamptz, hi timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM sites s,
               generate_series(date_trunc('month', lo AT TIME ZONE s.timezone),
                               date_trunc('month', (hi - interval '1 microsecond') AT TIME ZONE s.timezone),
                               interval '1 month') AS lm
         WHERE s.created_at < ((lm + interval '1 month') AT TIME ZONE s.timezone)
           AND NOT EXISTS (SELECT 1 FROM month_closes mc
                            WHERE mc.site_id = s.id AND mc.period = to_char(lm, 'YYYY-MM')))
$$;
COMMENT ON FUNCTION partition_months_closed(timestamptz, timestamptz) IS 'true when every site''s local months overlapping [lo, hi) are closed (month_closes), for the sites that existed then: the guard before raw data of that range is dropped';

-- Drop the month partitions of parent that end at or before `before` and whose months are
-- all closed; keep (and say so) those that are not; delete from the default partition its
-- rows before `before` in closed months. One row per partition dropped or held back, and one
-- for the default's deleted rows (when any).
CREATE FUNCTION partitions_retire(parent text, key text, before timestamptz)
RETURNS TABLE (name text, action text, n bigint)
LANGUAGE plpgsql SET TimeZone TO 'UTC' AS $$
DECLARE
    p record;
BEGIN
    PERFORM pg_advisory_xact_lock(7227370132);
    FOR p IN SELECT * FROM month_partitions(parent) mp WHERE mp.hi <= before LOOP
        name := p.name;
        IF partition_months_closed(p.lo, p.hi) THEN
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, p.name);
            EXECUTE format('DROP TABLE %I', p.name);
            action := 'dropped';
        ELSE
            action := 'held';
        END IF;
        n := 0;
        RETURN NEXT;
    END LOOP;
    EXECUTE format('DELETE FROM %I d WHERE d.%I < $1 AND partition_months_closed('
                   'date_trunc(''month'', d.%I), date_trunc(''month'', d.%I) + interval ''1 month'')',
                   parent || '_default', key, key, key) USING before;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        name := parent || '_default';
        action := 'deleted';
        RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION partitions_retire(text, text, timestamptz) IS 'drop the month partitions of parent ending at or before `before` whose months are closed (partition_months_closed); rows: dropped, held (not closed) or deleted (old rows of the default partition)';

-- readings: renamed away, made again partitioned, refilled
ALTER TABLE readings RENAME TO readings_unpartitioned;
ALTER INDEX readings_pkey RENAME TO readings_unpartitioned_pkey;
CREATE TABLE readings (LIKE readings_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS,
                       PRIMARY KEY (meter_id, ts)) PARTITION BY RANGE (ts);
COMMENT ON TABLE readings IS 'every stored reading, partitioned by UTC month (readings_pYYYY_MM, and readings_default for a month without one); months older than WATTLE_READINGS_KEEP_MONTHS are dropped once closed; meters are never deleted (retired instead), so no foreign key slows the bulk insert';
CREATE TABLE readings_default PARTITION OF readings DEFAULT;
COMMENT ON TABLE readings_default IS 'readings of a month with no partition (far late or far ahead); moved out when that month''s partition is made';
SELECT partition_month_create('readings', 'ts', m)
  FROM (SELECT DISTINCT (date_trunc('month', ts AT TIME ZONE 'UTC'))::date AS m FROM readings_unpartitioned) x;
SELECT partitions_ensure('readings', 'ts', (now() AT TIME ZONE 'UTC')::date,
                         ((now() + interval '3 months') AT TIME ZONE 'UTC')::date);
INSERT INTO readings SELECT * FROM readings_unpartitioned;
DROP TABLE readings_unpartitioned;

-- meter_harmonics: raw data like readings (a spectrum per meter and 15 minutes, from the
-- readings): the same months by slot, the same retention; nothing billed or reported reads it
ALTER TABLE meter_harmonics RENAME TO meter_harmonics_unpartitioned;
ALTER INDEX meter_harmonics_pkey RENAME TO meter_harmonics_unpartitioned_pkey;
CREATE TABLE meter_harmonics (LIKE meter_harmonics_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS,
                              PRIMARY KEY (meter_id, slot)) PARTITION BY RANGE (slot);
COMMENT ON TABLE meter_harmonics IS 'one spectrum per meter and 15-minute slot, written with its readings batch (ON CONFLICT DO NOTHING: the first stays); partitioned by the slot''s UTC month and kept as long as readings are; no foreign key, like readings, so the bulk insert stays cheap';
CREATE TABLE meter_harmonics_default PARTITION OF meter_harmonics DEFAULT;
COMMENT ON TABLE meter_harmonics_default IS 'spectra of a month with no partition; moved out when that month''s partition is made';
SELECT partition_month_create('meter_harmonics', 'slot', m)
  FROM (SELECT DISTINCT (date_trunc('month', slot AT TIME ZONE 'UTC'))::date AS m FROM meter_harmonics_unpartitioned) x;
SELECT partitions_ensure('meter_harmonics', 'slot', (now() AT TIME ZONE 'UTC')::date,
                         ((now() + interval '3 months') AT TIME ZONE 'UTC')::date);
INSERT INTO meter_harmonics SELECT * FROM meter_harmonics_unpartitioned;
DROP TABLE meter_harmonics_unpartitioned;
