/* req.c: the error table and the replies every handler sets; header and query lookups;
 * suspending and resuming a request that a worker answers. */
#include "api/req.h"
#include "core/buf.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	unsigned status;
	const char *code;
	const char *message;
} errors[E__COUNT] = {
	[E_MALFORMED_REQUEST] = {400, "malformed_request",
				 "the request's framing or headers are ambiguous or invalid; the connection is closed"},
	[E_MALFORMED_JSON] = {400, "malformed_json", "the body is not valid JSON"},
	[E_RATE_LIMITED] = {429, "rate_limited", "too many requests; retry after Retry-After seconds"},
	[E_HEADERS_TOO_LARGE] = {431, "headers_too_large", "the request's headers are larger than allowed"},
	[E_INVALID_FIELD] = {400, "invalid_field", "a field has an invalid value"},
	[E_MISSING_FIELD] = {400, "missing_field", "a required field is missing"},
	[E_UNKNOWN_FIELD] = {400, "unknown_field", "the body has a field this endpoint does not take"},
	[E_INVALID_PARAMETER] = {400, "invalid_parameter", "a query parameter is invalid"},
	[E_UNAUTHORIZED] = {401, "unauthorized", "a valid API key is required"},
	[E_INVALID_SIGNATURE] = {401, "invalid_signature", "the signature does not verify"},
	[E_FORBIDDEN] = {403, "forbidden", "this key may not do that"},
	[E_NOT_FOUND] = {404, "not_found", "no such resource"},
	[E_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "method not allowed on this path"},
	[E_CONFLICT] = {409, "conflict", "the request conflicts with the resource's state"},
	[E_ALREADY_EXISTS] = {409, "already_exists", "a resource with that identity exists"},
	[E_IDEMPOTENCY_KEY_REUSED] = {409, "idempotency_key_reused",
				      "this Idempotency-Key was used with another request"},
	[E_BODY_TOO_LARGE] = {413, "body_too_large", "the body is larger than allowed"},
	[E_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported_media_type",
				      "the body must be application/json"},
	[E_REFUSED] = {422, "refused", "refused by a rule"},
	[E_CURRENCY_MISMATCH] = {422, "currency_mismatch", "currencies differ"},
	[E_BALANCE_OVERFLOW] = {422, "balance_overflow", "the balance would overflow"},
	[E_DB_UNAVAILABLE] = {503, "database_unavailable", "the database is unavailable; retry"},
	[E_DB_CONFLICT] = {503, "database_busy", "the database stayed busy; retry"},
	[E_SHUTTING_DOWN] = {503, "shutting_down", "the server is stopping; retry"},
	[E_PROVIDER_NOT_CONFIGURED] = {503, "provider_not_configured",
				       "this payment provider is not configured"},
	[E_PROVIDER_ERROR] = {502, "provider_error", "the payment provider refused or failed"},
	[E_PROVIDER_TIMEOUT] = {504, "provider_timeout", "the payment provider did not answer in time"},
	[E_PDF_UNAVAILABLE] = {503, "pdf_unavailable", "PDF receipts cannot be made on this server (its font is missing)"},
	[E_ACCOUNT_CLOSED] = {422, "account_closed", "the tenant moved out: its account takes no new money"},
	[E_TOO_MANY_STREAMS] = {503, "too_many_streams", "this server has as many event streams open as it serves; retry after Retry-After seconds"},
	[E_CSRF_REQUIRED] = {403, "csrf_required",
			     "a request made with the session cookie that changes something must carry X-CSRF-Token"},
	[E_INVALID_CREDENTIALS] = {401, "invalid_credentials", "wrong username or password"},
	[E_LOCKED] = {423, "locked", "too many wrong passwords; this user is locked for a while"},
	[E_PASSWORD_TOO_SHORT] = {422, "password_too_short", "the password must have at least 10 characters"},
	[E_INTERNAL] = {500, "internal_error", "internal error"},
};

unsigned api_err_status(enum api_err e) { return errors[e].status; }
const char *api_err_code(enum api_err e) { return errors[e].code; }

void api_reply(struct req *rq, unsigned status, json_t *body)
{
	json_decref(rq->reply);
	free(rq->raw);
	rq->raw = NULL;
	rq->status = status;
	rq->reply = body;
}

void api_reply_buf(struct req *rq, unsigned status, const char *ctype, struct srv_buf *b)
{
	json_decref(rq->reply);
	rq->reply = NULL;
	free(rq->raw);
	if (!b->p)
		srv_buf_putn(b, "", 0);
	rq->raw = b->p;
	rq->raw_len = b->len;
	rq->status = status;
	rq->content_type = ctype;
	*b = (struct srv_buf){0};
}

bool api_cacheable(struct req *rq, const char *etag)
{
	snprintf(rq->etag, sizeof rq->etag, "\"%s\"", etag);
	const char *inm = api_header(rq, "If-None-Match");
	if (inm && (strstr(inm, rq->etag) || !strcmp(inm, "*"))) {
		api_reply_raw(rq, 304, "application/json", "", 0);
		return true;
	}
	return false;
}

void api_reply_raw(struct req *rq, unsigned status, const char *ctype, const char *buf,
		   size_t len)
{
	struct srv_buf b = {0};
	srv_buf_putn(&b, buf, len);
	api_reply_buf(rq, status, ctype, &b);
}

void api_error(struct req *rq, enum api_err e, json_t *details, const char *fmt, ...)
{
	char msg[512];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
	} else {
		snprintf(msg, sizeof msg, "%s", errors[e].message);
	}
	json_t *err = json_pack("{s:s, s:s}", "code", errors[e].code, "message", msg);
	json_object_set_new(err, "details", details ? details : json_object());
	api_reply(rq, errors[e].status, json_pack("{s:o}", "error", err));
}

void api_defer(struct req *rq)
{
	rq->deferred = true;
	MHD_suspend_connection(rq->conn);
}

void api_defer_hook(void *rq) { api_defer(rq); }

void api_complete(struct req *rq)
{
	if (!rq->status)
		api_error(rq, E_INTERNAL, NULL, "deferred request completed without a reply");
	MHD_resume_connection(rq->conn);
}

/* A request made by a worker (no connection) has no headers and no query. */
const char *api_header(struct req *rq, const char *name)
{
	return rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *api_query(struct req *rq, const char *name)
{
	const char *v = rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
	if (!v && rq->site_implied[0] && !strcmp(name, "site_id"))
		return rq->site_implied;
	return v;
}

