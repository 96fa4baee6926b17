/* test_gateways.c: gateways as a resource, through the real binary: a gateway made with its
 * key, its meters, and what its requests say about it. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct th_world w;

static const char *const env[] = {NULL};

static void setup(void)
{
	th_world_start(&w, env, TH_SITE | TH_TENANT | TH_TARIFF);
}

static void teardown(void)
{
	th_world_stop(&w);
}

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

/* A gateway of site with delivery (and url, may be NULL): its id into id[32], its key (new). */
static char *gateway(const char *site, const char *delivery, const char *url, char *id)
{
	char body[300];
	if (url)
		snprintf(body, sizeof body, "{\"site_id\":\"%s\",\"name\":\"GW\",\"delivery\":\"%s\",\"url\":\"%s\"}", site,
			 delivery, url);
	else
		snprintf(body, sizeof body, "{\"site_id\":\"%s\",\"name\":\"GW\",\"delivery\":\"%s\"}", site, delivery);
	json_t *g = th_ok(&w.srv, "POST", "/v1/gateways", w.ops, body, 201);
	snprintf(id, 32, "%s", json_string_value(json_object_get(g, "id")));
	char *key = strdup(json_string_value(json_object_get(g, "key")));
	json_decref(g);
	return key;
}

/* A meter of ten_1 on site_1 with trf_1 (or, site given, a public meter of that site), on gw
 * (NULL: none). */
static void meter(const char *serial, const char *site, const char *gw)
{
	char body[400], g[64] = "";
	if (gw)
		snprintf(g, sizeof g, ",\"gateway_id\":\"%s\"", gw);
	if (site)
		snprintf(body, sizeof body, "{\"serial\":\"%s\",\"site_id\":\"%s\"%s}", serial, site, g);
	else
		snprintf(body, sizeof body,
			 "{\"serial\":\"%s\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"%s}", serial, g);
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops, body, 201));
}

static json_t *items(json_t *page) { return json_object_get(page, "items"); }
static const char *item_str(json_t *page, size_t i, const char *k)
{
	return json_string_value(json_object_get(json_array_get(items(page), i), k));
}

