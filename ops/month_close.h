/* month_close.h: closing a site's month, once across processes: the claim, the month's
 * automatic allocations, every tenant statement (CHUNK tenants at a time, so memory stays
 * bounded), the finance summary and the energy report, and a "statement ready" message for
 * each tenant, in the caller's transaction. */
#ifndef WATTLE_OPS_MONTH_CLOSE_H
#define WATTLE_OPS_MONTH_CLOSE_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct op_close_req {
	int64_t site_id;
	char period[8]; /* "YYYY-MM" */
	int64_t now_us;
};

struct op_close_result {
	bool claimed; /* false: another process closed it (nothing done) */
	int statements, allocations;
	int64_t alloc_us, build_us, store_us, site_us; /* where the time went */
};

/* DB_ABORT (logged) when an auto pool's allocation is refused: the close waits for it and
 * is tried again later. */
enum db_status op_month_close(PGconn *c, const struct op_close_req *rq, struct op_close_result *out);

#endif
