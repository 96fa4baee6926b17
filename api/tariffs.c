/* tariffs.c: /v1/tariffs. Rules are validated by billing/tariff.c and stored as jsonb. */
#include "api/api.h"
#include "core/valid.h"
#include "core/tariff.h"
#include "core/clock.h"
#include "store/tariffs.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

void api_register_statements_tariffs(void);
void api_register_statements_tariffs(void) { store_tariffs_register(); }

static json_t *tariff_json(const struct tariff_row *t)
{
	json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:s, s:o, s:o}", "id", api_id_json(ID_TARIFF, t->id), "site_id",
			      api_id_json(ID_SITE, t->site_id), "name", t->name, "currency", t->currency, "kind", t->kind,
			      "effective_from", api_time_json(t->effective_from_us), "created_at",
			      api_time_json(t->created_us));
	json_t *spec = t->spec_json ? json_loads(t->spec_json, 0, NULL) : NULL;
	json_object_update(o, spec); /* the rules sit at the top level, as they were posted */
	json_decref(spec);
	return o;
}

struct tariff_tx {
	struct req *rq;
	int64_t id; /* for a new version */
	char *spec;
	int64_t effective_from;
	json_t *out;
};

static enum db_status tariff_tx(PGconn *c, void *arg)
{
	struct tariff_tx *t = arg;
	struct req *rq = t->rq;
	struct tariff_row row = {0};
	row.site_id = api_body_id(rq, ID_SITE, "site_id");
	snprintf(row.name, sizeof row.name, "%s", api_body_str(rq, "name"));
	snprintf(row.currency, sizeof row.currency, "%s", api_body_str(rq, "currency"));
	snprintf(row.kind, sizeof row.kind, "%s", api_body_str(rq, "kind"));
	row.effective_from_us = t->effective_from;
	char currency[4];
	bool found;
	enum db_status st = store_site_currency(c, row.site_id, currency, &found);
	if (st != DB_OK)
		return st;
	if (!found) {
		api_field_error(rq, "site_id", "no such site");
		return DB_ABORT;
	}
	if (strcmp(currency, row.currency)) {
		api_error(rq, E_CURRENCY_MISMATCH, json_pack("{s:s}", "field", "currency"),
			  "the tariff's currency must be the site's (%s)", currency);
		return DB_ABORT;
	}
	st = store_tariff_insert(c, &row, t->spec, srv_clock_now_us());
	if (st == DB_OK) {
		json_decref(t->out);
		t->out = tariff_json(&row);
	}
	free(row.spec_json);
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "tariff.create",
			 json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

static const char *const kinds[] = {"flat", "tou", "tiered", NULL};
#define RULE_FIELDS                                                                   \
	{"kind", FK_ENUM, F_REQ, 0, 0, kinds, 0},                                     \
	{"rate_micros_per_kwh", FK_INT, 0, 0, TARIFF_MAX_RATE, 0, 0},                \
	{"bands", FK_ARRAY, 0, 0, 0, 0, 0}, {"schedule", FK_ARRAY, 0, 0, 0, 0, 0},      \
	{"tiers", FK_ARRAY, 0, 0, 0, 0, 0}

/* Check the body against spec and the pricing rules; fill t->spec (JSON text) and
 * t->effective_from (default now). Replies 400 and returns -1 when refused. */
static int tariff_rules(struct req *rq, const struct field *spec, struct tariff_tx *t)
{
	if (api_fields(rq, spec, false))
		return -1;
	char field[64], msg[200];
	json_t *rules = bill_tariff_check(api_body_str(rq, "kind"), rq->json, field, sizeof field,
					  msg, sizeof msg);
	if (!rules)
		return api_field_error(rq, field, "%s", msg);
	t->spec = json_dumps(rules, JSON_COMPACT);
	json_decref(rules);
	t->effective_from = srv_clock_now_us();
	if (api_body_has(rq, "effective_from"))
		api_parse_time(api_body_str(rq, "effective_from"), &t->effective_from);
	return 0;
}

void api_tariffs_create(struct req *rq)
{
	static const struct field spec[] = {
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"currency", FK_CURRENCY, F_REQ, 0, 0, 0, 0},
		{"effective_from", FK_TIME, 0, 0, 0, 0, 0},
		RULE_FIELDS,
		{0},
	};
	struct tariff_tx t = {rq, 0, NULL, 0, NULL};
	if (tariff_rules(rq, spec, &t))
		return;
	if (!api_tx_failed(rq, db_run_tx(tariff_tx, &t)))
		api_reply(rq, 201, t.out);
	else
		json_decref(t.out);
	free(t.spec);
}

