/* pull.c: GET /v1/commands for the key of a pull gateway, one behind NAT that the centre
 * cannot POST to. What is due for its meters is handed out at once (store_commands_pull:
 * marked sent with a lease; not acknowledged when the lease ends, it is handed out again).
 * When nothing is and ?wait_s= asks to wait, the request is held: suspended, so no
 * libmicrohttpd thread waits with it, and one waiter thread runs one claim for every held
 * gateway each TICK_MS, answering a request as soon as its gateway has commands, or with an
 * empty page when its time is up. */
#include "api/api.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/money.h"
#include "store/outbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ID_COMMAND "cmd"
#define MAX_WAIT_S 60
#define TICK_MS 50 /* what a queued command waits at most before its held pull sees it */

/* A held request: its gateway, its page's limit, until when it waits (srv_mono_us). */
struct hold {
	struct hold *next;
	struct req *rq;
	int64_t gateway_id, limit, until_us;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct hold *head, *tail; /* in arrival order */
static bool open_;               /* holding; false before start and after stop */
static atomic_bool stopping;
static pthread_t th;
static int64_t lease_us = INT64_C(60000000);

/* The page of a pull: the commands handed out; next_after when it is full (more may be due:
 * ask again at once). */
static void reply_page(struct req *rq, const struct command_row *v, int n, int64_t limit)
{
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, api_command_json(&v[i]));
	json_t *next = n && n >= limit ? api_id_json(ID_COMMAND, v[n - 1].id) : json_null();
	api_reply(rq, 200, json_pack("{s:o, s:o}", "items", items, "next_after", next));
}

static enum db_status claim(PGconn *c, const int64_t *gw, const int64_t *lim, int n, struct command_row **v,
			    int *nv)
{
	return store_commands_pull(c, gw, lim, n, srv_clock_now_us(), lease_us, OUTBOX_MAX_ATTEMPTS, v, nv);
}

void api_commands_pull(struct req *rq, const char *state, int64_t limit)
{
	if (state && strcmp(state, "pending")) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "state"),
			  "the key of a pull gateway takes its pending commands: state=pending");
		return;
	}
	int64_t wait_s = 0;
	const char *w = api_query(rq, "wait_s");
	if (w && bill_parse_decimal(w, 0, MAX_WAIT_S, &wait_s)) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "wait_s"),
			  "wait_s must be an integer from 0 to %d", MAX_WAIT_S);
		return;
	}
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct command_row *v;
	int n;
	int64_t gw = rq->who.gateway_id;
	if (api_read_failed(rq, claim(c, &gw, &limit, 1, &v, &n)))
		return;
	if (n || !wait_s) {
		reply_page(rq, v, n, limit);
		free(v);
		return;
	}
	free(v);
	struct hold *h = calloc(1, sizeof *h);
	if (!h)
		abort();
	*h = (struct hold){NULL, rq, gw, limit, srv_mono_us() + wait_s * 1000000};
	pthread_mutex_lock(&mu);
	bool held = open_;
	if (held) { /* suspended before the waiter can see it */
		api_defer(rq);
		if (tail)
			tail->next = h;
		else
			head = h;
		tail = h;
	}
	pthread_mutex_unlock(&mu);
	if (!held) { /* stopping: nothing came, and nothing will be waited for */
		free(h);
		reply_page(rq, NULL, 0, limit);
	}
}

/* Under mu: take the first held request of gateway gw (or, gw 0, the first whose time is up
 * at now) out of the list; NULL when there is none. */
static struct hold *take(int64_t gw, int64_t now)
{
	for (struct hold **p = &head, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
		struct hold *h = *p;
		if (gw ? h->gateway_id != gw : h->until_us > now)
			continue;
		*p = h->next;
		if (tail == h)
			tail = prev;
		h->next = NULL;
		return h;
	}
	return NULL;
}

struct want {
	int64_t gw, limit;
	int seq;
};

