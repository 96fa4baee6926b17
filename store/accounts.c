/* accounts.c: the SQL of prepaid accounts (accounts.h). */
#include "store/accounts.h"
#include "core/calendar.h"
#include "core/buf.h"
#include "core/check.h"
#include "core/price.h"
#include "core/valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Select list and joins for loading accounts; the statement adds WHERE, ORDER BY a.id and
 * FOR UPDATE OF a. H is the first local date whose holidays matter (text 'YYYY-MM-DD'). */
#define ACCT_SELECT(H)                                                                              \
	"SELECT a.id, a.tenant_id, a.balance_minor, a.state, a.warned_mask,"                       \
	" coalesce(" SQL_US("a.grace_until") ", 0) AS grace_until_us, t.name AS tenant_name,"       \
	" coalesce(t.phone, '') AS phone, t.site_id, t.category, t.wechat_openid IS NOT NULL AS wechat,"  \
	" s.timezone, a.currency, p.id IS NOT NULL AS has_policy,"  \
	" a.closed_at IS NOT NULL AS closed,"                                                        \
	" array_to_string(coalesce(p.warn_levels_minor, '{}'), ',') AS warn_levels,"                \
	" coalesce(p.overdraft_minor, 0) AS overdraft_minor, coalesce(p.grace_minutes, 0) AS grace_minutes," \
	" coalesce(p.restore_min_minor, 0) AS restore_min_minor, coalesce(p.quiet_from_min, -1) AS quiet_from," \
	" coalesce(p.quiet_to_min, -1) AS quiet_to,"                                                \
	" (SELECT coalesce(string_agg((h.day - date '1970-01-01')::text, ',' ORDER BY h.day), '')"   \
	"  FROM (SELECT day FROM site_holidays h WHERE h.site_id = s.id AND h.day >= " H "::date"    \
	"  ORDER BY day LIMIT 64) h) AS holidays"                                                   \
	" FROM accounts a JOIN tenants t ON t.id = a.tenant_id JOIN sites s ON s.id = t.site_id"   \
	" LEFT JOIN credit_policies p ON p.site_id = t.site_id AND p.rating = t.credit_rating"

static const struct db_stmt account_stmts[] = {
	{"acct_lock_tenants", /* store_accounts_of_tenants */
	 ACCT_SELECT("$2") " WHERE a.tenant_id = ANY($1::bigint[]) ORDER BY a.id FOR UPDATE OF a"},
	{"acct_lock_policy", /* store_accounts_of_policy */
	 ACCT_SELECT("$3") " WHERE t.site_id = $1 AND t.credit_rating = $2 ORDER BY a.id FOR UPDATE OF a"},
	{"acct_due", /* store_accounts_due: by the grace_until index; another process takes the
		      ones this one has locked */
	 ACCT_SELECT("$2") " WHERE a.grace_until <= " SQL_TS("$1")
	 " ORDER BY a.id LIMIT 200 FOR UPDATE OF a SKIP LOCKED"},
	{"acct_save", /* store_account_save */
	 "UPDATE accounts SET balance_minor = $2, state = $3, warned_mask = $4,"
	 " grace_until = CASE WHEN $5::bigint = 0 THEN NULL ELSE " SQL_TS("$5") " END,"
	 " updated_at = " SQL_TS("$6") " WHERE id = $1"},
	{"acct_save_many", /* store_accounts_save_many */
	 "UPDATE accounts a SET balance_minor = x.b, state = x.s, warned_mask = x.w,"
	 " grace_until = CASE WHEN x.g = 0 THEN NULL ELSE 'epoch'::timestamptz + x.g * interval '1 microsecond' END,"
	 " updated_at = " SQL_TS("$6")
	 " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[], $5::bigint[]) AS x(id, b, s, w, g)"
	 " WHERE a.id = x.id"},
	{"account_get_many", /* store_account_views: accounts of an array of tenants, each with its
			       credit policy's limits, in one query */
	 "SELECT a.tenant_id, a.balance_minor, a.currency, a.state,"
	 " array_to_json(coalesce(p.warn_levels_minor, '{}'))::text AS levels,"
	 " -coalesce(p.overdraft_minor, 0) AS cut_threshold, coalesce(" SQL_US("a.grace_until") ", 0) AS grace_until_us,"
	 " a.supply, coalesce(" SQL_US("a.closed_at") ", 0) AS closed_us"
	 " FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 " LEFT JOIN credit_policies p ON p.site_id = t.site_id AND p.rating = t.credit_rating"
	 " WHERE a.tenant_id = ANY($1::bigint[])"
	 " AND t.id = ANY($1::bigint[])"}, /* said twice: both tables by index, not one seq scan */
	{0, 0},
};

