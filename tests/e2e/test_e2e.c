/* test_e2e.c: the real wattle binary over real HTTP against a real PostgreSQL. */
#include "harness.h"

#include <zlib.h>
#include "server/config.h"

#include <sys/wait.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *db;
static struct th_server srv;
static char *fin; /* a finance key */

static void start_with(const char *const *env)
{
	db = th_fresh_db();
	th_server_start(&srv, db, env);
	fin = th_key(&srv, "finance", NULL);
}

static void setup(void) { start_with(NULL); }

static void teardown(void)
{
	ck_assert_int_eq(th_server_stop(&srv), 0); /* SIGTERM stops it cleanly */
	th_assert_ledger_invariant(db);
	free(fin);
	free(db);
}

static const char *A(void) { return srv.admin_key; }

/* A site and a tenant on it; returns the tenant id (static buffer). */
static const char *seed(void)
{
	static char tid[32];
	json_t *s = th_ok(&srv, "POST", "/v1/sites", A(),
			  "{\"name\":\"Harbour Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201);
	char body[512];
	snprintf(body, sizeof body,
		 "{\"site_id\":\"%s\",\"name\":\"Noodle Bar\",\"category\":\"catering\","
		 "\"area_m2\":\"86.50\",\"credit_rating\":\"B\",\"phone\":\"+8613800138000\"}",
		 json_string_value(json_object_get(s, "id")));
	json_decref(s);
	json_t *t = th_ok(&srv, "POST", "/v1/tenants", fin, body, 201);
	snprintf(tid, sizeof tid, "%s", json_string_value(json_object_get(t, "id")));
	json_decref(t);
	return tid;
}

static long long balance(const char *tid)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/account", tid);
	json_t *a = th_ok(&srv, "GET", path, fin, NULL, 200);
	long long b = json_integer_value(json_object_get(a, "balance_minor"));
	json_decref(a);
	return b;
}

/* ---- engine ---- */

