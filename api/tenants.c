/* tenants.c: /v1/tenants. Creating a tenant opens its prepaid account in the same
 * transaction, in the site's currency. */
#include "api/api.h"
#include "core/money.h"
#include "core/clock.h"
#include "store/tenants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_register_statements_tenants(void);
void api_register_statements_tenants(void) { store_tenants_register(); }

static json_t *opt_str(const char *s) { return s[0] ? json_string(s) : json_null(); }

/* "wechat,sms" as ["wechat","sms"]. */
static json_t *channels_json(const char *list)
{
	json_t *a = json_array();
	char buf[40];
	snprintf(buf, sizeof buf, "%s", list);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(tok));
	return a;
}

static json_t *tenant_json(const struct tenant *t)
{
	char area[32];
	bill_format_decimal(t->area_centi_m2, 2, area, sizeof area);
	json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
			 api_id_json(ID_TENANT, t->id), "site_id", api_id_json(ID_SITE, t->site_id), "name", t->name,
			 "category", t->category, "area_m2", area, "credit_rating", t->credit_rating, "phone",
			 opt_str(t->phone), "status", t->status, "created_at", api_time_json(t->created_us),
			 "updated_at", api_time_json(t->updated_us), "move_in", opt_str(t->move_in), "move_out",
			 opt_str(t->move_out));
	json_object_set_new(o, "language", opt_str(t->language));
	json_object_set_new(o, "channels", channels_json(t->channels));
	json_object_set_new(o, "wechat_openid", opt_str(t->wechat_openid));
	return o;
}

static const char *const ratings[] = {"A", "B", "C", "D", NULL};
static const char *const statuses[] = {"active", "suspended", "closed", NULL};
static const char *const languages[] = {"zh-CN", "en", NULL};

