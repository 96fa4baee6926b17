/* password.c: Argon2id password hashes, session and CSRF tokens, one-time login codes. */
#include "core/password.h"
#include "core/crypto.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define T_COST 2
#define M_COST_KIB 19456
#define PARALLEL 1
#define SALT_LEN 16
#define HASH_LEN 32

int srv_password_hash(const char *pw, char *out)
{
	unsigned char salt[SALT_LEN];
	if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt)
		return -1;
	int rc = argon2id_hash_encoded(T_COST, M_COST_KIB, PARALLEL, pw, strlen(pw), salt, sizeof salt, HASH_LEN, out,
				       PASSWORD_HASH_MAX);
	return rc == ARGON2_OK ? 0 : -1;
}

int srv_password_verify(const char *encoded, const char *pw)
{
	if (strncmp(encoded, "$argon2id$", 10))
		return 0;
	return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

static char dummy[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void dummy_make(void)
{
	char pw[SESSION_TOKEN_LEN + 1];
	if (srv_session_token(pw) || srv_password_hash(pw, dummy))
		abort();
}

bool srv_password_dummy_verify(const char *pw)
{
	pthread_once(&dummy_once, dummy_make);
	(void)srv_password_verify(dummy, pw);
	return false;
}

int srv_session_token(char *out)
{
	unsigned char raw[32];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -1;
	srv_hex(raw, sizeof raw, out);
	return 0;
}

void srv_csrf_token(const char *session_token, char *out)
{
	static const char label[] = "wattle csrf";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), session_token, (int)strlen(session_token), (const unsigned char *)label,
		  sizeof label - 1, mac, &n) || n != 32)
		abort();
	srv_hex(mac, n, out);
}

bool srv_str_equal_ct(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

int srv_login_code(char *out)
{
	uint32_t v;
	do { /* below the largest multiple of 10^6, so every code is as likely */
		if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
			return -1;
	} while (v >= 4294000000u);
	v %= 1000000u;
	for (int i = LOGIN_CODE_LEN - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	out[LOGIN_CODE_LEN] = 0;
	return 0;
}