START_TEST(health_ready_metrics)
{
	json_t *h = th_ok(&srv, "GET", "/healthz", NULL, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "ok");
	json_decref(h);
	json_t *r = th_ok(&srv, "GET", "/readyz", NULL, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "ready");
	json_decref(r);
	seed();
	struct th_resp m = th_req(&srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_int_eq(m.status, 200);
	ck_assert_msg(strstr(m.content_type, "text/plain"), "content type %s", m.content_type);
	ck_assert(strstr(m.body, "wattle_http_requests_total{method=\"POST\",route=\"/v1/tenants\",status=\"201\"} 1"));
	ck_assert(strstr(m.body, "wattle_http_request_duration_seconds_bucket{method=\"GET\",route=\"/readyz\",status=\"200\",le=\"+Inf\"} 1"));
	ck_assert(strstr(m.body, "wattle_db_tx_commits_total"));
	/* every family says what it counts (promtool refused the seven that did not) */
	int types = 0, helps = 0;
	for (const char *p = m.body; (p = strstr(p, "# TYPE ")); p += 7)
		types++;
	for (const char *p = m.body; (p = strstr(p, "# HELP ")); p += 7)
		helps++;
	ck_assert_int_ge(types, 15);
	ck_assert_int_eq(helps, types);
	/* what the control room graphs: accounts by state, alarms, the outboxes, the build */
	ck_assert_msg(strstr(m.body, "wattle_accounts{state=\"normal\"} 1\n"), "%s", m.body);
	ck_assert(strstr(m.body, "wattle_gauges_up 1\n"));
	ck_assert(strstr(m.body, "wattle_outbox_commands_oldest_seconds 0\n"));
	ck_assert(strstr(m.body, "wattle_outbox_notifications_oldest_seconds "));
	ck_assert(strstr(m.body, "wattle_build_info{version=\"0."));
	th_resp_free(&m);
}
END_TEST

START_TEST(request_id_echoed_or_made)
{
	const char *hdr[] = {"X-Request-Id: trace-abc.123", NULL};
	struct th_resp r = th_req(&srv, "GET", "/healthz", NULL, NULL, hdr);
	ck_assert_str_eq(r.request_id, "trace-abc.123");
	th_resp_free(&r);
	struct th_resp r2 = th_req(&srv, "GET", "/v1/nothing", NULL, NULL, NULL);
	ck_assert_int_eq(r2.status, 404);
	ck_assert_int_eq((int)strlen(r2.request_id), 16);
	th_resp_free(&r2);
	const char *bad[] = {"X-Request-Id: has space", NULL};
	struct th_resp r3 = th_req(&srv, "GET", "/healthz", NULL, NULL, bad);
	ck_assert_int_eq((int)strlen(r3.request_id), 16);
	th_resp_free(&r3);
}
END_TEST

START_TEST(routing_errors)
{
	struct th_resp r = th_req(&srv, "GET", "/v1/unknown", A(), NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(th_err(&r), "not_found");
	th_resp_free(&r);
	r = th_req(&srv, "PUT", "/v1/tenants", A(), "{}", NULL);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(th_err(&r), "method_not_allowed");
	th_resp_free(&r);
	r = th_req(&srv, "GET", "/v1/tenants/ten_999", fin, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	r = th_req(&srv, "GET", "/v1/tenants/site_1", fin, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
}
END_TEST

START_TEST(body_rules)
{
	const char *ok = "{\"name\":\"M\",\"timezone\":\"UTC\",\"currency\":\"USD\"}";
	const char *text[] = {"Content-Type: text/plain", NULL};
	struct th_resp r = th_req(&srv, "POST", "/v1/sites", A(), ok, text);
	ck_assert_int_eq(r.status, 415);
	ck_assert_str_eq(th_err(&r), "unsupported_media_type");
	th_resp_free(&r);
	const char *charset[] = {"Content-Type: application/json; charset=utf-8", NULL};
	r = th_req(&srv, "POST", "/v1/sites", A(), ok, charset);
	ck_assert_int_eq(r.status, 201);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/sites", A(), "{\"name\":", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "malformed_json");
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/sites", A(),
		   "{\"name\":\"a\",\"name\":\"b\",\"timezone\":\"UTC\",\"currency\":\"USD\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "malformed_json");
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/sites", A(), "[1,2]", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/sites", A(),
		   "{\"name\":\"M\",\"timezone\":\"UTC\",\"currency\":\"USD\",\"colour\":\"red\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "unknown_field");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "field")), "colour");
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/sites", A(), "{\"name\":\"M\",\"timezone\":\"UTC\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "missing_field");
	th_resp_free(&r);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM sites"), 1);
}
END_TEST

START_TEST(body_too_large)
{
	size_t n = 2 << 20;
	char *big = malloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = 0;
	struct th_resp r = th_req(&srv, "POST", "/v1/sites", A(), big, NULL);
	ck_assert_int_eq(r.status, 413);
	ck_assert_str_eq(th_err(&r), "body_too_large");
	th_resp_free(&r);
	free(big);
	/* The server is still fine afterwards. */
	json_t *h = th_ok(&srv, "GET", "/healthz", NULL, NULL, 200);
	json_decref(h);
}
END_TEST

/* ---- auth ---- */

START_TEST(auth_codes)
{
	const char *tid = seed();
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/account", tid);
	struct th_resp r = th_req(&srv, "GET", path, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	r = th_req(&srv, "GET", path, "wk_000000000000000000000000000000000000000000000000", NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	r = th_req(&srv, "GET", path, "nonsense", NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	char *gw = th_key(&srv, "gateway", NULL);
	r = th_req(&srv, "GET", path, gw, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	ck_assert_str_eq(th_err(&r), "forbidden");
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/sites", fin, "{}", NULL); /* finance may not create sites */
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	free(gw);
	/* admin_reads_what_any_role_reads: the demo printed an admin key and examples with it, and
	 * admin could not read an account, the alarms or the reports (403). It may now read every
	 * GET route, and still changes only what it is listed for. */
	static const char *const reads[] = {"/v1/alarms", "/v1/reports", "/v1/commands", "/v1/notifications",
					    "/v1/payment-conflicts", NULL};
	json_decref(th_ok(&srv, "GET", path, srv.admin_key, NULL, 200));
	for (int i = 0; reads[i]; i++)
		json_decref(th_ok(&srv, "GET", reads[i], srv.admin_key, NULL, 200));
	char topups[128];
	snprintf(topups, sizeof topups, "/v1/tenants/%s/topups", tid);
	r = th_req(&srv, "POST", topups, srv.admin_key, "{\"amount_minor\":100,\"channel\":\"cash\"}", NULL);
	ck_assert_int_eq(r.status, 403); /* money is finance's */
	th_resp_free(&r);

	/* A tenant key reads its own account and ledger, not another tenant's. */
	char *own = th_key(&srv, "tenant", tid);
	json_t *a = th_ok(&srv, "GET", path, own, NULL, 200);
	json_decref(a);
	json_t *t2 = th_ok(&srv, "POST", "/v1/tenants", fin,
			   "{\"site_id\":\"site_1\",\"name\":\"Shoes\",\"category\":\"retail\","
			   "\"area_m2\":\"40\",\"credit_rating\":\"A\"}", 201);
	char other[128];
	snprintf(other, sizeof other, "/v1/tenants/%s/account",
		 json_string_value(json_object_get(t2, "id")));
	r = th_req(&srv, "GET", other, own, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	snprintf(other, sizeof other, "/v1/tenants/%s/ledger", json_string_value(json_object_get(t2, "id")));
	r = th_req(&srv, "GET", other, own, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tid); /* read-only */
	r = th_req(&srv, "POST", path, own, "{\"amount_minor\":100,\"channel\":\"cash\"}", NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	json_decref(t2);
	free(own);
}
END_TEST

START_TEST(api_keys_revoke)
{
	json_t *k = th_ok(&srv, "POST", "/v1/api-keys", A(), "{\"name\":\"ops desk\",\"role\":\"operator\"}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(k, "role")), "operator");
	ck_assert(json_is_null(json_object_get(k, "tenant_id")));
	const char *key = json_string_value(json_object_get(k, "key"));
	json_t *m = th_ok(&srv, "GET", "/v1/meters", key, NULL, 200);
	json_decref(m);
	/* Stored hashed: the key itself appears nowhere in the database. */
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM api_keys WHERE key_hash = '%s' OR key_prefix = '%s'", key, key);
	ck_assert_int_eq(th_sql_int(db, sql), 0);
	char path[64];
	snprintf(path, sizeof path, "/v1/api-keys/%s", json_string_value(json_object_get(k, "id")));
	json_t *d = th_ok(&srv, "DELETE", path, A(), NULL, 204);
	json_decref(d);
	struct th_resp r = th_req(&srv, "GET", "/v1/meters", key, NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
	r = th_req(&srv, "DELETE", "/v1/api-keys/key_999", A(), NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/api-keys", A(), "{\"name\":\"x\",\"role\":\"tenant\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/api-keys", A(), "{\"name\":\"x\",\"role\":\"tenant\",\"tenant_id\":\"ten_77\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	json_decref(k);
}
END_TEST

/* ---- resources ---- */

START_TEST(sites_validate)
{
	static const char *bad[] = {
		"{\"name\":\"M\",\"timezone\":\"Mars/Olympus\",\"currency\":\"CNY\"}",
		"{\"name\":\"M\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"RMB\"}",
		"{\"name\":\"\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}",
		"{\"name\":7,\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}",
	};
	static const char *field[] = {"timezone", "currency", "name", "name"};
	for (int i = 0; i < 4; i++) {
		struct th_resp r = th_req(&srv, "POST", "/v1/sites", A(), bad[i], NULL);
		ck_assert_int_eq(r.status, 400);
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "field")), field[i]);
		th_resp_free(&r);
	}
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM sites"), 0);
	json_t *s = th_ok(&srv, "GET", "/v1/sites", A(), NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(s, "items")), 0);
	json_decref(s);
}
END_TEST

START_TEST(tenants_crud_and_pages)
{
	const char *tid = seed();
	char path[64];
	snprintf(path, sizeof path, "/v1/tenants/%s", tid);
	json_t *t = th_ok(&srv, "GET", path, fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(t, "area_m2")), "86.50");
	ck_assert_str_eq(json_string_value(json_object_get(t, "status")), "active");
	json_decref(t);
	t = th_ok(&srv, "PATCH", path, fin, "{\"area_m2\":\"90.5\",\"phone\":null,\"credit_rating\":\"C\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(t, "area_m2")), "90.50");
	ck_assert(json_is_null(json_object_get(t, "phone")));
	ck_assert_str_eq(json_string_value(json_object_get(t, "credit_rating")), "C");
	ck_assert_str_eq(json_string_value(json_object_get(t, "name")), "Noodle Bar");
	json_decref(t);
	static const char *bad[] = {"{\"area_m2\":\"90.505\"}", "{\"area_m2\":90.5}", "{\"phone\":\"12345\"}",
				    "{\"credit_rating\":\"E\"}", "{\"site_id\":\"site_1\"}", "{\"name\":null}"};
	for (int i = 0; i < 6; i++) {
		struct th_resp r = th_req(&srv, "PATCH", path, fin, bad[i], NULL);
		ck_assert_msg(r.status == 400, "%s: %ld", bad[i], r.status);
		th_resp_free(&r);
	}
	struct th_resp r = th_req(&srv, "POST", "/v1/tenants", fin,
				  "{\"site_id\":\"site_99\",\"name\":\"x\",\"category\":\"retail\",\"area_m2\":\"1\",\"credit_rating\":\"A\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	/* Five more, then page through all six two at a time. */
	for (int i = 0; i < 5; i++) {
		json_t *x = th_ok(&srv, "POST", "/v1/tenants", fin,
				  "{\"site_id\":\"site_1\",\"name\":\"Shop\",\"category\":\"retail\",\"area_m2\":\"10\",\"credit_rating\":\"A\"}", 201);
		json_decref(x);
	}
	int seen = 0;
	char next[64] = "";
	for (int page = 0; page < 10; page++) {
		char url[128];
		snprintf(url, sizeof url, "/v1/tenants?limit=2%s%s", next[0] ? "&after=" : "", next);
		json_t *p = th_ok(&srv, "GET", url, fin, NULL, 200);
		seen += (int)json_array_size(json_object_get(p, "items"));
		json_t *n = json_object_get(p, "next_after");
		if (json_is_null(n)) {
			json_decref(p);
			break;
		}
		snprintf(next, sizeof next, "%s", json_string_value(n));
		json_decref(p);
	}
	ck_assert_int_eq(seen, 6);
	r = th_req(&srv, "GET", "/v1/tenants?limit=0", fin, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "GET", "/v1/tenants?limit=1001", fin, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "GET", "/v1/tenants?after=bogus", fin, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
}
END_TEST

START_TEST(account_shape_and_policy)
{
	const char *tid = seed();
	json_t *p = th_ok(&srv, "POST", "/v1/credit-policies", fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[50000,20000],"
			  "\"overdraft_minor\":1000,\"grace_minutes\":60,\"restore_min_minor\":0,"
			  "\"quiet_hours\":{\"from\":\"22:00\",\"to\":\"08:00\"}}", 201);
	json_decref(p);
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/account", tid);
	json_t *a = th_ok(&srv, "GET", path, fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(a, "tenant_id")), tid);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "balance_minor")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a, "currency")), "CNY");
	ck_assert_int_eq(json_integer_value(json_object_get(a, "cut_threshold_minor")), -1000);
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(a, "warn_levels_minor"), 1)), 20000);
	ck_assert(json_is_null(json_object_get(a, "grace_until")));
	ck_assert_str_eq(json_string_value(json_object_get(a, "supply")), "on");
	ck_assert(json_object_get(a, "state"));
	json_decref(a);
	/* POST again for the same site and rating replaces (200), and the account follows. */
	p = th_ok(&srv, "POST", "/v1/credit-policies", fin,
		  "{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[10000],"
		  "\"overdraft_minor\":0,\"grace_minutes\":30,\"quiet_hours\":null}", 200);
	ck_assert(json_is_null(json_object_get(p, "quiet_hours")));
	json_decref(p);
	a = th_ok(&srv, "GET", path, fin, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "cut_threshold_minor")), 0);
	json_decref(a);
	static const char *bad[] = {
		"{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[100,200],\"overdraft_minor\":0,\"grace_minutes\":1}",
		"{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[1.5],\"overdraft_minor\":0,\"grace_minutes\":1}",
		"{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[],\"overdraft_minor\":-5,\"grace_minutes\":1}",
		"{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[],\"overdraft_minor\":0,\"grace_minutes\":1,\"quiet_hours\":{\"from\":\"25:00\",\"to\":\"08:00\"}}",
		"{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[],\"overdraft_minor\":\"0\",\"grace_minutes\":1}",
	};
	for (int i = 0; i < 5; i++) {
		struct th_resp r = th_req(&srv, "POST", "/v1/credit-policies", fin, bad[i], NULL);
		ck_assert_msg(r.status == 400, "case %d: %ld %s", i, r.status, r.body);
		th_resp_free(&r);
	}
	json_t *l = th_ok(&srv, "GET", "/v1/credit-policies?site_id=site_1", fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(l, "items")), 1);
	json_decref(l);
}
END_TEST

START_TEST(topups_adjustments_ledger)
{
	const char *tid = seed();
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tid);
	json_t *e = th_ok(&srv, "POST", path, fin, "{\"amount_minor\":50000,\"channel\":\"bank\",\"reference\":\"TX-1\"}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(e, "kind")), "topup");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "amount_minor")), 50000);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "balance_after_minor")), 50000);
	json_decref(e);
	/* Money must be a JSON integer: reals and strings are refused, and nothing moves. */
	static const char *bad[] = {"{\"amount_minor\":100.0,\"channel\":\"cash\"}",
				    "{\"amount_minor\":\"100\",\"channel\":\"cash\"}",
				    "{\"amount_minor\":1e3,\"channel\":\"cash\"}",
				    "{\"amount_minor\":0,\"channel\":\"cash\"}",
				    "{\"amount_minor\":-5,\"channel\":\"cash\"}",
				    "{\"amount_minor\":100,\"channel\":\"bitcoin\"}",
				    "{\"amount_minor\":99999999999999999999,\"channel\":\"cash\"}"};
	for (int i = 0; i < 7; i++) {
		struct th_resp r = th_req(&srv, "POST", path, fin, bad[i], NULL);
		ck_assert_msg(r.status == 400, "%s: %ld", bad[i], r.status);
		th_resp_free(&r);
	}
	snprintf(path, sizeof path, "/v1/tenants/%s/adjustments", tid);
	e = th_ok(&srv, "POST", path, fin, "{\"amount_minor\":-1234,\"reason\":\"meter test credit reversed\"}", 201);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "balance_after_minor")), 48766);
	json_decref(e);
	struct th_resp r = th_req(&srv, "POST", path, fin, "{\"amount_minor\":10}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/tenants/ten_404/adjustments", fin, "{\"amount_minor\":10,\"reason\":\"x\"}", NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	ck_assert_int_eq(balance(tid), 48766);
	snprintf(path, sizeof path, "/v1/tenants/%s/ledger", tid);
	json_t *l = th_ok(&srv, "GET", path, fin, NULL, 200);
	json_t *items = json_object_get(l, "items");
	ck_assert_int_eq((int)json_array_size(items), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "kind")), "adjustment");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(items, 1), "ref"), "reason")),
			 "meter test credit reversed");
	json_decref(l);
	/* Every change is audited: who, what, request id. */
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM audit_log WHERE action IN ('topup', 'adjustment')"
					" AND api_key_id IS NOT NULL AND request_id <> ''"), 2);
}
END_TEST

