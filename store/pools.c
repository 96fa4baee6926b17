/* pools.c: the SQL of cost pools and allocation runs. Energy and cost come from the daily
 * rollups, never raw readings. */
#include "store/pools.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pool row with its site's zone and currency and its members (two arrays in tenant id
 * order), for store_pool_get and store_pool_list. */
#define POOL_COLS                                                                               \
	"p.id, p.site_id, p.name, p.method, p.meter_ids::text AS meter_ids,"                      \
	" coalesce(p.main_meter_id, 0) AS main_meter_id, p.minus_meter_ids::text AS minus_ids,"  \
	" coalesce(p.tariff_id, 0) AS tariff_id, p.auto, p.prorate, s.timezone, s.currency,"      \
	" array(SELECT m.tenant_id FROM cost_pool_members m WHERE m.pool_id = p.id"               \
	"  ORDER BY m.tenant_id)::text AS member_ids,"                                           \
	" array(SELECT coalesce(m.quota_ppm, 0) FROM cost_pool_members m WHERE m.pool_id = p.id" \
	"  ORDER BY m.tenant_id)::text AS member_quotas"                                         \
	" FROM cost_pools p JOIN sites s ON s.id = p.site_id"

static const struct db_stmt pool_stmts[] = {
	{"pool_refs", /* store_pool_refs: what the ids name, in one look */
	 "SELECT (SELECT currency FROM sites WHERE id = $1) AS currency,"
	 " (SELECT count(*) FROM meters WHERE id = ANY($2::bigint[]) AND site_id = $1 AND tenant_id IS NULL) AS public_meters,"
	 " (SELECT count(*) FROM meters WHERE (id = ANY($3::bigint[]) OR id = $6) AND site_id = $1) AS site_meters,"
	 " (SELECT count(*) FROM tenants WHERE id = ANY($4::bigint[]) AND site_id = $1) AS site_tenants,"
	 " (SELECT kind FROM tariffs WHERE id = $5 AND site_id = $1) AS tariff_kind"},
	{"pool_insert", /* store_pool_insert */
	 "INSERT INTO cost_pools (site_id, name, method, meter_ids, main_meter_id, minus_meter_ids, tariff_id,"
	 " auto, created_at, prorate) VALUES ($1, $2, $3, $4::bigint[], $5, $6::bigint[], $7, $8, " SQL_TS("$9") ", $10)"
	 " RETURNING id"},
	{"pool_members_insert", /* store_pool_insert */
	 "INSERT INTO cost_pool_members (pool_id, tenant_id, quota_ppm)"
	 " SELECT $1, t, q FROM unnest($2::bigint[], $3::integer[]) AS x(t, q)"},
	{"pool_get", /* store_pool_get */
	 "SELECT " POOL_COLS " WHERE p.id = $1"},
	{"pool_list", /* store_pool_list: a page of whole pools, members included */
	 "SELECT " POOL_COLS " WHERE p.id > $1 AND ($3::bigint IS NULL OR p.site_id = $3) ORDER BY p.id LIMIT $2"},
	{"pool_energy", /* store_pool_energy */
	 "SELECT coalesce(sum(wh) FILTER (WHERE meter_id = ANY($1::bigint[])), 0)::bigint AS plus_wh,"
	 " floor(coalesce(sum(cost_nano) FILTER (WHERE meter_id = ANY($1::bigint[])), 0) / $5::bigint)::bigint AS plus_minor,"
	 " coalesce(sum(wh) FILTER (WHERE meter_id = ANY($2::bigint[])), 0)::bigint AS minus_wh,"
	 " floor(coalesce(sum(cost_nano) FILTER (WHERE meter_id = ANY($2::bigint[])), 0) / $5::bigint)::bigint AS minus_minor"
	 " FROM meter_daily WHERE meter_id = ANY($1::bigint[] || $2::bigint[]) AND day >= $3::date AND day < $4::date"},
	{"pool_basis", /* store_pool_basis: members in tenant id order with area, own energy, and
			  the days of [$2, $3) they occupied their unit */
	 "SELECT m.tenant_id, t.area_centi_m2, coalesce(m.quota_ppm, 0) AS quota_ppm,"
	 " coalesce((SELECT sum(d.wh) FROM meter_daily d JOIN meters mt ON mt.id = d.meter_id"
	 "  WHERE mt.tenant_id = m.tenant_id AND d.day >= $2::date AND d.day < $3::date), 0)::bigint AS wh,"
	 " greatest(0, least(coalesce(t.move_out + 1, $3::date), $3::date)"
	 "  - greatest(coalesce(t.move_in, $2::date), $2::date)) AS days, $3::date - $2::date AS days_in_period,"
	 " coalesce((SELECT s.amount_minor FROM move_out_shares s WHERE s.pool_id = $1 AND s.tenant_id = m.tenant_id"
	 "  AND s.period = to_char($2::date, 'YYYY-MM')), -1) AS settled_minor," /* paid at its move-out (0021) */
	 " EXISTS (SELECT 1 FROM move_outs o WHERE o.tenant_id = m.tenant_id AND o.at_date < $2::date) AS gone"
	 " FROM cost_pool_members m JOIN tenants t ON t.id = m.tenant_id WHERE m.pool_id = $1 ORDER BY m.tenant_id"},
	{"pool_tariff_rate", /* store_flat_rate */
	 "SELECT (spec->>'rate_micros_per_kwh')::bigint AS rate FROM tariffs WHERE id = $1 AND kind = 'flat'"},
	{"pool_uncommitted_auto", /* store_pools_uncommitted_auto: the month close's pools */
	 "SELECT cp.id FROM cost_pools cp WHERE cp.site_id = $1 AND cp.auto AND NOT EXISTS"
	 " (SELECT 1 FROM allocation_runs r WHERE r.pool_id = cp.id AND r.period = $2 AND r.state = 'committed')"
	 " ORDER BY cp.id"},
	{"run_insert", /* store_run_insert: the unique index refuses a second commit of a pool and period */
	 "INSERT INTO allocation_runs (pool_id, period, state, total_wh, total_minor, result, created_at, api_key_id)"
	 " VALUES ($1, $2, 'committed', $3, $4, $5::jsonb, " SQL_TS("$6") ", $7) RETURNING id"},
	{"run_period_end", /* store_run_period_end: the end of the site-local month */
	 "SELECT " SQL_US("((to_date($2, 'YYYY-MM') + interval '1 month')::timestamp AT TIME ZONE s.timezone)") " AS end_us"
	 " FROM cost_pools p JOIN sites s ON s.id = p.site_id WHERE p.id = $1"},
	{"run_lock", /* store_run_lock_lines: the committed run, locked */
	 "SELECT id FROM allocation_runs WHERE id = $1 AND state = 'committed' FOR UPDATE"},
	{"run_lines", /* store_run_lock_lines: its lines, in order */
	 "SELECT substr(l->>'tenant_id', 5)::bigint AS tenant_id, (l->>'amount_minor')::bigint AS amount_minor,"
	 " (l->'basis')::text AS basis, l->>'basis_unit' AS basis_unit, (i - 1)::integer AS line"
	 " FROM allocation_runs r, jsonb_array_elements(r.result->'lines') WITH ORDINALITY AS x(l, i)"
	 " WHERE r.id = $1 AND NOT coalesce((l->>'settled_at_move_out')::boolean, false) ORDER BY i"},
	{"run_reverse", /* store_run_reverse */
	 "UPDATE allocation_runs SET state = 'reversed', reversed_at = " SQL_TS("$2") ", reverse_reason = $3 WHERE id = $1"},
	{"run_get", /* store_run_get */
	 "SELECT id, pool_id, period, state, total_wh, total_minor, " SQL_US("created_at") " AS created_us,"
	 " coalesce(" SQL_US("reversed_at") ", 0) AS reversed_us, reverse_reason, result::text AS result, '' AS pool_name"
	 " FROM allocation_runs WHERE id = $1"},
	{"run_list", /* store_runs_of_pool */
	 "SELECT id, pool_id, period, state, total_wh, total_minor, " SQL_US("created_at") " AS created_us,"
	 " coalesce(" SQL_US("reversed_at") ", 0) AS reversed_us, reverse_reason, NULL AS result, '' AS pool_name"
	 " FROM allocation_runs WHERE id > $1 AND pool_id = $3 ORDER BY id LIMIT $2"},
	{"tenant_allocations", /* store_runs_of_tenant: committed runs that name the tenant */
	 "SELECT r.id, r.pool_id, r.period, r.state, r.total_wh, r.total_minor, " SQL_US("r.created_at") " AS created_us,"
	 " coalesce(" SQL_US("r.reversed_at") ", 0) AS reversed_us, r.reverse_reason, r.result::text AS result,"
	 " p.name AS pool_name"
	 " FROM allocation_runs r JOIN cost_pools p ON p.id = r.pool_id"
	 " WHERE r.id > $1 AND r.state = 'committed'"
	 " AND r.result->'lines' @> jsonb_build_array(jsonb_build_object('tenant_id', 'ten_' || $3::bigint))"
	 " ORDER BY r.id LIMIT $2"},
	{"site_energy", /* store_site_energy: main meters against what is metered below them */
	 "SELECT coalesce(sum(d.wh) FILTER (WHERE m.purpose = 'main'), 0)::bigint AS main_wh,"
	 " coalesce(sum(d.wh) FILTER (WHERE m.purpose <> 'main' AND m.tenant_id IS NOT NULL), 0)::bigint AS tenant_wh,"
	 " coalesce(sum(d.wh) FILTER (WHERE m.purpose <> 'main' AND m.tenant_id IS NULL), 0)::bigint AS public_wh,"
	 " count(DISTINCT m.id) FILTER (WHERE m.purpose = 'main') AS main_meters"
	 " FROM sites s LEFT JOIN meters m ON m.site_id = s.id"
	 " LEFT JOIN meter_daily d ON d.meter_id = m.id AND d.day >= $2::date AND d.day < $3::date"
	 " WHERE s.id = $1 GROUP BY s.id"},
	{0, 0},
};

