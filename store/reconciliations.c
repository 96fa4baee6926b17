/* reconciliations.c: the SQL of reconciliation runs (reconciliations.h). */
#include "store/reconciliations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_COLS                                                                                          \
	"r.id, r.provider, r.bill_date::text AS bill_date, r.site_id, r.timezone, r.state, r.matched,"       \
	" r.missing_in_wattle, r.missing_at_provider, r.amount_mismatch, r.credited, r.provider_total_minor," \
	" r.wattle_total_minor, coalesce(r.error, '') AS error, r.origin, " SQL_US("r.created_at") " AS created_us"

static const struct db_stmt recon_stmts[] = {
	{"recon_bounds", /* store_recon_bounds */
	 "SELECT s.id, s.timezone, " SQL_US("($2::date::timestamp AT TIME ZONE s.timezone)") " AS from_us, "
	 SQL_US("(($2::date + 1)::timestamp AT TIME ZONE s.timezone)") " AS to_us"
	 " FROM sites s WHERE ($1::bigint IS NULL OR s.id = $1) ORDER BY s.id LIMIT 1"},
	{"recon_yesterday", /* store_recon_yesterday */
	 "SELECT s.id, ((" SQL_TS("$2") " AT TIME ZONE s.timezone)::date - 1)::text AS day,"
	 " extract(hour FROM (" SQL_TS("$2") " AT TIME ZONE s.timezone)) >= $3 AS past"
	 " FROM sites s WHERE ($1::bigint IS NULL OR s.id = $1) ORDER BY s.id LIMIT 1"},
	{"recon_payments", /* store_recon_payments */
	 "SELECT id AS payment_id, provider_txn_id AS txn, '' AS refund_ref, amount_minor, "
	 SQL_US("received_at") " AS received_us,"
	 " (received_at >= " SQL_TS("$4") " AND received_at < " SQL_TS("$5") ") AS in_day,"
	 " status = 'credited' AS credited"
	 " FROM payments WHERE provider = $1 AND received_at >= " SQL_TS("$2") " AND received_at < " SQL_TS("$3")},
	{"recon_refunds", /* store_recon_refunds */
	 "SELECT p.id AS payment_id, p.provider_txn_id AS txn, r.refund_ref, r.amount_minor, "
	 SQL_US("r.received_at") " AS received_us,"
	 " (r.received_at >= " SQL_TS("$4") " AND r.received_at < " SQL_TS("$5") ") AS in_day,"
	 " true AS credited"
	 " FROM payment_refunds r JOIN payments p ON p.id = r.payment_id WHERE p.provider = $1"
	 " AND r.amount_minor > 0 AND r.received_at >= " SQL_TS("$2") " AND r.received_at < " SQL_TS("$3")},
	{"recon_insert", /* store_recon_insert */
	 "INSERT INTO reconciliations (provider, bill_date, site_id, timezone, state, matched, missing_in_wattle,"
	 " missing_at_provider, amount_mismatch, credited, provider_total_minor, wattle_total_minor, error, origin,"
	 " created_at, api_key_id) VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, nullif($13, ''),"
	 " $14, " SQL_TS("$15") ", $16) RETURNING id"},
	{"recon_line_insert", /* store_recon_insert */
	 "INSERT INTO reconciliation_lines (reconciliation_id, n, kind, type, provider_txn_id, out_trade_no,"
	 " refund_ref, provider_minor, wattle_minor, payment_id, action)"
	 " VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''), $8, $9, $10, $11)"},
	{"recon_exists", /* store_recon_exists */
	 "SELECT count(*) AS n FROM reconciliations WHERE provider = $1 AND bill_date = $2::date"},
	{"recon_get", /* store_recon_get */
	 "SELECT " RUN_COLS " FROM reconciliations r WHERE r.id = $1"},
	{"recon_lines", /* store_recon_get */
	 "SELECT kind, type, provider_txn_id, coalesce(out_trade_no, '') AS out_trade_no,"
	 " coalesce(refund_ref, '') AS refund_ref, coalesce(provider_minor, -1) AS provider_minor,"
	 " coalesce(wattle_minor, -1) AS wattle_minor, coalesce(payment_id, 0) AS payment_id, action"
	 " FROM reconciliation_lines WHERE reconciliation_id = $1 ORDER BY n"},
	{"recon_list", /* store_recon_list */
	 "SELECT " RUN_COLS " FROM reconciliations r WHERE ($1::text IS NULL OR r.provider = $1)"
	 " AND ($2::date IS NULL OR r.bill_date = $2::date) ORDER BY r.id DESC LIMIT $3"},
	{0, 0},
};

