/* close.c: the month close. Every few seconds a worker looks for sites whose previous
 * site-local month ended at least WATTLE_CLOSE_DELAY_MIN ago (default 60: late readings
 * have come in) and is not closed. One transaction per site and month claims the close
 * (month_closes' primary key: once across processes), commits the site's auto pools for
 * the month, stores every tenant statement (500 tenants at a time), the finance summary
 * and the energy report, and queues a "statement ready" message for each tenant. */
#include "api/api.h"
#include "core/messages.h"
#include "core/money.h"
#include "ops/allocation.h"
#include "ops/report.h"
#include "store/pools.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 500

static const struct db_stmt close_stmts[] = {
	{"close_due", /* close_loop: sites with a month to close */
	 "SELECT s.id, to_char(x.cur - interval '1 month', 'YYYY-MM') FROM sites s,"
	 " LATERAL (SELECT date_trunc('month', (" SQL_TS("$1") " AT TIME ZONE s.timezone)"
	 "  - $2 * interval '1 minute') AS cur) x"
	 " WHERE s.created_at < (x.cur AT TIME ZONE s.timezone)"
	 " AND NOT EXISTS (SELECT 1 FROM month_closes mc WHERE mc.site_id = s.id"
	 "  AND mc.period = to_char(x.cur - interval '1 month', 'YYYY-MM'))"
	 " ORDER BY s.id LIMIT 20"},
	{"close_claim", /* close_tx: whoever inserts first closes */
	 "INSERT INTO month_closes (site_id, period, closed_at, statements, allocations)"
	 " VALUES ($1, $2, " SQL_TS("$3") ", 0, 0) ON CONFLICT DO NOTHING RETURNING 1"},
	{"close_tenants", /* close_tx: the next range of tenant ids */
	 "SELECT min(id), max(id) FROM (SELECT id FROM tenants WHERE site_id = $1 AND id >= $2 ORDER BY id LIMIT $3) t"},
	{"close_reports", /* close_tx */
	 "INSERT INTO reports (kind, site_id, tenant_id, period, data, created_at, origin)"
	 " SELECT k, $1, nullif(t, 0), $2, d::jsonb, " SQL_TS("$3") ", 'month_close'"
	 " FROM unnest($4::text[], $5::bigint[], $6::text[]) AS x(k, t, d)"},
	{"close_notes", /* close_tx: SMS where there is a phone, and the tenant app's event */
	 "INSERT INTO notifications (tenant_id, kind, channel, recipient, body, payload, created_at, next_attempt_at)"
	 " SELECT t, 'statement_ready', ch, CASE ch WHEN 'sms' THEN ph END, b,"
	 "  jsonb_build_object('event', 'statement_ready', 'tenant_id', 'ten_' || t, 'period', $1::text,"
	 "  'closing_balance_minor', cb), " SQL_TS("$2") ", " SQL_TS("$2")
	 " FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[]) AS x(t, ph, b, cb)"
	 " CROSS JOIN (VALUES ('sms'), ('webhook')) AS v(ch) WHERE ch = 'webhook' OR ph IS NOT NULL"},
	{"close_done", /* close_tx */
	 "UPDATE month_closes SET statements = $3, allocations = $4 WHERE site_id = $1 AND period = $2"},
	{0, 0},
};

void api_register_statements_close(void);
void api_register_statements_close(void) { db_register(close_stmts); }

struct close_tx {
	int64_t site;
	char period[8];
	int year, month;
	bool claimed;
	int statements, allocations;
	int64_t alloc_us, build_us, store_us, site_us; /* where the time went */
};

static enum db_status exec(PGconn *c, const char *stmt, int n, const char *const *p, PGresult **out)
{
	PGresult *r;
	enum db_status st = db_exec(c, stmt, n, p, &r);
	if (out && st == DB_OK)
		*out = r;
	else
		PQclear(r);
	return st;
}

