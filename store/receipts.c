/* receipts.c: the SQL of receipts and their counters (receipts.h). */
#include "store/receipts.h"

#include <stdlib.h>
#include <string.h>

#define RECEIPT_COLS                                                                                          \
	"id, site_id, series, year, seq, number, " SQL_US("issued_at") " AS issued_us, issued_local, legal_name,"     \
	" tax_id, site_name, tenant_id, tenant_name, shop, amount_minor, currency, channel,"                          \
	" coalesce(provider_txn_id, '') AS provider_txn_id, coalesce(reference, '') AS reference,"                    \
	" coalesce(payment_id, 0) AS payment_id, ledger_entry_id, balance_before_minor, balance_after_minor,"         \
	" coalesce(cites_receipt_id, 0) AS cites_receipt_id, coalesce(cites_number, '') AS cites_number, prev_hash, hash"

static const struct db_stmt receipt_stmts[] = {
	{"receipt_context", /* store_receipt_context */
	 "SELECT t.id AS tenant_id, t.site_id, t.name AS tenant_name, t.category, s.name AS site_name, s.timezone,"
	 " a.currency, s.legal_name, s.tax_id"
	 " FROM tenants t JOIN sites s ON s.id = t.site_id JOIN accounts a ON a.tenant_id = t.id WHERE t.id = $1"},
	{"receipt_bump", /* store_receipt_bump: the row lock is held to the end of the transaction */
	 "INSERT INTO receipt_counters AS k (site_id, series, year, last_no, last_hash) VALUES ($1, $2, $3, 1, '')"
	 " ON CONFLICT (site_id, series, year) DO UPDATE SET last_no = k.last_no + 1"
	 " RETURNING last_no, last_hash AS prev_hash"},
	{"receipt_insert", /* store_receipt_insert: the hash is set by the receipt_seal trigger */
	 "WITH r AS (INSERT INTO receipts (site_id, series, year, seq, number, issued_at, issued_local, legal_name,"
	 " tax_id, site_name, tenant_id, tenant_name, shop, amount_minor, currency, channel, provider_txn_id,"
	 " reference, payment_id, ledger_entry_id, balance_before_minor, balance_after_minor, cites_receipt_id,"
	 " cites_number, prev_hash) VALUES ($1, $2, $3, $4, $5, " SQL_TS("$6") ", $7, $8, $9, $10, $11, $12, $13,"
	 " $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, (SELECT c.number FROM receipts c WHERE c.id = $23), $24)"
	 " RETURNING id, site_id, series, year, hash),"
	 " k AS (UPDATE receipt_counters k SET last_hash = r.hash FROM r"
	 " WHERE k.site_id = r.site_id AND k.series = r.series AND k.year = r.year)"
	 " SELECT id, hash FROM r"},
	{"receipt_of_payment", /* store_receipt_of_payment */
	 "SELECT id, number FROM receipts WHERE payment_id = $1 AND series = 'TOPUP' ORDER BY id LIMIT 1"},
	{"receipt_number", /* store_receipt_number */
	 "SELECT number FROM receipts WHERE id = $1"},
	{"receipt_get", /* store_receipt_get */
	 "SELECT " RECEIPT_COLS " FROM receipts WHERE id = $1"},
	{"receipt_list", /* store_receipts_list */
	 "SELECT " RECEIPT_COLS " FROM receipts WHERE id > $1 AND ($2::bigint IS NULL OR tenant_id = $2)"
	 " AND ($3::bigint IS NULL OR site_id = $3) ORDER BY id LIMIT $4"},
	{0, 0},
};

void store_receipts_register(void) { db_register(receipt_stmts); }

