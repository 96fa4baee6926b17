/* fake_stripe.c: the Stripe fake's paths (fakepay.h): Checkout Sessions (create, retrieve,
 * expire), Refunds (create, retrieve, list by payment intent) and balance transactions (the
 * bill). It checks what Stripe checks: the secret key as a bearer token (else 401), a
 * form-encoded body on POST, the parameters each call needs and refuses unknown ones, the
 * bounds of expires_at, metadata limits, refund reasons and amounts; an Idempotency-Key
 * reused with the same request gives back the first answer and with another request an
 * idempotency_error. Stripe takes a POST without an Idempotency-Key; this fake refuses it,
 * because wattle's rule is that every POST carries one. Stripe signs no API answer. */
#include "fakepay.h"

#include "core/paysig.h"
#include "core/valid.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPIRES_MIN_S 1800
#define EXPIRES_MAX_S 86400
#define AMOUNT_MAX 99999999 /* Stripe's largest amount, in the currency's smallest unit */

/* What a handler answers: a status and a JSON body (new). */
struct ans {
	unsigned status;
	json_t *body;
};

/* A Stripe error answer; a refusal (a failed check) is counted and remembered. */
static int fail(struct fakepay *f, struct ans *a, unsigned status, const char *type, const char *code,
		const char *param, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int fail(struct fakepay *f, struct ans *a, unsigned status, const char *type, const char *code,
		const char *param, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:s, s:s}", "type", type, "message", msg);
	if (code)
		json_object_set_new(e, "code", json_string(code));
	if (param)
		json_object_set_new(e, "param", json_string(param));
	a->status = status;
	a->body = json_pack("{s:o}", "error", e);
	if (status != 404)
		fake_refuse(f, "%u %s%s%s: %s", status, code ? code : type, param ? " " : "", param ? param : "", msg);
	return -1;
}

static int missing(struct fakepay *f, struct ans *a, const char *param)
{
	return fail(f, a, 400, "invalid_request_error", "parameter_missing", param, "Missing required param: %s.", param);
}

static int no_such(struct fakepay *f, struct ans *a, const char *what, const char *id, const char *param)
{
	return fail(f, a, 404, "invalid_request_error", "resource_missing", param, "No such %s: '%s'", what, id);
}

