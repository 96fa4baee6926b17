/* gateways.h: the gateways of the buildings: registration, what they last reported, and how
 * many meters each has. Their keys are store/keys.h; their commands store/outbox.h. */
#ifndef WATTLE_STORE_GATEWAYS_H
#define WATTLE_STORE_GATEWAYS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct gateway_row {
	int64_t id, site_id, api_key_id; /* api_key_id 0: none */
	char name[201], delivery[8], url[1024]; /* url "": none (pull) */
	char version[65];                       /* "": never said */
	int64_t queue_depth;
	bool depth_null;     /* queue_depth never said */
	int64_t last_seen_us; /* 0: never seen */
	int64_t created_us, updated_us;
	int64_t meters; /* its active meters */
};

/* Register a gateway of site_id (name, delivery "push" or "pull", url NULL for pull); *out
 * the row, without its key yet. */
enum db_status store_gateway_insert(PGconn *c, int64_t site_id, const char *name, const char *delivery,
				    const char *url, int64_t now_us, struct gateway_row *out);
/* Record the key made with gateway id. */
enum db_status store_gateway_set_key(PGconn *c, int64_t id, int64_t key_id);
/* out->id == 0 when there is none. */
enum db_status store_gateway_get(PGconn *c, int64_t id, struct gateway_row *out);
/* A page after `after`, of a site (0: any). *out new (caller frees). */
enum db_status store_gateways_list(PGconn *c, int64_t after, int64_t limit, int64_t site_id,
				   struct gateway_row **out, int *n);

/* The gateway made a request at now_us; version (NULL: not said) and queue depth (has_depth
 * false: not said) are kept when given. Autocommit, outside any transaction. */
enum db_status store_gateway_seen(PGconn *c, int64_t id, int64_t now_us, const char *version, bool has_depth,
				  int64_t depth);

void store_gateways_register(void);

#endif
