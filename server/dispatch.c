/* dispatch.c: the command and notification senders. */
#include "server/dispatch.h"
#include "core/crypto.h"
#include "core/buf.h"
#include "core/clock.h"
#include "store/outbox.h"
#include "store/msgtemplates.h"
#include "core/log.h"
#include "core/msgtext.h"
#include "api/metrics.h"
#include "server/channels.h"
#include "server/channels_config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The peers and the lease, set by srv_dispatch_start before the senders run. */
static struct srv_dispatch_cfg dcfg;

/* A claimed row is not claimed again for WATTLE_DISPATCH_LEASE_MS of real time (default
 * 60 s); sends time out after 10 s, well inside it. */
static int64_t lease_real_us(void) { return dcfg.lease_ms * 1000; }

static bool given(const char *s) { return s && *s; }
#define BATCH 50 /* rows claimed at once; a full claim means: claim again at once */
#define MAX_ATTEMPTS OUTBOX_MAX_ATTEMPTS

int64_t srv_backoff_us(int attempts, unsigned *seed)
{
	int64_t s = attempts >= 9 ? 300 : (INT64_C(1) << attempts);
	if (s > 300)
		s = 300;
	int64_t us = s * 1000000;
	int64_t jitter = us / 2 ? (int64_t)(rand_r(seed) % (unsigned)(us / 2)) - us / 4 : 0;
	return us + jitter;
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return s * n;
}

/* POST body to url; returns the HTTP status, or 0 with err set when nothing came back. */
static long post(CURL *h, const char *url, const char *ctype, const char *body,
		 const char *sig, const char *userpwd, char *err, size_t errn)
{
	struct curl_slist *hd = NULL;
	char ct[96], sg[200];
	snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
	hd = curl_slist_append(hd, ct);
	if (sig) {
		snprintf(sg, sizeof sg, "X-Wattle-Signature: %s", sig);
		hd = curl_slist_append(hd, sg);
	}
	hd = curl_slist_append(hd, "Expect:");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (userpwd)
		curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	long status = 0;
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(err, errn, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_slist_free_all(hd);
	return status;
}

struct sender {
	enum outbox box;
	const char *prefix; /* of the row's id in the log */
	/* Send one row; returns the HTTP status or 0 (err set). */
	long (*send)(CURL *h, const struct outbox_item *x, char *err, size_t errn);
};

static const char *str(const char *s) { return s ? s : ""; }

static long send_command(CURL *h, const struct outbox_item *x, char *err, size_t errn)
{
	const char *secret = dcfg.gateway_secret;
	if (!given(x->gateway)) {
		snprintf(err, errn, "meter %s has no gateway", x->serial);
		return 0;
	}
	char issued[40], id[32], url[600], sig[200];
	snprintf(id, sizeof id, "cmd_%lld", (long long)x->id);
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "command_id", id, "meter_serial", x->serial, "action",
			      x->action, "reason", str(x->reason), "issued_at",
			      srv_time_format(x->created_us, issued, sizeof issued));
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	snprintf(url, sizeof url, "%s/commands", x->gateway);
	if (given(secret))
		srv_sign(secret, srv_clock_now_us() / 1000000, body, sig, sizeof sig);
	long st = post(h, url, "application/json", body, given(secret) ? sig : NULL, NULL, err, errn);
	free(body);
	return st;
}

/* A control-room webhook row: the signed event feed, as it always was. */
static long send_note(CURL *h, const struct outbox_item *x, char *err, size_t errn)
{
	const char *url = dcfg.notify_url;
	const char *secret = dcfg.notify_secret;
	if (!given(url)) {
		snprintf(err, errn, "WATTLE_NOTIFY_WEBHOOK_URL is not set");
		return 0;
	}
	char sig[200];
	const char *body = str(x->payload_json);
	if (given(secret))
		srv_sign(secret, srv_clock_now_us() / 1000000, body, sig, sizeof sig);
	return post(h, url, "application/json", body, given(secret) ? sig : NULL, NULL, err, errn);
}

