/* ingest.c: a batch of readings -> readings rows, meter state, daily rollups, ledger
 * entries, meter events; all in the caller's transaction, in a handful of bulk statements. */
#include "ops/ingest.h"
#include "core/valid.h"
#include "ops/account.h"
#include "ops/alarm_db.h"
#include "ops/ledger.h"
#include "store/outbox.h"
#include "core/money.h"
#include "core/price.h"
#include "core/tz.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const bill_reading_opt_names[RD_OPT_N] = {
	"power_w", "voltage_v", "current_a", "pf", "frequency_hz", "thd_v_pct", "thd_i_pct", "relay"};

#define ARR_TS "('epoch'::timestamptz + t * interval '1 microsecond')"

static const struct db_stmt ingest_stmts[] = {
	{"ingest_meters", /* bill_ingest: resolve (ids, then serials) and lock, in meter id order;
			     the ids come first so the plan walks primary keys, not whole tables */
	 "WITH want AS (SELECT unnest($1::bigint[]) AS id"
	 " UNION SELECT id FROM meters WHERE cardinality($2::text[]) > 0 AND serial = ANY($2::text[]))"
	 " SELECT m.id, m.serial, m.status, coalesce(m.tenant_id, 0), coalesce(m.tariff_id, 0),"
	 " m.multiplier, coalesce(m.max_power_w, 0), coalesce(m.register_max_wh, 0), s.timezone,"
	 " s.currency, " SQL_US("st.last_ts") ", st.last_register_wh, st.carry_nano, st.month_key,"
	 " st.month_wh,"
	 " (SELECT c.relay FROM commands c WHERE c.meter_id = m.id AND c.state = 'acked'"
	 "  ORDER BY c.id DESC LIMIT 1),"
	 " EXISTS (SELECT 1 FROM commands c WHERE c.meter_id = m.id AND c.state IN ('pending', 'sent')),"
	 " (s.alarm_settings || m.alarm_settings)::text, m.site_id, coalesce(t.category, ''),"
	 " array_to_string(st.alarm_det, ',')"
	 " FROM want JOIN meter_state st ON st.meter_id = want.id JOIN meters m ON m.id = st.meter_id"
	 " JOIN sites s ON s.id = m.site_id LEFT JOIN tenants t ON t.id = m.tenant_id"
	 " ORDER BY m.id FOR UPDATE OF st"},
	{"ingest_tariffs", /* load_tariffs */
	 "SELECT tariff_id, " SQL_US("effective_from") ", kind, spec::text FROM tariff_versions"
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
	 " RETURNING meter_id, " SQL_US("ts")},
	{"ingest_state", /* bill_ingest */
	 "UPDATE meter_state st SET last_ts = " ARR_TS ", last_register_wh = x.r, carry_nano = x.c,"
	 " month_key = x.mk, month_wh = x.mw, billed_wh = st.billed_wh + x.bw,"
	 " cost_nano_total = st.cost_nano_total + x.cn, charged_minor = st.charged_minor + x.cm,"
	 " last_seen_at = greatest(st.last_seen_at, " SQL_TS("$10") "),"
	 " alarm_det = coalesce(x.ad::bigint[], st.alarm_det)"
	 " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::integer[],"
	 " $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $11::text[])"
	 " AS x(id, t, r, c, mk, mw, bw, cn, cm, ad)"
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
	{0, 0},
};

void bill_ingest_register(void) { db_register(ingest_stmts); }

static _Atomic uint64_t st_batches, st_billed, st_baselines, st_late, st_dups, st_rejected,
	st_charged;

void bill_ingest_committed(const struct bill_batch *b)
{
	atomic_fetch_add(&st_batches, 1);
	atomic_fetch_add(&st_billed, (uint64_t)b->billed);
	atomic_fetch_add(&st_baselines, (uint64_t)b->baselines);
	atomic_fetch_add(&st_late, (uint64_t)b->late);
	atomic_fetch_add(&st_dups, (uint64_t)b->duplicates);
	atomic_fetch_add(&st_rejected, (uint64_t)b->rejected);
	atomic_fetch_add(&st_charged, (uint64_t)b->charged_minor);
}

void bill_ingest_stats_get(struct bill_ingest_stats *s)
{
	s->batches = atomic_load(&st_batches);
	s->billed = atomic_load(&st_billed);
	s->baselines = atomic_load(&st_baselines);
	s->late = atomic_load(&st_late);
	s->duplicates = atomic_load(&st_dups);
	s->rejected = atomic_load(&st_rejected);
	s->charged_minor = atomic_load(&st_charged);
}

#define INGEST_REQ_IDS 8 /* request ids an entry names; more are counted */

struct meter {
	int64_t id, tenant_id, tariff_id, multiplier, max_power_w, register_max;
	char serial[72], zone[64];
	bool retired;
	char acked_relay[4]; /* the relay of the meter's last acked command, "" if none */
	bool in_flight;      /* a command is pending or sent */
	const char *relay;   /* the newest accepted reading's relay, NULL if none said */
	int64_t relay_ts;
	int64_t unit; /* nano-units per minor unit */
	/* alarms */
	int64_t site_id;
	struct alarm_cfg acfg;
	struct alarm_state ast;
	struct alarm_row *alarms; /* by kind, allocated at the first detection */
	bool cut;                      /* a malicious load was confirmed in this batch */
	/* public meters: energy by site-local (day, hour) for the energy report's heat map */
	struct hour_wh {
		int32_t day;
		int16_t hour;
		int64_t wh;
	} *hours;
	int nhours, caphours;
	bool has_last;
	int64_t last_ts, last_reg, carry;
	struct bill_month month;
	const struct bill_tariff *tariff;
	/* this batch */
	bool touched;
	int nbilled;
	int64_t first_ts, batch_wh, minor;
	int64_t batch_cost; /* nano-units; a reading that would overflow it is refused */
	const char *req_ids[INGEST_REQ_IDS]; /* the requests of the billed readings, in order */
	int nreq, more_req;
	struct bill_line *lines; /* by (day, band), for meter_daily and the ledger ref */
	int nlines, caplines;
};

struct tariff_slot {
	int64_t id;
	struct bill_tariff t;
};

struct ctx {
	struct meter *m; /* in id order */
	struct meter **by_serial;
	int nm;
	struct tariff_slot *tariffs;
	int nt;
};

static void ctx_free(struct ctx *x)
{
	for (int i = 0; i < x->nm; i++) {
		free(x->m[i].lines);
		free(x->m[i].alarms);
		free(x->m[i].hours);
	}
	for (int i = 0; i < x->nt; i++)
		free(x->tariffs[i].t.v);
	free(x->m);
	free(x->by_serial);
	free(x->tariffs);
	memset(x, 0, sizeof *x);
}

static void reject(struct bill_reading *r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reject(struct bill_reading *r, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof r->message, fmt, ap);
	va_end(ap);
	r->outcome = RD_REJECTED;
	r->code = code;
}

static int64_t meter_ref_id(const char *ref)
{
	if (strncmp(ref, "mtr_", 4))
		return 0;
	int64_t v = 0;
	for (const char *p = ref + 4; *p; p++) {
		if (*p < '0' || *p > '9' || bill_mul(v, 10, &v) || bill_add(v, *p - '0', &v))
			return 0;
	}
	return v;
}

static int cmp_serial(const void *a, const void *b)
{
	return strcmp((*(struct meter *const *)a)->serial, (*(struct meter *const *)b)->serial);
}

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

static void load_alarm_cfg(struct meter *m, const PGresult *r, int i, struct settings_memo *mo)
{
	const char *text = PQgetvalue(r, i, 17);
	if (!mo->text || strcmp(mo->text, text)) {
		memo_free(mo);
		mo->text = strdup(text);
		mo->json = json_loads(text, 0, NULL);
	}
	alarm_cfg_load(&m->acfg, mo->json, m->max_power_w, PQgetvalue(r, i, 19));
	int64_t v[BILL_ALARM_STATE_N];
	int nv = 0;
	for (const char *p = PQgetvalue(r, i, 20); *p && nv < BILL_ALARM_STATE_N; nv++) {
		char *end;
		v[nv] = strtoll(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	alarm_state_unpack(&m->ast, v, nv);
}

static enum db_status load_meters(PGconn *c, struct bill_reading *rd, int n, struct ctx *x)
{
	struct settings_memo memo = {0};
	struct srv_buf ids = {0}, serials = {0};
	srv_buf_putc(&ids, '{');
	srv_buf_putc(&serials, '{');
	for (int i = 0; i < n; i++) {
		if (rd[i].invalid)
			continue;
		int64_t id = meter_ref_id(rd[i].meter);
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
	const char *p[2] = {ids.p, serials.p};
	PGresult *r;
	enum db_status st = db_exec(c, "ingest_meters", 2, p, &r);
	srv_buf_free(&ids);
	srv_buf_free(&serials);
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	x->nm = PQntuples(r);
	x->m = calloc((size_t)x->nm + 1, sizeof *x->m);
	if (!x->m)
		abort();
	for (int i = 0; i < x->nm; i++) {
		struct meter *m = &x->m[i];
		m->id = db_int64(r, i, 0);
		snprintf(m->serial, sizeof m->serial, "%s", PQgetvalue(r, i, 1));
		m->retired = strcmp(PQgetvalue(r, i, 2), "active") != 0;
		m->tenant_id = db_int64(r, i, 3);
		m->tariff_id = db_int64(r, i, 4);
		m->multiplier = db_int64(r, i, 5);
		m->max_power_w = db_int64(r, i, 6);
		m->register_max = db_int64(r, i, 7);
		snprintf(m->zone, sizeof m->zone, "%s", PQgetvalue(r, i, 8));
		int digits = 2;
		api_valid_currency(PQgetvalue(r, i, 9), &digits);
		m->unit = bill_nano_per_minor(digits);
		m->has_last = !PQgetisnull(r, i, 10);
		m->last_ts = m->has_last ? db_int64(r, i, 10) : 0;
		m->last_reg = m->has_last ? db_int64(r, i, 11) : 0;
		m->carry = db_int64(r, i, 12);
		m->month.month = (int32_t)db_int64(r, i, 13);
		m->month.wh = db_int64(r, i, 14);
		snprintf(m->acked_relay, sizeof m->acked_relay, "%s", PQgetvalue(r, i, 15));
		m->in_flight = !strcmp(PQgetvalue(r, i, 16), "t");
		m->site_id = db_int64(r, i, 18);
		if (alarms_enabled())
			load_alarm_cfg(m, r, i, &memo);
	}
	memo_free(&memo);
	PQclear(r);
	x->by_serial = malloc(((size_t)x->nm + 1) * sizeof *x->by_serial);
	if (!x->by_serial)
		abort();
	for (int i = 0; i < x->nm; i++)
		x->by_serial[i] = &x->m[i];
	qsort(x->by_serial, (size_t)x->nm, sizeof *x->by_serial, cmp_serial);
	return DB_OK;
}

static enum db_status load_tariffs(PGconn *c, struct ctx *x)
{
	struct srv_buf ids = {0};
	for (int i = 0; i < x->nm; i++)
		if (x->m[i].tariff_id) {
			srv_buf_elem(&ids);
			srv_buf_i64(&ids, x->m[i].tariff_id);
		}
	srv_buf_puts(&ids, ids.len ? "}" : "{}");
	const char *p[1] = {ids.p};
	PGresult *r;
	enum db_status st = db_exec(c, "ingest_tariffs", 1, p, &r);
	srv_buf_free(&ids);
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	int rows = PQntuples(r);
	x->tariffs = calloc((size_t)rows + 1, sizeof *x->tariffs);
	if (!x->tariffs)
		abort();
	for (int i = 0; i < rows; i++) {
		int64_t tid = db_int64(r, i, 0);
		if (x->nt == 0 || x->tariffs[x->nt - 1].id != tid) {
			x->tariffs[x->nt].id = tid;
			x->tariffs[x->nt].t.v = calloc((size_t)rows, sizeof(struct bill_version));
			if (!x->tariffs[x->nt].t.v)
				abort();
			x->nt++;
		}
		struct bill_tariff *t = &x->tariffs[x->nt - 1].t;
		json_t *spec = json_loads(PQgetvalue(r, i, 3), 0, NULL);
		if (spec && bill_version_parse(PQgetvalue(r, i, 2), spec, db_int64(r, i, 1), &t->v[t->n]) == 0)
			t->n++;
		else
			srv_log(LOG_ERROR, "ingest: tariff trf_%lld has a version that does not parse",
				(long long)tid);
		json_decref(spec);
	}
	PQclear(r);
	for (int i = 0; i < x->nm; i++)
		for (int k = 0; k < x->nt; k++)
			if (x->tariffs[k].id == x->m[i].tariff_id)
				x->m[i].tariff = &x->tariffs[k].t;
	return DB_OK;
}

/* Meters are loaded in id order: ids by binary search, serials through x->by_serial. */
static struct meter *find_meter(struct ctx *x, const char *ref)
{
	int64_t id = meter_ref_id(ref);
	if (id) {
		int lo = 0, hi = x->nm;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (x->m[mid].id == id)
				return &x->m[mid];
			if (x->m[mid].id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		return NULL;
	}
	struct meter key, *kp = &key, **hit;
	snprintf(key.serial, sizeof key.serial, "%s", ref);
	hit = bsearch(&kp, x->by_serial, (size_t)x->nm, sizeof *x->by_serial, cmp_serial);
	return hit ? *hit : NULL;
}

static void add_lines(struct meter *m, const struct bill_line *l, int n)
{
	for (int i = 0; i < n; i++) {
		int k = 0;
		while (k < m->nlines && (m->lines[k].day != l[i].day || strcmp(m->lines[k].band, l[i].band)))
			k++;
		if (k == m->nlines) {
			if (m->nlines == m->caplines) {
				m->caplines = m->caplines ? m->caplines * 2 : 8;
				m->lines = realloc(m->lines, (size_t)m->caplines * sizeof *m->lines);
				if (!m->lines)
					abort();
			}
			m->lines[m->nlines] = l[i];
			m->lines[m->nlines].wh = 0;
			m->lines[m->nlines].cost_nano = 0;
			m->nlines++;
		}
		m->lines[k].wh += l[i].wh;
		m->lines[k].cost_nano += l[i].cost_nano;
	}
}

/* ---- alarms ---- */

static void note_alarm(struct meter *m, const struct alarm_hit *h, int64_t ts_us)
{
	if (!alarms_enabled())
		return;
	if (!m->alarms && !(m->alarms = calloc(AK__COUNT, sizeof *m->alarms)))
		abort();
	alarm_row_add(&m->alarms[h->kind], h, ts_us);
}

/* Run the detector on an accepted reading (in time order per meter). */
static void detect(struct meter *m, const struct bill_reading *r)
{
	struct alarm_reading ar;
	alarm_reading_from_text(&ar, r->ts_us, r->opt[0], r->opt[1], r->opt[2], r->opt[3], r->opt[5], r->opt[6]);
	/* Site-local time is needed only to judge a step against the site's hours: look it up
	 * only for a reading that steps up far enough (a zone lookup per reading is not free). */
	int32_t off;
	bool step = ar.has_power && m->ast.last_power_w != INT64_MIN &&
		    ar.power_w - m->ast.last_power_w >= m->acfg.step_w;
	if (m->acfg.mal_from_min >= 0 && step && bill_tz_offset(m->zone, r->ts_us, &off) == 0) {
		int64_t local_s = r->ts_us / 1000000 + off;
		ar.local_min = (int)(((local_s % 86400) + 86400) % 86400 / 60);
	}
	struct alarm_hit h[AK__COUNT];
	bool cut;
	int n = alarm_feed(&m->acfg, &m->ast, &ar, h, &cut);
	for (int i = 0; i < n; i++)
		note_alarm(m, &h[i], r->ts_us);
	m->cut |= cut;
}

/* Open or refresh the batch's alarms, then cut where a malicious load was confirmed. */
static enum db_status write_alarms(PGconn *c, struct ctx *x, int64_t now_us)
{
	struct alarm_row *rows = NULL;
	int64_t *cut = NULL;
	int n = 0, cap = 0, ncut = 0;
	for (int i = 0; i < x->nm; i++) {
		struct meter *m = &x->m[i];
		for (int k = 0; m->alarms && k < AK__COUNT; k++) {
			if (!m->alarms[k].count)
				continue;
			if (n == cap && !(rows = realloc(rows, (size_t)(cap = cap ? cap * 2 : 16) * sizeof *rows)))
				abort();
			rows[n] = m->alarms[k];
			rows[n].meter_id = m->id;
			rows[n].site_id = m->site_id;
			rows[n].tenant_id = m->tenant_id;
			rows[n].clear_s = m->acfg.clear_us / 1000000;
			n++;
		}
		if (m->cut) {
			if (!(cut = realloc(cut, (size_t)(ncut + 1) * sizeof *cut)))
				abort();
			cut[ncut++] = m->id;
		}
	}
	int opened = 0, cuts = 0;
	enum db_status st = alarms_upsert(c, rows, n, now_us, &opened);
	if (st == DB_OK)
		st = alarms_autocut(c, cut, ncut, now_us, &cuts);
	if (st == DB_OK && opened)
		srv_log(LOG_WARN, "alarms: %d opened", opened);
	if (st == DB_OK && cuts)
		srv_log(LOG_WARN, "alarms: %d meters cut for a confirmed malicious load", cuts);
	free(rows);
	free(cut);
	return st;
}

/* A public meter's interval, counted in the site-local hour in which it ends (readings
 * come every 15 minutes or so: an interval rarely spans an hour; the heat map needs no
 * finer truth). */
static void add_hour(struct meter *m, int64_t end_us, int64_t wh)
{
	int32_t off = 0;
	bill_tz_offset(m->zone, end_us - 1, &off);
	int64_t local_s = (end_us - 1) / 1000000 + off;
	int32_t day = (int32_t)(local_s >= 0 ? local_s / 86400 : (local_s - 86399) / 86400);
	int16_t hour = (int16_t)((local_s - (int64_t)day * 86400) / 3600);
	for (int i = 0; i < m->nhours; i++)
		if (m->hours[i].day == day && m->hours[i].hour == hour) {
			m->hours[i].wh += wh;
			return;
		}
	if (m->nhours == m->caphours) {
		m->caphours = m->caphours ? m->caphours * 2 : 8;
		if (!(m->hours = realloc(m->hours, (size_t)m->caphours * sizeof *m->hours)))
			abort();
	}
	m->hours[m->nhours++] = (struct hour_wh){day, hour, wh};
}

/* Decide one reading that is newer than the meter's baseline: bill it or refuse it. */
/* Remember that a request's reading is billed on m (pointer identity: one request, one id). */
static void note_request(struct meter *m, const char *id)
{
	if (!id)
		return;
	for (int i = 0; i < m->nreq; i++)
		if (m->req_ids[i] == id)
			return;
	if (m->nreq < INGEST_REQ_IDS)
		m->req_ids[m->nreq++] = id;
	else
		m->more_req++; /* may count one request twice; only a count of what is not named */
}

/* The request ids of m's charge, comma-separated ("+N more" past INGEST_REQ_IDS), or NULL
 * when the readings named none. New: caller frees. */
static char *charge_requests(const struct meter *m)
{
	if (!m->nreq)
		return NULL;
	struct srv_buf b = {0};
	for (int i = 0; i < m->nreq; i++) {
		if (i)
			srv_buf_putc(&b, ',');
		srv_buf_puts(&b, m->req_ids[i]);
	}
	if (m->more_req)
		srv_buf_printf(&b, ",+%d more", m->more_req);
	return b.p;
}

static void bill_one(struct meter *m, struct bill_reading *r, struct bill_line *scratch,
		     struct srv_buf *events)
{
	int64_t dreg = r->energy_wh - m->last_reg;
	if (dreg < 0 && m->register_max && r->energy_wh < m->register_max && m->last_reg < m->register_max)
		dreg = m->register_max - m->last_reg + r->energy_wh; /* the register wrapped */
	int64_t dt = r->ts_us - m->last_ts, wh;
	if (dreg < 0) {
		reject(r, "energy_regressed", "energy_wh %lld is below the last billed %lld",
		       (long long)r->energy_wh, (long long)m->last_reg);
		srv_buf_printf(events, "%lld\t%s\t{\"index\":%d,\"energy_wh\":%lld,\"last_wh\":%lld,\"ts_us\":%lld}\n",
			       (long long)m->id, "energy_regressed", r->index, (long long)r->energy_wh,
			       (long long)m->last_reg, (long long)r->ts_us);
		char detail[120];
		snprintf(detail, sizeof detail, "{\"energy_wh\":%lld,\"last_wh\":%lld}", (long long)r->energy_wh,
			 (long long)m->last_reg);
		struct alarm_hit h;
		alarm_event_hit(&h, AK_ENERGY_REGRESSED, true, m->last_reg - r->energy_wh, detail);
		note_alarm(m, &h, r->ts_us);
		return;
	}
	if (bill_mul(dreg, m->multiplier, &wh)) {
		reject(r, "implausible_delta", "the energy step overflows");
		return;
	}
	/* At most max_power_w for dt, plus one Wh of register resolution. */
	if (m->max_power_w &&
	    (__int128)wh * 3600000000 > (__int128)m->max_power_w * dt + 3600000000) {
		reject(r, "implausible_delta", "%lld Wh in %lld s is more than %lld W can draw",
		       (long long)wh, (long long)(dt / 1000000), (long long)m->max_power_w);
		srv_buf_printf(events, "%lld\t%s\t{\"index\":%d,\"wh\":%lld,\"seconds\":%lld,\"max_power_w\":%lld}\n",
			       (long long)m->id, "implausible_delta", r->index, (long long)wh,
			       (long long)(dt / 1000000), (long long)m->max_power_w);
		return;
	}
	if (!m->tariff) {
		reject(r, "no_tariff", "meter %s has no tariff; assign one and send the reading again",
		       m->serial);
		return;
	}
	struct bill_tzseg segs[BILL_TZ_MAX_SEGS];
	int ns = bill_tz_segments(m->zone, m->last_ts, r->ts_us, segs, BILL_TZ_MAX_SEGS);
	int nl = 0;
	int64_t cost = 0;
	struct bill_month month = m->month;
	enum bill_price_result pr = ns < 1 ? PRICE_TOO_LONG
					   : bill_price(m->tariff, segs, ns, m->last_ts, r->ts_us, wh,
							&month, scratch, BILL_MAX_LINES, &nl, &cost);
	switch (pr) {
	case PRICE_OK:
		break;
	case PRICE_NO_TARIFF:
		reject(r, "no_tariff", "no version of the meter's tariff is in force for the whole interval");
		return;
	case PRICE_TOO_LONG:
		reject(r, "interval_too_long", "the interval since the last billed reading is too long to price");
		return;
	default:
		reject(r, "implausible_delta", "the cost of this interval overflows");
		return;
	}
	int64_t batch_cost;
	if (bill_add(m->batch_cost, cost, &batch_cost)) {
		reject(r, "implausible_delta", "the cost of this batch's readings of the meter overflows");
		return;
	}
	add_lines(m, scratch, nl);
	m->month = month;
	m->batch_cost = batch_cost;
	note_request(m, r->request_id);
	m->batch_wh += wh;
	if (m->nbilled++ == 0)
		m->first_ts = m->last_ts;
	m->last_ts = r->ts_us;
	m->last_reg = r->energy_wh;
	r->outcome = RD_BILLED;
	if (!m->tenant_id)
		add_hour(m, r->ts_us, wh);
}

static int by_meter_ts(const void *a, const void *b)
{
	const struct bill_reading *x = *(const struct bill_reading *const *)a;
	const struct bill_reading *y = *(const struct bill_reading *const *)b;
	if (x->meter_id != y->meter_id)
		return x->meter_id < y->meter_id ? -1 : 1;
	if (x->ts_us != y->ts_us)
		return x->ts_us < y->ts_us ? -1 : 1;
	return x->index - y->index;
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

/* Insert the rows of k. With RETURNING, *res keeps the result (caller PQclear()s). */
static enum db_status cols_insert(PGconn *c, struct cols *k, const char *stmt, const char *now,
				  PGresult **res)
{
	*res = NULL;
	if (!k->n)
		return DB_OK;
	const char *p[13];
	for (int i = 0; i < 12; i++) {
		srv_buf_putc(&k->a[i], '}');
		p[i] = k->a[i].p;
	}
	/* An optional value no reading carries is sent as a NULL array: unnest pads it with
	 * NULLs, and the database parses nothing for it. */
	for (int i = 0; i < RD_OPT_N; i++)
		if (!k->has[i])
			p[3 + i] = NULL;
	p[12] = now;
	return db_exec(c, stmt, 13, p, res);
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
static void mark_late_duplicates(struct bill_reading *rd, int n, PGresult *inserted)
{
	int k = inserted ? PQntuples(inserted) : 0;
	struct key *keys = malloc(((size_t)k + 1) * sizeof *keys);
	if (!keys)
		abort();
	for (int i = 0; i < k; i++)
		keys[i] = (struct key){db_int64(inserted, i, 0), db_int64(inserted, i, 1)};
	qsort(keys, (size_t)k, sizeof *keys, by_key);
	for (int i = 0; i < n; i++) {
		struct key want = {rd[i].meter_id, rd[i].ts_us};
		if (rd[i].outcome == RD_LATE && !bsearch(&want, keys, (size_t)k, sizeof *keys, by_key))
			rd[i].outcome = RD_DUPLICATE;
	}
	free(keys);
}

static void cols_free(struct cols *k)
{
	for (int i = 0; i < 12; i++)
		srv_buf_free(&k->a[i]);
}

/* The ref of a meter's energy_charge, written as text (hundreds per batch):
 * {"meter_id","serial","readings":{"from","to","count"},"wh","wh_by_band":{band: wh}},
 * bands in the order they first appear. Returns malloc'd text. */
static char *charge_ref(const struct meter *m)
{
	struct srv_buf b = {0};
	char t[40];
	PUT_LIT(&b, "{\"meter_id\":\"mtr_");
	srv_buf_i64(&b, m->id);
	PUT_LIT(&b, "\",\"serial\":");
	srv_buf_json_str(&b, m->serial);
	PUT_LIT(&b, ",\"readings\":{\"from\":\"");
	srv_buf_puts(&b, srv_time_format(m->first_ts, t, sizeof t));
	PUT_LIT(&b, "\",\"to\":\"");
	srv_buf_puts(&b, srv_time_format(m->last_ts, t, sizeof t));
	PUT_LIT(&b, "\",\"count\":");
	srv_buf_i64(&b, m->nbilled);
	PUT_LIT(&b, "},\"wh\":");
	srv_buf_i64(&b, m->batch_wh);
	PUT_LIT(&b, ",\"wh_by_band\":{");
	for (int k = 0; k < m->nlines; k++) {
		int first = 1;
		for (int j = 0; j < k && first; j++)
			first = strcmp(m->lines[j].band, m->lines[k].band) != 0;
		if (!first)
			continue; /* summed where the band first appeared */
		int64_t wh = 0;
		for (int j = k; j < m->nlines; j++)
			if (!strcmp(m->lines[j].band, m->lines[k].band))
				wh += m->lines[j].wh;
		if (b.p[b.len - 1] != '{')
			srv_buf_putc(&b, ',');
		srv_buf_json_str(&b, m->lines[k].band);
		srv_buf_putc(&b, ':');
		srv_buf_i64(&b, wh);
	}
	PUT_LIT(&b, "}}");
	return b.p;
}

/* Post one energy_charge per meter with whole minor units to charge, accounts locked in
 * id order, balances chained in that order. */
static enum db_status post_charges(PGconn *c, struct ctx *x, int64_t now_us, const char *request_id,
				   struct bill_batch *out)
{
	/* One energy_charge entry per charged meter, all posted at once by the ledger (accounts
	 * locked in id order, the state machine once per account on its final balance). */
	struct bill_posting *p = calloc((size_t)x->nm + 1, sizeof *p);
	char **refs = calloc((size_t)x->nm + 1, sizeof *refs);
	char **rqs = calloc((size_t)x->nm + 1, sizeof *rqs);
	if (!p || !refs || !rqs)
		abort();
	int n = 0;
	for (int i = 0; i < x->nm; i++) {
		struct meter *m = &x->m[i];
		if (m->minor <= 0 || !m->tenant_id)
			continue;
		refs[n] = charge_ref(m);
		rqs[n] = charge_requests(m);
		p[n] = (struct bill_posting){m->tenant_id, -m->minor, refs[n], rqs[n]};
		out->charged_minor += m->minor;
		n++;
	}
	int missing = 0;
	enum db_status st = bill_post_many(c, p, n, "energy_charge", request_id, now_us, now_us, &missing);
	if (st == DB_OK && missing < 0) {
		srv_log(LOG_ERROR, "ingest: an account's balance would overflow; the batch is refused");
		st = DB_HARD;
	} else if (st == DB_OK && missing) {
		srv_log(LOG_ERROR, "ingest: %d charged meters belong to tenants without an account", missing);
	}
	for (int i = 0; i < n; i++) {
		free(refs[i]);
		free(rqs[i]);
	}
	free(refs);
	free(rqs);
	free(p);
	return st;
}

static enum db_status write_state(PGconn *c, struct ctx *x, const char *now)
{
	struct srv_buf a[10] = {{0}}, lit = {0};
	int n = 0;
	for (int i = 0; i < x->nm; i++) {
		struct meter *m = &x->m[i];
		if (!m->touched)
			continue;
		n++;
		m->minor = bill_carry(&m->carry, m->batch_cost, m->unit);
		for (int k = 0; k < 10; k++)
			srv_buf_elem(&a[k]);
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
		if (alarms_enabled()) {
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
		const char *p[11];
		for (int i = 0; i < 10; i++) {
			srv_buf_putc(&a[i], '}');
			p[i < 9 ? i : 10] = a[i].p;
		}
		p[9] = now;
		PGresult *r;
		st = db_exec(c, "ingest_state", 11, p, &r);
		PQclear(r);
	}
	srv_buf_free(&lit);
	for (int i = 0; i < 10; i++)
		srv_buf_free(&a[i]);
	return st;
}

static enum db_status write_daily(PGconn *c, struct ctx *x)
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
		const char *p[5];
		for (int i = 0; i < 5; i++) {
			srv_buf_putc(&a[i], '}');
			p[i] = a[i].p;
		}
		PGresult *r;
		st = db_exec(c, "ingest_daily", 5, p, &r);
		PQclear(r);
	}
	for (int i = 0; i < 5; i++)
		srv_buf_clear(&a[i]);
	n = 0;
	for (int i = 0; i < x->nm && st == DB_OK; i++)
		for (int k = 0; k < x->m[i].nhours; k++) {
			const struct hour_wh *h = &x->m[i].hours[k];
			for (int j = 0; j < 4; j++)
				srv_buf_elem(&a[j]);
			n++;
			srv_buf_i64(&a[0], x->m[i].id);
			srv_buf_i64(&a[1], h->day);
			srv_buf_i64(&a[2], h->hour);
			srv_buf_i64(&a[3], h->wh);
		}
	if (n && st == DB_OK) {
		const char *p[4];
		for (int i = 0; i < 4; i++) {
			srv_buf_putc(&a[i], '}');
			p[i] = a[i].p;
		}
		PGresult *r;
		st = db_exec(c, "ingest_hourly", 4, p, &r);
		PQclear(r);
	}
	for (int i = 0; i < 5; i++)
		srv_buf_free(&a[i]);
	return st;
}

/* A meter whose newest reading shows a relay other than its last acked command says,
 * with no command on its way: an event for the alarms, and the command again. */
static enum db_status relay_check(PGconn *c, struct ctx *x, struct srv_buf *events, int64_t now_us)
{
	struct cmd_order *orders = calloc((size_t)x->nm + 1, sizeof *orders);
	if (!orders)
		abort();
	int n = 0;
	for (int i = 0; i < x->nm; i++) {
		struct meter *m = &x->m[i];
		if (!m->relay || !m->acked_relay[0] || m->in_flight || !strcmp(m->relay, m->acked_relay))
			continue;
		srv_buf_printf(events, "%lld\t%s\t{\"relay\":\"%s\",\"acked_relay\":\"%s\",\"ts_us\":%lld}\n",
			       (long long)m->id, "relay_mismatch", m->relay, m->acked_relay,
			       (long long)m->relay_ts);
		char detail[80];
		snprintf(detail, sizeof detail, "{\"relay\":\"%s\",\"acked_relay\":\"%s\"}", m->relay, m->acked_relay);
		struct alarm_hit h;
		alarm_event_hit(&h, AK_RELAY_MISMATCH, false, 0, detail);
		note_alarm(m, &h, m->relay_ts);
		/* The acknowledged command again: what was decided stands, protected or not. */
		orders[n++] = (struct cmd_order){m->id, m->tenant_id, strcmp(m->acked_relay, "off") ? "restore" : "cut_off",
						 "relay_mismatch", "auto", 0, false};
	}
	enum db_status st = store_commands_queue(c, orders, n, now_us, NULL, NULL);
	free(orders);
	return st;
}

static enum db_status write_events(PGconn *c, struct srv_buf *ev, const char *now)
{
	if (!ev->len)
		return DB_OK;
	struct srv_buf m = {0}, k = {0}, d = {0};
	char *save = NULL;
	for (char *line = strtok_r(ev->p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2)
			continue;
		*t1 = *t2 = 0;
		srv_buf_elem(&m);
		srv_buf_puts(&m, line);
		srv_buf_elem(&k);
		srv_buf_puts(&k, t1 + 1);
		srv_buf_elem(&d);
		srv_buf_pg_quoted(&d, t2 + 1);
	}
	if (!m.len) {
		srv_buf_free(&m);
		return DB_OK;
	}
	srv_buf_putc(&m, '}');
	srv_buf_putc(&k, '}');
	srv_buf_putc(&d, '}');
	const char *p[4] = {m.p, k.p, d.p, now};
	PGresult *r;
	enum db_status st = db_exec(c, "ingest_events", 4, p, &r);
	PQclear(r);
	srv_buf_free(&m);
	srv_buf_free(&k);
	srv_buf_free(&d);
	return st;
}

enum db_status bill_ingest(PGconn *c, struct bill_reading *rd, int n, int64_t now_us,
			   const char *request_id, struct bill_batch *out)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < n; i++)
		if (!rd[i].invalid) {
			rd[i].outcome = RD_PENDING;
			rd[i].meter_id = 0;
		}
	struct ctx x = {0};
	struct srv_buf events = {0};
	struct cols fresh = {0}, late = {0};
	struct bill_reading **order = calloc((size_t)n + 1, sizeof *order);
	struct bill_line *scratch = malloc(BILL_MAX_LINES * sizeof *scratch);
	if (!order || !scratch)
		abort();
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)now_us);

	enum db_status st = load_meters(c, rd, n, &x);
	if (st == DB_OK)
		st = load_tariffs(c, &x);
	if (st != DB_OK)
		goto out;

	int no = 0;
	for (int i = 0; i < n; i++) {
		if (rd[i].invalid)
			continue;
		struct meter *m = find_meter(&x, rd[i].meter);
		if (!m)
			reject(&rd[i], "unknown_meter", "no meter %s", rd[i].meter);
		else if (m->retired)
			reject(&rd[i], "meter_retired", "meter %s is retired", m->serial);
		else if (m->register_max && rd[i].energy_wh >= m->register_max)
			reject(&rd[i], "invalid_reading", "energy_wh is beyond the register's maximum %lld",
			       (long long)m->register_max);
		else {
			rd[i].meter_id = m->id;
			order[no++] = &rd[i];
		}
	}
	qsort(order, (size_t)no, sizeof *order, by_meter_ts);
	struct meter *m = NULL;
	for (int i = 0; i < no; i++) {
		struct bill_reading *r = order[i];
		if (!m || m->id != r->meter_id)
			m = find_meter(&x, r->meter);
		m->touched = true;
		if (i > 0 && order[i - 1]->meter_id == r->meter_id && order[i - 1]->ts_us == r->ts_us) {
			r->outcome = RD_DUPLICATE; /* twice in this batch */
		} else if (!m->has_last) {
			m->has_last = true;
			m->last_ts = r->ts_us;
			m->last_reg = r->energy_wh;
			r->outcome = RD_BASELINE;
		} else if (r->ts_us <= m->last_ts) {
			r->outcome = RD_LATE;
		} else {
			bill_one(m, r, scratch, &events);
		}
		if (r->outcome == RD_BILLED || r->outcome == RD_BASELINE) {
			cols_add(&fresh, r, r->outcome == RD_BILLED);
			if (alarms_enabled())
				detect(m, r);
			if (r->opt[RD_OPT_N - 1][0] && r->ts_us >= m->relay_ts) {
				m->relay = r->opt[RD_OPT_N - 1];
				m->relay_ts = r->ts_us;
			}
		}
		else if (r->outcome == RD_LATE)
			cols_add(&late, r, false);
	}

	PGresult *res;
	st = cols_insert(c, &fresh, "ingest_readings", now, &res);
	PQclear(res);
	if (st == DB_UNIQUE) {
		/* A reading newer than the baseline is already stored: the state is inconsistent;
		 * billing it again would charge twice. Refuse the batch loudly. */
		srv_log(LOG_ERROR, "ingest: a reading newer than its meter's baseline is already stored");
		st = DB_HARD;
	}
	if (st == DB_OK) {
		st = cols_insert(c, &late, "ingest_late", now, &res);
		if (st == DB_OK)
			mark_late_duplicates(rd, n, res);
		PQclear(res);
	}
	if (st != DB_OK)
		goto out;
	if ((st = write_state(c, &x, now)) != DB_OK || (st = write_daily(c, &x)) != DB_OK ||
	    (st = relay_check(c, &x, &events, now_us)) != DB_OK ||
	    (st = post_charges(c, &x, now_us, request_id, out)) != DB_OK ||
	    (st = write_events(c, &events, now)) != DB_OK ||
	    (st = write_alarms(c, &x, now_us)) != DB_OK)
		goto out;

	for (int i = 0; i < n; i++) {
		switch (rd[i].outcome) {
		case RD_BILLED:
			out->billed++;
			out->accepted++;
			break;
		case RD_BASELINE:
			out->baselines++;
			out->accepted++;
			break;
		case RD_LATE:
			out->late++;
			out->accepted++;
			break;
		case RD_DUPLICATE:
			out->duplicates++;
			break;
		default:
			if (rd[i].outcome != RD_REJECTED)
				reject(&rd[i], "internal", "not decided");
			out->rejected++;
		}
	}
out:
	free(order);
	free(scratch);
	srv_buf_free(&events);
	cols_free(&fresh);
	cols_free(&late);
	ctx_free(&x);
	return st;
}