enum db_status store_receipt_context(PGconn *c, int64_t tenant_id, struct receipt_context *x, bool *found)
{
	memset(x, 0, sizeof *x);
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	bool no_legal = false, no_tax = false;
	struct db_col spec[] = {
		DB_COL("tenant_id", DB_I64, &x->tenant_id),
		DB_COL("site_id", DB_I64, &x->site_id),
		DB_COL_TEXT("tenant_name", x->tenant_name),
		DB_COL_TEXT("category", x->category),
		DB_COL_TEXT("site_name", x->site_name),
		DB_COL_TEXT("timezone", x->timezone),
		DB_COL_TEXT("currency", x->currency),
		{"legal_name", DB_TEXT, x->legal_name, sizeof x->legal_name, NULL, &no_legal, -1},
		{"tax_id", DB_TEXT, x->tax_id, sizeof x->tax_id, NULL, &no_tax, -1},
		{0},
	};
	enum db_status st = db_exec_row(c, "receipt_context", &p, spec, found);
	x->has_legal_name = !no_legal && *found;
	x->has_tax_id = !no_tax && *found;
	return st;
}

enum db_status store_receipt_bump(PGconn *c, int64_t site_id, const char *series, int year, int64_t *seq,
				  char prev_hash[65])
{
	*seq = 0;
	prev_hash[0] = 0;
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, series);
	db_p_i64(&p, year);
	struct db_col spec[] = {DB_COL("last_no", DB_I64, seq), {"prev_hash", DB_TEXT, prev_hash, 65, NULL, NULL, -1},
				{0}};
	bool found;
	enum db_status st = db_exec_row(c, "receipt_bump", &p, spec, &found);
	return st == DB_OK && !found ? DB_HARD : st;
}

static void p_text_or_null(struct db_params *p, bool has, const char *s) { db_p_text(p, has && *s ? s : NULL); }

enum db_status store_receipt_insert(PGconn *c, struct receipt_row *r)
{
	struct db_params p = {0};
	db_p_i64(&p, r->site_id);
	db_p_text(&p, r->series);
	db_p_i64(&p, r->year);
	db_p_i64(&p, r->seq);
	db_p_text(&p, r->number);
	db_p_i64(&p, r->issued_us);
	db_p_text(&p, r->issued_local);
	p_text_or_null(&p, r->has_legal_name, r->legal_name);
	p_text_or_null(&p, r->has_tax_id, r->tax_id);
	db_p_text(&p, r->site_name);
	db_p_i64(&p, r->tenant_id);
	db_p_text(&p, r->tenant_name);
	db_p_text(&p, r->shop);
	db_p_i64(&p, r->amount_minor);
	db_p_text(&p, r->currency);
	db_p_text(&p, r->channel);
	p_text_or_null(&p, true, r->provider_txn_id);
	p_text_or_null(&p, true, r->reference);
	db_p_id(&p, r->payment_id);
	db_p_i64(&p, r->ledger_entry_id);
	db_p_i64(&p, r->balance_before_minor);
	db_p_i64(&p, r->balance_after_minor);
	db_p_id(&p, r->cites_receipt_id); /* its number is read from it */
	db_p_text(&p, r->prev_hash);
	struct db_col spec[] = {DB_COL("id", DB_I64, &r->id), DB_COL_TEXT("hash", r->hash), {0}};
	bool found;
	enum db_status st = db_exec_row(c, "receipt_insert", &p, spec, &found);
	return st == DB_OK && !found ? DB_HARD : st;
}

enum db_status store_receipt_of_payment(PGconn *c, int64_t payment_id, int64_t *id, char number[64])
{
	*id = 0;
	number[0] = 0;
	struct db_params p = {0};
	db_p_i64(&p, payment_id);
	struct db_col spec[] = {DB_COL("id", DB_I64, id), {"number", DB_TEXT, number, 64, NULL, NULL, -1}, {0}};
	return db_exec_row(c, "receipt_of_payment", &p, spec, NULL);
}

enum db_status store_receipt_number(PGconn *c, int64_t id, char number[64])
{
	number[0] = 0;
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct db_col spec[] = {{"number", DB_TEXT, number, 64, NULL, NULL, -1}, {0}};
	return db_exec_row(c, "receipt_number", &p, spec, NULL);
}

