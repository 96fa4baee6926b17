/* prov_stripe.c: calling Stripe (provider.h): a Checkout Session per top-up order, Refunds
 * on its PaymentIntent, and the balance transactions of a day as its bill. Every request
 * carries the secret key as a bearer token; POST bodies are form-encoded with Stripe's
 * bracket keys and carry an Idempotency-Key (the order's or refund's own number), so asking
 * twice does a thing once. Stripe signs none of its API answers (TLS is what vouches for
 * them), so an answer is read as it comes; a refusal is {"error":{"type","code","message"}}. */
#include "api/provider.h"
#include "core/buf.h"
#include "core/valid.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stripe takes expires_at between 30 minutes and 24 hours after it creates the session. We
 * keep a minute inside both bounds: our clock and Stripe's differ, and the request takes time. */
#define EXPIRES_MIN_S 1800
#define EXPIRES_MAX_S 86400
#define CLOCK_SLACK_S 60
#define META_VALUE_MAX 500 /* Stripe's limit on a metadata value */
#define PAGE_MAX 1000      /* pages of a bill we follow before calling it a loop */

/* ---- building requests ---- */

/* Percent-encode every byte but the unreserved ones (RFC 3986), brackets included. */
static void sb_enc(struct srv_buf *b, const char *s) { srv_buf_pct(b, s, NULL); }

/* One "key=value" pair of a form or query string. */
static void sb_pair(struct srv_buf *b, const char *key, const char *val)
{
	if (b->len)
		srv_buf_puts(b, "&");
	sb_enc(b, key);
	srv_buf_puts(b, "=");
	sb_enc(b, val);
}

static void sb_pair_i64(struct srv_buf *b, const char *key, int64_t v)
{
	char s[24];
	snprintf(s, sizeof s, "%lld", (long long)v);
	sb_pair(b, key, s);
}

/* At most META_VALUE_MAX bytes of s, cut at a UTF-8 character's start, into out[501]. */
static const char *meta_value(const char *s, char out[META_VALUE_MAX + 1])
{
	size_t n = s ? strlen(s) : 0;
	if (n > META_VALUE_MAX) {
		n = META_VALUE_MAX;
		while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, s ? s : "", n);
	out[n] = 0;
	return out;
}

/* ---- the exchange ---- */

/* Call Stripe: method path (already encoded; a query included), a form body for POST with
 * its Idempotency-Key. 0 with *out (new) on a 2xx answer. Otherwise -1 with st set: a
 * refusal (4xx) is PR_REFUSED with Stripe's error.code, or error.type when it has no code,
 * and *out holds the error answer (new, may be NULL) for the caller to look at; a 5xx is
 * PR_ERROR "provider_error" (the outcome is unknown). */
static int call(const char *method, const char *path, const char *body, const char *idem, json_t **out,
		struct prov_status *st)
{
	*out = NULL;
	struct srv_buf url = {0};
	srv_buf_puts(&url, pay_cfg.stripe_api_base);
	while (url.len && url.p[url.len - 1] == '/')
		url.p[--url.len] = 0;
	srv_buf_puts(&url, path);
	struct srv_buf auth = {0}, key = {0};
	srv_buf_puts(&auth, "Authorization: Bearer ");
	srv_buf_puts(&auth, pay_cfg.stripe_key);
	const char *hs[4] = {auth.p};
	if (body) {
		hs[1] = "Content-Type: application/x-www-form-urlencoded";
		srv_buf_puts(&key, "Idempotency-Key: ");
		srv_buf_puts(&key, idem);
		hs[2] = key.p;
	}
	struct prov_http rq = {.method = method, .url = url.p, .headers = hs, .body = body,
			       .body_len = body ? strlen(body) : 0};
	struct prov_http_reply rp;
	int rc = prov_http(&rq, &rp, st);
	/* the key is not left lying in freed memory */
	memset(auth.p, 0, auth.len);
	free(auth.p);
	free(key.p);
	free(url.p);
	if (rc < 0)
		return -1;
	json_error_t je;
	json_t *j = json_loadb(rp.body, rp.body_len, JSON_REJECT_DUPLICATES, &je);
	long status = rp.status;
	prov_http_reply_free(&rp);
	if (!json_is_object(j)) {
		json_decref(j);
		return prov_fail(st, PR_ERROR, status, "bad_reply", "Stripe answered %ld with no JSON object", status);
	}
	if (status >= 200 && status < 300) {
		*out = j;
		return 0;
	}
	json_t *e = json_object_get(j, "error");
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	if (!code || !*code)
		code = type;
	*out = j;
	/* A 5xx, and 429 (rate limit, lock timeout) and 409 (the same Idempotency-Key in flight),
	 * say "again later": the outcome is unknown, not a refusal. */
	if (status >= 500 || status == 429 || status == 409 || !code)
		return prov_fail(st, PR_ERROR, status, code && (status == 429 || status == 409) ? code : "provider_error",
				 "Stripe answered %ld: %s", status, msg ? msg : (code ? code : "no error object"));
	/* Stripe's 401 message repeats the end of the key it was given: not ours to keep */
	if (status == 401)
		msg = "Stripe refused the secret key (WATTLE_STRIPE_SECRET_KEY)";
	return prov_fail(st, PR_REFUSED, status, code, "%s", msg ? msg : code);
}

