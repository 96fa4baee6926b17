/* test_paysig.c: payment signatures. Keys are made here with OpenSSL; each notification
 * is signed the way its provider signs it, then bent one byte at a time. */
#include "check_run.h"

#include "core/paysig.h"

#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *key_a, *key_b;

static void keys_setup(void)
{
	if (!key_a)
		key_a = EVP_RSA_gen(2048);
	if (!key_b)
		key_b = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(key_a);
	ck_assert_ptr_nonnull(key_b);
}

/* base64 of RSA-SHA256(key, msg); new string. */
static char *sign_b64(EVP_PKEY *k, const char *msg, size_t n)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t len = sizeof sig;
	ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &len, (const unsigned char *)msg, n), 1);
	EVP_MD_CTX_free(ctx);
	char *out = malloc(len / 3 * 4 + 8);
	EVP_EncodeBlock((unsigned char *)out, sig, (int)len);
	return out;
}

START_TEST(base64_round_trip)
{
	size_t n;
	unsigned char *d = bill_b64_decode("aGVsbG8=", &n);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq((char *)d, "hello");
	free(d);
	d = bill_b64_decode("aGVsbA==", &n);
	ck_assert_uint_eq(n, 4);
	free(d);
	ck_assert_ptr_null(bill_b64_decode("aGVsbA=", &n)); /* not a multiple of 4 */
	ck_assert_ptr_null(bill_b64_decode("aGV*bA==", &n));
	ck_assert_ptr_null(bill_b64_decode("", &n));
	ck_assert_ptr_null(bill_b64_decode(NULL, &n));
}
END_TEST

static const char wechat_body[] =
	"{\"id\":\"EV-2018022511223320873\",\"create_time\":\"2026-11-21T13:29:35+08:00\","
	"\"resource_type\":\"encrypt-resource\",\"event_type\":\"TRANSACTION.SUCCESS\","
	"\"summary\":\"payment succeeded\",\"resource\":{\"original_type\":\"transaction\","
	"\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"...\",\"associated_data\":\"transaction\","
	"\"nonce\":\"fdasflkja484w\"}}";

START_TEST(wechat_signature)
{
	keys_setup();
	const char *ts = "1795000000", *nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
	int64_t now = 1795000000;
	char msg[2048];
	int n = snprintf(msg, sizeof msg, "%s\n%s\n%s\n", ts, nonce, wechat_body);
	char *sig = sign_b64(key_a, msg, (size_t)n);
	size_t bl = strlen(wechat_body);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, sig, wechat_body, bl, now), SIG_OK);
	/* within the tolerance either way, and not past it */
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, sig, wechat_body, bl, now + 300), SIG_OK);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, sig, wechat_body, bl, now - 300), SIG_OK);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, sig, wechat_body, bl, now + 301), SIG_EXPIRED);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, sig, wechat_body, bl, now - 301), SIG_EXPIRED);
	/* the serial names another key */
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER2", ts, nonce, sig, wechat_body, bl, now), SIG_WRONG_KEY);
	/* another key, another nonce, another timestamp (still fresh), one body byte */
	ck_assert_int_eq(bill_wechat_verify(key_b, "SER1", "SER1", ts, nonce, sig, wechat_body, bl, now), SIG_BAD);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, "5K8264ILTKCH16CQ2502SI8ZNMTM67VT", sig,
					    wechat_body, bl, now), SIG_BAD);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", "1795000001", nonce, sig, wechat_body, bl, now), SIG_BAD);
	for (size_t i = 0; i < bl; i += 7) {
		char *b = strdup(wechat_body);
		b[i] ^= 1;
		ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, sig, b, bl, now), SIG_BAD);
		free(b);
	}
	/* a bent signature; missing headers; a timestamp that is not a number */
	char *bent = strdup(sig);
	bent[10] = bent[10] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, bent, wechat_body, bl, now), SIG_BAD);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", NULL, ts, nonce, sig, wechat_body, bl, now), SIG_MISSING);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", NULL, nonce, sig, wechat_body, bl, now), SIG_MISSING);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, NULL, wechat_body, bl, now), SIG_MISSING);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", "17x5000000", nonce, sig, wechat_body, bl, now), SIG_MISSING);
	ck_assert_int_eq(bill_wechat_verify(key_a, "SER1", "SER1", ts, nonce, "not base64!", wechat_body, bl, now), SIG_BAD);
	free(bent);
	free(sig);
}
END_TEST

/* AES-256-GCM encrypt as WeChat does; base64 of ciphertext || tag. New string. */
static char *gcm_b64(const unsigned char key[32], const char *nonce, const char *aad, const char *pt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t n = strlen(pt);
	unsigned char *buf = malloc(n + 16);
	int len = 0, fin = 0;
	ck_assert_int_eq(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL);
	EVP_EncryptInit_ex(ctx, NULL, NULL, key, (const unsigned char *)nonce);
	EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad));
	EVP_EncryptUpdate(ctx, buf, &len, (const unsigned char *)pt, (int)n);
	EVP_EncryptFinal_ex(ctx, buf + len, &fin);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, buf + n);
	EVP_CIPHER_CTX_free(ctx);
	char *out = malloc((n + 16) / 3 * 4 + 8);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)(n + 16));
	free(buf);
	return out;
}

