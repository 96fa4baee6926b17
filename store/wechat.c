/* wechat.c: the SQL of the WeChat official account's shared access token (wechat.h). */
#include "store/wechat.h"

#include <stdio.h>
#include <string.h>

/* Fresh: more than the margin (300 s, or a quarter of the token's life when that is shorter)
 * before its expiry, by the database's clock (clock_timestamp: the moment of the statement,
 * not of the transaction's start, which may have waited for a lock). */
#define TOKEN_COLS                                                                                      \
	"access_token, generation, " SQL_US("expires_at") " AS expires_us,"                            \
	" expires_at - least(interval '1 second' * $2::int, (expires_at - fetched_at) / 4) > clock_timestamp()" \
	" AS fresh"

static const struct db_stmt wechat_stmts[] = {
	{"wechat_token_get", /* store_wechat_token_get */
	 "SELECT " TOKEN_COLS " FROM wechat_tokens WHERE appid = $1"},
	{"wechat_begin", /* store_wechat_token_lock */
	 "BEGIN"},
	{"wechat_lock_timeout", /* store_wechat_token_lock: a refresh holds the lock for one HTTP call (<= 10 s) */
	 "SELECT set_config('lock_timeout', '15s', true)"},
	{"wechat_token_placeholder", /* store_wechat_token_lock: a row to lock when no token was ever fetched;
				      * a second inserter waits for the first's commit, then inserts nothing */
	 "INSERT INTO wechat_tokens (appid, access_token, expires_at, fetched_at, generation)"
	 " VALUES ($1, '', 'epoch', 'epoch', 0) ON CONFLICT (appid) DO NOTHING"},
	{"wechat_token_lock", /* store_wechat_token_lock */
	 "SELECT " TOKEN_COLS " FROM wechat_tokens WHERE appid = $1 FOR UPDATE"},
	{"wechat_token_save", /* store_wechat_token_save */
	 "UPDATE wechat_tokens SET access_token = $3, fetched_at = clock_timestamp(),"
	 " expires_at = clock_timestamp() + interval '1 second' * $4::bigint, generation = generation + 1"
	 " WHERE appid = $1 RETURNING " TOKEN_COLS},
	{"wechat_commit", /* store_wechat_token_save */
	 "COMMIT"},
	{"wechat_rollback", /* store_wechat_token_lock, store_wechat_token_release */
	 "ROLLBACK"},
	{0, 0},
};

void store_wechat_register(void) { db_register(wechat_stmts); }

#define TOKEN_SPEC(x)                                                                                   \
	{DB_COL_TEXT("access_token", (x)->access_token), DB_COL("generation", DB_I64, &(x)->generation), \
	 DB_COL("expires_us", DB_I64, &(x)->expires_us), DB_COL("fresh", DB_BOOL, &(x)->fresh), {0}}

static void appid_margin(struct db_params *p, const char *appid)
{
	db_p_text(p, appid);
	db_p_i64(p, WECHAT_TOKEN_MARGIN_S);
}

enum db_status store_wechat_token_get(PGconn *c, const char *appid, struct wechat_token *out, bool *found)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	appid_margin(&p, appid);
	struct db_col spec[] = TOKEN_SPEC(out);
	return db_exec_row(c, "wechat_token_get", &p, spec, found);
}

static void rollback(PGconn *c)
{
	struct db_params p = {0};
	(void)db_exec_void(c, "wechat_rollback", &p);
}

enum db_status store_wechat_token_lock(PGconn *c, const char *appid, struct wechat_token *out)
{
	memset(out, 0, sizeof *out);
	/* inside the caller's transaction, BEGIN would be a warning and the COMMIT of
	 * store_wechat_token_save would commit the caller's work: refused */
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		return DB_HARD;
	struct db_params p = {0};
	enum db_status s = db_exec_void(c, "wechat_begin", &p);
	if (s != DB_OK)
		return s;
	struct db_params q = {0};
	if ((s = db_exec_void(c, "wechat_lock_timeout", &q)) != DB_OK)
		goto fail;
	struct db_params r = {0};
	db_p_text(&r, appid);
	if ((s = db_exec_void(c, "wechat_token_placeholder", &r)) != DB_OK)
		goto fail;
	struct db_params t = {0};
	appid_margin(&t, appid);
	struct db_col spec[] = TOKEN_SPEC(out);
	bool found = false;
	if ((s = db_exec_row(c, "wechat_token_lock", &t, spec, &found)) != DB_OK)
		goto fail;
	if (!found) { /* cannot be: the placeholder is there, and rows are never deleted */
		s = DB_HARD;
		goto fail;
	}
	return DB_OK;
fail:
	if (PQstatus(c) == CONNECTION_OK)
		rollback(c);
	return s;
}

enum db_status store_wechat_token_save(PGconn *c, const char *appid, const char *access_token,
				       int64_t expires_in_s, struct wechat_token *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	appid_margin(&p, appid);
	db_p_text(&p, access_token);
	db_p_i64(&p, expires_in_s);
	struct db_col spec[] = TOKEN_SPEC(out);
	bool found = false;
	enum db_status s = db_exec_row(c, "wechat_token_save", &p, spec, &found);
	if (s == DB_OK && !found)
		s = DB_HARD;
	if (s != DB_OK) {
		if (PQstatus(c) == CONNECTION_OK)
			rollback(c);
		return s;
	}
	struct db_params q = {0};
	return db_exec_void(c, "wechat_commit", &q);
}

void store_wechat_token_release(PGconn *c)
{
	if (PQstatus(c) == CONNECTION_OK)
		rollback(c);
}
