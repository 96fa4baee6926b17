/* ledger.c: the one place balances change. */
#include "billing/ledger.h"
#include "billing/money.h"

#include <stdio.h>

static const struct db_stmt ledger_stmts[] = {
	{"ledger_lock", /* bill_post */
	 "SELECT id, balance_minor FROM accounts WHERE tenant_id = $1 FOR UPDATE"},
	{"ledger_append", /* bill_post */
	 "WITH a AS (UPDATE accounts SET balance_minor = $2, updated_at = " SQL_TS("$6")
	 " WHERE id = $1 RETURNING id)"
	 " INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref, request_id)"
	 " SELECT a.id, " SQL_TS("$6") ", $3, $4, $2, $5::jsonb, $7 FROM a RETURNING id"},
	{0, 0},
};

void bill_register_statements(void) { db_register(ledger_stmts); }

enum db_status bill_post(PGconn *c, int64_t tenant_id, const char *kind, int64_t amount_minor,
			 const char *ref_json, const char *request_id, int64_t now_us,
			 struct bill_entry *out, enum bill_post_result *res)
{
	char tid[24], acc[24], bal[24], amt[24], now[24];
	snprintf(tid, sizeof tid, "%lld", (long long)tenant_id);
	const char *p1[1] = {tid};
	PGresult *r;
	enum db_status st = db_exec(c, "ledger_lock", 1, p1, &r);
	if (st != DB_OK || PQntuples(r) != 1) {
		*res = POST_NO_ACCOUNT;
		PQclear(r);
		return st;
	}
	out->account_id = db_int64(r, 0, 0);
	out->balance_before_minor = db_int64(r, 0, 1);
	PQclear(r);
	if (bill_add(out->balance_before_minor, amount_minor, &out->balance_after_minor)) {
		*res = POST_OVERFLOW;
		return DB_OK;
	}
	snprintf(acc, sizeof acc, "%lld", (long long)out->account_id);
	snprintf(bal, sizeof bal, "%lld", (long long)out->balance_after_minor);
	snprintf(amt, sizeof amt, "%lld", (long long)amount_minor);
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	const char *p2[7] = {acc, bal, kind, amt, ref_json ? ref_json : "{}", now, request_id};
	st = db_exec(c, "ledger_append", 7, p2, &r);
	if (st == DB_OK) {
		out->id = db_int64(r, 0, 0);
		out->at_us = now_us;
		out->amount_minor = amount_minor;
		*res = POST_OK;
	}
	PQclear(r);
	return st;
}
