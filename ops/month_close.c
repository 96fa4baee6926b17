/* month_close.c: the month close of one site (see month_close.h). Statements and reports are
 * read by ops/report.c as typed data and stored as core/report_doc.c's JSON text; the
 * notifications are made from the typed statements; allocations go through
 * ops/allocation.c exactly as POST /v1/cost-pools/{id}/runs does. */
#include "ops/month_close.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/messages.h"
#include "core/msgtext.h"
#include "ops/allocation.h"
#include "ops/report.h"
#include "store/closes.h"
#include "store/outbox.h"
#include "store/pools.h"
#include "store/requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 500

/* Store a range of statements and tell their tenants. */
static enum db_status store_statements(PGconn *c, const struct op_close_req *rq, const struct statement_set *all,
				       int *count)
{
	int n = all->n;
	struct report_row *rows = calloc((size_t)n + 1, sizeof *rows);
	struct note_order *notes = calloc(2 * (size_t)n + 1, sizeof *notes);
	char **texts = calloc((size_t)n + 1, sizeof *texts), **bodies = calloc((size_t)n + 1, sizeof *bodies),
	     **payloads = calloc((size_t)n + 1, sizeof *payloads), **vars = calloc((size_t)n + 1, sizeof *vars);
	if (!rows || !notes || !texts || !bodies || !payloads || !vars)
		abort();
	int nn = 0;
	for (int i = 0; i < n; i++) {
		const struct statement *s = &all->items[i];
		int64_t closing = report_statement_closing(s);
		struct msg_money cm = {closing, all->site.minor_digits, s->currency};
		char msg[400];
		msg_statement_ready(msg, sizeof msg, s->name, rq->period, cm);
		bodies[i] = strdup(msg);
		payloads[i] = msg_statement_ready_payload(s->tenant_id, rq->period, closing);
		if (!bodies[i] || !payloads[i])
			abort();
		/* the tenant's message: the event and its variables, rendered when sent */
		struct msg_vars v = {0};
		snprintf(v.tenant_name, sizeof v.tenant_name, "%s", s->name);
		snprintf(v.shop, sizeof v.shop, "%s (%s)", s->name, s->category ? s->category : "");
		snprintf(v.currency, sizeof v.currency, "%.3s", s->currency);
		snprintf(v.period, sizeof v.period, "%s", rq->period);
		v.digits = all->site.minor_digits;
		v.has_balance = true;
		v.balance = closing;
		vars[i] = msg_payload("statement_ready", "tenant", rq->site_id, &v, NULL);
		/* to the tenant's channels (the sender picks): by phone, or WeChat alone */
		if (s->phone || s->wechat)
			notes[nn++] = (struct note_order){s->tenant_id, "statement_ready", s->phone ? "sms" : "wechat",
							  s->phone ? s->phone : "", bodies[i], vars[i]};
		notes[nn++] = (struct note_order){s->tenant_id, "statement_ready", "webhook", NULL, bodies[i], payloads[i]};
		texts[i] = report_doc_statement_text(&all->site, s); /* without the phone number */
		rows[i] = (struct report_row){"tenant_statement", s->tenant_id, texts[i]};
	}
	enum db_status st = store_notes_queue(c, notes, nn, rq->now_us);
	if (st == DB_OK)
		st = store_reports_insert(c, rq->site_id, rq->period, rq->now_us, "month_close", rows, n);
	*count += n;
	for (int i = 0; i < n; i++) {
		free(texts[i]);
		free(bodies[i]);
		free(payloads[i]);
		free(vars[i]);
	}
	free(vars);
	free(texts);
	free(bodies);
	free(payloads);
	free(notes);
	free(rows);
	return st;
}

static enum db_status site_report(PGconn *c, const struct op_close_req *rq, int year, int month,
				  enum bill_report_kind kind)
{
	char *text = NULL;
	enum db_status st;
	if (kind == REPORT_FINANCE) {
		struct finance_report f;
		if ((st = op_report_finance(c, rq->site_id, year, month, &f)) == DB_OK)
			text = report_doc_finance_text(&f);
		finance_report_free(&f);
	} else {
		struct energy_report e;
		if ((st = op_report_energy(c, rq->site_id, year, month, &e)) == DB_OK)
			text = report_doc_energy_text(&e);
		energy_report_free(&e);
	}
	if (st != DB_OK)
		return st;
	struct report_row row = {bill_report_kind_name(kind), 0, text};
	st = store_reports_insert(c, rq->site_id, rq->period, rq->now_us, "month_close", &row, 1);
	free(text);
	return st;
}

