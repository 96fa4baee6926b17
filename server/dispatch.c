/* dispatch.c: the command and notification senders. */
#include "server/dispatch.h"
#include "core/crypto.h"
#include "core/buf.h"
#include "core/clock.h"
#include "store/db.h"
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
#define STR(x) #x
#define XSTR(x) STR(x)
#define MAX_ATTEMPTS 8

static const struct db_stmt dispatch_stmts[] = {
	{"cmd_claim", /* claim: the oldest due command of each meter whose earlier ones are sent */
	 "UPDATE commands c SET next_attempt_at = " SQL_TS("$1") " + $2 * interval '1 microsecond',"
	 " attempts = c.attempts + 1 FROM meters m"
	 " WHERE c.id IN (SELECT c2.id FROM commands c2 WHERE c2.state = 'pending'"
	 "  AND c2.next_attempt_at <= " SQL_TS("$1") " AND NOT EXISTS (SELECT 1 FROM commands c3"
	 "  WHERE c3.meter_id = c2.meter_id AND c3.state = 'pending' AND c3.id < c2.id)"
	 "  ORDER BY c2.id LIMIT " XSTR(BATCH) " FOR UPDATE SKIP LOCKED)"
	 " AND m.id = c.meter_id"
	 " RETURNING c.id, m.serial, c.action, c.reason, " SQL_US("c.created_at") ", coalesce(m.gateway, ''), c.attempts"},
	{"cmd_sent", "UPDATE commands SET state = 'sent', sent_at = " SQL_TS("$2") " WHERE id = $1 AND state = 'pending'"},
	{"cmd_retry", /* attempts used up: failed */
	 "UPDATE commands SET next_attempt_at = " SQL_TS("$2") ","
	 " state = CASE WHEN attempts >= $3 THEN 'failed' ELSE state END,"
	 " detail = $4 WHERE id = $1 AND state = 'pending'"},
	{"note_claim",
	 "UPDATE notifications n SET next_attempt_at = " SQL_TS("$1") " + $2 * interval '1 microsecond',"
	 " attempts = n.attempts + 1"
	 " WHERE n.id IN (SELECT id FROM notifications WHERE state = 'pending'"
	 "  AND next_attempt_at <= " SQL_TS("$1") " ORDER BY id LIMIT " XSTR(BATCH) " FOR UPDATE SKIP LOCKED)"
	 " RETURNING n.id, n.channel, coalesce(n.recipient, ''), n.body, n.payload::text, n.attempts"},
	{"note_sent", "UPDATE notifications SET state = 'sent', sent_at = " SQL_TS("$2") " WHERE id = $1 AND state = 'pending'"},
	{"note_retry",
	 "UPDATE notifications SET next_attempt_at = " SQL_TS("$2") ","
	 " state = CASE WHEN attempts >= $3 THEN 'dead' ELSE state END,"
	 " last_error = $4 WHERE id = $1 AND state = 'pending'"},
	{"attempt_log",
	 "INSERT INTO delivery_attempts (outbox, item_id, at, http_status, error, duration_ms)"
	 " VALUES ($1, $2, " SQL_TS("$3") ", $4, $5, $6)"},
	{0, 0},
};

void srv_dispatch_register(void) { db_register(dispatch_stmts); }

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
	const char *outbox, *claim, *sent, *retry, *failed_state;
	/* Send row i; returns the HTTP status or 0 (err set). */
	long (*send)(CURL *h, const PGresult *r, int i, char *err, size_t errn);
};

static long send_command(CURL *h, const PGresult *r, int i, char *err, size_t errn)
{
	const char *gateway = PQgetvalue(r, i, 5);
	const char *secret = dcfg.gateway_secret;
	if (!*gateway) {
		snprintf(err, errn, "meter %s has no gateway", PQgetvalue(r, i, 1));
		return 0;
	}
	char issued[40], id[32], url[600], sig[200];
	snprintf(id, sizeof id, "cmd_%s", PQgetvalue(r, i, 0));
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "command_id", id, "meter_serial",
			      PQgetvalue(r, i, 1), "action", PQgetvalue(r, i, 2), "reason",
			      PQgetvalue(r, i, 3), "issued_at",
			      srv_time_format(db_int64(r, i, 4), issued, sizeof issued));
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	snprintf(url, sizeof url, "%s/commands", gateway);
	if (secret && *secret)
		srv_sign(secret, srv_clock_now_us() / 1000000, body, sig, sizeof sig);
	long st = post(h, url, "application/json", body, secret && *secret ? sig : NULL, NULL, err, errn);
	free(body);
	return st;
}