static int bad_reply(struct prov_status *st, const char *what)
{
	return prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "Stripe's answer %s", what);
}

/* A string member of o into out[n]; -1 when absent, empty or too long. */
static int get_str(json_t *o, const char *name, char *out, size_t n)
{
	const char *s = json_string_value(json_object_get(o, name));
	if (!s || !*s || strlen(s) >= n)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* The id of an expandable member: the string itself, or the object's id. */
static const char *expandable_id(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "id"));
}

/* Stripe's currency ("cny") as ours ("CNY") into out[4]; -1 when it is not a known code. */
static int get_currency(json_t *o, char out[4])
{
	const char *c = json_string_value(json_object_get(o, "currency"));
	if (!c || strlen(c) != 3)
		return -1;
	for (int i = 0; i < 3; i++)
		out[i] = (char)toupper((unsigned char)c[i]);
	out[3] = 0;
	return api_valid_currency(out, NULL) ? 0 : -1;
}

/* Stripe counts these in whole units whatever ISO 4217 says: the one whose ISO minor unit
 * differs (MGA) cannot go through with amounts in ISO minor units. */
static bool units_differ(const char *cur, int iso_digits)
{
	static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
					   "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
	for (size_t i = 0; i < sizeof zero / sizeof *zero; i++)
		if (!strcmp(cur, zero[i]))
			return iso_digits != 0;
	return false;
}

static int need_ref(const char *ref, struct prov_status *st)
{
	if (ref && *ref)
		return 0;
	/* Stripe finds a Checkout Session by its id only. A create whose answer was lost is
	 * recovered by creating again with the same out_trade_no: the Idempotency-Key gives
	 * back the first answer. */
	return prov_fail(st, PR_ERROR, 0, "no_reference", "a Stripe order is found by its Checkout Session id");
}

/* "/v1/checkout/sessions/<ref><tail>" into b. */
static void session_path(struct srv_buf *b, const char *ref, const char *tail)
{
	srv_buf_puts(b, "/v1/checkout/sessions/");
	sb_enc(b, ref);
	srv_buf_puts(b, tail);
}

/* ---- orders ---- */

