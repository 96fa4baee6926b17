/* test_sessions.c (ctest: sessions): people signing in through the real server (issue 17,
 * part 1): users made by an admin (Argon2id hashes, never shown; short passwords 422), the
 * session cookie and its attributes, the CSRF token every unsafe request made with the
 * cookie must carry (a missing one changes nothing), roles and tenant scope through a
 * session as through a key, audit and Idempotency-Key for a user, wrong passwords (401, the
 * same for an unknown user), five in a row locking one user and no other, idle expiry,
 * sign-out, disabling and password resets; and a tenant signing in by phone with a code sent
 * through a Twilio-style fake (reuse, five wrong tries, expiry, unknown phones, the hourly
 * limit of codes and the tenant's message limit that does not hold them back). */
#include "harness.h"
#include "core/paysig.h"
#include "core/crypto.h"
#include "peer/peer.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A Twilio-style Messages API: checks the account's Basic credentials and the path, needs To,
 * From and Body as Twilio does, records each message and answers 201 with a "sid". */
#define TW_MAX 32
static pthread_mutex_t tw_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct peer *p;
	int n;
	char to[TW_MAX][32], body[TW_MAX][400];
} tw;

static void tw_answer(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	const char *auth = peer_header(rq, "Authorization");
	struct bill_form f;
	int bad = bill_form_parse(rq->body, rq->body_len, &f);
	pthread_mutex_lock(&tw_mu);
	if (!auth || strcmp(auth, "Basic QUMxOnRvaw==") || strcmp(rq->path, "/2010-04-01/Accounts/AC1/Messages.json")) {
		out->status = 401;
		out->body = strdup("{\"code\":20003,\"message\":\"Authenticate\",\"status\":401}");
	} else if (bad || !bill_form_get(&f, "To") || !bill_form_get(&f, "Body") || !bill_form_get(&f, "From")) {
		out->status = 400;
		out->body = strdup("{\"code\":21604,\"message\":\"A 'To', 'From' and 'Body' are required\",\"status\":400}");
	} else if (tw.n < TW_MAX) {
		snprintf(tw.to[tw.n], sizeof tw.to[0], "%s", bill_form_get(&f, "To"));
		snprintf(tw.body[tw.n], sizeof tw.body[0], "%s", bill_form_get(&f, "Body"));
		tw.n++;
		char b[120];
		snprintf(b, sizeof b, "{\"sid\":\"SM%032d\",\"status\":\"queued\"}", tw.n);
		out->status = 201;
		out->body = strdup(b);
	}
	pthread_mutex_unlock(&tw_mu);
	bill_form_free(&f);
}

static int tw_count(void)
{
	pthread_mutex_lock(&tw_mu);
	int n = tw.n;
	pthread_mutex_unlock(&tw_mu);
	return n;
}

/* Wait for the n-th message (1-based) and take the six digits out of its text. */
static void tw_code(int n, char *code, char *to)
{
	for (int i = 0; i < 200 && tw_count() < n; i++)
		usleep(50000);
	ck_assert_msg(tw_count() >= n, "message %d never reached the SMS peer (%d did)", n, tw_count());
	pthread_mutex_lock(&tw_mu);
	const char *b = tw.body[n - 1];
	code[0] = 0;
	for (const char *p = b; *p; p++)
		if (strspn(p, "0123456789") == 6 && (p == b || !isdigit((unsigned char)p[-1]))) {
			memcpy(code, p, 6);
			code[6] = 0;
			break;
		}
	snprintf(to, 32, "%s", tw.to[n - 1]);
	pthread_mutex_unlock(&tw_mu);
	ck_assert_msg(code[0], "no six-digit code in \"%s\"", b);
}

static struct th_world w;
static char env_sms[200];

static void start(const char *extra)
{
	pthread_mutex_lock(&tw_mu);
	tw.n = 0;
	pthread_mutex_unlock(&tw_mu);
	tw.p = peer_start(0, tw_answer, NULL);
	ck_assert(tw.p);
	snprintf(env_sms, sizeof env_sms, "WATTLE_SMS_URL=http://127.0.0.1:%d/2010-04-01/Accounts/AC1/Messages.json",
		 peer_port(tw.p));
	const char *env[] = {"WATTLE_SMS_USER=AC1", "WATTLE_SMS_TOKEN=tok", "WATTLE_SMS_FROM=+15550001111", env_sms,
			     extra, NULL};
	th_world_start(&w, env, TH_SITE | TH_TENANT);
}

static void setup(void) { start(NULL); }

static void teardown(void)
{
	th_world_stop(&w);
	peer_stop(tw.p);
}

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

/* A browser: its cookie and CSRF token. */
struct browser {
	char token[80], csrf[80];
};

static void user(const char *name, const char *pw, const char *role, const char *tenant)
{
	char b[400];
	snprintf(b, sizeof b, "{\"username\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"%s%s%s}", name, pw, role,
		 tenant ? ",\"tenant_id\":\"" : "", tenant ? tenant : "", tenant ? "\"" : "");
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.srv.admin_key, b, 201));
}

/* The token of a Set-Cookie: wattle_session=<token>; ... ("" when none). */
static void cookie_token(const char *set_cookie, char *out, size_t n)
{
	out[0] = 0;
	if (strncmp(set_cookie, "wattle_session=", 15))
		return;
	const char *v = set_cookie + 15;
	snprintf(out, n, "%.*s", (int)strcspn(v, ";"), v);
}

