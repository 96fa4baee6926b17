/* metrics.c: lock-free request counters and latency histograms by route and status. */
#include "api/metrics.h"
#include "ops/ingest.h"
#include "core/buf.h"
#include "store/db.h"
#include "api/req.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 128
static const unsigned statuses[] = {200, 201, 202, 204, 400, 401, 403, 404, 405,
				    409, 413, 415, 422, 423, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0])
#define NOTHER NSTATUS /* any other status */
/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t bounds_us[] = {500, 1000, 2500, 5000, 10000, 25000, 50000,
				    100000, 250000, 500000, 1000000, 2500000};
#define NBOUNDS (sizeof bounds_us / sizeof bounds_us[0])

struct series {
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
	_Atomic uint64_t buckets[NBOUNDS + 1];
};

static struct series table[MAX_ROUTES + 1][NSTATUS + 1];

static unsigned status_slot(unsigned status)
{
	for (unsigned i = 0; i < NSTATUS; i++)
		if (statuses[i] == status)
			return i;
	return NOTHER;
}

void srv_metrics_observe(int route_index, unsigned status, int64_t dur_us)
{
	if (route_index < 0 || route_index > MAX_ROUTES)
		route_index = MAX_ROUTES;
	struct series *s = &table[route_index][status_slot(status)];
	unsigned b = 0;
	while (b < NBOUNDS && dur_us > bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, (uint64_t)(dur_us < 0 ? 0 : dur_us),
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
}

static struct srv_counters *_Atomic families;

void srv_counters_register(struct srv_counters *c)
{
	for (struct srv_counters *f = atomic_load(&families); f; f = f->next)
		if (f == c) /* registered already (statements are registered again per test) */
			return;
	c->next = atomic_load(&families);
	while (!atomic_compare_exchange_weak(&families, &c->next, c))
		;
}

void srv_counters_add(struct srv_counters *c, int i, uint64_t n)
{
	if (i >= 0 && i < c->n)
		atomic_fetch_add_explicit(&c->v[i], n, memory_order_relaxed);
}

char *srv_metrics_render(size_t *len)
{
	struct srv_buf b = {0};
	int nroutes = api_route_count();
	srv_buf_printf(&b, "# HELP wattle_http_requests_total HTTP requests by route and status.\n"
		    "# TYPE wattle_http_requests_total counter\n");
	for (int r = 0; r <= nroutes && r <= MAX_ROUTES; r++) {
		const char *name = r < nroutes ? api_routes[r].name : "unmatched";
		const char *method = r < nroutes ? api_routes[r].method : "";
		for (unsigned s = 0; s <= NSTATUS; s++) {
			uint64_t n = atomic_load(&table[r][s].count);
			if (n)
				srv_buf_printf(&b,
					"wattle_http_requests_total{method=\"%s\",route=\"%s\","
					"status=\"%s%u\"} %llu\n",
					method, name, s == NOTHER ? "other" : "",
					s == NOTHER ? 0 : statuses[s], (unsigned long long)n);
		}
	}
	srv_buf_printf(&b, "# HELP wattle_http_request_duration_seconds Request latency by route and status.\n"
		    "# TYPE wattle_http_request_duration_seconds histogram\n");
	for (int r = 0; r <= nroutes && r <= MAX_ROUTES; r++) {
		const char *name = r < nroutes ? api_routes[r].name : "unmatched";
		const char *method = r < nroutes ? api_routes[r].method : "";
		for (unsigned s = 0; s <= NSTATUS; s++) {
			struct series *x = &table[r][s];
			uint64_t n = atomic_load(&x->count);
			if (!n)
				continue;
			char lbl[256];
			if (s == NOTHER)
				snprintf(lbl, sizeof lbl, "method=\"%s\",route=\"%s\",status=\"other\"",
					 method, name);
			else
				snprintf(lbl, sizeof lbl, "method=\"%s\",route=\"%s\",status=\"%u\"",
					 method, name, statuses[s]);
			uint64_t cum = 0;
			for (unsigned k = 0; k <= NBOUNDS; k++) {
				cum += atomic_load(&x->buckets[k]);
				if (k < NBOUNDS)
					srv_buf_printf(&b, "wattle_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
						lbl, (double)bounds_us[k] / 1e6, (unsigned long long)cum);
				else
					srv_buf_printf(&b, "wattle_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
						lbl, (unsigned long long)cum);
			}
			srv_buf_printf(&b, "wattle_http_request_duration_seconds_sum{%s} %.6f\n", lbl,
				(double)atomic_load(&x->sum_us) / 1e6);
			srv_buf_printf(&b, "wattle_http_request_duration_seconds_count{%s} %llu\n", lbl,
				(unsigned long long)n);
		}
	}
	struct db_stats ds;
	db_stats_get(&ds);
	srv_buf_printf(&b,
		"# HELP wattle_db_tx_commits_total Database transactions committed.\n"
		"# TYPE wattle_db_tx_commits_total counter\nwattle_db_tx_commits_total %llu\n"
		"# HELP wattle_db_tx_retries_total Transactions run again after a serialization failure or deadlock.\n"
		"# TYPE wattle_db_tx_retries_total counter\nwattle_db_tx_retries_total %llu\n"
		"# HELP wattle_db_unavailable_total Transactions that found the database gone (answered 503).\n"
		"# TYPE wattle_db_unavailable_total counter\nwattle_db_unavailable_total %llu\n"
		"# HELP wattle_db_connects_total Database connections opened.\n"
		"# TYPE wattle_db_connects_total counter\nwattle_db_connects_total %llu\n"
		"# HELP wattle_db_connect_failures_total Database connections that could not be opened.\n"
		"# TYPE wattle_db_connect_failures_total counter\nwattle_db_connect_failures_total %llu\n"
		"# HELP wattle_db_statements_total Prepared statements executed.\n"
		"# TYPE wattle_db_statements_total counter\nwattle_db_statements_total %llu\n",
		(unsigned long long)ds.tx_commits, (unsigned long long)ds.tx_retries,
		(unsigned long long)ds.tx_gone, (unsigned long long)ds.connects,
		(unsigned long long)ds.connect_failures, (unsigned long long)ds.statements);
	struct bill_ingest_stats is;
	bill_ingest_stats_get(&is);
	srv_buf_printf(&b,
		"# HELP wattle_ingest_batches_total Readings batches billed (a group commit may bill several requests in one).\n"
		"# TYPE wattle_ingest_batches_total counter\nwattle_ingest_batches_total %llu\n"
		"# HELP wattle_ingest_readings_total Readings by outcome.\n"
		"# TYPE wattle_ingest_readings_total counter\n"
		"wattle_ingest_readings_total{outcome=\"billed\"} %llu\n"
		"wattle_ingest_readings_total{outcome=\"baseline\"} %llu\n"
		"wattle_ingest_readings_total{outcome=\"late\"} %llu\n"
		"wattle_ingest_readings_total{outcome=\"duplicate\"} %llu\n"
		"wattle_ingest_readings_total{outcome=\"rejected\"} %llu\n"
		"# HELP wattle_ingest_charged_minor_total Whole minor units charged to ledgers by ingest.\n"
		"# TYPE wattle_ingest_charged_minor_total counter\nwattle_ingest_charged_minor_total %llu\n",
		(unsigned long long)is.batches, (unsigned long long)is.billed,
		(unsigned long long)is.baselines, (unsigned long long)is.late,
		(unsigned long long)is.duplicates, (unsigned long long)is.rejected,
		(unsigned long long)is.charged_minor);
	for (struct srv_counters *c = atomic_load(&families); c; c = c->next) {
		srv_buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", c->name, c->help, c->name);
		for (int i = 0; i < c->n; i++)
			srv_buf_printf(&b, "%s{%s} %llu\n", c->name, c->labels[i],
				       (unsigned long long)atomic_load_explicit(&c->v[i], memory_order_relaxed));
	}
	*len = b.len;
	return b.p;
}
