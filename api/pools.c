/* pools.c: shared-area cost pools, their monthly runs (preview or commit) and reversal.
 * Energy and cost come from the daily rollups, never raw readings. */
#include "core/alloc.h"
#include "api/api.h"
#include "core/valid.h"
#include "ops/ledger.h"
#include "core/money.h"
#include "core/price.h"
#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_POOL "pool"
#define ID_RUN "run"

static const struct db_stmt pool_stmts[] = {
	{"pool_check", /* api_pools_create: what the ids name, in one look */
	 "SELECT (SELECT currency FROM sites WHERE id = $1),"
	 " (SELECT count(*) FROM meters WHERE id = ANY($2::bigint[]) AND site_id = $1 AND tenant_id IS NULL),"
	 " (SELECT count(*) FROM meters WHERE (id = ANY($3::bigint[]) OR id = $6) AND site_id = $1),"
	 " (SELECT count(*) FROM tenants WHERE id = ANY($4::bigint[]) AND site_id = $1),"
	 " (SELECT kind FROM tariffs WHERE id = $5 AND site_id = $1)"},
	{"pool_insert",
	 "INSERT INTO cost_pools (site_id, name, method, meter_ids, main_meter_id, minus_meter_ids, tariff_id,"
	 " auto, created_at, prorate) VALUES ($1, $2, $3, $4::bigint[], $5, $6::bigint[], $7, $8, " SQL_TS("$9") ", $10)"
	 " RETURNING id"},
	{"pool_members_insert",
	 "INSERT INTO cost_pool_members (pool_id, tenant_id, quota_ppm)"
	 " SELECT $1, t, q FROM unnest($2::bigint[], $3::integer[]) AS x(t, q)"},
	{"pool_get", /* pool_json */
	 "SELECT p.id, p.site_id, p.name, p.method, p.meter_ids::text, p.main_meter_id, p.minus_meter_ids::text,"
	 " p.tariff_id, p.auto, s.timezone, s.currency,"
	 " (SELECT coalesce(json_agg(json_build_object('tenant_id', 'ten_' || m.tenant_id,"
	 "  'quota_ppm', m.quota_ppm) ORDER BY m.tenant_id), '[]') FROM cost_pool_members m WHERE m.pool_id = p.id)::text,"
	 " array_remove(p.meter_ids || p.main_meter_id, NULL)::text, p.prorate"
	 " FROM cost_pools p JOIN sites s ON s.id = p.site_id WHERE p.id = $1"},
	{"pool_list",
	 "SELECT id FROM cost_pools WHERE id > $1 AND ($3::bigint IS NULL OR site_id = $3) ORDER BY id LIMIT $2"},
	{"pool_energy", /* compute_run: the pool's energy and billed cost over [from, to) local days */
	 "SELECT coalesce(sum(wh) FILTER (WHERE meter_id = ANY($1::bigint[])), 0)::bigint,"
	 " floor(coalesce(sum(cost_nano) FILTER (WHERE meter_id = ANY($1::bigint[])), 0) / $5::bigint)::bigint,"
	 " coalesce(sum(wh) FILTER (WHERE meter_id = ANY($2::bigint[])), 0)::bigint,"
	 " floor(coalesce(sum(cost_nano) FILTER (WHERE meter_id = ANY($2::bigint[])), 0) / $5::bigint)::bigint"
	 " FROM meter_daily WHERE meter_id = ANY($1::bigint[] || $2::bigint[]) AND day >= $3::date AND day < $4::date"},
	{"pool_basis", /* compute_run: members in tenant id order with area, own energy, and the
			  days of [$2, $3) they occupied their unit */
	 "SELECT m.tenant_id, t.area_centi_m2, coalesce(m.quota_ppm, 0),"
	 " coalesce((SELECT sum(d.wh) FROM meter_daily d JOIN meters mt ON mt.id = d.meter_id"
	 "  WHERE mt.tenant_id = m.tenant_id AND d.day >= $2::date AND d.day < $3::date), 0)::bigint,"
	 " greatest(0, least(coalesce(t.move_out + 1, $3::date), $3::date)"
	 "  - greatest(coalesce(t.move_in, $2::date), $2::date)), $3::date - $2::date"
	 " FROM cost_pool_members m JOIN tenants t ON t.id = m.tenant_id WHERE m.pool_id = $1 ORDER BY m.tenant_id"},
	{"pool_tariff_rate",
	 "SELECT (spec->>'rate_micros_per_kwh')::bigint FROM tariffs WHERE id = $1 AND kind = 'flat'"},
	{"run_insert", /* the unique index refuses a second commit of a pool and period */
	 "INSERT INTO allocation_runs (pool_id, period, state, total_wh, total_minor, result, created_at, api_key_id)"
	 " VALUES ($1, $2, 'committed', $3, $4, $5::jsonb, " SQL_TS("$6") ", $7) RETURNING id"},
	{"run_period_end", /* run_tx: the end of the site-local month, unix microseconds */
	 "SELECT " SQL_US("((to_date($2, 'YYYY-MM') + interval '1 month')::timestamp AT TIME ZONE s.timezone)")
	 " FROM cost_pools p JOIN sites s ON s.id = p.site_id WHERE p.id = $1"},
	{"run_list", /* api_pool_runs_list */
	 "SELECT id, period, state, total_wh, total_minor, " SQL_US("created_at") ", " SQL_US("reversed_at") ","
	 " reverse_reason FROM allocation_runs WHERE id > $1 AND pool_id = $3 ORDER BY id LIMIT $2"},
	{"site_reconcile", /* api_site_reconciliation: main meters against what is metered below them */
	 "SELECT s.id, coalesce(sum(d.wh) FILTER (WHERE m.purpose = 'main'), 0)::bigint,"
	 " coalesce(sum(d.wh) FILTER (WHERE m.purpose <> 'main' AND m.tenant_id IS NOT NULL), 0)::bigint,"
	 " coalesce(sum(d.wh) FILTER (WHERE m.purpose <> 'main' AND m.tenant_id IS NULL), 0)::bigint,"
	 " count(DISTINCT m.id) FILTER (WHERE m.purpose = 'main')"
	 " FROM sites s LEFT JOIN meters m ON m.site_id = s.id"
	 " LEFT JOIN meter_daily d ON d.meter_id = m.id AND d.day >= $2::date AND d.day < $3::date"
	 " WHERE s.id = $1 GROUP BY s.id"},
	{"run_get",
	 "SELECT id, state, result::text, " SQL_US("reversed_at") ", reverse_reason FROM allocation_runs WHERE id = $1"},
	{"run_lock",
	 "SELECT pool_id, period, result::text FROM allocation_runs WHERE id = $1 AND state = 'committed' FOR UPDATE"},
	{"run_reverse",
	 "UPDATE allocation_runs SET state = 'reversed', reversed_at = " SQL_TS("$2") ", reverse_reason = $3 WHERE id = $1"},
	{"tenant_allocations", /* api_tenant_allocations: committed runs that name the tenant */
	 "SELECT r.id, r.state, r.result::text, " SQL_US("r.reversed_at") ", r.reverse_reason, p.name"
	 " FROM allocation_runs r JOIN cost_pools p ON p.id = r.pool_id"
	 " WHERE r.id > $1 AND r.state = 'committed' AND r.result->'lines' @> jsonb_build_array(jsonb_build_object('tenant_id', $3::text))"
	 " ORDER BY r.id LIMIT $2"},
	{0, 0},
};

