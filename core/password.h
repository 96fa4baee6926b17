/* password.h: what people sign in with: Argon2id password hashes (Debian's libargon2), the
 * random session token and the CSRF token derived from it, and one-time login codes. Pure:
 * libargon2, OpenSSL and the OS's randomness. */
#ifndef WATTLE_PASSWORD_H
#define WATTLE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_MIN 10       /* characters (bytes of UTF-8) a password must have at least */
#define PASSWORD_MAX 256      /* and at most: Argon2 takes any length, a request body should not */
#define PASSWORD_HASH_MAX 160 /* an encoded Argon2id hash fits in this with its NUL */
#define SESSION_TOKEN_LEN 64  /* 32 random bytes as lowercase hex */
#define CSRF_TOKEN_LEN 64     /* hex HMAC-SHA256 */
#define LOGIN_CODE_LEN 6

/* Hash pw with Argon2id (t=2, m=19 MiB, p=1: OWASP's minimum) and a random 16-byte salt into
 * out[PASSWORD_HASH_MAX] in the encoded form ($argon2id$v=19$m=19456,t=2,p=1$salt$hash).
 * Returns 0, or -1 (no randomness, no memory). Takes tens of milliseconds on purpose. */
int srv_password_hash(const char *pw, char *out);

/* 1 when pw matches the encoded hash, 0 when not (or the hash is not an Argon2id one). Takes
 * as long as srv_password_hash. */
int srv_password_verify(const char *encoded, const char *pw);

/* Verify pw against a hash of a random password made once per process: for an unknown user,
 * so a wrong username takes as long as a wrong password. Always false. */
bool srv_password_dummy_verify(const char *pw);

/* A new session token: 32 bytes from the OS as hex into out[SESSION_TOKEN_LEN+1]. 0, or -1. */
int srv_session_token(char *out);

/* The CSRF token of a session: hex HMAC-SHA256(token, "wattle csrf") into
 * out[CSRF_TOKEN_LEN+1]. Derived, so it is never stored and a database read does not give it. */
void srv_csrf_token(const char *session_token, char *out);

/* Constant-time comparison of two NUL-terminated strings (length is not hidden). */
bool srv_str_equal_ct(const char *a, const char *b);

/* A six-digit code, uniform over 000000..999999 (OpenSSL RAND), into out[LOGIN_CODE_LEN+1].
 * 0, or -1. */
int srv_login_code(char *out);

#endif
