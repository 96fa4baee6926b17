/* dashboard.c: the console dashboard's read-only figures for one site (store/dashboard.h). */
#include "store/dashboard.h"

#include <string.h>

static const struct db_stmt dash_stmts[] = {
	{"dash_summary", /* store_dash_summary */
	 "SELECT s.currency, s.timezone,"
	 " (SELECT coalesce(sum(a.balance_minor), 0)::bigint FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 "   WHERE t.site_id = s.id) AS liability_minor,"
	 " (SELECT count(*) FILTER (WHERE a.state = 'normal') FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 "   WHERE t.site_id = s.id) AS normal,"
	 " (SELECT count(*) FILTER (WHERE a.state = 'warned') FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 "   WHERE t.site_id = s.id) AS warned,"
	 " (SELECT count(*) FILTER (WHERE a.state = 'grace') FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 "   WHERE t.site_id = s.id) AS grace,"
	 " (SELECT count(*) FILTER (WHERE a.state = 'cut_off') FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 "   WHERE t.site_id = s.id) AS cut_off,"
	 " (SELECT count(*) FROM alarms x WHERE x.site_id = s.id AND x.state = 'open' AND x.severity = 'critical')"
	 "   AS alarms_critical,"
	 " (SELECT count(*) FROM alarms x WHERE x.site_id = s.id AND x.state = 'open' AND x.severity = 'major')"
	 "   AS alarms_major,"
	 " (SELECT count(*) FROM alarms x WHERE x.site_id = s.id AND x.state = 'open' AND x.severity = 'minor')"
	 "   AS alarms_minor,"
	 " (SELECT count(*) FROM alarms x WHERE x.site_id = s.id AND x.state = 'acked') AS alarms_acked,"
	 " (SELECT count(*) FROM commands k JOIN meters m ON m.id = k.meter_id"
	 "   WHERE m.site_id = s.id AND k.state IN ('pending', 'sent')) AS commands_pending,"
	 " (SELECT count(*) FROM commands k JOIN meters m ON m.id = k.meter_id"
	 "   WHERE m.site_id = s.id AND k.state = 'failed'"
	 "   AND k.created_at > " SQL_TS("$2") " - interval '24 hours') AS commands_failed"
	 " FROM sites s WHERE s.id = $1"},
	{"dash_topups", /* store_dash_topups */
	 "SELECT coalesce(e.ref->>'channel', 'other') AS channel, count(*) AS count,"
	 " sum(e.amount_minor)::bigint AS amount_minor"
	 " FROM sites s JOIN tenants t ON t.site_id = s.id JOIN accounts a ON a.tenant_id = t.id"
	 " JOIN ledger_entries e ON e.account_id = a.id"
	 " WHERE s.id = $1 AND e.kind = 'topup'"
	 " AND e.at >= (date_trunc('day', " SQL_TS("$2") " AT TIME ZONE s.timezone) AT TIME ZONE s.timezone)"
	 " GROUP BY 1 ORDER BY 1"},
	{"dash_days", /* store_dash_days */
	 "SELECT to_char(d.day, 'YYYY-MM-DD') AS day, sum(d.wh)::bigint AS wh"
	 " FROM sites s JOIN meters m ON m.site_id = s.id JOIN meter_daily d ON d.meter_id = m.id"
	 " WHERE s.id = $1 AND d.day <= (" SQL_TS("$2") " AT TIME ZONE s.timezone)::date"
	 " AND d.day > (" SQL_TS("$2") " AT TIME ZONE s.timezone)::date - $3::integer"
	 " GROUP BY d.day ORDER BY d.day"},
	{0, 0},
};

void store_dashboard_register(void) { db_register(dash_stmts); }

enum db_status store_dash_summary(PGconn *c, int64_t site_id, int64_t now_us, struct dash_summary *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_i64(&p, now_us);
	struct db_col spec[] = {DB_COL_TEXT("currency", out->currency),
				DB_COL_TEXT("timezone", out->timezone),
				DB_COL("liability_minor", DB_I64, &out->liability_minor),
				DB_COL("normal", DB_I64, &out->normal),
				DB_COL("warned", DB_I64, &out->warned),
				DB_COL("grace", DB_I64, &out->grace),
				DB_COL("cut_off", DB_I64, &out->cut_off),
				DB_COL("alarms_critical", DB_I64, &out->alarms_critical),
				DB_COL("alarms_major", DB_I64, &out->alarms_major),
				DB_COL("alarms_minor", DB_I64, &out->alarms_minor),
				DB_COL("alarms_acked", DB_I64, &out->alarms_acked),
				DB_COL("commands_pending", DB_I64, &out->commands_pending),
				DB_COL("commands_failed", DB_I64, &out->commands_failed),
				{0}};
	return db_exec_row(c, "dash_summary", &p, spec, NULL);
}

enum db_status store_dash_topups(PGconn *c, int64_t site_id, int64_t now_us, struct dash_topups **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_i64(&p, now_us);
	struct dash_topups t;
	struct db_col spec[] = {DB_COL_TEXT("channel", t.channel), DB_COL("count", DB_I64, &t.count),
				DB_COL("amount_minor", DB_I64, &t.amount_minor), {0}};
	return db_exec_rows(c, "dash_topups", &p, spec, &t, sizeof t, (void **)out, n);
}

enum db_status store_dash_days(PGconn *c, int64_t site_id, int64_t now_us, int64_t days, struct dash_day **out,
			       int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_i64(&p, now_us);
	db_p_i64(&p, days);
	struct dash_day d;
	struct db_col spec[] = {DB_COL_TEXT("day", d.day), DB_COL("wh", DB_I64, &d.wh), {0}};
	return db_exec_rows(c, "dash_days", &p, spec, &d, sizeof d, (void **)out, n);
}
