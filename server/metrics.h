/* metrics.h: Prometheus counters and histograms for requests and the database. */
#ifndef WATTLE_METRICS_H
#define WATTLE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Record one request: route index (api_route_count() = unmatched), status, duration. */
void srv_metrics_observe(int route_index, unsigned status, int64_t dur_us);

/* Render the text exposition format. New: caller frees. */
char *srv_metrics_render(size_t *len);

#endif
