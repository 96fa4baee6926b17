/* uplink.c: wattle over HTTP (libcurl). The sender posts the queue's acks, then its
 * readings in batches, oldest first, deleting each only after wattle's 2xx; anything else
 * (wattle down, 5xx, 429, a refused key) is retried with backoff and nothing is dropped.
 * The puller long-polls GET /v1/commands?state=pending&wait_s=25 with the gateway's key
 * (wattle answers the moment a command for one of its meters is queued) and hands each
 * command to the lanes or the MQTT side. Every request says the gateway's version and
 * queue depth, which wattle shows on GET /v1/gateways/{id}. */
#include "gateway/gw.h"
#include "core/buf.h"
#include "core/clock.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef WATTLE_VERSION
#define WATTLE_VERSION "dev"
#endif

_Atomic uint64_t gw_sent_readings, gw_rejected_readings, gw_posts_failed, gw_acks_sent, gw_commands_in;

static struct gw_config *cfg;
static gw_exec_fn exec_cmd;
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kicked, stop;
	pthread_t sender, puller;
	bool pulling;
} U = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, 0, false};

void gw_uplink_kick(void)
{
	pthread_mutex_lock(&U.mu);
	U.kicked = true;
	pthread_cond_signal(&U.cv);
	pthread_mutex_unlock(&U.mu);
}

/* Sleep up to ms, or until kicked (when wake_on_kick) or stopped. */
static void nap(int64_t ms, bool wake_on_kick)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
	ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_mutex_lock(&U.mu);
	while (!U.stop && !(wake_on_kick && U.kicked))
		if (pthread_cond_timedwait(&U.cv, &U.mu, &ts))
			break;
	if (wake_on_kick)
		U.kicked = false;
	pthread_mutex_unlock(&U.mu);
}

static bool stopping(void)
{
	pthread_mutex_lock(&U.mu);
	bool s = U.stop;
	pthread_mutex_unlock(&U.mu);
	return s;
}

struct answer {
	long status;
	int64_t retry_after_s;
	struct srv_buf body;
	char err[CURL_ERROR_SIZE];
};

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	size_t len = size * n;
	if (len > 12 && !strncasecmp(p, "Retry-After:", 12))
		a->retry_after_s = strtoll(p + 12, NULL, 10);
	return len;
}

/* libcurl asks this during a transfer: a long poll in progress is cut when stopping. */
static int abort_on_stop(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ud;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return stopping();
}

/* One request to wattle; a->status 0 when nothing came back (a->err says why). */
static void call(CURL *h, const char *method, const char *path, const char *body, long timeout_s, struct answer *a)
{
	char url[600], auth[200], depth[64];
	snprintf(url, sizeof url, "%s%s", cfg->url, path);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->key);
	snprintf(depth, sizeof depth, "X-Wattle-Queue-Depth: %lld", (long long)gw_queue_depth());
	struct curl_slist *hd = curl_slist_append(NULL, auth);
	hd = curl_slist_append(hd, depth);
	hd = curl_slist_append(hd, "X-Wattle-Gateway-Version: wattle-gateway/" WATTLE_VERSION);
	hd = curl_slist_append(hd, "Expect:");
	if (body)
		hd = curl_slist_append(hd, "Content-Type: application/json");
	memset(a, 0, sizeof *a);
	srv_buf_putn(&a->body, "", 0);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "wattle-gateway/" WATTLE_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, srv_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->err);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	else { /* a GET is the long poll: it may wait 25 s, and stopping must not */
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
	}
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	else if (!a->err[0])
		snprintf(a->err, sizeof a->err, "%s", curl_easy_strerror(rc));
	curl_slist_free_all(hd);
}

/* The readings wattle refused for good (energy_regressed, unknown_meter, forbidden_meter,
 * ...): logged with their meters, counted; they leave the queue with the rest. */
static void log_rejected(const char *sent, json_t *rejected)
{
	size_t n = json_array_size(rejected);
	if (!n)
		return;
	atomic_fetch_add(&gw_rejected_readings, n);
	json_t *body = json_loads(sent, 0, NULL);
	json_t *rd = json_object_get(body, "readings");
	size_t i;
	json_t *r;
	int shown = 0;
	json_array_foreach(rejected, i, r) {
		if (shown++ == 5)
			break;
		json_t *one = json_array_get(rd, (size_t)json_integer_value(json_object_get(r, "index")));
		gw_log("warn", "wattle refused a reading of meter %s at %s: %s (%s)",
		       json_string_value(json_object_get(one, "meter")), json_string_value(json_object_get(one, "ts")),
		       json_string_value(json_object_get(r, "code")), json_string_value(json_object_get(r, "message")));
	}
	if (n > 5)
		gw_log("warn", "wattle refused %zu more readings of that batch", n - 5);
	json_decref(body);
}

