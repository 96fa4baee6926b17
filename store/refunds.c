/* refunds.c: the SQL of refunds wattle asks the providers for (refunds.h). */
#include "store/refunds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFUND_COLS                                                                                    \
	"r.id, r.payment_id, r.tenant_id, r.amount_minor, r.currency, r.state, r.origin, r.reason,"      \
	" coalesce(r.provider_ref, '') AS provider_ref, coalesce(r.provider_code, '') AS provider_code," \
	" coalesce(r.provider_message, '') AS provider_message,"                                         \
	" coalesce(r.ledger_entry_id, 0) AS ledger_entry_id, " SQL_US("r.created_at") " AS created_us, " \
	SQL_US("r.updated_at") " AS updated_us, p.provider, p.provider_txn_id,"                           \
	" coalesce(p.out_trade_no, '') AS out_trade_no, p.amount_minor AS payment_amount_minor, r.attempts"

static const struct db_stmt refund_stmts[] = {
	{"refund_payment_lock", /* store_refund_payment_lock */
	 "SELECT p.id, p.status, p.provider, p.provider_txn_id, coalesce(p.out_trade_no, '') AS out_trade_no,"
	 " p.currency, coalesce(p.tenant_id, 0) AS tenant_id, p.amount_minor, p.refunded_minor"
	 " FROM payments p WHERE p.id = $1 FOR UPDATE"},
	{"refund_payment_held", /* store_refund_payment_lock, after the lock (its own snapshot) */
	 "SELECT coalesce(sum(amount_minor), 0)::bigint AS held_minor FROM refunds"
	 " WHERE payment_id = $1 AND state = 'pending'"},
	{"refund_balance", /* store_refund_balance: locked, so refunds of one tenant's payments queue */
	 "SELECT balance_minor FROM accounts WHERE tenant_id = $1 FOR UPDATE"},
	{"refund_held", /* store_refund_balance, after the lock: a statement of its own, so that its
			 * snapshot sees the refunds of whoever held the lock before */
	 "SELECT coalesce(sum(amount_minor), 0)::bigint AS held_minor FROM refunds"
	 " WHERE tenant_id = $1 AND state = 'pending'"},
	{"refund_new", /* store_refund_new */
	 "WITH r AS (INSERT INTO refunds (payment_id, tenant_id, amount_minor, currency, reason, origin,"
	 " next_query_at, created_at, updated_at, api_key_id, request_id)"
	 " VALUES ($1, $2, $3, $4, $5, $6, " SQL_TS("$7") ", " SQL_TS("$8") ", " SQL_TS("$8") ", $9, $10)"
	 " RETURNING *) SELECT " REFUND_COLS " FROM r JOIN payments p ON p.id = r.payment_id"},
	{"refund_get", /* store_refund_get */
	 "SELECT " REFUND_COLS " FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = $1"},
	{"refund_get_lock", /* store_refund_get, lock */
	 "SELECT " REFUND_COLS " FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = $1"
	 " FOR UPDATE OF r"},
	{"refunds_pending_of", /* store_refunds_pending_of */
	 "SELECT " REFUND_COLS " FROM refunds r JOIN payments p ON p.id = r.payment_id"
	 " WHERE r.payment_id = $1 AND r.state = 'pending' ORDER BY r.id LIMIT $2 FOR UPDATE OF r"},
	{"refund_set", /* store_refund_set */
	 "UPDATE refunds SET state = $2, provider_ref = coalesce($3, provider_ref), provider_code = $4,"
	 " provider_message = $5, ledger_entry_id = coalesce($6, ledger_entry_id),"
	 " payment_refund_id = coalesce($7, payment_refund_id),"
	 " next_query_at = CASE WHEN $8::bigint IS NULL THEN NULL ELSE " SQL_TS("$8") " END,"
	 " attempts = attempts + 1, updated_at = " SQL_TS("$9") " WHERE id = $1"},
	{"refunds_claim", /* store_refunds_claim */
	 "WITH due AS (SELECT id FROM refunds WHERE next_query_at <= " SQL_TS("$1")
	 " AND state = 'pending' ORDER BY next_query_at LIMIT $3 FOR UPDATE SKIP LOCKED),"
	 " moved AS (UPDATE refunds r SET next_query_at = " SQL_TS("$1") " + $2::bigint * interval '1 microsecond'"
	 " FROM due WHERE r.id = due.id RETURNING r.*)"
	 " SELECT " REFUND_COLS " FROM moved r JOIN payments p ON p.id = r.payment_id ORDER BY r.id"},
	{"refunds_list", /* store_refunds_list */
	 "SELECT " REFUND_COLS " FROM refunds r JOIN payments p ON p.id = r.payment_id"
	 " WHERE r.id > $1 AND ($3::bigint IS NULL OR r.tenant_id = $3) AND ($4::text IS NULL OR r.state = $4)"
	 " AND ($5::bigint IS NULL OR r.tenant_id IN (SELECT id FROM tenants WHERE site_id = $5))"
	 " ORDER BY r.id LIMIT $2"},
	{0, 0},
};