START_TEST(wechat_resource)
{
	unsigned char key[32], other[32];
	memcpy(key, "0123456789abcdef0123456789abcdef", 32);
	memcpy(other, "0123456789abcdef0123456789abcdeF", 32);
	const char *pt = "{\"mchid\":\"1900000100\",\"out_trade_no\":\"wt1x\",\"transaction_id\":\"4200000001\","
			 "\"trade_state\":\"SUCCESS\",\"amount\":{\"total\":100,\"currency\":\"CNY\"}}";
	char *ct = gcm_b64(key, "fdasflkja484", "transaction", pt);
	size_t n;
	char *got = bill_wechat_decrypt(key, "fdasflkja484", "transaction", ct, &n);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(n, strlen(pt));
	ck_assert_str_eq(got, pt);
	free(got);
	/* wrong key, nonce, associated data */
	ck_assert_ptr_null(bill_wechat_decrypt(other, "fdasflkja484", "transaction", ct, &n));
	ck_assert_ptr_null(bill_wechat_decrypt(key, "fdasflkja485", "transaction", ct, &n));
	ck_assert_ptr_null(bill_wechat_decrypt(key, "fdasflkja484", "transactioN", ct, &n));
	ck_assert_ptr_null(bill_wechat_decrypt(key, "fdasflkja484", "", ct, &n));
	/* every byte of ciphertext and tag matters */
	size_t raw_n;
	unsigned char *raw = bill_b64_decode(ct, &raw_n);
	for (size_t i = 0; i < raw_n; i++) {
		raw[i] ^= 0x20;
		char *b = malloc(raw_n / 3 * 4 + 8);
		EVP_EncodeBlock((unsigned char *)b, raw, (int)raw_n);
		ck_assert_ptr_null(bill_wechat_decrypt(key, "fdasflkja484", "transaction", b, &n));
		free(b);
		raw[i] ^= 0x20;
	}
	/* too short to hold a tag; not base64 */
	ck_assert_ptr_null(bill_wechat_decrypt(key, "fdasflkja484", "transaction", "AAAA", &n));
	ck_assert_ptr_null(bill_wechat_decrypt(key, "fdasflkja484", "transaction", "%%%%", &n));
	free(raw);
	free(ct);
}
END_TEST

START_TEST(form_parsing)
{
	struct bill_form f;
	const char *body = "a=1&b=x+y%26z&c=&d=%E4%B8%AD";
	ck_assert_int_eq(bill_form_parse(body, strlen(body), &f), 0);
	ck_assert_uint_eq(f.n, 4);
	ck_assert_str_eq(bill_form_get(&f, "b"), "x y&z");
	ck_assert_str_eq(bill_form_get(&f, "c"), "");
	ck_assert_str_eq(bill_form_get(&f, "d"), "\xe4\xb8\xad");
	ck_assert_ptr_null(bill_form_get(&f, "e"));
	bill_form_free(&f);
	const char *bad[] = {"a=1&a=2", "a=%4", "a=%zz", "a", "=1", "a=%00", "a=%4"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_int_eq(bill_form_parse(bad[i], strlen(bad[i]), &f), -1);
		bill_form_free(&f);
	}
	/* a trailing escape exactly at the end */
	ck_assert_int_eq(bill_form_parse("a=%41", 5, &f), 0);
	ck_assert_str_eq(bill_form_get(&f, "a"), "A");
	bill_form_free(&f);
}
END_TEST

