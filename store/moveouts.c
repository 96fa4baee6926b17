/* moveouts.c: the SQL of move-outs (moveouts.h). */
#include "store/moveouts.h"

#include <stdlib.h>
#include <string.h>

/* The tenant, its account and site, and at ($2) and now ($3) in the site's calendar. */
#define CTX_SELECT                                                                                        \
	"SELECT t.id AS tenant_id, t.site_id, a.id AS account_id, a.balance_minor, a.currency, s.timezone,"  \
	" a.closed_at IS NOT NULL AS closed,"                                                                \
	" (" SQL_TS("$2") " AT TIME ZONE s.timezone)::date::text AS at_date,"                                \
	" to_char(" SQL_TS("$2") " AT TIME ZONE s.timezone, 'YYYY-MM') AS at_period,"                        \
	" to_char(" SQL_TS("$3") " AT TIME ZONE s.timezone, 'YYYY-MM') AS now_period,"                       \
	" date_trunc('month', " SQL_TS("$2") " AT TIME ZONE s.timezone)::date::text AS month_start,"         \
	" coalesce((" SQL_TS("$2") " AT TIME ZONE s.timezone)::date < t.move_in, false) AS before_move_in"  \
	" FROM tenants t JOIN accounts a ON a.tenant_id = t.id JOIN sites s ON s.id = t.site_id WHERE t.id = $1"

#define MO_COLS                                                                                           \
	"o.id, o.tenant_id, " SQL_US("o.at") " AS at_us, o.at_date::text AS at_date, o.settlement,"          \
	" a.currency, o.energy_minor, o.shared_minor, o.final_balance_minor, o.refund_minor, o.cash_minor,"  \
	" o.arrears_minor, coalesce(o.cash_entry_id, 0) AS cash_entry_id, o.statement_id,"                   \
	" o.meter_ids::text AS meter_ids, " SQL_US("o.created_at") " AS created_us"

