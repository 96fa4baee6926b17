/* tenants.c: the SQL of tenants (tenants.h). */
#include "store/tenants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT_COLS                                                                                 \
	"t.id, t.site_id, t.name, t.category, t.area_centi_m2, t.credit_rating, coalesce(t.phone, '') AS phone," \
	" t.status, " SQL_US("t.created_at") " AS created_us, " SQL_US("t.updated_at") " AS updated_us,"   \
	" coalesce(t.move_in::text, '') AS move_in, coalesce(t.move_out::text, '') AS move_out,"        \
	" coalesce(t.language, '') AS language, array_to_string(t.channels, ',') AS channels,"          \
	" coalesce(t.wechat_openid, '') AS wechat_openid"

static const struct db_stmt tenant_stmts[] = {
	{"tenant_insert", /* store_tenant_insert: the tenant and its account, or no row */
	 "WITH t AS (INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating,"
	 " phone, status, created_at, updated_at, move_in, move_out, language, channels, wechat_openid)"
	 " SELECT s.id, $2, $3, $4, $5, $6, coalesce($7, 'active'), " SQL_TS("$8") ", " SQL_TS("$8") ", $9::date, $10::date,"
	 " $11, coalesce(string_to_array($12, ','), '{sms}'), $13"
	 " FROM sites s WHERE s.id = $1 RETURNING *),"
	 " a AS (INSERT INTO accounts (tenant_id, currency, created_at, updated_at)"
	 " SELECT t.id, s.currency, t.created_at, t.created_at FROM t JOIN sites s ON s.id = t.site_id)"
	 " SELECT " TENANT_COLS " FROM t"},
	{"tenant_list", /* store_tenants_list */
	 "SELECT " TENANT_COLS ", a.balance_minor, a.currency, a.state, a.supply"
	 " FROM tenants t LEFT JOIN accounts a ON a.tenant_id = t.id WHERE t.id > $1"
	 " AND ($3::bigint IS NULL OR t.site_id = $3)"
	 " AND ($4::text IS NULL OR strpos(lower(t.name), lower($4)) > 0 OR strpos(coalesce(t.phone, ''), $4) > 0"
	 "      OR strpos(lower(t.category), lower($4)) > 0)"
	 " AND ($5::text IS NULL OR a.state = $5)"
	 " AND ($6::text IS NULL OR t.credit_rating = $6) AND ($7::text IS NULL OR t.category = $7)"
	 " ORDER BY t.id LIMIT $2"},
	{"tenant_get", /* store_tenant_get */
	 "SELECT " TENANT_COLS " FROM tenants t WHERE t.id = $1"},
	{"tenant_update", /* store_tenant_update: NULL leaves a column; $7, $11, $13, $15, $18 say whether
			     the nullable ones are set */
	 "UPDATE tenants t SET name = coalesce($2, name), category = coalesce($3, category),"
	 " area_centi_m2 = coalesce($4::bigint, area_centi_m2),"
	 " credit_rating = coalesce($5, credit_rating),"
	 " phone = CASE WHEN $7::boolean THEN $6 ELSE phone END,"
	 " status = coalesce($8, status), updated_at = " SQL_TS("$9") ","
	 " move_in = CASE WHEN $11::boolean THEN $10::date ELSE move_in END,"
	 " move_out = CASE WHEN $13::boolean THEN $12::date ELSE move_out END,"
	 " language = CASE WHEN $15::boolean THEN $14 ELSE language END,"
	 " channels = coalesce(string_to_array($16, ','), channels),"
	 " wechat_openid = CASE WHEN $18::boolean THEN $17 ELSE wechat_openid END"
	 " WHERE t.id = $1 RETURNING " TENANT_COLS},
	{"tenant_exists", /* store_tenant_exists */
	 "SELECT id FROM tenants WHERE id = $1"},
	{0, 0},
};

void store_tenants_register(void) { db_register(tenant_stmts); }

