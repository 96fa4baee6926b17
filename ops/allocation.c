/* allocation.c: a pool's monthly run: the total (billed cost, or energy at a flat tariff),
 * each member's weight (area, quota or own energy, prorated by occupancy when asked), the
 * exact largest-remainder split, and on commit one allocation entry per member. */
#include "ops/allocation.h"
#include "core/buf.h"
#include "core/calendar.h"
#include "core/money.h"
#include "core/price.h"
#include "core/valid.h"
#include "ops/ledger.h"
#include "store/pools.h"

#include "core/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void alloc_run_free(struct alloc_run *r)
{
	if (!r)
		return;
	free(r->lines);
	memset(r, 0, sizeof *r);
}

/* The site-local days [from, to) of month "YYYY-MM". */
static void month_days(const char *period, char *from, char *to, size_t n)
{
	int y = 0, mo = 1;
	api_parse_period(period, &y, &mo);
	snprintf(from, n, "%04d-%02d-01", y, mo);
	snprintf(to, n, "%04d-%02d-01", mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1);
}

static int64_t weight_of(enum alloc_method m, const struct pool_basis *b)
{
	return m == ALLOC_AREA ? b->area_centi_m2 : m == ALLOC_QUOTA ? b->quota_ppm : b->wh;
}

/* The run of pool p for period into *out, over the site-local days [from, to) of it (the
 * whole month, or a move-out's part of it); *err when it cannot be shared. A tenant that
 * moved out during the month keeps the share it paid then (its line is settled, and never
 * posted again); one gone before the month weighs nothing; the others share the rest. */
static enum db_status compute_days(PGconn *c, const struct pool *p, const char *period, const char *from,
				   const char *to, struct alloc_run *out, enum op_alloc_err *err)
{
	int digits = 2;
	api_valid_currency(p->currency, &digits);
	int64_t unit = bill_nano_per_minor(digits);
	struct pool_energy e;
	enum db_status st = store_pool_energy(c, p, from, to, unit, &e);
	if (st != DB_OK)
		return st;
	int64_t wh = e.plus_wh - e.minus_wh, total_minor;
	if (wh < 0)
		wh = 0; /* tenant meters above the main meter: no losses to share */
	if (p->tariff_id) {
		int64_t rate, nano;
		if ((st = store_flat_rate(c, p->tariff_id, &rate)) != DB_OK)
			return st;
		if (bill_mul(wh, rate, &nano)) {
			*err = OP_ALLOC_OVERFLOW;
			return DB_OK;
		}
		total_minor = nano / unit;
	} else {
		/* Cost sums come from the store already divided down to whole minor units. */
		total_minor = e.plus_minor - e.minus_minor > 0 ? e.plus_minor - e.minus_minor : 0;
	}
	struct pool_basis *b;
	int n;
	if ((st = store_pool_basis(c, p->id, from, to, &b, &n)) != DB_OK)
		return st;
	int64_t *w = calloc((size_t)n + 1, sizeof *w), *share = calloc((size_t)n + 1, sizeof *share);
	out->lines = calloc((size_t)n + 1, sizeof *out->lines);
	if (!w || !share || !out->lines)
		abort();
	/* Prorating weighs area and quota by the days occupied (alloc_prorate: weight x days,
	 * the period's length cancels out); consumption is metered only while a tenant is
	 * there, so it is never prorated again. */
	out->prorate = p->prorate && p->method != ALLOC_CONSUMPTION;
	enum alloc_result ar = ALLOC_OK;
	int64_t settled = 0;
	for (int i = 0; i < n && ar == ALLOC_OK; i++) {
		w[i] = weight_of(p->method, &b[i]);
		if (out->prorate)
			ar = alloc_prorate(w[i], b[i].days, &w[i]);
		if (b[i].settled_minor >= 0 || b[i].gone)
			w[i] = 0;
		if (b[i].settled_minor >= 0 && __builtin_add_overflow(settled, b[i].settled_minor, &settled))
			ar = ALLOC_OVERFLOW;
	}
	/* What was paid at move-outs is taken off the pool; should the month's cost come out
	 * below it (a virtual meter's losses shrink), nothing is left and the run's total is what
	 * was paid, so that the lines still add up to it. */
	int64_t rest = total_minor - settled;
	if (rest < 0) {
		rest = 0;
		total_minor = settled;
	}
	if (ar == ALLOC_OK)
		ar = alloc_hamilton(rest, w, n, share);
	int64_t sum = 0;
	for (int i = 0; ar == ALLOC_OK && i < n; i++) {
		bool paid = b[i].settled_minor >= 0;
		out->lines[i] = (struct alloc_line){b[i].tenant_id, weight_of(p->method, &b[i]),
						    paid ? b[i].settled_minor : share[i], b[i].days, b[i].days_in_period,
						    paid};
		sum += out->lines[i].amount_minor;
	}
	if (ar == ALLOC_OK) {
		WATTLE_CHECK(sum == total_minor); /* the shares add up to the pool, to the unit */
		out->nlines = n;
	}
	free(w);
	free(share);
	free(b);
	out->pool_id = p->id;
	snprintf(out->period, sizeof out->period, "%s", period);
	out->method = p->method;
	out->total_wh = wh;
	out->total_minor = total_minor;
	if (ar == ALLOC_NO_BASIS)
		*err = out->prorate ? OP_ALLOC_NO_OCCUPANCY : OP_ALLOC_NO_BASIS;
	else if (ar != ALLOC_OK)
		*err = OP_ALLOC_OVERFLOW;
	return DB_OK;
}

