/* events.c: GET /v1/events, the live events as server-sent events, and the one thread per
 * process that feeds every stream of it.
 *
 * The rows come from the database (store/events.h: triggers write them in the transactions
 * that change the data). The thread holds one connection that LISTENs; on a notify it
 * numbers the committed rows (any process may; one at a time), reads those numbered after
 * the last it fanned out, and appends each, formatted once, to the queue of every stream
 * whose key may see it. A stream is a libmicrohttpd response from a callback: the callback
 * hands out what is queued and, when nothing is, suspends its connection, so an idle stream
 * holds no MHD thread; the feeding thread resumes it when something is queued. A queue past
 * QUEUE_EVENTS events or QUEUE_BYTES bytes is a client that does not read: it is dropped
 * (its socket shut down), never waited for, so a slow browser slows nothing else; it comes
 * back with Last-Event-ID and gets what it missed from the backlog. */
#include "api/api.h"
#include "api/events.h"
#include "api/metrics.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/events.h"

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_EVENTS 2048         /* events queued to one client before it is dropped (one readings
				   * batch of 500 meters is 500 account events at once) */
#define QUEUE_BYTES (256 * 1024)  /* or bytes */
#define SOCKET_SNDBUF (32 * 1024) /* the kernel's share of a stream's backlog */
#define KEEP_ROWS 100000          /* the backlog kept in the database */
#define PAGE 1000                 /* rows read or numbered at a time */
#define SEQ_PAGE 10000            /* rows numbered at a time */
#define CATCHUP_SCAN_MAX 40000    /* a resume from further back is sent reset, not scanned */
#define PRUNE_EVERY_US (30 * INT64_C(1000000))
#define RETRY_MS 3000             /* the browser's reconnect delay, sent first */

enum { K_ACCOUNT = 1, K_ALARM = 2, K_COMMAND = 4, K_PAYMENT = 8 };

struct client {
	pthread_mutex_t mu;
	struct MHD_Connection *conn;
	int fd;
	unsigned kinds;    /* K_ bits this key may see */
	int64_t tenant_id; /* only this tenant's events; 0: any */
	int n_sites;       /* only these sites' events (a user bound to sites); 0: any */
	int64_t sites[AUTH_SITES_MAX];
	bool resume;       /* it came with Last-Event-ID */
	/* the feeding thread's alone */
	int64_t after; /* the last seq considered for it */
	bool fresh;    /* not caught up yet */
	struct client *next;
	struct client *wake_next; /* the clients of one page to resume */
	/* under mu */
	char *buf;
	size_t len, off, cap;
	int nq;         /* events queued since the queue was last empty */
	bool suspended; /* its connection is suspended in the callback, waiting for data */
	bool dead;      /* dropped: the callback ends the response with an error */
	bool closing;   /* the server stops: the callback ends the response */
	bool gone;      /* libmicrohttpd is done with it (the free callback ran) */
	bool orphan;    /* the feeding thread stopped: the free callback frees it */
};

static struct {
	pthread_mutex_t mu;
	struct client *pending; /* registered by requests, under mu */
	int efd;                /* wakes the thread */
	pthread_t thread;
	bool running;
	_Atomic bool stopping;
	int64_t hb_us;
	int max_clients;
	_Atomic int count;    /* streams open */
	_Atomic int64_t last; /* the last seq fanned out; -1 until the thread has asked */
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1, .last = -1};

static _Atomic uint64_t sent_v[1], dropped_v[1];
static const char *const sent_labels[] = {"stream=\"events\""};
static const char *const dropped_labels[] = {"reason=\"slow\""};
static struct srv_counters sent_counter = {"wattle_sse_events_sent_total",
					   "Events queued to GET /v1/events streams (one per stream an event went to)", 1,
					   sent_labels, sent_v, NULL};
static struct srv_counters dropped_counter = {
	"wattle_sse_clients_dropped_total",
	"Event streams closed by the server because their client did not read: its queue passed 2048 events or 256 KB",
	1, dropped_labels, dropped_v, NULL};

void api_events_metrics(struct srv_buf *b)
{
	srv_buf_printf(b, "# HELP wattle_sse_clients Event streams (GET /v1/events) open in this process.\n"
			  "# TYPE wattle_sse_clients gauge\nwattle_sse_clients %d\n",
		       atomic_load(&hub.count));
}

