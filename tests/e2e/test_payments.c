/* test_payments.c: top-ups through the three providers' signed notifications, against the
 * real binary. Keys are made here; each notification is built and signed the way its
 * provider does it, then replayed, bent, re-signed with the wrong key, aged, and sent 20
 * times at once. Nothing but a genuine, matching payment may credit a fen, and that once. */
#include "harness.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MCHID "1900000100"
#define SERIAL "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
#define APIV3 "wattleAPIv3key0123456789abcdefXY"
#define APP_ID "2021000000000001"
#define WHSEC "whsec_wattle_test"

static char *db;
static struct th_server srv;
static char *fin, *ten1, *ten2;
static EVP_PKEY *wx_key, *ali_key, *rogue;
static char wx_pem[64], ali_pem[64];

static void write_pub(EVP_PKEY *k, const char *path)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
}

static long long q(const char *sql) { return th_sql_int(db, sql); }

static long long balance(const char *tenant)
{
	char path[64];
	snprintf(path, sizeof path, "/v1/tenants/%s/account", tenant);
	json_t *a = th_ok(&srv, "GET", path, fin, NULL, 200);
	long long b = json_integer_value(json_object_get(a, "balance_minor"));
	json_decref(a);
	return b;
}

static void mall(void)
{
	json_decref(th_ok(&srv, "POST", "/v1/sites", srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	/* No credit policy yet: the accounts open at 0 without being cut. */
	for (int i = 1; i <= 2; i++) {
		char body[300];
		snprintf(body, sizeof body,
			 "{\"site_id\":\"site_1\",\"name\":\"Shop %d\",\"category\":\"retail\",\"area_m2\":\"50\","
			 "\"credit_rating\":\"B\",\"phone\":\"+861380013800%d\"}", i, i);
		json_decref(th_ok(&srv, "POST", "/v1/tenants", fin, body, 201));
	}
}

static void setup(void)
{
	wx_key = EVP_RSA_gen(2048);
	ali_key = EVP_RSA_gen(2048);
	rogue = EVP_RSA_gen(2048);
	snprintf(wx_pem, sizeof wx_pem, "/tmp/wattle-wx-%d.pem", (int)getpid());
	snprintf(ali_pem, sizeof ali_pem, "/tmp/wattle-ali-%d.pem", (int)getpid());
	write_pub(wx_key, wx_pem);
	write_pub(ali_key, ali_pem);
	static char e1[128], e2[128];
	snprintf(e1, sizeof e1, "WATTLE_WECHAT_PLATFORM_PUBKEY=%s", wx_pem);
	snprintf(e2, sizeof e2, "WATTLE_ALIPAY_PUBKEY=%s", ali_pem);
	const char *env[] = {"WATTLE_WECHAT_APIV3_KEY=" APIV3, e1, "WATTLE_WECHAT_PLATFORM_SERIAL=" SERIAL,
			     "WATTLE_WECHAT_MCHID=" MCHID, e2, "WATTLE_ALIPAY_APP_ID=" APP_ID,
			     "WATTLE_STRIPE_WEBHOOK_SECRET=" WHSEC, "WATTLE_PAY_URL=https://portal.example/pay",
			     NULL};
	db = th_fresh_db();
	th_server_start(&srv, db, env);
	fin = th_key(&srv, "finance", NULL);
	mall();
	ten1 = th_key(&srv, "tenant", "ten_1");
	ten2 = th_key(&srv, "tenant", "ten_2");
}

/* The server's log so far. New: caller frees. */
static char *server_log(void)
{
	FILE *f = fopen(srv.log_path, "r");
	ck_assert_ptr_nonnull(f);
	static const size_t cap = 1 << 22;
	char *s = calloc(1, cap);
	size_t n = fread(s, 1, cap - 1, f);
	s[n] = 0;
	fclose(f);
	return s;
}

static void teardown(void)
{
	/* secrets are never logged */
	char *log = server_log();
	ck_assert_ptr_null(strstr(log, APIV3));
	ck_assert_ptr_null(strstr(log, WHSEC));
	free(log);
	ck_assert_int_eq(th_server_stop(&srv), 0);
	th_assert_ledger_invariant(db);
	unlink(wx_pem);
	unlink(ali_pem);
	EVP_PKEY_free(wx_key);
	EVP_PKEY_free(ali_key);
	EVP_PKEY_free(rogue);
	free(fin);
	free(ten1);
	free(ten2);
	free(db);
}

/* An order for tenant; its out_trade_no into otn. */
static void order(const char *tenant, const char *provider, long long amount, char otn[64])
{
	char body[200];
	snprintf(body, sizeof body, "{\"tenant_id\":\"%s\",\"amount_minor\":%lld,\"provider\":\"%s\"}", tenant,
		 amount, provider);
	json_t *o = th_ok(&srv, "POST", "/v1/topup-orders", fin, body, 201);
	snprintf(otn, 64, "%s", json_string_value(json_object_get(o, "out_trade_no")));
	json_decref(o);
}

static char *b64(const unsigned char *p, size_t n)
{
	char *out = malloc(n / 3 * 4 + 8);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

static char *rsa_sign(EVP_PKEY *k, const char *msg, size_t n)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t len = sizeof sig;
	EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k);
	EVP_DigestSign(ctx, sig, &len, (const unsigned char *)msg, n);
	EVP_MD_CTX_free(ctx);
	return b64(sig, len);
}

/* ---- WeChat ---- */

struct wx_opts {
	EVP_PKEY *key;      /* signing key (default: the platform key) */
	const char *serial; /* default SERIAL */
	long age_s;         /* timestamp this far in the past */
	int flip_body;      /* flip a byte of the body after signing (-1: none) */
	int flip_ct;        /* flip a byte of the ciphertext before signing (-1: none) */
	const char *apiv3;  /* encryption key (default APIV3) */
	const char *nonce_hdr; /* a header nonce other than the signed one */
};

/* The body and headers of a v3 notification whose resource is plain. */
static struct th_resp wx_send(const char *event_type, const char *plain, struct wx_opts o)
{
	const char *key = o.apiv3 ? o.apiv3 : APIV3, *nonce = "a1b2c3d4e5f6";
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t n = strlen(plain);
	unsigned char *ct = malloc(n + 16);
	int len = 0, fin_len = 0;
	EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
	EVP_EncryptInit_ex(ctx, NULL, NULL, (const unsigned char *)key, (const unsigned char *)nonce);
	EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)"transaction", 11);
	EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)plain, (int)n);
	EVP_EncryptFinal_ex(ctx, ct + len, &fin_len);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, ct + n);
	EVP_CIPHER_CTX_free(ctx);
	if (o.flip_ct >= 0)
		ct[o.flip_ct] ^= 1;
	char *ct64 = b64(ct, n + 16);
	free(ct);
	size_t cap = strlen(ct64) + 1024;
	char *body = malloc(cap);
	snprintf(body, cap,
		 "{\"id\":\"EV-1\",\"create_time\":\"2026-11-21T10:00:00+08:00\",\"resource_type\":\"encrypt-resource\","
		 "\"event_type\":\"%s\",\"summary\":\"ok\",\"resource\":{\"original_type\":\"transaction\","
		 "\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"%s\",\"associated_data\":\"transaction\","
		 "\"nonce\":\"%s\"}}", event_type, ct64, nonce);
	free(ct64);
	char ts[32], msg[8192];
	snprintf(ts, sizeof ts, "%ld", (long)time(NULL) - o.age_s);
	const char *hn = "9VZP2HMV1R6XBBZYSUKKHDOKNZEB0A4Z";
	int mlen = snprintf(msg, sizeof msg, "%s\n%s\n%s\n", ts, hn, body);
	char *sig = rsa_sign(o.key ? o.key : wx_key, msg, (size_t)mlen);
	if (o.flip_body >= 0)
		body[o.flip_body] ^= 1;
	char h1[64], h2[64], h3[64], h4[1024];
	snprintf(h1, sizeof h1, "Wechatpay-Timestamp: %s", ts);
	snprintf(h2, sizeof h2, "Wechatpay-Nonce: %s", o.nonce_hdr ? o.nonce_hdr : hn);
	snprintf(h3, sizeof h3, "Wechatpay-Serial: %s", o.serial ? o.serial : SERIAL);
	snprintf(h4, sizeof h4, "Wechatpay-Signature: %s", sig);
	const char *hdrs[] = {h1, h2, h3, h4, "Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048", NULL};
	struct th_resp r = th_req(&srv, "POST", "/v1/webhooks/payments/wechat", NULL, body, hdrs);
	free(sig);
	free(body);
	return r;
}