/* A line's basis as JSON: area as a decimal string, the others as integers. */
static void basis_json(struct srv_buf *b, enum alloc_method m, int64_t basis)
{
	if (m == ALLOC_AREA) {
		char area[32];
		srv_buf_json_str(b, bill_format_decimal(basis, 2, area, sizeof area));
	} else {
		srv_buf_i64(b, basis);
	}
}

char *alloc_run_result_text(const struct alloc_run *r)
{
	struct srv_buf b = {0};
	PUT_LIT(&b, "{\"pool_id\":\"pool_");
	srv_buf_i64(&b, r->pool_id);
	PUT_LIT(&b, "\",\"period\":");
	srv_buf_json_str(&b, r->period);
	PUT_LIT(&b, ",\"method\":");
	srv_buf_json_str(&b, alloc_method_name(r->method));
	PUT_LIT(&b, ",\"total_wh\":");
	srv_buf_i64(&b, r->total_wh);
	PUT_LIT(&b, ",\"total_minor\":");
	srv_buf_i64(&b, r->total_minor);
	PUT_LIT(&b, ",\"lines\":[");
	for (int i = 0; i < r->nlines; i++) {
		const struct alloc_line *l = &r->lines[i];
		if (i)
			srv_buf_putc(&b, ',');
		PUT_LIT(&b, "{\"tenant_id\":\"ten_");
		srv_buf_i64(&b, l->tenant_id);
		PUT_LIT(&b, "\",\"basis\":");
		basis_json(&b, r->method, l->basis);
		PUT_LIT(&b, ",\"basis_unit\":");
		srv_buf_json_str(&b, alloc_basis_unit(r->method));
		PUT_LIT(&b, ",\"amount_minor\":");
		srv_buf_i64(&b, l->amount_minor);
		if (l->settled)
			PUT_LIT(&b, ",\"settled_at_move_out\":true");
		if (r->prorate) {
			PUT_LIT(&b, ",\"days\":");
			srv_buf_i64(&b, l->days);
			PUT_LIT(&b, ",\"days_in_period\":");
			srv_buf_i64(&b, l->days_in_period);
		}
		srv_buf_putc(&b, '}');
	}
	PUT_LIT(&b, "],\"committed\":false}");
	return b.p;
}