/* A whole non-negative decimal integer; -1 when s is not one (or is too large). */
static int64_t parse_int(const char *s)
{
	if (!s || !*s || strlen(s) > 15)
		return -1;
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

static bool has_prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* Refuse any parameter that is neither in known nor under a metadata prefix; check
 * Stripe's metadata limits (keys of 40 characters, values of 500, 50 keys). 0, or -1 with
 * the answer set. */
static int check_params(struct fakepay *f, struct ans *a, const struct bill_form *form, const char *const *known,
			const char *const *meta)
{
	for (size_t i = 0; i < form->n; i++) {
		const char *k = form->keys[i];
		bool ok = false;
		for (size_t j = 0; known[j] && !ok; j++)
			ok = !strcmp(k, known[j]);
		for (size_t j = 0; meta[j] && !ok; j++) {
			if (!has_prefix(k, meta[j]))
				continue;
			const char *name = k + strlen(meta[j]);
			size_t nl = strlen(name);
			if (nl < 2 || name[nl - 1] != ']' || memchr(name, '[', nl) || memchr(name, ']', nl - 1))
				break;
			if (nl - 1 > 40 || strlen(form->vals[i]) > 500) {
				fail(f, a, 400, "invalid_request_error", NULL, k,
				     "Metadata keys can have up to 40 characters and values up to 500 characters.");
				return -1;
			}
			unsigned count = 0;
			for (size_t m = 0; m < form->n; m++)
				count += has_prefix(form->keys[m], meta[j]);
			if (count > 50) {
				fail(f, a, 400, "invalid_request_error", NULL, meta[j], "Metadata can have up to 50 keys.");
				return -1;
			}
			ok = true;
		}
		if (!ok) {
			fail(f, a, 400, "invalid_request_error", "parameter_unknown", k, "Received unknown parameter: %s", k);
			return -1;
		}
	}
	return 0;
}

static bool is_url(const char *s) { return s && (has_prefix(s, "https://") || has_prefix(s, "http://")) && strlen(s) < 2048; }

/* The session's status, expiring it first when its time has come. */
static const char *session_status(struct fake_trade *t, int64_t now)
{
	if (t->state == FT_OPEN && t->expires_s && now >= t->expires_s)
		t->state = FT_CLOSED;
	return t->state == FT_PAID ? "complete" : t->state == FT_CLOSED ? "expired" : "open";
}

static void lower3(char out[4], const char *s)
{
	for (int i = 0; i < 3; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[3] = 0;
}

/* "ch_<n>" for the charge of payment intent "pi_<n>". */
static void charge_id(const char *pi, char out[64])
{
	const char *n = has_prefix(pi, "pi_") ? pi + 3 : pi;
	size_t len = strnlen(n, 60);
	memcpy(out, "ch_", 3);
	memcpy(out + 3, n, len);
	out[3 + len] = 0;
}

static json_t *session_json(struct fake_trade *t, int64_t now)
{
	char cur[4];
	lower3(cur, t->currency);
	const char *status = session_status(t, now);
	char url[256];
	snprintf(url, sizeof url, "https://checkout.stripe.com/c/pay/%s", t->ref);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:{s:s}, s:o, s:s, s:I, s:I, s:s, s:b}", "id",
			 t->ref, "object", "checkout.session", "url", url, "status", status, "payment_status",
			 t->state == FT_PAID ? "paid" : "unpaid", "amount_total", (json_int_t)t->amount,
			 "amount_subtotal", (json_int_t)t->amount, "currency", cur, "client_reference_id",
			 t->out_trade_no, "metadata", "out_trade_no", t->out_trade_no, "payment_intent",
			 t->state == FT_PAID ? json_string(t->txn) : json_null(), "mode", "payment", "expires_at",
			 (json_int_t)t->expires_s, "created", (json_int_t)t->created_s, "success_url", t->notify_url,
			 "livemode", 0);
}

static struct fake_trade *trade_by_ref(struct fakepay *f, const char *ref)
{
	for (size_t i = 0; i < f->ntrades; i++)
		if (!strcmp(f->trades[i].ref, ref))
			return &f->trades[i];
	return NULL;
}

static struct fake_trade *trade_by_txn(struct fakepay *f, const char *txn)
{
	for (size_t i = 0; txn && *txn && i < f->ntrades; i++)
		if (!strcmp(f->trades[i].txn, txn))
			return &f->trades[i];
	return NULL;
}

/* ---- Checkout Sessions ---- */

#define LI "line_items[0]"
#define PD LI "[price_data]"

