/* test_moveout.c: a tenant moves out, through the real binary, with each settlement: its
 * final readings billed, its share of the month's lighting so far over the days it was
 * there, a final statement, the balance paid out in cash, refunded through the payments it
 * came from (largest first, old ones in cash), or left as arrears; its meters vacant, its
 * account closed to new money, and nothing of it twice. wattle's clock starts on
 * 2026-10-20 12:00 in Shanghai, so October is the month still open. */
#include "fakepay.h"
#include "harness.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define START 1792468800LL /* 2026-10-20T12:00:00+08:00 */
#define WHSEC "whsec_moveout_test"
#define SK "sk_test_wattle_moveout_4eC39HqLyjWDarjt"

static struct th_world w;
static struct fakepay *stripe; /* Stripe's fake: wattle asks it for the refunds */

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static long long balance(const char *tenant)
{
	char path[64];
	snprintf(path, sizeof path, "/v1/tenants/%s/account", tenant);
	json_t *a = th_ok(&w.srv, "GET", path, w.fin, NULL, 200);
	long long b = json_integer_value(json_object_get(a, "balance_minor"));
	json_decref(a);
	return b;
}

/* Two shops of 50 m2 (ten_2 moved in on 6 October), a flat tariff of 1 CNY/kWh, ten_1's meter
 * SHOP1 (100 kWh by the 10th: 100.00 CNY charged) and the corridor lighting LIGHT (300 kWh by
 * the 15th). */
static void setup(void)
{
	static char e_start[64], e_anchor[64];
	snprintf(e_start, sizeof e_start, "WATTLE_CLOCK_START=%lld", START);
	snprintf(e_anchor, sizeof e_anchor, "WATTLE_CLOCK_ANCHOR=%lld", (long long)time(NULL));
	static char e_base[128];
	struct fakepay_keys sk = {NULL, NULL, NULL, NULL, NULL, NULL, SK};
	ck_assert_ptr_nonnull(stripe = fakepay_start("stripe", &sk));
	char base[96];
	snprintf(e_base, sizeof e_base, "WATTLE_STRIPE_API_BASE=%s", fakepay_base(stripe, base, sizeof base));
	const char *env[] = {e_start, e_anchor, "WATTLE_STRIPE_WEBHOOK_SECRET=" WHSEC, "WATTLE_STRIPE_SECRET_KEY=" SK,
			     e_base, "WATTLE_PAY_URL=https://portal.example/pay", NULL};
	th_world_start(&w, env, TH_SITE);
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Shop 1\",\"category\":\"retail\",\"area_m2\":\"50.00\","
			  "\"credit_rating\":\"A\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Shop 2\",\"category\":\"retail\",\"area_m2\":\"50.00\","
			  "\"credit_rating\":\"A\",\"move_in\":\"2026-10-06\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/tariffs", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":1000000,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"SHOP1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"LIGHT\",\"site_id\":\"site_1\",\"purpose\":\"lighting\",\"tariff_id\":\"trf_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"SHOP1\",\"ts\":\"2026-10-01T00:00:00+08:00\",\"energy_wh\":0},"
			  "{\"meter\":\"SHOP1\",\"ts\":\"2026-10-10T00:00:00+08:00\",\"energy_wh\":100000},"
			  "{\"meter\":\"LIGHT\",\"ts\":\"2026-10-01T00:00:00+08:00\",\"energy_wh\":0},"
			  "{\"meter\":\"LIGHT\",\"ts\":\"2026-10-15T12:00:00+08:00\",\"energy_wh\":300000}]}", 200));
	ck_assert_int_eq(balance("ten_1"), -10000);
}

static void teardown(void)
{
	th_world_stop(&w);
	fakepay_stop(stripe);
	stripe = NULL;
}

