/* meters.h: meters as the command path needs them (the rest of api/meters.c's SQL moves
 * here next). */
#ifndef WATTLE_STORE_METERS_H
#define WATTLE_STORE_METERS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* Whether meter id takes commands (it is active); *tenant_id its tenant, 0 for public. */
enum db_status store_meter_takes_commands(PGconn *c, int64_t id, bool *active, int64_t *tenant_id);

void store_meters_register(void);

#endif
