/* payments.c: the SQL of orders, payments, refunds and conflicts. */
#include "store/payments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORDER_COLS                                                                                   \
	"o.id, o.out_trade_no, o.tenant_id, o.provider, o.amount_minor, o.currency, o.status, o.pay_url," \
	" " SQL_US("o.created_at") " AS created_us, " SQL_US("o.expires_at") " AS expires_us,"           \
	" coalesce(" SQL_US("o.paid_at") ", 0) AS paid_us, coalesce(o.payment_id, 0) AS payment_id,"     \
	" o.mode, coalesce(o.openid, '') AS openid, coalesce(o.provider_ref, '') AS provider_ref,"          \
	" coalesce(o.provider_code, '') AS provider_code, coalesce(o.provider_message, '') AS provider_message," \
	" coalesce(o.pay_params::text, '') AS pay_params, o.query_attempts"

#define CONFLICT_COLS                                                                                  \
	"c.id, c.reason, c.expected_minor, c.expected_currency, c.state, " SQL_US("c.created_at")       \
	" AS created_us, coalesce(" SQL_US("c.resolved_at") ", 0) AS resolved_us, c.resolution_reason," \
	" coalesce(c.ledger_entry_id, 0) AS ledger_entry_id, p.id AS payment_id, p.provider,"            \
	" p.provider_txn_id, p.out_trade_no, p.amount_minor, p.currency, coalesce(p.tenant_id, 0) AS tenant_id," \
	" p.refunded_minor, " SQL_US("p.received_at") " AS received_us, coalesce(p.order_id, 0) AS order_id"