/* Backoff after a failure: 1 s doubling to 8 s (one request in 8 s costs wattle nothing,
 * and the backlog starts moving soon after it is back), or what Retry-After says. */
static int64_t backoff_ms(int fails, int64_t retry_after_s)
{
	if (retry_after_s > 0)
		return (retry_after_s > 300 ? 300 : retry_after_s) * 1000;
	int64_t ms = 1000;
	for (int i = 1; i < fails && ms < 8000; i++)
		ms *= 2;
	return ms;
}

/* Send the acks, then one batch of readings. 1 when there may be more, 0 when the queue is
 * empty, -1 on a failure (*ra the Retry-After). */
static int send_some(CURL *h, int64_t *ra)
{
	char id[32], path[96];
	char *json;
	struct answer a;
	while (gw_queue_ack_peek(id, sizeof id, &json)) {
		snprintf(path, sizeof path, "/v1/commands/%s/ack", id);
		call(h, "POST", path, json, 15, &a);
		free(json);
		/* 2xx: taken; 409: answered before (by this ack, sent twice); 404/403: wattle will
		 * never take it (a command of another gateway, or gone): logged and dropped */
		if ((a.status >= 200 && a.status < 300) || a.status == 409 || a.status == 404 || a.status == 403) {
			if (a.status >= 400)
				gw_log("warn", "wattle answered %ld to the ack of %s: %s", a.status, id, a.body.p);
			gw_queue_ack_drop(id);
			atomic_fetch_add(&gw_acks_sent, 1);
			srv_buf_free(&a.body);
			continue;
		}
		gw_log("warn", "ack of %s not delivered (%s); retrying", id, a.status ? a.body.p : a.err);
		*ra = a.retry_after_s;
		srv_buf_free(&a.body);
		atomic_fetch_add(&gw_posts_failed, 1);
		return -1;
	}
	struct srv_buf b = {0};
	PUT_LIT(&b, "{\"readings\":[");
	int64_t last = 0;
	int n = gw_queue_peek(cfg->batch, &last, &b);
	if (!n) {
		srv_buf_free(&b);
		return 0;
	}
	PUT_LIT(&b, "]}");
	call(h, "POST", "/v1/readings", b.p, 60, &a);
	int rc;
	if (a.status == 200) {
		json_t *j = json_loads(a.body.p, 0, NULL);
		log_rejected(b.p, json_object_get(j, "rejected"));
		json_decref(j);
		gw_queue_drop(last);
		atomic_fetch_add(&gw_sent_readings, (uint64_t)n);
		rc = n == cfg->batch;
	} else {
		gw_log(a.status >= 400 && a.status < 500 && a.status != 429 ? "error" : "warn",
		       "%d readings not delivered (%s%s%s); kept, retrying", n, a.status ? "HTTP " : "",
		       a.status ? "" : a.err, a.status ? a.body.p : "");
		*ra = a.retry_after_s;
		atomic_fetch_add(&gw_posts_failed, 1);
		rc = -1;
	}
	srv_buf_free(&a.body);
	srv_buf_free(&b);
	return rc;
}

static void *sender(void *arg)
{
	(void)arg;
	CURL *h = curl_easy_init();
	int fails = 0;
	while (!stopping()) {
		int64_t ra = 0;
		int rc = send_some(h, &ra);
		if (rc > 0) {
			fails = 0;
			continue;
		}
		if (rc < 0) {
			nap(backoff_ms(++fails, ra), false);
			continue;
		}
		fails = 0;
		nap(1000, true);
	}
	/* stopping: what is queued goes now if wattle takes it (a few seconds at most); what
	 * it does not take stays on disk for the next start */
	gw_queue_flush();
	int64_t until = srv_mono_us() + 3000000, ra = 0;
	while (srv_mono_us() < until && send_some(h, &ra) > 0)
		;
	curl_easy_cleanup(h);
	return NULL;
}

