/* smssig.c: Aliyun ACS3-HMAC-SHA256 and Tencent TC3-HMAC-SHA256 request signatures. */
#include "core/smssig.h"
#include "core/crypto.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sms_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char d[32];
	SHA256(p, n, d);
	srv_hex(d, 32, out);
}

void sms_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len);
}

void sms_rfc3986(struct srv_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.' || c == '~') {
			srv_buf_putc(b, (char)c);
		} else {
			srv_buf_putc(b, '%');
			srv_buf_putc(b, hex[c >> 4]);
			srv_buf_putc(b, hex[c & 15]);
		}
	}
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sms_kv *)a)->k, ((const struct sms_kv *)b)->k);
}

void sms_acs3_query(struct srv_buf *b, struct sms_kv *kv, size_t n)
{
	qsort(kv, n, sizeof *kv, kv_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			srv_buf_putc(b, '&');
		sms_rfc3986(b, kv[i].k);
		srv_buf_putc(b, '=');
		sms_rfc3986(b, kv[i].v ? kv[i].v : "");
	}
}

void sms_acs3_sign(const char *secret, const char *method, const char *uri, const char *query,
		   const struct sms_kv *headers, size_t nheaders, const char *hashed_payload, char *signed_headers,
		   size_t signed_n, char sig[65], struct srv_buf *canonical)
{
	struct srv_buf cr = {0}, sh = {0};
	srv_buf_printf(&cr, "%s\n%s\n%s\n", method, uri, query);
	for (size_t i = 0; i < nheaders; i++) {
		srv_buf_printf(&cr, "%s:%s\n", headers[i].k, headers[i].v);
		if (i)
			srv_buf_putc(&sh, ';');
		srv_buf_puts(&sh, headers[i].k);
	}
	srv_buf_printf(&cr, "\n%s\n%s", sh.p ? sh.p : "", hashed_payload);
	char hcr[65];
	sms_sha256_hex(cr.p, cr.len, hcr);
	char sts[100];
	int stsn = snprintf(sts, sizeof sts, "ACS3-HMAC-SHA256\n%s", hcr);
	unsigned char mac[32];
	sms_hmac_sha256(secret, strlen(secret), sts, (size_t)stsn, mac);
	srv_hex(mac, 32, sig);
	snprintf(signed_headers, signed_n, "%s", sh.p ? sh.p : "");
	if (canonical)
		srv_buf_putn(canonical, cr.p, cr.len);
	srv_buf_free(&cr);
	srv_buf_free(&sh);
}

void sms_tc3_sign(const char *secret_key, const char *service, const char *host, const char *ctype, int64_t ts,
		  const void *payload, size_t n, char date[11], char sig[65])
{
	time_t t = (time_t)ts;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, 11, "%Y-%m-%d", &tm);
	char hp[65];
	sms_sha256_hex(payload, n, hp);
	struct srv_buf cr = {0}, sts = {0}, k = {0};
	/* header values lower-case, as TC3 canonicalizes them */
	PUT_LIT(&cr, "POST\n/\n\ncontent-type:");
	for (const char *c = ctype; *c; c++)
		srv_buf_putc(&cr, (char)tolower((unsigned char)*c));
	PUT_LIT(&cr, "\nhost:");
	for (const char *c = host; *c; c++)
		srv_buf_putc(&cr, (char)tolower((unsigned char)*c));
	srv_buf_printf(&cr, "\n\ncontent-type;host\n%s", hp);
	char hcr[65];
	sms_sha256_hex(cr.p, cr.len, hcr);
	srv_buf_printf(&sts, "TC3-HMAC-SHA256\n%lld\n%s/%s/tc3_request\n%s", (long long)ts, date, service, hcr);
	srv_buf_printf(&k, "TC3%s", secret_key);
	unsigned char kd[32], ks[32], kr[32], mac[32];
	sms_hmac_sha256(k.p, k.len, date, strlen(date), kd);
	sms_hmac_sha256(kd, 32, service, strlen(service), ks);
	sms_hmac_sha256(ks, 32, "tc3_request", 11, kr);
	sms_hmac_sha256(kr, 32, sts.p, sts.len, mac);
	srv_hex(mac, 32, sig);
	OPENSSL_cleanse(k.p, k.len);
	OPENSSL_cleanse(kr, sizeof kr);
	srv_buf_free(&cr);
	srv_buf_free(&sts);
	srv_buf_free(&k);
}

bool sms_sig_equal(const char *a, const char *b, size_t n)
{
	if (!a || !b || strlen(a) != n || strlen(b) != n)
		return false;
	return CRYPTO_memcmp(a, b, n) == 0;
}