static const struct db_stmt moveout_stmts[] = {
	{"mo_ctx", /* store_moveout_ctx: a look before anything is billed */
	 CTX_SELECT},
	{"mo_ctx_lock", /* store_moveout_ctx: the account locked, its balance the one to settle */
	 CTX_SELECT " FOR UPDATE OF a"},
	{"mo_get", /* store_moveout_get */
	 "SELECT " MO_COLS " FROM move_outs o JOIN accounts a ON a.tenant_id = o.tenant_id WHERE o.tenant_id = $1"},
	{"mo_insert", /* store_moveout_insert: the UNIQUE tenant_id refuses a second */
	 "INSERT INTO move_outs (tenant_id, at, at_date, settlement, energy_minor, shared_minor, final_balance_minor,"
	 " refund_minor, cash_minor, arrears_minor, cash_entry_id, statement_id, meter_ids, created_at, api_key_id,"
	 " request_id) VALUES ($1, " SQL_TS("$2") ", $3::date, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::bigint[], "
	 SQL_TS("$14") ", $15, $16) RETURNING id"},
	{"mo_meters", /* store_moveout_meters */
	 "SELECT id FROM meters WHERE tenant_id = $1 ORDER BY id"},
	{"mo_pools", /* store_moveout_pools */
	 "SELECT m.pool_id, EXISTS (SELECT 1 FROM allocation_runs r WHERE r.pool_id = m.pool_id AND r.period = $2"
	 " AND r.state = 'committed') AS committed FROM cost_pool_members m WHERE m.tenant_id = $1 ORDER BY m.pool_id"},
	{"mo_shares_insert", /* store_moveout_shares_insert */
	 "INSERT INTO move_out_shares (move_out_id, tenant_id, pool_id, period, amount_minor, basis, days,"
	 " days_in_period, ledger_entry_id)"
	 " SELECT $1, $2, p, $3, a, b::jsonb, d, dp, nullif(l, 0)"
	 " FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::integer[], $8::integer[], $9::bigint[])"
	 " AS x(p, a, b, d, dp, l)"},
	{"mo_payments", /* store_moveout_payments: what each credited payment has left, largest first */
	 "SELECT * FROM (SELECT p.id AS payment_id, p.provider, " SQL_US("p.received_at") " AS received_us,"
	 " p.amount_minor - p.refunded_minor - coalesce((SELECT sum(r.amount_minor) FROM refunds r"
	 "  WHERE r.payment_id = p.id AND r.state = 'pending'), 0)::bigint AS left_minor"
	 " FROM payments p WHERE p.tenant_id = $1 AND p.status = 'credited'"
	 " AND p.received_at >= " SQL_TS("CASE p.provider WHEN 'wechat' THEN $2::bigint WHEN 'alipay' THEN $3::bigint ELSE $4::bigint END") ") x"
	 " WHERE left_minor > 0 ORDER BY left_minor DESC, received_us DESC, payment_id DESC"},
	{"mo_close", /* store_account_close */
	 "UPDATE accounts SET closed_at = " SQL_TS("$2") ", updated_at = " SQL_TS("$2") " WHERE tenant_id = $1"
	 " AND closed_at IS NULL RETURNING id"},
	{"mo_vacate", /* store_moveout_vacate: meters vacant, the tenant gone */
	 "WITH m AS (UPDATE meters SET tenant_id = NULL, updated_at = " SQL_TS("$3") " WHERE tenant_id = $1 RETURNING id),"
	 " t AS (UPDATE tenants SET move_out = $2::date, status = 'closed', updated_at = " SQL_TS("$3") " WHERE id = $1"
	 "  RETURNING id)"
	 " SELECT array(SELECT id FROM m ORDER BY id)::text AS meter_ids, (SELECT count(*) FROM t) AS tenants"},
	{"mo_statement", /* store_moveout_statement */
	 "INSERT INTO reports (kind, site_id, tenant_id, period, data, created_at, api_key_id, origin)"
	 " VALUES ('tenant_statement', $1, $2, $3, $4::jsonb, " SQL_TS("$5") ", $6, 'move_out') RETURNING id"},
	{"mo_account_closed", /* store_account_closed */
	 "SELECT closed_at IS NOT NULL AS closed FROM accounts WHERE tenant_id = $1"},
	{0, 0},
};

void store_moveouts_register(void) { db_register(moveout_stmts); }

void store_moveout_free(struct moveout *m)
{
	if (!m)
		return;
	free(m->meter_ids);
	m->meter_ids = NULL;
	m->nmeters = 0;
}

enum db_status store_moveout_ctx(PGconn *c, int64_t tenant_id, int64_t at_us, int64_t now_us, bool lock,
				 struct moveout_ctx *x, bool *found)
{
	memset(x, 0, sizeof *x);
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	db_p_i64(&p, at_us);
	db_p_i64(&p, now_us);
	struct db_col spec[] = {
		DB_COL("tenant_id", DB_I64, &x->tenant_id),
		DB_COL("site_id", DB_I64, &x->site_id),
		DB_COL("account_id", DB_I64, &x->account_id),
		DB_COL("balance_minor", DB_I64, &x->balance_minor),
		DB_COL_TEXT("currency", x->currency),
		DB_COL_TEXT("timezone", x->zone),
		DB_COL("closed", DB_BOOL, &x->closed),
		DB_COL_TEXT("at_date", x->at_date),
		DB_COL_TEXT("at_period", x->at_period),
		DB_COL_TEXT("now_period", x->now_period),
		DB_COL_TEXT("month_start", x->month_start),
		DB_COL("before_move_in", DB_BOOL, &x->before_move_in),
		{0},
	};
	return db_exec_row(c, lock ? "mo_ctx_lock" : "mo_ctx", &p, spec, found);
}