static int order_create(const struct prov_order_req *rq, struct prov_order *out, struct prov_status *st)
{
	int digits;
	if (!rq->out_trade_no || !*rq->out_trade_no || rq->amount_minor <= 0 || !rq->currency ||
	    !api_valid_currency(rq->currency, &digits))
		return prov_fail(st, PR_ERROR, 0, "bad_request", "an order needs out_trade_no, an amount and a currency");
	if (units_differ(rq->currency, digits))
		return prov_fail(st, PR_ERROR, 0, "currency_units",
				 "Stripe does not count %s in ISO 4217 minor units", rq->currency);
	char cur[4], ord[32], ten[32];
	for (int i = 0; i < 4; i++)
		cur[i] = (char)tolower((unsigned char)rq->currency[i]);
	snprintf(ord, sizeof ord, "ord_%lld", (long long)rq->order_id);
	snprintf(ten, sizeof ten, "ten_%lld", (long long)rq->tenant_id);
	struct srv_buf base = {0}, ok_url = {0}, cancel_url = {0}, b = {0};
	srv_buf_puts(&base, pay_cfg.public_url && *pay_cfg.public_url ? pay_cfg.public_url : "https://wattle.invalid");
	while (base.len && base.p[base.len - 1] == '/')
		base.p[--base.len] = 0;
	srv_buf_puts(&base, "/t/?order=");
	sb_enc(&base, rq->out_trade_no);
	srv_buf_puts(&ok_url, base.p);
	srv_buf_puts(&cancel_url, base.p);
	srv_buf_puts(&cancel_url, "&cancelled=1");
	char name[META_VALUE_MAX + 1];
	meta_value(rq->description && *rq->description ? rq->description : "Electricity top-up", name);

	sb_pair(&b, "mode", "payment");
	sb_pair(&b, "line_items[0][price_data][currency]", cur);
	sb_pair(&b, "line_items[0][price_data][product_data][name]", name);
	sb_pair_i64(&b, "line_items[0][price_data][unit_amount]", rq->amount_minor);
	sb_pair(&b, "line_items[0][quantity]", "1");
	sb_pair(&b, "client_reference_id", rq->out_trade_no);
	sb_pair(&b, "metadata[out_trade_no]", rq->out_trade_no);
	sb_pair(&b, "metadata[order_id]", ord);
	sb_pair(&b, "metadata[tenant_id]", ten);
	/* payment_intent.succeeded carries the PaymentIntent's metadata, not the session's */
	sb_pair(&b, "payment_intent_data[metadata][out_trade_no]", rq->out_trade_no);
	sb_pair(&b, "payment_intent_data[metadata][order_id]", ord);
	sb_pair(&b, "payment_intent_data[metadata][tenant_id]", ten);
	sb_pair(&b, "success_url", ok_url.p);
	sb_pair(&b, "cancel_url", cancel_url.p);
	/* Sooner than Stripe allows: no expires_at (Stripe's default, 24 h), and wattle expires
	 * the session itself when its order dies. Later than it allows: the most it allows. */
	int64_t left = rq->expires_s - rq->now_s;
	if (rq->expires_s > 0 && left >= EXPIRES_MIN_S + CLOCK_SLACK_S)
		sb_pair_i64(&b, "expires_at",
			    left > EXPIRES_MAX_S - CLOCK_SLACK_S ? rq->now_s + EXPIRES_MAX_S - CLOCK_SLACK_S
								 : rq->expires_s);
	free(base.p);
	free(ok_url.p);
	free(cancel_url.p);

	json_t *j;
	int rc = call("POST", "/v1/checkout/sessions", b.p, rq->out_trade_no, &j, st);
	free(b.p);
	if (rc == 0 && (get_str(j, "id", out->provider_ref, sizeof out->provider_ref) ||
			get_str(j, "url", out->pay_url, sizeof out->pay_url)))
		rc = bad_reply(st, "has no session id or url");
	if (rc < 0) {
		out->provider_ref[0] = out->pay_url[0] = 0;
	}
	json_decref(j);
	return rc;
}

/* The session's state into out (raw not touched). 0, or -1 with st set. */
static int read_session(json_t *j, const char *out_trade_no, struct prov_trade *out, struct prov_status *st)
{
	const char *status = json_string_value(json_object_get(j, "status"));
	const char *paid = json_string_value(json_object_get(j, "payment_status"));
	const char *mine = json_string_value(json_object_get(json_object_get(j, "metadata"), "out_trade_no"));
	if (!mine)
		mine = json_string_value(json_object_get(j, "client_reference_id"));
	if (out_trade_no && *out_trade_no && (!mine || strcmp(mine, out_trade_no)))
		return bad_reply(st, "is a session of another order");
	if (!status)
		return bad_reply(st, "has no status");
	if (!strcmp(status, "open")) {
		out->state = TRADE_OPEN;
	} else if (!strcmp(status, "expired")) {
		out->state = TRADE_CLOSED;
	} else if (!strcmp(status, "complete")) {
		if (!paid || strcmp(paid, "paid")) { /* a delayed method still settling */
			out->state = TRADE_OPEN;
			return 0;
		}
		json_t *amount = json_object_get(j, "amount_total");
		const char *pi = expandable_id(json_object_get(j, "payment_intent"));
		if (!pi || !*pi || strlen(pi) >= sizeof out->txn || !json_is_integer(amount) ||
		    json_integer_value(amount) < 0 || get_currency(j, out->currency))
			return bad_reply(st, "is a paid session without a payment intent, amount or currency");
		out->state = TRADE_PAID;
		memcpy(out->txn, pi, strlen(pi) + 1);
		out->amount_minor = json_integer_value(amount);
	} else {
		return bad_reply(st, "has an unknown session status");
	}
	return 0;
}

