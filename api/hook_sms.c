/* hook_sms.c: POST /v1/webhooks/sms/aliyun and /v1/webhooks/sms/tencent: the SMS
 * providers' delivery reports (Aliyun's SmsReport, Tencent's status callback: JSON arrays
 * of reports). The providers do not sign them, so the callback address configured at the
 * provider carries a secret of ours, ?token=<WATTLE_SMS_CALLBACK_TOKEN>, compared in constant
 * time (401 otherwise). A report moves only a notification wattle sent through that
 * provider, found by its message id (BizId, sid); an unknown id is ignored and counted. The
 * answer is the one each provider waits for: Aliyun {"code":0,"msg":"成功"}, Tencent
 * {"result":0,"errmsg":"OK"}. Also the delivery counters, which the polling worker
 * (server/sms_poll.c) and other carriers' callbacks share. */
#include "api/api.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/notes.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *sms_token; /* WATTLE_SMS_CALLBACK_TOKEN; NULL: reports are refused */

void api_sms_hooks_configure(const char *token) { sms_token = token && *token ? token : NULL; }

/* wattle_notification_delivery_total{channel,outcome} */
static const char *const delivery_labels[] = {
	"channel=\"sms\",outcome=\"delivered\"",    "channel=\"sms\",outcome=\"undelivered\"",
	"channel=\"wechat\",outcome=\"delivered\"", "channel=\"wechat\",outcome=\"undelivered\"",
};
static _Atomic uint64_t delivery_v[4];
static struct srv_counters delivery_counters = {
	"wattle_notification_delivery_total",
	"Delivery reports recorded for sent notifications (callbacks and polls), by channel and outcome.", 4,
	delivery_labels, delivery_v, NULL};

/* wattle_sms_reports_total{provider,outcome}: every report received, recorded or not */
static const char *const report_labels[] = {
	"provider=\"aliyun\",outcome=\"recorded\"", "provider=\"aliyun\",outcome=\"duplicate\"",
	"provider=\"aliyun\",outcome=\"unknown\"",  "provider=\"tencent\",outcome=\"recorded\"",
	"provider=\"tencent\",outcome=\"duplicate\"", "provider=\"tencent\",outcome=\"unknown\"",
	"provider=\"twilio\",outcome=\"recorded\"", "provider=\"twilio\",outcome=\"duplicate\"",
	"provider=\"twilio\",outcome=\"unknown\"",
};
static _Atomic uint64_t report_v[9];
static struct srv_counters report_counters = {
	"wattle_sms_reports_total",
	"SMS delivery reports received (callbacks and polls): recorded, a duplicate of one recorded, or for a message"
	" wattle did not send (ignored).",
	9, report_labels, report_v, NULL};

void api_register_statements_sms(void); /* routes.c calls it */
void api_register_statements_sms(void)
{
	store_notes_register();
	srv_counters_register(&delivery_counters);
	srv_counters_register(&report_counters);
}

void api_sms_report_count(const char *provider, const char *channel, enum note_delivery what, bool delivered)
{
	int base = !strcmp(provider, "tencent") ? 3 : !strcmp(provider, "twilio") ? 6 : 0;
	srv_counters_add(&report_counters, base + (int)what, 1);
	if (what == ND_RECORDED && channel)
		srv_counters_add(&delivery_counters, (!strcmp(channel, "wechat") ? 2 : 0) + (delivered ? 0 : 1), 1);
}

/* "YYYY-MM-DD HH:MM:SS" in China time (UTC+8, as both providers write it) as unix us; 0 when
 * it is not that shape. */
static int64_t china_time_us(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%d %H:%M:%S", &tm) : NULL;
	if (!end || *end)
		return 0;
	return ((int64_t)timegm(&tm) - 8 * 3600) * 1000000;
}

static bool token_ok(struct req *rq)
{
	if (!sms_token) {
		api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL, "WATTLE_SMS_CALLBACK_TOKEN is not set");
		return false;
	}
	const char *t = api_query(rq, "token");
	size_t n = strlen(sms_token);
	if (!t || strlen(t) != n || CRYPTO_memcmp(t, sms_token, n)) {
		api_error(rq, E_UNAUTHORIZED, NULL, "the report's token is not this server's");
		return false;
	}
	return true;
}

/* One report of provider: recorded (or ignored). 0, or -1 with the reply set. */
static int record(struct req *rq, PGconn *c, const char *provider, const char *id, bool delivered, const char *code,
		  int64_t at_us)
{
	enum note_delivery what;
	char channel[16] = "";
	enum db_status st = store_note_delivery(c, provider, id, delivered, code, at_us, srv_clock_now_us(), &what,
						channel);
	if (api_read_failed(rq, st))
		return -1;
	api_sms_report_count(provider, channel, what, delivered);
	if (what == ND_UNKNOWN)
		srv_log(LOG_INFO, "sms report: %s message %s is none wattle sent; ignored", provider, id);
	return 0;
}

/* The reports, an array of objects; *reports set, or NULL with the reply set. */
static json_t *reports(struct req *rq)
{
	json_t *j = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(j)) {
		api_error(rq, E_MALFORMED_JSON, NULL, "a delivery report is a JSON array of reports");
		json_decref(j);
		return NULL;
	}
	return j;
}

void api_hook_sms_aliyun(struct req *rq)
{
	if (!token_ok(rq))
		return;
	json_t *all = reports(rq);
	PGconn *c = all ? api_conn(rq) : NULL;
	if (!c)
		goto out;
	size_t i;
	json_t *r;
	json_array_foreach(all, i, r) {
		const char *biz = json_string_value(json_object_get(r, "biz_id"));
		json_t *ok = json_object_get(r, "success");
		if (!biz || !*biz || !json_is_boolean(ok)) {
			api_error(rq, E_INVALID_FIELD, json_pack("{s:s}", "field", "biz_id"),
				  "report %zu has no biz_id or success", i);
			goto out;
		}
		const char *code = json_string_value(json_object_get(r, "err_code"));
		if (record(rq, c, "aliyun", biz, json_is_true(ok), code,
			   china_time_us(json_string_value(json_object_get(r, "report_time")))))
			goto out;
	}
	api_reply(rq, 200, json_pack("{s:i, s:s}", "code", 0, "msg", "成功"));
out:
	json_decref(all);
}

void api_hook_sms_tencent(struct req *rq)
{
	if (!token_ok(rq))
		return;
	json_t *all = reports(rq);
	PGconn *c = all ? api_conn(rq) : NULL;
	if (!c)
		goto out;
	size_t i;
	json_t *r;
	json_array_foreach(all, i, r) {
		const char *sid = json_string_value(json_object_get(r, "sid"));
		const char *status = json_string_value(json_object_get(r, "report_status"));
		if (!sid || !*sid || !status || (strcmp(status, "SUCCESS") && strcmp(status, "FAIL"))) {
			api_error(rq, E_INVALID_FIELD, json_pack("{s:s}", "field", "sid"),
				  "report %zu has no sid or report_status SUCCESS|FAIL", i);
			goto out;
		}
		bool delivered = !strcmp(status, "SUCCESS");
		const char *errmsg = json_string_value(json_object_get(r, "errmsg"));
		if (record(rq, c, "tencent", sid, delivered, delivered ? "SUCCESS" : errmsg && *errmsg ? errmsg : "FAIL",
			   china_time_us(json_string_value(json_object_get(r, "user_receive_time")))))
			goto out;
	}
	api_reply(rq, 200, json_pack("{s:i, s:s}", "result", 0, "errmsg", "OK"));
out:
	json_decref(all);
}