/* Ledger refs of a run's lines: {"run_id","line","basis","basis_unit"[,"reason"]}. */
static char *line_ref(int64_t run_id, int line, const char *basis, const char *unit, const char *reason)
{
	struct srv_buf b = {0};
	PUT_LIT(&b, "{\"run_id\":\"run_");
	srv_buf_i64(&b, run_id);
	PUT_LIT(&b, "\",\"line\":");
	srv_buf_i64(&b, line);
	PUT_LIT(&b, ",\"basis\":");
	srv_buf_puts(&b, basis);
	PUT_LIT(&b, ",\"basis_unit\":");
	srv_buf_json_str(&b, unit);
	if (reason) {
		PUT_LIT(&b, ",\"reason\":");
		srv_buf_json_str(&b, reason);
	}
	srv_buf_putc(&b, '}');
	return b.p;
}

/* Post n prepared postings (refs owned, freed here) of kind at at_us. */
static enum db_status post(PGconn *c, struct bill_posting *p, int n, const char *kind, const char *request_id,
			   int64_t at_us, int64_t now_us, enum op_alloc_err *err, int *missing_out)
{
	int missing = 0;
	enum db_status st = bill_post_many(c, p, n, kind, request_id, at_us && at_us < now_us ? at_us : now_us, now_us,
					   &missing);
	for (int j = 0; j < n; j++)
		free((char *)p[j].ref_json);
	if (st == DB_OK && missing < 0)
		*err = OP_ALLOC_BALANCE_OVERFLOW;
	else if (st == DB_OK && missing) {
		*err = OP_ALLOC_NO_ACCOUNT;
		if (missing_out)
			*missing_out = missing;
	}
	return st;
}

enum db_status op_alloc_run(PGconn *c, const struct op_alloc_req *rq, struct alloc_run *out,
			    enum op_alloc_err *err)
{
	memset(out, 0, sizeof *out);
	*err = OP_ALLOC_OK;
	struct pool p;
	enum db_status st = store_pool_get(c, rq->pool_id, &p);
	if (st == DB_OK && !p.id)
		*err = OP_ALLOC_NO_POOL;
	if (st != DB_OK || *err)
		return st;
	char from[32], to[32];
	month_days(rq->period, from, to, sizeof from);
	st = compute_days(c, &p, rq->period, from, to, out, err);
	store_pool_free(&p);
	if (st != DB_OK || *err || !rq->commit)
		return st;
	char *result = alloc_run_result_text(out);
	st = store_run_insert(c, rq->pool_id, rq->period, out->total_wh, out->total_minor, result, rq->now_us,
			      rq->key_id, &out->run_id);
	free(result);
	if (st == DB_UNIQUE) {
		*err = OP_ALLOC_COMMITTED;
		return DB_OK;
	}
	/* A month committed after it ended is dated its last instant: it belongs to that
	 * month's statements (a run committed during its month is dated now). */
	int64_t end_us;
	if (st != DB_OK || (st = store_run_period_end(c, rq->pool_id, rq->period, &end_us)) != DB_OK)
		return st;
	struct bill_posting *posts = calloc((size_t)out->nlines + 1, sizeof *posts);
	if (!posts)
		abort();
	int k = 0;
	for (int i = 0; i < out->nlines; i++) {
		const struct alloc_line *l = &out->lines[i];
		if (!l->amount_minor || l->settled) /* a settled line was posted at the move-out */
			continue;
		struct srv_buf basis = {0};
		basis_json(&basis, out->method, l->basis);
		posts[k++] = (struct bill_posting){l->tenant_id, -l->amount_minor,
						   line_ref(out->run_id, i, basis.p, alloc_basis_unit(out->method), NULL),
						   NULL};
		srv_buf_free(&basis);
	}
	st = post(c, posts, k, "allocation", rq->request_id, end_us - 1, rq->now_us, err, &out->missing);
	free(posts);
	return st;
}