void api_tariffs_list(struct req *rq)
{
	int64_t sid, limit, after;
	if (api_query_id(rq, "site_id", ID_SITE, &sid) || api_page(rq, ID_TARIFF, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct tariff_row *v;
	int n;
	if (api_read_failed(rq, store_tariffs_list(c, after, limit + 1, sid, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, tariff_json(&v[i]));
	store_tariffs_free(v, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}

void api_tariffs_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TARIFF, "tariff");
	PGconn *c = id ? api_conn(rq) : NULL;
	if (!c)
		return;
	struct tariff_row t;
	if (api_read_failed(rq, store_tariff_get(c, id, &t)))
		return;
	if (!t.id) {
		api_error(rq, E_NOT_FOUND, NULL, "no tariff %s", rq->args[0]);
		return;
	}
	json_t *out = tariff_json(&t);
	free(t.spec_json);
	struct tariff_version_row *v;
	int n;
	if (api_read_failed(rq, store_tariff_versions(c, id, &v, &n))) {
		json_decref(out);
		return;
	}
	json_t *versions = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_pack("{s:o, s:s}", "effective_from", api_time_json(v[i].effective_from_us), "kind",
				      v[i].kind);
		json_t *rules = v[i].spec_json ? json_loads(v[i].spec_json, 0, NULL) : NULL;
		json_object_update(o, rules);
		json_decref(rules);
		json_array_append_new(versions, o);
	}
	store_tariff_versions_free(v, n);
	json_object_set_new(out, "versions", versions);
	api_reply(rq, 200, out);
}

static enum db_status version_tx(PGconn *c, void *arg)
{
	struct tariff_tx *t = arg;
	bool found;
	enum db_status st = store_tariff_version_insert(c, t->id, t->effective_from, api_body_str(t->rq, "kind"), t->spec,
							srv_clock_now_us(), &found);
	if (st == DB_UNIQUE) {
		api_error(t->rq, E_ALREADY_EXISTS, json_pack("{s:s}", "field", "effective_from"),
			  "the tariff has a version from that instant");
		return DB_ABORT;
	}
	if (st != DB_OK)
		return st;
	if (!found) {
		api_error(t->rq, E_NOT_FOUND, NULL, "no tariff %s", t->rq->args[0]);
		return DB_ABORT;
	}
	return api_audit(c, t->rq, "tariff.version",
			 json_pack("{s:o, s:s}", "id", api_id_json(ID_TARIFF, t->id), "effective_from",
				   api_body_str(t->rq, "effective_from")));
}

void api_tariff_versions_create(struct req *rq)
{
	static const struct field spec[] = {
		{"effective_from", FK_TIME, F_REQ, 0, 0, 0, 0},
		RULE_FIELDS,
		{0},
	};
	struct tariff_tx t = {rq, 0, NULL, 0, NULL};
	if (!(t.id = api_arg_id(rq, 0, ID_TARIFF, "tariff")) || tariff_rules(rq, spec, &t))
		return;
	if (!api_tx_failed(rq, db_run_tx(version_tx, &t))) {
		api_tariffs_get(rq); /* the tariff with all its versions */
		if (rq->status == 200)
			rq->status = 201;
	}
	free(t.spec);
}
