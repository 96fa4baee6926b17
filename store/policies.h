/* policies.h: credit policies, one per site and credit rating. */
#ifndef WATTLE_STORE_POLICIES_H
#define WATTLE_STORE_POLICIES_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

#define POLICY_MAX_LEVELS 10

struct policy {
	int64_t id, site_id;
	char rating[2];
	int64_t levels[POLICY_MAX_LEVELS]; /* descending */
	int nlevels;
	int64_t overdraft_minor, grace_minutes, restore_min_minor;
	bool quiet;                  /* quiet hours set */
	int64_t quiet_from, quiet_to; /* minutes of the site-local day */
};

/* Insert or replace (site, rating)'s policy from p; p is read back; *created says whether
 * it is new; p->id == 0 when there is no such site. */
enum db_status store_policy_upsert(PGconn *c, struct policy *p, int64_t now_us, bool *created);
/* A page (site_id 0: every site). *out new (caller frees). */
enum db_status store_policies_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, struct policy **out,
				   int *n);

void store_policies_register(void);

#endif