static const struct wx_opts WX = {NULL, NULL, 0, -1, -1, NULL, NULL};

static char *wx_paid(const char *otn, const char *txn, long long total, const char *mchid)
{
	char *s = malloc(1024);
	snprintf(s, 1024,
		 "{\"mchid\":\"%s\",\"appid\":\"wxd678efh567hg6787\",\"out_trade_no\":\"%s\",\"transaction_id\":\"%s\","
		 "\"trade_type\":\"NATIVE\",\"trade_state\":\"SUCCESS\",\"trade_state_desc\":\"ok\","
		 "\"success_time\":\"2026-11-21T10:00:00+08:00\",\"payer\":{\"openid\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\"},"
		 "\"amount\":{\"total\":%lld,\"payer_total\":%lld,\"currency\":\"CNY\",\"payer_currency\":\"CNY\"}}",
		 mchid, otn, txn, total, total);
	return s;
}

static void expect(struct th_resp r, long status, const char *body_has)
{
	ck_assert_msg(r.status == status, "want %ld, got %ld: %s", status, r.status, r.body);
	if (body_has)
		ck_assert_msg(strstr(r.body, body_has), "reply %s lacks %s", r.body, body_has);
	th_resp_free(&r);
}

/* A flat tariff, meter M-1 of Shop 1 on a gateway nobody answers (commands stay pending),
 * and a policy for rating B with the warning levels given that cuts at 0 with no grace:
 * both accounts (at 0) are cut off before this returns. */
