/* req.h: a request as every handler sees it: its context, the route table's rows, the
 * error table, and the replies. The engine that reads requests off sockets and calls the
 * routes is server/http.c; it is given the table (api_routes) and knows no handler. */
#ifndef WATTLE_REQ_H
#define WATTLE_REQ_H

#include "store/keys.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every error a client can see: one row each in http.c's table (status, code, message). */
enum api_err {
	E_MALFORMED_JSON,
	E_MALFORMED_REQUEST,
	E_RATE_LIMITED,
	E_HEADERS_TOO_LARGE,
	E_INVALID_FIELD,
	E_MISSING_FIELD,
	E_UNKNOWN_FIELD,
	E_INVALID_PARAMETER,
	E_UNAUTHORIZED,
	E_INVALID_SIGNATURE,
	E_FORBIDDEN,
	E_NOT_FOUND,
	E_METHOD_NOT_ALLOWED,
	E_CONFLICT,
	E_ALREADY_EXISTS,
	E_IDEMPOTENCY_KEY_REUSED,
	E_BODY_TOO_LARGE,
	E_UNSUPPORTED_MEDIA_TYPE,
	E_REFUSED,
	E_CURRENCY_MISMATCH,
	E_BALANCE_OVERFLOW,
	E_DB_UNAVAILABLE,
	E_DB_CONFLICT,
	E_SHUTTING_DOWN,
	E_PROVIDER_NOT_CONFIGURED,
	E_PROVIDER_ERROR,
	E_PROVIDER_TIMEOUT,
	E_PDF_UNAVAILABLE,
	E_ACCOUNT_CLOSED,
	E_TOO_MANY_STREAMS,
	E_CSRF_REQUIRED,
	E_INVALID_CREDENTIALS,
	E_LOCKED,
	E_PASSWORD_TOO_SHORT,
	E_INTERNAL,
	E__COUNT
};


#define REQ_MAX_ARGS 4
#define REQ_ID_MAX 64

struct route;

/* One per MHD request, in *req_cls; freed by the completion callback. */
struct req {
	struct MHD_Connection *conn;
	const struct route *route;
	int route_index;
	const char *method; /* borrowed from MHD for the request's life */
	const char *path;
	char *body; /* accumulated upload, NUL-terminated */
	size_t body_len, body_cap, body_limit;
	bool too_large;
	bool answered; /* the reply was queued early */
	bool close;    /* close the connection after the reply (framing refused) */
	bool started;  /* past the first callback (the headers are in) */
	size_t raw_uri_len; /* the request target as sent, for the header byte count */
	int64_t retry_after; /* seconds, for a 429's Retry-After; 0: none */
	uint32_t client_addr; /* the client's IPv4 address, host order; 0 when unknown (the CLI, a worker) */
	char etag[64];        /* ETag of a reply that never changes, "" when none (api_cacheable) */
	char location[128];   /* Location of a 201's new resource or a redirect, "" when none */
	bool asset;           /* a console file (api/console.c): revalidated on each use, its ETag
			       * told apart per encoding, sent with nosniff */
	const char *csp;      /* Content-Security-Policy of the reply (static), NULL: none */
	char set_cookie[200]; /* Set-Cookie of the reply (a session made or ended), "" when none */
	bool deferred; /* suspended; a worker sets the reply and calls api_complete() */
	json_t *json; /* parsed body (object) for routes that take one */
	const char *args[REQ_MAX_ARGS]; /* path parameters, pointing into argbuf */
	char argbuf[256];
	int nargs;
	char request_id[REQ_ID_MAX + 1];
	struct auth who;
	char site_implied[32]; /* site_id for a list when the query has none (api/reach.c), or "" */
	int64_t t0_us;
	int64_t db_statements; /* run by the handler on its own thread (the request log) */

	/* The reply: status and either a JSON value (owned) or raw bytes (owned). */
	unsigned status;
	json_t *reply;
	char *raw;
	size_t raw_len;
	const char *content_type; /* static string, for raw */
	char allow[64];           /* Allow header for 405; "" when none */
	void *stream; /* a response the handler made (struct MHD_Response *: an event stream), queued as it is */
};

typedef void (*route_fn)(struct req *rq);

#define ROUTE_BODY 1u     /* takes a JSON object body */
#define ROUTE_BIG_BODY 2u /* up to 8x the body limit (reading batches) */
#define ROUTE_RAW 4u      /* takes a body of any type, left as bytes (signed webhooks) */
#define ROUTE_SIGN_IN 8u  /* public, but a 401 counts as a failed authentication of the address */
/* For a user bound to sites (api/reach.c): a list that site_id narrows, kept to one of the
 * user's sites (implied when the user has one); and a route that holds no site's data or
 * keeps to the user's sites itself. A route with neither and no id in its path is refused
 * to such a user unless its body names what it acts on. */
#define ROUTE_SITE_LIST 16u
#define ROUTE_ANY_SITE 32u
/* ... and one that spans every site whatever it names (a provider's daily bill holds every
 * site's payments): refused to such a user. */
#define ROUTE_EVERY_SITE 64u

struct route {
	const char *method;
	const char *pattern; /* "/v1/tenants/{id}/account": {..} matches one segment; a last
			      * "{name*}" matches the rest of the path, slashes and all, or nothing */
	route_fn fn;
	unsigned roles; /* 0 = public */
	unsigned flags;
	const char *name; /* metrics label, defaults to pattern */
};

/* The route table, defined in api/routes.c; ends with {0}. The engine is handed it. */
extern const struct route api_routes[];
int api_route_count(void);

/* Set an error reply: status and code from the one table; details (stolen, may be NULL);
 * message printf-formatted, or the table's default when fmt is NULL. */
void api_error(struct req *rq, enum api_err e, json_t *details, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Set a JSON reply (stolen). */
void api_reply(struct req *rq, unsigned status, json_t *body);

/* Set a raw reply (buf is copied). */
void api_reply_raw(struct req *rq, unsigned status, const char *ctype, const char *buf,
		   size_t len);

/* Set a raw reply from a buffer, taking its memory: b is left empty. */
struct srv_buf;
void api_reply_buf(struct req *rq, unsigned status, const char *ctype, struct srv_buf *b);

/* Suspend the request: the handler returns without a reply, and another thread sets the
 * reply later and calls api_complete(). Only from a handler. */
void api_defer(struct req *rq);
/* The same, with the signature of srv_queue_push's accepted hook. */
void api_defer_hook(void *rq);

/* From any thread, once the reply of a deferred request is set: resume it. The caller
 * must not touch rq afterwards. */
void api_complete(struct req *rq);

/* A request header or query argument, borrowed for the request's life; NULL if absent. */
const char *api_header(struct req *rq, const char *name);
/* A reply that never changes (a stored report in one format): it gets ETag, a long private
 * Cache-Control and Vary: Accept; returns true when the client's If-None-Match names it,
 * with 304 and no body already set. */
bool api_cacheable(struct req *rq, const char *etag);
const char *api_query(struct req *rq, const char *name);

/* Status code of an error, for the idempotency store and tests. */
unsigned api_err_status(enum api_err e);
const char *api_err_code(enum api_err e);

#endif