/* The tenant paid pi at Stripe (the fake knows the PaymentIntent, so it can be refunded). */
static void stripe_knows(const char *pi, long long amount)
{
	pthread_mutex_lock(&stripe->mu);
	struct fake_trade *t = fake_trade_add(stripe);
	snprintf(t->out_trade_no, sizeof t->out_trade_no, "wt_%s", pi);
	snprintf(t->txn, sizeof t->txn, "%s", pi);
	snprintf(t->currency, sizeof t->currency, "cny");
	snprintf(t->mode, sizeof t->mode, "checkout");
	t->amount = amount;
	t->created_s = t->paid_s = (int64_t)time(NULL);
	t->state = FT_PAID;
	pthread_mutex_unlock(&stripe->mu);
}

/* Poll sql until it gives want (or ms pass); its last value. */
static long long wait_for(const char *sql, long long want, int ms)
{
	long long v = q(sql);
	for (int i = 0; v != want && i < ms / 50; i++) {
		usleep(50 * 1000);
		v = q(sql);
	}
	return v;
}

/* The move-out body: at 18:00 on the 15th, SHOP1's last reading at 17:00 (50 kWh more). */
static const char *body(const char *settlement)
{
	static char b[512];
	snprintf(b, sizeof b,
		 "{\"at\":\"2026-10-15T18:00:00+08:00\",\"settlement\":\"%s\",\"final_readings\":"
		 "[{\"meter_id\":\"mtr_1\",\"ts\":\"2026-10-15T17:00:00+08:00\",\"energy_wh\":150000}]}", settlement);
	return b;
}

