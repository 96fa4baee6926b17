/* meters.c: the SQL of meters (meters.h). */
#include "store/meters.h"

#include <stdbool.h>
#include <string.h>

#define METER_COLS                                                                                   \
	"id, serial, site_id, coalesce(tenant_id, 0) AS tenant_id, purpose, coalesce(tariff_id, 0) AS tariff_id," \
	" multiplier, coalesce(max_power_w, 0) AS max_power_w,"                                             \
	" coalesce(max_plausible_power_w, 0) AS max_plausible_power_w, protected, coalesce(gateway, '') AS gateway," \
	" status, " SQL_US("created_at") " AS created_us, " SQL_US("updated_at") " AS updated_us,"            \
	" coalesce(register_max_wh, 0) AS register_max_wh, start_register_wh, coalesce(gateway_id, 0) AS gateway_id"

static const struct db_stmt meter_stmts[] = {
	{"meter_refs", /* store_meter_refs */
	 "SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1) AS site,"
	 " coalesce((SELECT site_id FROM tenants WHERE id = $2), 0) AS tenant_site,"
	 " coalesce((SELECT site_id FROM tariffs WHERE id = $3), 0) AS tariff_site,"
	 " coalesce((SELECT site_id FROM gateways WHERE id = $4), 0) AS gateway_site"},
	{"meter_insert", /* store_meter_insert: the meter and its billing state */
	 "WITH m AS (INSERT INTO meters (serial, site_id, tenant_id, purpose, tariff_id, multiplier,"
	 " max_power_w, protected, gateway, register_max_wh, start_register_wh, created_at, updated_at,"
	 " max_plausible_power_w, gateway_id)"
	 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12, " SQL_TS("$10") ", " SQL_TS("$10") ", $13, $14)"
	 " RETURNING *),"
	 " s AS (INSERT INTO meter_state (meter_id, last_ts, last_register_wh)"
	 " SELECT id, CASE WHEN start_register_wh IS NULL THEN NULL ELSE created_at END,"
	 " start_register_wh FROM m)"
	 " SELECT " METER_COLS " FROM m"},
	{"meter_list", /* store_meters_list */
	 "SELECT " METER_COLS " FROM meters WHERE id > $1 AND ($3::bigint IS NULL OR site_id = $3)"
	 " AND ($4::bigint IS NULL OR tenant_id = $4) ORDER BY id LIMIT $2"},
	{"meter_get", /* store_meter_get: by id or serial */
	 "SELECT " METER_COLS " FROM meters WHERE ($1::bigint IS NOT NULL AND id = $1) OR serial = $2"},
	{"meter_lock", /* store_meter_lock: by id or serial */
	 "SELECT site_id, id, coalesce(tenant_id, 0) AS tenant_id FROM meters"
	 " WHERE ($1::bigint IS NOT NULL AND id = $1) OR serial = $2 FOR UPDATE"},
	{"meter_update", /* store_meter_update: $n NULL leaves a column; the booleans say whether a
			    nullable column is being set */
	 "UPDATE meters SET tenant_id = CASE WHEN $3::boolean THEN $2::bigint ELSE tenant_id END,"
	 " purpose = coalesce($4, purpose),"
	 " tariff_id = CASE WHEN $6::boolean THEN $5::bigint ELSE tariff_id END,"
	 " multiplier = coalesce($7::integer, multiplier),"
	 " max_power_w = CASE WHEN $9::boolean THEN $8::bigint ELSE max_power_w END,"
	 " protected = coalesce($10::boolean, protected),"
	 " gateway = CASE WHEN $12::boolean THEN $11 ELSE gateway END,"
	 " status = coalesce($13, status), updated_at = " SQL_TS("$14") ","
	 " register_max_wh = CASE WHEN $16::boolean THEN $15::bigint ELSE register_max_wh END,"
	 " max_plausible_power_w = CASE WHEN $18::boolean THEN $17::bigint ELSE max_plausible_power_w END,"
	 " gateway_id = CASE WHEN $20::boolean THEN $19::bigint ELSE gateway_id END"
	 " WHERE id = $1 RETURNING " METER_COLS},
	{"command_meter_active", /* store_meter_takes_commands */
	 "SELECT coalesce(tenant_id, 0) AS tenant_id FROM meters WHERE id = $1 AND status = 'active'"},
	{"meter_find", /* store_meter_find: by id or serial */
	 "SELECT id, coalesce(tenant_id, 0) AS tenant_id FROM meters"
	 " WHERE ($1::bigint IS NOT NULL AND id = $1) OR serial = $2"},
	{0, 0},
};

void store_meters_register(void) { db_register(meter_stmts); }

enum db_status store_meter_takes_commands(PGconn *c, int64_t id, bool *active, int64_t *tenant_id)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	*tenant_id = 0;
	struct db_col spec[] = {DB_COL("tenant_id", DB_I64, tenant_id), {0}};
	return db_exec_row(c, "command_meter_active", &p, spec, active);
}

enum db_status store_meter_find(PGconn *c, int64_t id, const char *serial, struct meter_ref *out)
{
	out->id = out->tenant_id = 0;
	struct db_params p = {0};
	db_p_id(&p, id);
	db_p_text(&p, serial);
	struct db_col spec[] = {DB_COL("id", DB_I64, &out->id), DB_COL("tenant_id", DB_I64, &out->tenant_id), {0}};
	return db_exec_row(c, "meter_find", &p, spec, NULL);
}

