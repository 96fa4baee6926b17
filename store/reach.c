/* reach.c: the site of a resource (reach.h). */
#include "store/reach.h"

/* One statement per kind, in enum order; each takes $1 the id (the meter's also $2 its serial)
 * and returns site_id. */
static const struct db_stmt reach_stmts[] = {
	{"reach_site", "SELECT id AS site_id FROM sites WHERE id = $1"},
	{"reach_tenant", "SELECT site_id FROM tenants WHERE id = $1"},
	/* by id or serial: two meters when one's serial reads as the other's id; then two sites
	 * are no site (the handler might act on either) */
	{"reach_meter",
	 "SELECT CASE WHEN min(site_id) = max(site_id) THEN min(site_id) ELSE 0 END AS site_id FROM meters"
	 " WHERE ($1::bigint IS NOT NULL AND id = $1) OR serial = $2"},
	{"reach_gateway", "SELECT site_id FROM gateways WHERE id = $1"},
	{"reach_tariff", "SELECT site_id FROM tariffs WHERE id = $1"},
	{"reach_policy", "SELECT site_id FROM credit_policies WHERE id = $1"},
	{"reach_pool", "SELECT site_id FROM cost_pools WHERE id = $1"},
	{"reach_run",
	 "SELECT p.site_id FROM allocation_runs r JOIN cost_pools p ON p.id = r.pool_id WHERE r.id = $1"},
	{"reach_order",
	 "SELECT t.site_id FROM topup_orders o JOIN tenants t ON t.id = o.tenant_id WHERE o.id = $1"},
	{"reach_payment",
	 "SELECT t.site_id FROM payments p JOIN tenants t ON t.id = p.tenant_id WHERE p.id = $1"},
	{"reach_conflict",
	 "SELECT t.site_id FROM payment_conflicts x JOIN payments p ON p.id = x.payment_id JOIN tenants t ON t.id = p.tenant_id"
	 " WHERE x.id = $1"},
	{"reach_refund",
	 "SELECT t.site_id FROM refunds r JOIN tenants t ON t.id = r.tenant_id WHERE r.id = $1"},
	{"reach_alarm", "SELECT site_id FROM alarms WHERE id = $1"},
	{"reach_report", "SELECT site_id FROM reports WHERE id = $1"},
	{"reach_receipt", "SELECT site_id FROM receipts WHERE id = $1"},
	{0, 0},
};

_Static_assert(sizeof reach_stmts / sizeof reach_stmts[0] == RK__COUNT + 1, "one statement per reach_kind");

void store_reach_register(void) { db_register(reach_stmts); }

enum db_status store_site_of(PGconn *c, enum reach_kind k, int64_t id, const char *serial, int64_t *site)
{
	*site = 0;
	struct db_params p = {0};
	db_p_id(&p, id);
	if (k == RK_METER)
		db_p_text(&p, serial);
	bool null = false;
	struct db_col spec[] = {DB_COL_NULL("site_id", DB_I64, site, &null), {0}};
	enum db_status st = db_exec_row(c, reach_stmts[k].name, &p, spec, NULL);
	if (null)
		*site = 0;
	return st;
}