static const struct sender senders[2] = {
	{OUTBOX_COMMANDS, "cmd", send_command},
	{OUTBOX_NOTES, "ntf", send_note},
};

static const char *const box_name[2] = {"commands", "notifications"};

/* Messages suppressed by the limits, and carried, by channel and provider. */
static const char *const suppressed_labels[] = {"reason=\"limit\"", "reason=\"duplicate\""};
static _Atomic uint64_t suppressed_v[2];
static struct srv_counters suppressed = {"wattle_notifications_suppressed_total",
					 "Tenant messages not sent: over the hourly limit, or the same text again",
					 2, suppressed_labels, suppressed_v, NULL};
static const char *const carried_labels[] = {
	"channel=\"sms\",provider=\"twilio\"", "channel=\"sms\",provider=\"aliyun\"",
	"channel=\"sms\",provider=\"tencent\"", "channel=\"wechat\",provider=\"wechat\""};
static _Atomic uint64_t carried_v[4];
static struct srv_counters carried = {"wattle_messages_sent_total", "Messages a carrier took, by channel and provider",
				      4, carried_labels, carried_v, NULL};

#define DUP_WINDOW_US (INT64_C(10) * 60 * 1000000) /* the same event and text: once in 10 minutes */

/* A mapping {"<param>": "<variable or text>"} rendered in order (Tencent's positional keys
 * "1", "2", ... by number) with plain values; keys and values new in k[], v[] (max 20). */
static size_t render_params(const char *mapping_json, const struct msg_vars *v, const char *lang, char **k, char **val)
{
	json_t *m = mapping_json ? json_loads(mapping_json, 0, NULL) : NULL;
	size_t n = 0;
	const char *key;
	json_t *x;
	json_object_foreach(m, key, x) {
		if (n == 20 || !json_is_string(x))
			break;
		char buf[600];
		const char *s = json_string_value(x);
		if (!strchr(s, '{'))
			msg_var(v, s, lang, true, buf, sizeof buf);
		else
			msg_render(s, v, lang, true, buf, sizeof buf);
		k[n] = strdup(key);
		val[n] = strdup(buf);
		if (!k[n] || !val[n])
			abort();
		n++;
	}
	json_decref(m);
	bool numeric = n > 0;
	for (size_t i = 0; i < n; i++)
		numeric = numeric && strspn(k[i], "0123456789") == strlen(k[i]);
	for (size_t i = 1; numeric && i < n; i++) /* insertion sort by number */
		for (size_t j = i; j > 0 && atoll(k[j - 1]) > atoll(k[j]); j--) {
			char *t = k[j];
			k[j] = k[j - 1];
			k[j - 1] = t;
			t = val[j];
			val[j] = val[j - 1];
			val[j - 1] = t;
		}
	return n;
}

static void free_params(char **k, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(k[i]);
		free(v[i]);
	}
}

/* Why the channels passed a message on, for last_error: "wechat: no openid; sms: ...". */
static void why_add(char *why, size_t n, const char *channel, const char *reason)
{
	size_t used = strlen(why);
	snprintf(why + used, n - used, "%s%s: %s", used ? "; " : "", channel, reason);
}

/* One tenant's (or the duty phone's) message: render it for the language and each channel,
 * admit it against the limits, and carry it on the first channel that takes it. */
