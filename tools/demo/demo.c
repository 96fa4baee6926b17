/* demo.c: `wattle demo`, a mall in a box. With no WATTLE_DATABASE_URL it starts a private
 * PostgreSQL under ./var/pg (Debian's server binaries), seeds a demo mall through the real
 * API, runs the real server and wattle-metersim through October on a fast clock, tops
 * tenants up through the real payment webhooks (the demo plays WeChat Pay, Alipay and
 * Stripe, with keys it makes), lets some run dry, waits for the month close, and writes
 * every report to ./var/reports as HTML, CSV and JSON. Then it serves the result until
 * Ctrl-C (or exits, with --exit). */
#include "fakepay.h"
#include "peer/peer.h"
#include "demo/demo.h"
#include "core/buf.h"
#include "core/clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define MONTH_START_LOCAL "2026-10-01T00:00:00+08:00"
#define T_OCT1 INT64_C(1790784000) /* 2026-10-01T00:00:00+08:00 */
#define T_NOV1 INT64_C(1793462400) /* 2026-11-01T00:00:00+08:00 */
#define T_NOV1_SQL "to_timestamp(1793462400)" /* the same, in SQL */
#define MCHID "1900009191"
#define WX_SERIAL "7132D72A03E93CDDF8C03BBD1F37EEDF6D3E5AF4"
#define ALIPAY_APP "2021004100000001"
#define WX_APPID "wx8888888888888888"
#define WX_MERCHANT_SERIAL "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"

static struct {
	char root[512], var[600], reports[700], keys[700], self_dir[512];
	char db[900];
	char pg_data[900]; /* the private cluster this demo started, stopped by cleanup; "" when none */
	char listen[32];
	int port, sim_port, sink_port;
	int64_t speed;
	bool exit_after;
	pid_t server, sim;
	pid_t building[4]; /* the devices, the broker and wattle-gateway of the building */
	int nbuilding;
	int ctl_modbus, ctl_dlt, ctl_mqtt, gw_metrics;
	int64_t real_anchor; /* when the server began to run at real speed from T_NOV1 + 3600 */
	char admin[80], fin[80], ops[80], gw[80];
	char apiv3[33], whsec[48], stripe_key[48];
	EVP_PKEY *wx, *ali;         /* WeChat's platform key, Alipay's key: they sign notifications */
	EVP_PKEY *wx_merchant, *ali_app; /* ours: they sign wattle's calls to the providers */
	struct fakepay *fake[3];    /* the providers, played in this process */
	volatile sig_atomic_t stop;
	_Atomic long sms, events;
} D;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void cleanup(void);
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "wattle demo: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	cleanup();
	exit(1);
}

/* ---- processes ---- */

/* Run argv (as the postgres user when we are root and as_pg) with extra environment (may
 * be NULL), wait, return its status. */
static int run(bool as_pg, const char *const *argv, const char *out_path, const char *const *env)
{
	pid_t p = fork();
	if (p == 0) {
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (out_path) {
			int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		if (as_pg && getuid() == 0) {
			struct passwd *pw = getpwnam("postgres");
			if (!pw || setgid(pw->pw_gid) || setuid(pw->pw_uid))
				_exit(126);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Start a private cluster under ./var/pg (fsync off: a demo's data is throwaway). */
static void pg_start(void)
{
	char dir[800], data[900], conf[1000], log[900], ver[1000], opt[1200];
	snprintf(dir, sizeof dir, "%s/pg", D.var);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(ver, sizeof ver, "%s/PG_VERSION", data);
	snprintf(log, sizeof log, "%s/postgres.log", dir);
	if (access(PG_BIN "/initdb", X_OK))
		die("PostgreSQL 15 server binaries are not in " PG_BIN " (make run installs them)");
	mkdir(dir, 0755);
	if (getuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw || chown(dir, pw->pw_uid, pw->pw_gid))
			die("cannot give %s to the postgres user", dir);
	}
	if (access(ver, F_OK)) {
		say("starting a private PostgreSQL in %s\n", dir);
		const char *init[] = {PG_BIN "/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
				      "--locale=C.UTF-8", "--no-sync", NULL};
		if (run(true, init, "/dev/null", NULL))
			die("initdb failed");
		snprintf(conf, sizeof conf, "%s/postgresql.conf", data);
		FILE *f = fopen(conf, "a");
		if (!f)
			die("cannot write %s", conf);
		fprintf(f, "listen_addresses = ''\nunix_socket_directories = '%s'\nmax_connections = 100\n"
			   "shared_buffers = 128MB\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n", dir);
		fclose(f);
	}
	const char *status[] = {PG_BIN "/pg_ctl", "-D", data, "status", NULL};
	if (run(true, status, "/dev/null", NULL)) {
		snprintf(opt, sizeof opt, "%s", log);
		const char *start[] = {PG_BIN "/pg_ctl", "-D", data, "-l", opt, "-w", "-t", "60", "start", NULL};
		if (run(true, start, "/dev/null", NULL))
			die("PostgreSQL did not start; see %s", log);
		snprintf(D.pg_data, sizeof D.pg_data, "%s", data);
	}
	snprintf(D.db, sizeof D.db, "host=%s user=postgres", dir);
}

static PGconn *pg_connect(const char *dbname)
{
	char ci[1000];
	snprintf(ci, sizeof ci, "%s dbname=%s", D.db, dbname);
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
		die("cannot connect to PostgreSQL: %s", PQerrorMessage(c));
	return c;
}

static void sql(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die("%s: %s", q, PQerrorMessage(c));
	PQclear(r);
}

static long long sql_int(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
		die("%s: %s", q, PQerrorMessage(c));
	long long v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* Start `wattle serve` (this binary) or metersim with extra environment; output to log. */
static pid_t spawn(const char *const *argv, const char *const *env, const char *log)
{
	pid_t p = fork();
	if (p == 0) {
		for (int i = 0; env[i]; i++)
			putenv((char *)env[i]);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return p;
}

static void stop(pid_t *p)
{
	if (*p > 0) {
		kill(*p, SIGTERM);
		waitpid(*p, NULL, 0);
	}
	*p = 0;
}

static struct peer *sink;

static void cleanup(void)
{
	for (int i = D.nbuilding - 1; i >= 0; i--) /* the gateway first, then what it talks to */
		stop(&D.building[i]);
	D.nbuilding = 0;
	stop(&D.sim);
	stop(&D.server);
	peer_stop(sink);
	sink = NULL;
	for (int i = 0; i < 3; i++) {
		fakepay_stop(D.fake[i]);
		D.fake[i] = NULL;
	}
	if (D.pg_data[0]) { /* the cluster the demo started goes with it (Ctrl-C left it running) */
		const char *stop_pg[] = {PG_BIN "/pg_ctl", "-D", D.pg_data, "-m", "fast", "-w", "stop", NULL};
		if (run(true, stop_pg, "/dev/null", NULL))
			fprintf(stderr, "wattle demo: PostgreSQL in %s did not stop; pg_ctl -D %s stop\n", D.pg_data, D.pg_data);
		D.pg_data[0] = 0;
	}
}

/* ---- HTTP ---- */

/* One request; returns the status and the body in *out (caller frees). */
static long http(const char *method, const char *path, const char *key, const char *ctype, const char *body,
		 const char *const *headers, char **out)
{
	CURL *h = curl_easy_init();
	char url[1024], auth[128], ct[128];
	snprintf(url, sizeof url, "http://%s%s", D.listen, path);
	struct curl_slist *hd = NULL;
	if (key) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
		hd = curl_slist_append(hd, auth);
	}
	if (body) {
		snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
		hd = curl_slist_append(hd, ct);
	}
	for (int i = 0; headers && headers[i]; i++)
		hd = curl_slist_append(hd, headers[i]);
	hd = curl_slist_append(hd, "Expect:");
	struct srv_buf b = {0};
	srv_buf_putn(&b, "", 0); /* "" when the reply has no body */
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, srv_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	long status = 0;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	if (out)
		*out = b.p;
	else
		free(b.p);
	return status;
}

/* A JSON request that must answer want; the parsed reply (caller decrefs). */
static json_t *call(const char *method, const char *path, const char *key, long want, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static json_t *call(const char *method, const char *path, const char *key, long want, const char *fmt, ...)
{
	char *body = NULL, *reply = NULL;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(&body, fmt, ap) < 0)
			abort();
		va_end(ap);
	}
	long st = http(method, path, key, NULL, body, NULL, &reply);
	if (st != want)
		die("%s %s: %ld %s", method, path, st, reply);
	json_t *j = json_loads(reply, 0, NULL);
	free(body);
	free(reply);
	return j;
}

static void wait_healthy(void)
{
	for (int i = 0; i < 100; i++) {
		if (http("GET", "/healthz", NULL, NULL, NULL, NULL, NULL) == 200)
			return;
		usleep(100000);
	}
	die("wattle did not start; see %s/wattle.log", D.var);
}

/* ---- the outside world: an SMS provider and a control-room webhook that accept all ---- */

static void on_sink(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	bool sms = strstr(rq->path, "sms") != NULL;
	atomic_fetch_add(sms ? &D.sms : &D.events, 1);
	out->status = sms ? 201 : 200;
}

/* ---- the payment providers, played by the demo ---- */

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
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, &len, (const unsigned char *)msg, n) != 1)
		die("signing failed");
	EVP_MD_CTX_free(ctx);
	return b64(sig, len);
}

static void rand_text(char *out, size_t n)
{
	static const char a[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char r[64];
	RAND_bytes(r, (int)n);
	for (size_t i = 0; i < n; i++)
		out[i] = a[r[i] % (sizeof a - 1)];
	out[n] = 0;
}

static void write_pub(EVP_PKEY *k, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f || PEM_write_PUBKEY(f, k) != 1)
		die("cannot write %s", path);
	fclose(f);
}

static void write_private(EVP_PKEY *k, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1)
		die("cannot write %s", path);
	fclose(f);
}

