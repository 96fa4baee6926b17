/* meterbatch.h: the per-batch meter decisions of ingest, pure (no I/O): given the batch's
 * meters as loaded (state, tariff, alarm settings) and its readings, classify each reading
 * (billed, baseline, late, duplicate, refused), price what is billed and carry the
 * remainder below one minor unit, feed the alarm detector, and collect the meter events;
 * ops/ingest.c loads and writes what this decides (store/ingest.c), in one transaction. */
#ifndef WATTLE_METERBATCH_H
#define WATTLE_METERBATCH_H

#include "core/alarm.h"
#include "core/price.h"

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
	struct alarm_spectrum *harm; /* harmonics_v_pct / harmonics_i_pct, NULL when it carries
					neither: new, owned by the array mb_reading_decode filled
					(mb_readings_clear); copies of the reading borrow it */
	/* The reach of the key that sent it (readings of several requests are billed together):
	 * only meters of this gateway, else of this site; 0: any. Another's meter is refused
	 * forbidden_meter. */
	int64_t scope_gateway, scope_site;
};

/* Decode one reading of a batch from its JSON object (meter, ts, energy_wh, the optional
 * measurements, relay, the harmonics) into r (its index and request_id are the caller's;
 * r->harm is set, so r holds none before). A reading that is not one is marked invalid with
 * its code (invalid_reading, ts_in_future: more than 10 minutes ahead of now_us) and a
 * message naming the field, and holds no harmonics. Pure: no database. */
void mb_reading_decode(json_t *o, struct bill_reading *r, int64_t now_us);

/* Free the harmonics that mb_reading_decode allocated for rd[0..n) (not rd itself). */
void mb_readings_clear(struct bill_reading *rd, int n);

/* Spectra are kept at most one per meter per slot of this length (the first of the slot
 * that reaches the database); detection sees every one. */
#define MB_HARM_SLOT_US INT64_C(900000000)
/* The start of the slot holding ts_us. */
int64_t mb_harm_slot_us(int64_t ts_us);

/* Of the decided readings order[0..n) (by meter and time, as mb_decide left them), the ones
 * whose spectrum to store: accepted (billed, baseline or late), carrying harmonics, the
 * first of their meter's slot in the batch. Writes them to out (room for n) in order and
 * returns how many. */
int mb_harm_pick(struct bill_reading *const *order, int n, struct bill_reading **out);

/* The counts of a batch. */
struct bill_batch {
	int accepted, duplicates, rejected;
	int billed, baselines, late; /* the accepted, by kind */
	int64_t charged_minor; /* whole minor units posted to ledgers by this batch */
};

/* A meter's max_power_w is what it may draw (the overload alarm's threshold), not what it
 * can: an overload's energy is real and billed. Only a step above what the circuit could
 * physically deliver is refused (implausible_delta, alarm energy_implausible): the meter's
 * max_plausible_power_w, or by default this multiple of max_power_w (a breaker rated for
 * the limit trips long before a sustained draw of four times it). */
#define MB_PLAUSIBLE_FACTOR 4

#define MB_REQ_IDS 8 /* request ids an energy_charge entry names; more are counted */

/* A meter as the batch sees it: loaded (store/ingest.c), then decided here. */
struct mb_meter {
	int64_t id, tenant_id, tariff_id, multiplier, max_power_w, register_max;
	int64_t max_plausible_w; /* 0: MB_PLAUSIBLE_FACTOR x max_power_w */
	int64_t gateway_id;      /* 0: none */
	char serial[72], zone[64];
	bool retired;
	char acked_relay[4]; /* the relay of the meter's last acked command, "" if none */
	bool in_flight;      /* a command is pending or sent */
	const char *relay;   /* the newest accepted reading's relay, NULL if none said */
	int64_t relay_ts;
	const char *resend;  /* mb_relay_check: the acked command to send again, or NULL */
	int64_t unit;        /* nano-units per minor unit */
	/* alarms */
	int64_t site_id;
	struct alarm_cfg acfg;
	struct alarm_state ast;
	struct alarm_row *alarms; /* by kind, allocated at the first detection */
	bool cut;                 /* a malicious load was confirmed in this batch */
	/* public meters: energy by site-local (day, hour) for the energy report's heat map */
	struct mb_hour {
		int32_t day;
		int16_t hour;
		int64_t wh;
	} *hours;
	int nhours, caphours;
	bool has_last;
	int64_t last_ts, last_reg, carry;
	struct bill_month month;
	const struct bill_tariff *tariff;
	/* this batch */
	bool touched;
	int nbilled;
	int64_t first_ts, batch_wh, minor;
	int64_t batch_cost; /* nano-units; a reading that would overflow it is refused */
	const char *req_ids[MB_REQ_IDS]; /* the requests of the billed readings, in order */
	int nreq, more_req;
	struct bill_line *lines; /* by (day, band), for meter_daily and the ledger ref */
	int nlines, caplines;
};

struct mb_tariff {
	int64_t id;
	struct bill_tariff t;
};

/* A meter event (meter_events): what a person may want to look at. */
struct mb_event {
	int64_t meter_id;
	const char *kind; /* static: "energy_regressed", "implausible_delta", "relay_mismatch" */
	char detail[200]; /* a JSON object */
};

struct mb_batch {
	struct mb_meter *m; /* in id order */
	int nm;
	struct mb_meter **by_serial;
	struct mb_tariff *tariffs; /* in id order, each with its versions */
	int nt;
	bool alarms; /* run the detector */
	int nharm;   /* mb_decide: readings that carry harmonics (0: nothing to keep) */
	struct mb_event *ev;
	int nev, capev;
};

/* After the loader filled m[] (in id order) and tariffs[]: index serials, attach each meter's
 * tariff. */
void mb_index(struct mb_batch *b);

/* "mtr_<n>" -> n, or 0 (a serial). */
int64_t mb_meter_ref_id(const char *ref);

/* The meter a reading names (id or serial), or NULL. */
struct mb_meter *mb_find(struct mb_batch *b, const char *ref);

/* Whether the key that sent r may report for m (its scope_gateway, else scope_site). */
bool mb_in_scope(const struct mb_meter *m, const struct bill_reading *r);

/* Decide rd[0..n): every reading not marked invalid gets an outcome (it may be decided again
 * when the transaction is retried). order[] (room for n) gets the readings that name a
 * usable meter, sorted by meter and time; returns how many. */
int mb_decide(struct mb_batch *b, struct bill_reading *rd, int n, struct bill_reading **order);

/* Whole minor units each touched meter newly crossed (m->minor), carrying the rest. */
void mb_carry(struct mb_batch *b);

/* Meters whose newest reading shows a relay other than their last acked command, with no
 * command on its way: an event, an alarm hit, and m->resend set. */
void mb_relay_check(struct mb_batch *b);

/* The ref of a meter's energy_charge, {"meter_id","serial","readings":{"from","to","count"},
 * "wh","wh_by_band":{band: wh}}, and the requests it prices ("a,b,+N more", or NULL when
 * none named). New: caller frees. */
char *mb_charge_ref(const struct mb_meter *m);
char *mb_charge_requests(const struct mb_meter *m);

/* Count the outcomes of rd[0..n) into *out (an undecided reading is refused "internal"). */
void mb_count(struct bill_reading *rd, int n, struct bill_batch *out);

/* Free what the batch holds (its meters, tariffs, events). */
void mb_free(struct mb_batch *b);

#endif