START_TEST(idempotency_same_and_other_body)
{
	const char *tid = seed();
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tid);
	const char *key[] = {"Idempotency-Key: order-7781", NULL};
	const char *body = "{\"amount_minor\":2000,\"channel\":\"cash\"}";
	struct th_resp a = th_req(&srv, "POST", path, fin, body, key);
	struct th_resp b = th_req(&srv, "POST", path, fin, body, key);
	ck_assert_int_eq(a.status, 201);
	ck_assert_int_eq(b.status, 201);
	ck_assert_str_eq(a.body, b.body); /* the first answer, byte for byte */
	th_resp_free(&a);
	th_resp_free(&b);
	struct th_resp c = th_req(&srv, "POST", path, fin, "{\"amount_minor\":2001,\"channel\":\"cash\"}", key);
	ck_assert_int_eq(c.status, 409);
	ck_assert_str_eq(th_err(&c), "idempotency_key_reused");
	th_resp_free(&c);
	/* The same key on another endpoint is another request too. */
	char adj[128];
	snprintf(adj, sizeof adj, "/v1/tenants/%s/adjustments", tid);
	c = th_req(&srv, "POST", adj, fin, "{\"amount_minor\":2000,\"reason\":\"x\"}", key);
	ck_assert_int_eq(c.status, 409);
	th_resp_free(&c);
	ck_assert_int_eq(balance(tid), 2000);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM ledger_entries"), 1);
	/* A refused request stores nothing under its key: fixing the body then works. */
	const char *k2[] = {"Idempotency-Key: order-7782", NULL};
	c = th_req(&srv, "POST", path, fin, "{\"amount_minor\":1.5,\"channel\":\"cash\"}", k2);
	ck_assert_int_eq(c.status, 400);
	th_resp_free(&c);
	c = th_req(&srv, "POST", path, fin, "{\"amount_minor\":15,\"channel\":\"cash\"}", k2);
	ck_assert_int_eq(c.status, 201);
	th_resp_free(&c);
}
END_TEST

