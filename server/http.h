/* http.h: the HTTP engine on libmicrohttpd: body capture, routing over a table it is given,
 * authentication, replies and the request log. Handlers and their table are in api/. */
#ifndef WATTLE_HTTP_H
#define WATTLE_HTTP_H

#include "server/ratelimit.h"
#include "api/req.h"

#include <stddef.h>
#include <stdint.h>

#define SRV_TRUSTED_PROXIES_MAX 16

struct http_opts {
	const struct route *routes; /* ends with {0}; borrowed for the daemon's life */
	const char *host;
	uint16_t port;
	unsigned threads;
	size_t body_max;
	struct srv_limits limits; /* the rate limits (server/ratelimit.h) */
	unsigned conn_per_addr;   /* open connections one address may hold, 0: no limit */
	unsigned idle_timeout_s;  /* a connection silent this long is closed */
	int64_t request_timeout_s; /* a request whose body is still arriving after this is cut off */
	void (*admitted)(struct req *rq); /* after a request is authenticated, before its handler; NULL: none */
	const uint32_t *trusted_proxies;  /* IPv4 peers (host order) whose X-Real-IP is the client's address */
	unsigned n_trusted_proxies;       /* (a reverse proxy); any other peer's X-Real-IP is ignored */
	int64_t header_timeout_s; /* a request line and headers still arriving this long after their first
				   * byte are cut off (the connection closed); 0: 10 s */
};

/* Start serving; returns an opaque daemon or NULL (logged). */
struct MHD_Daemon *srv_http_start(const struct http_opts *o);
/* Stop serving: after the workers (srv_workers_stop), so the answers they gave suspended
 * requests are sent first (up to 2 s), then every connection is closed. */
void srv_http_stop(struct MHD_Daemon *d);

/* The port actually bound (for port 0). */
uint16_t srv_http_port(struct MHD_Daemon *d);

#endif
