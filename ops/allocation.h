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
 * (dated the month's last instant when committed after it ended). Returns the db status;
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

/* The run as stored in allocation_runs.result: JSON text, new (caller frees). The API
 * reads it back for GET /v1/allocation-runs/{id}. */
char *alloc_run_result_text(const struct alloc_run *r);

#endif
