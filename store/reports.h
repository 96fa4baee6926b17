/* reports.h: the monthly reports' data in the database, read into the typed structs of
 * core/report_doc.h. Whole sets of tenants are read with a handful of grouped statements
 * (not one round of queries per tenant), each result in one pass, so closing a month of
 * 10,000 tenants stays a matter of seconds. The statements are in reports.c. */
#ifndef WATTLE_STORE_REPORTS_H
#define WATTLE_STORE_REPORTS_H

#include "core/report_doc.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* The site s->id and the bounds of the site-local month s->first (report_site_period):
 * name, timezone, currency, from_us, to_us. *found false when there is no such site. */
enum db_status store_report_site(PGconn *c, struct report_site *s, bool *found);

/* The statements of s->site's tenants with ids in [from, to), in id order: balances and
 * sums per tenant, their entries, bands and days (s's arrays, each statement a slice).
 * s->site as store_report_site read it; on an error s holds what was read
 * (statement_set_free). */
enum db_status store_report_statements(PGconn *c, int64_t from, int64_t to, struct statement_set *s);

/* The finance summary's and the energy report's data for f->site / e->site. */
enum db_status store_report_finance(PGconn *c, struct finance_report *f);
enum db_status store_report_energy(PGconn *c, struct energy_report *e);

void store_reports_register(void);

#endif
