/* refunds.h: refunds wattle asks the providers for (migration 0018), in the database. */
#ifndef WATTLE_STORE_REFUNDS_H
#define WATTLE_STORE_REFUNDS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct refund {
	int64_t id, payment_id, tenant_id, amount_minor, ledger_entry_id; /* 0: none */
	char currency[4], state[12], origin[12];
	char reason[501], provider_ref[130], provider_code[64], provider_message[256];
	int64_t created_us, updated_us;
	/* the payment, as the provider knows it */
	char provider[8], txn[130], out_trade_no[130];
	int64_t payment_amount_minor;
	int attempts; /* answers recorded so far */
};

/* A payment as a refund needs it, locked (FOR UPDATE); p->id == 0 when none. held is the sum
 * of its pending refunds. */
struct refund_payment {
	int64_t id, tenant_id, amount_minor, refunded_minor, held_minor;
	char status[12], provider[8], txn[130], out_trade_no[130], currency[4];
};
enum db_status store_refund_payment_lock(PGconn *c, int64_t payment_id, struct refund_payment *p);
/* Lock the tenant's account (after the payment: the order every posting path takes) and read
 * its balance and the sum of its pending refunds; *found false when no account. */
enum db_status store_refund_balance(PGconn *c, int64_t tenant_id, int64_t *balance, int64_t *held, bool *found);

/* Insert a pending refund (r: payment_id, tenant_id, amount, currency, reason, origin);
 * r is read back whole. */
enum db_status store_refund_new(PGconn *c, struct refund *r, int64_t key_id, const char *request_id,
				int64_t send_at_us, int64_t now_us);
/* r->id == 0 when none. lock: FOR UPDATE. */
enum db_status store_refund_get(PGconn *c, int64_t id, bool lock, struct refund *r);
/* Pending refunds of a payment, oldest first (at most n): for a notification to find its own. */
enum db_status store_refunds_pending_of(PGconn *c, int64_t payment_id, struct refund *out, int n, int *got);
/* Set the outcome. state "pending" keeps it due at next_us (0: not due). */
enum db_status store_refund_set(PGconn *c, int64_t id, const char *state, const char *provider_ref, const char *code,
				const char *message, int64_t ledger_id, int64_t payment_refund_id, int64_t next_us,
				int64_t now_us);
/* Claim up to n refunds due at now_us for the worker (skipping those another process holds),
 * moving them lease_us on. */
enum db_status store_refunds_claim(PGconn *c, int64_t now_us, int64_t lease_us, struct refund *out, int n, int *got);
/* A page: tenant_id, site_id (its tenants') and state may be 0/NULL for all. *out new (caller
 * frees). */
enum db_status store_refunds_list(PGconn *c, int64_t tenant_id, int64_t site_id, const char *state, int64_t after,
				  int64_t limit, struct refund **out, int *n);

void store_refunds_register(void);

#endif
