/* test_alloc.c: the allocation arithmetic: every fen of a pool lands on exactly one tenant. */
#include "check_run.h"

#include "core/alloc.h"

#include <stdlib.h>

#include <stdint.h>

static int64_t sum(const int64_t *v, int n)
{
	int64_t s = 0;
	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}

START_TEST(published_example_parador)
{
	/* The "Republic of Parador" apportionment in Tannenbaum, Excursions in Modern
	 * Mathematics (the apportionment chapter): 250 seats among six states of 12,500,000
	 * people. Worked by hand: the divisor is 50,000; quotas A 32.92, B 138.72, C 3.08,
	 * D 41.82, E 13.70, F 19.76; floors give 246; the 4 left go to the largest fractions
	 * A .92, D .82, F .76, B .72. */
	int64_t pop[6] = {1646000, 6936000, 154000, 2091000, 685000, 988000}, seats[6];
	ck_assert_int_eq(alloc_hamilton(250, pop, 6, seats), ALLOC_OK);
	int64_t want[6] = {33, 139, 3, 42, 13, 20};
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(seats[i], want[i]);
}
END_TEST

START_TEST(area_split_to_the_fen)
{
	/* 1000.00 CNY of corridor lighting over 86.50, 40.00 and 120.25 m2 */
	int64_t area[3] = {8650, 4000, 12025}, out[3];
	ck_assert_int_eq(alloc_hamilton(100000, area, 3, out), ALLOC_OK);
	ck_assert_int_eq(sum(out, 3), 100000);
	/* By hand, W = 24675: 100000 x 8650 / W = 35055 rem 17875 (.7244), x 4000 / W = 16210
	 * rem 18250 (.7396), x 12025 / W = 48733 rem 13225 (.5360). The floors make 99998; the
	 * 2 fen left go to the largest remainders, the second member and then the first. */
	ck_assert_int_eq(out[0], 35056);
	ck_assert_int_eq(out[1], 16211);
	ck_assert_int_eq(out[2], 48733);
}
END_TEST

START_TEST(edges)
{
	int64_t out[4];
	int64_t one[1] = {7};
	ck_assert_int_eq(alloc_hamilton(12345, one, 1, out), ALLOC_OK); /* one member takes all */
	ck_assert_int_eq(out[0], 12345);
	int64_t some_zero[3] = {0, 5, 5};
	ck_assert_int_eq(alloc_hamilton(11, some_zero, 3, out), ALLOC_OK);
	ck_assert_int_eq(out[0], 0); /* a member with no basis pays nothing */
	ck_assert_int_eq(out[1], 6); /* the tie goes to the earlier member */
	ck_assert_int_eq(out[2], 5);
	int64_t zeros[3] = {0, 0, 0};
	ck_assert_int_eq(alloc_hamilton(100, zeros, 3, out), ALLOC_NO_BASIS); /* never divide by 0 */
	ck_assert_int_eq(alloc_hamilton(0, zeros, 3, out), ALLOC_OK);       /* nothing to share */
	ck_assert_int_eq(sum(out, 3), 0);
	int64_t ties[4] = {1, 1, 1, 1};
	ck_assert_int_eq(alloc_hamilton(6, ties, 4, out), ALLOC_OK);
	ck_assert_int_eq(out[0], 2);
	ck_assert_int_eq(out[1], 2);
	ck_assert_int_eq(out[2], 1);
	ck_assert_int_eq(out[3], 1);
	int64_t neg[2] = {1, -1};
	ck_assert_int_eq(alloc_hamilton(5, neg, 2, out), ALLOC_BAD_INPUT);
	ck_assert_int_eq(alloc_hamilton(-5, ties, 4, out), ALLOC_BAD_INPUT);
	ck_assert_int_eq(alloc_hamilton(5, ties, 0, out), ALLOC_BAD_INPUT);
}
END_TEST

START_TEST(limits)
{
	int64_t out[3];
	int64_t big[3] = {INT64_MAX / 3, INT64_MAX / 3, INT64_MAX / 3};
	ck_assert_int_eq(alloc_hamilton(INT64_MAX, big, 3, out), ALLOC_OK); /* huge totals, huge weights */
	ck_assert_int_eq(out[0] + out[1] + out[2], INT64_MAX);
	int64_t over[2] = {INT64_MAX, 1};
	ck_assert_int_eq(alloc_hamilton(10, over, 2, out), ALLOC_OVERFLOW);
	int64_t quota[3] = {500000, 300000, 200000}; /* ppm */
	ck_assert_int_eq(alloc_hamilton(1, quota, 3, out), ALLOC_OK); /* one fen: to the largest share */
	ck_assert_int_eq(out[0], 1);
	int64_t w;
	ck_assert_int_eq(alloc_prorate(8650, 17, &w), ALLOC_OK);
	ck_assert_int_eq(w, 8650 * 17);
	ck_assert_int_eq(alloc_prorate(INT64_MAX, 2, &w), ALLOC_OVERFLOW);
	/* random splits always sum exactly */
	unsigned seed = 7;
	for (int round = 0; round < 2000; round++) {
		int64_t ws[8], shares[8];
		int n = 1 + rand_r(&seed) % 8;
		for (int i = 0; i < n; i++)
			ws[i] = rand_r(&seed) % 1000;
		ws[0] += 1;
		int64_t total = rand_r(&seed);
		ck_assert_int_eq(alloc_hamilton(total, ws, n, shares), ALLOC_OK);
		ck_assert_int_eq(sum(shares, n), total);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *core = tcase_create("core");
	tcase_add_test(core, published_example_parador);
	tcase_add_test(core, area_split_to_the_fen);
	tcase_add_test(core, edges);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, limits);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
