/* alloc.c: the largest-remainder method, in integers only. */
#include "core/alloc.h"

#include <string.h>

#include <stdlib.h>

struct rank {
	__int128 rem;
	int index;
};

/* Largest remainder first; equal remainders, the earlier member first. */
static int by_rank(const void *a, const void *b)
{
	const struct rank *x = a, *y = b;
	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x->index - y->index;
}

enum alloc_result alloc_hamilton(int64_t total, const int64_t *weights, int n, int64_t *out)
{
	if (n < 1 || total < 0)
		return ALLOC_BAD_INPUT;
	int64_t sum = 0;
	for (int i = 0; i < n; i++) {
		if (weights[i] < 0)
			return ALLOC_BAD_INPUT;
		if (__builtin_add_overflow(sum, weights[i], &sum))
			return ALLOC_OVERFLOW;
	}
	if (total == 0) {
		for (int i = 0; i < n; i++)
			out[i] = 0;
		return ALLOC_OK;
	}
	if (sum == 0)
		return ALLOC_NO_BASIS;
	/* total * w fits in 127 bits; the quotient fits in int64 because w <= sum. */
	struct rank *r = malloc((size_t)n * sizeof *r);
	if (!r)
		abort();
	int64_t given = 0;
	for (int i = 0; i < n; i++) {
		__int128 x = (__int128)total * weights[i];
		out[i] = (int64_t)(x / sum);
		r[i] = (struct rank){x % sum, i};
		given += out[i];
	}
	/* Fewer than n units are left: one each to the largest remainders. */
	qsort(r, (size_t)n, sizeof *r, by_rank);
	for (int64_t k = 0; k < total - given; k++)
		out[r[k].index]++;
	free(r);
	return ALLOC_OK;
}

enum alloc_result alloc_prorate(int64_t weight, int days_present, int64_t *out)
{
	if (weight < 0 || days_present < 0)
		return ALLOC_BAD_INPUT;
	if (__builtin_mul_overflow(weight, (int64_t)days_present, out))
		return ALLOC_OVERFLOW;
	return ALLOC_OK;
}

static const char *const method_names[] = {"area", "consumption", "quota"};

const char *alloc_method_name(enum alloc_method m) { return method_names[m]; }

int alloc_method_parse(const char *s)
{
	for (int i = 0; s && i < 3; i++)
		if (!strcmp(s, method_names[i]))
			return i;
	return -1;
}

const char *alloc_basis_unit(enum alloc_method m)
{
	return m == ALLOC_AREA ? "m2" : m == ALLOC_QUOTA ? "ppm" : "wh";
}
