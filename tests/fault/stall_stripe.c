/* stall_stripe.c: the fault suite's payment provider: the Stripe fake (tools/fakepay,
 * fake_stripe.c, which checks what Stripe checks) on --port, stalling for its first
 * --stall-s seconds and then recovering. A Stripe call that arrives in the stall is done
 * (a Checkout Session is made) but its answer is held until the stall ends, so wattle's
 * WATTLE_PAY_TIMEOUT_MS runs out first: the session exists and wattle never heard of it.
 *
 * The suite plays the tenant through two paths of its own:
 *   POST /_fake/pay?out_trade_no=O&notify=1|0: the tenant pays the open session of order O
 *     (200 "txn amount", or 409 when it is not open); with notify=1 Stripe then sends
 *     checkout.session.completed, signed with --whsec, to --webhook, again every 200 ms
 *     until it is answered 200 (Stripe retries too); with notify=0 it never does, and only
 *     wattle's order query can find the payment.
 *   GET /_fake/paid: what Stripe holds as paid, a line "out_trade_no txn amount" each; the
 *     header X-Pending says how many notifications are not delivered yet, X-Refused how many
 *     of wattle's calls failed the fake's checks. */
#include "fakepay.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct fakepay *fake;
static double stall_until;
static const char *webhook, *whsec;
static volatile sig_atomic_t stop;

/* notifications to send, a list under mu */
struct note {
	struct note *next;
	char *body;
};
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct note *head, **tail = &head;
static unsigned pending;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* checkout.session.completed for trade t, as Stripe sends it (new). */
static char *event_json(const struct fake_trade *t, unsigned seq)
{
	char cur[4];
	for (int i = 0; i < 4; i++)
		cur[i] = (char)(t->currency[i] >= 'A' && t->currency[i] <= 'Z' ? t->currency[i] + 32 : t->currency[i]);
	char id[32];
	snprintf(id, sizeof id, "evt_fault_%u", seq);
	json_t *ev = json_pack("{s:s, s:s, s:s, s:I, s:{s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:{s:s}}}}", "id",
			       id, "object", "event", "type", "checkout.session.completed", "created",
			       (json_int_t)time(NULL), "data", "object", "id", t->ref, "object", "checkout.session",
			       "status", "complete", "payment_status", "paid", "payment_intent", t->txn, "amount_total",
			       (json_int_t)t->amount, "currency", cur, "client_reference_id", t->out_trade_no, "metadata",
			       "out_trade_no", t->out_trade_no);
	char *s = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	return s;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* POST body to the webhook with a fresh Stripe-Signature; the HTTP status, 0 for none. */
static long deliver(CURL *c, const char *body)
{
	char msg[8192], hex[65], h[160];
	long long t = (long long)time(NULL);
	int n = snprintf(msg, sizeof msg, "%lld.%s", t, body);
	unsigned char mac[32];
	unsigned ml = 0;
	HMAC(EVP_sha256(), whsec, (int)strlen(whsec), (unsigned char *)msg, (size_t)n, mac, &ml);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	snprintf(h, sizeof h, "Stripe-Signature: t=%lld,v1=%s", t, hex);
	struct curl_slist *hs = curl_slist_append(NULL, h);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, webhook);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	return status;
}

/* Stripe's sender: each notification until it is answered 200. */
static void *sender(void *arg)
{
	(void)arg;
	CURL *c = curl_easy_init();
	for (;;) {
		pthread_mutex_lock(&mu);
		while (!head && !stop)
			pthread_cond_wait(&cv, &mu);
		struct note *n = head;
		pthread_mutex_unlock(&mu);
		if (!n)
			break;
		long st;
		while ((st = deliver(c, n->body)) != 200 && !stop) {
			if (st >= 400 && st < 500 && st != 429)
				fprintf(stderr, "fault-stall-stripe: the webhook answered %ld to %.120s\n", st, n->body);
			usleep(200000);
		}
		pthread_mutex_lock(&mu);
		head = n->next;
		if (!head)
			tail = &head;
		pending--;
		pthread_mutex_unlock(&mu);
		free(n->body);
		free(n);
	}
	curl_easy_cleanup(c);
	return NULL;
}

