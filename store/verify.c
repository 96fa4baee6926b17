/* verify.c: the checks of `wattle verify` (verify.h). */
#include "store/verify.h"
#include "core/price.h"
#include "core/valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each statement returns checked, bad and examples (a text of up to five ids). */
static const struct db_stmt verify_stmts[] = {
	{"verify_balances", /* every balance is the sum of its account's entries */
	 "WITH x AS (SELECT a.id, a.balance_minor <> coalesce((SELECT sum(e.amount_minor) FROM ledger_entries e"
	 "  WHERE e.account_id = a.id), 0) AS bad FROM accounts a)"
	 " SELECT count(*) AS checked, count(*) FILTER (WHERE bad) AS bad,"
	 " coalesce((SELECT string_agg('acct_' || id, ' ') FROM (SELECT id FROM x WHERE bad ORDER BY id LIMIT 5) f), '')"
	 " AS examples FROM x"},
	{"verify_chain", /* every entry's balance_after is the running sum of its account */
	 "WITH x AS (SELECT id, balance_after_minor <> sum(amount_minor) OVER (PARTITION BY account_id ORDER BY id)"
	 "  AS bad FROM ledger_entries)"
	 " SELECT count(*) AS checked, count(*) FILTER (WHERE bad) AS bad,"
	 " coalesce((SELECT string_agg('le_' || id, ' ') FROM (SELECT id FROM x WHERE bad ORDER BY id LIMIT 5) f), '')"
	 " AS examples FROM x"},
	{"verify_currencies", "SELECT DISTINCT currency FROM sites ORDER BY 1"},
	{"verify_meter_cost", /* a meter's charges are the floor of its exact cost, for sites in $1 ($2 nano/minor) */
	 "WITH x AS (SELECT st.meter_id AS id, st.charged_minor <> floor(st.cost_nano_total / $2::bigint) AS bad"
	 "  FROM meter_state st JOIN meters m ON m.id = st.meter_id JOIN sites s ON s.id = m.site_id"
	 "  WHERE s.currency = $1)"
	 " SELECT count(*) AS checked, count(*) FILTER (WHERE bad) AS bad,"
	 " coalesce((SELECT string_agg('mtr_' || id, ' ') FROM (SELECT id FROM x WHERE bad ORDER BY id LIMIT 5) f), '')"
	 " AS examples FROM x"},
	{"verify_meter_ledger", /* a meter's charges are in its tenants' ledgers, to the unit, but for
				   what it charged while it had no tenant */
	 "WITH posted AS (SELECT e.ref->>'meter_id' AS mid, -sum(e.amount_minor) AS minor FROM ledger_entries e"
	 "  WHERE e.kind = 'energy_charge' GROUP BY 1),"
	 " x AS (SELECT m.id, st.charged_minor - st.unposted_minor <> coalesce(p.minor, 0) AS bad FROM meter_state st"
	 "  JOIN meters m ON m.id = st.meter_id LEFT JOIN posted p ON p.mid = 'mtr_' || m.id)"
	 " SELECT count(*) AS checked, count(*) FILTER (WHERE bad) AS bad,"
	 " coalesce((SELECT string_agg('mtr_' || id, ' ') FROM (SELECT id FROM x WHERE bad ORDER BY id LIMIT 5) f), '')"
	 " AS examples FROM x"},
	{"verify_allocations", /* a run's allocation entries are its pool's total, and a reversed run's
				  reversals give it all back (a committed run has none) */
	 "WITH e AS (SELECT e.ref->>'run_id' AS rid, sum(e.amount_minor) FILTER (WHERE e.kind = 'allocation') AS alloc,"
	 "  coalesce(sum(e.amount_minor) FILTER (WHERE e.kind = 'reversal'), 0) AS rev FROM ledger_entries e"
	 "  WHERE e.kind IN ('allocation', 'reversal') GROUP BY 1),"
	 " x AS (SELECT r.id, coalesce(-e.alloc, 0) <> r.total_minor OR coalesce(e.rev, 0)"
	 "  <> CASE r.state WHEN 'committed' THEN 0 ELSE r.total_minor END AS bad"
	 "  FROM allocation_runs r LEFT JOIN e ON e.rid = 'run_' || r.id)"
	 " SELECT count(*) AS checked, count(*) FILTER (WHERE bad) AS bad,"
	 " coalesce((SELECT string_agg('run_' || id, ' ') FROM (SELECT id FROM x WHERE bad ORDER BY id LIMIT 5) f), '')"
	 " AS examples FROM x"},
	{"verify_audit", /* the audit log's hash chain: each row's place follows the last, its
			    prev_hash is the last row's hash, its hash covers it; the head is the last row */
	 "WITH x AS (SELECT a.id, a.chain_seq,"
	 "  a.prev_hash IS DISTINCT FROM coalesce(lag(a.hash) OVER w, '\\x'::bytea)"
	 "  OR a.chain_seq <> coalesce(lag(a.chain_seq) OVER w, 0) + 1"
	 "  OR a.hash <> audit_hash(a.prev_hash, a.chain_seq, a.at, a.api_key_id, a.role, a.method, a.path,"
	 "   a.request_id, a.action, a.target, a.client_addr, a.user_id) AS bad"
	 "  FROM audit_log a WINDOW w AS (ORDER BY a.chain_seq)),"
	 " head AS (SELECT h.seq <> coalesce((SELECT max(chain_seq) FROM audit_log), 0)"
	 "  OR h.hash <> coalesce((SELECT hash FROM audit_log ORDER BY chain_seq DESC LIMIT 1), '\\x'::bytea) AS bad"
	 "  FROM audit_head h)"
	 " SELECT count(*) + 1 AS checked,"
	 " count(*) FILTER (WHERE bad) + (SELECT count(*) FILTER (WHERE bad) FROM head)"
	 "  + CASE WHEN (SELECT count(*) FROM audit_head) = 1 THEN 0 ELSE 1 END AS bad,"
	 " concat_ws(' ', (SELECT string_agg('aud_' || id, ' ') FROM (SELECT id FROM x WHERE bad ORDER BY chain_seq LIMIT 5) f),"
	 "  CASE WHEN (SELECT count(*) FROM audit_head) <> 1 OR (SELECT bool_or(bad) FROM head) THEN 'the head' END)"
	 "  AS examples FROM x"},
	{"verify_receipts", /* verify_tx: every counter's receipts are 1..last_no, each sealed by its hash and
			     * chained to the one before; the counter holds the last one's hash */
	 "WITH x AS (SELECT r.id, r.number, r.hash <> receipt_hash(r)"
	 "  OR r.prev_hash IS DISTINCT FROM coalesce(lag(r.hash) OVER w, CASE WHEN r.seq = 1 THEN '' END)"
	 "  OR r.seq <> row_number() OVER w AS bad"
	 "  FROM receipts r WINDOW w AS (PARTITION BY r.site_id, r.series, r.year ORDER BY r.seq)),"
	 " k AS (SELECT k.site_id, k.series, k.year, k.last_no <> count(r.id)"
	 "  OR k.last_hash IS DISTINCT FROM (SELECT l.hash FROM receipts l WHERE l.site_id = k.site_id"
	 "   AND l.series = k.series AND l.year = k.year AND l.seq = k.last_no) AS bad"
	 "  FROM receipt_counters k LEFT JOIN receipts r USING (site_id, series, year)"
	 "  GROUP BY k.site_id, k.series, k.year, k.last_no, k.last_hash)"
	 " SELECT (SELECT count(*) FROM x) + (SELECT count(*) FROM k) AS checked,"
	 " (SELECT count(*) FILTER (WHERE bad) FROM x) + (SELECT count(*) FILTER (WHERE bad) FROM k) AS bad,"
	 " concat_ws(' ', (SELECT string_agg(number, ' ') FROM (SELECT number FROM x WHERE bad ORDER BY id LIMIT 5) f),"
	 "  (SELECT string_agg('counter S' || site_id || '-' || series || '-' || year, ' ')"
	 "   FROM (SELECT * FROM k WHERE bad LIMIT 3) g)) AS examples"},
	{0, 0},
};

