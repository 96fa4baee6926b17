/* report_doc.c: the monthly reports' typed data as JSON documents (see report_doc.h). Pure:
 * the documents' keys, their order and their values are the wire format of POST /v1/reports
 * and of the reports the month close stores. */
#include "core/report_doc.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/money.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"tenant_statement", "finance_summary", "energy"};

int bill_report_kind_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, kind_names[i]))
			return i;
	return -1;
}

const char *bill_report_kind_name(enum bill_report_kind k) { return kind_names[k]; }

void report_site_period(struct report_site *s, int year, int month)
{
	s->year = year;
	s->month = month;
	snprintf(s->first, sizeof s->first, "%04d-%02d-01", year, month);
	snprintf(s->period, sizeof s->period, "%04d-%02d", year, month);
}

void report_site_clear(struct report_site *s)
{
	free(s->name);
	s->name = NULL;
}

int64_t report_statement_closing(const struct statement *s)
{
	const struct report_sums *m = &s->sums;
	int64_t energy = -m->energy, alloc = -m->alloc, refunds = -m->refund;
	return s->opening_minor + m->topup - energy - alloc + m->adj - refunds;
}

static void bands_free(struct report_band *b, int n)
{
	for (int i = 0; b && i < n; i++)
		free(b[i].band);
	free(b);
}

void statement_set_free(struct statement_set *s)
{
	for (int i = 0; s->items && i < s->n; i++) {
		free(s->items[i].name);
		free(s->items[i].category);
		free(s->items[i].phone);
	}
	for (int i = 0; s->entries && i < s->nentries; i++) {
		free(s->entries[i].pool);
		free(s->entries[i].run_id);
		free(s->entries[i].basis_unit);
		free(s->entries[i].basis_json);
		free(s->entries[i].reason);
	}
	bands_free(s->bands, s->nbands);
	free(s->items);
	free(s->entries);
	free(s->days);
	report_site_clear(&s->site);
	memset(s, 0, sizeof *s);
}

void finance_report_free(struct finance_report *f)
{
	for (int i = 0; f->pools && i < f->npools; i++)
		free(f->pools[i].pool);
	bands_free(f->bands, f->nbands);
	free(f->channels);
	free(f->pools);
	free(f->payments);
	report_site_clear(&f->site);
	memset(f, 0, sizeof *f);
}

void energy_report_free(struct energy_report *e)
{
	for (int i = 0; e->categories && i < e->ncategories; i++)
		free(e->categories[i].category);
	for (int i = 0; e->pools && i < e->npools; i++)
		free(e->pools[i].pool);
	for (int i = 0; e->top && i < e->ntop; i++) {
		free(e->top[i].name);
		free(e->top[i].category);
	}
	free(e->categories);
	free(e->pools);
	free(e->heat);
	free(e->top);
	report_site_clear(&e->site);
	memset(e, 0, sizeof *e);
}

/* ---- rendering ---- */

static json_t *time_json(int64_t us)
{
	char b[40];
	return json_string(srv_time_format(us, b, sizeof b));
}

static json_t *i64(int64_t v) { return json_integer((json_int_t)v); }

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* The report's head: kind, period, site and the period's bounds; currency is the site's,
 * or a statement's account's. */
static json_t *head(const struct report_site *s, const char *kind, const char *currency)
{
	char sid[32];
	snprintf(sid, sizeof sid, "site_%lld", (long long)s->id);
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:i, s:o, s:o, s:o}", "kind", kind, "period", s->period,
			 "site", "id", sid, "name", s->name, "timezone", s->timezone, "currency", currency,
			 "minor_digits", s->minor_digits, "from", time_json(s->from_us), "to", time_json(s->to_us),
			 "generated_at", time_json(s->generated_us));
}

static json_t *band_json(const char *band, int64_t wh, int64_t amount)
{
	return json_pack("{s:s, s:I, s:I}", "band", band, "wh", (json_int_t)wh, "amount_minor", (json_int_t)amount);
}

/* Bands with their kWh, and total split over them by their exact cost (largest remainder:
 * the lines add up to total); by energy when nothing was priced. */
