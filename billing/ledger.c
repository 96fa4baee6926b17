/* ledger.c: the one place balances change. */
#include "billing/ledger.h"
#include "billing/account.h"
#include "billing/money.h"

#include <string.h>

#include <stdio.h>

static const struct db_stmt ledger_stmts[] = {
	{"ledger_lock", /* bill_post: the account with its policy, locked */
	 BILL_ACCT_SELECT("$2") " WHERE a.tenant_id = $1 FOR UPDATE OF a"},
	{"ledger_append", /* bill_post; bill_acct_save writes the balance */
	 "INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref, request_id)"
	 " VALUES ($1, " SQL_TS("$6") ", $3, $4, $2, $5::jsonb, $7) RETURNING id"},
	{0, 0},
};

void bill_register_statements(void) { db_register(ledger_stmts); }

enum db_status bill_post(PGconn *c, int64_t tenant_id, const char *kind, int64_t amount_minor,
			 const char *ref_json, const char *request_id, int64_t now_us,
			 struct bill_entry *out, enum bill_post_result *res)
{
	return bill_post_at(c, tenant_id, kind, amount_minor, ref_json, request_id, now_us, now_us, out, res);
}

enum db_status bill_post_at(PGconn *c, int64_t tenant_id, const char *kind, int64_t amount_minor,
			    const char *ref_json, const char *request_id, int64_t at_us, int64_t now_us,
			    struct bill_entry *out, enum bill_post_result *res)
{
	char tid[24], acc[24], bal[24], amt[24], now[24], hol[16];
	snprintf(tid, sizeof tid, "%lld", (long long)tenant_id);
	bill_acct_holiday_from(now_us, hol, sizeof hol);
	const char *p1[2] = {tid, hol};
	PGresult *r;
	enum db_status st = db_exec(c, "ledger_lock", 2, p1, &r);
	if (st != DB_OK || PQntuples(r) != 1) {
		*res = POST_NO_ACCOUNT;
		PQclear(r);
		return st;
	}
	struct bill_acct a;
	bill_acct_parse(r, 0, &a);
	PQclear(r);
	out->account_id = a.id;
	out->balance_before_minor = a.st.balance_minor;
	if (bill_add(out->balance_before_minor, amount_minor, &out->balance_after_minor)) {
		*res = POST_OVERFLOW;
		return DB_OK;
	}
	snprintf(acc, sizeof acc, "%lld", (long long)out->account_id);
	snprintf(bal, sizeof bal, "%lld", (long long)out->balance_after_minor);
	snprintf(amt, sizeof amt, "%lld", (long long)amount_minor);
	snprintf(now, sizeof now, "%lld", (long long)at_us);
	const char *p2[7] = {acc, bal, kind, amt, ref_json ? ref_json : "{}", now, request_id};
	st = db_exec(c, "ledger_append", 7, p2, &r);
	if (st == DB_OK) {
		out->id = db_int64(r, 0, 0);
		out->at_us = at_us;
		out->amount_minor = amount_minor;
		*res = POST_OK;
	}
	PQclear(r);
	if (st != DB_OK)
		return st;
	/* The state machine runs in the same transaction as every balance change. */
	struct bill_outbox o = {0};
	bill_acct_transition(&a, out->balance_after_minor, now_us, &o);
	if (!strcmp(kind, "topup"))
		bill_acct_topup_notice(&a, amount_minor, now_us, &o);
	st = bill_acct_save(c, &a, now_us);
	if (st == DB_OK)
		return bill_outbox_flush(c, &o, now_us);
	bill_outbox_free(&o);
	return st;
}