static long send_note(CURL *h, const PGresult *r, int i, char *err, size_t errn)
{
	const char *channel = PQgetvalue(r, i, 1);
	if (!strcmp(channel, "sms")) {
		const char *url = dcfg.sms_url;
		if (!given(url)) {
			snprintf(err, errn, "WATTLE_SMS_URL is not set");
			return 0;
		}
		char *to = curl_easy_escape(h, PQgetvalue(r, i, 2), 0);
		char *from = curl_easy_escape(h, given(dcfg.sms_from) ? dcfg.sms_from : "wattle", 0);
		char *text = curl_easy_escape(h, PQgetvalue(r, i, 3), 0);
		struct srv_buf form = {0};
		srv_buf_printf(&form, "To=%s&From=%s&Body=%s", to, from, text);
		curl_free(to);
		curl_free(from);
		curl_free(text);
		char userpwd[300];
		snprintf(userpwd, sizeof userpwd, "%s:%s", dcfg.sms_user ? dcfg.sms_user : "",
			 dcfg.sms_token ? dcfg.sms_token : "");
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
	const char *body = PQgetvalue(r, i, 4);
	if (secret && *secret)
		srv_sign(secret, srv_clock_now_us() / 1000000, body, sig, sizeof sig);
	return post(h, url, "application/json", body, secret && *secret ? sig : NULL, NULL, err, errn);
}

static const struct sender senders[2] = {
	{"commands", "cmd_claim", "cmd_sent", "cmd_retry", "failed", send_command},
	{"notifications", "note_claim", "note_sent", "note_retry", "dead", send_note},
};


static void record(PGconn *c, const struct sender *s, const char *id, long status,
		   const char *err, int64_t ms)
{
	char now[24], st[24], dur[24];
	snprintf(now, sizeof now, "%lld", (long long)srv_clock_now_us());
	snprintf(st, sizeof st, "%ld", status);
	snprintf(dur, sizeof dur, "%lld", (long long)ms);
	const char *p[6] = {s->outbox, id, now, status ? st : NULL, status ? NULL : err, dur};
	PGresult *r;
	db_exec(c, "attempt_log", 6, p, &r);
	PQclear(r);
}

static int round_once(const struct sender *s, CURL *h, unsigned *seed)
{
	PGconn *c = db_conn();
	if (!c)
		return 0;
	char now[24], lease[24];
	snprintf(now, sizeof now, "%lld", (long long)srv_clock_now_us());
	snprintf(lease, sizeof lease, "%lld", (long long)(lease_real_us() * srv_clock_speed()));
	const char *p[2] = {now, lease};
	PGresult *r; /* autocommit: the claim (the lease) is durable before anything is sent */
	if (db_exec(c, s->claim, 2, p, &r) != DB_OK) {
		PQclear(r);
		db_conn_reset();
		return 0;
	}
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		char err[CURL_ERROR_SIZE + 64] = "";
		int64_t t0 = srv_mono_us();
		long status = s->send(h, r, i, err, sizeof err);
		int64_t ms = (srv_mono_us() - t0) / 1000;
		const char *id = PQgetvalue(r, i, 0);
		int attempts = (int)db_int64(r, i, PQnfields(r) - 1);
		record(c, s, id, status, err, ms);
		PGresult *u;
		char when[24], max[8];
		snprintf(when, sizeof when, "%lld", (long long)srv_clock_now_us());
		if (status >= 200 && status < 300) {
			const char *q[2] = {id, when};
			db_exec(c, s->sent, 2, q, &u);
		} else {
			if (status)
				snprintf(err, sizeof err, "HTTP %ld", status);
			snprintf(when, sizeof when, "%lld", (long long)(srv_clock_now_us() + srv_backoff_us(attempts, seed)));
			snprintf(max, sizeof max, "%d", MAX_ATTEMPTS);
			const char *q[4] = {id, when, max, err};
			db_exec(c, s->retry, 4, q, &u);
			srv_log(attempts >= MAX_ATTEMPTS ? LOG_ERROR : LOG_WARN, "%s: %s_%s attempt %d: %s%s",
				s->outbox, s->outbox[0] == 'c' ? "cmd" : "ntf", id, attempts, err,
				attempts >= MAX_ATTEMPTS ? " (giving up)" : "");
		}
		PQclear(u);
	}
	PQclear(r);
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
