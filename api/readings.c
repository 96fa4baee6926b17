/* readings.c: meter gateways post batches; finance, operators and tenants read them back
 * and read consumption from the daily rollups. */
#include "api/api.h"
#include "core/valid.h"
#include "ops/alarm.h"
#include "ops/ingest.h"
#include "core/clock.h"
#include "core/hist.h"
#include "core/log.h"
#include "api/queue.h"
#include "store/ingest.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH 5000

void api_register_statements_readings(void);
void api_register_statements_readings(void) { bill_ingest_register(); }

/* Group commit. Handlers validate and queue their batch; workers take everything queued
 * (up to MAX_COMBINED readings, at least one request) and bill it in one transaction, so
 * many small requests share one durable commit. Each request then gets its own counts. */
#define MAX_COMBINED 5000

struct job {
	struct srv_job q; /* first: the queue links jobs through it */
	struct req *rq;
	struct bill_reading *rd;
	int n;
	int64_t arrived_us; /* srv_mono_us when its request's headers came in */
};

static struct srv_queue q = SRV_QUEUE_INIT;

struct ingest_tx {
	const char *request_id;
	struct bill_reading *rd;
	int n;
	struct bill_batch out;
};

static enum db_status ingest_tx(PGconn *c, void *arg)
{
	struct ingest_tx *t = arg;
	return bill_ingest(c, t->rd, t->n, srv_clock_now_us(), t->request_id, &t->out);
}

/* Set the reply of one request from its readings' outcomes. */
static void reply_counts(struct req *rq, const struct bill_reading *rd, int n)
{
	int accepted = 0, duplicates = 0;
	json_t *rejected = json_array();
	for (int i = 0; i < n; i++) {
		switch (rd[i].outcome) {
		case RD_BILLED:
		case RD_BASELINE:
		case RD_LATE:
			accepted++;
			break;
		case RD_DUPLICATE:
			duplicates++;
			break;
		default:
			json_array_append_new(rejected, json_pack("{s:i, s:s, s:s}", "index", rd[i].index,
								  "code", rd[i].code ? rd[i].code : "internal",
								  "message", rd[i].message));
		}
	}
	api_reply(rq, 200, json_pack("{s:i, s:i, s:o}", "accepted", accepted, "duplicates",
				     duplicates, "rejected", rejected));
}

/* Billing lag: from each billed reading's own timestamp (wattle's clock: the gateway's
 * queue and the meter's interval are in it) and from its request's arrival (real time: the
 * queue and the transaction) to the commit of its ledger posting. Gathered per batch on the
 * stack, then one atomic add per bucket used. */
static const int64_t lag_bounds[] = {5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
				     2500000, 5000000, 10000000, 30000000, 60000000, 300000000,
				     900000000, 3600000000, 21600000000, 86400000000};
#define NLAG (int)(sizeof lag_bounds / sizeof *lag_bounds)
static struct core_hist lag_h[2] = {{.labels = "from=\"reading\""}, {.labels = "from=\"arrival\""}};
static struct core_hist_family lag = {
	"wattle_billing_lag_seconds",
	"Time from a billed reading to the commit of its ledger posting: from=reading from the reading's own"
	" timestamp (wattle's clock), from=arrival from its request's arrival (real time)",
	lag_bounds, NLAG, 1e6, 2, lag_h, NULL};

static void observe_lag(struct job *first, struct job *end, const struct bill_reading *rd)
{
	uint64_t cr[NLAG + 1] = {0}, ca[NLAG + 1] = {0}, n = 0, sr = 0, sa = 0;
	int64_t now = srv_clock_now_us(), mono = srv_mono_us();
	int at = 0;
	for (struct job *j = first; j != end; j = (struct job *)j->q.next) {
		int64_t da = mono - j->arrived_us;
		if (da < 0)
			da = 0;
		for (int i = at; i < at + j->n; i++) {
			if (rd[i].outcome != RD_BILLED)
				continue;
			int64_t dr = now - rd[i].ts_us;
			if (dr < 0) /* a meter's clock a little ahead (up to 10 minutes are taken) */
				dr = 0;
			cr[core_hist_bucket(&lag, dr)]++;
			ca[core_hist_bucket(&lag, da)]++;
			sr += (uint64_t)dr;
			sa += (uint64_t)da;
			n++;
		}
		at += j->n;
	}
	core_hist_add(&lag, 0, cr, n, sr);
	core_hist_add(&lag, 1, ca, n, sa);
}