static int session_create(struct fakepay *f, const struct bill_form *form, const char *idem, struct ans *a)
{
	static const char *const known[] = {"mode", PD "[currency]", PD "[product_data][name]",
					    PD "[product_data][description]", PD "[unit_amount]", LI "[quantity]",
					    "client_reference_id", "success_url", "cancel_url", "expires_at",
					    "customer_email", "locale", NULL};
	static const char *const meta[] = {"metadata[", "payment_intent_data[metadata][", NULL};
	if (check_params(f, a, form, known, meta) < 0)
		return -1;
	const char *mode = bill_form_get(form, "mode");
	const char *cur = bill_form_get(form, PD "[currency]");
	const char *name = bill_form_get(form, PD "[product_data][name]");
	const char *unit = bill_form_get(form, PD "[unit_amount]");
	const char *qty = bill_form_get(form, LI "[quantity]");
	const char *ok_url = bill_form_get(form, "success_url"), *cancel_url = bill_form_get(form, "cancel_url");
	const char *exp = bill_form_get(form, "expires_at");
	const char *ref = bill_form_get(form, "client_reference_id");
	const char *meta_otn = bill_form_get(form, "metadata[out_trade_no]");
	int64_t now = (int64_t)time(NULL);
	if (!mode)
		return missing(f, a, "mode");
	if (strcmp(mode, "payment")) /* setup and subscription sessions: not in this fake */
		return fail(f, a, 400, "invalid_request_error", NULL, "mode", "Invalid mode: %s (this fake makes payment sessions)", mode);
	if (!cur && !unit && !qty && !name)
		return fail(f, a, 400, "invalid_request_error", "parameter_missing", "line_items",
			    "You must specify `line_items` in `payment` mode.");
	if (!cur)
		return missing(f, a, PD "[currency]");
	char up[4] = "";
	if (strlen(cur) == 3)
		for (int i = 0; i < 4; i++)
			up[i] = (char)toupper((unsigned char)cur[i]);
	if (strlen(cur) != 3 || !islower((unsigned char)cur[0]) ||
	    !islower((unsigned char)cur[1]) || !islower((unsigned char)cur[2]) || !api_valid_currency(up, NULL))
		return fail(f, a, 400, "invalid_request_error", NULL, PD "[currency]", "Invalid currency: %s.", cur);
	if (!name)
		return missing(f, a, PD "[product_data][name]");
	if (!*name)
		return fail(f, a, 400, "invalid_request_error", "parameter_invalid_empty", PD "[product_data][name]",
			    "You passed an empty string for '" PD "[product_data][name]'.");
	if (!unit)
		return missing(f, a, PD "[unit_amount]");
	int64_t amount = parse_int(unit), n = qty ? parse_int(qty) : -1;
	if (amount < 0)
		return fail(f, a, 400, "invalid_request_error", "parameter_invalid_integer", PD "[unit_amount]",
			    "Invalid integer: %s", unit);
	if (!qty)
		return missing(f, a, LI "[quantity]");
	if (n < 1)
		return fail(f, a, 400, "invalid_request_error", "parameter_invalid_integer", LI "[quantity]",
			    "Invalid integer: %s", qty);
	if (amount * n > AMOUNT_MAX)
		return fail(f, a, 400, "invalid_request_error", "amount_too_large", NULL,
			    "Amount must be no more than %d", AMOUNT_MAX);
	if (!ok_url)
		return missing(f, a, "success_url");
	if (!is_url(ok_url) || (cancel_url && !is_url(cancel_url)))
		return fail(f, a, 400, "invalid_request_error", "url_invalid", is_url(ok_url) ? "cancel_url" : "success_url",
			    "Not a valid URL");
	if (ref && strlen(ref) > 200)
		return fail(f, a, 400, "invalid_request_error", NULL, "client_reference_id",
			    "client_reference_id can be at most 200 characters.");
	int64_t expires = now + EXPIRES_MAX_S;
	if (exp) {
		expires = parse_int(exp);
		if (expires < 0)
			return fail(f, a, 400, "invalid_request_error", "parameter_invalid_integer", "expires_at",
				    "Invalid integer: %s", exp);
		if (expires < now + EXPIRES_MIN_S)
			return fail(f, a, 400, "invalid_request_error", NULL, "expires_at",
				    "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.");
		if (expires > now + EXPIRES_MAX_S)
			return fail(f, a, 400, "invalid_request_error", NULL, "expires_at",
				    "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.");
	}
	if (*f->refuse_create)
		return fail(f, a, 400, "invalid_request_error", f->refuse_create, NULL, "refused by the test");
	const char *otn = ref ? ref : meta_otn ? meta_otn : "";
	if (strlen(otn) >= sizeof f->trades->out_trade_no || strlen(name) >= sizeof f->trades->description ||
	    strlen(ok_url) >= sizeof f->trades->notify_url || strlen(idem) >= sizeof f->trades->idem_key)
		return fail(f, a, 400, "invalid_request_error", NULL, NULL, "a value is too long for this fake");
	struct fake_trade *t = fake_trade_add(f);
	fake_id(f, "cs_test_", t->ref);
	snprintf(t->out_trade_no, sizeof t->out_trade_no, "%s", otn);
	snprintf(t->currency, sizeof t->currency, "%s", up);
	snprintf(t->description, sizeof t->description, "%s", name);
	snprintf(t->notify_url, sizeof t->notify_url, "%s", ok_url); /* Stripe: the success_url */
	snprintf(t->mode, sizeof t->mode, "payment"); /* "checkout" does not fit mode[8] */
	snprintf(t->idem_key, sizeof t->idem_key, "%s", idem);
	t->amount = amount * n;
	t->created_s = now;
	t->expires_s = expires;
	t->state = FT_OPEN;
	f->calls[FC_CREATE]++;
	a->status = 200;
	a->body = session_json(t, now);
	return 0;
}