static json_t *bands_json(const struct report_band *b, int n, int64_t total)
{
	json_t *out = json_array();
	if (n <= 0) {
		if (total)
			json_array_append_new(out, band_json("unassigned", 0, total));
		return out;
	}
	int64_t *w = calloc((size_t)n, sizeof *w), *share = calloc((size_t)n, sizeof *share);
	if (!w || !share)
		abort();
	int64_t costs = 0, whs = 0;
	for (int i = 0; i < n; i++) {
		w[i] = b[i].cost_nano;
		costs += w[i];
		whs += b[i].wh;
	}
	if (costs <= 0)
		for (int i = 0; i < n; i++)
			w[i] = whs > 0 ? b[i].wh : 1;
	if (total <= 0 || alloc_hamilton(total, w, n, share) != ALLOC_OK)
		memset(share, 0, (size_t)n * sizeof *share);
	int64_t assigned = 0;
	for (int i = 0; i < n; i++) {
		assigned += share[i];
		json_array_append_new(out, band_json(b[i].band, b[i].wh, share[i]));
	}
	if (assigned != total) /* a negative total (corrections) is shown apart, never lost */
		json_array_append_new(out, band_json("unassigned", 0, total - assigned));
	free(w);
	free(share);
	return out;
}

/* The month's flows, debits positive. */
static void flows_json(json_t *o, const struct report_sums *m)
{
	json_object_set_new(o, "topups_minor", i64(m->topup));
	json_object_set_new(o, "energy_charges_minor", i64(-m->energy));
	json_object_set_new(o, "allocations_minor", i64(-m->alloc));
	json_object_set_new(o, "adjustments_minor", i64(m->adj));
	json_object_set_new(o, "refunds_minor", i64(-m->refund));
}

/* An entry with its times and a channel: a top-up or a refund. */
static json_t *channel_entry(const struct statement_entry *e, int64_t amount)
{
	return json_pack("{s:o, s:s, s:s, s:I}", "at", time_json(e->at_us), "local_time", e->local_time, "channel",
			 e->channel, "amount_minor", (json_int_t)amount);
}

json_t *report_doc_statement(const struct report_site *site, const struct statement *st)
{
	json_t *s = head(site, "tenant_statement", st->currency);
	char tids[32], area[32];
	snprintf(tids, sizeof tids, "ten_%lld", (long long)st->tenant_id);
	bill_format_decimal(st->area_centi_m2, 2, area, sizeof area);
	json_object_set_new(s, "tenant", json_pack("{s:s, s:s, s:s, s:s}", "id", tids, "name", st->name, "category",
						   st->category, "area_m2", area));
	json_object_set_new(s, "opening_balance_minor", i64(st->opening_minor));
	flows_json(s, &st->sums);
	json_object_set_new(s, "closing_balance_minor", i64(report_statement_closing(st)));
	json_t *tops = json_array(), *allocs = json_array(), *adjs = json_array(), *refs = json_array();
	json_t *chan = json_object(); /* channel -> sum, in the order channels first appear */
	for (int i = 0; i < st->nentries; i++) {
		const struct statement_entry *e = &st->entries[i];
		if (!strcmp(e->kind, "topup")) {
			json_array_append_new(tops, channel_entry(e, e->amount_minor));
			json_t *sum = json_object_get(chan, e->channel);
			json_object_set_new(chan, e->channel, i64((sum ? json_integer_value(sum) : 0) + e->amount_minor));
		} else if (!strcmp(e->kind, "allocation") || !strcmp(e->kind, "reversal")) {
			json_t *basis = e->basis_json ? json_loads(e->basis_json, JSON_DECODE_ANY, NULL) : NULL;
			json_array_append_new(
				allocs, json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:b}", "at", time_json(e->at_us),
						  "local_time", e->local_time, "pool", e->pool, "period", e->period, "run_id",
						  str_or_null(e->run_id), "basis", basis ? basis : json_null(),
						  "basis_unit", str_or_null(e->basis_unit), "amount_minor",
						  (json_int_t)-e->amount_minor, "reversal", !strcmp(e->kind, "reversal")));
		} else if (!strcmp(e->kind, "adjustment")) {
			json_array_append_new(adjs, json_pack("{s:o, s:s, s:o, s:I}", "at", time_json(e->at_us), "local_time",
							      e->local_time, "reason", str_or_null(e->reason),
							      "amount_minor", (json_int_t)e->amount_minor));
		} else {
			json_array_append_new(refs, channel_entry(e, -e->amount_minor));
		}
	}
	json_t *by_channel = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(chan, k, v)
		json_array_append_new(by_channel, json_pack("{s:s, s:O}", "channel", k, "amount_minor", v));
	json_decref(chan);
	json_object_set_new(s, "topups_by_channel", by_channel);
	json_object_set_new(s, "energy_by_band", bands_json(st->bands, st->nbands, -st->sums.energy));
	json_object_set_new(s, "allocations", allocs);
	json_object_set_new(s, "adjustments", adjs);
	json_object_set_new(s, "refunds", refs);
	json_object_set_new(s, "topups", tops);
	json_t *days = json_array();
	int64_t wh = 0;
	for (int i = 0; i < st->ndaily; i++) {
		wh += st->daily[i].wh;
		json_array_append_new(days, json_pack("{s:s, s:I}", "date", st->daily[i].date, "wh",
						      (json_int_t)st->daily[i].wh));
	}
	json_object_set_new(s, "daily", days);
	json_object_set_new(s, "energy_wh", i64(wh));
	return s;
}

