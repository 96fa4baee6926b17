/* closes.h: the month close's rows: which sites have a month to close, the claim that makes
 * a close happen once across processes, the stored reports and the close's record. */
#ifndef WATTLE_STORE_CLOSES_H
#define WATTLE_STORE_CLOSES_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct close_due {
	int64_t site_id;
	char period[8]; /* "YYYY-MM", the site-local month that ended */
};

/* Up to 20 sites whose previous site-local month ended at least delay_min before now and
 * is not closed, for sites that existed during it. *out is new (caller frees). */
enum db_status store_closes_due(PGconn *c, int64_t now_us, int64_t delay_min, struct close_due **out, int *n);

/* Claim the close of (site, period): *claimed false when another process has it. */
enum db_status store_close_claim(PGconn *c, int64_t site_id, const char *period, int64_t now_us, bool *claimed);

/* The next range of the site's tenant ids from `from` on, at most limit of them: [*lo, *hi],
 * or *none when there are no more. */
enum db_status store_close_tenants(PGconn *c, int64_t site_id, int64_t from, int limit, int64_t *lo, int64_t *hi,
				   bool *none);

/* A report to store. */
struct report_row {
	const char *kind;      /* "tenant_statement", "finance_summary", "energy"; borrowed */
	int64_t tenant_id;     /* 0: the site's */
	const char *data_json; /* borrowed */
};
/* Store n reports of the site and period, made by origin ("month_close"), in one statement. */
enum db_status store_reports_insert(PGconn *c, int64_t site_id, const char *period, int64_t now_us,
				    const char *origin, const struct report_row *rows, int n);

/* Record what the close did. */
enum db_status store_close_done(PGconn *c, int64_t site_id, const char *period, int statements, int allocations);

void store_closes_register(void);

#endif
