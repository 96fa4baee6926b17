-- 0014_audit_chain.sql: an audit log you can read and cannot quietly edit. Every row says
-- from where (the client's address) and is chained by hash to the one before it, in the
-- order a single head row hands out: a deleted, inserted or altered row breaks the chain,
-- and `wattle verify` names where. UPDATE and DELETE are refused outright.
ALTER TABLE audit_log ADD COLUMN client_addr text;
ALTER TABLE audit_log ADD COLUMN chain_seq bigint;
ALTER TABLE audit_log ADD COLUMN prev_hash bytea;
ALTER TABLE audit_log ADD COLUMN hash bytea;
COMMENT ON COLUMN audit_log.chain_seq IS 'the row''s place in the hash chain (1, 2, ...: no gaps)';
COMMENT ON COLUMN audit_log.hash IS 'audit_hash(prev_hash, the row): SHA-256, chained from an empty genesis';

-- What a row's hash covers: its place, the previous hash and every field, in one text.
CREATE FUNCTION audit_hash(prev bytea, seq bigint, at timestamptz, key bigint, role text, method text, path text,
                           request_id text, action text, target jsonb, addr text)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(concat_ws(E'\n', seq::text, ((extract(epoch FROM at) * 1000000)::bigint)::text,
        coalesce(key::text, ''), role, method, path, request_id, action, target::text, coalesce(addr, '')), 'UTF8'))
$$;

-- The head of the chain: the last place handed out and its hash (prev: the one before, so
-- one UPDATE can hand out a place and return both). Its row lock orders the writers.
CREATE TABLE audit_head (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq   bigint NOT NULL,
    hash  bytea NOT NULL,
    prev  bytea NOT NULL
);

DO $$
DECLARE
    r record;
    h bytea := '\x'::bytea;
    p bytea := '\x'::bytea;
    s bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        s := s + 1;
        p := h;
        h := audit_hash(p, s, r.at, r.api_key_id, r.role, r.method, r.path, r.request_id, r.action, r.target, r.client_addr);
        UPDATE audit_log SET chain_seq = s, prev_hash = p, hash = h WHERE id = r.id;
    END LOOP;
    INSERT INTO audit_head (seq, hash, prev) VALUES (s, h, p);
END $$;

ALTER TABLE audit_log ALTER COLUMN chain_seq SET NOT NULL;
ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL;
ALTER TABLE audit_log ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_seq);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