void api_register_statements_events(void);
void api_register_statements_events(void)
{
	store_events_register();
	srv_counters_register(&sent_counter);
	srv_counters_register(&dropped_counter);
}

static void wake(void)
{
	uint64_t one = 1;
	if (hub.efd >= 0 && write(hub.efd, &one, sizeof one) < 0 && errno != EAGAIN)
		srv_log(LOG_WARN, "events: cannot wake the feeding thread: %s", strerror(errno));
}

/* ---- one stream ---- */

/* Under cl->mu: append n bytes, growing the buffer (the bound is checked by the caller). */
static void append(struct client *cl, const char *p, size_t n)
{
	if (cl->off && cl->off == cl->len)
		cl->off = cl->len = 0;
	if (cl->len + n > cl->cap && cl->off) { /* move what is left to the front first */
		memmove(cl->buf, cl->buf + cl->off, cl->len - cl->off);
		cl->len -= cl->off;
		cl->off = 0;
	}
	if (cl->len + n > cl->cap) {
		size_t cap = cl->cap ? cl->cap : 1024;
		while (cap < cl->len + n)
			cap *= 2;
		if (!(cl->buf = realloc(cl->buf, cap)))
			abort();
		cl->cap = cap;
	}
	memcpy(cl->buf + cl->len, p, n);
	cl->len += n;
}

/* Queue n bytes to cl holding events events (0: a comment or a reset). A client over its
 * bounds is dropped instead. Returns true when its connection waits in the callback and must
 * be resumed (the caller does, with MHD_resume_connection, once it has queued all it has:
 * the connection stays suspended, and so open, until then). */
static bool push(struct client *cl, const char *p, size_t n, int events)
{
	pthread_mutex_lock(&cl->mu);
	if (cl->dead || cl->gone || cl->closing) {
		pthread_mutex_unlock(&cl->mu);
		return false;
	}
	bool resume = cl->suspended;
	cl->suspended = false;
	if (cl->nq + events > QUEUE_EVENTS || cl->len - cl->off + n > QUEUE_BYTES) {
		cl->dead = true;
		free(cl->buf);
		cl->buf = NULL;
		cl->len = cl->off = cl->cap = 0;
		/* A connection libmicrohttpd still has (not gone, under mu: its socket is not closed
		 * before the free callback ran) whose socket is full: shutting it down wakes its
		 * thread, which closes it. */
		if (!resume && cl->fd >= 0)
			shutdown(cl->fd, SHUT_RDWR);
		pthread_mutex_unlock(&cl->mu);
		srv_counters_add(&dropped_counter, 0, 1);
		return resume;
	}
	append(cl, p, n);
	cl->nq += events;
	pthread_mutex_unlock(&cl->mu);
	if (events)
		srv_counters_add(&sent_counter, 0, (uint64_t)events);
	return resume;
}

static void push_now(struct client *cl, const char *p, size_t n, int events)
{
	if (push(cl, p, n, events))
		MHD_resume_connection(cl->conn);
}

