/* crypto.c: API key material (generation, hashing, roles) and the HMAC signature wattle
 * puts on what it sends (X-Wattle-Signature). Pure: OpenSSL and the OS's randomness. */
#include "core/crypto.h"
#include "core/buf.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const role_names[] = {"admin", "finance", "operator", "gateway", "tenant"};

unsigned srv_role_parse(const char *name)
{
	for (unsigned i = 0; i < 5; i++)
		if (name && !strcmp(name, role_names[i]))
			return 1u << i;
	return 0;
}

const char *srv_role_name(unsigned role)
{
	for (unsigned i = 0; i < 5; i++)
		if (role == 1u << i)
			return role_names[i];
	return "none";
}

void srv_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

int srv_key_generate(char *out)
{
	unsigned char raw[24];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -1;
	memcpy(out, "wk_", 3);
	srv_hex(raw, sizeof raw, out + 3);
	return 0;
}

/* SHA-256 fetched once: the one-shot SHA256() looks the algorithm up on every call, and
 * every authenticated request hashes its key. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256)
		abort();
}

void srv_key_hash(const char *key, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	pthread_once(&sha256_once, sha256_fetch);
	if (!EVP_Digest(key, strlen(key), md, &n, sha256, NULL) || n != SHA256_DIGEST_LENGTH)
		abort();
	srv_hex(md, n, out);
}

void srv_sign(const char *secret, int64_t unix_s, const char *body, char *out, size_t n)
{
	struct srv_buf msg = {0};
	srv_buf_printf(&msg, "%lld.%s", (long long)unix_s, body);
	unsigned char mac[32];
	unsigned int len = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.p, msg.len, mac, &len);
	char hex[65];
	srv_hex(mac, len, hex);
	snprintf(out, n, "t=%lld,v1=%s", (long long)unix_s, hex);
	srv_buf_free(&msg);
}

