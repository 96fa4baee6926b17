-- 0022_messages.sql: messages where the tenants are (issue 16): SMS through Aliyun or Tencent
-- Cloud with approved templates, WeChat official account template messages, templates as
-- data per site, event and language, each tenant's channels in order of preference, and
-- whether a message arrived.
ALTER TABLE sites ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('zh-CN', 'en'));
COMMENT ON COLUMN sites.language IS 'the language of messages to tenants who have none of their own';
ALTER TABLE tenants
    ADD COLUMN language      text CHECK (language IN ('zh-CN', 'en')),
    ADD COLUMN channels      text[] NOT NULL DEFAULT '{sms}' CHECK (channels <@ '{wechat,sms}'::text[] AND cardinality(channels) >= 1),
    ADD COLUMN wechat_openid text;
COMMENT ON COLUMN tenants.language IS 'the language of messages to this tenant; NULL: the site''s';
COMMENT ON COLUMN tenants.channels IS 'where messages go, in order of preference; the next is tried when one fails for good (WeChat 43004: not following)';
COMMENT ON COLUMN tenants.wechat_openid IS 'the tenant''s openid in the site''s WeChat official account';

CREATE TABLE message_templates (
    site_id         bigint NOT NULL REFERENCES sites(id),
    event           text NOT NULL CHECK (event IN ('low_balance', 'grace_started', 'cut_off', 'restored',
                        'topup_received', 'statement_ready', 'alarm')),
    language        text NOT NULL CHECK (language IN ('zh-CN', 'en')),
    sms_template    text,
    sms_params      jsonb,
    wechat_template text,
    wechat_fields   jsonb,
    text            text,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (site_id, event, language)
);
COMMENT ON TABLE message_templates IS 'what a site''s messages say, per event and language: an approved SMS template code (Aliyun TemplateCode, Tencent TemplateId) with its parameters mapped to variables, a WeChat template id with its fields, and free text for channels that take it. Missing rows fall back to the shipped defaults';

ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check CHECK (channel IN ('sms', 'wechat', 'webhook'));
ALTER TABLE notifications DROP CONSTRAINT notifications_state_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_state_check CHECK (state IN ('pending', 'sent', 'dead', 'suppressed'));
ALTER TABLE notifications
    ADD COLUMN language        text,
    ADD COLUMN provider        text,
    ADD COLUMN provider_msg_id text,
    ADD COLUMN delivery        text CHECK (delivery IN ('delivered', 'undelivered')),
    ADD COLUMN delivery_code   text,
    ADD COLUMN delivered_at    timestamptz,
    ADD COLUMN last_code       text;
COMMENT ON COLUMN notifications.provider IS 'who carried it: twilio, aliyun, tencent, wechat';
COMMENT ON COLUMN notifications.provider_msg_id IS 'the provider''s id of the sent message (Aliyun BizId, Tencent SerialNo, Twilio sid, WeChat msgid): delivery reports find the message by it';
COMMENT ON COLUMN notifications.delivery IS 'what the carrier reported: NULL until a report (or a poll) says';
COMMENT ON COLUMN notifications.last_code IS 'the provider''s code of the last refusal (isv.BUSINESS_LIMIT_CONTROL, 1014, 43004, ...)';
CREATE UNIQUE INDEX notifications_provider_msg ON notifications (provider, provider_msg_id) WHERE provider_msg_id IS NOT NULL;

-- The WeChat official account's access token, shared by every process: refreshed by one, under
-- the row's lock, shortly before it expires or when WeChat says it is invalid (40001, 42001).
CREATE TABLE wechat_tokens (
    appid        text PRIMARY KEY,
    access_token text NOT NULL,
    expires_at   timestamptz NOT NULL,
    fetched_at   timestamptz NOT NULL,
    generation   bigint NOT NULL DEFAULT 1
);
COMMENT ON COLUMN wechat_tokens.generation IS 'bumped at each refresh: a process whose token WeChat refused refreshes only if nobody did since it read it';