static struct th_resp sign_in(const char *name, const char *pw, struct browser *br)
{
	char b[300];
	snprintf(b, sizeof b, "{\"username\":\"%s\",\"password\":\"%s\"}", name, pw);
	struct th_resp r = th_req(&w.srv, "POST", "/v1/sessions", NULL, b, NULL);
	if (br && r.status == 201) {
		cookie_token(r.set_cookie, br->token, sizeof br->token);
		snprintf(br->csrf, sizeof br->csrf, "%s", json_string_value(json_object_get(r.json, "csrf_token")));
	}
	return r;
}

static void signed_in(const char *name, const char *pw, struct browser *br)
{
	struct th_resp r = sign_in(name, pw, br);
	ck_assert_msg(r.status == 201, "sign-in of %s: %ld %s", name, r.status, r.body);
	th_resp_free(&r);
}

/* A request from the browser: the cookie, and the CSRF token when csrf. */
static struct th_resp breq(const struct browser *br, const char *method, const char *path, const char *body, bool csrf,
			   const char *extra)
{
	char cookie[160], x[160];
	snprintf(cookie, sizeof cookie, "Cookie: theme=dark; wattle_session=%s", br->token);
	snprintf(x, sizeof x, "X-CSRF-Token: %s", br->csrf);
	const char *h[] = {cookie, csrf ? x : extra, csrf ? extra : NULL, NULL};
	return th_req(&w.srv, method, path, NULL, body, h);
}

static long bstatus(const struct browser *br, const char *method, const char *path, const char *body, bool csrf)
{
	struct th_resp r = breq(br, method, path, body, csrf, NULL);
	long s = r.status;
	th_resp_free(&r);
	return s;
}

