/* auth.h: API keys: generation, hashing, and resolving a bearer key to a role. */
#ifndef WATTLE_AUTH_H
#define WATTLE_AUTH_H

#include "server/http.h"

#include <stddef.h>

#define KEY_LEN 51  /* "wk_" + 48 hex digits */
#define KEY_HASH_LEN 64

/* Write a new random key ("wk_" + 48 hex, 192 bits from the OS) into out[KEY_LEN+1].
 * Returns 0, or -1 when the OS gives no randomness. */
int srv_key_generate(char *out);

/* SHA-256 of the key as 64 lowercase hex digits into out[KEY_HASH_LEN+1]. Keys are
 * random and long, so a fast hash is right; no salt or KDF is needed. */
void srv_key_hash(const char *key, char *out);

/* Lowercase hex of n bytes into out[2n+1]. */
void srv_hex(const unsigned char *in, size_t n, char *out);

/* Role names <-> bits. srv_role_parse returns 0 for an unknown name. */
unsigned srv_role_parse(const char *name);
const char *srv_role_name(unsigned role);

/* Resolve a key. Returns 1 and fills *out when it is known and not revoked, 0 when it
 * is not, -1 when the database cannot be asked. Results are cached for 5 s in this
 * process, so a revocation made by another process takes up to 5 s to bite. */
int srv_auth_lookup(const char *key, struct auth *out);

/* Drop a key from this process's cache (after revoking it). */
void srv_auth_forget(int64_t key_id);

/* Insert a key row in the caller's transaction: *key gets the plaintext. Returns the
 * db status; *id_out the new id. tenant_id 0 = none. */
#include <libpq-fe.h>
#include "server/db.h"
enum db_status srv_key_insert(PGconn *c, const char *name, unsigned role, int64_t tenant_id,
			      char *key, int64_t *id_out);

void srv_auth_register(void);

#endif
