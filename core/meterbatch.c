/* meterbatch.c: the per-batch meter decisions of ingest (meterbatch.h). No I/O: the batch's
 * meters arrive loaded and leave decided. */
#include "core/meterbatch.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/money.h"
#include "core/tz.h"
#include "core/valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const bill_reading_opt_names[RD_OPT_N] = {
	"power_w", "voltage_v", "current_a", "pf", "frequency_hz", "thd_v_pct", "thd_i_pct", "relay"};

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

int64_t mb_meter_ref_id(const char *ref)
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
	return strcmp((*(struct mb_meter *const *)a)->serial, (*(struct mb_meter *const *)b)->serial);
}

void mb_index(struct mb_batch *b)
{
	b->by_serial = malloc(((size_t)b->nm + 1) * sizeof *b->by_serial);
	if (!b->by_serial)
		abort();
	for (int i = 0; i < b->nm; i++)
		b->by_serial[i] = &b->m[i];
	qsort(b->by_serial, (size_t)b->nm, sizeof *b->by_serial, cmp_serial);
	for (int i = 0; i < b->nm; i++)
		for (int k = 0; k < b->nt; k++)
			if (b->tariffs[k].id == b->m[i].tariff_id)
				b->m[i].tariff = &b->tariffs[k].t;
}

/* An event for meter m; detail is printf-formatted JSON. */
static void event(struct mb_batch *b, const struct mb_meter *m, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void event(struct mb_batch *b, const struct mb_meter *m, const char *kind, const char *fmt, ...)
{
	if (b->nev == b->capev) {
		b->capev = b->capev ? 2 * b->capev : 16;
		if (!(b->ev = realloc(b->ev, (size_t)b->capev * sizeof *b->ev)))
			abort();
	}
	struct mb_event *e = &b->ev[b->nev++];
	e->meter_id = m->id;
	e->kind = kind;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof e->detail, fmt, ap);
	va_end(ap);
}

/* Meters are loaded in id order: ids by binary search, serials through x->by_serial. */
struct mb_meter *mb_find(struct mb_batch *x, const char *ref)
{
	int64_t id = mb_meter_ref_id(ref);
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
	struct mb_meter key, *kp = &key, **hit;
	snprintf(key.serial, sizeof key.serial, "%s", ref);
	hit = bsearch(&kp, x->by_serial, (size_t)x->nm, sizeof *x->by_serial, cmp_serial);
	return hit ? *hit : NULL;
}

static void add_lines(struct mb_meter *m, const struct bill_line *l, int n)
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

static void note_alarm(const struct mb_batch *b, struct mb_meter *m, const struct alarm_hit *h, int64_t ts_us)
{
	if (!b->alarms)
		return;
	if (!m->alarms && !(m->alarms = calloc(AK__COUNT, sizeof *m->alarms)))
		abort();
	alarm_row_add(&m->alarms[h->kind], h, ts_us);
}

/* Run the detector on an accepted reading (in time order per meter). */
static void detect(const struct mb_batch *b, struct mb_meter *m, const struct bill_reading *r)
{
	struct alarm_reading ar;
	alarm_reading_from_text(&ar, r->ts_us, r->opt[0], r->opt[1], r->opt[2], r->opt[3], r->opt[5], r->opt[6]);
	ar.harm = r->harm;
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
		note_alarm(b, m, &h[i], r->ts_us);
	m->cut |= cut;
}

/* A public meter's interval, counted in the site-local hour in which it ends (readings
 * come every 15 minutes or so: an interval rarely spans an hour; the heat map needs no
 * finer truth). */
static void add_hour(struct mb_meter *m, int64_t end_us, int64_t wh)
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
	m->hours[m->nhours++] = (struct mb_hour){day, hour, wh};
}

/* Remember that a request's reading is billed on m (pointer identity: one request, one id). */
static void note_request(struct mb_meter *m, const char *id)
{
	if (!id)
		return;
	for (int i = 0; i < m->nreq; i++)
		if (m->req_ids[i] == id)
			return;
	if (m->nreq < MB_REQ_IDS)
		m->req_ids[m->nreq++] = id;
	else
		m->more_req++; /* may count one request twice; only a count of what is not named */
}

/* The request ids of m's charge, comma-separated ("+N more" past MB_REQ_IDS), or NULL
 * when the readings named none. New: caller frees. */
