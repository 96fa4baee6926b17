/* closes.h: the month close's rows (which sites have a month to close, the claim that makes
 * a close happen once across processes, the close's record) and the stored reports, which
 * the close and POST /v1/reports both write. */
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

/* A stored report as the API shows it. */
struct report_view {
	int64_t id, site_id, tenant_id, created_us; /* tenant 0: the site's */
	char kind[20], period[8], origin[16];
	char *data_json; /* new, or NULL when not read */
};
void store_report_views_free(struct report_view *v, int n);
/* Store one report made through the API by key_id (0: none); *out is the row (without data). */
enum db_status store_report_insert(PGconn *c, const char *kind, int64_t site_id, int64_t tenant_id, const char *period,
				   const char *data_json, int64_t now_us, int64_t key_id, struct report_view *out);
/* One report with its data; out->id == 0 when there is none. */
enum db_status store_report_get(PGconn *c, int64_t id, struct report_view *out);
/* A page of reports (0 / NULL: any). *out new: store_report_views_free. */
struct report_filter {
	int64_t site_id, tenant_id;
	const char *period, *kind;
};
enum db_status store_reports_list(PGconn *c, int64_t after, int64_t limit, const struct report_filter *f,
				  struct report_view **out, int *n);

void store_closes_register(void);

#endif
