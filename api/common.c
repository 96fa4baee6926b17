/* common.c: helpers every resource handler uses (see api.h for the contracts). */
#include "api/api.h"
#include "core/valid.h"
#include "ops/account.h"
#include "core/money.h"
#include "store/keys.h"
#include "store/meters.h"
#include "store/reach.h"
#include "store/requests.h"
#include "core/clock.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *api_i64(char *buf, int64_t v)
{
	snprintf(buf, I64_BUF, "%lld", (long long)v);
	return buf;
}

int64_t api_id_parse(const char *prefix, const char *s)
{
	size_t n = strlen(prefix);
	if (!s || strncmp(s, prefix, n) || s[n] != '_' || !s[n + 1])
		return 0;
	int64_t v = 0;
	for (const char *p = s + n + 1; *p; p++) {
		if (*p < '0' || *p > '9' || (p == s + n + 1 && *p == '0'))
			return 0;
		if (bill_mul(v, 10, &v) || bill_add(v, *p - '0', &v))
			return 0;
	}
	return v;
}

json_t *api_id_json(const char *prefix, int64_t n)
{
	char buf[48];
	snprintf(buf, sizeof buf, "%s_%lld", prefix, (long long)n);
	return json_string(buf);
}

json_t *api_time_json(int64_t us)
{
	char buf[40];
	return json_string(srv_time_format(us, buf, sizeof buf));
}

int api_field_error(struct req *rq, const char *name, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	api_error(rq, E_INVALID_FIELD, json_pack("{s:s}", "field", name), "%s: %s", name, msg);
	return -1;
}

static int check_value(struct req *rq, const struct field *f, json_t *v)
{
	const char *s = json_string_value(v);
	switch (f->kind) {
	case FK_INT: {
		if (!json_is_integer(v))
			return api_field_error(rq, f->name, "must be a JSON integer");
		json_int_t x = json_integer_value(v);
		if (x < f->min || x > f->max)
			return api_field_error(rq, f->name, "must be between %lld and %lld",
					       (long long)f->min, (long long)f->max);
		return 0;
	}
	case FK_BOOL:
		return json_is_boolean(v) ? 0 : api_field_error(rq, f->name, "must be true or false");
	case FK_ARRAY:
		return json_is_array(v) ? 0 : api_field_error(rq, f->name, "must be an array");
	case FK_OBJECT:
		return json_is_object(v) ? 0 : api_field_error(rq, f->name, "must be an object");
	default:
		break;
	}
	if (!s)
		return api_field_error(rq, f->name, "must be a string");
	switch (f->kind) {
	case FK_TEXT:
		if (!api_valid_text(s, f->max ? (size_t)f->max : 200))
			return api_field_error(rq, f->name,
					       "must be 1 to %lld bytes of printable UTF-8 on one line",
					       (long long)(f->max ? f->max : 200));
		return 0;
	case FK_ENUM:
		for (const char *const *c = f->choices; *c; c++)
			if (!strcmp(*c, s))
				return 0;
		return api_field_error(rq, f->name, "is not one of the allowed values");
	case FK_ID:
		return api_id_parse(f->prefix, s) ? 0
						  : api_field_error(rq, f->name, "must be an id like %s_1",
								    f->prefix);
	case FK_PHONE:
		return api_valid_phone(s) ? 0
					  : api_field_error(rq, f->name, "must be E.164, like +8613800138000");
	case FK_TZ:
		return api_valid_timezone(s) ? 0
					     : api_field_error(rq, f->name, "must be an IANA time zone, like Asia/Shanghai");
	case FK_CURRENCY:
		return api_valid_currency(s, NULL) ? 0
						   : api_field_error(rq, f->name, "must be an ISO 4217 code, like CNY");
	case FK_AREA: {
		int64_t a;
		return bill_parse_decimal(s, 2, INT64_C(1000000000000), &a) == 0
			       ? 0
			       : api_field_error(rq, f->name,
						 "must be a decimal string with at most 2 decimals, like \"86.50\"");
	}
	case FK_TIME: {
		int64_t t;
		return api_parse_time(s, &t) == 0
			       ? 0
			       : api_field_error(rq, f->name, "must be an RFC 3339 time with offset");
	}
	case FK_URL:
		return api_valid_url(s) ? 0 : api_field_error(rq, f->name, "must be an http(s) URL");
	case FK_DATE: {
		int y, m, d;
		return api_parse_date(s, &y, &m, &d) == 0 ? 0
							  : api_field_error(rq, f->name, "must be a date YYYY-MM-DD");
	}
	default:
		return api_field_error(rq, f->name, "unexpected kind");
	}
}

