/* test_gateways.c: gateways as a resource, through the real binary: a gateway made with its
 * key, what its requests say about it, pull delivery (handed out, leased, handed out again,
 * held without a thread), the push dispatcher leaving pull gateways alone, and a gateway
 * key's reach (forbidden_meter, 403 on another's ack; an unbound old key as before). One
 * HTTP thread and a 1 s idle timeout: a held pull that blocked its thread, or that the idle
 * timeout closed, fails here. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct th_world w;
static struct th_peer peer;
static char peer_url[100];

static const char *const env[] = {"WATTLE_THREADS=1", "WATTLE_IDLE_TIMEOUT_S=1", "WATTLE_DISPATCH_LEASE_MS=1000",
				  NULL};

static void setup(void)
{
	memset(&peer, 0, sizeof peer);
	th_peer_start(&peer, 0);
	snprintf(peer_url, sizeof peer_url, "http://127.0.0.1:%d", peer.port);
	th_world_start(&w, env, TH_SITE | TH_TENANT | TH_TARIFF);
}

static void teardown(void)
{
	th_world_stop(&w);
	th_peer_stop(&peer);
}

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* An operator's command on meter serial; its id into id[32]. */
static void command(const char *serial, const char *action, char *id)
{
	char path[100], body[100];
	snprintf(path, sizeof path, "/v1/meters/%s/commands", serial);
	snprintf(body, sizeof body, "{\"action\":\"%s\",\"reason\":\"test\"}", action);
	json_t *c = th_ok(&w.srv, "POST", path, w.ops, body, 202);
	snprintf(id, 32, "%s", json_string_value(json_object_get(c, "id")));
	json_decref(c);
}

/* A pull with key and query: the page (caller decrefs). */
static json_t *pull(const char *key, const char *query)
{
	char path[200];
	snprintf(path, sizeof path, "/v1/commands?state=pending%s", query ? query : "");
	return th_ok(&w.srv, "GET", path, key, NULL, 200);
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

START_TEST(pull_hands_out_only_its_own_meters_commands)
{
	char a[32], b[32], c1[32], c2[32], c3[32], c4[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	char *kb = gateway("site_1", "pull", NULL, b);
	meter("M-A", NULL, a);
	meter("M-B", NULL, b);
	meter("M-C", NULL, NULL);
	command("M-B", "cut_off", c1);
	command("M-A", "cut_off", c2);
	command("M-C", "cut_off", c3);
	command("M-A", "cut_off", c4); /* the same meter again: waits for the first */
	json_t *p = pull(ka, NULL);
	ck_assert_int_eq((int)json_array_size(items(p)), 1);
	ck_assert_str_eq(item_str(p, 0, "id"), c2);
	ck_assert_str_eq(item_str(p, 0, "serial"), "M-A");
	ck_assert_str_eq(item_str(p, 0, "state"), "sent");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items(p), 0), "attempts")), 1);
	ck_assert(json_is_null(json_object_get(p, "next_after")));
	json_decref(p);
	p = pull(ka, NULL); /* leased; the meter's next waits for the ack */
	ck_assert_int_eq((int)json_array_size(items(p)), 0);
	json_decref(p);
	p = pull(kb, "&limit=10");
	ck_assert_int_eq((int)json_array_size(items(p)), 1);
	ck_assert_str_eq(item_str(p, 0, "id"), c1);
	json_decref(p);
	char path[100];
	snprintf(path, sizeof path, "/v1/commands/%s/ack", c2);
	json_decref(th_ok(&w.srv, "POST", path, ka, "{\"result\":\"executed\",\"relay\":\"off\"}", 200));
	p = pull(ka, "&limit=1");
	ck_assert_int_eq((int)json_array_size(items(p)), 1);
	ck_assert_str_eq(item_str(p, 0, "id"), c4);
	ck_assert_str_eq(json_string_value(json_object_get(p, "next_after")), c4); /* a full page */
	json_decref(p);
	/* the meter without a gateway was never pulled; an operator still sees every command */
	snprintf(path, sizeof path, "SELECT count(*) FROM commands WHERE id = %s AND pulled_by IS NULL", c3 + 4);
	ck_assert_int_eq(q(path), 1);
	p = th_ok(&w.srv, "GET", "/v1/commands", w.ops, NULL, 200);
	ck_assert_int_eq((int)json_array_size(items(p)), 4);
	json_decref(p);
	/* a pull takes pending commands only, waits 0..60 s, and wait_s is a pull gateway key's */
	static const struct {
		const char *query, *param;
		int pull_key;
	} bad[] = {{"/v1/commands?state=acked", "state", 1},	       {"/v1/commands?wait_s=61", "wait_s", 1},
		   {"/v1/commands?wait_s=-1", "wait_s", 1},	       {"/v1/commands?wait_s=1.5", "wait_s", 1},
		   {"/v1/commands?state=pending&wait_s=5", "wait_s", 0}};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct th_resp r = th_req(&w.srv, "GET", bad[i].query, bad[i].pull_key ? ka : w.ops, NULL, NULL);
		ck_assert_msg(r.status == 400 && !strcmp(th_err(&r), "invalid_parameter"), "%s: %ld", bad[i].query, r.status);
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"),
								   "parameter")),
				 bad[i].param);
		th_resp_free(&r);
	}
	struct th_resp r = th_req(&w.srv, "GET", "/v1/commands?wait_s=1", w.gw, NULL, NULL); /* an unbound key */
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	free(ka);
	free(kb);
}
END_TEST