static void deliver_message(PGconn *c, CURL *h, const struct outbox_item *x, unsigned *seed)
{
	char event[32] = "", audience[8] = "";
	int64_t site_id = 0;
	struct msg_vars v;
	bool vars = msg_payload_read(x->payload_json, event, audience, &site_id, &v) == 0;
	bool duty = vars && !strcmp(audience, "duty");
	bool login = !strcmp(x->kind, "login_code");
	int64_t tenant = duty ? 0 : x->tenant_id;
	struct note_route r = {0};
	struct msg_template tpl = {0};
	bool has_tpl = false;
	enum db_status st = DB_OK;
	if (vars) {
		st = store_note_route(c, tenant, site_id, v.entry_id, &r);
		if (st == DB_OK && r.found) {
			snprintf(v.receipt_no, sizeof v.receipt_no, "%s", r.receipt_no);
			if (msg_is_one_of(event, msg_events))
				st = store_msg_template_get(c, site_id, event, r.language, &tpl, &has_tpl);
		}
	} else { /* a message with no templates (malicious_load_cut): its English text, by SMS */
		snprintf(r.language, sizeof r.language, "en");
		snprintf(r.channels, sizeof r.channels, "sms");
		snprintf(r.phone, sizeof r.phone, "%s", str(x->recipient));
		r.found = true;
	}
	if (st != DB_OK) {
		db_conn_reset();
		goto out; /* the lease runs out; tried again */
	}
	/* a tenant's sign-in code goes by SMS to the phone it was asked for, past the limits (a
	 * tenant who had six messages this hour still signs in; two codes are two texts) */
	if (duty || login) {
		snprintf(r.channels, sizeof r.channels, "sms");
		snprintf(r.phone, sizeof r.phone, "%s", str(x->recipient));
	}
	char text[1600];
	const char *free_text = has_tpl && tpl.text ? tpl.text : msg_default_text(event, r.language);
	if (vars && free_text)
		msg_render(free_text, &v, r.language, false, text, sizeof text);
	else
		snprintf(text, sizeof text, "%s", str(x->body));
	struct note_result res = {.body = text, .language = r.language};
	if (!r.found) {
		res.error = "no such tenant or site";
		store_note_dead_now(c, x->id, &res);
		goto out;
	}
	if (tenant && !login) { /* the limits: when the text is known */
		bool admitted;
		char why[200];
		if (store_note_admit(x->id, tenant, x->kind, text, r.language, (int)dcfg.per_hour, "cut_off", DUP_WINDOW_US,
				     srv_clock_now_us(), &admitted, why, sizeof why) != DB_OK)
			goto out;
		if (!admitted) {
			if (why[0] && strcmp(why, "no longer pending")) {
				srv_counters_add(&suppressed, strstr(why, "same message") ? 1 : 0, 1);
				srv_log(LOG_INFO, "notifications: ntf_%lld to ten_%lld suppressed: %s", (long long)x->id,
					(long long)tenant, why);
			}
			goto out;
		}
	}
	char why[600] = "";
	bool refused = false, not_configured = false;
	struct chan_outcome last = {0};
	const char *last_channel = NULL, *last_provider = NULL;
	char chans[40];
	snprintf(chans, sizeof chans, "%s", r.channels);
	for (char *save = NULL, *ch = strtok_r(chans, ",", &save); ch; ch = strtok_r(NULL, ",", &save)) {
		bool wechat = !strcmp(ch, "wechat");
		const struct chan_carrier *car = wechat ? &chan_wechat : chan_sms();
		const char *to = wechat ? r.openid : r.phone;
		const char *tid = wechat ? (has_tpl ? tpl.wechat_template : NULL) : (has_tpl ? tpl.sms_template : NULL);
		if (!to[0]) {
			why_add(why, sizeof why, ch, wechat ? "the tenant has no openid" : "no phone");
			continue;
		}
		if (!car->configured()) {
			why_add(why, sizeof why, ch, wechat ? "WeChat is not configured" : "the SMS provider is not configured");
			not_configured = true;
			continue;
		}
		if (car != &chan_twilio && !given(tid)) {
			char b[120];
			snprintf(b, sizeof b, "no %s template for %s in %s", car->name, event[0] ? event : x->kind, r.language);
			why_add(why, sizeof why, ch, b);
			continue;
		}
		char *keys[20], *vals[20];
		size_t np = 0;
		if (car != &chan_twilio && vars)
			np = render_params(wechat ? tpl.wechat_fields_json : tpl.sms_params_json, &v, r.language, keys, vals);
		char url[400] = "";
		if (wechat && given(dcfg.public_url) && tenant)
			snprintf(url, sizeof url, "%s/tenants/ten_%lld", dcfg.public_url, (long long)tenant);
		struct chan_msg m = {x->id, to, r.language, text, car == &chan_twilio ? NULL : tid,
				     (const char *const *)keys, (const char *const *)vals, np, url[0] ? url : NULL};
		struct chan_outcome o;
		int64_t t0 = srv_mono_us();
		enum chan_result cr = car->send(h, &m, &o);
		int64_t ms = (srv_mono_us() - t0) / 1000;
		free_params(keys, vals, np);
		c = db_conn(); /* the WeChat carrier may have replaced a lost connection (wechat_oa.h) */
		if (!c)
			goto out;
		store_outbox_attempt(c, OUTBOX_NOTES, x->id, srv_clock_now_us(), o.http_status, o.message, ms);
		res.channel = wechat ? "wechat" : "sms";
		res.provider = car->name;
		res.recipient = to;
		res.code = o.code;
		res.error = o.message;
		if (cr == CH_SENT) {
			res.provider_msg_id = o.provider_msg_id;
			store_note_sent_via(c, x->id, srv_clock_now_us(), &res);
			for (int k = 0; k < 4; k++)
				if (strstr(carried_labels[k], car->name) && strstr(carried_labels[k], res.channel))
					srv_counters_add(&carried, k, 1);
			goto out;
		}
		if (cr == CH_RETRY) {
			char err[400];
			snprintf(err, sizeof err, "%s%s%s", o.code[0] ? o.code : "", o.code[0] ? ": " : "", o.message);
			res.error = err;
			store_note_retry_via(c, x->id, srv_clock_now_us() + srv_backoff_us(x->attempts, seed), MAX_ATTEMPTS, &res);
			srv_log(x->attempts >= MAX_ATTEMPTS ? LOG_ERROR : LOG_WARN, "notifications: ntf_%lld attempt %d via %s: %s%s",
				(long long)x->id, x->attempts, car->name, err, x->attempts >= MAX_ATTEMPTS ? " (giving up)" : "");
			goto out;
		}
		/* refused, or not on this channel: the next one at once */
		refused = refused || cr == CH_REFUSED;
		last = o;
		last_channel = res.channel;
		last_provider = car->name;
		char b[400];
		snprintf(b, sizeof b, "%s %s%s%s", car->name, cr == CH_REFUSED ? "refused " : "passed ",
			 o.code[0] ? o.code : "", o.message[0] ? (o.code[0] ? ": " : "") : "");
		size_t bl = strlen(b);
		snprintf(b + bl, sizeof b - bl, "%s", o.message);
		why_add(why, sizeof why, ch, b);
	}
	res.channel = last_channel;
	res.provider = last_provider;
	res.code = last.code;
	res.error = why;
	if (!refused && not_configured) { /* settings can be fixed: tried again, as before */
		store_note_retry_via(c, x->id, srv_clock_now_us() + srv_backoff_us(x->attempts, seed), MAX_ATTEMPTS, &res);
		srv_log(LOG_WARN, "notifications: ntf_%lld attempt %d: %s", (long long)x->id, x->attempts, why);
	} else { /* refused for good, or no channel can carry it: dead at once */
		store_note_dead_now(c, x->id, &res);
		srv_log(LOG_ERROR, "notifications: ntf_%lld dead: %s", (long long)x->id, why);
	}
out:
	/* a sign-in code sent (or given up on) is not kept in the outbox: only its hash stays */
	if (login && (c = db_conn()) && store_note_redact(c, x->id) != DB_OK)
		db_conn_reset();
	free(tpl.sms_template);
	free(tpl.sms_params_json);
	free(tpl.wechat_template);
	free(tpl.wechat_fields_json);
	free(tpl.text);
}