static int session_get(struct fakepay *f, const char *id, struct ans *a)
{
	f->calls[FC_QUERY]++;
	struct fake_trade *t = trade_by_ref(f, id);
	if (!t)
		return no_such(f, a, "checkout.session", id, "session");
	a->status = 200;
	a->body = session_json(t, (int64_t)time(NULL));
	return 0;
}

static int session_expire(struct fakepay *f, const char *id, const struct bill_form *form, struct ans *a)
{
	static const char *const none[] = {NULL};
	if (check_params(f, a, form, none, none) < 0)
		return -1;
	struct fake_trade *t = trade_by_ref(f, id);
	if (!t) {
		f->calls[FC_CLOSE]++;
		return no_such(f, a, "checkout.session", id, "session");
	}
	int64_t now = (int64_t)time(NULL);
	const char *status = session_status(t, now);
	if (strcmp(status, "open"))
		return fail(f, a, 400, "invalid_request_error", NULL, NULL,
			    "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"%s\".",
			    status);
	t->state = FT_CLOSED;
	f->calls[FC_CLOSE]++;
	a->status = 200;
	a->body = session_json(t, now);
	return 0;
}

/* ---- Refunds ---- */

static const char *refund_status(enum fake_refund_state s)
{
	return s == FR_SUCCEEDED ? "succeeded" : s == FR_FAILED ? "failed" : "pending";
}

static json_t *refund_json(struct fakepay *f, const struct fake_refund *r)
{
	struct fake_trade *t = trade_by_txn(f, r->txn);
	char cur[4] = "usd", ch[64];
	if (t)
		lower3(cur, t->currency);
	charge_id(r->txn, ch);
	json_t *meta = json_object();
	if (*r->out_refund_no)
		json_object_set_new(meta, "out_refund_no", json_string(r->out_refund_no));
	if (t && *t->out_trade_no)
		json_object_set_new(meta, "out_trade_no", json_string(t->out_trade_no));
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s?, s:o, s:I}", "id", r->refund_id, "object", "refund",
			 "amount", (json_int_t)r->amount, "currency", cur, "payment_intent", r->txn, "charge", ch,
			 "status", refund_status(r->state), "reason", *r->reason ? r->reason : NULL, "metadata", meta,
			 "created", (json_int_t)r->created_s);
}

/* What is left to refund of t: its amount less its refunds that did not fail. */
static int64_t refundable(struct fakepay *f, const struct fake_trade *t)
{
	int64_t left = t->amount;
	for (size_t i = 0; i < f->nrefunds; i++)
		if (!strcmp(f->refunds[i].txn, t->txn) && f->refunds[i].state != FR_FAILED)
			left -= f->refunds[i].amount;
	return left;
}