START_TEST(users_sign_in_cookie_and_csrf)
{
	/* the user made: 201 with Location, no hash shown, an Argon2id hash stored */
	struct th_resp r = th_req(&w.srv, "POST", "/v1/users", w.srv.admin_key,
				  "{\"username\":\"lin.fin\",\"password\":\"correct horse battery\",\"role\":\"finance\","
				  "\"site_ids\":[\"site_1\"]}",
				  NULL);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "id")), "usr_1");
	ck_assert_str_eq(r.location, "/v1/users/usr_1");
	ck_assert(!strstr(r.body, "argon2") && !strstr(r.body, "password") && !strstr(r.body, "horse"));
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'"), 1);
	json_t *l = th_ok(&w.srv, "GET", "/v1/users", w.srv.admin_key, NULL, 200);
	char *ls = json_dumps(l, 0);
	ck_assert(strstr(ls, "\"lin.fin\"") && !strstr(ls, "argon2"));
	free(ls);
	json_decref(l);
	/* only an admin makes users; the same name in another case is taken */
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.fin,
			  "{\"username\":\"x\",\"password\":\"0123456789\",\"role\":\"finance\"}", 403));
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.srv.admin_key,
			  "{\"username\":\"LIN.FIN\",\"password\":\"0123456789\",\"role\":\"finance\"}", 409));

	/* signed in: the cookie's attributes, only the token's hash in the database */
	struct browser br;
	r = sign_in("lin.fin", "correct horse battery", &br);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_msg(strlen(br.token) == 64 && strspn(br.token, "0123456789abcdef") == 64, "%s", r.set_cookie);
	ck_assert_msg(strstr(r.set_cookie, "; HttpOnly") && strstr(r.set_cookie, "; SameSite=Strict") &&
			      strstr(r.set_cookie, "; Path=/") && !strstr(r.set_cookie, "Secure"),
		      "%s", r.set_cookie);
	json_t *u = json_object_get(r.json, "user");
	ck_assert_str_eq(json_string_value(json_object_get(u, "id")), "usr_1");
	ck_assert_str_eq(json_string_value(json_object_get(u, "username")), "lin.fin");
	ck_assert_str_eq(json_string_value(json_object_get(u, "role")), "finance");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(u, "site_ids"), 0)), "site_1");
	ck_assert(json_is_string(json_object_get(r.json, "expires_at")));
	ck_assert_int_eq((int)strlen(br.csrf), 64);
	ck_assert_str_ne(br.csrf, br.token);
	th_resp_free(&r);
	char hash[65], sql[200];
	srv_key_hash(br.token, hash);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE token_hash = '%s'", hash);
	ck_assert_int_eq(q(sql), 1);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE token_hash LIKE '%%%.20s%%'", br.token);
	ck_assert_int_eq(q(sql), 0);

	/* behind TLS the cookie is Secure */
	const char *tls[] = {"X-Forwarded-Proto: https", NULL};
	r = th_req(&w.srv, "POST", "/v1/sessions", NULL, "{\"username\":\"lin.fin\",\"password\":\"correct horse battery\"}", tls);
	ck_assert_msg(r.status == 201 && strstr(r.set_cookie, "; Secure"), "%ld %s", r.status, r.set_cookie);
	th_resp_free(&r);

	/* reads with the cookie; the current session gives the same CSRF token back */
	ck_assert_int_eq(bstatus(&br, "GET", "/v1/tenants", NULL, false), 200);
	r = breq(&br, "GET", "/v1/sessions/current", NULL, false, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "csrf_token")), br.csrf);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "user"), "username")), "lin.fin");
	th_resp_free(&r);
	/* no cookie, a made-up one: 401 */
	r = th_req(&w.srv, "GET", "/v1/sessions/current", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	struct browser fake = br;
	fake.token[0] = fake.token[0] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(bstatus(&fake, "GET", "/v1/tenants", NULL, false), 401);

	/* a change without the CSRF token is 403 and changes nothing; a wrong one too; with it, done */
	const char *body = "{\"site_id\":\"site_1\",\"name\":\"Tea House\",\"category\":\"catering\",\"area_m2\":\"20\","
			   "\"credit_rating\":\"B\"}";
	r = breq(&br, "POST", "/v1/tenants", body, false, NULL);
	ck_assert_int_eq(r.status, 403);
	ck_assert_str_eq(th_err(&r), "csrf_required");
	th_resp_free(&r);
	r = breq(&br, "POST", "/v1/tenants", body, false, "X-CSRF-Token: 00112233");
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM tenants WHERE name = 'Tea House'"), 0);
	ck_assert_int_eq(bstatus(&br, "POST", "/v1/tenants", body, true), 201);
	ck_assert_int_eq(q("SELECT count(*) FROM tenants WHERE name = 'Tea House'"), 1);
	/* the audit row names the user, and the chain still verifies */
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'tenant.create' AND user_id = 1"
			   " AND api_key_id IS NULL AND role = 'finance'"),
			 1);
	json_t *a = th_ok(&w.srv, "GET", "/v1/audit?action=tenant.create", w.srv.admin_key, NULL, 200);
	json_t *last = json_array_get(json_object_get(a, "items"), json_array_size(json_object_get(a, "items")) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "actor"), "user_id")), "usr_1");
	json_decref(a);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log a WHERE a.hash <> audit_hash(a.prev_hash, a.chain_seq, a.at,"
			   " a.api_key_id, a.role, a.method, a.path, a.request_id, a.action, a.target, a.client_addr,"
			   " a.user_id)"),
			 0);
	char cmd[700], out[2000] = "";
	snprintf(cmd, sizeof cmd, "WATTLE_LOG_LEVEL=warn WATTLE_DATABASE_URL='%s' %s verify 2>&1", w.db, WATTLE_BIN);
	FILE *vp = popen(cmd, "r");
	ck_assert_ptr_nonnull(vp);
	size_t got = fread(out, 1, sizeof out - 1, vp);
	out[got] = 0;
	ck_assert_msg(pclose(vp) == 0, "wattle verify: %s", out);

	/* a top-up through the session, with an Idempotency-Key: made once */
	const char *top = "{\"amount_minor\":10000,\"channel\":\"cash\",\"reference\":\"desk 1\"}";
	r = breq(&br, "POST", "/v1/tenants/ten_1/topups", top, true, "Idempotency-Key: till-1");
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	char first[1000];
	snprintf(first, sizeof first, "%s", r.body);
	th_resp_free(&r);
	r = breq(&br, "POST", "/v1/tenants/ten_1/topups", top, true, "Idempotency-Key: till-1");
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(r.body, first);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM idempotency_keys WHERE user_id = 1 AND idem_key = 'till-1'"), 1);
	/* a key still needs no CSRF token, and its Idempotency-Keys are its own */
	struct th_resp k = th_req(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin, top,
				  (const char *[]){"Idempotency-Key: till-1", NULL});
	ck_assert_int_eq(k.status, 201);
	th_resp_free(&k);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 2);

	/* sign-ins are counted */
	r = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(r.body, "# TYPE wattle_sign_ins_total counter") && strstr(r.body, "# HELP wattle_sign_ins_total") &&
			      strstr(r.body, "wattle_sign_ins_total{outcome=\"ok\"} 2"),
		      "%s", r.body);
	th_resp_free(&r);
}
END_TEST

/* A user's reply to GET path, as "status ids" where ids are the items' ids in order. */
static void listed(const struct browser *br, const char *path, char *out, size_t n)
{
	struct th_resp r = breq(br, "GET", path, NULL, false, NULL);
	int k = snprintf(out, n, "%ld", r.status);
	json_t *items = json_object_get(r.json, "items");
	size_t i;
	json_t *x;
	json_array_foreach(items, i, x) k += snprintf(out + k, n - (size_t)k, " %s", json_string_value(json_object_get(x, "id")));
	th_resp_free(&r);
}

/* A finance or operator user bound to sites (site_ids) reaches only them, whatever names
 * what it touches: the path, the query, the body, a list; another site's things are 404 as
 * if there were none, and nothing of theirs changes. */
