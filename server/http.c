/* http.c: libmicrohttpd engine: body capture, routing, auth, replies, request log. */
#include "server/http.h"
#include "store/keys.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/db.h"
#include "api/metrics.h"
#include "api/reach.h"
#include "api/sessions.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <zlib.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <strings.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

enum refusal { REF_FRAMING, REF_KEY_RATE, REF_ADDR_RATE, REF_AUTH_THROTTLED, REF_SLOW_BODY, REF_SLOW_HEADERS, REF__COUNT };
static const char *const refused_labels[REF__COUNT] = {"reason=\"framing\"", "reason=\"key_rate\"",
						       "reason=\"address_rate\"", "reason=\"auth_throttled\"",
						       "reason=\"slow_body\"", "reason=\"slow_headers\""};
static _Atomic uint64_t refused_v[REF__COUNT];
static struct srv_counters refused = {
	"wattle_http_refused_total",
	"Requests refused before their handler: ambiguous framing or header bytes, a key or an address over its"
	" rate, an address throttled for failed authentications, a body still arriving after WATTLE_REQUEST_TIMEOUT_S,"
	" a request line and headers still arriving WATTLE_HEADER_TIMEOUT_S after their first byte",
	REF__COUNT, refused_labels, refused_v, NULL};
static const char *const auth_labels[] = {"outcome=\"failed\""};
static _Atomic uint64_t auth_v[1];
static struct srv_counters auth_failures = {"wattle_auth_failures_total",
					    "Requests whose API key was missing, unknown or revoked, or whose session"
					    " cookie, password or sign-in code was wrong", 1, auth_labels,
					    auth_v, NULL};

static size_t body_max = 1 << 20;
/* The request line and headers may be this big; libmicrohttpd's per-connection pool is
 * twice it, so a request near the limit still has room for its JSON 431 (with a pool of
 * just this, headers near 16 KB got no reply at all and larger ones libmicrohttpd's page). */
#define HEADERS_MAX 16384
static int64_t request_timeout_us = 30 * INT64_C(1000000);
static uint32_t trusted_proxy[SRV_TRUSTED_PROXIES_MAX]; /* WATTLE_TRUSTED_PROXIES */
static unsigned n_trusted_proxy;
static const struct route *routes;
static int nroutes;
static void (*admitted)(struct req *rq);
/* Requests suspended for a worker (api_defer) whose connection has not completed: the
 * server stops only once the answers the stopped workers gave them are sent. */
static _Atomic int suspended;

/* Request ids: echo a sane client id, else 16 hex digits from a per-thread generator. */
static void set_request_id(struct req *rq)
{
	const char *in = api_header(rq, "X-Request-Id");
	if (in) {
		size_t n = strlen(in);
		int ok = n > 0 && n <= REQ_ID_MAX;
		for (size_t i = 0; ok && i < n; i++)
			ok = (in[i] >= 'a' && in[i] <= 'z') || (in[i] >= 'A' && in[i] <= 'Z') ||
			     (in[i] >= '0' && in[i] <= '9') || strchr("-_.:", in[i]);
		if (ok) {
			memcpy(rq->request_id, in, n + 1);
			return;
		}
	}
	static _Thread_local uint64_t state;
	if (!state && getrandom(&state, sizeof state, 0) != sizeof state)
		state = (uint64_t)srv_clock_now_us();
	state |= 1;
	state ^= state << 13; /* xorshift64 */
	state ^= state >> 7;
	state ^= state << 17;
	snprintf(rq->request_id, sizeof rq->request_id, "%016llx", (unsigned long long)state);
}

/* Is p a pattern's last segment "{name*}"? */
static int rest_token(const char *p)
{
	size_t n = strlen(p);
	return *p == '{' && n > 3 && !strcmp(p + n - 2, "*}") && !strchr(p, '/');
}

/* Match path against a pattern; fills rq->args. Returns 1 on a match. */
static int match(struct req *rq, const char *pattern, const char *path)
{
	const char *p = pattern, *u = path;
	size_t used = 0;
	int nargs = 0;
	while (*p && (*u || rest_token(p))) {
		if (rest_token(p)) { /* "{path*}" last: the rest, slashes and all, maybe nothing */
			size_t n = strlen(u);
			if (nargs == REQ_MAX_ARGS || used + n + 1 > sizeof rq->argbuf)
				return 0;
			memcpy(rq->argbuf + used, u, n + 1);
			rq->args[nargs++] = rq->argbuf + used;
			u += n;
			p += strlen(p);
			break;
		}
		if (*p == '{') {
			const char *end = strchr(u, '/');
			size_t n = end ? (size_t)(end - u) : strlen(u);
			if (n == 0 || nargs == REQ_MAX_ARGS || used + n + 1 > sizeof rq->argbuf)
				return 0;
			memcpy(rq->argbuf + used, u, n);
			rq->argbuf[used + n] = 0;
			rq->args[nargs++] = rq->argbuf + used;
			used += n + 1;
			u += n;
			p = strchr(p, '}') + 1;
		} else if (*p++ != *u++) {
			return 0;
		}
	}
	if (*p || *u)
		return 0;
	rq->nargs = nargs;
	return 1;
}

