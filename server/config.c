/* config.c: reads every WATTLE_* environment variable of the server, refusing malformed
 * values by name. */
#include "server/config.h"
#include "core/clock.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_uint(const char *name, const char *s, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || v > max || s[0] == '-' || (v == 0 && strcmp(name, "WATTLE_LISTEN port"))) {
		fprintf(stderr, "wattle: %s=%s is not a number from 1 to %llu\n", name, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

const char *const srv_config_names[] = {
	"WATTLE_DATABASE_URL", "WATTLE_LISTEN", "WATTLE_THREADS", "WATTLE_BODY_MAX", "WATTLE_INGEST_WORKERS",
	"WATTLE_LOG_LEVEL", "WATTLE_CLOCK_SPEED", "WATTLE_CLOCK_START", "WATTLE_CLOCK_ANCHOR",
	"WATTLE_CLOSE_DELAY_MIN", "WATTLE_READINGS_KEEP_MONTHS", "WATTLE_ALARMS", "WATTLE_DISPATCH_LEASE_MS", "WATTLE_GATEWAY_SECRET",
	"WATTLE_SMS_URL", "WATTLE_SMS_USER", "WATTLE_SMS_TOKEN", "WATTLE_SMS_FROM", "WATTLE_NOTIFY_WEBHOOK_URL",
	"WATTLE_NOTIFY_WEBHOOK_SECRET", "WATTLE_WECHAT_APIV3_KEY", "WATTLE_WECHAT_PLATFORM_PUBKEY",
	"WATTLE_WECHAT_PLATFORM_SERIAL", "WATTLE_WECHAT_MCHID", "WATTLE_ALIPAY_PUBKEY", "WATTLE_ALIPAY_APP_ID",
	"WATTLE_STRIPE_WEBHOOK_SECRET", "WATTLE_PAY_URL", "WATTLE_WECHAT_API_BASE", "WATTLE_WECHAT_APPID",
	"WATTLE_WECHAT_MERCHANT_KEY", "WATTLE_WECHAT_MERCHANT_SERIAL", "WATTLE_ALIPAY_GATEWAY",
	"WATTLE_ALIPAY_APP_PRIVATE_KEY", "WATTLE_STRIPE_API_BASE", "WATTLE_STRIPE_SECRET_KEY", "WATTLE_PUBLIC_URL",
	"WATTLE_PAY_TIMEOUT_MS", "WATTLE_PAY_QUERY_AFTER_S", "WATTLE_RECONCILE_HOUR", "WATTLE_TOPUP_ORDER_TTL_S", "WATTLE_RATE_PER_KEY",
	"WATTLE_RATE_PER_ADDR", "WATTLE_RATE_BURST", "WATTLE_AUTH_FAILURES_PER_MIN", "WATTLE_MAX_CONN_PER_ADDR",
	"WATTLE_IDLE_TIMEOUT_S", "WATTLE_REQUEST_TIMEOUT_S", "WATTLE_HEADER_TIMEOUT_S", "WATTLE_RECEIPT_FONT",
	"WATTLE_WECHAT_OA_APPID", "WATTLE_WECHAT_OA_SECRET", "WATTLE_WECHAT_OA_API_BASE",
	"WATTLE_ALIYUN_ACCESS_KEY_ID", "WATTLE_ALIYUN_ACCESS_KEY_SECRET", "WATTLE_ALIYUN_SMS_SIGN_NAME",
	"WATTLE_ALIYUN_SMS_ENDPOINT", "WATTLE_TENCENT_SECRET_ID", "WATTLE_TENCENT_SECRET_KEY",
	"WATTLE_TENCENT_SMS_SDK_APP_ID", "WATTLE_TENCENT_SMS_SIGN_NAME", "WATTLE_TENCENT_SMS_ENDPOINT",
	"WATTLE_TENCENT_SMS_REGION", "WATTLE_SMS_CALLBACK_TOKEN", "WATTLE_SMS_DELIVERY", "WATTLE_SMS_POLL_MS",
	"WATTLE_SMS_PROVIDER", "WATTLE_TENANT_MESSAGES_PER_HOUR", "WATTLE_SSE_HEARTBEAT_S", "WATTLE_SSE_MAX_CLIENTS",
	"WATTLE_SESSION_IDLE_S", "WATTLE_TRUSTED_PROXIES", "WATTLE_REPLICA_URL", "WATTLE_REPLICA_MAX_LAG_MS",
	"WATTLE_REPLICA_CHECK_MS", NULL,
};

/* The secrets: each may come from the variable, from the file WATTLE_X_FILE names, or from
 * the systemd credential WATTLE_X ($CREDENTIALS_DIRECTORY/WATTLE_X, LoadCredential=), one
 * of the three. The two marked path already name a file (a PEM key): for them the
 * variable, WATTLE_X_FILE and the credential all give that file's path. */
static const struct {
	const char *name;
	bool path;
} secrets[] = {
	{"WATTLE_DATABASE_URL", false},          {"WATTLE_GATEWAY_SECRET", false},
	{"WATTLE_SMS_TOKEN", false},             {"WATTLE_NOTIFY_WEBHOOK_SECRET", false},
	{"WATTLE_WECHAT_APIV3_KEY", false},      {"WATTLE_WECHAT_MERCHANT_KEY", true},
	{"WATTLE_ALIPAY_APP_PRIVATE_KEY", true}, {"WATTLE_STRIPE_SECRET_KEY", false},
	{"WATTLE_STRIPE_WEBHOOK_SECRET", false}, {"WATTLE_ALIYUN_ACCESS_KEY_SECRET", false},
	{"WATTLE_TENCENT_SECRET_KEY", false},    {"WATTLE_WECHAT_OA_SECRET", false},
	{"WATTLE_SMS_CALLBACK_TOKEN", false},    {"WATTLE_REPLICA_URL", false},
};
#define NSECRETS (sizeof secrets / sizeof secrets[0])
static char *secret_value[NSECRETS]; /* the last load's, for the process's life */

const char *srv_config_secret_name(size_t i) { return i < NSECRETS ? secrets[i].name : NULL; }

/* A secret's file, whole, with its trailing newlines (and CRs) cut. new: caller frees;
 * NULL with a message naming what and path when it cannot be read or is empty. */
static char *read_secret(const char *what, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "wattle: %s=%s cannot be read: %s\n", what, path, strerror(errno));
		return NULL;
	}
	enum { SECRET_MAX = 64 * 1024 };
	char *buf = malloc(SECRET_MAX + 1);
	if (!buf)
		abort();
	size_t n = fread(buf, 1, SECRET_MAX + 1, f);
	int err = ferror(f) ? errno : 0;
	fclose(f);
	if (err || n > SECRET_MAX) {
		fprintf(stderr, "wattle: %s=%s cannot be read: %s\n", what, path,
			err ? strerror(err) : "longer than 64 KiB");
		free(buf);
		return NULL;
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	if (!n || memchr(buf, 0, n)) {
		fprintf(stderr, "wattle: %s=%s is %s\n", what, path, n ? "not text (a NUL byte)" : "empty");
		free(buf);
		return NULL;
	}
	return buf;
}