#define TENANT_SPEC(t)                                                                            \
	{DB_COL("id", DB_I64, &(t)->id), DB_COL("site_id", DB_I64, &(t)->site_id), DB_COL_TEXT("name", (t)->name), \
	 DB_COL_TEXT("category", (t)->category), DB_COL("area_centi_m2", DB_I64, &(t)->area_centi_m2),        \
	 DB_COL_TEXT("credit_rating", (t)->credit_rating), DB_COL_TEXT("phone", (t)->phone),                  \
	 DB_COL_TEXT("status", (t)->status), DB_COL("created_us", DB_I64, &(t)->created_us),                  \
	 DB_COL("updated_us", DB_I64, &(t)->updated_us), DB_COL_TEXT("move_in", (t)->move_in),               \
	 DB_COL_TEXT("move_out", (t)->move_out), DB_COL_TEXT("language", (t)->language),                   \
	 DB_COL_TEXT("channels", (t)->channels), DB_COL_TEXT("wechat_openid", (t)->wechat_openid), {0}}

enum db_status store_tenant_insert(PGconn *c, int64_t site_id, const struct tenant_fields *f, int64_t now_us,
				   struct tenant *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, f->name);
	db_p_text(&p, f->category);
	db_p_i64_if(&p, f->has_area, f->area_centi_m2);
	db_p_text(&p, f->credit_rating);
	db_p_text(&p, f->phone);
	db_p_text(&p, f->status);
	db_p_i64(&p, now_us);
	db_p_text(&p, f->move_in);
	db_p_text(&p, f->move_out);
	db_p_text(&p, f->language);
	db_p_text(&p, f->channels);
	db_p_text(&p, f->wechat_openid);
	struct db_col spec[] = TENANT_SPEC(out);
	return db_exec_row(c, "tenant_insert", &p, spec, NULL);
}

enum db_status store_tenant_get(PGconn *c, int64_t id, struct tenant *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct db_col spec[] = TENANT_SPEC(out);
	return db_exec_row(c, "tenant_get", &p, spec, NULL);
}

enum db_status store_tenants_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, const char *q,
				  const char *state, const char *rating, const char *category, struct tenant **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, site_id);
	db_p_text(&p, q);
	db_p_text(&p, state);
	db_p_text(&p, rating);
	db_p_text(&p, category);
	struct tenant t;
	struct db_col base[] = TENANT_SPEC(&t);
	enum { NB = sizeof base / sizeof base[0] - 1 };
	struct db_col spec[NB + 5];
	memcpy(spec, base, sizeof base);
	struct db_col more[] = {DB_COL("balance_minor", DB_I64, &t.balance_minor), DB_COL_TEXT("currency", t.currency),
				DB_COL_TEXT("state", t.state), DB_COL_TEXT("supply", t.supply), {0}};
	memcpy(spec + NB, more, sizeof more);
	return db_exec_rows(c, "tenant_list", &p, spec, &t, sizeof t, (void **)out, n);
}

enum db_status store_tenant_update(PGconn *c, int64_t id, const struct tenant_fields *f, int64_t now_us,
				   struct tenant *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, f->name);
	db_p_text(&p, f->category);
	db_p_i64_if(&p, f->has_area, f->area_centi_m2);
	db_p_text(&p, f->credit_rating);
	db_p_text(&p, f->phone);
	db_p_bool(&p, f->set_phone);
	db_p_text(&p, f->status);
	db_p_i64(&p, now_us);
	db_p_text(&p, f->move_in);
	db_p_bool(&p, f->set_move_in);
	db_p_text(&p, f->move_out);
	db_p_bool(&p, f->set_move_out);
	db_p_text(&p, f->language);
	db_p_bool(&p, f->set_language);
	db_p_text(&p, f->channels);
	db_p_text(&p, f->wechat_openid);
	db_p_bool(&p, f->set_openid);
	struct db_col spec[] = TENANT_SPEC(out);
	return db_exec_row(c, "tenant_update", &p, spec, NULL);
}

enum db_status store_tenant_exists(PGconn *c, int64_t id, bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	int64_t got = 0;
	struct db_col spec[] = {DB_COL("id", DB_I64, &got), {0}};
	return db_exec_row(c, "tenant_exists", &p, spec, found);
}