static long long i64(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void topup(const char *tenant, long long amount, long want)
{
	char path[64], b[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tenant);
	snprintf(b, sizeof b, "{\"amount_minor\":%lld,\"channel\":\"cash\"}", amount);
	struct th_resp r = th_req(&w.srv, "POST", path, w.fin, b, NULL);
	ck_assert_msg(r.status == want, "topup: %ld %s", r.status, r.body);
	if (want == 422)
		ck_assert_str_eq(th_err(&r), "account_closed");
	th_resp_free(&r);
}

/* A Stripe payment_intent.succeeded for tenant, signed as Stripe signs it. */
static struct th_resp stripe_paid(const char *pi, long long amount, const char *tenant)
{
	char ev[1024], msg[2048], hex[65], h[256];
	snprintf(ev, sizeof ev,
		 "{\"id\":\"evt_%s\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
		 "{\"id\":\"%s\",\"object\":\"payment_intent\",\"amount\":%lld,\"amount_received\":%lld,"
		 "\"currency\":\"cny\",\"metadata\":{\"tenant_id\":\"%s\"}}}}", pi, pi, amount, amount, tenant);
	long t = (long)time(NULL);
	int n = snprintf(msg, sizeof msg, "%ld.%s", t, ev);
	unsigned char mac[32];
	unsigned ml;
	HMAC(EVP_sha256(), WHSEC, (int)strlen(WHSEC), (unsigned char *)msg, (size_t)n, mac, &ml);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	snprintf(h, sizeof h, "Stripe-Signature: t=%ld,v1=%s", t, hex);
	const char *hdrs[] = {h, NULL};
	return th_req(&w.srv, "POST", "/v1/webhooks/payments/stripe", NULL, ev, hdrs);
}

static void paid(const char *pi, long long amount, const char *tenant, const char *outcome)
{
	struct th_resp r = stripe_paid(pi, amount, tenant);
	ck_assert_msg(r.status == 200 && strstr(r.body, outcome), "stripe %s: %ld %s", pi, r.status, r.body);
	th_resp_free(&r);
}

START_TEST(cash_with_shared_cost)
{
	/* the lighting shared by area, prorated by the days each shop was there */
	json_decref(th_ok(&w.srv, "POST", "/v1/cost-pools", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Lighting\",\"method\":\"area\",\"meter_ids\":[\"mtr_2\"],"
			  "\"prorate\":true,\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_2\"}]}", 201));
	/* a warning below 100.00 CNY: the cash paid out crosses it, and a closed account warns nobody */
	json_decref(th_ok(&w.srv, "POST", "/v1/credit-policies", w.fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"A\",\"warn_levels_minor\":[10000],\"overdraft_minor\":100000,"
			  "\"grace_minutes\":60}", 201));
	topup("ten_1", 50000, 201);
	long long warned = q("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND kind = 'low_balance'");
	const char *idem[] = {"Idempotency-Key: mo-ten1-1", NULL};
	struct th_resp r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin, body("cash"), idem);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	json_t *m = r.json;
	/* 50 kWh more on SHOP1: 50.00 CNY; the lighting so far (300.00 CNY, 1 to 15 October) by
	 * m2 x days: ten_1 50 x 15, ten_2 50 x 10 (from the 6th) -> 300.00 x 750 / 1250 = 180.00 */
	json_t *ch = json_object_get(m, "charges");
	ck_assert_int_eq(i64(ch, "energy_minor"), 5000);
	ck_assert_int_eq(i64(ch, "shared_minor"), 18000);
	ck_assert_int_eq(i64(m, "final_balance_minor"), 50000 - 10000 - 5000 - 18000);
	ck_assert_int_eq(i64(m, "cash_minor"), 17000);
	ck_assert_int_eq(i64(m, "arrears_minor"), 0);
	ck_assert_int_eq((int)json_array_size(json_object_get(m, "refunds")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "settlement")), "cash");
	ck_assert_str_eq(json_string_value(json_object_get(m, "at_date")), "2026-10-15");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(m, "meter_ids"), 0)), "mtr_1");
	char stmt[32];
	snprintf(stmt, sizeof stmt, "%s", json_string_value(json_object_get(json_object_get(m, "statement"), "id")));
	/* the same key again: the first answer, nothing done again */
	struct th_resp again = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin, body("cash"), idem);
	ck_assert_int_eq(again.status, 201);
	ck_assert_str_eq(again.body, r.body);
	th_resp_free(&again);
	th_resp_free(&r);
	/* the ledger: the energy, the share, the cash paid out; the balance at 0 */
	ck_assert_int_eq(balance("ten_1"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND kind = 'low_balance'"), warned);
	ck_assert_int_eq(q("SELECT -sum(amount_minor) FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
			   " WHERE a.tenant_id = 1 AND kind = 'energy_charge'"), 15000);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
			   " WHERE a.tenant_id = 1 AND kind = 'allocation' AND amount_minor = -18000"
			   " AND ref->>'pool_id' = 'pool_1' AND ref->>'period' = '2026-10' AND (ref->>'days')::int = 15"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
			   " WHERE a.tenant_id = 1 AND kind = 'refund' AND amount_minor = -17000 AND ref->>'channel' = 'cash'"), 1);
	/* with its receipt: a payout, numbered in its own series */
	ck_assert_int_eq(q("SELECT count(*) FROM receipts r JOIN ledger_entries e ON e.id = r.ledger_entry_id"
			   " WHERE r.series = 'PAYOUT' AND r.tenant_id = 1 AND r.amount_minor = 17000 AND r.channel = 'cash'"
			   " AND r.balance_after_minor = 0 AND e.kind = 'refund'"), 1);
	/* the meter is vacant, the tenant gone, the account closed */
	ck_assert_int_eq(q("SELECT count(*) FROM meters WHERE tenant_id = 1"), 0);
	json_t *t = th_ok(&w.srv, "GET", "/v1/tenants/ten_1", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(t, "move_out")), "2026-10-15");
	ck_assert_str_eq(json_string_value(json_object_get(t, "status")), "closed");
	json_decref(t);
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE tenant_id = 1 AND closed_at IS NOT NULL"), 1);
	/* the final statement, stored like the month's and read the same way */
	char path[64];
	snprintf(path, sizeof path, "/v1/reports/%s", stmt);
	json_t *s = th_ok(&w.srv, "GET", path, w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(s, "origin")), "move_out");
	ck_assert_str_eq(json_string_value(json_object_get(s, "kind")), "tenant_statement");
	ck_assert_str_eq(json_string_value(json_object_get(s, "period")), "2026-10");
	json_t *d = json_object_get(s, "data");
	ck_assert_int_eq(i64(d, "closing_balance_minor"), 0);
	ck_assert_int_eq(i64(d, "opening_balance_minor"), 0);
	ck_assert_int_eq(i64(d, "energy_charges_minor"), 15000);
	ck_assert_int_eq(i64(d, "allocations_minor"), 18000);
	ck_assert_int_eq(i64(d, "refunds_minor"), 17000);
	json_t *al = json_array_get(json_object_get(d, "allocations"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(al, "pool")), "Lighting");
	ck_assert_str_eq(json_string_value(json_object_get(al, "period")), "2026-10");
	ck_assert_int_eq(i64(al, "amount_minor"), 18000);
	json_decref(s);
	/* closed to new money: cashier top-ups, orders and provider payments */
	topup("ten_1", 1000, 422);
	struct th_resp o = th_req(&w.srv, "POST", "/v1/topup-orders", w.fin,
				  "{\"tenant_id\":\"ten_1\",\"amount_minor\":1000,\"provider\":\"stripe\"}", NULL);
	ck_assert_msg(o.status == 422 && !strcmp(th_err(&o), "account_closed"), "%ld %s", o.status, o.body);
	th_resp_free(&o);
	paid("pi_late", 1500, "ten_1", "conflict");
	ck_assert_int_eq(q("SELECT count(*) FROM payment_conflicts WHERE reason = 'account_closed'"), 1);
	ck_assert_int_eq(balance("ten_1"), 0);
	topup("ten_2", 1000, 201); /* the other shop still takes money */
	/* a second move-out: 409 with the first */
	struct th_resp twice = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin, body("cash"), NULL);
	ck_assert_int_eq(twice.status, 409);
	json_t *first = json_object_get(json_object_get(json_object_get(twice.json, "error"), "details"), "move_out");
	ck_assert_int_eq(i64(first, "cash_minor"), 17000);
	th_resp_free(&twice);
	json_t *g = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/move-out", w.fin, NULL, 200);
	ck_assert_int_eq(i64(g, "cash_minor"), 17000);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g, "statement"), "id")), stmt);
	json_decref(g);
	struct th_resp none = th_req(&w.srv, "GET", "/v1/tenants/ten_2/move-out", w.fin, NULL, NULL);
	ck_assert_int_eq(none.status, 404);
	th_resp_free(&none);
	ck_assert_int_eq(q("SELECT count(*) FROM move_outs"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM reports WHERE origin = 'move_out'"), 1);
	/* the former meter's readings belong to nobody now */
	long long entries = q("SELECT count(*) FROM ledger_entries");
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"SHOP1\",\"ts\":\"2026-10-18T00:00:00+08:00\",\"energy_wh\":160000},"
			  "{\"meter\":\"LIGHT\",\"ts\":\"2026-10-20T10:00:00+08:00\",\"energy_wh\":400000}]}", 200));
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries"), entries);
	ck_assert_int_eq(q("SELECT unposted_minor FROM meter_state WHERE meter_id = 1"), 1000);
	/* the month's run keeps ten_1's share as it paid it, and ten_2 pays the rest of the 400.00
	 * CNY: ten_1 is charged nothing again */
	json_t *run = th_ok(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\",\"commit\":true}", 201);
	json_t *lines = json_object_get(run, "lines");
	ck_assert_int_eq(i64(run, "total_minor"), 40000);
	ck_assert_int_eq(i64(json_array_get(lines, 0), "amount_minor"), 18000);
	ck_assert(json_is_true(json_object_get(json_array_get(lines, 0), "settled_at_move_out")));
	ck_assert_int_eq(i64(json_array_get(lines, 1), "amount_minor"), 22000);
	json_decref(run);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
			   " WHERE a.tenant_id = 1 AND kind = 'allocation'"), 1);
	ck_assert_int_eq(balance("ten_1"), 0);
	ck_assert_int_eq(balance("ten_2"), 1000 - 22000);
	/* reversing the run gives back only what it posted */
	json_decref(th_ok(&w.srv, "POST", "/v1/allocation-runs/run_1/reverse", w.fin, "{\"reason\":\"check\"}", 200));
	ck_assert_int_eq(balance("ten_1"), 0);
	ck_assert_int_eq(balance("ten_2"), 1000);
	ck_assert_int_eq(q("SELECT (ref->>'line')::int FROM ledger_entries WHERE kind = 'reversal'"), 1);
}
END_TEST