void store_pools_register(void) { db_register(pool_stmts); }

void store_pool_free(struct pool *p)
{
	if (!p)
		return;
	free(p->meter_ids);
	free(p->minus_ids);
	free(p->members);
	memset(p, 0, sizeof *p);
}

void store_pools_free(struct pool *p, int n)
{
	for (int i = 0; p && i < n; i++)
		store_pool_free(&p[i]);
	free(p);
}

enum db_status store_pool_refs(PGconn *c, const struct pool *p, struct pool_refs *out)
{
	memset(out, 0, sizeof *out);
	int64_t *tenants = calloc((size_t)p->nmembers + 1, sizeof *tenants);
	if (!tenants)
		abort();
	for (int i = 0; i < p->nmembers; i++)
		tenants[i] = p->members[i].tenant_id;
	struct db_params q = {0};
	db_p_i64(&q, p->site_id);
	db_p_i64_array(&q, p->meter_ids, p->nmeters);
	db_p_i64_array(&q, p->minus_ids, p->nminus);
	db_p_i64_array(&q, tenants, p->nmembers);
	db_p_id(&q, p->tariff_id);
	db_p_id(&q, p->main_meter_id);
	free(tenants);
	bool no_site;
	struct db_col spec[] = {
		{"currency", DB_TEXT, out->currency, sizeof out->currency, NULL, &no_site, -1},
		DB_COL("public_meters", DB_I64, &out->public_meters),
		DB_COL("site_meters", DB_I64, &out->site_meters),
		DB_COL("site_tenants", DB_I64, &out->site_tenants),
		DB_COL_TEXT("tariff_kind", out->tariff_kind),
		{0},
	};
	PGresult *r;
	enum db_status st = db_exec_bind(c, "pool_refs", &q, spec, &r);
	if (st != DB_OK)
		return st;
	db_cols_read(r, 0, spec);
	out->site = !no_site;
	PQclear(r);
	return DB_OK;
}