static int by_gateway(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	if (x->gw != y->gw)
		return x->gw < y->gw ? -1 : 1;
	return x->seq - y->seq;
}

/* The held gateways, each once with the limit of its oldest request. New arrays: caller
 * frees; returns how many. */
static int held_gateways(int64_t **gw, int64_t **lim)
{
	pthread_mutex_lock(&mu);
	int n = 0;
	for (struct hold *h = head; h; h = h->next)
		n++;
	struct want *w = calloc((size_t)n + 1, sizeof *w);
	if (!w)
		abort();
	n = 0;
	for (struct hold *h = head; h; h = h->next, n++)
		w[n] = (struct want){h->gateway_id, h->limit, n};
	pthread_mutex_unlock(&mu);
	qsort(w, (size_t)n, sizeof *w, by_gateway);
	*gw = calloc((size_t)n + 1, sizeof **gw);
	*lim = calloc((size_t)n + 1, sizeof **lim);
	if (!*gw || !*lim)
		abort();
	int k = 0;
	for (int i = 0; i < n; i++)
		if (!i || w[i].gw != w[i - 1].gw) {
			(*gw)[k] = w[i].gw;
			(*lim)[k++] = w[i].limit;
		}
	free(w);
	return k;
}

static void log_failure(enum db_status st)
{
	static int64_t last_us;
	int64_t now = srv_mono_us();
	if (now - last_us < 10000000)
		return;
	last_us = now;
	srv_log(LOG_WARN, "pull: the claim for held gateways failed (%d); their requests wait on", (int)st);
}

/* One round: claim for every held gateway at once, answer those that got commands and
 * those whose time is up. */
static void tick(void)
{
	int64_t *gw, *lim;
	int n = held_gateways(&gw, &lim);
	struct command_row *v = NULL;
	int nv = 0;
	if (n) {
		PGconn *c = db_conn();
		enum db_status st = c ? claim(c, gw, lim, n, &v, &nv) : DB_GONE;
		if (st != DB_OK) {
			log_failure(st);
			if (st == DB_GONE)
				db_conn_reset();
			free(v);
			v = NULL;
			nv = 0;
		}
	}
	struct hold *done = NULL, *h;
	int64_t now = srv_mono_us();
	pthread_mutex_lock(&mu);
	for (int i = 0, j; i < nv; i = j) { /* rows come by gateway, then id */
		for (j = i; j < nv && v[j].gateway_id == v[i].gateway_id; j++)
			;
		if (!(h = take(v[i].gateway_id, 0))) /* cannot be: only this thread takes */
			continue;
		reply_page(h->rq, v + i, j - i, h->limit);
		h->next = done;
		done = h;
	}
	while ((h = take(0, now))) {
		reply_page(h->rq, NULL, 0, h->limit);
		h->next = done;
		done = h;
	}
	pthread_mutex_unlock(&mu);
	while ((h = done)) {
		done = h->next;
		api_complete(h->rq); /* the server's again */
		free(h);
	}
	free(v);
	free(gw);
	free(lim);
}

static void *waiter(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		struct timespec ts = {0, TICK_MS * 1000000L};
		nanosleep(&ts, NULL);
		tick();
	}
	db_thread_close();
	return NULL;
}

void api_pull_start(int64_t lease)
{
	lease_us = lease;
	atomic_store(&stopping, false);
	pthread_mutex_lock(&mu);
	open_ = true;
	pthread_mutex_unlock(&mu);
	if (pthread_create(&th, NULL, waiter, NULL))
		abort();
}

void api_pull_stop(void)
{
	atomic_store(&stopping, true);
	pthread_join(th, NULL);
	pthread_mutex_lock(&mu);
	open_ = false;
	struct hold *h = head;
	head = tail = NULL;
	pthread_mutex_unlock(&mu);
	while (h) {
		struct hold *next = h->next;
		reply_page(h->rq, NULL, 0, h->limit);
		api_complete(h->rq);
		free(h);
		h = next;
	}
}