START_TEST(alipay_signature)
{
	keys_setup();
	/* The content is built from decoded values, sorted, without sign, sign_type and
	 * empty values. */
	const char *unsigned_body = "trade_status=TRADE_SUCCESS&app_id=2021000000000001&out_trade_no=wt1x"
				    "&total_amount=88.88&trade_no=2026112122001&notify_time=2026-11-21+15%3A00%3A00"
				    "&buyer_logon_id=&charset=utf-8";
	struct bill_form f;
	ck_assert_int_eq(bill_form_parse(unsigned_body, strlen(unsigned_body), &f), 0);
	char *content = bill_alipay_sign_content(&f);
	ck_assert_str_eq(content, "app_id=2021000000000001&charset=utf-8&notify_time=2026-11-21 15:00:00"
				  "&out_trade_no=wt1x&total_amount=88.88&trade_no=2026112122001"
				  "&trade_status=TRADE_SUCCESS");
	char *sig = sign_b64(key_a, content, strlen(content));
	bill_form_free(&f);
	/* URL-encode the signature as a form would. */
	char body[4096], esc[1024], *o = esc;
	for (const char *p = sig; *p; p++)
		o += *p == '+' ? sprintf(o, "%%2B") : *p == '/' ? sprintf(o, "%%2F") : *p == '=' ? sprintf(o, "%%3D")
											 : sprintf(o, "%c", *p);
	snprintf(body, sizeof body, "%s&sign_type=RSA2&sign=%s", unsigned_body, esc);
	ck_assert_int_eq(bill_form_parse(body, strlen(body), &f), 0);
	ck_assert_int_eq(bill_alipay_verify(key_a, &f), SIG_OK);
	ck_assert_int_eq(bill_alipay_verify(key_b, &f), SIG_BAD);
	bill_form_free(&f);
	/* a changed amount; an added parameter; RSA (SHA-1) refused; no sign */
	char tampered[4200];
	snprintf(tampered, sizeof tampered, "%s", body);
	char *amt = strstr(tampered, "88.88");
	amt[0] = '9';
	ck_assert_int_eq(bill_form_parse(tampered, strlen(tampered), &f), 0);
	ck_assert_int_eq(bill_alipay_verify(key_a, &f), SIG_BAD);
	bill_form_free(&f);
	snprintf(tampered, sizeof tampered, "%s&refund_fee=1.00", body);
	ck_assert_int_eq(bill_form_parse(tampered, strlen(tampered), &f), 0);
	ck_assert_int_eq(bill_alipay_verify(key_a, &f), SIG_BAD);
	bill_form_free(&f);
	snprintf(tampered, sizeof tampered, "%s", body);
	memcpy(strstr(tampered, "RSA2"), "RSA&", 4);
	ck_assert_int_eq(bill_form_parse(tampered, strlen(tampered), &f), 0);
	ck_assert_int_eq(bill_alipay_verify(key_a, &f), SIG_WRONG_KEY);
	bill_form_free(&f);
	ck_assert_int_eq(bill_form_parse(unsigned_body, strlen(unsigned_body), &f), 0);
	ck_assert_int_eq(bill_alipay_verify(key_a, &f), SIG_MISSING);
	bill_form_free(&f);
	free(sig);
	free(content);
}
END_TEST

static void stripe_header(const char *secret, long long t, const char *body, char *out, size_t n)
{
	char msg[4096];
	int len = snprintf(msg, sizeof msg, "%lld.%s", t, body);
	unsigned char mac[32];
	unsigned ml;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, (size_t)len, mac, &ml);
	char hex[65];
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	snprintf(out, n, "t=%lld,v1=%s,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39", t, hex);
}

START_TEST(stripe_signature)
{
	const char *secret = "whsec_test_secret", *body = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}";
	size_t bl = strlen(body);
	long long t = 1795000000;
	char h[512];
	stripe_header(secret, t, body, h, sizeof h);
	ck_assert_int_eq(bill_stripe_verify(secret, h, body, bl, t), SIG_OK);
	ck_assert_int_eq(bill_stripe_verify(secret, h, body, bl, t + 300), SIG_OK);
	ck_assert_int_eq(bill_stripe_verify(secret, h, body, bl, t + 301), SIG_EXPIRED);
	ck_assert_int_eq(bill_stripe_verify(secret, h, body, bl, t - 301), SIG_EXPIRED);
	ck_assert_int_eq(bill_stripe_verify("whsec_other", h, body, bl, t), SIG_BAD);
	/* one byte of body, one hex digit of the signature, another timestamp */
	char *b = strdup(body);
	b[5] ^= 1;
	ck_assert_int_eq(bill_stripe_verify(secret, h, b, bl, t), SIG_BAD);
	free(b);
	char bent[512];
	snprintf(bent, sizeof bent, "%s", h);
	char *v1 = strstr(bent, "v1=") + 3;
	v1[0] = v1[0] == '0' ? '1' : '0';
	ck_assert_int_eq(bill_stripe_verify(secret, bent, body, bl, t), SIG_BAD);
	snprintf(bent, sizeof bent, "%s", h);
	bent[2] = '2'; /* t=2795... */
	ck_assert_int_eq(bill_stripe_verify(secret, bent, body, bl, t), SIG_BAD);
	/* several v1 (secret rotation): one good one is enough */
	char two[1024];
	snprintf(two, sizeof two, "t=%lld,v1=%064d,%s", t, 0, strstr(h, "v1="));
	ck_assert_int_eq(bill_stripe_verify(secret, two, body, bl, t), SIG_OK);
	/* only v0, no t, garbage, no secret */
	char v0only[256];
	snprintf(v0only, sizeof v0only, "t=%lld,v0=abc", t);
	ck_assert_int_eq(bill_stripe_verify(secret, v0only, body, bl, t), SIG_MISSING);
	ck_assert_int_eq(bill_stripe_verify(secret, strstr(h, "v1="), body, bl, t), SIG_MISSING);
	ck_assert_int_eq(bill_stripe_verify(secret, "garbage", body, bl, t), SIG_MISSING);
	ck_assert_int_eq(bill_stripe_verify(secret, NULL, body, bl, t), SIG_MISSING);
	ck_assert_int_eq(bill_stripe_verify("", h, body, bl, t), SIG_MISSING);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("paysig");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 60);
	tcase_add_test(core, wechat_signature);
	tcase_add_test(core, wechat_resource);
	tcase_add_test(core, alipay_signature);
	tcase_add_test(core, stripe_signature);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, base64_round_trip);
	tcase_add_test(lim, form_parsing);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
