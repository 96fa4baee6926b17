-- 0005_dispatch.sql: every delivery attempt of a command or a notification, for operators.
CREATE TABLE delivery_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox      text NOT NULL CHECK (outbox IN ('commands', 'notifications')),
    item_id     bigint NOT NULL,
    at          timestamptz NOT NULL,
    http_status integer,
    error       text,
    duration_ms integer NOT NULL
);
COMMENT ON TABLE delivery_attempts IS 'one row per HTTP attempt; http_status NULL: no answer (error says why)';
CREATE INDEX delivery_attempts_item ON delivery_attempts (outbox, item_id);