static int order_query(const char *out_trade_no, const char *provider_ref, struct prov_trade *out,
		       struct prov_status *st)
{
	if (need_ref(provider_ref, st))
		return -1;
	struct srv_buf path = {0};
	session_path(&path, provider_ref, "");
	json_t *j;
	int rc = call("GET", path.p, NULL, NULL, &j, st);
	free(path.p);
	if (rc < 0) {
		if (st->result == PR_REFUSED && st->http_status == 404 && !strcmp(st->code, "resource_missing")) {
			memset(st, 0, sizeof *st);
			st->http_status = 404;
			out->state = TRADE_UNKNOWN;
			rc = 0;
		}
		json_decref(j);
		return rc;
	}
	if (read_session(j, out_trade_no, out, st) < 0) {
		json_decref(j);
		memset(out, 0, sizeof *out);
		return -1;
	}
	out->raw = j;
	return 0;
}

static int order_close(const char *out_trade_no, const char *provider_ref, struct prov_status *st)
{
	if (need_ref(provider_ref, st))
		return -1;
	struct srv_buf path = {0}, idem = {0};
	session_path(&path, provider_ref, "/expire");
	srv_buf_puts(&idem, "expire-");
	srv_buf_puts(&idem, provider_ref);
	json_t *j;
	int rc = call("POST", path.p, "", idem.p, &j, st);
	free(path.p);
	free(idem.p);
	json_decref(j);
	if (rc == 0 || st->result != PR_REFUSED || st->http_status == 404)
		return rc;
	/* Stripe expires only an open session: ask how this one stands. */
	struct prov_status refusal = *st;
	struct prov_trade t;
	memset(&t, 0, sizeof t);
	memset(st, 0, sizeof *st);
	if (order_query(out_trade_no, provider_ref, &t, st) < 0)
		return -1;
	json_decref(t.raw);
	if (t.state == TRADE_CLOSED)
		return 0;
	if (t.state == TRADE_PAID)
		return prov_fail(st, PR_REFUSED, refusal.http_status, "paid", "the Checkout Session is paid");
	*st = refusal;
	return -1;
}

/* ---- refunds ---- */

static int read_refund(json_t *j, struct prov_refund *out, struct prov_status *st)
{
	const char *s = json_string_value(json_object_get(j, "status"));
	if (get_str(j, "id", out->refund_ref, sizeof out->refund_ref) || !s)
		return bad_reply(st, "is a refund without id or status");
	if (!strcmp(s, "succeeded"))
		out->state = REFUND_SUCCEEDED;
	else if (!strcmp(s, "pending") || !strcmp(s, "requires_action"))
		out->state = REFUND_PENDING;
	else if (!strcmp(s, "failed") || !strcmp(s, "canceled"))
		out->state = REFUND_FAILED;
	else
		return bad_reply(st, "has an unknown refund status");
	return 0;
}

static int refund_query(const struct prov_refund_req *rq, struct prov_refund *out, struct prov_status *st);