struct race {
	const char *path;
	long status;
	char body[512];
};

static void *race_topup(void *arg)
{
	struct race *r = arg;
	const char *key[] = {"Idempotency-Key: same-for-all", NULL};
	struct th_resp x = th_req(&srv, "POST", r->path, fin, "{\"amount_minor\":777,\"channel\":\"card\"}", key);
	r->status = x.status;
	snprintf(r->body, sizeof r->body, "%s", x.body);
	th_resp_free(&x);
	return NULL;
}

START_TEST(idempotency_concurrent_twenty)
{
	const char *tid = seed();
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tid);
	pthread_t th[20];
	struct race rs[20];
	for (int i = 0; i < 20; i++) {
		rs[i].path = path;
		pthread_create(&th[i], NULL, race_topup, &rs[i]);
	}
	for (int i = 0; i < 20; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(rs[i].status, 201);
		ck_assert_str_eq(rs[i].body, rs[0].body);
	}
	ck_assert_int_eq(balance(tid), 777);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM ledger_entries"), 1);
}
END_TEST

/* Account reads are answered in batches by one query: under concurrency every reply must
 * still be its own request's tenant, and an unknown tenant in a batch a 404 for it alone. */
#define READERS 16
#define READS_EACH 40
#define READ_TENANTS 8