static int round_once(const struct sender *s, CURL *h, unsigned *seed)
{
	PGconn *c = db_conn();
	if (!c)
		return 0;
	struct outbox_item *x; /* autocommit: the claim (the lease) is durable before anything is sent */
	int n;
	if (store_outbox_claim(c, s->box, srv_clock_now_us(), lease_real_us() * srv_clock_speed(), BATCH, &x, &n) !=
	    DB_OK) {
		db_conn_reset();
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (s->box == OUTBOX_NOTES && strcmp(x[i].channel, "webhook")) {
			deliver_message(c, h, &x[i], seed);
			if (!(c = db_conn())) /* taken again: a carrier may have replaced it */
				break;
			continue;
		}
		char err[CURL_ERROR_SIZE + 64] = "";
		int64_t t0 = srv_mono_us();
		long status = s->send(h, &x[i], err, sizeof err);
		int64_t ms = (srv_mono_us() - t0) / 1000;
		int attempts = x[i].attempts;
		store_outbox_attempt(c, s->box, x[i].id, srv_clock_now_us(), status, err, ms);
		if (status >= 200 && status < 300) {
			store_outbox_sent(c, s->box, x[i].id, srv_clock_now_us());
		} else {
			if (status)
				snprintf(err, sizeof err, "HTTP %ld", status);
			store_outbox_retry(c, s->box, x[i].id, srv_clock_now_us() + srv_backoff_us(attempts, seed),
					   MAX_ATTEMPTS, err);
			srv_log(attempts >= MAX_ATTEMPTS ? LOG_ERROR : LOG_WARN, "%s: %s_%lld attempt %d: %s%s",
				box_name[s->box], s->prefix, (long long)x[i].id, attempts, err,
				attempts >= MAX_ATTEMPTS ? " (giving up)" : "");
		}
	}
	store_outbox_items_free(x, n);
	return n;
}

