/* sessions.c: the SQL of browser sessions and login codes (sessions.h). */
#include "store/sessions.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

static const struct db_stmt session_stmts[] = {
	{"session_insert", /* store_session_insert */
	 "INSERT INTO sessions (token_hash, kind, role, user_id, tenant_id, created_at, last_seen_at)"
	 " VALUES ($1, $2, $3, $4::bigint, $5::bigint, " SQL_TS("$6") ", " SQL_TS("$6") ") RETURNING id"},
	{"session_lookup", /* srv_session_lookup: a password session takes its user's role as it is now */
	 "SELECT s.id, coalesce(s.user_id, 0) AS user_id, coalesce(u.username, '') AS username,"
	 " coalesce(u.role, s.role) AS role, coalesce(CASE WHEN u.id IS NULL THEN s.tenant_id ELSE u.tenant_id END, 0)"
	 " AS tenant_id, coalesce(u.site_ids, '{}') AS site_ids, s.kind, coalesce(t.phone, '') AS phone,"
	 " " SQL_US("s.last_seen_at") " AS last_seen_us"
	 " FROM sessions s LEFT JOIN users u ON u.id = s.user_id LEFT JOIN tenants t ON s.kind = 'otp' AND t.id = s.tenant_id"
	 " WHERE s.token_hash = $1 AND s.ended_at IS NULL AND (u.id IS NULL OR NOT u.disabled)"},
	{"session_touch", /* srv_session_touch: never backwards */
	 "UPDATE sessions SET last_seen_at = " SQL_TS("$2") " WHERE id = $1 AND last_seen_at < " SQL_TS("$2")},
	{"session_end", /* store_session_end */
	 "UPDATE sessions SET ended_at = " SQL_TS("$2") " WHERE id = $1 AND ended_at IS NULL"},
	{"sessions_end_user", /* store_sessions_end_user */
	 "UPDATE sessions SET ended_at = " SQL_TS("$2") " WHERE user_id = $1 AND ended_at IS NULL"},
	{"codes_since", /* store_codes_since */
	 "SELECT count(*) AS n FROM login_codes WHERE phone = $1 AND created_at >= " SQL_TS("$2")},
	{"code_insert", /* store_code_insert */
	 "INSERT INTO login_codes (phone, tenant_id, code_hash, created_at, expires_at)"
	 " VALUES ($1, $2, $3, " SQL_TS("$4") ", " SQL_TS("$5") ") RETURNING id"},
	{"code_latest", /* store_code_latest: the newest only (asking for a new code retires the old) */
	 "SELECT id, tenant_id, code_hash, tries, used_at IS NOT NULL AS used, " SQL_US("expires_at") " AS expires_us"
	 " FROM login_codes WHERE phone = $1 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE"},
	{"code_wrong", /* store_code_wrong */
	 "UPDATE login_codes SET tries = tries + 1 WHERE id = $1"},
	{"code_use", /* store_code_use */
	 "UPDATE login_codes SET used_at = " SQL_TS("$2") " WHERE id = $1"},
	{"tenant_by_phone", /* store_tenant_by_phone */
	 "SELECT id, site_id FROM tenants WHERE phone = $1 AND status = 'active' ORDER BY id LIMIT 1"},
	{0, 0},
};

void store_sessions_register(void) { db_register(session_stmts); }

enum db_status store_session_insert(PGconn *c, const char *token_hash, const char *kind, const char *role,
				    int64_t user_id, int64_t tenant_id, int64_t now_us, int64_t *id)
{
	struct db_params p = {0};
	db_p_text(&p, token_hash);
	db_p_text(&p, kind);
	db_p_text(&p, role);
	db_p_id(&p, user_id);
	db_p_id(&p, tenant_id);
	db_p_i64(&p, now_us);
	struct db_col spec[] = {DB_COL("id", DB_I64, id), {0}};
	return db_exec_row(c, "session_insert", &p, spec, NULL);
}