START_TEST(gateway_is_made_with_its_key_shown_once)
{
	json_t *g = th_ok(&w.srv, "POST", "/v1/gateways", w.ops,
			  "{\"site_id\":\"site_1\",\"name\":\"Basement B1\",\"delivery\":\"pull\"}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(g, "id")), "gw_1");
	ck_assert_str_eq(json_string_value(json_object_get(g, "site_id")), "site_1");
	ck_assert_str_eq(json_string_value(json_object_get(g, "delivery")), "pull");
	ck_assert(json_is_null(json_object_get(g, "url")));
	ck_assert(json_is_null(json_object_get(g, "last_seen_at")));
	ck_assert_int_eq(json_integer_value(json_object_get(g, "meters")), 0);
	const char *key = json_string_value(json_object_get(g, "key"));
	ck_assert(key && !strncmp(key, "wk_", 3));
	const char *kid = json_string_value(json_object_get(g, "api_key_id"));
	ck_assert(kid && !strncmp(kid, "key_", 4));
	/* the key is the gateway's: bound to it and its site, role gateway */
	ck_assert_int_eq(q("SELECT count(*) FROM api_keys WHERE role = 'gateway' AND gateway_id = 1 AND site_id = 1"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'gateway.create'"), 1);
	json_t *again = th_ok(&w.srv, "GET", "/v1/gateways/gw_1", w.ops, NULL, 200);
	ck_assert_ptr_null(json_object_get(again, "key")); /* shown once */
	ck_assert_str_eq(json_string_value(json_object_get(again, "name")), "Basement B1");
	json_decref(again);
	struct th_resp r = th_req(&w.srv, "GET", "/v1/commands?state=pending", key, NULL, NULL);
	ck_assert_int_eq(r.status, 200); /* the key works */
	th_resp_free(&r);
	json_decref(g);
	json_t *push = th_ok(&w.srv, "POST", "/v1/gateways", w.srv.admin_key,
			     "{\"site_id\":\"site_1\",\"name\":\"Roof\",\"delivery\":\"push\",\"url\":\"http://10.0.0.7:8081\"}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(push, "url")), "http://10.0.0.7:8081");
	json_decref(push);
	json_t *list = th_ok(&w.srv, "GET", "/v1/gateways?limit=1", w.ops, NULL, 200);
	ck_assert_int_eq((int)json_array_size(items(list)), 1);
	ck_assert_str_eq(json_string_value(json_object_get(list, "next_after")), "gw_1");
	json_decref(list);
	list = th_ok(&w.srv, "GET", "/v1/gateways?after=gw_1&site_id=site_1", w.ops, NULL, 200);
	ck_assert_str_eq(item_str(list, 0, "id"), "gw_2");
	json_decref(list);
	/* refused: what the handlers refuse, with the field named */
	static const struct {
		const char *body, *code, *field;
	} bad[] = {
		{"{\"site_id\":\"site_1\",\"name\":\"X\",\"delivery\":\"push\"}", "invalid_field", "url"},
		{"{\"site_id\":\"site_1\",\"name\":\"X\",\"delivery\":\"pull\",\"url\":\"http://x\"}", "invalid_field", "url"},
		{"{\"site_id\":\"site_9\",\"name\":\"X\",\"delivery\":\"pull\"}", "invalid_field", "site_id"},
		{"{\"site_id\":\"site_1\",\"name\":\"X\",\"delivery\":\"carrier pigeon\"}", "invalid_field", "delivery"},
		{"{\"site_id\":\"site_1\",\"delivery\":\"pull\"}", "missing_field", "name"},
		{"{\"site_id\":\"site_1\",\"name\":\"X\",\"delivery\":\"push\",\"url\":\"ftp://x\"}", "invalid_field", "url"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		r = th_req(&w.srv, "POST", "/v1/gateways", w.ops, bad[i].body, NULL);
		ck_assert_msg(r.status == 400 && !strcmp(th_err(&r), bad[i].code), "%s: %ld %s", bad[i].body, r.status, r.body);
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "field")),
				 bad[i].field);
		th_resp_free(&r);
	}
	r = th_req(&w.srv, "POST", "/v1/gateways", w.fin, "{\"site_id\":\"site_1\",\"name\":\"X\",\"delivery\":\"pull\"}", NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	r = th_req(&w.srv, "GET", "/v1/gateways/gw_99", w.ops, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM gateways"), 2);
}
END_TEST

START_TEST(gateway_shows_its_meters_and_what_its_requests_said)
{
	char a[32], b[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	char *kb = gateway("site_1", "pull", NULL, b);
	json_decref(th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
			  "{\"name\":\"Tower\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	meter("M-1", NULL, a);
	meter("M-2", NULL, a);
	meter("M-3", NULL, NULL);
	json_t *m = th_ok(&w.srv, "GET", "/v1/meters/M-1", w.ops, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(m, "gateway_id")), a);
	json_decref(m);
	m = th_ok(&w.srv, "GET", "/v1/meters/M-3", w.ops, NULL, 200);
	ck_assert(json_is_null(json_object_get(m, "gateway_id")));
	json_decref(m);
	/* a retired meter is not counted; a meter moved off the gateway neither */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/meters/M-2", w.ops, "{\"status\":\"retired\"}", 200));
	json_decref(th_ok(&w.srv, "PATCH", "/v1/meters/M-3", w.ops, "{\"gateway_id\":\"gw_1\"}", 200));
	m = th_ok(&w.srv, "PATCH", "/v1/meters/M-3", w.ops, "{\"gateway_id\":null}", 200);
	ck_assert(json_is_null(json_object_get(m, "gateway_id")));
	json_decref(m);
	/* a gateway of another site, or none, is refused naming the field */
	char other[32];
	char *ko = gateway("site_2", "pull", NULL, other);
	char body[200];
	snprintf(body, sizeof body, "{\"gateway_id\":\"%s\"}", other);
	struct th_resp r = th_req(&w.srv, "PATCH", "/v1/meters/M-1", w.ops, body, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "field")),
			 "gateway_id");
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/meters", w.ops, "{\"serial\":\"M-9\",\"site_id\":\"site_1\",\"gateway_id\":\"gw_99\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM meters WHERE gateway_id = 3"), 0);
	json_t *g = th_ok(&w.srv, "GET", "/v1/gateways/gw_1", w.ops, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(g, "meters")), 1);
	ck_assert(json_is_null(json_object_get(g, "version")));
	json_decref(g);
	/* one request with the headers: last seen, version and queue depth */
	static const char *const hd[] = {"X-Wattle-Gateway-Version: wattle-gateway 0.3.1", "X-Wattle-Queue-Depth: 42", NULL};
	r = th_req(&w.srv, "POST", "/v1/readings", ka,
		   "{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":5}]}", hd);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	g = th_ok(&w.srv, "GET", "/v1/gateways/gw_1", w.ops, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(g, "version")), "wattle-gateway 0.3.1");
	ck_assert_int_eq(json_integer_value(json_object_get(g, "queue_depth")), 42);
	ck_assert(json_is_string(json_object_get(g, "last_seen_at")));
	json_decref(g);
	/* within 5 s a second request costs no statement: the first one's values stay */
	static const char *const hd2[] = {"X-Wattle-Gateway-Version: wattle-gateway 0.4", "X-Wattle-Queue-Depth: 7", NULL};
	r = th_req(&w.srv, "GET", "/v1/commands?state=pending", ka, NULL, hd2);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT queue_depth FROM gateways WHERE id = 1"), 42);
	/* the other gateway said nothing yet */
	g = th_ok(&w.srv, "GET", "/v1/gateways/gw_2", w.ops, NULL, 200);
	ck_assert(json_is_null(json_object_get(g, "last_seen_at")));
	ck_assert(json_is_null(json_object_get(g, "queue_depth")));
	json_decref(g);
	free(ka);
	free(kb);
	free(ko);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gateways");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, gateway_is_made_with_its_key_shown_once);
	tcase_add_test(core, gateway_shows_its_meters_and_what_its_requests_said);
	suite_add_tcase(s, core);
	return s;
}

int main(void) { return th_run(suite()); }
