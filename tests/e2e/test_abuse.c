/* test_abuse.c: what one client can ask of the server is bounded: a key over its rate and
 * an address that keeps failing to authenticate get 429 with Retry-After (and are counted),
 * an address may hold only so many connections, headers and bodies must arrive in time, and
 * bodies nest only so deep. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct th_world w;

static void teardown(void) { th_world_stop(&w); }

static long status_of(const char *path, const char *key)
{
	struct th_resp r = th_req(&w.srv, "GET", path, key, NULL, NULL);
	long s = r.status;
	th_resp_free(&r);
	return s;
}

static bool metric(const char *line)
{
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	bool ok = m.body && strstr(m.body, line);
	th_resp_free(&m);
	return ok;
}

/* 600 requests with bad keys all got a plain 401, so guessing keys cost nothing but time.
 * With the defaults (10 failures a minute, 20 at once) the address is throttled after 20
 * and every further attempt is 429 before any key is looked at. */
START_TEST(failed_authentications_are_throttled_and_counted)
{
	th_world_start(&w, NULL, TH_SITE | TH_TENANT);
	int unauthorized = 0, limited = 0;
	for (int i = 0; i < 600; i++) {
		char key[64];
		snprintf(key, sizeof key, "wk_guess_%04d_0000000000000000000000", i);
		struct th_resp r = th_req(&w.srv, "GET", "/v1/tenants/ten_1/account", key, NULL, NULL);
		unauthorized += r.status == 401;
		limited += r.status == 429;
		th_resp_free(&r);
	}
	ck_assert_int_eq(unauthorized, 20);
	ck_assert_int_eq(limited, 580);
	ck_assert(metric("wattle_auth_failures_total{outcome=\"failed\"} 20"));
	ck_assert(metric("wattle_http_refused_total{reason=\"auth_throttled\"} 580"));
	/* the 429 says when to come back */
	struct th_resp r = th_req(&w.srv, "GET", "/v1/tenants/ten_1/account", "wk_nope", NULL, NULL);
	ck_assert_int_eq(r.status, 429);
	ck_assert_str_eq(th_err(&r), "rate_limited");
	ck_assert_int_ge(r.retry_after, 1);
	ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"),
							 "retry_after_s")), 1);
	th_resp_free(&r);
	/* routes without a key are not throttled */
	ck_assert_int_eq(status_of("/healthz", NULL), 200);
}
END_TEST

/* A key over its rate gets 429 with Retry-After; another key is unaffected. */
START_TEST(a_key_over_its_rate_gets_429)
{
	const char *env[] = {"WATTLE_RATE_PER_KEY=1", "WATTLE_RATE_BURST=6", NULL};
	th_world_start(&w, env, TH_SITE | TH_TENANT);
	char *k = th_key(&w.srv, "finance", NULL); /* a full bucket */
	int ok = 0, limited = 0;
	for (int i = 0; i < 8; i++) {
		long s = status_of("/v1/tenants/ten_1/account", k);
		ok += s == 200;
		limited += s == 429;
	}
	ck_assert_int_eq(ok, 6);
	ck_assert_int_eq(limited, 2);
	ck_assert_int_eq(status_of("/v1/meters", w.ops), 200); /* its own bucket */
	ck_assert(metric("wattle_http_refused_total{reason=\"key_rate\"} 2"));
	struct th_resp r = th_req(&w.srv, "GET", "/v1/tenants/ten_1/account", k, NULL, NULL);
	ck_assert_int_eq(r.status, 429);
	ck_assert_int_eq(r.retry_after, 1);
	th_resp_free(&r);
	sleep(2); /* a token a second */
	ck_assert_int_eq(status_of("/v1/tenants/ten_1/account", k), 200);
	free(k);
}
END_TEST

/* An address may hold WATTLE_MAX_CONN_PER_ADDR connections; past that the server closes the
 * new one at once, and the held ones do not slow a normal request once they go. */
