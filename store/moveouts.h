/* moveouts.h: tenants moving out (migration 0021) in the database: the move-out row (one per
 * tenant), the pool shares it posted, the payments it may refund, and closing the tenant,
 * its meters and its account. Typed structs in and out; the statements are in moveouts.c. */
#ifndef WATTLE_STORE_MOVEOUTS_H
#define WATTLE_STORE_MOVEOUTS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* The tenant as a move-out needs it, with "at" in site-local terms. */
struct moveout_ctx {
	int64_t tenant_id, site_id, account_id, balance_minor;
	char currency[4], zone[64];
	char at_date[11];      /* the site-local day of at, YYYY-MM-DD */
	char at_period[8];     /* its month, YYYY-MM */
	char now_period[8];    /* the site-local month of now */
	char month_start[11];  /* the first day of at_period */
	bool closed;           /* the account is closed already */
	bool before_move_in;   /* at_date is before tenants.move_in */
};
/* Read tenant_id's context for at_us at now_us; lock: the account FOR UPDATE (its balance is
 * then the one to settle). *found false when there is no such tenant (or no account). */
enum db_status store_moveout_ctx(PGconn *c, int64_t tenant_id, int64_t at_us, int64_t now_us, bool lock,
				 struct moveout_ctx *x, bool *found);

struct moveout {
	int64_t id, tenant_id, at_us;
	char at_date[11], settlement[8], currency[4];
	int64_t energy_minor, shared_minor, final_balance_minor, refund_minor, cash_minor, arrears_minor;
	int64_t cash_entry_id, statement_id; /* cash_entry_id 0: none */
	int64_t *meter_ids;                  /* new (store_moveout_free) */
	int nmeters;
	int64_t created_us;
};
void store_moveout_free(struct moveout *m); /* what m owns; NULL is a no-op */

/* The tenant's move-out; out->id == 0 when it has none. */
enum db_status store_moveout_get(PGconn *c, int64_t tenant_id, struct moveout *out);
/* Insert m (all but id and created_us, which are set). DB_UNIQUE: the tenant moved out already. */
enum db_status store_moveout_insert(PGconn *c, struct moveout *m, int64_t now_us, int64_t key_id,
				    const char *request_id);

/* The ids of the tenant's meters, in id order. *ids new (caller frees). */
enum db_status store_moveout_meters(PGconn *c, int64_t tenant_id, int64_t **ids, int *n);

/* The pools the tenant is a member of, in id order, and whether each has a committed run for
 * period (then the tenant's share of that month was posted by it). */
struct moveout_pool {
	int64_t pool_id;
	bool committed;
};
enum db_status store_moveout_pools(PGconn *c, int64_t tenant_id, const char *period, struct moveout_pool **out,
				   int *n);

/* Record a posted share (ledger_id 0: nothing was posted). basis_json: the line's basis as JSON. */
struct moveout_share {
	int64_t pool_id, amount_minor, ledger_id;
	char basis_json[48];
	int days, days_in_period;
};
enum db_status store_moveout_shares_insert(PGconn *c, int64_t move_out_id, int64_t tenant_id, const char *period,
					   const struct moveout_share *s, int n);

/* A credited provider payment of the tenant that can still be refunded: what is left of it
 * (less refunds confirmed and pending), largest first, the most recent first among equals;
 * only those received since since_us[provider] ("wechat", "alipay", "stripe": the provider's
 * refund window). */
struct moveout_payment {
	int64_t payment_id, left_minor, received_us;
	char provider[8];
};
enum db_status store_moveout_payments(PGconn *c, int64_t tenant_id, int64_t wechat_since_us, int64_t alipay_since_us,
				      int64_t stripe_since_us, struct moveout_payment **out, int *n);

/* Close the tenant's (open, locked) account to new money. */
enum db_status store_account_close(PGconn *c, int64_t tenant_id, int64_t now_us);
/* The tenant moved out on at_date: its meters vacant (tenant_id NULL), tenants.move_out set
 * and its status closed. *meter_ids new (caller frees): the meters it had. */
enum db_status store_moveout_vacate(PGconn *c, int64_t tenant_id, const char *at_date, int64_t now_us,
				    int64_t **meter_ids, int *n);
/* Store the final statement (a tenant_statement report of origin move_out); *id gets it. */
enum db_status store_moveout_statement(PGconn *c, int64_t site_id, int64_t tenant_id, const char *period,
				       const char *data_json, int64_t now_us, int64_t key_id, int64_t *id);

/* Whether the tenant's account is closed (*closed false when there is no account). */
enum db_status store_account_closed(PGconn *c, int64_t tenant_id, bool *closed);

void store_moveouts_register(void);

#endif
