/* ledger.c: the one place balances change. */
#include "ops/ledger.h"
#include "ops/account.h"
#include "core/check.h"
#include "core/money.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

static const struct db_stmt ledger_stmts[] = {
	{"ledger_lock", /* bill_post: the account with its policy, locked */
	 BILL_ACCT_SELECT("$2") " WHERE a.tenant_id = $1 FOR UPDATE OF a"},
	{"ledger_append", /* bill_post; bill_acct_save writes the balance */
	 "INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref, request_id)"
	 " VALUES ($1, " SQL_TS("$6") ", $3, $4, $2, $5::jsonb, $7) RETURNING id"},
	{"ledger_lock_many", /* bill_post_many: the accounts, locked in id order */
	 BILL_ACCT_SELECT("$2") " WHERE a.tenant_id = ANY($1::bigint[]) ORDER BY a.id FOR UPDATE OF a"},
	{"ledger_append_many", /* bill_post_many: ids follow the order balances were chained in */
	 "INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref, request_id)"
	 " SELECT a, " SQL_TS("$5") ", $7, amt, bal, ref::jsonb, coalesce(rq, $6)"
	 " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $8::text[]) WITH ORDINALITY"
	 " AS x(a, amt, bal, ref, rq, o) ORDER BY o"},
	{"ledger_balances", /* bill_post_many, ingest's post_charges: balance and prepaid state */
	 "UPDATE accounts a SET balance_minor = x.b, state = x.s, warned_mask = x.w,"
	 " grace_until = CASE WHEN x.g = 0 THEN NULL ELSE 'epoch'::timestamptz + x.g * interval '1 microsecond' END,"
	 " updated_at = " SQL_TS("$6")
	 " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[], $5::bigint[]) AS x(id, b, s, w, g)"
	 " WHERE a.id = x.id"},
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
	WATTLE_CHECK(out->balance_after_minor - amount_minor == out->balance_before_minor);
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

static int by_tenant(const void *a, const void *b)
{
	const struct bill_posting *x = *(const struct bill_posting *const *)a, *y = *(const struct bill_posting *const *)b;
	if (x->tenant_id != y->tenant_id)
		return x->tenant_id < y->tenant_id ? -1 : 1;
	return (x > y) - (x < y); /* a tenant's postings keep the caller's order */
}

enum db_status bill_post_many(PGconn *c, struct bill_posting *p, int n, const char *kind, const char *request_id,
			      int64_t at_us, int64_t now_us, int *missing)
{
	*missing = n;
	if (n == 0)
		return DB_OK;
	struct bill_posting **sorted = malloc((size_t)n * sizeof *sorted);
	if (!sorted)
		abort();
	struct srv_buf tenants = {0};
	for (int i = 0; i < n; i++)
		sorted[i] = &p[i];
	qsort(sorted, (size_t)n, sizeof *sorted, by_tenant);
	for (int i = 0; i < n; i++) {
		srv_buf_elem(&tenants);
		srv_buf_i64(&tenants, sorted[i]->tenant_id);
	}
	srv_buf_putc(&tenants, '}');
	char hol[16], at[24], now[24];
	bill_acct_holiday_from(now_us, hol, sizeof hol);
	snprintf(at, sizeof at, "%lld", (long long)at_us);
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	const char *p1[2] = {tenants.p, hol};
	PGresult *r;
	enum db_status st = db_exec(c, "ledger_lock_many", 2, p1, &r);
	srv_buf_free(&tenants);
	if (st != DB_OK) {
		PQclear(r);
		free(sorted);
		return st;
	}
	struct srv_buf acc = {0}, amt = {0}, bal = {0}, refs = {0}, rqs = {0}, ids = {0}, bals = {0}, states = {0},
		       warned = {0}, grace = {0};
	struct bill_outbox o = {0};
	int posted = 0;
	bool overflow = false;
	int64_t last_account = 0;
	for (int a = 0; a < PQntuples(r) && !overflow; a++) {
		struct bill_acct ac;
		bill_acct_parse(r, a, &ac);
		/* accounts are locked in id order, so concurrent postings cannot deadlock */
		WATTLE_CHECK(ac.id > last_account);
		last_account = ac.id;
		int64_t balance = ac.st.balance_minor, before = balance;
		uint64_t sum = 0; /* modulo 2^64: exact whenever the balances fit */
		int lo = 0, hi = n;
		while (lo < hi) { /* the first posting of this tenant */
			int mid = (lo + hi) / 2;
			if (sorted[mid]->tenant_id < ac.tenant_id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (int i = lo; i < n && sorted[i]->tenant_id == ac.tenant_id; i++) {
			if (bill_add(balance, sorted[i]->amount_minor, &balance)) {
				overflow = true; /* refuse the whole set rather than post part of it */
				break;
			}
			sum += (uint64_t)sorted[i]->amount_minor;
			posted++;
			srv_buf_elem(&acc);
			srv_buf_i64(&acc, ac.id);
			srv_buf_elem(&amt);
			srv_buf_i64(&amt, sorted[i]->amount_minor);
			srv_buf_elem(&bal);
			srv_buf_i64(&bal, balance);
			srv_buf_elem(&refs);
			srv_buf_pg_quoted(&refs, sorted[i]->ref_json ? sorted[i]->ref_json : "{}");
			srv_buf_elem(&rqs);
			if (sorted[i]->request_id)
				srv_buf_pg_quoted(&rqs, sorted[i]->request_id);
			else
				PUT_LIT(&rqs, "NULL");
		}
		WATTLE_CHECK(overflow || (uint64_t)before + sum == (uint64_t)balance); /* after == before + posted */
		bill_acct_transition(&ac, balance, now_us, &o);
		srv_buf_elem(&ids);
		srv_buf_i64(&ids, ac.id);
		srv_buf_elem(&bals);
		srv_buf_i64(&bals, balance);
		srv_buf_elem(&states);
		srv_buf_puts(&states, bill_state_name(ac.st.state));
		srv_buf_elem(&warned);
		srv_buf_i64(&warned, ac.st.warned);
		srv_buf_elem(&grace);
		srv_buf_i64(&grace, ac.st.grace_until_us);
	}
	PQclear(r);
	if (overflow) {
		bill_outbox_free(&o);
		posted = n + 1; /* *missing = -1 */
	} else if (posted) {
		struct srv_buf *all[] = {&acc, &amt, &bal, &refs, &rqs, &ids, &bals, &states, &warned, &grace};
		for (int k = 0; k < 10; k++)
			srv_buf_putc(all[k], '}');
		const char *p2[8] = {acc.p, amt.p, bal.p, refs.p, at, request_id, kind, rqs.p};
		st = db_exec(c, "ledger_append_many", 8, p2, &r);
		PQclear(r);
		if (st == DB_OK) {
			const char *p3[6] = {ids.p, bals.p, states.p, warned.p, grace.p, now};
			st = db_exec(c, "ledger_balances", 6, p3, &r);
			PQclear(r);
		}
	}
	if (st == DB_OK && !overflow)
		st = bill_outbox_flush(c, &o, now_us);
	bill_outbox_free(&o);
	struct srv_buf *all[] = {&acc, &amt, &bal, &refs, &rqs, &ids, &bals, &states, &warned, &grace};
	for (int k = 0; k < 10; k++)
		srv_buf_free(all[k]);
	free(sorted);
	*missing = n - posted;
	return st;
}
