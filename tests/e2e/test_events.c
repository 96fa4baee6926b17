/* test_events.c: GET /v1/events through the real binary, read by a raw socket client: the
 * events a top-up, an alarm and a cut make, resuming with Last-Event-ID, tenant scope, two
 * processes on one database, a client that never reads, heartbeats and the stream limit. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
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
static struct th_peer gateway;

static void setup(void)
{
	memset(&gateway, 0, sizeof gateway);
	th_peer_start(&gateway, 0);
	static const char *env[] = {"WATTLE_SSE_HEARTBEAT_S=1", "WATTLE_SSE_MAX_CLIENTS=3", "WATTLE_CLOCK_SPEED=60",
				    "WATTLE_GATEWAY_SECRET=gw-secret", NULL};
	th_world_start(&w, env, TH_SITE | TH_TENANT | TH_TARIFF);
}

static void teardown(void)
{
	th_world_stop(&w);
	th_peer_stop(&gateway);
}

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a raw SSE client: HTTP/1.1, chunked, events parsed from the decoded body ---- */

struct sse {
	int fd;
	int status;
	char head[4096];
	char raw[1 << 16];
	size_t raw_len;
	char body[1 << 18];
	size_t body_len;
	long chunk_left; /* bytes of the current chunk still to come; -1: a size line is next */
	bool eof;
	int heartbeats;
};

struct ev {
	long long id;
	char name[32];
	char data[1024];
};

