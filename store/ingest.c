/* ingest.c (store): the SQL of a readings batch (ingest.h), in a handful of bulk
 * statements over arrays. */
#include "store/ingest.h"
#include "core/buf.h"
#include "core/check.h"
#include "core/log.h"
#include "core/valid.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARR_TS "('epoch'::timestamptz + t * interval '1 microsecond')"

static const struct db_stmt ingest_stmts[] = {
	{"ingest_meters", /* bill_ingest: resolve (ids, then serials) and lock, in meter id order;
			     the ids come first so the plan walks primary keys, not whole tables */
	 "WITH want AS (SELECT unnest($1::bigint[]) AS id"
	 " UNION SELECT id FROM meters WHERE cardinality($2::text[]) > 0 AND serial = ANY($2::text[]))"
	 " SELECT m.id, m.serial, m.status, coalesce(m.tenant_id, 0) AS tenant_id,"
	 " coalesce(m.tariff_id, 0) AS tariff_id, m.multiplier, coalesce(m.max_power_w, 0) AS max_power_w,"
	 " coalesce(m.max_plausible_power_w, 0) AS max_plausible_power_w,"
	 " coalesce(m.register_max_wh, 0) AS register_max_wh, coalesce(m.gateway_id, 0) AS gateway_id,"
	 " s.timezone, s.currency,"
	 " " SQL_US("st.last_ts") " AS last_us, st.last_register_wh, st.carry_nano, st.month_key, st.month_wh,"
	 " (SELECT c.relay FROM commands c WHERE c.meter_id = m.id AND c.state = 'acked'"
	 "  ORDER BY c.id DESC LIMIT 1) AS acked_relay,"
	 " EXISTS (SELECT 1 FROM commands c WHERE c.meter_id = m.id AND c.state IN ('pending', 'sent')) AS in_flight,"
	 " (s.alarm_settings || m.alarm_settings)::text AS alarm_settings, m.site_id,"
	 " coalesce(t.category, '') AS category, array_to_string(st.alarm_det, ',') AS alarm_det"
	 " FROM want JOIN meter_state st ON st.meter_id = want.id JOIN meters m ON m.id = st.meter_id"
	 " JOIN sites s ON s.id = m.site_id LEFT JOIN tenants t ON t.id = m.tenant_id"
	 " ORDER BY m.id FOR UPDATE OF st"},
	{"ingest_tariffs", /* load_tariffs */
	 "SELECT tariff_id, " SQL_US("effective_from") " AS from_us, kind, spec::text AS spec FROM tariff_versions"
	 " WHERE tariff_id = ANY($1::bigint[]) ORDER BY tariff_id, effective_from"},
	{"ingest_readings", /* bill_ingest: new readings; a conflict here is a bug, not a duplicate */
	 "INSERT INTO readings (meter_id, ts, energy_wh, power_w, voltage_v, current_a, pf,"
	 " frequency_hz, thd_v_pct, thd_i_pct, relay, billed, received_at)"
	 " SELECT m, " ARR_TS ", e, p, v, a, f, hz, tv, ti, r, b, " SQL_TS("$13")
	 " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::real[], $6::real[],"
	 " $7::real[], $8::real[], $9::real[], $10::real[], $11::text[], $12::boolean[])"
	 " AS x(m, t, e, p, v, a, f, hz, tv, ti, r, b)"},
	{"ingest_late", /* bill_ingest: late readings; a conflict is a duplicate */
	 "INSERT INTO readings (meter_id, ts, energy_wh, power_w, voltage_v, current_a, pf,"
	 " frequency_hz, thd_v_pct, thd_i_pct, relay, billed, received_at)"
	 " SELECT m, " ARR_TS ", e, p, v, a, f, hz, tv, ti, r, b, " SQL_TS("$13")
	 " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::real[], $6::real[],"
	 " $7::real[], $8::real[], $9::real[], $10::real[], $11::text[], $12::boolean[])"
	 " AS x(m, t, e, p, v, a, f, hz, tv, ti, r, b) ON CONFLICT DO NOTHING"
	 " RETURNING meter_id, " SQL_US("ts") " AS ts_us"},
	{"ingest_state", /* bill_ingest */
	 "UPDATE meter_state st SET last_ts = " ARR_TS ", last_register_wh = x.r, carry_nano = x.c,"
	 " month_key = x.mk, month_wh = x.mw, billed_wh = st.billed_wh + x.bw,"
	 " cost_nano_total = st.cost_nano_total + x.cn, charged_minor = st.charged_minor + x.cm,"
	 " last_seen_at = greatest(st.last_seen_at, " SQL_TS("$10") "),"
	 " alarm_det = coalesce(x.ad::bigint[], st.alarm_det), unposted_minor = st.unposted_minor + x.um"
	 " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::integer[],"
	 " $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $11::text[], $12::bigint[])"
	 " AS x(id, t, r, c, mk, mw, bw, cn, cm, ad, um)"
	 " WHERE st.meter_id = x.id"},
	{"ingest_daily", /* bill_ingest: rows are unique per (meter, day, band) */
	 "INSERT INTO meter_daily (meter_id, day, band, wh, cost_nano)"
	 " SELECT m, 'epoch'::date + d, b, w, c"
	 " FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::bigint[], $5::bigint[]) AS x(m, d, b, w, c)"
	 " ON CONFLICT (meter_id, day, band) DO UPDATE SET wh = meter_daily.wh + EXCLUDED.wh,"
	 " cost_nano = meter_daily.cost_nano + EXCLUDED.cost_nano"},
	{"ingest_hourly", /* write_daily: public meters, rows unique per (meter, day, hour) */
	 "INSERT INTO meter_hourly (meter_id, day, hour, wh)"
	 " SELECT m, 'epoch'::date + d, h, w FROM unnest($1::bigint[], $2::integer[], $3::smallint[], $4::bigint[])"
	 " AS x(m, d, h, w)"
	 " ON CONFLICT (meter_id, day, hour) DO UPDATE SET wh = meter_hourly.wh + EXCLUDED.wh"},
	{"ingest_events", /* bill_ingest */
	 "INSERT INTO meter_events (meter_id, at, kind, detail)"
	 " SELECT m, " SQL_TS("$4") ", k, d::jsonb FROM unnest($1::bigint[], $2::text[], $3::text[]) AS x(m, k, d)"},
	{"readings_list", /* store_readings_list */
	 "SELECT " SQL_US("ts") " AS ts_us, energy_wh, power_w, coalesce(voltage_v::text, '') AS voltage_v,"
	 " coalesce(current_a::text, '') AS current_a, coalesce(pf::text, '') AS pf,"
	 " coalesce(frequency_hz::text, '') AS frequency_hz, coalesce(thd_v_pct::text, '') AS thd_v_pct,"
	 " coalesce(thd_i_pct::text, '') AS thd_i_pct, coalesce(relay, '') AS relay, billed FROM readings"
	 " WHERE meter_id = $1 AND ts >= " SQL_TS("$2") " AND ts < " SQL_TS("$3")
	 " AND ts > " SQL_TS("$4") " ORDER BY ts LIMIT $5"},
	{"consumption", /* store_consumption: from the rollups, never raw readings */
	 "SELECT CASE WHEN $4 THEN to_char(d.day, 'YYYY-MM') ELSE to_char(d.day, 'YYYY-MM-DD') END AS period,"
	 " d.band, sum(d.wh)::bigint AS wh, sum(d.cost_nano)::bigint AS cost_nano"
	 " FROM meter_daily d JOIN meters m ON m.id = d.meter_id"
	 " WHERE m.tenant_id = $1 AND d.day >= $2::date AND d.day < $3::date GROUP BY 1, 2 ORDER BY 1, 2"},
	{0, 0},
};

