/* test_spec_replies.c: the server's real replies against api/openapi.yaml (issue 19). One
 * world is driven through every route in api/routes.c, with valid requests and with invalid
 * ones (no key, a key of a role the route refuses, a body that is not JSON, a media type it
 * does not take, an id that does not exist); each reply is written as a line of
 * replies.jsonl (method, route pattern, status, content type, body), and
 * tests/spec/validate.mjs (Ajv) checks every one against the operation's response for that
 * status: an undocumented status or media type, or a body its schema refuses, fails the
 * test, naming each; so does a JSON request the server accepted (2xx) that the operation's
 * requestBody schema refuses. A route of the table with no recorded success fails it too (SKIPPED
 * lists the routes left out on purpose, each with its reason). */
#include "harness.h"
#include "fakepay.h"
#include "server/http.h"

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SK "sk_test_wattle_spec_4eC39HqLyjWDarjt"
#define WHSEC "whsec_wattle_spec"
#define SMS_TOKEN "spec-callback-token"
#define WX_MCHID "1900000100"
#define WX_SERIAL "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
#define WX_APIV3 "wattleAPIv3key0123456789abcdefXY"
#define ALI_APP_ID "2021000000000001"

/* Routes whose success the suite does not reach, and why (none today); their error replies
 * are still recorded and checked. */
static const char *const SKIPPED[][2] = {
	{"GET /console", "a redirect (308) by design, no 2xx; asked below"},
	{"GET /t", "a redirect (308) by design, no 2xx; asked below"},
	{"GET /v1/events", "a stream that does not end; tests/e2e/test_events.c reads it, here only its refusals"},
	{NULL, NULL},
};

static struct th_world w;
static struct fakepay *stripe;
static FILE *out;
static char out_path[300];
static char *admin, *ten_key, *ten2_key;
/* the WeChat Pay platform's key and Alipay's, which sign their notifications */
static EVP_PKEY *wx_key, *ali_key;
static char wx_pem[64], ali_pem[64];
/* which routes answered at least once, and at least once with 2xx */
static int seen[256], seen_ok[256];

static int route_index(const char *method, const char *pattern)
{
	for (int i = 0; api_routes[i].method; i++)
		if (!strcmp(api_routes[i].method, method) && !strcmp(api_routes[i].pattern, pattern))
			return i;
	ck_abort_msg("%s %s is not a route of api/routes.c", method, pattern);
	return -1;
}

/* One request to route (method, pattern) at path; the reply recorded. Caller frees it. */
static struct th_resp rec_h(const char *method, const char *pattern, const char *path, const char *key,
			    const char *body, const char *const *hdrs)
{
	int i = route_index(method, pattern);
	struct th_resp r = th_req(&w.srv, method, path, key, body, hdrs);
	seen[i]++;
	if (r.status >= 200 && r.status < 300)
		seen_ok[i]++;
	char spec_route[200]; /* the spec writes a rest-of-path {name*} as {name} */
	size_t k = 0;
	for (const char *p = pattern; *p && k + 1 < sizeof spec_route; p++)
		if (!(*p == '*' && p[1] == '}'))
			spec_route[k++] = *p;
	spec_route[k] = 0;
	json_t *line = json_pack("{s:s, s:s, s:s, s:I, s:s}", "method", method, "route", spec_route, "path", path,
				 "status", (json_int_t)r.status, "content_type", r.content_type);
	if (r.json)
		json_object_set(line, "json", r.json);
	else if (r.body && r.body_len == strlen(r.body))
		json_object_set_new(line, "text", json_stringn(r.body, r.body_len > 4096 ? 4096 : r.body_len));
	json_object_set_new(line, "body_len", json_integer((json_int_t)r.body_len));
	json_t *sent = body ? json_loads(body, 0, NULL) : NULL;
	if (sent) /* validate.mjs checks an accepted request against the requestBody schema */
		json_object_set_new(line, "request", sent);
	char *s = json_dumps(line, JSON_COMPACT);
	fprintf(out, "%s\n", s);
	fflush(out);
	free(s);
	json_decref(line);
	return r;
}

static struct th_resp rec(const char *method, const char *pattern, const char *path, const char *key,
			  const char *body)
{
	return rec_h(method, pattern, path, key, body, NULL);
}

/* A request that must answer want; its parsed body (caller decrefs; NULL when not JSON). */
static json_t *ok(const char *method, const char *pattern, const char *path, const char *key, const char *body,
		  long want)
{
	struct th_resp r = rec(method, pattern, path, key, body);
	ck_assert_msg(r.status == want, "%s %s: %ld, not %ld: %s", method, path, r.status, want, r.body);
	json_t *j = r.json ? json_incref(r.json) : NULL;
	th_resp_free(&r);
	return j;
}

/* A request whose status must be want (its body only recorded); a different status is
 * listed in wrong_status and fails the test at its end. */
static char wrong_status[8192];
static void expect(const char *method, const char *pattern, const char *path, const char *key, const char *body,
		   long want)
{
	struct th_resp r = rec(method, pattern, path, key, body);
	if (r.status != want) {
		size_t n = strlen(wrong_status);
		snprintf(wrong_status + n, sizeof wrong_status - n, "\n  %s %s: %ld, not %ld: %.200s", method, path,
			 r.status, want, r.body ? r.body : "");
	}
	th_resp_free(&r);
}

static const char *str(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }

/* pattern with each {..} replaced by what */
static void fill(char *buf, size_t n, const char *pattern, const char *what)
{
	size_t o = 0;
	for (const char *p = pattern; *p && o + 1 < n;) {
		if (*p == '{') {
			o += (size_t)snprintf(buf + o, n - o, "%s", what);
			p = strchr(p, '}') + 1;
		} else {
			buf[o++] = *p++;
		}
	}
	buf[o < n ? o : n - 1] = 0;
}

static struct th_resp stripe_event(const char *body)
{
	char msg[8192], hex[65], h[256];
	long t = (long)time(NULL);
	int n = snprintf(msg, sizeof msg, "%ld.%s", t, body);
	unsigned char mac[32];
	unsigned ml;
	HMAC(EVP_sha256(), WHSEC, (int)strlen(WHSEC), (unsigned char *)msg, (size_t)n, mac, &ml);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	snprintf(h, sizeof h, "Stripe-Signature: t=%ld,v1=%s", t, hex);
	const char *hdrs[] = {h, NULL};
	return rec_h("POST", "/v1/webhooks/payments/stripe", "/v1/webhooks/payments/stripe", NULL, body, hdrs);
}

static char *b64(const unsigned char *p, size_t n)
{
	char *o = malloc(n / 3 * 4 + 8);
	EVP_EncodeBlock((unsigned char *)o, p, (int)n);
	return o;
}

static char *rsa_sign(EVP_PKEY *k, const char *msg, size_t n)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t len = sizeof sig;
	ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &len, (const unsigned char *)msg, n), 1);
	EVP_MD_CTX_free(ctx);
	return b64(sig, len);
}

/* A WeChat Pay v3 notification of the transaction plain, as WeChat makes it: the resource
 * AES-256-GCM under the APIv3 key, the body signed with the platform key over timestamp,
 * nonce and body (Wechatpay-* headers). */