START_TEST(a_user_bound_to_a_site_reaches_only_it)
{
	th_world_second_site(&w);
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.srv.admin_key,
			  "{\"username\":\"fin.both\",\"password\":\"0123456789\",\"role\":\"finance\","
			  "\"site_ids\":[\"site_2\",\"site_1\"]}", 201));
	/* only finance and operator users are bound to sites */
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.srv.admin_key,
			  "{\"username\":\"adm\",\"password\":\"0123456789\",\"role\":\"admin\",\"site_ids\":[\"site_2\"]}", 400));
	struct browser two, both;
	signed_in("fin.two", "0123456789", &two);
	signed_in("fin.both", "0123456789", &both);
	char got[200];

	/* the path: its own tenant's account, not the other site's (404, as for no tenant) */
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/tenants/ten_2/account", NULL, false), 200);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/tenants/ten_1/account", NULL, false), 404);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/tenants/ten_1", NULL, false), 404);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/sites/site_1", NULL, false), 404);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/tenants/ten_9/account", NULL, false), 404);
	/* money: another site's tenant is credited nothing */
	const char *top = "{\"amount_minor\":500,\"channel\":\"cash\"}";
	struct th_resp r = breq(&two, "POST", "/v1/tenants/ten_1/topups", top, true, "Idempotency-Key: t-1");
	ck_assert_msg(r.status == 404, "%ld %s", r.status, r.body);
	ck_assert_str_eq(th_err(&r), "not_found");
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 0);
	r = breq(&two, "POST", "/v1/tenants/ten_2/topups", top, true, "Idempotency-Key: t-2");
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT balance_minor FROM accounts WHERE tenant_id = 2"), 500);
	ck_assert_int_eq(q("SELECT balance_minor FROM accounts WHERE tenant_id = 1"), 0);
	/* the body: a tenant made on another site is refused and not made */
	ck_assert_int_eq(bstatus(&two, "POST", "/v1/tenants",
				 "{\"site_id\":\"site_1\",\"name\":\"Spy\",\"category\":\"retail\",\"area_m2\":\"5\","
				 "\"credit_rating\":\"A\"}", true), 404);
	ck_assert_int_eq(q("SELECT count(*) FROM tenants WHERE name = 'Spy'"), 0);
	/* the query, and lists: its site implied, another named 404, a list across sites 403 */
	listed(&two, "/v1/tenants", got, sizeof got);
	ck_assert_str_eq(got, "200 ten_2");
	listed(&two, "/v1/tenants?site_id=site_1", got, sizeof got);
	ck_assert_str_eq(got, "404");
	listed(&two, "/v1/sites", got, sizeof got);
	ck_assert_str_eq(got, "200 site_2");
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/receipts?tenant_id=ten_1", NULL, false), 404);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/refunds", NULL, false), 200);
	/* another site's tenant's payment conflict is not in its list; a key's list has it */
	q("WITH p AS (INSERT INTO payments (provider, provider_txn_id, tenant_id, amount_minor, currency, status, event,"
	  " received_at) VALUES ('wechat', 'T-1', 1, 100, 'CNY', 'conflict', '{}', now()) RETURNING id)"
	  " INSERT INTO payment_conflicts (payment_id, reason, created_at) SELECT id, 'amount_mismatch', now() FROM p"
	  " RETURNING id");
	listed(&two, "/v1/payment-conflicts", got, sizeof got);
	ck_assert_str_eq(got, "200");
	json_t *pc = th_ok(&w.srv, "GET", "/v1/payment-conflicts", w.fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(pc, "items")), 1);
	json_decref(pc);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/reconciliations", NULL, false), 403);
	/* a provider's daily bill holds every site's payments: not a site's user's to run, even
	 * naming its own site in the query or the body */
	ck_assert_int_eq(bstatus(&two, "POST", "/v1/reconciliations?site_id=site_2",
				 "{\"provider\":\"wechat\",\"date\":\"2026-11-30\"}", true), 403);
	ck_assert_int_eq(bstatus(&two, "POST", "/v1/reconciliations",
				 "{\"provider\":\"wechat\",\"date\":\"2026-11-30\",\"site_id\":\"site_2\"}", true), 403);
	ck_assert_int_eq(q("SELECT count(*) FROM reconciliations"), 0);
	/* a meter whose serial reads as another site's meter's id is no way in */
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.srv.admin_key, "{\"serial\":\"M-1\",\"site_id\":\"site_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.srv.admin_key, "{\"serial\":\"mtr_1\",\"site_id\":\"site_2\"}", 201));
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/meters/mtr_1/readings", NULL, false), 404);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/meters/mtr_2/readings", NULL, false), 200);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/dashboard", NULL, false), 200);
	/* a user of two sites names one for a list (400 says which), and reaches both */
	r = breq(&both, "GET", "/v1/tenants", NULL, false, NULL);
	ck_assert_msg(r.status == 400, "%ld %s", r.status, r.body);
	json_t *sites = json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "sites");
	ck_assert_int_eq((int)json_array_size(sites), 2);
	ck_assert_str_eq(json_string_value(json_array_get(sites, 0)), "site_2");
	th_resp_free(&r);
	listed(&both, "/v1/tenants?site_id=site_1", got, sizeof got);
	ck_assert_str_eq(got, "200 ten_1");
	listed(&both, "/v1/sites", got, sizeof got);
	ck_assert_str_eq(got, "200 site_1 site_2");
	ck_assert_int_eq(bstatus(&both, "GET", "/v1/tenants/ten_1/account", NULL, false), 200);
	ck_assert_int_eq(bstatus(&both, "GET", "/v1/receipts?tenant_id=ten_2", NULL, false), 200); /* its site implied */
	/* a key, and a user bound to no site, reach every site */
	json_t *all = th_ok(&w.srv, "GET", "/v1/tenants", w.fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(all, "items")), 2);
	json_decref(all);
	/* unbound by an admin, the same session reaches every site at its next request */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/users/usr_1", w.srv.admin_key, "{\"site_ids\":[]}", 200));
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/tenants/ten_1/account", NULL, false), 200);
	listed(&two, "/v1/tenants", got, sizeof got);
	ck_assert_str_eq(got, "200 ten_1 ten_2");
}
END_TEST

