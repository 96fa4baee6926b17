/* test_framing.c: bytes on a connection do only what their sender asked. Requests whose
 * framing is ambiguous (two Content-Length headers, Content-Length with Transfer-Encoding,
 * an unknown transfer coding, a space before the colon, NUL or control bytes in a header)
 * are refused with 400 and the connection is closed, so nothing smuggled after them runs;
 * ids that percent-decode to NUL or slash name nothing. Raw sockets, the real server. */
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

static void setup(void)
{
	th_world_start(&w, NULL, TH_SITE | TH_TENANT);
}

static void teardown(void) { th_world_stop(&w); }

/* What the server said to raw bytes: its whole answer and whether it closed the
 * connection within the wait. */
struct answer {
	char text[16384];
	size_t n;
	bool closed;
	int replies; /* status lines */
	int status;  /* of the first */
};

static void send_raw(const char *bytes, size_t len, int wait_ms, struct answer *a)
{
	memset(a, 0, sizeof *a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)w.srv.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	for (size_t off = 0; off < len;) {
		ssize_t k = send(fd, bytes + off, len - off, MSG_NOSIGNAL);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = wait_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t k = recv(fd, a->text + a->n, sizeof a->text - 1 - a->n, 0);
		if (k <= 0) {
			a->closed = true;
			break;
		}
		a->n += (size_t)k;
	}
	close(fd);
	a->text[a->n] = 0;
	for (const char *p = a->text; (p = strstr(p, "HTTP/1.1 ")); p += 9)
		if (a->replies++ == 0)
			a->status = atoi(p + 9);
}

