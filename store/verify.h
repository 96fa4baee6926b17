/* verify.h: the books checked from the database alone, for `wattle verify` (after a crash,
 * a restore, or any day): each check counts what breaks its rule and names a few. */
#ifndef WATTLE_STORE_VERIFY_H
#define WATTLE_STORE_VERIFY_H

#include "store/db.h"

#include <stdint.h>

#define VERIFY_CHECKS 7

struct verify_result {
	const char *check; /* static: "balances", "ledger_chain", "meter_cost", "meter_ledger", "allocations",
			      "audit_chain", "receipts" */
	const char *rule;  /* static: what must hold */
	int64_t checked, bad;
	char examples[160]; /* the first few offenders' ids, "" when none */
};

/* Run every check in one read-only REPEATABLE READ transaction on this thread's connection
 * (the books as of one instant, while servers keep serving). *out new (caller frees). */
enum db_status store_verify(struct verify_result **out, int *n);

void store_verify_register(void);

#endif
