/* workers.c: the worker table. A row is either a pool with its own start and stop (the
 * batching queues, whose threads wait on a condition variable, and the waiter of pull
 * gateways' held requests), or a loop: a tick that runs every period_ms of real time, at
 * once again when it says there is more, on a thread with its own connection and, when it
 * has open/close, its own state. */
#include "server/workers.h"
#include "api/api.h"
#include "api/events.h"
#include "api/metrics.h"
#include "core/hist.h"
#include "core/clock.h"
#include "core/log.h"
#include "ops/account.h"
#include "ops/alarm.h"
#include "ops/month_close.h"
#include "server/dispatch.h"
#include "server/sms.h"
#include "server/sms_poll.h"
#include "store/closes.h"
#include "store/db.h"
#include "store/partitions.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct config *cfg;

/* ---- the ticks ---- */

struct grace_tick {
	int64_t now;
	int handled;
};

static enum db_status grace_tx(PGconn *c, void *arg)
{
	struct grace_tick *t = arg;
	return bill_grace_tick(c, t->now, &t->handled);
}

/* Accounts whose grace is due: cut, hold, or end it (200 at a time). */
static int grace(void *state)
{
	(void)state;
	struct grace_tick t = {srv_clock_now_us(), 0};
	enum db_status st = db_run_tx(grace_tx, &t);
	if (st != DB_OK && st != DB_GONE)
		srv_log(LOG_ERROR, "grace: tick failed (%d); retrying", (int)st);
	else if (t.handled)
		srv_log(LOG_INFO, "grace: %d accounts due handled", t.handled);
	return t.handled == 200;
}

struct alarm_tick {
	int64_t now;
	int opened, closed;
};

static enum db_status alarm_tx(PGconn *c, void *arg)
{
	struct alarm_tick *t = arg;
	return alarms_tick(c, t->now, &t->opened, &t->closed);
}

/* Close alarms clear for long enough; comm_lost opened and closed. */
static int alarms(void *state)
{
	(void)state;
	struct alarm_tick t = {srv_clock_now_us(), 0, 0};
	enum db_status st = db_run_tx(alarm_tx, &t);
	if (st != DB_OK && st != DB_GONE)
		srv_log(LOG_ERROR, "alarms: tick failed (%d); retrying", (int)st);
	else if (t.opened || t.closed)
		srv_log(LOG_INFO, "alarms: %d comm_lost opened, %d closed", t.opened, t.closed);
	return 0;
}

static enum db_status close_tx(PGconn *c, void *arg)
{
	void **a = arg;
	return op_month_close(c, a[0], a[1]);
}

/* Month closes by outcome (closed: this process closed it; elsewhere: another process had;
 * failed: rolled back, tried again later), and how long the closed ones took. */
static const char *const close_labels[] = {"outcome=\"closed\"", "outcome=\"elsewhere\"", "outcome=\"failed\""};
static _Atomic uint64_t close_v[3];
static struct srv_counters closes = {"wattle_month_closes_total",
				     "Month closes of a site run, by outcome (failed: rolled back, tried again later)", 3,
				     close_labels, close_v, NULL};
static const int64_t close_bounds[] = {100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
				       30000000, 60000000, 120000000, 300000000, 600000000, 1800000000};
static struct core_hist close_h[2] = {{.labels = "outcome=\"closed\""}, {.labels = "outcome=\"failed\""}};
static struct core_hist_family close_time = {
	"wattle_month_close_duration_seconds", "Real time a site's month close took, by outcome", close_bounds,
	(int)(sizeof close_bounds / sizeof *close_bounds), 1e6, 2, close_h, NULL};

/* Sites whose month ended WATTLE_CLOSE_DELAY_MIN ago: close each in its own transaction. */
static int month_close(void *state)
{
	(void)state;
	PGconn *c = db_conn();
	struct close_due *due = NULL;
	int n = 0;
	if (!c || store_closes_due(c, srv_clock_now_us(), cfg->close_delay_min, &due, &n) != DB_OK)
		return 0;
	for (int i = 0; i < n; i++) {
		struct op_close_req rq = {due[i].site_id, "", srv_clock_now_us()};
		snprintf(rq.period, sizeof rq.period, "%s", due[i].period);
		struct op_close_result res;
		void *arg[2] = {&rq, &res};
		int64_t t0 = srv_mono_us();
		enum db_status st = db_run_tx(close_tx, arg);
		int64_t took = srv_mono_us() - t0;
		srv_counters_add(&closes, st != DB_OK ? 2 : res.claimed ? 0 : 1, 1);
		if (st != DB_OK || res.claimed)
			core_hist_observe(&close_time, st != DB_OK ? 1 : 0, took);
		if (st != DB_OK)
			srv_log(LOG_ERROR, "month close: site_%lld %s failed (%d); retrying later",
				(long long)rq.site_id, rq.period, (int)st);
		else if (res.claimed)
			srv_log(LOG_INFO, "month close: site_%lld %s: %d statements, %d allocations, in %lld ms"
				" (allocations %lld, statements computed %lld and stored %lld, site reports %lld)",
				(long long)rq.site_id, rq.period, res.statements, res.allocations,
				(long long)((srv_mono_us() - t0) / 1000), (long long)(res.alloc_us / 1000),
				(long long)(res.build_us / 1000), (long long)(res.store_us / 1000),
				(long long)(res.site_us / 1000));
	}
	free(due);
	return 0;
}