static int refund_create(struct fakepay *f, const struct bill_form *form, const char *idem, struct ans *a)
{
	static const char *const known[] = {"payment_intent", "charge", "amount", "reason", NULL};
	static const char *const meta[] = {"metadata[", NULL};
	if (check_params(f, a, form, known, meta) < 0)
		return -1;
	const char *pi = bill_form_get(form, "payment_intent"), *charge = bill_form_get(form, "charge");
	const char *amount_s = bill_form_get(form, "amount"), *reason = bill_form_get(form, "reason");
	const char *no = bill_form_get(form, "metadata[out_refund_no]");
	if (!pi && !charge)
		return fail(f, a, 400, "invalid_request_error", "parameter_missing", "payment_intent",
			    "One of the following params should be provided for this request: payment_intent or charge.");
	struct fake_trade *t = NULL;
	if (pi) {
		t = trade_by_txn(f, pi);
	} else {
		char ch[64];
		for (size_t i = 0; i < f->ntrades && !t; i++) {
			charge_id(f->trades[i].txn, ch);
			if (*f->trades[i].txn && !strcmp(ch, charge))
				t = &f->trades[i];
		}
	}
	if (!t)
		return fail(f, a, 400, "invalid_request_error", "resource_missing", pi ? "payment_intent" : "charge",
			    "No such %s: '%s'", pi ? "payment_intent" : "charge", pi ? pi : charge);
	if (t->state != FT_PAID)
		return fail(f, a, 400, "invalid_request_error", NULL, "payment_intent",
			    "This PaymentIntent (%s) does not have a successful charge to refund.", t->txn);
	if (reason && strcmp(reason, "duplicate") && strcmp(reason, "fraudulent") && strcmp(reason, "requested_by_customer"))
		return fail(f, a, 400, "invalid_request_error", NULL, "reason",
			    "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer");
	int64_t left = refundable(f, t), amount = amount_s ? parse_int(amount_s) : left;
	char ch[64];
	charge_id(t->txn, ch);
	if (amount_s && amount < 1)
		return fail(f, a, 400, "invalid_request_error", "parameter_invalid_integer", "amount",
			    "Invalid positive integer");
	if (left <= 0)
		return fail(f, a, 400, "invalid_request_error", "charge_already_refunded", NULL,
			    "Charge %s has already been refunded.", ch);
	if (amount > left)
		return fail(f, a, 400, "invalid_request_error", "amount_too_large", "amount",
			    "Refund amount (%lld) is greater than unrefunded amount on charge (%lld)", (long long)amount,
			    (long long)left);
	if ((no && strlen(no) >= sizeof f->refunds->out_refund_no) || strlen(idem) >= sizeof f->refunds->idem_key)
		return fail(f, a, 400, "invalid_request_error", NULL, NULL, "a value is too long for this fake");
	struct fake_refund *r = fake_refund_add(f);
	snprintf(r->out_refund_no, sizeof r->out_refund_no, "%s", no ? no : "");
	fake_id(f, "re_", r->refund_id);
	snprintf(r->txn, sizeof r->txn, "%s", t->txn);
	snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : ""); /* Stripe's word, not the metadata */
	snprintf(r->idem_key, sizeof r->idem_key, "%s", idem);
	r->amount = amount;
	r->created_s = (int64_t)time(NULL);
	r->state = f->refund_pending ? FR_PENDING : FR_SUCCEEDED;
	t->refunded += amount;
	f->calls[FC_REFUND]++;
	a->status = 200;
	a->body = refund_json(f, r);
	return 0;
}

static int refund_get(struct fakepay *f, const char *id, struct ans *a)
{
	f->calls[FC_REFUND_QUERY]++;
	for (size_t i = 0; i < f->nrefunds; i++)
		if (!strcmp(f->refunds[i].refund_id, id)) {
			a->status = 200;
			a->body = refund_json(f, &f->refunds[i]);
			return -1;
		}
	no_such(f, a, "refund", id, "refund");
	return 0;
}

/* A list page of items (newest first, as Stripe lists), from after starting_after; the
 * array is stolen. */
static int list_page(struct fakepay *f, const struct peer_request *r, const char *url, json_t *items, struct ans *a)
{
	const char *limit_s = peer_query(r, "limit"), *after = peer_query(r, "starting_after");
	int64_t limit = limit_s ? parse_int(limit_s) : 10;
	if (limit < 1 || limit > 100) {
		json_decref(items);
		return fail(f, a, 400, "invalid_request_error", "parameter_invalid_integer", "limit",
			    "This value must be greater than or equal to 1 and less than or equal to 100.");
	}
	if (f->stripe_page_limit && limit > f->stripe_page_limit)
		limit = f->stripe_page_limit;
	size_t start = 0, n = json_array_size(items);
	if (after) {
		for (start = 0; start < n; start++)
			if (!strcmp(json_string_value(json_object_get(json_array_get(items, start), "id")), after))
				break;
		if (start == n) {
			json_decref(items);
			return no_such(f, a, "object", after, "starting_after");
		}
		start++;
	}
	json_t *data = json_array();
	for (size_t i = start; i < n && (int64_t)(i - start) < limit; i++)
		json_array_append(data, json_array_get(items, i));
	bool more = start + json_array_size(data) < n;
	json_decref(items);
	a->status = 200;
	a->body = json_pack("{s:s, s:s, s:o, s:b}", "object", "list", "url", url, "data", data, "has_more", more);
	return 0;
}

