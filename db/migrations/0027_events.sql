-- 0027_events.sql: the live events of GET /v1/events (issue 17 part 2). Triggers on the
-- tables that hold what a console shows (accounts, alarms, commands, ledger entries of money
-- in and out) write one row per change into events, in the transaction that made the change,
-- and notify wattle_events; so no code path that changes those tables can forget its event,
-- and a rolled-back change has none.
--
-- Transactions commit in another order than the one their rows' ids were taken in, so the id
-- is not what a browser resumes by: a sequencer (events_sequence, run by any wattle process's
-- event listener, one at a time under an advisory lock) gives committed rows their seq in the
-- order it finds them committed. seq is gap-free and only ever grows, so every row a listener
-- has not seen yet has a seq above the last one it saw; it is the SSE id.
CREATE TABLE events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq       bigint UNIQUE,
    kind      text NOT NULL CHECK (kind IN ('account', 'alarm', 'command', 'payment')),
    tenant_id bigint,
    data      text NOT NULL
);
COMMENT ON TABLE events IS 'the backlog of live events, pruned to the newest rows; seq is the SSE id';
COMMENT ON COLUMN events.seq IS 'NULL until the sequencer numbers the committed row (events_sequence); then the position in commit order';
COMMENT ON COLUMN events.tenant_id IS 'whose event it is, for a tenant''s stream; NULL: no tenant (a public meter''s alarm or command)';
COMMENT ON COLUMN events.data IS 'the event''s JSON as sent, with the API''s wire ids (ten_1, alm_2, cmd_3, mtr_4, pay_5)';
CREATE INDEX events_unsequenced ON events (id) WHERE seq IS NULL;

CREATE TABLE event_cursor (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq bigint NOT NULL
);
COMMENT ON TABLE event_cursor IS 'the last seq given (one row): seq keeps growing after the rows are pruned';
INSERT INTO event_cursor (one, last_seq) VALUES (true, 0);

-- Number the committed rows not numbered yet, up to max_rows, in id order among them, and
-- notify wattle_events_seq when there were any. -1 when another sequencer holds the lock
-- (it notifies). Each statement of a volatile function sees a fresh snapshot, so once the
-- lock is held every row the sequencer before saw is numbered and visible.
CREATE FUNCTION events_sequence(max_rows integer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    base bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7270027) THEN
        RETURN -1;
    END IF;
    SELECT last_seq INTO base FROM event_cursor FOR UPDATE;
    WITH u AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM events WHERE seq IS NULL
               ORDER BY id LIMIT max_rows)
    UPDATE events e SET seq = base + u.rn FROM u WHERE e.id = u.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        UPDATE event_cursor SET last_seq = base + n;
        PERFORM pg_notify('wattle_events_seq', '');
    END IF;
    RETURN n;
END $$;

-- account {tenant_id, balance_minor, state, supply}: when any of the three changes.
CREATE FUNCTION events_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, tenant_id, data) VALUES ('account', NEW.tenant_id,
        json_build_object('tenant_id', 'ten_' || NEW.tenant_id, 'balance_minor', NEW.balance_minor,
                          'state', NEW.state, 'supply', NEW.supply)::text);
    PERFORM pg_notify('wattle_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_event_insert AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION events_account();
CREATE TRIGGER accounts_event_update AFTER UPDATE ON accounts FOR EACH ROW
    WHEN (OLD.balance_minor IS DISTINCT FROM NEW.balance_minor OR OLD.state IS DISTINCT FROM NEW.state
          OR OLD.supply IS DISTINCT FROM NEW.supply)
    EXECUTE FUNCTION events_account();

-- alarm {id, site_id, tenant_id, meter_id, kind, severity, state}: state as GET /v1/alarms
-- shows it (open, acked, cleared, closed), or shelved when it was shelved (its state unchanged).
CREATE FUNCTION events_alarm() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    st text := NEW.state;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = OLD.state THEN
        st := 'shelved';
    END IF;
    INSERT INTO events (kind, tenant_id, data) VALUES ('alarm', NEW.tenant_id,
        json_build_object('id', 'alm_' || NEW.id, 'site_id', 'site_' || NEW.site_id,
                          'tenant_id', 'ten_' || NEW.tenant_id, 'meter_id', 'mtr_' || NEW.meter_id,
                          'kind', NEW.kind, 'severity', NEW.severity, 'state', st)::text);
    PERFORM pg_notify('wattle_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER alarms_event_insert AFTER INSERT ON alarms FOR EACH ROW EXECUTE FUNCTION events_alarm();
CREATE TRIGGER alarms_event_update AFTER UPDATE ON alarms FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          OR (NEW.shelved_until IS NOT NULL AND OLD.shelved_until IS DISTINCT FROM NEW.shelved_until))
    EXECUTE FUNCTION events_alarm();

-- command {id, meter_id, tenant_id, kind, state}: kind is the action (cut_off, restore); state
-- queued (pending in GET /v1/commands), sent, acked, failed, superseded. The tenant is the
-- account's the command was queued for, else the meter's.
CREATE FUNCTION events_command() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
BEGIN
    SELECT tenant_id INTO t FROM accounts WHERE id = NEW.account_id;
    IF t IS NULL THEN
        SELECT tenant_id INTO t FROM meters WHERE id = NEW.meter_id;
    END IF;
    INSERT INTO events (kind, tenant_id, data) VALUES ('command', t,
        json_build_object('id', 'cmd_' || NEW.id, 'meter_id', 'mtr_' || NEW.meter_id, 'tenant_id', 'ten_' || t,
                          'kind', NEW.action,
                          'state', CASE NEW.state WHEN 'pending' THEN 'queued' ELSE NEW.state END)::text);
    PERFORM pg_notify('wattle_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER commands_event_insert AFTER INSERT ON commands FOR EACH ROW EXECUTE FUNCTION events_command();
CREATE TRIGGER commands_event_update AFTER UPDATE ON commands FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION events_command();

-- payment {id, tenant_id, amount_minor, provider, kind}: every ledger entry of money in
-- (topup: credited) or back out (refund: refunded). id is the provider payment's (pay_N, from
-- the entry's ref) or, for a cashier's top-up, the ledger entry's (le_N); provider is the
-- entry's channel: wechat, alipay, stripe, or the cashier's cash, bank, card.
CREATE FUNCTION events_payment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
BEGIN
    SELECT tenant_id INTO t FROM accounts WHERE id = NEW.account_id;
    INSERT INTO events (kind, tenant_id, data) VALUES ('payment', t,
        json_build_object('id', coalesce(NEW.ref->>'payment_id', 'le_' || NEW.id), 'tenant_id', 'ten_' || t,
                          'amount_minor', abs(NEW.amount_minor), 'provider', NEW.ref->>'channel',
                          'kind', CASE NEW.kind WHEN 'topup' THEN 'credited' ELSE 'refunded' END)::text);
    PERFORM pg_notify('wattle_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_event_payment AFTER INSERT ON ledger_entries FOR EACH ROW
    WHEN (NEW.kind IN ('topup', 'refund')) EXECUTE FUNCTION events_payment();
