/* accounts.h: prepaid accounts as the state machine sees them (balance and state, the
 * credit policy of their site and rating, the site's calendar, the tenant's name and phone),
 * locked and read in the caller's transaction, always in account id order; and written
 * back. The ledger's rows are store/ledger.h. */
#ifndef WATTLE_STORE_ACCOUNTS_H
#define WATTLE_STORE_ACCOUNTS_H

#include "core/prepaid.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct bill_acct {
	int64_t id, tenant_id;
	char tenant_name[201], phone[24], zone[64], currency[4];
	int64_t site_id;
	char category[65]; /* the tenant's (a message's {shop}: "name (category)") */
	bool wechat;       /* the tenant has a WeChat openid: messages may go there */
	int digits;
	bool has_policy; /* no credit policy for the site and rating: no automatic control */
	bool closed;     /* the tenant moved out: no new money (0021) */
	struct bill_policy policy;
	struct bill_calendar cal;
	struct bill_account st;
};

/* Lock (FOR UPDATE, in account id order) and read the accounts of tenants[0..n) (the
 * holidays that matter from the site-local day before now_us on). *out is new (caller
 * frees), *nout how many were found. */
enum db_status store_accounts_of_tenants(PGconn *c, const int64_t *tenants, int n, int64_t now_us,
					 struct bill_acct **out, int *nout);

/* The same for every account under a site's credit rating (a new or changed policy). */
enum db_status store_accounts_of_policy(PGconn *c, int64_t site_id, const char *rating, int64_t now_us,
					struct bill_acct **out, int *nout);

/* Up to 200 accounts whose grace is due at now_us, found by the grace_until index and
 * locked; those another process holds are skipped (SKIP LOCKED). */
#define STORE_DUE_MAX 200
enum db_status store_accounts_due(PGconn *c, int64_t now_us, struct bill_acct **out, int *nout);

/* Write back one account's balance and prepaid state. */
enum db_status store_account_save(PGconn *c, const struct bill_acct *a, int64_t now_us);

/* The same for n accounts in one statement. */
enum db_status store_accounts_save_many(PGconn *c, const struct bill_acct *a, int n, int64_t now_us);

/* An account as GET /v1/tenants/{id}/account shows it. */
struct account_view {
	int64_t tenant_id, balance_minor, cut_threshold_minor;
	int64_t grace_until_us; /* 0: not in grace */
	int64_t closed_us;      /* 0: open; else when the tenant moved out (0021) */
	char currency[4], state[16], supply[16];
	char levels_json[256]; /* the policy's warning levels as a JSON array */
};
/* The accounts of tenants[0..n) (unlocked: a committed read), in no particular order;
 * out has room for n, *nout gets how many were found. */
enum db_status store_account_views(PGconn *c, const int64_t *tenants, int n, struct account_view *out, int *nout);

void store_accounts_register(void);

#endif