/* One move-out POST of ten_2 (carry), its status into *arg. */
static void *race(void *arg)
{
	struct th_resp r = th_req(&w.srv, "POST", "/v1/tenants/ten_2/move-out", w.fin,
				  "{\"at\":\"2026-10-19T09:00:00+08:00\",\"settlement\":\"carry\"}", NULL);
	*(long *)arg = r.status;
	th_resp_free(&r);
	return NULL;
}

START_TEST(carry_negative_is_arrears)
{
	json_t *m = th_ok(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin, body("carry"), 201);
	ck_assert_int_eq(i64(m, "final_balance_minor"), -15000);
	ck_assert_int_eq(i64(m, "arrears_minor"), 15000);
	ck_assert_int_eq(i64(m, "cash_minor"), 0);
	ck_assert_int_eq(i64(json_object_get(m, "charges"), "shared_minor"), 0);
	json_decref(m);
	ck_assert_int_eq(balance("ten_1"), -15000); /* left for collection */
	json_t *acct = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_int_eq(i64(acct, "arrears_minor"), 15000);
	ck_assert(json_is_string(json_object_get(acct, "closed_at")));
	json_decref(acct);
	acct = th_ok(&w.srv, "GET", "/v1/tenants/ten_2/account", w.fin, NULL, 200);
	ck_assert_int_eq(i64(acct, "arrears_minor"), 0);
	ck_assert(json_is_null(json_object_get(acct, "closed_at")));
	json_decref(acct);
	ck_assert_int_eq(q("SELECT arrears_minor FROM move_outs WHERE tenant_id = 1"), 15000);
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE tenant_id = 1 AND closed_at IS NOT NULL"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'"), 0);
	/* eight move-outs of one tenant at once: one is made, seven find it made */
	pthread_t th[8];
	long status[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, race, &status[i]);
	int made = 0, found = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		made += status[i] == 201;
		found += status[i] == 409;
	}
	ck_assert_int_eq(made, 1);
	ck_assert_int_eq(found, 7);
	ck_assert_int_eq(q("SELECT count(*) FROM move_outs WHERE tenant_id = 2"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM reports WHERE origin = 'move_out' AND tenant_id = 2"), 1);
	/* arrears with "refund" (ten_3): nothing to pay back, and the reply says so */
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Shop 3\",\"category\":\"retail\",\"area_m2\":\"20.00\","
			  "\"credit_rating\":\"A\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_3/adjustments", w.fin,
			  "{\"amount_minor\":-3000,\"reason\":\"fit-out damage\"}", 201));
	m = th_ok(&w.srv, "POST", "/v1/tenants/ten_3/move-out", w.fin,
		  "{\"at\":\"2026-10-19T09:00:00+08:00\",\"settlement\":\"refund\"}", 201);
	ck_assert_int_eq(i64(m, "arrears_minor"), 3000);
	ck_assert_int_eq((int)json_array_size(json_object_get(m, "refunds")), 0);
	ck_assert(strstr(json_string_value(json_object_get(m, "note")), "nothing to pay back"));
	json_decref(m);
	ck_assert_int_eq(balance("ten_3"), -3000);
	ck_assert_int_eq(q("SELECT count(*) FROM refunds"), 0);
	/* an adjustment may still settle the arrears on the closed account */
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_3/adjustments", w.fin,
			  "{\"amount_minor\":3000,\"reason\":\"arrears paid at the office\"}", 201));
	ck_assert_int_eq(balance("ten_3"), 0);
}
END_TEST

