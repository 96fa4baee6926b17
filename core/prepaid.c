/* prepaid.c: warn, grace, cut, restore. Every decision is here, and none reads a clock. */
#include "core/prepaid.h"
#include "core/calendar.h"
#include "core/price.h"
#include "core/tz.h"

#include <string.h>

#define DAY_US INT64_C(86400000000)
#define MIN_US INT64_C(60000000)

static const char *const names[] = {"normal", "warned", "grace", "cut_off"};

const char *bill_state_name(enum bill_state s) { return names[s]; }

int bill_state_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s && !strcmp(s, names[i]))
			return i;
	return -1;
}

static bool holiday(const struct bill_calendar *cal, int32_t day)
{
	for (int i = 0; i < cal->nholidays; i++)
		if (cal->holidays[i] == day)
			return true;
	return false;
}

static bool quiet(const struct bill_policy *p, int minute)
{
	if (p->quiet_from < 0)
		return false;
	if (p->quiet_from < p->quiet_to)
		return minute >= p->quiet_from && minute < p->quiet_to;
	return minute >= p->quiet_from || minute < p->quiet_to; /* across midnight */
}

int64_t bill_next_cut_time(const struct bill_policy *p, const struct bill_calendar *cal,
			   int64_t t_us)
{
	/* Step over holidays and quiet hours; a year of steps is plenty. */
	for (int guard = 0; guard < 800; guard++) {
		int32_t off = 0;
		if (bill_tz_offset(cal->zone, t_us, &off))
			return t_us; /* an unknown zone cannot hold a cut back */
		int64_t local = t_us + (int64_t)off * 1000000;
		int32_t day = cal_local_day(local);
		int64_t tod = local - (int64_t)day * DAY_US;
		int minute = (int)(tod / MIN_US);
		if (holiday(cal, day)) {
			t_us += DAY_US - tod; /* the next local midnight */
			continue;
		}
		if (quiet(p, minute)) {
			int64_t end = (int64_t)p->quiet_to * MIN_US;
			t_us += (end > tod ? end : end + DAY_US) - tod;
			continue;
		}
		return t_us;
	}
	return t_us;
}

static int64_t threshold(const struct bill_policy *p) { return -p->overdraft_minor; }

/* normal or warned, from the balance and the levels. */
static enum bill_state level_state(const struct bill_policy *p, int64_t balance)
{
	for (int i = 0; i < p->nlevels; i++)
		if (balance < p->levels[i])
			return ST_WARNED;
	return ST_NORMAL;
}

int bill_prepaid_on_balance(struct bill_account *a, const struct bill_policy *p,
			    const struct bill_calendar *cal, int64_t now_us, int64_t new_balance,
			    struct bill_action *out)
{
	int n = 0;
	a->balance_minor = new_balance;
	/* Warnings: once per downward crossing, re-armed above the level. */
	for (int i = 0; i < p->nlevels && i < BILL_MAX_LEVELS; i++) {
		uint32_t bit = 1u << i;
		if (new_balance < p->levels[i] && !(a->warned & bit)) {
			a->warned |= bit;
			if (new_balance > threshold(p)) /* at the threshold, grace says more */
				out[n++] = (struct bill_action){ACT_WARN, p->levels[i], 0};
		} else if (new_balance > p->levels[i]) {
			a->warned &= ~bit;
		}
	}
	/* A policy change may drop levels: forget bits beyond them. */
	a->warned &= p->nlevels >= 32 ? ~0u : (1u << p->nlevels) - 1;

	bool at_threshold = new_balance <= threshold(p);
	bool restored = new_balance > threshold(p) + p->restore_min_minor;
	switch (a->state) {
	case ST_NORMAL:
	case ST_WARNED:
		if (at_threshold) {
			a->state = ST_GRACE;
			a->grace_until_us = now_us + p->grace_minutes * MIN_US;
			out[n++] = (struct bill_action){ACT_GRACE, 0,
							bill_next_cut_time(p, cal, a->grace_until_us)};
		} else {
			a->state = level_state(p, new_balance);
		}
		break;
	case ST_GRACE:
		if (restored) {
			a->state = level_state(p, new_balance);
			a->grace_until_us = 0;
			out[n++] = (struct bill_action){ACT_RECOVERED, 0, 0};
		}
		break;
	case ST_CUT_OFF:
		if (restored) {
			a->state = level_state(p, new_balance);
			a->grace_until_us = 0;
			out[n++] = (struct bill_action){ACT_RESTORE, 0, 0};
		}
		break;
	}
	return n;
}

int bill_prepaid_on_due(struct bill_account *a, const struct bill_policy *p,
			const struct bill_calendar *cal, int64_t now_us, struct bill_action *out)
{
	if (a->state != ST_GRACE || !a->grace_until_us || now_us < a->grace_until_us)
		return 0;
	if (a->balance_minor > threshold(p)) {
		/* Paid back above the threshold (not enough to restore): no cut. */
		a->state = level_state(p, a->balance_minor);
		a->grace_until_us = 0;
		out[0] = (struct bill_action){ACT_RECOVERED, 0, 0};
		return 1;
	}
	int64_t allowed = bill_next_cut_time(p, cal, now_us);
	if (allowed > now_us) { /* quiet hours or a holiday: due again when they end */
		a->grace_until_us = allowed;
		return 0;
	}
	a->state = ST_CUT_OFF;
	a->grace_until_us = 0;
	out[0] = (struct bill_action){ACT_CUT, 0, now_us};
	return 1;
}