struct held {
	const char *key, *query;
	double done;
	json_t *page;
	long status;
};

static void *held_pull(void *arg)
{
	struct held *h = arg;
	char path[200];
	snprintf(path, sizeof path, "/v1/commands?state=pending%s", h->query);
	struct th_resp r = th_req(&w.srv, "GET", path, h->key, NULL, NULL);
	h->done = now_s();
	h->status = r.status;
	h->page = json_incref(r.json);
	th_resp_free(&r);
	return NULL;
}

START_TEST(long_poll_answers_as_soon_as_a_command_is_queued)
{
	char a[32], b[32], id[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	char *kb = gateway("site_1", "pull", NULL, b);
	meter("M-A", NULL, a);
	meter("M-B", NULL, b);
	struct held h = {ka, "&wait_s=20", 0, NULL, 0}, other = {kb, "&wait_s=20", 0, NULL, 0};
	double t0 = now_s();
	pthread_t th, th2;
	pthread_create(&th, NULL, held_pull, &h);
	pthread_create(&th2, NULL, held_pull, &other);
	usleep(600000);
	/* held, and the one HTTP thread serves others meanwhile */
	double s0 = now_s();
	struct th_resp r = th_req(&w.srv, "GET", "/healthz", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	ck_assert_msg(now_s() - s0 < 0.3, "a held pull blocked the HTTP thread: %.3f s", now_s() - s0);
	ck_assert(h.done == 0);
	double queued = now_s();
	command("M-A", "cut_off", id);
	pthread_join(th, NULL);
	double latency = h.done - queued;
	fprintf(stderr, "long poll: answered %.0f ms after the command was queued (held %.0f ms)\n", latency * 1000,
		(queued - t0) * 1000);
	ck_assert_int_eq(h.status, 200);
	ck_assert_msg(latency < 1.0, "the held pull answered %.3f s after the command was queued", latency);
	ck_assert_int_eq((int)json_array_size(items(h.page)), 1);
	ck_assert_str_eq(item_str(h.page, 0, "id"), id);
	ck_assert_str_eq(item_str(h.page, 0, "state"), "sent");
	json_decref(h.page);
	char path[100];
	snprintf(path, sizeof path, "/v1/commands/%s/ack", id); /* else it comes again in 1 s */
	json_decref(th_ok(&w.srv, "POST", path, ka, "{\"result\":\"executed\",\"relay\":\"off\"}", 200));
	/* the other gateway's pull is still held: that command was not its */
	ck_assert(other.done == 0);
	command("M-B", "restore", id);
	pthread_join(th2, NULL);
	ck_assert_str_eq(item_str(other.page, 0, "id"), id);
	json_decref(other.page);
	/* nothing comes: an empty page after wait_s, though the idle timeout is 1 s */
	struct held e = {ka, "&wait_s=2", 0, NULL, 0};
	t0 = now_s();
	held_pull(&e);
	double took = e.done - t0;
	ck_assert_int_eq(e.status, 200);
	ck_assert_int_eq((int)json_array_size(items(e.page)), 0);
	ck_assert(json_is_null(json_object_get(e.page, "next_after")));
	ck_assert_msg(took >= 1.9 && took < 3.0, "an empty long poll took %.3f s for wait_s=2", took);
	json_decref(e.page);
	/* wait_s=0 answers at once */
	t0 = now_s();
	json_decref(pull(ka, "&wait_s=0"));
	ck_assert(now_s() - t0 < 0.5);
	free(ka);
	free(kb);
}
END_TEST

/* Held pulls were answered by the stopping workers, but the daemon stopped right after and
 * could close a connection before its answer was written: the pull got no reply. */
START_TEST(a_held_pull_is_answered_when_the_server_stops)
{
	char a[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	enum { N = 24 };
	struct held h[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		h[i] = (struct held){ka, "&wait_s=30", 0, NULL, 0};
		pthread_create(&th[i], NULL, held_pull, &h[i]);
	}
	usleep(800000);
	double t0 = now_s();
	ck_assert_int_eq(th_server_stop(&w.srv), 0); /* a clean stop, not held up by the pulls */
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(h[i].status == 200, "held pull %d got %ld at the stop", i, h[i].status);
		ck_assert_int_eq((int)json_array_size(items(h[i].page)), 0);
		ck_assert(h[i].done - t0 < 5.0);
		json_decref(h[i].page);
	}
	free(ka);
}
END_TEST

START_TEST(lease_hands_an_unacked_command_out_again_until_it_fails)
{
	char a[32], id[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	meter("M-A", NULL, a);
	command("M-A", "cut_off", id);
	json_t *p = pull(ka, NULL);
	ck_assert_str_eq(item_str(p, 0, "id"), id);
	json_decref(p);
	p = pull(ka, NULL);
	ck_assert_int_eq((int)json_array_size(items(p)), 0); /* leased for 1 s */
	json_decref(p);
	/* not acked: after the lease it is handed out again, a long poll seeing it come due */
	usleep(200000);
	double t0 = now_s();
	p = pull(ka, "&wait_s=5");
	ck_assert_msg(now_s() - t0 < 1.5, "the re-handed command took %.3f s", now_s() - t0);
	ck_assert_str_eq(item_str(p, 0, "id"), id);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items(p), 0), "attempts")), 2);
	json_decref(p);
	/* and again, until 8 deliveries went unacknowledged: then it fails */
	for (int k = 3; k <= 8; k++) {
		p = pull(ka, "&wait_s=5");
		ck_assert_int_eq((int)json_array_size(items(p)), 1);
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items(p), 0), "attempts")), k);
		json_decref(p);
	}
	p = pull(ka, "&wait_s=2");
	ck_assert_int_eq((int)json_array_size(items(p)), 0);
	json_decref(p);
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE state = 'failed' AND attempts = 8 AND result IS NULL"), 1);
	/* an acked command is not handed out again */
	command("M-A", "restore", id);
	p = pull(ka, NULL);
	ck_assert_str_eq(item_str(p, 0, "id"), id);
	json_decref(p);
	char path[100];
	snprintf(path, sizeof path, "/v1/commands/%s/ack", id);
	json_t *ack = th_ok(&w.srv, "POST", path, ka, "{\"result\":\"executed\",\"relay\":\"on\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(ack, "state")), "acked");
	json_decref(ack);
	usleep(1200000);
	p = pull(ka, NULL);
	ck_assert_int_eq((int)json_array_size(items(p)), 0);
	json_decref(p);
	free(ka);
}
END_TEST

