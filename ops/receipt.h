/* receipt.h: issuing a numbered electronic receipt for money that moved, in the transaction
 * that moved it. Every credited top-up (provider or cashier) gets a TOPUP receipt, every
 * refund through a provider a REFUND receipt citing the TOPUP one, a cash payout a PAYOUT
 * receipt. Numbers are gapless per site, series and site-local year (0019_receipts.sql).
 * A receipt is not a tax invoice (fapiao). */
#ifndef WATTLE_OPS_RECEIPT_H
#define WATTLE_OPS_RECEIPT_H

#include "ops/ledger.h"
#include "store/db.h"

#include <stdint.h>

enum receipt_series {
	RCPT_TOPUP,  /* money in: a provider payment credited, a resolved conflict, a cashier top-up */
	RCPT_REFUND, /* money back through the channel it came in by (a provider refund) */
	RCPT_PAYOUT, /* money back in cash (a move-out settled in cash) */
	RCPT__COUNT
};
/* "TOPUP", "REFUND", "PAYOUT", then NULL. */
extern const char *const receipt_series_names[];

/* What a receipt records beyond what it reads of the tenant and site itself. */
struct receipt_req {
	enum receipt_series series;
	int64_t tenant_id;
	const struct bill_entry *entry; /* the entry just posted (bill_post's *out): its id, amount (its
					   sign must fit the series: positive for TOPUP, negative
					   otherwise) and balances before and after */
	const char *channel;         /* "wechat", "alipay", "stripe", "cash", "bank", "card" */
	const char *provider_txn_id; /* the provider's payment id; NULL for the cashier */
	const char *reference;       /* the cashier's reference or the provider's refund id; NULL: none */
	int64_t payment_id;          /* payments.id, 0 for none */
	int64_t cites_receipt_id;    /* REFUND/PAYOUT: the receipt it gives money back on; 0: for a
					REFUND, the TOPUP receipt of payment_id when there is one */
	int64_t now_us;              /* the issue time (the entry's time, normally) */
};

struct receipt_issued {
	int64_t id, seq;
	int year;            /* site-local year of issue */
	char number[64];     /* "S<site>-<series>-<year>-<seq, 6 digits>" */
	char hash[65];
};

/* Issue the receipt for rq inside the caller's transaction, right after the entry was posted:
 * read the tenant, site (legal name, tax id, time zone) and account, take the next number of
 * the series from its counter row (which stays locked until the caller commits or rolls back,
 * so a rolled-back credit uses no number), and insert the receipt chained to the previous one
 * by hash. *out is filled on DB_OK. A tenant without an account, an unknown time zone or an
 * amount whose sign does not fit the series is a programming error: logged, DB_HARD (roll
 * back). */
enum db_status op_receipt_issue(PGconn *c, const struct receipt_req *rq, struct receipt_issued *out);

#endif
