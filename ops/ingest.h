/* ingest.h: one batch of readings, billed in one transaction (DESIGN.md, money path 1-3). */
#ifndef WATTLE_INGEST_H
#define WATTLE_INGEST_H

#include "core/meterbatch.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* Bill readings[0..n) inside the caller's transaction (they may come from several
 * requests: each meter's energy_charge entry names the requests whose readings it prices,
 * from each reading's request_id, else request_id) (it may be run again: every outcome
 * not marked invalid is recomputed). Meter states are locked in meter id order, then
 * accounts in account id order. Returns the db status; *out on DB_OK. */
enum db_status bill_ingest(PGconn *c, struct bill_reading *rd, int n, int64_t now_us,
			   const char *request_id, struct bill_batch *out);

/* Totals since start, for /metrics. */
struct bill_ingest_stats {
	uint64_t batches, billed, baselines, late, duplicates, rejected, charged_minor;
};
void bill_ingest_stats_get(struct bill_ingest_stats *s);
/* Count a batch once its transaction committed. */
void bill_ingest_committed(const struct bill_batch *b);

void bill_ingest_register(void);

#endif