static void dark_mall(const char *levels)
{
	json_decref(th_ok(&srv, "POST", "/v1/tariffs", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":1000000,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201));
	json_decref(th_ok(&srv, "POST", "/v1/meters", srv.admin_key,
			  "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
			  "\"gateway\":\"http://127.0.0.1:9/gw\"}", 201));
	char body[300];
	snprintf(body, sizeof body,
		 "{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":%s,"
		 "\"overdraft_minor\":0,\"grace_minutes\":0,\"restore_min_minor\":0,\"quiet_hours\":null}", levels);
	json_decref(th_ok(&srv, "POST", "/v1/credit-policies", fin, body, 201));
	for (int i = 0; i < 100 && q("SELECT count(*) FROM accounts WHERE state = 'cut_off'") < 2; i++)
		usleep(50000);
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE state = 'cut_off'"), 2);
}

START_TEST(wechat_credits_once_and_restores)
{
	dark_mall("[1000]");
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE tenant_id = 1 AND state = 'cut_off'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE action = 'cut_off'"), 1);
	/* a meter that joins the dark tenant is cut too; registering it twice over changes nothing */
	json_decref(th_ok(&srv, "POST", "/v1/meters", srv.admin_key,
			  "{\"serial\":\"M-2\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
			  "\"gateway\":\"http://127.0.0.1:9/gw\"}", 201));
	json_decref(th_ok(&srv, "PATCH", "/v1/meters/M-2", srv.admin_key, "{\"max_power_w\":20000}", 200));
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE action = 'cut_off' AND meter_id = 2"), 1);
	char otn[64];
	order("ten_1", "wechat", 5000, otn);
	ck_assert_uint_eq(strlen(otn), 26);
	json_t *o = th_ok(&srv, "GET", "/v1/topup-orders/ord_1", ten1, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "open");
	ck_assert(!strncmp(json_string_value(json_object_get(o, "qr_svg")), "<svg", 4));
	ck_assert(strstr(json_string_value(json_object_get(o, "pay_url")), otn));
	json_decref(o);

	char *paid = wx_paid(otn, "4200000001202611210000000001", 5000, MCHID);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect(wx_send("TRANSACTION.SUCCESS", paid, WX), 204, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 1000);
	ck_assert_int_eq(balance("ten_1"), 5000);
	/* the account left cut_off and the restore was queued in the same transaction as the
	 * credit; the tenant got a receipt (SMS and app) */
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE tenant_id = 1 AND state = 'normal'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE action = 'restore' AND reason = 'topped_up'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND kind = 'topup_received'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup' AND ref->>'channel' = 'wechat'"
			   " AND ref->>'provider_txn_id' = '4200000001202611210000000001'"), 1);
	o = th_ok(&srv, "GET", "/v1/topup-orders/ord_1", fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "paid");
	ck_assert_str_eq(json_string_value(json_object_get(o, "payment_id")), "pay_1");
	json_decref(o);

	/* the same notification again: the same answer, nothing more */
	expect(wx_send("TRANSACTION.SUCCESS", paid, WX), 204, NULL);
	ck_assert_int_eq(balance("ten_1"), 5000);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 1);
	free(paid);
}
END_TEST

START_TEST(wechat_forgeries_credit_nothing)
{
	char otn[64];
	order("ten_1", "wechat", 5000, otn);
	char *paid = wx_paid(otn, "4200000002", 5000, MCHID);
	struct wx_opts o;
	/* one byte of body */
	o = WX;
	o.flip_body = 40;
	expect(wx_send("TRANSACTION.SUCCESS", paid, o), 401, "\"code\":\"FAIL\"");
	/* a header: the nonce */
	o = WX;
	o.nonce_hdr = "9VZP2HMV1R6XBBZYSUKKHDOKNZEB0A4Y";
	expect(wx_send("TRANSACTION.SUCCESS", paid, o), 401, "FAIL");
	/* a ciphertext byte, correctly signed: the signature holds, the tag does not */
	o = WX;
	o.flip_ct = 3;
	expect(wx_send("TRANSACTION.SUCCESS", paid, o), 401, "decrypt");
	/* encrypted with another APIv3 key */
	o = WX;
	o.apiv3 = "0123456789abcdef0123456789abcdef";
	expect(wx_send("TRANSACTION.SUCCESS", paid, o), 401, "FAIL");
	/* signed by another key; naming another key; six minutes old */
	o = WX;
	o.key = rogue;
	expect(wx_send("TRANSACTION.SUCCESS", paid, o), 401, "signature bad");
	o = WX;
	o.serial = "0000000000000000000000000000000000000000";
	expect(wx_send("TRANSACTION.SUCCESS", paid, o), 401, "wrong_key");
	o = WX;
	o.age_s = 360;
	expect(wx_send("TRANSACTION.SUCCESS", paid, o), 401, "expired");
	/* genuine, but for another merchant */
	char *other = wx_paid(otn, "4200000003", 5000, "1900000999");
	expect(wx_send("TRANSACTION.SUCCESS", other, WX), 403, "FAIL");
	free(other);
	/* not paid yet */
	char *notpaid = wx_paid(otn, "4200000004", 5000, MCHID);
	memcpy(strstr(notpaid, "\"SUCCESS\""), "\"NOTPAY\" ", 9);
	expect(wx_send("TRANSACTION.SUCCESS", notpaid, WX), 204, NULL);
	free(notpaid);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM payments"), 0);
	/* genuine and unknown order, genuine and the wrong amount: kept, not credited */
	char *unknown = wx_paid("wt_nobody_ordered_this", "4200000005", 5000, MCHID);
	expect(wx_send("TRANSACTION.SUCCESS", unknown, WX), 204, NULL);
	free(unknown);
	char *short_paid = wx_paid(otn, "4200000006", 4999, MCHID);
	expect(wx_send("TRANSACTION.SUCCESS", short_paid, WX), 204, NULL);
	free(short_paid);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 0);
	ck_assert_int_eq(balance("ten_1"), 0);
	json_t *l = th_ok(&srv, "GET", "/v1/payment-conflicts?state=open", fin, NULL, 200);
	json_t *items = json_object_get(l, "items");
	ck_assert_int_eq(json_array_size(items), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "reason")), "unknown_order");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "reason")), "amount_mismatch");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 1), "expected_amount_minor")), 5000);
	json_decref(l);
	/* the order is still open: the real payment lands */
	expect(wx_send("TRANSACTION.SUCCESS", paid, WX), 204, NULL);
	ck_assert_int_eq(balance("ten_1"), 5000);
	/* a second genuine payment for a paid order is money to give back, not to credit */
	char *twice = wx_paid(otn, "4200000007", 5000, MCHID);
	expect(wx_send("TRANSACTION.SUCCESS", twice, WX), 204, NULL);
	free(twice);
	ck_assert_int_eq(balance("ten_1"), 5000);
	ck_assert_int_eq(q("SELECT count(*) FROM payment_conflicts WHERE reason = 'order_already_paid'"), 1);
	free(paid);
	/* an operator can see why each was refused, and what finance must look at */
	char *log = server_log();
	ck_assert_ptr_nonnull(strstr(log, "wechat notification refused: signature expired"));
	ck_assert_ptr_nonnull(strstr(log, "kept as a conflict: amount_mismatch"));
	free(log);
}
END_TEST

