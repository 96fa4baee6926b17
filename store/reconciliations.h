/* reconciliations.h: runs of a provider's bill against the ledger (migration 0020). */
#ifndef WATTLE_STORE_RECONCILIATIONS_H
#define WATTLE_STORE_RECONCILIATIONS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* A site-local day: the site (site_id 0: the first site), its zone, and the day's bounds. */
struct recon_bounds {
	int64_t site_id;
	char tz[64];
	int64_t from_us, to_us;
};
/* b->site_id 0 afterwards when there is no such site. */
enum db_status store_recon_bounds(PGconn *c, int64_t site_id, const char *date, struct recon_bounds *b);
/* The site-local date of yesterday at now_us and whether it is past hour there. */
enum db_status store_recon_yesterday(PGconn *c, int64_t site_id, int64_t now_us, int hour, char date[11],
				     bool *past, int64_t *site_out);

/* What wattle recorded of a provider in [from_us, to_us): payments (txn, amount) and
 * confirmed refunds (the payment's txn, refund_ref, amount), each sorted by txn. */
struct recon_mine {
	int64_t payment_id, amount_minor, received_us;
	char txn[130], refund_ref[130];
	bool in_day;   /* inside the day itself, not the margin around it */
	bool credited; /* a payment credited (not a conflict, not rejected); a refund: true */
};
enum db_status store_recon_payments(PGconn *c, const char *provider, int64_t from_us, int64_t to_us, int64_t day_from,
				    int64_t day_to, struct recon_mine **out, int *n);
enum db_status store_recon_refunds(PGconn *c, const char *provider, int64_t from_us, int64_t to_us, int64_t day_from,
				   int64_t day_to, struct recon_mine **out, int *n);

struct recon_run {
	int64_t id, site_id, provider_total, wattle_total, created_us;
	char provider[8], date[11], tz[64], state[8], origin[12], error[256];
	int matched, missing_in_wattle, missing_at_provider, amount_mismatch, credited;
};
struct recon_diff {
	char kind[24], type[8], txn[130], out_trade_no[130], refund_ref[130], action[64];
	int64_t provider_minor, wattle_minor, payment_id; /* -1: none (the side lacks it); payment_id 0: none */
};
/* Insert r (all but id, created_us) and its lines; r->id set. */
enum db_status store_recon_insert(PGconn *c, struct recon_run *r, const struct recon_diff *d, int nd, int64_t key_id,
				  int64_t now_us);
/* Whether a run for provider and date exists. */
enum db_status store_recon_exists(PGconn *c, const char *provider, const char *date, bool *exists);
/* r->id 0 when none; *d new (caller frees), *nd. */
enum db_status store_recon_get(PGconn *c, int64_t id, struct recon_run *r, struct recon_diff **d, int *nd);
/* Runs, newest first, filtered by provider and date when not NULL. *out new. */
enum db_status store_recon_list(PGconn *c, const char *provider, const char *date, int64_t limit,
				struct recon_run **out, int *n);

void store_reconciliations_register(void);

#endif