/* A sender's per-thread state: its libcurl handle and its jitter's seed. */
struct sender_state {
	CURL *h;
	unsigned seed;
};

void *srv_dispatch_open(void)
{
	struct sender_state *s = calloc(1, sizeof *s);
	if (!s || !(s->h = curl_easy_init()))
		abort();
	s->seed = (unsigned)srv_mono_us();
	return s;
}

void srv_dispatch_close(void *state)
{
	struct sender_state *s = state;
	if (!s)
		return;
	curl_easy_cleanup(s->h);
	free(s);
}

int srv_dispatch_commands_tick(void *state)
{
	struct sender_state *s = state;
	return round_once(&senders[0], s->h, &s->seed) == BATCH;
}

int srv_dispatch_notes_tick(void *state)
{
	struct sender_state *s = state;
	return round_once(&senders[1], s->h, &s->seed) == BATCH;
}

void srv_dispatch_configure(const struct srv_dispatch_cfg *cfg)
{
	dcfg = *cfg;
	if (dcfg.lease_ms < 1000)
		dcfg.lease_ms = 1000;
	if (dcfg.per_hour <= 0)
		dcfg.per_hour = 6;
	char cb[600] = "";
	if (given(dcfg.public_url) && given(dcfg.sms_callback_token))
		snprintf(cb, sizeof cb, "%s/v1/webhooks/sms/twilio?token=%s", dcfg.public_url, dcfg.sms_callback_token);
	static char callback[600];
	memcpy(callback, cb, sizeof cb);
	struct chan_twilio_cfg tw = {dcfg.sms_url, dcfg.sms_user, dcfg.sms_token, dcfg.sms_from,
				     callback[0] ? callback : NULL};
	chan_twilio_configure(&tw);
	if (chan_sms_choose(dcfg.sms_provider)) /* config.c refused it before */
		abort();
	srv_counters_register(&suppressed);
	srv_counters_register(&carried);
}