static long wechat_pay(const char *otn, long long amount, long seq, const char *txn)
{
	char plain[700];
	snprintf(plain, sizeof plain,
		 "{\"mchid\":\"" MCHID "\",\"appid\":\"wx8888888888888888\",\"out_trade_no\":\"%s\",\"transaction_id\":\"%s\","
		 "\"trade_type\":\"NATIVE\",\"trade_state\":\"SUCCESS\",\"trade_state_desc\":\"ok\",\"bank_type\":\"OTHERS\","
		 "\"success_time\":\"2026-10-01T00:00:00+08:00\",\"payer\":{\"openid\":\"demo\"},"
		 "\"amount\":{\"total\":%lld,\"payer_total\":%lld,\"currency\":\"CNY\",\"payer_currency\":\"CNY\"}}",
		 otn, txn, amount, amount);
	unsigned char nonce[13];
	rand_text((char *)nonce, 12);
	size_t n = strlen(plain);
	unsigned char *ct = malloc(n + 16);
	int len = 0, fl = 0;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
	EVP_EncryptInit_ex(c, NULL, NULL, (unsigned char *)D.apiv3, nonce);
	EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)"transaction", 11);
	EVP_EncryptUpdate(c, ct, &len, (const unsigned char *)plain, (int)n);
	EVP_EncryptFinal_ex(c, ct + len, &fl);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ct + n);
	EVP_CIPHER_CTX_free(c);
	char *ct64 = b64(ct, n + 16), body[4096], ts[24], hn[33], msg[4400], h[4][700];
	free(ct);
	snprintf(body, sizeof body,
		 "{\"id\":\"EV-%ld\",\"create_time\":\"2026-10-01T00:00:00+08:00\",\"resource_type\":\"encrypt-resource\","
		 "\"event_type\":\"TRANSACTION.SUCCESS\",\"summary\":\"ok\",\"resource\":{\"original_type\":\"transaction\","
		 "\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"%s\",\"associated_data\":\"transaction\",\"nonce\":\"%s\"}}",
		 seq, ct64, nonce);
	free(ct64);
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	rand_text(hn, 32);
	int ml = snprintf(msg, sizeof msg, "%s\n%s\n%s\n", ts, hn, body);
	char *sig = rsa_sign(D.wx, msg, (size_t)ml);
	snprintf(h[0], sizeof h[0], "Wechatpay-Timestamp: %s", ts);
	snprintf(h[1], sizeof h[1], "Wechatpay-Nonce: %s", hn);
	snprintf(h[2], sizeof h[2], "Wechatpay-Serial: %s", WX_SERIAL);
	snprintf(h[3], sizeof h[3], "Wechatpay-Signature: %s", sig);
	free(sig);
	const char *hs[] = {h[0], h[1], h[2], h[3], NULL};
	return http("POST", "/v1/webhooks/payments/wechat", NULL, NULL, body, hs, NULL);
}

static long alipay_pay(const char *otn, long long amount, long seq, const char *txn)
{
	char content[1024], body[4096], amt[32];
	snprintf(amt, sizeof amt, "%lld.%02lld", amount / 100, amount % 100);
	/* sorted keys, decoded values: what Alipay signs */
	snprintf(content, sizeof content,
		 "app_id=" ALIPAY_APP "&charset=utf-8&gmt_payment=2026-10-01 00:00:00&notify_type=trade_status_sync"
		 "&out_trade_no=%s&total_amount=%s&trade_no=%s&trade_status=TRADE_SUCCESS&version=1.0",
		 otn, amt, txn);
	char *sig = rsa_sign(D.ali, content, strlen(content));
	char *esc = curl_easy_escape(NULL, sig, 0);
	snprintf(body, sizeof body,
		 "app_id=" ALIPAY_APP "&charset=utf-8&gmt_payment=2026-10-01+00%%3A00%%3A00&notify_type=trade_status_sync"
		 "&out_trade_no=%s&total_amount=%s&trade_no=%s&trade_status=TRADE_SUCCESS&version=1.0"
		 "&sign_type=RSA2&sign=%s", otn, amt, txn, esc);
	(void)seq;
	curl_free(esc);
	free(sig);
	return http("POST", "/v1/webhooks/payments/alipay", NULL, "application/x-www-form-urlencoded", body, NULL, NULL);
}

static long stripe_pay(const char *otn, long long amount, long seq, const char *txn)
{
	char body[1024], msg[1200], hex[65], h[256];
	snprintf(body, sizeof body,
		 "{\"id\":\"evt_demo_%ld\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
		 "{\"id\":\"%s\",\"object\":\"payment_intent\",\"amount\":%lld,\"amount_received\":%lld,"
		 "\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"%s\"}}}}", seq, txn, amount, amount, otn);
	long long t = (long long)time(NULL);
	int n = snprintf(msg, sizeof msg, "%lld.%s", t, body);
	unsigned char mac[32];
	unsigned ml;
	HMAC(EVP_sha256(), D.whsec, (int)strlen(D.whsec), (unsigned char *)msg, (size_t)n, mac, &ml);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	snprintf(h, sizeof h, "Stripe-Signature: t=%lld,v1=%s", t, hex);
	const char *hs[] = {h, NULL};
	return http("POST", "/v1/webhooks/payments/stripe", NULL, NULL, body, hs, NULL);
}