static int refund_list(struct fakepay *f, const struct peer_request *r, struct ans *a)
{
	const char *pi = peer_query(r, "payment_intent");
	json_t *items = json_array();
	for (size_t i = f->nrefunds; i-- > 0;)
		if (!pi || !strcmp(f->refunds[i].txn, pi))
			json_array_append_new(items, refund_json(f, &f->refunds[i]));
	f->calls[FC_REFUND_QUERY]++;
	list_page(f, r, "/v1/refunds", items, a);
	return 0;
}

/* ---- balance transactions ---- */

struct bt {
	int64_t created;
	json_t *obj;
};

static int bt_cmp(const void *x, const void *y)
{
	const struct bt *a = x, *b = y;
	if (a->created != b->created)
		return a->created > b->created ? -1 : 1;
	return -strcmp(json_string_value(json_object_get(a->obj, "id")), json_string_value(json_object_get(b->obj, "id")));
}

static json_t *bt_json(const char *id, const char *type, int64_t amount, const char *cur, int64_t created, json_t *src,
		       bool expand)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:s, s:s}", "id", id, "object", "balance_transaction",
			      "amount", (json_int_t)amount, "currency", cur, "created", (json_int_t)created, "fee",
			      (json_int_t)0, "net", (json_int_t)amount, "status", "available", "type", type);
	json_object_set(o, "source", expand ? src : json_object_get(src, "id"));
	json_decref(src);
	return o;
}

static int balance_list(struct fakepay *f, const struct peer_request *r, struct ans *a)
{
	const char *gte_s = peer_query(r, "created[gte]"), *lt_s = peer_query(r, "created[lt]");
	const char *expand = peer_query(r, "expand[]");
	int64_t gte = gte_s ? parse_int(gte_s) : 0, lt = lt_s ? parse_int(lt_s) : INT64_MAX;
	if (gte < 0 || lt < 0)
		return fail(f, a, 400, "invalid_request_error", "parameter_invalid_integer",
			    gte < 0 ? "created[gte]" : "created[lt]", "Invalid integer");
	if (expand && strcmp(expand, "data.source"))
		return fail(f, a, 400, "invalid_request_error", NULL, "expand[]",
			    "This property cannot be expanded (%s).", expand);
	bool ex = expand != NULL;
	size_t cap = f->ntrades + f->nrefunds + f->nextras, n = 0;
	struct bt *v = calloc(cap ? cap : 1, sizeof *v);
	if (!v)
		abort();
	char cur0[4] = "cny", id[80], ch[64], cur[4];
	if (f->ntrades)
		lower3(cur0, f->trades[0].currency);
	for (size_t i = 0; i < f->ntrades; i++) {
		struct fake_trade *t = &f->trades[i];
		if (!*t->txn || t->bill_hide || t->paid_s < gte || t->paid_s >= lt)
			continue;
		int64_t amount = t->bill_amount >= 0 ? t->bill_amount : t->amount;
		lower3(cur, t->currency);
		charge_id(t->txn, ch);
		snprintf(id, sizeof id, "txn_%s", ch);
		json_t *src = json_pack("{s:s, s:s, s:I, s:s, s:s, s:{s:s}, s:I}", "id", ch, "object", "charge", "amount",
					(json_int_t)amount, "currency", cur, "payment_intent", t->txn, "metadata",
					"out_trade_no", t->out_trade_no, "created", (json_int_t)t->paid_s);
		v[n++] = (struct bt){t->paid_s, bt_json(id, "charge", amount, cur, t->paid_s, src, ex)};
	}
	for (size_t i = 0; i < f->nrefunds; i++) {
		struct fake_refund *rf = &f->refunds[i];
		if (rf->state == FR_FAILED || rf->created_s < gte || rf->created_s >= lt)
			continue;
		json_t *src = refund_json(f, rf);
		snprintf(cur, sizeof cur, "%s", json_string_value(json_object_get(src, "currency")));
		snprintf(id, sizeof id, "txn_%s", rf->refund_id);
		v[n++] = (struct bt){rf->created_s, bt_json(id, "refund", -rf->amount, cur, rf->created_s, src, ex)};
	}
	for (size_t i = 0; i < f->nextras; i++) {
		struct fake_bill_extra *e = &f->extras[i];
		if (e->at_s < gte || e->at_s >= lt)
			continue;
		snprintf(ch, sizeof ch, "ch_x%zu", i);
		snprintf(id, sizeof id, "txn_x%zu", i);
		/* an extra line has no currency of its own: the fake's first trade's */
		json_t *src = json_pack("{s:s, s:s, s:I, s:s, s:s, s:{s:s}, s:I}", "id", ch, "object", "charge", "amount",
					(json_int_t)e->amount, "currency", cur0, "payment_intent", e->txn, "metadata",
					"out_trade_no", e->out_trade_no, "created", (json_int_t)e->at_s);
		v[n++] = (struct bt){e->at_s, bt_json(id, "charge", e->amount, cur0, e->at_s, src, ex)};
	}
	qsort(v, n, sizeof *v, bt_cmp);
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, v[i].obj);
	free(v);
	f->calls[FC_BILL]++;
	list_page(f, r, "/v1/balance_transactions", items, a);
	return 0;
}