enum db_status store_moveout_get(PGconn *c, int64_t tenant_id, struct moveout *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &out->id),
		DB_COL("tenant_id", DB_I64, &out->tenant_id),
		DB_COL("at_us", DB_I64, &out->at_us),
		DB_COL_TEXT("at_date", out->at_date),
		DB_COL_TEXT("settlement", out->settlement),
		DB_COL_TEXT("currency", out->currency),
		DB_COL("energy_minor", DB_I64, &out->energy_minor),
		DB_COL("shared_minor", DB_I64, &out->shared_minor),
		DB_COL("final_balance_minor", DB_I64, &out->final_balance_minor),
		DB_COL("refund_minor", DB_I64, &out->refund_minor),
		DB_COL("cash_minor", DB_I64, &out->cash_minor),
		DB_COL("arrears_minor", DB_I64, &out->arrears_minor),
		DB_COL("cash_entry_id", DB_I64, &out->cash_entry_id),
		DB_COL("statement_id", DB_I64, &out->statement_id),
		DB_COL_ARRAY("meter_ids", &out->meter_ids, &out->nmeters),
		DB_COL("created_us", DB_I64, &out->created_us),
		{0},
	};
	return db_exec_row(c, "mo_get", &p, spec, NULL);
}

enum db_status store_moveout_insert(PGconn *c, struct moveout *m, int64_t now_us, int64_t key_id,
				    const char *request_id)
{
	struct db_params p = {0};
	db_p_i64(&p, m->tenant_id);
	db_p_i64(&p, m->at_us);
	db_p_text(&p, m->at_date);
	db_p_text(&p, m->settlement);
	db_p_i64(&p, m->energy_minor);
	db_p_i64(&p, m->shared_minor);
	db_p_i64(&p, m->final_balance_minor);
	db_p_i64(&p, m->refund_minor);
	db_p_i64(&p, m->cash_minor);
	db_p_i64(&p, m->arrears_minor);
	db_p_id(&p, m->cash_entry_id);
	db_p_i64(&p, m->statement_id);
	db_p_i64_array(&p, m->meter_ids, m->nmeters);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	db_p_text(&p, request_id);
	m->created_us = now_us;
	struct db_col spec[] = {DB_COL("id", DB_I64, &m->id), {0}};
	return db_exec_row(c, "mo_insert", &p, spec, NULL);
}

enum db_status store_moveout_meters(PGconn *c, int64_t tenant_id, int64_t **ids, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	int64_t id;
	struct db_col spec[] = {DB_COL("id", DB_I64, &id), {0}};
	return db_exec_rows(c, "mo_meters", &p, spec, &id, sizeof id, (void **)ids, n);
}

enum db_status store_moveout_pools(PGconn *c, int64_t tenant_id, const char *period, struct moveout_pool **out,
				   int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	db_p_text(&p, period);
	struct moveout_pool x;
	struct db_col spec[] = {DB_COL("pool_id", DB_I64, &x.pool_id), DB_COL("committed", DB_BOOL, &x.committed), {0}};
	return db_exec_rows(c, "mo_pools", &p, spec, &x, sizeof x, (void **)out, n);
}

/* A text[] literal of the shares' basis JSON texts (each quoted and escaped). */
static char *basis_array(const struct moveout_share *s, int n)
{
	size_t cap = 3;
	for (int i = 0; i < n; i++)
		cap += 2 * strlen(s[i].basis_json) + 4;
	char *b = malloc(cap), *w = b;
	if (!b)
		abort();
	*w++ = '{';
	for (int i = 0; i < n; i++) {
		if (i)
			*w++ = ',';
		*w++ = '"';
		for (const char *r = s[i].basis_json; *r; r++) {
			if (*r == '"' || *r == '\\')
				*w++ = '\\';
			*w++ = *r;
		}
		*w++ = '"';
	}
	*w++ = '}';
	*w = 0;
	return b;
}

