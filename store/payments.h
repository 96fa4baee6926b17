/* payments.h: top-up orders, the payments providers report, their refunds and the
 * conflicts finance resolves, in the database. Typed rows in and out. */
#ifndef WATTLE_STORE_PAYMENTS_H
#define WATTLE_STORE_PAYMENTS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* The currency of the tenant's account; *found false when it has none. */
enum db_status store_account_currency(PGconn *c, int64_t tenant_id, char currency[4], bool *found);

struct order {
	int64_t id, tenant_id, amount_minor, payment_id; /* payment_id 0: unpaid */
	char out_trade_no[32], provider[8], currency[4], status[12], mode[8];
	char pay_url[2048], openid[129], provider_ref[256], provider_code[64], provider_message[256];
	char pay_params[2048]; /* JSON text, "" when none */
	int64_t created_us, expires_us, paid_us; /* paid_us 0: unpaid */
	int query_attempts;
};

/* Insert o (out_trade_no, tenant, provider, amount, currency, status, mode, openid, pay_url,
 * created/expires set by the caller), due for a query at next_us (0: never); o is read back
 * whole. key_id 0: none. */
enum db_status store_order_insert(PGconn *c, struct order *o, int64_t key_id, int64_t next_us);
/* Record what the provider said: status "open" (with pay_url, provider_ref, pay_params,
 * asked about first at next_us) or "failed" (code, message; asked about at next_us when
 * the outcome is unknown, 0: never). */
enum db_status store_order_outcome(PGconn *c, int64_t id, const struct order *o, int64_t next_us);
/* Claim up to n orders due for a query at now_us (skipping those another process holds),
 * moving them lease_us on. */
enum db_status store_orders_claim(PGconn *c, int64_t now_us, int64_t lease_us, struct order *out, int n, int *got);
/* Ask about the order again at next_us (0: never), counting the attempt. */
enum db_status store_order_requery(PGconn *c, int64_t id, int64_t next_us);
/* An order that can no longer be paid: open or creating -> closed (a failed one keeps its
 * status, a paid one too), never asked about again. */
enum db_status store_order_closed(PGconn *c, int64_t id, int64_t now_us);
/* The same, only while the order has no provider reference: one whose creation answered
 * after the caller read it (it is open, with a reference a tenant may pay) stays as it is. */
enum db_status store_order_closed_unmade(PGconn *c, int64_t id, int64_t now_us);
/* o->id == 0 when there is none. */
enum db_status store_order_get(PGconn *c, int64_t id, struct order *o);
/* Lock the order with this out_trade_no (deliveries of one payment queue here);
 * o->id == 0 when there is none. */
enum db_status store_order_lock(PGconn *c, const char *out_trade_no, struct order *o);
/* Mark an open order paid by payment_id. */
enum db_status store_order_paid(PGconn *c, int64_t order_id, int64_t payment_id, int64_t now_us);

/* A payment as first recorded. */
struct payment_new {
	const char *provider, *txn, *out_trade_no; /* out_trade_no may be NULL */
	int64_t order_id, tenant_id;               /* 0: none */
	int64_t amount_minor;
	const char *currency, *status; /* "credited" or "conflict" */
	const char *event_json;
	const char *request_id;
};
/* Record p unless the provider reported it before: *id gets the new payment, or 0 for a
 * replay (that first answer stands). */
enum db_status store_payment_insert(PGconn *c, const struct payment_new *p, int64_t now_us, int64_t *id);
/* Set status, and the ledger entry and tenant when not 0. */
enum db_status store_payment_set(PGconn *c, int64_t id, const char *status, int64_t ledger_id, int64_t tenant_id);

/* A payment locked for a refund. */
struct payment_locked {
	int64_t id, amount_minor, refunded_minor, tenant_id;
	char status[12], out_trade_no[130];
};
/* p->id == 0 when the provider's payment is unknown. */
enum db_status store_payment_lock(PGconn *c, const char *provider, const char *txn, struct payment_locked *p);
/* Record a refund of the payment unless it was recorded before: *id 0 for a replay. */
enum db_status store_refund_insert(PGconn *c, int64_t payment_id, const char *refund_ref, int64_t amount_minor,
				   const char *event_json, int64_t now_us, int64_t *id);
/* The refund's ledger entry (0: none) and the payment's refunded total. */
enum db_status store_refund_done(PGconn *c, int64_t payment_id, int64_t refund_id, int64_t ledger_id,
				 int64_t amount_minor);

/* A conflict with its payment. */
struct conflict {
	int64_t id, expected_minor, ledger_entry_id, created_us, resolved_us; /* 0: none */
	char reason[32], expected_currency[4], state[12];
	char resolution_reason[501];
	bool has_expected, has_resolution;
	struct {
		int64_t id, amount_minor, tenant_id, refunded_minor, received_us, order_id; /* 0: none */
		char provider[8], txn[130], out_trade_no[130], currency[4];
		bool has_out_trade_no;
	} pay;
};
/* Record a conflict for the payment and mark the payment "conflict". expected 0 and
 * expected_currency "" when there was no order to expect anything. */
enum db_status store_conflict_insert(PGconn *c, int64_t payment_id, const char *reason, int64_t expected,
				     const char *expected_currency, int64_t now_us);
/* A page of conflicts in state (NULL: all), of payments by tenants of site_id (0: any; a
 * payment no tenant claimed is of no site). *out new (caller frees). */
enum db_status store_conflicts_list(PGconn *c, int64_t after, int64_t limit, const char *state, int64_t site_id,
				    struct conflict **out, int *n);
/* Lock one (with its payment); x->id == 0 when there is none. */
enum db_status store_conflict_lock(PGconn *c, int64_t id, struct conflict *x);
/* Resolve it: state "credited" or "rejected". key_id, ledger_id 0: none. */
enum db_status store_conflict_set(PGconn *c, int64_t id, const char *state, int64_t now_us, int64_t key_id,
				  const char *reason, int64_t ledger_id);

void store_payments_register(void);

#endif