START_TEST(carry_positive_refused)
{
	topup("ten_1", 30000, 201);
	long long entries = q("SELECT count(*) FROM ledger_entries"), readings = q("SELECT count(*) FROM readings");
	struct th_resp r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin, body("carry"), NULL);
	ck_assert_msg(r.status == 422, "%ld %s", r.status, r.body);
	ck_assert_int_eq(i64(json_object_get(json_object_get(r.json, "error"), "details"), "balance_minor"), 15000);
	th_resp_free(&r);
	/* nothing changed: not the reading, not the ledger, not the meter, not the tenant */
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries"), entries);
	ck_assert_int_eq(q("SELECT count(*) FROM readings"), readings);
	ck_assert_int_eq(balance("ten_1"), 20000);
	ck_assert_int_eq(q("SELECT count(*) FROM meters WHERE tenant_id = 1"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM tenants WHERE id = 1 AND move_out IS NULL AND status = 'active'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE closed_at IS NOT NULL"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM move_outs"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM reports WHERE origin = 'move_out'"), 0);
	/* the other refusals */
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin,
		   "{\"at\":\"2026-10-15T18:00:00+08:00\",\"settlement\":\"cash\",\"final_readings\":"
		   "[{\"meter_id\":\"mtr_1\",\"ts\":\"2026-10-15T19:00:00+08:00\",\"energy_wh\":150000}]}", NULL);
	ck_assert_int_eq(r.status, 422); /* a final reading after at */
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin,
		   "{\"at\":\"2026-10-15T18:00:00+08:00\",\"settlement\":\"cash\",\"final_readings\":"
		   "[{\"meter_id\":\"mtr_2\",\"ts\":\"2026-10-15T17:00:00+08:00\",\"energy_wh\":350000}]}", NULL);
	ck_assert_int_eq(r.status, 422); /* the lighting is not the tenant's meter */
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin,
		   "{\"at\":\"2026-10-15T18:00:00+08:00\",\"settlement\":\"cash\",\"final_readings\":"
		   "[{\"meter_id\":\"mtr_1\",\"ts\":\"2026-10-15T17:00:00+08:00\",\"energy_wh\":50000}]}", NULL);
	ck_assert_int_eq(r.status, 422); /* the register went backwards: the readings path refuses it */
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin,
		   "{\"at\":\"2026-10-21T18:00:00+08:00\",\"settlement\":\"cash\"}", NULL);
	ck_assert_int_eq(r.status, 422); /* in the future */
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin,
		   "{\"at\":\"2026-09-30T18:00:00+08:00\",\"settlement\":\"cash\"}", NULL);
	ck_assert_int_eq(r.status, 422); /* a month that has ended */
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_2/move-out", w.fin,
		   "{\"at\":\"2026-10-03T18:00:00+08:00\",\"settlement\":\"cash\"}", NULL);
	ck_assert_int_eq(r.status, 422); /* before it moved in */
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin, "{\"at\":\"2026-10-15T18:00:00+08:00\","
		   "\"settlement\":\"gift\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_9/move-out", w.fin, body("cash"), NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.ops, body("cash"), NULL);
	ck_assert_int_eq(r.status, 403); /* finance only */
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries"), entries);
	ck_assert_int_eq(q("SELECT count(*) FROM move_outs"), 0);
}
END_TEST

