/* sessions.c: people signing in: POST /v1/sessions (username and password), GET and DELETE
 * /v1/sessions/current, POST /v1/sessions/otp (a tenant by phone and a one-time SMS code);
 * and what the engine asks of a request that comes with the session cookie (who it is, and
 * whether its X-CSRF-Token is the session's). */
#include "api/api.h"
#include "api/metrics.h"
#include "api/sessions.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/msgtext.h"
#include "core/password.h"
#include "store/outbox.h"
#include "store/sessions.h"
#include "store/users.h"

_Static_assert(USER_SITES_MAX <= AUTH_SITES_MAX, "a user's sites fit in struct auth");

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US INT64_C(1000000)
#define LOCK_AFTER 5                      /* wrong passwords in a row */
#define LOCK_US (INT64_C(15) * 60 * US)   /* for 15 minutes */
#define CODE_TTL_US (INT64_C(5) * 60 * US) /* a login code is valid 5 minutes */
#define CODE_TRIES 5                      /* wrong tries burn it */
#define CODES_PER_HOUR 3                  /* codes one phone may be sent in an hour */

static int64_t idle_us = 1800 * US;
static bool secure;
static char demo_phone[24], demo_code[LOGIN_CODE_LEN + 1];

enum { SIGN_OK, SIGN_BAD_PASSWORD, SIGN_LOCKED, SIGN_OTP_OK, SIGN_OTP_BAD, SIGN__COUNT };
static const char *const sign_labels[SIGN__COUNT] = {"outcome=\"ok\"", "outcome=\"bad_password\"",
						     "outcome=\"locked\"", "outcome=\"otp_ok\"",
						     "outcome=\"otp_bad\""};
static _Atomic uint64_t sign_v[SIGN__COUNT];
static struct srv_counters sign_ins = {
	"wattle_sign_ins_total",
	"Sign-ins by outcome: ok, bad_password (or unknown user), locked (refused while locked), otp_ok, otp_bad"
	" (a wrong, used, expired or burnt code)",
	SIGN__COUNT, sign_labels, sign_v, NULL};

void api_sessions_configure(const struct api_session_settings *s)
{
	idle_us = (s->idle_s > 0 ? s->idle_s : 1800) * US;
	secure = s->public_url && !strncmp(s->public_url, "https://", 8);
	demo_phone[0] = demo_code[0] = 0;
	if (s->demo_phone && s->demo_code && strlen(s->demo_code) == LOGIN_CODE_LEN &&
	    strspn(s->demo_code, "0123456789") == LOGIN_CODE_LEN) {
		snprintf(demo_phone, sizeof demo_phone, "%s", s->demo_phone);
		snprintf(demo_code, sizeof demo_code, "%s", s->demo_code);
	}
	srv_counters_register(&sign_ins);
}

int api_session_token(struct req *rq, char *out)
{
	const char *v = rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_COOKIE_KIND, SESSION_COOKIE) : NULL;
	if (!v || strlen(v) != SESSION_TOKEN_LEN || strspn(v, "0123456789abcdef") != SESSION_TOKEN_LEN)
		return 0;
	memcpy(out, v, SESSION_TOKEN_LEN + 1);
	return 1;
}

/* How often last_seen_at is written: once a minute, or more often when sessions expire
 * sooner than two minutes (so a busy session never expires between two writes). */
static int64_t touch_every_us(void) { return idle_us / 2 < 60 * US ? idle_us / 2 : 60 * US; }

/* The session of token, alive at now: 1 (*v filled; v->site_ids new), 0 none or expired, -1
 * the database cannot be asked. */
static int session_find(const char *token, int64_t now, struct session_view *v)
{
	char hash[KEY_HASH_LEN + 1];
	srv_key_hash(token, hash);
	int found = srv_session_lookup(hash, v);
	if (found == 1 && now - v->last_seen_us > idle_us) {
		free(v->site_ids);
		v->site_ids = NULL;
		found = 0;
	}
	return found;
}

int api_session_authenticate(struct req *rq, const char *token)
{
	int64_t now = srv_clock_now_us();
	struct session_view v;
	int found = session_find(token, now, &v);
	if (found < 0) {
		api_error(rq, E_DB_UNAVAILABLE, NULL, NULL);
		return -1;
	}
	if (!found) {
		api_error(rq, E_UNAUTHORIZED, NULL, "the session has expired or was ended; sign in again");
		return 0;
	}
	rq->who = (struct auth){0};
	rq->who.role = srv_role_parse(v.role);
	rq->who.tenant_id = v.tenant_id;
	rq->who.session_id = v.id;
	rq->who.user_id = v.user_id;
	if (rq->who.role & (ROLE_FINANCE | ROLE_OPERATOR))
		for (int i = 0; i < v.n_sites && i < AUTH_SITES_MAX; i++)
			rq->who.sites[rq->who.n_sites++] = v.site_ids[i];
	free(v.site_ids);
	if (now - v.last_seen_us >= touch_every_us())
		srv_session_touch(v.id, now);
	return 1;
}