START_TEST(roles_and_tenant_scope)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Shoe Shop\",\"category\":\"retail\",\"area_m2\":\"30\","
			  "\"credit_rating\":\"A\"}",
			  201));
	user("ops.wang", "operator password", "operator", NULL);
	user("shop.one", "tenant password 1", "tenant", "ten_1");
	/* a tenant user needs its tenant, and only a tenant user has one */
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.srv.admin_key,
			  "{\"username\":\"t\",\"password\":\"0123456789\",\"role\":\"tenant\"}", 400));
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.srv.admin_key,
			  "{\"username\":\"t\",\"password\":\"0123456789\",\"role\":\"finance\",\"tenant_id\":\"ten_1\"}", 400));
	json_decref(th_ok(&w.srv, "POST", "/v1/users", w.srv.admin_key,
			  "{\"username\":\"t\",\"password\":\"0123456789\",\"role\":\"tenant\",\"tenant_id\":\"ten_9\"}", 400));

	struct browser op, ten;
	signed_in("ops.wang", "operator password", &op);
	signed_in("shop.one", "tenant password 1", &ten);
	/* an operator reads accounts but cannot top up, with the CSRF token or without */
	ck_assert_int_eq(bstatus(&op, "GET", "/v1/tenants/ten_1/account", NULL, false), 200);
	ck_assert_int_eq(bstatus(&op, "POST", "/v1/tenants/ten_1/topups",
				 "{\"amount_minor\":100,\"channel\":\"cash\",\"reference\":\"x\"}", true),
			 403);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries"), 0);
	/* a tenant reads its own account, not another's */
	ck_assert_int_eq(bstatus(&ten, "GET", "/v1/tenants/ten_1/account", NULL, false), 200);
	long other = bstatus(&ten, "GET", "/v1/tenants/ten_2/account", NULL, false);
	ck_assert_msg(other == 403 || other == 404, "%ld", other);
	ck_assert_int_eq(bstatus(&ten, "GET", "/v1/tenants", NULL, false), 403);
	/* a role changed by the admin applies at the session's next request */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/users/usr_1", w.srv.admin_key, "{\"role\":\"finance\"}", 200));
	ck_assert_int_eq(bstatus(&op, "POST", "/v1/tenants/ten_1/topups",
				 "{\"amount_minor\":100,\"channel\":\"cash\",\"reference\":\"x\"}", true),
			 201);
}
END_TEST

START_TEST(wrong_passwords_and_lock)
{
	user("a.user", "the right password", "finance", NULL);
	user("b.user", "another right one", "operator", NULL);
	/* a wrong password and an unknown user: the same 401 */
	struct th_resp r = sign_in("a.user", "the wrong password", NULL);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(th_err(&r), "invalid_credentials");
	ck_assert_str_eq(r.set_cookie, "");
	char wrong[300];
	snprintf(wrong, sizeof wrong, "%s", json_string_value(json_object_get(json_object_get(r.json, "error"), "message")));
	th_resp_free(&r);
	r = sign_in("nobody", "the wrong password", NULL);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(th_err(&r), "invalid_credentials");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")), wrong);
	th_resp_free(&r);
	/* a right password resets the count: 1 + 3 wrong, a right one, 4 wrong: still not locked */
	for (int i = 0; i < 3; i++) {
		r = sign_in("a.user", "the wrong password", NULL);
		ck_assert_int_eq(r.status, 401);
		th_resp_free(&r);
	}
	signed_in("a.user", "the right password", NULL);
	for (int i = 0; i < 4; i++) {
		r = sign_in("a.user", "the wrong password", NULL);
		ck_assert_int_eq(r.status, 401);
		th_resp_free(&r);
	}
	signed_in("a.user", "the right password", NULL);
	/* five in a row lock it for 15 minutes, even with the right password */
	for (int i = 0; i < 5; i++) {
		r = sign_in("a.user", "the wrong password", NULL);
		ck_assert_int_eq(r.status, 401);
		th_resp_free(&r);
	}
	r = sign_in("a.user", "the right password", NULL);
	ck_assert_msg(r.status == 423, "%ld %s", r.status, r.body);
	ck_assert_str_eq(th_err(&r), "locked");
	ck_assert_msg(r.retry_after > 880 && r.retry_after <= 900, "Retry-After %ld", r.retry_after);
	ck_assert_str_eq(r.set_cookie, "");
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM users WHERE username = 'a.user' AND locked_until > now() + interval '14 minutes'"), 1);
	/* another user is not affected */
	signed_in("b.user", "another right one", NULL);
	/* a password reset by the admin unlocks */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/users/usr_1", w.srv.admin_key, "{\"password\":\"a brand new one\"}", 200));
	signed_in("a.user", "a brand new one", NULL);
	r = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(r.body, "wattle_sign_ins_total{outcome=\"bad_password\"} 14") &&
			      strstr(r.body, "wattle_sign_ins_total{outcome=\"locked\"} 1") &&
			      strstr(r.body, "wattle_sign_ins_total{outcome=\"ok\"} 4"),
		      "%s", r.body);
	th_resp_free(&r);
}
END_TEST

