/* reach.h: which site a resource belongs to, so that a user bound to some sites (users.
 * site_ids) is kept to them (api/reach.c). One look-up by primary key per kind. */
#ifndef WATTLE_STORE_REACH_H
#define WATTLE_STORE_REACH_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

enum reach_kind {
	RK_SITE,
	RK_TENANT,
	RK_METER, /* by id, or by serial when id is 0 */
	RK_GATEWAY,
	RK_TARIFF,
	RK_POLICY,
	RK_POOL,
	RK_RUN,
	RK_ORDER,
	RK_PAYMENT,
	RK_CONFLICT,
	RK_REFUND,
	RK_ALARM,
	RK_REPORT,
	RK_RECEIPT,
	RK__COUNT
};

/* The site of the kind's row id (or, for RK_METER with id 0, of the meter with that serial):
 * *site 0 when there is no such row, or when it belongs to no site (a payment no tenant
 * claimed). */
enum db_status store_site_of(PGconn *c, enum reach_kind k, int64_t id, const char *serial, int64_t *site);

void store_reach_register(void);

#endif