static long topups_by[3];

static long missed_notifications;

/* A tenant scans the QR code and pays: an order made at the provider (the fakes, which check
 * what the providers check), the tenant paying there, then the provider's notification;
 * one in ten never comes, and wattle's query of the order credits it instead. */
static void pay(long long tenant, long long amount, int provider)
{
	static const char *const names[] = {"wechat", "alipay", "stripe"};
	static long seq = 1000;
	json_t *o = call("POST", "/v1/topup-orders", D.fin, 201,
			 "{\"tenant_id\":\"ten_%lld\",\"amount_minor\":%lld,\"provider\":\"%s\"}", tenant, amount,
			 names[provider]);
	char otn[64], txn[64];
	snprintf(otn, sizeof otn, "%s", json_string_value(json_object_get(o, "out_trade_no")));
	json_decref(o);
	if (fakepay_pay(D.fake[provider], otn, txn))
		die("the %s fake has no open order %s", names[provider], otn);
	topups_by[provider]++;
	if (++seq % 10 == 0) {
		missed_notifications++;
		return;
	}
	long st = provider == 0 ? wechat_pay(otn, amount, seq, txn) : provider == 1 ? alipay_pay(otn, amount, seq, txn)
										   : stripe_pay(otn, amount, seq, txn);
	if (st / 100 != 2)
		die("the %s notification for %s was refused (%ld)", names[provider], otn, st);
}

/* ---- the mall ---- */

struct kind {
	const char *category, *names[8];
	int area_lo, area_hi, max_kw, count;
};

static const struct kind kinds[] = {
	{"catering", {"Noodle House", "Hotpot Garden", "Dumpling King", "Tea Corner", "Sushi Bar", "Bakery", "Coffee Lab", "BBQ Grill"}, 60, 300, 40, 34},
	{"fashion", {"Silk Road", "Denim Co", "Urban Wear", "Little Ones", "Shoe Gallery", "Bags & Co", "Knit Studio", "Sportline"}, 80, 400, 15, 40},
	{"electronics", {"Phone Point", "Pixel Store", "Sound Shop", "Game Zone", "Camera Hub", "Laptop Lane", "Smart Home", "Repair Bar"}, 50, 250, 20, 18},
	{"services", {"Hair Studio", "Nail Bar", "Optician", "Pharmacy", "Bank Branch", "Laundry", "Travel Desk", "Print Shop"}, 30, 150, 10, 28},
	{"leisure", {"Cinema", "Fitness Club", "Kids Play", "Bowling", "KTV", "Arcade", "Yoga Loft", "Escape Room"}, 300, 1500, 80, 12},
	{"supermarket", {"Fresh Market", "Daily Mart", "Organic Corner", "Wine Cellar", "Butcher", "Fruit Stall", "Bakery Mart", "Seafood Hall"}, 800, 2500, 120, 4},
	{"office", {"Management Office", "Logistics Hub", "Co-working", "Clinic", "Tutoring", "Insurance", "Real Estate", "Law Office"}, 80, 400, 15, 14},
};

struct tenant {
	long long id;
	int kind;
	bool forgetful;   /* tops up only after being cut off for a while */
	int64_t cut_since; /* wattle time first seen cut off, 0 if not */
	int64_t last_topup;
};

static struct tenant *T;
static int nt;

static unsigned lcg = 20261001;
static int rnd(int lo, int hi)
{
	lcg = lcg * 1103515245u + 12345u;
	return lo + (int)((lcg >> 8) % (unsigned)(hi - lo + 1));
}

static void seed(void)
{
	say("seeding the demo mall: Harbour City Mall, Shanghai time, CNY\n");
	json_decref(call("POST", "/v1/sites", D.admin, 201,
			 "{\"name\":\"Harbour City Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}"));
	json_decref(call("PUT", "/v1/sites/site_1/alarm-settings", D.ops, 200,
			 "{\"duty_phone\":\"+8613900000001\",\"sms_severities\":[\"critical\"],\"clear_minutes\":60,"
			 "\"interval_seconds\":900,\"comm_lost_intervals\":16,\"forbidden_categories\":[\"fashion\",\"electronics\",\"office\"]}"));
	json_decref(call("POST", "/v1/tariffs", D.fin, 201,
			 "{\"site_id\":\"site_1\",\"name\":\"Commercial TOU\",\"currency\":\"CNY\",\"kind\":\"tou\","
			 "\"effective_from\":\"2026-01-01T00:00:00+08:00\",\"bands\":["
			 "{\"name\":\"peak\",\"rate_micros_per_kwh\":1350000},{\"name\":\"flat\",\"rate_micros_per_kwh\":850000},"
			 "{\"name\":\"valley\",\"rate_micros_per_kwh\":400000}],\"schedule\":["
			 "{\"from\":\"00:00\",\"to\":\"07:00\",\"band\":\"valley\"},{\"from\":\"07:00\",\"to\":\"10:00\",\"band\":\"flat\"},"
			 "{\"from\":\"10:00\",\"to\":\"15:00\",\"band\":\"peak\"},{\"from\":\"15:00\",\"to\":\"18:00\",\"band\":\"flat\"},"
			 "{\"from\":\"18:00\",\"to\":\"21:00\",\"band\":\"peak\"},{\"from\":\"21:00\",\"to\":\"23:00\",\"band\":\"flat\"},"
			 "{\"from\":\"23:00\",\"to\":\"24:00\",\"band\":\"valley\"}]}"));
	int total = 0;
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
		total += kinds[k].count;
	T = calloc((size_t)total, sizeof *T);
	char members[16384] = "";
	size_t ml = 0;
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		for (int i = 0; i < kinds[k].count; i++) {
			const char *rating = "ABBBCCD" + rnd(0, 6);
			char r1[2] = {rating[0], 0};
			int floor = rnd(1, 4), unit = rnd(1, 60);
			json_t *t = call("POST", "/v1/tenants", D.fin, 201,
					 "{\"site_id\":\"site_1\",\"name\":\"%s %d%02d\",\"category\":\"%s\",\"area_m2\":\"%d.%d\","
					 "\"credit_rating\":\"%s\",\"phone\":\"+86138%08d\"}",
					 kinds[k].names[i % 8], floor, unit, kinds[k].category,
					 rnd(kinds[k].area_lo, kinds[k].area_hi), rnd(0, 9), r1, 10000000 + nt);
			struct tenant *x = &T[nt++];
			x->id = atoll(json_string_value(json_object_get(t, "id")) + 4);
			x->kind = (int)k;
			x->forgetful = x->id % 9 == 4;
			json_decref(t);
			json_decref(call("POST", "/v1/meters", D.ops, 201,
					 "{\"serial\":\"HCM-%04lld\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_%lld\","
					 "\"tariff_id\":\"trf_1\",\"max_power_w\":%d,\"gateway\":\"http://127.0.0.1:%d\"}",
					 x->id, x->id, kinds[k].max_kw * 1000, D.sim_port));
			/* the opening balance at the cashier; the forgetful ones bring little */
			int cny = x->forgetful ? rnd(100, 300) : rnd(8, 30) * 100 * (kinds[k].max_kw >= 40 ? 4 : 1);
			char path[64];
			snprintf(path, sizeof path, "/v1/tenants/ten_%lld/topups", x->id);
			json_decref(call("POST", path, D.fin, 201, "{\"amount_minor\":%d,\"channel\":\"%s\"}", cny * 100,
					 rnd(0, 1) ? "cash" : "bank"));
			ml += (size_t)snprintf(members + ml, sizeof members - ml, "%s{\"tenant_id\":\"ten_%lld\"}", ml ? "," : "",
					       x->id);
		}
	}
	/* credit policies A (best) to D, once the opening balances are in (a policy applies to
	 * the accounts it covers at once) */
	const char *pol[] = {
		"\"rating\":\"A\",\"warn_levels_minor\":[50000,20000],\"overdraft_minor\":20000,\"grace_minutes\":240,"
		"\"restore_min_minor\":0,\"quiet_hours\":{\"from\":\"22:00\",\"to\":\"08:00\"}",
		"\"rating\":\"B\",\"warn_levels_minor\":[30000,10000],\"overdraft_minor\":5000,\"grace_minutes\":120,"
		"\"restore_min_minor\":0,\"quiet_hours\":{\"from\":\"22:00\",\"to\":\"08:00\"}",
		"\"rating\":\"C\",\"warn_levels_minor\":[20000],\"overdraft_minor\":0,\"grace_minutes\":60,"
		"\"restore_min_minor\":5000,\"quiet_hours\":{\"from\":\"23:00\",\"to\":\"07:00\"}",
		"\"rating\":\"D\",\"warn_levels_minor\":[10000],\"overdraft_minor\":0,\"grace_minutes\":30,"
		"\"restore_min_minor\":10000,\"quiet_hours\":null"};
	for (int i = 0; i < 4; i++)
		json_decref(call("POST", "/v1/credit-policies", D.fin, 201, "{\"site_id\":\"site_1\",%s}", pol[i]));
	/* public areas: air conditioning by area, corridor lighting by consumption, elevators by area */
	const char *pub[][3] = {{"HCM-HVAC", "hvac", "400"}, {"HCM-LIGHT", "lighting", "60"}, {"HCM-LIFT", "elevator", "90"}};
	for (int i = 0; i < 3; i++)
		json_decref(call("POST", "/v1/meters", D.ops, 201,
				 "{\"serial\":\"%s\",\"site_id\":\"site_1\",\"purpose\":\"%s\",\"tariff_id\":\"trf_1\","
				 "\"max_power_w\":%s000,\"gateway\":\"http://127.0.0.1:%d\"}",
				 pub[i][0], pub[i][1], pub[i][2], D.sim_port));
	const char *pools[][3] = {{"Central air conditioning", "area", "HCM-HVAC"},
				  {"Corridor lighting", "consumption", "HCM-LIGHT"},
				  {"Elevators and escalators", "area", "HCM-LIFT"}};
	for (int i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof path, "/v1/meters/%s", pools[i][2]);
		json_t *m = call("GET", path, D.ops, 200, NULL);
		json_decref(call("POST", "/v1/cost-pools", D.fin, 201,
				 "{\"site_id\":\"site_1\",\"name\":\"%s\",\"method\":\"%s\",\"meter_ids\":[\"%s\"],"
				 "\"members\":[%s],\"auto\":true}",
				 pools[i][0], pools[i][1], json_string_value(json_object_get(m, "id")), members));
		json_decref(m);
	}
	say("  %d tenants in %zu categories, %d meters, 3 public pools (auto), a TOU tariff, policies A-D\n", nt,
	    sizeof kinds / sizeof *kinds, nt + 3);
}

