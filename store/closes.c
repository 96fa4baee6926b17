/* closes.c: the SQL of the month close. */
#include "store/closes.h"
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_COLS                                                                                  \
	"r.id, r.kind, r.site_id, coalesce(r.tenant_id, 0) AS tenant_id, r.period,"                     \
	" " SQL_US("r.created_at") " AS created_us, r.origin"

static const struct db_stmt close_stmts[] = {
	{"report_insert", /* store_report_insert */
	 "INSERT INTO reports AS r (kind, site_id, tenant_id, period, data, created_at, api_key_id, origin)"
	 " VALUES ($1, $2, $3, $4, $5::jsonb, " SQL_TS("$6") ", $7, 'api') RETURNING " REPORT_COLS ", NULL AS data"},
	{"report_get", /* store_report_get */
	 "SELECT " REPORT_COLS ", r.data::text AS data FROM reports r WHERE r.id = $1"},
	{"report_list", /* store_reports_list */
	 "SELECT " REPORT_COLS ", NULL AS data FROM reports r WHERE r.id > $1 AND ($3::bigint IS NULL OR r.site_id = $3)"
	 " AND ($4::text IS NULL OR r.period = $4) AND ($5::text IS NULL OR r.kind = $5)"
	 " AND ($6::bigint IS NULL OR r.tenant_id = $6) ORDER BY r.id LIMIT $2"},
	{"close_due", /* store_closes_due: sites with a month to close */
	 "SELECT s.id AS site_id, to_char(x.cur - interval '1 month', 'YYYY-MM') AS period FROM sites s,"
	 " LATERAL (SELECT date_trunc('month', (" SQL_TS("$1") " AT TIME ZONE s.timezone)"
	 "  - $2 * interval '1 minute') AS cur) x"
	 " WHERE s.created_at < (x.cur AT TIME ZONE s.timezone)"
	 " AND NOT EXISTS (SELECT 1 FROM month_closes mc WHERE mc.site_id = s.id"
	 "  AND mc.period = to_char(x.cur - interval '1 month', 'YYYY-MM'))"
	 " ORDER BY s.id LIMIT 20"},
	{"close_claim", /* store_close_claim: whoever inserts first closes */
	 "INSERT INTO month_closes (site_id, period, closed_at, statements, allocations)"
	 " VALUES ($1, $2, " SQL_TS("$3") ", 0, 0) ON CONFLICT DO NOTHING RETURNING 1 AS claimed"},
	{"close_tenants", /* store_close_tenants: the next range of tenant ids */
	 "SELECT min(id) AS lo, max(id) AS hi FROM"
	 " (SELECT id FROM tenants WHERE site_id = $1 AND id >= $2 ORDER BY id LIMIT $3) t"},
	{"reports_insert", /* store_reports_insert */
	 "INSERT INTO reports (kind, site_id, tenant_id, period, data, created_at, origin)"
	 " SELECT k, $1, nullif(t, 0), $2, d::jsonb, " SQL_TS("$3") ", $7"
	 " FROM unnest($4::text[], $5::bigint[], $6::text[]) WITH ORDINALITY AS x(k, t, d, o) ORDER BY o"},
	{"close_done", /* store_close_done */
	 "UPDATE month_closes SET statements = $3, allocations = $4 WHERE site_id = $1 AND period = $2"},
	{0, 0},
};

void store_closes_register(void) { db_register(close_stmts); }

enum db_status store_closes_due(PGconn *c, int64_t now_us, int64_t delay_min, struct close_due **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	db_p_i64(&p, delay_min);
	struct close_due d;
	struct db_col spec[] = {DB_COL("site_id", DB_I64, &d.site_id), DB_COL_TEXT("period", d.period), {0}};
	return db_exec_rows(c, "close_due", &p, spec, &d, sizeof d, (void **)out, n);
}

