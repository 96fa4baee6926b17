-- 0026_users.sql: people who sign in (issue 17): users with an Argon2id password, their
-- browser sessions (only a hash of the cookie is kept), the one-time codes tenants sign in
-- with by phone, and who did what when a session, not a key, made the change (the audit
-- log's chain and the Idempotency-Key store learn a user and a session beside a key).
CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL,
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'finance', 'operator', 'tenant')),
    tenant_id       bigint REFERENCES tenants(id),
    site_ids        bigint[] NOT NULL DEFAULT '{}',
    disabled        boolean NOT NULL DEFAULT false,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
COMMENT ON COLUMN users.password_hash IS 'Argon2id encoded string ($argon2id$v=19$m=...,t=...,p=...$salt$hash); never shown';
COMMENT ON COLUMN users.failed_logins IS 'wrong passwords in a row; the fifth locks the user (locked_until) and a right one resets it';
COMMENT ON COLUMN users.site_ids IS 'the sites a staff user works at (empty: all); shown to the console';

CREATE TABLE sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash      text NOT NULL UNIQUE,
    user_id         bigint REFERENCES users(id),
    role            text NOT NULL CHECK (role IN ('admin', 'finance', 'operator', 'tenant')),
    tenant_id       bigint REFERENCES tenants(id),
    kind            text NOT NULL CHECK (kind IN ('password', 'otp')),
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    ended_at        timestamptz,
    CHECK ((kind = 'password') = (user_id IS NOT NULL)),
    CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
);
COMMENT ON COLUMN sessions.token_hash IS 'hex SHA-256 of the cookie wattle_session; the token itself is only in the browser';
COMMENT ON COLUMN sessions.last_seen_at IS 'last request, written at most once a minute; idle longer than WATTLE_SESSION_IDLE_S: expired';
COMMENT ON COLUMN sessions.kind IS 'password: a user signed in; otp: a tenant signed in by phone with a one-time code (no user)';
CREATE INDEX sessions_user ON sessions (user_id) WHERE ended_at IS NULL;

CREATE TABLE login_codes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone           text NOT NULL,
    tenant_id       bigint NOT NULL REFERENCES tenants(id),
    code_hash       text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    tries           integer NOT NULL DEFAULT 0,
    used_at         timestamptz
);
COMMENT ON TABLE login_codes IS 'six-digit codes sent by SMS for a tenant''s phone sign-in: valid 5 minutes, used once, burnt after 5 wrong tries';
COMMENT ON COLUMN login_codes.code_hash IS 'hex SHA-256 of the row id and the code (a code alone is one of a million)';
CREATE INDEX login_codes_phone ON login_codes (phone, created_at);

-- Who made a change when it was a session: the user (NULL for a tenant's phone session,
-- whose role and target say which tenant). The chain's hash covers it; concat_ws skips a
-- NULL, so rows without a user hash as they did before.
ALTER TABLE audit_log ADD COLUMN user_id bigint REFERENCES users(id);
CREATE FUNCTION audit_hash(prev bytea, seq bigint, at timestamptz, key bigint, role text, method text, path text,
                           request_id text, action text, target jsonb, addr text, usr bigint)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(concat_ws(E'\n', seq::text, ((extract(epoch FROM at) * 1000000)::bigint)::text,
        coalesce(key::text, ''), role, method, path, request_id, action, target::text, coalesce(addr, ''),
        'user=' || usr::text), 'UTF8'))
$$;

-- An Idempotency-Key belongs to a key, a user or (a tenant's phone session) a session.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ALTER COLUMN api_key_id DROP NOT NULL;
ALTER TABLE idempotency_keys ADD COLUMN user_id bigint REFERENCES users(id);
ALTER TABLE idempotency_keys ADD COLUMN session_id bigint REFERENCES sessions(id);
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_one_owner
    CHECK (num_nonnulls(api_key_id, user_id, session_id) = 1);
CREATE UNIQUE INDEX idempotency_keys_key ON idempotency_keys (api_key_id, idem_key) WHERE api_key_id IS NOT NULL;
CREATE UNIQUE INDEX idempotency_keys_user ON idempotency_keys (user_id, idem_key) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX idempotency_keys_session ON idempotency_keys (session_id, idem_key) WHERE session_id IS NOT NULL;