void store_refunds_register(void) { db_register(refund_stmts); }

enum db_status store_refund_payment_lock(PGconn *c, int64_t payment_id, struct refund_payment *x)
{
	memset(x, 0, sizeof *x);
	struct db_params p = {0};
	db_p_i64(&p, payment_id);
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x->id),
		DB_COL_TEXT("status", x->status),
		DB_COL_TEXT("provider", x->provider),
		DB_COL_TEXT("provider_txn_id", x->txn),
		DB_COL_TEXT("out_trade_no", x->out_trade_no),
		DB_COL_TEXT("currency", x->currency),
		DB_COL("tenant_id", DB_I64, &x->tenant_id),
		DB_COL("amount_minor", DB_I64, &x->amount_minor),
		DB_COL("refunded_minor", DB_I64, &x->refunded_minor),
		{0},
	};
	enum db_status st = db_exec_row(c, "refund_payment_lock", &p, spec, NULL);
	if (st != DB_OK || !x->id)
		return st;
	/* A statement of its own after the lock: one FOR UPDATE statement's subquery would read
	 * the snapshot taken before the lock was granted, and miss the refund of whoever held it. */
	struct db_params q = {0};
	db_p_i64(&q, x->id);
	struct db_col hspec[] = {DB_COL("held_minor", DB_I64, &x->held_minor), {0}};
	return db_exec_row(c, "refund_payment_held", &q, hspec, NULL);
}

enum db_status store_refund_balance(PGconn *c, int64_t tenant_id, int64_t *balance, int64_t *held, bool *found)
{
	*balance = *held = 0;
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	struct db_col spec[] = {DB_COL("balance_minor", DB_I64, balance), {0}};
	enum db_status st = db_exec_row(c, "refund_balance", &p, spec, found);
	if (st != DB_OK || !*found)
		return st;
	struct db_params q = {0};
	db_p_i64(&q, tenant_id);
	struct db_col hspec[] = {DB_COL("held_minor", DB_I64, held), {0}};
	return db_exec_row(c, "refund_held", &q, hspec, NULL);
}

#define REFUND_SPEC_N 20

/* The columns of REFUND_COLS into r. */
static void refund_spec(struct db_col spec[REFUND_SPEC_N], struct refund *r)
{
	struct db_col s[] = {
		DB_COL("id", DB_I64, &r->id),
		DB_COL("payment_id", DB_I64, &r->payment_id),
		DB_COL("tenant_id", DB_I64, &r->tenant_id),
		DB_COL("amount_minor", DB_I64, &r->amount_minor),
		DB_COL_TEXT("currency", r->currency),
		DB_COL_TEXT("state", r->state),
		DB_COL_TEXT("origin", r->origin),
		DB_COL_TEXT("reason", r->reason),
		DB_COL_TEXT("provider_ref", r->provider_ref),
		DB_COL_TEXT("provider_code", r->provider_code),
		DB_COL_TEXT("provider_message", r->provider_message),
		DB_COL("ledger_entry_id", DB_I64, &r->ledger_entry_id),
		DB_COL("created_us", DB_I64, &r->created_us),
		DB_COL("updated_us", DB_I64, &r->updated_us),
		DB_COL_TEXT("provider", r->provider),
		DB_COL_TEXT("provider_txn_id", r->txn),
		DB_COL_TEXT("out_trade_no", r->out_trade_no),
		DB_COL("payment_amount_minor", DB_I64, &r->payment_amount_minor),
		DB_COL("attempts", DB_INT, &r->attempts),
		{0},
	};
	_Static_assert(sizeof s / sizeof *s == REFUND_SPEC_N, "REFUND_SPEC_N");
	memcpy(spec, s, sizeof s);
}

