/* alloc.h: splitting a shared cost exactly (pure: no I/O). */
#ifndef WATTLE_ALLOC_H
#define WATTLE_ALLOC_H

#include <stdint.h>

enum alloc_result {
	ALLOC_OK = 0,
	ALLOC_NO_BASIS,   /* total > 0 but every weight is 0: nobody to charge */
	ALLOC_BAD_INPUT,  /* n < 1, total < 0 or a weight < 0 */
	ALLOC_OVERFLOW,   /* the weights' sum leaves int64 */
};

/* Split total (minor units) among n members in proportion to weights, to the unit, by the
 * largest-remainder (Hamilton) method: each gets floor(total * w / W), and the units left
 * go one each to the largest remainders; equal remainders go to the earlier member
 * (callers list members by ascending tenant id, so ties go to the lower id). The shares
 * sum to total exactly. A total of 0 gives every member 0, whatever the weights. */
enum alloc_result alloc_hamilton(int64_t total, const int64_t *weights, int n, int64_t *out);

/* Weight of a member present for days_present of days_in_period (occupancy proration):
 * weight * days_present, so the period length cancels out. ALLOC_OVERFLOW if it does not
 * fit. */
enum alloc_result alloc_prorate(int64_t weight, int days_present, int64_t *out);

/* How a pool's cost is shared: by floor area, by each member's metered energy, or by
 * fixed quotas (parts per million). */
enum alloc_method { ALLOC_AREA, ALLOC_CONSUMPTION, ALLOC_QUOTA };
/* "area", "consumption", "quota"; alloc_method_parse returns -1 for anything else. */
const char *alloc_method_name(enum alloc_method m);
int alloc_method_parse(const char *s);
/* The unit a line's basis is in: "m2" (hundredths, shown as a decimal), "wh", "ppm". */
const char *alloc_basis_unit(enum alloc_method m);

#endif
