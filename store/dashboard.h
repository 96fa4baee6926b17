/* dashboard.h: the figures of the console's dashboard for one site, read in one go: prepaid
 * liability, accounts by state, open alarms, commands waiting or failed, today's top-ups by
 * channel and the site's energy per day. Read only. */
#ifndef WATTLE_STORE_DASHBOARD_H
#define WATTLE_STORE_DASHBOARD_H

#include "store/db.h"

#include <stdint.h>

struct dash_summary {
	char currency[4], timezone[64];
	int64_t liability_minor;                     /* the sum of the site's account balances */
	int64_t normal, warned, grace, cut_off;      /* accounts by state */
	int64_t alarms_critical, alarms_major, alarms_minor; /* alarms open (not acked, not closed) */
	int64_t alarms_acked;
	int64_t commands_pending, commands_failed;  /* pending or sent; failed in the last 24 h */
};
struct dash_topups {
	char channel[32];
	int64_t count, amount_minor;
};
struct dash_day {
	char day[11]; /* YYYY-MM-DD, site-local */
	int64_t wh;
};

/* The summary of site_id at now_us; out->currency[0] == 0 when there is no such site. */
enum db_status store_dash_summary(PGconn *c, int64_t site_id, int64_t now_us, struct dash_summary *out);
/* Top-ups (ledger entries of kind topup) since the site-local midnight before now_us, by
 * channel. *out new (caller frees). */
enum db_status store_dash_topups(PGconn *c, int64_t site_id, int64_t now_us, struct dash_topups **out, int *n);
/* Billed energy of the site's meters per site-local day, the days (1..92) up to now_us's.
 * *out new (caller frees), oldest first; days without energy are left out. */
enum db_status store_dash_days(PGconn *c, int64_t site_id, int64_t now_us, int64_t days, struct dash_day **out,
			       int *n);

void store_dashboard_register(void);

#endif