struct reader {
	char tids[READ_TENANTS + 2][32];
	int seed;
	int wrong;
	char why[256];
};

static void *read_accounts(void *arg)
{
	struct reader *r = arg;
	for (int k = 0; k < READS_EACH && !r->wrong; k++) {
		int i = (r->seed + k * 7) % (READ_TENANTS + 2);
		char path[96];
		snprintf(path, sizeof path, "/v1/tenants/%s/account", r->tids[i]);
		struct th_resp x = th_req(&srv, "GET", path, fin, NULL, NULL);
		json_t *j = x.json;
		if (i >= READ_TENANTS) {
			const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
			if (x.status != 404 || !msg || !strstr(msg, r->tids[i]))
				snprintf(r->why, sizeof r->why, "%s: %ld %s", path, x.status, x.body);
		} else {
			const char *got = json_string_value(json_object_get(j, "tenant_id"));
			long long bal = json_integer_value(json_object_get(j, "balance_minor"));
			if (x.status != 200 || !got || strcmp(got, r->tids[i]) || bal != 100LL * (i + 1))
				snprintf(r->why, sizeof r->why, "%s: %ld %s", path, x.status, x.body);
		}
		r->wrong = r->why[0] != 0;
		th_resp_free(&x);
	}
	return NULL;
}

START_TEST(account_reads_concurrent)
{
	seed();
	struct reader rd[READERS];
	memset(rd, 0, sizeof rd);
	char tids[READ_TENANTS + 2][32];
	for (int i = 0; i < READ_TENANTS; i++) {
		char body[256], path[96];
		snprintf(body, sizeof body,
			 "{\"site_id\":\"site_1\",\"name\":\"Shop %d\",\"category\":\"retail\","
			 "\"area_m2\":\"20.00\",\"credit_rating\":\"A\"}", i);
		json_t *t = th_ok(&srv, "POST", "/v1/tenants", fin, body, 201);
		snprintf(tids[i], sizeof tids[i], "%s", json_string_value(json_object_get(t, "id")));
		json_decref(t);
		snprintf(path, sizeof path, "/v1/tenants/%s/topups", tids[i]);
		snprintf(body, sizeof body, "{\"amount_minor\":%d,\"channel\":\"cash\"}", 100 * (i + 1));
		json_decref(th_ok(&srv, "POST", path, fin, body, 201));
	}
	snprintf(tids[READ_TENANTS], sizeof tids[0], "ten_999999");
	snprintf(tids[READ_TENANTS + 1], sizeof tids[0], "ten_999998");
	pthread_t th[READERS];
	for (int t = 0; t < READERS; t++) {
		memcpy(rd[t].tids, tids, sizeof tids);
		rd[t].seed = t;
		pthread_create(&th[t], NULL, read_accounts, &rd[t]);
	}
	for (int t = 0; t < READERS; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < READERS; t++)
		ck_assert_msg(!rd[t].wrong, "reader %d: %s", t, rd[t].why);
}
END_TEST

