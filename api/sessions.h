/* sessions.h: what the HTTP engine (server/http.c) and the server's start need of browser
 * sessions (api/sessions.c): the settings, the cookie, who a cookie is, and its CSRF check. */
#ifndef WATTLE_API_SESSIONS_H
#define WATTLE_API_SESSIONS_H

#include "api/req.h"
#include "core/password.h"

#include <stdbool.h>
#include <stdint.h>

#define SESSION_COOKIE "wattle_session"

struct api_session_settings {
	int64_t idle_s;         /* WATTLE_SESSION_IDLE_S: a session unused this long has expired */
	const char *public_url; /* WATTLE_PUBLIC_URL: https:// makes the cookie Secure */
	/* `wattle demo` only (serve --demo-login-code PHONE:CODE, never the environment): the
	 * code this one tenant phone is always sent. NULL: none. */
	const char *demo_phone, *demo_code;
};
/* Before serving; strings borrowed for the server's life. Registers the sign-in counters. */
void api_sessions_configure(const struct api_session_settings *s);

/* The request's session cookie (64 hex digits) into out[SESSION_TOKEN_LEN+1]: 1, or 0 when
 * it has none (or a malformed one). */
int api_session_token(struct req *rq, char *out);

/* Who the session of token is: 1 with rq->who filled (key_id 0, session_id and user_id set)
 * and last_seen_at written when due; 0 with 401 set (unknown, ended, expired, its user
 * disabled); -1 with 503 set. */
int api_session_authenticate(struct req *rq, const char *token);

/* Whether the request's X-CSRF-Token is the session's (constant time). */
bool api_session_csrf_ok(struct req *rq, const char *token);

void api_sessions_create(struct req *rq);
void api_sessions_current(struct req *rq);
void api_sessions_delete(struct req *rq);
void api_sessions_otp(struct req *rq);
void api_users_create(struct req *rq);
void api_users_list(struct req *rq);
void api_users_get(struct req *rq);
void api_users_patch(struct req *rq);

#endif
