-- 0018_provider_orders.sql: wattle calls the payment providers itself (issue 15). A top-up
-- order is created with the provider (its row exists before the call and records the
-- outcome after); a worker asks the provider about open orders until they are paid, closed
-- or expired; finance refunds a payment through the provider.
ALTER TABLE topup_orders DROP CONSTRAINT topup_orders_status_check;
ALTER TABLE topup_orders ADD CONSTRAINT topup_orders_status_check
    CHECK (status IN ('creating', 'open', 'paid', 'failed', 'closed'));
ALTER TABLE topup_orders
    ADD COLUMN mode             text NOT NULL DEFAULT 'qr' CHECK (mode IN ('qr', 'h5', 'jsapi', 'portal')),
    ADD COLUMN openid           text,
    ADD COLUMN provider_ref     text,
    ADD COLUMN pay_params       jsonb,
    ADD COLUMN provider_code    text,
    ADD COLUMN provider_message text,
    ADD COLUMN next_query_at    timestamptz,
    ADD COLUMN query_attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN closed_at        timestamptz;
COMMENT ON COLUMN topup_orders.status IS 'creating while the provider is being asked; open once it has the order (or, mode portal, at once); paid when a payment for it is credited; failed when the provider refused or did not answer (nothing was taken: the order never existed there, or was closed); closed when it expired unpaid and was closed with the provider. A payment the provider reports for a closed or expired order is still credited: the money has been taken';
COMMENT ON COLUMN topup_orders.mode IS 'qr: WeChat Native code_url, Alipay precreate qr_code, Stripe Checkout url; h5: Alipay wap pay in a phone browser; jsapi: WeChat inside the official account (openid); portal: the WATTLE_PAY_URL portal calls the provider';
COMMENT ON COLUMN topup_orders.provider_ref IS 'Stripe Checkout Session id; WeChat JSAPI prepay_id';
COMMENT ON COLUMN topup_orders.next_query_at IS 'when the query worker next asks the provider about this open order (30 s after creation, then backing off); NULL: never again';
CREATE INDEX topup_orders_query ON topup_orders (next_query_at) WHERE next_query_at IS NOT NULL;

-- Refunds finance asks for. payment_refunds (0007) stays the record of what the provider
-- confirmed; a refund here is posted once, when the provider confirms it (the synchronous
-- answer, a notification or a query, whichever comes first), through that record.
CREATE TABLE refunds (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id       bigint NOT NULL REFERENCES payments(id),
    tenant_id        bigint NOT NULL REFERENCES tenants(id),
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0),
    currency         char(3) NOT NULL,
    reason           text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
    provider_ref     text,
    provider_code    text,
    provider_message text,
    payment_refund_id bigint REFERENCES payment_refunds(id),
    ledger_entry_id  bigint REFERENCES ledger_entries(id),
    origin           text NOT NULL DEFAULT 'finance' CHECK (origin IN ('finance', 'move_out')),
    next_query_at    timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    api_key_id       bigint REFERENCES api_keys(id),
    request_id       text
);
COMMENT ON TABLE refunds IS 'refunds finance (or a move-out) asked the provider for; pending until the provider confirms or refuses. While pending, its amount is held: what is left of the payment and of the balance counts it as gone';
COMMENT ON COLUMN refunds.provider_ref IS 'the provider refund id (WeChat refund_id, Alipay out_request_no, Stripe re_...); our out_refund_no is "rf" + id';
COMMENT ON COLUMN refunds.next_query_at IS 'when the worker next asks the provider (or asks it again, after a timeout); NULL when settled';
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_tenant ON refunds (tenant_id, id);
CREATE INDEX refunds_due ON refunds (next_query_at) WHERE next_query_at IS NOT NULL;