enum db_status op_month_close(PGconn *c, const struct op_close_req *rq, struct op_close_result *out)
{
	memset(out, 0, sizeof *out);
	int year = 0, month = 0;
	sscanf(rq->period, "%d-%d", &year, &month);
	char rid[64];
	snprintf(rid, sizeof rid, "close-site_%lld-%s", (long long)rq->site_id, rq->period);
	enum db_status st = store_close_claim(c, rq->site_id, rq->period, rq->now_us, &out->claimed);
	if (st != DB_OK || !out->claimed) /* another process closed it */
		return st;
	/* 1. the month's automatic allocations */
	int64_t t0 = srv_mono_us();
	int64_t *pools;
	int npools;
	if ((st = store_pools_uncommitted_auto(c, rq->site_id, rq->period, &pools, &npools)) != DB_OK)
		return st;
	int64_t *runs = calloc((size_t)npools + 1, sizeof *runs);
	if (!runs)
		abort();
	for (int i = 0; i < npools && st == DB_OK; i++) {
		/* The worker commits as the API would, with no key: the same operation. */
		struct op_alloc_req op = {pools[i], rq->period, true, 0, rid, rq->now_us};
		struct alloc_run run;
		enum op_alloc_err err;
		st = op_alloc_run(c, &op, &run, &err);
		if (st == DB_OK && err) {
			srv_log(LOG_ERROR, "month close: pool_%lld %s: the allocation is refused (%d); the close waits for it",
				(long long)pools[i], rq->period, (int)err);
			st = DB_ABORT;
		}
		if (st == DB_OK)
			runs[out->allocations++] = run.run_id;
		alloc_run_free(&run);
	}
	free(pools);
	if (st != DB_OK) {
		free(runs);
		return st;
	}
	out->alloc_us = srv_mono_us() - t0;
	/* 2. statements, a range of tenants at a time */
	int64_t from = 0;
	for (;;) {
		int64_t lo, hi;
		bool none;
		if ((st = store_close_tenants(c, rq->site_id, from, CHUNK, &lo, &hi, &none)) != DB_OK)
			goto out;
		if (none)
			break;
		struct statement_set all;
		int64_t b0 = srv_mono_us();
		if ((st = op_report_statements(c, rq->site_id, lo, hi + 1, year, month, &all)) != DB_OK)
			goto out;
		int64_t b1 = srv_mono_us();
		st = store_statements(c, rq, &all, &out->statements);
		statement_set_free(&all);
		out->build_us += b1 - b0;
		out->store_us += srv_mono_us() - b1;
		if (st != DB_OK)
			goto out;
		from = hi + 1;
	}
	/* 3. the site's reports */
	int64_t s0 = srv_mono_us();
	if ((st = site_report(c, rq, year, month, REPORT_FINANCE)) != DB_OK ||
	    (st = site_report(c, rq, year, month, REPORT_ENERGY)) != DB_OK)
		goto out;
	out->site_us = srv_mono_us() - s0;
	/* 4. the automatic commits audited as the API's are, naming the worker; last, because the
	 * audit chain's head is locked from its first row to the commit, and every audited
	 * change on every site waits on it */
	for (int i = 0; i < out->allocations && st == DB_OK; i++) {
		char target[96];
		snprintf(target, sizeof target, "{\"id\":\"run_%lld\",\"period\":\"%s\"}", (long long)runs[i],
			 rq->period);
		struct audit_row a = {0, "none", "WORKER", "month close", rid, "allocation.commit", target, NULL, 0};
		st = store_audit_insert(c, &a, rq->now_us);
	}
	if (st == DB_OK)
		st = store_close_done(c, rq->site_id, rq->period, out->statements, out->allocations);
out:
	free(runs);
	return st;
}