void store_accounts_register(void) { db_register(account_stmts); }

static int split_ints(const char *s, int64_t *out, int max)
{
	int n = 0;
	while (s && *s && n < max) {
		char *end;
		out[n++] = strtoll(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* The local date a day before now: the holidays from there on are loaded (quiet days). */
static void holiday_from(int64_t now_us, char *buf, size_t n)
{
	int y, m, d;
	cal_civil_from_days(cal_local_day(now_us) - 1, &y, &m, &d);
	snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
}

/* Run a locking statement and read its accounts in id order. */
static enum db_status read_accounts(PGconn *c, const char *stmt, struct db_params *p, struct bill_acct **out,
				    int *nout)
{
	*out = NULL;
	*nout = 0;
	struct bill_acct a;
	char state[16], levels[256], holidays[1024];
	int64_t warned, grace_minutes, quiet_from, quiet_to;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &a.id),
		DB_COL("tenant_id", DB_I64, &a.tenant_id),
		DB_COL("balance_minor", DB_I64, &a.st.balance_minor),
		DB_COL_TEXT("state", state),
		DB_COL("warned_mask", DB_I64, &warned),
		DB_COL("grace_until_us", DB_I64, &a.st.grace_until_us),
		DB_COL_TEXT("tenant_name", a.tenant_name),
		DB_COL_TEXT("phone", a.phone),
		DB_COL("site_id", DB_I64, &a.site_id),
		DB_COL_TEXT("category", a.category),
		DB_COL("wechat", DB_BOOL, &a.wechat),
		DB_COL_TEXT("timezone", a.zone),
		DB_COL_TEXT("currency", a.currency),
		DB_COL("has_policy", DB_BOOL, &a.has_policy),
		DB_COL("closed", DB_BOOL, &a.closed),
		DB_COL_TEXT("warn_levels", levels),
		DB_COL("overdraft_minor", DB_I64, &a.policy.overdraft_minor),
		DB_COL("grace_minutes", DB_I64, &grace_minutes),
		DB_COL("restore_min_minor", DB_I64, &a.policy.restore_min_minor),
		DB_COL("quiet_from", DB_I64, &quiet_from),
		DB_COL("quiet_to", DB_I64, &quiet_to),
		DB_COL_TEXT("holidays", holidays),
		{0},
	};
	PGresult *r;
	enum db_status st = db_exec_bind(c, stmt, p, spec, &r);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	struct bill_acct *v = calloc((size_t)rows + 1, sizeof *v);
	if (!v)
		abort();
	for (int i = 0; i < rows; i++) {
		memset(&a, 0, sizeof a);
		db_cols_read(r, i, spec);
		int s = bill_state_parse(state);
		a.st.state = s < 0 ? ST_NORMAL : (enum bill_state)s;
		a.st.warned = (uint32_t)warned;
		a.digits = 2;
		api_valid_currency(a.currency, &a.digits);
		a.policy.nlevels = split_ints(levels, a.policy.levels, BILL_MAX_LEVELS);
		a.policy.grace_minutes = grace_minutes;
		a.policy.quiet_from = (int)quiet_from;
		a.policy.quiet_to = (int)quiet_to;
		int64_t days[BILL_MAX_HOLIDAYS];
		a.cal.nholidays = split_ints(holidays, days, BILL_MAX_HOLIDAYS);
		for (int k = 0; k < a.cal.nholidays; k++)
			a.cal.holidays[k] = (int32_t)days[k];
		v[i] = a;
		v[i].cal.zone = v[i].zone;
		/* locked in id order, so concurrent transactions cannot deadlock on them */
		WATTLE_CHECK(i == 0 || v[i].id > v[i - 1].id);
	}
	PQclear(r);
	*out = v;
	*nout = rows;
	return DB_OK;
}

enum db_status store_accounts_of_tenants(PGconn *c, const int64_t *tenants, int n, int64_t now_us,
					 struct bill_acct **out, int *nout)
{
	char hol[16];
	holiday_from(now_us, hol, sizeof hol);
	struct db_params p = {0};
	db_p_i64_array(&p, tenants, n);
	db_p_text(&p, hol);
	return read_accounts(c, "acct_lock_tenants", &p, out, nout);
}

enum db_status store_accounts_of_policy(PGconn *c, int64_t site_id, const char *rating, int64_t now_us,
					struct bill_acct **out, int *nout)
{
	char hol[16];
	holiday_from(now_us, hol, sizeof hol);
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, rating);
	db_p_text(&p, hol);
	return read_accounts(c, "acct_lock_policy", &p, out, nout);
}

