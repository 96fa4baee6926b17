/* keys.h: API keys in the database: insert, and resolving a bearer key to a role through a
 * small per-process cache. Key material (generation, hashing, roles) is core/crypto.h. */
#ifndef WATTLE_KEYS_H
#define WATTLE_KEYS_H

#include "core/crypto.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

#define AUTH_SITES_MAX 64

/* Who a request acts as. */
struct auth {
	int64_t key_id;
	unsigned role;     /* one ROLE_ bit */
	int64_t tenant_id; /* for ROLE_TENANT, else 0 */
	/* A gateway key's reach: its gateway's meters (gateway_id), else its site's (site_id),
	 * else, unbound (a key of before gateways), every meter. 0: none. */
	int64_t gateway_id, site_id;
	bool pull; /* its gateway takes its commands by GET /v1/commands (delivery pull) */
	/* A request made with a session cookie (key_id 0): its session, and its user (0 for a
	 * tenant's phone session). Audit rows and Idempotency-Keys belong to the user, or to the
	 * session when there is none. */
	int64_t session_id, user_id;
	/* A finance or operator user bound to some sites (users.site_ids) reaches only them
	 * (api/reach.c); n_sites 0: every site. Keys are never bound so. */
	int n_sites;
	int64_t sites[AUTH_SITES_MAX];
};

/* Resolve a key. Returns 1 and fills *out when it is known and not revoked, 0 when it
 * is not, -1 when the database cannot be asked. Results are cached for 5 s in this
 * process, so a revocation made by another process takes up to 5 s to bite. */
int srv_auth_lookup(const char *key, struct auth *out);

/* Drop a key from this process's cache (after revoking it). */
void srv_auth_forget(int64_t key_id);

/* A key to make: its name (borrowed) and role, and what it is bound to (0: nothing): the
 * tenant of a tenant key; the site and gateway of a gateway key. */
struct key_new {
	const char *name;
	unsigned role;
	int64_t tenant_id, site_id, gateway_id;
};

/* Insert a key row in the caller's transaction: key[KEY_LEN+1] gets the plaintext, *id_out
 * the new id. Returns the db status. */
enum db_status srv_key_insert(PGconn *c, const struct key_new *k, char *key, int64_t *id_out);

/* Gateway keys not revoked and bound to no gateway and no site (they reach every meter). */
enum db_status store_keys_unbound(PGconn *c, int64_t *n);

/* Revoke key id (kept revoked if it was); *found false when there is no such key. */
enum db_status store_key_revoke(PGconn *c, int64_t id, int64_t now_us, bool *found);

void srv_auth_register(void);

#endif
