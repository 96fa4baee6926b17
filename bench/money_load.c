/* money_load.c: the money figures of issue 15, against a real wattle calling local fakes of
 * WeChat Pay v3, Alipay and Stripe (tests/support/fakepay), over real HTTP:
 *   1. top-up order creation with the provider answering 50 ms late, at concurrency 1 and 8
 *      (p50, p99, orders/s), beside the bare fake's own latency from the same client;
 *   2. reconciliation of a 10,000-line bill (100 lines missing in wattle, 100 amounts that
 *      differ), per provider: the whole POST, and the server's split into bill fetch and
 *      matching, beside fetching the same bill from the fake directly;
 *   3. top-ups per second through signed Stripe notifications (credit + receipt), 16
 *      clients, tenants of one site and of ten sites, beside pgbench run just before;
 * then 1 (8 clients) and 3 again with WATTLE_THREADS=16: an order holds an HTTP thread while
 * the provider answers, so the default pool (the cores) bounds the concurrent figures.
 * It starts the fakes and spawns wattle itself (the fakes' ports go in its environment).
 * usage: bench-money WATTLE_BIN PORT FINANCE_KEY TMPDIR ORDERS SECONDS PGBENCH_COMMAND
 * The database is $WATTLE_DATABASE_URL, seeded by bench/money.sh: site_1..site_10; tenants
 * 1..200 on site 1, 201..400 spread over the ten sites, each with a CNY account. */
#include "fakepay.h"

#include "core/paysig.h"

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MCHID "1900000109"
#define WX_APPID "wx8888888888888888"
#define MERCHANT_SERIAL "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
#define PLATFORM_SERIAL "3775B6A45ACD588826D15E583A95F5DD3BB1C6E5"
#define APIV3 "0123456789abcdef0123456789abcdef"
#define ALI_APPID "2021000000000001"
#define SK "sk_test_wattle_4eC39HqLyjWDarjtT1zdp7dc"
#define WHSEC "whsec_wattle_test"
#define BILL_LINES 10000
#define BILL_MISSING 100  /* lines 100..199: on the bill only (an open order each: credited) */
#define BILL_MISMATCH 100 /* lines 0..99: the bill says one more fen */

static const char *const prov[3] = {"wechat", "alipay", "stripe"};
static struct fakepay *fk[3];
static EVP_PKEY *wx_merchant, *wx_platform, *ali_app, *ali_alipay;
static char base_url[64], fin_auth[256], log_path[512];
static PGconn *pg;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-money: %s\n", what);
	exit(1);
}

/* ---- HTTP ---- */

struct buf {
	char *p;
	size_t n;
};

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

/* One request on h (its connection kept for the next); the body into *out (reset first).
 * The HTTP status, or 0 when the exchange failed. */
static long http(CURL *h, const char *method, const char *url, const char *body, struct curl_slist *hd,
		 struct buf *out)
{
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
	if (curl_easy_perform(h) != CURLE_OK)
		return 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static struct curl_slist *fin_headers(void)
{
	struct curl_slist *hd = curl_slist_append(NULL, fin_auth);
	hd = curl_slist_append(hd, "Content-Type: application/json");
	return curl_slist_append(hd, "Expect:");
}

/* ---- latencies ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct lat {
	double *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, double s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		if (!(l->v = realloc(l->v, l->cap * sizeof *l->v)))
			abort();
	}
	l->v[l->n++] = s;
}

static double pct(struct lat *l, double p)
{
	if (!l->n)
		return 0;
	qsort(l->v, l->n, sizeof *l->v, cmp_d);
	size_t i = (size_t)((double)l->n * p);
	return 1000 * l->v[i < l->n ? i : l->n - 1];
}

/* ---- the fakes' clients: requests signed as wattle signs them ---- */

static void wx_auth(const char *method, const char *path, const char *body, char *out, size_t n)
{
	char ts[24], nonce[33], msg[1024];
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	snprintf(nonce, sizeof nonce, "%08x%08x%08x%08x", (unsigned)rand(), (unsigned)rand(), (unsigned)rand(),
		 (unsigned)rand());
	snprintf(msg, sizeof msg, "%s\n%s\n%s\n%s\n%s\n", method, path, ts, nonce, body);
	char *sig = bill_rsa_sha256_sign(wx_merchant, msg, strlen(msg));
	if (!sig)
		die("cannot sign for WeChat");
	snprintf(out, n,
		 "Authorization: WECHATPAY2-SHA256-RSA2048 mchid=\"%s\",nonce_str=\"%s\",signature=\"%s\","
		 "timestamp=\"%s\",serial_no=\"%s\"",
		 MCHID, nonce, sig, ts, MERCHANT_SERIAL);
	free(sig);
}

/* A signed GET of path (with its query) at the WeChat fake. */
static long wx_get(CURL *h, const char *path, struct buf *out)
{
	char auth[1024], url[600];
	wx_auth("GET", path, "", auth, sizeof auth);
	struct curl_slist *hd = curl_slist_append(NULL, auth);
	hd = curl_slist_append(hd, "Accept: application/json");
	hd = curl_slist_append(hd, "User-Agent: bench-money");
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fk[0]->port, path);
	long st = http(h, "GET", url, NULL, hd, out);
	curl_slist_free_all(hd);
	return st;
}