static void pay(const struct peer_request *r, struct peer_reply *out)
{
	const char *otn = peer_query(r, "out_trade_no"), *notify = peer_query(r, "notify");
	char txn[64];
	struct fake_trade t;
	out->content_type = "text/plain";
	if (!otn || fakepay_pay(fake, otn, txn) || fakepay_trade(fake, otn, &t)) {
		out->status = 409;
		out->body = strdup("not open\n");
		return;
	}
	if (notify && !strcmp(notify, "1")) {
		static unsigned seq;
		struct note *n = calloc(1, sizeof *n);
		if (!n)
			abort();
		pthread_mutex_lock(&mu);
		n->body = event_json(&t, ++seq);
		*tail = n;
		tail = &n->next;
		pending++;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
	}
	char b[160];
	snprintf(b, sizeof b, "%s %lld\n", t.txn, (long long)t.amount);
	out->body = strdup(b);
}

static void paid(struct peer_reply *out)
{
	pthread_mutex_lock(&fake->mu);
	size_t cap = 160 * fake->ntrades + 1, n = 0;
	char *b = malloc(cap);
	char *h = malloc(64);
	if (!b || !h)
		abort();
	b[0] = 0;
	for (size_t i = 0; i < fake->ntrades; i++) {
		const struct fake_trade *t = &fake->trades[i];
		if (t->state == FT_PAID)
			n += (size_t)snprintf(b + n, cap - n, "%s %s %lld\n", t->out_trade_no, t->txn, (long long)t->amount);
	}
	unsigned refused = fake->refused;
	pthread_mutex_unlock(&fake->mu);
	pthread_mutex_lock(&mu);
	unsigned p = pending;
	pthread_mutex_unlock(&mu);
	snprintf(h, 64, "X-Pending: %u\nX-Refused: %u\n", p, refused);
	out->headers = h;
	out->content_type = "text/plain";
	out->body = b;
}

static void handle(void *ud, const struct peer_request *r, struct peer_reply *out)
{
	(void)ud;
	if (!strcmp(r->path, "/_fake/pay") && !strcmp(r->method, "POST")) {
		pay(r, out);
		return;
	}
	if (!strcmp(r->path, "/_fake/paid")) {
		paid(out);
		return;
	}
	double wait = stall_until - now_s();
	fake_stripe(fake, r, out); /* done at once ... */
	if (wait > 0)              /* ... answered late */
		usleep((useconds_t)(wait * 1e6));
}

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	int port = 0;
	double stall = 0;
	const char *secret = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--stall-s"))
			stall = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--secret"))
			secret = argv[i + 1];
		else if (!strcmp(argv[i], "--webhook"))
			webhook = argv[i + 1];
		else if (!strcmp(argv[i], "--whsec"))
			whsec = argv[i + 1];
	}
	if (!port || !secret || !webhook || !whsec) {
		fprintf(stderr, "usage: fault-stall-stripe --port P --secret SK --webhook URL --whsec SECRET [--stall-s S]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct fakepay_keys k = {.secret = secret};
	/* the fake's state and checks; its own listener (a free port) goes unused */
	if (!(fake = fakepay_start("stripe", &k))) {
		fprintf(stderr, "fault-stall-stripe: cannot start the Stripe fake\n");
		return 1;
	}
	stall_until = now_s() + stall;
	pthread_t th;
	pthread_create(&th, NULL, sender, NULL);
	struct peer *p = peer_start(port, handle, NULL);
	if (!p) {
		fprintf(stderr, "fault-stall-stripe: cannot listen on %d\n", port);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		pause();
	pthread_mutex_lock(&mu);
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
	peer_stop(p);
	fakepay_stop(fake);
	curl_global_cleanup();
	return 0;
}