static int wait_for(const char *sql, long long want)
{
	for (int i = 0; i < 100; i++) {
		if (q(sql) == want)
			return 1;
		usleep(50000);
	}
	return 0;
}

START_TEST(push_dispatcher_leaves_pull_gateways_alone)
{
	char push[32], pl[32], id[32];
	char *kp = gateway("site_1", "push", peer_url, push);
	char *kl = gateway("site_1", "pull", NULL, pl);
	meter("M-PUSH", NULL, push);
	meter("M-PULL", NULL, pl);
	char body[300];
	snprintf(body, sizeof body,
		 "{\"serial\":\"M-URL\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"gateway\":\"%s\"}", peer_url);
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops, body, 201));
	command("M-PULL", "cut_off", id);
	command("M-PUSH", "cut_off", id);
	command("M-URL", "cut_off", id);
	ck_assert(wait_for("SELECT count(*) FROM commands WHERE state = 'sent'", 2));
	usleep(500000); /* ten rounds of the dispatcher more */
	ck_assert_int_eq(th_peer_count(&peer, NULL), 2);
	ck_assert_int_eq(th_peer_count(&peer, "M-PUSH"), 1);
	ck_assert_int_eq(th_peer_count(&peer, "M-URL"), 1);
	ck_assert_int_eq(th_peer_count(&peer, "M-PULL"), 0);
	ck_assert_str_eq(peer.reqs[0].path, "/commands");
	ck_assert_int_eq(q("SELECT attempts FROM commands c JOIN meters m ON m.id = c.meter_id WHERE m.serial = 'M-PULL'"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM delivery_attempts"), 2);
	json_t *p = pull(kl, NULL);
	ck_assert_str_eq(item_str(p, 0, "serial"), "M-PULL");
	json_decref(p);
	free(kp);
	free(kl);
}
END_TEST

static const char *rejected_code(json_t *r, int index)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(r, "rejected"), i, x)
		if (json_integer_value(json_object_get(x, "index")) == index)
			return json_string_value(json_object_get(x, "code"));
	return "";
}

