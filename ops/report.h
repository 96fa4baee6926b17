/* report.h: the monthly reports' data, computed from the ledger and the rollups
 * (meter_daily, meter_hourly), never from raw readings. Money in the reports is integer
 * minor units; debits are positive in the totals and
 *   opening + topups - energy_charges - allocations + adjustments - refunds = closing
 * holds to the fen (allocation reversals count against allocations). */
#ifndef WATTLE_REPORT_H
#define WATTLE_REPORT_H

#include "store/db.h"

#include <jansson.h>
#include <stdint.h>

enum bill_report_kind { REPORT_STATEMENT, REPORT_FINANCE, REPORT_ENERGY };

/* "tenant_statement", "finance_summary", "energy"; -1 for another string. */
int bill_report_kind_parse(const char *s);
const char *bill_report_kind_name(enum bill_report_kind k);

/* Inside the caller's transaction: statements for the site's tenants with ids in
 * [from, to), in id order, for the site-local month year-month (a month close goes
 * through a large site in ranges, so memory stays bounded). *out gets a new array of
 * statement objects. DB_ABORT when the site does not exist, or when the range is one
 * tenant (to == from + 1) and it is not the site's. */
enum db_status bill_report_statements(PGconn *c, int64_t site_id, int64_t from, int64_t to, int year, int month,
				      json_t **out);

/* The same for the site's finance summary and energy report: a new object in *out. */
enum db_status bill_report_finance(PGconn *c, int64_t site_id, int year, int month, json_t **out);
enum db_status bill_report_energy(PGconn *c, int64_t site_id, int year, int month, json_t **out);

void bill_report_register(void);

#endif
