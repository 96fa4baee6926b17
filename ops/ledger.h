/* ledger.h: posting to the append-only ledger. Every balance change goes through here,
 * inside the caller's transaction, so the cached balance always equals the sum of entries. */
#ifndef WATTLE_LEDGER_H
#define WATTLE_LEDGER_H

#include "store/db.h"

#include <stdint.h>

struct bill_entry {
	int64_t id;
	int64_t account_id;
	int64_t at_us;
	int64_t amount_minor;
	int64_t balance_before_minor;
	int64_t balance_after_minor;
};

enum bill_post_result {
	POST_OK,
	POST_NO_ACCOUNT, /* the tenant has no account */
	POST_OVERFLOW,   /* the balance would leave int64 */
	POST_CLOSED,     /* a topup to an account closed by a move-out: no new money */
};

/* Lock the tenant's account (FOR UPDATE), check the new balance for overflow, update it
 * and append one entry of `kind` (a ledger_entries.kind) with `ref_json` (a JSON object
 * text) at now_us. A topup to a closed account is refused (POST_CLOSED, nothing written),
 * under the same lock a move-out closes it with. On a closed account the state machine does
 * not run (the meters are vacant: nobody to warn, nothing to cut); bill_post_many likewise. *out is filled on POST_OK. Returns the db status; *res says whether
 * the posting was made when the status is DB_OK. */
enum db_status bill_post(PGconn *c, int64_t tenant_id, const char *kind, int64_t amount_minor,
			 const char *ref_json, const char *request_id, int64_t now_us,
			 struct bill_entry *out, enum bill_post_result *res);

/* The same, with the entry dated at_us (its value date) while the state machine runs at
 * now_us: a month's allocation committed after the month is dated its last instant, so
 * that it belongs to the month's statement. at_us <= now_us. */
enum db_status bill_post_at(PGconn *c, int64_t tenant_id, const char *kind, int64_t amount_minor,
			    const char *ref_json, const char *request_id, int64_t at_us, int64_t now_us,
			    struct bill_entry *out, enum bill_post_result *res);

/* One posting of a set. */
struct bill_posting {
	int64_t tenant_id, amount_minor;
	const char *ref_json; /* borrowed; NULL: {} */
	const char *request_id; /* borrowed; NULL: the set's request_id */
};

/* Post a set of entries of one kind at once (a tenant may have several): accounts locked in
 * id order in one statement, entries and balances written in bulk, the state machine run
 * once per account on its final balance, the outbox flushed once. Dated at_us (see
 * bill_post_at). *missing gets how many postings found no account (the others are made),
 * or -1 when a balance would overflow and nothing was written (the caller rolls back). */
enum db_status bill_post_many(PGconn *c, struct bill_posting *p, int n, const char *kind, const char *request_id,
			      int64_t at_us, int64_t now_us, int *missing);


#endif
