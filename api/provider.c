/* provider.c: the exchange with a payment provider over libcurl, and the dispatch of
 * provider.h's calls to the provider's file. */
#include "api/provider.h"
#include "api/queue.h"
#include "core/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

static const struct prov_ops *const ops[PROV__COUNT] = {&prov_wechat_ops, &prov_alipay_ops, &prov_stripe_ops};

const char *prov_result_name(enum prov_result r)
{
	static const char *const names[] = {"ok", "refused", "timeout", "error"};
	return (unsigned)r < sizeof names / sizeof *names ? names[r] : "error";
}

bool prov_enabled(enum pay_provider p) { return (unsigned)p < PROV__COUNT && pay_cfg.out[p]; }

int prov_fail(struct prov_status *st, enum prov_result result, long http_status, const char *code, const char *fmt,
	      ...)
{
	st->result = result;
	st->http_status = http_status;
	snprintf(st->code, sizeof st->code, "%s", code ? code : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof st->message, fmt, ap);
	va_end(ap);
	return -1;
}

static void ok(struct prov_status *st) { memset(st, 0, sizeof *st); }

void prov_nonce(char out[33])
{
	unsigned char raw[16];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		abort();
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* ---- the exchange ---- */

struct sink {
	char *p;
	size_t n, cap;
};

static size_t sink_put(char *data, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t add = size * nmemb;
	if (s->n + add + 1 > (size_t)64 << 20) /* a bill may be large; nothing is larger than this */
		return 0;
	if (s->n + add + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->n + add + 1)
			cap *= 2;
		char *p = realloc(s->p, cap);
		if (!p)
			abort();
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->n, data, add);
	s->n += add;
	s->p[s->n] = 0;
	return add;
}

/* One handle per thread, so that a worker's or an HTTP thread's connection to a provider
 * stays open between calls; cleaned up when the thread ends. */
static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;

static void handle_free(void *h) { curl_easy_cleanup(h); }
static void handle_key_make(void)
{
	if (pthread_key_create(&handle_key, handle_free))
		abort();
}

static CURL *thread_handle(void)
{
	pthread_once(&handle_once, handle_key_make);
	CURL *h = pthread_getspecific(handle_key);
	if (!h) {
		if (!(h = curl_easy_init()) || pthread_setspecific(handle_key, h))
			abort();
	}
	return h;
}

