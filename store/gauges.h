/* gauges.h: what the control room graphs from the database at each scrape of /metrics:
 * accounts by state, alarms not closed by severity, the outboxes' depth by state and the
 * age of their oldest waiting row, the gateway keys still bound to nothing, and the raw
 * tables' month partitions. */
#ifndef WATTLE_STORE_GAUGES_H
#define WATTLE_STORE_GAUGES_H

#include "store/db.h"

#include <stdint.h>

/* One gauge value: family "accounts" | "alarms" | "commands" | "notifications" |
 * "commands_oldest_seconds" | "notifications_oldest_seconds" | "gateway_keys_unbound" |
 * "partitions" (month partitions of the table named by the label) | "partitions_oldest" (the
 * unix second its oldest kept month starts, 0: none), with its label's value. */
struct gauge {
	char family[40], label[24];
	int64_t value;
};
/* Read them at now_us (wattle's clock, as the rows' times are). *out new (caller frees). */
enum db_status store_gauges(PGconn *c, int64_t now_us, struct gauge **out, int *n);

void store_gauges_register(void);

#endif