char *mb_charge_requests(const struct mb_meter *m)
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

static void bill_one(struct mb_batch *b, struct mb_meter *m, struct bill_reading *r, struct bill_line *scratch)
{
	int64_t dreg = r->energy_wh - m->last_reg;
	if (dreg < 0 && m->register_max && r->energy_wh < m->register_max && m->last_reg < m->register_max)
		dreg = m->register_max - m->last_reg + r->energy_wh; /* the register wrapped */
	int64_t dt = r->ts_us - m->last_ts, wh;
	if (dreg < 0) {
		reject(r, "energy_regressed", "energy_wh %lld is below the last billed %lld",
		       (long long)r->energy_wh, (long long)m->last_reg);
		event(b, m, "energy_regressed", "{\"index\":%d,\"energy_wh\":%lld,\"last_wh\":%lld,\"ts_us\":%lld}",
		      r->index, (long long)r->energy_wh, (long long)m->last_reg, (long long)r->ts_us);
		char detail[120];
		snprintf(detail, sizeof detail, "{\"energy_wh\":%lld,\"last_wh\":%lld}", (long long)r->energy_wh,
			 (long long)m->last_reg);
		struct alarm_hit h;
		alarm_event_hit(&h, AK_ENERGY_REGRESSED, true, m->last_reg - r->energy_wh, detail);
		note_alarm(b, m, &h, r->ts_us);
		return;
	}
	if (bill_mul(dreg, m->multiplier, &wh)) {
		reject(r, "implausible_delta", "the energy step overflows");
		return;
	}
	/* At most the plausible draw for dt, plus one Wh of register resolution. */
	int64_t bound = m->max_plausible_w ? m->max_plausible_w : m->max_power_w * MB_PLAUSIBLE_FACTOR;
	if (bound > 0 && (__int128)wh * 3600000000 > (__int128)bound * dt + 3600000000) {
		reject(r, "implausible_delta", "%lld Wh in %lld s is more than %lld W can physically draw",
		       (long long)wh, (long long)(dt / 1000000), (long long)bound);
		event(b, m, "implausible_delta",
		      "{\"index\":%d,\"wh\":%lld,\"seconds\":%lld,\"max_plausible_power_w\":%lld}", r->index,
		      (long long)wh, (long long)(dt / 1000000), (long long)bound);
		/* refused, not forgotten: a person looks at the meter (its register or its wiring) */
		char detail[160];
		snprintf(detail, sizeof detail, "{\"wh\":%lld,\"seconds\":%lld,\"max_plausible_power_w\":%lld}",
			 (long long)wh, (long long)(dt / 1000000), (long long)bound);
		struct alarm_hit h;
		__int128 w = dt > 0 ? (__int128)wh * 3600000000 / dt : 0;
		alarm_event_hit(&h, AK_ENERGY_IMPLAUSIBLE, dt > 0, w > INT64_MAX ? INT64_MAX : (int64_t)w, detail);
		note_alarm(b, m, &h, r->ts_us);
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

bool mb_in_scope(const struct mb_meter *m, const struct bill_reading *r)
{
	if (r->scope_gateway)
		return m->gateway_id == r->scope_gateway;
	return !r->scope_site || m->site_id == r->scope_site;
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

int mb_decide(struct mb_batch *b, struct bill_reading *rd, int n, struct bill_reading **order)
{
	b->nharm = 0;
	for (int i = 0; i < n; i++)
		if (!rd[i].invalid) {
			rd[i].outcome = RD_PENDING;
			rd[i].meter_id = 0;
			b->nharm += rd[i].harm != NULL;
		}
	struct bill_line *scratch = malloc(BILL_MAX_LINES * sizeof *scratch);
	if (!scratch)
		abort();
	int no = 0;
	for (int i = 0; i < n; i++) {
		if (rd[i].invalid)
			continue;
		struct mb_meter *m = mb_find(b, rd[i].meter);
		if (!m)
			reject(&rd[i], "unknown_meter", "no meter %s", rd[i].meter);
		else if (!mb_in_scope(m, &rd[i]))
			reject(&rd[i], "forbidden_meter", "meter %s is not one of this gateway key's meters", rd[i].meter);
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
	struct mb_meter *m = NULL;
	for (int i = 0; i < no; i++) {
		struct bill_reading *r = order[i];
		if (!m || m->id != r->meter_id)
			m = mb_find(b, r->meter);
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
			bill_one(b, m, r, scratch);
		}
		if (r->outcome == RD_BILLED || r->outcome == RD_BASELINE) {
			if (b->alarms)
				detect(b, m, r);
			if (r->opt[RD_OPT_N - 1][0] && r->ts_us >= m->relay_ts) {
				m->relay = r->opt[RD_OPT_N - 1];
				m->relay_ts = r->ts_us;
			}
		}
	}

	free(scratch);
	return no;
}

void mb_carry(struct mb_batch *b)
{
	for (int i = 0; i < b->nm; i++) {
		struct mb_meter *m = &b->m[i];
		if (m->touched)
			m->minor = bill_carry(&m->carry, m->batch_cost, m->unit);
	}
}

void mb_relay_check(struct mb_batch *b)
{
	for (int i = 0; i < b->nm; i++) {
		struct mb_meter *m = &b->m[i];
		m->resend = NULL;
		if (!m->relay || !m->acked_relay[0] || m->in_flight || !strcmp(m->relay, m->acked_relay))
			continue;
		event(b, m, "relay_mismatch", "{\"relay\":\"%s\",\"acked_relay\":\"%s\",\"ts_us\":%lld}", m->relay,
		      m->acked_relay, (long long)m->relay_ts);
		char detail[80];
		snprintf(detail, sizeof detail, "{\"relay\":\"%s\",\"acked_relay\":\"%s\"}", m->relay, m->acked_relay);
		struct alarm_hit h;
		alarm_event_hit(&h, AK_RELAY_MISMATCH, false, 0, detail);
		note_alarm(b, m, &h, m->relay_ts);
		/* the acknowledged command again: what was decided stands */
		m->resend = strcmp(m->acked_relay, "off") ? "restore" : "cut_off";
	}
}

/* The ref of a meter's energy_charge, written as text (hundreds per batch):
 * {"meter_id","serial","readings":{"from","to","count"},"wh","wh_by_band":{band: wh}},
 * bands in the order they first appear. Returns malloc'd text. */
char *mb_charge_ref(const struct mb_meter *m)
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

void mb_count(struct bill_reading *rd, int n, struct bill_batch *out)
{
	int64_t charged = out->charged_minor;
	memset(out, 0, sizeof *out);
	out->charged_minor = charged;
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
}

void mb_free(struct mb_batch *x)
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
	free(x->ev);
	memset(x, 0, sizeof *x);
}

int64_t mb_harm_slot_us(int64_t ts_us)
{
	int64_t q = ts_us / MB_HARM_SLOT_US;
	if (ts_us % MB_HARM_SLOT_US < 0)
		q--; /* before 1970: the slot starts earlier, not later */
	return q * MB_HARM_SLOT_US;
}

int mb_harm_pick(struct bill_reading *const *order, int n, struct bill_reading **out)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		struct bill_reading *r = order[i];
		if (!r->harm || (r->outcome != RD_BILLED && r->outcome != RD_BASELINE && r->outcome != RD_LATE))
			continue;
		if (k && out[k - 1]->meter_id == r->meter_id &&
		    mb_harm_slot_us(out[k - 1]->ts_us) == mb_harm_slot_us(r->ts_us))
			continue;
		out[k++] = r;
	}
	return k;
}