int prov_http(const struct prov_http *rq, struct prov_http_reply *out, struct prov_status *st)
{
	memset(out, 0, sizeof *out);
	ok(st);
	CURL *h = thread_handle();
	curl_easy_reset(h);
	struct curl_slist *hs = NULL;
	for (size_t i = 0; rq->headers && rq->headers[i]; i++)
		hs = curl_slist_append(hs, rq->headers[i]);
	/* WeChat refuses a request without User-Agent and Accept; libcurl sends no User-Agent. */
	hs = curl_slist_append(hs, "User-Agent: wattle/" WATTLE_VERSION);
	bool has_accept = false;
	for (size_t i = 0; rq->headers && rq->headers[i]; i++)
		has_accept |= !strncasecmp(rq->headers[i], "Accept:", 7);
	if (!has_accept)
		hs = curl_slist_append(hs, "Accept: application/json");
	hs = curl_slist_append(hs, "Expect:");
	struct sink body = {0}, head = {0};
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, pay_cfg.timeout_ms > 0 ? pay_cfg.timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, pay_cfg.timeout_ms > 0 ? pay_cfg.timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_put);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, sink_put);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &head);
	if (!strcmp(rq->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
	} else if (strcmp(rq->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hs);
	if (rc != CURLE_OK) {
		free(body.p);
		free(head.p);
		/* the URL is not logged whole: a query string may carry an access token */
		return prov_fail(st, rc == CURLE_OPERATION_TIMEDOUT ? PR_TIMEOUT : PR_ERROR, 0,
				 rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport", "%s",
				 curl_easy_strerror(rc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = body.p ? body.p : strdup("");
	out->body_len = body.n;
	out->headers = head.p ? head.p : strdup("");
	if (!out->body || !out->headers)
		abort();
	st->http_status = out->status;
	return 0;
}

void prov_http_reply_free(struct prov_http_reply *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

const char *prov_http_header(const struct prov_http_reply *r, const char *name, char *buf, size_t n)
{
	size_t len = strlen(name);
	/* A redirect or 100 leaves several blocks: the last one wins. */
	const char *found = NULL;
	for (const char *line = r->headers; line && *line;) {
		const char *end = strstr(line, "\r\n");
		size_t l = end ? (size_t)(end - line) : strlen(line);
		if (l > len && line[len] == ':' && !strncasecmp(line, name, len)) {
			const char *v = line + len + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = l - (size_t)(v - line);
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			snprintf(buf, n, "%.*s", (int)vl, v);
			found = buf;
		}
		line = end ? end + 2 : line + l;
	}
	return found;
}

/* ---- the provider-call threads ---- */

struct call_job {
	struct srv_job q;
	struct req *rq;
	void (*fn)(struct req *, void *);
	void *arg;
};

static struct srv_queue calls = SRV_QUEUE_INIT;

static void call_batch(struct srv_job *batch)
{
	for (struct call_job *j = (struct call_job *)batch, *next; j; j = next) {
		next = (struct call_job *)j->q.next;
		j->fn(j->rq, j->arg);
		api_complete(j->rq);
		free(j);
	}
}

void api_provider_calls_start(unsigned workers) { srv_queue_start(&calls, workers, 1, call_batch); }
void api_provider_calls_stop(void) { srv_queue_stop(&calls); }
void api_provider_calls_queue(int *jobs)
{
	int w;
	srv_queue_depth(&calls, jobs, &w);
}

void prov_offload(struct req *rq, void (*fn)(struct req *, void *), void *arg)
{
	struct call_job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	*j = (struct call_job){{NULL, 1}, rq, fn, arg};
	if (srv_queue_push(&calls, &j->q, api_defer_hook, rq))
		return; /* a provider-call thread answers */
	free(j);
	fn(rq, arg);
}

/* ---- dispatch ---- */

static int off(enum pay_provider p, struct prov_status *st)
{
	return prov_fail(st, PR_ERROR, 0, "not_configured", "%s API credentials are not configured",
			 (unsigned)p < PROV__COUNT ? pay_provider_names[p] : "?");
}

#define CALL(p, st, fn, ...) (!prov_enabled(p) || !ops[p]->fn ? off(p, st) : (ok(st), ops[p]->fn(__VA_ARGS__, st)))

int prov_order_create(enum pay_provider p, const struct prov_order_req *rq, struct prov_order *out,
		      struct prov_status *st)
{
	memset(out, 0, sizeof *out);
	return CALL(p, st, order_create, rq, out);
}

int prov_order_query(enum pay_provider p, const char *out_trade_no, const char *provider_ref,
		     struct prov_trade *out, struct prov_status *st)
{
	memset(out, 0, sizeof *out);
	return CALL(p, st, order_query, out_trade_no, provider_ref, out);
}

int prov_order_close(enum pay_provider p, const char *out_trade_no, const char *provider_ref,
		     struct prov_status *st)
{
	return CALL(p, st, order_close, out_trade_no, provider_ref);
}

int prov_refund(enum pay_provider p, const struct prov_refund_req *rq, struct prov_refund *out,
		struct prov_status *st)
{
	memset(out, 0, sizeof *out);
	return CALL(p, st, refund, rq, out);
}

int prov_refund_query(enum pay_provider p, const struct prov_refund_req *rq, struct prov_refund *out,
		      struct prov_status *st)
{
	memset(out, 0, sizeof *out);
	return CALL(p, st, refund_query, rq, out);
}

int prov_bill(enum pay_provider p, const char *date, int64_t from_s, int64_t to_s, struct prov_bill_line **lines,
	      size_t *n, struct prov_status *st)
{
	*lines = NULL;
	*n = 0;
	return CALL(p, st, bill, date, from_s, to_s, lines, n);
}
