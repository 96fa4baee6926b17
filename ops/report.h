/* report.h: the monthly reports' data (core/report_doc.h), computed from the ledger and the
 * rollups (meter_daily, meter_hourly), never from raw readings, as of the clock's now. The
 * documents are rendered by core/report_doc.c. */
#ifndef WATTLE_REPORT_H
#define WATTLE_REPORT_H

#include "core/report_doc.h"
#include "store/db.h"

#include <stdint.h>

/* Inside the caller's transaction: statements for the site's tenants with ids in
 * [from, to), in id order, for the site-local month year-month (a month close goes
 * through a large site in ranges, so memory stays bounded). *out is new
 * (statement_set_free), empty on an error. DB_ABORT when the site does not exist, or when
 * the range is one tenant (to == from + 1) and it is not the site's. */
enum db_status op_report_statements(PGconn *c, int64_t site_id, int64_t from, int64_t to, int year, int month,
				    struct statement_set *out);

/* The same for the site's finance summary and energy report: *out new
 * (finance_report_free, energy_report_free). */
enum db_status op_report_finance(PGconn *c, int64_t site_id, int year, int month, struct finance_report *out);
enum db_status op_report_energy(PGconn *c, int64_t site_id, int year, int month, struct energy_report *out);

#endif
