/* messages_load.c: the message figures of issue 16, against two real wattle processes on one
 * database (both run the notification dispatcher) sending through local fakes of each carrier
 * over real HTTP: Twilio (a small fake of its Messages API here, as tests/e2e/test_messages.c
 * has), Aliyun and Tencent Cloud SMS (tools/fakemsg/fake_sms.h, signatures recomputed) and
 * the WeChat official account (tools/fakemsg/fake_wxoa.h). Per carrier:
 *   1. MESSAGES notifications queued at once (rows shaped as ops/account.c queues a
 *      topup_received: {event, audience, site_id, vars}), the fake answering at once:
 *      messages/s until the queue is drained;
 *   2. the fake's rate limit set (CAP/s; beyond it the provider's throttling answer: Aliyun
 *      Throttling.User and Tencent RequestLimitExceeded (the account's API rate) through the fakes' own
 *      fail-next knob, Twilio 429 / 20429, WeChat 45011), CAP * SECONDS messages: the sends
 *      accepted per second while a backlog remains, beside the cap;
 *   3. 300 cashier top-ups (POST /v1/tenants/{id}/topups, to the two processes in turn) at a
 *      steady rate over SECONDS: the delay from the top-up's reply (its balance change is
 *      committed by then) to the fake receiving the message's request, p50 and p99;
 *   then 1 again with one process, to show what the second adds.
 * Each fake sits behind a front of ours (a peer) that applies the cap and notes when each
 * request arrived and for which tenant (from the phone +861390000NNNN or the openid
 * oBenchNNNN); the SMS fronts call the fakes' provider halves directly, the WeChat front
 * forwards to the fake over HTTP.
 * usage: bench-messages WATTLE_BIN PORT FINANCE_KEY TMPDIR MESSAGES SECONDS (ports PORT, PORT+1)
 * The database is $WATTLE_DATABASE_URL, seeded by bench/messages.sh: site_1 (zh-CN, CNY,
 * Asia/Shanghai) with tenants 1..300, phones +861390000NNNN, openids oBenchNNNN (1..60). */
#include "fake_sms.h"
#include "fake_wxoa.h"

#include "core/paysig.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TENANTS 300
#define WX_TENANTS 60 /* the WeChat fake knows 64 users */
#define TOPUPS 300
#define CAP 100 /* the provider's rate limit of part 2, sends per second */

static const char *const carrier[4] = {"twilio", "aliyun", "tencent", "wechat"};
static struct fakesms *fa, *ft;
static struct fakewx *fx;
static struct peer *front[4], *sink;
static char fin_auth[256];
static PGconn *pg;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-messages: %s\n", what);
	exit(1);
}

/* ---- the cap and the arrivals, shared by the fronts (one carrier is measured at a time) ---- */

