/* ledger.c: the SQL of ledger entries (ledger.h). */
#include "store/ledger.h"
#include "core/buf.h"

#include <stdlib.h>

static const struct db_stmt ledger_stmts[] = {
	{"ledger_append", /* store_ledger_append */
	 "INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref, request_id)"
	 " VALUES ($1, " SQL_TS("$6") ", $3, $4, $2, $5::jsonb, $7) RETURNING id"},
	{"ledger_append_many", /* store_ledger_append_many: ids follow the order balances were chained in */
	 "INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref, request_id)"
	 " SELECT a, " SQL_TS("$5") ", $7, amt, bal, ref::jsonb, coalesce(rq, $6)"
	 " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $8::text[]) WITH ORDINALITY"
	 " AS x(a, amt, bal, ref, rq, o) ORDER BY o"},
	{"ledger_list", /* store_ledger_of_tenant */
	 "SELECT e.id, " SQL_US("e.at") " AS at_us, e.kind, e.amount_minor, e.balance_after_minor, e.ref::text AS ref"
	 " FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
	 " WHERE e.id > $1 AND a.tenant_id = $3 ORDER BY e.id LIMIT $2"},
	{0, 0},
};

void store_ledger_register(void) { db_register(ledger_stmts); }

enum db_status store_ledger_append(PGconn *c, int64_t account_id, int64_t balance_after, const char *kind,
				   int64_t amount_minor, const char *ref_json, int64_t at_us, const char *request_id,
				   int64_t *id)
{
	struct db_params p = {0};
	db_p_i64(&p, account_id);
	db_p_i64(&p, balance_after);
	db_p_text(&p, kind);
	db_p_i64(&p, amount_minor);
	db_p_text(&p, ref_json ? ref_json : "{}");
	db_p_i64(&p, at_us);
	db_p_text(&p, request_id);
	*id = 0;
	struct db_col spec[] = {DB_COL("id", DB_I64, id), {0}};
	return db_exec_row(c, "ledger_append", &p, spec, NULL);
}

enum db_status store_ledger_append_many(PGconn *c, const struct ledger_row *rows, int n, const char *kind,
					const char *request_id, int64_t at_us)
{
	if (n == 0)
		return DB_OK;
	struct srv_buf acc = {0}, amt = {0}, bal = {0}, refs = {0}, rqs = {0};
	for (int i = 0; i < n; i++) {
		srv_buf_elem(&acc);
		srv_buf_i64(&acc, rows[i].account_id);
		srv_buf_elem(&amt);
		srv_buf_i64(&amt, rows[i].amount_minor);
		srv_buf_elem(&bal);
		srv_buf_i64(&bal, rows[i].balance_after_minor);
		srv_buf_elem(&refs);
		srv_buf_pg_quoted(&refs, rows[i].ref_json ? rows[i].ref_json : "{}");
		srv_buf_elem(&rqs);
		if (rows[i].request_id)
			srv_buf_pg_quoted(&rqs, rows[i].request_id);
		else
			PUT_LIT(&rqs, "NULL");
	}
	struct srv_buf *all[] = {&acc, &amt, &bal, &refs};
	struct db_params p = {0};
	for (int k = 0; k < 4; k++) {
		srv_buf_putc(all[k], '}');
		db_p_take(&p, all[k]->p);
	}
	db_p_i64(&p, at_us);
	db_p_text(&p, request_id);
	db_p_text(&p, kind);
	srv_buf_putc(&rqs, '}');
	db_p_take(&p, rqs.p);
	return db_exec_void(c, "ledger_append_many", &p);
}

enum db_status store_ledger_of_tenant(PGconn *c, int64_t tenant_id, int64_t after, int64_t limit,
				      struct ledger_entry **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_i64(&p, tenant_id);
	struct ledger_entry e;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &e.id),
		DB_COL("at_us", DB_I64, &e.at_us),
		DB_COL_TEXT("kind", e.kind),
		DB_COL("amount_minor", DB_I64, &e.amount_minor),
		DB_COL("balance_after_minor", DB_I64, &e.balance_after_minor),
		DB_COL("ref", DB_TEXT_NEW, &e.ref_json),
		{0},
	};
	return db_exec_rows(c, "ledger_list", &p, spec, &e, sizeof e, (void **)out, n);
}

void store_ledger_entries_free(struct ledger_entry *e, int n)
{
	for (int i = 0; e && i < n; i++)
		free(e[i].ref_json);
	free(e);
}
