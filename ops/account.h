/* account.h: an account as the state machine sees it (policy, calendar, tenant), loaded
 * and locked in the caller's transaction, and the outbox its transitions fill. */
#ifndef WATTLE_ACCOUNT_H
#define WATTLE_ACCOUNT_H

#include "core/prepaid.h"
#include "core/buf.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/outbox.h"

#include <stdbool.h>
#include <stdint.h>

/* What the state machine decided, written by bill_outbox_flush in the caller's
 * transaction through the outboxes' one writer (store/outbox.h). Strings are owned. */
struct bill_outbox {
	int ncmd, nnote, capcmd, capnote;
	struct cmd_order *cmd;   /* per tenant (meter_id 0); reason borrowed from static text */
	struct note_order *note; /* recipient, body and payload owned */
};

/* Run the state machine on a balance change (new_balance may equal the balance: a new
 * account or a new policy) and queue what it decides. */
void bill_acct_transition(struct bill_acct *a, int64_t new_balance, int64_t now_us,
			  struct bill_outbox *o);

/* Grace is due: cut, hold, or end it. */
void bill_acct_due(struct bill_acct *a, int64_t now_us, struct bill_outbox *o);

/* A top-up's notice for the tenant; entry_id: its ledger entry, whose receipt number the
 * message carries (the receipt is issued later in the same transaction: the sender looks
 * it up). */
void bill_acct_topup_notice(struct bill_acct *a, int64_t amount, int64_t entry_id, int64_t now_us,
			    struct bill_outbox *o);

/* Insert the queued commands (superseding pending opposite ones, setting supply) and
 * notifications. Empties o. */
enum db_status bill_outbox_flush(PGconn *c, struct bill_outbox *o, int64_t now_us);
void bill_outbox_free(struct bill_outbox *o);

/* Run the state machine, with no balance change, for the tenant's account, or (tenant_id 0)
 * for every account under the site's credit rating: a new account, a new policy, a new
 * rating. */
enum db_status bill_acct_refresh(PGconn *c, int64_t tenant_id, int64_t site_id, const char *rating,
				 int64_t now_us);

/* Handle accounts whose grace is due at now_us (up to 200, skipping those another
 * process holds). *handled gets how many. */
enum db_status bill_grace_tick(PGconn *c, int64_t now_us, int *handled);


#endif
