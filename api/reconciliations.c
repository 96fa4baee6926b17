/* reconciliations.c: POST /v1/reconciliations, GET /v1/reconciliations and GET
 * /v1/reconciliations/{id}: a provider's bill for one site-local day (api/provider.h's
 * prov_bill, fetched outside any transaction) checked against the ledger (ops/reconcile.h);
 * and the worker's tick, which runs yesterday's for every provider wattle can call, once,
 * after WATTLE_RECONCILE_HOUR (6) site time (24: never). */
#include "api/payments.h"
#include "api/provider.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/valid.h"
#include "ops/reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_RECON "rec"

static json_t *minor_or_null(int64_t v) { return v >= 0 ? json_integer(v) : json_null(); }

static json_t *run_json(const struct recon_run *r, const struct recon_diff *d, int nd)
{
	json_t *j = json_pack("{s:o, s:s, s:s, s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:{s:I, s:I, s:I}, s:o}",
			      "id", api_id_json(ID_RECON, r->id), "provider", r->provider, "date", r->date, "site_id",
			      api_id_json(ID_SITE, r->site_id), "timezone", r->tz, "state", r->state, "origin",
			      r->origin, "matched", r->matched, "missing_in_wattle_count", r->missing_in_wattle,
			      "missing_at_provider_count", r->missing_at_provider, "amount_mismatch_count",
			      r->amount_mismatch, "credited", r->credited, "totals", "provider_minor",
			      (json_int_t)r->provider_total, "wattle_minor", (json_int_t)r->wattle_total,
			      "difference_minor", (json_int_t)(r->provider_total - r->wattle_total), "created_at",
			      api_time_json(r->created_us));
	if (*r->error)
		json_object_set_new(j, "error", json_string(r->error));
	if (!d)
		return j;
	static const char *const kinds[] = {"missing_in_wattle", "missing_at_provider", "amount_mismatch"};
	for (int k = 0; k < 3; k++) {
		json_t *a = json_array();
		for (int i = 0; i < nd; i++) {
			if (strcmp(d[i].kind, kinds[k]))
				continue;
			json_t *x = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s}", "type", d[i].type,
					      "provider_txn_id", d[i].txn, "out_trade_no",
					      *d[i].out_trade_no ? json_string(d[i].out_trade_no) : json_null(),
					      "refund_ref", *d[i].refund_ref ? json_string(d[i].refund_ref) : json_null(),
					      "provider_minor", minor_or_null(d[i].provider_minor), "wattle_minor",
					      minor_or_null(d[i].wattle_minor), "payment_id",
					      d[i].payment_id ? api_id_json(ID_PAYMENT, d[i].payment_id) : json_null(),
					      "action", d[i].action);
			json_array_append_new(a, x);
		}
		json_object_set_new(j, kinds[k], a);
	}
	return j;
}

/* ---- a run ---- */

struct bounds_tx {
	int64_t site_id;
	const char *date;
	struct recon_bounds b;
};

static enum db_status bounds_tx(PGconn *c, void *arg)
{
	struct bounds_tx *t = arg;
	return store_recon_bounds(c, t->site_id, t->date, &t->b);
}

struct run_tx {
	struct recon_req rq;
	struct recon_run run;
};

static enum db_status run_tx(PGconn *c, void *arg)
{
	struct run_tx *t = arg;
	t->rq.now_us = srv_clock_now_us();
	return op_reconcile(c, &t->rq, &t->run);
}

/* Fetch and check p's bill of date for the site (0: the first). 0 with *out the stored run,
 * 1 when there is no such site, -1 when the database failed (st set). */
static int reconcile(enum pay_provider p, const char *date, int64_t site_id, const char *origin, int64_t key_id,
		     const char *request_id, struct recon_run *out, enum db_status *st)
{
	struct bounds_tx bt = {site_id, date, {0}};
	if ((*st = db_run_tx(bounds_tx, &bt)) != DB_OK)
		return -1;
	if (!bt.b.site_id)
		return 1;
	int64_t t0 = srv_mono_us();
	struct prov_bill_line *lines;
	size_t n;
	struct prov_status ps;
	int rc = prov_bill(p, date, bt.b.from_us / 1000000, bt.b.to_us / 1000000, &lines, &n, &ps);
	struct recon_line *rl = calloc(n + 1, sizeof *rl);
	if (!rl)
		abort();
	for (size_t i = 0; i < n; i++) {
		rl[i].refund = lines[i].refund;
		rl[i].amount_minor = lines[i].amount_minor;
		snprintf(rl[i].txn, sizeof rl[i].txn, "%s", lines[i].txn);
		snprintf(rl[i].out_trade_no, sizeof rl[i].out_trade_no, "%s", lines[i].out_trade_no);
		snprintf(rl[i].refund_ref, sizeof rl[i].refund_ref, "%s", lines[i].refund_ref);
		snprintf(rl[i].currency, sizeof rl[i].currency, "%s", lines[i].currency);
	}
	free(lines);
	char err[384];
	snprintf(err, sizeof err, "the bill could not be had: %s %s (%s)", prov_result_name(ps.result), ps.code, ps.message);
	int64_t t1 = srv_mono_us();
	struct run_tx rt = {{p, date, bt.b, rl, n, rc ? err : NULL, origin, key_id, request_id, 0}, {0}};
	*st = db_run_tx(run_tx, &rt);
	free(rl);
	if (*st != DB_OK)
		return -1;
	*out = rt.run;
	srv_log(rc || out->missing_in_wattle || out->missing_at_provider || out->amount_mismatch ? LOG_WARN : LOG_INFO,
		"reconcile: %s %s (site_%lld, %s): %s; %zu lines, %d matched, %d missing in wattle (%d credited), %d missing"
		" at the provider, %d amounts differ; bill %lld ms, matching %lld ms",
		pay_provider_names[p], date, (long long)bt.b.site_id, origin, rc ? err : "done", n, out->matched,
		out->missing_in_wattle, out->credited, out->missing_at_provider, out->amount_mismatch,
		(long long)((t1 - t0) / 1000), (long long)((srv_mono_us() - t1) / 1000));
	return 0;
}

