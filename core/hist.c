/* hist.c: lock-free histograms and their text exposition (hist.h). */
#include "core/hist.h"

#include <stdio.h>
#include <stdlib.h>

int core_hist_bucket(const struct core_hist_family *f, int64_t v)
{
	int k = 0;
	while (k < f->nb && v > f->bounds[k])
		k++;
	return k;
}

void core_hist_observe(struct core_hist_family *f, int i, int64_t v)
{
	if (i < 0 || i >= f->n)
		return;
	if (v < 0)
		v = 0;
	struct core_hist *h = &f->h[i];
	atomic_fetch_add_explicit(&h->b[core_hist_bucket(f, v)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, (uint64_t)v, memory_order_relaxed);
}

void core_hist_add(struct core_hist_family *f, int i, const uint64_t *counts, uint64_t n, uint64_t sum)
{
	if (i < 0 || i >= f->n || !n)
		return;
	struct core_hist *h = &f->h[i];
	for (int k = 0; k <= f->nb; k++)
		if (counts[k])
			atomic_fetch_add_explicit(&h->b[k], counts[k], memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, sum, memory_order_relaxed);
}

static struct core_hist_family *_Atomic families;

void core_hist_register(struct core_hist_family *f)
{
	if (f->nb > CORE_HIST_MAX_BOUNDS)
		abort();
	for (struct core_hist_family *x = atomic_load(&families); x; x = x->next)
		if (x == f)
			return;
	f->next = atomic_load(&families);
	while (!atomic_compare_exchange_weak(&families, &f->next, f))
		;
}

static void series(struct srv_buf *b, const char *name, const char *labels, const char *le)
{
	srv_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} ", name, labels ? labels : "", labels ? "," : "", le);
}

void core_hist_render(struct srv_buf *b, const struct core_hist_family *f)
{
	srv_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", f->name, f->help, f->name);
	for (int i = 0; i < f->n; i++) {
		const struct core_hist *h = &f->h[i];
		uint64_t cum = 0; /* _count is the +Inf bucket's: a racing observation cannot split them */
		for (int k = 0; k <= f->nb; k++) {
			cum += atomic_load_explicit(&h->b[k], memory_order_relaxed);
			char le[32];
			if (k < f->nb)
				snprintf(le, sizeof le, "%g", (double)f->bounds[k] / f->scale);
			else
				snprintf(le, sizeof le, "+Inf");
			series(b, f->name, h->labels, le);
			srv_buf_printf(b, "%llu\n", (unsigned long long)cum);
		}
		const char *l = h->labels ? h->labels : "";
		srv_buf_printf(b, "%s_sum%s%s%s %.6f\n", f->name, *l ? "{" : "", l, *l ? "}" : "",
			       (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / f->scale);
		srv_buf_printf(b, "%s_count%s%s%s %llu\n", f->name, *l ? "{" : "", l, *l ? "}" : "",
			       (unsigned long long)cum);
	}
}

void core_hist_render_all(struct srv_buf *b)
{
	for (const struct core_hist_family *f = atomic_load(&families); f; f = f->next)
		core_hist_render(b, f);
}