static struct th_resp wx_notify(const char *plain)
{
	const char *nonce = "a1b2c3d4e5f6";
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t n = strlen(plain);
	unsigned char *ct = malloc(n + 16);
	int len = 0, fin_len = 0;
	EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
	EVP_EncryptInit_ex(ctx, NULL, NULL, (const unsigned char *)WX_APIV3, (const unsigned char *)nonce);
	EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)"transaction", 11);
	EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)plain, (int)n);
	EVP_EncryptFinal_ex(ctx, ct + len, &fin_len);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, ct + n);
	EVP_CIPHER_CTX_free(ctx);
	char *ct64 = b64(ct, n + 16);
	free(ct);
	size_t cap = strlen(ct64) + 1024;
	char *body = malloc(cap);
	snprintf(body, cap,
		 "{\"id\":\"EV-spec-1\",\"create_time\":\"2026-11-21T10:00:00+08:00\",\"resource_type\":\"encrypt-resource\","
		 "\"event_type\":\"TRANSACTION.SUCCESS\",\"summary\":\"ok\",\"resource\":{\"original_type\":\"transaction\","
		 "\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"%s\",\"associated_data\":\"transaction\","
		 "\"nonce\":\"%s\"}}", ct64, nonce);
	free(ct64);
	char ts[32], msg[8192];
	snprintf(ts, sizeof ts, "%ld", (long)time(NULL));
	const char *hn = "9VZP2HMV1R6XBBZYSUKKHDOKNZEB0A4Z";
	int mlen = snprintf(msg, sizeof msg, "%s\n%s\n%s\n", ts, hn, body);
	char *sig = rsa_sign(wx_key, msg, (size_t)mlen);
	char h1[64], h2[64], h3[80], h4[1024];
	snprintf(h1, sizeof h1, "Wechatpay-Timestamp: %s", ts);
	snprintf(h2, sizeof h2, "Wechatpay-Nonce: %s", hn);
	snprintf(h3, sizeof h3, "Wechatpay-Serial: %s", WX_SERIAL);
	snprintf(h4, sizeof h4, "Wechatpay-Signature: %s", sig);
	const char *hdrs[] = {h1, h2, h3, h4, "Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048", NULL};
	struct th_resp r = rec_h("POST", "/v1/webhooks/payments/wechat", "/v1/webhooks/payments/wechat", NULL, body, hdrs);
	free(sig);
	free(body);
	return r;
}

/* An Alipay notification: params "k=v" in key order, values unencoded, signed RSA2 with
 * Alipay's key over those with a value joined by '&'; the body is their form encoding. */
static struct th_resp ali_notify(const char *const *params)
{
	char content[4096] = "", body[8192] = "";
	for (int i = 0; params[i]; i++) {
		if (*content)
			strcat(content, "&");
		strcat(content, params[i]);
		if (*body)
			strcat(body, "&");
		for (const char *p = params[i]; *p; p++) {
			char e[4];
			if (*p == ' ')
				snprintf(e, sizeof e, "+");
			else if (*p == ':' || *p == '+' || *p == '/' || *p == '&')
				snprintf(e, sizeof e, "%%%02X", (unsigned char)*p);
			else
				snprintf(e, sizeof e, "%c", *p);
			strcat(body, e);
		}
	}
	char *sig = rsa_sign(ali_key, content, strlen(content));
	strcat(body, "&sign_type=RSA2&sign=");
	for (const char *p = sig; *p; p++) {
		char e[4];
		snprintf(e, sizeof e, *p == '+' || *p == '/' || *p == '=' ? "%%%02X" : "%c", (unsigned char)*p);
		strcat(body, e);
	}
	free(sig);
	const char *h[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
	return rec_h("POST", "/v1/webhooks/payments/alipay", "/v1/webhooks/payments/alipay", NULL, body, h);
}

static void write_pub(EVP_PKEY *k, const char *path)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
}

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static void wait_for(const char *sql, long long want, int ms)
{
	for (int waited = 0; q(sql) != want && waited < ms; waited += 100)
		usleep(100000);
	ck_assert_msg(q(sql) == want, "%s: not %lld after %d ms", sql, want, ms);
}

/* Every kind of invalid request, for every route: no key (401), a key of a role it refuses
 * (403), for a body route a body that is not JSON (400) and one of another media type (415),
 * and for a route with an id one that does not exist. */
static void each_route_refuses(void)
{
	const char *keys[] = {admin, w.fin, w.ops, w.gw, ten_key};
	for (int i = 0; api_routes[i].method; i++) {
		const struct route *rt = &api_routes[i];
		char path[300];
		fill(path, sizeof path, rt->pattern, "nope_1");
		if (!rt->roles) {
			if (rt->flags & ROUTE_RAW) { /* a webhook without its signature or token */
				struct th_resp r = rec(rt->method, rt->pattern, path, NULL, "{}");
				th_resp_free(&r);
			}
			continue;
		}
		struct th_resp r = rec(rt->method, rt->pattern, path, NULL, (rt->flags & ROUTE_BODY) ? "{}" : NULL);
		ck_assert_msg(r.status == 401, "%s %s without a key: %ld", rt->method, rt->pattern, r.status);
		th_resp_free(&r);
		const char *bad = NULL, *good = NULL;
		bool get = !strcmp(rt->method, "GET");
		for (int k = 0; k < 5; k++) {
			bool allowed = (rt->roles & (1u << k)) || (k == 0 && get);
			if (!allowed && !bad)
				bad = keys[k];
			if (allowed && !good && k != 4)
				good = keys[k];
		}
		if (bad) {
			r = rec(rt->method, rt->pattern, path, bad, (rt->flags & ROUTE_BODY) ? "{}" : NULL);
			ck_assert_msg(r.status == 403, "%s %s with a refused role: %ld", rt->method, rt->pattern, r.status);
			th_resp_free(&r);
		}
		if (!good)
			good = ten_key;
		if (rt->flags & ROUTE_BODY) {
			const char *plain[] = {"Content-Type: text/plain", NULL};
			r = rec_h(rt->method, rt->pattern, path, good, "{}", plain);
			ck_assert_msg(r.status == 415, "%s %s as text/plain: %ld", rt->method, rt->pattern, r.status);
			th_resp_free(&r);
			r = rec(rt->method, rt->pattern, path, good, "{\"a\":");
			ck_assert_msg(r.status == 400, "%s %s with broken JSON: %ld", rt->method, rt->pattern, r.status);
			th_resp_free(&r);
		}
		if (strchr(rt->pattern, '{')) {
			r = rec(rt->method, rt->pattern, path, good, (rt->flags & ROUTE_BODY) ? "{}" : NULL);
			th_resp_free(&r);
		}
	}
}