START_TEST(connections_per_address_are_bounded)
{
	const char *env[] = {"WATTLE_MAX_CONN_PER_ADDR=4", NULL};
	th_world_start(&w, env, TH_SITE);
	int fd[5];
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)w.srv.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 5; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_eq(connect(fd[i], (struct sockaddr *)&sa, sizeof sa), 0);
		ck_assert_int_gt(send(fd[i], "GET /healthz HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL), 0); /* a slow client */
	}
	/* the fifth is closed by the server: no answer, end of stream */
	struct pollfd p = {fd[4], POLLIN, 0};
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	char b[64];
	ck_assert_int_le(recv(fd[4], b, sizeof b, 0), 0);
	for (int i = 0; i < 5; i++)
		close(fd[i]);
	usleep(200000);
	ck_assert_int_eq(status_of("/healthz", NULL), 200);
}
END_TEST

/* Bodies nest only so deep: the parser is never handed a thousand levels. */
START_TEST(deeply_nested_bodies_are_refused_before_parsing)
{
	th_world_start(&w, NULL, TH_SITE | TH_TENANT);
	char body[4096];
	int n = snprintf(body, sizeof body, "{\"amount_minor\":100,\"channel\":\"cash\",\"x\":");
	for (int i = 0; i < 1000; i++)
		body[n++] = '[';
	for (int i = 0; i < 1000; i++)
		body[n++] = ']';
	snprintf(body + n, sizeof body - (size_t)n, "}");
	struct th_resp r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin, body, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "malformed_json");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"),
							 "max_depth")),
			 32);
	th_resp_free(&r);
	/* brackets inside strings are not nesting */
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin,
			  "{\"amount_minor\":100,\"channel\":\"cash\",\"reference\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\"}",
			  201));
}
END_TEST

/* A body trickled in a byte at a time held a connection and its request as long as the
 * client liked (only silence timed out). Past WATTLE_REQUEST_TIMEOUT_S the connection is
 * cut, and nothing runs. */
START_TEST(a_trickled_body_is_cut_off)
{
	const char *env[] = {"WATTLE_REQUEST_TIMEOUT_S=1", NULL};
	th_world_start(&w, env, TH_SITE | TH_TENANT);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)w.srv.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	static const char body[] = "{\"amount_minor\":100,\"channel\":\"cash\"}";
	char head[512];
	int n = snprintf(head, sizeof head,
			 "POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost: wattle\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			 w.fin, strlen(body));
	ck_assert_int_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
	bool closed = false;
	for (size_t i = 0; i < strlen(body) && !closed; i++) {
		if (send(fd, body + i, 1, MSG_NOSIGNAL) != 1)
			closed = true;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) == 1) {
			char b[256];
			closed = recv(fd, b, sizeof b, 0) <= 0;
		}
	}
	close(fd);
	ck_assert_msg(closed, "the trickled body was taken whole");
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 0);
	ck_assert(metric("wattle_http_refused_total{reason=\"slow_body\"} 1"));
}
END_TEST

static int connect_local(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)w.srv.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Whether the server ended the stream on fd within ms (any bytes it sent are dropped). */
static bool closed_within(int fd, int ms)
{
	double until = mono_s() + ms / 1000.0;
	for (;;) {
		int left = (int)((until - mono_s()) * 1000);
		if (left <= 0)
			return false;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, left) <= 0)
			return false;
		char b[512];
		if (recv(fd, b, sizeof b, 0) <= 0)
			return true;
	}
}

/* A slowloris sends its headers a byte a second: never idle for WATTLE_IDLE_TIMEOUT_S, so
 * only that bounded it before. Now its connection is closed WATTLE_HEADER_TIMEOUT_S after
 * its first byte, while a normal client on another connection is served. */
