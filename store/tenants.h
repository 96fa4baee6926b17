/* tenants.h: tenants (each with its prepaid account, opened in the same statement). */
#ifndef WATTLE_STORE_TENANTS_H
#define WATTLE_STORE_TENANTS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct tenant {
	int64_t id, site_id;
	char name[201], category[65];
	int64_t area_centi_m2;
	char credit_rating[2], status[16];
	char phone[24];               /* "" when none */
	char move_in[11], move_out[11]; /* YYYY-MM-DD, "" when none */
	int64_t created_us, updated_us;
	char language[8];       /* "zh-CN", "en"; "" when none (the site's) */
	char channels[40];      /* where messages go, in order: "sms" or "wechat,sms" */
	char wechat_openid[129]; /* "" when none */
	/* store_tenants_list only: the account as it stands (state "" when it has none) */
	int64_t balance_minor;
	char currency[4], state[16], supply[16];
};

/* What a create or a patch sets: NULL (or has_* false) leaves a column as it is; for the
 * nullable ones, set_* says whether to set it (to the value, which may be NULL). */
struct tenant_fields {
	const char *name, *category, *credit_rating, *status;
	bool has_area;
	int64_t area_centi_m2;
	bool set_phone, set_move_in, set_move_out;
	const char *phone, *move_in, *move_out;
	bool set_language, set_openid;
	const char *language, *wechat_openid;
	const char *channels; /* "wechat,sms"; NULL leaves them (the default: sms) */
};

/* Insert a tenant of site_id with its account in the site's currency; *out is the row, or
 * out->id == 0 when there is no such site. */
enum db_status store_tenant_insert(PGconn *c, int64_t site_id, const struct tenant_fields *f, int64_t now_us,
				   struct tenant *out);
/* out->id == 0 when there is none. */
enum db_status store_tenant_get(PGconn *c, int64_t id, struct tenant *out);
/* A page (site_id 0: every site), of the tenants whose name, category or phone holds q (case
 * aside; NULL: all), whose account is in state, of credit rating and of category (each NULL:
 * any), each with its account's balance, currency, state and supply. *out new (caller frees). */
enum db_status store_tenants_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, const char *q,
				  const char *state, const char *rating, const char *category, struct tenant **out, int *n);
/* Apply f to tenant id; *out is the row after, out->id == 0 when there is none. */
enum db_status store_tenant_update(PGconn *c, int64_t id, const struct tenant_fields *f, int64_t now_us,
				   struct tenant *out);

/* Whether tenant id exists. */
enum db_status store_tenant_exists(PGconn *c, int64_t id, bool *found);

void store_tenants_register(void);

#endif