enum db_status store_pool_insert(PGconn *c, struct pool *p, int64_t now_us)
{
	struct db_params q = {0};
	db_p_i64(&q, p->site_id);
	db_p_text(&q, p->name);
	db_p_text(&q, alloc_method_name(p->method));
	db_p_i64_array(&q, p->meter_ids, p->nmeters);
	db_p_id(&q, p->main_meter_id);
	db_p_i64_array(&q, p->minus_ids, p->nminus);
	db_p_id(&q, p->tariff_id);
	db_p_bool(&q, p->is_auto);
	db_p_i64(&q, now_us);
	db_p_bool(&q, p->prorate);
	struct db_col spec[] = {DB_COL("id", DB_I64, &p->id), {0}};
	PGresult *r;
	enum db_status st = db_exec_bind(c, "pool_insert", &q, spec, &r);
	if (st != DB_OK)
		return st;
	db_cols_read(r, 0, spec);
	PQclear(r);
	int64_t *tenants = calloc((size_t)p->nmembers + 1, sizeof *tenants);
	int64_t *quotas = calloc((size_t)p->nmembers + 1, sizeof *quotas);
	if (!tenants || !quotas)
		abort();
	for (int i = 0; i < p->nmembers; i++) {
		tenants[i] = p->members[i].tenant_id;
		quotas[i] = p->members[i].quota_ppm;
	}
	db_p_i64(&q, p->id);
	db_p_i64_array(&q, tenants, p->nmembers);
	db_p_i64_array(&q, quotas, p->nmembers);
	free(tenants);
	free(quotas);
	st = db_exec_bind(c, "pool_members_insert", &q, NULL, &r);
	PQclear(r);
	return st;
}