static void route(struct req *rq)
{
	char *allow = rq->allow; /* the request's own: a 405 may answer after another request ran here */
	const size_t allow_n = sizeof rq->allow;
	allow[0] = 0;
	for (int i = 0; routes[i].method; i++) {
		if (!match(rq, routes[i].pattern, rq->path))
			continue;
		/* HEAD is a GET whose body libmicrohttpd leaves out */
		if (!strcmp(routes[i].method, rq->method) ||
		    (!strcmp(rq->method, "HEAD") && !strcmp(routes[i].method, "GET"))) {
			rq->route = &routes[i];
			rq->route_index = i;
			return;
		}
		size_t n = strlen(allow);
		snprintf(allow + n, allow_n - n, "%s%s", n ? ", " : "", routes[i].method);
	}
	if (allow[0]) {
		api_error(rq, E_METHOD_NOT_ALLOWED, json_pack("{s:s}", "allow", allow), NULL);
	} else {
		api_error(rq, E_NOT_FOUND, NULL, "no route for %s", rq->path);
	}
}

static bool unsafe_method(const char *m)
{
	return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

/* Who the request is: a Bearer API key, else the session cookie (api/sessions.c), whose
 * unsafe requests must also carry the session's X-CSRF-Token (a key needs none: a page on
 * another site cannot make a browser send one). 1 when it is someone (rq->who set), else 0
 * with the reply set. */
static int identify(struct req *rq)
{
	const char *h = api_header(rq, "Authorization");
	char token[SESSION_TOKEN_LEN + 1];
	if (h && !strncmp(h, "Bearer ", 7)) {
		int found = srv_auth_lookup(h + 7, &rq->who);
		if (found < 0) {
			api_error(rq, E_DB_UNAVAILABLE, NULL, NULL);
			return 0;
		}
		if (!found) {
			api_error(rq, E_UNAUTHORIZED, NULL, "unknown or revoked API key");
			return 0;
		}
		return 1;
	}
	if (!h && api_session_token(rq, token)) {
		if (api_session_authenticate(rq, token) != 1)
			return 0;
		if (unsafe_method(rq->method) && !api_session_csrf_ok(rq, token)) {
			api_error(rq, E_CSRF_REQUIRED, NULL, NULL);
			return 0;
		}
		return 1;
	}
	api_error(rq, E_UNAUTHORIZED, NULL, "missing Authorization: Bearer <api key> (or a session cookie)");
	return 0;
}

/* 1 when authorised (rq->who set), else 0 with the reply set. */
static int authenticate(struct req *rq)
{
	if (!identify(rq))
		return 0;
	/* admin may read what any role may read (API.md); it changes only what it is listed for */
	bool admin_read = rq->who.role == ROLE_ADMIN && (!strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD"));
	if (!(rq->route->roles & rq->who.role) && !admin_read) {
		api_error(rq, E_FORBIDDEN, NULL, "role %s may not use this endpoint",
			  srv_role_name(rq->who.role));
		return 0;
	}
	return 1;
}

/* JSON nested deeper than this is refused before it is parsed (the parser recurses once a
 * level; no wattle body needs more than a handful). */
#define MAX_JSON_DEPTH 32

static bool too_deep(const char *p, size_t n)
{
	int depth = 0;
	bool str = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = false;
		} else if (c == '"') {
			str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > MAX_JSON_DEPTH)
				return true;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return false;
}

static int parse_body(struct req *rq)
{
	if (rq->too_large) {
		api_error(rq, E_BODY_TOO_LARGE, json_pack("{s:I}", "max_bytes", (json_int_t)rq->body_limit),
			  NULL);
		return 0;
	}
	const char *ct = api_header(rq, "Content-Type");
	size_t n = strlen("application/json");
	if (!ct || strncasecmp(ct, "application/json", n) || (ct[n] && ct[n] != ';' && ct[n] != ' ')) {
		api_error(rq, E_UNSUPPORTED_MEDIA_TYPE, NULL, NULL);
		return 0;
	}
	if (too_deep(rq->body ? rq->body : "", rq->body_len)) {
		api_error(rq, E_MALFORMED_JSON, json_pack("{s:i}", "max_depth", MAX_JSON_DEPTH),
			  "the body nests deeper than %d levels", MAX_JSON_DEPTH);
		return 0;
	}
	json_error_t jerr;
	rq->json = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!rq->json) {
		api_error(rq, E_MALFORMED_JSON,
			  json_pack("{s:i, s:i}", "line", jerr.line, "column", jerr.column), "%s",
			  jerr.text);
		return 0;
	}
	if (!json_is_object(rq->json)) {
		api_error(rq, E_MALFORMED_JSON, NULL, "the body must be a JSON object");
		return 0;
	}
	return 1;
}

/* The client's IPv4 address as a number (0 when unknown): the TCP peer's, or, when the
 * peer is a trusted proxy (WATTLE_TRUSTED_PROXIES) and sends a valid X-Real-IP, that one.
 * Anyone else's X-Real-IP is ignored: a client cannot pick the address it is limited and
 * audited by. */
static uint32_t client_addr(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!i || !i->client_addr || i->client_addr->sa_family != AF_INET)
		return 0;
	uint32_t peer = ntohl(((const struct sockaddr_in *)(const void *)i->client_addr)->sin_addr.s_addr);
	for (unsigned k = 0; k < n_trusted_proxy; k++)
		if (trusted_proxy[k] == peer) {
			const char *real = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Real-IP");
			struct in_addr a;
			if (real && inet_pton(AF_INET, real, &a) == 1)
				return ntohl(a.s_addr);
			break;
		}
	return peer;
}

static bool limited(struct req *rq, int64_t wait, enum refusal why, const char *what)
{
	if (!wait)
		return false;
	rq->retry_after = wait;
	srv_counters_add(&refused, (int)why, 1);
	api_error(rq, E_RATE_LIMITED, json_pack("{s:I}", "retry_after_s", (json_int_t)wait), "%s; retry in %lld s",
		  what, (long long)wait);
	return true;
}