/* ---- the dispatch ---- */

static void digest(const char *s, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	if (!EVP_Digest(s, n, out, &len, EVP_sha256(), NULL))
		abort();
}

/* The one path segment after prefix, into out[128]; false when path is not prefix<id>tail. */
static bool segment(const char *path, const char *prefix, const char *tail, char out[128])
{
	if (!has_prefix(path, prefix))
		return false;
	const char *id = path + strlen(prefix), *end = strchr(id, '/');
	size_t n = end ? (size_t)(end - id) : strlen(id);
	if (n == 0 || n >= 128 || strcmp(id + n, tail))
		return false;
	memcpy(out, id, n);
	out[n] = 0;
	return true;
}

static void route(struct fakepay *f, const struct peer_request *r, const struct bill_form *form, const char *idem,
		  struct ans *a)
{
	bool post = !strcmp(r->method, "POST"), get = !strcmp(r->method, "GET");
	char id[128];
	if (post && !strcmp(r->path, "/v1/checkout/sessions"))
		session_create(f, form, idem, a);
	else if (post && segment(r->path, "/v1/checkout/sessions/", "/expire", id))
		session_expire(f, id, form, a);
	else if (get && segment(r->path, "/v1/checkout/sessions/", "", id))
		session_get(f, id, a);
	else if (post && !strcmp(r->path, "/v1/refunds"))
		refund_create(f, form, idem, a);
	else if (get && !strcmp(r->path, "/v1/refunds"))
		refund_list(f, r, a);
	else if (get && segment(r->path, "/v1/refunds/", "", id))
		refund_get(f, id, a);
	else if (get && !strcmp(r->path, "/v1/balance_transactions"))
		balance_list(f, r, a);
	else
		fail(f, a, 404, "invalid_request_error", NULL, NULL, "Unrecognized request URL (%s: %s).", r->method, r->path);
}