/* Read the pools of r (POOL_COLS) into out[0..n). */
static enum db_status read_pools(PGresult *r, struct pool *out, const char *what)
{
	struct pool p;
	char method[16];
	int64_t *mids = NULL, *mq = NULL;
	int nm = 0, nq = 0;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &p.id),
		DB_COL("site_id", DB_I64, &p.site_id),
		DB_COL_TEXT("name", p.name),
		DB_COL_TEXT("method", method),
		DB_COL_ARRAY("meter_ids", &p.meter_ids, &p.nmeters),
		DB_COL("main_meter_id", DB_I64, &p.main_meter_id),
		DB_COL_ARRAY("minus_ids", &p.minus_ids, &p.nminus),
		DB_COL("tariff_id", DB_I64, &p.tariff_id),
		DB_COL("auto", DB_BOOL, &p.is_auto),
		DB_COL("prorate", DB_BOOL, &p.prorate),
		DB_COL_TEXT("timezone", p.zone),
		DB_COL_TEXT("currency", p.currency),
		DB_COL_ARRAY("member_ids", &mids, &nm),
		DB_COL_ARRAY("member_quotas", &mq, &nq),
		{0},
	};
	enum db_status st = db_cols_bind(r, spec, what);
	for (int i = 0; st == DB_OK && i < PQntuples(r); i++) {
		memset(&p, 0, sizeof p);
		db_cols_read(r, i, spec);
		int m = alloc_method_parse(method);
		p.method = m < 0 ? ALLOC_AREA : (enum alloc_method)m;
		p.members = calloc((size_t)nm + 1, sizeof *p.members);
		if (!p.members)
			abort();
		for (int k = 0; k < nm; k++)
			p.members[k] = (struct pool_member){mids[k], k < nq ? mq[k] : 0};
		p.nmembers = nm;
		free(mids);
		free(mq);
		out[i] = p;
	}
	return st;
}

enum db_status store_pool_get(PGconn *c, int64_t id, struct pool *out)
{
	memset(out, 0, sizeof *out);
	struct db_params q = {0};
	db_p_i64(&q, id);
	PGresult *r;
	enum db_status st = db_exec_bind(c, "pool_get", &q, NULL, &r);
	if (st == DB_OK && PQntuples(r) == 1)
		st = read_pools(r, out, "pool_get");
	PQclear(r);
	return st;
}

enum db_status store_pool_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id,
			       struct pool **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params q = {0};
	db_p_i64(&q, after);
	db_p_i64(&q, limit);
	db_p_id(&q, site_id);
	PGresult *r;
	enum db_status st = db_exec_bind(c, "pool_list", &q, NULL, &r);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	struct pool *p = calloc((size_t)rows + 1, sizeof *p);
	if (!p)
		abort();
	st = read_pools(r, p, "pool_list");
	PQclear(r);
	if (st != DB_OK) {
		store_pools_free(p, rows);
		return st;
	}
	*out = p;
	*n = rows;
	return DB_OK;
}

