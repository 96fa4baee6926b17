/* account.h: an account as the state machine sees it (policy, calendar, tenant), loaded
 * and locked in the caller's transaction, and the outbox its transitions fill. */
#ifndef WATTLE_ACCOUNT_H
#define WATTLE_ACCOUNT_H

#include "core/prepaid.h"
#include "core/buf.h"
#include "store/db.h"
#include "store/outbox.h"

#include <stdbool.h>
#include <stdint.h>

struct bill_acct {
	int64_t id, tenant_id;
	char tenant_name[201], phone[24], zone[64], currency[4];
	int digits;
	bool has_policy; /* no credit policy for the site and rating: no automatic control */
	struct bill_policy policy;
	struct bill_calendar cal;
	struct bill_account st;
};

/* Select list and joins for loading accounts; the caller adds WHERE, ORDER BY a.id and
 * FOR UPDATE OF a. $H is the first local date whose holidays matter (text 'YYYY-MM-DD'). */
#define BILL_ACCT_SELECT(H)                                                                     \
	"SELECT a.id, a.tenant_id, a.balance_minor, a.state, a.warned_mask, "                  \
	SQL_US("a.grace_until") ", t.name, coalesce(t.phone, ''), s.timezone, a.currency,"      \
	" p.id IS NOT NULL, array_to_string(coalesce(p.warn_levels_minor, '{}'), ','),"        \
	" coalesce(p.overdraft_minor, 0), coalesce(p.grace_minutes, 0),"                       \
	" coalesce(p.restore_min_minor, 0), coalesce(p.quiet_from_min, -1),"                   \
	" coalesce(p.quiet_to_min, -1),"                                                       \
	" (SELECT coalesce(string_agg((h.day - date '1970-01-01')::text, ',' ORDER BY h.day), '')" \
	"  FROM (SELECT day FROM site_holidays h WHERE h.site_id = s.id AND h.day >= " H "::date"  \
	"  ORDER BY day LIMIT 64) h)"                                                           \
	" FROM accounts a JOIN tenants t ON t.id = a.tenant_id JOIN sites s ON s.id = t.site_id" \
	" LEFT JOIN credit_policies p ON p.site_id = t.site_id AND p.rating = t.credit_rating"

void bill_acct_parse(const PGresult *r, int row, struct bill_acct *a);

/* The local date a day before now, for BILL_ACCT_SELECT's holiday window. */
void bill_acct_holiday_from(int64_t now_us, char *buf, size_t n);

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

/* A top-up receipt for the tenant. */
void bill_acct_topup_notice(struct bill_acct *a, int64_t amount, int64_t now_us,
			    struct bill_outbox *o);

/* Write the state of one account (balance included). */
enum db_status bill_acct_save(PGconn *c, const struct bill_acct *a, int64_t now_us);

/* Insert the queued commands (superseding pending opposite ones, setting supply) and
 * notifications. Empties o. */
enum db_status bill_outbox_flush(PGconn *c, struct bill_outbox *o, int64_t now_us);
void bill_outbox_free(struct bill_outbox *o);

/* Run the state machine, with no balance change, for the accounts a statement locks:
 * "acct_lock_tenants" ($1 tenant id array, $2 holiday date) or "acct_lock_policy" ($1
 * site, $2 rating, $3 holiday date). For a new account, a new policy, a new rating. */
enum db_status bill_acct_refresh(PGconn *c, const char *stmt, int n, const char *const *params,
				 int64_t now_us);

/* Handle accounts whose grace is due at now_us (up to 200, skipping those another
 * process holds). *handled gets how many. */
enum db_status bill_grace_tick(PGconn *c, int64_t now_us, int *handled);

void bill_account_register(void);

#endif