static const struct db_stmt pay_stmts[] = {
	{"pay_account", /* store_account_currency */
	 "SELECT currency FROM accounts WHERE tenant_id = $1"},
	{"order_insert", /* store_order_insert */
	 "INSERT INTO topup_orders AS o (out_trade_no, tenant_id, provider, amount_minor, currency, pay_url,"
	 " created_at, expires_at, api_key_id, status, mode, openid, next_query_at) VALUES ($1, $2, $3, $4, $5, $6, "
	 SQL_TS("$7") ", " SQL_TS("$8") ", $9, $10, $11, $12,"
	 " CASE WHEN $13::bigint IS NULL THEN NULL ELSE " SQL_TS("$13") " END) RETURNING " ORDER_COLS},
	{"order_outcome", /* store_order_outcome */
	 "UPDATE topup_orders SET status = $2, pay_url = $3, provider_ref = nullif($4, ''),"
	 " pay_params = nullif($5, '')::jsonb, provider_code = nullif($6, ''), provider_message = nullif($7, ''),"
	 " next_query_at = CASE WHEN $8::bigint IS NULL THEN NULL ELSE " SQL_TS("$8") " END"
	 " WHERE id = $1 AND status = 'creating'"},
	{"orders_claim", /* store_orders_claim */
	 "WITH due AS (SELECT id FROM topup_orders WHERE next_query_at <= " SQL_TS("$1")
	 " ORDER BY next_query_at LIMIT $3 FOR UPDATE SKIP LOCKED),"
	 " o AS (UPDATE topup_orders t SET next_query_at = " SQL_TS("$1") " + $2::bigint * interval '1 microsecond'"
	 " FROM due WHERE t.id = due.id RETURNING t.*)"
	 " SELECT " ORDER_COLS " FROM o ORDER BY o.id"},
	{"order_requery", /* store_order_requery */
	 "UPDATE topup_orders SET query_attempts = query_attempts + 1,"
	 " next_query_at = CASE WHEN $2::bigint IS NULL THEN NULL ELSE " SQL_TS("$2") " END WHERE id = $1"},
	{"order_closed", /* store_order_closed */
	 "UPDATE topup_orders SET status = CASE WHEN status IN ('open', 'creating') THEN 'closed' ELSE status END,"
	 " closed_at = coalesce(closed_at, " SQL_TS("$2") "), next_query_at = NULL WHERE id = $1"},
	{"order_closed_unmade", /* store_order_closed_unmade */
	 "UPDATE topup_orders SET status = CASE WHEN status IN ('open', 'creating') THEN 'closed' ELSE status END,"
	 " closed_at = coalesce(closed_at, " SQL_TS("$2") "), next_query_at = NULL WHERE id = $1 AND provider_ref IS NULL"},
	{"order_get", /* store_order_get */
	 "SELECT " ORDER_COLS " FROM topup_orders o WHERE o.id = $1"},
	{"order_lock", /* store_order_lock: deliveries of one payment queue here */
	 "SELECT " ORDER_COLS " FROM topup_orders o WHERE o.out_trade_no = $1 FOR UPDATE"},
	{"order_paid", /* store_order_paid: whatever it was, the money has been taken */
	 "UPDATE topup_orders SET status = 'paid', payment_id = $2, paid_at = " SQL_TS("$3") ", next_query_at = NULL"
	 " WHERE id = $1 AND status <> 'paid'"},
	{"pay_insert", /* store_payment_insert: nothing when the provider reported it before */
	 "INSERT INTO payments (provider, provider_txn_id, out_trade_no, order_id, tenant_id,"
	 " amount_minor, currency, status, event, received_at, request_id)"
	 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, " SQL_TS("$10") ", $11)"
	 " ON CONFLICT (provider, provider_txn_id) DO NOTHING RETURNING id"},
	{"pay_set", /* store_payment_set */
	 "UPDATE payments SET status = $2, ledger_entry_id = coalesce($3, ledger_entry_id),"
	 " tenant_id = coalesce($4, tenant_id) WHERE id = $1"},
	{"pay_lock", /* store_payment_lock */
	 "SELECT id, status, amount_minor, refunded_minor, coalesce(tenant_id, 0) AS tenant_id,"
	 " coalesce(out_trade_no, '') AS out_trade_no"
	 " FROM payments WHERE provider = $1 AND provider_txn_id = $2 FOR UPDATE"},
	{"refund_insert", /* store_refund_insert: nothing when recorded before */
	 "INSERT INTO payment_refunds (payment_id, refund_ref, amount_minor, event, received_at)"
	 " VALUES ($1, $2, $3, $4::jsonb, " SQL_TS("$5") ") ON CONFLICT DO NOTHING RETURNING id"},
	{"refund_done", /* store_refund_done */
	 "WITH r AS (UPDATE payment_refunds SET ledger_entry_id = $3 WHERE id = $2)"
	 " UPDATE payments SET refunded_minor = refunded_minor + $4 WHERE id = $1"},
	{"conflict_insert", /* store_conflict_insert, with the payment's status */
	 "WITH c AS (INSERT INTO payment_conflicts (payment_id, reason, expected_minor, expected_currency, created_at)"
	 " VALUES ($1, $2, $3, nullif($4, ''), " SQL_TS("$5") ") RETURNING payment_id)"
	 " UPDATE payments SET status = 'conflict' FROM c WHERE payments.id = c.payment_id"},
	{"conflict_list", /* store_conflicts_list */
	 "SELECT " CONFLICT_COLS " FROM payment_conflicts c JOIN payments p ON p.id = c.payment_id"
	 " WHERE c.id > $1 AND ($3::text IS NULL OR c.state = $3)"
	 " AND ($4::bigint IS NULL OR p.tenant_id IN (SELECT id FROM tenants WHERE site_id = $4)) ORDER BY c.id LIMIT $2"},
	{"conflict_lock", /* store_conflict_lock */
	 "SELECT " CONFLICT_COLS " FROM payment_conflicts c JOIN payments p ON p.id = c.payment_id"
	 " WHERE c.id = $1 FOR UPDATE OF c, p"},
	{"conflict_set", /* store_conflict_set */
	 "UPDATE payment_conflicts SET state = $2, resolved_at = " SQL_TS("$3") ", resolved_by_key = $4,"
	 " resolution_reason = $5, ledger_entry_id = $6 WHERE id = $1"},
	{0, 0},
};

void store_payments_register(void) { db_register(pay_stmts); }