static int sse_connect(int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Read what is there within ms into raw; 0 on timeout, -1 at the end of the stream. */
static int sse_read(struct sse *s, int ms)
{
	struct pollfd pf = {s->fd, POLLIN, 0};
	if (poll(&pf, 1, ms) <= 0)
		return 0;
	if (s->raw_len == sizeof s->raw)
		return 0;
	ssize_t n = read(s->fd, s->raw + s->raw_len, sizeof s->raw - s->raw_len);
	if (n <= 0) {
		s->eof = true;
		return -1;
	}
	s->raw_len += (size_t)n;
	return 1;
}

/* Move the chunked body from raw into body as far as it is complete. */
static void sse_dechunk(struct sse *s)
{
	size_t off = 0;
	for (;;) {
		if (s->chunk_left < 0) {
			char *nl = memmem(s->raw + off, s->raw_len - off, "\r\n", 2);
			if (!nl)
				break;
			s->chunk_left = strtol(s->raw + off, NULL, 16);
			off = (size_t)(nl - s->raw) + 2;
			if (s->chunk_left == 0)
				s->eof = true;
			continue;
		}
		size_t have = s->raw_len - off;
		if (s->chunk_left > 0) {
			size_t take = have < (size_t)s->chunk_left ? have : (size_t)s->chunk_left;
			ck_assert_uint_lt(s->body_len + take, sizeof s->body);
			memcpy(s->body + s->body_len, s->raw + off, take);
			s->body_len += take;
			off += take;
			s->chunk_left -= (long)take;
			if (s->chunk_left > 0)
				break;
		}
		if (s->raw_len - off < 2)
			break;
		off += 2; /* the CRLF after the chunk */
		s->chunk_left = -1;
	}
	memmove(s->raw, s->raw + off, s->raw_len - off);
	s->raw_len -= off;
}

/* Open a stream with key, or with a session's cookie when key is "wattle_session=..."
 * (Last-Event-ID last when last >= 0); reads the status and headers. */
static void sse_open(struct sse *s, int port, const char *key, long long last, int rcvbuf, bool read_head)
{
	memset(s, 0, sizeof *s);
	s->chunk_left = -1;
	s->fd = sse_connect(port, rcvbuf);
	char req[512], lei[64] = "";
	if (last >= 0)
		snprintf(lei, sizeof lei, "Last-Event-ID: %lld\r\n", last);
	bool cookie = !strncmp(key, "wattle_session=", 15);
	int n = snprintf(req, sizeof req,
			 "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n"
			 "Accept: text/event-stream\r\n%s\r\n",
			 cookie ? "Cookie: " : "Authorization: Bearer ", key, lei);
	ck_assert_int_eq(write(s->fd, req, (size_t)n), n);
	if (!read_head)
		return;
	long long t0 = now_ms();
	char *end = NULL;
	while (!(end = memmem(s->raw, s->raw_len, "\r\n\r\n", 4)) && now_ms() - t0 < 5000 && !s->eof)
		sse_read(s, 200);
	ck_assert_msg(end != NULL, "no reply headers");
	size_t hl = (size_t)(end - s->raw) + 4;
	ck_assert_uint_lt(hl, sizeof s->head);
	memcpy(s->head, s->raw, hl);
	s->head[hl] = 0;
	s->status = atoi(s->head + 9);
	memmove(s->raw, s->raw + hl, s->raw_len - hl);
	s->raw_len -= hl;
	if (s->status != 200) { /* an error reply's body is not chunked for us to read */
		s->raw_len = 0;
		return;
	}
	ck_assert_msg(strstr(s->head, "text/event-stream"), "%s", s->head);
	ck_assert_msg(strstr(s->head, "chunked"), "%s", s->head);
	sse_dechunk(s);
}

static void sse_close(struct sse *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* The next event within ms (comments and retry lines skipped, heartbeats counted): 1, or 0. */
static int sse_next(struct sse *s, int ms, struct ev *e)
{
	long long t0 = now_ms();
	for (;;) {
		char *end = memmem(s->body, s->body_len, "\n\n", 2);
		if (end) {
			size_t bl = (size_t)(end - s->body) + 2;
			char block[2048];
			ck_assert_uint_lt(bl, sizeof block);
			memcpy(block, s->body, bl);
			block[bl] = 0;
			memmove(s->body, s->body + bl, s->body_len - bl);
			s->body_len -= bl;
			memset(e, 0, sizeof *e);
			e->id = -1;
			bool any = false;
			for (char *line = strtok(block, "\n"); line; line = strtok(NULL, "\n")) {
				if (!strcmp(line, ": hb"))
					s->heartbeats++;
				else if (!strncmp(line, "id: ", 4))
					e->id = atoll(line + 4);
				else if (!strncmp(line, "event: ", 7))
					snprintf(e->name, sizeof e->name, "%s", line + 7), any = true;
				else if (!strncmp(line, "data: ", 6))
					snprintf(e->data, sizeof e->data, "%s", line + 6);
			}
			if (any)
				return 1;
			continue;
		}
		long long left = ms - (now_ms() - t0);
		if (left <= 0 || s->eof)
			return 0;
		if (sse_read(s, (int)left) > 0)
			sse_dechunk(s);
	}
}

/* The next event, which must be named name; its data parsed (caller decrefs). */
static json_t *sse_want(struct sse *s, const char *name, struct ev *e)
{
	ck_assert_msg(sse_next(s, 5000, e), "no %s event within 5 s", name);
	ck_assert_msg(!strcmp(e->name, name), "wanted %s, got %s %s", name, e->name, e->data);
	json_t *j = json_loads(e->data, 0, NULL);
	ck_assert_msg(j != NULL, "data is not JSON: %s", e->data);
	return j;
}

/* Events until one named name whose data contains needle, within ms; 1 when found. */
static int sse_until(struct sse *s, const char *name, const char *needle, int ms, struct ev *e)
{
	long long t0 = now_ms();
	while (now_ms() - t0 < ms) {
		if (!sse_next(s, (int)(ms - (now_ms() - t0)), e))
			return 0;
		if (!strcmp(e->name, name) && strstr(e->data, needle))
			return 1;
	}
	return 0;
}

static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static long long jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }

static void topup(struct th_server *s, const char *tenant, int amount)
{
	char path[64], body[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tenant);
	snprintf(body, sizeof body, "{\"amount_minor\":%d,\"channel\":\"cash\"}", amount);
	json_decref(th_ok(s, "POST", path, w.fin, body, 201));
}

static void meter(const char *extra)
{
	char body[400];
	snprintf(body, sizeof body,
		 "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
		 "\"gateway\":\"http://127.0.0.1:%d/gw\"%s}",
		 gateway.port, extra);
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops, body, 201));
}