static int refund(const struct prov_refund_req *rq, struct prov_refund *out, struct prov_status *st)
{
	if (!rq->txn || !*rq->txn || !rq->out_refund_no || !*rq->out_refund_no || rq->amount_minor <= 0)
		return prov_fail(st, PR_ERROR, 0, "bad_request", "a refund needs the payment intent, out_refund_no and an amount");
	/* Stripe forgets an Idempotency-Key after 24 hours: a refund asked again (its first
	 * answer lost) is looked for by its out_refund_no first, and made only when Stripe has
	 * none, so that it is never made twice. */
	struct prov_refund_req known = *rq;
	known.refund_ref = NULL;
	int found = refund_query(&known, out, st);
	if (found == 0)
		return 0;
	if (st->result != PR_REFUSED || strcmp(st->code, "resource_missing"))
		return -1;
	memset(out, 0, sizeof *out);
	memset(st, 0, sizeof *st);
	struct srv_buf b = {0};
	char why[META_VALUE_MAX + 1];
	sb_pair(&b, "payment_intent", rq->txn);
	sb_pair_i64(&b, "amount", rq->amount_minor);
	/* Stripe's reason is one of three words; ours is free text and goes in the metadata */
	sb_pair(&b, "reason", "requested_by_customer");
	sb_pair(&b, "metadata[out_refund_no]", rq->out_refund_no);
	if (rq->out_trade_no && *rq->out_trade_no)
		sb_pair(&b, "metadata[out_trade_no]", rq->out_trade_no);
	if (rq->reason && *rq->reason)
		sb_pair(&b, "metadata[reason]", meta_value(rq->reason, why));
	json_t *j;
	int rc = call("POST", "/v1/refunds", b.p, rq->out_refund_no, &j, st);
	free(b.p);
	if (rc == 0 && read_refund(j, out, st) < 0)
		rc = -1;
	if (rc == 0)
		out->raw = j;
	else
		json_decref(j);
	return rc;
}

static int refund_query(const struct prov_refund_req *rq, struct prov_refund *out, struct prov_status *st)
{
	json_t *j;
	struct srv_buf path = {0};
	if (rq->refund_ref && *rq->refund_ref) {
		srv_buf_puts(&path, "/v1/refunds/");
		sb_enc(&path, rq->refund_ref);
		int rc = call("GET", path.p, NULL, NULL, &j, st);
		free(path.p);
		if (rc == 0 && read_refund(j, out, st) < 0)
			rc = -1;
		if (rc == 0)
			out->raw = j;
		else
			json_decref(j);
		return rc;
	}
	if (!rq->txn || !*rq->txn || !rq->out_refund_no || !*rq->out_refund_no)
		return prov_fail(st, PR_ERROR, 0, "bad_request", "a refund is found by its id, or its payment intent and out_refund_no");
	/* The payment intent's refunds, newest first, page by page, until ours. */
	char after[256] = "";
	for (int page = 0; page < PAGE_MAX; page++) {
		struct srv_buf q = {0};
		sb_pair(&q, "payment_intent", rq->txn);
		sb_pair(&q, "limit", "100");
		if (*after)
			sb_pair(&q, "starting_after", after);
		srv_buf_puts(&path, "/v1/refunds?");
		srv_buf_puts(&path, q.p);
		free(q.p);
		int rc = call("GET", path.p, NULL, NULL, &j, st);
		path.len = 0;
		if (rc < 0) {
			free(path.p);
			json_decref(j);
			return -1;
		}
		json_t *data = json_object_get(j, "data"), *r;
		size_t i;
		if (!json_is_array(data)) {
			free(path.p);
			json_decref(j);
			return bad_reply(st, "is a list without data");
		}
		json_array_foreach(data, i, r)
		{
			const char *no = json_string_value(json_object_get(json_object_get(r, "metadata"), "out_refund_no"));
			if (no && !strcmp(no, rq->out_refund_no)) {
				json_incref(r);
				json_decref(j);
				free(path.p);
				if (read_refund(r, out, st) < 0) {
					json_decref(r);
					return -1;
				}
				out->raw = r;
				return 0;
			}
		}
		const char *last = expandable_id(json_array_get(data, json_array_size(data) - 1));
		bool more = json_is_true(json_object_get(j, "has_more")) && last && strlen(last) < sizeof after &&
			    strcmp(last, after);
		if (more)
			snprintf(after, sizeof after, "%s", last);
		json_decref(j);
		if (!more)
			break;
	}
	free(path.p);
	return prov_fail(st, PR_REFUSED, st->http_status, "resource_missing", "no refund %s on %s", rq->out_refund_no,
			 rq->txn);
}

/* ---- the bill ---- */

/* One balance transaction as a line into *l: 1 when it is one, 0 when its type is not a
 * payment or refund, -1 when it cannot be read. */