void store_ingest_register(void) { db_register(ingest_stmts); }

/* Meters of one site share their settings text; parse it once per distinct text. */
struct settings_memo {
	char *text;
	json_t *json;
};

static void memo_free(struct settings_memo *mo)
{
	free(mo->text);
	json_decref(mo->json);
	memset(mo, 0, sizeof *mo);
}

/* One row of ingest_meters, as read. */
struct meter_row {
	struct mb_meter m;
	char status[12], currency[4], category[32];
	bool last_null;
	char *alarm_settings, *alarm_det; /* new */
};

static void load_alarm_cfg(struct mb_meter *m, const struct meter_row *w, struct settings_memo *mo)
{
	const char *text = w->alarm_settings ? w->alarm_settings : "{}";
	if (!mo->text || strcmp(mo->text, text)) {
		memo_free(mo);
		mo->text = strdup(text);
		mo->json = json_loads(text, 0, NULL);
	}
	alarm_cfg_load(&m->acfg, mo->json, m->max_power_w, w->category);
	int64_t v[BILL_ALARM_STATE_N];
	int nv = 0;
	for (const char *p = w->alarm_det ? w->alarm_det : ""; *p && nv < BILL_ALARM_STATE_N; nv++) {
		char *end;
		v[nv] = strtoll(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	alarm_state_unpack(&m->ast, v, nv);
}

static enum db_status load_meters(PGconn *c, const struct bill_reading *rd, int n, struct mb_batch *x)
{
	struct settings_memo memo = {0};
	struct srv_buf ids = {0}, serials = {0};
	srv_buf_putc(&ids, '{');
	srv_buf_putc(&serials, '{');
	for (int i = 0; i < n; i++) {
		if (rd[i].invalid)
			continue;
		int64_t id = mb_meter_ref_id(rd[i].meter);
		if (id) {
			if (ids.len > 1)
				srv_buf_putc(&ids, ',');
			srv_buf_i64(&ids, id);
		} else {
			if (serials.len > 1)
				srv_buf_putc(&serials, ',');
			srv_buf_pg_quoted(&serials, rd[i].meter);
		}
	}
	srv_buf_putc(&ids, '}');
	srv_buf_putc(&serials, '}');
	struct db_params p = {0};
	db_p_take(&p, ids.p);
	db_p_take(&p, serials.p);
	struct meter_row w; /* scratch, per row */
	struct mb_meter *m = &w.m;
	int32_t month = 0;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &m->id),
		DB_COL_TEXT("serial", m->serial),
		DB_COL_TEXT("status", w.status),
		DB_COL("tenant_id", DB_I64, &m->tenant_id),
		DB_COL("tariff_id", DB_I64, &m->tariff_id),
		DB_COL("multiplier", DB_I64, &m->multiplier),
		DB_COL("max_power_w", DB_I64, &m->max_power_w),
		DB_COL("max_plausible_power_w", DB_I64, &m->max_plausible_w),
		DB_COL("register_max_wh", DB_I64, &m->register_max),
		DB_COL("gateway_id", DB_I64, &m->gateway_id),
		DB_COL_TEXT("timezone", m->zone),
		DB_COL_TEXT("currency", w.currency),
		DB_COL_NULL("last_us", DB_I64, &m->last_ts, &w.last_null),
		DB_COL("last_register_wh", DB_I64, &m->last_reg),
		DB_COL("carry_nano", DB_I64, &m->carry),
		DB_COL("month_key", DB_INT, &month),
		DB_COL("month_wh", DB_I64, &m->month.wh),
		DB_COL_TEXT("acked_relay", m->acked_relay),
		DB_COL("in_flight", DB_BOOL, &m->in_flight),
		DB_COL("alarm_settings", DB_TEXT_NEW, &w.alarm_settings),
		DB_COL("site_id", DB_I64, &m->site_id),
		DB_COL_TEXT("category", w.category),
		DB_COL("alarm_det", DB_TEXT_NEW, &w.alarm_det),
		{0},
	};
	PGresult *r;
	enum db_status st = db_exec_bind(c, "ingest_meters", &p, spec, &r);
	if (st != DB_OK)
		return st;
	x->nm = PQntuples(r);
	x->m = calloc((size_t)x->nm + 1, sizeof *x->m);
	if (!x->m)
		abort();
	for (int i = 0; i < x->nm; i++) {
		memset(&w, 0, sizeof w);
		month = 0;
		db_cols_read(r, i, spec);
		m->retired = strcmp(w.status, "active") != 0;
		int digits = 2;
		api_valid_currency(w.currency, &digits);
		m->unit = bill_nano_per_minor(digits);
		m->has_last = !w.last_null;
		if (!m->has_last)
			m->last_ts = m->last_reg = 0;
		m->month.month = month;
		/* the state is locked in meter id order, so concurrent batches cannot deadlock */
		WATTLE_CHECK(i == 0 || m->id > x->m[i - 1].id);
		if (x->alarms)
			load_alarm_cfg(m, &w, &memo);
		x->m[i] = *m;
		free(w.alarm_settings);
		free(w.alarm_det);
	}
	memo_free(&memo);
	PQclear(r);
	return DB_OK;
}