enum db_status store_account_currency(PGconn *c, int64_t tenant_id, char currency[4], bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	struct db_col spec[] = {{"currency", DB_TEXT, currency, 4, NULL, NULL, -1}, {0}};
	return db_exec_row(c, "pay_account", &p, spec, found);
}

/* The order rows of r (ORDER_COLS) into out[0..max), *got how many (at most max). */
static enum db_status read_orders(PGresult *r, const char *what, struct order *out, int max, int *got)
{
	struct order x;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x.id),
		DB_COL_TEXT("out_trade_no", x.out_trade_no),
		DB_COL("tenant_id", DB_I64, &x.tenant_id),
		DB_COL_TEXT("provider", x.provider),
		DB_COL("amount_minor", DB_I64, &x.amount_minor),
		DB_COL_TEXT("currency", x.currency),
		DB_COL_TEXT("status", x.status),
		DB_COL_TEXT("pay_url", x.pay_url),
		DB_COL("created_us", DB_I64, &x.created_us),
		DB_COL("expires_us", DB_I64, &x.expires_us),
		DB_COL("paid_us", DB_I64, &x.paid_us),
		DB_COL("payment_id", DB_I64, &x.payment_id),
		DB_COL_TEXT("mode", x.mode),
		DB_COL_TEXT("openid", x.openid),
		DB_COL_TEXT("provider_ref", x.provider_ref),
		DB_COL_TEXT("provider_code", x.provider_code),
		DB_COL_TEXT("provider_message", x.provider_message),
		DB_COL_TEXT("pay_params", x.pay_params),
		DB_COL("query_attempts", DB_INT, &x.query_attempts),
		{0},
	};
	*got = 0;
	enum db_status st = db_cols_bind(r, spec, what);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < max; i++) {
		memset(&x, 0, sizeof x);
		db_cols_read(r, i, spec);
		out[(*got)++] = x;
	}
	return DB_OK;
}

/* The first order row of r into *o, or o->id = 0 when r has none. */
static enum db_status read_order(PGresult *r, struct order *o, const char *what)
{
	int got;
	enum db_status st = read_orders(r, what, o, 1, &got);
	if (st != DB_OK || !got)
		o->id = 0;
	return st;
}

enum db_status store_order_insert(PGconn *c, struct order *o, int64_t key_id, int64_t next_us)
{
	struct db_params p = {0};
	db_p_text(&p, o->out_trade_no);
	db_p_i64(&p, o->tenant_id);
	db_p_text(&p, o->provider);
	db_p_i64(&p, o->amount_minor);
	db_p_text(&p, o->currency);
	db_p_text(&p, o->pay_url);
	db_p_i64(&p, o->created_us);
	db_p_i64(&p, o->expires_us);
	db_p_id(&p, key_id);
	db_p_text(&p, o->status);
	db_p_text(&p, o->mode);
	db_p_text(&p, *o->openid ? o->openid : NULL);
	db_p_id(&p, next_us);
	PGresult *r;
	enum db_status st = db_exec_bind(c, "order_insert", &p, NULL, &r);
	if (st == DB_OK)
		st = read_order(r, o, "order_insert");
	PQclear(r);
	return st;
}

enum db_status store_order_outcome(PGconn *c, int64_t id, const struct order *o, int64_t next_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, o->status);
	db_p_text(&p, o->pay_url);
	db_p_text(&p, o->provider_ref);
	db_p_text(&p, o->pay_params);
	db_p_text(&p, o->provider_code);
	db_p_text(&p, o->provider_message);
	db_p_id(&p, next_us);
	return db_exec_void(c, "order_outcome", &p);
}

enum db_status store_orders_claim(PGconn *c, int64_t now_us, int64_t lease_us, struct order *out, int n, int *got)
{
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	db_p_i64(&p, lease_us);
	db_p_i64(&p, n);
	PGresult *r;
	*got = 0;
	enum db_status st = db_exec_bind(c, "orders_claim", &p, NULL, &r);
	if (st == DB_OK)
		st = read_orders(r, "orders_claim", out, n, got);
	PQclear(r);
	return st;
}

