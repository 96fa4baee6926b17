/* prepaid.h: the prepaid state machine (DESIGN.md), pure: the account, its policy, the
 * site's calendar and now in; the new state and the actions to take out. */
#ifndef WATTLE_PREPAID_H
#define WATTLE_PREPAID_H

#include <stdbool.h>
#include <stdint.h>

#define BILL_MAX_LEVELS 10
#define BILL_MAX_HOLIDAYS 64

struct bill_policy {
	int nlevels;
	int64_t levels[BILL_MAX_LEVELS]; /* descending */
	int64_t overdraft_minor;         /* cut threshold = -overdraft_minor */
	int64_t restore_min_minor;       /* restore above threshold + this */
	int64_t grace_minutes;
	int quiet_from, quiet_to;        /* site-local minutes; -1: no quiet hours */
};

/* The site's calendar: its zone (for local time) and the local dates with no cuts
 * (days since 1970-01-01, sorted). */
struct bill_calendar {
	const char *zone;
	int nholidays;
	int32_t holidays[BILL_MAX_HOLIDAYS];
};

enum bill_state { ST_NORMAL, ST_WARNED, ST_GRACE, ST_CUT_OFF };

struct bill_account {
	int64_t balance_minor;
	enum bill_state state;
	uint32_t warned;       /* bit i: levels[i] has been warned and not re-armed */
	int64_t grace_until_us; /* 0: none; otherwise when the cut is due */
};

enum bill_action_kind {
	ACT_WARN,     /* level: the warning level crossed downwards */
	ACT_GRACE,    /* at_us: when the supply will be cut */
	ACT_CUT,      /* queue cut_off for every meter that is not protected */
	ACT_RESTORE,  /* queue restore */
	ACT_RECOVERED /* grace ended without a cut: the balance is above the threshold */
};

struct bill_action {
	enum bill_action_kind kind;
	int64_t level;
	int64_t at_us;
};

#define BILL_MAX_ACTIONS (BILL_MAX_LEVELS + 3)

/* The balance changed (or the policy, or the account is new: pass its balance): update *a
 * and write the actions to take. Returns how many (<= BILL_MAX_ACTIONS). */
int bill_prepaid_on_balance(struct bill_account *a, const struct bill_policy *p,
			    const struct bill_calendar *cal, int64_t now_us, int64_t new_balance,
			    struct bill_action *out);

/* Grace is due (now_us >= a->grace_until_us): cut if the policy allows it now, else move
 * grace_until_us to the next instant it does. Returns the number of actions. */
int bill_prepaid_on_due(struct bill_account *a, const struct bill_policy *p,
			const struct bill_calendar *cal, int64_t now_us, struct bill_action *out);

/* The earliest instant >= t_us outside quiet hours and holidays, in site-local time. */
int64_t bill_next_cut_time(const struct bill_policy *p, const struct bill_calendar *cal,
			   int64_t t_us);

const char *bill_state_name(enum bill_state s);
/* -1 for an unknown name. */
int bill_state_parse(const char *s);

#endif