/* ---- keys ---- */

/* Run argv with env and return its first line of output (new string). */
static char *capture(const char *const *argv, const char *const *env)
{
	int fd[2];
	if (pipe(fd))
		die("pipe: %s", strerror(errno));
	pid_t p = fork();
	if (p == 0) {
		for (int i = 0; env[i]; i++)
			putenv((char *)env[i]);
		dup2(fd[1], 1);
		close(fd[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd[1]);
	char buf[256] = "";
	ssize_t n = read(fd[0], buf, sizeof buf - 1);
	close(fd[0]);
	waitpid(p, NULL, 0);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	return strdup(buf);
}

static void key(const char *role, char *out)
{
	json_t *k = call("POST", "/v1/api-keys", D.admin, 201, "{\"name\":\"demo %s\",\"role\":\"%s\"}", role, role);
	snprintf(out, 80, "%s", json_string_value(json_object_get(k, "key")));
	json_decref(k);
}

/* ---- the server ---- */

/* Who signs in to the demo: users finance and operator with this password, and the first
 * tenant (ten_1, whose phone the seed gives +86 138 1000 0000) by phone with this code. */
#define DEMO_PASSWORD "wattle-demo-2026"
#define DEMO_PHONE "+8613810000000"
#define DEMO_CODE "246810"

/* Where the people of the demo sign in: the console with the users seeded above, the tenant
 * page with the first tenant's phone and the demo's fixed code. */
static void console_people(void)
{
	say("\nThe console: http://%s/console/  users finance and operator, password %s\n", D.listen, DEMO_PASSWORD);
	say("The tenant page: http://%s/t/  phone %s, code %s (the demo's fixed code; a real tenant gets an SMS)\n",
	    D.listen, DEMO_PHONE, DEMO_CODE);
}

static char env_buf[40][1200];

/* ---- a building on real protocols ---- */

static int free_port(void);

/* Append the meters of the config metersim wrote at path to meters; its mqtt to *mqtt. */
static void take_meters(const char *path, json_t *meters, json_t **mqtt)
{
	json_t *c = json_load_file(path, 0, NULL);
	if (!c)
		die("metersim wrote no gateway config at %s", path);
	json_array_extend(meters, json_object_get(c, "meters"));
	if (json_object_get(c, "mqtt"))
		*mqtt = json_incref(json_object_get(c, "mqtt"));
	json_decref(c);
}

/* Once October is closed and wattle runs at real speed: distribution room B1 on real meter
 * protocols, so the whole path can be seen. A pull gateway gw_1, two Acrel meters on Modbus
 * TCP and a DL/T 645 meter behind a converter (wattle-metersim plays them), a Tasmota plug on
 * MQTT when Debian's mosquitto is there, and wattle-gateway reading them all, on wattle's
 * clock. Public-area meters, so no tenant's statement changes. */
static void start_building(void)
{
	char *out = NULL;
	if (http("POST", "/v1/gateways", D.ops, NULL,
		 "{\"site_id\":\"site_1\",\"name\":\"Distribution room B1\",\"delivery\":\"pull\"}", NULL, &out) != 201)
		die("could not create the building's gateway: %s", out);
	json_t *g = json_loads(out, 0, NULL);
	free(out);
	char key[80];
	snprintf(key, sizeof key, "%s", json_string_value(json_object_get(g, "key")));
	char gw_id[32];
	snprintf(gw_id, sizeof gw_id, "%s", json_string_value(json_object_get(g, "id")));
	json_decref(g);
	bool mqtt = access("/usr/sbin/mosquitto", X_OK) == 0;
	static const char *const serials[] = {"B1-AC-1", "B1-AC-2", "B1-DL-1", "B1-TA-1"};
	for (int i = 0; i < (mqtt ? 4 : 3); i++) {
		char body[300];
		snprintf(body, sizeof body,
			 "{\"serial\":\"%s\",\"site_id\":\"site_1\",\"purpose\":\"other\",\"tariff_id\":\"trf_1\","
			 "\"gateway_id\":\"%s\"}", serials[i], gw_id);
		if (http("POST", "/v1/meters", D.ops, NULL, body, NULL, NULL) != 201)
			die("could not register meter %s", serials[i]);
	}
	char url[64], sim[600], cfg[3][700], queue[700], clk[3][64];
	snprintf(url, sizeof url, "http://%s", D.listen);
	snprintf(sim, sizeof sim, "%s/wattle-metersim", D.self_dir);
	snprintf(queue, sizeof queue, "%s/gateway-queue.db", D.var);
	/* the server's clock since October closed: real speed from T_NOV1 + 3600 */
	snprintf(clk[0], sizeof clk[0], "WATTLE_CLOCK_SPEED=1");
	snprintf(clk[1], sizeof clk[1], "WATTLE_CLOCK_START=%lld", (long long)(T_NOV1 + 3600));
	snprintf(clk[2], sizeof clk[2], "WATTLE_CLOCK_ANCHOR=%lld", (long long)D.real_anchor);
	const char *env[] = {clk[0], clk[1], clk[2], NULL};
	char log[700], p1[16], p2[16], p3[16], c1[16], c2[16], c3[16], brk[32];
	D.ctl_modbus = free_port();
	D.ctl_dlt = free_port();
	D.ctl_mqtt = free_port();
	D.gw_metrics = free_port();
	int base = free_port(), bus = free_port(), broker = free_port();
	snprintf(p1, sizeof p1, "%d", base);
	snprintf(p2, sizeof p2, "%d", bus);
	snprintf(p3, sizeof p3, "%d", broker);
	snprintf(c1, sizeof c1, "%d", D.ctl_modbus);
	snprintf(c2, sizeof c2, "%d", D.ctl_dlt);
	snprintf(c3, sizeof c3, "%d", D.ctl_mqtt);
	snprintf(brk, sizeof brk, "127.0.0.1:%d", broker);
	for (int i = 0; i < 3; i++)
		snprintf(cfg[i], sizeof cfg[i], "%s/gateway-%d.json", D.var, i);
	const char *mb[] = {sim, "--protocol", "modbus-tcp", "--meters", "2", "--model", "acrel-ddsy1352", "--port", p1,
			    "--serial-prefix", "B1-AC-", "--power-w", "4000", "--control-port", c1, "--poll-s", "5",
			    "--write-config", cfg[0], "--url", url, "--key", key, "--queue", queue, NULL};
	snprintf(log, sizeof log, "%s/devices-modbus.log", D.var);
	D.building[D.nbuilding++] = spawn(mb, env, log);
	const char *dl[] = {sim, "--protocol", "dlt645-tcp", "--meters", "1", "--port", p2, "--serial-prefix", "B1-DL-",
			    "--power-w", "2500", "--control-port", c2, "--poll-s", "5", "--write-config", cfg[1], NULL};
	snprintf(log, sizeof log, "%s/devices-dlt645.log", D.var);
	D.building[D.nbuilding++] = spawn(dl, env, log);
	if (mqtt) {
		const char *bk[] = {"/usr/sbin/mosquitto", "-p", p3, NULL};
		snprintf(log, sizeof log, "%s/mosquitto.log", D.var);
		D.building[D.nbuilding++] = spawn(bk, env, log);
		usleep(300000);
		const char *ta[] = {sim, "--protocol", "mqtt-tasmota", "--meters", "1", "--broker", brk, "--serial-prefix",
				    "B1-TA-", "--power-w", "1500", "--control-port", c3, "--poll-s", "5",
				    "--write-config", cfg[2], NULL};
		snprintf(log, sizeof log, "%s/devices-mqtt.log", D.var);
		D.building[D.nbuilding++] = spawn(ta, env, log);
	}
	usleep(700000);
	/* one gateway config for the room: the first file's wattle and queue, every meter */
	json_t *c = json_load_file(cfg[0], 0, NULL), *meters = json_array(), *broker_cfg = NULL;
	if (!c)
		die("metersim wrote no gateway config at %s", cfg[0]);
	for (int i = 0; i < (mqtt ? 3 : 2); i++)
		take_meters(cfg[i], meters, &broker_cfg);
	json_object_set_new(c, "meters", meters);
	if (broker_cfg)
		json_object_set_new(c, "mqtt", broker_cfg);
	char listen[32], profiles[600], gwcfg[700];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", D.gw_metrics);
	snprintf(profiles, sizeof profiles, "%s/gateway/profiles", D.root);
	json_object_set_new(c, "listen", json_string(listen));
	json_object_set_new(c, "profiles", json_string(profiles));
	snprintf(gwcfg, sizeof gwcfg, "%s/gateway.json", D.var);
	if (json_dump_file(c, gwcfg, JSON_INDENT(2)))
		die("cannot write %s", gwcfg);
	json_decref(c);
	char gw[600];
	snprintf(gw, sizeof gw, "%s/wattle-gateway", D.self_dir);
	const char *ga[] = {gw, "--config", gwcfg, NULL};
	snprintf(log, sizeof log, "%s/gateway.log", D.var);
	D.building[D.nbuilding++] = spawn(ga, env, log);
}

static void start_server(int64_t speed, int64_t start_s, int64_t anchor_s)
{
	int n = 0;
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_DATABASE_URL=%s dbname=wattle_demo", D.db);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_LISTEN=%s", D.listen);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_CLOCK_SPEED=%lld", (long long)speed);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_CLOCK_START=%lld", (long long)start_s);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_CLOCK_ANCHOR=%lld", (long long)anchor_s);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_LOG_LEVEL=warn");
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_CLOSE_DELAY_MIN=1");
	/* an order lives 30 real seconds at least: at 14400x the default 30 minutes are 125 ms,
	 * and a loaded machine paid orders the query worker had already closed as expired */
	int64_t ttl = speed * 30 > 1800 ? speed * 30 : 1800;
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_TOPUP_ORDER_TTL_S=%lld", (long long)(ttl < 31 * 86400 ? ttl : 31 * 86400));
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_GATEWAY_SECRET=demo-gateway-secret");
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_SMS_URL=http://127.0.0.1:%d/sms", D.sink_port);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_SMS_USER=demo");
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_SMS_TOKEN=demo");
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_NOTIFY_WEBHOOK_URL=http://127.0.0.1:%d/events", D.sink_port);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_NOTIFY_WEBHOOK_SECRET=demo-webhook-secret");
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_MCHID=" MCHID);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_APIV3_KEY=%s", D.apiv3);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_PLATFORM_PUBKEY=%s/wechatpay_platform.pem", D.keys);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_PLATFORM_SERIAL=" WX_SERIAL);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_ALIPAY_APP_ID=" ALIPAY_APP);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_ALIPAY_PUBKEY=%s/alipay_public.pem", D.keys);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_STRIPE_WEBHOOK_SECRET=%s", D.whsec);
	char base[3][128];
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_APPID=" WX_APPID);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_MERCHANT_KEY=%s/wechatpay_merchant_key.pem", D.keys);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_MERCHANT_SERIAL=" WX_MERCHANT_SERIAL);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_WECHAT_API_BASE=%s", fakepay_base(D.fake[0], base[0], 128));
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_ALIPAY_APP_PRIVATE_KEY=%s/alipay_app_private.pem", D.keys);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_ALIPAY_GATEWAY=%s", fakepay_base(D.fake[1], base[1], 128));
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_STRIPE_SECRET_KEY=%s", D.stripe_key);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_STRIPE_API_BASE=%s", fakepay_base(D.fake[2], base[2], 128));
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_PUBLIC_URL=http://%s", D.listen);
	snprintf(env_buf[n++], sizeof env_buf[0], "WATTLE_RECONCILE_HOUR=24");
	const char *env[40];
	for (int i = 0; i < n; i++)
		env[i] = env_buf[i];
	env[n] = NULL;
	char exe[600], log[700];
	snprintf(exe, sizeof exe, "%s/wattle", D.self_dir);
	snprintf(log, sizeof log, "%s/wattle.log", D.var);
	/* the first tenant's phone signs in with a fixed code: for the demo only, on the command
	 * line (a server never takes it from its environment) */
	const char *argv[] = {exe, "serve", "--no-migrate", "--demo-login-code", DEMO_PHONE ":" DEMO_CODE, NULL};
	D.server = spawn(argv, env, log);
	wait_healthy();
}

