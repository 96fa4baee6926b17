/* ledger.h: the append-only ledger's rows (a trigger refuses UPDATE and DELETE). Balances
 * change only through ops/ledger.c, which locks the accounts, checks the arithmetic and
 * runs the state machine around these inserts. */
#ifndef WATTLE_STORE_LEDGER_H
#define WATTLE_STORE_LEDGER_H

#include "store/db.h"

#include <stdint.h>

/* Append one entry; *id gets it. ref_json NULL: {}. */
enum db_status store_ledger_append(PGconn *c, int64_t account_id, int64_t balance_after, const char *kind,
				   int64_t amount_minor, const char *ref_json, int64_t at_us, const char *request_id,
				   int64_t *id);

struct ledger_row {
	int64_t account_id, amount_minor, balance_after_minor;
	const char *ref_json;   /* borrowed; NULL: {} */
	const char *request_id; /* borrowed; NULL: the set's */
};

/* Append rows[0..n) of one kind at at_us in one statement; ids follow the rows' order
 * (the order their balances were chained in). */
enum db_status store_ledger_append_many(PGconn *c, const struct ledger_row *rows, int n, const char *kind,
					const char *request_id, int64_t at_us);

/* An entry as the ledger's page shows it. */
struct ledger_entry {
	int64_t id, at_us, amount_minor, balance_after_minor;
	char kind[16];
	char *ref_json; /* new */
};
/* A page of the tenant's entries after `after`. *out new: store_ledger_entries_free. */
enum db_status store_ledger_of_tenant(PGconn *c, int64_t tenant_id, int64_t after, int64_t limit,
				      struct ledger_entry **out, int *n);
void store_ledger_entries_free(struct ledger_entry *e, int n);

void store_ledger_register(void);

#endif