void api_register_statements_pools(void);
void api_register_statements_pools(void) { db_register(pool_stmts); }

/* "{1,2}" from a JSON array of "mtr_N" (or NULL id on a bad one). */
static int id_array(json_t *arr, const char *prefix, char *out, size_t n, int *count)
{
	size_t i, at = 0;
	json_t *v;
	*count = 0;
	at += (size_t)snprintf(out + at, n - at, "{");
	json_array_foreach(arr, i, v) {
		int64_t id = api_id_parse(prefix, json_string_value(v));
		if (!id || at + 24 > n)
			return -1;
		at += (size_t)snprintf(out + at, n - at, "%s%lld", i ? "," : "", (long long)id);
		(*count)++;
	}
	snprintf(out + at, n - at, "}");
	return 0;
}

static json_t *ids_json(const char *prefix, const char *pgarray)
{
	json_t *a = json_array();
	for (const char *p = pgarray + 1; *p && *p != '}';) {
		char *end;
		long long v = strtoll(p, &end, 10);
		json_array_append_new(a, api_id_json(prefix, v));
		p = *end == ',' ? end + 1 : end;
	}
	return a;
}

static json_t *pool_json(const PGresult *r, int i)
{
	json_t *members = json_loads(PQgetvalue(r, i, 11), 0, NULL);
	return json_pack("{s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:b, s:o}", "id", api_id_col(ID_POOL, r, i, 0),
			 "site_id", api_id_col(ID_SITE, r, i, 1), "name", PQgetvalue(r, i, 2), "method",
			 PQgetvalue(r, i, 3), "meter_ids", ids_json(ID_METER, PQgetvalue(r, i, 4)),
			 "main_meter_id", api_id_col(ID_METER, r, i, 5), "minus_meter_ids",
			 ids_json(ID_METER, PQgetvalue(r, i, 6)), "tariff_id", api_id_col(ID_TARIFF, r, i, 7),
			 "auto", !strcmp(PQgetvalue(r, i, 8), "t"), "prorate", !strcmp(PQgetvalue(r, i, 13), "t"),
			 "members", members ? members : json_array());
}

