/* metrics.c: lock-free request counters and latency histograms by route and status. */
#include "api/metrics.h"
#include "ops/ingest.h"
#include "api/api.h"
#include "core/buf.h"
#include "core/hist.h"
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
	struct db_replica_stats rs;
	db_replica_stats_get(&rs);
	srv_buf_printf(&b,
		"# HELP wattle_db_replica_reads_total Reads (lists, reports, readings, consumption) served by the replica"
		" (WATTLE_REPLICA_URL).\n"
		"# TYPE wattle_db_replica_reads_total counter\nwattle_db_replica_reads_total %llu\n"
		"# HELP wattle_db_replica_fallbacks_total Reads that could have gone to the replica but went to the primary:"
		" it lagged over WATTLE_REPLICA_MAX_LAG_MS (lag), or could not be reached or answer (down).\n"
		"# TYPE wattle_db_replica_fallbacks_total counter\n"
		"wattle_db_replica_fallbacks_total{reason=\"lag\"} %llu\n"
		"wattle_db_replica_fallbacks_total{reason=\"down\"} %llu\n"
		"# HELP wattle_db_replica_up Whether reads go to the replica now: configured, reachable and within its"
		" bound at the last check.\n"
		"# TYPE wattle_db_replica_up gauge\nwattle_db_replica_up %d\n",
		(unsigned long long)rs.reads, (unsigned long long)rs.fallbacks_lag, (unsigned long long)rs.fallbacks_down,
		rs.usable ? 1 : 0);
	if (rs.configured && rs.lag_us >= 0)
		srv_buf_printf(&b,
			"# HELP wattle_db_replica_lag_seconds How old the replica's data may be at most, as last"
			" measured (absent when it could not be read).\n"
			"# TYPE wattle_db_replica_lag_seconds gauge\nwattle_db_replica_lag_seconds %.3f\n",
			(double)rs.lag_us / 1e6);
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
	srv_buf_printf(&b,
		"# HELP wattle_db_connections_open Database connections open: one per thread that holds one (wattle has no"
		" pool; its size is its threads).\n"
		"# TYPE wattle_db_connections_open gauge\nwattle_db_connections_open %lld\n"
		"# HELP wattle_db_connections_in_tx Connections inside a transaction now (db_run_tx).\n"
		"# TYPE wattle_db_connections_in_tx gauge\nwattle_db_connections_in_tx %lld\n",
		(long long)ds.open, (long long)ds.in_tx);
	int ij, ir, pj, aj;
	api_readings_queue(&ij, &ir);
	api_provider_calls_queue(&pj);
	api_accounts_queue(&aj);
	srv_buf_printf(&b,
		"# HELP wattle_queue_depth Requests queued for a worker and not yet taken, by queue (ingest: readings"
		" batches awaiting the group commit; provider_calls: calls to a payment provider; account_reads).\n"
		"# TYPE wattle_queue_depth gauge\n"
		"wattle_queue_depth{queue=\"ingest\"} %d\nwattle_queue_depth{queue=\"provider_calls\"} %d\n"
		"wattle_queue_depth{queue=\"account_reads\"} %d\n"
		"# HELP wattle_ingest_queue_readings Readings in the batches queued for the group commit.\n"
		"# TYPE wattle_ingest_queue_readings gauge\nwattle_ingest_queue_readings %d\n",
		ij, pj, aj, ir);
	core_hist_render_all(&b);
	for (struct srv_counters *c = atomic_load(&families); c; c = c->next) {
		srv_buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", c->name, c->help, c->name);
		for (int i = 0; i < c->n; i++)
			srv_buf_printf(&b, "%s{%s} %llu\n", c->name, c->labels[i],
				       (unsigned long long)atomic_load_explicit(&c->v[i], memory_order_relaxed));
	}
	*len = b.len;
	return b.p;
}