void mb_readings_clear(struct bill_reading *rd, int n)
{
	for (int i = 0; i < n; i++)
		if (rd[i].harm) {
			free(rd[i].harm);
			rd[i].harm = NULL;
		}
}

/* The harmonics of reading r from its harmonics_v_pct (hv) and harmonics_i_pct (hi), either
 * may be NULL or null (absent). Returns 0, or -1 with r's message naming the field. */
static int decode_harmonics(const json_t *hv, const json_t *hi, struct bill_reading *r)
{
	hv = json_is_null(hv) ? NULL : hv;
	hi = json_is_null(hi) ? NULL : hi;
	if (!hv && !hi)
		return 0;
	struct alarm_spectrum *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	const char *bad = hv && alarm_spectrum_decode(hv, s->v) ? "harmonics_v_pct"
			  : hi && alarm_spectrum_decode(hi, s->i) ? "harmonics_i_pct" : NULL;
	if (bad) {
		free(s);
		snprintf(r->message, sizeof r->message,
			 "%s must be an array of %d numbers from 0 to 100 (orders %d to %d, percent of the fundamental)",
			 bad, ALARM_ORDERS, ALARM_FIRST_ORDER, ALARM_FIRST_ORDER + ALARM_ORDERS - 1);
		return -1;
	}
	s->has_v = hv != NULL;
	s->has_i = hi != NULL;
	r->harm = s;
	return 0;
}

