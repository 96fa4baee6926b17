-- 0031_event_sites.sql: every live event says its site (issue 17), so that the stream of a
-- finance or operator user bound to some sites (users.site_ids) carries only theirs. The
-- four trigger functions of 0027 are the same but for the site they now write.
ALTER TABLE events ADD COLUMN site_id bigint;
COMMENT ON COLUMN events.site_id IS 'the site the event happened at (the tenant''s, the alarm''s, the meter''s), for the stream of a user bound to sites; NULL on rows from before 0031';

CREATE OR REPLACE FUNCTION events_accounts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, tenant_id, site_id, data)
    SELECT 'account', n.tenant_id, t.site_id,
           json_build_object('tenant_id', 'ten_' || n.tenant_id, 'balance_minor', n.balance_minor,
                             'state', n.state, 'supply', n.supply)::text
      FROM new_rows n JOIN tenants t ON t.id = n.tenant_id ORDER BY n.id;
    IF FOUND THEN
        PERFORM pg_notify('wattle_events', '');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION events_accounts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, tenant_id, site_id, data)
    SELECT 'account', n.tenant_id, t.site_id,
           json_build_object('tenant_id', 'ten_' || n.tenant_id, 'balance_minor', n.balance_minor,
                             'state', n.state, 'supply', n.supply)::text
      FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN tenants t ON t.id = n.tenant_id
     WHERE o.balance_minor IS DISTINCT FROM n.balance_minor OR o.state IS DISTINCT FROM n.state
           OR o.supply IS DISTINCT FROM n.supply
     ORDER BY n.id;
    IF FOUND THEN
        PERFORM pg_notify('wattle_events', '');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION events_alarm() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    st text := NEW.state;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = OLD.state THEN
        st := 'shelved';
    END IF;
    INSERT INTO events (kind, tenant_id, site_id, data) VALUES ('alarm', NEW.tenant_id, NEW.site_id,
        json_build_object('id', 'alm_' || NEW.id, 'site_id', 'site_' || NEW.site_id,
                          'tenant_id', 'ten_' || NEW.tenant_id, 'meter_id', 'mtr_' || NEW.meter_id,
                          'kind', NEW.kind, 'severity', NEW.severity, 'state', st)::text);
    PERFORM pg_notify('wattle_events', '');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION events_command() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
    s bigint;
BEGIN
    SELECT tenant_id INTO t FROM accounts WHERE id = NEW.account_id;
    SELECT site_id, coalesce(t, tenant_id) INTO s, t FROM meters WHERE id = NEW.meter_id;
    INSERT INTO events (kind, tenant_id, site_id, data) VALUES ('command', t, s,
        json_build_object('id', 'cmd_' || NEW.id, 'meter_id', 'mtr_' || NEW.meter_id, 'tenant_id', 'ten_' || t,
                          'kind', NEW.action,
                          'state', CASE NEW.state WHEN 'pending' THEN 'queued' ELSE NEW.state END)::text);
    PERFORM pg_notify('wattle_events', '');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION events_payment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
    s bigint;
BEGIN
    SELECT a.tenant_id, x.site_id INTO t, s FROM accounts a JOIN tenants x ON x.id = a.tenant_id WHERE a.id = NEW.account_id;
    INSERT INTO events (kind, tenant_id, site_id, data) VALUES ('payment', t, s,
        json_build_object('id', coalesce(NEW.ref->>'payment_id', 'le_' || NEW.id), 'tenant_id', 'ten_' || t,
                          'amount_minor', abs(NEW.amount_minor), 'provider', NEW.ref->>'channel',
                          'kind', CASE NEW.kind WHEN 'topup' THEN 'credited' ELSE 'refunded' END)::text);
    PERFORM pg_notify('wattle_events', '');
    RETURN NULL;
END $$;