/* Store a range of statements and tell their tenants. */
static enum db_status store_statements(PGconn *c, struct close_tx *t, json_t *all, const char *site,
				       const char *now)
{
	struct srv_buf k = {0}, tid = {0}, data = {0}, nt = {0}, ph = {0}, body = {0}, cb = {0};
	size_t i;
	json_t *s;
	json_array_foreach(all, i, s) {
		int64_t tenant = api_id_parse(ID_TENANT, json_string_value(json_object_get(json_object_get(s, "tenant"), "id")));
		const char *phone = json_string_value(json_object_get(s, "phone"));
		char msg[400];
		int64_t closing = json_integer_value(json_object_get(s, "closing_balance_minor"));
		struct msg_money cm = {closing, (int)json_integer_value(json_object_get(s, "minor_digits")),
				       json_string_value(json_object_get(s, "currency"))};
		msg_statement_ready(msg, sizeof msg, json_string_value(json_object_get(json_object_get(s, "tenant"), "name")),
				    t->period, cm);
		srv_buf_elem(&nt);
		srv_buf_i64(&nt, tenant);
		srv_buf_elem(&ph);
		if (phone)
			srv_buf_pg_quoted(&ph, phone);
		else
			srv_buf_puts(&ph, "NULL");
		srv_buf_elem(&body);
		srv_buf_pg_quoted(&body, msg);
		srv_buf_elem(&cb);
		srv_buf_i64(&cb, closing);
		json_object_del(s, "phone"); /* the statement needs no phone number */
		char *text = json_dumps(s, JSON_COMPACT);
		srv_buf_elem(&k);
		srv_buf_puts(&k, "tenant_statement");
		srv_buf_elem(&tid);
		srv_buf_i64(&tid, tenant);
		srv_buf_elem(&data);
		srv_buf_pg_quoted(&data, text);
		free(text);
	}
	enum db_status st = DB_OK;
	if (k.len) {
		struct srv_buf *arrs[] = {&k, &tid, &data, &nt, &ph, &body, &cb};
		for (int a = 0; a < 7; a++)
			srv_buf_putc(arrs[a], '}');
		const char *p[6] = {site, t->period, now, k.p, tid.p, data.p};
		const char *q[6] = {t->period, now, nt.p, ph.p, body.p, cb.p};
		if ((st = exec(c, "close_reports", 6, p, NULL)) == DB_OK)
			st = exec(c, "close_notes", 6, q, NULL);
		t->statements += (int)json_array_size(all);
	}
	srv_buf_free(&k);
	srv_buf_free(&tid);
	srv_buf_free(&data);
	srv_buf_free(&nt);
	srv_buf_free(&ph);
	srv_buf_free(&body);
	srv_buf_free(&cb);
	return st;
}

static enum db_status site_report(PGconn *c, struct close_tx *t, enum bill_report_kind kind, const char *site,
				  const char *now)
{
	json_t *o = NULL;
	enum db_status st = kind == REPORT_FINANCE ? bill_report_finance(c, t->site, t->year, t->month, &o)
						   : bill_report_energy(c, t->site, t->year, t->month, &o);
	if (st != DB_OK)
		return st;
	char *text = json_dumps(o, JSON_COMPACT);
	struct srv_buf k = {0}, tid = {0}, data = {0};
	srv_buf_elem(&k);
	srv_buf_puts(&k, bill_report_kind_name(kind));
	srv_buf_putc(&k, '}');
	srv_buf_puts(&tid, "{0}");
	srv_buf_elem(&data);
	srv_buf_pg_quoted(&data, text);
	srv_buf_putc(&data, '}');
	const char *p[6] = {site, t->period, now, k.p, tid.p, data.p};
	st = exec(c, "close_reports", 6, p, NULL);
	free(text);
	json_decref(o);
	srv_buf_free(&k);
	srv_buf_free(&tid);
	srv_buf_free(&data);
	return st;
}