enum db_status store_order_requery(PGconn *c, int64_t id, int64_t next_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_id(&p, next_us);
	return db_exec_void(c, "order_requery", &p);
}

enum db_status store_order_closed(PGconn *c, int64_t id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "order_closed", &p);
}

enum db_status store_order_closed_unmade(PGconn *c, int64_t id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "order_closed_unmade", &p);
}

static enum db_status order_by(PGconn *c, const char *stmt, struct db_params *p, struct order *o)
{
	memset(o, 0, sizeof *o);
	PGresult *r;
	enum db_status st = db_exec_bind(c, stmt, p, NULL, &r);
	if (st == DB_OK)
		st = read_order(r, o, stmt);
	PQclear(r);
	return st;
}

enum db_status store_order_get(PGconn *c, int64_t id, struct order *o)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	return order_by(c, "order_get", &p, o);
}

enum db_status store_order_lock(PGconn *c, const char *out_trade_no, struct order *o)
{
	struct db_params p = {0};
	db_p_text(&p, out_trade_no);
	return order_by(c, "order_lock", &p, o);
}

enum db_status store_order_paid(PGconn *c, int64_t order_id, int64_t payment_id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, order_id);
	db_p_i64(&p, payment_id);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "order_paid", &p);
}

/* The id of the first row of an INSERT ... RETURNING id, 0 when it returned none. */
static enum db_status returned_id(PGconn *c, const char *stmt, struct db_params *p, int64_t *id)
{
	*id = 0;
	struct db_col spec[] = {DB_COL("id", DB_I64, id), {0}};
	return db_exec_row(c, stmt, p, spec, NULL);
}

enum db_status store_payment_insert(PGconn *c, const struct payment_new *n, int64_t now_us, int64_t *id)
{
	struct db_params p = {0};
	db_p_text(&p, n->provider);
	db_p_text(&p, n->txn);
	db_p_text(&p, n->out_trade_no);
	db_p_id(&p, n->order_id);
	db_p_id(&p, n->tenant_id);
	db_p_i64(&p, n->amount_minor);
	db_p_text(&p, n->currency);
	db_p_text(&p, n->status);
	db_p_text(&p, n->event_json);
	db_p_i64(&p, now_us);
	db_p_text(&p, n->request_id);
	return returned_id(c, "pay_insert", &p, id);
}

enum db_status store_payment_set(PGconn *c, int64_t id, const char *status, int64_t ledger_id, int64_t tenant_id)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, status);
	db_p_id(&p, ledger_id);
	db_p_id(&p, tenant_id);
	return db_exec_void(c, "pay_set", &p);
}

enum db_status store_payment_lock(PGconn *c, const char *provider, const char *txn, struct payment_locked *x)
{
	memset(x, 0, sizeof *x);
	struct db_params p = {0};
	db_p_text(&p, provider);
	db_p_text(&p, txn);
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x->id),
		DB_COL_TEXT("status", x->status),
		DB_COL("amount_minor", DB_I64, &x->amount_minor),
		DB_COL("refunded_minor", DB_I64, &x->refunded_minor),
		DB_COL("tenant_id", DB_I64, &x->tenant_id),
		DB_COL_TEXT("out_trade_no", x->out_trade_no),
		{0},
	};
	return db_exec_row(c, "pay_lock", &p, spec, NULL);
}

enum db_status store_refund_insert(PGconn *c, int64_t payment_id, const char *refund_ref, int64_t amount_minor,
				   const char *event_json, int64_t now_us, int64_t *id)
{
	struct db_params p = {0};
	db_p_i64(&p, payment_id);
	db_p_text(&p, refund_ref);
	db_p_i64(&p, amount_minor);
	db_p_text(&p, event_json);
	db_p_i64(&p, now_us);
	return returned_id(c, "refund_insert", &p, id);
}

enum db_status store_refund_done(PGconn *c, int64_t payment_id, int64_t refund_id, int64_t ledger_id,
				 int64_t amount_minor)
{
	struct db_params p = {0};
	db_p_i64(&p, payment_id);
	db_p_i64(&p, refund_id);
	db_p_id(&p, ledger_id);
	db_p_i64(&p, amount_minor);
	return db_exec_void(c, "refund_done", &p);
}