json_t *report_doc_finance(const struct finance_report *f)
{
	json_t *o = head(&f->site, "finance_summary", f->site.currency);
	const struct finance_totals *t = &f->t;
	json_object_set_new(o, "prepaid_liability_start_minor", i64(t->liability_start_minor));
	json_object_set_new(o, "prepaid_liability_end_minor", i64(t->liability_end_minor));
	flows_json(o, &t->sums);
	json_object_set_new(o, "tenants", i64(t->tenants));
	json_object_set_new(o, "tenants_in_arrears", i64(t->tenants_in_arrears));
	json_object_set_new(o, "cut_offs", i64(t->cut_offs));
	json_object_set_new(o, "restores", i64(t->restores));
	json_object_set_new(o, "payment_conflicts_open", i64(t->conflicts_open));
	json_t *a = json_array();
	for (int i = 0; i < f->nchannels; i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "channel", f->channels[i].channel, "count",
						   (json_int_t)f->channels[i].count, "amount_minor",
						   (json_int_t)f->channels[i].amount_minor));
	json_object_set_new(o, "topups_by_channel", a);
	json_object_set_new(o, "energy_by_band", bands_json(f->bands, f->nbands, -t->sums.energy));
	a = json_array();
	for (int i = 0; i < f->npools; i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "pool", f->pools[i].pool, "amount_minor",
						   (json_int_t)f->pools[i].amount_minor));
	json_object_set_new(o, "allocations_by_pool", a);
	a = json_array();
	for (int i = 0; i < f->npayments; i++) {
		const struct finance_payment *p = &f->payments[i];
		json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "provider", p->provider,
						   "payments", (json_int_t)p->payments, "received_minor",
						   (json_int_t)p->received_minor, "credited_minor", (json_int_t)p->credited_minor,
						   "not_credited_minor", (json_int_t)p->held_minor, "refunded_minor",
						   (json_int_t)p->refunded_minor, "difference_minor",
						   (json_int_t)(p->received_minor - p->credited_minor - p->held_minor)));
	}
	json_object_set_new(o, "payments_reconciliation", a);
	return o;
}

static int days_in_month(int year, int month)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return mdays[month - 1] + (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0));
}

