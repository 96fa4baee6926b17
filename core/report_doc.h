/* report_doc.h: the monthly reports as typed data (the tenant statement, the finance summary
 * and the energy report), filled by store/reports.c from the ledger and the rollups
 * (meter_daily, meter_hourly), and their rendering as JSON documents, pure. Money is integer
 * minor units. The sums read from the ledger (struct report_sums) keep the ledger's sign
 * (charges are negative); the documents show debits as positive and
 *   opening + topups - energy_charges - allocations + adjustments - refunds = closing
 * holds to the fen (allocation reversals count against allocations). */
#ifndef WATTLE_CORE_REPORT_DOC_H
#define WATTLE_CORE_REPORT_DOC_H

#include "core/alarm.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum bill_report_kind { REPORT_STATEMENT, REPORT_FINANCE, REPORT_ENERGY };

/* "tenant_statement", "finance_summary", "energy"; -1 for another string. */
int bill_report_kind_parse(const char *s);
const char *bill_report_kind_name(enum bill_report_kind k);

/* Every report's head: the site and the site-local month. */
struct report_site {
	int64_t id;
	int year, month;
	char first[16];  /* "YYYY-MM-01", the month as the statements' parameter */
	char period[8];  /* "YYYY-MM" */
	char *name;      /* new */
	char timezone[64], currency[8];
	int minor_digits;               /* of currency */
	int64_t from_us, to_us;         /* the month's bounds as instants */
	int64_t generated_us;           /* when the report was made */
};
/* Fill the period fields of s from year and month (1..12). */
void report_site_period(struct report_site *s, int year, int month);
void report_site_clear(struct report_site *s);

/* What the month's ledger entries moved, by kind, with the ledger's sign. */
struct report_sums {
	int64_t topup, energy, alloc, adj, refund; /* alloc: allocations and their reversals */
};

/* Energy of a band from the daily rollup. (The rows of a statement set start with their
 * tenant's id.) */
struct report_band {
	int64_t tenant_id; /* statements: whose */
	char *band;        /* new */
	int64_t wh, cost_nano;
};

/* A ledger entry of a statement's month other than an energy charge. */
struct statement_entry {
	int64_t tenant_id;
	int64_t at_us, amount_minor;      /* the ledger's sign */
	char kind[16];                    /* topup, allocation, reversal, adjustment, refund */
	char local_time[24];              /* site-local "YYYY-MM-DD HH:MM" */
	char channel[64];                 /* the ref's channel, "other" when it has none */
	char *pool;                       /* new; "" when not an allocation */
	char period[8];                   /* the allocation run's, "" when none */
	char *run_id, *basis_unit;        /* new: allocations', from the ref; NULL: none */
	char *basis_json;                 /* new: the ref's basis as a JSON value, NULL: none */
	char *reason;                     /* new: adjustments, NULL: none */
};

/* kWh of one day. */
struct statement_day {
	int64_t tenant_id;
	char date[12]; /* "YYYY-MM-DD" */
	int64_t wh;
};

/* A tenant's statement. The slices (entries, bands, daily) are borrowed from the set. */
struct statement {
	int64_t tenant_id;
	char *name, *category; /* new */
	char *phone;           /* new, NULL: none; for the notification, never in the document */
	bool wechat;           /* the tenant has a WeChat openid: the notification may go there */
	int64_t area_centi_m2;
	char currency[8];      /* the account's */
	int64_t opening_minor; /* the balance when the month began */
	struct report_sums sums;
	const struct statement_entry *entries; /* by time */
	const struct report_band *bands;       /* by band */
	const struct statement_day *daily;     /* by date */
	int nentries, nbands, ndaily;
};
/* The closing balance: opening plus everything the month moved. */
int64_t report_statement_closing(const struct statement *s);

/* Statements of a range of a site's tenants, by tenant id, and the rows they slice. */
struct statement_set {
	struct report_site site;
	struct statement *items;
	int n;
	struct statement_entry *entries;
	struct report_band *bands;
	struct statement_day *days;
	int nentries, nbands, ndays;
};
void statement_set_free(struct statement_set *s); /* and zero it */