static enum db_status load_tariffs(PGconn *c, struct mb_batch *x)
{
	struct srv_buf ids = {0};
	for (int i = 0; i < x->nm; i++)
		if (x->m[i].tariff_id) {
			srv_buf_elem(&ids);
			srv_buf_i64(&ids, x->m[i].tariff_id);
		}
	srv_buf_puts(&ids, ids.len ? "}" : "{}");
	struct db_params p = {0};
	db_p_take(&p, ids.p);
	int64_t tid, from_us;
	char kind[16];
	char *text;
	struct db_col spec[] = {
		DB_COL("tariff_id", DB_I64, &tid), DB_COL("from_us", DB_I64, &from_us), DB_COL_TEXT("kind", kind),
		DB_COL("spec", DB_TEXT_NEW, &text), {0},
	};
	PGresult *r;
	enum db_status st = db_exec_bind(c, "ingest_tariffs", &p, spec, &r);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	x->tariffs = calloc((size_t)rows + 1, sizeof *x->tariffs);
	if (!x->tariffs)
		abort();
	for (int i = 0; i < rows; i++) {
		db_cols_read(r, i, spec);
		if (x->nt == 0 || x->tariffs[x->nt - 1].id != tid) {
			x->tariffs[x->nt].id = tid;
			x->tariffs[x->nt].t.v = calloc((size_t)rows, sizeof(struct bill_version));
			if (!x->tariffs[x->nt].t.v)
				abort();
			x->nt++;
		}
		struct bill_tariff *t = &x->tariffs[x->nt - 1].t;
		json_t *js = json_loads(text ? text : "", 0, NULL);
		free(text);
		if (js && bill_version_parse(kind, js, from_us, &t->v[t->n]) == 0)
			t->n++;
		else
			srv_log(LOG_ERROR, "ingest: tariff trf_%lld has a version that does not parse",
				(long long)tid);
		json_decref(js);
	}
	PQclear(r);
	return DB_OK;
}