/* A signed call of method with biz_content biz at the Alipay fake (a form POST). */
static long ali_call(CURL *h, const char *method, const char *biz, struct buf *out)
{
	char ts[20], content[2048];
	time_t t = time(NULL) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
	/* the open API's string to sign: every parameter but sign, sorted by key */
	snprintf(content, sizeof content,
		 "app_id=%s&biz_content=%s&charset=utf-8&format=JSON&method=%s&sign_type=RSA2&timestamp=%s&version=1.0",
		 ALI_APPID, biz, method, ts);
	char *sig = bill_rsa_sha256_sign(ali_app, content, strlen(content));
	if (!sig)
		die("cannot sign for Alipay");
	char *e_biz = curl_easy_escape(h, biz, 0), *e_ts = curl_easy_escape(h, ts, 0), *e_sig = curl_easy_escape(h, sig, 0);
	char form[4096], url[128];
	snprintf(form, sizeof form,
		 "app_id=%s&method=%s&format=JSON&charset=utf-8&sign_type=RSA2&timestamp=%s&version=1.0&biz_content=%s&sign=%s",
		 ALI_APPID, method, e_ts, e_biz, e_sig);
	curl_free(e_biz);
	curl_free(e_ts);
	curl_free(e_sig);
	free(sig);
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded;charset=utf-8");
	hd = curl_slist_append(hd, "Expect:");
	snprintf(url, sizeof url, "http://127.0.0.1:%d/gateway.do", fk[1]->port);
	long st = http(h, "POST", url, form, hd, out);
	curl_slist_free_all(hd);
	return st;
}

static long stripe_get(CURL *h, const char *path, struct buf *out)
{
	char url[1024];
	struct curl_slist *hd = curl_slist_append(NULL, "Authorization: Bearer " SK);
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fk[2]->port, path);
	long st = http(h, "GET", url, NULL, hd, out);
	curl_slist_free_all(hd);
	return st;
}

/* The bare fake: asking provider p about an order it does not know (signed, answered and
 * signed as any query); the status, 404 or Alipay's 200 with ACQ.TRADE_NOT_EXIST. */
static long bare_query(CURL *h, int p, struct buf *out)
{
	if (p == 0)
		return wx_get(h, "/v3/pay/transactions/out-trade-no/NOSUCH0001?mchid=" MCHID, out);
	if (p == 1)
		return ali_call(h, "alipay.trade.query", "{\"out_trade_no\":\"NOSUCH0001\"}", out);
	return stripe_get(h, "/v1/checkout/sessions/cs_nosuch", out);
}

/* ---- wattle ---- */

static pid_t wattle_pid;

/* Spawn wattle serve against the fakes, with WATTLE_THREADS threads when not NULL (else as
 * inherited), and wait until it answers. */