enum db_status store_pool_energy(PGconn *c, const struct pool *p, const char *from, const char *to,
				 int64_t unit, struct pool_energy *out)
{
	/* What adds in: the public meters and a virtual meter's main meter. */
	int64_t *plus = calloc((size_t)p->nmeters + 2, sizeof *plus);
	if (!plus)
		abort();
	if (p->nmeters)
		memcpy(plus, p->meter_ids, (size_t)p->nmeters * sizeof *plus);
	int nplus = p->nmeters;
	if (p->main_meter_id)
		plus[nplus++] = p->main_meter_id;
	struct db_params q = {0};
	db_p_i64_array(&q, plus, nplus);
	db_p_i64_array(&q, p->minus_ids, p->nminus);
	db_p_text(&q, from);
	db_p_text(&q, to);
	db_p_i64(&q, unit);
	free(plus);
	struct db_col spec[] = {
		DB_COL("plus_wh", DB_I64, &out->plus_wh),
		DB_COL("plus_minor", DB_I64, &out->plus_minor),
		DB_COL("minus_wh", DB_I64, &out->minus_wh),
		DB_COL("minus_minor", DB_I64, &out->minus_minor),
		{0},
	};
	return db_exec_row(c, "pool_energy", &q, spec, NULL);
}

enum db_status store_pool_basis(PGconn *c, int64_t pool_id, const char *from, const char *to,
				struct pool_basis **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params q = {0};
	db_p_i64(&q, pool_id);
	db_p_text(&q, from);
	db_p_text(&q, to);
	struct pool_basis b;
	struct db_col spec[] = {
		DB_COL("tenant_id", DB_I64, &b.tenant_id),
		DB_COL("area_centi_m2", DB_I64, &b.area_centi_m2),
		DB_COL("quota_ppm", DB_I64, &b.quota_ppm),
		DB_COL("wh", DB_I64, &b.wh),
		DB_COL("days", DB_INT, &b.days),
		DB_COL("days_in_period", DB_INT, &b.days_in_period),
		DB_COL("settled_minor", DB_I64, &b.settled_minor),
		DB_COL("gone", DB_BOOL, &b.gone),
		{0},
	};
	return db_exec_rows(c, "pool_basis", &q, spec, &b, sizeof b, (void **)out, n);
}

enum db_status store_flat_rate(PGconn *c, int64_t tariff_id, int64_t *rate)
{
	*rate = 0;
	struct db_params q = {0};
	db_p_i64(&q, tariff_id);
	struct db_col spec[] = {DB_COL("rate", DB_I64, rate), {0}};
	return db_exec_row(c, "pool_tariff_rate", &q, spec, NULL);
}

enum db_status store_pools_uncommitted_auto(PGconn *c, int64_t site_id, const char *period,
					    int64_t **ids, int *n)
{
	*ids = NULL;
	*n = 0;
	struct db_params q = {0};
	db_p_i64(&q, site_id);
	db_p_text(&q, period);
	int64_t id;
	struct db_col spec[] = {DB_COL("id", DB_I64, &id), {0}};
	return db_exec_rows(c, "pool_uncommitted_auto", &q, spec, &id, sizeof id, (void **)ids, n);
}

enum db_status store_run_insert(PGconn *c, int64_t pool_id, const char *period, int64_t total_wh,
				int64_t total_minor, const char *result_json, int64_t now_us, int64_t key_id,
				int64_t *id)
{
	struct db_params q = {0};
	db_p_i64(&q, pool_id);
	db_p_text(&q, period);
	db_p_i64(&q, total_wh);
	db_p_i64(&q, total_minor);
	db_p_text(&q, result_json);
	db_p_i64(&q, now_us);
	db_p_id(&q, key_id);
	struct db_col spec[] = {DB_COL("id", DB_I64, id), {0}};
	return db_exec_row(c, "run_insert", &q, spec, NULL);
}

enum db_status store_run_period_end(PGconn *c, int64_t pool_id, const char *period, int64_t *end_us)
{
	*end_us = 0;
	struct db_params q = {0};
	db_p_i64(&q, pool_id);
	db_p_text(&q, period);
	struct db_col spec[] = {DB_COL("end_us", DB_I64, end_us), {0}};
	return db_exec_row(c, "run_period_end", &q, spec, NULL);
}