/* ---- the raw tables' month partitions ---- */

#define PART_AHEAD_MONTHS 3 /* made ahead of the current UTC month */

/* The start of the UTC month `delta` months from the one holding us, in unix microseconds. */
static int64_t utc_month_us(int64_t us, int delta)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	int m = tm.tm_year * 12 + tm.tm_mon + delta;
	struct tm first = {0};
	first.tm_year = m / 12;
	first.tm_mon = m % 12;
	first.tm_mday = 1;
	return (int64_t)timegm(&first) * 1000000;
}

struct part_pass {
	int64_t from, to, before;
	bool retire;
	struct part_change *ch;
	int n;
};

static enum db_status part_tx(PGconn *c, void *arg)
{
	struct part_pass *p = arg;
	free(p->ch);
	p->ch = NULL;
	p->n = 0;
	return p->retire ? store_partitions_retire(c, p->before, &p->ch, &p->n)
			 : store_partitions_ensure(c, p->from, p->to, &p->ch, &p->n);
}

/* Every month from the oldest kept (WATTLE_READINGS_KEEP_MONTHS back) to PART_AHEAD_MONTHS
 * ahead has its partition; then the months older than kept are dropped, each only once every
 * site's months it overlaps are closed (its statements and reports made from the rollups). On
 * wattle's clock, UTC months. A line per partition made, dropped or held back. */
static int partitions(void *state)
{
	(void)state;
	int64_t now = srv_clock_now_us();
	int keep = (int)cfg->keep_months;
	struct part_pass p = {utc_month_us(now, -(keep ? keep : 1)), utc_month_us(now, PART_AHEAD_MONTHS),
			      utc_month_us(now, -keep), false, NULL, 0};
	for (int pass = 0; pass < (keep ? 2 : 1); pass++) {
		p.retire = pass == 1;
		enum db_status st = db_run_tx(part_tx, &p);
		if (st != DB_OK) {
			if (st != DB_GONE)
				srv_log(LOG_ERROR, "partitions: %s failed (%d); trying again later",
					p.retire ? "dropping expired months" : "making months ahead", (int)st);
			break;
		}
		for (int i = 0; i < p.n; i++) {
			const struct part_change *x = &p.ch[i];
			if (!strcmp(x->action, "created"))
				srv_log(LOG_INFO, "partitions: created %s", x->name);
			else if (!strcmp(x->action, "dropped"))
				srv_log(LOG_INFO, "partitions: dropped %s (older than %d months)", x->name, keep);
			else if (!strcmp(x->action, "held"))
				srv_log(LOG_WARN, "partitions: keeping %s past %d months: a site's month it"
					" overlaps is not closed yet", x->name, keep);
			else
				srv_log(LOG_INFO, "partitions: deleted %lld rows older than %d months from %s",
					(long long)x->n, keep, x->name);
		}
	}
	free(p.ch);
	return 0;
}

/* ---- the pools ---- */

static void readings_start(void) { api_readings_start(cfg->ingest_workers); }

/* Account reads: one worker per two cores. A worker waits on the database most of the time,
 * and fewer workers make bigger batches (measured on 2 cores: one worker answered 20% more
 * reads than two, with half the database time per read). */
static void accounts_start(void) { api_accounts_start((cfg->threads + 1) / 2); }

/* The held pulls of pull gateways: a handed-out command waits for its ack as long as a
 * pushed one does (the lease, WATTLE_DISPATCH_LEASE_MS of real time). */
static void pulls_start(void) { api_pull_start(cfg->dispatch.lease_ms * 1000 * srv_clock_speed()); }

/* The thread that feeds GET /v1/events streams (api/events.c). */
static void events_start(void) { api_events_start(cfg->sse_heartbeat_s, (int)cfg->sse_max_clients); }

/* Provider calls wait on the network, not the CPU: a thread each for up to 16 at once. */
static void provider_calls_start(void) { api_provider_calls_start(16); }