START_TEST(refund_largest_first)
{
	/* three Stripe payments and SHOP1's 150.00 CNY: 620.00 - 150.00 = 470.00 to pay back */
	stripe_knows("pi_small", 12000);
	stripe_knows("pi_big", 30000);
	stripe_knows("pi_old", 20000);
	paid("pi_small", 12000, "ten_1", "credited");
	paid("pi_big", 30000, "ten_1", "credited");
	paid("pi_old", 20000, "ten_1", "credited");
	/* pi_old was paid 200 days ago: past Stripe's window, so what it would cover goes in cash */
	PQclear(th_sql(w.db, "UPDATE payments SET received_at = received_at - interval '200 days' WHERE provider_txn_id = 'pi_old'"));
	/* and a WeChat payment, the largest, through a provider wattle holds no API credentials for:
	 * nobody to ask, so it is not refunded (its row alone: the balance is the ledger's) */
	PQclear(th_sql(w.db, "INSERT INTO payments (provider, provider_txn_id, tenant_id, amount_minor, currency, status,"
			     " event, received_at) VALUES ('wechat', 'wx_4200', 1, 40000, 'CNY', 'credited', '{}', now())"));
	json_t *m = th_ok(&w.srv, "POST", "/v1/tenants/ten_1/move-out", w.fin, body("refund"), 201);
	ck_assert_int_eq(i64(m, "final_balance_minor"), 47000);
	json_t *rf = json_object_get(m, "refunds");
	ck_assert_int_eq((int)json_array_size(rf), 2);
	long long big = q("SELECT id FROM payments WHERE provider_txn_id = 'pi_big'"),
		  small = q("SELECT id FROM payments WHERE provider_txn_id = 'pi_small'");
	char want[32];
	snprintf(want, sizeof want, "pay_%lld", big);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rf, 0), "payment_id")), want);
	ck_assert_int_eq(i64(json_array_get(rf, 0), "amount_minor"), 30000);
	snprintf(want, sizeof want, "pay_%lld", small);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rf, 1), "payment_id")), want);
	ck_assert_int_eq(i64(json_array_get(rf, 1), "amount_minor"), 12000);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rf, 0), "state")), "pending");
	ck_assert_int_eq(i64(m, "refund_minor"), 42000);
	ck_assert_int_eq(i64(m, "cash_minor"), 5000);
	json_decref(m);
	/* the refunds are asked of the provider, marked as a move-out's */
	char sql[320];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM refunds WHERE origin = 'move_out' AND tenant_id = 1"
		 " AND ((payment_id = %lld AND amount_minor = 30000) OR (payment_id = %lld AND amount_minor = 12000))",
		 big, small);
	ck_assert_int_eq(q(sql), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM refunds"), 2);
	/* the cash part is paid now */
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'refund' AND amount_minor = -5000"
			   " AND ref->>'channel' = 'cash'"), 1);
	/* the refund worker sends them; each debits the balance once Stripe confirms it, to 0 */
	ck_assert_int_eq(wait_for("SELECT count(*) FROM refunds WHERE state = 'succeeded'", 2, 15000), 2);
	ck_assert_int_eq(balance("ten_1"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'"), 3);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts WHERE series = 'PAYOUT' AND amount_minor = 5000"), 1);
	pthread_mutex_lock(&stripe->mu);
	ck_assert_int_eq((int)stripe->nrefunds, 2);
	for (size_t i = 0; i < stripe->nrefunds; i++) {
		const struct fake_refund *f = &stripe->refunds[i];
		ck_assert(!strcmp(f->txn, "pi_big") ? f->amount == 30000 : !strcmp(f->txn, "pi_small") && f->amount == 12000);
	}
	pthread_mutex_unlock(&stripe->mu);
	json_t *g = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/move-out", w.fin, NULL, 200);
	json_t *gr = json_object_get(g, "refunds");
	ck_assert_int_eq((int)json_array_size(gr), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(gr, 0), "state")), "succeeded");
	ck_assert_int_eq(i64(json_array_get(gr, 0), "amount_minor"), 30000);
	json_decref(g);
	/* finance sees them among the refunds */
	g = th_ok(&w.srv, "GET", "/v1/refunds?tenant_id=ten_1", w.fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(g, "items")), 2);
	json_decref(g);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("moveout");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, cash_with_shared_cost);
	tcase_add_test(core, carry_negative_is_arrears);
	tcase_add_test(core, carry_positive_refused);
	tcase_add_test(core, refund_largest_first);
	suite_add_tcase(s, core);
	return s;
}

int main(void) { return th_run(suite()); }