enum db_status store_run_lock_lines(PGconn *c, int64_t run_id, bool *found, struct run_line **lines, int *n)
{
	*found = false;
	*lines = NULL;
	*n = 0;
	struct db_params q = {0};
	db_p_i64(&q, run_id);
	PGresult *r;
	enum db_status st = db_exec_bind(c, "run_lock", &q, NULL, &r);
	if (st != DB_OK)
		return st;
	*found = PQntuples(r) == 1;
	PQclear(r);
	if (!*found)
		return DB_OK;
	db_p_i64(&q, run_id);
	struct run_line l;
	struct db_col spec[] = {
		DB_COL("tenant_id", DB_I64, &l.tenant_id),
		DB_COL("amount_minor", DB_I64, &l.amount_minor),
		DB_COL_TEXT("basis", l.basis_json),
		DB_COL_TEXT("basis_unit", l.basis_unit),
		DB_COL("line", DB_INT, &l.line),
		{0},
	};
	return db_exec_rows(c, "run_lines", &q, spec, &l, sizeof l, (void **)lines, n);
}

enum db_status store_run_reverse(PGconn *c, int64_t run_id, int64_t now_us, const char *reason)
{
	struct db_params q = {0};
	db_p_i64(&q, run_id);
	db_p_i64(&q, now_us);
	db_p_text(&q, reason);
	PGresult *r;
	enum db_status st = db_exec_bind(c, "run_reverse", &q, NULL, &r);
	PQclear(r);
	return st;
}

void store_run_row_free(struct run_row *r)
{
	if (!r)
		return;
	free(r->result_json);
	free(r->reverse_reason);
	r->result_json = r->reverse_reason = NULL;
}

void store_runs_free(struct run_row *r, int n)
{
	for (int i = 0; r && i < n; i++)
		store_run_row_free(&r[i]);
	free(r);
}

/* The run rows of stmt into a new array. */
static enum db_status runs_query(PGconn *c, const char *stmt, struct db_params *q, struct run_row **out, int *n)
{
	struct run_row x;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x.id),
		DB_COL("pool_id", DB_I64, &x.pool_id),
		DB_COL_TEXT("period", x.period),
		DB_COL_TEXT("state", x.state),
		DB_COL("total_wh", DB_I64, &x.total_wh),
		DB_COL("total_minor", DB_I64, &x.total_minor),
		DB_COL("created_us", DB_I64, &x.created_us),
		DB_COL("reversed_us", DB_I64, &x.reversed_us),
		DB_COL("reverse_reason", DB_TEXT_NEW, &x.reverse_reason),
		DB_COL("result", DB_TEXT_NEW, &x.result_json),
		DB_COL_TEXT("pool_name", x.pool_name),
		{0},
	};
	return db_exec_rows(c, stmt, q, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_run_get(PGconn *c, int64_t run_id, struct run_row *out)
{
	memset(out, 0, sizeof *out);
	struct db_params q = {0};
	db_p_i64(&q, run_id);
	struct run_row *a;
	int n;
	enum db_status st = runs_query(c, "run_get", &q, &a, &n);
	if (st == DB_OK && n == 1) {
		*out = a[0];
		free(a);
	} else {
		store_runs_free(a, n);
	}
	return st;
}

enum db_status store_runs_of_pool(PGconn *c, int64_t pool_id, int64_t after, int64_t limit,
				  struct run_row **out, int *n)
{
	struct db_params q = {0};
	db_p_i64(&q, after);
	db_p_i64(&q, limit);
	db_p_i64(&q, pool_id);
	return runs_query(c, "run_list", &q, out, n);
}

enum db_status store_runs_of_tenant(PGconn *c, int64_t tenant_id, int64_t after, int64_t limit,
				    struct run_row **out, int *n)
{
	struct db_params q = {0};
	db_p_i64(&q, after);
	db_p_i64(&q, limit);
	db_p_i64(&q, tenant_id);
	return runs_query(c, "tenant_allocations", &q, out, n);
}

enum db_status store_site_energy(PGconn *c, int64_t site_id, const char *from, const char *to,
				 struct site_energy *out)
{
	memset(out, 0, sizeof *out);
	struct db_params q = {0};
	db_p_i64(&q, site_id);
	db_p_text(&q, from);
	db_p_text(&q, to);
	struct db_col spec[] = {
		DB_COL("main_wh", DB_I64, &out->main_wh),
		DB_COL("tenant_wh", DB_I64, &out->tenant_wh),
		DB_COL("public_wh", DB_I64, &out->public_wh),
		DB_COL("main_meters", DB_I64, &out->main_meters),
		{0},
	};
	return db_exec_row(c, "site_energy", &q, spec, &out->site);
}
