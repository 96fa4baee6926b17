/* ingest.h: one batch of readings, billed in one transaction (DESIGN.md, money path 1-3). */
#ifndef WATTLE_INGEST_H
#define WATTLE_INGEST_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

enum bill_outcome {
	RD_PENDING,   /* not decided yet */
	RD_BILLED,    /* stored and billed */
	RD_BASELINE,  /* a meter's first reading: stored, sets the baseline, not billed */
	RD_LATE,      /* older than the last billed reading: stored, not billed */
	RD_DUPLICATE, /* (meter, ts) seen before: ignored */
	RD_REJECTED,  /* refused: code and message say why */
};

#define RD_OPT_N 8 /* power_w, voltage_v, current_a, pf, frequency_hz, thd_v_pct, thd_i_pct, relay */
extern const char *const bill_reading_opt_names[RD_OPT_N];

struct bill_reading {
	int index;            /* position in the request */
	char meter[72];       /* "mtr_<id>" or a serial */
	int64_t ts_us;
	int64_t energy_wh;    /* the register as reported */
	char opt[RD_OPT_N][32]; /* optional values as text, "" when absent */
	bool invalid;         /* refused by the caller's validation; kept as it is */
	enum bill_outcome outcome;
	const char *code;     /* static, for RD_REJECTED */
	char message[160];
	int64_t meter_id;     /* resolved */
	const char *request_id; /* the request that carried it; borrowed, may be NULL */
};

struct bill_batch {
	int accepted, duplicates, rejected;
	int billed, baselines, late; /* the accepted, by kind */
	int64_t charged_minor; /* whole minor units posted to ledgers by this batch */
};

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