void store_reconciliations_register(void) { db_register(recon_stmts); }

enum db_status store_recon_bounds(PGconn *c, int64_t site_id, const char *date, struct recon_bounds *b)
{
	memset(b, 0, sizeof *b);
	struct db_params p = {0};
	db_p_id(&p, site_id);
	db_p_text(&p, date);
	struct db_col spec[] = {DB_COL("id", DB_I64, &b->site_id), DB_COL_TEXT("timezone", b->tz),
				DB_COL("from_us", DB_I64, &b->from_us), DB_COL("to_us", DB_I64, &b->to_us), {0}};
	return db_exec_row(c, "recon_bounds", &p, spec, NULL);
}

enum db_status store_recon_yesterday(PGconn *c, int64_t site_id, int64_t now_us, int hour, char date[11],
				     bool *past, int64_t *site_out)
{
	*past = false;
	*site_out = 0;
	date[0] = 0;
	struct db_params p = {0};
	db_p_id(&p, site_id);
	db_p_i64(&p, now_us);
	db_p_i64(&p, hour);
	struct db_col spec[] = {DB_COL("id", DB_I64, site_out), {"day", DB_TEXT, date, 11, NULL, NULL, -1},
				DB_COL("past", DB_BOOL, past), {0}};
	return db_exec_row(c, "recon_yesterday", &p, spec, NULL);
}

static enum db_status mine(PGconn *c, const char *stmt, const char *provider, int64_t from_us, int64_t to_us,
			   int64_t day_from, int64_t day_to, struct recon_mine **out, int *n)
{
	struct db_params p = {0};
	db_p_text(&p, provider);
	db_p_i64(&p, from_us);
	db_p_i64(&p, to_us);
	db_p_i64(&p, day_from);
	db_p_i64(&p, day_to);
	struct recon_mine row;
	struct db_col spec[] = {
		DB_COL("payment_id", DB_I64, &row.payment_id),
		DB_COL_TEXT("txn", row.txn),
		DB_COL_TEXT("refund_ref", row.refund_ref),
		DB_COL("amount_minor", DB_I64, &row.amount_minor),
		DB_COL("received_us", DB_I64, &row.received_us),
		DB_COL("in_day", DB_BOOL, &row.in_day),
		DB_COL("credited", DB_BOOL, &row.credited),
		{0},
	};
	*out = NULL;
	*n = 0;
	return db_exec_rows(c, stmt, &p, spec, &row, sizeof row, (void **)out, n);
}

enum db_status store_recon_payments(PGconn *c, const char *provider, int64_t from_us, int64_t to_us, int64_t day_from,
				    int64_t day_to, struct recon_mine **out, int *n)
{
	return mine(c, "recon_payments", provider, from_us, to_us, day_from, day_to, out, n);
}

enum db_status store_recon_refunds(PGconn *c, const char *provider, int64_t from_us, int64_t to_us, int64_t day_from,
				   int64_t day_to, struct recon_mine **out, int *n)
{
	return mine(c, "recon_refunds", provider, from_us, to_us, day_from, day_to, out, n);
}

enum db_status store_recon_insert(PGconn *c, struct recon_run *r, const struct recon_diff *d, int nd, int64_t key_id,
				  int64_t now_us)
{
	struct db_params p = {0};
	db_p_text(&p, r->provider);
	db_p_text(&p, r->date);
	db_p_i64(&p, r->site_id);
	db_p_text(&p, r->tz);
	db_p_text(&p, r->state);
	db_p_i64(&p, r->matched);
	db_p_i64(&p, r->missing_in_wattle);
	db_p_i64(&p, r->missing_at_provider);
	db_p_i64(&p, r->amount_mismatch);
	db_p_i64(&p, r->credited);
	db_p_i64(&p, r->provider_total);
	db_p_i64(&p, r->wattle_total);
	db_p_text(&p, r->error);
	db_p_text(&p, r->origin);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	r->id = 0;
	struct db_col spec[] = {DB_COL("id", DB_I64, &r->id), {0}};
	enum db_status st = db_exec_row(c, "recon_insert", &p, spec, NULL);
	r->created_us = now_us;
	for (int i = 0; st == DB_OK && i < nd; i++) {
		struct db_params q = {0};
		db_p_i64(&q, r->id);
		db_p_i64(&q, i + 1);
		db_p_text(&q, d[i].kind);
		db_p_text(&q, d[i].type);
		db_p_text(&q, d[i].txn);
		db_p_text(&q, d[i].out_trade_no);
		db_p_text(&q, d[i].refund_ref);
		db_p_i64_if(&q, d[i].provider_minor >= 0, d[i].provider_minor);
		db_p_i64_if(&q, d[i].wattle_minor >= 0, d[i].wattle_minor);
		db_p_id(&q, d[i].payment_id);
		db_p_text(&q, d[i].action);
		st = db_exec_void(c, "recon_line_insert", &q);
	}
	return st;
}