static enum db_status refund_rows(PGconn *c, const char *stmt, struct db_params *p, struct refund **out, int *n)
{
	struct refund row;
	struct db_col spec[REFUND_SPEC_N];
	refund_spec(spec, &row);
	return db_exec_rows(c, stmt, p, spec, &row, sizeof row, (void **)out, n);
}

static enum db_status refund_one(PGconn *c, const char *stmt, struct db_params *p, struct refund *r)
{
	struct refund *a = NULL;
	int n = 0;
	enum db_status st = refund_rows(c, stmt, p, &a, &n);
	if (st == DB_OK && n == 1)
		*r = a[0];
	else
		memset(r, 0, sizeof *r);
	free(a);
	return st;
}

enum db_status store_refund_new(PGconn *c, struct refund *r, int64_t key_id, const char *request_id,
				int64_t send_at_us, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, r->payment_id);
	db_p_i64(&p, r->tenant_id);
	db_p_i64(&p, r->amount_minor);
	db_p_text(&p, r->currency);
	db_p_text(&p, r->reason);
	db_p_text(&p, r->origin);
	db_p_i64(&p, send_at_us);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	db_p_text(&p, request_id);
	return refund_one(c, "refund_new", &p, r);
}

enum db_status store_refund_get(PGconn *c, int64_t id, bool lock, struct refund *r)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	return refund_one(c, lock ? "refund_get_lock" : "refund_get", &p, r);
}

/* Copy up to max rows of a into out. */
static int copy_rows(struct refund *out, int max, struct refund *a, int n)
{
	int k = n < max ? n : max;
	if (k > 0)
		memcpy(out, a, (size_t)k * sizeof *a);
	free(a);
	return k;
}

enum db_status store_refunds_pending_of(PGconn *c, int64_t payment_id, struct refund *out, int n, int *got)
{
	struct db_params p = {0};
	db_p_i64(&p, payment_id);
	db_p_i64(&p, n);
	struct refund *a = NULL;
	int k = 0;
	enum db_status st = refund_rows(c, "refunds_pending_of", &p, &a, &k);
	*got = st == DB_OK ? copy_rows(out, n, a, k) : (free(a), 0);
	return st;
}

enum db_status store_refund_set(PGconn *c, int64_t id, const char *state, const char *provider_ref, const char *code,
				const char *message, int64_t ledger_id, int64_t payment_refund_id, int64_t next_us,
				int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, state);
	db_p_text(&p, provider_ref && *provider_ref ? provider_ref : NULL);
	db_p_text(&p, code && *code ? code : NULL);
	db_p_text(&p, message && *message ? message : NULL);
	db_p_id(&p, ledger_id);
	db_p_id(&p, payment_refund_id);
	db_p_id(&p, next_us);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "refund_set", &p);
}

enum db_status store_refunds_claim(PGconn *c, int64_t now_us, int64_t lease_us, struct refund *out, int n, int *got)
{
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	db_p_i64(&p, lease_us);
	db_p_i64(&p, n);
	struct refund *a = NULL;
	int k = 0;
	enum db_status st = refund_rows(c, "refunds_claim", &p, &a, &k);
	*got = st == DB_OK ? copy_rows(out, n, a, k) : (free(a), 0);
	return st;
}

enum db_status store_refunds_list(PGconn *c, int64_t tenant_id, int64_t site_id, const char *state, int64_t after,
				  int64_t limit, struct refund **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, tenant_id);
	db_p_text(&p, state);
	db_p_id(&p, site_id);
	*out = NULL;
	*n = 0;
	return refund_rows(c, "refunds_list", &p, out, n);
}