enum db_status store_moveout_shares_insert(PGconn *c, int64_t move_out_id, int64_t tenant_id, const char *period,
					   const struct moveout_share *s, int n)
{
	if (n == 0)
		return DB_OK;
	int64_t *pools = calloc((size_t)n, sizeof *pools), *amounts = calloc((size_t)n, sizeof *amounts),
		*days = calloc((size_t)n, sizeof *days), *dip = calloc((size_t)n, sizeof *dip),
		*ledger = calloc((size_t)n, sizeof *ledger);
	if (!pools || !amounts || !days || !dip || !ledger)
		abort();
	for (int i = 0; i < n; i++) {
		pools[i] = s[i].pool_id;
		amounts[i] = s[i].amount_minor;
		days[i] = s[i].days;
		dip[i] = s[i].days_in_period;
		ledger[i] = s[i].ledger_id;
	}
	struct db_params p = {0};
	db_p_i64(&p, move_out_id);
	db_p_i64(&p, tenant_id);
	db_p_text(&p, period);
	db_p_i64_array(&p, pools, n);
	db_p_i64_array(&p, amounts, n);
	db_p_take(&p, basis_array(s, n));
	db_p_i64_array(&p, days, n);
	db_p_i64_array(&p, dip, n);
	db_p_i64_array(&p, ledger, n);
	free(pools);
	free(amounts);
	free(days);
	free(dip);
	free(ledger);
	return db_exec_void(c, "mo_shares_insert", &p);
}

enum db_status store_moveout_payments(PGconn *c, int64_t tenant_id, int64_t wechat_since_us, int64_t alipay_since_us,
				      int64_t stripe_since_us, struct moveout_payment **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	db_p_i64(&p, wechat_since_us);
	db_p_i64(&p, alipay_since_us);
	db_p_i64(&p, stripe_since_us);
	struct moveout_payment x;
	struct db_col spec[] = {
		DB_COL("payment_id", DB_I64, &x.payment_id),
		DB_COL_TEXT("provider", x.provider),
		DB_COL("received_us", DB_I64, &x.received_us),
		DB_COL("left_minor", DB_I64, &x.left_minor),
		{0},
	};
	return db_exec_rows(c, "mo_payments", &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_account_close(PGconn *c, int64_t tenant_id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	db_p_i64(&p, now_us);
	bool found;
	int64_t id;
	struct db_col spec[] = {DB_COL("id", DB_I64, &id), {0}};
	enum db_status st = db_exec_row(c, "mo_close", &p, spec, &found);
	return st == DB_OK && !found ? DB_HARD : st; /* read and locked open in this transaction */
}

enum db_status store_moveout_vacate(PGconn *c, int64_t tenant_id, const char *at_date, int64_t now_us,
				    int64_t **meter_ids, int *n)
{
	*meter_ids = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	db_p_text(&p, at_date);
	db_p_i64(&p, now_us);
	int64_t tenants = 0;
	struct db_col spec[] = {
		DB_COL_ARRAY("meter_ids", meter_ids, n),
		DB_COL("tenants", DB_I64, &tenants),
		{0},
	};
	enum db_status st = db_exec_row(c, "mo_vacate", &p, spec, NULL);
	if (st == DB_OK && tenants != 1)
		st = DB_HARD; /* the tenant was read in this transaction */
	return st;
}

enum db_status store_moveout_statement(PGconn *c, int64_t site_id, int64_t tenant_id, const char *period,
				       const char *data_json, int64_t now_us, int64_t key_id, int64_t *id)
{
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_i64(&p, tenant_id);
	db_p_text(&p, period);
	db_p_text(&p, data_json);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	struct db_col spec[] = {DB_COL("id", DB_I64, id), {0}};
	return db_exec_row(c, "mo_statement", &p, spec, NULL);
}

enum db_status store_account_closed(PGconn *c, int64_t tenant_id, bool *closed)
{
	*closed = false;
	struct db_params p = {0};
	db_p_i64(&p, tenant_id);
	struct db_col spec[] = {DB_COL("closed", DB_BOOL, closed), {0}};
	return db_exec_row(c, "mo_account_closed", &p, spec, NULL);
}
