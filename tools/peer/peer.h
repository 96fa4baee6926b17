/* peer.h: a local HTTP peer on 127.0.0.1, for the outside world as wattle's tests, tools and
 * benches play it (a gateway, an SMS provider, a webhook receiver, a payment provider's
 * fake). It reads each request's whole body and hands the request to one function, which
 * fills in the answer. Each connection has its own thread, so a slow answer holds up no
 * other. Linked by the test harness, wattle-metersim, the demo and the benches. */
#ifndef WATTLE_PEER_H
#define WATTLE_PEER_H

#include <stddef.h>

struct peer;

/* A request as the function sees it; borrowed for the call. */
struct peer_request {
	const char *method, *path; /* path without the query */
	const char *body;          /* NUL-terminated ("" when none); body_len bytes */
	size_t body_len;
	void *conn;
};
/* A header or query argument of r; NULL when absent. */
const char *peer_header(const struct peer_request *r, const char *name);
const char *peer_query(const struct peer_request *r, const char *name);

/* The answer, preset to 200 with body "{}" as application/json. */
struct peer_reply {
	unsigned status;
	char *body;               /* new (the peer frees it), or NULL for "{}" */
	const char *content_type; /* static */
	size_t body_len;          /* 0: strlen(body) (set it for a binary body) */
	char *headers;            /* more headers, "Name: value\n" lines (new; the peer frees it), or NULL */
};

typedef void (*peer_fn)(void *ud, const struct peer_request *r, struct peer_reply *out);

/* Listen on 127.0.0.1:port (0: a free port) and answer every request with fn(ud, ...).
 * NULL when it cannot listen. */
struct peer *peer_start(int port, peer_fn fn, void *ud);
int peer_port(const struct peer *p);
/* Stop listening and free p (NULL: nothing). */
void peer_stop(struct peer *p);

#endif
