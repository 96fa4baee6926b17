/* reconcile.h: a provider's bill for one site-local day checked against the payments and
 * refunds wattle recorded, in one transaction. A payment on the bill that wattle never
 * recorded is credited now when it matches an order (exactly as a notification would:
 * ops/payment.c, same UNIQUE payment), else kept as a payment conflict; everything that
 * does not match is stored as a line of the run. */
#ifndef WATTLE_OPS_RECONCILE_H
#define WATTLE_OPS_RECONCILE_H

#include "ops/payment.h"
#include "store/db.h"
#include "store/reconciliations.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A line of the provider's bill (api/provider.h's prov_bill_line, as ops sees it). */
struct recon_line {
	bool refund;
	char txn[130], out_trade_no[130], refund_ref[130];
	int64_t amount_minor; /* positive */
	char currency[4];
};

struct recon_req {
	enum pay_provider prov;
	const char *date; /* YYYY-MM-DD */
	struct recon_bounds b; /* store_recon_bounds */
	const struct recon_line *lines;
	size_t n;
	const char *error; /* the bill could not be had: a failed run is stored with it */
	const char *origin; /* "finance" or "schedule" */
	int64_t key_id;
	const char *request_id;
	int64_t now_us;
};

/* Match, credit what can be credited, store the run and its lines. *out is the run. */
enum db_status op_reconcile(PGconn *c, const struct recon_req *rq, struct recon_run *out);

#endif
