/* sites.c: POST/GET /v1/sites and a site's holidays. A site fixes the time zone and
 * currency of what is in it. */
#include "api/api.h"
#include "store/tenants.h"
#include "core/clock.h"
#include "core/valid.h"
#include "store/sites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_register_statements_sites(void);
void api_register_statements_sites(void) { store_sites_register(); }

static json_t *site_json(const struct site *s)
{
	json_t *amounts = json_array();
	for (int i = 0; i < s->n_topup_amounts; i++)
		json_array_append_new(amounts, json_integer(s->topup_amounts_minor[i]));
	return json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "id", api_id_json(ID_SITE, s->id), "name",
			 s->name, "timezone", s->timezone, "currency", s->currency, "legal_name",
			 *s->legal_name ? json_string(s->legal_name) : json_null(), "tax_id",
			 *s->tax_id ? json_string(s->tax_id) : json_null(), "language", s->language,
			 "topup_amounts_minor", amounts, "created_at", api_time_json(s->created_us));
}

/* The largest suggested top-up: 1,000,000.00 in a two-decimal currency. */
#define TOPUP_AMOUNT_MAX 100000000

/* topup_amounts_minor from the body into v (ascending), *n 0 when absent; or 400 naming the
 * item and -1. */
static int read_amounts(struct req *rq, int64_t *v, int *n)
{
	*n = 0;
	json_t *a = json_object_get(rq->json, "topup_amounts_minor");
	if (!a)
		return 0;
	size_t len = json_array_size(a);
	if (len < 1 || len > SITE_TOPUP_AMOUNTS_MAX)
		return api_field_error(rq, "topup_amounts_minor", "1 to %d amounts", SITE_TOPUP_AMOUNTS_MAX);
	for (size_t i = 0; i < len; i++) {
		json_t *x = json_array_get(a, i);
		json_int_t m = json_is_integer(x) ? json_integer_value(x) : 0;
		if (m < 1 || m > TOPUP_AMOUNT_MAX) {
			char f[40];
			snprintf(f, sizeof f, "topup_amounts_minor[%zu]", i);
			return api_field_error(rq, f, "must be an integer from 1 to %d (minor units)", TOPUP_AMOUNT_MAX);
		}
		int at = *n; /* insertion sort: eight at most */
		for (int j = 0; j < *n; j++) {
			if (v[j] == m)
				return api_field_error(rq, "topup_amounts_minor", "%lld is named twice", (long long)m);
			if (v[j] > m && at == *n)
				at = j;
		}
		memmove(v + at + 1, v + at, (size_t)(*n - at) * sizeof *v);
		v[at] = m;
		(*n)++;
	}
	return 0;
}

/* What receipts print of the operator (PATCH may clear them with null). */
#define SITE_RECEIPT_FIELDS                                                                                   \
	{"legal_name", FK_TEXT, F_NULL, 0, 200, 0, 0}, {"tax_id", FK_TEXT, F_NULL, 0, 64, 0, 0},                   \
	{"language", FK_ENUM, 0, 0, 0, site_languages, 0},                                                      \
	{"topup_amounts_minor", FK_ARRAY, 0, 0, 0, 0, 0}

/* The languages of messages to tenants (the site's is the default of its tenants). */
static const char *const site_languages[] = {"zh-CN", "en", NULL};

struct site_tx {
	struct req *rq;
	json_t *out;
};

