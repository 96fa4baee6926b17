/* ingest.h (store): the SQL of a readings batch: load and lock the batch's meters with their
 * state, tariffs and alarm settings; store readings, meter state, daily and hourly rollups
 * and meter events. What to write is decided by core/meterbatch.c. */
#ifndef WATTLE_STORE_INGEST_H
#define WATTLE_STORE_INGEST_H

#include "core/meterbatch.h"
#include "store/db.h"

#include <stdbool.h>

/* Resolve the meters rd[0..n) name (ids, then serials) and lock their state in meter id
 * order; load their tariffs' versions. Fills b->m, b->tariffs and indexes them. Alarm
 * settings and state are loaded when b->alarms. */
enum db_status store_ingest_load(PGconn *c, const struct bill_reading *rd, int n, struct mb_batch *b);

/* Store the decided readings order[0..n): the billed and baselines (a conflict there is a
 * bug: DB_UNIQUE), and the late ones, which are marked duplicates when stored before. */
enum db_status store_ingest_readings(PGconn *c, struct bill_reading **order, int n, int64_t now_us);

/* Write every touched meter's state (register, carry, month, totals, detector state). */
enum db_status store_ingest_state(PGconn *c, const struct mb_batch *b, int64_t now_us);

/* Add the batch's energy to meter_daily (by day and band) and meter_hourly (public meters). */
enum db_status store_ingest_rollups(PGconn *c, const struct mb_batch *b);

/* Store the batch's meter events. */
enum db_status store_ingest_events(PGconn *c, const struct mb_batch *b, int64_t now_us);

/* A stored reading as GET /v1/meters/{id}/readings shows it. Measurements are PostgreSQL's
 * text of a real ("" when absent): they are not money. */
struct reading_row {
	int64_t ts_us, energy_wh, power_w;
	bool power_null, billed;
	char values[6][24]; /* voltage_v, current_a, pf, frequency_hz, thd_v_pct, thd_i_pct */
	char relay[4];      /* "" when absent */
};
/* The meter's readings in [from, to) after `after` (all unix us), by time, at most limit.
 * *out new (caller frees). */
enum db_status store_readings_list(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, int64_t after_us,
				   int64_t limit, struct reading_row **out, int *n);

/* A tenant's energy and billed cost by period (site-local day or month) and band, from the
 * daily rollups over [from, to) ("YYYY-MM-DD"), in period then band order. */
struct consumption_row {
	char period[11], band[32];
	int64_t wh, cost_nano;
};
enum db_status store_consumption(PGconn *c, int64_t tenant_id, const char *from, const char *to, bool by_month,
				 struct consumption_row **out, int *n);

void store_ingest_register(void);

#endif