static int bill_line(json_t *bt, struct prov_bill_line *l)
{
	const char *type = json_string_value(json_object_get(bt, "type"));
	bool pay = type && (!strcmp(type, "charge") || !strcmp(type, "payment"));
	bool ref = type && (!strcmp(type, "refund") || !strcmp(type, "payment_refund"));
	if (!pay && !ref)
		return 0;
	json_t *src = json_object_get(bt, "source"), *amount = json_object_get(bt, "amount"),
	       *created = json_object_get(bt, "created");
	if (!json_is_object(src) || !json_is_integer(amount) || !json_is_integer(created) || get_currency(bt, l->currency))
		return -1;
	int64_t a = json_integer_value(amount);
	const char *sid = json_string_value(json_object_get(src, "id"));
	const char *pi = expandable_id(json_object_get(src, "payment_intent"));
	const char *otn = json_string_value(json_object_get(json_object_get(src, "metadata"), "out_trade_no"));
	if (pay && (!pi || !*pi))
		pi = sid; /* a charge made without a payment intent */
	if (!pi || !*pi || !sid || (pay ? a < 0 : a > 0) || a == INT64_MIN)
		return -1;
	l->refund = ref;
	l->amount_minor = ref ? -a : a;
	l->at_s = json_integer_value(created);
	if ((size_t)snprintf(l->txn, sizeof l->txn, "%s", pi) >= sizeof l->txn ||
	    (size_t)snprintf(l->out_trade_no, sizeof l->out_trade_no, "%s", otn ? otn : "") >= sizeof l->out_trade_no ||
	    (size_t)snprintf(l->refund_ref, sizeof l->refund_ref, "%s", ref ? sid : "") >= sizeof l->refund_ref)
		return -1;
	return 1;
}

static int bill(const char *date, int64_t from_s, int64_t to_s, struct prov_bill_line **lines, size_t *n,
		struct prov_status *st)
{
	(void)date; /* Stripe takes times: [from_s, to_s) are the date's bounds */
	size_t cap = 0;
	char after[256] = "";
	for (int page = 0;; page++) {
		if (page == PAGE_MAX) {
			bad_reply(st, "has more pages than we follow");
			goto fail;
		}
		struct srv_buf q = {0}, path = {0};
		sb_pair_i64(&q, "created[gte]", from_s);
		sb_pair_i64(&q, "created[lt]", to_s);
		sb_pair(&q, "limit", "100");
		sb_pair(&q, "expand[]", "data.source");
		if (*after)
			sb_pair(&q, "starting_after", after);
		srv_buf_puts(&path, "/v1/balance_transactions?");
		srv_buf_puts(&path, q.p);
		free(q.p);
		json_t *j;
		int rc = call("GET", path.p, NULL, NULL, &j, st);
		free(path.p);
		if (rc < 0) {
			json_decref(j);
			goto fail;
		}
		json_t *data = json_object_get(j, "data"), *bt;
		size_t i;
		if (!json_is_array(data)) {
			json_decref(j);
			bad_reply(st, "is a list without data");
			goto fail;
		}
		json_array_foreach(data, i, bt)
		{
			if (*n == cap) {
				cap = cap ? 2 * cap : 64;
				struct prov_bill_line *p = realloc(*lines, cap * sizeof *p);
				if (!p)
					abort();
				*lines = p;
			}
			memset(&(*lines)[*n], 0, sizeof **lines);
			int k = bill_line(bt, &(*lines)[*n]);
			if (k < 0) {
				const char *id = json_string_value(json_object_get(bt, "id"));
				prov_fail(st, PR_ERROR, st->http_status, "bad_reply",
					  "balance transaction %.100s cannot be read (is data.source expanded?)", id ? id : "?");
				json_decref(j);
				goto fail;
			}
			*n += (size_t)k;
		}
		const char *last = json_string_value(json_object_get(json_array_get(data, json_array_size(data) - 1), "id"));
		bool more = json_is_true(json_object_get(j, "has_more"));
		if (more && (!last || strlen(last) >= sizeof after || !strcmp(last, after))) {
			json_decref(j);
			bad_reply(st, "says has_more without a new last id");
			goto fail;
		}
		if (more)
			snprintf(after, sizeof after, "%s", last);
		json_decref(j);
		if (!more)
			return 0;
	}
fail:
	free(*lines);
	*lines = NULL;
	*n = 0;
	return -1;
}

const struct prov_ops prov_stripe_ops = {
	.order_create = order_create,
	.order_query = order_query,
	.order_close = order_close,
	.refund = refund,
	.refund_query = refund_query,
	.bill = bill,
};