json_t *report_doc_energy(const struct energy_report *e)
{
	json_t *o = head(&e->site, "energy", e->site.currency);
	int64_t now = e->t.total_wh, before = e->t.previous_wh;
	json_object_set_new(o, "total_wh", i64(now));
	json_object_set_new(o, "previous_month_wh", i64(before));
	json_object_set_new(o, "public_wh", i64(e->t.public_wh));
	if (before > 0) {
		char pct[64];
		json_object_set_new(o, "change_pct", json_string(bill_format_percent(now - before, before, 1, pct, sizeof pct)));
	} else {
		json_object_set_new(o, "change_pct", json_null());
	}
	json_t *a = json_array();
	for (int i = 0; i < e->ncategories; i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "category", e->categories[i].category, "tenants",
						   (json_int_t)e->categories[i].tenants, "wh", (json_int_t)e->categories[i].wh));
	json_object_set_new(o, "by_category", a);
	a = json_array();
	for (int i = 0; i < e->npools; i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "pool", e->pools[i].pool, "wh", (json_int_t)e->pools[i].wh));
	json_object_set_new(o, "by_pool", a);
	/* day x hour, every cell present */
	int days = days_in_month(e->site.year, e->site.month);
	int64_t cells[31][24] = {{0}};
	for (int i = 0; i < e->nheat; i++) {
		int64_t d = e->heat[i].day, h = e->heat[i].hour;
		if (d >= 0 && d < days && h >= 0 && h < 24)
			cells[d][h] += e->heat[i].wh;
	}
	json_t *grid = json_array();
	for (int d = 0; d < days; d++) {
		json_t *row = json_array();
		for (int h = 0; h < 24; h++)
			json_array_append_new(row, i64(cells[d][h]));
		json_array_append_new(grid, row);
	}
	json_object_set_new(o, "public_load_wh_by_day_hour", grid);
	a = json_array();
	for (int i = 0; i < e->ntop; i++) {
		char tid[32];
		snprintf(tid, sizeof tid, "ten_%lld", (long long)e->top[i].tenant_id);
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "tenant_id", tid, "name", e->top[i].name,
						   "category", e->top[i].category, "wh", (json_int_t)e->top[i].wh));
	}
	json_object_set_new(o, "top_consumers", a);
	return o;
}

/* 30 percentages from hundredths, or null when the spectrum has no such half. */
static json_t *spectrum_json(bool has, const uint16_t *v)
{
	if (!has)
		return json_null();
	json_t *a = json_array();
	for (int k = 0; k < ALARM_ORDERS; k++)
		json_array_append_new(a, json_real(v[k] / 100.0));
	return a;
}

/* {"3": 5, ...}: the orders with a limit. */
static json_t *limits_json(const uint16_t *lim)
{
	json_t *o = json_object();
	for (int k = 0; k < ALARM_ORDERS; k++)
		if (lim[k] != ALARM_NO_LIMIT) {
			char key[8];
			snprintf(key, sizeof key, "%d", k + ALARM_FIRST_ORDER);
			json_object_set_new(o, key, json_real(lim[k] / 100.0));
		}
	return o;
}

static json_t *real_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

json_t *report_doc_power_quality(const struct pq_report *p)
{
	char mid[32];
	snprintf(mid, sizeof mid, "mtr_%lld", (long long)p->meter_id);
	const struct pq_spectrum *l = p->latest;
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "kind", "power_quality",
			      "meter_id", mid, "serial", p->serial, "from", time_json(p->from_us), "to",
			      time_json(p->to_us), "generated_at", time_json(p->generated_us), "harmonics_ts",
			      l ? time_json(l->ts_us) : json_null(), "harmonics_v_pct",
			      spectrum_json(l && l->s.has_v, l ? l->s.v : NULL), "harmonics_i_pct",
			      spectrum_json(l && l->s.has_i, l ? l->s.i : NULL), "harmonic_limits_pct",
			      limits_json(p->lim_v), "harmonic_limits_i_pct", limits_json(p->lim_i));
	json_t *a = json_array();
	for (int k = 0; k < p->nthd; k++)
		json_array_append_new(a, json_pack("{s:o, s:o, s:o}", "ts", time_json(p->thd[k].ts_us), "thd_v_pct",
						   real_or_null(p->thd[k].v), "thd_i_pct", real_or_null(p->thd[k].i)));
	json_object_set_new(o, "thd", a);
	a = json_array();
	for (int k = 0; k < p->nspectra; k++) {
		const struct alarm_spectrum *s = &p->spectra[k].s;
		json_array_append_new(a, json_pack("{s:o, s:o, s:o}", "ts", time_json(p->spectra[k].ts_us),
						   "harmonics_v_pct", spectrum_json(s->has_v, s->v), "harmonics_i_pct",
						   spectrum_json(s->has_i, s->i)));
	}
	json_object_set_new(o, "spectra", a);
	json_object_set_new(o, "next_after", p->has_next ? time_json(p->next_after_us) : json_null());
	return o;
}

/* A document as stored: compact text, the document freed. */
static char *text(json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!s)
		abort();
	return s;
}

char *report_doc_statement_text(const struct report_site *site, const struct statement *s)
{
	return text(report_doc_statement(site, s));
}

char *report_doc_finance_text(const struct finance_report *f) { return text(report_doc_finance(f)); }

char *report_doc_energy_text(const struct energy_report *e) { return text(report_doc_energy(e)); }
