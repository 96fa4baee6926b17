/* wechat.h: the WeChat official account's access token, shared by every process through
 * the table wechat_tokens (migration 0022): read it, and refresh it under the row's lock so
 * that processes refreshing at once fetch one token between them. The token is a
 * credential: nothing here logs it. */
#ifndef WATTLE_STORE_WECHAT_H
#define WATTLE_STORE_WECHAT_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct wechat_token {
	char access_token[600]; /* WeChat's are 512 characters at most; "" for the placeholder row */
	int64_t generation;     /* 0: the placeholder (no token yet); bumped at each refresh */
	int64_t expires_us;     /* unix microseconds, the database's clock */
	bool fresh;             /* usable: its expiry is more than the margin away (the database decides,
				 * with its own now(), so every process agrees whatever its clock) */
};

/* The refresh margin: a token is refreshed this long before it expires, or a quarter of its
 * life for short-lived ones (a test's 2 s token is good for 1.5 s). In seconds. */
#define WECHAT_TOKEN_MARGIN_S 300

/* appid's token, without a lock. *found false when no process ever stored one. */
enum db_status store_wechat_token_get(PGconn *c, const char *appid, struct wechat_token *out, bool *found);

/* Outside any transaction (DB_HARD otherwise): begin one and lock appid's row (inserting the placeholder, generation 0 and
 * expired, when there is none), waiting for another process's refresh to end (at most 15 s:
 * lock_timeout). *out what the row holds after the wait. On DB_OK the transaction is open:
 * end it with store_wechat_token_save or store_wechat_token_release. On an error it is
 * rolled back already. */
enum db_status store_wechat_token_lock(PGconn *c, const char *appid, struct wechat_token *out);

/* In the transaction of store_wechat_token_lock: store a new token valid for expires_in_s from
 * now (the database's), bump the generation, and commit. *out the row as stored. */
enum db_status store_wechat_token_save(PGconn *c, const char *appid, const char *access_token,
				       int64_t expires_in_s, struct wechat_token *out);

/* End the transaction of store_wechat_token_lock without a change (rolled back). */
void store_wechat_token_release(PGconn *c);

void store_wechat_register(void);

#endif