static void setup(void)
{
	struct fakepay_keys sk = {NULL, NULL, NULL, NULL, NULL, NULL, SK};
	ck_assert_ptr_nonnull(stripe = fakepay_start("stripe", &sk));
	char base[128], e_base[200];
	snprintf(e_base, sizeof e_base, "WATTLE_STRIPE_API_BASE=%s", fakepay_base(stripe, base, sizeof base));
	wx_key = EVP_RSA_gen(2048);
	ali_key = EVP_RSA_gen(2048);
	snprintf(wx_pem, sizeof wx_pem, "/tmp/wattle-spec-wx-%d.pem", (int)getpid());
	snprintf(ali_pem, sizeof ali_pem, "/tmp/wattle-spec-ali-%d.pem", (int)getpid());
	write_pub(wx_key, wx_pem);
	write_pub(ali_key, ali_pem);
	static char e_wx[128], e_ali[128];
	snprintf(e_wx, sizeof e_wx, "WATTLE_WECHAT_PLATFORM_PUBKEY=%s", wx_pem);
	snprintf(e_ali, sizeof e_ali, "WATTLE_ALIPAY_PUBKEY=%s", ali_pem);
	/* Stripe with its API (the fake), WeChat Pay and Alipay with their notifications only
	 * (their orders go to the WATTLE_PAY_URL portal) */
	const char *env[] = {"WATTLE_STRIPE_SECRET_KEY=" SK, "WATTLE_STRIPE_WEBHOOK_SECRET=" WHSEC, e_base,
			     "WATTLE_WECHAT_APIV3_KEY=" WX_APIV3, e_wx, "WATTLE_WECHAT_PLATFORM_SERIAL=" WX_SERIAL,
			     "WATTLE_WECHAT_MCHID=" WX_MCHID, e_ali, "WATTLE_ALIPAY_APP_ID=" ALI_APP_ID,
			     "WATTLE_PAY_URL=https://portal.example/pay",
			     "WATTLE_SMS_CALLBACK_TOKEN=" SMS_TOKEN, "WATTLE_PUBLIC_URL=https://wattle.example",
			     "WATTLE_PAY_QUERY_AFTER_S=1", "WATTLE_RECONCILE_HOUR=24",
			     "WATTLE_AUTH_FAILURES_PER_MIN=100000", "WATTLE_BODY_MAX=65536", NULL};
	th_world_start(&w, env, 0);
	admin = w.srv.admin_key;
	const char *dir = getenv("WATTLE_SPEC_REPLIES_DIR");
	snprintf(out_path, sizeof out_path, "%s/spec-replies-%d.jsonl", dir ? dir : ".", (int)getpid());
	ck_assert_ptr_nonnull(out = fopen(out_path, "w"));
}

static void teardown(void)
{
	th_world_stop(&w);
	fakepay_stop(stripe);
	stripe = NULL;
	unlink(wx_pem);
	unlink(ali_pem);
	EVP_PKEY_free(wx_key);
	EVP_PKEY_free(ali_key);
	free(ten_key);
	free(ten2_key);
	if (out)
		fclose(out);
	out = NULL;
}