int api_fields(struct req *rq, const struct field *spec, bool patch)
{
	const char *key;
	json_t *v;
	json_object_foreach(rq->json, key, v) {
		const struct field *f = spec;
		while (f->name && strcmp(f->name, key))
			f++;
		if (!f->name) {
			api_error(rq, E_UNKNOWN_FIELD, json_pack("{s:s}", "field", key),
				  "unknown field %s", key);
			return -1;
		}
	}
	for (const struct field *f = spec; f->name; f++) {
		v = json_object_get(rq->json, f->name);
		if (!v) {
			if ((f->flags & F_REQ) && !patch) {
				api_error(rq, E_MISSING_FIELD, json_pack("{s:s}", "field", f->name),
					  "%s is required", f->name);
				return -1;
			}
			continue;
		}
		if (json_is_null(v)) {
			if (f->flags & F_NULL)
				continue;
			return api_field_error(rq, f->name, "may not be null");
		}
		if (check_value(rq, f, v))
			return -1;
	}
	return 0;
}

const char *api_body_str(struct req *rq, const char *name)
{
	return json_string_value(json_object_get(rq->json, name));
}

int64_t api_body_int(struct req *rq, const char *name)
{
	return json_integer_value(json_object_get(rq->json, name));
}

int64_t api_body_id(struct req *rq, const char *prefix, const char *name)
{
	return api_id_parse(prefix, api_body_str(rq, name));
}

bool api_body_has(struct req *rq, const char *name) { return json_object_get(rq->json, name); }

bool api_body_isnull(struct req *rq, const char *name)
{
	return json_is_null(json_object_get(rq->json, name));
}

int api_tx_failed(struct req *rq, enum db_status st)
{
	switch (st) {
	case DB_OK:
		return 0;
	case DB_ABORT:
		return 1;
	case DB_GONE:
		api_error(rq, E_DB_UNAVAILABLE, NULL, NULL);
		return 1;
	case DB_RETRY:
		api_error(rq, E_DB_CONFLICT, NULL, NULL);
		return 1;
	case DB_UNIQUE:
		api_error(rq, E_ALREADY_EXISTS, NULL, NULL);
		return 1;
	case DB_REFUSED:
		api_error(rq, E_REFUSED, NULL, "refused by a database constraint");
		return 1;
	default:
		api_error(rq, E_INTERNAL, NULL, NULL);
		return 1;
	}
}

enum db_status api_audit(PGconn *c, struct req *rq, const char *action, json_t *target)
{
	char *t = json_dumps(target, JSON_COMPACT | JSON_ENCODE_ANY);
	char addr[16] = ""; /* dotted quad, only when a change is audited */
	if (rq->client_addr)
		snprintf(addr, sizeof addr, "%u.%u.%u.%u", rq->client_addr >> 24, rq->client_addr >> 16 & 255,
			 rq->client_addr >> 8 & 255, rq->client_addr & 255);
	struct audit_row row = {rq->who.key_id, srv_role_name(rq->who.role), rq->method, rq->path, rq->request_id,
				action, t, addr, rq->who.user_id};
	enum db_status st = store_audit_insert(c, &row, srv_clock_now_us());
	free(t);
	json_decref(target);
	return st;
}

static int idem_key(struct req *rq, const char **out)
{
	const char *k = api_header(rq, "Idempotency-Key");
	*out = k;
	if (k && !api_valid_text(k, 255)) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "header", "Idempotency-Key"),
			  "Idempotency-Key must be 1 to 255 printable characters");
		return -1;
	}
	return 0;
}

/* A key's, a user's (password session) or a phone session's own Idempotency-Keys. */
static struct idem_owner idem_owner_of(const struct req *rq)
{
	if (rq->who.key_id)
		return (struct idem_owner){rq->who.key_id, 0, 0};
	if (rq->who.user_id)
		return (struct idem_owner){0, rq->who.user_id, 0};
	return (struct idem_owner){0, 0, rq->who.session_id};
}

static void body_hash(struct req *rq, char *hex)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)(rq->body ? rq->body : ""), rq->body_len, md);
	srv_hex(md, sizeof md, hex);
}

enum db_status api_idem_begin(PGconn *c, struct req *rq)
{
	const char *key;
	if (idem_key(rq, &key))
		return DB_ABORT;
	if (!key)
		return DB_OK;
	char hash[65];
	body_hash(rq, hash);
	bool claimed, found;
	struct idem_row seen;
	struct idem_owner o = idem_owner_of(rq);
	enum db_status st = store_idem_claim(c, &o, key, rq->method, rq->path, hash, srv_clock_now_us(),
					     &claimed, &seen, &found);
	if (st != DB_OK || claimed) {
		free(seen.path);
		free(seen.response);
		return st;
	}
	if (!found) /* the first request rolled back in between: claim it again */
		st = DB_RETRY;
	else if (strcmp(seen.method, rq->method) || strcmp(seen.path ? seen.path : "", rq->path) ||
		 strcmp(seen.body_sha256, hash))
		api_error(rq, E_IDEMPOTENCY_KEY_REUSED, NULL, NULL);
	else
		api_reply_raw(rq, (unsigned)seen.status, "application/json", seen.response ? seen.response : "",
			      seen.response ? strlen(seen.response) : 0);
	free(seen.path);
	free(seen.response);
	return st == DB_OK ? DB_ABORT : st;
}