static const struct field tenant_spec[] = {
	{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
	{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
	{"category", FK_TEXT, F_REQ, 0, 64, 0, 0},
	{"area_m2", FK_AREA, F_REQ, 0, 0, 0, 0},
	{"credit_rating", FK_ENUM, F_REQ, 0, 0, ratings, 0},
	{"phone", FK_PHONE, F_NULL, 0, 0, 0, 0},
	{"status", FK_ENUM, 0, 0, 0, statuses, 0},
	{"move_in", FK_DATE, F_NULL, 0, 0, 0, 0},
	{"move_out", FK_DATE, F_NULL, 0, 0, 0, 0},
	{"language", FK_ENUM, F_NULL, 0, 0, languages, 0},
	{"channels", FK_ARRAY, 0, 0, 0, 0, 0},
	{"wechat_openid", FK_TEXT, F_NULL, 0, 128, 0, 0},
	{0},
};

struct tenant_tx {
	struct req *rq;
	int64_t id;
	json_t *out;
	char channels[40];
};

/* The body's channels ("wechat", "sms", each once, at least one) into buf as "wechat,sms";
 * 0, or -1 after replying 400. */
static int channels_field(struct req *rq, char *buf, size_t n)
{
	json_t *a = json_object_get(rq->json, "channels");
	buf[0] = 0;
	if (!a)
		return 0;
	size_t k, cnt = json_array_size(a);
	json_t *v;
	if (cnt == 0 || cnt > 2) {
		api_field_error(rq, "channels", "must name one or two of wechat, sms");
		return -1;
	}
	json_array_foreach(a, k, v) {
		const char *s = json_string_value(v);
		if (!s || (strcmp(s, "wechat") && strcmp(s, "sms")) || (buf[0] && strstr(buf, s))) {
			api_field_error(rq, "channels", "must name each of wechat, sms at most once");
			return -1;
		}
		size_t used = strlen(buf);
		snprintf(buf + used, n - used, "%s%s", used ? "," : "", s);
	}
	return 0;
}

/* The body's fields, for a create or a patch (chan: channels_field's buffer). */
static void body_fields(struct req *rq, struct tenant_fields *f, const char *chan)
{
	memset(f, 0, sizeof *f);
	f->language = api_body_str(rq, "language");
	f->set_language = api_body_has(rq, "language");
	f->wechat_openid = api_body_str(rq, "wechat_openid");
	f->set_openid = api_body_has(rq, "wechat_openid");
	f->channels = chan[0] ? chan : NULL;
	f->name = api_body_str(rq, "name");
	f->category = api_body_str(rq, "category");
	f->credit_rating = api_body_str(rq, "credit_rating");
	f->status = api_body_str(rq, "status");
	const char *area = api_body_str(rq, "area_m2");
	f->has_area = area && bill_parse_decimal(area, 2, INT64_C(1000000000000), &f->area_centi_m2) == 0;
	f->phone = api_body_str(rq, "phone");
	f->set_phone = api_body_has(rq, "phone");
	f->move_in = api_body_str(rq, "move_in");
	f->set_move_in = api_body_has(rq, "move_in");
	f->move_out = api_body_str(rq, "move_out");
	f->set_move_out = api_body_has(rq, "move_out");
}

static enum db_status tenant_create_tx(PGconn *c, void *arg)
{
	struct tenant_tx *t = arg;
	struct req *rq = t->rq;
	struct tenant_fields f;
	body_fields(rq, &f, t->channels);
	struct tenant row;
	enum db_status st = store_tenant_insert(c, api_body_id(rq, ID_SITE, "site_id"), &f, srv_clock_now_us(), &row);
	if (st != DB_OK)
		return st;
	if (!row.id) {
		api_field_error(rq, "site_id", "no such site");
		return DB_ABORT;
	}
	json_decref(t->out);
	t->out = tenant_json(&row);
	/* A new account at or below its cut threshold enters grace like any other. */
	st = api_refresh_accounts(c, row.id, 0, NULL);
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "tenant.create",
			 json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

/* move_out before move_in is refused here when both come together (the database's check
 * catches a PATCH of one against the stored other). */
static int occupancy_ok(struct req *rq)
{
	const char *in = api_body_str(rq, "move_in"), *out = api_body_str(rq, "move_out");
	if (in && out && strcmp(out, in) < 0) {
		api_field_error(rq, "move_out", "is before move_in");
		return 0;
	}
	return 1;
}

void api_tenants_create(struct req *rq)
{
	struct tenant_tx t = {rq, 0, NULL, ""};
	if (api_fields(rq, tenant_spec, false) || !occupancy_ok(rq) || channels_field(rq, t.channels, sizeof t.channels))
		return;
	if (api_tx_failed(rq, db_run_tx(tenant_create_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 201, t.out);
}

void api_tenants_list(struct req *rq)
{
	static const char *const states[] = {"normal", "warned", "grace", "cut_off", NULL};
	int64_t sid, limit, after;
	const char *state, *rating, *q = api_query(rq, "q"), *category = api_query(rq, "category");
	if (api_query_id(rq, "site_id", ID_SITE, &sid) || api_page(rq, ID_TENANT, &limit, &after) ||
	    api_query_enum(rq, "state", states, &state) || api_query_enum(rq, "credit_rating", ratings, &rating))
		return;
	if ((q && (!*q || strlen(q) > 100)) || (category && (!*category || strlen(category) > 64))) {
		const char *bad = q && (!*q || strlen(q) > 100) ? "q" : "category";
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", bad), "%s: 1 to 100 bytes", bad);
		return;
	}
	PGconn *c = api_read_conn(rq); /* a list: may be the replica's */
	if (!c)
		return;
	struct tenant *v;
	int n;
	if (api_read_failed(rq, store_tenants_list(c, after, limit + 1, sid, q, state, rating, category, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = tenant_json(&v[i]);
		if (v[i].state[0]) /* the console's list shows where each stands without a request each */
			json_object_set_new(o, "account", json_pack("{s:I, s:s, s:s, s:s}", "balance_minor",
								    (json_int_t)v[i].balance_minor, "currency", v[i].currency,
								    "state", v[i].state, "supply", v[i].supply));
		json_array_append_new(items, o);
	}
	free(v);
	api_reply(rq, 200, api_page_reply(items, limit));
}

void api_tenants_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id || api_tenant_scope(rq, id))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct tenant t;
	if (api_read_failed(rq, store_tenant_get(c, id, &t)))
		return;
	if (t.id)
		api_reply(rq, 200, tenant_json(&t));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
}

static enum db_status tenant_patch_tx(PGconn *c, void *arg)
{
	struct tenant_tx *t = arg;
	struct req *rq = t->rq;
	struct tenant_fields f;
	body_fields(rq, &f, t->channels);
	struct tenant row;
	enum db_status st = store_tenant_update(c, t->id, &f, srv_clock_now_us(), &row);
	if (st != DB_OK)
		return st;
	if (!row.id) {
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
		return DB_ABORT;
	}
	json_decref(t->out);
	t->out = tenant_json(&row);
	if (api_body_has(rq, "credit_rating")) /* another policy applies */
		st = api_refresh_accounts(c, t->id, 0, NULL);
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "tenant.update",
			 json_pack("{s:O, s:O}", "id", json_object_get(t->out, "id"), "changes",
				   rq->json));
}

void api_tenants_patch(struct req *rq)
{
	struct tenant_tx t = {rq, api_arg_id(rq, 0, ID_TENANT, "tenant"), NULL, ""};
	if (!t.id)
		return;
	if (api_body_has(rq, "site_id")) {
		api_field_error(rq, "site_id", "a tenant cannot move to another site");
		return;
	}
	if (api_fields(rq, tenant_spec, true) || !occupancy_ok(rq) || channels_field(rq, t.channels, sizeof t.channels))
		return;
	if (api_tx_failed(rq, db_run_tx(tenant_patch_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 200, t.out);
}