struct finance_totals {
	int64_t liability_start_minor, liability_end_minor;
	struct report_sums sums;
	int64_t tenants, tenants_in_arrears, cut_offs, restores, conflicts_open;
};
struct finance_channel {
	char channel[64];
	int64_t count, amount_minor;
};
struct finance_pool {
	char *pool; /* new */
	int64_t amount_minor;
};
/* Payments received against the ledger's credits, per provider. */
struct finance_payment {
	char provider[16];
	int64_t payments, received_minor, credited_minor, held_minor, refunded_minor;
};
struct finance_report {
	struct report_site site;
	struct finance_totals t;
	struct finance_channel *channels;
	struct report_band *bands;
	struct finance_pool *pools;
	struct finance_payment *payments;
	int nchannels, nbands, npools, npayments;
};
void finance_report_free(struct finance_report *f);

struct energy_totals {
	int64_t total_wh, previous_wh, public_wh; /* this month, the one before, public meters' */
};
struct energy_category {
	char *category; /* new */
	int64_t tenants, wh;
};
struct energy_pool {
	char *pool; /* new */
	int64_t wh;
};
/* Public load of one day (0: the month's first) and hour. */
struct energy_cell {
	int64_t day, hour, wh;
};
struct energy_top {
	int64_t tenant_id;
	char *name, *category; /* new */
	int64_t wh;
};
struct energy_report {
	struct report_site site;
	struct energy_totals t;
	struct energy_category *categories;
	struct energy_pool *pools;
	struct energy_cell *heat;
	struct energy_top *top;
	int ncategories, npools, nheat, ntop;
};
void energy_report_free(struct energy_report *e);

/* The documents: new objects (caller decrefs). A statement has no phone number. */
json_t *report_doc_statement(const struct report_site *site, const struct statement *s);
json_t *report_doc_finance(const struct finance_report *f);
json_t *report_doc_energy(const struct energy_report *e);

/* A meter's power quality over [from, to), as GET /v1/meters/{id}/power-quality serves it:
 * one page of its THD series, the spectra kept in the same stretch of time (a page ends where
 * either series had more than a page), the newest spectrum of the whole range, and the
 * per-order limits in force. Measurements, not money: THD as the doubles stored, spectra in
 * hundredths of a percent. Not stored: served as it is read. */
struct pq_thd {
	int64_t ts_us;
	double v, i; /* NAN when the reading had none */
};
struct pq_spectrum {
	int64_t ts_us; /* the reading that carried it */
	struct alarm_spectrum s;
};
struct pq_report {
	int64_t meter_id;
	char serial[72];
	int64_t from_us, to_us, generated_us;
	const struct pq_thd *thd;          /* borrowed, by time */
	const struct pq_spectrum *spectra; /* borrowed, by time */
	int nthd, nspectra;
	bool has_next;                     /* another page follows ... */
	int64_t next_after_us;             /* ... after this time (the page's last) */
	const struct pq_spectrum *latest;  /* borrowed; NULL when none was kept in range */
	uint16_t lim_v[ALARM_ORDERS], lim_i[ALARM_ORDERS]; /* hundredths; ALARM_NO_LIMIT: none */
};
/* {"kind":"power_quality","meter_id","serial","from","to","generated_at","harmonics_ts",
 * "harmonics_v_pct","harmonics_i_pct" (the latest spectrum: 30 numbers, orders 2 to 31, or
 * null),"harmonic_limits_pct","harmonic_limits_i_pct" ({"3": 5}),"thd":[{"ts","thd_v_pct",
 * "thd_i_pct"}],"spectra":[{"ts","harmonics_v_pct","harmonics_i_pct"}],"next_after"}: new. */
json_t *report_doc_power_quality(const struct pq_report *p);

/* The same as compact JSON text, as reports are stored: new (caller frees). */
char *report_doc_statement_text(const struct report_site *site, const struct statement *s);
char *report_doc_finance_text(const struct finance_report *f);
char *report_doc_energy_text(const struct energy_report *e);

#endif