#define FUTURE_SKEW_US INT64_C(600000000) /* a meter clock 10 min fast is tolerated */

void mb_reading_decode(json_t *o, struct bill_reading *r, int64_t now_us)
{
	static const char *const base[] = {"meter", "ts", "energy_wh"};
	const char *key;
	json_t *v, *hv = NULL, *hi = NULL;
	r->invalid = true;
	r->outcome = RD_REJECTED;
	r->code = "invalid_reading";
	r->harm = NULL;
	if (!json_is_object(o)) {
		snprintf(r->message, sizeof r->message, "a reading must be an object");
		return;
	}
	json_object_foreach(o, key, v) {
		int known = 0;
		for (int i = 0; i < 3; i++)
			known |= !strcmp(key, base[i]);
		for (int i = 0; i < RD_OPT_N; i++)
			known |= !strcmp(key, bill_reading_opt_names[i]);
		/* only a key that is none of those is compared again: free for a reading without */
		if (!known && !strcmp(key, "harmonics_v_pct")) {
			hv = v;
			continue;
		}
		if (!known && !strcmp(key, "harmonics_i_pct")) {
			hi = v;
			continue;
		}
		if (!known) {
			snprintf(r->message, sizeof r->message, "unknown field %.64s", key);
			return;
		}
	}
	const char *meter = json_string_value(json_object_get(o, "meter"));
	const char *ts = json_string_value(json_object_get(o, "ts"));
	json_t *e = json_object_get(o, "energy_wh");
	if (!meter || !api_valid_text(meter, 64)) {
		snprintf(r->message, sizeof r->message, "meter must be a meter id or serial");
		return;
	}
	snprintf(r->meter, sizeof r->meter, "%s", meter);
	if (!ts || api_parse_time(ts, &r->ts_us)) {
		snprintf(r->message, sizeof r->message, "ts must be an RFC 3339 time with offset");
		return;
	}
	if (!json_is_integer(e) || json_integer_value(e) < 0 ||
	    json_integer_value(e) > INT64_C(1000000000000000)) {
		snprintf(r->message, sizeof r->message, "energy_wh must be an integer from 0 to 10^15");
		return;
	}
	r->energy_wh = json_integer_value(e);
	for (int i = 0; i < RD_OPT_N; i++) {
		const char *name = bill_reading_opt_names[i];
		v = json_object_get(o, name);
		r->opt[i][0] = 0;
		if (!v || json_is_null(v))
			continue;
		if (i == RD_OPT_N - 1) { /* relay */
			const char *s = json_string_value(v);
			if (!s || (strcmp(s, "on") && strcmp(s, "off"))) {
				snprintf(r->message, sizeof r->message, "relay must be \"on\" or \"off\"");
				return;
			}
			snprintf(r->opt[i], sizeof r->opt[i], "%s", s);
			continue;
		}
		if (i == 0) { /* power_w: integer watts, negative when exporting */
			if (!json_is_integer(v) || llabs(json_integer_value(v)) > 1000000000) {
				snprintf(r->message, sizeof r->message, "power_w must be an integer number of watts");
				return;
			}
			snprintf(r->opt[i], sizeof r->opt[i], "%lld", (long long)json_integer_value(v));
			continue;
		}
		/* Instantaneous measurements, not money: JSON numbers are fine. */
		double x = json_number_value(v);
		int ok = json_is_number(v) && (i == 3 ? (x >= -1 && x <= 1) : (x >= 0 && x < 1e6));
		if (!ok) {
			snprintf(r->message, sizeof r->message, "%s is out of range", name);
			return;
		}
		snprintf(r->opt[i], sizeof r->opt[i], "%.9g", x);
	}
	if (r->ts_us > now_us + FUTURE_SKEW_US) {
		r->code = "ts_in_future";
		snprintf(r->message, sizeof r->message, "ts is more than 10 minutes ahead of the server");
		return;
	}
	if ((hv || hi) && decode_harmonics(hv, hi, r))
		return;
	r->invalid = false;
	r->outcome = RD_PENDING;
	r->code = NULL;
}
