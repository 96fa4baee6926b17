/* hook_twilio.c: POST /v1/webhooks/sms/twilio?token=..., Twilio's message status callback
 * (the StatusCallback wattle gives with each send: server/sms_twilio.c). A form with
 * MessageSid, MessageStatus and, for a failure, ErrorCode. Twilio signs its callbacks with
 * the account's auth token over the URL; wattle instead gives the callback address a secret
 * token of its own (WATTLE_SMS_CALLBACK_TOKEN), compared in constant time, and a report
 * only moves a message wattle sent (by provider 'twilio' and the sid it answered; the first
 * report stands: store/notes.h). The
 * statuses queued, sending and sent move nothing; delivered moves it to delivered,
 * undelivered and failed to undelivered with the ErrorCode. */
#include "api/api.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/paysig.h"
#include "store/notes.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static const char *callback_token;

void api_twilio_hook_configure(const char *token) { callback_token = token && *token ? token : NULL; }

void api_hook_twilio(struct req *rq)
{
	const char *token = api_query(rq, "token");
	if (!callback_token || !token || strlen(token) != strlen(callback_token) ||
	    CRYPTO_memcmp(token, callback_token, strlen(token))) {
		api_error(rq, E_UNAUTHORIZED, NULL, "the callback token is missing or wrong");
		return;
	}
	struct bill_form f;
	if (bill_form_parse(rq->body ? rq->body : "", rq->body_len, &f)) {
		bill_form_free(&f);
		api_error(rq, E_INVALID_FIELD, NULL, "the body is not a well-formed form");
		return;
	}
	const char *sid = bill_form_get(&f, "MessageSid"), *status = bill_form_get(&f, "MessageStatus");
	const char *code = bill_form_get(&f, "ErrorCode");
	if (!sid || !*sid || !status || !*status) {
		bill_form_free(&f);
		api_error(rq, E_INVALID_FIELD, NULL, "a status callback needs MessageSid and MessageStatus");
		return;
	}
	const char *delivery = !strcmp(status, "delivered")                                ? "delivered"
			       : !strcmp(status, "undelivered") || !strcmp(status, "failed") ? "undelivered"
											       : NULL;
	if (!delivery) { /* queued, sending, sent, ...: not an outcome yet */
		bill_form_free(&f);
		api_reply(rq, 200, json_pack("{s:b}", "moved", 0));
		return;
	}
	PGconn *c = api_conn(rq);
	if (!c) {
		bill_form_free(&f);
		return;
	}
	enum note_delivery what = ND_UNKNOWN;
	char channel[16];
	int64_t now = srv_clock_now_us();
	enum db_status st = store_note_delivery(c, "twilio", sid, !strcmp(delivery, "delivered"), code, now, now, &what, channel);
	bool found = what != ND_UNKNOWN;
	if (api_read_failed(rq, st)) {
		bill_form_free(&f);
		return;
	}
	/* counted as the other carriers' reports: wattle_sms_reports_total and, recorded,
	 * wattle_notification_delivery_total{channel,outcome} */
	api_sms_report_count("twilio", channel, what, !strcmp(delivery, "delivered"));
	if (!found)
		api_error(rq, E_NOT_FOUND, NULL, "wattle sent no message %s through twilio", sid);
	bill_form_free(&f); /* sid points into it */
	if (!found)
		return;
	api_reply(rq, 200, json_pack("{s:b, s:s}", "moved", 1, "delivery", delivery));
}
