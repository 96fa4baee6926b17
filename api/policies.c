/* policies.c: /v1/credit-policies, one per (site, credit rating); POST replaces. */
#include "api/api.h"
#include "core/valid.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_COLS                                                                           \
	"id, site_id, rating, array_to_json(warn_levels_minor)::text, overdraft_minor,"         \
	" grace_minutes, restore_min_minor, quiet_from_min, quiet_to_min"

static const struct db_stmt policy_stmts[] = {
	{"policy_upsert", /* api_policies_create */
	 "INSERT INTO credit_policies (site_id, rating, warn_levels_minor, overdraft_minor,"
	 " grace_minutes, restore_min_minor, quiet_from_min, quiet_to_min, created_at, updated_at)"
	 " SELECT s.id, $2, $3::bigint[], $4, $5, $6, $7, $8, " SQL_TS("$9") ", " SQL_TS("$9")
	 " FROM sites s WHERE s.id = $1"
	 " ON CONFLICT (site_id, rating) DO UPDATE SET warn_levels_minor = EXCLUDED.warn_levels_minor,"
	 " overdraft_minor = EXCLUDED.overdraft_minor, grace_minutes = EXCLUDED.grace_minutes,"
	 " restore_min_minor = EXCLUDED.restore_min_minor, quiet_from_min = EXCLUDED.quiet_from_min,"
	 " quiet_to_min = EXCLUDED.quiet_to_min, updated_at = EXCLUDED.updated_at"
	 " RETURNING " POLICY_COLS ", (xmax = 0)"},
	{"policy_list", /* api_policies_list */
	 "SELECT " POLICY_COLS " FROM credit_policies WHERE id > $1"
	 " AND ($3::bigint IS NULL OR site_id = $3) ORDER BY id LIMIT $2"},
	{0, 0},
};

void api_register_statements_policies(void);
void api_register_statements_policies(void) { db_register(policy_stmts); }

static json_t *hhmm(int64_t minutes)
{
	char b[8];
	snprintf(b, sizeof b, "%02d:%02d", (int)(minutes / 60), (int)(minutes % 60));
	return json_string(b);
}

static json_t *policy_json(const PGresult *r, int i)
{
	json_t *levels = json_loads(PQgetvalue(r, i, 3), 0, NULL);
	json_t *quiet = PQgetisnull(r, i, 7) ? json_null()
					     : json_pack("{s:o, s:o}", "from", hhmm(db_int64(r, i, 7)),
							 "to", hhmm(db_int64(r, i, 8)));
	return json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "id",
			 api_id_col(ID_POLICY, r, i, 0), "site_id", api_id_col(ID_SITE, r, i, 1),
			 "rating", PQgetvalue(r, i, 2), "warn_levels_minor",
			 levels ? levels : json_array(), "overdraft_minor", api_int_col(r, i, 4),
			 "grace_minutes", api_int_col(r, i, 5), "restore_min_minor",
			 api_int_col(r, i, 6), "quiet_hours", quiet);
}

struct policy_tx {
	struct req *rq;
	const char *const *p;
	json_t *out;
	int created;
};

static enum db_status policy_tx(PGconn *c, void *arg)
{
	struct policy_tx *t = arg;
	PGresult *r;
	enum db_status st = db_exec(c, "policy_upsert", 9, t->p, &r);
	if (st == DB_OK && PQntuples(r) == 0) {
		api_field_error(t->rq, "site_id", "no such site");
		st = DB_ABORT;
	} else if (st == DB_OK) {
		json_decref(t->out);
		t->out = policy_json(r, 0);
		t->created = !strcmp(PQgetvalue(r, 0, 9), "t");
	}
	PQclear(r);
	if (st == DB_OK) /* the policy changed: every account under it is re-evaluated */
		st = api_refresh_accounts(c, 0, api_body_id(t->rq, ID_SITE, "site_id"),
					  api_body_str(t->rq, "rating"));
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
	char arr[400] = "{";
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
		size_t n = strlen(arr);
		snprintf(arr + n, sizeof arr - n, "%s%lld", i ? "," : "", (long long)json_integer_value(v));
	}
	strcat(arr, "}");

	char qf[I64_BUF], qt[I64_BUF];
	const char *quiet_from = NULL, *quiet_to = NULL;
	json_t *q = json_object_get(rq->json, "quiet_hours");
	if (json_is_object(q)) {
		int from = api_parse_hhmm(json_string_value(json_object_get(q, "from")), 0);
		int to = api_parse_hhmm(json_string_value(json_object_get(q, "to")), 1);
		if (json_object_size(q) != 2 || from < 0 || to < 0 || from == to) {
			api_field_error(rq, "quiet_hours",
					"must be {\"from\":\"HH:MM\",\"to\":\"HH:MM\"} with from != to");
			return;
		}
		quiet_from = api_i64(qf, from);
		quiet_to = api_i64(qt, to);
	}
	char site[I64_BUF], od[I64_BUF], gm[I64_BUF], rm[I64_BUF], now[I64_BUF];
	const char *p[9] = {api_i64(site, api_body_id(rq, ID_SITE, "site_id")),
			    api_body_str(rq, "rating"),
			    arr,
			    api_i64(od, overdraft),
			    api_i64(gm, api_body_int(rq, "grace_minutes")),
			    api_i64(rm, api_body_int(rq, "restore_min_minor")),
			    quiet_from,
			    quiet_to,
			    api_i64(now, srv_clock_now_us())};
	struct policy_tx t = {rq, p, NULL, 0};
	if (api_tx_failed(rq, db_run_tx(policy_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, t.created ? 201 : 200, t.out);
}

void api_policies_list(struct req *rq)
{
	char site[I64_BUF];
	int64_t sid;
	if (api_query_id(rq, "site_id", ID_SITE, &sid))
		return;
	const char *extra[1] = {sid ? api_i64(site, sid) : NULL};
	api_list(rq, ID_POLICY, "policy_list", policy_json, 1, extra);
}
