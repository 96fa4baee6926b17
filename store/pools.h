/* pools.h: cost pools, their members and their allocation runs in the database. Typed
 * structs in and out; the statements are in pools.c. */
#ifndef WATTLE_STORE_POOLS_H
#define WATTLE_STORE_POOLS_H

#include "core/alloc.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct pool_member {
	int64_t tenant_id;
	int64_t quota_ppm; /* 0 outside quota pools */
};

struct pool {
	int64_t id, site_id;
	int64_t main_meter_id; /* 0: none (not a virtual meter) */
	int64_t tariff_id;     /* 0: share the billed cost */
	char name[201];
	enum alloc_method method;
	bool is_auto, prorate;
	int64_t *meter_ids, *minus_ids; /* owned */
	int nmeters, nminus;
	struct pool_member *members; /* owned, in tenant id order when read */
	int nmembers;
	char zone[64], currency[4]; /* the site's, when read */
};

/* Free what p owns and zero it; NULL is a no-op. */
void store_pool_free(struct pool *p);
/* Free n pools and the array. */
void store_pools_free(struct pool *p, int n);

/* What the ids of a new pool name, in one look. */
struct pool_refs {
	bool site;                /* the site exists */
	char currency[4];         /* its currency */
	int64_t public_meters;    /* of meter_ids: public meters of the site */
	int64_t site_meters;      /* of minus_ids and the main meter: meters of the site */
	int64_t site_tenants;     /* of the members: tenants of the site */
	char tariff_kind[16];     /* "" when tariff_id is 0 or not the site's */
};
enum db_status store_pool_refs(PGconn *c, const struct pool *p, struct pool_refs *out);

/* Insert p and its members; p->id gets the new id. DB_UNIQUE: a tenant is listed twice. */
enum db_status store_pool_insert(PGconn *c, struct pool *p, int64_t now_us);

/* Read pool id into *out (caller store_pool_free()s it); out->id == 0 when there is none. */
enum db_status store_pool_get(PGconn *c, int64_t id, struct pool *out);

/* A page of pools with ids after `after`, at most limit (+1 to tell whether more follow),
 * of site_id (0: every site), members included, in one query. *out is new (caller
 * store_pools_free()s it). */
enum db_status store_pool_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id,
			       struct pool **out, int *n);

/* The pool's energy over the site-local days [from, to) ("YYYY-MM-DD"), and its billed cost
 * in whole minor units of `unit` nano-units (summed in numeric, so a month of a large pool
 * cannot overflow before dividing): what adds in (meter_ids and the main meter) and what
 * is subtracted (minus_ids). */
struct pool_energy {
	int64_t plus_wh, plus_minor, minus_wh, minus_minor;
};
enum db_status store_pool_energy(PGconn *c, const struct pool *p, const char *from, const char *to,
				 int64_t unit, struct pool_energy *out);

/* Each member's basis over [from, to), in tenant id order: floor area (hundredths of m2),
 * quota, own metered energy, and the days of the period it occupied its unit; and, for a
 * tenant that moved out (0021), the share of the pool's month (from's) it paid then
 * (settled_minor, -1: none) or whether it was gone before from. *out is new (caller frees). */
struct pool_basis {
	int64_t tenant_id, area_centi_m2, quota_ppm, wh;
	int days, days_in_period;
	int64_t settled_minor;
	bool gone;
};
enum db_status store_pool_basis(PGconn *c, int64_t pool_id, const char *from, const char *to,
				struct pool_basis **out, int *n);

/* The rate of a flat tariff (micro-units per kWh), or 0 when it is not a flat tariff. */
enum db_status store_flat_rate(PGconn *c, int64_t tariff_id, int64_t *rate);

/* The site's auto pools with no committed run for period, in id order. *ids is new. */
enum db_status store_pools_uncommitted_auto(PGconn *c, int64_t site_id, const char *period,
					    int64_t **ids, int *n);

/* Runs. */

/* Insert a committed run with its result (JSON text, stored as jsonb). DB_UNIQUE: the
 * pool's period is committed already. key_id 0: made by a worker. */
enum db_status store_run_insert(PGconn *c, int64_t pool_id, const char *period, int64_t total_wh,
				int64_t total_minor, const char *result_json, int64_t now_us, int64_t key_id,
				int64_t *id);

/* The instant the pool's site-local month `period` ends, unix microseconds. */
enum db_status store_run_period_end(PGconn *c, int64_t pool_id, const char *period, int64_t *end_us);

/* A committed line of a run, as the reversal needs it. */
struct run_line {
	int64_t tenant_id, amount_minor;
	char basis_json[48]; /* the line's basis as JSON: "86.50" (quoted) or an integer */
	char basis_unit[8];
	int line; /* its index in the run's lines */
};
/* Lock run id when it is committed (FOR UPDATE) and read its lines (but those a tenant paid
 * at its move-out, which the run never posted). *found false when there is no such committed
 * run. *lines is new (caller frees). */
enum db_status store_run_lock_lines(PGconn *c, int64_t run_id, bool *found, struct run_line **lines, int *n);

/* Mark a locked run reversed. */
enum db_status store_run_reverse(PGconn *c, int64_t run_id, int64_t now_us, const char *reason);

/* A run as GET shows it: the stored result and its state. */
struct run_row {
	int64_t id, pool_id;
	char period[8], state[12];
	int64_t total_wh, total_minor, created_us, reversed_us; /* reversed_us 0: not reversed */
	char *result_json;  /* new; caller frees */
	char *reverse_reason; /* new or NULL */
	char pool_name[201];  /* store_runs_of_tenant only */
};
/* Free one row's strings (not the row); store_runs_free frees n rows and the array. */
void store_run_row_free(struct run_row *r);
void store_runs_free(struct run_row *r, int n);
/* One run; out->id == 0 when there is none. */
enum db_status store_run_get(PGconn *c, int64_t run_id, struct run_row *out);
/* A page of a pool's runs (no result text). */
enum db_status store_runs_of_pool(PGconn *c, int64_t pool_id, int64_t after, int64_t limit,
				  struct run_row **out, int *n);
/* A page of the committed runs whose lines name the tenant. */
enum db_status store_runs_of_tenant(PGconn *c, int64_t tenant_id, int64_t after, int64_t limit,
				    struct run_row **out, int *n);

/* The site's main meters against the tenant and public meters below them over [from, to). */
struct site_energy {
	bool site; /* the site exists */
	int64_t main_wh, tenant_wh, public_wh, main_meters;
};
enum db_status store_site_energy(PGconn *c, int64_t site_id, const char *from, const char *to,
				 struct site_energy *out);

void store_pools_register(void);

#endif