/* Authenticate with the limits around it: an address that failed to authenticate too
 * often is refused before its key is even looked at (key guessing gets nowhere, and shows
 * in wattle_auth_failures_total), and a key over its rate is refused after. */
static int admit(struct req *rq)
{
	int64_t now = srv_mono_us();
	uint64_t addr = rq->client_addr;
	if (limited(rq, srv_limit_take(SRV_BUCKET_ADDR, addr, now), REF_ADDR_RATE, "this address is over its rate"))
		return 0;
	/* a sign-in takes a failure token too, given back unless it was a 401 (dispatch): guessing
	 * passwords or codes across many users from one address is throttled as key guessing is */
	if (rq->route->flags & ROUTE_SIGN_IN)
		return !limited(rq, srv_limit_take(SRV_BUCKET_AUTH_FAIL, addr, now), REF_AUTH_THROTTLED,
				"too many failed authentications from this address");
	if (!rq->route->roles)
		return 1;
	/* every attempt takes a failure token first and a good key gives it back, so parallel
	 * guesses cannot all pass while one token is left */
	if (limited(rq, srv_limit_take(SRV_BUCKET_AUTH_FAIL, addr, now), REF_AUTH_THROTTLED,
		    "too many failed authentications from this address"))
		return 0;
	if (!authenticate(rq)) {
		if (rq->status == 401)
			srv_counters_add(&auth_failures, 0, 1);
		else /* 403 or 503: the key was good (or unknown for now) */
			srv_limit_give(SRV_BUCKET_AUTH_FAIL, addr);
		return 0;
	}
	srv_limit_give(SRV_BUCKET_AUTH_FAIL, addr);
	/* a session has its own bucket, apart from every key's */
	uint64_t who = rq->who.key_id ? (uint64_t)rq->who.key_id : UINT64_C(1) << 62 | (uint64_t)rq->who.session_id;
	return !limited(rq, srv_limit_take(SRV_BUCKET_KEY, who, now), REF_KEY_RATE,
			rq->who.key_id ? "this API key is over its rate" : "this session is over its rate");
}

/* A 201 whose reply has an id, on a collection with a GET of one member (POST /v1/tenants,
 * GET /v1/tenants/{id}), says where the new resource is. */
static void set_location(struct req *rq)
{
	if (rq->status != 201 || !rq->reply || rq->deferred)
		return;
	const char *id = json_string_value(json_object_get(rq->reply, "id"));
	if (!id || strchr(id, '/'))
		return;
	char want[128];
	snprintf(want, sizeof want, "%s/{id}", rq->route->pattern);
	for (int i = 0; routes[i].method; i++)
		if (!strcmp(routes[i].method, "GET") && !strcmp(routes[i].pattern, want)) {
			snprintf(rq->location, sizeof rq->location, "%s/%s", rq->path, id);
			return;
		}
}

static void dispatch_admitted(struct req *rq)
{
	if (admitted && rq->who.key_id)
		admitted(rq);
	if ((rq->route->flags & ROUTE_BODY) && !parse_body(rq))
		return;
	if ((rq->route->flags & ROUTE_RAW) && rq->too_large) {
		api_error(rq, E_BODY_TOO_LARGE, json_pack("{s:I}", "max_bytes", (json_int_t)rq->body_limit),
			  NULL);
		return;
	}
	/* a user bound to sites is kept to them here, for every route at once */
	if (rq->route->roles && !api_site_reach(rq))
		return;
	uint64_t s0 = db_thread_statements();
	rq->route->fn(rq);
	set_location(rq);
	rq->db_statements = (int64_t)(db_thread_statements() - s0);
	/* A deferred request belongs to the worker now: its reply may be half set. */
	if (!rq->deferred && !rq->status)
		api_error(rq, E_INTERNAL, NULL, "handler set no reply");
}

static void dispatch(struct req *rq)
{
	if (!rq->route) /* routed at the first callback; the reply is set */
		return;
	if (!admit(rq))
		return;
	dispatch_admitted(rq);
	if (rq->route->flags & ROUTE_SIGN_IN) { /* the failure token admit took */
		if (rq->status == 401)
			srv_counters_add(&auth_failures, 0, 1);
		else
			srv_limit_give(SRV_BUCKET_AUTH_FAIL, rq->client_addr);
	}
}

/* One line per request, built by hand: it runs on every request, so no JSON library,
 * no printf, no floating point. */
static void log_request(struct req *rq, int64_t dur_us)
{
	if (!srv_log_enabled(LOG_INFO))
		return;
	struct srv_buf b = {0};
	char when[40];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	srv_time_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, when, sizeof when);
	PUT_LIT(&b, "{\"ts\":\"");
	srv_buf_puts(&b, when);
	PUT_LIT(&b, "\",\"level\":\"info\",\"msg\":\"request\",\"method\":");
	srv_buf_json_str(&b, rq->method);
	PUT_LIT(&b, ",\"path\":");
	srv_buf_json_str(&b, rq->path);
	PUT_LIT(&b, ",\"status\":");
	srv_buf_i64(&b, rq->status);
	PUT_LIT(&b, ",\"duration_ms\":");
	srv_buf_i64(&b, dur_us / 1000);
	char frac[4] = {'.', (char)('0' + dur_us / 100 % 10), (char)('0' + dur_us / 10 % 10),
			(char)('0' + dur_us % 10)};
	srv_buf_putn(&b, frac, 4);
	PUT_LIT(&b, ",\"request_id\":");
	srv_buf_json_str(&b, rq->request_id);
	if (rq->who.key_id) {
		PUT_LIT(&b, ",\"key_id\":");
		srv_buf_i64(&b, rq->who.key_id);
	}
	if (rq->who.session_id) {
		PUT_LIT(&b, ",\"session_id\":");
		srv_buf_i64(&b, rq->who.session_id);
	}
	if (rq->who.user_id) {
		PUT_LIT(&b, ",\"user_id\":");
		srv_buf_i64(&b, rq->who.user_id);
	}
	if (!rq->deferred) { /* a deferred request's statements ran on a worker, in a batch */
		PUT_LIT(&b, ",\"db_statements\":");
		srv_buf_i64(&b, rq->db_statements);
	}
	srv_buf_putc(&b, '}');
	srv_log_raw(b.p);
	srv_buf_free(&b);
}