START_TEST(short_password_disable_and_reset)
{
	struct th_resp r = th_req(&w.srv, "POST", "/v1/users", w.srv.admin_key,
				  "{\"username\":\"short\",\"password\":\"123456789\",\"role\":\"finance\"}", NULL);
	ck_assert_int_eq(r.status, 422);
	ck_assert_str_eq(th_err(&r), "password_too_short");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"),
							   "field")),
			 "password");
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM users"), 0);
	/* ten characters, not bytes: nine Chinese characters are too few */
	r = th_req(&w.srv, "POST", "/v1/users", w.srv.admin_key,
		   "{\"username\":\"short\",\"password\":\"一二三四五六七八九\",\"role\":\"finance\"}", NULL);
	ck_assert_int_eq(r.status, 422);
	th_resp_free(&r);
	user("zhang", "一二三四五六七八九十", "finance", NULL);
	json_decref(th_ok(&w.srv, "PATCH", "/v1/users/usr_1", w.srv.admin_key, "{\"password\":\"short\"}", 422));

	struct browser one, two;
	signed_in("zhang", "一二三四五六七八九十", &one);
	/* a password reset signs the user out everywhere */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/users/usr_1", w.srv.admin_key, "{\"password\":\"0123456789ab\"}", 200));
	ck_assert_int_eq(bstatus(&one, "GET", "/v1/tenants", NULL, false), 401);
	r = sign_in("zhang", "一二三四五六七八九十", NULL);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	signed_in("zhang", "0123456789ab", &two);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/tenants", NULL, false), 200);
	/* disabled: its session ends and it cannot sign in */
	json_t *u = th_ok(&w.srv, "PATCH", "/v1/users/usr_1", w.srv.admin_key, "{\"disabled\":true}", 200);
	ck_assert(json_is_true(json_object_get(u, "disabled")));
	json_decref(u);
	ck_assert_int_eq(bstatus(&two, "GET", "/v1/tenants", NULL, false), 401);
	r = sign_in("zhang", "0123456789ab", NULL);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	json_decref(th_ok(&w.srv, "PATCH", "/v1/users/usr_1", w.srv.admin_key, "{\"disabled\":false}", 200));
	signed_in("zhang", "0123456789ab", NULL);
	json_decref(th_ok(&w.srv, "PATCH", "/v1/users/usr_9", w.srv.admin_key, "{\"disabled\":true}", 404));
}
END_TEST

START_TEST(sign_out)
{
	user("li", "li's password", "finance", NULL);
	struct browser br;
	signed_in("li", "li's password", &br);
	/* without the CSRF token the session stays */
	ck_assert_int_eq(bstatus(&br, "DELETE", "/v1/sessions/current", NULL, false), 403);
	ck_assert_int_eq(bstatus(&br, "GET", "/v1/tenants", NULL, false), 200);
	struct th_resp r = breq(&br, "DELETE", "/v1/sessions/current", NULL, true, NULL);
	ck_assert_int_eq(r.status, 204);
	ck_assert_msg(!strncmp(r.set_cookie, "wattle_session=;", 16) && strstr(r.set_cookie, "Max-Age=0"), "%s", r.set_cookie);
	th_resp_free(&r);
	ck_assert_int_eq(bstatus(&br, "GET", "/v1/tenants", NULL, false), 401);
	ck_assert_int_eq(bstatus(&br, "GET", "/v1/sessions/current", NULL, false), 401);
	ck_assert_int_eq(q("SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL"), 1);
}
END_TEST

START_TEST(idle_expiry)
{
	teardown();
	start("WATTLE_SESSION_IDLE_S=2");
	user("idle", "idle password", "finance", NULL);
	struct browser busy, quiet;
	signed_in("idle", "idle password", &busy);
	signed_in("idle", "idle password", &quiet);
	/* a session in use stays (last_seen_at is written every second here, idle / 2) */
	for (int i = 0; i < 4; i++) {
		usleep(900000);
		ck_assert_int_eq(bstatus(&busy, "GET", "/v1/tenants", NULL, false), 200);
	}
	/* one unused for longer than 2 s has expired */
	ck_assert_int_eq(bstatus(&quiet, "GET", "/v1/tenants", NULL, false), 401);
	ck_assert_int_eq(bstatus(&quiet, "GET", "/v1/sessions/current", NULL, false), 401);
	sleep(3);
	ck_assert_int_eq(bstatus(&busy, "GET", "/v1/tenants", NULL, false), 401);
}
END_TEST

/* Guessing across users from one address is throttled like key guessing: each wrong sign-in
 * takes one of the address's failure tokens (WATTLE_AUTH_FAILURES_PER_MIN, burst twice), a
 * right one gives its token back. */
START_TEST(address_throttled)
{
	teardown();
	start("WATTLE_AUTH_FAILURES_PER_MIN=1");
	user("fast", "fast password", "finance", NULL);
	for (int i = 0; i < 4; i++)
		signed_in("fast", "fast password", NULL);
	for (int i = 0; i < 2; i++) {
		struct th_resp r = sign_in(i ? "guess-b" : "guess-a", "some password", NULL);
		ck_assert_int_eq(r.status, 401);
		th_resp_free(&r);
	}
	struct th_resp r = sign_in("guess-c", "some password", NULL);
	ck_assert_msg(r.status == 429, "%ld %s", r.status, r.body);
	ck_assert_str_eq(th_err(&r), "rate_limited");
	ck_assert_int_gt(r.retry_after, 0);
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/sessions/otp", NULL, "{\"phone\":\"+8613800000001\",\"code\":\"123456\"}", NULL);
	ck_assert_int_eq(r.status, 429);
	th_resp_free(&r);
}
END_TEST