static void reading(int i, long long wh, const char *extra)
{
	char body[300];
	snprintf(body, sizeof body,
		 "{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T%02d:%02d:00+08:00\",\"energy_wh\":%lld%s}]}",
		 8 + i / 60, i % 60, wh, extra);
	json_t *r = th_ok(&w.srv, "POST", "/v1/readings", w.gw, body, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), 1);
	json_decref(r);
}

/* A metric's value from /metrics (the first line that starts with series), or -1. */
static long long metric(struct th_server *s, const char *series)
{
	struct th_resp r = th_req(s, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	long long v = -1;
	size_t n = strlen(series);
	for (char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ') {
			v = atoll(p + n + 1);
			break;
		}
	th_resp_free(&r);
	return v;
}

START_TEST(topup_makes_account_and_payment_events)
{
	struct sse s;
	struct ev e;
	sse_open(&s, w.srv.port, w.fin, -1, 0, true);
	ck_assert_int_eq(s.status, 200);
	topup(&w.srv, "ten_1", 1500);
	/* one transaction, two events, in either order */
	json_t *pay = NULL, *acc = NULL;
	for (int i = 0; i < 2; i++) {
		ck_assert(sse_next(&s, 15000, &e)); /* a loaded machine's fan-out can take seconds */
		json_t *j = json_loads(e.data, 0, NULL);
		ck_assert_ptr_nonnull(j);
		ck_assert_int_gt(e.id, 0);
		if (!strcmp(e.name, "payment"))
			pay = j;
		else if (!strcmp(e.name, "account"))
			acc = j;
		else
			ck_abort_msg("unexpected %s %s", e.name, e.data);
	}
	ck_assert_ptr_nonnull(pay);
	ck_assert_ptr_nonnull(acc);
	long long le = q("SELECT max(id) FROM ledger_entries");
	char want[32];
	snprintf(want, sizeof want, "le_%lld", le);
	ck_assert_str_eq(jstr(pay, "id"), want);
	ck_assert_str_eq(jstr(pay, "tenant_id"), "ten_1");
	ck_assert_int_eq(jint(pay, "amount_minor"), 1500);
	ck_assert_str_eq(jstr(pay, "provider"), "cash");
	ck_assert_str_eq(jstr(pay, "kind"), "credited");
	ck_assert_str_eq(jstr(acc, "tenant_id"), "ten_1");
	ck_assert_int_eq(jint(acc, "balance_minor"), 1500);
	ck_assert_int_eq(jint(acc, "balance_minor"), q("SELECT balance_minor FROM accounts WHERE tenant_id = 1"));
	ck_assert_str_eq(jstr(acc, "state"), "normal");
	ck_assert_str_eq(jstr(acc, "supply"), "on");
	json_decref(pay);
	json_decref(acc);
	/* finance is not sent alarms or commands: an operator's cut shows only its account change */
	meter("");
	json_decref(th_ok(&w.srv, "POST", "/v1/meters/mtr_1/commands", w.ops,
			  "{\"action\":\"cut_off\",\"reason\":\"test\"}", 202));
	json_t *a = sse_want(&s, "account", &e);
	ck_assert_str_eq(jstr(a, "supply"), "pending_off");
	json_decref(a);
	ck_assert_int_eq(sse_next(&s, 1500, &e), 0);
	ck_assert_int_ge(metric(&w.srv, "wattle_sse_events_sent_total{stream=\"events\"}"), 3);
	sse_close(&s);
}
END_TEST

START_TEST(reading_that_opens_an_alarm_makes_an_alarm_event)
{
	json_decref(th_ok(&w.srv, "PUT", "/v1/sites/site_1/alarm-settings", w.ops,
			  "{\"overload_readings\":2,\"interval_seconds\":60}", 200));
	meter(",\"max_power_w\":5000");
	struct sse s;
	struct ev e;
	sse_open(&s, w.srv.port, w.ops, -1, 0, true);
	reading(0, 1000, ",\"power_w\":300");
	reading(1, 1010, ",\"power_w\":6200");
	reading(2, 1020, ",\"power_w\":6800");
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind = 'overload'"), 1);
	ck_assert_msg(sse_until(&s, "alarm", "overload", 15000, &e), "no alarm event");
	json_t *j = json_loads(e.data, 0, NULL);
	char want[32];
	snprintf(want, sizeof want, "alm_%lld", q("SELECT id FROM alarms WHERE kind = 'overload'"));
	ck_assert_str_eq(jstr(j, "id"), want);
	ck_assert_str_eq(jstr(j, "site_id"), "site_1");
	ck_assert_str_eq(jstr(j, "tenant_id"), "ten_1");
	ck_assert_str_eq(jstr(j, "meter_id"), "mtr_1");
	ck_assert_str_eq(jstr(j, "kind"), "overload");
	ck_assert_str_eq(jstr(j, "state"), "open");
	json_t *row = th_ok(&w.srv, "GET", "/v1/alarms?kind=overload", w.ops, NULL, 200);
	ck_assert_str_eq(jstr(j, "severity"), jstr(json_array_get(json_object_get(row, "items"), 0), "severity"));
	json_decref(row);
	json_decref(j);
	char path[64];
	snprintf(path, sizeof path, "/v1/alarms/%s/ack", want);
	json_decref(th_ok(&w.srv, "POST", path, w.ops, "{\"note\":\"seen\"}", 200));
	ck_assert_msg(sse_until(&s, "alarm", "\"acked\"", 15000, &e), "no acked event");
	ck_assert(strstr(e.data, want));
	sse_close(&s);
}
END_TEST

START_TEST(cut_makes_command_events)
{
	meter("");
	struct sse s;
	struct ev e;
	sse_open(&s, w.srv.port, w.ops, -1, 0, true);
	json_decref(th_ok(&w.srv, "POST", "/v1/meters/mtr_1/commands", w.ops,
			  "{\"action\":\"cut_off\",\"reason\":\"test\"}", 202));
	long long cmd = q("SELECT max(id) FROM commands");
	char id[32];
	snprintf(id, sizeof id, "\"cmd_%lld\"", cmd);
	ck_assert_msg(sse_until(&s, "command", "\"queued\"", 15000, &e), "no queued event");
	json_t *j = json_loads(e.data, 0, NULL);
	ck_assert(strstr(e.data, id));
	ck_assert_str_eq(jstr(j, "meter_id"), "mtr_1");
	ck_assert_str_eq(jstr(j, "tenant_id"), "ten_1");
	ck_assert_str_eq(jstr(j, "kind"), "cut_off");
	json_decref(j);
	/* the dispatcher posts it to the gateway (the peer answers 200): sent */
	ck_assert_msg(sse_until(&s, "command", "\"sent\"", 15000, &e), "no sent event");
	ck_assert(strstr(e.data, id));
	char path[64];
	snprintf(path, sizeof path, "/v1/commands/cmd_%lld/ack", cmd);
	json_decref(th_ok(&w.srv, "POST", path, w.gw, "{\"result\":\"executed\",\"relay\":\"off\"}", 200));
	ck_assert_msg(sse_until(&s, "command", "\"acked\"", 15000, &e), "no acked event");
	ck_assert(strstr(e.data, id));
	ck_assert_msg(sse_until(&s, "account", "\"off\"", 15000, &e), "no account event with the supply off");
	sse_close(&s);
}
END_TEST

START_TEST(last_event_id_resumes_with_exactly_what_was_missed)
{
	struct sse s;
	struct ev e;
	sse_open(&s, w.srv.port, w.srv.admin_key, -1, 0, true);
	topup(&w.srv, "ten_1", 100);
	long long last = 0;
	for (int i = 0; i < 2; i++) {
		ck_assert(sse_next(&s, 15000, &e));
		ck_assert_int_gt(e.id, last);
		last = e.id;
	}
	sse_close(&s);
	for (int i = 0; i < 3; i++) /* missed: six events */
		topup(&w.srv, "ten_1", 200 + i);
	usleep(300000);
	sse_open(&s, w.srv.port, w.srv.admin_key, last, 0, true);
	ck_assert_int_eq(s.status, 200);
	long long bal = 100;
	for (int i = 0; i < 6; i++) {
		ck_assert_msg(sse_next(&s, 15000, &e), "missed event %d not sent", i);
		ck_assert_int_eq(e.id, last + 1 + i); /* in order, none left out, none twice */
		if (!strcmp(e.name, "account")) {
			json_t *j = json_loads(e.data, 0, NULL);
			bal += 200 + i / 2;
			ck_assert_int_eq(jint(j, "balance_minor"), bal);
			json_decref(j);
		}
	}
	/* and then it is live, from the next one on */
	topup(&w.srv, "ten_1", 7);
	ck_assert(sse_next(&s, 15000, &e));
	ck_assert_int_eq(e.id, last + 7);
	ck_assert(sse_next(&s, 15000, &e));
	ck_assert_int_eq(e.id, last + 8);
	ck_assert_int_eq(sse_next(&s, 1500, &e), 0);
	sse_close(&s);
	/* an id whose successors are pruned, or one this database never gave: reset */
	char sql[128];
	snprintf(sql, sizeof sql, "DELETE FROM events WHERE seq <= %lld", last + 3);
	PQclear(th_sql(w.db, sql));
	sse_open(&s, w.srv.port, w.srv.admin_key, last, 0, true);
	ck_assert(sse_next(&s, 15000, &e));
	ck_assert_str_eq(e.name, "reset");
	ck_assert_int_eq(e.id, last + 8);
	sse_close(&s);
	sse_open(&s, w.srv.port, w.srv.admin_key, 999999, 0, true);
	ck_assert(sse_next(&s, 15000, &e));
	ck_assert_str_eq(e.name, "reset");
	sse_close(&s);
	/* but from a kept one, no reset (once the closed streams are noticed: WATTLE_SSE_MAX_CLIENTS=3) */
	long long t0 = now_ms();
	while (metric(&w.srv, "wattle_sse_clients") > 0 && now_ms() - t0 < 4000)
		usleep(100000);
	sse_open(&s, w.srv.port, w.srv.admin_key, last + 4, 0, true);
	ck_assert(sse_next(&s, 15000, &e));
	ck_assert_int_eq(e.id, last + 5);
	sse_close(&s);
}
END_TEST

START_TEST(tenant_sees_only_its_own_events)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Tea Shop\",\"category\":\"catering\","
			  "\"area_m2\":\"20\",\"credit_rating\":\"A\"}", 201));
	char *t1 = th_key(&w.srv, "tenant", "ten_1");
	struct sse s, g;
	struct ev e;
	sse_open(&g, w.srv.port, w.gw, -1, 0, true);
	ck_assert_int_eq(g.status, 403);
	sse_close(&g);
	sse_open(&s, w.srv.port, t1, -1, 0, true);
	ck_assert_int_eq(s.status, 200);
	topup(&w.srv, "ten_2", 900);
	topup(&w.srv, "ten_1", 100);
	topup(&w.srv, "ten_2", 800);
	int mine = 0;
	while (sse_next(&s, 1500, &e)) {
		ck_assert_msg(strstr(e.data, "\"ten_1\"") && !strstr(e.data, "ten_2"), "%s %s", e.name, e.data);
		mine++;
	}
	ck_assert_int_eq(mine, 2);
	sse_close(&s);
	free(t1);
}
END_TEST