struct pool_tx {
	struct req *rq;
	char meters[4096], minus[4096], tenants[8192], quotas[8192];
	int nmeters, nminus, ntenants;
	int64_t main_meter;
	json_t *out;
};

static enum db_status pool_create_tx(PGconn *c, void *arg)
{
	struct pool_tx *t = arg;
	struct req *rq = t->rq;
	char site[I64_BUF], mm[I64_BUF], trf[I64_BUF], now[I64_BUF];
	int64_t tariff = api_body_id(rq, ID_TARIFF, "tariff_id");
	const char *p[6] = {api_i64(site, api_body_id(rq, ID_SITE, "site_id")), t->meters, t->minus,
			    t->tenants, tariff ? api_i64(trf, tariff) : NULL,
			    t->main_meter ? api_i64(mm, t->main_meter) : NULL};
	PGresult *r;
	enum db_status st = db_exec(c, "pool_check", 6, p, &r);
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	st = DB_ABORT;
	if (PQgetisnull(r, 0, 0))
		api_field_error(rq, "site_id", "no such site");
	else if (db_int64(r, 0, 1) != t->nmeters)
		api_field_error(rq, "meter_ids", "each must be a public meter (no tenant) of this site");
	else if (db_int64(r, 0, 2) != t->nminus + (t->main_meter ? 1 : 0))
		api_field_error(rq, t->main_meter ? "main_meter_id" : "minus_meter_ids", "each must be a meter of this site");
	else if (db_int64(r, 0, 3) != t->ntenants)
		api_field_error(rq, "members", "each tenant must be on this site, once");
	else if (tariff && strcmp(PQgetvalue(r, 0, 4), "flat"))
		api_field_error(rq, "tariff_id", "must be a flat tariff of this site (leave it out to use the billed cost)");
	else
		st = DB_OK;
	PQclear(r);
	if (st != DB_OK)
		return st;
	const char *q[10] = {site, api_body_str(rq, "name"), api_body_str(rq, "method"), t->meters,
			     p[5], t->minus, p[4],
			     json_is_true(json_object_get(rq->json, "auto")) ? "true" : "false",
			     api_i64(now, srv_clock_now_us()),
			     json_is_true(json_object_get(rq->json, "prorate")) ? "true" : "false"};
	if ((st = db_exec(c, "pool_insert", 10, q, &r)) != DB_OK) {
		PQclear(r);
		return st;
	}
	char id[I64_BUF];
	api_i64(id, db_int64(r, 0, 0));
	PQclear(r);
	const char *m[3] = {id, t->tenants, t->quotas};
	if ((st = db_exec(c, "pool_members_insert", 3, m, &r)) != DB_OK) {
		PQclear(r);
		return st == DB_UNIQUE ? (api_field_error(rq, "members", "a tenant is listed twice"), DB_ABORT) : st;
	}
	PQclear(r);
	const char *g[1] = {id};
	if ((st = api_tx_row(c, rq, "pool_get", 1, g, pool_json, &t->out, NULL, "no pool")) != DB_OK)
		return st;
	return api_audit(c, rq, "cost_pool.create", json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

void api_pools_create(struct req *rq)
{
	static const char *const methods[] = {"area", "consumption", "quota", NULL};
	static const struct field spec[] = {
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"method", FK_ENUM, F_REQ, 0, 0, methods, 0},
		{"meter_ids", FK_ARRAY, 0, 0, 0, 0, 0},
		{"main_meter_id", FK_ID, F_NULL, 0, 0, 0, ID_METER},
		{"minus_meter_ids", FK_ARRAY, 0, 0, 0, 0, 0},
		{"tariff_id", FK_ID, F_NULL, 0, 0, 0, ID_TARIFF},
		{"members", FK_ARRAY, F_REQ, 0, 0, 0, 0},
		{"auto", FK_BOOL, 0, 0, 0, 0, 0},
		{"prorate", FK_BOOL, 0, 0, 0, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct pool_tx *t = calloc(1, sizeof *t);
	if (!t)
		abort();
	t->rq = rq;
	t->main_meter = api_body_id(rq, ID_METER, "main_meter_id");
	json_t *members = json_object_get(rq->json, "members");
	bool quota = !strcmp(api_body_str(rq, "method"), "quota");
	int64_t ppm_sum = 0;
	size_t i, at = 0, qat = 0;
	json_t *m;
	/* An absent array is empty: jansson's array loop takes NULL. */
	if (id_array(json_object_get(rq->json, "meter_ids"), ID_METER, t->meters, sizeof t->meters, &t->nmeters)) {
		api_field_error(rq, "meter_ids", "must be meter ids like mtr_1");
		goto out;
	}
	if (id_array(json_object_get(rq->json, "minus_meter_ids"), ID_METER, t->minus, sizeof t->minus, &t->nminus)) {
		api_field_error(rq, "minus_meter_ids", "must be meter ids like mtr_1");
		goto out;
	}
	if (t->nmeters + (t->main_meter ? 1 : 0) == 0) {
		api_field_error(rq, "meter_ids", "a pool needs a public meter or a main_meter_id");
		goto out;
	}
	if (t->nminus && !t->main_meter) {
		api_field_error(rq, "minus_meter_ids", "only a virtual meter (main_meter_id) subtracts meters");
		goto out;
	}
	if (json_array_size(members) < 1 || json_array_size(members) > 500) {
		api_field_error(rq, "members", "1 to 500 members");
		goto out;
	}
	at += (size_t)snprintf(t->tenants, sizeof t->tenants, "{");
	qat += (size_t)snprintf(t->quotas, sizeof t->quotas, "{");
	json_array_foreach(members, i, m) {
		int64_t tid = api_id_parse(ID_TENANT, json_string_value(json_object_get(m, "tenant_id")));
		json_t *q = json_object_get(m, "quota_ppm");
		if (!json_is_object(m) || !tid || json_object_size(m) != (q ? 2u : 1u)) {
			api_field_error(rq, "members", "each member is {\"tenant_id\"} (and \"quota_ppm\" for quota)");
			goto out;
		}
		if (quota != (q != NULL) || (q && (!json_is_integer(q) || json_integer_value(q) < 0 ||
						   json_integer_value(q) > 1000000))) {
			api_field_error(rq, "members", quota ? "every member of a quota pool needs quota_ppm 0..1000000"
							     : "quota_ppm belongs to quota pools only");
			goto out;
		}
		ppm_sum += q ? json_integer_value(q) : 0;
		at += (size_t)snprintf(t->tenants + at, sizeof t->tenants - at, "%s%lld", i ? "," : "", (long long)tid);
		qat += (size_t)snprintf(t->quotas + qat, sizeof t->quotas - qat, "%s%lld", i ? "," : "",
					(long long)(q ? json_integer_value(q) : 0));
		t->ntenants++;
	}
	snprintf(t->tenants + at, sizeof t->tenants - at, "}");
	snprintf(t->quotas + qat, sizeof t->quotas - qat, "}");
	if (quota && ppm_sum != 1000000) {
		api_field_error(rq, "members", "quota_ppm must sum to 1000000 (they sum to %lld)", (long long)ppm_sum);
		goto out;
	}
	if (!api_tx_failed(rq, db_run_tx(pool_create_tx, t))) {
		api_reply(rq, 201, t->out);
		t->out = NULL;
	}
out:
	json_decref(t->out);
	free(t);
}

static json_t *pool_row_by_id(const PGresult *r, int i)
{
	return api_id_col(ID_POOL, r, i, 0);
}

void api_pools_list(struct req *rq)
{
	char site[I64_BUF];
	int64_t sid;
	if (api_query_id(rq, "site_id", ID_SITE, &sid))
		return;
	const char *extra[1] = {sid ? api_i64(site, sid) : NULL};
	api_list(rq, ID_POOL, "pool_list", pool_row_by_id, 1, extra);
	if (rq->status != 200)
		return;
	/* the page holds ids; replace each with the pool */
	json_t *items = json_object_get(rq->reply, "items");
	for (size_t i = 0; i < json_array_size(items); i++) {
		char id[I64_BUF];
		const char *p[1] = {api_i64(id, api_id_parse(ID_POOL, json_string_value(json_array_get(items, i))))};
		PGresult *r = api_read(rq, "pool_get", 1, p);
		if (!r)
			return;
		json_array_set_new(items, i, pool_json(r, 0));
		PQclear(r);
	}
}

/* A run: the pool's total for the period and each member's share. */
struct run_tx {
	struct req *rq;
	int64_t pool, run_id;
	bool commit;
	json_t *out;
};

static enum db_status compute_run(PGconn *c, struct run_tx *t, json_t **out)
{
	struct req *rq = t->rq;
	char pid[I64_BUF];
	const char *pp[1] = {api_i64(pid, t->pool)};
	PGresult *r = NULL;
	enum db_status st = db_exec(c, "pool_get", 1, pp, &r);
	if (st == DB_OK && PQntuples(r) == 0) {
		api_error(rq, E_NOT_FOUND, NULL, "no cost pool %s", rq->args[0]);
		st = DB_ABORT;
	}
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	json_t *pool = pool_json(r, 0);
	int digits = 2;
	api_valid_currency(PQgetvalue(r, 0, 10), &digits);
	int64_t tariff = PQgetisnull(r, 0, 7) ? 0 : db_int64(r, 0, 7);
	const char *method = json_string_value(json_object_get(pool, "method"));
	int y, mo;
	char from[32], to[32], unit_s[I64_BUF];
	api_parse_period(api_body_str(rq, "period"), &y, &mo);
	snprintf(from, sizeof from, "%04d-%02d-01", y, mo);
	snprintf(to, sizeof to, "%04d-%02d-01", mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1);
	int64_t unit = bill_nano_per_minor(digits), total_minor;
	/* the meters whose energy adds in (a virtual meter's main meter included) and those
	 * subtracted, straight from the pool row */
	const char *e[5] = {PQgetvalue(r, 0, 12), PQgetvalue(r, 0, 6), from, to, api_i64(unit_s, unit)};
	PGresult *pool_row = r;
	st = db_exec(c, "pool_energy", 5, e, &r);
	PQclear(pool_row);
	if (st != DB_OK) {
		json_decref(pool);
		PQclear(r);
		return st;
	}
	int64_t wh = db_int64(r, 0, 0) - db_int64(r, 0, 2);
	/* Cost sums are numeric in SQL (a month of a big pool can pass int64 in nano-units)
	 * and come here already divided down to whole minor units. */
	int64_t billed_plus = db_int64(r, 0, 1), billed_minus = db_int64(r, 0, 3);
	PQclear(r);
	if (wh < 0)
		wh = 0; /* tenant meters above the main meter: no losses to share */
	if (tariff) {
		char tid[I64_BUF];
		const char *tp[1] = {api_i64(tid, tariff)};
		if ((st = db_exec(c, "pool_tariff_rate", 1, tp, &r)) != DB_OK) {
			json_decref(pool);
			PQclear(r);
			return st;
		}
		int64_t rate = PQntuples(r) ? db_int64(r, 0, 0) : 0, nano;
		PQclear(r);
		if (bill_mul(wh, rate, &nano)) {
			json_decref(pool);
			api_error(rq, E_BALANCE_OVERFLOW, NULL, "the pool's cost overflows");
			return DB_ABORT;
		}
		total_minor = nano / unit;
	} else {
		total_minor = billed_plus - billed_minus > 0 ? billed_plus - billed_minus : 0;
	}
	const char *b[3] = {api_i64(pid, t->pool), from, to};
	if ((st = db_exec(c, "pool_basis", 3, b, &r)) != DB_OK) {
		json_decref(pool);
		PQclear(r);
		return st;
	}
	int n = PQntuples(r);
	int64_t *w = calloc((size_t)n + 1, sizeof *w), *share = calloc((size_t)n + 1, sizeof *share);
	if (!w || !share)
		abort();
	/* Prorating weighs area and quota by the days occupied (alloc_prorate: weight x days,
	 * the period's length cancels out); consumption is metered only while a tenant is
	 * there, so it is never prorated again. */
	bool prorate = json_is_true(json_object_get(pool, "prorate")) && strcmp(method, "consumption");
	enum alloc_result ar = ALLOC_OK;
	for (int i = 0; i < n && ar == ALLOC_OK; i++) {
		w[i] = !strcmp(method, "area") ? db_int64(r, i, 1) : !strcmp(method, "quota") ? db_int64(r, i, 2)
											    : db_int64(r, i, 3);
		if (prorate)
			ar = alloc_prorate(w[i], (int)db_int64(r, i, 4), &w[i]);
	}
	if (ar == ALLOC_OK)
		ar = alloc_hamilton(total_minor, w, n, share);
	json_t *lines = json_array();
	for (int i = 0; ar == ALLOC_OK && i < n; i++) {
		char area[32];
		int64_t raw = !strcmp(method, "area") ? db_int64(r, i, 1) : !strcmp(method, "quota") ? db_int64(r, i, 2)
											     : db_int64(r, i, 3);
		json_t *basis = !strcmp(method, "area") ? json_string(bill_format_decimal(raw, 2, area, sizeof area))
						       : json_integer(raw);
		json_t *line = json_pack("{s:o, s:o, s:s, s:I}", "tenant_id", api_id_col(ID_TENANT, r, i, 0), "basis", basis,
					 "basis_unit", !strcmp(method, "area") ? "m2" : !strcmp(method, "quota") ? "ppm" : "wh",
					 "amount_minor", (json_int_t)share[i]);
		if (prorate) {
			json_object_set_new(line, "days", json_integer(db_int64(r, i, 4)));
			json_object_set_new(line, "days_in_period", json_integer(db_int64(r, i, 5)));
		}
		json_array_append_new(lines, line);
	}
	PQclear(r);
	free(w);
	free(share);
	if (ar != ALLOC_OK) {
		/* method points into pool: reply before letting pool go */
		api_error(rq, E_REFUSED, json_pack("{s:s}", "method", method),
			  ar == ALLOC_NO_BASIS ? (prorate ? "no member occupied its unit this period: nothing to share by"
							  : "no member consumed energy this period: nothing to share by")
					       : "the shares overflow");
		json_decref(pool);
		json_decref(lines);
		return DB_ABORT;
	}
	*out = json_pack("{s:O, s:s, s:O, s:I, s:I, s:o, s:b}", "pool_id", json_object_get(pool, "id"), "period",
			 api_body_str(rq, "period"), "method", json_object_get(pool, "method"), "total_wh",
			 (json_int_t)wh, "total_minor", (json_int_t)total_minor, "lines", lines, "committed", 0);
	json_decref(pool);
	return DB_OK;
}

/* Post one entry per line with an amount: kind, signed by sign, ref naming the run. */
static enum db_status post_lines(PGconn *c, struct req *rq, int64_t run_id, json_t *lines,
				 const char *kind, int sign, const char *reason, int64_t at_us)
{
	/* Every line at once: one lock of the accounts, one insert, one update (a pool may
	 * have thousands of members). */
	size_t n = json_array_size(lines), i;
	struct bill_posting *p = calloc(n + 1, sizeof *p);
	char **refs = calloc(n + 1, sizeof *refs);
	if (!p || !refs)
		abort();
	int k = 0;
	json_t *l;
	json_array_foreach(lines, i, l) {
		int64_t amount = json_integer_value(json_object_get(l, "amount_minor"));
		if (!amount)
			continue;
		json_t *ref = json_pack("{s:o, s:i, s:O, s:O}", "run_id", api_id_json(ID_RUN, run_id), "line", (int)i,
					"basis", json_object_get(l, "basis"), "basis_unit", json_object_get(l, "basis_unit"));
		if (reason)
			json_object_set_new(ref, "reason", json_string(reason));
		refs[k] = json_dumps(ref, JSON_COMPACT);
		json_decref(ref);
		p[k].tenant_id = api_id_parse(ID_TENANT, json_string_value(json_object_get(l, "tenant_id")));
		p[k].amount_minor = sign * amount;
		p[k].ref_json = refs[k];
		k++;
	}
	int64_t now = srv_clock_now_us();
	int missing = 0;
	enum db_status st = bill_post_many(c, p, k, kind, rq->request_id, at_us && at_us < now ? at_us : now, now,
					   &missing);
	for (int j = 0; j < k; j++)
		free(refs[j]);
	free(refs);
	free(p);
	if (st == DB_OK && missing < 0) {
		api_error(rq, E_BALANCE_OVERFLOW, NULL, "a balance would overflow");
		return DB_ABORT;
	}
	if (st == DB_OK && missing) {
		api_error(rq, E_NOT_FOUND, NULL, "%d lines name a tenant without an account", missing);
		return DB_ABORT;
	}
	return st;
}

static enum db_status run_tx(PGconn *c, void *arg)
{
	struct run_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = t->commit ? api_idem_begin(c, rq) : DB_OK;
	json_t *out = NULL;
	if (st != DB_OK || (st = compute_run(c, t, &out)) != DB_OK)
		return st;
	json_decref(t->out);
	t->out = out;
	if (!t->commit) {
		api_reply(rq, 200, json_incref(out));
		return DB_OK;
	}
	char pid[I64_BUF], wh[I64_BUF], tot[I64_BUF], now[I64_BUF], key[I64_BUF];
	char *result = json_dumps(out, JSON_COMPACT);
	const char *p[7] = {api_i64(pid, t->pool), api_body_str(rq, "period"),
			    api_i64(wh, json_integer_value(json_object_get(out, "total_wh"))),
			    api_i64(tot, json_integer_value(json_object_get(out, "total_minor"))), result,
			    api_i64(now, srv_clock_now_us()), rq->who.key_id ? api_i64(key, rq->who.key_id) : NULL};
	PGresult *r;
	st = db_exec(c, "run_insert", 7, p, &r);
	free(result);
	if (st == DB_UNIQUE) {
		PQclear(r);
		api_error(rq, E_CONFLICT, json_pack("{s:s}", "period", p[1]),
			  "this pool's %s is committed already; reverse that run first", p[1]);
		return DB_ABORT;
	}
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	t->run_id = db_int64(r, 0, 0);
	PQclear(r);
	/* A month committed after it ended is dated its last instant: it belongs to that
	 * month's statements (a run committed during its month is dated now). */
	const char *pe[2] = {pid, p[1]};
	if ((st = db_exec(c, "run_period_end", 2, pe, &r)) != DB_OK) {
		PQclear(r);
		return st;
	}
	int64_t end_us = db_int64(r, 0, 0) - 1;
	PQclear(r);
	if ((st = post_lines(c, rq, t->run_id, json_object_get(out, "lines"), "allocation", -1, NULL, end_us)) != DB_OK)
		return st;
	json_object_set_new(out, "committed", json_true());
	json_object_set_new(out, "id", api_id_json(ID_RUN, t->run_id));
	api_reply(rq, 201, json_incref(out));
	st = api_audit(c, rq, "allocation.commit", json_pack("{s:o, s:s}", "id", api_id_json(ID_RUN, t->run_id),
							     "period", p[1]));
	return st != DB_OK ? st : api_idem_finish(c, rq);
}

/* POST /v1/cost-pools/{id}/runs {"period":"2026-10","commit":false|true} */
void api_pool_runs_create(struct req *rq)
{
	static const struct field spec[] = {
		{"period", FK_TEXT, F_REQ, 0, 7, 0, 0},
		{"commit", FK_BOOL, 0, 0, 0, 0, 0},
		{0},
	};
	int y, m;
	struct run_tx t = {rq, api_arg_id(rq, 0, ID_POOL, "cost pool"), 0, false, NULL};
	if (!t.pool || api_fields(rq, spec, false))
		return;
	if (api_parse_period(api_body_str(rq, "period"), &y, &m)) {
		api_field_error(rq, "period", "must be a site-local month YYYY-MM");
		return;
	}
	t.commit = json_is_true(json_object_get(rq->json, "commit"));
	api_tx_failed(rq, db_run_tx(run_tx, &t));
	json_decref(t.out);
}

static json_t *run_json(const PGresult *r, int i)
{
	json_t *o = json_loads(PQgetvalue(r, i, 2), 0, NULL);
	if (!o)
		o = json_object();
	json_object_set_new(o, "id", api_id_col(ID_RUN, r, i, 0));
	json_object_set_new(o, "state", json_string(PQgetvalue(r, i, 1)));
	json_object_set_new(o, "committed", json_true());
	json_object_set_new(o, "reversed_at", api_time_col(r, i, 3));
	json_object_set_new(o, "reverse_reason", api_str_col(r, i, 4));
	return o;
}

void api_allocation_run_get(struct req *rq)
{
	char id[I64_BUF];
	int64_t run = api_arg_id(rq, 0, ID_RUN, "allocation run");
	if (!run)
		return;
	const char *p[1] = {api_i64(id, run)};
	PGresult *r = api_read(rq, "run_get", 1, p);
	if (!r)
		return;
	if (PQntuples(r) == 1)
		api_reply(rq, 200, run_json(r, 0));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no allocation run %s", rq->args[0]);
	PQclear(r);
}

struct reverse_tx {
	struct req *rq;
	int64_t run;
};

static enum db_status reverse_tx(PGconn *c, void *arg)
{
	struct reverse_tx *t = arg;
	struct req *rq = t->rq;
	char id[I64_BUF], now[I64_BUF];
	const char *p[3] = {api_i64(id, t->run), api_i64(now, srv_clock_now_us()), api_body_str(rq, "reason")};
	PGresult *r;
	enum db_status st = db_exec(c, "run_lock", 1, p, &r);
	if (st == DB_OK && PQntuples(r) == 0) {
		api_error(rq, E_CONFLICT, NULL, "no committed allocation run %s", rq->args[0]);
		st = DB_ABORT;
	}
	json_t *result = st == DB_OK ? json_loads(PQgetvalue(r, 0, 2), 0, NULL) : NULL;
	PQclear(r);
	if (st != DB_OK)
		return st;
	st = post_lines(c, rq, t->run, json_object_get(result, "lines"), "reversal", 1, p[2], 0);
	json_decref(result);
	if (st == DB_OK) {
		st = db_exec(c, "run_reverse", 3, p, &r);
		PQclear(r);
	}
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "allocation.reverse", json_pack("{s:o, s:s}", "id", api_id_json(ID_RUN, t->run),
								"reason", p[2]));
}

/* POST /v1/allocation-runs/{id}/reverse {"reason"}: reversal entries; the period may then
 * be committed again. */
void api_allocation_run_reverse(struct req *rq)
{
	static const struct field spec[] = {{"reason", FK_TEXT, F_REQ, 0, 500, 0, 0}, {0}};
	struct reverse_tx t = {rq, api_arg_id(rq, 0, ID_RUN, "allocation run")};
	if (!t.run || api_fields(rq, spec, false))
		return;
	if (!api_tx_failed(rq, db_run_tx(reverse_tx, &t)))
		api_allocation_run_get(rq);
}

/* GET /v1/tenants/{id}/allocations: the committed runs whose lines name the tenant. A
 * tenant's own key sees its own amount and everyone's basis (area and energy are not
 * secret in a mall), not the other tenants' amounts. */
void api_tenant_allocations(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id || api_tenant_scope(rq, id))
		return;
	char tid[40];
	snprintf(tid, sizeof tid, "ten_%lld", (long long)id);
	const char *extra[1] = {tid};
	api_list(rq, ID_RUN, "tenant_allocations", run_json, 1, extra);
	if (rq->status != 200)
		return;
	size_t i, k;
	json_t *run, *line;
	json_array_foreach(json_object_get(rq->reply, "items"), i, run) {
		json_array_foreach(json_object_get(run, "lines"), k, line) {
			bool own = !strcmp(json_string_value(json_object_get(line, "tenant_id")), tid);
			if (own)
				json_object_set(run, "your_amount_minor", json_object_get(line, "amount_minor"));
			if (!own && rq->who.role == ROLE_TENANT)
				json_object_del(line, "amount_minor");
		}
	}
}

enum db_status api_pool_commit_auto(PGconn *c, int64_t pool, const char *period, const char *request_id,
				    int64_t *run_id)
{
	/* The run as the worker makes it: no key, no connection; the same code as the API. */
	struct req rq = {0};
	rq.method = "WORKER";
	rq.path = "month close";
	snprintf(rq.request_id, sizeof rq.request_id, "%s", request_id);
	snprintf(rq.argbuf, sizeof rq.argbuf, "%s_%lld", ID_POOL, (long long)pool);
	rq.args[0] = rq.argbuf;
	rq.nargs = 1;
	rq.json = json_pack("{s:s, s:b}", "period", period, "commit", 1);
	struct run_tx t = {&rq, pool, 0, true, NULL};
	enum db_status st = run_tx(c, &t);
	if (st == DB_ABORT) {
		json_t *err = json_object_get(rq.reply, "error");
		srv_log(LOG_ERROR, "month close: pool %lld, %s: %s", (long long)pool, period,
			json_string_value(json_object_get(err, "message")));
	}
	*run_id = t.run_id;
	json_decref(t.out);
	json_decref(rq.json);
	json_decref(rq.reply);
	free(rq.raw);
	return st;
}

static json_t *run_row_json(const PGresult *r, int i)
{
	return json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", api_id_col(ID_RUN, r, i, 0), "period",
			 PQgetvalue(r, i, 1), "state", PQgetvalue(r, i, 2), "total_wh", api_int_col(r, i, 3),
			 "total_minor", api_int_col(r, i, 4), "created_at", api_time_col(r, i, 5), "reversed_at",
			 api_time_col(r, i, 6), "reverse_reason", api_str_col(r, i, 7));
}