enum db_status store_close_claim(PGconn *c, int64_t site_id, const char *period, int64_t now_us, bool *claimed)
{
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, period);
	db_p_i64(&p, now_us);
	PGresult *r;
	enum db_status st = db_exec_p(c, "close_claim", &p, &r);
	*claimed = st == DB_OK && PQntuples(r) == 1;
	PQclear(r);
	return st;
}

enum db_status store_close_tenants(PGconn *c, int64_t site_id, int64_t from, int limit, int64_t *lo, int64_t *hi,
				   bool *none)
{
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_i64(&p, from);
	db_p_i64(&p, limit);
	struct db_col spec[] = {DB_COL_NULL("lo", DB_I64, lo, none), DB_COL("hi", DB_I64, hi), {0}};
	return db_exec_row(c, "close_tenants", &p, spec, NULL);
}

enum db_status store_reports_insert(PGconn *c, int64_t site_id, const char *period, int64_t now_us,
				    const char *origin, const struct report_row *rows, int n)
{
	if (n == 0)
		return DB_OK;
	struct srv_buf k = {0}, t = {0}, d = {0};
	for (int i = 0; i < n; i++) {
		srv_buf_elem(&k);
		srv_buf_pg_quoted(&k, rows[i].kind);
		srv_buf_elem(&t);
		srv_buf_i64(&t, rows[i].tenant_id);
		srv_buf_elem(&d);
		srv_buf_pg_quoted(&d, rows[i].data_json);
	}
	srv_buf_putc(&k, '}');
	srv_buf_putc(&t, '}');
	srv_buf_putc(&d, '}');
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, period);
	db_p_i64(&p, now_us);
	db_p_take(&p, k.p);
	db_p_take(&p, t.p);
	db_p_take(&p, d.p);
	db_p_text(&p, origin);
	return db_exec_void(c, "reports_insert", &p);
}

enum db_status store_close_done(PGconn *c, int64_t site_id, const char *period, int statements, int allocations)
{
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, period);
	db_p_i64(&p, statements);
	db_p_i64(&p, allocations);
	return db_exec_void(c, "close_done", &p);
}

#define REPORT_SPEC(x)                                                                                \
	{DB_COL("id", DB_I64, &(x)->id), DB_COL_TEXT("kind", (x)->kind), DB_COL("site_id", DB_I64, &(x)->site_id), \
	 DB_COL("tenant_id", DB_I64, &(x)->tenant_id), DB_COL_TEXT("period", (x)->period),                     \
	 DB_COL("created_us", DB_I64, &(x)->created_us), DB_COL_TEXT("origin", (x)->origin),                   \
	 DB_COL("data", DB_TEXT_NEW, &(x)->data_json), {0}}

void store_report_views_free(struct report_view *v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i].data_json);
	free(v);
}

enum db_status store_report_insert(PGconn *c, const char *kind, int64_t site_id, int64_t tenant_id, const char *period,
				   const char *data_json, int64_t now_us, int64_t key_id, struct report_view *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_text(&p, kind);
	db_p_i64(&p, site_id);
	db_p_id(&p, tenant_id);
	db_p_text(&p, period);
	db_p_text(&p, data_json);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	struct db_col spec[] = REPORT_SPEC(out);
	return db_exec_row(c, "report_insert", &p, spec, NULL);
}

enum db_status store_report_get(PGconn *c, int64_t id, struct report_view *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct db_col spec[] = REPORT_SPEC(out);
	return db_exec_row(c, "report_get", &p, spec, NULL);
}

enum db_status store_reports_list(PGconn *c, int64_t after, int64_t limit, const struct report_filter *f,
				  struct report_view **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, f->site_id);
	db_p_text(&p, f->period);
	db_p_text(&p, f->kind);
	db_p_id(&p, f->tenant_id);
	struct report_view x;
	struct db_col spec[] = REPORT_SPEC(&x);
	return db_exec_rows(c, "report_list", &p, spec, &x, sizeof x, (void **)out, n);
}
