/* move_out.h: a tenant moves out, in one transaction: its final readings billed through the
 * readings path, its share of the month's pools so far posted, the balance settled (refunded
 * through the providers it came from, paid out in cash, or left as arrears), a final
 * statement stored, its meters vacant, its account closed to new money, and the move-out
 * recorded once (move_outs.tenant_id UNIQUE). Typed request in, typed result and an error
 * out; run inside the caller's db_run_tx; when *err is not MO_OK the caller rolls back. */
#ifndef WATTLE_OPS_MOVE_OUT_H
#define WATTLE_OPS_MOVE_OUT_H

#include "core/meterbatch.h"
#include "ops/payment.h"
#include "store/db.h"
#include "store/moveouts.h"
#include "store/refunds.h"

#include <stdbool.h>
#include <stdint.h>

enum mo_settlement { MO_REFUND, MO_CASH, MO_CARRY };
/* "refund", "cash", "carry", then NULL. */
extern const char *const mo_settlement_names[];

struct op_moveout_req {
	int64_t tenant_id, at_us;
	struct bill_reading *rd; /* the final readings, decoded (mb_reading_decode); the op sets their
				  * outcomes */
	int nrd;
	enum mo_settlement settlement;
	bool refunds_by[PROV__COUNT]; /* providers wattle can ask for a refund (it holds their API
				       * credentials): a payment through another is paid back in cash */
	int64_t key_id;
	const char *request_id;
	int64_t now_us;
};

enum moveout_err {
	MO_OK = 0,
	MO_NO_TENANT,        /* no such tenant */
	MO_DONE,             /* it moved out before: out->mo and out->refunds are that move-out */
	MO_AT_FUTURE,        /* at is after now */
	MO_AT_MONTH,         /* at is in a site-local month that has ended (its month close is its own) */
	MO_BEFORE_MOVE_IN,   /* at is before the tenant moved in */
	MO_READING_AFTER,    /* final reading out->bad_index is after at */
	MO_READING_METER,    /* final reading out->bad_index is of a meter that is not the tenant's */
	MO_READING_REFUSED,  /* the readings path refused final reading out->bad_index (its code and
				message say why) */
	MO_CARRY_POSITIVE,   /* "carry" with a positive balance (out->mo.final_balance_minor): money
				must go back */
	MO_OVERFLOW,         /* a balance or a pool's cost would overflow */
};

struct op_moveout_result {
	struct moveout mo;       /* store_moveout_free */
	struct refund *refunds;  /* new (free): the refunds asked for, largest first */
	int nrefunds;
	int bad_index;           /* MO_READING_*: the reading's index in the request */
	struct bill_batch batch; /* the final readings' (bill_ingest_committed once committed) */
	bool nothing_settled;    /* a negative balance with refund or cash: nothing paid back */
	char statement_period[8];
};
/* Free what r owns (not r) and zero those fields; NULL is a no-op. */
void op_moveout_result_free(struct op_moveout_result *r);

/* The move-out. *out is filled on DB_OK whatever *err (op_moveout_result_free it). */
enum db_status op_move_out(PGconn *c, const struct op_moveout_req *rq, struct op_moveout_result *out,
			   enum moveout_err *err);

/* The tenant's move-out as recorded, with its refunds as they stand now; out->mo.id == 0 when
 * it has none. */
enum db_status op_move_out_get(PGconn *c, int64_t tenant_id, struct op_moveout_result *out);

#endif