static void wattle_start(const char *bin, const char *port, const char *dir, const char *threads)
{
	char pem[4][600];
	EVP_PKEY *keys[4] = {wx_merchant, wx_platform, ali_app, ali_alipay};
	static const char *const names[] = {"wxm", "wxp", "alia", "alip"};
	for (int i = 0; i < 4; i++) {
		snprintf(pem[i], sizeof pem[i], "%s/%s.pem", dir, names[i]);
		FILE *f = fopen(pem[i], "w");
		if (!f || (i % 2 == 0 ? PEM_write_PrivateKey(f, keys[i], NULL, NULL, 0, NULL, NULL)
				      : PEM_write_PUBKEY(f, keys[i])) != 1)
			die("cannot write a key");
		fclose(f);
	}
	snprintf(log_path, sizeof log_path, "%s/wattle-money.log", dir);
	wattle_pid = fork();
	if (wattle_pid < 0)
		die("fork");
	if (wattle_pid == 0) {
		char b[128], listen[64];
		setenv("WATTLE_WECHAT_APIV3_KEY", APIV3, 1);
		setenv("WATTLE_WECHAT_PLATFORM_PUBKEY", pem[1], 1);
		setenv("WATTLE_WECHAT_PLATFORM_SERIAL", PLATFORM_SERIAL, 1);
		setenv("WATTLE_WECHAT_MCHID", MCHID, 1);
		setenv("WATTLE_WECHAT_APPID", WX_APPID, 1);
		setenv("WATTLE_WECHAT_MERCHANT_KEY", pem[0], 1);
		setenv("WATTLE_WECHAT_MERCHANT_SERIAL", MERCHANT_SERIAL, 1);
		setenv("WATTLE_WECHAT_API_BASE", fakepay_base(fk[0], b, sizeof b), 1);
		setenv("WATTLE_ALIPAY_PUBKEY", pem[3], 1);
		setenv("WATTLE_ALIPAY_APP_ID", ALI_APPID, 1);
		setenv("WATTLE_ALIPAY_APP_PRIVATE_KEY", pem[2], 1);
		setenv("WATTLE_ALIPAY_GATEWAY", fakepay_base(fk[1], b, sizeof b), 1);
		setenv("WATTLE_STRIPE_WEBHOOK_SECRET", WHSEC, 1);
		setenv("WATTLE_STRIPE_SECRET_KEY", SK, 1);
		setenv("WATTLE_STRIPE_API_BASE", fakepay_base(fk[2], b, sizeof b), 1);
		setenv("WATTLE_PUBLIC_URL", "https://wattle.example", 1);
		setenv("WATTLE_PAY_QUERY_AFTER_S", "3600", 1); /* the query worker stays out of the figures */
		setenv("WATTLE_PAY_TIMEOUT_MS", "30000", 1);
		setenv("WATTLE_RECONCILE_HOUR", "24", 1);
		if (!getenv("WATTLE_LOG_LEVEL"))
			setenv("WATTLE_LOG_LEVEL", "warn", 1); /* the reconcile line with differences is a warning */
		snprintf(listen, sizeof listen, "127.0.0.1:%s", port);
		setenv("WATTLE_LISTEN", listen, 1);
		if (threads)
			setenv("WATTLE_THREADS", threads, 1);
		if (!freopen(log_path, "a", stderr))
			_exit(126);
		execl(bin, bin, "serve", "--no-migrate", (char *)NULL);
		_exit(127);
	}
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%s", port);
	CURL *h = curl_easy_init();
	struct buf b = {0};
	char url[128];
	snprintf(url, sizeof url, "%s/healthz", base_url);
	for (int i = 0; i < 100; i++) {
		if (http(h, "GET", url, NULL, NULL, &b) == 200) {
			curl_easy_cleanup(h);
			free(b.p);
			return;
		}
		usleep(100000);
	}
	die("wattle did not start (see its log)");
}