bool api_session_csrf_ok(struct req *rq, const char *token)
{
	const char *h = api_header(rq, "X-CSRF-Token");
	char want[CSRF_TOKEN_LEN + 1];
	srv_csrf_token(token, want);
	return h && srv_str_equal_ct(h, want);
}

/* Set-Cookie for a new session (lax: the tenant's, opened from a QR code), or one that ends
 * it. Secure when wattle is reached over https (WATTLE_PUBLIC_URL, or the TLS front says so). */
static void set_cookie(struct req *rq, const char *token, bool lax)
{
	const char *proto = api_header(rq, "X-Forwarded-Proto");
	bool sec = secure || (proto && !strcmp(proto, "https"));
	if (token)
		snprintf(rq->set_cookie, sizeof rq->set_cookie, SESSION_COOKIE "=%s; HttpOnly; SameSite=%s; Path=/%s",
			 token, lax ? "Lax" : "Strict", sec ? "; Secure" : "");
	else
		snprintf(rq->set_cookie, sizeof rq->set_cookie,
			 SESSION_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s", sec ? "; Secure" : "");
}

/* {"csrf_token","user":{...},"expires_at"} of a session. */
static json_t *session_json(const char *token, const struct session_view *v, int64_t last_seen_us)
{
	char csrf[CSRF_TOKEN_LEN + 1];
	srv_csrf_token(token, csrf);
	json_t *sites = json_array();
	for (int i = 0; i < v->n_sites; i++)
		json_array_append_new(sites, api_id_json(ID_SITE, v->site_ids[i]));
	json_t *user = json_pack("{s:o, s:s, s:s, s:o, s:o}", "id", v->user_id ? api_id_json(ID_USER, v->user_id) : json_null(),
				 "username", v->user_id ? v->username : v->phone, "role", v->role, "tenant_id",
				 v->tenant_id ? api_id_json(ID_TENANT, v->tenant_id) : json_null(), "site_ids", sites);
	return json_pack("{s:s, s:o, s:o}", "csrf_token", csrf, "user", user, "expires_at",
			 api_time_json(last_seen_us + idle_us));
}

/* ---- POST /v1/sessions ---- */

struct login_tx {
	struct req *rq;
	struct user *u;
	bool right;
	char token[SESSION_TOKEN_LEN + 1];
	int64_t session_id, now;
	bool locked_now, ok;
};

static enum db_status login_tx(PGconn *c, void *arg)
{
	struct login_tx *t = arg;
	enum db_status st;
	t->ok = t->locked_now = false;
	if (!t->right)
		return store_user_login_failed(c, t->u->id, LOCK_AFTER, t->now + LOCK_US, &t->locked_now);
	if ((st = store_user_login_ok(c, t->u->id, t->now, &t->ok)) != DB_OK || !t->ok)
		return st;
	char hash[KEY_HASH_LEN + 1];
	srv_key_hash(t->token, hash);
	return store_session_insert(c, hash, "password", t->u->role, t->u->id, t->u->tenant_id, t->now, &t->session_id);
}

static void reply_locked(struct req *rq, int64_t until_us, int64_t now)
{
	int64_t s = (until_us - now + US - 1) / US;
	rq->retry_after = s > 0 ? s : 1;
	srv_counters_add(&sign_ins, SIGN_LOCKED, 1);
	api_error(rq, E_LOCKED, json_pack("{s:I}", "retry_after_s", (json_int_t)rq->retry_after),
		  "too many wrong passwords: this user is locked; retry in %lld s", (long long)rq->retry_after);
}

void api_sessions_create(struct req *rq)
{
	static const struct field spec[] = {
		{"username", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"password", FK_TEXT, F_REQ, 0, PASSWORD_MAX, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	const char *pw = api_body_str(rq, "password");
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct user u;
	bool found;
	if (api_read_failed(rq, store_user_by_name(c, api_body_str(rq, "username"), &u, &found)))
		return;
	int64_t now = srv_clock_now_us();
	if (!found || u.disabled) { /* as long as a wrong password, and the same answer */
		srv_password_dummy_verify(pw);
		srv_counters_add(&sign_ins, SIGN_BAD_PASSWORD, 1);
		api_error(rq, E_INVALID_CREDENTIALS, NULL, NULL);
		goto out;
	}
	if (u.locked_until_us > now) {
		reply_locked(rq, u.locked_until_us, now);
		goto out;
	}
	struct login_tx t = {rq, &u, srv_password_verify(u.password_hash, pw) == 1, {0}, 0, now, false, false};
	if (t.right && srv_session_token(t.token)) {
		api_error(rq, E_INTERNAL, NULL, "no randomness for a session token");
		goto out;
	}
	if (api_tx_failed(rq, db_run_tx(login_tx, &t)))
		goto out;
	if (!t.right) {
		srv_counters_add(&sign_ins, SIGN_BAD_PASSWORD, 1);
		api_error(rq, E_INVALID_CREDENTIALS, NULL, NULL);
		goto out;
	}
	if (!t.ok) { /* locked (or disabled) between the read and the sign-in */
		reply_locked(rq, now + LOCK_US, now);
		goto out;
	}
	srv_counters_add(&sign_ins, SIGN_OK, 1);
	struct session_view v = {0};
	v.id = t.session_id;
	v.user_id = u.id;
	snprintf(v.username, sizeof v.username, "%s", u.username);
	snprintf(v.role, sizeof v.role, "%s", u.role);
	v.tenant_id = u.tenant_id;
	v.site_ids = u.site_ids;
	v.n_sites = u.n_sites;
	set_cookie(rq, t.token, false);
	api_reply(rq, 201, session_json(t.token, &v, now));
out:
	store_user_free(&u);
}

/* ---- GET and DELETE /v1/sessions/current: public routes, so a page with no session yet
 * asks without counting as a failed authentication ---- */

void api_sessions_current(struct req *rq)
{
	char token[SESSION_TOKEN_LEN + 1];
	if (!api_session_token(rq, token)) {
		api_error(rq, E_UNAUTHORIZED, NULL, "no session: sign in with POST /v1/sessions");
		return;
	}
	int64_t now = srv_clock_now_us();
	struct session_view v;
	int found = session_find(token, now, &v);
	if (found < 0) {
		api_error(rq, E_DB_UNAVAILABLE, NULL, NULL);
		return;
	}
	if (!found) {
		api_error(rq, E_UNAUTHORIZED, NULL, "the session has expired or was ended; sign in again");
		return;
	}
	int64_t seen = v.last_seen_us;
	if (now - seen >= touch_every_us()) {
		srv_session_touch(v.id, now);
		seen = now;
	}
	api_reply(rq, 200, session_json(token, &v, seen));
	free(v.site_ids);
}

struct end_tx {
	struct req *rq;
	int64_t id;
};

static enum db_status end_tx(PGconn *c, void *arg)
{
	struct end_tx *t = arg;
	return store_session_end(c, t->id, srv_clock_now_us());
}

void api_sessions_delete(struct req *rq)
{
	char token[SESSION_TOKEN_LEN + 1];
	if (api_session_token(rq, token)) {
		struct session_view v;
		int found = session_find(token, srv_clock_now_us(), &v);
		if (found < 0) {
			api_error(rq, E_DB_UNAVAILABLE, NULL, NULL);
			return;
		}
		if (found) {
			free(v.site_ids);
			if (!api_session_csrf_ok(rq, token)) {
				api_error(rq, E_CSRF_REQUIRED, NULL, NULL);
				return;
			}
			struct end_tx t = {rq, v.id};
			if (api_tx_failed(rq, db_run_tx(end_tx, &t)))
				return;
		}
	}
	set_cookie(rq, NULL, false);
	api_reply(rq, 204, NULL);
}

/* ---- POST /v1/sessions/otp ---- */

/* The hash a code is kept as: SHA-256 of the phone and the code. It keeps the code out of a
 * casual read of the table; with a million codes it is no secret against a determined one,
 * which is why a code lives 5 minutes and takes 5 tries. */
static void code_hash(const char *phone, const char *code, char *out)
{
	char s[64];
	snprintf(s, sizeof s, "%s\n%s", phone, code);
	srv_key_hash(s, out);
}

struct code_tx {
	struct req *rq;
	const char *phone;
	char code[LOGIN_CODE_LEN + 1];
	int64_t now;
};

static enum db_status code_send_tx(PGconn *c, void *arg)
{
	struct code_tx *t = arg;
	int64_t tenant, site, n;
	enum db_status st;
	if ((st = store_tenant_by_phone(c, t->phone, &tenant, &site)) != DB_OK || !tenant)
		return st;
	if ((st = store_codes_since(c, t->phone, t->now - 3600 * US, &n)) != DB_OK || n >= CODES_PER_HOUR)
		return st;
	char hash[KEY_HASH_LEN + 1];
	code_hash(t->phone, t->code, hash);
	int64_t id;
	if ((st = store_code_insert(c, t->phone, tenant, hash, t->now, t->now + CODE_TTL_US, &id)) != DB_OK)
		return st;
	/* the SMS, through the outbox as every message to a tenant: the sender renders the site's
	 * login_code template (or the default text) with {code}, by SMS alone, past the limits */
	struct msg_vars v = {0};
	snprintf(v.code, sizeof v.code, "%s", t->code);
	char *payload = msg_payload("login_code", "tenant", site, &v, NULL);
	char body[120];
	snprintf(body, sizeof body, "wattle sign-in code %s", t->code);
	struct note_order o = {tenant, "login_code", "sms", t->phone, body, payload};
	st = store_notes_queue(c, &o, 1, t->now);
	free(payload);
	return st;
}

struct otp_tx {
	struct req *rq;
	const char *phone, *code;
	char token[SESSION_TOKEN_LEN + 1];
	int64_t now, tenant_id, session_id;
	bool ok;
};

static enum db_status otp_tx(PGconn *c, void *arg)
{
	struct otp_tx *t = arg;
	struct login_code lc;
	bool found;
	enum db_status st;
	t->ok = false;
	if ((st = store_code_latest(c, t->phone, &lc, &found)) != DB_OK)
		return st;
	if (!found || lc.used || lc.tries >= CODE_TRIES || lc.expires_us <= t->now)
		return DB_OK;
	char hash[KEY_HASH_LEN + 1];
	code_hash(t->phone, t->code, hash);
	if (!srv_str_equal_ct(hash, lc.code_hash))
		return store_code_wrong(c, lc.id); /* committed: the try counts */
	if ((st = store_code_use(c, lc.id, t->now)) != DB_OK)
		return st;
	char th[KEY_HASH_LEN + 1];
	srv_key_hash(t->token, th);
	t->tenant_id = lc.tenant_id;
	t->ok = true;
	return store_session_insert(c, th, "otp", "tenant", 0, lc.tenant_id, t->now, &t->session_id);
}

void api_sessions_otp(struct req *rq)
{
	static const struct field spec[] = {
		{"phone", FK_PHONE, F_REQ, 0, 0, 0, 0},
		{"code", FK_TEXT, 0, 0, 16, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	const char *phone = api_body_str(rq, "phone"), *code = api_body_str(rq, "code");
	int64_t now = srv_clock_now_us();
	if (!code) { /* ask for a code: 202 whether or not the phone is a tenant's */
		struct code_tx t = {rq, phone, {0}, now};
		if (demo_phone[0] && !strcmp(phone, demo_phone))
			memcpy(t.code, demo_code, sizeof t.code);
		else if (srv_login_code(t.code)) {
			api_error(rq, E_INTERNAL, NULL, "no randomness for a code");
			return;
		}
		if (api_tx_failed(rq, db_run_tx(code_send_tx, &t)))
			return;
		api_reply(rq, 202, json_pack("{s:s, s:I}", "status", "sent_if_known", "expires_in_s",
					     (json_int_t)(CODE_TTL_US / US)));
		return;
	}
	if (strlen(code) != LOGIN_CODE_LEN || strspn(code, "0123456789") != LOGIN_CODE_LEN) {
		api_field_error(rq, "code", "the code is six digits");
		return;
	}
	struct otp_tx t = {rq, phone, code, {0}, now, 0, 0, false};
	if (srv_session_token(t.token)) {
		api_error(rq, E_INTERNAL, NULL, "no randomness for a session token");
		return;
	}
	if (api_tx_failed(rq, db_run_tx(otp_tx, &t)))
		return;
	if (!t.ok) {
		srv_counters_add(&sign_ins, SIGN_OTP_BAD, 1);
		api_error(rq, E_INVALID_CREDENTIALS, NULL,
			  "wrong, used or expired code (5 wrong tries burn it); ask for a new one");
		return;
	}
	srv_counters_add(&sign_ins, SIGN_OTP_OK, 1);
	struct session_view v = {0};
	v.id = t.session_id;
	snprintf(v.role, sizeof v.role, "tenant");
	snprintf(v.phone, sizeof v.phone, "%s", phone);
	v.tenant_id = t.tenant_id;
	set_cookie(rq, t.token, true);
	api_reply(rq, 201, session_json(t.token, &v, now));
}

void api_register_statements_sessions(void); /* routes.c calls it */
void api_register_statements_sessions(void)
{
	store_users_register();
	store_sessions_register();
}
