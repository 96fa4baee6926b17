/* ledger.c: the one place balances change: lock the account, check the arithmetic, append
 * the entry, run the state machine and queue what it decides, in the caller's transaction.
 * The rows are written by store/ledger.c and store/accounts.c. */
#include "ops/ledger.h"
#include "core/check.h"
#include "core/money.h"
#include "ops/account.h"
#include "store/accounts.h"
#include "store/ledger.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
	struct bill_acct *v;
	int n;
	*res = POST_NO_ACCOUNT;
	enum db_status st = store_accounts_of_tenants(c, &tenant_id, 1, now_us, &v, &n);
	if (st != DB_OK || n != 1) {
		if (st == DB_OK)
			free(v);
		return st;
	}
	struct bill_acct *a = &v[0];
	out->account_id = a->id;
	out->balance_before_minor = a->st.balance_minor;
	if (a->closed && !strcmp(kind, "topup")) {
		*res = POST_CLOSED;
		free(v);
		return DB_OK;
	}
	if (bill_add(out->balance_before_minor, amount_minor, &out->balance_after_minor)) {
		*res = POST_OVERFLOW;
		free(v);
		return DB_OK;
	}
	WATTLE_CHECK(out->balance_after_minor - amount_minor == out->balance_before_minor);
	st = store_ledger_append(c, a->id, out->balance_after_minor, kind, amount_minor, ref_json, at_us, request_id,
				 &out->id);
	if (st != DB_OK) {
		free(v);
		return st;
	}
	out->at_us = at_us;
	out->amount_minor = amount_minor;
	*res = POST_OK;
	/* The state machine runs in the same transaction as every balance change; not for a
	 * closed account: the tenant moved out, its meters are vacant, and what still posts (a
	 * refund confirmed, an adjustment) warns nobody and cuts nothing. */
	struct bill_outbox o = {0};
	if (a->closed)
		a->st.balance_minor = out->balance_after_minor;
	else
		bill_acct_transition(a, out->balance_after_minor, now_us, &o);
	if (!a->closed && !strcmp(kind, "topup"))
		bill_acct_topup_notice(a, amount_minor, out->id, now_us, &o);
	st = store_account_save(c, a, now_us);
	free(v);
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
	int64_t *tenants = malloc((size_t)n * sizeof *tenants);
	struct ledger_row *rows = malloc((size_t)n * sizeof *rows);
	if (!sorted || !tenants || !rows)
		abort();
	for (int i = 0; i < n; i++)
		sorted[i] = &p[i];
	qsort(sorted, (size_t)n, sizeof *sorted, by_tenant);
	for (int i = 0; i < n; i++)
		tenants[i] = sorted[i]->tenant_id;
	struct bill_acct *v = NULL;
	int na = 0, posted = 0;
	enum db_status st = store_accounts_of_tenants(c, tenants, n, now_us, &v, &na);
	struct bill_outbox o = {0};
	bool overflow = false;
	for (int a = 0; st == DB_OK && a < na && !overflow; a++) {
		struct bill_acct *ac = &v[a];
		int64_t balance = ac->st.balance_minor, before = balance;
		uint64_t sum = 0; /* modulo 2^64: exact whenever the balances fit */
		int lo = 0, hi = n;
		while (lo < hi) { /* the first posting of this tenant */
			int mid = (lo + hi) / 2;
			if (sorted[mid]->tenant_id < ac->tenant_id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (int i = lo; i < n && sorted[i]->tenant_id == ac->tenant_id; i++) {
			if (bill_add(balance, sorted[i]->amount_minor, &balance)) {
				overflow = true; /* refuse the whole set rather than post part of it */
				break;
			}
			sum += (uint64_t)sorted[i]->amount_minor;
			rows[posted++] = (struct ledger_row){ac->id, sorted[i]->amount_minor, balance, sorted[i]->ref_json,
							     sorted[i]->request_id};
		}
		WATTLE_CHECK(overflow || (uint64_t)before + sum == (uint64_t)balance); /* after == before + posted */
		if (ac->closed) /* moved out: no state machine (see bill_post_at) */
			ac->st.balance_minor = balance;
		else
			bill_acct_transition(ac, balance, now_us, &o);
	}
	if (st == DB_OK && overflow) {
		posted = n + 1; /* *missing = -1 */
	} else if (st == DB_OK && posted) {
		st = store_ledger_append_many(c, rows, posted, kind, request_id, at_us);
		if (st == DB_OK)
			st = store_accounts_save_many(c, v, na, now_us);
		if (st == DB_OK)
			st = bill_outbox_flush(c, &o, now_us);
	}
	bill_outbox_free(&o);
	free(v);
	free(rows);
	free(tenants);
	free(sorted);
	*missing = n - posted;
	return st;
}
