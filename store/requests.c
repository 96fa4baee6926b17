/* requests.c: the SQL of the audit log and the idempotency keys (requests.h). */
#include "store/requests.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

static const struct db_stmt request_stmts[] = {
	{"audit_insert", /* store_audit_insert: the next place in the chain and its hash, from the
			    head (whose row lock orders concurrent writers), and the row */
	 "WITH v AS (SELECT " SQL_TS("$1") " AS ts, $8::jsonb AS tg),"
	 " h AS (UPDATE audit_head SET seq = seq + 1, prev = hash,"
	 "  hash = audit_hash(hash, seq + 1, (SELECT ts FROM v), $2, $3, $4, $5, $6, $7, (SELECT tg FROM v), $9, $10)"
	 "  WHERE one RETURNING seq, prev, hash)"
	 " INSERT INTO audit_log (at, api_key_id, role, method, path, request_id, action, target, client_addr,"
	 "  chain_seq, prev_hash, hash, user_id)"
	 " SELECT v.ts, $2, $3, $4, $5, $6, $7, v.tg, $9, h.seq, h.prev, h.hash, $10 FROM v, h RETURNING chain_seq"},
	{"audit_list", /* store_audit_list */
	 "SELECT id, " SQL_US("at") " AS at_us, coalesce(api_key_id, 0) AS key_id, coalesce(user_id, 0) AS user_id, role, method, path,"
	 " request_id, action, target::text AS target, coalesce(client_addr, '') AS client_addr, chain_seq, encode(hash, 'hex') AS hash"
	 " FROM audit_log WHERE id > $1 AND ($3::bigint IS NULL OR api_key_id = $3)"
	 " AND ($4::text IS NULL OR jsonb_path_exists(target, '$.** ? (@ == $r)', jsonb_build_object('r', $4::text)))"
	 " AND ($5::bigint IS NULL OR at >= " SQL_TS("$5") ") AND ($6::text IS NULL OR action = $6)"
	 " ORDER BY id LIMIT $2"},
	/* An Idempotency-Key's owner is one of a key ($1), a user ($7) and a session ($8); the
	 * others are NULL, so only one arm of each OR can match (each has its unique index). */
	{"idem_claim", /* store_idem_claim */
	 "INSERT INTO idempotency_keys (api_key_id, idem_key, method, path, body_sha256, created_at, user_id, session_id)"
	 " VALUES ($1, $2, $3, $4, $5, " SQL_TS("$6") ", $7, $8) ON CONFLICT DO NOTHING RETURNING 1 AS claimed"},
	{"idem_get", /* store_idem_claim */
	 "SELECT method, path, body_sha256, coalesce(status, 0) AS status, coalesce(response, '') AS response"
	 " FROM idempotency_keys WHERE idem_key = $2"
	 " AND (api_key_id = $1::bigint OR user_id = $3::bigint OR session_id = $4::bigint)"},
	{"idem_store", /* store_idem_store */
	 "UPDATE idempotency_keys SET status = $3, response = $4"
	 " WHERE idem_key = $2 AND (api_key_id = $1::bigint OR user_id = $5::bigint OR session_id = $6::bigint)"},
	{0, 0},
};

void store_requests_register(void) { db_register(request_stmts); }

enum db_status store_audit_insert(PGconn *c, const struct audit_row *a, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	db_p_id(&p, a->key_id);
	db_p_text(&p, a->role);
	db_p_text(&p, a->method);
	db_p_text(&p, a->path);
	db_p_text(&p, a->request_id);
	db_p_text(&p, a->action);
	db_p_text(&p, a->target_json);
	db_p_text(&p, a->client_addr && a->client_addr[0] ? a->client_addr : NULL);
	db_p_id(&p, a->user_id);
	int64_t seq;
	bool found;
	struct db_col spec[] = {DB_COL("chain_seq", DB_I64, &seq), {0}};
	enum db_status st = db_exec_row(c, "audit_insert", &p, spec, &found);
	if (st == DB_OK && !found) { /* no head row: writing nothing would turn auditing off unseen */
		srv_log(LOG_ERROR, "audit: the chain's head row (audit_head) is missing; refusing the change");
		return DB_HARD;
	}
	return st;
}

void store_audit_entries_free(struct audit_entry *v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].target_json);
	}
	free(v);
}

enum db_status store_audit_list(PGconn *c, int64_t after, int64_t limit, const struct audit_filter *f,
				struct audit_entry **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, f->key_id);
	db_p_text(&p, f->resource);
	db_p_i64_if(&p, f->has_since, f->since_us);
	db_p_text(&p, f->action);
	struct audit_entry x;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x.id),
		DB_COL("at_us", DB_I64, &x.at_us),
		DB_COL("key_id", DB_I64, &x.key_id),
		DB_COL("user_id", DB_I64, &x.user_id),
		DB_COL_TEXT("role", x.role),
		DB_COL_TEXT("method", x.method),
		DB_COL("path", DB_TEXT_NEW, &x.path),
		DB_COL_TEXT("request_id", x.request_id),
		DB_COL_TEXT("action", x.action),
		DB_COL("target", DB_TEXT_NEW, &x.target_json),
		DB_COL_TEXT("client_addr", x.client_addr),
		DB_COL("chain_seq", DB_I64, &x.chain_seq),
		DB_COL_TEXT("hash", x.hash),
		{0},
	};
	return db_exec_rows(c, "audit_list", &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_idem_claim(PGconn *c, const struct idem_owner *o, const char *key, const char *method, const char *path,
				const char *body_sha256, int64_t now_us, bool *claimed, struct idem_row *seen,
				bool *found)
{
	memset(seen, 0, sizeof *seen);
	*found = false;
	struct db_params p = {0};
	db_p_id(&p, o->key_id);
	db_p_text(&p, key);
	db_p_text(&p, method);
	db_p_text(&p, path);
	db_p_text(&p, body_sha256);
	db_p_i64(&p, now_us);
	db_p_id(&p, o->user_id);
	db_p_id(&p, o->session_id);
	bool one = false;
	int flag;
	struct db_col claim[] = {DB_COL("claimed", DB_INT, &flag), {0}};
	enum db_status st = db_exec_row(c, "idem_claim", &p, claim, &one);
	*claimed = one;
	if (st != DB_OK || one)
		return st;
	db_p_id(&p, o->key_id);
	db_p_text(&p, key);
	db_p_id(&p, o->user_id);
	db_p_id(&p, o->session_id);
	struct db_col spec[] = {
		DB_COL_TEXT("method", seen->method),
		DB_COL("path", DB_TEXT_NEW, &seen->path),
		DB_COL_TEXT("body_sha256", seen->body_sha256),
		DB_COL("status", DB_I64, &seen->status),
		DB_COL("response", DB_TEXT_NEW, &seen->response),
		{0},
	};
	return db_exec_row(c, "idem_get", &p, spec, found);
}

enum db_status store_idem_store(PGconn *c, const struct idem_owner *o, const char *key, int64_t status,
				const char *response)
{
	struct db_params p = {0};
	db_p_id(&p, o->key_id);
	db_p_text(&p, key);
	db_p_i64(&p, status);
	db_p_text(&p, response ? response : "");
	db_p_id(&p, o->user_id);
	db_p_id(&p, o->session_id);
	return db_exec_void(c, "idem_store", &p);
}
