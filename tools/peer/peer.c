/* peer.c: the local HTTP peer (peer.h), on libmicrohttpd. */
#include "peer/peer.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct peer {
	struct MHD_Daemon *d;
	int port;
	peer_fn fn;
	void *ud;
};

/* A request's body, read in pieces. */
struct body {
	char *p;
	size_t n;
};

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *up, size_t *up_size, void **req_cls)
{
	(void)version;
	struct peer *p = cls;
	struct body *b = *req_cls;
	if (!b) {
		if (!(*req_cls = calloc(1, sizeof *b)))
			return MHD_NO;
		return MHD_YES;
	}
	if (*up_size) {
		char *q = realloc(b->p, b->n + *up_size + 1);
		if (!q)
			return MHD_NO;
		b->p = q;
		memcpy(b->p + b->n, up, *up_size);
		b->n += *up_size;
		b->p[b->n] = 0;
		*up_size = 0;
		return MHD_YES;
	}
	struct peer_request rq = {method, url, b->p ? b->p : "", b->n, c};
	struct peer_reply out = {200, NULL, "application/json", 0, NULL};
	p->fn(p->ud, &rq, &out);
	struct MHD_Response *resp =
		out.body ? MHD_create_response_from_buffer(out.body_len ? out.body_len : strlen(out.body), out.body,
							   MHD_RESPMEM_MUST_FREE)
			 : MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, out.content_type ? out.content_type : "application/json");
	for (char *line = out.headers, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = 0;
			MHD_add_response_header(resp, line, colon + 1 + (colon[1] == ' '));
		}
		if (!next)
			break;
	}
	free(out.headers);
	enum MHD_Result ret = MHD_queue_response(c, out.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode t)
{
	(void)cls;
	(void)c;
	(void)t;
	struct body *b = *req_cls;
	if (b) {
		free(b->p);
		free(b);
	}
	*req_cls = NULL;
}

const char *peer_header(const struct peer_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *peer_query(const struct peer_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct peer *peer_start(int port, peer_fn fn, void *ud)
{
	struct peer *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->fn = fn;
	p->ud = ud;
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port, NULL,
				NULL, on_req, p, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED,
				on_done, NULL, MHD_OPTION_END);
	if (!p->d) {
		free(p);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(p->d, MHD_DAEMON_INFO_BIND_PORT);
	p->port = info ? info->port : port;
	return p;
}

int peer_port(const struct peer *p) { return p->port; }

void peer_stop(struct peer *p)
{
	if (!p)
		return;
	MHD_stop_daemon(p->d);
	free(p);
}