enum db_status store_accounts_due(PGconn *c, int64_t now_us, struct bill_acct **out, int *nout)
{
	char hol[16];
	holiday_from(now_us, hol, sizeof hol);
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	db_p_text(&p, hol);
	return read_accounts(c, "acct_due", &p, out, nout);
}

enum db_status store_account_save(PGconn *c, const struct bill_acct *a, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, a->id);
	db_p_i64(&p, a->st.balance_minor);
	db_p_text(&p, bill_state_name(a->st.state));
	db_p_i64(&p, a->st.warned);
	db_p_i64(&p, a->st.grace_until_us);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "acct_save", &p);
}

enum db_status store_accounts_save_many(PGconn *c, const struct bill_acct *a, int n, int64_t now_us)
{
	if (n == 0)
		return DB_OK;
	struct srv_buf ids = {0}, bals = {0}, states = {0}, warned = {0}, grace = {0};
	for (int i = 0; i < n; i++) {
		srv_buf_elem(&ids);
		srv_buf_i64(&ids, a[i].id);
		srv_buf_elem(&bals);
		srv_buf_i64(&bals, a[i].st.balance_minor);
		srv_buf_elem(&states);
		srv_buf_puts(&states, bill_state_name(a[i].st.state));
		srv_buf_elem(&warned);
		srv_buf_i64(&warned, a[i].st.warned);
		srv_buf_elem(&grace);
		srv_buf_i64(&grace, a[i].st.grace_until_us);
	}
	struct srv_buf *all[] = {&ids, &bals, &states, &warned, &grace};
	struct db_params p = {0};
	for (int k = 0; k < 5; k++) {
		srv_buf_putc(all[k], '}');
		db_p_take(&p, all[k]->p);
	}
	db_p_i64(&p, now_us);
	return db_exec_void(c, "acct_save_many", &p);
}

enum db_status store_account_views(PGconn *c, const int64_t *tenants, int n, struct account_view *out, int *nout)
{
	*nout = 0;
	struct db_params p = {0};
	db_p_i64_array(&p, tenants, n);
	struct account_view v;
	struct db_col spec[] = {
		DB_COL("tenant_id", DB_I64, &v.tenant_id),
		DB_COL("balance_minor", DB_I64, &v.balance_minor),
		DB_COL_TEXT("currency", v.currency),
		DB_COL_TEXT("state", v.state),
		DB_COL_TEXT("levels", v.levels_json),
		DB_COL("cut_threshold", DB_I64, &v.cut_threshold_minor),
		DB_COL("grace_until_us", DB_I64, &v.grace_until_us),
		DB_COL_TEXT("supply", v.supply),
		DB_COL("closed_us", DB_I64, &v.closed_us),
		{0},
	};
	PGresult *r;
	enum db_status st = db_exec_bind(c, "account_get_many", &p, spec, &r);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	for (int i = 0; i < rows && i < n; i++) {
		db_cols_read(r, i, spec);
		out[(*nout)++] = v;
	}
	PQclear(r);
	return DB_OK;
}