/* A wrong username takes as long as a wrong password (a password is checked against a dummy
 * hash): the medians of five tries each are within a factor of three, where without the dummy
 * an unknown user answers some forty times sooner. */
static int64_t median_sign_in_us(const char *name)
{
	int64_t t[5];
	for (int i = 0; i < 5; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		struct th_resp r = sign_in(name, "not the password", NULL);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ck_assert_int_eq(r.status, 401);
		th_resp_free(&r);
		t[i] = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
	}
	for (int i = 1; i < 5; i++)
		for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
			int64_t x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	return t[2];
}

START_TEST(unknown_user_takes_as_long)
{
	user("known", "the password here", "finance", NULL);
	int64_t known = median_sign_in_us("known"), unknown = median_sign_in_us("unknown-person");
	ck_assert_msg(unknown * 3 > known && known * 3 > unknown, "wrong password %lld us, unknown user %lld us",
		      (long long)known, (long long)unknown);
}
END_TEST

/* ---- tenants by phone ---- */

static void phone_tenant(void)
{
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"phone\":\"+8613800000001\"}", 200));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Other\",\"category\":\"retail\",\"area_m2\":\"30\","
			  "\"credit_rating\":\"A\",\"phone\":\"+8613800000002\"}",
			  201));
}

static long otp(const char *phone, const char *code, struct browser *br, struct th_resp *keep)
{
	char b[200];
	if (code)
		snprintf(b, sizeof b, "{\"phone\":\"%s\",\"code\":\"%s\"}", phone, code);
	else
		snprintf(b, sizeof b, "{\"phone\":\"%s\"}", phone);
	struct th_resp r = th_req(&w.srv, "POST", "/v1/sessions/otp", NULL, b, NULL);
	long s = r.status;
	if (br && s == 201) {
		cookie_token(r.set_cookie, br->token, sizeof br->token);
		snprintf(br->csrf, sizeof br->csrf, "%s", json_string_value(json_object_get(r.json, "csrf_token")));
	}
	if (keep)
		*keep = r;
	else
		th_resp_free(&r);
	return s;
}

START_TEST(tenant_signs_in_by_phone)
{
	phone_tenant();
	ck_assert_int_eq(otp("+8613800000001", NULL, NULL, NULL), 202);
	char code[8], to[32];
	tw_code(1, code, to);
	ck_assert_str_eq(to, "+8613800000001");
	/* stored hashed, and not suppressed or counted as a message */
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM login_codes WHERE code_hash LIKE '%%%s%%'", code);
	ck_assert_int_eq(q(sql), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM login_codes WHERE tenant_id = 1 AND length(code_hash) = 64"), 1);
	/* and, once sent, not kept in the outbox either */
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM notifications WHERE kind = 'login_code' AND (coalesce(body, '') LIKE '%%%s%%'"
		 " OR payload::text LIKE '%%%s%%' OR state <> 'sent')",
		 code, code);
	for (int i = 0; i < 100 && q(sql) != 0; i++)
		usleep(50000);
	ck_assert_int_eq(q(sql), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'login_code' AND body LIKE '%******%'"), 1);
	/* a wrong code first (it is counted, not burnt), then the right one */
	char wrong[8];
	snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 1) % 1000000);
	ck_assert_int_eq(otp("+8613800000001", wrong, NULL, NULL), 401);
	struct browser br;
	struct th_resp r;
	ck_assert_int_eq(otp("+8613800000001", code, &br, &r), 201);
	ck_assert_msg(strstr(r.set_cookie, "; SameSite=Lax") && strstr(r.set_cookie, "; HttpOnly"), "%s", r.set_cookie);
	json_t *u = json_object_get(r.json, "user");
	ck_assert_str_eq(json_string_value(json_object_get(u, "role")), "tenant");
	ck_assert_str_eq(json_string_value(json_object_get(u, "tenant_id")), "ten_1");
	th_resp_free(&r);
	/* its own account, not another's, and read-only beyond its orders */
	ck_assert_int_eq(bstatus(&br, "GET", "/v1/tenants/ten_1/account", NULL, false), 200);
	long other = bstatus(&br, "GET", "/v1/tenants/ten_2/account", NULL, false);
	ck_assert_msg(other == 403 || other == 404, "%ld", other);
	ck_assert_int_eq(bstatus(&br, "POST", "/v1/tenants/ten_1/topups",
				 "{\"amount_minor\":100,\"channel\":\"cash\",\"reference\":\"x\"}", true),
			 403);
	r = breq(&br, "GET", "/v1/sessions/current", NULL, false, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "user"), "tenant_id")), "ten_1");
	th_resp_free(&r);
	/* used once */
	ck_assert_int_eq(otp("+8613800000001", code, NULL, NULL), 401);
	/* a phone no tenant has: the same 202, and no message */
	ck_assert_int_eq(otp("+8613999999999", NULL, NULL, NULL), 202);
	usleep(1500000);
	ck_assert_int_eq(tw_count(), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM login_codes"), 1);
	r = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(r.body, "wattle_sign_ins_total{outcome=\"otp_ok\"} 1") &&
			      strstr(r.body, "wattle_sign_ins_total{outcome=\"otp_bad\"} 2"),
		      "%s", r.body);
	th_resp_free(&r);
}
END_TEST