void store_verify_register(void) { db_register(verify_stmts); }

static enum db_status one(PGconn *c, const char *stmt, struct db_params *p, struct verify_result *r)
{
	int64_t checked = 0, bad = 0;
	char ex[160] = "";
	struct db_col spec[] = {DB_COL("checked", DB_I64, &checked), DB_COL("bad", DB_I64, &bad),
				DB_COL_TEXT("examples", ex), {0}};
	enum db_status st = db_exec_row(c, stmt, p, spec, NULL);
	if (st != DB_OK)
		return st;
	r->checked += checked;
	r->bad += bad;
	if (ex[0]) {
		size_t n = strlen(r->examples);
		snprintf(r->examples + n, sizeof r->examples - n, "%s%s", n ? " " : "", ex);
	}
	return DB_OK;
}

struct verify_tx {
	struct verify_result *r;
};

static enum db_status verify_tx(PGconn *c, void *arg)
{
	struct verify_result *r = ((struct verify_tx *)arg)->r;
	static const struct {
		const char *check, *rule;
	} names[VERIFY_CHECKS] = {
		{"balances", "every balance is the sum of its account's ledger entries"},
		{"ledger_chain", "every entry's balance_after is the running sum of its account"},
		{"meter_cost", "every meter's charges are the floor of its exact cost"},
		{"meter_ledger", "every meter's charges are in its tenants' ledgers, but for those while vacant"},
		{"allocations", "every allocation run's entries sum to its pool; a reversed run's reversals give it all back"},
		{"audit_chain", "the audit log's hash chain is whole: no row deleted, inserted or altered"},
		{"receipts", "every receipt series is numbered 1, 2, ... without a gap and its hash chain is whole"},
	};
	for (int i = 0; i < VERIFY_CHECKS; i++)
		r[i] = (struct verify_result){names[i].check, names[i].rule, 0, 0, ""};
	PGresult *res = PQexec(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	enum db_status st = db_classify(c, res, "verify snapshot");
	PQclear(res);
	struct db_params p = {0};
	if (st == DB_OK)
		st = one(c, "verify_balances", &p, &r[0]);
	if (st == DB_OK)
		st = one(c, "verify_chain", &p, &r[1]);
	char (*cur)[8] = NULL;
	int ncur = 0;
	if (st == DB_OK) {
		char code[8];
		struct db_col spec[] = {DB_COL_TEXT("currency", code), {0}};
		st = db_exec_rows(c, "verify_currencies", &p, spec, code, sizeof code, (void **)&cur, &ncur);
	}
	for (int i = 0; st == DB_OK && i < ncur; i++) {
		int digits = 2;
		api_valid_currency(cur[i], &digits);
		db_p_text(&p, cur[i]);
		db_p_i64(&p, bill_nano_per_minor(digits));
		st = one(c, "verify_meter_cost", &p, &r[2]);
	}
	free(cur);
	if (st == DB_OK)
		st = one(c, "verify_meter_ledger", &p, &r[3]);
	if (st == DB_OK)
		st = one(c, "verify_allocations", &p, &r[4]);
	if (st == DB_OK)
		st = one(c, "verify_audit", &p, &r[5]);
	if (st == DB_OK)
		st = one(c, "verify_receipts", &p, &r[6]);
	return st;
}

enum db_status store_verify(struct verify_result **out, int *n)
{
	*out = calloc(VERIFY_CHECKS, sizeof **out);
	*n = VERIFY_CHECKS;
	if (!*out)
		abort();
	struct verify_tx t = {*out};
	return db_run_tx(verify_tx, &t);
}
