/* tariffs.h: tariffs and their versions (the rules stored as jsonb, as core/tariff.c
 * normalised them). */
#ifndef WATTLE_STORE_TARIFFS_H
#define WATTLE_STORE_TARIFFS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct tariff_row {
	int64_t id, site_id, effective_from_us, created_us;
	char name[201], currency[4], kind[8];
	char *spec_json; /* new */
};
struct tariff_version_row {
	int64_t effective_from_us;
	char kind[8];
	char *spec_json; /* new */
};

/* The currency of site_id; *found false when there is no such site. */
enum db_status store_site_currency(PGconn *c, int64_t site_id, char currency[4], bool *found);
/* Insert a tariff of t (site, name, currency, kind, effective_from) with the rules spec_json
 * and its first version; t is read back (t->spec_json new). */
enum db_status store_tariff_insert(PGconn *c, struct tariff_row *t, const char *spec_json, int64_t now_us);
/* Add a version; *found false when there is no such tariff. DB_UNIQUE: a version from that
 * instant exists. */
enum db_status store_tariff_version_insert(PGconn *c, int64_t tariff_id, int64_t effective_from_us, const char *kind,
					   const char *spec_json, int64_t now_us, bool *found);
/* t->id == 0 when there is none. */
enum db_status store_tariff_get(PGconn *c, int64_t id, struct tariff_row *t);
/* A page (site 0: every site). *out new: store_tariffs_free. */
enum db_status store_tariffs_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id, struct tariff_row **out,
				  int *n);
void store_tariffs_free(struct tariff_row *t, int n);
/* The tariff's versions by effective_from. *out new: store_tariff_versions_free. */
enum db_status store_tariff_versions(PGconn *c, int64_t id, struct tariff_version_row **out, int *n);
void store_tariff_versions_free(struct tariff_version_row *v, int n);

void store_tariffs_register(void);

#endif
