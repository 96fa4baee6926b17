/* test_prepaid.c: warn, grace, quiet hours, holidays, cut, restore: every decision. */
#include "check_run.h"

#include "core/valid.h"
#include "core/prepaid.h"
#include "core/price.h"

#define MIN INT64_C(60000000)

static int64_t T(const char *s)
{
	int64_t t;
	ck_assert_msg(api_parse_time(s, &t) == 0, "bad time %s", s);
	return t;
}

static struct bill_policy policy(void)
{
	struct bill_policy p = {2, {50000, 20000}, 1000, 0, 60, -1, -1};
	return p;
}

static struct bill_calendar shanghai = {"Asia/Shanghai", 0, {0}};

static struct bill_action act[BILL_MAX_ACTIONS];

static int run(struct bill_account *a, const struct bill_policy *p, int64_t now, int64_t bal)
{
	return bill_prepaid_on_balance(a, p, &shanghai, now, bal, act);
}

START_TEST(warns_once_per_crossing_and_rearms)
{
	struct bill_policy p = policy();
	struct bill_account a = {60000, ST_NORMAL, 0, 0};
	int64_t now = T("2026-11-02T10:00:00+08:00");
	ck_assert_int_eq(run(&a, &p, now, 40000), 1);
	ck_assert_int_eq(act[0].kind, ACT_WARN);
	ck_assert_int_eq(act[0].level, 50000);
	ck_assert_int_eq(a.state, ST_WARNED);
	ck_assert_int_eq(run(&a, &p, now, 30000), 0);   /* still below: no second message */
	ck_assert_int_eq(run(&a, &p, now, 50000), 0);   /* at the level: not above, not re-armed */
	ck_assert_int_eq(run(&a, &p, now, 49999), 0);
	ck_assert_int_eq(run(&a, &p, now, 10000), 1);
	ck_assert_int_eq(act[0].level, 20000);
	ck_assert_int_eq(run(&a, &p, now, 60000), 0);   /* top-up above both: re-armed */
	ck_assert_int_eq(a.state, ST_NORMAL);
	ck_assert_uint_eq(a.warned, 0);
	ck_assert_int_eq(run(&a, &p, now, 45000), 1);
	ck_assert_int_eq(act[0].level, 50000);
	ck_assert_int_eq(run(&a, &p, now, 100000), 0);
	ck_assert_int_eq(run(&a, &p, now, 0), 2);       /* one drop across both levels */
	ck_assert_int_eq(act[0].level, 50000);
	ck_assert_int_eq(act[1].level, 20000);
}
END_TEST

START_TEST(grace_then_cut)
{
	struct bill_policy p = policy();
	struct bill_account a = {5000, ST_WARNED, 3, 0};
	int64_t now = T("2026-11-02T10:00:00+08:00");
	ck_assert_int_eq(run(&a, &p, now, -999), 0);   /* inside the overdraft */
	ck_assert_int_eq(a.state, ST_WARNED);
	ck_assert_int_eq(run(&a, &p, now, -1000), 1);  /* at the threshold */
	ck_assert_int_eq(act[0].kind, ACT_GRACE);
	ck_assert_int_eq(a.state, ST_GRACE);
	ck_assert_int_eq(a.grace_until_us, now + 60 * MIN);
	ck_assert_int_eq(act[0].at_us, now + 60 * MIN);
	ck_assert_int_eq(run(&a, &p, now + MIN, -2000), 0); /* further down: grace goes on */
	ck_assert_int_eq(bill_prepaid_on_due(&a, &p, &shanghai, now + 59 * MIN, act), 0);
	ck_assert_int_eq(bill_prepaid_on_due(&a, &p, &shanghai, now + 60 * MIN, act), 1);
	ck_assert_int_eq(act[0].kind, ACT_CUT);
	ck_assert_int_eq(a.state, ST_CUT_OFF);
	ck_assert_int_eq(a.grace_until_us, 0);
	ck_assert_int_eq(bill_prepaid_on_due(&a, &p, &shanghai, now + 61 * MIN, act), 0); /* once */
}
END_TEST

START_TEST(restore_needs_restore_min)
{
	struct bill_policy p = policy();
	p.restore_min_minor = 5000;
	struct bill_account a = {-3000, ST_CUT_OFF, 3, 0};
	int64_t now = T("2026-11-02T10:00:00+08:00");
	ck_assert_int_eq(run(&a, &p, now, 4000), 0);  /* threshold + restore_min = 4000: not above */
	ck_assert_int_eq(a.state, ST_CUT_OFF);
	ck_assert_int_eq(run(&a, &p, now, 4001), 1);
	ck_assert_int_eq(act[0].kind, ACT_RESTORE);
	ck_assert_int_eq(a.state, ST_WARNED);          /* still below both warning levels */
	ck_assert_int_eq(run(&a, &p, now, -1000), 1); /* and down again: a new grace */
	ck_assert_int_eq(act[0].kind, ACT_GRACE);
}
END_TEST

START_TEST(grace_ends_without_cut)
{
	struct bill_policy p = policy();
	p.restore_min_minor = 5000;
	int64_t now = T("2026-11-02T10:00:00+08:00");
	struct bill_account a = {0, ST_WARNED, 3, 0};
	run(&a, &p, now, -1500);
	ck_assert_int_eq(a.state, ST_GRACE);
	ck_assert_int_eq(run(&a, &p, now + MIN, 10000), 1); /* above threshold + restore_min */
	ck_assert_int_eq(act[0].kind, ACT_RECOVERED);
	ck_assert_int_eq(a.state, ST_WARNED);
	ck_assert_int_eq(a.grace_until_us, 0);
	run(&a, &p, now + 2 * MIN, -1500);
	ck_assert_int_eq(run(&a, &p, now + 3 * MIN, 100), 0); /* above the threshold, not enough */
	ck_assert_int_eq(a.state, ST_GRACE);
	ck_assert_int_eq(bill_prepaid_on_due(&a, &p, &shanghai, a.grace_until_us, act), 1);
	ck_assert_int_eq(act[0].kind, ACT_RECOVERED); /* no cut: it is above the threshold */
}
END_TEST