static int free_port(void)
{
	struct peer *p = peer_start(0, on_sink, NULL);
	int port = p ? peer_port(p) : 0;
	peer_stop(p);
	return port;
}

/* ---- progress ---- */

static void day_line(PGconn *c, int64_t day_start_s, long topups)
{
	char q[2048], when[32];
	time_t local = (time_t)(day_start_s + 8 * 3600);
	struct tm tm;
	gmtime_r(&local, &tm);
	strftime(when, sizeof when, "%a %d %b", &tm);
	snprintf(q, sizeof q,
		 "SELECT (SELECT count(*) FROM readings WHERE ts >= to_timestamp(%lld) AND ts < to_timestamp(%lld)),"
		 " (SELECT count(*) FROM notifications WHERE kind = 'low_balance' AND channel = 'sms'"
		 "  AND created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld)),"
		 " (SELECT count(*) FROM commands WHERE action = 'cut_off' AND reason <> 'relay_mismatch' AND state <> 'superseded'"
		 "  AND created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld)),"
		 " (SELECT count(*) FROM commands WHERE action = 'restore' AND reason <> 'relay_mismatch' AND state <> 'superseded'"
		 "  AND created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld)),"
		 " (SELECT count(*) FROM alarms WHERE opened_at >= to_timestamp(%lld) AND opened_at < to_timestamp(%lld)),"
		 " (SELECT count(*) FROM accounts WHERE state = 'cut_off')",
		 (long long)day_start_s, (long long)day_start_s + 86400, (long long)day_start_s,
		 (long long)day_start_s + 86400, (long long)day_start_s, (long long)day_start_s + 86400,
		 (long long)day_start_s, (long long)day_start_s + 86400, (long long)day_start_s,
		 (long long)day_start_s + 86400);
	PGresult *r = PQexec(c, q);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		say("  %s | readings %6s | top-ups %3ld | warnings %3s | cut-offs %2s | restores %2s | alarms %2s | dark now %2s\n",
		    when, PQgetvalue(r, 0, 0), topups, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
		    PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5));
	PQclear(r);
}

