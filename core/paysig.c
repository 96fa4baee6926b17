/* paysig.c: payment notification signatures, on OpenSSL. No I/O; see paysig.h. */
#include "core/paysig.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bill_sig_name(enum bill_sig s)
{
	static const char *const names[] = {"ok", "missing", "wrong_key", "expired", "bad"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "bad";
}

unsigned char *bill_b64_decode(const char *s, size_t *n)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len % 4 || len > (1u << 24))
		return NULL;
	unsigned char *out = malloc(len / 4 * 3 + 1);
	if (!out)
		abort();
	int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (got < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t pad = (s[len - 1] == '=') + (s[len - 2] == '=');
	*n = (size_t)got - pad;
	out[*n] = 0;
	return out;
}

bool bill_rsa_sha256_verify(EVP_PKEY *pub, const void *msg, size_t n, const char *sig_b64)
{
	size_t siglen;
	unsigned char *sig = bill_b64_decode(sig_b64, &siglen);
	if (!sig || !pub) {
		free(sig);
		return false;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	bool ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
		  EVP_DigestVerify(ctx, sig, siglen, msg, n) == 1;
	EVP_MD_CTX_free(ctx);
	free(sig);
	return ok;
}

char *bill_b64_encode(const void *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (!out)
		abort();
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

char *bill_rsa_sha256_sign(EVP_PKEY *priv, const void *msg, size_t n)
{
	if (!priv || EVP_PKEY_get_base_id(priv) != EVP_PKEY_RSA)
		return NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	unsigned char sig[1024];
	size_t len = sizeof sig;
	char *out = NULL;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, priv) == 1 &&
	    EVP_DigestSign(ctx, NULL, &len, msg, n) == 1 && len <= sizeof sig &&
	    EVP_DigestSign(ctx, sig, &len, msg, n) == 1)
		out = bill_b64_encode(sig, len);
	EVP_MD_CTX_free(ctx);
	return out;
}

/* Decimal unix seconds, within the tolerance of now_s. -1 malformed, 0 too far, 1 ok. */
static int timestamp_ok(const char *t, size_t len, int64_t now_s)
{
	if (len == 0 || len > 12)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (t[i] < '0' || t[i] > '9')
			return -1;
		v = v * 10 + (t[i] - '0');
	}
	return v >= now_s - BILL_SIG_TOLERANCE_S && v <= now_s + BILL_SIG_TOLERANCE_S;
}

enum bill_sig bill_wechat_verify(EVP_PKEY *platform, const char *want_serial, const char *serial,
				 const char *timestamp, const char *nonce, const char *signature,
				 const char *body, size_t body_len, int64_t now_s)
{
	if (!serial || !timestamp || !nonce || !signature || !*nonce)
		return SIG_MISSING;
	if (!want_serial || strcmp(serial, want_serial))
		return SIG_WRONG_KEY;
	int t = timestamp_ok(timestamp, strlen(timestamp), now_s);
	if (t < 0)
		return SIG_MISSING;
	if (t == 0)
		return SIG_EXPIRED;
	size_t tl = strlen(timestamp), nl = strlen(nonce), n = tl + nl + body_len + 3;
	char *msg = malloc(n);
	if (!msg)
		abort();
	memcpy(msg, timestamp, tl);
	msg[tl] = '\n';
	memcpy(msg + tl + 1, nonce, nl);
	msg[tl + 1 + nl] = '\n';
	memcpy(msg + tl + nl + 2, body, body_len);
	msg[n - 1] = '\n';
	bool ok = bill_rsa_sha256_verify(platform, msg, n, signature);
	free(msg);
	return ok ? SIG_OK : SIG_BAD;
}

#define GCM_TAG 16

char *bill_wechat_decrypt(const unsigned char key[32], const char *nonce, const char *aad,
			  const char *ciphertext_b64, size_t *n)
{
	size_t clen;
	unsigned char *ct = bill_b64_decode(ciphertext_b64, &clen);
	if (!ct || clen < GCM_TAG || !nonce || !*nonce || strlen(nonce) > 64) {
		free(ct);
		return NULL;
	}
	size_t plen = clen - GCM_TAG;
	unsigned char *pt = malloc(plen + 1);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!pt || !ctx)
		abort();
	int len = 0, fin = 0;
	size_t alen = aad ? strlen(aad) : 0;
	bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL) == 1 &&
		  EVP_DecryptInit_ex(ctx, NULL, NULL, key, (const unsigned char *)nonce) == 1 &&
		  (alen == 0 || EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)alen) == 1) &&
		  EVP_DecryptUpdate(ctx, pt, &len, ct, (int)plen) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, ct + plen) == 1 &&
		  EVP_DecryptFinal_ex(ctx, pt + len, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	if (!ok) {
		OPENSSL_cleanse(pt, plen);
		free(pt);
		return NULL;
	}
	*n = (size_t)(len + fin);
	pt[*n] = 0;
	return (char *)pt;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Decode s[0..n) into a new string; NULL on a bad escape or a NUL byte. */
static char *form_unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (!out)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == 0) {
			free(out);
			return NULL;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

void bill_form_free(struct bill_form *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->keys[i]);
		free(f->vals[i]);
	}
	free(f->keys);
	free(f->vals);
	memset(f, 0, sizeof *f);
}