START_TEST(tariffs_three_kinds)
{
	seed();
	json_t *t = th_ok(&srv, "POST", "/v1/tariffs", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":1234500,\"effective_from\":\"2026-10-01T00:00:00+08:00\"}", 201);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "rate_micros_per_kwh")), 1234500);
	ck_assert_str_eq(json_string_value(json_object_get(t, "effective_from")), "2026-09-30T16:00:00.000000Z");
	char path[64];
	snprintf(path, sizeof path, "/v1/tariffs/%s", json_string_value(json_object_get(t, "id")));
	json_decref(t);
	t = th_ok(&srv, "GET", path, fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(t, "kind")), "flat");
	json_decref(t);
	t = th_ok(&srv, "POST", "/v1/tariffs", fin,
		  "{\"site_id\":\"site_1\",\"name\":\"TOU\",\"currency\":\"CNY\",\"kind\":\"tou\","
		  "\"bands\":[{\"name\":\"peak\",\"rate_micros_per_kwh\":1200000},{\"name\":\"valley\",\"rate_micros_per_kwh\":400000}],"
		  "\"schedule\":[{\"from\":\"00:00\",\"to\":\"08:00\",\"band\":\"valley\"},"
		  "{\"from\":\"08:00\",\"to\":\"22:00\",\"band\":\"peak\"},{\"from\":\"22:00\",\"to\":\"24:00\",\"band\":\"valley\"}]}", 201);
	ck_assert_int_eq((int)json_array_size(json_object_get(t, "schedule")), 3);
	json_decref(t);
	t = th_ok(&srv, "POST", "/v1/tariffs", fin,
		  "{\"site_id\":\"site_1\",\"name\":\"Tiered\",\"currency\":\"CNY\",\"kind\":\"tiered\","
		  "\"tiers\":[{\"up_to_wh\":200000,\"rate_micros_per_kwh\":500000},{\"up_to_wh\":null,\"rate_micros_per_kwh\":800000}]}", 201);
	json_decref(t);
	struct th_resp r = th_req(&srv, "POST", "/v1/tariffs", fin,
				  "{\"site_id\":\"site_1\",\"name\":\"Gap\",\"currency\":\"CNY\",\"kind\":\"tou\","
				  "\"bands\":[{\"name\":\"p\",\"rate_micros_per_kwh\":1}],"
				  "\"schedule\":[{\"from\":\"00:00\",\"to\":\"08:00\",\"band\":\"p\"}]}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "field")), "schedule");
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/tariffs", fin,
		   "{\"site_id\":\"site_1\",\"name\":\"USD\",\"currency\":\"USD\",\"kind\":\"flat\",\"rate_micros_per_kwh\":1}", NULL);
	ck_assert_int_eq(r.status, 422);
	ck_assert_str_eq(th_err(&r), "currency_mismatch");
	th_resp_free(&r);
	json_t *l = th_ok(&srv, "GET", "/v1/tariffs?site_id=site_1", fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(l, "items")), 3);
	json_decref(l);
}
END_TEST

START_TEST(meters_register_and_patch)
{
	const char *tid = seed();
	char *ops = th_key(&srv, "operator", NULL);
	char body[512];
	snprintf(body, sizeof body,
		 "{\"serial\":\"DDSY-0001\",\"site_id\":\"site_1\",\"tenant_id\":\"%s\",\"multiplier\":40,"
		 "\"max_power_w\":20000,\"gateway\":\"http://127.0.0.1:9/gw\"}", tid);
	json_t *m = th_ok(&srv, "POST", "/v1/meters", ops, body, 201);
	ck_assert_str_eq(json_string_value(json_object_get(m, "purpose")), "tenant");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "multiplier")), 40);
	ck_assert(json_is_false(json_object_get(m, "protected")));
	json_decref(m);
	struct th_resp r = th_req(&srv, "POST", "/v1/meters", ops, body, NULL);
	ck_assert_int_eq(r.status, 409);
	th_resp_free(&r);
	m = th_ok(&srv, "GET", "/v1/meters/DDSY-0001", ops, NULL, 200); /* by serial */
	json_decref(m);
	m = th_ok(&srv, "PATCH", "/v1/meters/mtr_1", ops, "{\"protected\":true,\"tenant_id\":null,\"purpose\":\"hvac\"}", 200);
	ck_assert(json_is_true(json_object_get(m, "protected")));
	ck_assert(json_is_null(json_object_get(m, "tenant_id")));
	ck_assert_int_eq(json_integer_value(json_object_get(m, "max_power_w")), 20000);
	json_decref(m);
	r = th_req(&srv, "PATCH", "/v1/meters/mtr_1", ops, "{\"serial\":\"X\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "PATCH", "/v1/meters/mtr_1", ops, "{\"tariff_id\":\"trf_5\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/meters", ops, "{\"serial\":\"P-1\",\"site_id\":\"site_1\",\"multiplier\":0}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	m = th_ok(&srv, "POST", "/v1/meters", ops, "{\"serial\":\"P-1\",\"site_id\":\"site_1\",\"purpose\":\"lighting\"}", 201);
	ck_assert(json_is_null(json_object_get(m, "tenant_id")));
	json_decref(m);
	json_t *l = th_ok(&srv, "GET", "/v1/meters?site_id=site_1", ops, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(l, "items")), 2);
	json_decref(l);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM audit_log WHERE action LIKE 'meter.%'"), 3);
	free(ops);
}
END_TEST