START_TEST(quiet_hours_hold_the_cut)
{
	struct bill_policy p = policy();
	p.quiet_from = 22 * 60;
	p.quiet_to = 8 * 60;
	struct bill_account a = {100, ST_WARNED, 3, 0};
	int64_t now = T("2026-11-02T21:30:00+08:00");
	ck_assert_int_eq(run(&a, &p, now, -1000), 1);
	ck_assert_int_eq(act[0].at_us, T("2026-11-03T08:00:00+08:00")); /* told: 08:00 */
	ck_assert_int_eq(a.grace_until_us, T("2026-11-02T22:30:00+08:00"));
	ck_assert_int_eq(bill_prepaid_on_due(&a, &p, &shanghai, T("2026-11-02T22:30:00+08:00"), act), 0);
	ck_assert_int_eq(a.grace_until_us, T("2026-11-03T08:00:00+08:00")); /* due again at 08:00 */
	ck_assert_int_eq(a.state, ST_GRACE);
	ck_assert_int_eq(bill_prepaid_on_due(&a, &p, &shanghai, T("2026-11-03T08:00:00+08:00"), act), 1);
	ck_assert_int_eq(act[0].kind, ACT_CUT);
	/* quiet hours inside one day */
	p.quiet_from = 12 * 60;
	p.quiet_to = 14 * 60;
	ck_assert_int_eq(bill_next_cut_time(&p, &shanghai, T("2026-11-02T12:30:00+08:00")), T("2026-11-02T14:00:00+08:00"));
	ck_assert_int_eq(bill_next_cut_time(&p, &shanghai, T("2026-11-02T14:00:00+08:00")), T("2026-11-02T14:00:00+08:00"));
	ck_assert_int_eq(bill_next_cut_time(&p, &shanghai, T("2026-11-02T11:59:00+08:00")), T("2026-11-02T11:59:00+08:00"));
}
END_TEST

START_TEST(holidays_hold_the_cut)
{
	struct bill_policy p = policy();
	p.quiet_from = 22 * 60;
	p.quiet_to = 8 * 60;
	struct bill_calendar cal = {"Asia/Shanghai", 2, {0, 0}};
	cal.holidays[0] = cal_local_day(T("2026-10-01T00:00:00Z"));
	cal.holidays[1] = cal_local_day(T("2026-10-02T00:00:00Z"));
	/* due 30 Sep 23:00: quiet until 08:00, but 1 and 2 Oct are holidays: 3 Oct 08:00 */
	ck_assert_int_eq(bill_next_cut_time(&p, &cal, T("2026-09-30T23:00:00+08:00")), T("2026-10-03T08:00:00+08:00"));
	ck_assert_int_eq(bill_next_cut_time(&p, &cal, T("2026-10-03T09:00:00+08:00")), T("2026-10-03T09:00:00+08:00"));
}
END_TEST

START_TEST(new_account_at_threshold_enters_grace)
{
	struct bill_policy p = {0, {0}, 0, 0, 30, -1, -1};
	struct bill_account a = {0, ST_NORMAL, 0, 0};
	int64_t now = T("2026-11-02T10:00:00+08:00");
	ck_assert_int_eq(run(&a, &p, now, 0), 1);
	ck_assert_int_eq(act[0].kind, ACT_GRACE);
	ck_assert_int_eq(a.grace_until_us, now + 30 * MIN);
}
END_TEST

START_TEST(limits)
{
	struct bill_policy p = policy();
	struct bill_account a = {INT64_MAX, ST_NORMAL, 0, 0};
	int64_t now = T("2026-11-02T10:00:00+08:00");
	ck_assert_int_eq(run(&a, &p, now, INT64_MIN), 1); /* straight to grace, no warnings */
	ck_assert_int_eq(act[0].kind, ACT_GRACE);
	ck_assert_uint_eq(a.warned, 3);
	ck_assert_int_eq(run(&a, &p, now, INT64_MAX), 1);
	ck_assert_int_eq(act[0].kind, ACT_RECOVERED);
	/* a policy that lost a level forgets its bit */
	a = (struct bill_account){10000, ST_WARNED, 3, 0};
	p.nlevels = 1;
	run(&a, &p, now, 10000);
	ck_assert_uint_eq(a.warned, 1);
	/* grace of zero minutes: due at once */
	p.grace_minutes = 0;
	a = (struct bill_account){0, ST_NORMAL, 1, 0};
	run(&a, &p, now, -1000);
	ck_assert_int_eq(a.grace_until_us, now);
	ck_assert_int_eq(bill_prepaid_on_due(&a, &p, &shanghai, now, act), 1);
	ck_assert_int_eq(bill_state_parse("cut_off"), ST_CUT_OFF);
	ck_assert_int_eq(bill_state_parse("off"), -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("prepaid");
	TCase *core = tcase_create("core");
	tcase_add_test(core, warns_once_per_crossing_and_rearms);
	tcase_add_test(core, grace_then_cut);
	tcase_add_test(core, restore_needs_restore_min);
	tcase_add_test(core, grace_ends_without_cut);
	tcase_add_test(core, quiet_hours_hold_the_cut);
	tcase_add_test(core, holidays_hold_the_cut);
	tcase_add_test(core, new_account_at_threshold_enters_grace);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, limits);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