/* Replies this big or bigger are sent gzip-compressed to a client that accepts it (a ledger
 * page of 300 KB is 35 KB so); smaller ones are not worth the CPU. */
#define GZIP_MIN 1400

static bool accepts_gzip(struct req *rq)
{
	const char *ae = api_header(rq, "Accept-Encoding");
	for (const char *p = ae; p && *p;) { /* "gzip", "gzip;q=0.5", "*"; q=0 refuses */
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ";,");
		while (n && p[n - 1] == ' ')
			n--;
		bool named = (n == 4 && !strncasecmp(p, "gzip", 4)) || (n == 1 && *p == '*');
		const char *end = p + strcspn(p, ",");
		const char *q = memchr(p, ';', (size_t)(end - p));
		bool q_zero = false;
		if (q) {
			q++;
			while (*q == ' ')
				q++;
			if ((*q == 'q' || *q == 'Q') && q[1] == '=')
				q_zero = strtod(q + 2, NULL) == 0;
		}
		if (named)
			return !q_zero;
		p = end;
	}
	return false;
}

/* n bytes of p as gzip (new, *out_n its length), or NULL. Level 1: most of the gain for a
 * fraction of the time. */
static char *gzip(const char *p, size_t n, size_t *out_n)
{
	z_stream z = {0};
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	uLong cap = deflateBound(&z, (uLong)n);
	char *out = malloc(cap);
	if (!out) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	*out_n = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

/* Queue the reply. Metrics and the log line are written first, so a client that has its
 * reply sees this request counted. */
static enum MHD_Result send_reply(struct req *rq)
{
	int64_t dur = srv_mono_us() - rq->t0_us;
	srv_metrics_observe(rq->route_index < 0 ? nroutes : rq->route_index, rq->status,
			    dur);
	log_request(rq, dur);
	struct MHD_Response *resp = NULL;
	char *body = NULL;
	size_t body_n = 0;
	const char *ctype = NULL;
	if (rq->reply) {
		if (!(body = json_dumps(rq->reply, JSON_COMPACT)))
			abort();
		body_n = strlen(body);
		ctype = "application/json";
	} else if (rq->raw) {
		body = rq->raw;
		body_n = rq->raw_len;
		rq->raw = NULL;
		ctype = rq->content_type;
	}
	bool gz = false;
	if (rq->stream) { /* made by the handler (an event stream): no body of ours */
		resp = rq->stream;
		rq->stream = NULL;
	} else if (body && body_n >= GZIP_MIN && accepts_gzip(rq)) {
		size_t zn;
		char *z = gzip(body, body_n, &zn);
		if (z) {
			free(body);
			body = z;
			body_n = zn;
			gz = true;
		}
	}
	if (resp) {
		free(body);
	} else if (body) {
		resp = MHD_create_response_from_buffer(body_n, body, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type", ctype);
		if (gz)
			MHD_add_response_header(resp, "Content-Encoding", "gzip");
	} else if (!resp) {
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	}
	MHD_add_response_header(resp, "X-Request-Id", rq->request_id);
	if (rq->allow[0])
		MHD_add_response_header(resp, "Allow", rq->allow);
	if (rq->close)
		MHD_add_response_header(resp, "Connection", "close");
	if (rq->asset) {
		/* a console file keeps its URL from one release to the next: the browser asks each
		 * time and gets 304 while it has this one; gzip bytes are another representation */
		if (rq->etag[0]) {
			char tag[sizeof rq->etag + 4];
			size_t n = strlen(rq->etag);
			if (gz && n >= 2)
				snprintf(tag, sizeof tag, "%.*s-gz\"", (int)(n - 1), rq->etag);
			else
				snprintf(tag, sizeof tag, "%s", rq->etag);
			MHD_add_response_header(resp, "ETag", tag);
		}
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
		MHD_add_response_header(resp, "Vary", "Accept-Encoding");
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	} else if (rq->etag[0]) {
		MHD_add_response_header(resp, "ETag", rq->etag);
		MHD_add_response_header(resp, "Cache-Control", "private, max-age=31536000, immutable");
		MHD_add_response_header(resp, "Vary", "Accept, Accept-Encoding");
	} else if (body_n >= GZIP_MIN) {
		MHD_add_response_header(resp, "Vary", "Accept-Encoding");
	}
	if (rq->set_cookie[0]) {
		MHD_add_response_header(resp, "Set-Cookie", rq->set_cookie);
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	if (rq->csp)
		MHD_add_response_header(resp, "Content-Security-Policy", rq->csp);
	if ((rq->status == 201 || (rq->status >= 300 && rq->status < 400)) && rq->location[0])
		MHD_add_response_header(resp, "Location", rq->location);
	if (rq->retry_after) {
		char ra[24];
		snprintf(ra, sizeof ra, "%lld", (long long)rq->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	enum MHD_Result ret = MHD_queue_response(rq->conn, rq->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Framing. A request that two HTTP parsers could read two ways is where smuggling starts:
 * the part after what one of them took for the end runs as a second request. So, once
 * the headers are in and before any body is read, refuse (400, then close) two
 * Content-Length headers, Content-Length with Transfer-Encoding, any transfer coding but
 * a single "chunked", a length that is not digits, a header name that is not an RFC 9110
 * token (a space before the colon), and NUL or control bytes in a name or value. */

struct framing {
	int lengths, codings;
	size_t headers, bytes; /* how many, and their size as "name:value\r\n" */
	const char *why;       /* the first fault, static */
};

static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static enum MHD_Result framing_scan(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				    const char *value, size_t value_size)
{
	(void)kind;
	struct framing *f = cls;
	const char *why = NULL;
	f->headers++;
	f->bytes += key_size + 1 + value_size + 2;
	if (!key_size)
		why = "an empty header name";
	for (size_t i = 0; i < key_size && !why; i++)
		if (!tchar((unsigned char)key[i]))
			why = "a header name with a space or control byte";
	for (size_t i = 0; value && i < value_size && !why; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			why = "a NUL or control byte in a header value";
	}
	if (!why && !strcasecmp(key, "Content-Length")) {
		f->lengths++;
		if (!value || !value_size || strspn(value, "0123456789") != value_size)
			why = "a Content-Length that is not digits";
	}
	if (!why && !strcasecmp(key, "Transfer-Encoding")) {
		f->codings++;
		if (!value || strcasecmp(value, "chunked"))
			why = "a transfer coding other than chunked";
	}
	if (!why && f->lengths > 1)
		why = "two Content-Length headers";
	if (!why && f->codings > 1)
		why = "two Transfer-Encoding headers";
	if (!why && f->lengths && f->codings)
		why = "both Content-Length and Transfer-Encoding";
	if (why && !f->why)
		f->why = why;
	return MHD_YES;
}

/* A NUL in a header line cuts it for libmicrohttpd 0.9.75 (it reads lines as C strings),
 * so the header's value is shorter than what was sent, and nothing in its API says so:
 * two Idempotency-Keys that differ only after a NUL were one key. The bytes that did
 * arrive are counted, though (the header's size), and every byte the parser kept is in the
 * request line and the headers: what arrived beyond them is the whitespace after each
 * colon, one space in every client's "Name: value". More than one byte per header is
 * refused as bytes the parser did not see. That is a bound, not a proof (a client that
 * writes "Name:value" lends a NUL elsewhere the missing spaces' room), so the head's bytes
 * are then looked at themselves (cover_header below). libmicrohttpd 1.0 refuses binary
 * zeros itself, and is asked to below when wattle is built against it; Debian 12 has 0.9.75. */
/* Where the byte count cannot tell, the bytes themselves can: libmicrohttpd 0.9.75 parses the
 * head in place, in its read buffer, which holds it for the request's life, and hands out
 * the method, target and every header's name and value as pointers into it. So every byte
 * of the head [method, method + header_size) is inside one of those strings or is a
 * separator the parser put a NUL over or skipped (CR, LF, the colon, spaces and tabs around
 * values); a byte that is neither came after a NUL the parser stopped at. When some string
 * is not in that span (a libmicrohttpd that copies), only the count above is relied on. */
struct cover {
	const char *base;
	size_t n;
	unsigned char *mark;
	bool outside;
};

static void cover_span(struct cover *cv, const char *p, size_t len)
{
	if (!p || p < cv->base || p + len > cv->base + cv->n) {
		cv->outside = true;
		return;
	}
	memset(cv->mark + (p - cv->base), 1, len);
}

static enum MHD_Result cover_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				    const char *value, size_t value_size)
{
	(void)kind;
	cover_span(cls, key, key_size);
	if (value)
		cover_span(cls, value, value_size);
	return MHD_YES;
}

static const char *unseen_bytes(size_t header_size, const struct req *rq, const char *version,
				const struct framing *f)
{
	if (!header_size || !rq->raw_uri_len)
		return NULL;
	size_t seen = strlen(rq->method) + 1 + rq->raw_uri_len + 1 + strlen(version) + 2 + f->bytes + 2;
	if (header_size > seen + f->headers)
		return "header bytes the parser did not read (a NUL) or padding after a colon";
	if (header_size > HEADERS_MAX)
		return NULL;
	unsigned char mark[HEADERS_MAX];
	memset(mark, 0, header_size);
	struct cover cv = {rq->method, header_size, mark, false};
	cover_span(&cv, rq->method, strlen(rq->method));
	cover_span(&cv, rq->path, rq->raw_uri_len); /* the target as sent: decoded in place, shorter */
	cover_span(&cv, version, strlen(version));
	MHD_get_connection_values_n(rq->conn, MHD_HEADER_KIND, cover_header, &cv);
	if (cv.outside)
		return NULL;
	for (size_t i = 0; i < header_size; i++)
		if (!mark[i] && !strchr(" \t\r\n:", cv.base[i])) /* strchr finds the NUL too */
			return "header bytes the parser did not read (after a NUL)";
	return NULL;
}

/* A refused request's log line: its path made printable ASCII (it may be any bytes), and at
 * most one line a second (a client sending nothing but bad requests must not flood the log;
 * wattle_http_refused_total counts them all). */
static void log_refusal(const char *method, const char *url, const char *why)
{
	static _Atomic int64_t last_us;
	static _Atomic uint64_t quiet;
	int64_t now = srv_mono_us(), prev = atomic_load(&last_us);
	if (now - prev < 1000000 || !atomic_compare_exchange_strong(&last_us, &prev, now)) {
		atomic_fetch_add(&quiet, 1);
		return;
	}
	char path[128];
	size_t i = 0;
	for (; url[i] && i + 1 < sizeof path; i++)
		path[i] = url[i] > 0x20 && url[i] < 0x7f ? url[i] : '?';
	path[i] = 0;
	char m[16];
	for (i = 0; method[i] && i + 1 < sizeof m; i++)
		m[i] = method[i] > 0x20 && method[i] < 0x7f ? method[i] : '?';
	m[i] = 0;
	srv_log(LOG_WARN, "http: %s %s refused (%s); the connection is closed (%llu more refused since the last line)",
		m, path, why, (unsigned long long)atomic_exchange(&quiet, 0));
}

/* The header deadline. libmicrohttpd's idle timeout (WATTLE_IDLE_TIMEOUT_S) restarts on every
 * byte, so a client sending its headers a byte every few seconds held a connection, its
 * memory pool and a slot of the per-address limit for as long as it liked. Now a request's
 * line and headers must be complete within WATTLE_HEADER_TIMEOUT_S of its first byte: a
 * sweeper thread shuts the socket down (shutdown(2), not close) and libmicrohttpd, seeing
 * the end of the stream, closes the connection itself.
 *
 * Each connection has a track, made when libmicrohttpd starts it and removed (under
 * tracks_mu) when it closes it; libmicrohttpd closes the socket only after that (0.9.75,
 * daemon.c: the CLOSED notification comes before the close), and the sweeper holds
 * tracks_mu while it touches any socket, so a closed connection's fd, even once a new
 * connection has the same number, is never shut down. A track is armed while its
 * connection waits for a request's headers: from the accept, and again from the end of
 * each reply (keep-alive), disarmed once the headers are in (the body has its own bound,
 * WATTLE_REQUEST_TIMEOUT_S). The deadline runs from the request's first byte, which
 * libmicrohttpd does not tell: the sweeper sees it come as the kernel's count of bytes
 * received on the socket (TCP_INFO tcpi_bytes_received) growing past what it was when the
 * track was armed, so the first byte's time is known to within a sweep (SWEEP_MS; a
 * client gets that much more, never less), and an idle keep-alive connection is bounded
 * by the idle timeout only. Bytes of a pipelined request that arrived before the previous
 * reply ended are not seen as new: such a request's deadline starts at its next byte. On a
 * kernel without that count (before Linux 4.1) the deadline runs from the arming instead:
 * from the accept or the end of the previous reply. */
#define SWEEP_MS 250

struct conn_track {
	struct conn_track *prev, *next; /* in tracks, under tracks_mu */
	int fd;                         /* the connection's socket, open while the track is listed */
	pthread_mutex_t mu;             /* guards what follows */
	int64_t armed_us;               /* since when it waits for a request's headers; 0: not waiting */
	uint64_t bytes_mark;            /* the socket's bytes received then */
	int64_t first_us;               /* when the request's first byte was seen; 0: not yet */
	bool cut;                       /* the sweeper shut it down */
	char uri[96];                   /* the last request target, for the log */
};

static pthread_mutex_t tracks_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn_track *tracks;
static int64_t header_timeout_us = 10 * INT64_C(1000000);
static pthread_t sweeper;
static bool sweeper_on;
static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cv;
static bool sweep_stop;

/* Bytes the kernel received on fd so far, into *n; false when it cannot say. */
static bool bytes_in(int fd, uint64_t *n)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
		return false;
	*n = ti.tcpi_bytes_received;
	return true;
}

/* Start waiting for a request's headers (t->mu held). */
static void track_arm(struct conn_track *t, int64_t now)
{
	t->armed_us = now;
	t->first_us = 0;
	if (!bytes_in(t->fd, &t->bytes_mark))
		t->first_us = now;
}

static struct conn_track *track_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	struct conn_track *t = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!i || !(t = calloc(1, sizeof *t)))
			return; /* untracked: bounded by the idle timeout only */
		t->fd = i->connect_fd;
		pthread_mutex_init(&t->mu, NULL);
		track_arm(t, srv_mono_us());
		t->bytes_mark = 0; /* from the connection's very first byte */
		pthread_mutex_lock(&tracks_mu);
		t->next = tracks;
		if (tracks)
			tracks->prev = t;
		tracks = t;
		pthread_mutex_unlock(&tracks_mu);
		*socket_context = t;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && t) {
		pthread_mutex_lock(&tracks_mu);
		if (t->prev)
			t->prev->next = t->next;
		else
			tracks = t->next;
		if (t->next)
			t->next->prev = t->prev;
		pthread_mutex_unlock(&tracks_mu);
		pthread_mutex_destroy(&t->mu);
		free(t);
		*socket_context = NULL;
	}
}

/* The request line is in (on_uri): its first byte came no later than now. */
static void track_uri(struct MHD_Connection *c, const char *uri)
{
	struct conn_track *t = track_of(c);
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	if (t->armed_us && !t->first_us)
		t->first_us = srv_mono_us();
	snprintf(t->uri, sizeof t->uri, "%s", uri);
	pthread_mutex_unlock(&t->mu);
}

/* The headers are in: stop the clock. False when the sweeper cut the connection first (the
 * request must not run: its sender was told nothing and the socket is shut). */
static bool track_headers_done(struct MHD_Connection *c)
{
	struct conn_track *t = track_of(c);
	if (!t)
		return true;
	pthread_mutex_lock(&t->mu);
	bool cut = t->cut;
	t->armed_us = 0;
	pthread_mutex_unlock(&t->mu);
	return !cut;
}

/* A request ended (its reply sent, or the connection failed): wait for the next. */
static void track_request_done(struct MHD_Connection *c)
{
	struct conn_track *t = track_of(c);
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	if (!t->cut)
		track_arm(t, srv_mono_us());
	pthread_mutex_unlock(&t->mu);
}

static void sweep(void)
{
	int64_t now = srv_mono_us();
	unsigned cut = 0;
	char uri[96] = "-";
	pthread_mutex_lock(&tracks_mu);
	for (struct conn_track *t = tracks; t; t = t->next) {
		pthread_mutex_lock(&t->mu);
		if (t->armed_us && !t->cut) {
			uint64_t n;
			if (!t->first_us && bytes_in(t->fd, &n) && n > t->bytes_mark)
				t->first_us = now;
			if (t->first_us && now - t->first_us >= header_timeout_us) {
				/* counted before the shutdown: a client that sees its stream end
				 * and asks /metrics at once finds the refusal there */
				srv_counters_add(&refused, REF_SLOW_HEADERS, 1);
				shutdown(t->fd, SHUT_RDWR);
				t->cut = true;
				if (!cut++ && t->uri[0])
					snprintf(uri, sizeof uri, "%s", t->uri);
			}
		}
		pthread_mutex_unlock(&t->mu);
	}
	pthread_mutex_unlock(&tracks_mu);
	if (cut)
		log_refusal("-", uri, "the request line and headers were still arriving after WATTLE_HEADER_TIMEOUT_S");
}

static void *sweeper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sweep_mu);
	while (!sweep_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SWEEP_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&sweep_cv, &sweep_mu, &ts);
		if (sweep_stop)
			break;
		pthread_mutex_unlock(&sweep_mu);
		sweep();
		pthread_mutex_lock(&sweep_mu);
	}
	pthread_mutex_unlock(&sweep_mu);
	return NULL;
}

