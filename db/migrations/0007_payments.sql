-- 0007_payments.sql: top-up orders, the payments providers report, the ones finance must
-- look at, and refunds.
CREATE TABLE topup_orders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    out_trade_no    text NOT NULL UNIQUE,
    tenant_id       bigint NOT NULL REFERENCES tenants(id),
    provider        text NOT NULL CHECK (provider IN ('wechat', 'alipay', 'stripe')),
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    currency        char(3) NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    pay_url         text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    paid_at         timestamptz,
    payment_id      bigint,
    api_key_id      bigint REFERENCES api_keys(id)
);
COMMENT ON COLUMN topup_orders.status IS 'open until a payment for it is credited; an open order past expires_at is shown as expired, yet a payment the provider reports for it later is still credited: the money has been taken';
CREATE INDEX topup_orders_tenant ON topup_orders (tenant_id, id);

CREATE TABLE payments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider        text NOT NULL CHECK (provider IN ('wechat', 'alipay', 'stripe')),
    provider_txn_id text NOT NULL,
    out_trade_no    text,
    order_id        bigint REFERENCES topup_orders(id),
    tenant_id       bigint REFERENCES tenants(id),
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        char(3) NOT NULL,
    status          text NOT NULL CHECK (status IN ('credited', 'conflict', 'rejected')),
    ledger_entry_id bigint REFERENCES ledger_entries(id),
    refunded_minor  bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    event           jsonb NOT NULL,
    received_at     timestamptz NOT NULL,
    request_id      text,
    UNIQUE (provider, provider_txn_id)
);
COMMENT ON TABLE payments IS 'one row per payment a provider reported with a valid signature; the UNIQUE key is what makes a replay credit nothing';
COMMENT ON COLUMN payments.provider_txn_id IS 'WeChat transaction_id, Alipay trade_no, Stripe PaymentIntent id';
COMMENT ON COLUMN payments.event IS 'the verified notification (WeChat: the decrypted resource)';
CREATE INDEX payments_tenant ON payments (tenant_id, id);

CREATE TABLE payment_conflicts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id          bigint NOT NULL UNIQUE REFERENCES payments(id),
    reason              text NOT NULL CHECK (reason IN ('unknown_order', 'amount_mismatch',
                            'currency_mismatch', 'order_already_paid', 'no_account')),
    expected_minor      bigint,
    expected_currency   char(3),
    state               text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'credited', 'rejected')),
    created_at          timestamptz NOT NULL,
    resolved_at         timestamptz,
    resolved_by_key     bigint REFERENCES api_keys(id),
    resolution_reason   text,
    ledger_entry_id     bigint REFERENCES ledger_entries(id)
);
COMMENT ON TABLE payment_conflicts IS 'genuine payments that did not match an order: nothing was credited until finance resolves them';
CREATE INDEX payment_conflicts_open ON payment_conflicts (id) WHERE state = 'open';

CREATE TABLE payment_refunds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id      bigint NOT NULL REFERENCES payments(id),
    refund_ref      text NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    ledger_entry_id bigint REFERENCES ledger_entries(id),
    event           jsonb NOT NULL,
    received_at     timestamptz NOT NULL,
    UNIQUE (payment_id, refund_ref)
);
COMMENT ON COLUMN payment_refunds.refund_ref IS 'WeChat refund_id; for providers that report the cumulative refunded amount (Stripe, Alipay) "total:<amount>", and amount_minor is what it added';
COMMENT ON COLUMN payment_refunds.ledger_entry_id IS 'NULL when the payment had not been credited: there is nothing to take back';