/* Bill jobs [first, end) in one transaction, their readings copied into one array. */
static enum db_status bill_jobs(struct job *first, struct job *end, struct bill_reading **rd_out)
{
	int total = 0;
	for (struct job *j = first; j != end; j = (struct job *)j->q.next)
		total += j->n;
	struct ingest_tx t = {first->rq->request_id, malloc(((size_t)total + 1) * sizeof *t.rd), total, {0}};
	if (!t.rd)
		abort();
	int at = 0;
	for (struct job *j = first; j != end; j = (struct job *)j->q.next) {
		memcpy(t.rd + at, j->rd, (size_t)j->n * sizeof *t.rd);
		at += j->n;
	}
	enum db_status st = db_run_tx(ingest_tx, &t);
	if (st == DB_OK) {
		bill_ingest_committed(&t.out);
		observe_lag(first, end, t.rd);
	}
	*rd_out = t.rd;
	return st;
}

/* Bill a batch of requests in one transaction and answer each. When that transaction
 * fails and it held more than one request, each is billed again alone, so a request whose
 * readings make its transaction fail fails alone (a lost database fails them all alike). */
static void run_jobs(struct srv_job *batch)
{
	struct job *jobs = (struct job *)batch;
	struct bill_reading *rd;
	enum db_status st = bill_jobs(jobs, NULL, &rd);
	if (st != DB_OK && st != DB_GONE && jobs->q.next) {
		free(rd);
		rd = NULL;
		srv_log(LOG_WARN, "ingest: a group commit failed; billing its requests one by one");
	}
	int at = 0;
	for (struct job *j = jobs, *next; j; j = next) {
		next = (struct job *)j->q.next;
		struct bill_reading *mine = rd ? rd + at : NULL, *alone = NULL;
		enum db_status jst = st;
		if (!rd) {
			j->q.next = NULL;
			jst = bill_jobs(j, NULL, &alone);
			mine = alone;
		}
		if (!api_tx_failed(j->rq, jst))
			reply_counts(j->rq, mine, j->n);
		at += j->n;
		free(alone);
		mb_readings_clear(j->rd, j->n); /* the copies borrowed them; mine is answered */
		free(j->rd);
		api_complete(j->rq); /* j->rq is the server's again */
		free(j);
	}
	free(rd);
}

void api_readings_start(unsigned workers)
{
	core_hist_register(&lag);
	srv_queue_start(&q, workers, MAX_COMBINED, run_jobs);
}

void api_readings_queue(int *jobs, int *readings) { srv_queue_depth(&q, jobs, readings); }

void api_readings_stop(void) { srv_queue_stop(&q); }

void api_readings_create(struct req *rq)
{
	static const struct field spec[] = {{"readings", FK_ARRAY, F_REQ, 0, 0, 0, 0}, {0}};
	if (api_fields(rq, spec, false))
		return;
	json_t *arr = json_object_get(rq->json, "readings");
	size_t n = json_array_size(arr);
	if (n > MAX_BATCH) {
		api_field_error(rq, "readings", "at most %d readings per batch", MAX_BATCH);
		return;
	}
	struct job *j = calloc(1, sizeof *j);
	if (!j || !(j->rd = calloc(n + 1, sizeof *j->rd)))
		abort();
	j->rq = rq;
	j->n = (int)n;
	j->q.weight = (int)n;
	j->arrived_us = rq->t0_us ? rq->t0_us : srv_mono_us();
	int64_t now = srv_clock_now_us();
	for (size_t i = 0; i < n; i++) {
		j->rd[i].index = (int)i;
		j->rd[i].request_id = rq->request_id;
		j->rd[i].scope_gateway = rq->who.gateway_id;
		j->rd[i].scope_site = rq->who.site_id;
		mb_reading_decode(json_array_get(arr, i), &j->rd[i], now);
	}
	if (!srv_queue_push(&q, &j->q, api_defer_hook, rq)) {
		api_error(rq, E_SHUTTING_DOWN, NULL, NULL);
		mb_readings_clear(j->rd, j->n);
		free(j->rd);
		free(j);
	}
}