/* libmicrohttpd asks for the next bytes of a stream. */
static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct client *cl = cls;
	pthread_mutex_lock(&cl->mu);
	if (cl->dead) {
		pthread_mutex_unlock(&cl->mu);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (cl->off == cl->len) {
		cl->off = cl->len = 0;
		cl->nq = 0;
		if (cl->closing) {
			pthread_mutex_unlock(&cl->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		/* under mu, so a push cannot resume it before it is suspended */
		cl->suspended = true;
		MHD_suspend_connection(cl->conn);
		pthread_mutex_unlock(&cl->mu);
		return 0;
	}
	size_t n = cl->len - cl->off < max ? cl->len - cl->off : max;
	memcpy(buf, cl->buf + cl->off, n);
	cl->off += n;
	if (cl->off == cl->len) {
		cl->off = cl->len = 0;
		cl->nq = 0;
	}
	pthread_mutex_unlock(&cl->mu);
	return (ssize_t)n;
}

static void client_free(struct client *cl)
{
	pthread_mutex_destroy(&cl->mu);
	free(cl->buf);
	free(cl);
}

/* libmicrohttpd is done with the stream (closed, or never queued): the feeding thread frees
 * it, or this does once that thread has stopped. */
static void on_free(void *cls)
{
	struct client *cl = cls;
	pthread_mutex_lock(&cl->mu);
	cl->gone = true;
	cl->fd = -1;
	bool orphan = cl->orphan;
	pthread_mutex_unlock(&cl->mu);
	if (orphan) {
		atomic_fetch_sub(&hub.count, 1);
		client_free(cl);
	}
}

/* ---- the feeding thread ---- */

static bool visible(const struct client *cl, const struct event_row *e)
{
	unsigned k = !strcmp(e->kind, "account")   ? K_ACCOUNT
		     : !strcmp(e->kind, "alarm")   ? K_ALARM
		     : !strcmp(e->kind, "command") ? K_COMMAND
		     : !strcmp(e->kind, "payment") ? K_PAYMENT
						   : 0;
	if (!(cl->kinds & k) || (cl->tenant_id && cl->tenant_id != e->tenant_id))
		return false;
	if (!cl->n_sites)
		return true;
	for (int i = 0; i < cl->n_sites; i++)
		if (cl->sites[i] == e->site_id)
			return true;
	return false;
}

static void format(struct srv_buf *b, const struct event_row *e)
{
	srv_buf_clear(b);
	PUT_LIT(b, "id: ");
	srv_buf_i64(b, e->seq);
	PUT_LIT(b, "\nevent: ");
	srv_buf_puts(b, e->kind);
	PUT_LIT(b, "\ndata: ");
	srv_buf_puts(b, e->data);
	PUT_LIT(b, "\n\n");
}

static void send_reset(struct client *cl, int64_t at)
{
	struct srv_buf b = {0};
	PUT_LIT(&b, "id: ");
	srv_buf_i64(&b, at);
	PUT_LIT(&b, "\nevent: reset\ndata: {}\n\n");
	push_now(cl, b.p, b.len, 0);
	srv_buf_free(&b);
}

/* A new stream, from cl->after to hub.last: the events it missed from the backlog, or reset
 * when they are not all there any more, or more than its queue holds.
 *
 * A stream without Last-Event-ID starts where its handler found the numbering (cl->after:
 * everything committed before the request numbered, then the last seq read), so an event
 * committed after the request is sent however late the stream is adopted (a new process's
 * feeding thread may start after it), and none from before is. When that is not known (-1)
 * it starts after what is numbered now (now_last; hub.last may be behind it); when the
 * events since are too many for its queue, it starts at hub.last, without a reset (a new
 * stream has nothing to start over). */
static void catch_up(PGconn *c, struct client *cl, int64_t now_last)
{
	int64_t upto = atomic_load(&hub.last);
	cl->fresh = false;
	if (!cl->resume) {
		if (cl->after < 0 || upto - cl->after > CATCHUP_SCAN_MAX) {
			cl->after = now_last > upto ? now_last : upto;
			return;
		}
	}
	/* an id this database never gave, or whose successors are pruned, or too far back: reset */
	int64_t first, last;
	if (cl->resume && (store_events_bounds(c, &first, &last) != DB_OK || cl->after > last ||
			   (cl->after < upto && (!first || cl->after + 1 < first)) || upto - cl->after > CATCHUP_SCAN_MAX)) {
		send_reset(cl, upto);
		cl->after = upto;
		return;
	}
	struct srv_buf all = {0}, one = {0};
	int matched = 0;
	bool ok = true;
	while (ok && cl->after < upto) {
		struct event_row *rows;
		int n;
		if (store_events_read(c, cl->after, upto, PAGE, &rows, &n) != DB_OK || !n) {
			ok = false;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (visible(cl, &rows[i])) {
				format(&one, &rows[i]);
				srv_buf_putn(&all, one.p, one.len);
				matched++;
			}
			cl->after = rows[i].seq;
		}
		store_events_free(rows, n);
		if (matched > QUEUE_EVENTS || all.len > QUEUE_BYTES)
			ok = false;
	}
	if (!ok) {
		if (cl->resume)
			send_reset(cl, upto);
	} else if (all.len) {
		push_now(cl, all.p, all.len, matched);
	}
	if (cl->after < upto)
		cl->after = upto;
	srv_buf_free(&all);
	srv_buf_free(&one);
}

/* The events of rows a client may see and has not had, formatted, into b; how many. */
static int slice(const struct client *cl, const struct event_row *rows, int n, struct srv_buf *b, struct srv_buf *one)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (rows[i].seq > cl->after && visible(cl, &rows[i])) {
			format(one, &rows[i]);
			srv_buf_putn(b, one->p, one->len);
			k++;
		}
	return k;
}

/* Fan out a page at a time what was numbered after hub.last, at most max_pages pages: each
 * client gets its events of a page in one append (staff keys of the same role share one
 * formatted page), and is resumed once. 0 when all was read, 1 when there is more, -1 when
 * the database failed. */
static int fan_out(PGconn *c, struct client *list, int max_pages)
{
	struct srv_buf one = {0}, own = {0}, by_kinds[16] = {{0}};
	int rc = 0;
	for (int page = 0;; page++) {
		if (page == max_pages) {
			rc = 1;
			break;
		}
		struct event_row *rows;
		int n;
		if (store_events_read(c, atomic_load(&hub.last), INT64_MAX, PAGE, &rows, &n) != DB_OK) {
			rc = -1;
			break;
		}
		if (!n)
			break;
		int count[16];
		bool built[16] = {false};
		struct client *wake_list = NULL;
		for (struct client *cl = list; cl; cl = cl->next) {
			struct srv_buf *b = &own;
			int k;
			if (!cl->tenant_id && !cl->n_sites && cl->after < rows[0].seq) { /* the whole page, as its role sees it */
				unsigned m = cl->kinds & 15u;
				if (!built[m]) {
					srv_buf_clear(&by_kinds[m]);
					count[m] = slice(cl, rows, n, &by_kinds[m], &one);
					built[m] = true;
				}
				b = &by_kinds[m];
				k = count[m];
			} else {
				srv_buf_clear(&own);
				k = slice(cl, rows, n, &own, &one);
			}
			if (cl->after < rows[n - 1].seq)
				cl->after = rows[n - 1].seq;
			if (k && push(cl, b->p, b->len, k)) {
				cl->wake_next = wake_list;
				wake_list = cl;
			}
		}
		atomic_store(&hub.last, rows[n - 1].seq);
		store_events_free(rows, n);
		for (struct client *cl = wake_list; cl; cl = cl->wake_next)
			MHD_resume_connection(cl->conn);
		if (n < PAGE)
			break;
	}
	srv_buf_free(&one);
	srv_buf_free(&own);
	for (int i = 0; i < 16; i++)
		srv_buf_free(&by_kinds[i]);
	return rc;
}

static void *feed(void *arg)
{
	(void)arg;
	struct client *list = NULL;
	PGconn *c = NULL;
	bool need_seq = true, need_read = true, started = false;
	int64_t next_hb = srv_mono_us() + hub.hb_us, next_prune = 0, next_seq = 0;
	while (!atomic_load(&hub.stopping)) {
		if (!c) {
			if (!(c = db_conn()) || store_events_listen(c) != DB_OK) {
				if (c)
					db_conn_reset();
				c = NULL;
				struct timespec ts = {0, 500 * 1000000L};
				nanosleep(&ts, NULL);
				continue;
			}
			need_seq = need_read = true;
			if (!started) { /* the first streams start at the end of the backlog */
				int64_t first, last;
				if (store_events_bounds(c, &first, &last) != DB_OK) {
					db_conn_reset();
					c = NULL;
					continue;
				}
				atomic_store(&hub.last, last);
				started = true;
			}
		}
		int64_t now = srv_mono_us();
		if (need_seq || now >= next_seq) {
			int64_t n;
			if (store_events_sequence(c, SEQ_PAGE, &n) != DB_OK) {
				db_conn_reset();
				c = NULL;
				continue;
			}
			need_seq = n == SEQ_PAGE; /* more after the fan-out, heartbeats and new streams */
			need_read = true;
			next_seq = now + 1000000; /* a notify missed while reconnecting is found within 1 s */
		}
		/* adopt new streams, and bring them up to hub.last */
		pthread_mutex_lock(&hub.mu);
		struct client *fresh = hub.pending;
		hub.pending = NULL;
		pthread_mutex_unlock(&hub.mu);
		while (fresh) {
			struct client *cl = fresh;
			fresh = fresh->next;
			cl->next = list;
			list = cl;
		}
		bool any_fresh = false;
		for (struct client *cl = list; cl; cl = cl->next)
			any_fresh |= cl->fresh;
		if (any_fresh) { /* where the new streams start: number what is committed, once for all */
			int64_t n, first, now_last = -1;
			if (store_events_sequence(c, SEQ_PAGE, &n) != DB_OK || store_events_bounds(c, &first, &now_last) != DB_OK)
				now_last = -1;
			else if (n == SEQ_PAGE)
				need_seq = true;
			for (struct client *cl = list; cl; cl = cl->next)
				if (cl->fresh)
					catch_up(c, cl, now_last);
		}
		if (need_read) {
			int more = fan_out(c, list, 8);
			if (more < 0) {
				db_conn_reset();
				c = NULL;
				continue;
			}
			need_read = more > 0;
		}
		now = srv_mono_us();
		if (now >= next_hb) {
			for (struct client *cl = list; cl; cl = cl->next)
				push_now(cl, ": hb\n\n", 6, 0);
			next_hb = now + hub.hb_us;
		}
		if (now >= next_prune) {
			if (store_events_prune(c, KEEP_ROWS) != DB_OK)
				srv_log(LOG_WARN, "events: pruning the backlog failed");
			next_prune = now + PRUNE_EVERY_US;
		}
		/* reap the streams libmicrohttpd is done with */
		for (struct client **pp = &list; *pp;) {
			struct client *cl = *pp;
			pthread_mutex_lock(&cl->mu);
			bool gone = cl->gone;
			pthread_mutex_unlock(&cl->mu);
			if (gone) {
				*pp = cl->next;
				atomic_fetch_sub(&hub.count, 1);
				client_free(cl);
			} else {
				pp = &cl->next;
			}
		}
		/* wait for a notify, a new stream or the next heartbeat */
		int64_t wait_ms = (next_hb - now) / 1000;
		if (wait_ms > 1000)
			wait_ms = 1000;
		if (wait_ms < 0 || need_seq || need_read)
			wait_ms = 0;
		struct pollfd pf[2] = {{PQsocket(c), POLLIN, 0}, {hub.efd, POLLIN, 0}};
		if (poll(pf, 2, (int)wait_ms) > 0 && (pf[1].revents & POLLIN)) {
			uint64_t v;
			if (read(hub.efd, &v, sizeof v) < 0 && errno != EAGAIN)
				srv_log(LOG_WARN, "events: reading the wake-up: %s", strerror(errno));
		}
		if (!PQconsumeInput(c)) {
			srv_log(LOG_WARN, "events: the listening connection failed: %s", PQerrorMessage(c));
			db_conn_reset();
			c = NULL;
			continue;
		}
		PGnotify *nt;
		while ((nt = PQnotifies(c))) {
			if (!strcmp(nt->relname, "wattle_events"))
				need_seq = true;
			need_read = true;
			PQfreemem(nt);
		}
	}
	/* stopping: every stream ends; those libmicrohttpd still has are freed by it */
	pthread_mutex_lock(&hub.mu);
	struct client *rest = hub.pending;
	hub.pending = NULL;
	pthread_mutex_unlock(&hub.mu);
	while (rest) {
		struct client *cl = rest;
		rest = rest->next;
		cl->next = list;
		list = cl;
	}
	while (list) {
		struct client *cl = list;
		list = list->next;
		pthread_mutex_lock(&cl->mu);
		bool gone = cl->gone, resume = cl->suspended;
		cl->closing = cl->orphan = true;
		cl->suspended = false;
		pthread_mutex_unlock(&cl->mu);
		if (gone) {
			atomic_fetch_sub(&hub.count, 1);
			client_free(cl);
		} else if (resume) {
			MHD_resume_connection(cl->conn);
		}
	}
	db_thread_close();
	return NULL;
}

void api_events_start(int64_t heartbeat_s, int max_clients)
{
	hub.hb_us = heartbeat_s * 1000000;
	hub.max_clients = max_clients;
	atomic_store(&hub.stopping, false);
	if ((hub.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		srv_log(LOG_ERROR, "events: eventfd: %s; GET /v1/events answers 503", strerror(errno));
		return;
	}
	if (pthread_create(&hub.thread, NULL, feed, NULL)) {
		srv_log(LOG_ERROR, "events: cannot start the feeding thread; GET /v1/events answers 503");
		close(hub.efd);
		hub.efd = -1;
		return;
	}
	hub.running = true;
}

void api_events_stop(void)
{
	if (!hub.running)
		return;
	pthread_mutex_lock(&hub.mu);
	atomic_store(&hub.stopping, true);
	pthread_mutex_unlock(&hub.mu);
	wake();
	pthread_join(hub.thread, NULL);
	hub.running = false;
	close(hub.efd);
	hub.efd = -1;
}

/* ---- the handler ---- */

void api_events(struct req *rq)
{
	unsigned kinds = 0;
	int64_t tenant = 0;
	switch (rq->who.role) {
	case ROLE_ADMIN: kinds = K_ACCOUNT | K_ALARM | K_COMMAND | K_PAYMENT; break;
	case ROLE_OPERATOR: kinds = K_ACCOUNT | K_ALARM | K_COMMAND; break;
	case ROLE_FINANCE: kinds = K_ACCOUNT | K_PAYMENT; break;
	case ROLE_TENANT:
		kinds = K_ACCOUNT | K_ALARM | K_COMMAND | K_PAYMENT;
		tenant = rq->who.tenant_id;
		break;
	default: break;
	}
	if (!kinds || (rq->who.role == ROLE_TENANT && !tenant)) {
		api_error(rq, E_FORBIDDEN, NULL, "this key may not read events");
		return;
	}
	const char *lei = api_header(rq, "Last-Event-ID");
	int64_t last_id = 0;
	bool resume = false;
	if (lei && *lei) {
		char *end;
		errno = 0;
		long long v = strtoll(lei, &end, 10);
		if (*end || v < 0 || errno || lei[0] < '0' || lei[0] > '9') {
			api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "header", "Last-Event-ID"),
				  "Last-Event-ID must be the id of an event this server sent");
			return;
		}
		last_id = v;
		resume = true;
	}
	if (!strcmp(rq->method, "HEAD")) {
		api_reply_raw(rq, 200, "text/event-stream", "", 0);
		return;
	}
	/* where a new stream starts: what was committed before this request numbered (another
	 * process's sequencer may be at it: a few tries), and the last seq given; -1 unknown */
	int64_t start = -1;
	PGconn *c = resume ? NULL : api_conn(rq);
	if (!resume && !c)
		return;
	for (int i = 0; c && i < 20; i++) {
		int64_t n, first, last;
		if (store_events_sequence(c, SEQ_PAGE, &n) != DB_OK)
			break;
		if (n >= 0 && n < SEQ_PAGE) {
			if (store_events_bounds(c, &first, &last) == DB_OK)
				start = last;
			break;
		}
		if (n < 0) {
			struct timespec ts = {0, 5 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_lock(&hub.mu);
	bool up = hub.running && !atomic_load(&hub.stopping);
	pthread_mutex_unlock(&hub.mu);
	if (!up) {
		api_error(rq, E_SHUTTING_DOWN, NULL, "event streams are not served now; retry");
		rq->retry_after = 1;
		return;
	}
	if (atomic_fetch_add(&hub.count, 1) >= hub.max_clients) {
		atomic_fetch_sub(&hub.count, 1);
		rq->retry_after = 5;
		api_error(rq, E_TOO_MANY_STREAMS, json_pack("{s:i}", "max_streams", hub.max_clients), NULL);
		return;
	}
	struct client *cl = calloc(1, sizeof *cl);
	if (!cl)
		abort();
	pthread_mutex_init(&cl->mu, NULL);
	cl->conn = rq->conn;
	cl->kinds = kinds;
	cl->tenant_id = tenant;
	cl->n_sites = rq->who.n_sites;
	memcpy(cl->sites, rq->who.sites, sizeof cl->sites);
	cl->resume = resume;
	cl->after = resume ? last_id : start; /* see catch_up */
	cl->fresh = true;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	cl->fd = ci ? ci->connect_fd : -1;
	if (cl->fd >= 0) { /* what the kernel holds for a stream is bounded too */
		int sz = SOCKET_SNDBUF;
		setsockopt(cl->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	}
	char first[32];
	int n = snprintf(first, sizeof first, "retry: %d\n\n", RETRY_MS);
	append(cl, first, (size_t)n);
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, cl, on_free);
	if (!resp)
		abort();
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* nginx: pass each event on at once */
	rq->stream = resp;
	rq->status = 200;
	pthread_mutex_lock(&hub.mu);
	if (atomic_load(&hub.stopping)) { /* too late for the thread: the stream ends at once */
		cl->closing = cl->orphan = true;
	} else {
		cl->next = hub.pending;
		hub.pending = cl;
	}
	pthread_mutex_unlock(&hub.mu);
	wake();
}
