/* refund.h: refunds wattle asks a provider for (finance's POST /v1/refunds, a move-out's
 * settlement), in the database: a refund is asked for in one transaction (checked against
 * what is left of the payment and of the balance, held while pending), sent to the
 * provider outside any transaction (api/provider.h, by the request or the refund worker),
 * and posted once when the provider confirms it: the synchronous answer, a notification
 * (ops/payment.c's op_payment_refund finds the pending refund) or a query, whichever comes
 * first. The payment row is locked first on every path, so two confirmations of one
 * refund queue and the second finds it settled. */
#ifndef WATTLE_OPS_REFUND_H
#define WATTLE_OPS_REFUND_H

#include "store/db.h"
#include "store/refunds.h"

#include <stdbool.h>
#include <stdint.h>

struct op_refund_req {
	int64_t payment_id;
	int64_t amount_minor;
	const char *reason;
	const char *origin; /* "finance" or "move_out" */
	bool check_balance; /* refuse one larger than the balance less pending refunds */
	int64_t key_id;     /* 0: none */
	const char *request_id;
	int64_t send_at_us; /* when the refund worker first sends it (now: at once; the request that
			     * sends it itself gives now + a minute, the worker's fallback) */
	int64_t now_us;
};

enum refund_err {
	RF_OK = 0,
	RF_NO_PAYMENT,    /* no such payment */
	RF_NOT_CREDITED,  /* the payment was never credited (a conflict, rejected): nothing to take back */
	RF_TOO_LARGE,     /* more than is left of the payment (less refunds pending); *left set */
	RF_BALANCE,       /* more than the balance (less refunds pending) allows; *left set */
};

/* Record a pending refund of the payment. *out is the refund; *left what was available when
 * the answer is RF_TOO_LARGE or RF_BALANCE. *err not RF_OK: nothing was written. */
enum db_status op_refund_request(PGconn *c, const struct op_refund_req *rq, struct refund *out, int64_t *left,
				 enum refund_err *err);

/* What the provider said about a sent refund. */
struct op_refund_outcome {
	int64_t refund_id;
	enum { RO_SUCCEEDED, RO_PENDING, RO_FAILED, RO_RETRY } what; /* RO_RETRY: no answer, ask again */
	const char *provider_ref;        /* NULL: not known (yet) */
	const char *code, *message;      /* RO_FAILED: the provider's; else NULL */
	const char *event_json;          /* the provider's answer, kept with the confirmation */
	int64_t next_us;                 /* RO_PENDING / RO_RETRY: when to ask again */
	const char *request_id;
	int64_t now_us;
};

/* Record the outcome: a success posts the refund debit once (nothing when it is settled
 * already); a failure releases the hold. *out is the refund as it stands afterwards. */
enum db_status op_refund_settle(PGconn *c, const struct op_refund_outcome *o, struct refund *out);

#endif
