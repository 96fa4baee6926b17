/* partitions.h: the month partitions of the raw tables (readings, meter_harmonics; migration
 * 0029): made ahead, and dropped once older than the retention and closed. */
#ifndef WATTLE_STORE_PARTITIONS_H
#define WATTLE_STORE_PARTITIONS_H

#include "store/db.h"

#include <stdint.h>

/* What one pass did to one partition. */
struct part_change {
	char table[32];  /* "readings" | "meter_harmonics" */
	char name[64];   /* the partition, e.g. "readings_p2026_10" */
	char action[12]; /* "created" | "dropped" | "held" (older than kept, a month not closed) |
			    "deleted" (n old rows of the default partition) */
	int64_t n;
};

/* Make the month partitions of both tables for every UTC month from the month of from_us to
 * the month of to_us, moving into each the rows its default partition held for it. Run in a
 * transaction (db_run_tx) of its own; it waits at most 2 s for a lock, then fails (DB_HARD):
 * try again later. *out new (caller frees), one row per partition created. */
enum db_status store_partitions_ensure(PGconn *c, int64_t from_us, int64_t to_us, struct part_change **out, int *n);

/* Drop the month partitions of both tables whose month ended at or before before_us, unless a
 * site-local month they overlap is not closed yet (those are "held"), and delete the default
 * partitions' rows before before_us in closed months. A transaction of its own, as above.
 * *out new (caller frees). */
enum db_status store_partitions_retire(PGconn *c, int64_t before_us, struct part_change **out, int *n);

void store_partitions_register(void);

#endif
