/* policies.c: /v1/credit-policies, one per (site, credit rating); POST replaces. */
#include "api/api.h"
#include "core/valid.h"
#include "core/clock.h"
#include "store/policies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_register_statements_policies(void);
void api_register_statements_policies(void) { store_policies_register(); }

static json_t *hhmm(int64_t minutes)
{
	char b[8];
	snprintf(b, sizeof b, "%02d:%02d", (int)(minutes / 60), (int)(minutes % 60));
	return json_string(b);
}

static json_t *policy_json(const struct policy *p)
{
	json_t *levels = json_array();
	for (int i = 0; i < p->nlevels; i++)
		json_array_append_new(levels, json_integer(p->levels[i]));
	json_t *quiet = p->quiet ? json_pack("{s:o, s:o}", "from", hhmm(p->quiet_from), "to", hhmm(p->quiet_to))
				 : json_null();
	return json_pack("{s:o, s:o, s:s, s:o, s:I, s:I, s:I, s:o}", "id", api_id_json(ID_POLICY, p->id), "site_id",
			 api_id_json(ID_SITE, p->site_id), "rating", p->rating, "warn_levels_minor", levels,
			 "overdraft_minor", (json_int_t)p->overdraft_minor, "grace_minutes", (json_int_t)p->grace_minutes,
			 "restore_min_minor", (json_int_t)p->restore_min_minor, "quiet_hours", quiet);
}

struct policy_tx {
	struct req *rq;
	struct policy p;
	json_t *out;
	bool created;
};

static enum db_status policy_tx(PGconn *c, void *arg)
{
	struct policy_tx *t = arg;
	struct policy p = t->p;
	enum db_status st = store_policy_upsert(c, &p, srv_clock_now_us(), &t->created);
	if (st == DB_OK && !p.id) {
		api_field_error(t->rq, "site_id", "no such site");
		return DB_ABORT;
	}
	if (st == DB_OK) {
		json_decref(t->out);
		t->out = policy_json(&p);
		/* the policy changed: every account under it is re-evaluated */
		st = api_refresh_accounts(c, 0, p.site_id, p.rating);
	}
	if (st != DB_OK)
		return st;
	return api_audit(c, t->rq, t->created ? "credit_policy.create" : "credit_policy.replace",
			 json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

#define MAX_LEVEL INT64_C(1000000000000000)

void api_policies_create(struct req *rq)
{
	static const char *const ratings[] = {"A", "B", "C", "D", NULL};
	static const struct field spec[] = {
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"rating", FK_ENUM, F_REQ, 0, 0, ratings, 0},
		{"warn_levels_minor", FK_ARRAY, F_REQ, 0, 0, 0, 0},
		{"overdraft_minor", FK_INT, F_REQ, 0, MAX_LEVEL, 0, 0},
		{"grace_minutes", FK_INT, F_REQ, 0, 10080, 0, 0},
		{"restore_min_minor", FK_INT, 0, 0, MAX_LEVEL, 0, 0},
		{"quiet_hours", FK_OBJECT, F_NULL, 0, 0, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;

	/* Warning levels: integers, strictly descending, above the cut threshold. */
	json_t *levels = json_object_get(rq->json, "warn_levels_minor");
	int64_t overdraft = api_body_int(rq, "overdraft_minor");
	if (json_array_size(levels) > 10) {
		api_field_error(rq, "warn_levels_minor", "at most 10 levels");
		return;
	}
	struct policy_tx t = {rq, {0}, NULL, false};
	struct policy *p = &t.p;
	size_t i;
	json_t *v;
	json_array_foreach(levels, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) > MAX_LEVEL ||
		    json_integer_value(v) <= -overdraft) {
			api_field_error(rq, "warn_levels_minor",
					"levels must be integers above the cut threshold (-overdraft_minor)");
			return;
		}
		if (i > 0 && json_integer_value(v) >= json_integer_value(json_array_get(levels, i - 1))) {
			api_field_error(rq, "warn_levels_minor", "levels must be strictly descending");
			return;
		}
		p->levels[p->nlevels++] = json_integer_value(v);
	}
	json_t *q = json_object_get(rq->json, "quiet_hours");
	if (json_is_object(q)) {
		int from = api_parse_hhmm(json_string_value(json_object_get(q, "from")), 0);
		int to = api_parse_hhmm(json_string_value(json_object_get(q, "to")), 1);
		if (json_object_size(q) != 2 || from < 0 || to < 0 || from == to) {
			api_field_error(rq, "quiet_hours",
					"must be {\"from\":\"HH:MM\",\"to\":\"HH:MM\"} with from != to");
			return;
		}
		p->quiet = true;
		p->quiet_from = from;
		p->quiet_to = to;
	}
	p->site_id = api_body_id(rq, ID_SITE, "site_id");
	snprintf(p->rating, sizeof p->rating, "%s", api_body_str(rq, "rating"));
	p->overdraft_minor = overdraft;
	p->grace_minutes = api_body_int(rq, "grace_minutes");
	p->restore_min_minor = api_body_int(rq, "restore_min_minor");
	if (api_tx_failed(rq, db_run_tx(policy_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, t.created ? 201 : 200, t.out);
}

void api_policies_list(struct req *rq)
{
	int64_t sid, limit, after;
	if (api_query_id(rq, "site_id", ID_SITE, &sid) || api_page(rq, ID_POLICY, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct policy *v;
	int n;
	if (api_read_failed(rq, store_policies_list(c, after, limit + 1, sid, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, policy_json(&v[i]));
	free(v);
	api_reply(rq, 200, api_page_reply(items, limit));
}