void api_meter_readings(struct req *rq)
{
	int64_t tenant, meter = api_meter_find(rq, &tenant);
	if (!meter)
		return;
	if (rq->who.role == ROLE_TENANT && tenant != rq->who.tenant_id) {
		api_error(rq, E_FORBIDDEN, NULL, "a tenant key may only read its own meters");
		return;
	}
	/* paged by time: ?after= is the next_after (a ts) of the page before, not an id */
	int64_t from, to, after, limit;
	if (api_query_time(rq, "from", 0, &from) || api_query_time(rq, "to", INT64_C(253402300799000000), &to) ||
	    api_query_time(rq, "after", -1, &after) || api_query_limit(rq, &limit))
		return;
	PGconn *c = api_read_conn(rq);
	struct reading_row *v;
	int n;
	if (!c || api_read_failed(rq, store_readings_list(c, meter, from, to, after, limit + 1, &v, &n)))
		return;
	static const char *const names[] = {"voltage_v", "current_a", "pf", "frequency_hz", "thd_v_pct", "thd_i_pct"};
	json_t *items = json_array();
	for (int i = 0; i < n && i < limit; i++) {
		json_t *o = json_pack("{s:o, s:I, s:b}", "ts", api_time_json(v[i].ts_us), "energy_wh",
				      (json_int_t)v[i].energy_wh, "billed", v[i].billed);
		json_object_set_new(o, "power_w", v[i].power_null ? json_null() : json_integer(v[i].power_w));
		for (int k = 0; k < 6; k++)
			json_object_set_new(o, names[k], v[i].values[k][0] ? json_real(strtod(v[i].values[k], NULL)) : json_null());
		json_object_set_new(o, "relay", v[i].relay[0] ? json_string(v[i].relay) : json_null());
		json_array_append_new(items, o);
	}
	json_t *next = n > limit ? json_incref(json_object_get(json_array_get(items, (size_t)limit - 1), "ts")) : json_null();
	free(v);
	api_reply(rq, 200, json_pack("{s:o, s:o}", "items", items, "next_after", next));
}

/* ?name=YYYY-MM-DD. Replies 400 and returns NULL if absent or bad. */
static const char *query_date(struct req *rq, const char *name)
{
	const char *s = api_query(rq, name);
	int64_t t;
	char full[40];
	if (s && strlen(s) == 10) {
		snprintf(full, sizeof full, "%sT00:00:00Z", s);
		if (api_parse_time(full, &t) == 0)
			return s;
	}
	api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", name),
		  "%s must be a site-local date YYYY-MM-DD", name);
	return NULL;
}

void api_consumption(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id || api_tenant_scope(rq, id))
		return;
	const char *from = query_date(rq, "from");
	const char *to = from ? query_date(rq, "to") : NULL;
	if (!to)
		return;
	const char *g = api_query(rq, "granularity");
	if (!g)
		g = "day";
	if (strcmp(g, "day") && strcmp(g, "month")) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "granularity"),
			  "granularity must be day or month");
		return;
	}
	PGconn *c = api_read_conn(rq);
	struct consumption_row *v;
	int n;
	if (!c || api_read_failed(rq, store_consumption(c, id, from, to, !strcmp(g, "month"), &v, &n)))
		return;
	json_t *items = json_array(), *cur = NULL;
	int64_t total_wh = 0, total_cost = 0, cur_wh = 0, cur_cost = 0;
	for (int i = 0; i < n; i++) {
		if (!cur || strcmp(v[i - 1].period, v[i].period)) {
			cur_wh = cur_cost = 0;
			cur = json_pack("{s:s, s:I, s:I, s:[]}", "period", v[i].period, "energy_wh", (json_int_t)0,
					"cost_nano", (json_int_t)0, "bands");
			json_array_append_new(items, cur);
		}
		json_array_append_new(json_object_get(cur, "bands"),
				      json_pack("{s:s, s:I, s:I}", "band", v[i].band, "energy_wh", (json_int_t)v[i].wh,
						"cost_nano", (json_int_t)v[i].cost_nano));
		cur_wh += v[i].wh;
		cur_cost += v[i].cost_nano;
		json_object_set_new(cur, "energy_wh", json_integer(cur_wh));
		json_object_set_new(cur, "cost_nano", json_integer(cur_cost));
		total_wh += v[i].wh;
		total_cost += v[i].cost_nano;
	}
	free(v);
	api_reply(rq, 200,
		  json_pack("{s:o, s:s, s:s, s:s, s:o, s:I, s:I}", "tenant_id", api_id_json(ID_TENANT, id),
			    "from", from, "to", to, "granularity", g, "items", items, "energy_wh",
			    (json_int_t)total_wh, "cost_nano", (json_int_t)total_cost));
}
