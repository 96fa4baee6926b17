/* tariffs.c: the SQL of tariffs (tariffs.h). */
#include "store/tariffs.h"

#include <stdlib.h>
#include <string.h>

#define TARIFF_COLS                                                                                   \
	"id, site_id, name, currency, kind, spec::text AS spec, " SQL_US("effective_from") " AS effective_from_us," \
	" " SQL_US("created_at") " AS created_us"

static const struct db_stmt tariff_stmts[] = {
	{"tariff_site_currency", /* store_site_currency */
	 "SELECT currency FROM sites WHERE id = $1"},
	{"tariff_insert", /* store_tariff_insert: the tariff and its first version */
	 "WITH t AS (INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at)"
	 " VALUES ($1, $2, $3, $4, $5::jsonb, " SQL_TS("$6") ", " SQL_TS("$7") ") RETURNING *),"
	 " v AS (INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at)"
	 " SELECT id, effective_from, kind, spec, created_at FROM t)"
	 " SELECT " TARIFF_COLS " FROM t"},
	{"tariff_version_insert", /* store_tariff_version_insert */
	 "INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at)"
	 " SELECT id, " SQL_TS("$2") ", $3, $4::jsonb, " SQL_TS("$5") " FROM tariffs WHERE id = $1"
	 " RETURNING id"},
	{"tariff_versions", /* store_tariff_versions */
	 "SELECT " SQL_US("effective_from") " AS effective_from_us, kind, spec::text AS spec FROM tariff_versions"
	 " WHERE tariff_id = $1 ORDER BY effective_from"},
	{"tariff_list", /* store_tariffs_list */
	 "SELECT " TARIFF_COLS " FROM tariffs WHERE id > $1 AND ($3::bigint IS NULL OR site_id = $3)"
	 " ORDER BY id LIMIT $2"},
	{"tariff_get", /* store_tariff_get */
	 "SELECT " TARIFF_COLS " FROM tariffs WHERE id = $1"},
	{0, 0},
};

void store_tariffs_register(void) { db_register(tariff_stmts); }

#define TARIFF_SPEC(t)                                                                                 \
	{DB_COL("id", DB_I64, &(t)->id), DB_COL("site_id", DB_I64, &(t)->site_id), DB_COL_TEXT("name", (t)->name), \
	 DB_COL_TEXT("currency", (t)->currency), DB_COL_TEXT("kind", (t)->kind),                             \
	 DB_COL("spec", DB_TEXT_NEW, &(t)->spec_json), DB_COL("effective_from_us", DB_I64, &(t)->effective_from_us), \
	 DB_COL("created_us", DB_I64, &(t)->created_us), {0}}

enum db_status store_site_currency(PGconn *c, int64_t site_id, char currency[4], bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	struct db_col spec[] = {{"currency", DB_TEXT, currency, 4, NULL, NULL, -1}, {0}};
	return db_exec_row(c, "tariff_site_currency", &p, spec, found);
}

enum db_status store_tariff_insert(PGconn *c, struct tariff_row *t, const char *spec_json, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, t->site_id);
	db_p_text(&p, t->name);
	db_p_text(&p, t->currency);
	db_p_text(&p, t->kind);
	db_p_text(&p, spec_json);
	db_p_i64(&p, t->effective_from_us);
	db_p_i64(&p, now_us);
	struct db_col spec[] = TARIFF_SPEC(t);
	return db_exec_row(c, "tariff_insert", &p, spec, NULL);
}

enum db_status store_tariff_version_insert(PGconn *c, int64_t tariff_id, int64_t effective_from_us, const char *kind,
					   const char *spec_json, int64_t now_us, bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, tariff_id);
	db_p_i64(&p, effective_from_us);
	db_p_text(&p, kind);
	db_p_text(&p, spec_json);
	db_p_i64(&p, now_us);
	int64_t id;
	struct db_col spec[] = {DB_COL("id", DB_I64, &id), {0}};
	*found = false;
	return db_exec_row(c, "tariff_version_insert", &p, spec, found);
}

enum db_status store_tariff_get(PGconn *c, int64_t id, struct tariff_row *t)
{
	memset(t, 0, sizeof *t);
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct db_col spec[] = TARIFF_SPEC(t);
	return db_exec_row(c, "tariff_get", &p, spec, NULL);
}

enum db_status store_tariffs_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, struct tariff_row **out,
				  int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, site_id);
	struct tariff_row t;
	struct db_col spec[] = TARIFF_SPEC(&t);
	return db_exec_rows(c, "tariff_list", &p, spec, &t, sizeof t, (void **)out, n);
}

void store_tariffs_free(struct tariff_row *t, int n)
{
	for (int i = 0; t && i < n; i++)
		free(t[i].spec_json);
	free(t);
}

enum db_status store_tariff_versions(PGconn *c, int64_t id, struct tariff_version_row **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct tariff_version_row v;
	struct db_col spec[] = {DB_COL("effective_from_us", DB_I64, &v.effective_from_us), DB_COL_TEXT("kind", v.kind),
				DB_COL("spec", DB_TEXT_NEW, &v.spec_json), {0}};
	return db_exec_rows(c, "tariff_versions", &p, spec, &v, sizeof v, (void **)out, n);
}

void store_tariff_versions_free(struct tariff_version_row *v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i].spec_json);
	free(v);
}
