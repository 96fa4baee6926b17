/* meter.c: registering and changing meters (meter.h). */
#include "ops/meter.h"
#include "store/outbox.h"

static enum db_status check_refs(PGconn *c, int64_t site, const struct meter_fields *f, enum op_meter_err *err)
{
	struct meter_refs r;
	enum db_status st = store_meter_refs(c, site, f->tenant_id, f->tariff_id, f->gateway_id, &r);
	if (st != DB_OK)
		return st;
	*err = !r.site					  ? OP_METER_NO_SITE
	       : f->tenant_id && r.tenant_site != site	  ? OP_METER_NO_TENANT
	       : f->tariff_id && r.tariff_site != site	  ? OP_METER_NO_TARIFF
	       : f->gateway_id && r.gateway_site != site ? OP_METER_NO_GATEWAY
							  : OP_METER_OK;
	return DB_OK;
}

enum db_status op_meter_register(PGconn *c, int64_t site_id, struct meter_fields *f, int64_t now_us,
				 struct meter_row *out, enum op_meter_err *err)
{
	enum db_status st = check_refs(c, site_id, f, err);
	if (st != DB_OK || *err)
		return st;
	if (!f->purpose)
		f->purpose = f->tenant_id ? "tenant" : "other";
	st = store_meter_insert(c, site_id, f, now_us, out);
	if (st == DB_UNIQUE) {
		*err = OP_METER_SERIAL_TAKEN;
		return DB_OK;
	}
	if (st != DB_OK)
		return st;
	/* a meter of a tenant whose account is cut off must not stay on */
	return store_commands_follow_account(c, out->id, now_us);
}

enum db_status op_meter_change(PGconn *c, int64_t id, const char *serial, const struct meter_fields *f,
			       int64_t now_us, struct meter_row *out, enum op_meter_err *err)
{
	struct meter_ref ref;
	int64_t site;
	enum db_status st = store_meter_lock(c, id, serial, &ref, &site);
	if (st != DB_OK)
		return st;
	if (!ref.id) {
		*err = OP_METER_NOT_FOUND;
		return DB_OK;
	}
	if ((st = check_refs(c, site, f, err)) != DB_OK || *err)
		return st;
	if ((st = store_meter_update(c, ref.id, f, now_us, out)) != DB_OK)
		return st;
	return store_commands_follow_account(c, out->id, now_us);
}
