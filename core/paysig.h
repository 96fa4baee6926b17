/* paysig.h: checking that a payment notification is genuine (WeChat Pay v3, Alipay RSA2,
 * Stripe). Pure: keys, the raw bytes as received and `now` go in; nothing is read from
 * files, the network or the clock. Every comparison of secret-derived bytes is constant
 * time. */
#ifndef WATTLE_PAYSIG_H
#define WATTLE_PAYSIG_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bill_sig {
	SIG_OK,
	SIG_MISSING,   /* a header or parameter the scheme needs is absent or malformed */
	SIG_WRONG_KEY, /* signed with a key we do not hold (WeChat serial mismatch) */
	SIG_EXPIRED,   /* timestamp outside the tolerance */
	SIG_BAD,       /* the signature does not verify */
};

/* A short word for logs and replies: "ok", "missing", "wrong_key", "expired", "bad". */
const char *bill_sig_name(enum bill_sig s);

/* Notification timestamps may be this far from now, either way. */
#define BILL_SIG_TOLERANCE_S 300

/* Decode standard base64 (with padding, no whitespace). Returns new bytes (caller frees,
 * NUL-terminated for convenience) and *n their length, or NULL when malformed. */
unsigned char *bill_b64_decode(const char *s, size_t *n);

/* RSASSA-PKCS1-v1_5 with SHA-256 over msg, signature given in base64. */
bool bill_rsa_sha256_verify(EVP_PKEY *pub, const void *msg, size_t n, const char *sig_b64);

/* RSASSA-PKCS1-v1_5 with SHA-256 over msg with a private key: the signature in base64
 * (new; caller frees), or NULL when key is not a private RSA key. Our requests to WeChat
 * and Alipay are signed so. */
char *bill_rsa_sha256_sign(EVP_PKEY *priv, const void *msg, size_t n);
/* Standard base64 of p[0..n) (new, NUL-terminated; caller frees). */
char *bill_b64_encode(const void *p, size_t n);

/* WeChat Pay API v3: the platform key's serial must equal want_serial, timestamp (decimal
 * unix seconds) be within the tolerance of now_s, and signature (base64) verify over
 * "timestamp\nnonce\nbody\n". Any header may be NULL (SIG_MISSING). */
enum bill_sig bill_wechat_verify(EVP_PKEY *platform, const char *want_serial, const char *serial,
				 const char *timestamp, const char *nonce, const char *signature,
				 const char *body, size_t body_len, int64_t now_s);

/* WeChat Pay API v3 resource: AEAD_AES_256_GCM with the 32-byte APIv3 key, the nonce and
 * associated_data as given (text), ciphertext base64 with the 16-byte tag at its end.
 * Returns the new NUL-terminated plaintext (caller frees) and *n, or NULL when it does
 * not authenticate. */
char *bill_wechat_decrypt(const unsigned char key[32], const char *nonce, const char *aad,
			  const char *ciphertext_b64, size_t *n);

/* An application/x-www-form-urlencoded body, decoded ('+' is a space, %XX a byte). */
struct bill_form {
	size_t n;
	char **keys, **vals;
};

/* Parse body into f. Returns 0, or -1 when malformed (bad escape, a key twice, a NUL
 * byte, no '=' in a pair). bill_form_free(f) in every case. */
int bill_form_parse(const char *body, size_t len, struct bill_form *f);
void bill_form_free(struct bill_form *f);
/* The value of key, borrowed from f, or NULL. */
const char *bill_form_get(const struct bill_form *f, const char *key);

/* Alipay's string to sign: every parameter but sign and sign_type whose value is not
 * empty, sorted by key (bytewise), as "k=v" joined by '&'. New: caller frees. */
char *bill_alipay_sign_content(const struct bill_form *f);

/* Alipay asynchronous notification, sign_type RSA2: verify sign over the content above. */
enum bill_sig bill_alipay_verify(EVP_PKEY *alipay, const struct bill_form *f);

/* Stripe-Signature "t=<unix>,v1=<hex>[,v1=...][,v0=...]": some v1 must equal
 * HMAC-SHA256(secret, "<t>.<body>") and t be within the tolerance of now_s. */
enum bill_sig bill_stripe_verify(const char *secret, const char *header, const char *body,
				 size_t body_len, int64_t now_s);

#endif