/* The columns of RECEIPT_COLS into *r; the nullable site fields set has_* through the flags. */
#define RECEIPT_SPEC(r, no_legal, no_tax)                                                                     \
	{DB_COL("id", DB_I64, &(r)->id),                                                                     \
	 DB_COL("site_id", DB_I64, &(r)->site_id),                                                           \
	 DB_COL_TEXT("series", (r)->series),                                                                 \
	 DB_COL("year", DB_INT, &(r)->year),                                                                 \
	 DB_COL("seq", DB_I64, &(r)->seq),                                                                   \
	 DB_COL_TEXT("number", (r)->number),                                                                 \
	 DB_COL("issued_us", DB_I64, &(r)->issued_us),                                                       \
	 DB_COL_TEXT("issued_local", (r)->issued_local),                                                     \
	 {"legal_name", DB_TEXT, (r)->legal_name, sizeof (r)->legal_name, NULL, no_legal, -1},               \
	 {"tax_id", DB_TEXT, (r)->tax_id, sizeof (r)->tax_id, NULL, no_tax, -1},                             \
	 DB_COL_TEXT("site_name", (r)->site_name),                                                           \
	 DB_COL("tenant_id", DB_I64, &(r)->tenant_id),                                                       \
	 DB_COL_TEXT("tenant_name", (r)->tenant_name),                                                       \
	 DB_COL_TEXT("shop", (r)->shop),                                                                     \
	 DB_COL("amount_minor", DB_I64, &(r)->amount_minor),                                                 \
	 DB_COL_TEXT("currency", (r)->currency),                                                             \
	 DB_COL_TEXT("channel", (r)->channel),                                                               \
	 DB_COL_TEXT("provider_txn_id", (r)->provider_txn_id),                                               \
	 DB_COL_TEXT("reference", (r)->reference),                                                           \
	 DB_COL("payment_id", DB_I64, &(r)->payment_id),                                                     \
	 DB_COL("ledger_entry_id", DB_I64, &(r)->ledger_entry_id),                                           \
	 DB_COL("balance_before_minor", DB_I64, &(r)->balance_before_minor),                                 \
	 DB_COL("balance_after_minor", DB_I64, &(r)->balance_after_minor),                                   \
	 DB_COL("cites_receipt_id", DB_I64, &(r)->cites_receipt_id),                                         \
	 DB_COL_TEXT("cites_number", (r)->cites_number),                                                     \
	 DB_COL_TEXT("prev_hash", (r)->prev_hash),                                                           \
	 DB_COL_TEXT("hash", (r)->hash),                                                                     \
	 {0}}

enum db_status store_receipt_get(PGconn *c, int64_t id, struct receipt_row *r)
{
	memset(r, 0, sizeof *r);
	struct db_params p = {0};
	db_p_i64(&p, id);
	bool no_legal = false, no_tax = false;
	struct db_col spec[] = RECEIPT_SPEC(r, &no_legal, &no_tax);
	bool found;
	enum db_status st = db_exec_row(c, "receipt_get", &p, spec, &found);
	r->has_legal_name = found && !no_legal;
	r->has_tax_id = found && !no_tax;
	return st;
}

enum db_status store_receipts_list(PGconn *c, int64_t tenant_id, int64_t site_id, int64_t after, int64_t limit,
				   struct receipt_row **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_id(&p, tenant_id);
	db_p_id(&p, site_id);
	db_p_i64(&p, limit);
	struct receipt_row r;
	/* Per-row NULL flags cannot live in the scratch row's spec: has_* is set from the text. */
	struct db_col spec[] = RECEIPT_SPEC(&r, NULL, NULL);
	enum db_status st = db_exec_rows(c, "receipt_list", &p, spec, &r, sizeof r, (void **)out, n);
	for (int i = 0; st == DB_OK && i < *n; i++) {
		(*out)[i].has_legal_name = (*out)[i].legal_name[0] != 0;
		(*out)[i].has_tax_id = (*out)[i].tax_id[0] != 0;
	}
	return st;
}