START_TEST(database_down_then_back)
{
	const char *tid = seed();
	char base[600], sql[300];
	snprintf(base, sizeof base, "%s dbname=postgres", getenv("WATTLE_TEST_PG"));
	const char *name = strstr(db, "dbname=") + 7;
	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", name);
	PQclear(th_sql(base, sql));
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'", name);
	PQclear(th_sql(base, sql));
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tid);
	for (int i = 0; i < 3; i++) { /* more than the pool threads: every thread sees it */
		struct th_resp r = th_req(&srv, "POST", path, fin, "{\"amount_minor\":100,\"channel\":\"cash\"}", NULL);
		ck_assert_msg(r.status == 503, "want 503, got %ld %s", r.status, r.body);
		ck_assert_str_eq(th_err(&r), "database_unavailable");
		th_resp_free(&r);
	}
	struct th_resp rz = th_req(&srv, "GET", "/readyz", NULL, NULL, NULL);
	ck_assert_int_eq(rz.status, 503);
	th_resp_free(&rz);
	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", name);
	PQclear(th_sql(base, sql));
	json_t *e = th_ok(&srv, "POST", path, fin, "{\"amount_minor\":100,\"channel\":\"cash\"}", 201);
	json_decref(e);
	ck_assert_int_eq(balance(tid), 100);
}
END_TEST

/* ---- configuration ---- */

/* Run `wattle serve` with one extra setting; returns its exit status and its stderr in
 * err[n]. */
static int serve_with(const char *setting, char *err, size_t n)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "env WATTLE_DATABASE_URL='host=/nonexistent' WATTLE_LISTEN=127.0.0.1:0 %s %s serve"
		 " --no-migrate 2>&1 >/dev/null", setting, WATTLE_BIN); /* the setting last: it may be WATTLE_LISTEN */
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t got = fread(err, 1, n - 1, p);
	err[got] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* bad_settings_refused_at_start: settings read with atoll where they were used took
 * WATTLE_CLOSE_DELAY_MIN=soon as 0 (a month closed the minute it ended) and
 * WATTLE_TOPUP_ORDER_TTL_S=-5 as the default, silently. Now every setting is checked at
 * start, by name, before anything runs. */
START_TEST(bad_settings_refused_at_start)
{
	static const char *const bad[] = {"WATTLE_CLOSE_DELAY_MIN=soon", "WATTLE_TOPUP_ORDER_TTL_S=-5",
					  "WATTLE_DISPATCH_LEASE_MS=5", "WATTLE_ALARMS=maybe", "WATTLE_THREADS=0",
					  "WATTLE_CLOCK_SPEED=fast", "WATTLE_LISTEN=nonsense", "WATTLE_RATE_PER_KEY=-1",
					  "WATTLE_REQUEST_TIMEOUT_S=0", NULL};
	char err[4096];
	for (int i = 0; bad[i]; i++) {
		ck_assert_int_eq(serve_with(bad[i], err, sizeof err), 2);
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(strchr(bad[i], '=') - bad[i]), bad[i]);
		ck_assert_msg(strstr(err, name) != NULL, "%s: %s", bad[i], err);
	}
}
END_TEST

/* What an operator tries first: `wattle --version` names the release; `wattle migrate
 * --help` explained nothing and ran the migration; HEAD on a GET route was 405. */
