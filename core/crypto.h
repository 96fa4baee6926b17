/* crypto.h: API key material and wattle's own HMAC signature. Pure (OpenSSL, getrandom). */
#ifndef WATTLE_CRYPTO_H
#define WATTLE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Roles, as bits so a route can allow several. A route with roles 0 needs no key. */
enum role {
	ROLE_ADMIN = 1u << 0,
	ROLE_FINANCE = 1u << 1,
	ROLE_OPERATOR = 1u << 2,
	ROLE_GATEWAY = 1u << 3,
	ROLE_TENANT = 1u << 4,
};

/* Role names <-> bits. srv_role_parse returns 0 for an unknown name (or NULL). */
unsigned srv_role_parse(const char *name);
/* "none" for anything but one ROLE_ bit. Static string. */
const char *srv_role_name(unsigned role);

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

/* Sign body for X-Wattle-Signature: "t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>" into
 * out[n] (n >= 80 holds it whole). unix_s is real time: the receiver checks it against
 * its own wall clock. */
void srv_sign(const char *secret, int64_t unix_s, const char *body, char *out, size_t n);

#endif