START_TEST(wechat_refund)
{
	char otn[64];
	order("ten_2", "wechat", 8000, otn);
	char *paid = wx_paid(otn, "4200000010", 8000, MCHID);
	expect(wx_send("TRANSACTION.SUCCESS", paid, WX), 204, NULL);
	free(paid);
	ck_assert_int_eq(balance("ten_2"), 8000);
	char refund[512];
	snprintf(refund, sizeof refund,
		 "{\"mchid\":\"" MCHID "\",\"out_trade_no\":\"%s\",\"transaction_id\":\"4200000010\","
		 "\"out_refund_no\":\"r1\",\"refund_id\":\"50000000382019052709732678859\",\"refund_status\":\"SUCCESS\","
		 "\"success_time\":\"2026-11-21T11:00:00+08:00\",\"amount\":{\"total\":8000,\"refund\":3000,"
		 "\"payer_total\":8000,\"payer_refund\":3000}}", otn);
	expect(wx_send("REFUND.SUCCESS", refund, WX), 204, NULL);
	expect(wx_send("REFUND.SUCCESS", refund, WX), 204, NULL);
	ck_assert_int_eq(balance("ten_2"), 5000);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'refund' AND amount_minor = -3000"), 1);
	/* the payment's receipt stands; the refund (once, replayed or not) is a new one citing it */
	ck_assert_int_eq(q("SELECT count(*) FROM receipts"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts WHERE series = 'TOPUP' AND seq = 1 AND amount_minor = 8000"
			   " AND channel = 'wechat' AND provider_txn_id = '4200000010' AND payment_id = 1"
			   " AND balance_before_minor = 0 AND balance_after_minor = 8000"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts r JOIN receipts t ON t.id = r.cites_receipt_id"
			   " WHERE r.series = 'REFUND' AND r.seq = 1 AND t.series = 'TOPUP' AND r.cites_number = t.number"
			   " AND r.amount_minor = 3000 AND r.balance_before_minor = 8000 AND r.balance_after_minor = 5000"
			   " AND r.reference = '50000000382019052709732678859' AND r.number LIKE 'S1-REFUND-%-000001'"), 1);
	json_t *rc = th_ok(&srv, "GET", "/v1/receipts?tenant_id=ten_2", fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(rc, "items")), 2);
	json_t *refund_rc = json_array_get(json_object_get(rc, "items"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(refund_rc, "cites"), "id")), "rcpt_1");
	json_decref(rc);
	/* more than is left of the payment: refused, nothing posted */
	char *big = strdup(refund);
	memcpy(strstr(big, "732678859"), "732678860", 9);
	memcpy(strstr(big, "\"refund\":3000"), "\"refund\":6000", 13);
	expect(wx_send("REFUND.SUCCESS", big, WX), 422, "FAIL");
	free(big);
	ck_assert_int_eq(balance("ten_2"), 5000);
	/* a refund for a payment we never saw: the provider will deliver it again */
	char *stray = strdup(refund);
	memcpy(strstr(stray, "4200000010"), "4200000099", 10);
	expect(wx_send("REFUND.SUCCESS", stray, WX), 404, "FAIL");
	free(stray);
}
END_TEST

