/* sms_twilio.c: SMS through Twilio's Messages API (and any Twilio-style endpoint:
 * WATTLE_SMS_URL): a form POST To, From, Body (free text: Twilio takes no templates), HTTP
 * Basic with the account sid and auth token, and StatusCallback when wattle has a public
 * address for Twilio's status reports (api/hook_twilio.c). The answer is read: 2xx with the
 * message's "sid" is sent; 429 and 5xx are tried again; any other 4xx is Twilio's refusal
 * with its "code" (21211 invalid number, 21610 unsubscribed, ...): retrying cannot fix it. */
#include "server/channels.h"
#include "server/channels_config.h"
#include "core/buf.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static struct chan_twilio_cfg tw;

void chan_twilio_configure(const struct chan_twilio_cfg *c) { tw = *c; }

static bool given(const char *s) { return s && *s; }

static bool twilio_configured(void) { return given(tw.url); }

static size_t keep(char *p, size_t s, size_t n, void *ud)
{
	struct srv_buf *b = ud;
	if (b->len < 65536)
		srv_buf_putn(b, p, s * n);
	return s * n;
}

static enum chan_result twilio_send(CURL *h, const struct chan_msg *m, struct chan_outcome *o)
{
	memset(o, 0, sizeof *o);
	if (!twilio_configured()) {
		snprintf(o->message, sizeof o->message, "WATTLE_SMS_URL is not set");
		return o->result = CH_FALLBACK;
	}
	char *to = curl_easy_escape(h, m->to ? m->to : "", 0);
	char *from = curl_easy_escape(h, given(tw.from) ? tw.from : "wattle", 0);
	char *text = curl_easy_escape(h, m->text ? m->text : "", 0);
	struct srv_buf form = {0}, answer = {0};
	srv_buf_printf(&form, "To=%s&From=%s&Body=%s", to, from, text);
	if (given(tw.status_callback)) {
		char *cb = curl_easy_escape(h, tw.status_callback, 0);
		srv_buf_printf(&form, "&StatusCallback=%s", cb);
		curl_free(cb);
	}
	curl_free(to);
	curl_free(from);
	curl_free(text);
	char userpwd[300];
	snprintf(userpwd, sizeof userpwd, "%s:%s", given(tw.user) ? tw.user : "", given(tw.token) ? tw.token : "");
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	hd = curl_slist_append(hd, "Expect:");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, tw.url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form.p);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o->http_status);
	else
		snprintf(o->message, sizeof o->message, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_slist_free_all(hd);
	srv_buf_free(&form);
	json_t *j = answer.p ? json_loadb(answer.p, answer.len, 0, NULL) : NULL;
	srv_buf_free(&answer);
	json_t *code = json_object_get(j, "code"), *msg = json_object_get(j, "message");
	if (json_is_integer(code))
		snprintf(o->code, sizeof o->code, "%lld", (long long)json_integer_value(code));
	else if (json_is_string(code))
		snprintf(o->code, sizeof o->code, "%s", json_string_value(code));
	if (json_is_string(msg))
		snprintf(o->message, sizeof o->message, "%s", json_string_value(msg));
	long st = o->http_status;
	if (st >= 200 && st < 300) {
		const char *sid = json_string_value(json_object_get(j, "sid"));
		snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "%s", sid ? sid : "");
		o->result = CH_SENT;
	} else if (st == 0 || st == 429 || st >= 500) {
		if (st && !json_is_string(msg))
			snprintf(o->message, sizeof o->message, "HTTP %ld", st);
		o->result = CH_RETRY;
		o->throttled = st == 429; /* 20429: the account's concurrency or rate */
	} else {
		if (!json_is_string(msg))
			snprintf(o->message, sizeof o->message, "HTTP %ld", st);
		o->result = CH_REFUSED;
	}
	json_decref(j);
	return o->result;
}

const struct chan_carrier chan_twilio = {"twilio", twilio_send, twilio_configured};
