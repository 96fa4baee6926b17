/* partitions.c (store): the SQL of the month partitions (partitions.h). The DDL is in the
 * functions of migration 0029 (partitions_ensure, partitions_retire): identifiers cannot be
 * parameters of a prepared statement, and the migration makes its first partitions with the
 * same functions. */
#include "store/partitions.h"

#include <stdlib.h>

/* The raw tables and their partition keys. */
#define RAW_TABLES " (VALUES (1, 'readings', 'ts'), (2, 'meter_harmonics', 'slot')) AS t(o, tbl, key)"
#define UTC_DATE(P) "((" SQL_TS(P) ") AT TIME ZONE 'UTC')::date"

static const struct db_stmt partition_stmts[] = {
	{"parts_lock_timeout", /* store_partitions_ensure, store_partitions_retire: ingest waits behind
				  a partition's DDL only this long */
	 "SELECT set_config('lock_timeout', '2s', true)"},
	{"parts_ensure", /* store_partitions_ensure */
	 "SELECT t.tbl AS table_name, e AS name, 'created' AS action, 0::bigint AS n FROM" RAW_TABLES ","
	 " LATERAL partitions_ensure(t.tbl, t.key, " UTC_DATE("$1") ", " UTC_DATE("$2") ") AS e ORDER BY t.o"},
	{"parts_retire", /* store_partitions_retire */
	 "SELECT t.tbl AS table_name, r.name, r.action, r.n FROM" RAW_TABLES ","
	 " LATERAL partitions_retire(t.tbl, t.key, " SQL_TS("$1") ") AS r ORDER BY t.o"},
	{0, 0},
};

void store_partitions_register(void) { db_register(partition_stmts); }

static enum db_status run(PGconn *c, const char *stmt, int64_t a, int64_t b, int np, struct part_change **out,
			  int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params none = {0};
	enum db_status st = db_exec_void(c, "parts_lock_timeout", &none);
	if (st != DB_OK)
		return st;
	struct db_params p = {0};
	db_p_i64(&p, a);
	if (np > 1)
		db_p_i64(&p, b);
	struct part_change x;
	struct db_col spec[] = {DB_COL_TEXT("table_name", x.table), DB_COL_TEXT("name", x.name),
				DB_COL_TEXT("action", x.action), DB_COL("n", DB_I64, &x.n), {0}};
	return db_exec_rows(c, stmt, &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_partitions_ensure(PGconn *c, int64_t from_us, int64_t to_us, struct part_change **out, int *n)
{
	return run(c, "parts_ensure", from_us, to_us, 2, out, n);
}

enum db_status store_partitions_retire(PGconn *c, int64_t before_us, struct part_change **out, int *n)
{
	return run(c, "parts_retire", before_us, 0, 1, out, n);
}