enum db_status store_ingest_load(PGconn *c, const struct bill_reading *rd, int n, struct mb_batch *b)
{
	enum db_status st = load_meters(c, rd, n, b);
	if (st == DB_OK)
		st = load_tariffs(c, b);
	if (st == DB_OK)
		mb_index(b);
	return st;
}

/* Column arrays for the readings inserts. */
struct cols {
	struct srv_buf a[12];
	int n;
	bool has[RD_OPT_N]; /* some reading carries this optional value */
};

static void cols_add(struct cols *k, const struct bill_reading *r, bool billed)
{
	k->n++;
	for (int i = 0; i < 12; i++)
		srv_buf_elem(&k->a[i]);
	srv_buf_i64(&k->a[0], r->meter_id);
	srv_buf_i64(&k->a[1], r->ts_us);
	srv_buf_i64(&k->a[2], r->energy_wh);
	for (int i = 0; i < RD_OPT_N; i++) {
		srv_buf_puts(&k->a[3 + i], r->opt[i][0] ? r->opt[i] : "NULL");
		k->has[i] |= r->opt[i][0] != 0;
	}
	srv_buf_putc(&k->a[11], billed ? 't' : 'f');
}

/* Close the array literal being built in b and hand it to p as the next parameter (b is
 * empty after). */
static void p_array(struct db_params *p, struct srv_buf *b)
{
	srv_buf_putc(b, '}');
	db_p_take(p, b->p);
	*b = (struct srv_buf){0};
}

/* Insert the rows of k. With RETURNING, *res keeps the result (caller PQclear()s). */
static enum db_status cols_insert(PGconn *c, struct cols *k, const char *stmt, const char *now,
				  PGresult **res)
{
	*res = NULL;
	if (!k->n)
		return DB_OK;
	/* An optional value no reading carries is sent as a NULL array: unnest pads it with
	 * NULLs, and the database parses nothing for it. */
	struct db_params p = {0};
	for (int i = 0; i < 12; i++)
		if (i >= 3 && i < 3 + RD_OPT_N && !k->has[i - 3])
			db_p_text(&p, NULL);
		else
			p_array(&p, &k->a[i]);
	db_p_text(&p, now);
	return db_exec_p(c, stmt, &p, res);
}

struct key {
	int64_t meter, ts;
};

static int by_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	if (x->meter != y->meter)
		return x->meter < y->meter ? -1 : 1;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/* Late readings that the insert skipped were stored before: mark them duplicates. */