START_TEST(slow_headers_are_cut_off)
{
	const char *env[] = {"WATTLE_HEADER_TIMEOUT_S=2", "WATTLE_IDLE_TIMEOUT_S=30", NULL};
	th_world_start(&w, env, TH_SITE);
	int fd = connect_local();
	static const char head[] = "GET /healthz HTTP/1.1\r\nHost: wattle\r\nX-Slow: ";
	double t0 = mono_s();
	ck_assert_int_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	bool cut = false;
	int sent = 0;
	while (!cut && mono_s() - t0 < 8) {
		cut = closed_within(fd, 1000);
		if (!cut) {
			if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
				cut = true;
			sent++;
		}
		if (sent == 1) { /* meanwhile, another client is served at once */
			double s0 = mono_s();
			ck_assert_int_eq(status_of("/healthz", NULL), 200);
			ck_assert_msg(mono_s() - s0 < 0.5, "a normal request took %.2f s", mono_s() - s0);
		}
	}
	double took = mono_s() - t0;
	close(fd);
	ck_assert_msg(cut, "headers trickled for %.1f s (%d bytes a second apart) were not cut off", took, sent);
	ck_assert_msg(took >= 1.9 && took < 3.5, "cut after %.2f s, want about 2", took);
	ck_assert(metric("wattle_http_refused_total{reason=\"slow_headers\"} 1"));
}
END_TEST

/* One reply to a request on fd: its status, or 0 when none came within 2 s. */
static int read_reply(int fd)
{
	char b[8192];
	size_t n = 0;
	double until = mono_s() + 2;
	while (n < sizeof b - 1) {
		b[n] = 0;
		const char *end = strstr(b, "\r\n\r\n");
		const char *cl = strcasestr(b, "\r\nContent-Length:");
		if (end && cl && cl < end && n >= (size_t)(end + 4 - b) + strtoul(cl + 17, NULL, 10))
			return atoi(b + 9);
		int left = (int)((until - mono_s()) * 1000);
		struct pollfd p = {fd, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return 0;
		ssize_t k = recv(fd, b + n, sizeof b - 1 - n, 0);
		if (k <= 0)
			return 0;
		n += (size_t)k;
	}
	return 0;
}

/* A keep-alive client is not cut: each request's deadline runs from its own first byte,
 * and not while the connection waits between requests. Four requests on one connection,
 * each sent in two parts 0.6 s apart, 1 s between them and 3 s (past the deadline) before
 * the last: 6 s on the connection, each request's headers within 2 s. */
START_TEST(keep_alive_requests_are_not_cut)
{
	const char *env[] = {"WATTLE_HEADER_TIMEOUT_S=2", "WATTLE_IDLE_TIMEOUT_S=30", NULL};
	th_world_start(&w, env, TH_SITE);
	int fd = connect_local();
	static const char part1[] = "GET /healthz HTTP/1.1\r\nHo", part2[] = "st: wattle\r\n\r\n";
	for (int i = 0; i < 4; i++) {
		usleep(i == 3 ? 3000000 : i ? 1000000 : 0);
		ck_assert_int_eq(send(fd, part1, strlen(part1), MSG_NOSIGNAL), (ssize_t)strlen(part1));
		usleep(600000);
		ck_assert_msg(send(fd, part2, strlen(part2), MSG_NOSIGNAL) == (ssize_t)strlen(part2), "request %d: cut", i);
		int st = read_reply(fd);
		ck_assert_msg(st == 200, "request %d on the connection: %d", i, st);
	}
	ck_assert_msg(!closed_within(fd, 300), "the connection was closed");
	close(fd);
	ck_assert(metric("wattle_http_refused_total{reason=\"slow_headers\"} 0"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("abuse");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, failed_authentications_are_throttled_and_counted);
	tcase_add_test(tc, a_key_over_its_rate_gets_429);
	tcase_add_test(tc, connections_per_address_are_bounded);
	tcase_add_test(tc, deeply_nested_bodies_are_refused_before_parsing);
	tcase_add_test(tc, a_trickled_body_is_cut_off);
	tcase_add_test(tc, slow_headers_are_cut_off);
	tcase_add_test(tc, keep_alive_requests_are_not_cut);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return th_run(suite()); }
