/* harmonics.h (store): the spectra of harmonics kept per meter and 15-minute slot
 * (meter_harmonics), written with their readings batch, and what GET
 * /v1/meters/{id}/power-quality reads: the THD series of the readings, the kept spectra, the
 * meter's alarm settings (its limits). */
#ifndef WATTLE_STORE_HARMONICS_H
#define WATTLE_STORE_HARMONICS_H

#include "core/meterbatch.h"
#include "core/report_doc.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* Inside the batch's transaction: keep the spectra of r[0..n) (mb_harm_pick's, one per meter
 * and slot), each unless its meter's slot holds one already. */
enum db_status store_harmonics_insert(PGconn *c, struct bill_reading *const *r, int n);

/* A reading's THD as PostgreSQL prints the real ("" when absent: not money). */
struct thd_row {
	int64_t ts_us;
	char thd_v[24], thd_i[24];
};
/* The meter's readings that carry a THD, with ts in [from, to) and after `after` (unix us),
 * by time, at most limit. *out new (caller frees). */
enum db_status store_thd_list(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, int64_t after_us,
			      int64_t limit, struct thd_row **out, int *n);

/* The meter's kept spectra with ts in [from, to) and after `after`, by time, at most limit.
 * *out new (caller frees). */
enum db_status store_harmonics_list(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, int64_t after_us,
				    int64_t limit, struct pq_spectrum **out, int *n);
/* The newest kept spectrum with ts in [from, to); *found false when there is none. */
enum db_status store_harmonics_latest(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, struct pq_spectrum *out,
				      bool *found);

/* The meter's alarm settings in force (its site's overlaid with its own) as JSON text, and its
 * serial. *settings new (caller frees); NULL when there is no such meter. */
enum db_status store_meter_alarm_settings(PGconn *c, int64_t meter_id, char **settings, char serial[72]);

void store_harmonics_register(void);

#endif
