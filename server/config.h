/* config.h: every WATTLE_* setting of the server, read from the environment and checked in
 * one place (config.c) before anything starts; modules are handed their part. */
#ifndef WATTLE_CONFIG_H
#define WATTLE_CONFIG_H

#include "api/api.h"
#include "server/dispatch.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/wechat_oa.h"
#include "server/sms.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config {
	const char *database_url; /* WATTLE_DATABASE_URL, libpq URL or key=value */
	const char *replica_url;  /* WATTLE_REPLICA_URL: a streaming replica for lists, reports and
				     consumption; NULL: none (every read on the primary) */
	int64_t replica_max_lag_ms; /* WATTLE_REPLICA_MAX_LAG_MS, default 5000: lagging more, reads go to the primary */
	int64_t replica_check_ms;   /* WATTLE_REPLICA_CHECK_MS, default 1000: how often the lag is measured */
	char listen_host[64];     /* WATTLE_LISTEN host part, default 127.0.0.1 */
	uint16_t listen_port;     /* WATTLE_LISTEN port part, default 8080 */
	unsigned threads;         /* WATTLE_THREADS, default: number of cores */
	size_t body_max;          /* WATTLE_BODY_MAX bytes, default 1 MiB */
	unsigned ingest_workers;  /* WATTLE_INGEST_WORKERS, group-commit workers, default 2 */
	int64_t close_delay_min;  /* WATTLE_CLOSE_DELAY_MIN, default 60 */
	int64_t keep_months;      /* WATTLE_READINGS_KEEP_MONTHS, default 13: raw readings kept for whole UTC
				     months after theirs ends (once closed); 0: forever */
	bool alarms;              /* WATTLE_ALARMS=on|off, default on */
	struct srv_limits limits; /* WATTLE_RATE_PER_KEY (default 1000/s), WATTLE_RATE_PER_ADDR (default off),
				     WATTLE_RATE_BURST (default twice the rate), WATTLE_AUTH_FAILURES_PER_MIN
				     (default 10, burst twice) */
	unsigned conn_per_addr;   /* WATTLE_MAX_CONN_PER_ADDR, default 256; 0 no limit */
	int64_t idle_timeout_s;   /* WATTLE_IDLE_TIMEOUT_S, default 60: a silent connection is closed */
	int64_t request_timeout_s; /* WATTLE_REQUEST_TIMEOUT_S, default 30: a body still arriving is cut off */
	int64_t sse_heartbeat_s;   /* WATTLE_SSE_HEARTBEAT_S, default 15: a comment on every event stream */
	int64_t sse_max_clients;   /* WATTLE_SSE_MAX_CLIENTS, default 1000: event streams per process */
	int64_t header_timeout_s;  /* WATTLE_HEADER_TIMEOUT_S, default 10: headers still arriving after their first byte are cut off */
	/* WATTLE_LOG_LEVEL and WATTLE_CLOCK_SPEED/_START/_ANCHOR are applied as they are read */
	struct srv_dispatch_cfg dispatch;  /* WATTLE_GATEWAY_SECRET, WATTLE_SMS_*, WATTLE_NOTIFY_WEBHOOK_*,
					    * WATTLE_DISPATCH_LEASE_MS */
	const char *receipt_font;         /* WATTLE_RECEIPT_FONT: the CJK TrueType font receipts' PDFs embed
					   * (".ttc,<index>" for a collection); NULL: Debian's WenQuanYi Zen Hei */
	struct sms_aliyun_cfg aliyun;     /* WATTLE_ALIYUN_ACCESS_KEY_ID, _ACCESS_KEY_SECRET, _SMS_SIGN_NAME, _SMS_ENDPOINT */
	struct sms_tencent_cfg tencent;   /* WATTLE_TENCENT_SECRET_ID, _SECRET_KEY, _SMS_SDK_APP_ID, _SMS_SIGN_NAME,
					   * _SMS_ENDPOINT, _SMS_REGION */
	const char *sms_callback_token;   /* WATTLE_SMS_CALLBACK_TOKEN: ?token= of the SMS delivery callbacks */
	bool sms_poll;                    /* WATTLE_SMS_DELIVERY=poll|callback (default callback) */
	int64_t sms_poll_ms;              /* WATTLE_SMS_POLL_MS, default 30000 */
	struct api_pay_settings pay;       /* WATTLE_WECHAT_*, WATTLE_ALIPAY_*, WATTLE_STRIPE_*,
					    * WATTLE_PAY_URL, WATTLE_TOPUP_ORDER_TTL_S */
	struct chan_wechat_cfg wechat_oa;  /* WATTLE_WECHAT_OA_APPID, _SECRET, _API_BASE */
	int64_t session_idle_s;            /* WATTLE_SESSION_IDLE_S, default 1800: an unused session expires */
	/* `wattle demo` only: the fixed sign-in code of one tenant phone, from `serve
	 * --demo-login-code PHONE:CODE` (never from the environment); NULL: none */
	const char *demo_phone, *demo_code;
	uint32_t trusted_proxies[SRV_TRUSTED_PROXIES_MAX]; /* WATTLE_TRUSTED_PROXIES: IPv4, host order; */
	unsigned n_trusted_proxies;                        /* their X-Real-IP is the client's address */
};

/* Fill from the environment (strings borrowed from it; a secret read from a file or a
 * systemd credential is held by config.c until the next load). Every secret (see
 * srv_config_secret_name) may be given as WATTLE_X, as WATTLE_X_FILE naming a file whose
 * content, trailing newlines cut, is the value, or as the credential
 * $CREDENTIALS_DIRECTORY/WATTLE_X: one of the three. Returns 0, or -1 with a message on
 * stderr naming the setting (and the file) and what it takes. */
int srv_config_load(struct config *c);

/* The settings srv_config_load reads, NULL-terminated (for `wattle help` and a test that
 * every WATTLE_* the code names is here). */
extern const char *const srv_config_names[];

/* The i-th secret setting's name (those with _FILE and credential forms), NULL past the last. */
const char *srv_config_secret_name(size_t i);

#endif
