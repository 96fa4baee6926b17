/* sites.h: sites and their holidays. */
#ifndef WATTLE_STORE_SITES_H
#define WATTLE_STORE_SITES_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

#define SITE_TOPUP_AMOUNTS_MAX 8

struct site {
	int64_t id;
	char name[201], timezone[64], currency[4];
	char legal_name[201], tax_id[65]; /* printed on receipts; "" when not set */
	char language[8]; /* of messages to tenants without their own: "zh-CN" or "en"; "" on insert: en */
	/* The top-up amounts the tenant page offers, in minor units, ascending; n_topup_amounts 0
	 * on insert: the default (50, 100, 200, 500 major units). */
	int64_t topup_amounts_minor[SITE_TOPUP_AMOUNTS_MAX];
	int n_topup_amounts;
	char amounts_text[SITE_TOPUP_AMOUNTS_MAX * 21]; /* the store's: the column as read */
	int64_t created_us;
};

/* Insert s (name, timezone, currency, legal_name and tax_id ("" for none)); s is read back
 * whole. */
enum db_status store_site_insert(PGconn *c, struct site *s, int64_t now_us);
/* What a patch sets: for each, set_* says whether to (to the value, NULL clears it). */
struct site_fields {
	bool set_legal_name, set_tax_id;
	const char *legal_name, *tax_id;
	const char *language; /* NULL leaves it */
	/* n_topup_amounts > 0 replaces them (topup_amounts_minor ascending, distinct, > 0) */
	const int64_t *topup_amounts_minor;
	int n_topup_amounts;
};
/* Apply f to site id; *s is the row after, s->id == 0 when there is none. */
enum db_status store_site_update(PGconn *c, int64_t id, const struct site_fields *f, struct site *s);
/* s->id == 0 when there is none. */
enum db_status store_site_get(PGconn *c, int64_t id, struct site *s);
/* A page of sites after `after`, at most limit. *out new (caller frees). */
enum db_status store_sites_list(PGconn *c, int64_t after, int64_t limit, struct site **out, int *n);

struct holiday {
	char day[11]; /* YYYY-MM-DD, site-local */
	char name[101];
};
/* Set (or rename) the site's holiday; *found false when there is no such site. */
enum db_status store_holiday_upsert(PGconn *c, int64_t site_id, struct holiday *h, bool *found);
/* The site's holidays by day. *out new (caller frees). */
enum db_status store_holidays_list(PGconn *c, int64_t site_id, struct holiday **out, int *n);

void store_sites_register(void);

#endif