/* ---- the API ---- */

static void reply_run(struct req *rq, unsigned status, int64_t id)
{
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct recon_run r;
	struct recon_diff *d;
	int nd;
	if (api_read_failed(rq, store_recon_get(c, id, &r, &d, &nd)))
		return;
	if (!r.id)
		api_error(rq, E_NOT_FOUND, NULL, "no reconciliation %s_%lld", ID_RECON, (long long)id);
	else
		api_reply(rq, status, run_json(&r, d, nd));
	free(d);
}

void api_reconciliations_create(struct req *rq)
{
	static const struct field spec[] = {
		{"provider", FK_ENUM, F_REQ, 0, 0, pay_provider_names, 0},
		{"date", FK_DATE, F_REQ, 0, 0, 0, 0},
		{"site_id", FK_ID, 0, 0, 0, 0, ID_SITE},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	enum pay_provider p = (enum pay_provider)pay_provider_parse(api_body_str(rq, "provider"));
	if (!prov_enabled(p)) {
		api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL, "%s's API credentials are not configured: its bill cannot be had",
			  pay_provider_names[p]);
		return;
	}
	struct recon_run run;
	enum db_status st;
	int rc = reconcile(p, api_body_str(rq, "date"), api_body_id(rq, ID_SITE, "site_id"), "finance", rq->who.key_id,
			   rq->request_id, &run, &st);
	if (rc < 0) {
		api_tx_failed(rq, st);
		return;
	}
	if (rc > 0) {
		api_field_error(rq, "site_id", "no such site");
		return;
	}
	reply_run(rq, 201, run.id);
}

void api_reconciliations_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_RECON, "reconciliation");
	if (id)
		reply_run(rq, 200, id);
}

void api_reconciliations_list(struct req *rq)
{
	const char *provider, *date = api_query(rq, "date");
	int64_t limit;
	int y, m, d;
	if (api_query_enum(rq, "provider", pay_provider_names, &provider) || api_query_limit(rq, &limit))
		return;
	if (date && api_parse_date(date, &y, &m, &d)) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "date"), "date must be YYYY-MM-DD");
		return;
	}
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct recon_run *rs;
	int n;
	if (api_read_failed(rq, store_recon_list(c, provider, date, limit, &rs, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, run_json(&rs[i], NULL, 0));
	free(rs);
	api_reply(rq, 200, json_pack("{s:o}", "items", items));
}

/* ---- the worker ---- */

struct due_tx {
	int64_t now;
	enum pay_provider p;
	char date[11];
	bool due;
	int64_t site;
};

static enum db_status due_tx(PGconn *c, void *arg)
{
	struct due_tx *t = arg;
	bool past, exists = true;
	enum db_status st = store_recon_yesterday(c, 0, t->now, (int)pay_cfg.reconcile_hour, t->date, &past, &t->site);
	if (st == DB_OK && t->site && past)
		st = store_recon_exists(c, pay_provider_names[t->p], t->date, &exists);
	t->due = st == DB_OK && t->site && past && !exists;
	return st;
}

int api_reconcile_tick(void)
{
	if (pay_cfg.reconcile_hour >= 24) /* off */
		return 0;
	for (int p = 0; p < PROV__COUNT; p++) {
		if (!prov_enabled((enum pay_provider)p))
			continue;
		struct due_tx t = {srv_clock_now_us(), (enum pay_provider)p, "", false, 0};
		if (db_run_tx(due_tx, &t) != DB_OK || !t.due)
			continue;
		struct recon_run run;
		enum db_status st;
		if (reconcile((enum pay_provider)p, t.date, t.site, "schedule", 0, "schedule", &run, &st) < 0)
			srv_log(LOG_ERROR, "reconcile: %s %s: storing the run failed (%d); retrying",
				pay_provider_names[p], t.date, (int)st);
	}
	return 0;
}
