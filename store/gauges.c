/* gauges.c: the gauges of /metrics (gauges.h): grouped counts over indexed states, one
 * statement. */
#include "store/gauges.h"

#define OLDEST(FAMILY, TABLE)                                                                           \
	" UNION ALL SELECT '" FAMILY "', 'pending', coalesce(extract(epoch FROM " SQL_TS("$1")                \
	" - min(created_at)), 0)::bigint FROM " TABLE " WHERE state = 'pending'"

/* Per raw table, a value over its month partitions (0 rows: the value of none). */
#define RAW_PARTS(FAMILY, VALUE)                                                                        \
	" UNION ALL SELECT '" FAMILY "', t.tbl, " VALUE " FROM (VALUES ('readings'), ('meter_harmonics')) AS t(tbl)" \
	" LEFT JOIN LATERAL month_partitions(t.tbl) mp ON true GROUP BY t.tbl"

static const struct db_stmt gauge_stmts[] = {
	{"gauges", /* store_gauges */
	 "SELECT 'accounts' AS family, state AS label, count(*) AS value FROM accounts GROUP BY state"
	 " UNION ALL SELECT 'alarms', severity, count(*) FROM alarms WHERE state <> 'closed' GROUP BY severity"
	 " UNION ALL SELECT 'commands', state, count(*) FROM commands WHERE state IN ('pending', 'sent', 'failed')"
	 "  GROUP BY state"
	 " UNION ALL SELECT 'notifications', state, count(*) FROM notifications WHERE state IN ('pending', 'dead')"
	 "  GROUP BY state"
	 OLDEST("commands_oldest_seconds", "commands") OLDEST("notifications_oldest_seconds", "notifications")
	 " UNION ALL SELECT 'gateway_keys_unbound', '', count(*) FROM api_keys WHERE role = 'gateway'"
	 "  AND revoked_at IS NULL AND site_id IS NULL AND gateway_id IS NULL"
	 RAW_PARTS("partitions", "count(mp.name)")
	 RAW_PARTS("partitions_oldest", "coalesce(extract(epoch FROM min(mp.lo)), 0)::bigint")
	 " ORDER BY 1, 2"},
	{0, 0},
};

void store_gauges_register(void) { db_register(gauge_stmts); }

enum db_status store_gauges(PGconn *c, int64_t now_us, struct gauge **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	struct gauge g;
	struct db_col spec[] = {DB_COL_TEXT("family", g.family), DB_COL_TEXT("label", g.label),
				DB_COL("value", DB_I64, &g.value), {0}};
	return db_exec_rows(c, "gauges", &p, spec, &g, sizeof g, (void **)out, n);
}
