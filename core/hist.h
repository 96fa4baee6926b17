/* hist.h: lock-free histograms for /metrics (Prometheus histogram families), kept by the
 * module that measures and rendered by api/metrics.c. No allocation after registration. */
#ifndef WATTLE_HIST_H
#define WATTLE_HIST_H

#include "core/buf.h"

#include <stdatomic.h>
#include <stdint.h>

#define CORE_HIST_MAX_BOUNDS 20

/* One series: cumulative counts (and _count, the +Inf one) are computed when rendered, so
 * an observation is one bucket and the sum (two relaxed atomic adds). */
struct core_hist {
	const char *labels; /* "k=\"v\"" or NULL */
	_Atomic uint64_t sum;
	_Atomic uint64_t b[CORE_HIST_MAX_BOUNDS + 1];
};

/* A family: its series share a name, help and bounds. Values are observed in the family's
 * unit (e.g. microseconds) and rendered divided by scale (1e6: seconds). */
struct core_hist_family {
	const char *name, *help;
	const int64_t *bounds; /* ascending upper bounds, nb of them (<= CORE_HIST_MAX_BOUNDS) */
	int nb;
	double scale;
	int n;
	struct core_hist *h;
	struct core_hist_family *next; /* set by core_hist_register */
};

/* The bucket of v in f (nb: +Inf). */
int core_hist_bucket(const struct core_hist_family *f, int64_t v);

/* Record one value (negative counts as 0) in series i of f; i out of range is ignored. */
void core_hist_observe(struct core_hist_family *f, int i, int64_t v);

/* Record what a caller gathered locally (one atomic add per non-empty bucket): counts[0..nb]
 * by bucket, their number and the sum of their values. */
void core_hist_add(struct core_hist_family *f, int i, const uint64_t *counts, uint64_t n, uint64_t sum);

/* Make f rendered by core_hist_render_all (again is a no-op). Thread-safe. */
void core_hist_register(struct core_hist_family *f);

/* Append one family, or every registered one, in the text exposition format (HELP, TYPE,
 * each series' buckets, sum and count; a family with no series' observations still shows
 * its series at 0). */
void core_hist_render(struct srv_buf *b, const struct core_hist_family *f);
void core_hist_render_all(struct srv_buf *b);

#endif