int srv_session_lookup(const char *token_hash, struct session_view *out)
{
	memset(out, 0, sizeof *out);
	PGconn *c = db_conn();
	if (!c)
		return -1;
	struct db_params p = {0};
	db_p_text(&p, token_hash);
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &out->id),
		DB_COL("user_id", DB_I64, &out->user_id),
		DB_COL_TEXT("username", out->username),
		DB_COL_TEXT("role", out->role),
		DB_COL("tenant_id", DB_I64, &out->tenant_id),
		DB_COL_ARRAY("site_ids", &out->site_ids, &out->n_sites),
		DB_COL_TEXT("kind", out->kind),
		DB_COL_TEXT("phone", out->phone),
		DB_COL("last_seen_us", DB_I64, &out->last_seen_us),
		{0},
	};
	bool found = false;
	enum db_status st = db_exec_row(c, "session_lookup", &p, spec, &found);
	if (st == DB_GONE)
		db_conn_reset();
	if (st != DB_OK)
		return -1;
	return found;
}

void srv_session_touch(int64_t id, int64_t now_us)
{
	PGconn *c = db_conn();
	if (!c)
		return;
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	enum db_status st = db_exec_void(c, "session_touch", &p);
	if (st == DB_GONE)
		db_conn_reset();
	else if (st != DB_OK)
		srv_log(LOG_WARN, "sessions: the last request of session %lld was not written", (long long)id);
}

enum db_status store_session_end(PGconn *c, int64_t id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "session_end", &p);
}

enum db_status store_sessions_end_user(PGconn *c, int64_t user_id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, user_id);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "sessions_end_user", &p);
}

enum db_status store_codes_since(PGconn *c, const char *phone, int64_t since_us, int64_t *n)
{
	struct db_params p = {0};
	db_p_text(&p, phone);
	db_p_i64(&p, since_us);
	*n = 0;
	struct db_col spec[] = {DB_COL("n", DB_I64, n), {0}};
	return db_exec_row(c, "codes_since", &p, spec, NULL);
}

enum db_status store_code_insert(PGconn *c, const char *phone, int64_t tenant_id, const char *code_hash,
				 int64_t now_us, int64_t expires_us, int64_t *id)
{
	struct db_params p = {0};
	db_p_text(&p, phone);
	db_p_i64(&p, tenant_id);
	db_p_text(&p, code_hash);
	db_p_i64(&p, now_us);
	db_p_i64(&p, expires_us);
	struct db_col spec[] = {DB_COL("id", DB_I64, id), {0}};
	return db_exec_row(c, "code_insert", &p, spec, NULL);
}

enum db_status store_code_latest(PGconn *c, const char *phone, struct login_code *out, bool *found)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_text(&p, phone);
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &out->id),
		DB_COL("tenant_id", DB_I64, &out->tenant_id),
		DB_COL_TEXT("code_hash", out->code_hash),
		DB_COL("tries", DB_INT, &out->tries),
		DB_COL("used", DB_BOOL, &out->used),
		DB_COL("expires_us", DB_I64, &out->expires_us),
		{0},
	};
	return db_exec_row(c, "code_latest", &p, spec, found);
}

enum db_status store_code_wrong(PGconn *c, int64_t id)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	return db_exec_void(c, "code_wrong", &p);
}

enum db_status store_code_use(PGconn *c, int64_t id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "code_use", &p);
}

enum db_status store_tenant_by_phone(PGconn *c, const char *phone, int64_t *tenant_id, int64_t *site_id)
{
	struct db_params p = {0};
	db_p_text(&p, phone);
	*tenant_id = *site_id = 0;
	struct db_col spec[] = {DB_COL("id", DB_I64, tenant_id), DB_COL("site_id", DB_I64, site_id), {0}};
	return db_exec_row(c, "tenant_by_phone", &p, spec, NULL);
}
