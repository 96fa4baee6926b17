/* order_query.c: the query worker's tick (api_orders_query_tick): no missed money. An open
 * order is asked about from WATTLE_PAY_QUERY_AFTER_S (30 s) after it was made, backing off
 * (doubling, at most 10 minutes, never past its expiry) until it is paid, closed or expired.
 * A paid order is credited exactly as a notification would credit it, under the same UNIQUE
 * payment id, so a notification and a query for one payment credit once, whichever comes
 * first. An expired order, and one whose creation had no answer, is closed with the
 * provider so that it can no longer be paid. Provider calls are made between transactions:
 * orders are claimed (moved a lease on) in one, asked about, and each outcome recorded in
 * its own. */
#include "api/payments.h"
#include "api/provider.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/payments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM 20
/* Longer than a claimed batch can take (each order a query and a close, each up to the
 * timeout), so that no other process asks about an order this one is still asking about. */
#define LEASE_US ((2 * CLAIM + 1) * (int64_t)pay_cfg.timeout_ms * 1000)
#define GIVE_UP_US (86400 * INT64_C(1000000))

struct claim_tx {
	int64_t now;
	struct order o[CLAIM];
	int n;
};

static enum db_status claim_tx(PGconn *c, void *arg)
{
	struct claim_tx *t = arg;
	return store_orders_claim(c, t->now, LEASE_US, t->o, CLAIM, &t->n);
}

/* The next query of o after attempts: query_after doubling, capped, and not past expiry
 * (then once more at expiry, to close it). */
static int64_t next_query(const struct order *o, int64_t now)
{
	int64_t next = now + pay_backoff_us(o->query_attempts);
	return o->expires_us > now && next > o->expires_us ? o->expires_us : next;
}

struct step_tx {
	const struct order *o;
	enum { ST_REQUERY, ST_CLOSED, ST_CLOSED_UNMADE, ST_CREDIT } what;
	int64_t next_us;
	struct pay_note note;
	struct pay_result res;
};

static enum db_status step_tx(PGconn *c, void *arg)
{
	struct step_tx *t = arg;
	switch (t->what) {
	case ST_REQUERY:
		return store_order_requery(c, t->o->id, t->next_us);
	case ST_CLOSED:
		return store_order_closed(c, t->o->id, srv_clock_now_us());
	case ST_CLOSED_UNMADE:
		return store_order_closed_unmade(c, t->o->id, srv_clock_now_us());
	case ST_CREDIT: {
		enum pay_err err;
		t->note.now_us = srv_clock_now_us();
		enum db_status st = op_payment_credit(c, &t->note, &t->res, &err);
		if (st == DB_OK && t->res.out != PAY_CREDITED) /* a replay or a conflict: nothing more to ask */
			st = store_order_requery(c, t->o->id, 0);
		return st;
	}
	}
	return DB_HARD;
}

static void run_step(struct step_tx *t)
{
	enum db_status st = db_run_tx(step_tx, t);
	if (st != DB_OK)
		srv_log(LOG_ERROR, "orders: ord_%lld: recording what %s said failed (%d); it is asked again",
			(long long)t->o->id, t->o->provider, (int)st);
}

/* Close o with the provider (it expired unpaid, or its creation had no answer). */
static void close_order(const struct order *o, enum pay_provider p, int64_t now)
{
	struct prov_status ps;
	struct step_tx t = {o, ST_CLOSED, 0, {0}, {0}};
	if (prov_order_close(p, o->out_trade_no, o->provider_ref, &ps) == 0) {
		api_order_count(p, "closed");
		srv_log(LOG_INFO, "orders: ord_%lld %s %s closed at the provider", (long long)o->id, o->provider,
			o->out_trade_no);
	} else {
		/* Paid in between: ask again at once. Anything else: later. */
		t.what = ST_REQUERY;
		t.next_us = !strcmp(ps.code, "paid") ? now : next_query(o, now);
		srv_log(LOG_WARN, "orders: ord_%lld %s %s: closing failed: %s %s (%s)", (long long)o->id, o->provider,
			o->out_trade_no, prov_result_name(ps.result), ps.code, ps.message);
	}
	run_step(&t);
}

