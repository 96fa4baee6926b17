-- 0016_gateways.sql: gateways as a resource (issue 14). A building gateway sits behind NAT,
-- where the centre cannot POST to it: a gateway is either pushed to (delivery 'push', at its
-- url, as a meter's gateway URL is) or pulls its meters' commands itself (delivery 'pull',
-- long-polling GET /v1/commands with its key). A gateway key acts for its own gateway's
-- meters, or for its site's when it is bound to a site alone; one bound to nothing (made
-- before this migration) keeps the reach it had, every meter of every site, until replaced.
CREATE TABLE gateways (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites(id),
    name          text NOT NULL,
    delivery      text NOT NULL CHECK (delivery IN ('push', 'pull')),
    url           text CHECK (url ~ '^https?://'),
    api_key_id    bigint REFERENCES api_keys(id),
    last_seen_at  timestamptz,
    queue_depth   bigint CHECK (queue_depth >= 0),
    version       text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (id, site_id),
    CHECK ((delivery = 'push') = (url IS NOT NULL))
);
COMMENT ON TABLE gateways IS 'the boxes in the buildings that read meters and execute their commands; each belongs to one site';
COMMENT ON COLUMN gateways.delivery IS 'push: commands are POSTed to {url}/commands; pull: the gateway takes them from GET /v1/commands (a long poll) and acks them';
COMMENT ON COLUMN gateways.api_key_id IS 'the gateway key made with it and shown once; revoking the key leaves the gateway';
COMMENT ON COLUMN gateways.last_seen_at IS 'the last request made with a key bound to it, written at most once per 5 s per process';
COMMENT ON COLUMN gateways.queue_depth IS 'readings waiting in its on-disk queue, as its X-Wattle-Queue-Depth header last said';
COMMENT ON COLUMN gateways.version IS 'its X-Wattle-Gateway-Version header, as last sent';

-- (gateway_id, site_id) against the gateway's (id, site_id): a meter's gateway is on the
-- meter's site, and so is a key's gateway on the key's site.
ALTER TABLE meters ADD COLUMN gateway_id bigint;
ALTER TABLE meters ADD CONSTRAINT meters_gateway_on_site FOREIGN KEY (gateway_id, site_id) REFERENCES gateways (id, site_id);
CREATE INDEX meters_gateway ON meters (gateway_id) WHERE gateway_id IS NOT NULL;
COMMENT ON COLUMN meters.gateway_id IS 'the gateway that reads it and runs its commands (by its delivery); before gateway, the URL, which stays the push address of a meter with none';

ALTER TABLE api_keys ADD COLUMN site_id bigint REFERENCES sites(id);
ALTER TABLE api_keys ADD COLUMN gateway_id bigint;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_gateway_on_site FOREIGN KEY (gateway_id, site_id) REFERENCES gateways (id, site_id);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_of_gateways CHECK (role = 'gateway' OR (site_id IS NULL AND gateway_id IS NULL));
ALTER TABLE api_keys ADD CONSTRAINT api_keys_gateway_has_site CHECK (gateway_id IS NULL OR site_id IS NOT NULL);
COMMENT ON COLUMN api_keys.site_id IS 'a gateway key acts for this site''s meters only; NULL with gateway_id NULL: an unbound key of before 0016, acting for every meter (counted by wattle_gateway_keys_unbound)';
COMMENT ON COLUMN api_keys.gateway_id IS 'a gateway key acts for this gateway''s meters only';

-- A pull gateway is handed a command by marking it sent with a lease (next_attempt_at);
-- unacknowledged when the lease ends, it is handed out again until its attempts are used up.
ALTER TABLE commands ADD COLUMN pulled_by bigint REFERENCES gateways(id);
COMMENT ON COLUMN commands.pulled_by IS 'the pull gateway last handed it; NULL: pushed or not handed out. Sent and pulled: not acked yet, handed out again when next_attempt_at passes';
-- What a claim looks at: the commands still to hand out (small, whatever the history).
CREATE INDEX commands_open ON commands (meter_id, id) WHERE state = 'pending' OR (state = 'sent' AND pulled_by IS NOT NULL);
