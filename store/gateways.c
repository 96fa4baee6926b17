/* gateways.c: the SQL of gateways (gateways.h). */
#include "store/gateways.h"

#include <string.h>

#define GATEWAY_COLS                                                                                          \
	"g.id, g.site_id, coalesce(g.api_key_id, 0) AS api_key_id, g.name, g.delivery, coalesce(g.url, '') AS url," \
	" coalesce(g.version, '') AS version, g.queue_depth, coalesce(" SQL_US("g.last_seen_at") ", 0) AS last_seen_us," \
	" " SQL_US("g.created_at") " AS created_us, " SQL_US("g.updated_at") " AS updated_us"
/* Its active meters, through meters_gateway. */
#define GATEWAY_METERS "(SELECT count(*) FROM meters m WHERE m.gateway_id = g.id AND m.status = 'active') AS meters"

static const struct db_stmt gateway_stmts[] = {
	{"gateway_insert", /* store_gateway_insert */
	 "INSERT INTO gateways AS g (site_id, name, delivery, url, created_at, updated_at)"
	 " VALUES ($1, $2, $3, $4, " SQL_TS("$5") ", " SQL_TS("$5") ") RETURNING " GATEWAY_COLS ", 0::bigint AS meters"},
	{"gateway_set_key", /* store_gateway_set_key */
	 "UPDATE gateways SET api_key_id = $2 WHERE id = $1"},
	{"gateway_get", /* store_gateway_get */
	 "SELECT " GATEWAY_COLS ", " GATEWAY_METERS " FROM gateways g WHERE g.id = $1"},
	{"gateway_list", /* store_gateways_list */
	 "SELECT " GATEWAY_COLS ", " GATEWAY_METERS " FROM gateways g"
	 " WHERE g.id > $1 AND ($3::bigint IS NULL OR g.site_id = $3) ORDER BY g.id LIMIT $2"},
	{"gateway_seen", /* store_gateway_seen: what it did not say stays as it was */
	 "UPDATE gateways SET last_seen_at = greatest(last_seen_at, " SQL_TS("$2") "),"
	 " version = coalesce($3, version), queue_depth = coalesce($4::bigint, queue_depth) WHERE id = $1"},
	{0, 0},
};

void store_gateways_register(void) { db_register(gateway_stmts); }

#define GATEWAY_SPEC(x)                                                                                        \
	{DB_COL("id", DB_I64, &(x)->id), DB_COL("site_id", DB_I64, &(x)->site_id),                                 \
	 DB_COL("api_key_id", DB_I64, &(x)->api_key_id), DB_COL_TEXT("name", (x)->name),                           \
	 DB_COL_TEXT("delivery", (x)->delivery), DB_COL_TEXT("url", (x)->url), DB_COL_TEXT("version", (x)->version), \
	 DB_COL_NULL("queue_depth", DB_I64, &(x)->queue_depth, &(x)->depth_null),                                   \
	 DB_COL("last_seen_us", DB_I64, &(x)->last_seen_us), DB_COL("created_us", DB_I64, &(x)->created_us),        \
	 DB_COL("updated_us", DB_I64, &(x)->updated_us), DB_COL("meters", DB_I64, &(x)->meters), {0}}

static enum db_status gateway_row(PGconn *c, const char *stmt, struct db_params *p, struct gateway_row *out)
{
	memset(out, 0, sizeof *out);
	struct db_col spec[] = GATEWAY_SPEC(out);
	return db_exec_row(c, stmt, p, spec, NULL);
}

enum db_status store_gateway_insert(PGconn *c, int64_t site_id, const char *name, const char *delivery,
				    const char *url, int64_t now_us, struct gateway_row *out)
{
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, name);
	db_p_text(&p, delivery);
	db_p_text(&p, url);
	db_p_i64(&p, now_us);
	return gateway_row(c, "gateway_insert", &p, out);
}

enum db_status store_gateway_set_key(PGconn *c, int64_t id, int64_t key_id)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, key_id);
	return db_exec_void(c, "gateway_set_key", &p);
}

enum db_status store_gateway_get(PGconn *c, int64_t id, struct gateway_row *out)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	return gateway_row(c, "gateway_get", &p, out);
}

enum db_status store_gateways_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id,
				   struct gateway_row **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, site_id);
	struct gateway_row x;
	struct db_col spec[] = GATEWAY_SPEC(&x);
	return db_exec_rows(c, "gateway_list", &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_gateway_seen(PGconn *c, int64_t id, int64_t now_us, const char *version, bool has_depth,
				  int64_t depth)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	db_p_text(&p, version);
	db_p_i64_if(&p, has_depth, depth);
	return db_exec_void(c, "gateway_seen", &p);
}
