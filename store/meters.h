/* meters.h: meters: registration, changes, and how the command path finds them. */
#ifndef WATTLE_STORE_METERS_H
#define WATTLE_STORE_METERS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* Whether meter id takes commands (it is active); *tenant_id its tenant, 0 for public. */
enum db_status store_meter_takes_commands(PGconn *c, int64_t id, bool *active, int64_t *tenant_id);

/* The meter named by id (0: none) or serial: its id (0 when there is none) and tenant. */
struct meter_ref {
	int64_t id, tenant_id;
};
enum db_status store_meter_find(PGconn *c, int64_t id, const char *serial, struct meter_ref *out);

struct meter_row {
	int64_t id, site_id, tenant_id, tariff_id, gateway_id; /* tenant, tariff, gateway 0: none */
	int64_t multiplier, max_power_w, register_max_wh; /* max_power_w, register_max_wh 0: none */
	int64_t max_plausible_power_w;                    /* 0: the default, 4 x max_power_w */
	int64_t start_register_wh;
	bool start_null; /* start_register_wh was not given */
	bool is_protected;
	char serial[72], purpose[16], status[12], gateway[1024]; /* gateway "": none */
	int64_t created_us, updated_us;
};

/* What a registration or a change sets. For a change, NULL / set_* false leaves a column;
 * is_protected < 0 leaves it. */
struct meter_fields {
	const char *serial, *purpose, *gateway, *status;
	int64_t tenant_id, tariff_id, multiplier, max_power_w, register_max_wh, start_register_wh, max_plausible_power_w;
	int64_t gateway_id;
	bool has_multiplier, has_start;
	bool set_tenant, set_tariff, set_max_power, set_gateway, set_register_max, set_max_plausible, set_gateway_id;
	int is_protected;
};

/* The sites of what a meter would reference: whether site exists, the site of the tenant, of
 * the tariff and of the gateway (0: no such one; ids 0 are not looked up). */
struct meter_refs {
	bool site;
	int64_t tenant_site, tariff_site, gateway_site;
};
enum db_status store_meter_refs(PGconn *c, int64_t site, int64_t tenant, int64_t tariff, int64_t gateway,
				struct meter_refs *out);

/* Register a meter of site_id with its billing state (a starting register is the baseline of
 * a replacement meter). DB_UNIQUE: the serial exists. */
enum db_status store_meter_insert(PGconn *c, int64_t site_id, const struct meter_fields *f, int64_t now_us,
				  struct meter_row *out);
/* By id (0: none) or serial; out->id == 0 when there is none. */
enum db_status store_meter_get(PGconn *c, int64_t id, const char *serial, struct meter_row *out);
/* The same, locked (FOR UPDATE): its site and id. */
enum db_status store_meter_lock(PGconn *c, int64_t id, const char *serial, struct meter_ref *out, int64_t *site_id);
/* Apply f to meter id; out is the row after. */
enum db_status store_meter_update(PGconn *c, int64_t id, const struct meter_fields *f, int64_t now_us,
				  struct meter_row *out);
/* A page, of a site and a tenant (0: any). *out new (caller frees). */
enum db_status store_meters_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, int64_t tenant_id,
				 struct meter_row **out, int *n);

void store_meters_register(void);

#endif
