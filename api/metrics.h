/* metrics.h: Prometheus counters and histograms for requests and the database. */
#ifndef WATTLE_METRICS_H
#define WATTLE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Record one request: route index (api_route_count() = unmatched), status, duration. */
void srv_metrics_observe(int route_index, unsigned status, int64_t dur_us);

/* A family of counters a module owns: one value per label set ("k=\"v\",k2=\"v2\"").
 * Registered before serving (again is a no-op); rendered after the built-in series. */
struct srv_counters {
	const char *name, *help;
	int n;
	const char *const *labels;
	_Atomic uint64_t *v;
	struct srv_counters *next; /* set by srv_counters_register */
};
void srv_counters_register(struct srv_counters *c);
void srv_counters_add(struct srv_counters *c, int i, uint64_t n);

/* Render the text exposition format. New: caller frees. */
char *srv_metrics_render(size_t *len);

#endif