void fake_stripe(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	pthread_mutex_lock(&f->mu);
	struct ans a = {0};
	struct bill_form form = {0};
	const char *auth = peer_header(r, "Authorization");
	const char *idem = peer_header(r, "Idempotency-Key");
	bool post = !strcmp(r->method, "POST");
	char route_s[192];
	snprintf(route_s, sizeof route_s, "%s %s", r->method, r->path);
	unsigned char dg[32];
	digest(r->body, r->body_len, dg);
	struct fake_stripe_idem *saved = NULL;
	size_t key_len = auth && !strncmp(auth, "Bearer ", 7) ? strlen(auth + 7) : 0;
	if (!auth) {
		fail(f, &a, 401, "invalid_request_error", NULL, NULL,
		     "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.");
	} else if (!*f->secret || key_len != strlen(f->secret) || CRYPTO_memcmp(auth + 7, f->secret, key_len)) {
		/* Stripe shows the key's last four characters, never the key */
		size_t n = strlen(auth);
		fail(f, &a, 401, "invalid_request_error", NULL, NULL, "Invalid API Key provided: ****%s",
		     n > 4 ? auth + n - 4 : "");
	} else if (post) {
		const char *ct = peer_header(r, "Content-Type");
		if (!ct || !has_prefix(ct, "application/x-www-form-urlencoded"))
			fail(f, &a, 400, "invalid_request_error", NULL, NULL,
			     "Invalid request: unsupported Content-Type %s. If error persists and you need assistance, please contact support.",
			     ct ? ct : "(none)");
		else if (bill_form_parse(r->body, r->body_len, &form) < 0)
			fail(f, &a, 400, "invalid_request_error", NULL, NULL, "Invalid request: the body cannot be parsed.");
		else if (!idem || !*idem)
			fail(f, &a, 400, "invalid_request_error", NULL, NULL,
			     "Missing Idempotency-Key (Stripe takes a POST without one; wattle always sends one).");
		else if (strlen(idem) > 255)
			fail(f, &a, 400, "invalid_request_error", NULL, NULL,
			     "Keys for idempotent requests can only be 255 characters long.");
	}
	if (!a.body && post) {
		for (unsigned i = 0; i < f->stripe_nidem && i < sizeof f->stripe_idem / sizeof *f->stripe_idem; i++)
			if (!strcmp(f->stripe_idem[i].key, idem))
				saved = &f->stripe_idem[i];
		if (saved && (strcmp(saved->route, route_s) || memcmp(saved->digest, dg, 32)))
			fail(f, &a, 400, "idempotency_error", NULL, NULL,
			     "Keys for idempotent requests can only be used with the same parameters they were first used with.");
	}
	if (a.body) {
		/* refused before anything ran */
	} else if (saved) {
		/* a retry: the first answer, as it was */
		a.status = saved->status;
		a.body = json_loads(saved->answer, 0, NULL);
		out->headers = strdup("Idempotent-Replayed: true\n");
	} else {
		if (post)
			snprintf(f->stripe_last_body, sizeof f->stripe_last_body, "%.*s", (int)r->body_len, r->body);
		route(f, r, &form, idem, &a);
		/* Stripe saves an answer once the endpoint has run; a request refused by its
		 * checks (a 400) is not saved and may be tried again. */
		if (post && a.status < 400 && a.body) {
			struct fake_stripe_idem *s =
				&f->stripe_idem[f->stripe_nidem++ % (sizeof f->stripe_idem / sizeof *f->stripe_idem)];
			char *text = json_dumps(a.body, JSON_COMPACT);
			snprintf(s->key, sizeof s->key, "%s", idem);
			snprintf(s->route, sizeof s->route, "%s", route_s);
			memcpy(s->digest, dg, 32);
			s->status = a.status;
			snprintf(s->answer, sizeof s->answer, "%s", text ? text : "{}");
			free(text);
		}
	}
	bill_form_free(&form);
	char rid[64];
	fake_id(f, "req_", rid);
	pthread_mutex_unlock(&f->mu);
	out->status = a.status ? a.status : 500;
	out->body = a.body ? json_dumps(a.body, JSON_COMPACT) : NULL;
	json_decref(a.body);
	if (!out->headers) {
		size_t n = strlen(rid) + 16;
		if ((out->headers = malloc(n)))
			snprintf(out->headers, n, "Request-Id: %s\n", rid);
	}
}