static json_t *readings(const char *key, const char *body)
{
	return th_ok(&w.srv, "POST", "/v1/readings", key, body, 200);
}

static long long balance(void)
{
	json_t *a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	long long b = json_integer_value(json_object_get(a, "balance_minor"));
	json_decref(a);
	return b;
}

START_TEST(forbidden_meter_for_another_gateways_or_sites_meter)
{
	char a[32], b[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	char *kb = gateway("site_1", "push", peer_url, b);
	json_decref(th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
			  "{\"name\":\"Tower\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	meter("M-A", NULL, a);
	meter("M-B", NULL, b);
	meter("M-2", "site_2", NULL);
	json_t *k = th_ok(&w.srv, "POST", "/v1/api-keys", w.srv.admin_key,
			  "{\"name\":\"site gw\",\"role\":\"gateway\",\"site_id\":\"site_1\"}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(k, "site_id")), "site_1");
	char *ks = strdup(json_string_value(json_object_get(k, "key")));
	json_decref(k);
	/* one batch of gateway A's key: its meter billed, the others refused and untouched */
	json_t *r = readings(ka, "{\"readings\":["
				 "{\"meter\":\"M-A\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000},"
				 "{\"meter\":\"M-B\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000},"
				 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000},"
				 "{\"meter\":\"mtr_2\",\"ts\":\"2026-11-01T01:00:00+08:00\",\"energy_wh\":2000},"
				 "{\"meter\":\"M-A\",\"ts\":\"2026-11-01T01:00:00+08:00\",\"energy_wh\":11000}]}");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), 2);
	ck_assert_int_eq((int)json_array_size(json_object_get(r, "rejected")), 3);
	ck_assert_str_eq(rejected_code(r, 1), "forbidden_meter");
	ck_assert_str_eq(rejected_code(r, 2), "forbidden_meter");
	ck_assert_str_eq(rejected_code(r, 3), "forbidden_meter"); /* by id alike */
	json_decref(r);
	ck_assert_int_eq(balance(), -1234); /* 10 kWh x 1.234567 CNY, the rest carried */
	ck_assert_int_eq(q("SELECT count(*) FROM readings r JOIN meters m ON m.id = r.meter_id WHERE m.serial <> 'M-A'"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM meter_state st JOIN meters m ON m.id = st.meter_id"
			   " WHERE m.serial <> 'M-A' AND (st.last_ts IS NOT NULL OR st.last_seen_at IS NOT NULL)"),
			 0);
	/* a key of site_1 alone: both gateways' meters, not site_2's */
	r = readings(ks, "{\"readings\":["
			 "{\"meter\":\"M-B\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000},"
			 "{\"meter\":\"M-A\",\"ts\":\"2026-11-01T02:00:00+08:00\",\"energy_wh\":11000},"
			 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000}]}");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), 2);
	ck_assert_str_eq(rejected_code(r, 2), "forbidden_meter");
	json_decref(r);
	/* site keys are for gateways, and for sites that exist */
	struct th_resp x = th_req(&w.srv, "POST", "/v1/api-keys", w.srv.admin_key,
				  "{\"name\":\"x\",\"role\":\"operator\",\"site_id\":\"site_1\"}", NULL);
	ck_assert_int_eq(x.status, 400);
	th_resp_free(&x);
	x = th_req(&w.srv, "POST", "/v1/api-keys", w.srv.admin_key, "{\"name\":\"x\",\"role\":\"gateway\",\"site_id\":\"site_7\"}",
		   NULL);
	ck_assert_int_eq(x.status, 400);
	th_resp_free(&x);
	free(ka);
	free(kb);
	free(ks);
}
END_TEST

