/* test_hist.c: the histograms of /metrics (core/hist.c): buckets by upper bound, cumulative
 * rendering whose +Inf is _count, batches added at once. */
#include "check_run.h"

#include "core/hist.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const int64_t bounds[] = {1000, 5000, 1000000};

static bool has(const struct srv_buf *b, const char *line)
{
	return b->p && strstr(b->p, line) != NULL;
}

START_TEST(buckets_and_rendering)
{
	static struct core_hist h[2] = {{.labels = "k=\"a\""}, {.labels = "k=\"b\""}};
	struct core_hist_family f = {"x_seconds", "Things.", bounds, 3, 1e6, 2, h, NULL};
	/* a value on a bound is in that bucket (le: less or equal) */
	ck_assert_int_eq(core_hist_bucket(&f, 0), 0);
	ck_assert_int_eq(core_hist_bucket(&f, 1000), 0);
	ck_assert_int_eq(core_hist_bucket(&f, 1001), 1);
	ck_assert_int_eq(core_hist_bucket(&f, 1000000), 2);
	ck_assert_int_eq(core_hist_bucket(&f, 1000001), 3);
	core_hist_observe(&f, 0, 500);
	core_hist_observe(&f, 0, 5000);
	core_hist_observe(&f, 0, 2000000);
	core_hist_observe(&f, 0, -7); /* counts as 0 */
	core_hist_observe(&f, 2, 1);  /* no such series: ignored */
	core_hist_observe(&f, -1, 1);
	struct srv_buf b = {0};
	core_hist_render(&b, &f);
	ck_assert_msg(has(&b, "# HELP x_seconds Things.\n# TYPE x_seconds histogram\n"), "%s", b.p);
	ck_assert_msg(has(&b, "x_seconds_bucket{k=\"a\",le=\"0.001\"} 2\n"), "%s", b.p);
	ck_assert(has(&b, "x_seconds_bucket{k=\"a\",le=\"0.005\"} 3\n"));
	ck_assert(has(&b, "x_seconds_bucket{k=\"a\",le=\"1\"} 3\n"));
	ck_assert(has(&b, "x_seconds_bucket{k=\"a\",le=\"+Inf\"} 4\n"));
	ck_assert(has(&b, "x_seconds_sum{k=\"a\"} 2.005500\n"));
	ck_assert(has(&b, "x_seconds_count{k=\"a\"} 4\n"));
	/* a series with nothing yet is shown at 0 */
	ck_assert(has(&b, "x_seconds_bucket{k=\"b\",le=\"+Inf\"} 0\n"));
	ck_assert(has(&b, "x_seconds_count{k=\"b\"} 0\n"));
	srv_buf_free(&b);
}
END_TEST

START_TEST(batch_added_and_no_labels)
{
	static struct core_hist h[1];
	struct core_hist_family f = {"y_seconds", "Y.", bounds, 3, 1e6, 1, h, NULL};
	uint64_t counts[4] = {2, 0, 1, 1};
	core_hist_add(&f, 0, counts, 4, 3000000);
	core_hist_add(&f, 0, counts, 0, 0); /* nothing */
	core_hist_add(&f, 1, counts, 4, 1); /* no such series */
	struct srv_buf b = {0};
	core_hist_render(&b, &f);
	ck_assert_msg(has(&b, "y_seconds_bucket{le=\"0.001\"} 2\n"), "%s", b.p);
	ck_assert(has(&b, "y_seconds_bucket{le=\"0.005\"} 2\n"));
	ck_assert(has(&b, "y_seconds_bucket{le=\"1\"} 3\n"));
	ck_assert(has(&b, "y_seconds_bucket{le=\"+Inf\"} 4\n"));
	ck_assert(has(&b, "y_seconds_sum 3.000000\n"));
	ck_assert(has(&b, "y_seconds_count 4\n"));
	srv_buf_free(&b);
}
END_TEST

START_TEST(registered_once_rendered_all)
{
	static struct core_hist h1[1], h2[1];
	static struct core_hist_family f1 = {"r1_seconds", "R1.", bounds, 3, 1e6, 1, h1, NULL};
	static struct core_hist_family f2 = {"r2_seconds", "R2.", bounds, 3, 1e6, 1, h2, NULL};
	core_hist_register(&f1);
	core_hist_register(&f2);
	core_hist_register(&f1); /* again: a no-op, not a loop */
	struct srv_buf b = {0};
	core_hist_render_all(&b);
	const char *a = strstr(b.p, "# TYPE r1_seconds"), *c = strstr(b.p, "# TYPE r2_seconds");
	ck_assert(a && c);
	ck_assert_ptr_null(strstr(a + 1, "# TYPE r1_seconds"));
	ck_assert_ptr_null(strstr(c + 1, "# TYPE r2_seconds"));
	srv_buf_free(&b);
}
END_TEST

START_TEST(limits_extremes)
{
	static struct core_hist h[1];
	struct core_hist_family f = {"z_seconds", "Z.", bounds, 3, 1e6, 1, h, NULL};
	ck_assert_int_eq(core_hist_bucket(&f, INT64_MAX), 3);
	ck_assert_int_eq(core_hist_bucket(&f, INT64_MIN), 0);
	core_hist_observe(&f, 0, INT64_MAX);
	core_hist_observe(&f, 0, INT64_MIN); /* 0 */
	struct srv_buf b = {0};
	core_hist_render(&b, &f);
	ck_assert_msg(has(&b, "z_seconds_bucket{le=\"0.001\"} 1\n"), "%s", b.p);
	ck_assert(has(&b, "z_seconds_bucket{le=\"1\"} 1\n"));
	ck_assert(has(&b, "z_seconds_bucket{le=\"+Inf\"} 2\n"));
	ck_assert(has(&b, "z_seconds_count 2\n"));
	srv_buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hist");
	TCase *core = tcase_create("core");
	tcase_add_test(core, buckets_and_rendering);
	tcase_add_test(core, batch_added_and_no_labels);
	tcase_add_test(core, registered_once_rendered_all);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, limits_extremes);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
