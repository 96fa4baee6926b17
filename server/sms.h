/* sms.h: the settings of the Aliyun and Tencent Cloud SMS carriers (chan_aliyun,
 * chan_tencent of channels.h), and their delivery reports asked by polling (Aliyun
 * QuerySendDetails, Tencent PullSmsSendStatus) for server/sms_poll.c. */
#ifndef WATTLE_SMS_H
#define WATTLE_SMS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* WATTLE_ALIYUN_*; strings borrowed for the server's life (NULL: not set). */
struct sms_aliyun_cfg {
	const char *key_id, *key_secret; /* WATTLE_ALIYUN_ACCESS_KEY_ID, _SECRET */
	const char *sign_name;           /* WATTLE_ALIYUN_SMS_SIGN_NAME */
	const char *endpoint;            /* WATTLE_ALIYUN_SMS_ENDPOINT, default https://dysmsapi.aliyuncs.com */
	int64_t timeout_ms;              /* 0: 10000 */
};
/* WATTLE_TENCENT_*; likewise. */
struct sms_tencent_cfg {
	const char *secret_id, *secret_key; /* WATTLE_TENCENT_SECRET_ID, _KEY */
	const char *sdk_app_id;             /* WATTLE_TENCENT_SMS_SDK_APP_ID */
	const char *sign_name;              /* WATTLE_TENCENT_SMS_SIGN_NAME */
	const char *endpoint;               /* WATTLE_TENCENT_SMS_ENDPOINT, default https://sms.tencentcloudapi.com */
	const char *region;                 /* WATTLE_TENCENT_SMS_REGION, default ap-guangzhou */
	int64_t timeout_ms;                 /* 0: 10000 */
};

/* Set a carrier's settings (copied; strings borrowed) before it sends. Either may be called
 * again (the tests do); not while a send runs. */
void chan_aliyun_configure(const struct sms_aliyun_cfg *c);
void chan_tencent_configure(const struct sms_tencent_cfg *c);

/* What the two carriers share (sms_http.c): the authority of url ("host[:port]") into out,
 * and one POST of body (may be "") with headers hl (taken: freed here) under timeout_ms
 * (0: 10000); the answer's body into ans. Returns the HTTP status, or 0 with o->message set
 * (when o is not NULL) when no answer came. */
struct srv_buf;
struct chan_outcome;
void sms_url_host(const char *url, char *out, size_t n);
long sms_post(CURL *h, const char *url, struct curl_slist *hl, const char *body, int64_t timeout_ms,
	      struct srv_buf *ans, struct chan_outcome *o);

/* What a provider said became of one message. */
struct sms_report {
	char msg_id[128];  /* Aliyun BizId, Tencent SerialNo */
	char phone[40];
	bool delivered;    /* false: undelivered */
	char code[64];     /* the carrier's code: Aliyun ErrCode ("DELIVERED"), Tencent "SUCCESS" or its errmsg */
	int64_t at_s;      /* when the handset got it (or the failure was known), unix s; 0: unknown */
};

/* Aliyun QuerySendDetails for one message: 1 when it is settled (*r filled), 0 when it is
 * still waiting or unknown, -1 when the call failed. send_date is "YYYYMMDD" (China time). */
int sms_aliyun_query(CURL *h, const char *phone, const char *biz_id, const char *send_date, struct sms_report *r);
/* Tencent PullSmsSendStatus: up to max reports not pulled before (each report is handed out
 * once, as Tencent does) into r[]; how many, or -1 when the call failed. */
int sms_tencent_pull(CURL *h, struct sms_report *r, int max);

#endif