static void ask(const struct order *o, int64_t now)
{
	enum pay_provider p = (enum pay_provider)pay_provider_parse(o->provider);
	struct step_tx t = {o, ST_REQUERY, 0, {0}, {0}};
	if (!prov_enabled(p)) { /* the credentials went away: nobody to ask */
		run_step(&t);
		return;
	}
	struct prov_trade tr;
	struct prov_status ps;
	/* failed, or left creating by a process that died: nobody has its code; close it */
	bool done_with = !strcmp(o->status, "failed") || !strcmp(o->status, "creating") || o->expires_us <= now;
	if (o->expires_us + GIVE_UP_US <= now) {
		/* a day past its expiry no provider keeps an unpaid order: stop asking */
		srv_log(LOG_WARN, "orders: ord_%lld %s %s: no answer a day past its expiry; no longer asked",
			(long long)o->id, o->provider, o->out_trade_no);
		t.what = ST_CLOSED;
		run_step(&t);
		return;
	}
	if (prov_order_query(p, o->out_trade_no, o->provider_ref, &tr, &ps)) {
		api_query_count(p, "error");
		srv_log(LOG_WARN, "orders: ord_%lld %s %s: query failed: %s %s (%s)", (long long)o->id, o->provider,
			o->out_trade_no, prov_result_name(ps.result), ps.code, ps.message);
		/* nothing to ask by (a Stripe session whose id never came back): nothing can pay it.
		 * But o is what was claimed: a creation still under way then (its lease ran out
		 * while it waited for the provider) may have answered since, and the order is
		 * open with a session a tenant can pay; that one stays open (found by the fault
		 * suite: closed here, it was paid unseen until the day's reconciliation). */
		t.next_us = !strcmp(ps.code, "no_reference") ? 0 : next_query(o, now);
		if (!t.next_us)
			t.what = ST_CLOSED_UNMADE;
		run_step(&t);
		return;
	}
	switch (tr.state) {
	case TRADE_PAID: {
		api_query_count(p, "paid");
		char *ev = tr.raw ? json_dumps(tr.raw, JSON_COMPACT) : NULL;
		char rid[48];
		snprintf(rid, sizeof rid, "query-ord_%lld", (long long)o->id);
		t.what = ST_CREDIT;
		t.note = (struct pay_note){.prov = p, .txn = tr.txn, .out_trade_no = o->out_trade_no,
					   .amount = tr.amount_minor, .event_json = ev ? ev : "{}", .request_id = rid};
		snprintf(t.note.currency, sizeof t.note.currency, "%s", *tr.currency ? tr.currency : o->currency);
		run_step(&t);
		srv_log(t.res.out == PAY_CONFLICT ? LOG_WARN : LOG_INFO,
			"orders: ord_%lld %s %s: paid (%s %lld %s), found by query: %s%s%s", (long long)o->id, o->provider,
			o->out_trade_no, tr.txn, (long long)tr.amount_minor, t.note.currency,
			t.res.out == PAY_CREDITED ? "credited" : t.res.out == PAY_REPLAY ? "already recorded" : "kept as a conflict",
			t.res.conflict ? ": " : "", t.res.conflict ? t.res.conflict : "");
		free(ev);
		break;
	}
	case TRADE_CLOSED:
		api_query_count(p, "closed");
		t.what = ST_CLOSED;
		run_step(&t);
		break;
	case TRADE_OPEN:
	case TRADE_UNKNOWN: /* Alipay knows a precreated trade only once it is scanned */
		api_query_count(p, tr.state == TRADE_OPEN ? "open" : "unknown");
		if (done_with) {
			close_order(o, p, now);
		} else {
			t.next_us = next_query(o, now);
			run_step(&t);
		}
		break;
	}
	json_decref(tr.raw);
}

int api_orders_query_tick(void)
{
	struct claim_tx t = {srv_clock_now_us(), {{0}}, 0};
	enum db_status st = db_run_tx(claim_tx, &t);
	if (st != DB_OK) {
		if (st != DB_GONE)
			srv_log(LOG_ERROR, "orders: claiming orders to query failed (%d); retrying", (int)st);
		return 0;
	}
	for (int i = 0; i < t.n; i++)
		ask(&t.o[i], t.now);
	return t.n == CLAIM;
}
