/* dispatch.c: the command and notification senders. */
#include "server/dispatch.h"
#include "core/crypto.h"
#include "core/buf.h"
#include "core/clock.h"
#include "store/outbox.h"
#include "core/log.h"

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

static long send_note(CURL *h, const struct outbox_item *x, char *err, size_t errn)
{
	if (!strcmp(x->channel, "sms")) {
		const char *url = dcfg.sms_url;
		if (!given(url)) {
			snprintf(err, errn, "WATTLE_SMS_URL is not set");
			return 0;
		}
		char *to = curl_easy_escape(h, str(x->recipient), 0);
		char *from = curl_easy_escape(h, given(dcfg.sms_from) ? dcfg.sms_from : "wattle", 0);
		char *text = curl_easy_escape(h, str(x->body), 0);
		struct srv_buf form = {0};
		srv_buf_printf(&form, "To=%s&From=%s&Body=%s", to, from, text);
		curl_free(to);
		curl_free(from);
		curl_free(text);
		char userpwd[300];
		snprintf(userpwd, sizeof userpwd, "%s:%s", str(dcfg.sms_user), str(dcfg.sms_token));
		long st = post(h, url, "application/x-www-form-urlencoded", form.p, NULL, userpwd, err, errn);
		srv_buf_free(&form);
		return st;
	}
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
}