enum db_status op_alloc_reverse(PGconn *c, const struct op_reverse_req *rq, enum op_alloc_err *err)
{
	*err = OP_ALLOC_OK;
	bool found;
	struct run_line *lines;
	int n;
	enum db_status st = store_run_lock_lines(c, rq->run_id, &found, &lines, &n);
	if (st != DB_OK)
		return st;
	if (!found) {
		*err = OP_ALLOC_NOT_COMMITTED;
		return DB_OK;
	}
	struct bill_posting *posts = calloc((size_t)n + 1, sizeof *posts);
	if (!posts)
		abort();
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!lines[i].amount_minor)
			continue;
		posts[k++] = (struct bill_posting){lines[i].tenant_id, lines[i].amount_minor,
						   line_ref(rq->run_id, lines[i].line, lines[i].basis_json, lines[i].basis_unit,
							    rq->reason),
						   NULL};
	}
	free(lines);
	st = post(c, posts, k, "reversal", rq->request_id, 0, rq->now_us, err, NULL);
	free(posts);
	if (st == DB_OK && !*err)
		st = store_run_reverse(c, rq->run_id, rq->now_us, rq->reason);
	return st;
}

enum db_status op_alloc_share(PGconn *c, const struct op_share_req *rq, struct alloc_share *out,
			      enum op_alloc_err *err)
{
	memset(out, 0, sizeof *out);
	*err = OP_ALLOC_OK;
	struct pool p;
	enum db_status st = store_pool_get(c, rq->pool_id, &p);
	if (st == DB_OK && !p.id)
		*err = OP_ALLOC_NO_POOL;
	if (st != DB_OK || *err)
		return st;
	int y = 0, mo = 0, d = 0;
	sscanf(rq->last_day, "%d-%d-%d", &y, &mo, &d);
	int ny, nm, nd;
	cal_civil_from_days(cal_days_from_civil(y, mo, d) + 1, &ny, &nm, &nd);
	char from[32], to[32], month_to[32];
	month_days(rq->period, from, month_to, sizeof from);
	snprintf(to, sizeof to, "%04d-%02d-%02d", ny, nm, nd);
	if (strcmp(to, month_to) > 0)
		snprintf(to, sizeof to, "%s", month_to);
	struct alloc_run run;
	memset(&run, 0, sizeof run);
	st = compute_days(c, &p, rq->period, from, to, &run, err);
	store_pool_free(&p);
	out->method = run.method;
	out->total_minor = run.total_minor;
	out->prorate = run.prorate;
	for (int i = 0; st == DB_OK && !*err && i < run.nlines; i++) {
		if (run.lines[i].tenant_id != rq->tenant_id)
			continue;
		out->member = true;
		out->line = run.lines[i];
	}
	alloc_run_free(&run);
	if (st != DB_OK || *err || !out->member)
		return st;
	struct srv_buf basis = {0};
	basis_json(&basis, out->method, out->line.basis);
	snprintf(out->basis_json, sizeof out->basis_json, "%s", basis.p ? basis.p : "0");
	srv_buf_free(&basis);
	if (out->line.settled || !out->line.amount_minor || !rq->post)
		return st;
	/* The ref names the pool and the month instead of a run: the month's run has not been made */
	struct srv_buf ref = {0};
	PUT_LIT(&ref, "{\"pool_id\":\"pool_");
	srv_buf_i64(&ref, rq->pool_id);
	PUT_LIT(&ref, "\",\"period\":");
	srv_buf_json_str(&ref, rq->period);
	PUT_LIT(&ref, ",\"basis\":");
	srv_buf_puts(&ref, out->basis_json);
	PUT_LIT(&ref, ",\"basis_unit\":");
	srv_buf_json_str(&ref, alloc_basis_unit(out->method));
	PUT_LIT(&ref, ",\"days\":");
	srv_buf_i64(&ref, out->line.days);
	PUT_LIT(&ref, ",\"days_in_period\":");
	srv_buf_i64(&ref, out->line.days_in_period);
	PUT_LIT(&ref, ",\"move_out\":true}");
	struct bill_entry e;
	enum bill_post_result res;
	st = bill_post(c, rq->tenant_id, "allocation", -out->line.amount_minor, ref.p, rq->request_id, rq->now_us, &e,
		       &res);
	srv_buf_free(&ref);
	if (st == DB_OK && res == POST_NO_ACCOUNT)
		*err = OP_ALLOC_NO_ACCOUNT;
	else if (st == DB_OK && res != POST_OK)
		*err = OP_ALLOC_BALANCE_OVERFLOW;
	else if (st == DB_OK)
		out->ledger_id = e.id;
	return st;
}