static void wattle_stop(void)
{
	kill(wattle_pid, SIGTERM);
	waitpid(wattle_pid, NULL, 0);
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

/* ---- 1. order creation ---- */

struct orders_arg {
	int provider, from, count;
	struct lat lat;
	int ok, failed;
};

static void *orders_run(void *arg)
{
	struct orders_arg *a = arg;
	CURL *h = curl_easy_init();
	struct curl_slist *hd = fin_headers();
	struct buf b = {0};
	char url[128], body[160];
	snprintf(url, sizeof url, "%s/v1/topup-orders", base_url);
	for (int i = 0; i < a->count; i++) {
		snprintf(body, sizeof body, "{\"tenant_id\":\"ten_%d\",\"amount_minor\":%d,\"provider\":\"%s\"}",
			 1 + (a->from + i) % 200, 1000 + i, prov[a->provider]);
		double t0 = now_s();
		long st = http(h, "POST", url, body, hd, &b);
		lat_add(&a->lat, now_s() - t0);
		if (st == 201)
			a->ok++;
		else if (a->failed++ == 0)
			fprintf(stderr, "order: %ld %s\n", st, b.p ? b.p : "");
	}
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	free(b.p);
	return NULL;
}

struct figure {
	double p50, p99, rate;
};

static const char *threads_now = "";
static const char *warm = ""; /* "warm-up: " while warming up */

static struct figure orders(int p, int conc, int n)
{
	static int next; /* spreads tenants across runs */
	pthread_t th[16];
	struct orders_arg a[16];
	memset(a, 0, sizeof a);
	double t0 = now_s();
	for (int c = 0; c < conc; c++) {
		a[c] = (struct orders_arg){p, next + c * (n / conc), n / conc, {0}, 0, 0};
		pthread_create(&th[c], NULL, orders_run, &a[c]);
	}
	struct lat all = {0};
	int ok = 0, failed = 0;
	for (int c = 0; c < conc; c++) {
		pthread_join(th[c], NULL);
		for (size_t i = 0; i < a[c].lat.n; i++)
			lat_add(&all, a[c].lat.v[i]);
		free(a[c].lat.v);
		ok += a[c].ok;
		failed += a[c].failed;
	}
	double el = now_s() - t0;
	next += n;
	struct figure f = {pct(&all, 0.5), pct(&all, 0.99), ok / el};
	printf("%sorder creation %-7s c=%d, %s HTTP threads: %d orders (%d failed) in %.1f s: %.1f orders/s, p50 %.1f ms,"
	       " p99 %.1f ms\n",
	       warm, prov[p], conc, threads_now, ok, failed, el, f.rate, f.p50, f.p99);
	fflush(stdout);
	free(all.v);
	return f;
}

struct bare_arg {
	int p, n, bad;
	struct lat lat;
};

static void *bare_run(void *arg)
{
	struct bare_arg *a = arg;
	CURL *h = curl_easy_init();
	struct buf b = {0};
	bare_query(h, a->p, &b); /* the connection */
	for (int i = 0; i < a->n; i++) {
		double t0 = now_s();
		long st = bare_query(h, a->p, &b);
		lat_add(&a->lat, now_s() - t0);
		bool want = a->p == 1 ? st == 200 && b.p && strstr(b.p, "ACQ.TRADE_NOT_EXIST") : st == 404;
		if (!want && a->bad++ == 0)
			fprintf(stderr, "bare %s: %ld %s\n", prov[a->p], st, b.p ? b.p : "");
	}
	free(b.p);
	curl_easy_cleanup(h);
	return NULL;
}

/* The bare fake: n signed queries of an unknown order from conc clients. */
static struct figure bare(int p, int conc, int n)
{
	pthread_t th[16];
	struct bare_arg a[16];
	double t0 = now_s();
	for (int c = 0; c < conc; c++) {
		a[c] = (struct bare_arg){p, n / conc, 0, {0}};
		pthread_create(&th[c], NULL, bare_run, &a[c]);
	}
	struct lat l = {0};
	int bad = 0;
	for (int c = 0; c < conc; c++) {
		pthread_join(th[c], NULL);
		for (size_t i = 0; i < a[c].lat.n; i++)
			lat_add(&l, a[c].lat.v[i]);
		free(a[c].lat.v);
		bad += a[c].bad;
	}
	double el = now_s() - t0;
	struct figure f = {pct(&l, 0.5), pct(&l, 0.99), (double)l.n / el};
	printf("bare fake %-7s c=%d: %zu signed queries of an unknown order (%d unexpected): %.1f/s, p50 %.1f ms,"
	       " p99 %.1f ms\n",
	       prov[p], conc, l.n, bad, f.rate, f.p50, f.p99);
	fflush(stdout);
	free(l.v);
	return f;
}

/* ---- 2. reconciliation ---- */

static void txn_of(int p, int i, char out[64])
{
	static const char *const prefix[] = {"4200000000", "2026120122001", "pi_bench"};
	snprintf(out, 64, "%s%08d", prefix[p], i);
}

static const char *const otn_prefix[] = {"BRW", "BRA", "BRS"};

/* Seed provider p's fake with BILL_LINES paid trades of now, and wattle with the same
 * payments (but for the missing lines, which get an open order each instead). */
static void seed_bill(int p)
{
	int64_t now = (int64_t)time(NULL);
	static const char *const mode[] = {"native", "precreate", "checkout"};
	pthread_mutex_lock(&fk[p]->mu);
	for (int i = 0; i < BILL_LINES; i++) {
		struct fake_trade *t = fake_trade_add(fk[p]);
		snprintf(t->out_trade_no, sizeof t->out_trade_no, "%s%08d", otn_prefix[p], i);
		txn_of(p, i, t->txn);
		if (p == 2)
			snprintf(t->ref, sizeof t->ref, "cs_bench%08d", i);
		snprintf(t->currency, sizeof t->currency, "CNY");
		snprintf(t->description, sizeof t->description, "Top-up");
		snprintf(t->mode, sizeof t->mode, "%s", mode[p]);
		t->amount = 1000 + i % 1000;
		t->created_s = t->paid_s = now;
		t->expires_s = now + 1800;
		t->state = FT_PAID;
		if (i < BILL_MISMATCH)
			t->bill_amount = t->amount + 1;
	}
	pthread_mutex_unlock(&fk[p]->mu);
	static const char *const txn_sql[] = {"'4200000000'", "'2026120122001'", "'pi_bench'"};
	char sql[2048];
	snprintf(sql, sizeof sql,
		 "INSERT INTO payments (provider, provider_txn_id, out_trade_no, tenant_id, amount_minor, currency, status,"
		 " event, received_at) SELECT '%s', %s || lpad(g::text, 8, '0'), '%s' || lpad(g::text, 8, '0'),"
		 " 1 + g %% 200, 1000 + g %% 1000, 'CNY', 'credited', '{}', now() FROM generate_series(0, %d) g"
		 " WHERE g NOT BETWEEN %d AND %d",
		 prov[p], txn_sql[p], otn_prefix[p], BILL_LINES - 1, BILL_MISMATCH, BILL_MISMATCH + BILL_MISSING - 1);
	sql_int(sql);
	snprintf(sql, sizeof sql,
		 "INSERT INTO topup_orders (out_trade_no, tenant_id, provider, amount_minor, currency, status, pay_url,"
		 " created_at, expires_at) SELECT '%s' || lpad(g::text, 8, '0'), 1 + g %% 200, '%s', 1000 + g %% 1000,"
		 " 'CNY', 'open', 'https://pay.example/' || g, now(), now() + interval '30 minutes'"
		 " FROM generate_series(%d, %d) g",
		 otn_prefix[p], prov[p], BILL_MISMATCH, BILL_MISMATCH + BILL_MISSING - 1);
	sql_int(sql);
	sql_int("ANALYZE payments");
}

static void today(char out[11])
{
	time_t t = time(NULL) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* The day's bill fetched straight from the fake, as wattle fetches it; its lines (charges and
 * refunds; for WeChat and Alipay the rows of the file) into *lines. Seconds. */
static double bare_bill(int p, const char *date, int *lines)
{
	CURL *h = curl_easy_init();
	struct buf b = {0};
	char path[512];
	*lines = 0;
	double t0 = now_s();
	if (p == 0) {
		snprintf(path, sizeof path, "/v3/bill/tradebill?bill_date=%s&bill_type=ALL", date);
		json_t *j = wx_get(h, path, &b) == 200 ? json_loads(b.p, 0, NULL) : NULL;
		const char *u = json_string_value(json_object_get(j, "download_url"));
		if (u && !strncmp(u, "http://127.0.0.1:", 17) && strchr(u + 17, '/')) {
			snprintf(path, sizeof path, "%s", strchr(u + 17, '/'));
			if (wx_get(h, path, &b) == 200)
				for (char *q = b.p; (q = strchr(q, '\n')); q++)
					++*lines;
		}
		json_decref(j);
	} else if (p == 1) {
		char biz[128];
		snprintf(biz, sizeof biz, "{\"bill_type\":\"trade\",\"bill_date\":\"%s\"}", date);
		json_t *j = ali_call(h, "alipay.data.dataservice.bill.downloadurl.query", biz, &b) == 200
				    ? json_loads(b.p, 0, NULL)
				    : NULL;
		const char *u = json_string_value(
			json_object_get(json_object_get(j, "alipay_data_dataservice_bill_downloadurl_query_response"),
					"bill_download_url"));
		if (u && http(h, "GET", u, NULL, NULL, &b) == 200)
			*lines = (int)b.n; /* a zip: its bytes */
		json_decref(j);
	} else {
		/* the day in Shanghai: from its midnight */
		int y, m, d;
		sscanf(date, "%d-%d-%d", &y, &m, &d);
		struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
		long long from = (long long)timegm(&tm) - 8 * 3600;
		char after[128] = "";
		for (;;) {
			snprintf(path, sizeof path,
				 "/v1/balance_transactions?created%%5Bgte%%5D=%lld&created%%5Blt%%5D=%lld&limit=100"
				 "&expand%%5B%%5D=data.source%s%s",
				 from, from + 86400, *after ? "&starting_after=" : "", after);
			json_t *j = stripe_get(h, path, &b) == 200 ? json_loads(b.p, 0, NULL) : NULL;
			json_t *data = json_object_get(j, "data");
			size_t n = json_array_size(data);
			*lines += (int)n;
			bool more = json_is_true(json_object_get(j, "has_more")) && n;
			if (more)
				snprintf(after, sizeof after, "%s",
					 json_string_value(json_object_get(json_array_get(data, n - 1), "id")));
			json_decref(j);
			if (!more)
				break;
		}
	}
	double el = now_s() - t0;
	free(b.p);
	curl_easy_cleanup(h);
	return el;
}

/* The server's last "reconcile: <p> <date> (site_" line: its bill and matching ms. */
static void log_split(int p, const char *date, long *bill_ms, long *match_ms)
{
	*bill_ms = *match_ms = -1;
	FILE *f = fopen(log_path, "r");
	char line[4096], want[64];
	snprintf(want, sizeof want, "reconcile: %s %s (site_", prov[p], date);
	while (f && fgets(line, sizeof line, f)) {
		const char *q = strstr(line, want), *b = q ? strstr(q, "; bill ") : NULL;
		if (b)
			sscanf(b, "; bill %ld ms, matching %ld ms", bill_ms, match_ms);
	}
	if (f)
		fclose(f);
}

struct recon_fig {
	double seconds, bare_s;
	long bill_ms, match_ms;
	long long matched, missing_in_wattle, credited, missing_at_provider, mismatch, lines;
	int bare_lines;
};

static struct recon_fig reconcile(int p)
{
	struct recon_fig r = {0};
	char date[11], body[128], url[128];
	today(date);
	seed_bill(p);
	long long receipts0 = sql_int("SELECT count(*) FROM receipts");
	r.bare_s = bare_bill(p, date, &r.bare_lines);
	CURL *h = curl_easy_init();
	struct curl_slist *hd = fin_headers();
	struct buf b = {0};
	snprintf(url, sizeof url, "%s/v1/reconciliations", base_url);
	snprintf(body, sizeof body, "{\"provider\":\"%s\",\"date\":\"%s\"}", prov[p], date);
	double t0 = now_s();
	long st = http(h, "POST", url, body, hd, &b);
	r.seconds = now_s() - t0;
	json_t *j = st == 201 ? json_loads(b.p, 0, NULL) : NULL;
	if (!j)
		fprintf(stderr, "reconciliation %s: %ld %.300s\n", prov[p], st, b.p ? b.p : "");
#define GET(k) json_integer_value(json_object_get(j, k))
	r.matched = GET("matched");
	r.missing_in_wattle = GET("missing_in_wattle_count");
	r.credited = GET("credited");
	r.missing_at_provider = GET("missing_at_provider_count");
	r.mismatch = GET("amount_mismatch_count");
#undef GET
	r.lines = r.matched + r.missing_in_wattle + r.mismatch;
	long long receipts = sql_int("SELECT count(*) FROM receipts") - receipts0;
	json_decref(j);
	log_split(p, date, &r.bill_ms, &r.match_ms);
	printf("reconciliation %-7s %s: %lld bill lines in %.2f s (server: bill fetch %ld ms, matching %ld ms);"
	       " %lld matched, %lld missing in wattle (%lld credited, %lld receipts), %lld missing at the provider,"
	       " %lld amounts differ\n",
	       prov[p], date, r.lines, r.seconds, r.bill_ms, r.match_ms, r.matched, r.missing_in_wattle, r.credited,
	       receipts, r.missing_at_provider, r.mismatch);
	printf("  the same bill fetched from the fake directly: %.2f s (%d %s)\n", r.bare_s, r.bare_lines,
	       p == 0 ? "CSV rows with header and totals" : p == 1 ? "bytes of zip" : "balance transactions");
	fflush(stdout);
	free(b.p);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	return r;
}

/* ---- 3. top-ups through notifications ---- */

static double t_end;

struct notify_arg {
	int id, phase, from, count, clients;
	long long credited, other;
	struct lat lat;
};

static void *notify_run(void *arg)
{
	struct notify_arg *a = arg;
	CURL *h = curl_easy_init();
	struct buf b = {0};
	char url[128], ev[512], msg[600], hex[65], sig[160];
	snprintf(url, sizeof url, "%s/v1/webhooks/payments/stripe", base_url);
	for (long i = 0; now_s() < t_end; i++) {
		/* tenants in turn across the clients, so each client's next is another's */
		int tenant = a->from + (int)((i * a->clients + a->id) % a->count);
		int n = snprintf(ev, sizeof ev,
				 "{\"id\":\"evt_b%d_%d_%ld\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
				 "{\"id\":\"pi_b%d_%d_%ld\",\"amount_received\":%d,\"currency\":\"cny\","
				 "\"metadata\":{\"tenant_id\":\"ten_%d\"}}}}",
				 a->phase, a->id, i, a->phase, a->id, i, 100 + (int)(i % 900), tenant);
		long t = (long)time(NULL);
		int m = snprintf(msg, sizeof msg, "%ld.%.*s", t, n, ev);
		unsigned char mac[32];
		unsigned ml;
		HMAC(EVP_sha256(), WHSEC, (int)strlen(WHSEC), (unsigned char *)msg, (size_t)m, mac, &ml);
		for (int k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", mac[k]);
		snprintf(sig, sizeof sig, "Stripe-Signature: t=%ld,v1=%s", t, hex);
		struct curl_slist *hd = curl_slist_append(NULL, sig);
		hd = curl_slist_append(hd, "Content-Type: application/json");
		hd = curl_slist_append(hd, "Expect:");
		double t0 = now_s();
		long st = http(h, "POST", url, ev, hd, &b);
		lat_add(&a->lat, now_s() - t0);
		curl_slist_free_all(hd);
		if (st == 200 && b.p && strstr(b.p, "\"outcome\":\"credited\""))
			a->credited++;
		else if (a->other++ == 0)
			fprintf(stderr, "notification: %ld %s\n", st, b.p ? b.p : "");
	}
	free(b.p);
	curl_easy_cleanup(h);
	return NULL;
}

struct topup_fig {
	double credited_s, receipts_s, p50, p99;
};

static struct topup_fig topups(const char *what, int phase, int from, int count, int seconds)
{
	enum { C = 16 };
	pthread_t th[C];
	struct notify_arg a[C];
	long long r0 = sql_int("SELECT count(*) FROM receipts");
	double t0 = now_s();
	t_end = t0 + seconds;
	for (int c = 0; c < C; c++) {
		a[c] = (struct notify_arg){c, phase, from, count, C, 0, 0, {0}};
		pthread_create(&th[c], NULL, notify_run, &a[c]);
	}
	struct lat all = {0};
	long long credited = 0, other = 0;
	for (int c = 0; c < C; c++) {
		pthread_join(th[c], NULL);
		for (size_t i = 0; i < a[c].lat.n; i++)
			lat_add(&all, a[c].lat.v[i]);
		free(a[c].lat.v);
		credited += a[c].credited;
		other += a[c].other;
	}
	double el = now_s() - t0;
	long long receipts = sql_int("SELECT count(*) FROM receipts") - r0;
	struct topup_fig f = {(double)credited / el, (double)receipts / el, pct(&all, 0.5), pct(&all, 0.99)};
	printf("%stop-ups by notification, %s, 16 clients, %s HTTP threads, %.0f s: %lld credited (%lld not), %lld"
	       " receipts: %.0f credited/s, %.0f receipts/s, p50 %.1f ms, p99 %.1f ms\n",
	       warm, what, threads_now, el, credited, other, receipts, f.credited_s, f.receipts_s, f.p50, f.p99);
	fflush(stdout);
	free(all.v);
	return f;
}

static double pgbench(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char line[512];
	double tps = 0;
	while (p && fgets(line, sizeof line, p))
		if (!strncmp(line, "tps = ", 6))
			tps = atof(line + 6);
	if (p)
		pclose(p);
	printf("pgbench tpcb-like -c 16 -j 2, same cluster, just before: %.0f tps\n", tps);
	fflush(stdout);
	return tps;
}

static void set_delay(int p, int ms)
{
	pthread_mutex_lock(&fk[p]->mu);
	fk[p]->delay_ms = ms;
	pthread_mutex_unlock(&fk[p]->mu);
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: bench-money WATTLE_BIN PORT FINANCE_KEY TMPDIR ORDERS SECONDS PGBENCH_COMMAND\n");
		return 2;
	}
	int n = atoi(argv[5]), seconds = atoi(argv[6]);
	const char *conninfo = getenv("WATTLE_DATABASE_URL");
	if (!conninfo || n < 8)
		die("WATTLE_DATABASE_URL unset, or ORDERS under 8");
	snprintf(fin_auth, sizeof fin_auth, "Authorization: Bearer %s", argv[3]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK)
		die(PQerrorMessage(pg));
	wx_merchant = EVP_RSA_gen(2048);
	wx_platform = EVP_RSA_gen(2048);
	ali_app = EVP_RSA_gen(2048);
	ali_alipay = EVP_RSA_gen(2048);
	struct fakepay_keys wk = {wx_merchant, wx_platform, MCHID, WX_APPID, MERCHANT_SERIAL, PLATFORM_SERIAL, NULL};
	struct fakepay_keys ak = {ali_app, ali_alipay, NULL, ALI_APPID, NULL, NULL, NULL};
	struct fakepay_keys sk = {NULL, NULL, NULL, NULL, NULL, NULL, SK};
	if (!(fk[0] = fakepay_start("wechat", &wk)) || !(fk[1] = fakepay_start("alipay", &ak)) ||
	    !(fk[2] = fakepay_start("stripe", &sk)))
		die("a fake cannot listen");
	/* wattle's HTTP pool: WATTLE_THREADS as given, else its default (the cores) */
	char deflt[16];
	snprintf(deflt, sizeof deflt, "%s", getenv("WATTLE_THREADS") ? getenv("WATTLE_THREADS") : "");
	if (!*deflt)
		snprintf(deflt, sizeof deflt, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	const char *more = "16";
	threads_now = deflt;
	wattle_start(argv[1], argv[2], argv[4], NULL);

	/* 1. orders, the providers answering 50 ms late */
	printf("== 1. top-up orders made at the provider, the fake answering 50 ms late (WeChat Native, Alipay"
	       " precreate, Stripe Checkout); %d orders each\n", n);
	struct figure bf[3], bf8[3], o1[3], o8[3], o8m[3];
	for (int p = 0; p < 3; p++) {
		set_delay(p, 50);
		bf[p] = bare(p, 1, 100);
		bf8[p] = bare(p, 8, 200);
		warm = "warm-up: "; /* connections and prepared statements */
		orders(p, 8, 16);
		warm = "";
		o1[p] = orders(p, 1, n);
		o8[p] = orders(p, 8, n);
		set_delay(p, 0);
	}

	/* 2. reconciliation (before the notifications, whose Stripe payments would be on no bill) */
	printf("\n== 2. reconciliation of a %d-line bill of today (%d lines missing in wattle, each with an open"
	       " order; %d amounts differ)\n", BILL_LINES, BILL_MISSING, BILL_MISMATCH);
	struct recon_fig rf[3];
	for (int p = 0; p < 3; p++)
		rf[p] = reconcile(p);

	/* 3. top-ups through notifications, beside pgbench */
	printf("\n== 3. top-ups through signed Stripe notifications (payment_intent.succeeded, credit + numbered"
	       " receipt), beside pgbench\n");
	double tps = pgbench(argv[7]);
	warm = "warm-up: ";
	topups("200 tenants of 1 site", 0, 1, 20, 2);
	warm = "";
	struct topup_fig one = topups("200 tenants of 1 site", 1, 1, 200, seconds);
	struct topup_fig ten = topups("200 tenants over 10 sites", 2, 201, 200, seconds);

	/* 1 and 3 again with more HTTP threads: an order holds its thread while the provider
	 * answers, and a notification while its commit is flushed */
	printf("\n== again with WATTLE_THREADS=%s (default %s): the concurrent figures\n", more, deflt);
	wattle_stop();
	threads_now = more;
	wattle_start(argv[1], argv[2], argv[4], more);
	for (int p = 0; p < 3; p++) {
		set_delay(p, 50);
		warm = "warm-up: ";
		orders(p, 8, 16);
		warm = "";
		o8m[p] = orders(p, 8, n);
		set_delay(p, 0);
	}
	warm = "warm-up: ";
	topups("200 tenants of 1 site", 3, 1, 20, 2);
	warm = "";
	struct topup_fig one_m = topups("200 tenants of 1 site", 4, 1, 200, seconds);
	struct topup_fig ten_m = topups("200 tenants over 10 sites", 5, 201, 200, seconds);

	long long bad_orders = sql_int("SELECT count(*) FROM topup_orders WHERE status NOT IN ('open', 'paid')");
	unsigned refused = fakepay_refused(fk[0]) + fakepay_refused(fk[1]) + fakepay_refused(fk[2]);
	long long gaps = sql_int("SELECT count(*) FROM receipt_counters c WHERE last_no <>"
				 " (SELECT count(*) FROM receipts r WHERE (r.site_id, r.series, r.year) = (c.site_id, c.series, c.year))");
	long long off = sql_int("SELECT count(*) FROM accounts a WHERE balance_minor <>"
				" (SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries e WHERE e.account_id = a.id)");

	printf("\n== summary (issue 15's figures; durable PostgreSQL, synchronous_commit on; 16 clients for top-ups)\n");
	printf("%-62s %10s %9s %9s\n", "what", "per second", "p50 ms", "p99 ms");
	for (int p = 0; p < 3; p++) {
		char w[96];
		snprintf(w, sizeof w, "bare %s fake (50 ms delay), c=1", prov[p]);
		printf("%-62s %10s %9.1f %9.1f\n", w, "", bf[p].p50, bf[p].p99);
		snprintf(w, sizeof w, "bare %s fake (50 ms delay), c=8", prov[p]);
		printf("%-62s %10.1f %9.1f %9.1f\n", w, bf8[p].rate, bf8[p].p50, bf8[p].p99);
		snprintf(w, sizeof w, "order creation %s, c=1", prov[p]);
		printf("%-62s %10.1f %9.1f %9.1f\n", w, o1[p].rate, o1[p].p50, o1[p].p99);
		snprintf(w, sizeof w, "order creation %s, c=8, %s threads", prov[p], deflt);
		printf("%-62s %10.1f %9.1f %9.1f\n", w, o8[p].rate, o8[p].p50, o8[p].p99);
		snprintf(w, sizeof w, "order creation %s, c=8, %s threads", prov[p], more);
		printf("%-62s %10.1f %9.1f %9.1f\n", w, o8m[p].rate, o8m[p].p50, o8m[p].p99);
	}
	printf("%-62s %10.0f %9s %9s\n", "pgbench tpcb-like -c16 -j2 (tps)", tps, "", "");
	char w[96];
	snprintf(w, sizeof w, "top-ups by notification + receipt, 1 site, %s threads", deflt);
	printf("%-62s %10.0f %9.1f %9.1f\n", w, one.credited_s, one.p50, one.p99);
	snprintf(w, sizeof w, "top-ups by notification + receipt, 10 sites, %s threads", deflt);
	printf("%-62s %10.0f %9.1f %9.1f\n", w, ten.credited_s, ten.p50, ten.p99);
	snprintf(w, sizeof w, "top-ups by notification + receipt, 1 site, %s threads", more);
	printf("%-62s %10.0f %9.1f %9.1f\n", w, one_m.credited_s, one_m.p50, one_m.p99);
	snprintf(w, sizeof w, "top-ups by notification + receipt, 10 sites, %s threads", more);
	printf("%-62s %10.0f %9.1f %9.1f\n", w, ten_m.credited_s, ten_m.p50, ten_m.p99);
	printf("%-62s %10s %9s %9s\n", "reconciliation of a 10,000-line bill", "seconds", "bill ms", "match ms");
	for (int p = 0; p < 3; p++) {
		snprintf(w, sizeof w, "  %s (the fake alone serves it in %.2f s)", prov[p], rf[p].bare_s);
		printf("%-62s %10.2f %9ld %9ld\n", w, rf[p].seconds, rf[p].bill_ms, rf[p].match_ms);
	}
	printf("wattle over the bare fake, p50 at c=1: wechat +%.1f ms, alipay +%.1f ms, stripe +%.1f ms\n",
	       o1[0].p50 - bf[0].p50, o1[1].p50 - bf[1].p50, o1[2].p50 - bf[2].p50);
	printf("top-ups / pgbench tps: %.2fx (1 site) and %.2fx (10 sites) at %s threads, %.2fx and %.2fx at %s\n",
	       tps > 0 ? one.credited_s / tps : 0, tps > 0 ? ten.credited_s / tps : 0, deflt,
	       tps > 0 ? one_m.credited_s / tps : 0, tps > 0 ? ten_m.credited_s / tps : 0, more);
	printf("orders failed or closed: %lld; requests the fakes refused: %u; receipt series with gaps: %lld;"
	       " accounts off their ledger: %lld\n",
	       bad_orders, refused, gaps, off);

	wattle_stop();
	for (int p = 0; p < 3; p++)
		fakepay_stop(fk[p]);
	PQfinish(pg);
	return 0;
}