START_TEST(codes_burnt_expired_and_limited)
{
	teardown();
	start("WATTLE_TENANT_MESSAGES_PER_HOUR=1");
	phone_tenant();
	/* five wrong tries burn the code: the right one is refused after them */
	ck_assert_int_eq(otp("+8613800000001", NULL, NULL, NULL), 202);
	char code[8], to[32];
	tw_code(1, code, to);
	char wrong[8];
	snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 7) % 1000000);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(otp("+8613800000001", wrong, NULL, NULL), 401);
	ck_assert_int_eq(otp("+8613800000001", code, NULL, NULL), 401);
	/* a new one, past the tenant's limit of one message an hour, works */
	ck_assert_int_eq(otp("+8613800000001", NULL, NULL, NULL), 202);
	tw_code(2, code, to);
	/* expired after 5 minutes */
	PQclear(th_sql(w.db, "UPDATE login_codes SET expires_at = now() - interval '1 second' WHERE id = 2"));
	ck_assert_int_eq(otp("+8613800000001", code, NULL, NULL), 401);
	PQclear(th_sql(w.db, "UPDATE login_codes SET expires_at = now() + interval '5 minutes' WHERE id = 2"));
	struct browser br;
	ck_assert_int_eq(otp("+8613800000001", code, &br, NULL), 201);
	/* three codes an hour for a phone: the fourth is answered alike and not sent */
	ck_assert_int_eq(otp("+8613800000001", NULL, NULL, NULL), 202);
	tw_code(3, code, to);
	ck_assert_int_eq(otp("+8613800000001", NULL, NULL, NULL), 202);
	usleep(1500000);
	ck_assert_int_eq(tw_count(), 3);
	ck_assert_int_eq(q("SELECT count(*) FROM login_codes"), 3);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'login_code' AND state = 'sent'"), 3);
	/* a malformed code is a 400, not a try */
	ck_assert_int_eq(otp("+8613800000001", "12a456", NULL, NULL), 400);
	ck_assert_int_eq(q("SELECT tries FROM login_codes WHERE id = 3"), 0);
}
END_TEST


/* `wattle serve --demo-login-code PHONE:CODE` (what `wattle demo` runs): that phone is sent
 * that code, and it signs in with it; another phone still gets a random one. */
START_TEST(demo_login_code)
{
	phone_tenant();
	int port = th_free_port();
	char listen[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	setenv("WATTLE_DATABASE_URL", w.db, 1);
	setenv("WATTLE_LISTEN", listen, 1);
	setenv("WATTLE_SMS_URL", env_sms + strlen("WATTLE_SMS_URL="), 1);
	setenv("WATTLE_SMS_USER", "AC1", 1);
	setenv("WATTLE_SMS_TOKEN", "tok", 1);
	setenv("WATTLE_SMS_FROM", "+15550001111", 1);
	const char *argv[] = {WATTLE_BIN, "serve", "--no-migrate", "--demo-login-code", "+8613800000001:246810", NULL};
	pid_t pid = th_spawn(argv, NULL);
	th_wait_port(port);
	struct th_server demo = w.srv;
	demo.port = port;
	struct th_resp r = th_req(&demo, "POST", "/v1/sessions/otp", NULL, "{\"phone\":\"+8613800000001\"}", NULL);
	ck_assert_int_eq(r.status, 202);
	th_resp_free(&r);
	char code[8], to[32];
	tw_code(1, code, to);
	ck_assert_str_eq(code, "246810");
	r = th_req(&demo, "POST", "/v1/sessions/otp", NULL, "{\"phone\":\"+8613800000001\",\"code\":\"246810\"}", NULL);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	th_resp_free(&r);
	r = th_req(&demo, "POST", "/v1/sessions/otp", NULL, "{\"phone\":\"+8613800000002\"}", NULL);
	ck_assert_int_eq(r.status, 202);
	th_resp_free(&r);
	tw_code(2, code, to);
	ck_assert_str_eq(to, "+8613800000002");
	ck_assert_int_eq(q("SELECT count(*) FROM login_codes WHERE phone = '+8613800000002'"), 1);
	ck_assert_int_eq(th_reap(pid, SIGTERM), 0);
	/* the server of the world (no flag) sends that phone a code of its own */
	ck_assert_int_eq(otp("+8613800000001", NULL, NULL, NULL), 202);
	tw_code(3, code, to);
	ck_assert_int_eq(otp("+8613800000001", "246810", NULL, NULL), strcmp(code, "246810") ? 401 : 201);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sessions");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, users_sign_in_cookie_and_csrf);
	tcase_add_test(core, roles_and_tenant_scope);
	tcase_add_test(core, a_user_bound_to_a_site_reaches_only_it);
	tcase_add_test(core, wrong_passwords_and_lock);
	tcase_add_test(core, short_password_disable_and_reset);
	tcase_add_test(core, sign_out);
	tcase_add_test(core, idle_expiry);
	tcase_add_test(core, address_throttled);
	tcase_add_test(core, unknown_user_takes_as_long);
	TCase *phone = tcase_create("phone");
	tcase_add_checked_fixture(phone, setup, teardown);
	tcase_set_timeout(phone, 120);
	tcase_add_test(phone, tenant_signs_in_by_phone);
	tcase_add_test(phone, codes_burnt_expired_and_limited);
	tcase_add_test(phone, demo_login_code);
	suite_add_tcase(s, core);
	suite_add_tcase(s, phone);
	return s;
}

int main(void) { return th_run(suite()); }