START_TEST(every_route_answers_as_the_spec_says)
{
	json_t *j;
	char path[300], body[2048];
	/* health */
	expect("GET", "/healthz", "/healthz", NULL, NULL, 200);
	expect("GET", "/readyz", "/readyz", NULL, NULL, 200);
	expect("GET", "/metrics", "/metrics", NULL, NULL, 200);

	/* sites */
	expect("POST", "/v1/sites", "/v1/sites", admin,
	       "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\",\"legal_name\":\"Mall Co\","
	       "\"tax_id\":\"91310000MA1FL0000X\",\"language\":\"zh-CN\"}", 201);
	expect("POST", "/v1/sites", "/v1/sites", admin, "{\"name\":\"Mall\"}", 400);
	expect("POST", "/v1/sites", "/v1/sites", admin, "{\"name\":\"B\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\",\"x\":1}", 400);
	expect("GET", "/v1/sites", "/v1/sites", admin, NULL, 200);
	expect("GET", "/v1/sites", "/v1/sites?limit=0", admin, NULL, 400);
	expect("GET", "/v1/sites/{id}", "/v1/sites/site_1", w.fin, NULL, 200);
	expect("PATCH", "/v1/sites/{id}", "/v1/sites/site_1", admin, "{\"legal_name\":null}", 200);
	expect("PATCH", "/v1/sites/{id}", "/v1/sites/site_1", admin, "{\"language\":\"fr\"}", 400);
	expect("POST", "/v1/sites/{id}/holidays", "/v1/sites/site_1/holidays", w.fin,
	       "{\"day\":\"2026-10-01\",\"name\":\"National Day\"}", 201);
	expect("POST", "/v1/sites/{id}/holidays", "/v1/sites/site_1/holidays", w.fin, "{\"day\":\"x\",\"name\":\"y\"}", 400);
	expect("GET", "/v1/sites/{id}/holidays", "/v1/sites/site_1/holidays", w.ops, NULL, 200);
	expect("GET", "/v1/sites/{id}/message-templates", "/v1/sites/site_1/message-templates", w.fin, NULL, 200);
	expect("PUT", "/v1/sites/{id}/message-templates", "/v1/sites/site_1/message-templates", w.fin,
	       "{\"templates\":[{\"event\":\"low_balance\",\"language\":\"en\",\"text\":\"{tenant_name}: {balance}\","
	       "\"sms_template\":\"SMS_1\",\"sms_params\":{\"name\":\"tenant_name\"}}]}", 200);
	expect("PUT", "/v1/sites/{id}/message-templates", "/v1/sites/site_1/message-templates", w.fin,
	       "{\"templates\":[{\"event\":\"low_balance\",\"language\":\"en\",\"text\":\"{nobody}\"}]}", 400);

	/* tenants */
	expect("POST", "/v1/tenants", "/v1/tenants", w.fin,
	       "{\"site_id\":\"site_1\",\"name\":\"Noodle Bar\",\"category\":\"catering\",\"area_m2\":\"80\","
	       "\"credit_rating\":\"A\",\"phone\":\"+8613800138000\"}", 201);
	expect("POST", "/v1/tenants", "/v1/tenants", w.fin,
	       "{\"site_id\":\"site_1\",\"name\":\"Tea\",\"category\":\"retail\",\"area_m2\":\"20.5\","
	       "\"credit_rating\":\"B\",\"move_in\":\"2026-01-01\",\"channels\":[\"wechat\",\"sms\"],"
	       "\"wechat_openid\":\"o-abc\",\"language\":\"en\"}", 201);
	expect("POST", "/v1/tenants", "/v1/tenants", w.fin, "{\"site_id\":\"site_1\"}", 400);
	expect("POST", "/v1/tenants", "/v1/tenants", w.fin,
	       "{\"site_id\":\"site_9\",\"name\":\"T\",\"category\":\"c\",\"area_m2\":\"1\",\"credit_rating\":\"A\"}", 400);
	ten_key = th_key(&w.srv, "tenant", "ten_1");
	ten2_key = th_key(&w.srv, "tenant", "ten_2");
	expect("GET", "/v1/tenants", "/v1/tenants?site_id=site_1", w.fin, NULL, 200);
	expect("GET", "/v1/tenants/{id}", "/v1/tenants/ten_1", w.fin, NULL, 200);
	expect("PATCH", "/v1/tenants/{id}", "/v1/tenants/ten_1", w.fin, "{\"category\":\"restaurant\",\"phone\":null}", 200);
	expect("PATCH", "/v1/tenants/{id}", "/v1/tenants/ten_1", w.fin, "{\"credit_rating\":\"Z\"}", 400);

	/* credit policies, tariffs */
	expect("POST", "/v1/credit-policies", "/v1/credit-policies", w.fin,
	       "{\"site_id\":\"site_1\",\"rating\":\"A\",\"warn_levels_minor\":[5000,1000],\"overdraft_minor\":2000,"
	       "\"grace_minutes\":60,\"quiet_hours\":{\"from\":\"22:00\",\"to\":\"07:00\"}}", 201);
	expect("POST", "/v1/credit-policies", "/v1/credit-policies", w.fin,
	       "{\"site_id\":\"site_1\",\"rating\":\"A\",\"warn_levels_minor\":[5000],\"overdraft_minor\":0,"
	       "\"grace_minutes\":0}", 200);
	expect("POST", "/v1/credit-policies", "/v1/credit-policies", w.fin, "{\"site_id\":\"site_1\"}", 400);
	expect("GET", "/v1/credit-policies", "/v1/credit-policies", w.fin, NULL, 200);
	expect("POST", "/v1/tariffs", "/v1/tariffs", w.fin,
	       "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
	       "\"rate_micros_per_kwh\":1234567,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201);
	expect("POST", "/v1/tariffs", "/v1/tariffs", w.fin,
	       "{\"site_id\":\"site_1\",\"name\":\"TOU\",\"currency\":\"CNY\",\"kind\":\"tou\","
	       "\"bands\":[{\"name\":\"peak\",\"rate_micros_per_kwh\":1500000},{\"name\":\"off\",\"rate_micros_per_kwh\":500000}],"
	       "\"schedule\":[{\"from\":\"00:00\",\"to\":\"08:00\",\"band\":\"off\"},{\"from\":\"08:00\",\"to\":\"24:00\",\"band\":\"peak\"}],"
	       "\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201);
	expect("POST", "/v1/tariffs", "/v1/tariffs", w.fin,
	       "{\"site_id\":\"site_1\",\"name\":\"Tiers\",\"currency\":\"CNY\",\"kind\":\"tiered\","
	       "\"tiers\":[{\"up_to_wh\":100000,\"rate_micros_per_kwh\":500000},{\"up_to_wh\":null,\"rate_micros_per_kwh\":800000}]}", 201);
	expect("POST", "/v1/tariffs", "/v1/tariffs", w.fin,
	       "{\"site_id\":\"site_1\",\"name\":\"X\",\"currency\":\"USD\",\"kind\":\"flat\",\"rate_micros_per_kwh\":1}", 422);
	expect("GET", "/v1/tariffs", "/v1/tariffs", w.fin, NULL, 200);
	expect("GET", "/v1/tariffs/{id}", "/v1/tariffs/trf_2", w.fin, NULL, 200);
	expect("POST", "/v1/tariffs/{id}/versions", "/v1/tariffs/trf_1/versions", w.fin,
	       "{\"kind\":\"flat\",\"rate_micros_per_kwh\":1300000,\"effective_from\":\"2027-01-01T00:00:00+08:00\"}", 201);
	expect("POST", "/v1/tariffs/{id}/versions", "/v1/tariffs/trf_1/versions", w.fin, "{\"kind\":\"flat\"}", 400);

	/* gateways, meters */
	struct th_peer gwpeer;
	th_peer_start(&gwpeer, 0);
	snprintf(body, sizeof body, "{\"site_id\":\"site_1\",\"name\":\"Floor 1\",\"delivery\":\"push\",\"url\":\"http://127.0.0.1:%d\"}",
		 gwpeer.port);
	j = ok("POST", "/v1/gateways", "/v1/gateways", w.ops, body, 201);
	char *gw1_key = strdup(str(j, "key"));
	json_decref(j);
	expect("POST", "/v1/gateways", "/v1/gateways", w.ops, "{\"site_id\":\"site_1\",\"name\":\"Pull\",\"delivery\":\"pull\"}", 201);
	expect("POST", "/v1/gateways", "/v1/gateways", w.ops, "{\"site_id\":\"site_1\",\"name\":\"P\",\"delivery\":\"push\"}", 400);
	expect("GET", "/v1/gateways", "/v1/gateways?site_id=site_1", w.ops, NULL, 200);
	expect("POST", "/v1/meters", "/v1/meters", w.ops,
	       "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\",\"gateway_id\":\"gw_1\","
	       "\"max_power_w\":20000,\"register_max_wh\":999999999}", 201);
	expect("POST", "/v1/meters", "/v1/meters", w.ops,
	       "{\"serial\":\"M-2\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_2\",\"tariff_id\":\"trf_1\",\"start_register_wh\":1000}", 201);
	expect("POST", "/v1/meters", "/v1/meters", w.ops,
	       "{\"serial\":\"P-1\",\"site_id\":\"site_1\",\"purpose\":\"hvac\",\"tariff_id\":\"trf_1\"}", 201);
	expect("POST", "/v1/meters", "/v1/meters", w.ops, "{\"serial\":\"M-1\",\"site_id\":\"site_1\"}", 409);
	expect("POST", "/v1/meters", "/v1/meters", w.ops, "{\"serial\":\"M-9\"}", 400);
	expect("GET", "/v1/meters", "/v1/meters?site_id=site_1", w.ops, NULL, 200);
	expect("GET", "/v1/meters/{id}", "/v1/meters/M-1", w.ops, NULL, 200);
	expect("PATCH", "/v1/meters/{id}", "/v1/meters/mtr_1", w.ops, "{\"max_plausible_power_w\":30000}", 200);
	expect("PATCH", "/v1/meters/{id}", "/v1/meters/mtr_1", w.ops, "{\"serial\":\"other\"}", 400);
	expect("GET", "/v1/gateways/{id}", "/v1/gateways/gw_1", w.ops, NULL, 200);

	/* readings: a good batch, a refused reading (too large a step: an energy_implausible alarm) */
	time_t now = time(NULL);
	char t0[32], t1[32], t2[32], d0[16], d1[16], period[8];
	time_t base_t = now - 3 * 3600;
	strftime(t0, sizeof t0, "%Y-%m-%dT%H:%M:%SZ", gmtime(&base_t));
	base_t += 900;
	strftime(t1, sizeof t1, "%Y-%m-%dT%H:%M:%SZ", gmtime(&base_t));
	base_t += 900;
	strftime(t2, sizeof t2, "%Y-%m-%dT%H:%M:%SZ", gmtime(&base_t));
	time_t yday = now - 86400 * 2, tmr = now + 86400 * 2;
	strftime(d0, sizeof d0, "%Y-%m-%d", gmtime(&yday));
	strftime(d1, sizeof d1, "%Y-%m-%d", gmtime(&tmr));
	strftime(period, sizeof period, "%Y-%m", gmtime(&now));
	char spectrum[400] = "[";
	for (int i = 0; i < 30; i++)
		snprintf(spectrum + strlen(spectrum), sizeof spectrum - strlen(spectrum), "%s%.1f", i ? "," : "", i == 1 ? 9.5 : 0.5);
	strcat(spectrum, "]");
	snprintf(body, sizeof body,
		 "{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"%s\",\"energy_wh\":100000,\"power_w\":1000,\"voltage_v\":230.1,"
		 "\"current_a\":4.3,\"pf\":0.95,\"frequency_hz\":50.0,\"thd_v_pct\":2.1,\"thd_i_pct\":8.0,\"relay\":\"on\","
		 "\"harmonics_v_pct\":%s,\"harmonics_i_pct\":%s},"
		 "{\"meter\":\"M-1\",\"ts\":\"%s\",\"energy_wh\":100250,\"power_w\":1000,\"thd_v_pct\":2.2},"
		 "{\"meter\":\"M-2\",\"ts\":\"%s\",\"energy_wh\":2000},{\"meter\":\"P-1\",\"ts\":\"%s\",\"energy_wh\":10},"
		 "{\"meter\":\"P-1\",\"ts\":\"%s\",\"energy_wh\":510},{\"meter\":\"M-1\",\"ts\":\"%s\",\"energy_wh\":900000000},"
		 "{\"meter\":\"nope\",\"ts\":\"%s\",\"energy_wh\":1}]}",
		 t0, spectrum, spectrum, t1, t0, t0, t1, t2, t1);
	j = ok("POST", "/v1/readings", "/v1/readings", w.gw, body, 200);
	json_decref(j);
	expect("POST", "/v1/readings", "/v1/readings", w.gw, "{\"readings\":3}", 400);
	snprintf(path, sizeof path, "/v1/meters/mtr_1/readings?limit=1");
	expect("GET", "/v1/meters/{id}/readings", path, w.fin, NULL, 200);
	expect("GET", "/v1/meters/{id}/readings", "/v1/meters/mtr_1/readings", ten_key, NULL, 200);
	expect("GET", "/v1/meters/{id}/readings", "/v1/meters/mtr_1/readings", ten2_key, NULL, 403);
	expect("GET", "/v1/meters/{id}/power-quality", "/v1/meters/mtr_1/power-quality", w.ops, NULL, 200);
	expect("GET", "/v1/meters/{id}/power-quality", "/v1/meters/mtr_1/power-quality?format=html", w.ops, NULL, 200);
	expect("GET", "/v1/meters/{id}/power-quality", "/v1/meters/mtr_1/power-quality?from=x", w.ops, NULL, 400);
	snprintf(path, sizeof path, "/v1/tenants/ten_1/consumption?from=%s&to=%s", d0, d1);
	expect("GET", "/v1/tenants/{id}/consumption", path, w.fin, NULL, 200);
	snprintf(path, sizeof path, "/v1/tenants/ten_1/consumption?from=%s&to=%s&granularity=month", d0, d1);
	expect("GET", "/v1/tenants/{id}/consumption", path, ten_key, NULL, 200);
	expect("GET", "/v1/tenants/{id}/consumption", "/v1/tenants/ten_1/consumption", w.fin, NULL, 400);

	/* money at the cashier */
	expect("GET", "/v1/tenants/{id}/account", "/v1/tenants/ten_1/account", ten_key, NULL, 200);
	expect("GET", "/v1/tenants/{id}/account", "/v1/tenants/ten_1/account", ten2_key, NULL, 403);
	const char *idem[] = {"Idempotency-Key: spec-topup-1", NULL};
	struct th_resp r = rec_h("POST", "/v1/tenants/{id}/topups", "/v1/tenants/ten_1/topups", w.fin,
				 "{\"amount_minor\":50000,\"channel\":\"cash\",\"reference\":\"till 3\"}", idem);
	ck_assert_int_eq(r.status, 201);
	th_resp_free(&r);
	r = rec_h("POST", "/v1/tenants/{id}/topups", "/v1/tenants/ten_1/topups", w.fin,
		  "{\"amount_minor\":50001,\"channel\":\"cash\"}", idem);
	ck_assert_int_eq(r.status, 409);
	th_resp_free(&r);
	expect("POST", "/v1/tenants/{id}/topups", "/v1/tenants/ten_2/topups", w.fin, "{\"amount_minor\":20000,\"channel\":\"bank\"}", 201);
	expect("POST", "/v1/tenants/{id}/topups", "/v1/tenants/ten_1/topups", w.fin, "{\"amount_minor\":0,\"channel\":\"cash\"}", 400);
	expect("POST", "/v1/tenants/{id}/adjustments", "/v1/tenants/ten_1/adjustments", w.fin,
	       "{\"amount_minor\":-100,\"reason\":\"meter reading error\"}", 201);
	expect("POST", "/v1/tenants/{id}/adjustments", "/v1/tenants/ten_1/adjustments", w.fin, "{\"amount_minor\":0,\"reason\":\"x\"}", 400);
	expect("GET", "/v1/tenants/{id}/ledger", "/v1/tenants/ten_1/ledger", ten_key, NULL, 200);
	expect("GET", "/v1/tenants/{id}/ledger", "/v1/tenants/ten_1/ledger?limit=1", w.fin, NULL, 200);

	/* commands: an operator's cut, its dispatch to the push gateway, the gateway's ack */
	const char *cidem[] = {"Idempotency-Key: spec-cmd-1", NULL};
	r = rec_h("POST", "/v1/meters/{id}/commands", "/v1/meters/mtr_1/commands", w.ops,
		  "{\"action\":\"cut_off\",\"reason\":\"spec\"}", cidem);
	ck_assert_int_eq(r.status, 202);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "%s", str(r.json, "id"));
	th_resp_free(&r);
	expect("POST", "/v1/meters/{id}/commands", "/v1/meters/mtr_1/commands", w.ops, "{\"action\":\"explode\",\"reason\":\"x\"}", 400);
	expect("GET", "/v1/commands", "/v1/commands", w.ops, NULL, 200);
	expect("GET", "/v1/commands", "/v1/commands?state=bogus", w.ops, NULL, 400);
	expect("GET", "/v1/commands", "/v1/commands?wait_s=1", w.ops, NULL, 400);
	/* the pull gateway's key takes its (no) commands */
	snprintf(path, sizeof path, "/v1/commands/%s/ack", cmd);
	expect("POST", "/v1/commands/{id}/ack", path, gw1_key, "{\"result\":\"executed\",\"relay\":\"off\"}", 200);
	expect("POST", "/v1/commands/{id}/ack", path, gw1_key, "{\"result\":\"failed\"}", 409);
	expect("POST", "/v1/commands/{id}/ack", path, gw1_key, "{\"result\":\"maybe\"}", 400);
	expect("GET", "/v1/commands", "/v1/commands?state=acked", gw1_key, NULL, 200);
	free(gw1_key);
	expect("GET", "/v1/notifications", "/v1/notifications", w.ops, NULL, 200);
	expect("GET", "/v1/notifications", "/v1/notifications?state=nope", w.ops, NULL, 400);

	/* alarms: the refused step opened energy_implausible */
	wait_for("SELECT count(*) FROM alarms", 1, 5000);
	expect("GET", "/v1/alarms", "/v1/alarms", w.ops, NULL, 200);
	expect("GET", "/v1/alarms", "/v1/alarms?since=yesterday", w.ops, NULL, 400);
	expect("POST", "/v1/alarms/{id}/shelve", "/v1/alarms/alm_1/shelve", w.ops, "{\"minutes\":30,\"reason\":\"known\"}", 200);
	expect("POST", "/v1/alarms/{id}/shelve", "/v1/alarms/alm_1/shelve", w.ops, "{\"minutes\":30}", 400);
	expect("POST", "/v1/alarms/{id}/ack", "/v1/alarms/alm_1/ack", w.ops, "{\"note\":\"seen\"}", 200);
	expect("POST", "/v1/alarms/{id}/ack", "/v1/alarms/alm_1/ack", w.ops, "{\"note\":\"again\"}", 409);
	expect("PUT", "/v1/sites/{id}/alarm-settings", "/v1/sites/site_1/alarm-settings", w.ops,
	       "{\"overload_readings\":2,\"duty_phone\":\"+8613900000000\",\"harmonic_limits_pct\":{\"3\":5.0}}", 200);
	expect("PUT", "/v1/sites/{id}/alarm-settings", "/v1/sites/site_1/alarm-settings", w.ops, "{\"overload_readings\":\"x\"}", 400);
	expect("PUT", "/v1/meters/{id}/alarm-settings", "/v1/meters/mtr_1/alarm-settings", w.ops, "{\"low_pf\":0.8}", 200);
	expect("PUT", "/v1/meters/{id}/alarm-settings", "/v1/meters/mtr_1/alarm-settings", w.ops, "{\"bogus\":1}", 400);

	/* shared costs */
	expect("POST", "/v1/cost-pools", "/v1/cost-pools", w.fin,
	       "{\"site_id\":\"site_1\",\"name\":\"HVAC\",\"method\":\"area\",\"meter_ids\":[\"mtr_3\"],"
	       "\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_2\"}]}", 201);
	expect("POST", "/v1/cost-pools", "/v1/cost-pools", w.fin, "{\"site_id\":\"site_1\",\"name\":\"x\",\"method\":\"magic\",\"members\":[]}", 400);
	expect("GET", "/v1/cost-pools", "/v1/cost-pools", w.fin, NULL, 200);
	snprintf(body, sizeof body, "{\"period\":\"%s\"}", period);
	expect("POST", "/v1/cost-pools/{id}/runs", "/v1/cost-pools/pool_1/runs", w.fin, body, 200);
	snprintf(body, sizeof body, "{\"period\":\"%s\",\"commit\":true}", period);
	j = ok("POST", "/v1/cost-pools/{id}/runs", "/v1/cost-pools/pool_1/runs", w.fin, body, 201);
	char run[64];
	snprintf(run, sizeof run, "%s", str(j, "id") ? str(j, "id") : "run_1");
	json_decref(j);
	expect("POST", "/v1/cost-pools/{id}/runs", "/v1/cost-pools/pool_1/runs", w.fin, body, 409);
	expect("POST", "/v1/cost-pools/{id}/runs", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"soon\"}", 400);
	expect("GET", "/v1/cost-pools/{id}/runs", "/v1/cost-pools/pool_1/runs", w.fin, NULL, 200);
	expect("GET", "/v1/tenants/{id}/allocations", "/v1/tenants/ten_1/allocations", ten_key, NULL, 200);
	snprintf(path, sizeof path, "/v1/allocation-runs/%s", run);
	expect("GET", "/v1/allocation-runs/{id}", path, w.ops, NULL, 200);
	snprintf(path, sizeof path, "/v1/allocation-runs/%s/reverse", run);
	expect("POST", "/v1/allocation-runs/{id}/reverse", path, w.fin, "{\"reason\":\"wrong month\"}", 200);
	expect("POST", "/v1/allocation-runs/{id}/reverse", path, w.fin, "{\"reason\":\"again\"}", 409);
	snprintf(path, sizeof path, "/v1/sites/site_1/reconciliation?period=%s", period);
	expect("GET", "/v1/sites/{id}/reconciliation", path, w.fin, NULL, 200);
	expect("GET", "/v1/sites/{id}/reconciliation", "/v1/sites/site_1/reconciliation?period=13", w.fin, NULL, 400);

	/* money through Stripe: an order, paid, its notification, a refund, a reconciliation */
	j = ok("POST", "/v1/topup-orders", "/v1/topup-orders", ten_key,
	       "{\"tenant_id\":\"ten_1\",\"amount_minor\":1000,\"provider\":\"stripe\"}", 201);
	char order[64], otn[64], txn[64];
	snprintf(order, sizeof order, "%s", str(j, "id"));
	snprintf(otn, sizeof otn, "%s", str(j, "out_trade_no"));
	json_decref(j);
	expect("POST", "/v1/topup-orders", "/v1/topup-orders", ten_key,
	       "{\"tenant_id\":\"ten_2\",\"amount_minor\":1000,\"provider\":\"stripe\"}", 403);
	/* WeChat Pay and Alipay through the portal, paid, their notifications */
	j = ok("POST", "/v1/topup-orders", "/v1/topup-orders", w.fin,
	       "{\"tenant_id\":\"ten_1\",\"amount_minor\":1200,\"provider\":\"wechat\"}", 201);
	snprintf(body, sizeof body,
		 "{\"mchid\":\"" WX_MCHID "\",\"appid\":\"wxd678efh567hg6787\",\"out_trade_no\":\"%s\","
		 "\"transaction_id\":\"4200000001202611210000000001\",\"trade_type\":\"NATIVE\",\"trade_state\":\"SUCCESS\","
		 "\"trade_state_desc\":\"ok\",\"success_time\":\"2026-11-21T10:00:00+08:00\","
		 "\"payer\":{\"openid\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\"},"
		 "\"amount\":{\"total\":1200,\"payer_total\":1200,\"currency\":\"CNY\",\"payer_currency\":\"CNY\"}}",
		 str(j, "out_trade_no"));
	json_decref(j);
	r = wx_notify(body);
	ck_assert_msg(r.status == 204, "wechat notification: %ld %s", r.status, r.body);
	th_resp_free(&r);
	j = ok("POST", "/v1/topup-orders", "/v1/topup-orders", w.fin,
	       "{\"tenant_id\":\"ten_1\",\"amount_minor\":888,\"provider\":\"alipay\"}", 201);
	char p_otn[128];
	snprintf(p_otn, sizeof p_otn, "out_trade_no=%s", str(j, "out_trade_no"));
	json_decref(j);
	const char *ali_paid[] = {"app_id=" ALI_APP_ID, "charset=utf-8", "gmt_payment=2026-11-21 15:00:00",
				  "notify_id=ac05099524730693a8b330c5ecf72da9786", "notify_time=2026-11-21 15:00:01",
				  "notify_type=trade_status_sync", p_otn, "total_amount=8.88",
				  "trade_no=2026112122001400001", "trade_status=TRADE_SUCCESS", "version=1.0", NULL};
	r = ali_notify(ali_paid);
	ck_assert_msg(r.status == 200, "alipay notification: %ld %s", r.status, r.body);
	th_resp_free(&r);
	expect("POST", "/v1/topup-orders", "/v1/topup-orders", w.fin, "{\"tenant_id\":\"ten_1\",\"amount_minor\":-1,\"provider\":\"stripe\"}", 400);
	snprintf(path, sizeof path, "/v1/topup-orders/%s", order);
	expect("GET", "/v1/topup-orders/{id}", path, w.fin, NULL, 200);
	ck_assert_int_eq(fakepay_pay(stripe, otn, txn), 0);
	snprintf(body, sizeof body, "{\"id\":\"evt_spec_1\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
		 "{\"id\":\"%s\",\"amount_received\":1000,\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"%s\"}}}}", txn, otn);
	r = stripe_event(body);
	ck_assert_msg(r.status == 200, "stripe event: %ld %s", r.status, r.body);
	th_resp_free(&r);
	expect("GET", "/v1/topup-orders/{id}", path, ten_key, NULL, 200);
	/* a genuine payment that matches no order: a conflict */
	snprintf(body, sizeof body, "{\"id\":\"evt_spec_2\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
		 "{\"id\":\"pi_spec_orphan\",\"amount_received\":700,\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"nobody\"}}}}");
	r = stripe_event(body);
	th_resp_free(&r);
	r = rec_h("POST", "/v1/webhooks/payments/stripe", "/v1/webhooks/payments/stripe", NULL, body,
		  (const char *const[]){"Stripe-Signature: t=1,v1=00", NULL});
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	expect("GET", "/v1/payment-conflicts", "/v1/payment-conflicts", w.fin, NULL, 200);
	expect("GET", "/v1/payment-conflicts", "/v1/payment-conflicts?state=nope", w.fin, NULL, 400);
	if (q("SELECT count(*) FROM payment_conflicts") > 0) {
		expect("POST", "/v1/payment-conflicts/{id}/resolve", "/v1/payment-conflicts/pcf_1/resolve", w.fin,
		       "{\"action\":\"reject\",\"reason\":\"not ours\"}", 200);
		expect("POST", "/v1/payment-conflicts/{id}/resolve", "/v1/payment-conflicts/pcf_1/resolve", w.fin,
		       "{\"action\":\"reject\",\"reason\":\"again\"}", 409);
	}
	expect("POST", "/v1/payment-conflicts/{id}/resolve", "/v1/payment-conflicts/pcf_1/resolve", w.fin, "{\"action\":\"eat\",\"reason\":\"x\"}", 400);
	char pay[64];
	/* a refund of the WeChat payment: no merchant key here, so 503 */
	snprintf(pay, sizeof pay, "pay_%lld", q("SELECT min(id) FROM payments WHERE provider = 'wechat'"));
	snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount_minor\":100,\"reason\":\"overpaid\"}", pay);
	const char *widem[] = {"Idempotency-Key: spec-refund-wx", NULL};
	r = rec_h("POST", "/v1/refunds", "/v1/refunds", w.fin, body, widem);
	ck_assert_msg(r.status == 503, "wechat refund: %ld %s", r.status, r.body);
	th_resp_free(&r);
	snprintf(pay, sizeof pay, "pay_%lld", q("SELECT min(id) FROM payments WHERE provider = 'stripe'"));
	snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount_minor\":300,\"reason\":\"overpaid\"}", pay);
	const char *ridem[] = {"Idempotency-Key: spec-refund-1", NULL};
	r = rec_h("POST", "/v1/refunds", "/v1/refunds", w.fin, body, ridem);
	ck_assert_msg(r.status == 202, "refund: %ld %s", r.status, r.body);
	char rfd[64];
	snprintf(rfd, sizeof rfd, "%s", str(r.json, "id"));
	th_resp_free(&r);
	snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount_minor\":99999,\"reason\":\"too much\"}", pay);
	const char *ridem2[] = {"Idempotency-Key: spec-refund-2", NULL};
	r = rec_h("POST", "/v1/refunds", "/v1/refunds", w.fin, body, ridem2);
	ck_assert_int_eq(r.status, 422);
	th_resp_free(&r);
	expect("POST", "/v1/refunds", "/v1/refunds", w.fin, "{\"payment_id\":\"pay_1\",\"amount_minor\":1,\"reason\":\"no key\"}", 400);
	expect("GET", "/v1/refunds", "/v1/refunds", w.fin, NULL, 200);
	expect("GET", "/v1/refunds", "/v1/refunds?state=nope", w.fin, NULL, 400);
	snprintf(path, sizeof path, "/v1/refunds/%s", rfd);
	expect("GET", "/v1/refunds/{id}", path, w.fin, NULL, 200);
	char today[16];
	strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
	snprintf(body, sizeof body, "{\"provider\":\"stripe\",\"date\":\"%s\",\"site_id\":\"site_1\"}", today);
	j = ok("POST", "/v1/reconciliations", "/v1/reconciliations", w.fin, body, 201);
	char recn[64];
	snprintf(recn, sizeof recn, "%s", str(j, "id"));
	json_decref(j);
	expect("POST", "/v1/reconciliations", "/v1/reconciliations", w.fin, "{\"provider\":\"wechat\",\"date\":\"2026-01-01\"}", 503);
	expect("POST", "/v1/reconciliations", "/v1/reconciliations", w.fin, "{\"provider\":\"stripe\",\"date\":\"then\"}", 400);
	expect("GET", "/v1/reconciliations", "/v1/reconciliations", w.fin, NULL, 200);
	expect("GET", "/v1/reconciliations", "/v1/reconciliations?provider=paypal", w.fin, NULL, 400);
	snprintf(path, sizeof path, "/v1/reconciliations/%s", recn);
	expect("GET", "/v1/reconciliations/{id}", path, w.fin, NULL, 200);

	/* receipts and reports */
	expect("GET", "/v1/receipts", "/v1/receipts", w.fin, NULL, 200);
	expect("GET", "/v1/receipts", "/v1/receipts", ten_key, NULL, 200);
	snprintf(path, sizeof path, "/v1/receipts/rcpt_%lld", q("SELECT min(id) FROM receipts"));
	expect("GET", "/v1/receipts/{id}", path, w.fin, NULL, 200);
	char html[400];
	snprintf(html, sizeof html, "%s?format=html", path);
	expect("GET", "/v1/receipts/{id}", html, w.fin, NULL, 200);
	snprintf(html, sizeof html, "%s?format=doc", path);
	expect("GET", "/v1/receipts/{id}", html, w.fin, NULL, 400);
	snprintf(body, sizeof body, "{\"kind\":\"tenant_statement\",\"period\":\"%s\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}", period);
	j = ok("POST", "/v1/reports", "/v1/reports", w.fin, body, 201);
	char rep[64];
	snprintf(rep, sizeof rep, "%s", str(j, "id"));
	json_decref(j);
	snprintf(body, sizeof body, "{\"kind\":\"finance_summary\",\"period\":\"%s\",\"site_id\":\"site_1\"}", period);
	expect("POST", "/v1/reports", "/v1/reports", w.fin, body, 201);
	snprintf(body, sizeof body, "{\"kind\":\"energy\",\"period\":\"%s\",\"site_id\":\"site_1\"}", period);
	expect("POST", "/v1/reports", "/v1/reports", w.ops, body, 201);
	expect("POST", "/v1/reports", "/v1/reports", w.fin, "{\"kind\":\"poem\",\"period\":\"2026-01\",\"site_id\":\"site_1\"}", 400);
	expect("GET", "/v1/reports", "/v1/reports", w.fin, NULL, 200);
	for (int i = 1; i <= 3; i++) {
		snprintf(path, sizeof path, "/v1/reports/rpt_%d", i);
		expect("GET", "/v1/reports/{id}", path, w.fin, NULL, 200);
	}
	snprintf(path, sizeof path, "/v1/reports/%s?format=csv", rep);
	expect("GET", "/v1/reports/{id}", path, w.fin, NULL, 200);
	snprintf(path, sizeof path, "/v1/reports/%s?format=html", rep);
	expect("GET", "/v1/reports/{id}", path, ten_key, NULL, 200);

	/* moving out: ten_2 with cash */
	snprintf(body, sizeof body, "{\"at\":\"%s\",\"settlement\":\"cash\"}", t2);
	expect("POST", "/v1/tenants/{id}/move-out", "/v1/tenants/ten_2/move-out", w.fin, body, 201);
	expect("POST", "/v1/tenants/{id}/move-out", "/v1/tenants/ten_2/move-out", w.fin, body, 409);
	expect("POST", "/v1/tenants/{id}/move-out", "/v1/tenants/ten_1/move-out", w.fin, "{\"at\":\"x\",\"settlement\":\"cash\"}", 400);
	expect("GET", "/v1/tenants/{id}/move-out", "/v1/tenants/ten_2/move-out", w.fin, NULL, 200);
	expect("GET", "/v1/tenants/{id}/move-out", "/v1/tenants/ten_1/move-out", w.fin, NULL, 404);

	/* SMS delivery reports */
	expect("POST", "/v1/webhooks/sms/twilio", "/v1/webhooks/sms/twilio?token=" SMS_TOKEN, NULL,
	       "MessageSid=SMnobody&MessageStatus=delivered", 404);
	r = rec_h("POST", "/v1/webhooks/sms/twilio", "/v1/webhooks/sms/twilio?token=" SMS_TOKEN, NULL,
		  "MessageSid=SMnobody&MessageStatus=sent", (const char *const[]){"Content-Type: application/x-www-form-urlencoded", NULL});
	th_resp_free(&r);
	expect("POST", "/v1/webhooks/sms/twilio", "/v1/webhooks/sms/twilio?token=wrong", NULL, "MessageSid=x", 401);
	expect("POST", "/v1/webhooks/sms/aliyun", "/v1/webhooks/sms/aliyun?token=" SMS_TOKEN, NULL,
	       "[{\"phone_number\":\"13800138000\",\"send_time\":\"2026-01-01 10:00:00\",\"report_time\":\"2026-01-01 10:00:05\","
	       "\"success\":true,\"err_code\":\"DELIVERED\",\"err_msg\":\"ok\",\"sms_size\":\"1\",\"biz_id\":\"nobody\",\"out_id\":\"\"}]", 200);
	expect("POST", "/v1/webhooks/sms/aliyun", "/v1/webhooks/sms/aliyun?token=" SMS_TOKEN, NULL, "{", 400);
	expect("POST", "/v1/webhooks/sms/tencent", "/v1/webhooks/sms/tencent?token=" SMS_TOKEN, NULL,
	       "[{\"user_receive_time\":\"2026-01-01 10:00:05\",\"nationcode\":\"86\",\"mobile\":\"13800138000\","
	       "\"report_status\":\"SUCCESS\",\"errmsg\":\"DELIVRD\",\"description\":\"ok\",\"sid\":\"nobody\"}]", 200);
	expect("POST", "/v1/webhooks/sms/tencent", "/v1/webhooks/sms/tencent", NULL, "[]", 401);
	expect("POST", "/v1/webhooks/payments/wechat", "/v1/webhooks/payments/wechat", NULL, "{}", 401);
	expect("POST", "/v1/webhooks/payments/alipay", "/v1/webhooks/payments/alipay", NULL, "a=b", 401);

	/* keys and the audit log */
	j = ok("POST", "/v1/api-keys", "/v1/api-keys", admin, "{\"name\":\"gw site\",\"role\":\"gateway\",\"site_id\":\"site_1\"}", 201);
	snprintf(path, sizeof path, "/v1/api-keys/%s", str(j, "id"));
	json_decref(j);
	expect("POST", "/v1/api-keys", "/v1/api-keys", admin, "{\"name\":\"t\",\"role\":\"tenant\"}", 400);
	expect("DELETE", "/v1/api-keys/{id}", path, admin, NULL, 204);
	expect("DELETE", "/v1/api-keys/{id}", path, admin, NULL, 204); /* again: still revoked */
	expect("GET", "/v1/audit", "/v1/audit?limit=5", admin, NULL, 200);
	expect("GET", "/v1/audit", "/v1/audit?since=then", admin, NULL, 400);

	/* users and sessions (issue 17): a user made, listed, changed; a session by password, read
	 * with its cookie, refused without X-CSRF-Token, ended; a phone code asked and refused */
	json_t *u = ok("POST", "/v1/users", "/v1/users", admin,
		       "{\"username\":\"clerk\",\"password\":\"correct horse battery\",\"role\":\"finance\"}", 201);
	char upath[64];
	snprintf(upath, sizeof upath, "/v1/users/%s", str(u, "id"));
	json_decref(u);
	expect("POST", "/v1/users", "/v1/users", admin, "{\"username\":\"short\",\"password\":\"abc\",\"role\":\"finance\"}",
	       422);
	expect("POST", "/v1/users", "/v1/users", admin,
	       "{\"username\":\"clerk\",\"password\":\"correct horse battery\",\"role\":\"finance\"}", 409);
	json_decref(ok("GET", "/v1/users", "/v1/users", admin, NULL, 200));
	json_decref(ok("GET", "/v1/users/{id}", upath, admin, NULL, 200));
	expect("GET", "/v1/users/{id}", "/v1/users/usr_999", admin, NULL, 404);
	json_decref(ok("PATCH", "/v1/users/{id}", upath, admin, "{\"role\":\"operator\"}", 200));
	expect("POST", "/v1/sessions", "/v1/sessions", NULL, "{\"username\":\"clerk\",\"password\":\"not the password\"}",
	       401);
	struct th_resp sr = rec("POST", "/v1/sessions", "/v1/sessions", NULL,
				"{\"username\":\"clerk\",\"password\":\"correct horse battery\"}");
	ck_assert_msg(sr.status == 201 && sr.set_cookie[0], "%ld %s", sr.status, sr.body);
	char cookie[600], csrf[200];
	snprintf(cookie, sizeof cookie, "Cookie: %.*s", (int)strcspn(sr.set_cookie, ";"), sr.set_cookie);
	snprintf(csrf, sizeof csrf, "X-CSRF-Token: %s", str(sr.json, "csrf_token"));
	th_resp_free(&sr);
	const char *ch[] = {cookie, NULL}, *chc[] = {cookie, csrf, NULL};
	static const struct {
		const char *method;
		int with_csrf;
		long want;
	} steps[] = {{"GET", 0, 200}, {"DELETE", 0, 403}, {"DELETE", 1, 204}, {"GET", 0, 401}};
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		struct th_resp cr = rec_h(steps[k].method, "/v1/sessions/current", "/v1/sessions/current", NULL, NULL,
					  steps[k].with_csrf ? chc : ch);
		ck_assert_msg(cr.status == steps[k].want, "%s /v1/sessions/current: %ld: %s", steps[k].method, cr.status,
			      cr.body);
		th_resp_free(&cr);
	}
	expect("POST", "/v1/sessions/otp", "/v1/sessions/otp", NULL, "{\"phone\":\"+8613800000099\"}", 202);
	expect("POST", "/v1/sessions/otp", "/v1/sessions/otp", NULL, "{\"phone\":\"+8613800000099\",\"code\":\"123456\"}",
	       401);

	/* the console's first page, its files and the tenant page (issue 17) */
	json_decref(ok("GET", "/v1/dashboard", "/v1/dashboard?site_id=site_1", w.fin, NULL, 200));
	expect("GET", "/v1/dashboard", "/v1/dashboard?site_id=site_999", w.fin, NULL, 404);
	expect("GET", "/console", "/console", NULL, NULL, 308);
	expect("GET", "/t", "/t", NULL, NULL, 308);
	expect("GET", "/console/{path*}", "/console/", NULL, NULL, 200);
	expect("GET", "/console/{path*}", "/console/no-such-file.js", NULL, NULL, 404);
	expect("GET", "/t/{path*}", "/t/", NULL, NULL, 200);

	/* a body over WATTLE_BODY_MAX */
	size_t big_n = 70000;
	char *big = malloc(big_n + 32);
	snprintf(big, big_n + 32, "{\"name\":\"%0*d\"}", (int)big_n, 0);
	expect("POST", "/v1/tenants", "/v1/tenants", w.fin, big, 413);
	free(big);

	each_route_refuses();
	th_peer_stop(&gwpeer);
	fclose(out);
	out = NULL;

	/* coverage: every route answered, and with a success unless skipped for a reason */
	char missing[4096] = "";
	for (int i = 0; api_routes[i].method; i++) {
		char name[200];
		snprintf(name, sizeof name, "%s %s", api_routes[i].method, api_routes[i].pattern);
		bool skipped = false;
		for (int k = 0; SKIPPED[k][0]; k++)
			skipped |= !strcmp(SKIPPED[k][0], name);
		if (!seen[i] || (!seen_ok[i] && !skipped))
			snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "\n  %s (%s)", name,
				 seen[i] ? "no 2xx reply" : "never asked");
	}
	ck_assert_msg(!missing[0], "routes the suite did not drive:%s", missing);

	ck_assert_msg(!wrong_status[0], "replies of another status than the suite expects:%s", wrong_status);

	/* every reply against the spec */
	char cmdline[1024];
	snprintf(cmdline, sizeof cmdline, "node %s/tests/spec/validate.mjs %s/api/openapi.yaml %s 2>&1", WATTLE_SRC,
		 WATTLE_SRC, out_path);
	FILE *p = popen(cmdline, "r");
	ck_assert_ptr_nonnull(p);
	static char report[1 << 16];
	size_t n = fread(report, 1, sizeof report - 1, p);
	report[n] = 0;
	int status = pclose(p);
	fprintf(stderr, "%s", report);
	ck_assert_msg(status == 0, "replies the spec does not describe (validate.mjs exit %d):\n%s", status, report);
	unlink(out_path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spec_replies");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, every_route_answers_as_the_spec_says);
	suite_add_tcase(s, tc);
	return th_run(s);
}