static void *puller(void *arg)
{
	(void)arg;
	CURL *h = curl_easy_init();
	int fails = 0;
	while (!stopping()) {
		struct answer a;
		int64_t t0 = srv_mono_us();
		call(h, "GET", "/v1/commands?state=pending&wait_s=25", NULL, 40, &a);
		if (a.status != 200) {
			if (fails++ % 10 == 0)
				gw_log("warn", "commands: long poll failed (%s%s); retrying", a.status ? "" : a.err,
				       a.status ? a.body.p : "");
			srv_buf_free(&a.body);
			nap(backoff_ms(fails, a.retry_after_s), false);
			continue;
		}
		fails = 0;
		json_t *j = json_loads(a.body.p, 0, NULL);
		srv_buf_free(&a.body);
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(j, "items"), i, x) {
			struct gw_cmd c;
			const char *id = json_string_value(json_object_get(x, "id"));
			const char *serial = json_string_value(json_object_get(x, "serial"));
			const char *action = json_string_value(json_object_get(x, "action"));
			if (!id || !serial || !action || strlen(id) >= sizeof c.id || strlen(serial) >= sizeof c.serial ||
			    strlen(action) >= sizeof c.action)
				continue;
			snprintf(c.id, sizeof c.id, "%s", id);
			snprintf(c.serial, sizeof c.serial, "%s", serial);
			snprintf(c.action, sizeof c.action, "%s", action);
			atomic_fetch_add(&gw_commands_in, 1);
			exec_cmd(&c);
		}
		/* an empty answer at once (a wattle that does not wait): ask again in a second,
		 * not in a loop */
		int64_t ms = (srv_mono_us() - t0) / 1000;
		if (!json_array_size(json_object_get(j, "items")) && ms < 1000)
			nap(1000 - ms, false);
		json_decref(j);
	}
	curl_easy_cleanup(h);
	return NULL;
}

void gw_uplink_start(struct gw_config *c, gw_exec_fn exec)
{
	cfg = c;
	exec_cmd = exec;
	if (pthread_create(&U.sender, NULL, sender, NULL))
		abort();
	U.pulling = !strcmp(c->commands, "pull");
	if (U.pulling && pthread_create(&U.puller, NULL, puller, NULL))
		abort();
}

void gw_uplink_stop(void)
{
	pthread_mutex_lock(&U.mu);
	U.stop = true;
	pthread_cond_broadcast(&U.cv);
	pthread_mutex_unlock(&U.mu);
	pthread_join(U.sender, NULL);
	if (U.pulling) /* its long poll is cut by abort_on_stop */
		pthread_join(U.puller, NULL);
}

void gw_ack(const char *command_id, bool executed, const char *relay, const char *detail)
{
	json_t *b = json_pack("{s:s}", "result", executed ? "executed" : "failed");
	if (relay && *relay)
		json_object_set_new(b, "relay", json_string(relay));
	if (detail && *detail)
		json_object_set_new(b, "detail", json_stringn(detail, strlen(detail) > 500 ? 500 : strlen(detail)));
	char *s = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	gw_queue_ack(command_id, s);
	gw_log(executed ? "info" : "warn", "command %s %s%s%s%s%s", command_id, executed ? "executed" : "failed",
	       relay ? ", relay " : "", relay ? relay : "", detail && *detail ? ": " : "", detail ? detail : "");
	free(s);
}

char *gw_reading_json(const char *serial, int64_t ts_us, const struct gw_decoded *values, const bool *have,
		      const char *relay)
{
	struct srv_buf b = {0};
	char ts[40];
	PUT_LIT(&b, "{\"meter\":");
	srv_buf_json_str(&b, serial);
	PUT_LIT(&b, ",\"ts\":\"");
	srv_buf_puts(&b, srv_time_format(ts_us, ts, sizeof ts));
	PUT_LIT(&b, "\",\"energy_wh\":");
	srv_buf_i64(&b, values[GF_ENERGY].wh);
	for (int f = 1; f < GF__COUNT; f++) {
		if (!have[f])
			continue;
		srv_buf_printf(&b, ",\"%s\":", gw_field_names[f]);
		if (f == GF_HARM_V || f == GF_HARM_I) {
			for (int k = 0; k < GW_HARMONICS; k++)
				srv_buf_printf(&b, "%c%.4g", k ? ',' : '[', values[f].xs[k]);
			srv_buf_putc(&b, ']');
		} else if (f == GF_POWER)
			srv_buf_i64(&b, (int64_t)(values[f].x < 0 ? values[f].x - 0.5 : values[f].x + 0.5));
		else
			srv_buf_printf(&b, "%.6g", values[f].x);
	}
	if (relay && *relay) {
		PUT_LIT(&b, ",\"relay\":");
		srv_buf_json_str(&b, relay);
	}
	srv_buf_putc(&b, '}');
	return b.p;
}