#define MAX_ARRIVALS 20000
#define MAX_SECONDS 600
static struct {
	pthread_mutex_t mu;
	int cap;         /* sends per second; 0: no limit */
	double t0;       /* the phase's start: second windows count from it */
	long window;     /* the current window */
	int used;        /* sends let through in it */
	unsigned throttled, accepted;
	int per_sec[MAX_SECONDS]; /* accepted sends per second of the phase */
	int arr_tenant[MAX_ARRIVALS];
	double arr_t[MAX_ARRIVALS];
	int narr;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void phase_reset(int cap)
{
	pthread_mutex_lock(&L.mu);
	L.cap = cap;
	L.t0 = now_s();
	L.window = 0;
	L.used = 0;
	L.throttled = L.accepted = 0;
	memset(L.per_sec, 0, sizeof L.per_sec);
	L.narr = 0;
	pthread_mutex_unlock(&L.mu);
}

/* Whether a send arriving now is within the cap (counted against its second). */
static bool cap_allows(void)
{
	pthread_mutex_lock(&L.mu);
	bool ok = true;
	if (L.cap > 0) {
		long w = (long)(now_s() - L.t0);
		if (w != L.window) {
			L.window = w;
			L.used = 0;
		}
		ok = L.used < L.cap;
		if (ok)
			L.used++;
		else
			L.throttled++;
	}
	pthread_mutex_unlock(&L.mu);
	return ok;
}

/* The tenant a request is for: +861390000NNNN (any encoding of the +) or oBenchNNNN; 0: none. */
static int tenant_in(const char *s)
{
	const char *p;
	if (s && (p = strstr(s, "1390000")) && strlen(p) >= 11)
		return atoi((char[5]){p[7], p[8], p[9], p[10], 0});
	if (s && (p = strstr(s, "oBench")) && strlen(p) >= 10)
		return atoi((char[5]){p[6], p[7], p[8], p[9], 0});
	return 0;
}

/* A send the provider accepted, which arrived at t for tenant. */
static void accepted(double t, int tenant)
{
	pthread_mutex_lock(&L.mu);
	L.accepted++;
	long s = (long)(t - L.t0);
	if (s >= 0 && s < MAX_SECONDS)
		L.per_sec[s]++;
	if (L.narr < MAX_ARRIVALS) {
		L.arr_tenant[L.narr] = tenant;
		L.arr_t[L.narr++] = t;
	}
	pthread_mutex_unlock(&L.mu);
}

/* ---- the fronts ---- */

/* Twilio's Messages API, as tests/e2e/test_messages.c fakes it: the account's Basic
 * credentials, To, From and Body required; 201 with a sid; throttling 429 {"code": 20429}. */
static void twilio(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	static unsigned seq;
	double t = now_s();
	const char *auth = peer_header(rq, "Authorization");
	struct bill_form f;
	int bad = bill_form_parse(rq->body, rq->body_len, &f);
	if (!auth || strcmp(auth, "Basic QUMxOnRvaw==") || strcmp(rq->path, "/2010-04-01/Accounts/AC1/Messages.json")) {
		out->status = 401;
		out->body = strdup("{\"code\":20003,\"message\":\"Authenticate\",\"status\":401}");
	} else if (bad || !bill_form_get(&f, "To") || !bill_form_get(&f, "Body") || !bill_form_get(&f, "From")) {
		out->status = 400;
		out->body = strdup("{\"code\":21604,\"message\":\"A 'To', 'From' and 'Body' are required\",\"status\":400}");
	} else if (!cap_allows()) {
		out->status = 429;
		out->body = strdup("{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}");
	} else {
		char b[200];
		snprintf(b, sizeof b, "{\"sid\":\"SM%032u\",\"status\":\"queued\"}", __atomic_add_fetch(&seq, 1, __ATOMIC_SEQ_CST));
		out->status = 201;
		out->body = strdup(b);
		accepted(t, tenant_in(bill_form_get(&f, "To")));
	}
	bill_form_free(&f);
}

/* Aliyun's and Tencent's fakes: beyond the cap the fake's own throttling (one more send
 * answered with the provider's code); accepted when the provider's answer says OK / Ok. */
static void sms_front(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	struct fakesms *f = ud;
	bool ali = !strcmp(f->provider, "aliyun");
	double t = now_s();
	if (!cap_allows()) {
		pthread_mutex_lock(&f->mu);
		snprintf(f->fail_code, sizeof f->fail_code, "%s",
			 ali ? "Throttling.User" : "RequestLimitExceeded"); /* the account's API rate, not a number's */
		f->fail_n++;
		pthread_mutex_unlock(&f->mu);
	}
	if (ali)
		fake_aliyun(f, rq, out);
	else
		fake_tencent(f, rq, out);
	if (out->status == 200 && out->body &&
	    strstr(out->body, ali ? "\"Code\":\"OK\"" : "\"Code\":\"Ok\"")) {
		const char *ph = ali ? peer_query(rq, "PhoneNumbers") : NULL;
		int tn = tenant_in(ph);
		accepted(t, tn ? tn : tenant_in(rq->body));
	}
}

static size_t on_body(char *p, size_t s, size_t n, void *ud);
struct buf {
	char *p;
	size_t n;
};

/* The WeChat official account: forwarded to the fake (its token and template sends);
 * beyond the cap WeChat's per-minute quota answer 45011 (45009 is the day's). */
static void wechat_front(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	static _Thread_local CURL *h;
	double t = now_s();
	bool send = !strcmp(rq->path, "/cgi-bin/message/template/send");
	out->content_type = "application/json; encoding=utf-8";
	if (send && !cap_allows()) {
		out->body = strdup("{\"errcode\":45011,\"errmsg\":\"api minute-quota reach limit\"}");
		return;
	}
	if (!h && !(h = curl_easy_init()))
		abort();
	char url[1024], b[128];
	int n = snprintf(url, sizeof url, "%s%s", fakewx_base(fx, b, sizeof b), rq->path);
	static const char *const keys[] = {"grant_type", "appid", "secret", "access_token"};
	for (size_t i = 0; i < 4; i++) {
		const char *v = peer_query(rq, keys[i]);
		if (!v)
			continue;
		char *e = curl_easy_escape(h, v, 0);
		n += snprintf(url + n, sizeof url - (size_t)n, "%c%s=%s", strchr(url, '?') ? '&' : '?', keys[i], e);
		curl_free(e);
	}
	struct buf r = {0};
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	hd = curl_slist_append(hd, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (strcmp(rq->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	long st = 0;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
	curl_slist_free_all(hd);
	out->status = st ? (unsigned)st : 502;
	out->body = r.p ? r.p : strdup("{\"errcode\":-1,\"errmsg\":\"system error\"}");
	if (send && st == 200 && r.p && strstr(r.p, "\"errcode\":0"))
		accepted(t, tenant_in(rq->body));
}

/* The control room's webhook (the top-ups' events): taken. */
static void sink_answer(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	(void)rq;
	out->status = 200;
}

/* ---- HTTP to wattle ---- */

static size_t on_body(char *p, size_t s, size_t n, void *ud)
{
	struct buf *b = ud;
	char *q = realloc(b->p, b->n + s * n + 1);
	if (!q)
		abort();
	memcpy(q + b->n, p, s * n);
	b->n += s * n;
	q[b->n] = 0;
	b->p = q;
	return s * n;
}

static long http(CURL *h, const char *method, const char *url, const char *body, struct buf *out)
{
	struct curl_slist *hd = curl_slist_append(NULL, fin_auth);
	hd = curl_slist_append(hd, "Content-Type: application/json");
	hd = curl_slist_append(hd, "Expect:");
	out->n = 0;
	if (out->p)
		out->p[0] = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	long status = 0;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hd);
	return status;
}

static long long sql_int(const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
		exit(1);
	}
	long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return v;
}

/* ---- the two wattle processes ---- */

static pid_t wpid[2];
static int port0;

static void wattle_start(const char *bin, const char *dir, int c)
{
	char b[128];
	for (int i = 0; i < 2; i++) {
		if ((wpid[i] = fork()) < 0)
			die("fork");
		if (wpid[i] == 0) {
			char v[300];
			snprintf(v, sizeof v, "http://127.0.0.1:%d/2010-04-01/Accounts/AC1/Messages.json", peer_port(front[0]));
			setenv("WATTLE_SMS_URL", v, 1);
			setenv("WATTLE_SMS_USER", "AC1", 1);
			setenv("WATTLE_SMS_TOKEN", "tok", 1);
			setenv("WATTLE_SMS_FROM", "+15550001111", 1);
			setenv("WATTLE_SMS_PROVIDER", c == 1 || c == 2 ? carrier[c] : "twilio", 1);
			setenv("WATTLE_SMS_DELIVERY", "callback", 1); /* no status polling in the figures */
			setenv("WATTLE_PUBLIC_URL", "https://wattle.example", 1);
			snprintf(v, sizeof v, "http://127.0.0.1:%d", peer_port(front[1]));
			setenv("WATTLE_ALIYUN_SMS_ENDPOINT", v, 1);
			setenv("WATTLE_ALIYUN_ACCESS_KEY_ID", "LTAI5tAK", 1);
			setenv("WATTLE_ALIYUN_ACCESS_KEY_SECRET", "ali-secret", 1);
			setenv("WATTLE_ALIYUN_SMS_SIGN_NAME", "华商电力", 1);
			snprintf(v, sizeof v, "http://127.0.0.1:%d", peer_port(front[2]));
			setenv("WATTLE_TENCENT_SMS_ENDPOINT", v, 1);
			setenv("WATTLE_TENCENT_SECRET_ID", "AKIDtc", 1);
			setenv("WATTLE_TENCENT_SECRET_KEY", "tc-secret", 1);
			setenv("WATTLE_TENCENT_SMS_SDK_APP_ID", "1400000001", 1);
			setenv("WATTLE_TENCENT_SMS_SIGN_NAME", "华商电力", 1);
			snprintf(v, sizeof v, "http://127.0.0.1:%d", peer_port(front[3]));
			setenv("WATTLE_WECHAT_OA_API_BASE", v, 1);
			setenv("WATTLE_WECHAT_OA_APPID", "wx0123456789abcdef", 1);
			setenv("WATTLE_WECHAT_OA_SECRET", "wx-secret", 1);
			snprintf(v, sizeof v, "http://127.0.0.1:%d/events", peer_port(sink));
			setenv("WATTLE_NOTIFY_WEBHOOK_URL", v, 1);
			setenv("WATTLE_TENANT_MESSAGES_PER_HOUR", "10000", 1); /* its maximum: no bench message suppressed */
			if (!getenv("WATTLE_LOG_LEVEL"))
				setenv("WATTLE_LOG_LEVEL", "error", 1); /* each throttled send is a warning */
			snprintf(v, sizeof v, "127.0.0.1:%d", port0 + i);
			setenv("WATTLE_LISTEN", v, 1);
			snprintf(v, sizeof v, "%s/wattle-%s-%d.log", dir, carrier[c], i);
			if (!freopen(v, "a", stderr))
				_exit(126);
			execl(bin, bin, "serve", "--no-migrate", (char *)NULL);
			_exit(127);
		}
	}
	CURL *h = curl_easy_init();
	struct buf r = {0};
	for (int i = 0; i < 2; i++) {
		snprintf(b, sizeof b, "http://127.0.0.1:%d/healthz", port0 + i);
		int k = 0;
		while (http(h, "GET", b, NULL, &r) != 200 && k++ < 100)
			usleep(100000);
		if (k > 100)
			die("wattle did not start (see its log)");
	}
	curl_easy_cleanup(h);
	free(r.p);
}

static void wattle_stop(void)
{
	for (int i = 0; i < 2; i++)
		if (wpid[i] > 0)
			kill(wpid[i], SIGTERM);
	for (int i = 0; i < 2; i++)
		if (wpid[i] > 0)
			waitpid(wpid[i], NULL, 0);
}

/* Stop the second process: one dispatcher from now. */
static void wattle_stop_second(void)
{
	kill(wpid[1], SIGTERM);
	waitpid(wpid[1], NULL, 0);
	wpid[1] = 0;
}

/* ---- queueing and draining ---- */

static long long amount_seq = 100; /* every message's amount differs: none is a duplicate */

/* Queue n topup_received notifications for tenants 1..ntenants in turn, as the server queues
 * them (ops/account.c add_note; store/outbox.c outbox_notes). The highest id before them. */
static long long queue(int n, int ntenants, bool wechat)
{
	long long lo = sql_int("SELECT coalesce(max(id), 0) FROM notifications");
	char sql[1600];
	snprintf(sql, sizeof sql,
		 "INSERT INTO notifications (tenant_id, kind, channel, recipient, body, payload, created_at, next_attempt_at)"
		 " SELECT t, 'topup_received', '%s', '+861390000' || lpad(t::text, 4, '0'), 'Shop ' || t || ': top-up',"
		 " jsonb_build_object('event', 'topup_received', 'audience', 'tenant', 'site_id', 1, 'vars',"
		 "  jsonb_build_object('tenant_name', 'Shop ' || t, 'currency', 'CNY', 'digits', 2, 'zone', 'Asia/Shanghai',"
		 "   'balance_minor', 500000 + a, 'amount_minor', a)), now(), now()"
		 " FROM (SELECT 1 + g %% %d AS t, %lld + g AS a FROM generate_series(0, %d) g) x",
		 wechat ? "wechat" : "sms", ntenants, amount_seq, n - 1);
	amount_seq += n;
	sql_int(sql);
	return lo;
}

/* Wait until no notification above lo is pending (at most limit_s); the seconds it took from t0. */
static double drain(long long lo, double t0, double limit_s)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE id > %lld AND state = 'pending'", lo);
	while (sql_int(sql) > 0) {
		if (now_s() - t0 > limit_s) {
			fprintf(stderr, "bench-messages: %lld still pending after %.0f s\n", sql_int(sql), limit_s);
			break;
		}
		usleep(10000);
	}
	return now_s() - t0;
}

static long long count_state(long long lo, const char *state, const char *provider)
{
	char sql[240];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM notifications WHERE id > %lld AND state = '%s' AND channel <> 'webhook'%s%s%s", lo,
		 state, provider ? " AND provider = '" : "", provider ? provider : "", provider ? "'" : "");
	return sql_int(sql);
}

