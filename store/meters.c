/* meters.c: the SQL of meters (meters.h). */
#include "store/meters.h"

static const struct db_stmt meter_stmts[] = {
	{"command_meter_active", /* store_meter_takes_commands */
	 "SELECT coalesce(tenant_id, 0) AS tenant_id FROM meters WHERE id = $1 AND status = 'active'"},
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