enum db_status api_idem_finish(PGconn *c, struct req *rq)
{
	const char *key = api_header(rq, "Idempotency-Key");
	if (!key)
		return DB_OK;
	char *body = rq->reply ? json_dumps(rq->reply, JSON_COMPACT) : NULL;
	struct idem_owner o = idem_owner_of(rq);
	enum db_status st = store_idem_store(c, &o, key, rq->status, body);
	free(body);
	return st;
}

int api_query_limit(struct req *rq, int64_t *limit)
{
	*limit = 50;
	const char *l = api_query(rq, "limit");
	if (l) {
		int64_t v;
		if (bill_parse_decimal(l, 0, 1000, &v) || v < 1) {
			api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "limit"),
				  "limit must be an integer from 1 to 1000");
			return -1;
		}
		*limit = v;
	}
	return 0;
}

int api_query_time(struct req *rq, const char *name, int64_t def, int64_t *out)
{
	const char *s = api_query(rq, name);
	*out = def;
	if (s && api_parse_time(s, out)) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", name),
			  "%s must be an RFC 3339 time with offset", name);
		return -1;
	}
	return 0;
}

int api_page(struct req *rq, const char *prefix, int64_t *limit, int64_t *after)
{
	*after = 0;
	const char *a = api_query(rq, "after");
	if (api_query_limit(rq, limit))
		return -1;
	if (a && *a) {
		*after = api_id_parse(prefix, a);
		if (!*after) {
			api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "after"),
				  "after must be an id like %s_1", prefix);
			return -1;
		}
	}
	return 0;
}

json_t *api_page_reply(json_t *items, int64_t limit)
{
	json_t *next = json_null();
	if ((int64_t)json_array_size(items) > limit) {
		json_array_remove(items, json_array_size(items) - 1);
		json_t *last = json_array_get(items, json_array_size(items) - 1);
		next = json_incref(json_object_get(last, "id"));
	}
	return json_pack("{s:o, s:o}", "items", items, "next_after", next);
}

PGconn *api_conn(struct req *rq)
{
	PGconn *c = db_conn();
	if (!c)
		api_error(rq, E_DB_UNAVAILABLE, NULL, NULL);
	return c;
}

PGconn *api_read_conn(struct req *rq)
{
	PGconn *c = db_read_conn();
	if (!c)
		api_error(rq, E_DB_UNAVAILABLE, NULL, NULL);
	return c;
}

int api_read_failed(struct req *rq, enum db_status st)
{
	if (st == DB_GONE)
		db_conn_reset();
	return api_tx_failed(rq, st);
}

int64_t api_arg_id(struct req *rq, int i, const char *prefix, const char *what)
{
	int64_t id = api_id_parse(prefix, rq->args[i]);
	if (!id)
		api_error(rq, E_NOT_FOUND, NULL, "no %s %s", what, rq->args[i]);
	return id;
}

int api_query_enum(struct req *rq, const char *name, const char *const *choices, const char **out)
{
	*out = api_query(rq, name);
	if (!*out)
		return 0;
	for (const char *const *c = choices; *c; c++)
		if (!strcmp(*c, *out))
			return 0;
	api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", name),
		  "%s is not one of the allowed values", name);
	return -1;
}

int api_query_id(struct req *rq, const char *name, const char *prefix, int64_t *out)
{
	const char *s = api_query(rq, name);
	*out = s ? api_id_parse(prefix, s) : 0;
	if (s && !*out) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", name),
			  "%s must be an id like %s_1", name, prefix);
		return -1;
	}
	return 0;
}

enum db_status api_refresh_accounts(PGconn *c, int64_t tenant_id, int64_t site_id,
				    const char *rating)
{
	return bill_acct_refresh(c, tenant_id, site_id, rating, srv_clock_now_us());
}

int64_t api_meter_find(struct req *rq, int64_t *tenant_id)
{
	PGconn *c = api_conn(rq);
	struct meter_ref m;
	if (!c || api_read_failed(rq, store_meter_find(c, api_id_parse(ID_METER, rq->args[0]), rq->args[0], &m)))
		return 0;
	if (tenant_id)
		*tenant_id = m.tenant_id;
	if (!m.id)
		api_error(rq, E_NOT_FOUND, NULL, "no meter %s", rq->args[0]);
	return m.id;
}

int api_tenant_scope(struct req *rq, int64_t tenant_id)
{
	if (rq->who.role == ROLE_TENANT && rq->who.tenant_id != tenant_id) {
		api_error(rq, E_FORBIDDEN, NULL, "a tenant key may only read its own tenant");
		return -1;
	}
	return 0;
}

void api_register_statements_common(void);
void api_register_statements_common(void)
{
	store_requests_register();
	store_reach_register();
}