static void sweeper_start(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sweep_cv, &ca);
	pthread_condattr_destroy(&ca);
	sweep_stop = false;
	sweeper_on = pthread_create(&sweeper, NULL, sweeper_main, NULL) == 0;
	if (!sweeper_on)
		srv_log(LOG_ERROR, "http: no header deadline sweeper (pthread_create failed): slow headers are bounded by the idle timeout only");
}

static void sweeper_stop(void)
{
	if (!sweeper_on)
		return;
	pthread_mutex_lock(&sweep_mu);
	sweep_stop = true;
	pthread_cond_signal(&sweep_cv);
	pthread_mutex_unlock(&sweep_mu);
	pthread_join(sweeper, NULL);
	sweeper_on = false;
	pthread_cond_destroy(&sweep_cv);
}

/* The request target as sent (before any decoding), seen before the headers are read:
 * the struct req begins here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	struct req *rq = calloc(1, sizeof *rq);
	if (!rq)
		abort();
	rq->conn = conn;
	rq->raw_uri_len = strlen(uri);
	track_uri(conn, uri);
	return rq;
}

/* Percent-decoding of the path and the query. %00 is never decoded (a NUL would cut the
 * string, so the router would see another path than the one sent), and in the path %2F is
 * not either (an id with a slash in it would be routed as two segments): both stay as
 * they were sent, so the id they are part of names nothing. The path is the string MHD
 * passes that begins with '/'; query names and values never need a slash kept. */