/* The spec of a meter row (METER_COLS). */
#define METER_SPEC(x)                                                                      \
	{DB_COL("id", DB_I64, &(x)->id), DB_COL_TEXT("serial", (x)->serial), DB_COL("site_id", DB_I64, &(x)->site_id), \
	 DB_COL("tenant_id", DB_I64, &(x)->tenant_id), DB_COL_TEXT("purpose", (x)->purpose),                \
	 DB_COL("tariff_id", DB_I64, &(x)->tariff_id), DB_COL("multiplier", DB_I64, &(x)->multiplier),      \
	 DB_COL("max_power_w", DB_I64, &(x)->max_power_w),                                                \
	 DB_COL("max_plausible_power_w", DB_I64, &(x)->max_plausible_power_w), DB_COL("protected", DB_BOOL, &(x)->is_protected), \
	 DB_COL_TEXT("gateway", (x)->gateway), DB_COL_TEXT("status", (x)->status),                           \
	 DB_COL("created_us", DB_I64, &(x)->created_us), DB_COL("updated_us", DB_I64, &(x)->updated_us),    \
	 DB_COL("register_max_wh", DB_I64, &(x)->register_max_wh),                                           \
	 DB_COL_NULL("start_register_wh", DB_I64, &(x)->start_register_wh, &(x)->start_null),                \
	 DB_COL("gateway_id", DB_I64, &(x)->gateway_id), {0}}

/* One meter row of stmt into *out (out->id == 0 when there is none). */
static enum db_status meter_row(PGconn *c, const char *stmt, struct db_params *p, struct meter_row *out)
{
	memset(out, 0, sizeof *out);
	struct db_col spec[] = METER_SPEC(out);
	return db_exec_row(c, stmt, p, spec, NULL);
}

enum db_status store_meter_refs(PGconn *c, int64_t site, int64_t tenant, int64_t tariff, int64_t gateway,
				struct meter_refs *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, site);
	db_p_id(&p, tenant);
	db_p_id(&p, tariff);
	db_p_id(&p, gateway);
	struct db_col spec[] = {DB_COL("site", DB_BOOL, &out->site), DB_COL("tenant_site", DB_I64, &out->tenant_site),
				DB_COL("tariff_site", DB_I64, &out->tariff_site),
				DB_COL("gateway_site", DB_I64, &out->gateway_site), {0}};
	return db_exec_row(c, "meter_refs", &p, spec, NULL);
}

enum db_status store_meter_insert(PGconn *c, int64_t site_id, const struct meter_fields *f, int64_t now_us,
				  struct meter_row *out)
{
	struct db_params p = {0};
	db_p_text(&p, f->serial);
	db_p_i64(&p, site_id);
	db_p_id(&p, f->tenant_id);
	db_p_text(&p, f->purpose);
	db_p_id(&p, f->tariff_id);
	db_p_i64(&p, f->has_multiplier ? f->multiplier : 1);
	db_p_id(&p, f->max_power_w);
	db_p_bool(&p, f->is_protected > 0);
	db_p_text(&p, f->gateway);
	db_p_i64(&p, now_us);
	db_p_id(&p, f->register_max_wh);
	db_p_i64_if(&p, f->has_start, f->start_register_wh);
	db_p_id(&p, f->max_plausible_power_w);
	db_p_id(&p, f->gateway_id);
	return meter_row(c, "meter_insert", &p, out);
}

enum db_status store_meter_get(PGconn *c, int64_t id, const char *serial, struct meter_row *out)
{
	struct db_params p = {0};
	db_p_id(&p, id);
	db_p_text(&p, serial);
	return meter_row(c, "meter_get", &p, out);
}

enum db_status store_meter_lock(PGconn *c, int64_t id, const char *serial, struct meter_ref *out, int64_t *site_id)
{
	out->id = out->tenant_id = 0;
	*site_id = 0;
	struct db_params p = {0};
	db_p_id(&p, id);
	db_p_text(&p, serial);
	struct db_col spec[] = {DB_COL("site_id", DB_I64, site_id), DB_COL("id", DB_I64, &out->id),
				DB_COL("tenant_id", DB_I64, &out->tenant_id), {0}};
	return db_exec_row(c, "meter_lock", &p, spec, NULL);
}

enum db_status store_meter_update(PGconn *c, int64_t id, const struct meter_fields *f, int64_t now_us,
				  struct meter_row *out)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_id(&p, f->tenant_id);
	db_p_bool(&p, f->set_tenant);
	db_p_text(&p, f->purpose);
	db_p_id(&p, f->tariff_id);
	db_p_bool(&p, f->set_tariff);
	db_p_i64_if(&p, f->has_multiplier, f->multiplier);
	db_p_id(&p, f->max_power_w);
	db_p_bool(&p, f->set_max_power);
	if (f->is_protected >= 0)
		db_p_bool(&p, f->is_protected > 0);
	else
		db_p_text(&p, NULL);
	db_p_text(&p, f->gateway);
	db_p_bool(&p, f->set_gateway);
	db_p_text(&p, f->status);
	db_p_i64(&p, now_us);
	db_p_id(&p, f->register_max_wh);
	db_p_bool(&p, f->set_register_max);
	db_p_id(&p, f->max_plausible_power_w);
	db_p_bool(&p, f->set_max_plausible);
	db_p_id(&p, f->gateway_id);
	db_p_bool(&p, f->set_gateway_id);
	return meter_row(c, "meter_update", &p, out);
}

enum db_status store_meters_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, int64_t tenant_id,
				 struct meter_row **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, site_id);
	db_p_id(&p, tenant_id);
	struct meter_row x;
	struct db_col spec[] = METER_SPEC(&x);
	return db_exec_rows(c, "meter_list", &p, spec, &x, sizeof x, (void **)out, n);
}
