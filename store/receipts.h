/* receipts.h: numbered receipts and their counters in the database (0019_receipts.sql).
 * Typed rows in and out. */
#ifndef WATTLE_STORE_RECEIPTS_H
#define WATTLE_STORE_RECEIPTS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* What a receipt prints about its tenant and site, read in the issuing transaction. */
struct receipt_context {
	int64_t tenant_id, site_id;
	char tenant_name[201], category[65];
	char site_name[201], timezone[64], currency[4];
	char legal_name[201], tax_id[65]; /* "" when not set (has_* false) */
	bool has_legal_name, has_tax_id;
};
/* The tenant's site and account; *found false when the tenant or its account is missing. */
enum db_status store_receipt_context(PGconn *c, int64_t tenant_id, struct receipt_context *x, bool *found);

/* Hand out the next number of (site, series, year): the counter row is created at 1 or bumped,
 * and stays locked until the transaction ends (so the issuers of a series queue here and a
 * rollback gives the number back). *seq gets the number, prev_hash the hash of the receipt
 * before it ("" for the first). */
enum db_status store_receipt_bump(PGconn *c, int64_t site_id, const char *series, int year, int64_t *seq,
				  char prev_hash[65]);

/* A receipt row. Strings are "" when absent; ids 0 when none. */
struct receipt_row {
	int64_t id, site_id, seq, tenant_id, payment_id, ledger_entry_id, cites_receipt_id;
	int year;
	char series[8], number[64];
	int64_t issued_us;
	char issued_local[40];
	char legal_name[201], tax_id[65], site_name[201];
	bool has_legal_name, has_tax_id;
	char tenant_name[201], shop[280];
	int64_t amount_minor, balance_before_minor, balance_after_minor;
	char currency[4], channel[16];
	char provider_txn_id[130], reference[201], cites_number[64];
	char prev_hash[65], hash[65];
};
/* Insert r (everything but id and hash, which are read back) and record its hash as the
 * counter's last. */
enum db_status store_receipt_insert(PGconn *c, struct receipt_row *r);

/* The TOPUP receipt of a payment: *id 0 (and number "") when it has none. */
enum db_status store_receipt_of_payment(PGconn *c, int64_t payment_id, int64_t *id, char number[64]);
/* A receipt's number by id ("" when there is none). */
enum db_status store_receipt_number(PGconn *c, int64_t id, char number[64]);

/* r->id == 0 when there is none. */
enum db_status store_receipt_get(PGconn *c, int64_t id, struct receipt_row *r);
/* A page of receipts after `after` (tenant_id 0: every tenant; site_id 0: every site), at
 * most limit, by id. *out new (caller frees). */
enum db_status store_receipts_list(PGconn *c, int64_t tenant_id, int64_t site_id, int64_t after, int64_t limit,
				   struct receipt_row **out, int *n);

void store_receipts_register(void);

#endif
