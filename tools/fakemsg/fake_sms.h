/* fake_sms.h: local fakes of Aliyun's Dysmsapi (SendSms, QuerySendDetails) and Tencent
 * Cloud's SMS API 3.0 (SendSms, PullSmsSendStatus), for the tests, the bench and the demo.
 * Each recomputes the request's signature from the request as it arrived (Aliyun: the V3
 * canonical request from the query arguments and the signed headers received, and the body's
 * SHA-256; Tencent: TC3 with the date-scoped key over the received Content-Type, Host and
 * body), checks the time window (Aliyun 15 min, Tencent 5 min), the access key, the sign
 * name and (Tencent) the SDK app id, that the template is one the test registered and that
 * the parameters match it, and answers as the provider does: refusals of the request in the
 * provider's error shape, refusals of the message in its result codes, throttling when told.
 * It keeps every message it accepted, settles them (delivered or not) when told, answers the
 * providers' status queries, and posts their status reports to a callback URL. */
#ifndef WATTLE_FAKE_SMS_H
#define WATTLE_FAKE_SMS_H

#include "peer/peer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FAKE_SMS_MAX_PARAMS 8

/* An approved template. Aliyun: its parameters by name; Tencent: by count (names ignored). */
struct fake_sms_tpl {
	char code[64];
	int nparams;
	char names[FAKE_SMS_MAX_PARAMS][32];
};

enum fake_sms_state { FS_SENT, FS_DELIVERED, FS_FAILED };

/* A message the fake accepted. */
struct fake_sms_msg {
	char phone[40], tpl[64], msg_id[64], out_id[64];
	char params[1024]; /* Aliyun: the TemplateParam JSON as received; Tencent: the TemplateParamSet as JSON */
	int64_t sent_s, settled_s;
	enum fake_sms_state state;
	char err_code[64]; /* when settled: DELIVERED / DELIVRD, or the failure's code */
	bool pulled;       /* Tencent: handed out by PullSmsSendStatus */
};

struct fakesms {
	char provider[8]; /* "aliyun" or "tencent" */
	struct peer *peer;
	int port;
	pthread_mutex_t mu; /* guards everything below */
	char key_id[64], secret[128], sign_name[64], app_id[32];
	struct fake_sms_tpl tpls[32];
	int ntpls;
	struct fake_sms_msg *msgs;
	int nmsgs, msgs_cap;
	char fail_code[80]; /* answer the next fail_n sends with this code (refusal or throttling) */
	int fail_n;
	int delay_ms;           /* answer every request this much later */
	unsigned refused;       /* requests refused for a failed check (signature, key, time) */
	char last_refusal[256]; /* why the last was refused */
	unsigned sends, queries; /* send and status requests that passed the checks */
	char nonces[64][40];    /* Aliyun: the last signature nonces (a reused one is refused) */
	unsigned nnonce;
	unsigned seq;
};

/* Start provider's fake ("aliyun": key_id is the AccessKeyId, secret the AccessKeySecret;
 * "tencent": the SecretId and SecretKey, app_id the SmsSdkAppId) on a free port of
 * 127.0.0.1. NULL when it cannot listen. */
struct fakesms *fakesms_start(const char *provider, const char *key_id, const char *secret, const char *sign_name,
			      const char *app_id);
void fakesms_stop(struct fakesms *f); /* NULL: nothing */
/* "http://127.0.0.1:<port>" into buf, for WATTLE_ALIYUN_SMS_ENDPOINT / WATTLE_TENCENT_SMS_ENDPOINT. */
const char *fakesms_base(const struct fakesms *f, char *buf, size_t n);

/* Approve a template with nparams parameters (Aliyun: named names[0..nparams)). */
void fakesms_template(struct fakesms *f, const char *code, int nparams, const char *const *names);
/* Answer the next n sends with code (Aliyun: isv.BUSINESS_LIMIT_CONTROL, isv.MOBILE_NUMBER_ILLEGAL...;
 * Tencent: LimitExceeded.PhoneNumberThirtySecondLimit, FailedOperation.PhoneNumberInBlacklist go in
 * SendStatusSet, RequestLimitExceeded and the rest in Response.Error), in the provider's shape. */
void fakesms_fail_next(struct fakesms *f, const char *code, int n);
void fakesms_delay(struct fakesms *f, int ms);

/* The accepted messages: how many, and the i-th copied into *out (-1: none). */
int fakesms_count(struct fakesms *f);
int fakesms_msg(struct fakesms *f, int i, struct fake_sms_msg *out);
unsigned fakesms_refused(struct fakesms *f);

/* The handset reported msg_id delivered (or failed with code): status queries say so from
 * now on. 0, or -1 when there is no such message. */
int fakesms_settle(struct fakesms *f, const char *msg_id, bool delivered, const char *code);
/* Settle and POST the provider's status report of msg_id to url (Aliyun SmsReport, Tencent
 * callback, both JSON arrays of one). The HTTP status of the answer (0: none); *answer, when
 * not NULL, the answer's body (new: caller frees). */
long fakesms_report(struct fakesms *f, const char *msg_id, bool delivered, const char *code, const char *url,
		    char **answer);

/* For the provider files, under f->mu: */
struct fake_sms_tpl *fake_sms_tpl_find(struct fakesms *f, const char *code);
struct fake_sms_msg *fake_sms_msg_add(struct fakesms *f); /* zeroed */
struct fake_sms_msg *fake_sms_msg_find(struct fakesms *f, const char *msg_id);
void fake_sms_refuse(struct fakesms *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The fail code for this send, consumed (NULL: none). Copied into out[80]. */
const char *fake_sms_take_fail(struct fakesms *f, char out[80]);

/* The providers' halves (called with f->mu not held). */
void fake_aliyun(struct fakesms *f, const struct peer_request *r, struct peer_reply *out);
void fake_tencent(struct fakesms *f, const struct peer_request *r, struct peer_reply *out);
/* Their report bodies for one message (new JSON text: caller frees), under f->mu. */
char *fake_aliyun_report(const struct fake_sms_msg *m);
char *fake_tencent_report(const struct fake_sms_msg *m);

#endif