static void mark_late_duplicates(struct bill_reading **rd, int n, PGresult *inserted)
{
	int k = inserted ? PQntuples(inserted) : 0;
	struct key *keys = malloc(((size_t)k + 1) * sizeof *keys), y;
	if (!keys)
		abort();
	struct db_col spec[] = {DB_COL("meter_id", DB_I64, &y.meter), DB_COL("ts_us", DB_I64, &y.ts), {0}};
	if (k && db_cols_bind(inserted, spec, "ingest_late") != DB_OK)
		k = 0;
	for (int i = 0; i < k; i++) {
		db_cols_read(inserted, i, spec);
		keys[i] = y;
	}
	qsort(keys, (size_t)k, sizeof *keys, by_key);
	for (int i = 0; i < n; i++) {
		struct key want = {rd[i]->meter_id, rd[i]->ts_us};
		if (rd[i]->outcome == RD_LATE && !bsearch(&want, keys, (size_t)k, sizeof *keys, by_key))
			rd[i]->outcome = RD_DUPLICATE;
	}
	free(keys);
}

static void cols_free(struct cols *k)
{
	for (int i = 0; i < 12; i++)
		srv_buf_free(&k->a[i]);
}

enum db_status store_ingest_readings(PGconn *c, struct bill_reading **order, int n, int64_t now_us)
{
	struct cols fresh = {0}, late = {0};
	for (int i = 0; i < n; i++) {
		struct bill_reading *r = order[i];
		if (r->outcome == RD_BILLED || r->outcome == RD_BASELINE)
			cols_add(&fresh, r, r->outcome == RD_BILLED);
		else if (r->outcome == RD_LATE)
			cols_add(&late, r, false);
	}
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	PGresult *res;
	enum db_status st = cols_insert(c, &fresh, "ingest_readings", now, &res);
	PQclear(res);
	if (st == DB_OK) {
		st = cols_insert(c, &late, "ingest_late", now, &res);
		if (st == DB_OK)
			mark_late_duplicates(order, n, res);
		PQclear(res);
	}
	cols_free(&fresh);
	cols_free(&late);
	return st;
}

enum db_status store_ingest_state(PGconn *c, const struct mb_batch *x, int64_t now_us)
{
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	struct srv_buf a[11] = {{0}}, lit = {0};
	int n = 0;
	for (int i = 0; i < x->nm; i++) {
		const struct mb_meter *m = &x->m[i];
		if (!m->touched)
			continue;
		n++;
		for (int k = 0; k < 11; k++)
			srv_buf_elem(&a[k]);
		srv_buf_i64(&a[10], m->tenant_id ? 0 : m->minor); /* charged to no tenant: a vacant meter */
		srv_buf_i64(&a[0], m->id);
		if (m->has_last) {
			srv_buf_i64(&a[1], m->last_ts);
			srv_buf_i64(&a[2], m->last_reg);
		} else {
			srv_buf_puts(&a[1], "NULL");
			srv_buf_puts(&a[2], "NULL");
		}
		srv_buf_i64(&a[3], m->carry);
		srv_buf_i64(&a[4], m->month.month);
		srv_buf_i64(&a[5], m->month.wh);
		srv_buf_i64(&a[6], m->batch_wh);
		srv_buf_i64(&a[7], m->batch_cost);
		srv_buf_i64(&a[8], m->minor);
		if (x->alarms) {
			int64_t v[BILL_ALARM_STATE_N];
			alarm_state_pack(&m->ast, v);
			srv_buf_clear(&lit);
			for (int k = 0; k < BILL_ALARM_STATE_N; k++) {
				srv_buf_elem(&lit);
				srv_buf_i64(&lit, v[k]);
			}
			srv_buf_putc(&lit, '}');
			srv_buf_pg_quoted(&a[9], lit.p);
		} else {
			srv_buf_puts(&a[9], "NULL");
		}
	}
	enum db_status st = DB_OK;
	if (n) {
		struct db_params p = {0};
		for (int i = 0; i < 9; i++)
			p_array(&p, &a[i]);
		db_p_text(&p, now);
		p_array(&p, &a[9]);
		p_array(&p, &a[10]);
		st = db_exec_void(c, "ingest_state", &p);
	}
	srv_buf_free(&lit);
	for (int i = 0; i < 11; i++)
		srv_buf_free(&a[i]);
	return st;
}