/* ---- concurrency ---- */

struct burst {
	const char *plain;
	long status;
};

static void *wx_one(void *arg)
{
	struct burst *b = arg;
	struct th_resp r = wx_send("TRANSACTION.SUCCESS", b->plain, WX);
	b->status = r.status;
	th_resp_free(&r);
	return NULL;
}

START_TEST(twenty_at_once_credit_once)
{
	char otn[64];
	order("ten_2", "wechat", 12345, otn);
	char *paid = wx_paid(otn, "4200000020", 12345, MCHID);
	pthread_t th[20];
	struct burst b[20];
	for (int i = 0; i < 20; i++) {
		b[i] = (struct burst){paid, 0};
		pthread_create(&th[i], NULL, wx_one, &b[i]);
	}
	for (int i = 0; i < 20; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(b[i].status, 204);
	}
	free(paid);
	ck_assert_int_eq(balance("ten_2"), 12345);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM payments"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'topup_received'"), 2); /* SMS, app */
	/* one receipt, number 1: the 19 replays took no number */
	ck_assert_int_eq(q("SELECT count(*) FROM receipts"), 1);
	ck_assert_int_eq(q("SELECT last_no FROM receipt_counters WHERE series = 'TOPUP'"), 1);
}
END_TEST

/* ---- Alipay ---- */

/* Params as "k=v" in key order (the order Alipay signs in), values unencoded. The sign
 * goes over those with a value, joined by '&'; the body is their form encoding. */
static struct th_resp ali_send(const char *const *params, EVP_PKEY *key, const char *tamper_from,
			       const char *tamper_to)
{
	char content[4096] = "", body[8192] = "";
	for (int i = 0; params[i]; i++) {
		const char *eq = strchr(params[i], '=');
		if (eq[1]) {
			if (*content)
				strcat(content, "&");
			strcat(content, params[i]);
		}
		if (*body)
			strcat(body, "&");
		for (const char *p = params[i]; *p; p++) {
			char e[4];
			if (*p == ' ')
				snprintf(e, sizeof e, "+");
			else if (*p == ':' || *p == '+' || *p == '/' || *p == '&')
				snprintf(e, sizeof e, "%%%02X", (unsigned char)*p);
			else
				snprintf(e, sizeof e, "%c", *p);
			strcat(body, e);
		}
	}
	char *sig = rsa_sign(key, content, strlen(content));
	strcat(body, "&sign_type=RSA2&sign=");
	for (const char *p = sig; *p; p++) {
		char e[4];
		snprintf(e, sizeof e, *p == '+' || *p == '/' || *p == '=' ? "%%%02X" : "%c", (unsigned char)*p);
		strcat(body, e);
	}
	free(sig);
	if (tamper_from) {
		char *at = strstr(body, tamper_from);
		ck_assert_ptr_nonnull(at);
		memcpy(at, tamper_to, strlen(tamper_to));
	}
	const char *h[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
	return th_req(&srv, "POST", "/v1/webhooks/payments/alipay", NULL, body, h);
}

START_TEST(alipay_success_then_finished)
{
	char otn[64], p_otn[128];
	order("ten_2", "alipay", 8888, otn);
	snprintf(p_otn, sizeof p_otn, "out_trade_no=%s", otn);
	const char *success[] = {"app_id=" APP_ID, "buyer_logon_id=", "charset=utf-8", "gmt_payment=2026-11-21 15:00:00",
				 "notify_id=ac05099524730693a8b330c5ecf72da9786", "notify_time=2026-11-21 15:00:01",
				 "notify_type=trade_status_sync", p_otn,
				 "refund_fee=0.00", /* some notifications carry it on a plain payment */
				 "total_amount=88.88", "trade_no=2026112122001400001",
				 "trade_status=TRADE_SUCCESS", "version=1.0", NULL};
	/* forged: another key; an amount changed after signing; another app */
	expect(ali_send(success, rogue, NULL, NULL), 401, "fail");
	expect(ali_send(success, ali_key, "total_amount=88.88", "total_amount=98.88"), 401, "fail");
	const char *other_app[] = {"app_id=2021000000000999", p_otn, "total_amount=88.88", "trade_no=2026112122001400001",
				   "trade_status=TRADE_SUCCESS", NULL};
	expect(ali_send(other_app, ali_key, NULL, NULL), 403, "fail");
	ck_assert_int_eq(balance("ten_2"), 0);
	/* genuine: credited once; TRADE_FINISHED for the same trade is already done */
	expect(ali_send(success, ali_key, NULL, NULL), 200, "success");
	expect(ali_send(success, ali_key, NULL, NULL), 200, "success");
	const char *finished[] = {"app_id=" APP_ID, p_otn, "total_amount=88.88", "trade_no=2026112122001400001",
				  "trade_status=TRADE_FINISHED", NULL};
	expect(ali_send(finished, ali_key, NULL, NULL), 200, "success");
	ck_assert_int_eq(balance("ten_2"), 8888);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), 1);
	/* a partial refund (refund_fee is the total refunded so far), told twice, then more */
	const char *ref1[] = {"app_id=" APP_ID, "gmt_refund=2026-11-21 16:00:00", p_otn, "refund_fee=10.00",
			      "total_amount=88.88", "trade_no=2026112122001400001", "trade_status=TRADE_SUCCESS", NULL};
	expect(ali_send(ref1, ali_key, NULL, NULL), 200, "success");
	expect(ali_send(ref1, ali_key, NULL, NULL), 200, "success");
	ck_assert_int_eq(balance("ten_2"), 7888);
	const char *ref2[] = {"app_id=" APP_ID, "gmt_refund=2026-11-21 17:00:00", p_otn, "refund_fee=88.88",
			      "total_amount=88.88", "trade_no=2026112122001400001", "trade_status=TRADE_CLOSED", NULL};
	expect(ali_send(ref2, ali_key, NULL, NULL), 200, "success");
	ck_assert_int_eq(balance("ten_2"), 0);
	ck_assert_int_eq(q("SELECT sum(amount_minor) FROM ledger_entries WHERE kind = 'refund'"), -8888);
	/* amounts are parsed exactly: three decimals is not an amount in CNY */
	char otn2[64], p2[128];
	order("ten_2", "alipay", 100, otn2);
	snprintf(p2, sizeof p2, "out_trade_no=%s", otn2);
	const char *odd[] = {"app_id=" APP_ID, p2, "total_amount=1.001", "trade_no=2026112122001400002",
			     "trade_status=TRADE_SUCCESS", NULL};
	expect(ali_send(odd, ali_key, NULL, NULL), 400, "fail");
	ck_assert_int_eq(balance("ten_2"), 0);
}
END_TEST

