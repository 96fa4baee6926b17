/* report.c: the monthly reports' data (see report.h): the site's head, then the report's
 * rows from store/reports.c, a few grouped statements for a whole range of tenants. */
#include "ops/report.h"
#include "core/clock.h"
#include "core/valid.h"
#include "store/reports.h"

#include <string.h>

/* The report's head: site, period and its bounds, now. DB_ABORT when there is no such site. */
static enum db_status head(PGconn *c, int64_t site_id, int year, int month, struct report_site *s)
{
	memset(s, 0, sizeof *s);
	s->id = site_id;
	report_site_period(s, year, month);
	bool found;
	enum db_status st = store_report_site(c, s, &found);
	if (st != DB_OK)
		return st;
	if (!found)
		return DB_ABORT;
	s->minor_digits = 2;
	api_valid_currency(s->currency, &s->minor_digits);
	s->generated_us = srv_clock_now_us();
	return DB_OK;
}

enum db_status op_report_statements(PGconn *c, int64_t site_id, int64_t from, int64_t to, int year, int month,
				    struct statement_set *out)
{
	memset(out, 0, sizeof *out);
	enum db_status st = head(c, site_id, year, month, &out->site);
	if (st == DB_OK)
		st = store_report_statements(c, from, to, out);
	if (st == DB_OK && to == from + 1 && out->n == 0)
		st = DB_ABORT;
	if (st != DB_OK)
		statement_set_free(out);
	return st;
}

enum db_status op_report_finance(PGconn *c, int64_t site_id, int year, int month, struct finance_report *out)
{
	memset(out, 0, sizeof *out);
	enum db_status st = head(c, site_id, year, month, &out->site);
	if (st == DB_OK)
		st = store_report_finance(c, out);
	if (st != DB_OK)
		finance_report_free(out);
	return st;
}

enum db_status op_report_energy(PGconn *c, int64_t site_id, int year, int month, struct energy_report *out)
{
	memset(out, 0, sizeof *out);
	enum db_status st = head(c, site_id, year, month, &out->site);
	if (st == DB_OK)
		st = store_report_energy(c, out);
	if (st != DB_OK)
		energy_report_free(out);
	return st;
}