/* A finance user bound to one site (users.site_ids) streams that site's events only: the
 * other site's top-ups, made between its own, never reach it. */
START_TEST(a_user_bound_to_a_site_streams_only_its_sites_events)
{
	th_world_second_site(&w);
	struct th_resp r = th_req(&w.srv, "POST", "/v1/sessions", NULL,
				  "{\"username\":\"fin.two\",\"password\":\"0123456789\"}", NULL);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	char cookie[128];
	snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
	th_resp_free(&r);
	struct sse s, all;
	struct ev e;
	sse_open(&s, w.srv.port, cookie, -1, 0, true);
	ck_assert_int_eq(s.status, 200);
	sse_open(&all, w.srv.port, w.fin, -1, 0, true);
	ck_assert_int_eq(all.status, 200);
	topup(&w.srv, "ten_1", 900);
	topup(&w.srv, "ten_2", 100);
	topup(&w.srv, "ten_1", 800);
	int mine = 0, every = 0;
	while (sse_next(&s, 1500, &e)) {
		ck_assert_msg(strstr(e.data, "\"ten_2\"") && !strstr(e.data, "ten_1"), "%s %s", e.name, e.data);
		mine++;
	}
	while (sse_next(&all, 1500, &e))
		every++;
	ck_assert_int_eq(mine, 2);  /* its payment and its account */
	ck_assert_int_eq(every, 6); /* an unbound key's stream has all three of each */
	ck_assert_int_eq(q("SELECT count(*) FROM events WHERE site_id IS NULL"), 0);
	sse_close(&s);
	sse_close(&all);
}
END_TEST

