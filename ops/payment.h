/* payment.h: money in from the providers, in one transaction each: a payment credited once
 * (or kept as a conflict), a refund debited once, and finance resolving a conflict. The
 * signature, merchant and body checks are the API's (api/hook_*.c); what reaches here is a
 * genuine report. */
#ifndef WATTLE_OPS_PAYMENT_H
#define WATTLE_OPS_PAYMENT_H

#include "store/db.h"
#include "store/payments.h"
#include "store/refunds.h"

#include <stdbool.h>
#include <stdint.h>

enum pay_provider { PROV_WECHAT, PROV_ALIPAY, PROV_STRIPE, PROV__COUNT };
/* "wechat", "alipay", "stripe", then NULL. */
extern const char *const pay_provider_names[];
/* -1 for an unknown name. */
int pay_provider_parse(const char *name);

enum pay_outcome { PAY_CREDITED, PAY_REPLAY, PAY_CONFLICT, PAY_REFUND, PAY_IGNORED, PAY_REFUSED, PAY__COUNT };

/* A payment or refund as a provider reports it, once its signature has been checked. */
struct pay_note {
	enum pay_provider prov;
	const char *txn;          /* the provider's payment id */
	const char *out_trade_no; /* our order, or NULL */
	int64_t tenant_hint;      /* Stripe metadata.tenant_id without an order, else 0 */
	int64_t amount;
	char currency[4];
	const char *event_json; /* stored with the payment or refund */
	const char *refund_ref;
	const char *out_refund_no; /* ours ("rf<id>"), when the report gives it back */
	bool refund_cumulative; /* amount is the payment's total refunded so far */
	const char *request_id;
	int64_t now_us;
};

enum pay_err {
	PAY_OK = 0,
	PAY_UNKNOWN_PAYMENT,   /* a refund of a payment never seen: the provider delivers it again */
	PAY_REFUND_TOO_LARGE,  /* more than is left of the payment */
	PAY_POST_FAILED,       /* the refund's debit found no account */
};

struct pay_result {
	enum pay_outcome out;
	const char *conflict; /* static: why it was kept, or NULL */
	int64_t payment_id;
	int64_t left; /* PAY_REFUND_TOO_LARGE: what was left */
};

/* Lock the order, record the payment under UNIQUE (provider, id) and credit it when it
 * matches (ledger entry, state machine, receipt); a replay credits nothing; a mismatch is
 * kept as a conflict. *err as for every op: not PAY_OK means roll back. */
enum db_status op_payment_credit(PGconn *c, const struct pay_note *n, struct pay_result *out, enum pay_err *err);

/* Record a refund once and debit what it newly refunds; a pending refund finance asked for
 * that it confirms is settled with it (ops/refund.h). */
enum db_status op_payment_refund(PGconn *c, const struct pay_note *n, struct pay_result *out, enum pay_err *err);

/* A refund of a payment the caller has locked, as the provider confirmed it. */
struct refund_record {
	const char *provider, *txn, *out_trade_no, *refund_ref, *event_json, *request_id;
	int64_t payment_id, tenant_id, amount;
	bool credited;             /* the payment was credited: debit the account */
	int64_t finance_refund_id; /* the refund finance asked for, or 0 */
	int64_t now_us;
};
/* Record it under (payment, refund_ref) once and debit it: *refund_id the payment_refunds
 * row, 0 when it was recorded before (nothing posted); *ledger_id the debit, 0 when none. */
enum db_status op_payment_refund_record(PGconn *c, const struct refund_record *r, int64_t *refund_id,
				       int64_t *ledger_id, enum pay_err *err);

enum resolve_err {
	RES_OK = 0,
	RES_NO_CONFLICT,
	RES_NOT_OPEN,      /* resolved before (out->state says how) */
	RES_NO_TENANT,     /* credit: the payment names no tenant and none was given */
	RES_NO_ACCOUNT,    /* credit: the tenant has no account */
	RES_CURRENCY,      /* credit: the payment is in another currency than the account */
	RES_REFUNDED,      /* credit: refunded in full, nothing to credit */
	RES_CLOSED,        /* credit: the tenant moved out, its account takes no new money */
};

struct op_resolve_req {
	int64_t conflict_id;
	bool credit;         /* else reject */
	int64_t tenant_id;   /* credit to this tenant; 0: the payment's */
	const char *reason;
	int64_t key_id;
	const char *request_id;
	int64_t now_us;
};

/* Credit (what was paid less refunds) or reject an open conflict. *out is the conflict as
 * it stands afterwards (or as it was, on RES_NOT_OPEN). */
enum db_status op_conflict_resolve(PGconn *c, const struct op_resolve_req *rq, struct conflict *out,
				   enum resolve_err *err);

#endif