enum db_status store_conflict_insert(PGconn *c, int64_t payment_id, const char *reason, int64_t expected,
				     const char *expected_currency, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, payment_id);
	db_p_text(&p, reason);
	db_p_id(&p, expected);
	db_p_text(&p, expected_currency ? expected_currency : "");
	db_p_i64(&p, now_us);
	return db_exec_void(c, "conflict_insert", &p);
}

/* The conflict rows of r (CONFLICT_COLS) into a new array. */
static enum db_status read_conflicts(PGresult *r, const char *what, struct conflict **out, int *n)
{
	struct conflict x;
	bool no_expected, no_reason, no_otn;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x.id),
		DB_COL_TEXT("reason", x.reason),
		{"expected_minor", DB_I64, &x.expected_minor, 0, NULL, &no_expected, -1},
		DB_COL_TEXT("expected_currency", x.expected_currency),
		DB_COL_TEXT("state", x.state),
		DB_COL("created_us", DB_I64, &x.created_us),
		DB_COL("resolved_us", DB_I64, &x.resolved_us),
		{"resolution_reason", DB_TEXT, x.resolution_reason, sizeof x.resolution_reason, NULL, &no_reason, -1},
		DB_COL("ledger_entry_id", DB_I64, &x.ledger_entry_id),
		DB_COL("payment_id", DB_I64, &x.pay.id),
		DB_COL_TEXT("provider", x.pay.provider),
		DB_COL_TEXT("provider_txn_id", x.pay.txn),
		{"out_trade_no", DB_TEXT, x.pay.out_trade_no, sizeof x.pay.out_trade_no, NULL, &no_otn, -1},
		DB_COL("amount_minor", DB_I64, &x.pay.amount_minor),
		DB_COL_TEXT("currency", x.pay.currency),
		DB_COL("tenant_id", DB_I64, &x.pay.tenant_id),
		DB_COL("refunded_minor", DB_I64, &x.pay.refunded_minor),
		DB_COL("received_us", DB_I64, &x.pay.received_us),
		DB_COL("order_id", DB_I64, &x.pay.order_id),
		{0},
	};
	enum db_status st = db_cols_bind(r, spec, what);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	struct conflict *a = calloc((size_t)rows + 1, sizeof *a);
	if (!a)
		abort();
	for (int i = 0; i < rows; i++) {
		memset(&x, 0, sizeof x);
		db_cols_read(r, i, spec);
		x.has_expected = !no_expected;
		x.has_resolution = !no_reason;
		x.pay.has_out_trade_no = !no_otn;
		a[i] = x;
	}
	*out = a;
	*n = rows;
	return DB_OK;
}

enum db_status store_conflicts_list(PGconn *c, int64_t after, int64_t limit, const char *state, int64_t site_id,
				    struct conflict **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_text(&p, state);
	db_p_id(&p, site_id);
	PGresult *r;
	enum db_status st = db_exec_bind(c, "conflict_list", &p, NULL, &r);
	if (st == DB_OK)
		st = read_conflicts(r, "conflict_list", out, n);
	PQclear(r);
	return st;
}

enum db_status store_conflict_lock(PGconn *c, int64_t id, struct conflict *x)
{
	memset(x, 0, sizeof *x);
	struct db_params p = {0};
	db_p_i64(&p, id);
	PGresult *r;
	enum db_status st = db_exec_bind(c, "conflict_lock", &p, NULL, &r);
	struct conflict *a = NULL;
	int n = 0;
	if (st == DB_OK)
		st = read_conflicts(r, "conflict_lock", &a, &n);
	PQclear(r);
	if (st == DB_OK && n == 1)
		*x = a[0];
	free(a);
	return st;
}

enum db_status store_conflict_set(PGconn *c, int64_t id, const char *state, int64_t now_us, int64_t key_id,
				  const char *reason, int64_t ledger_id)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, state);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	db_p_text(&p, reason);
	db_p_id(&p, ledger_id);
	return db_exec_void(c, "conflict_set", &p);
}