/* Tenants in trouble decide whether to pay: most top up by phone when warned; the
 * forgetful ones only after sitting in the dark for a while. */
static long tenants_pay(PGconn *c, int64_t now_us)
{
	long paid = 0;
	PGresult *r = PQexec(c, "SELECT t.id, a.state FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
				" WHERE a.state <> 'normal' ORDER BY t.id");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	const int64_t HOUR = INT64_C(3600000000);
	for (int i = 0; i < nt; i++)
		T[i].cut_since = T[i].cut_since ? -T[i].cut_since : 0; /* mark: not seen cut this round */
	for (int i = 0; i < PQntuples(r); i++) {
		long long id = atoll(PQgetvalue(r, i, 0));
		if (id < 1 || id > nt)
			continue;
		struct tenant *x = &T[id - 1];
		bool cut = !strcmp(PQgetvalue(r, i, 1), "cut_off");
		if (cut)
			x->cut_since = x->cut_since < 0 ? -x->cut_since : now_us;
		bool due = cut ? (!x->forgetful || now_us - x->cut_since > 8 * HOUR) && now_us - x->last_topup > 2 * HOUR
			       : !x->forgetful && now_us - x->last_topup > 6 * HOUR && rnd(0, 3) == 0;
		if (!due)
			continue;
		long long cny = kinds[x->kind].max_kw >= 40 ? rnd(20, 60) * 100 : rnd(5, 20) * 100;
		pay(id, cny * 100, rnd(0, 2));
		x->last_topup = now_us;
		paid++;
	}
	for (int i = 0; i < nt; i++)
		if (T[i].cut_since < 0)
			T[i].cut_since = 0;
	PQclear(r);
	return paid;
}

/* ---- reports ---- */

static void save(const char *name, const char *ext, const char *body)
{
	char path[1000];
	snprintf(path, sizeof path, "%s/%s.%s", D.reports, name, ext);
	FILE *f = fopen(path, "w");
	if (!f)
		die("cannot write %s", path);
	fputs(body, f);
	fclose(f);
}

/* s (may be NULL) escaped for HTML text into buf[n]. */
static void html_text(char *buf, size_t n, const char *s)
{
	size_t k = 0;
	buf[0] = 0;
	for (; s && *s && k + 7 < n; s++) {
		const char *e = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" : *s == '"' ? "&quot;" : NULL;
		if (e) {
			memcpy(buf + k, e, strlen(e));
			k += strlen(e);
		} else {
			buf[k++] = *s;
		}
	}
	buf[k] = 0;
}

static int export_reports(void)
{
	mkdir(D.reports, 0755);
	char path[256], *body;
	int files = 0;
	FILE *index = NULL;
	char ipath[800];
	snprintf(ipath, sizeof ipath, "%s/index.html", D.reports);
	index = fopen(ipath, "w");
	if (index)
		fprintf(index, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Harbour City Mall: "
			       "October 2026</title><style>body{font:14px system-ui,sans-serif;max-width:900px;margin:32px auto;"
			       "padding:0 16px;color:#1d2630}table{border-collapse:collapse;width:100%%}th,td{padding:4px 8px;"
			       "text-align:left;border-bottom:1px solid #e3e8ec}a{color:#1f5f7a}</style></head><body><main>"
			       "<h1>Harbour City Mall: October 2026</h1><p>The month's reports, each as a page, a spreadsheet "
			       "(CSV) and data (JSON).</p><table><tr><th scope=\"col\">Report</th><th scope=\"col\">Shop</th>"
			       "<th scope=\"col\">Category</th><th scope=\"col\" colspan=\"3\">Open as</th></tr>");
	char after[32] = "";
	for (;;) {
		snprintf(path, sizeof path, "/v1/reports?period=2026-10&limit=1000%s%s", *after ? "&after=" : "", after);
		json_t *l = call("GET", path, D.fin, 200, NULL);
		size_t i;
		json_t *it;
		json_array_foreach(json_object_get(l, "items"), i, it) {
			const char *id = json_string_value(json_object_get(it, "id"));
			const char *kind = json_string_value(json_object_get(it, "kind"));
			const char *tenant = json_string_value(json_object_get(it, "tenant_id"));
			char name[128];
			if (!strcmp(kind, "tenant_statement"))
				snprintf(name, sizeof name, "statement-%s", tenant);
			else
				snprintf(name, sizeof name, "%s", !strcmp(kind, "energy") ? "energy-report" : "finance-summary");
			static const char *const fmts[] = {"json", "csv", "html"};
			char shop[256] = "", category[64] = "";
			for (int f = 0; f < 3; f++) {
				snprintf(path, sizeof path, "/v1/reports/%s?format=%s", id, fmts[f]);
				if (http("GET", path, D.fin, NULL, NULL, NULL, &body) != 200)
					die("GET %s failed: %s", path, body);
				if (f == 0) { /* the tenant's name and category, for the index */
					json_t *j = json_loads(body, 0, NULL);
					json_t *t = json_object_get(json_object_get(j, "data"), "tenant");
					html_text(shop, sizeof shop, json_string_value(json_object_get(t, "name")));
					html_text(category, sizeof category, json_string_value(json_object_get(t, "category")));
					json_decref(j);
				}
				save(name, fmts[f], body);
				free(body);
				files++;
			}
			const char *what = !strcmp(kind, "tenant_statement") ? "Statement"
					   : !strcmp(kind, "energy")       ? "Energy report"
									   : "Finance summary";
			if (index)
				fprintf(index, "<tr><td>%s</td><td>%s</td><td>%s</td><td><a href=\"%s.html\">page</a></td>"
					       "<td><a href=\"%s.csv\">CSV</a></td><td><a href=\"%s.json\">JSON</a></td></tr>",
					what, shop, category, name, name, name);
		}
		const char *next = json_string_value(json_object_get(l, "next_after"));
		snprintf(after, sizeof after, "%s", next ? next : "");
		json_decref(l);
		if (!next)
			break;
	}
	if (index) {
		fprintf(index, "</table></main></body></html>\n");
		fclose(index);
	}
	return files;
}