/* ---- Stripe ---- */

static struct th_resp stripe_send(const char *body, const char *secret, long age_s)
{
	char msg[8192], hex[65], h[256];
	long t = (long)time(NULL) - age_s;
	int n = snprintf(msg, sizeof msg, "%ld.%s", t, body);
	unsigned char mac[32];
	unsigned ml;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, (size_t)n, mac, &ml);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	snprintf(h, sizeof h, "Stripe-Signature: t=%ld,v1=%s", t, hex);
	const char *hdrs[] = {h, NULL};
	return th_req(&srv, "POST", "/v1/webhooks/payments/stripe", NULL, body, hdrs);
}

START_TEST(stripe_two_events_one_payment)
{
	char otn[64], session[1024], intent[1024], refund[512];
	order("ten_2", "stripe", 2500, otn);
	snprintf(session, sizeof session,
		 "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"checkout.session.completed\",\"data\":{\"object\":"
		 "{\"id\":\"cs_test_1\",\"object\":\"checkout.session\",\"amount_total\":2500,\"currency\":\"cny\","
		 "\"client_reference_id\":\"%s\",\"metadata\":{},\"payment_intent\":\"pi_1\",\"payment_status\":\"paid\"}}}",
		 otn);
	snprintf(intent, sizeof intent,
		 "{\"id\":\"evt_2\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
		 "{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"amount\":2500,\"amount_received\":2500,"
		 "\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"%s\"}}}}", otn);
	expect(stripe_send(session, "whsec_other", 0), 401, "invalid_signature");
	expect(stripe_send(session, WHSEC, 301), 401, "expired");
	expect(stripe_send(session, WHSEC, 0), 200, "credited");
	expect(stripe_send(intent, WHSEC, 0), 200, "replay");
	expect(stripe_send(session, WHSEC, 0), 200, "replay");
	ck_assert_int_eq(balance("ten_2"), 2500);
	/* events we do not act on are received */
	expect(stripe_send("{\"id\":\"evt_3\",\"type\":\"customer.created\",\"data\":{\"object\":{}}}", WHSEC, 0), 200,
	       "received");
	/* charge.refunded reports the total refunded so far */
	snprintf(refund, sizeof refund,
		 "{\"id\":\"evt_4\",\"type\":\"charge.refunded\",\"data\":{\"object\":{\"id\":\"ch_1\",\"object\":\"charge\","
		 "\"payment_intent\":\"pi_1\",\"amount\":2500,\"amount_refunded\":%d,\"currency\":\"cny\"}}}", 1000);
	expect(stripe_send(refund, WHSEC, 0), 200, "refund");
	expect(stripe_send(refund, WHSEC, 0), 200, "replay");
	ck_assert_int_eq(balance("ten_2"), 1500);
	/* a payment with no order but our tenant in metadata: whatever was paid */
	expect(stripe_send("{\"id\":\"evt_5\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
			   "{\"id\":\"pi_2\",\"amount_received\":700,\"currency\":\"cny\",\"metadata\":{\"tenant_id\":\"ten_2\"}}}}",
			   WHSEC, 0), 200, "credited");
	ck_assert_int_eq(balance("ten_2"), 2200);
	/* ... in another currency: a conflict */
	expect(stripe_send("{\"id\":\"evt_6\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
			   "{\"id\":\"pi_3\",\"amount_received\":700,\"currency\":\"usd\",\"metadata\":{\"tenant_id\":\"ten_2\"}}}}",
			   WHSEC, 0), 200, "conflict");
	ck_assert_int_eq(balance("ten_2"), 2200);
	ck_assert_int_eq(q("SELECT count(*) FROM payment_conflicts WHERE reason = 'currency_mismatch'"), 1);
}
END_TEST