START_TEST(ack_of_another_gateways_command_is_403_and_changes_nothing)
{
	char a[32], b[32], id[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	char *kb = gateway("site_1", "pull", NULL, b);
	meter("M-B", NULL, b);
	command("M-B", "cut_off", id);
	json_decref(pull(kb, NULL));
	char path[100];
	snprintf(path, sizeof path, "/v1/commands/%s/ack", id);
	struct th_resp r = th_req(&w.srv, "POST", path, ka, "{\"result\":\"executed\",\"relay\":\"off\"}", NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE state = 'sent' AND result IS NULL AND acked_at IS NULL"), 1);
	json_t *acct = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(acct, "supply")), "pending_off");
	json_decref(acct);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'command.ack'"), 0);
	/* its own gateway's key answers it */
	json_t *ok = th_ok(&w.srv, "POST", path, kb, "{\"result\":\"executed\",\"relay\":\"off\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(ok, "state")), "acked");
	json_decref(ok);
	/* and once answered, the other's key still learns nothing but 403 */
	r = th_req(&w.srv, "POST", path, ka, "{\"result\":\"executed\",\"relay\":\"off\"}", NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	free(ka);
	free(kb);
}
END_TEST

static long long unbound_gauge(void)
{
	struct th_resp r = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "# HELP wattle_gateway_keys_unbound "), "no HELP for the gauge");
	const char *at = strstr(r.body, "\nwattle_gateway_keys_unbound ");
	ck_assert_msg(at, "no wattle_gateway_keys_unbound in /metrics");
	long long n = atoll(at + strlen("\nwattle_gateway_keys_unbound "));
	th_resp_free(&r);
	return n;
}

START_TEST(unbound_gateway_key_keeps_its_reach_and_is_counted)
{
	char a[32], id[32];
	char *ka = gateway("site_1", "pull", NULL, a);
	json_decref(th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
			  "{\"name\":\"Tower\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	meter("M-A", NULL, a);
	meter("M-2", "site_2", NULL);
	/* w.gw was made as before gateways: any meter of any site, any command */
	json_t *r = readings(w.gw, "{\"readings\":["
				   "{\"meter\":\"M-A\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000},"
				   "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000}]}");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), 2);
	json_decref(r);
	command("M-A", "cut_off", id);
	char path[100];
	snprintf(path, sizeof path, "/v1/commands/%s/ack", id);
	json_decref(th_ok(&w.srv, "POST", path, w.gw, "{\"result\":\"executed\",\"relay\":\"off\"}", 200));
	json_t *p = th_ok(&w.srv, "GET", "/v1/commands?state=acked", w.gw, NULL, 200); /* today's list */
	ck_assert_int_eq((int)json_array_size(items(p)), 1);
	json_decref(p);
	/* counted: the world's one unbound key (the gateway's own key is bound) */
	ck_assert_int_eq(unbound_gauge(), 1);
	char *old = th_key(&w.srv, "gateway", NULL);
	ck_assert_int_eq(unbound_gauge(), 2);
	/* and warned about at start (before it listens: the log has it once it answers) */
	struct th_server second;
	th_server_start(&second, w.db, env);
	FILE *f = fopen(second.log_path, "r");
	ck_assert(f);
	char line[2048];
	int warned = 0;
	while (fgets(line, sizeof line, f))
		warned |= strstr(line, "2 gateway keys are bound to no gateway or site; replace them") != NULL;
	fclose(f);
	ck_assert_int_eq(th_server_stop(&second), 0);
	ck_assert_msg(warned, "no warning about the unbound gateway keys at start");
	/* revoked, it is no longer counted */
	long long kid = q("SELECT max(id) FROM api_keys WHERE role = 'gateway' AND gateway_id IS NULL");
	snprintf(path, sizeof path, "/v1/api-keys/key_%lld", kid);
	struct th_resp d = th_req(&w.srv, "DELETE", path, w.srv.admin_key, NULL, NULL);
	ck_assert_int_eq(d.status, 204);
	th_resp_free(&d);
	ck_assert_int_eq(unbound_gauge(), 1);
	free(old);
	free(ka);
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
	tcase_add_test(core, pull_hands_out_only_its_own_meters_commands);
	tcase_add_test(core, push_dispatcher_leaves_pull_gateways_alone);
	tcase_add_test(core, forbidden_meter_for_another_gateways_or_sites_meter);
	tcase_add_test(core, ack_of_another_gateways_command_is_403_and_changes_nothing);
	tcase_add_test(core, unbound_gateway_key_keeps_its_reach_and_is_counted);
	suite_add_tcase(s, core);
	TCase *lp = tcase_create("long_poll");
	tcase_add_checked_fixture(lp, setup, teardown);
	tcase_set_timeout(lp, 120);
	tcase_add_test(lp, long_poll_answers_as_soon_as_a_command_is_queued);
	tcase_add_test(lp, a_held_pull_is_answered_when_the_server_stops);
	tcase_add_test(lp, lease_hands_an_unacked_command_out_again_until_it_fails);
	suite_add_tcase(s, lp);
	return s;
}

int main(void) { return th_run(suite()); }