/* ---- latencies ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	int i = (int)((double)n * p);
	return v[i < n ? i : n - 1];
}

/* ---- the parts ---- */

struct fig {
	double rate, p50, p99, drain_s;
	long long sent, dead;
	unsigned throttled;
	int n;
	char series[400]; /* with a cap: the accepted sends of each second */
};

static struct fig flood(int c, int n, int cap)
{
	phase_reset(cap);
	double t0 = now_s();
	long long lo = queue(n, c == 3 ? WX_TENANTS : TENANTS, c == 3);
	struct fig f = {0};
	f.drain_s = drain(lo, t0, 120);
	f.n = n;
	f.sent = count_state(lo, "sent", carrier[c]);
	f.dead = count_state(lo, "dead", NULL);
	pthread_mutex_lock(&L.mu);
	f.throttled = L.throttled;
	f.rate = (double)L.accepted / f.drain_s;
	/* with a cap: the accepted per full second while a backlog remained (until 90% were sent) */
	if (cap) {
		double v[MAX_SECONDS];
		int k = 0, cum = 0;
		for (int s = 0; s < MAX_SECONDS && cum < n * 9 / 10; s++) {
			cum += L.per_sec[s];
			if (s + 1 <= f.drain_s)
				v[k++] = L.per_sec[s];
		}
		size_t used = 0;
		for (int s = 0; s < MAX_SECONDS && s < f.drain_s + 1 && used + 8 < sizeof f.series; s++)
			used += (size_t)snprintf(f.series + used, sizeof f.series - used, "%s%d", s ? " " : "", L.per_sec[s]);
		f.p50 = pct(v, k, 0.5);
		f.p99 = k ? v[k - 1] : 0; /* the busiest second */
	}
	pthread_mutex_unlock(&L.mu);
	return f;
}