START_TEST(an_event_made_through_one_process_reaches_the_clients_of_another)
{
	struct th_server two;
	th_server_start(&two, w.db, (const char *[]){"WATTLE_SSE_HEARTBEAT_S=1", NULL});
	struct sse a, b;
	struct ev e;
	sse_open(&a, w.srv.port, w.fin, -1, 0, true);
	sse_open(&b, two.port, w.fin, -1, 0, true);
	topup(&two, "ten_1", 300);
	ck_assert_msg(sse_until(&a, "account", "300", 15000, &e), "process one did not see process two's top-up");
	long long id_a = e.id;
	ck_assert(sse_until(&b, "account", "300", 15000, &e));
	ck_assert_int_eq(e.id, id_a); /* one numbering for both */
	topup(&w.srv, "ten_1", 50);
	ck_assert_msg(sse_until(&b, "account", "350", 15000, &e), "process two did not see process one's top-up");
	ck_assert_int_gt(e.id, id_a);
	sse_close(&a);
	sse_close(&b);
	ck_assert_int_eq(th_server_stop(&two), 0);
}
END_TEST

static double batch_ms(int from, int n)
{
	long long t0 = now_ms();
	for (int i = 0; i < n; i++)
		reading(from + i, 1000 + 100 * (from + i), "");
	return (double)(now_ms() - t0);
}

