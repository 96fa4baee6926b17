/* policies.c: the SQL of credit policies (policies.h). */
#include "store/policies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_COLS                                                                               \
	"id, site_id, rating, array_to_string(warn_levels_minor, ',') AS levels, overdraft_minor,"  \
	" grace_minutes, restore_min_minor, coalesce(quiet_from_min, -1) AS quiet_from,"           \
	" coalesce(quiet_to_min, -1) AS quiet_to"

static const struct db_stmt policy_stmts[] = {
	{"policy_upsert", /* store_policy_upsert */
	 "INSERT INTO credit_policies (site_id, rating, warn_levels_minor, overdraft_minor,"
	 " grace_minutes, restore_min_minor, quiet_from_min, quiet_to_min, created_at, updated_at)"
	 " SELECT s.id, $2, $3::bigint[], $4, $5, $6, $7, $8, " SQL_TS("$9") ", " SQL_TS("$9")
	 " FROM sites s WHERE s.id = $1"
	 " ON CONFLICT (site_id, rating) DO UPDATE SET warn_levels_minor = EXCLUDED.warn_levels_minor,"
	 " overdraft_minor = EXCLUDED.overdraft_minor, grace_minutes = EXCLUDED.grace_minutes,"
	 " restore_min_minor = EXCLUDED.restore_min_minor, quiet_from_min = EXCLUDED.quiet_from_min,"
	 " quiet_to_min = EXCLUDED.quiet_to_min, updated_at = EXCLUDED.updated_at"
	 " RETURNING " POLICY_COLS ", (xmax = 0) AS created"},
	{"policy_list", /* store_policies_list */
	 "SELECT " POLICY_COLS " FROM credit_policies WHERE id > $1"
	 " AND ($3::bigint IS NULL OR site_id = $3) ORDER BY id LIMIT $2"},
	{0, 0},
};

void store_policies_register(void) { db_register(policy_stmts); }

/* "5000,2000" into p->levels. */
static void parse_levels(const char *s, struct policy *p)
{
	p->nlevels = 0;
	while (s && *s && p->nlevels < POLICY_MAX_LEVELS) {
		char *end;
		p->levels[p->nlevels++] = strtoll(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
	}
}

/* Read a policy row; levels and quiet hours from their text. */
static void fill(struct policy *p, const char *levels)
{
	parse_levels(levels, p);
	p->quiet = p->quiet_from >= 0;
}

#define POLICY_SPEC(p, lv)                                                                        \
	DB_COL("id", DB_I64, &(p)->id), DB_COL("site_id", DB_I64, &(p)->site_id),                    \
	 DB_COL_TEXT("rating", (p)->rating), DB_COL_TEXT("levels", lv),                               \
	 DB_COL("overdraft_minor", DB_I64, &(p)->overdraft_minor),                                    \
	 DB_COL("grace_minutes", DB_I64, &(p)->grace_minutes),                                        \
	 DB_COL("restore_min_minor", DB_I64, &(p)->restore_min_minor),                                \
	 DB_COL("quiet_from", DB_I64, &(p)->quiet_from), DB_COL("quiet_to", DB_I64, &(p)->quiet_to)

enum db_status store_policy_upsert(PGconn *c, struct policy *p, int64_t now_us, bool *created)
{
	struct db_params q = {0};
	db_p_i64(&q, p->site_id);
	db_p_text(&q, p->rating);
	db_p_i64_array(&q, p->levels, p->nlevels);
	db_p_i64(&q, p->overdraft_minor);
	db_p_i64(&q, p->grace_minutes);
	db_p_i64(&q, p->restore_min_minor);
	db_p_i64_if(&q, p->quiet, p->quiet_from);
	db_p_i64_if(&q, p->quiet, p->quiet_to);
	db_p_i64(&q, now_us);
	char levels[512] = "";
	struct db_col spec[] = {POLICY_SPEC(p, levels), DB_COL("created", DB_BOOL, created), {0}};
	bool found;
	*created = false;
	enum db_status st = db_exec_row(c, "policy_upsert", &q, spec, &found);
	if (st == DB_OK && !found)
		p->id = 0;
	else if (st == DB_OK)
		fill(p, levels);
	return st;
}

enum db_status store_policies_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, struct policy **out,
				   int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params q = {0};
	db_p_i64(&q, after);
	db_p_i64(&q, limit);
	db_p_id(&q, site_id);
	struct policy p;
	char levels[512];
	struct db_col spec[] = {POLICY_SPEC(&p, levels), {0}};
	PGresult *r;
	enum db_status st = db_exec_bind(c, "policy_list", &q, spec, &r);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	*out = calloc((size_t)rows + 1, sizeof **out);
	if (!*out)
		abort();
	for (int i = 0; i < rows; i++) {
		memset(&p, 0, sizeof p);
		db_cols_read(r, i, spec);
		fill(&p, levels);
		(*out)[i] = p;
	}
	*n = rows;
	PQclear(r);
	return DB_OK;
}