/* TOPUPS cashier top-ups at a steady rate over seconds; the delays to the fake's request. */
static struct fig delays(int c, int seconds)
{
	phase_reset(0);
	int nt = c == 3 ? WX_TENANTS : TENANTS;
	long long lo = sql_int("SELECT coalesce(max(id), 0) FROM notifications");
	static double reply[TOPUPS];
	static int tenant[TOPUPS];
	CURL *h = curl_easy_init();
	struct buf b = {0};
	double t0 = now_s(), gap = (double)seconds / TOPUPS;
	int failed = 0;
	for (int k = 0; k < TOPUPS; k++) {
		double due = t0 + k * gap;
		double wait = due - now_s();
		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
		char url[128], body[96];
		tenant[k] = 1 + k % nt;
		snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/tenants/ten_%d/topups", port0 + k % 2, tenant[k]);
		snprintf(body, sizeof body, "{\"amount_minor\":%lld,\"channel\":\"cash\"}", amount_seq++);
		long st = http(h, "POST", url, body, &b);
		reply[k] = now_s();
		if (st != 201 && failed++ == 0)
			fprintf(stderr, "top-up: %ld %s\n", st, b.p ? b.p : "");
	}
	curl_easy_cleanup(h);
	free(b.p);
	drain(lo, now_s(), 30);
	/* the k-th top-up of a tenant with the k-th request for it */
	static double d[TOPUPS];
	int n = 0;
	pthread_mutex_lock(&L.mu);
	static bool used[MAX_ARRIVALS];
	memset(used, 0, sizeof used);
	for (int k = 0; k < TOPUPS; k++)
		for (int a = 0; a < L.narr; a++)
			if (!used[a] && L.arr_tenant[a] == tenant[k]) {
				used[a] = true;
				d[n++] = 1000 * (L.arr_t[a] - reply[k]);
				break;
			}
	pthread_mutex_unlock(&L.mu);
	struct fig f = {0};
	f.n = n;
	f.sent = count_state(lo, "sent", carrier[c]);
	f.dead = count_state(lo, "dead", NULL) + failed;
	f.p50 = pct(d, n, 0.5);
	f.p99 = pct(d, n, 0.99);
	f.rate = n ? d[n - 1] : 0; /* the longest */
	return f;
}