START_TEST(a_client_that_never_reads_is_dropped_and_does_not_slow_ingest)
{
	meter("");
	topup(&w.srv, "ten_1", 1000000);
	reading(0, 1000, "");
	double alone = batch_ms(1, 100);
	/* an admin stream that reads nothing at all, with a small window */
	struct sse stuck;
	sse_open(&stuck, w.srv.port, w.srv.admin_key, -1, 1024, false);
	usleep(200000);
	ck_assert_int_eq(metric(&w.srv, "wattle_sse_clients"), 1);
	double with = batch_ms(101, 100);
	/* more events than its queue and the sockets hold: it is dropped */
	int i = 0;
	while (metric(&w.srv, "wattle_sse_clients_dropped_total{reason=\"slow\"}") < 1 && i < 3000) {
		topup(&w.srv, "ten_1", 1);
		i++;
	}
	ck_assert_int_eq(metric(&w.srv, "wattle_sse_clients_dropped_total{reason=\"slow\"}"), 1);
	long long t0 = now_ms();
	while (metric(&w.srv, "wattle_sse_clients") != 0 && now_ms() - t0 < 3000)
		usleep(50000);
	ck_assert_int_eq(metric(&w.srv, "wattle_sse_clients"), 0);
	/* its socket was shut: reading now finds the end after what the kernel had kept */
	char buf[65536];
	ssize_t n;
	size_t total = 0;
	while ((n = read(stuck.fd, buf, sizeof buf)) > 0)
		total += (size_t)n;
	ck_assert_msg(total < 512 * 1024, "%zu bytes were held for a client that did not read", total);
	sse_close(&stuck);
	fprintf(stderr, "test_events: 100 readings alone %.0f ms, with a stuck stream %.0f ms; dropped after %d top-ups\n",
		alone, with, i);
	ck_assert_msg(with < 2 * alone + 500, "ingest slowed by a stuck client: %.0f ms, alone %.0f ms", with, alone);
}
END_TEST