static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	bool path = s[0] == '/';
	char *o = s;
	for (const char *p = s; *p;) {
		int hi, lo;
		if (p[0] == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
			int v = hi * 16 + lo;
			if (v != 0 && !(path && v == '/')) {
				*o++ = (char)v;
				p += 3;
				continue;
			}
		}
		*o++ = *p++;
	}
	*o = 0;
	return (size_t)(o - s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **req_cls)
{
	(void)cls;
	struct req *rq = *req_cls;
	if (!rq) { /* (on_uri makes it; this is only if it did not run) */
		if (!(rq = calloc(1, sizeof *rq)))
			abort();
		*req_cls = rq;
	}
	if (!rq->started) {
		if (!track_headers_done(conn))
			return MHD_NO; /* cut for slow headers just before they were complete */
		rq->started = true;
		rq->conn = conn;
		rq->method = method;
		rq->path = url;
		rq->route_index = -1;
		rq->t0_us = srv_mono_us();
		rq->client_addr = client_addr(conn);
		struct framing f = {0, 0, 0, 0, NULL};
		MHD_get_connection_values_n(conn, MHD_HEADER_KIND, framing_scan, &f);
		const union MHD_ConnectionInfo *hs = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
		size_t header_size = hs ? hs->header_size : 0;
		if (header_size > HEADERS_MAX) { /* answered in JSON, while the pool has room to */
			rq->answered = rq->close = true;
			set_request_id(rq);
			api_error(rq, E_HEADERS_TOO_LARGE, json_pack("{s:i}", "max_bytes", HEADERS_MAX), NULL);
			return send_reply(rq);
		}
		if (!f.why)
			f.why = unseen_bytes(header_size, rq, version, &f);
		if (f.why) {
			rq->answered = rq->close = true;
			set_request_id(rq);
			srv_counters_add(&refused, REF_FRAMING, 1);
			log_refusal(method, url, f.why);
			api_error(rq, E_MALFORMED_REQUEST, json_pack("{s:s}", "reason", f.why), NULL);
			return send_reply(rq);
		}
		route(rq);
		rq->body_limit = rq->route && (rq->route->flags & ROUTE_BIG_BODY) ? 8 * body_max : body_max;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > rq->body_limit) {
			/* Refuse at once rather than read a body we will throw away; MHD closes
			 * the connection after this reply. */
			rq->too_large = rq->answered = true;
			set_request_id(rq);
			api_error(rq, E_BODY_TOO_LARGE,
				  json_pack("{s:I}", "max_bytes", (json_int_t)rq->body_limit), NULL);
			return send_reply(rq);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* A body trickled in (a slow client holding a thread's worth of attention and a
		 * connection) is cut off: the connection is closed, nothing runs. */
		if (srv_mono_us() - rq->t0_us > request_timeout_us) {
			srv_counters_add(&refused, REF_SLOW_BODY, 1);
			log_refusal(method, url, "the body was still arriving after WATTLE_REQUEST_TIMEOUT_S");
			return MHD_NO;
		}
		if (!rq->too_large) {
			size_t need = rq->body_len + *upload_size;
			if (need > rq->body_limit) {
				rq->too_large = true;
				free(rq->body);
				rq->body = NULL;
				rq->body_len = 0;
			} else {
				if (need + 1 > rq->body_cap) {
					size_t cap = rq->body_cap ? rq->body_cap : 4096;
					while (cap < need + 1)
						cap *= 2;
					rq->body = realloc(rq->body, cap);
					if (!rq->body)
						abort();
					rq->body_cap = cap;
				}
				memcpy(rq->body + rq->body_len, upload_data, *upload_size);
				rq->body_len = need;
				rq->body[need] = 0;
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->answered) /* 413 on Content-Length, at the first callback */
		return MHD_YES;
	if (rq->deferred) /* resumed by api_complete(): the reply is set */
		return send_reply(rq);
	set_request_id(rq);
	dispatch(rq);
	if (rq->deferred) { /* counted before a worker's resume can be seen: it runs on return */
		atomic_fetch_add(&suspended, 1);
		return MHD_YES;
	}
	return send_reply(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	track_request_done(conn);
	struct req *rq = *req_cls;
	if (!rq)
		return;
	if (rq->deferred)
		atomic_fetch_sub(&suspended, 1);
	if (rq->stream) /* made, never queued */
		MHD_destroy_response(rq->stream);
	json_decref(rq->json);
	json_decref(rq->reply);
	free(rq->raw);
	free(rq->body);
	free(rq);
	*req_cls = NULL;
}

static void on_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
	(void)cls;
	srv_log(LOG_ERROR, "libmicrohttpd panic at %s:%u: %s", file, line, reason ? reason : "");
	abort();
}

struct MHD_Daemon *srv_http_start(const struct http_opts *o)
{
	body_max = o->body_max;
	n_trusted_proxy = o->n_trusted_proxies < SRV_TRUSTED_PROXIES_MAX ? o->n_trusted_proxies : SRV_TRUSTED_PROXIES_MAX;
	if (n_trusted_proxy)
		memcpy(trusted_proxy, o->trusted_proxies, n_trusted_proxy * sizeof trusted_proxy[0]);
	if (o->request_timeout_s > 0)
		request_timeout_us = o->request_timeout_s * 1000000;
	if (o->header_timeout_s > 0)
		header_timeout_us = o->header_timeout_s * 1000000;
	routes = o->routes;
	admitted = o->admitted;
	for (nroutes = 0; routes[nroutes].method; nroutes++)
		;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(o->port);
	if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1) {
		srv_log(LOG_ERROR, "http: listen address %s is not an IPv4 address", o->host);
		return NULL;
	}
	MHD_set_panic_func(on_panic, NULL);
	srv_counters_register(&refused);
	srv_counters_register(&auth_failures);
	srv_limits_configure(&o->limits);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
			MHD_ALLOW_SUSPEND_RESUME, o->port, NULL,
		NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, o->threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
		NULL, MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s ? o->idle_timeout_s : 60u, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)4096, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
		/* Headers live in this per-connection pool (bodies are copied out); MHD clears
		 * it between requests, so a smaller pool is less work per request. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(2 * HEADERS_MAX), MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->conn_per_addr,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,

		/* libmicrohttpd's strictest client discipline its version has: HTTP/1.1 needs Host,
		 * no spaces in the request target (from 1.0 also no binary zeros or bare CRs);
		 * framing_scan checks what it lets through */
#if MHD_VERSION >= 0x01000000
		MHD_OPTION_CLIENT_DISCIPLINE_LVL, (int)2, MHD_OPTION_END);
#else
		MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
#endif
	if (!d)
		srv_log(LOG_ERROR, "http: cannot listen on %s:%u", o->host, (unsigned)o->port);
	else
		sweeper_start();
	return d;
}

uint16_t srv_http_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : 0;
}

void srv_http_stop(struct MHD_Daemon *d)
{
	if (!d)
		return;
	/* The workers stopped first and answered every suspended request (a held pull, a queued
	 * batch); stopping the daemon at once closed connections whose resumed answer was not
	 * written yet. Give them up to 2 s. */
	for (int i = 0; i < 200 && atomic_load(&suspended) > 0; i++) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	sweeper_stop();
	MHD_stop_daemon(d);
}