/* The templates of topup_received in zh-CN for carrier c (the fakes approved them). */
static void templates(int c)
{
	char body[1200], url[128];
	const char *sms = c == 1 ? "\"sms_template\":\"SMS_100\",\"sms_params\":{\"name\":\"tenant_name\",\"amount\":\"amount\","
				   "\"balance\":\"balance\"},"
			  : c == 2 ? "\"sms_template\":\"1110\",\"sms_params\":{\"1\":\"tenant_name\",\"2\":\"amount\"},"
				   : "";
	snprintf(body, sizeof body,
		 "{\"templates\":[{\"event\":\"topup_received\",\"language\":\"zh-CN\",%s"
		 "\"wechat_template\":\"tplTopup\",\"wechat_fields\":{\"first\":\"{tenant_name}，充值已到账\","
		 "\"keyword1\":\"amount\",\"keyword2\":\"balance\"}}]}",
		 sms);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/sites/site_1/message-templates", port0);
	CURL *h = curl_easy_init();
	struct buf b = {0};
	long st = http(h, "PUT", url, body, &b);
	if (st != 200) {
		fprintf(stderr, "templates: %ld %s\n", st, b.p ? b.p : "");
		die("the templates were refused");
	}
	curl_easy_cleanup(h);
	free(b.p);
	sql_int(c == 3 ? "UPDATE tenants SET channels = '{wechat}'" : "UPDATE tenants SET channels = '{sms}'");
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: bench-messages WATTLE_BIN PORT FINANCE_KEY TMPDIR MESSAGES SECONDS\n");
		return 2;
	}
	port0 = atoi(argv[2]);
	int m = atoi(argv[5]), seconds = atoi(argv[6]);
	const char *conninfo = getenv("WATTLE_DATABASE_URL");
	if (!conninfo || m < 100 || seconds < 1)
		die("WATTLE_DATABASE_URL unset, MESSAGES under 100 or SECONDS under 1");
	snprintf(fin_auth, sizeof fin_auth, "Authorization: Bearer %s", argv[3]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK)
		die(PQerrorMessage(pg));
	fa = fakesms_start("aliyun", "LTAI5tAK", "ali-secret", "华商电力", NULL);
	ft = fakesms_start("tencent", "AKIDtc", "tc-secret", "华商电力", "1400000001");
	fx = fakewx_start("wx0123456789abcdef", "wx-secret");
	front[0] = peer_start(0, twilio, NULL);
	front[1] = peer_start(0, sms_front, fa);
	front[2] = peer_start(0, sms_front, ft);
	front[3] = peer_start(0, wechat_front, NULL);
	sink = peer_start(0, sink_answer, NULL);
	if (!fa || !ft || !fx || !front[0] || !front[1] || !front[2] || !front[3] || !sink)
		die("a fake cannot listen");
	static const char *const ali_names[] = {"name", "amount", "balance"};
	static const char *const wx_fields[] = {"first", "keyword1", "keyword2"};
	fakesms_template(fa, "SMS_100", 3, ali_names);
	fakesms_template(ft, "1110", 2, NULL);
	fakewx_template(fx, "tplTopup", wx_fields, 3);
	for (int i = 1; i <= WX_TENANTS; i++) {
		char id[16];
		snprintf(id, sizeof id, "oBench%04d", i);
		fakewx_user(fx, id, true);
	}

	struct fig fl[4], th[4], dl[4], one[4];
	int capped = CAP * seconds;
	printf("== messages through each carrier's fake, two wattle processes (ports %d, %d) on one durable"
	       " PostgreSQL; %d queued at once, then %d with the provider's limit at %d/s, then %d cashier top-ups"
	       " over %d s\n", port0, port0 + 1, m, capped, CAP, TOPUPS, seconds);
	for (int c = 0; c < 4; c++) {
		wattle_start(argv[1], argv[4], c);
		templates(c);
		struct fig w = flood(c, 50, 0); /* warm-up: connections, prepared statements, the WeChat token */
		printf("warm-up %-7s: 50 messages in %.2f s\n", carrier[c], w.drain_s);
		fl[c] = flood(c, m, 0);
		printf("%-7s at once: %d queued, %lld sent by %s, %lld dead, drained in %.2f s: %.0f messages/s\n", carrier[c],
		       m, fl[c].sent, carrier[c], fl[c].dead, fl[c].drain_s, fl[c].rate);
		fflush(stdout);
		th[c] = flood(c, capped, CAP);
		printf("%-7s limit %d/s: %d queued, %lld sent, %lld dead, %u sends throttled, drained in %.2f s: %.0f"
		       " messages/s overall; accepted per second while a backlog remained: median %.0f, busiest %.0f\n",
		       carrier[c], CAP, capped, th[c].sent, th[c].dead, th[c].throttled, th[c].drain_s, th[c].rate,
		       th[c].p50, th[c].p99);
		printf("  accepted in each second: %s\n", th[c].series);
		fflush(stdout);
		dl[c] = delays(c, seconds);
		printf("%-7s delay: %d top-ups, %d requests matched, %lld sent, %lld dead or failed: top-up reply to"
		       " the fake's request p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		       carrier[c], TOPUPS, dl[c].n, dl[c].sent, dl[c].dead, dl[c].p50, dl[c].p99, dl[c].rate);
		fflush(stdout);
		wattle_stop_second();
		one[c] = flood(c, m, 0);
		printf("%-7s at once, one process: %d queued, %lld sent, %lld dead, drained in %.2f s: %.0f messages/s\n",
		       carrier[c], m, one[c].sent, one[c].dead, one[c].drain_s, one[c].rate);
		fflush(stdout);
		wattle_stop();
	}
	unsigned refused = fakesms_refused(fa) + fakesms_refused(ft) + fakewx_refused(fx);

	printf("\n== summary (issue 16's figures; two wattle processes, each one notification dispatcher; durable"
	       " PostgreSQL, synchronous_commit on)\n");
	printf("%-9s %13s %13s %16s %13s %13s %13s\n", "carrier", "msgs/s, fake", "msgs/s, one", "msgs/s at the",
	       "limit", "delay p50", "delay p99");
	printf("%-9s %13s %13s %16s %13s %13s %13s\n", "", "at once", "process", "limit (median s)", "(msgs/s)", "ms",
	       "ms");
	for (int c = 0; c < 4; c++)
		printf("%-9s %13.0f %13.0f %16.0f %13d %13.1f %13.1f\n", carrier[c], fl[c].rate, one[c].rate, th[c].p50,
		       CAP, dl[c].p50, dl[c].p99);
	printf("requests the fakes refused (a failed signature, key, token or shape check): %u; WeChat tokens issued: %u\n",
	       refused, fakewx_tokens_issued(fx));

	for (int i = 0; i < 4; i++)
		peer_stop(front[i]);
	peer_stop(sink);
	fakesms_stop(fa);
	fakesms_stop(ft);
	fakewx_stop(fx);
	PQfinish(pg);
	return 0;
}