START_TEST(heartbeats_arrive_and_a_stop_ends_the_stream)
{
	struct sse s;
	struct ev e;
	sse_open(&s, w.srv.port, w.ops, -1, 0, true);
	ck_assert_int_eq(sse_next(&s, 2500, &e), 0);
	ck_assert_int_ge(s.heartbeats, 2);
	ck_assert(!s.eof);
	/* a server stopping with a stream open ends it and exits cleanly */
	ck_assert_int_eq(th_server_stop(&w.srv), 0);
	sse_next(&s, 2000, &e);
	ck_assert_msg(s.eof, "the stream did not end when the server stopped");
	sse_close(&s);
}
END_TEST

START_TEST(streams_beyond_the_limit_get_503_with_retry_after)
{
	struct sse s[4];
	for (int i = 0; i < 3; i++) {
		sse_open(&s[i], w.srv.port, w.fin, -1, 0, true);
		ck_assert_int_eq(s[i].status, 200);
	}
	sse_open(&s[3], w.srv.port, w.fin, -1, 0, true);
	ck_assert_int_eq(s[3].status, 503);
	ck_assert_msg(strstr(s[3].head, "Retry-After: 5"), "%s", s[3].head);
	sse_close(&s[3]);
	ck_assert_int_eq(metric(&w.srv, "wattle_sse_clients"), 3);
	sse_close(&s[0]); /* noticed at the next heartbeat, at most 1 s on */
	long long t0 = now_ms();
	while (metric(&w.srv, "wattle_sse_clients") != 2 && now_ms() - t0 < 4000)
		usleep(100000);
	sse_open(&s[3], w.srv.port, w.fin, -1, 0, true);
	ck_assert_int_eq(s[3].status, 200);
	for (int i = 1; i < 4; i++)
		sse_close(&s[i]);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("events");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, topup_makes_account_and_payment_events);
	tcase_add_test(tc, reading_that_opens_an_alarm_makes_an_alarm_event);
	tcase_add_test(tc, cut_makes_command_events);
	tcase_add_test(tc, last_event_id_resumes_with_exactly_what_was_missed);
	tcase_add_test(tc, tenant_sees_only_its_own_events);
	tcase_add_test(tc, a_user_bound_to_a_site_streams_only_its_sites_events);
	tcase_add_test(tc, an_event_made_through_one_process_reaches_the_clients_of_another);
	tcase_add_test(tc, heartbeats_arrive_and_a_stop_ends_the_stream);
	tcase_add_test(tc, streams_beyond_the_limit_get_503_with_retry_after);
	suite_add_tcase(su, tc);
	TCase *lim = tcase_create("limits");
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_set_timeout(lim, 180);
	tcase_add_test(lim, a_client_that_never_reads_is_dropped_and_does_not_slow_ingest);
	suite_add_tcase(su, lim);
	return th_run(su);
}
