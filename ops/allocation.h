/* allocation.h: sharing a pool's cost for a site-local month: compute (preview), commit
 * (one allocation entry per member, once per pool and period) and reverse. Typed request
 * in, typed result and an error out; run inside the caller's db_run_tx. */
#ifndef WATTLE_OPS_ALLOCATION_H
#define WATTLE_OPS_ALLOCATION_H

#include "core/alloc.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

enum op_alloc_err {
	OP_ALLOC_OK = 0,
	OP_ALLOC_NO_POOL,          /* no such pool */
	OP_ALLOC_NO_BASIS,         /* a cost to share and every weight 0 (nobody consumed) */
	OP_ALLOC_NO_OCCUPANCY,     /* the same with prorating: nobody occupied a unit */
	OP_ALLOC_OVERFLOW,         /* the pool's cost or the shares overflow */
	OP_ALLOC_COMMITTED,        /* the pool's period is committed already */
	OP_ALLOC_NO_ACCOUNT,       /* lines name tenants without an account (missing says how many) */
	OP_ALLOC_BALANCE_OVERFLOW, /* a balance would overflow */
	OP_ALLOC_NOT_COMMITTED,    /* reverse: no committed run of that id */
};

struct alloc_line {
	int64_t tenant_id;
	int64_t basis;        /* area in hundredths of m2, quota ppm or Wh, by method */
	int64_t amount_minor; /* the share */
	int days, days_in_period; /* prorating only */
	bool settled; /* a tenant that moved out in the period: what it paid then, never posted again */
};

struct alloc_run {
	int64_t pool_id;
	int64_t run_id; /* a committed run's id, else 0 */
	char period[8];
	enum alloc_method method;
	bool prorate;
	int64_t total_wh, total_minor;
	struct alloc_line *lines; /* owned; sum of amount_minor == total_minor */
	int nlines;
	int missing; /* OP_ALLOC_NO_ACCOUNT: how many lines found no account */
};

void alloc_run_free(struct alloc_run *r);

struct op_alloc_req {
	int64_t pool_id;
	const char *period; /* "YYYY-MM", checked by the caller */
	bool commit;
	int64_t key_id;         /* who commits (0: a worker) */
	const char *request_id; /* for the ledger entries */
	int64_t now_us;
};

/* Compute pool's run for period and, with commit, record it and post the allocations
 * (dated the month's last instant when committed after it ended). A member that moved out
 * during the period keeps the share it paid then (line.settled, not posted again); one gone
 * before it weighs nothing; the others share the rest. Returns the db status;
 * on DB_OK, *err says whether it was done; when it is not OP_ALLOC_OK the caller rolls
 * back (its callback returns DB_ABORT). *out is filled either way (alloc_run_free it). */
enum db_status op_alloc_run(PGconn *c, const struct op_alloc_req *rq, struct alloc_run *out,
			    enum op_alloc_err *err);

struct op_reverse_req {
	int64_t run_id;
	const char *reason;
	const char *request_id;
	int64_t now_us;
};

/* Post a reversal entry for every line of a committed run and mark it reversed (the period
 * may then be committed again). *err as for op_alloc_run. */
enum db_status op_alloc_reverse(PGconn *c, const struct op_reverse_req *rq, enum op_alloc_err *err);

/* A moving-out tenant's share of a pool's month so far. */
struct op_share_req {
	int64_t pool_id, tenant_id;
	const char *period;   /* "YYYY-MM" */
	const char *last_day; /* "YYYY-MM-DD" in period: the last day it occupied its unit */
	bool post;            /* post the share (an allocation entry) */
	const char *request_id;
	int64_t now_us;
};
struct alloc_share {
	bool member, prorate;           /* member false: the pool does not name the tenant */
	enum alloc_method method;
	int64_t total_minor;            /* the pool's cost over the days so far */
	struct alloc_line line;         /* the tenant's */
	char basis_json[48];
	int64_t ledger_id;              /* the posted entry, 0: none (a share of 0) */
};

/* The pool's month computed as a run would, over the days from the month's start to
 * last_day (inclusive), and the tenant's line of it: what it owes of the cost so far (area
 * and quota weighed by the days each member occupied its unit when the pool prorates;
 * consumption by its own energy); with post, posted as an allocation entry whose ref names
 * the pool and period (dated now). The month's run then keeps that line as it is (see
 * op_alloc_run). *err as for op_alloc_run (OP_ALLOC_NO_BASIS: nobody to weigh against). */
enum db_status op_alloc_share(PGconn *c, const struct op_share_req *rq, struct alloc_share *out,
			      enum op_alloc_err *err);

/* The run as stored in allocation_runs.result: JSON text, new (caller frees). The API
 * reads it back for GET /v1/allocation-runs/{id}. */
char *alloc_run_result_text(const struct alloc_run *r);

#endif