enum db_status store_ingest_rollups(PGconn *c, const struct mb_batch *x)
{
	struct srv_buf a[5] = {{0}};
	int n = 0;
	for (int i = 0; i < x->nm; i++)
		for (int k = 0; k < x->m[i].nlines; k++) {
			const struct bill_line *l = &x->m[i].lines[k];
			n++;
			for (int j = 0; j < 5; j++)
				srv_buf_elem(&a[j]);
			srv_buf_i64(&a[0], x->m[i].id);
			srv_buf_i64(&a[1], l->day);
			srv_buf_pg_quoted(&a[2], l->band);
			srv_buf_i64(&a[3], l->wh);
			srv_buf_i64(&a[4], l->cost_nano);
		}
	enum db_status st = DB_OK;
	if (n) {
		struct db_params p = {0};
		for (int i = 0; i < 5; i++)
			p_array(&p, &a[i]);
		st = db_exec_void(c, "ingest_daily", &p);
	}
	for (int i = 0; i < 5; i++)
		srv_buf_clear(&a[i]);
	n = 0;
	for (int i = 0; i < x->nm && st == DB_OK; i++)
		for (int k = 0; k < x->m[i].nhours; k++) {
			const struct mb_hour *h = &x->m[i].hours[k];
			for (int j = 0; j < 4; j++)
				srv_buf_elem(&a[j]);
			n++;
			srv_buf_i64(&a[0], x->m[i].id);
			srv_buf_i64(&a[1], h->day);
			srv_buf_i64(&a[2], h->hour);
			srv_buf_i64(&a[3], h->wh);
		}
	if (n && st == DB_OK) {
		struct db_params p = {0};
		for (int i = 0; i < 4; i++)
			p_array(&p, &a[i]);
		st = db_exec_void(c, "ingest_hourly", &p);
	}
	for (int i = 0; i < 5; i++)
		srv_buf_free(&a[i]);
	return st;
}

enum db_status store_ingest_events(PGconn *c, const struct mb_batch *b, int64_t now_us)
{
	if (!b->nev)
		return DB_OK;
	struct srv_buf m = {0}, k = {0}, d = {0};
	for (int i = 0; i < b->nev; i++) {
		srv_buf_elem(&m);
		srv_buf_i64(&m, b->ev[i].meter_id);
		srv_buf_elem(&k);
		srv_buf_puts(&k, b->ev[i].kind);
		srv_buf_elem(&d);
		srv_buf_pg_quoted(&d, b->ev[i].detail);
	}
	srv_buf_putc(&m, '}');
	srv_buf_putc(&k, '}');
	srv_buf_putc(&d, '}');
	struct db_params p = {0};
	db_p_take(&p, m.p);
	db_p_take(&p, k.p);
	db_p_take(&p, d.p);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "ingest_events", &p);
}

enum db_status store_readings_list(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, int64_t after_us,
				   int64_t limit, struct reading_row **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, meter_id);
	db_p_i64(&p, from_us);
	db_p_i64(&p, to_us);
	db_p_i64(&p, after_us);
	db_p_i64(&p, limit);
	struct reading_row x;
	struct db_col spec[] = {
		DB_COL("ts_us", DB_I64, &x.ts_us),
		DB_COL("energy_wh", DB_I64, &x.energy_wh),
		DB_COL_NULL("power_w", DB_I64, &x.power_w, &x.power_null),
		DB_COL_TEXT("voltage_v", x.values[0]),
		DB_COL_TEXT("current_a", x.values[1]),
		DB_COL_TEXT("pf", x.values[2]),
		DB_COL_TEXT("frequency_hz", x.values[3]),
		DB_COL_TEXT("thd_v_pct", x.values[4]),
		DB_COL_TEXT("thd_i_pct", x.values[5]),
		DB_COL_TEXT("relay", x.relay),
		DB_COL("billed", DB_BOOL, &x.billed),
		{0},
	};
	return db_exec_rows(c, "readings_list", &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_consumption(PGconn *c, int64_t tenant_id, const char *from, const char *to, bool by_month,
				 struct consumption_row **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	db_p_text(&p, from);
	db_p_text(&p, to);
	db_p_bool(&p, by_month);
	struct consumption_row x;
	struct db_col spec[] = {DB_COL_TEXT("period", x.period), DB_COL_TEXT("band", x.band), DB_COL("wh", DB_I64, &x.wh),
				DB_COL("cost_nano", DB_I64, &x.cost_nano), {0}};
	return db_exec_rows(c, "consumption", &p, spec, &x, sizeof x, (void **)out, n);
}