enum db_status store_recon_exists(PGconn *c, const char *provider, const char *date, bool *exists)
{
	struct db_params p = {0};
	db_p_text(&p, provider);
	db_p_text(&p, date);
	int64_t n = 0;
	struct db_col spec[] = {DB_COL("n", DB_I64, &n), {0}};
	enum db_status st = db_exec_row(c, "recon_exists", &p, spec, NULL);
	*exists = n > 0;
	return st;
}

static enum db_status runs(PGconn *c, const char *stmt, struct db_params *p, struct recon_run **out, int *n)
{
	struct recon_run row;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &row.id),
		DB_COL_TEXT("provider", row.provider),
		DB_COL_TEXT("bill_date", row.date),
		DB_COL("site_id", DB_I64, &row.site_id),
		DB_COL_TEXT("timezone", row.tz),
		DB_COL_TEXT("state", row.state),
		DB_COL("matched", DB_INT, &row.matched),
		DB_COL("missing_in_wattle", DB_INT, &row.missing_in_wattle),
		DB_COL("missing_at_provider", DB_INT, &row.missing_at_provider),
		DB_COL("amount_mismatch", DB_INT, &row.amount_mismatch),
		DB_COL("credited", DB_INT, &row.credited),
		DB_COL("provider_total_minor", DB_I64, &row.provider_total),
		DB_COL("wattle_total_minor", DB_I64, &row.wattle_total),
		DB_COL_TEXT("error", row.error),
		DB_COL_TEXT("origin", row.origin),
		DB_COL("created_us", DB_I64, &row.created_us),
		{0},
	};
	*out = NULL;
	*n = 0;
	return db_exec_rows(c, stmt, p, spec, &row, sizeof row, (void **)out, n);
}

enum db_status store_recon_get(PGconn *c, int64_t id, struct recon_run *r, struct recon_diff **d, int *nd)
{
	memset(r, 0, sizeof *r);
	*d = NULL;
	*nd = 0;
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct recon_run *a = NULL;
	int n = 0;
	enum db_status st = runs(c, "recon_get", &p, &a, &n);
	if (st == DB_OK && n == 1)
		*r = a[0];
	free(a);
	if (st != DB_OK || !r->id)
		return st;
	struct recon_diff row;
	struct db_col spec[] = {
		DB_COL_TEXT("kind", row.kind),
		DB_COL_TEXT("type", row.type),
		DB_COL_TEXT("provider_txn_id", row.txn),
		DB_COL_TEXT("out_trade_no", row.out_trade_no),
		DB_COL_TEXT("refund_ref", row.refund_ref),
		DB_COL("provider_minor", DB_I64, &row.provider_minor),
		DB_COL("wattle_minor", DB_I64, &row.wattle_minor),
		DB_COL("payment_id", DB_I64, &row.payment_id),
		DB_COL_TEXT("action", row.action),
		{0},
	};
	struct db_params q = {0};
	db_p_i64(&q, id);
	return db_exec_rows(c, "recon_lines", &q, spec, &row, sizeof row, (void **)d, nd);
}

enum db_status store_recon_list(PGconn *c, const char *provider, const char *date, int64_t limit,
				struct recon_run **out, int *n)
{
	struct db_params p = {0};
	db_p_text(&p, provider);
	db_p_text(&p, date);
	db_p_i64(&p, limit);
	return runs(c, "recon_list", &p, out, n);
}