START_TEST(version_help_and_head)
{
	char cmd[512], out[256] = "";
	snprintf(cmd, sizeof cmd, "%s --version", WATTLE_BIN);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(fgets(out, sizeof out, p));
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_msg(!strncmp(out, "wattle 0.", 9), "%s", out);
	/* no database named at all: a migration would fail; --help must not try */
	snprintf(cmd, sizeof cmd, "env -u WATTLE_DATABASE_URL WATTLE_DATABASE_URL=host=/nonexistent %s migrate --help"
		 " | grep -q 'usage: wattle'", WATTLE_BIN);
	ck_assert_int_eq(system(cmd), 0);
	const char *tid = seed();
	char path[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/account", tid);
	struct th_resp r = th_req(&srv, "HEAD", path, fin, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_type, "application/json");
	th_resp_free(&r);
	/* a 201 says where the new resource is (it did not) */
	r = th_req(&srv, "POST", "/v1/tenants", fin,
		   "{\"site_id\":\"site_1\",\"name\":\"Tea\",\"category\":\"catering\",\"area_m2\":\"20\","
		   "\"credit_rating\":\"B\"}", NULL);
	ck_assert_int_eq(r.status, 201);
	char want[64];
	snprintf(want, sizeof want, "/v1/tenants/%s", json_string_value(json_object_get(r.json, "id")));
	ck_assert_str_eq(r.location, want);
	th_resp_free(&r);
	json_decref(th_ok(&srv, "GET", want, fin, NULL, 200));
	/* a big reply is gzip-compressed for a client that asks (a ledger page was 304 KB) */
	char ledger[128];
	snprintf(ledger, sizeof ledger, "/v1/tenants/%s/topups", tid);
	for (int i = 0; i < 40; i++)
		json_decref(th_ok(&srv, "POST", ledger, fin, "{\"amount_minor\":100,\"channel\":\"cash\",\"reference\":\"bulk\"}",
				  201));
	snprintf(ledger, sizeof ledger, "/v1/tenants/%s/ledger?limit=100", tid);
	struct th_resp plain = th_req(&srv, "GET", ledger, fin, NULL, NULL);
	ck_assert_int_eq(plain.status, 200);
	ck_assert_str_eq(plain.content_encoding, "");
	const char *gzh[] = {"Accept-Encoding: gzip", NULL};
	r = th_req(&srv, "GET", ledger, fin, NULL, gzh);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_encoding, "gzip");
	ck_assert_uint_lt(r.body_len, plain.body_len / 3);
	char *inflated = malloc(plain.body_len + 1);
	z_stream z = {0};
	ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)r.body;
	z.avail_in = (uInt)r.body_len;
	z.next_out = (Bytef *)inflated;
	z.avail_out = (uInt)plain.body_len + 1;
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	ck_assert_uint_eq(z.total_out, plain.body_len);
	inflateEnd(&z);
	ck_assert(memcmp(inflated, plain.body, plain.body_len) == 0);
	free(inflated);
	th_resp_free(&r);
	const char *refuse[] = {"Accept-Encoding: gzip;q=0, identity", NULL};
	r = th_req(&srv, "GET", ledger, fin, NULL, refuse);
	ck_assert_str_eq(r.content_encoding, "");
	ck_assert_uint_eq(r.body_len, plain.body_len);
	th_resp_free(&r);
	th_resp_free(&plain);
	r = th_req(&srv, "HEAD", "/v1/tenants", fin, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
}
END_TEST

/* config_names_every_setting: each WATTLE_* setting the server's code names is one that
 * server/config.c reads (tests and tools have their own). */
START_TEST(config_names_every_setting)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "cd %s && grep -rohE '\"WATTLE_[A-Z0-9_]+\"' core store ops api server | sort -u",
		 WATTLE_SRC);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char line[128];
	int n = 0;
	while (fgets(line, sizeof line, p)) {
		line[strcspn(line, "\n")] = 0;
		char name[128];
		snprintf(name, sizeof name, "%.*s", (int)strlen(line) - 2, line + 1);
		int known = 0;
		for (int i = 0; srv_config_names[i]; i++)
			known |= !strcmp(srv_config_names[i], name);
		ck_assert_msg(known, "%s is read somewhere but not listed in server/config.c", name);
		n++;
	}
	pclose(p);
	ck_assert_int_ge(n, 20);
	/* and only the config module reads the environment (the clock is handed its texts) */
	snprintf(cmd, sizeof cmd, "cd %s && grep -rlE 'getenv\\(' core store ops api server | sort | tr '\\n' ' '",
		 WATTLE_SRC);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char files[512] = "";
	ck_assert_ptr_nonnull(fgets(files, sizeof files, p));
	pclose(p);
	ck_assert_str_eq(files, "server/config.c ");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *engine = tcase_create("engine");
	tcase_add_checked_fixture(engine, setup, teardown);
	tcase_set_timeout(engine, 120);
	tcase_add_test(engine, health_ready_metrics);
	tcase_add_test(engine, request_id_echoed_or_made);
	tcase_add_test(engine, routing_errors);
	tcase_add_test(engine, body_rules);
	tcase_add_test(engine, body_too_large);
	tcase_add_test(engine, bad_settings_refused_at_start);
	tcase_add_test(engine, config_names_every_setting);
	tcase_add_test(engine, version_help_and_head);
	suite_add_tcase(s, engine);
	TCase *auth = tcase_create("auth");
	tcase_add_checked_fixture(auth, setup, teardown);
	tcase_set_timeout(auth, 120);
	tcase_add_test(auth, auth_codes);
	tcase_add_test(auth, api_keys_revoke);
	suite_add_tcase(s, auth);
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, sites_validate);
	tcase_add_test(core, tenants_crud_and_pages);
	tcase_add_test(core, account_shape_and_policy);
	tcase_add_test(core, topups_adjustments_ledger);
	tcase_add_test(core, idempotency_same_and_other_body);
	tcase_add_test(core, tariffs_three_kinds);
	tcase_add_test(core, meters_register_and_patch);
	suite_add_tcase(s, core);
	TCase *limits = tcase_create("limits");
	tcase_add_checked_fixture(limits, setup, teardown);
	tcase_set_timeout(limits, 120);
	tcase_add_test(limits, idempotency_concurrent_twenty);
	tcase_add_test(limits, account_reads_concurrent);
	tcase_add_test(limits, database_down_then_back);
	suite_add_tcase(s, limits);
	return s;
}

int main(void) { return th_run(suite()); }
