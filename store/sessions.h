/* sessions.h: browser sessions (a row per sign-in, found by the SHA-256 of its cookie) and the
 * one-time codes tenants sign in with by phone. Tokens and codes are made in core/password.h;
 * only their hashes reach the database. */
#ifndef WATTLE_STORE_SESSIONS_H
#define WATTLE_STORE_SESSIONS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* A live session as a request sees it: for a password session its user's role, tenant and
 * sites as they are now (a role changed by an admin applies at the next request). */
struct session_view {
	int64_t id;
	int64_t user_id;   /* 0: a tenant's phone session */
	char username[208]; /* "" for a phone session */
	char role[16];
	int64_t tenant_id;  /* 0: none */
	int64_t *site_ids;  /* new: caller frees */
	int n_sites;
	char kind[16];      /* "password" or "otp" */
	char phone[24];     /* the phone of an otp session's tenant, else "" */
	int64_t last_seen_us;
};

/* Insert a session: token_hash (hex SHA-256 of the cookie), kind, role, user (0 for otp),
 * tenant (0: none). *id the new row's. */
enum db_status store_session_insert(PGconn *c, const char *token_hash, const char *kind, const char *role,
				    int64_t user_id, int64_t tenant_id, int64_t now_us, int64_t *id);

/* The session whose cookie hashes to token_hash, not ended and, for a password session,
 * whose user is not disabled. 1 found, 0 not, -1 the database cannot be asked (on this
 * thread's connection, outside a transaction). */
int srv_session_lookup(const char *token_hash, struct session_view *out);

/* Write the session's last_seen_at (outside a transaction; errors are logged and ignored:
 * a missed touch shortens the session, never lengthens it). */
void srv_session_touch(int64_t id, int64_t now_us);

/* End a session (sign-out), or every live session of a user (disabled, password reset). */
enum db_status store_session_end(PGconn *c, int64_t id, int64_t now_us);
enum db_status store_sessions_end_user(PGconn *c, int64_t user_id, int64_t now_us);

/* Login codes. How many were made for phone since since_us (the hourly limit). */
enum db_status store_codes_since(PGconn *c, const char *phone, int64_t since_us, int64_t *n);
/* Insert a code for phone and tenant, valid until expires_us; code_hash its hash. */
enum db_status store_code_insert(PGconn *c, const char *phone, int64_t tenant_id, const char *code_hash,
				 int64_t now_us, int64_t expires_us, int64_t *id);

/* The newest code of phone, locked for update: its id, tenant, hash, tries, whether used and
 * when it expires. *found false when phone has none. */
struct login_code {
	int64_t id, tenant_id, expires_us;
	char code_hash[65];
	int tries;
	bool used;
};
enum db_status store_code_latest(PGconn *c, const char *phone, struct login_code *out, bool *found);
/* A wrong try (counted), or the code used (at now_us). */
enum db_status store_code_wrong(PGconn *c, int64_t id);
enum db_status store_code_use(PGconn *c, int64_t id, int64_t now_us);

/* The first active tenant whose phone is phone: *tenant_id, 0 when none (and its site). */
enum db_status store_tenant_by_phone(PGconn *c, const char *phone, int64_t *tenant_id, int64_t *site_id);

void store_sessions_register(void);

#endif