/* ---- conflicts, orders, configuration ---- */

START_TEST(conflicts_resolved_by_finance)
{
	char otn[64];
	order("ten_1", "stripe", 1000, otn);
	char body[1024];
	snprintf(body, sizeof body,
		 "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{\"id\":\"pi_9\","
		 "\"amount_received\":1200,\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"%s\"}}}}", otn);
	expect(stripe_send(body, WHSEC, 0), 200, "conflict");
	expect(stripe_send("{\"id\":\"evt_2\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{\"id\":\"pi_10\","
			   "\"amount_received\":300,\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"wt_unknown\"}}}}",
			   WHSEC, 0), 200, "conflict");
	ck_assert_int_eq(balance("ten_1"), 0);
	/* a tenant key may not see conflicts; a bad action is a 400 naming the field */
	struct th_resp r = th_req(&srv, "GET", "/v1/payment-conflicts", ten1, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/payment-conflicts/pcf_1/resolve", fin, "{\"action\":\"keep\",\"reason\":\"x\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body, "action"));
	th_resp_free(&r);
	/* credit what was paid (1200, not the order's 1000) */
	json_t *c = th_ok(&srv, "POST", "/v1/payment-conflicts/pcf_1/resolve", fin,
			  "{\"action\":\"credit\",\"reason\":\"tenant paid 12.00 at the counter's request\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(c, "state")), "credited");
	ck_assert(json_is_string(json_object_get(c, "ledger_entry_id")));
	json_decref(c);
	ck_assert_int_eq(balance("ten_1"), 1200);
	r = th_req(&srv, "POST", "/v1/payment-conflicts/pcf_1/resolve", fin, "{\"action\":\"credit\",\"reason\":\"again\"}", NULL);
	ck_assert_int_eq(r.status, 409);
	th_resp_free(&r);
	ck_assert_int_eq(balance("ten_1"), 1200);
	/* the unknown order names nobody: crediting needs a tenant */
	r = th_req(&srv, "POST", "/v1/payment-conflicts/pcf_2/resolve", fin, "{\"action\":\"credit\",\"reason\":\"x\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body, "tenant_id"));
	th_resp_free(&r);
	json_decref(th_ok(&srv, "POST", "/v1/payment-conflicts/pcf_2/resolve", fin,
			  "{\"action\":\"reject\",\"reason\":\"refunded to the payer by the provider\"}", 200));
	ck_assert_int_eq(balance("ten_1"), 1200);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action LIKE 'payment_conflict.%'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM payments WHERE status = 'rejected'"), 1);
	/* the credited conflict has its receipt (what was paid, the provider's id); the rejected none */
	ck_assert_int_eq(q("SELECT count(*) FROM receipts"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts WHERE series = 'TOPUP' AND amount_minor = 1200"
			   " AND channel = 'stripe' AND provider_txn_id = 'pi_9' AND tenant_id = 1"), 1);
	json_t *l = th_ok(&srv, "GET", "/v1/payment-conflicts?state=open", fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "items")), 0);
	json_decref(l);
}
END_TEST

START_TEST(orders_validated_and_scoped)
{
	struct th_resp r;
	const char *bad[] = {"{\"tenant_id\":\"ten_1\",\"amount_minor\":10.5,\"provider\":\"wechat\"}",
			     "{\"tenant_id\":\"ten_1\",\"amount_minor\":\"100\",\"provider\":\"wechat\"}",
			     "{\"tenant_id\":\"ten_1\",\"amount_minor\":0,\"provider\":\"wechat\"}",
			     "{\"tenant_id\":\"ten_1\",\"amount_minor\":100,\"provider\":\"paypal\"}",
			     "{\"tenant_id\":\"ten_9\",\"amount_minor\":100,\"provider\":\"wechat\"}", NULL};
	for (int i = 0; bad[i]; i++) {
		r = th_req(&srv, "POST", "/v1/topup-orders", fin, bad[i], NULL);
		ck_assert_msg(r.status == 400, "%s: %ld %s", bad[i], r.status, r.body);
		th_resp_free(&r);
	}
	/* a tenant orders for itself, not for others, and sees only its own orders */
	json_decref(th_ok(&srv, "POST", "/v1/topup-orders", ten1,
			  "{\"tenant_id\":\"ten_1\",\"amount_minor\":100,\"provider\":\"alipay\"}", 201));
	r = th_req(&srv, "POST", "/v1/topup-orders", ten1, "{\"tenant_id\":\"ten_2\",\"amount_minor\":100,\"provider\":\"alipay\"}", NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	r = th_req(&srv, "GET", "/v1/topup-orders/ord_1", ten2, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	/* the same Idempotency-Key gives the same order */
	const char *h[] = {"Idempotency-Key: order-7", NULL};
	const char *body = "{\"tenant_id\":\"ten_1\",\"amount_minor\":700,\"provider\":\"stripe\"}";
	struct th_resp a = th_req(&srv, "POST", "/v1/topup-orders", fin, body, h);
	struct th_resp b = th_req(&srv, "POST", "/v1/topup-orders", fin, body, h);
	ck_assert_int_eq(a.status, 201);
	ck_assert_str_eq(a.body, b.body);
	th_resp_free(&a);
	th_resp_free(&b);
	ck_assert_int_eq(q("SELECT count(*) FROM topup_orders"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'topup_order.create'"), 2);
	/* an order expires; a payment the provider still reports for it is credited: the
	 * tenant's money has been taken */
	struct th_server quick;
	const char *env[] = {"WATTLE_STRIPE_WEBHOOK_SECRET=" WHSEC, "WATTLE_TOPUP_ORDER_TTL_S=1",
			     "WATTLE_PAY_URL=https://portal.example/pay", NULL};
	th_server_start(&quick, db, env);
	json_t *o = th_ok(&quick, "POST", "/v1/topup-orders", fin,
			  "{\"tenant_id\":\"ten_2\",\"amount_minor\":450,\"provider\":\"stripe\"}", 201);
	char otn[64], path[64], ev[512];
	snprintf(otn, sizeof otn, "%s", json_string_value(json_object_get(o, "out_trade_no")));
	snprintf(path, sizeof path, "/v1/topup-orders/%s", json_string_value(json_object_get(o, "id")));
	json_decref(o);
	usleep(1200000);
	o = th_ok(&quick, "GET", path, fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "expired");
	json_decref(o);
	snprintf(ev, sizeof ev, "{\"id\":\"evt_9\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
		 "{\"id\":\"pi_late\",\"amount_received\":450,\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"%s\"}}}}", otn);
	expect(stripe_send(ev, WHSEC, 0), 200, "credited"); /* srv and quick share the database */
	o = th_ok(&quick, "GET", path, fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "paid");
	json_decref(o);
	ck_assert_int_eq(th_server_stop(&quick), 0);
	ck_assert_int_eq(balance("ten_2"), 450);
	/* payment metrics are graphed */
	r = th_req(&srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert(strstr(r.body, "wattle_payment_notifications_total{provider=\"wechat\",outcome=\"credited\"} 0"));
	ck_assert(strstr(r.body, "wattle_payment_notifications_total{provider=\"stripe\",outcome=\"credited\"} 1"));
	th_resp_free(&r);
}
END_TEST

START_TEST(unconfigured_provider_accepts_nothing)
{
	/* A second server with no payment settings at all. */
	struct th_server bare;
	th_server_start(&bare, db, NULL);
	struct th_resp r = th_req(&bare, "POST", "/v1/webhooks/payments/wechat", NULL, "{}", NULL);
	ck_assert_int_eq(r.status, 503);
	ck_assert(strstr(r.body, "\"code\":\"FAIL\""));
	th_resp_free(&r);
	const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	r = th_req(&bare, "POST", "/v1/webhooks/payments/alipay", NULL, "trade_status=TRADE_SUCCESS", form);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body, "fail");
	th_resp_free(&r);
	r = th_req(&bare, "POST", "/v1/webhooks/payments/stripe", NULL, "{}", NULL);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(th_err(&r), "provider_not_configured");
	th_resp_free(&r);
	r = th_req(&bare, "POST", "/v1/topup-orders", fin, "{\"tenant_id\":\"ten_1\",\"amount_minor\":100,\"provider\":\"wechat\"}", NULL);
	ck_assert_int_eq(r.status, 503);
	th_resp_free(&r);
	ck_assert_int_eq(th_server_stop(&bare), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM payments"), 0);
}
END_TEST

/* moved_meter_supersedes_pending_restore: five statements queued meter commands with three
 * rules; the one for a meter joining a cut-off tenant neither superseded a pending restore
 * nor set the account's supply, so the gateway got the restore and then the cut (a shop
 * lit for a moment). Now every command goes through one writer. */
START_TEST(moved_meter_supersedes_pending_restore)
{
	dark_mall("[]");
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/topups", fin,
			  "{\"amount_minor\":5000,\"channel\":\"cash\",\"reference\":\"till 1\"}", 201));
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE meter_id = 1 AND state = 'pending' AND action = 'restore'"), 1);
	/* M-1 moves to Shop 2, which is dark: its pending restore must not run */
	json_decref(th_ok(&srv, "PATCH", "/v1/meters/M-1", srv.admin_key, "{\"tenant_id\":\"ten_2\"}", 200));
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE meter_id = 1 AND state = 'pending'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE meter_id = 1 AND state = 'pending' AND action = 'cut_off'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE meter_id = 1 AND action = 'restore' AND state = 'superseded'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE tenant_id = 2 AND supply = 'pending_off'"), 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("payments");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 120);
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, wechat_credits_once_and_restores);
	tcase_add_test(core, moved_meter_supersedes_pending_restore);
	tcase_add_test(core, wechat_forgeries_credit_nothing);
	tcase_add_test(core, wechat_refund);
	tcase_add_test(core, alipay_success_then_finished);
	tcase_add_test(core, stripe_two_events_one_payment);
	tcase_add_test(core, conflicts_resolved_by_finance);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_set_timeout(lim, 120);
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_add_test(lim, twenty_at_once_credit_once);
	tcase_add_test(lim, orders_validated_and_scoped);
	tcase_add_test(lim, unconfigured_provider_accepts_nothing);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