static enum db_status close_tx(PGconn *c, void *arg)
{
	struct close_tx *t = arg;
	t->claimed = false;
	t->statements = t->allocations = 0;
	char site[I64_BUF], now[I64_BUF], rid[64];
	api_i64(site, t->site);
	api_i64(now, srv_clock_now_us());
	snprintf(rid, sizeof rid, "close-site_%lld-%s", (long long)t->site, t->period);
	const char *p[3] = {site, t->period, now};
	PGresult *r;
	enum db_status st = exec(c, "close_claim", 3, p, &r);
	if (st != DB_OK)
		return st;
	t->claimed = PQntuples(r) == 1;
	PQclear(r);
	if (!t->claimed) /* another process closed it */
		return DB_OK;
	/* 1. the month's automatic allocations */
	int64_t t0 = srv_mono_us();
	t->build_us = t->store_us = 0;
	int64_t *pools;
	int npools;
	if ((st = store_pools_uncommitted_auto(c, t->site, t->period, &pools, &npools)) != DB_OK)
		return st;
	for (int i = 0; i < npools && st == DB_OK; i++) {
		/* The worker commits as the API would, with no key: the same operation. */
		struct op_alloc_req op = {pools[i], t->period, true, 0, rid, srv_clock_now_us()};
		struct alloc_run run;
		enum op_alloc_err err;
		st = op_alloc_run(c, &op, &run, &err);
		if (st == DB_OK && err) {
			srv_log(LOG_ERROR, "month close: pool_%lld %s: the allocation is refused (%d); the close waits for it",
				(long long)pools[i], t->period, (int)err);
			st = DB_ABORT;
		}
		alloc_run_free(&run);
		t->allocations += st == DB_OK;
	}
	free(pools);
	if (st != DB_OK)
		return st;
	t->alloc_us = srv_mono_us() - t0;
	/* 2. statements, a range of tenants at a time */
	int64_t from = 0;
	for (;;) {
		char f[I64_BUF], lim[I64_BUF];
		const char *q[3] = {site, api_i64(f, from), api_i64(lim, CHUNK)};
		if ((st = exec(c, "close_tenants", 3, q, &r)) != DB_OK)
			return st;
		bool none = PQgetisnull(r, 0, 0);
		int64_t lo = none ? 0 : db_int64(r, 0, 0), hi = none ? 0 : db_int64(r, 0, 1);
		PQclear(r);
		if (none)
			break;
		json_t *all = NULL;
		int64_t b0 = srv_mono_us();
		if ((st = bill_report_statements(c, t->site, lo, hi + 1, t->year, t->month, &all)) != DB_OK)
			return st;
		int64_t b1 = srv_mono_us();
		st = store_statements(c, t, all, site, now);
		json_decref(all);
		t->build_us += b1 - b0;
		t->store_us += srv_mono_us() - b1;
		if (st != DB_OK)
			return st;
		from = hi + 1;
	}
	/* 3. the site's reports */
	int64_t s0 = srv_mono_us();
	if ((st = site_report(c, t, REPORT_FINANCE, site, now)) != DB_OK ||
	    (st = site_report(c, t, REPORT_ENERGY, site, now)) != DB_OK)
		return st;
	t->site_us = srv_mono_us() - s0;
	char ns[I64_BUF], na[I64_BUF];
	const char *d[4] = {site, t->period, api_i64(ns, t->statements), api_i64(na, t->allocations)};
	return exec(c, "close_done", 4, d, NULL);
}

static pthread_t thread;
static atomic_bool stopping;
static bool started;

static int64_t delay_min = 60; /* WATTLE_CLOSE_DELAY_MIN, set by api_close_start */

static void *close_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		PGconn *c = db_conn();
		PGresult *due = NULL;
		if (c) {
			char now[I64_BUF], delay[I64_BUF];
			const char *p[2] = {api_i64(now, srv_clock_now_us()), api_i64(delay, delay_min)};
			if (db_exec(c, "close_due", 2, p, &due) != DB_OK) {
				PQclear(due);
				due = NULL;
			}
		}
		for (int i = 0; due && i < PQntuples(due) && !atomic_load(&stopping); i++) {
			struct close_tx t = {db_int64(due, i, 0), "", 0, 0, false, 0, 0, 0, 0, 0, 0};
			snprintf(t.period, sizeof t.period, "%s", PQgetvalue(due, i, 1));
			sscanf(t.period, "%d-%d", &t.year, &t.month);
			int64_t t0 = srv_mono_us();
			enum db_status st = db_run_tx(close_tx, &t);
			if (st != DB_OK)
				srv_log(LOG_ERROR, "month close: site_%lld %s failed (%d); retrying later",
					(long long)t.site, t.period, (int)st);
			else if (t.claimed)
				srv_log(LOG_INFO, "month close: site_%lld %s: %d statements, %d allocations, in %lld ms"
					" (allocations %lld, statements computed %lld and stored %lld, site reports %lld)",
					(long long)t.site, t.period, t.statements, t.allocations,
					(long long)((srv_mono_us() - t0) / 1000), (long long)(t.alloc_us / 1000),
					(long long)(t.build_us / 1000), (long long)(t.store_us / 1000),
					(long long)(t.site_us / 1000));
		}
		PQclear(due);
		for (int i = 0; i < 20 && !atomic_load(&stopping); i++) {
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	db_thread_close();
	return NULL;
}

void api_close_start(int64_t delay)
{
	delay_min = delay;
	atomic_store(&stopping, false);
	started = pthread_create(&thread, NULL, close_loop, NULL) == 0;
}

void api_close_stop(void)
{
	atomic_store(&stopping, true);
	if (started)
		pthread_join(thread, NULL);
	started = false;
}