static bool alarms_on(void) { return alarms_enabled(); }

static int orders_query(void *state)
{
	(void)state;
	return api_orders_query_tick();
}

static int reconcile(void *state)
{
	(void)state;
	return api_reconcile_tick();
}

static int refunds(void *state)
{
	(void)state;
	return api_refunds_tick();
}

/* ---- the table ---- */

struct srv_worker {
	const char *name;
	bool (*enabled)(void); /* NULL: always */
	/* a pool */
	void (*start)(void), (*stop)(void);
	/* or a loop */
	int period_ms;
	int (*tick)(void *state); /* 1: more to do at once */
	void *(*open)(void);      /* per-thread state, or NULL */
	void (*close)(void *);
};

static const struct srv_worker table[] = {
	{"readings", NULL, readings_start, api_readings_stop, 0, NULL, NULL, NULL},
	{"account_reads", NULL, accounts_start, api_accounts_stop, 0, NULL, NULL, NULL},
	{"command_pulls", NULL, pulls_start, api_pull_stop, 0, NULL, NULL, NULL},
	{"events", NULL, events_start, api_events_stop, 0, NULL, NULL, NULL},
	{"provider_calls", NULL, provider_calls_start, api_provider_calls_stop, 0, NULL, NULL, NULL},
	{"grace", NULL, NULL, NULL, 100, grace, NULL, NULL},
	{"alarms", alarms_on, NULL, NULL, 1000, alarms, NULL, NULL},
	{"dispatch_commands", NULL, NULL, NULL, 50, srv_dispatch_commands_tick, srv_dispatch_open, srv_dispatch_close},
	{"dispatch_notifications", NULL, NULL, NULL, 50, srv_dispatch_notes_tick, srv_dispatch_open, srv_dispatch_close},
	{"month_close", NULL, NULL, NULL, 2000, month_close, NULL, NULL},
	{"partitions", NULL, NULL, NULL, 600000, partitions, NULL, NULL},
	{"order_queries", NULL, NULL, NULL, 500, orders_query, NULL, NULL},
	{"refunds", NULL, NULL, NULL, 500, refunds, NULL, NULL},
	{"reconcile", NULL, NULL, NULL, 60000, reconcile, NULL, NULL},
	/* ticks often; polls every WATTLE_SMS_POLL_MS */
	{"sms_delivery_poll", srv_sms_poll_enabled, NULL, NULL, 250, srv_sms_poll_tick, srv_sms_poll_open,
	 srv_sms_poll_close},
};
#define NWORKERS (int)(sizeof table / sizeof table[0])

static atomic_bool stopping;
static pthread_t threads[NWORKERS];
static bool running[NWORKERS];

#define SLICE_MS 50 /* a loop sleeps in slices, so a stop is prompt */

static void *loop(void *arg)
{
	const struct srv_worker *w = arg;
	void *state = w->open ? w->open() : NULL;
	while (!atomic_load(&stopping)) {
		if (w->tick(state))
			continue;
		for (int slept = 0; slept < w->period_ms && !atomic_load(&stopping); slept += SLICE_MS) {
			int ms = w->period_ms - slept < SLICE_MS ? w->period_ms - slept : SLICE_MS;
			struct timespec ts = {0, ms * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	if (w->close)
		w->close(state);
	db_thread_close();
	return NULL;
}

void srv_workers_start(const struct config *c)
{
	cfg = c;
	srv_dispatch_configure(&c->dispatch);
	chan_wechat_configure(&c->wechat_oa);
	chan_aliyun_configure(&c->aliyun);
	chan_tencent_configure(&c->tencent);
	api_sms_hooks_configure(c->sms_callback_token);
	srv_sms_poll_configure(c->sms_poll, c->sms_poll_ms);
	srv_counters_register(&closes);
	core_hist_register(&close_time);
	atomic_store(&stopping, false);
	for (int i = 0; i < NWORKERS; i++) {
		const struct srv_worker *w = &table[i];
		running[i] = false;
		if (w->enabled && !w->enabled())
			continue;
		if (w->start) {
			w->start();
			running[i] = true;
		} else {
			running[i] = pthread_create(&threads[i], NULL, loop, (void *)w) == 0;
			if (!running[i])
				srv_log(LOG_ERROR, "workers: cannot start %s", w->name);
		}
	}
}

void srv_workers_stop(void)
{
	atomic_store(&stopping, true);
	for (int i = 0; i < NWORKERS; i++) {
		if (!running[i])
			continue;
		if (table[i].stop)
			table[i].stop();
		else
			pthread_join(threads[i], NULL);
		running[i] = false;
	}
}