static char *dup_or_die(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* Resolve every secret into secret_value. Returns 0, or -1 with a message naming the
 * variables (and the path) at fault. */
static int load_secrets(void)
{
	const char *cred_dir = getenv("CREDENTIALS_DIRECTORY");
	for (size_t i = 0; i < NSECRETS; i++) {
		free(secret_value[i]);
		secret_value[i] = NULL;
		const char *name = secrets[i].name;
		char file_var[64], cred[4096], what[80];
		snprintf(file_var, sizeof file_var, "%s_FILE", name);
		const char *v = getenv(name), *fv = getenv(file_var);
		if (v && !*v)
			v = NULL;
		if (fv && !*fv)
			fv = NULL;
		bool has_cred = false;
		if (cred_dir && *cred_dir) {
			snprintf(cred, sizeof cred, "%s/%s", cred_dir, name);
			has_cred = access(cred, F_OK) == 0;
		}
		if ((v != NULL) + (fv != NULL) + has_cred > 1) {
			char both[4300];
			snprintf(both, sizeof both, "%s%s%s%s%s", v ? name : "", v && fv ? " and " : "", fv ? file_var : "",
				 has_cred ? " and the systemd credential " : "", has_cred ? cred : "");
			fprintf(stderr, "wattle: %s are both set; give %s one way only\n", both, name);
			return -1;
		}
		if (v) {
			secret_value[i] = dup_or_die(v);
		} else if (fv) {
			if (secrets[i].path) {
				if (access(fv, R_OK)) {
					fprintf(stderr, "wattle: %s=%s cannot be read: %s\n", file_var, fv, strerror(errno));
					return -1;
				}
				secret_value[i] = dup_or_die(fv);
			} else if (!(secret_value[i] = read_secret(file_var, fv))) {
				return -1;
			}
		} else if (has_cred) {
			snprintf(what, sizeof what, "%s (systemd credential)", name);
			if (secrets[i].path) {
				if (access(cred, R_OK)) {
					fprintf(stderr, "wattle: %s=%s cannot be read: %s\n", what, cred, strerror(errno));
					return -1;
				}
				secret_value[i] = dup_or_die(cred);
			} else if (!(secret_value[i] = read_secret(what, cred))) {
				return -1;
			}
		}
	}
	return 0;
}

/* A secret's value (NULL when not given), after load_secrets. */
static const char *secret(const char *name)
{
	for (size_t i = 0; i < NSECRETS; i++)
		if (!strcmp(secrets[i].name, name))
			return secret_value[i];
	abort(); /* a name not in secrets[] is a bug here */
}

/* WATTLE_TRUSTED_PROXIES: comma-separated IPv4 addresses into c->trusted_proxies. */
static int trusted_proxies(struct config *c)
{
	const char *s = getenv("WATTLE_TRUSTED_PROXIES");
	if (!s || !*s)
		return 0;
	for (const char *p = s; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char one[INET_ADDRSTRLEN];
		struct in_addr a;
		while (n && *p == ' ')
			p++, n--;
		while (n && p[n - 1] == ' ')
			n--;
		if (n >= sizeof one || (memcpy(one, p, n), one[n] = 0, inet_pton(AF_INET, one, &a) != 1) ||
		    c->n_trusted_proxies == SRV_TRUSTED_PROXIES_MAX) {
			fprintf(stderr, "wattle: WATTLE_TRUSTED_PROXIES=%s must be up to %d IPv4 addresses, comma-separated"
					" (%.*s is not one)\n", s, SRV_TRUSTED_PROXIES_MAX, (int)n, p);
			return -1;
		}
		c->trusted_proxies[c->n_trusted_proxies++] = ntohl(a.s_addr);
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

/* An integer setting in [min, max], or def when unset. */
static int int_setting(const char *name, long long min, long long max, long long def, int64_t *out)
{
	const char *s = getenv(name);
	*out = def;
	if (!s || !*s)
		return 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end || v < min || v > max || s[0] == ' ') {
		fprintf(stderr, "wattle: %s=%s must be an integer from %lld to %lld\n", name, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A string setting (NULL when unset or empty). */
static const char *str_setting(const char *name)
{
	const char *s = getenv(name);
	return s && *s ? s : NULL;
}

int srv_config_load(struct config *c)
{
	memset(c, 0, sizeof *c);
	if (load_secrets() || trusted_proxies(c))
		return -1;
	c->database_url = secret("WATTLE_DATABASE_URL");
	if (!c->database_url)
		c->database_url = "";
	c->replica_url = secret("WATTLE_REPLICA_URL"); /* NULL: every read on the primary */
	snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
	c->listen_port = 8080;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	c->threads = n > 0 ? (unsigned)n : 2;
	c->body_max = 1 << 20;
	c->ingest_workers = 2;

	const char *l = getenv("WATTLE_LISTEN");
	if (l && *l) {
		const char *colon = strrchr(l, ':');
		unsigned long long port;
		if (!colon || (size_t)(colon - l) >= sizeof c->listen_host) {
			fprintf(stderr, "wattle: WATTLE_LISTEN=%s must be host:port (127.0.0.1:8080) or :port\n", l);
			return -1;
		}
		if (parse_uint("WATTLE_LISTEN port", colon + 1, 65535, &port))
			return -1;
		if (colon > l)
			snprintf(c->listen_host, sizeof c->listen_host, "%.*s", (int)(colon - l), l);
		c->listen_port = (uint16_t)port;
	}
	unsigned long long v;
	const char *t = getenv("WATTLE_THREADS");
	if (t && *t) {
		if (parse_uint("WATTLE_THREADS", t, 256, &v) || v == 0)
			return -1;
		c->threads = (unsigned)v;
	}
	const char *b = getenv("WATTLE_BODY_MAX");
	if (b && *b) {
		if (parse_uint("WATTLE_BODY_MAX", b, 1ull << 30, &v) || v < 1024)
			return -1;
		c->body_max = (size_t)v;
	}
	const char *iw = getenv("WATTLE_INGEST_WORKERS");
	if (iw && *iw) {
		if (parse_uint("WATTLE_INGEST_WORKERS", iw, 16, &v) || v == 0)
			return -1;
		c->ingest_workers = (unsigned)v;
	}
	const char *lv = getenv("WATTLE_LOG_LEVEL");
	if (lv && *lv) {
		static const char *const names[] = {"debug", "info", "warn", "error"};
		int found = 0;
		for (int i = 0; i < 4; i++)
			if (!strcmp(lv, names[i])) {
				srv_log_set_level((enum log_level)i);
				found = 1;
			}
		if (!found) {
			fprintf(stderr, "wattle: WATTLE_LOG_LEVEL must be debug, info, warn or error\n");
			return -1;
		}
	}
	if (srv_clock_init(getenv("WATTLE_CLOCK_SPEED"), getenv("WATTLE_CLOCK_START"), getenv("WATTLE_CLOCK_ANCHOR"))) {
		fprintf(stderr, "wattle: WATTLE_CLOCK_SPEED (1..1000000), WATTLE_CLOCK_START and WATTLE_CLOCK_ANCHOR"
				" (unix seconds) must be integers\n");
		return -1;
	}
	if (int_setting("WATTLE_CLOSE_DELAY_MIN", 0, 44640, 60, &c->close_delay_min) ||
	    int_setting("WATTLE_READINGS_KEEP_MONTHS", 0, 1200, 13, &c->keep_months) ||
	    int_setting("WATTLE_DISPATCH_LEASE_MS", 1000, 86400000, 60000, &c->dispatch.lease_ms) ||
	    int_setting("WATTLE_TOPUP_ORDER_TTL_S", 1, 31 * 86400, 1800, &c->pay.order_ttl_s) ||
	    int_setting("WATTLE_PAY_TIMEOUT_MS", 100, 120000, 10000, &c->pay.timeout_ms) ||
	    int_setting("WATTLE_PAY_QUERY_AFTER_S", 1, 3600, 30, &c->pay.query_after_s) ||
	    int_setting("WATTLE_RECONCILE_HOUR", 0, 24, 6, &c->pay.reconcile_hour) ||
	    int_setting("WATTLE_TENANT_MESSAGES_PER_HOUR", 1, 10000, 6, &c->dispatch.per_hour) ||
	    int_setting("WATTLE_SESSION_IDLE_S", 1, 30 * 86400, 1800, &c->session_idle_s) ||
	    int_setting("WATTLE_REPLICA_MAX_LAG_MS", 0, 86400000, 5000, &c->replica_max_lag_ms) ||
	    int_setting("WATTLE_REPLICA_CHECK_MS", 10, 60000, 1000, &c->replica_check_ms))
		return -1;
	int64_t per_key, per_addr, burst, fails, conns;
	if (int_setting("WATTLE_RATE_PER_KEY", 0, 1000000, 1000, &per_key) ||
	    int_setting("WATTLE_RATE_PER_ADDR", 0, 1000000, 0, &per_addr) ||
	    int_setting("WATTLE_RATE_BURST", 0, 10000000, 0, &burst) ||
	    int_setting("WATTLE_AUTH_FAILURES_PER_MIN", 0, 1000000, 10, &fails) ||
	    int_setting("WATTLE_MAX_CONN_PER_ADDR", 0, 100000, 256, &conns) ||
	    int_setting("WATTLE_IDLE_TIMEOUT_S", 1, 3600, 60, &c->idle_timeout_s) ||
	    int_setting("WATTLE_SSE_HEARTBEAT_S", 1, 3600, 15, &c->sse_heartbeat_s) ||
	    int_setting("WATTLE_SSE_MAX_CLIENTS", 1, 100000, 1000, &c->sse_max_clients) ||
	    int_setting("WATTLE_REQUEST_TIMEOUT_S", 1, 3600, 30, &c->request_timeout_s) ||
	    int_setting("WATTLE_HEADER_TIMEOUT_S", 1, 3600, 10, &c->header_timeout_s))
		return -1;
	c->limits.key = (struct srv_rate){per_key * 60, burst ? burst : 2 * per_key};
	c->limits.addr = (struct srv_rate){per_addr * 60, burst ? burst : 2 * per_addr};
	c->limits.auth_fail = (struct srv_rate){fails, 2 * fails};
	c->conn_per_addr = (unsigned)conns;
	const char *al = getenv("WATTLE_ALARMS");
	c->alarms = true;
	if (al && *al) {
		if (strcmp(al, "on") && strcmp(al, "off")) {
			fprintf(stderr, "wattle: WATTLE_ALARMS must be on or off\n");
			return -1;
		}
		c->alarms = !strcmp(al, "on");
	}
	c->dispatch.gateway_secret = secret("WATTLE_GATEWAY_SECRET");
	c->dispatch.sms_url = str_setting("WATTLE_SMS_URL");
	c->dispatch.sms_user = str_setting("WATTLE_SMS_USER");
	c->dispatch.sms_token = secret("WATTLE_SMS_TOKEN");
	c->dispatch.sms_from = str_setting("WATTLE_SMS_FROM");
	c->dispatch.notify_url = str_setting("WATTLE_NOTIFY_WEBHOOK_URL");
	c->dispatch.notify_secret = secret("WATTLE_NOTIFY_WEBHOOK_SECRET");
	c->dispatch.sms_provider = str_setting("WATTLE_SMS_PROVIDER");
	if (c->dispatch.sms_provider && strcmp(c->dispatch.sms_provider, "twilio") &&
	    strcmp(c->dispatch.sms_provider, "aliyun") && strcmp(c->dispatch.sms_provider, "tencent")) {
		fprintf(stderr, "wattle: WATTLE_SMS_PROVIDER=%s must be twilio, aliyun or tencent\n", c->dispatch.sms_provider);
		return -1;
	}
	c->dispatch.public_url = str_setting("WATTLE_PUBLIC_URL");
	c->pay.wx_apiv3_key = secret("WATTLE_WECHAT_APIV3_KEY");
	c->pay.wx_pubkey_path = str_setting("WATTLE_WECHAT_PLATFORM_PUBKEY");
	c->pay.wx_serial = str_setting("WATTLE_WECHAT_PLATFORM_SERIAL");
	c->pay.wx_mchid = str_setting("WATTLE_WECHAT_MCHID");
	c->pay.ali_pubkey_path = str_setting("WATTLE_ALIPAY_PUBKEY");
	c->pay.ali_app_id = str_setting("WATTLE_ALIPAY_APP_ID");
	c->pay.stripe_secret = secret("WATTLE_STRIPE_WEBHOOK_SECRET");
	c->pay.pay_url = str_setting("WATTLE_PAY_URL");
	c->pay.wx_api_base = str_setting("WATTLE_WECHAT_API_BASE");
	c->pay.wx_appid = str_setting("WATTLE_WECHAT_APPID");
	c->pay.wx_merchant_key_path = secret("WATTLE_WECHAT_MERCHANT_KEY");
	c->pay.wx_merchant_serial = str_setting("WATTLE_WECHAT_MERCHANT_SERIAL");
	c->pay.ali_gateway = str_setting("WATTLE_ALIPAY_GATEWAY");
	c->pay.ali_app_private_key_path = secret("WATTLE_ALIPAY_APP_PRIVATE_KEY");
	c->pay.stripe_api_base = str_setting("WATTLE_STRIPE_API_BASE");
	c->pay.stripe_secret_key = secret("WATTLE_STRIPE_SECRET_KEY");
	c->pay.public_url = str_setting("WATTLE_PUBLIC_URL");
	c->receipt_font = str_setting("WATTLE_RECEIPT_FONT");
	c->wechat_oa.appid = str_setting("WATTLE_WECHAT_OA_APPID");
	c->wechat_oa.secret = secret("WATTLE_WECHAT_OA_SECRET");
	c->wechat_oa.api_base = str_setting("WATTLE_WECHAT_OA_API_BASE");
	c->aliyun = (struct sms_aliyun_cfg){str_setting("WATTLE_ALIYUN_ACCESS_KEY_ID"),
					    secret("WATTLE_ALIYUN_ACCESS_KEY_SECRET"),
					    str_setting("WATTLE_ALIYUN_SMS_SIGN_NAME"), str_setting("WATTLE_ALIYUN_SMS_ENDPOINT"), 0};
	c->tencent = (struct sms_tencent_cfg){str_setting("WATTLE_TENCENT_SECRET_ID"), secret("WATTLE_TENCENT_SECRET_KEY"),
					      str_setting("WATTLE_TENCENT_SMS_SDK_APP_ID"),
					      str_setting("WATTLE_TENCENT_SMS_SIGN_NAME"),
					      str_setting("WATTLE_TENCENT_SMS_ENDPOINT"), str_setting("WATTLE_TENCENT_SMS_REGION"), 0};
	c->sms_callback_token = secret("WATTLE_SMS_CALLBACK_TOKEN");
	c->dispatch.sms_callback_token = c->sms_callback_token; /* Twilio's StatusCallback carries it */
	const char *dm = str_setting("WATTLE_SMS_DELIVERY");
	if (dm && strcmp(dm, "poll") && strcmp(dm, "callback")) {
		fprintf(stderr, "wattle: WATTLE_SMS_DELIVERY must be poll or callback\n");
		return -1;
	}
	c->sms_poll = dm && !strcmp(dm, "poll");
	if (int_setting("WATTLE_SMS_POLL_MS", 100, 3600000, 30000, &c->sms_poll_ms))
		return -1;
	return 0;
}
