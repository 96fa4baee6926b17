/* meter.h: registering a meter and changing one, with their rules: the tenant, tariff and
 * gateway must be the site's, a public-area meter's purpose defaults to "other", and a meter that
 * joins (or is moved to) a tenant whose account is cut off is cut too. Inside the caller's
 * transaction. */
#ifndef WATTLE_OPS_METER_H
#define WATTLE_OPS_METER_H

#include "store/meters.h"

enum op_meter_err {
	OP_METER_OK = 0,
	OP_METER_NO_SITE,
	OP_METER_NO_TENANT,   /* not a tenant of the site */
	OP_METER_NO_TARIFF,   /* not a tariff of the site */
	OP_METER_NO_GATEWAY,  /* not a gateway of the site */
	OP_METER_SERIAL_TAKEN,
	OP_METER_NOT_FOUND,
};

/* Register f at site_id; *out the new meter. */
enum db_status op_meter_register(PGconn *c, int64_t site_id, struct meter_fields *f, int64_t now_us,
				 struct meter_row *out, enum op_meter_err *err);
/* Change the meter with id (or serial, when id is 0) by f; *out the changed meter. */
enum db_status op_meter_change(PGconn *c, int64_t id, const char *serial, const struct meter_fields *f,
			       int64_t now_us, struct meter_row *out, enum op_meter_err *err);

#endif