const char *bill_form_get(const struct bill_form *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->keys[i], key))
			return f->vals[i];
	return NULL;
}

#define FORM_MAX_PAIRS 256

int bill_form_parse(const char *body, size_t len, struct bill_form *f)
{
	memset(f, 0, sizeof *f);
	f->keys = calloc(FORM_MAX_PAIRS, sizeof *f->keys);
	f->vals = calloc(FORM_MAX_PAIRS, sizeof *f->vals);
	if (!f->keys || !f->vals)
		abort();
	size_t i = 0;
	while (i < len) {
		const char *p = body + i;
		const char *amp = memchr(p, '&', len - i);
		size_t plen = amp ? (size_t)(amp - p) : len - i;
		i += plen + 1;
		if (plen == 0)
			continue;
		const char *eq = memchr(p, '=', plen);
		if (!eq || f->n == FORM_MAX_PAIRS)
			return -1;
		char *k = form_unescape(p, (size_t)(eq - p));
		char *v = form_unescape(eq + 1, plen - (size_t)(eq - p) - 1);
		if (!k || !v || !*k || bill_form_get(f, k)) {
			free(k);
			free(v);
			return -1;
		}
		f->keys[f->n] = k;
		f->vals[f->n++] = v;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *bill_alipay_sign_content(const struct bill_form *f)
{
	const char **keys = malloc((f->n + 1) * sizeof *keys);
	if (!keys)
		abort();
	size_t k = 0, total = 1;
	for (size_t i = 0; i < f->n; i++) {
		if (!strcmp(f->keys[i], "sign") || !strcmp(f->keys[i], "sign_type") || !*f->vals[i])
			continue;
		keys[k++] = f->keys[i];
		total += strlen(f->keys[i]) + strlen(f->vals[i]) + 2;
	}
	qsort(keys, k, sizeof *keys, cmp_str);
	char *out = malloc(total), *o = out;
	if (!out)
		abort();
	*o = 0;
	for (size_t i = 0; i < k; i++)
		o += sprintf(o, "%s%s=%s", i ? "&" : "", keys[i], bill_form_get(f, keys[i]));
	free(keys);
	return out;
}

enum bill_sig bill_alipay_verify(EVP_PKEY *alipay, const struct bill_form *f)
{
	const char *sign = bill_form_get(f, "sign"), *type = bill_form_get(f, "sign_type");
	if (!sign || !*sign)
		return SIG_MISSING;
	if (type && strcmp(type, "RSA2"))
		return SIG_WRONG_KEY; /* RSA (SHA-1) is not accepted */
	char *content = bill_alipay_sign_content(f);
	bool ok = bill_rsa_sha256_verify(alipay, content, strlen(content), sign);
	free(content);
	return ok ? SIG_OK : SIG_BAD;
}

enum bill_sig bill_stripe_verify(const char *secret, const char *header, const char *body,
				 size_t body_len, int64_t now_s)
{
	if (!header || !secret || !*secret)
		return SIG_MISSING;
	const char *t = NULL;
	size_t tlen = 0;
	/* First pass: the timestamp. */
	for (const char *p = header; *p;) {
		size_t len = strcspn(p, ",");
		if (len > 2 && !strncmp(p, "t=", 2)) {
			t = p + 2;
			tlen = len - 2;
		}
		p += len + (p[len] == ',');
	}
	if (!t)
		return SIG_MISSING;
	int tok = timestamp_ok(t, tlen, now_s);
	if (tok < 0)
		return SIG_MISSING;
	unsigned char mac[32];
	unsigned maclen = 0;
	char *msg = malloc(tlen + 1 + body_len);
	if (!msg)
		abort();
	memcpy(msg, t, tlen);
	msg[tlen] = '.';
	memcpy(msg + tlen + 1, body, body_len);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, tlen + 1 + body_len,
	     mac, &maclen);
	free(msg);
	char want[65];
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		want[2 * i] = hex[mac[i] >> 4];
		want[2 * i + 1] = hex[mac[i] & 15];
	}
	want[64] = 0;
	bool match = false, any = false;
	for (const char *p = header; *p;) {
		size_t len = strcspn(p, ",");
		if (!strncmp(p, "v1=", 3)) {
			any = true;
			if (len == 67 && CRYPTO_memcmp(p + 3, want, 64) == 0)
				match = true;
		}
		p += len + (p[len] == ',');
	}
	if (!any)
		return SIG_MISSING;
	if (!match)
		return SIG_BAD;
	/* The signature is checked before the age, so a forged header never learns more
	 * than "bad"; a genuine but old one is "expired". */
	return tok ? SIG_OK : SIG_EXPIRED;
}