static enum db_status site_create_tx(PGconn *c, void *arg)
{
	struct site_tx *t = arg;
	struct req *rq = t->rq;
	struct site s = {0};
	snprintf(s.name, sizeof s.name, "%s", api_body_str(rq, "name"));
	snprintf(s.timezone, sizeof s.timezone, "%s", api_body_str(rq, "timezone"));
	snprintf(s.currency, sizeof s.currency, "%s", api_body_str(rq, "currency"));
	snprintf(s.legal_name, sizeof s.legal_name, "%s", api_body_str(rq, "legal_name") ? api_body_str(rq, "legal_name") : "");
	snprintf(s.tax_id, sizeof s.tax_id, "%s", api_body_str(rq, "tax_id") ? api_body_str(rq, "tax_id") : "");
	snprintf(s.language, sizeof s.language, "%s", api_body_str(rq, "language") ? api_body_str(rq, "language") : "");
	if (read_amounts(rq, s.topup_amounts_minor, &s.n_topup_amounts))
		return DB_ABORT;
	enum db_status st = store_site_insert(c, &s, srv_clock_now_us());
	if (st != DB_OK)
		return st;
	json_decref(t->out);
	t->out = site_json(&s);
	return api_audit(c, rq, "site.create", json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

void api_sites_create(struct req *rq)
{
	static const struct field spec[] = {
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"timezone", FK_TZ, F_REQ, 0, 0, 0, 0},
		{"currency", FK_CURRENCY, F_REQ, 0, 0, 0, 0},
		SITE_RECEIPT_FIELDS,
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct site_tx t = {rq, NULL};
	if (api_tx_failed(rq, db_run_tx(site_create_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 201, t.out);
}

void api_sites_list(struct req *rq)
{
	int64_t limit, after;
	if (api_page(rq, ID_SITE, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	json_t *items = json_array();
	if (rq->who.n_sites) { /* a user bound to sites sees those (api/reach.c), in id order */
		int64_t ids[AUTH_SITES_MAX];
		int n = 0;
		for (int i = 0; i < rq->who.n_sites; i++)
			if (rq->who.sites[i] > after) {
				int j = n++;
				for (; j > 0 && ids[j - 1] > rq->who.sites[i]; j--)
					ids[j] = ids[j - 1];
				ids[j] = rq->who.sites[i];
			}
		for (int i = 0; i < n && (int64_t)json_array_size(items) <= limit; i++) {
			struct site one;
			if (api_read_failed(rq, store_site_get(c, ids[i], &one))) {
				json_decref(items);
				return;
			}
			if (one.id)
				json_array_append_new(items, site_json(&one));
		}
	} else {
		struct site *v;
		int n;
		if (api_read_failed(rq, store_sites_list(c, after, limit + 1, &v, &n))) {
			json_decref(items);
			return;
		}
		for (int i = 0; i < n; i++)
			json_array_append_new(items, site_json(&v[i]));
		free(v);
	}
	api_reply(rq, 200, api_page_reply(items, limit));
}

void api_sites_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_SITE, "site");
	PGconn *c = id ? api_conn(rq) : NULL;
	if (!c)
		return;
	if (rq->who.role == ROLE_TENANT) { /* a tenant reads its own site (its time zone, its currency) */
		struct tenant t;
		if (api_read_failed(rq, store_tenant_get(c, rq->who.tenant_id, &t)))
			return;
		if (t.site_id != id) {
			api_error(rq, E_FORBIDDEN, NULL, "a tenant may read only its own site");
			return;
		}
	}
	struct site s;
	if (api_read_failed(rq, store_site_get(c, id, &s)))
		return;
	if (s.id)
		api_reply(rq, 200, site_json(&s));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no site %s", rq->args[0]);
}

struct site_patch_tx {
	struct req *rq;
	int64_t id;
	json_t *out;
};

static enum db_status site_patch_tx(PGconn *c, void *arg)
{
	struct site_patch_tx *t = arg;
	struct req *rq = t->rq;
	struct site_fields f = {api_body_has(rq, "legal_name"), api_body_has(rq, "tax_id"), api_body_str(rq, "legal_name"),
				api_body_str(rq, "tax_id"), api_body_str(rq, "language"), NULL, 0};
	int64_t amounts[SITE_TOPUP_AMOUNTS_MAX];
	if (read_amounts(rq, amounts, &f.n_topup_amounts))
		return DB_ABORT;
	f.topup_amounts_minor = amounts;
	struct site s;
	enum db_status st = store_site_update(c, t->id, &f, &s);
	if (st != DB_OK)
		return st;
	if (!s.id) {
		api_error(rq, E_NOT_FOUND, NULL, "no site %s", rq->args[0]);
		return DB_ABORT;
	}
	json_decref(t->out);
	t->out = site_json(&s);
	return api_audit(c, rq, "site.update", json_pack("{s:O, s:O}", "id", json_object_get(t->out, "id"), "changes", rq->json));
}

/* PATCH /v1/sites/{id}: the site's legal name and tax id, which receipts issued from then on
 * print (a receipt keeps what it printed). */
void api_sites_patch(struct req *rq)
{
	static const struct field spec[] = {SITE_RECEIPT_FIELDS, {0}};
	struct site_patch_tx t = {rq, api_arg_id(rq, 0, ID_SITE, "site"), NULL};
	if (!t.id || api_fields(rq, spec, true))
		return;
	if (api_tx_failed(rq, db_run_tx(site_patch_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 200, t.out);
}

static json_t *holiday_json(const struct holiday *h) { return json_pack("{s:s, s:s}", "day", h->day, "name", h->name); }

struct holiday_tx {
	struct req *rq;
	int64_t site;
	json_t *out;
};

static enum db_status holiday_tx(PGconn *c, void *arg)
{
	struct holiday_tx *t = arg;
	struct holiday h;
	snprintf(h.day, sizeof h.day, "%s", api_body_str(t->rq, "day"));
	snprintf(h.name, sizeof h.name, "%s", api_body_str(t->rq, "name"));
	bool found;
	enum db_status st = store_holiday_upsert(c, t->site, &h, &found);
	if (st != DB_OK)
		return st;
	if (!found) {
		api_error(t->rq, E_NOT_FOUND, NULL, "no site %s", t->rq->args[0]);
		return DB_ABORT;
	}
	json_decref(t->out);
	t->out = holiday_json(&h);
	return api_audit(c, t->rq, "site.holiday", json_pack("{s:o, s:s}", "site_id", api_id_json(ID_SITE, t->site),
							     "day", h.day));
}

/* POST /v1/sites/{id}/holidays {"day":"2026-10-01","name":"National Day"}: no cut on that
 * site-local date (grace that ends on it ends the next day, after quiet hours). */
void api_holidays_create(struct req *rq)
{
	static const struct field spec[] = {
		{"day", FK_TEXT, F_REQ, 0, 10, 0, 0},
		{"name", FK_TEXT, F_REQ, 0, 100, 0, 0},
		{0},
	};
	struct holiday_tx t = {rq, api_arg_id(rq, 0, ID_SITE, "site"), NULL};
	if (!t.site || api_fields(rq, spec, false))
		return;
	int64_t us;
	char full[40];
	snprintf(full, sizeof full, "%sT00:00:00Z", api_body_str(rq, "day"));
	if (strlen(api_body_str(rq, "day")) != 10 || api_parse_time(full, &us)) {
		api_field_error(rq, "day", "must be a date YYYY-MM-DD");
		return;
	}
	if (api_tx_failed(rq, db_run_tx(holiday_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 201, t.out);
}

void api_holidays_list(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_SITE, "site");
	PGconn *c = id ? api_conn(rq) : NULL;
	if (!c)
		return;
	struct holiday *v;
	int n;
	if (api_read_failed(rq, store_holidays_list(c, id, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, holiday_json(&v[i]));
	free(v);
	api_reply(rq, 200, json_pack("{s:o}", "items", items));
}