static void on_int(int sig)
{
	(void)sig;
	D.stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: wattle demo [--speed N] [--exit]\n"
			"  a month of a 150-tenant mall on a clock N times real time (default 14400: a day in 6 s),\n"
			"  reports in ./var/reports; then serves on WATTLE_LISTEN (default 127.0.0.1:8080) until\n"
			"  Ctrl-C, or exits at once with --exit. With WATTLE_DATABASE_URL unset, PostgreSQL runs in\n"
			"  ./var/pg; the demo database wattle_demo is made afresh each time.\n");
}

int srv_demo(int argc, char **argv)
{
	D.speed = 14400;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--exit"))
			D.exit_after = true;
		else if (!strcmp(argv[i], "--speed") && i + 1 < argc)
			D.speed = atoll(argv[++i]);
		else {
			usage();
			return 2;
		}
	}
	if (D.speed < 60 || D.speed > 100000) {
		usage();
		return 2;
	}
	int64_t t0 = srv_mono_us();
	if (!getcwd(D.root, sizeof D.root))
		die("getcwd");
	snprintf(D.var, sizeof D.var, "%s/var", D.root);
	snprintf(D.reports, sizeof D.reports, "%s/reports", D.var);
	snprintf(D.keys, sizeof D.keys, "%s/demo-keys", D.var);
	mkdir(D.var, 0755);
	mkdir(D.keys, 0700);
	ssize_t n = readlink("/proc/self/exe", D.self_dir, sizeof D.self_dir - 1);
	if (n <= 0)
		die("cannot find this program");
	D.self_dir[n] = 0;
	*strrchr(D.self_dir, '/') = 0;
	const char *listen = getenv("WATTLE_LISTEN");
	snprintf(D.listen, sizeof D.listen, "%s", listen && *listen ? listen : "127.0.0.1:8080");
	signal(SIGINT, on_int);
	signal(SIGTERM, on_int);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	/* the database */
	const char *url = getenv("WATTLE_DATABASE_URL");
	if (url && *url)
		snprintf(D.db, sizeof D.db, "%s", url);
	else
		pg_start();
	PGconn *c = pg_connect("postgres");
	sql(c, "DROP DATABASE IF EXISTS wattle_demo WITH (FORCE)");
	sql(c, "CREATE DATABASE wattle_demo");
	PQfinish(c);
	char dburl[1000];
	snprintf(dburl, sizeof dburl, "WATTLE_DATABASE_URL=%s dbname=wattle_demo", D.db);
	char exe[600];
	snprintf(exe, sizeof exe, "%s/wattle", D.self_dir);
	const char *menv[] = {dburl, "WATTLE_LOG_LEVEL=warn", NULL};
	const char *margv[] = {exe, "migrate", NULL};
	if (run(false, margv, NULL, menv))
		die("wattle migrate failed");
	const char *kargv[] = {exe, "keys", "create", "--role", "admin", "--name", "demo admin", NULL};
	char *admin = capture(kargv, menv);
	if (strncmp(admin, "wk_", 3))
		die("could not create the admin key");
	snprintf(D.admin, sizeof D.admin, "%s", admin);
	free(admin);

	/* the outside world and the providers' keys */
	sink = peer_start(0, on_sink, NULL);
	if (!sink)
		die("cannot start the demo's SMS and webhook receiver");
	D.sink_port = peer_port(sink);
	D.sim_port = free_port();
	rand_text(D.apiv3, 32);
	snprintf(D.whsec, sizeof D.whsec, "whsec_");
	rand_text(D.whsec + 6, 32);
	D.wx = EVP_RSA_gen(2048);
	D.ali = EVP_RSA_gen(2048);
	char p1[800], p2[800];
	snprintf(p1, sizeof p1, "%s/wechatpay_platform.pem", D.keys);
	snprintf(p2, sizeof p2, "%s/alipay_public.pem", D.keys);
	write_pub(D.wx, p1);
	write_pub(D.ali, p2);
	/* the providers themselves, with our keys to check wattle's calls by */
	D.wx_merchant = EVP_RSA_gen(2048);
	D.ali_app = EVP_RSA_gen(2048);
	snprintf(p1, sizeof p1, "%s/wechatpay_merchant_key.pem", D.keys);
	snprintf(p2, sizeof p2, "%s/alipay_app_private.pem", D.keys);
	write_private(D.wx_merchant, p1);
	write_private(D.ali_app, p2);
	snprintf(D.stripe_key, sizeof D.stripe_key, "sk_test_");
	rand_text(D.stripe_key + 8, 32);
	struct fakepay_keys wk = {D.wx_merchant, D.wx, MCHID, WX_APPID, WX_MERCHANT_SERIAL, WX_SERIAL, NULL};
	struct fakepay_keys ak = {D.ali_app, D.ali, NULL, ALIPAY_APP, NULL, NULL, NULL};
	struct fakepay_keys sk = {NULL, NULL, NULL, NULL, NULL, NULL, D.stripe_key};
	if (!(D.fake[0] = fakepay_start("wechat", &wk)) || !(D.fake[1] = fakepay_start("alipay", &ak)) ||
	    !(D.fake[2] = fakepay_start("stripe", &sk)))
		die("cannot start the payment providers' fakes");

	/* seed on a clock at real speed, on the first of October */
	int64_t anchor = (int64_t)time(NULL);
	start_server(1, T_OCT1 + 60, anchor);
	key("finance", D.fin);
	key("operator", D.ops);
	key("gateway", D.gw);
	seed();
	/* people who sign in: a finance clerk and an operator (the first tenant signs in by phone
	 * with the demo's fixed code, DEMO_PHONE and DEMO_CODE) */
	json_decref(call("POST", "/v1/users", D.admin, 201,
			 "{\"username\":\"finance\",\"password\":\"" DEMO_PASSWORD "\",\"role\":\"finance\"}"));
	json_decref(call("POST", "/v1/users", D.admin, 201,
			 "{\"username\":\"operator\",\"password\":\"" DEMO_PASSWORD "\",\"role\":\"operator\"}"));
	stop(&D.server);

	/* the month, fast */
	anchor = (int64_t)time(NULL);
	int64_t start = T_OCT1 + 600;
	char e[4][64];
	snprintf(e[0], sizeof e[0], "WATTLE_CLOCK_SPEED=%lld", (long long)D.speed);
	snprintf(e[1], sizeof e[1], "WATTLE_CLOCK_START=%lld", (long long)start);
	snprintf(e[2], sizeof e[2], "WATTLE_CLOCK_ANCHOR=%lld", (long long)anchor);
	for (int i = 0; i < 3; i++)
		putenv(e[i]);
	srv_clock_init(getenv("WATTLE_CLOCK_SPEED"), getenv("WATTLE_CLOCK_START"), getenv("WATTLE_CLOCK_ANCHOR"));
	start_server(D.speed, start, anchor);
	char simexe[600], simlog[700], url2[64], port[16];
	snprintf(simexe, sizeof simexe, "%s/wattle-metersim", D.self_dir);
	snprintf(simlog, sizeof simlog, "%s/metersim.log", D.var);
	snprintf(url2, sizeof url2, "http://%s", D.listen);
	snprintf(port, sizeof port, "%d", D.sim_port);
	const char *senv[] = {e[0], e[1], e[2], "WATTLE_GATEWAY_SECRET=demo-gateway-secret", NULL};
	const char *sargv[] = {simexe, "--url", url2, "--key", D.gw, "--operator-key", D.ops, "--port", port,
			       "--interval-min", "15", "--inject", "overload:HCM-0007", "--inject", "malicious:HCM-0050",
			       "--inject", "low_pf:HCM-0126", "--inject", "harmonics:HCM-0080",
			       "--inject-until-min", "2880", NULL};
	D.sim = spawn(sargv, senv, simlog);
	say("October 2026 on a clock %lldx real time (a day every %.1f s); a line per day:\n", (long long)D.speed,
	    86400.0 / (double)D.speed);
	c = pg_connect("wattle_demo");
	int64_t next_day = T_OCT1;
	long day_topups = 0, total_topups = 0;
	while (!D.stop) {
		int64_t now = srv_clock_now_us();
		if (now / 1000000 >= next_day + 86400 + 900) { /* the day is over and its readings are in */
			day_line(c, next_day, day_topups);
			day_topups = 0;
			next_day += 86400;
		}
		if (now / 1000000 < T_NOV1) {
			long p = tenants_pay(c, now);
			day_topups += p;
			total_topups += p;
		}
		if (now / 1000000 >= T_NOV1 + 1800)
			break;
		usleep(250000);
	}
	stop(&D.sim);
	if (D.stop)
		die("interrupted");
	/* every order was paid at its provider: the ones whose notification never came are
	 * credited by wattle asking the provider */
	long long unpaid = 1;
	for (int i = 0; i < 300 && unpaid && !D.stop; i++) {
		unpaid = sql_int(c, "SELECT count(*) FROM topup_orders WHERE status <> 'paid'");
		if (unpaid)
			usleep(200000);
	}
	if (unpaid)
		die("%lld top-up orders paid at the provider were not credited; see %s/wattle.log", unpaid, D.var);
	long long receipts = sql_int(c, "SELECT count(*) FROM receipts");
	say("closing October...\n");
	long long closed = 0;
	for (int i = 0; i < 600 && !closed && !D.stop; i++) {
		closed = sql_int(c, "SELECT count(*) FROM month_closes WHERE period = '2026-10'");
		if (!closed)
			usleep(200000);
	}
	if (!closed)
		die("the month did not close; see %s/wattle.log", D.var);
	/* October is closed: from here the server runs at real speed, so nothing more happens
	 * to the mall while the reports are fetched (and while it is browsed). */
	stop(&D.server);
	D.real_anchor = (int64_t)time(NULL);
	start_server(1, T_NOV1 + 3600, D.real_anchor);
	long long stmts = sql_int(c, "SELECT statements FROM month_closes WHERE period = '2026-10'");
	long long readings = sql_int(c, "SELECT count(*) FROM readings WHERE ts < " T_NOV1_SQL);
	long long cuts = sql_int(c, "SELECT count(*) FROM commands WHERE action = 'cut_off' AND reason <> 'relay_mismatch'"
					 " AND state <> 'superseded' AND created_at < " T_NOV1_SQL);
	long long restores = sql_int(c, "SELECT count(*) FROM commands WHERE action = 'restore' AND reason <> 'relay_mismatch'"
					     " AND state <> 'superseded' AND created_at < " T_NOV1_SQL);
	long long alarms = sql_int(c, "SELECT count(*) FROM alarms WHERE opened_at < " T_NOV1_SQL);
	PQfinish(c);
	int files = export_reports();
	say("\nOctober closed: %lld statements; %lld readings; %ld top-ups ordered at the providers and paid "
	    "(WeChat Pay %ld, Alipay %ld, Stripe %ld; %ld without a notification, credited by wattle's query), "
	    "%lld receipts; %lld cut-offs, %lld restores, %lld alarms; %ld SMS and %ld webhook events delivered.\n",
	    stmts, readings, total_topups, topups_by[0], topups_by[1], topups_by[2], missed_notifications, receipts, cuts,
	    restores, alarms, (long)atomic_load(&D.sms), (long)atomic_load(&D.events));
	say("Reports (%d files): %s/index.html, finance-summary.html, energy-report.html, statement-ten_N.html\n",
	    files, D.reports);
	say("Sign in (POST /v1/sessions): finance or operator, password " DEMO_PASSWORD "; the tenant ten_1 by phone"
	    " (POST /v1/sessions/otp): " DEMO_PHONE ", code " DEMO_CODE " (the demo's only).\n");
	say("The demo took %lld s.\n", (long long)((srv_mono_us() - t0) / 1000000));
	if (D.exit_after) {
		cleanup();
		return 0;
	}
	start_building();
	say("\nDistribution room B1 is on real meter protocols: wattle-gateway (%s/gateway.json) reads two\n"
	    "Acrel meters on Modbus TCP, a DL/T 645 meter behind a converter%s, played by wattle-metersim,\n"
	    "and takes its commands by long poll:\n\n"
	    "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/gateways/gw_1\n"
	    "  curl -s -H 'Authorization: Bearer %s' -X POST -H 'Content-Type: application/json'"
	    " -d '{\"action\":\"cut_off\",\"reason\":\"demo\"}' http://%s/v1/meters/B1-AC-1/commands\n"
	    "  curl -s http://127.0.0.1:%d/state      # the Acrel meters as the devices see it: the relay opens\n"
	    "  curl -s http://127.0.0.1:%d/metrics    # the gateway: polls, readings, faults, queue depth\n",
	    D.var, D.nbuilding > 3 ? " and a Tasmota plug on MQTT" : "", D.ops, D.listen, D.ops, D.listen,
	    D.ctl_modbus, D.gw_metrics);
	console_people();
	say("\nwattle is serving the demo mall on http://%s until Ctrl-C. Keys:\n\n"
	    "  admin     %s   (reads everything; sites, keys)\n"
	    "  finance   %s   (money: top-ups, pools, reports)\n"
	    "  operator  %s   (meters, commands, alarms)\n\n"
	    "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/tenants?limit=5\n"
	    "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/tenants/ten_1/account\n"
	    "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/alarms\n"
	    "  curl -s -H 'Authorization: Bearer %s' -X POST -H 'Content-Type: application/json'"
	    " -d '{\"amount_minor\":5000,\"channel\":\"cash\"}' http://%s/v1/tenants/ten_1/topups\n"
	    "  curl -s -H 'Authorization: Bearer %s' -H 'Accept: text/html' http://%s/v1/reports/rpt_1 > statement.html\n"
	    "  curl -s -H 'Authorization: Bearer %s' -H 'Accept: application/pdf' http://%s/v1/receipts/rcpt_1 > receipt.pdf\n"
	    "  curl -s -H 'Authorization: Bearer %s' -X POST -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1'"
	    " -d '{\"payment_id\":\"pay_1\",\"amount_minor\":100,\"reason\":\"demo\"}' http://%s/v1/refunds\n",
	    D.listen, D.admin, D.fin, D.ops, D.admin, D.listen, D.admin, D.listen, D.ops, D.listen, D.fin, D.listen,
	    D.admin, D.listen, D.fin, D.listen, D.fin, D.listen);
	while (!D.stop)
		pause();
	cleanup();
	return 0;
}