/* A complete, valid top-up of 1.00 CNY: what an attacker smuggles after the bad request. */
static int smuggled(char *out, size_t n)
{
	static const char body[] = "{\"amount_minor\":100,\"channel\":\"cash\"}";
	return snprintf(out, n,
			"POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost: wattle\r\nAuthorization: Bearer %s\r\n"
			"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			w.fin, strlen(body), body);
}

static long long topups(void)
{
	return th_sql_int(w.db, "SELECT count(*) FROM ledger_entries WHERE kind = 'topup'");
}

/* The bad request's head (up to its blank line and any body of its own), then the
 * smuggled request: one 400, the connection closed, no money moved. */
static void refused_and_closed(const char *what, const char *head, const char *own_body)
{
	char s[2048], all[8192];
	smuggled(s, sizeof s);
	int n = snprintf(all, sizeof all,
			 "POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost: wattle\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\n%s\r\n%s%s",
			 w.fin, head, own_body, s);
	struct answer a;
	send_raw(all, (size_t)n, 1500, &a);
	ck_assert_msg(a.replies == 1 && a.status == 400, "%s: want one 400, got %d replies: %.300s", what, a.replies,
		      a.text);
	ck_assert_msg(a.closed, "%s: the connection stayed open", what);
	ck_assert_msg(topups() == 0, "%s: a smuggled top-up was credited", what);
}

START_TEST(ambiguous_framing_is_refused_and_the_connection_closed)
{
	char s[2048], two_cl[128];
	int sl = smuggled(s, sizeof s);
	/* two lengths: one says the smuggled request is the body, the other that there is none */
	snprintf(two_cl, sizeof two_cl, "Content-Length: 0\r\nContent-Length: %d\r\n", sl);
	refused_and_closed("two Content-Length", two_cl, "");
	snprintf(two_cl, sizeof two_cl, "Content-Length: %d\r\nContent-Length: 0\r\n", sl);
	refused_and_closed("two Content-Length, the other order", two_cl, "");
	refused_and_closed("Content-Length then chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
			   "0\r\n\r\n");
	refused_and_closed("chunked then Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
			   "0\r\n\r\n");
	refused_and_closed("a space before the colon", "Content-Length : 0\r\n", "");
	refused_and_closed("an unknown transfer coding", "Transfer-Encoding: xchunked\r\n", "0\r\n\r\n");
	refused_and_closed("chunked twice", "Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n");
	refused_and_closed("a control byte in a value", "X-Note: a\x01" "b\r\nContent-Length: 0\r\n", "");
	refused_and_closed("a bare CR in a value", "X-Note: a\rb\r\nContent-Length: 0\r\n", "");
	/* a NUL in a header cannot be written in a C string literal: build it */
	char nul[64] = "Idempotency-Key: k";
	size_t at = strlen(nul);
	nul[at] = 0;
	memcpy(nul + at + 1, "x\r\nContent-Length: 0\r\n", 23);
	char all[8192];
	int n = snprintf(all, sizeof all,
			 "POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost: wattle\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\n",
			 w.fin);
	memcpy(all + n, nul, at + 1 + 22);
	n += (int)(at + 1 + 22);
	n += snprintf(all + n, sizeof all - (size_t)n, "\r\n%s", s);
	struct answer a;
	send_raw(all, (size_t)n, 1500, &a);
	ck_assert_msg(a.replies == 1 && a.status == 400 && a.closed, "NUL in a header: %d replies, closed %d: %.300s",
		      a.replies, a.closed, a.text);
	ck_assert_int_eq(topups(), 0);
}
END_TEST

/* Two top-ups whose Idempotency-Keys are "same", a NUL, then "one" or "two", each header's
 * colon followed by sp ("" or " "): each must be refused 400, and nothing credited. */
static void two_keys_cut_by_a_nul(const char *sp)
{
	static const char body[] = "{\"amount_minor\":100,\"channel\":\"cash\"}";
	for (int i = 0; i < 2; i++) {
		char all[2048];
		int n = snprintf(all, sizeof all,
				 "POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost:%swattle\r\nAuthorization:%sBearer %s\r\n"
				 "Content-Type:%sapplication/json\r\nContent-Length:%s%zu\r\nIdempotency-Key:%ssame",
				 sp, sp, w.fin, sp, sp, strlen(body), sp);
		all[n++] = 0;
		n += snprintf(all + n, sizeof all - (size_t)n, "%s\r\n\r\n%s", i ? "two" : "one", body);
		struct answer a;
		send_raw(all, (size_t)n, 1500, &a);
		ck_assert_msg(a.status == 400, "key %d (\"%s\" after colons): %.300s", i, sp, a.text);
	}
	ck_assert_int_eq(topups(), 0);
}

/* Two top-ups whose Idempotency-Keys differ only after a NUL were one key: the second was
 * acknowledged 201 and never credited. Now each is refused and nothing moves. */
START_TEST(nul_in_idempotency_key_is_refused) { two_keys_cut_by_a_nul(" "); }
END_TEST

/* The same from a client that writes no space after its colons: the byte count of the head
 * lent each missing space's room to bytes after the NUL (N headers, N - 1 bytes besides the
 * NUL), so both were 201 and one was credited. Now every byte of the head that no header
 * holds must be a separator, and each is refused. */
START_TEST(nul_in_idempotency_key_without_a_space_is_refused)
{
	two_keys_cut_by_a_nul("");
	static const char body[] = "{\"amount_minor\":100,\"channel\":\"cash\"}";
	/* a client that writes no space after its colons is served */
	char ok[2048];
	int n = snprintf(ok, sizeof ok,
			 "POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost:wattle\r\nAuthorization:Bearer %s\r\n"
			 "Content-Type:application/json\r\nContent-Length:%zu\r\nIdempotency-Key:same  \r\n\r\n%s",
			 w.fin, strlen(body), body);
	struct answer a;
	send_raw(ok, (size_t)n, 1500, &a);
	ck_assert_msg(a.status == 201, "%.300s", a.text);
	ck_assert_int_eq(topups(), 1);
}
END_TEST

/* Keep-alive and pipelining still work for requests framed once. */
START_TEST(well_framed_pipelined_requests_both_run)
{
	char s[2048], all[4096];
	smuggled(s, sizeof s);
	int n = snprintf(all, sizeof all, "%s%s", s, s);
	struct answer a;
	send_raw(all, (size_t)n, 1500, &a);
	ck_assert_msg(a.replies == 2, "%d replies: %.300s", a.replies, a.text);
	ck_assert_int_eq(a.status, 201);
	ck_assert_int_eq(topups(), 2);
	/* chunked alone is a valid framing */
	static const char body[] = "{\"amount_minor\":100,\"channel\":\"cash\"}";
	n = snprintf(all, sizeof all,
		     "POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost: wattle\r\nAuthorization: Bearer %s\r\n"
		     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
		     w.fin, strlen(body), body);
	send_raw(all, (size_t)n, 800, &a);
	ck_assert_msg(a.status == 201, "%.300s", a.text);
	ck_assert_int_eq(topups(), 3);
}
END_TEST

/* GET /v1/tenants/ten_1%00/account answered the tenant (the path was cut at the NUL and
 * routed to /v1/tenants/{id}); ten_1%2Faccount answered the account. Both name nothing. */
START_TEST(ids_decoding_to_nul_or_slash_are_404)
{
	static const char *const paths[] = {"/v1/tenants/ten_1%00/account", "/v1/tenants/ten_1%2Faccount",
					    "/v1/tenants/ten_1%2faccount", "/v1/tenants/ten_1%00", NULL};
	for (int i = 0; paths[i]; i++) {
		struct th_resp r = th_req(&w.srv, "GET", paths[i], w.fin, NULL, NULL);
		ck_assert_msg(r.status == 404, "%s: %ld %s", paths[i], r.status, r.body);
		th_resp_free(&r);
	}
	/* the plain ids and percent-encoded query values still work */
	json_decref(th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200));
	json_decref(th_ok(&w.srv, "GET", "/v1/tenants/%74en_1", w.fin, NULL, 200));
	json_decref(th_ok(&w.srv, "GET", "/v1/alarms?since=2026-10-01T00%3A00%3A00%2B08%3A00", w.ops, NULL, 200));
}
END_TEST

/* Headers just under 16 KB got no reply at all, and larger ones libmicrohttpd's HTML page:
 * now the first are served and the second get wattle's JSON 431 with a request id. */
START_TEST(big_headers_get_a_json_answer)
{
	static char pad[20000];
	snprintf(pad, sizeof pad, "X-Pad: ");
	memset(pad + 7, 'a', 15000);
	pad[7 + 15000] = 0;
	const char *h1[] = {pad, NULL};
	struct th_resp r = th_req(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, h1);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	memset(pad + 7, 'a', 17000);
	pad[7 + 17000] = 0;
	r = th_req(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, h1);
	ck_assert_int_eq(r.status, 431);
	ck_assert_str_eq(th_err(&r), "headers_too_large");
	ck_assert(r.request_id[0]);
	th_resp_free(&r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("framing");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ambiguous_framing_is_refused_and_the_connection_closed);
	tcase_add_test(tc, nul_in_idempotency_key_is_refused);
	tcase_add_test(tc, nul_in_idempotency_key_without_a_space_is_refused);
	tcase_add_test(tc, well_framed_pipelined_requests_both_run);
	tcase_add_test(tc, ids_decoding_to_nul_or_slash_are_404);
	tcase_add_test(tc, big_headers_get_a_json_answer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return th_run(suite()); }
