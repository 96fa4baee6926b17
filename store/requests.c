/* requests.c: the SQL of the audit log and the idempotency keys (requests.h). */
#include "store/requests.h"

#include <string.h>

static const struct db_stmt request_stmts[] = {
	{"audit_insert", /* store_audit_insert */
	 "INSERT INTO audit_log (at, api_key_id, role, method, path, request_id, action, target)"
	 " VALUES (" SQL_TS("$1") ", $2, $3, $4, $5, $6, $7, $8::jsonb)"},
	{"idem_claim", /* store_idem_claim */
	 "INSERT INTO idempotency_keys (api_key_id, idem_key, method, path, body_sha256, created_at)"
	 " VALUES ($1, $2, $3, $4, $5, " SQL_TS("$6") ") ON CONFLICT DO NOTHING RETURNING 1 AS claimed"},
	{"idem_get", /* store_idem_claim */
	 "SELECT method, path, body_sha256, coalesce(status, 0) AS status, coalesce(response, '') AS response"
	 " FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2"},
	{"idem_store", /* store_idem_store */
	 "UPDATE idempotency_keys SET status = $3, response = $4"
	 " WHERE api_key_id = $1 AND idem_key = $2"},
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
	return db_exec_void(c, "audit_insert", &p);
}

enum db_status store_idem_claim(PGconn *c, int64_t key_id, const char *key, const char *method, const char *path,
				const char *body_sha256, int64_t now_us, bool *claimed, struct idem_row *seen,
				bool *found)
{
	memset(seen, 0, sizeof *seen);
	*found = false;
	struct db_params p = {0};
	db_p_i64(&p, key_id);
	db_p_text(&p, key);
	db_p_text(&p, method);
	db_p_text(&p, path);
	db_p_text(&p, body_sha256);
	db_p_i64(&p, now_us);
	bool one = false;
	int flag;
	struct db_col claim[] = {DB_COL("claimed", DB_INT, &flag), {0}};
	enum db_status st = db_exec_row(c, "idem_claim", &p, claim, &one);
	*claimed = one;
	if (st != DB_OK || one)
		return st;
	db_p_i64(&p, key_id);
	db_p_text(&p, key);
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

enum db_status store_idem_store(PGconn *c, int64_t key_id, const char *key, int64_t status, const char *response)
{
	struct db_params p = {0};
	db_p_i64(&p, key_id);
	db_p_text(&p, key);
	db_p_i64(&p, status);
	db_p_text(&p, response ? response : "");
	return db_exec_void(c, "idem_store", &p);
}