/* GET /v1/cost-pools/{id}/runs: the pool's runs, committed and reversed. */
void api_pool_runs_list(struct req *rq)
{
	int64_t pool = api_arg_id(rq, 0, ID_POOL, "cost pool");
	if (!pool)
		return;
	char id[I64_BUF];
	const char *extra[1] = {api_i64(id, pool)};
	api_list(rq, ID_RUN, "run_list", run_row_json, 1, extra);
}

/* GET /v1/sites/{id}/reconciliation?period=YYYY-MM: the main meters' energy against the
 * tenant and public meters below them; the difference is losses (lines, transformers,
 * theft, meters out of calibration). Needs meters with purpose "main". */
void api_site_reconciliation(struct req *rq)
{
	int64_t site = api_arg_id(rq, 0, ID_SITE, "site");
	if (!site)
		return;
	int y, m;
	const char *period = api_query(rq, "period");
	if (!period || api_parse_period(period, &y, &m)) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "period"),
			  "period=YYYY-MM (a site-local month) is required");
		return;
	}
	char sid[I64_BUF], from[32], to[32];
	snprintf(from, sizeof from, "%04d-%02d-01", y, m);
	snprintf(to, sizeof to, "%04d-%02d-01", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
	const char *p[3] = {api_i64(sid, site), from, to};
	PGresult *r = api_read(rq, "site_reconcile", 3, p);
	if (!r)
		return;
	if (PQntuples(r) != 1) {
		PQclear(r);
		api_error(rq, E_NOT_FOUND, NULL, "no site %s", rq->args[0]);
		return;
	}
	int64_t main_wh = db_int64(r, 0, 1), tenant_wh = db_int64(r, 0, 2), public_wh = db_int64(r, 0, 3);
	int64_t mains = db_int64(r, 0, 4);
	PQclear(r);
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "site_id", rq->args[0], "period", period, "main_meters",
			      (json_int_t)mains, "tenant_wh", (json_int_t)tenant_wh, "public_wh", (json_int_t)public_wh);
	if (!mains) {
		json_object_set_new(o, "main_wh", json_null());
		json_object_set_new(o, "losses_wh", json_null());
		json_object_set_new(o, "losses_pct", json_null());
		json_object_set_new(o, "note", json_string("no meter of this site has purpose main: nothing to reconcile against"));
	} else {
		int64_t losses = main_wh - tenant_wh - public_wh;
		json_object_set_new(o, "main_wh", json_integer(main_wh));
		json_object_set_new(o, "losses_wh", json_integer(losses));
		if (main_wh > 0) {
			char pct[64];
			json_object_set_new(o, "losses_pct", json_string(bill_format_percent(losses, main_wh, 2, pct, sizeof pct)));
		} else {
			json_object_set_new(o, "losses_pct", json_null());
		}
	}
	api_reply(rq, 200, o);
}
