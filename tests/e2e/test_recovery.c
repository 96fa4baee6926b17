/* test_recovery.c: `wattle verify` proves the books from the database alone: it passes on a
 * world that billed, topped up and allocated, and fails naming the check and the rows when
 * a balance or a meter's charges are off. (tests/backup/pitr.sh restores a base backup and
 * WAL into a fresh cluster and runs it there.) */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static struct th_world w;

static void setup(void) { th_world_start(&w, NULL, TH_SITE | TH_TENANT | TH_TARIFF); }
static void teardown(void) { th_world_stop(&w); }

/* Run wattle verify against the world's database: its exit status, and its output. */
static int verify(char *out, size_t n)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "WATTLE_LOG_LEVEL=warn WATTLE_DATABASE_URL='%s' %s verify 2>&1", w.db, WATTLE_BIN);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t k = fread(out, 1, n - 1, p);
	out[k] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(verify_passes_then_names_what_is_wrong)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin, "{\"amount_minor\":50000,\"channel\":\"cash\"}",
			  201));
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0},"
			  "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T01:00:00Z\",\"energy_wh\":3333}]}",
			  200));
	char out[4096];
	ck_assert_msg(verify(out, sizeof out) == 0, "%s", out);
	ck_assert_msg(strstr(out, "ok     balances      1 checked"), "%s", out);
	ck_assert_msg(strstr(out, "ok     meter_cost    1 checked"), "%s", out);
	ck_assert_msg(strstr(out, "ok     ledger_chain  2 checked"), "%s", out);
	/* a balance off by one fen, and a meter's charges off by one: both named */
	PQclear(th_sql(w.db, "UPDATE accounts SET balance_minor = balance_minor + 1 WHERE tenant_id = 1"));
	PQclear(th_sql(w.db, "UPDATE meter_state SET charged_minor = charged_minor + 1 WHERE meter_id = 1"));
	ck_assert_int_eq(verify(out, sizeof out), 1);
	ck_assert_msg(strstr(out, "FAILED balances      1 of 1") && strstr(out, "(first: acct_1)"), "%s", out);
	ck_assert_msg(strstr(out, "FAILED meter_cost    1 of 1") && strstr(out, "mtr_1"), "%s", out);
	ck_assert_msg(strstr(out, "FAILED meter_ledger") && strstr(out, "3 checks failed"), "%s", out);
	ck_assert_msg(strstr(out, "ok     ledger_chain"), "%s", out);
	PQclear(th_sql(w.db, "UPDATE accounts SET balance_minor = balance_minor - 1 WHERE tenant_id = 1"));
	PQclear(th_sql(w.db, "UPDATE meter_state SET charged_minor = charged_minor - 1 WHERE meter_id = 1"));
	ck_assert_msg(verify(out, sizeof out) == 0, "%s", out);
	/* a database that is not there is not a pass */
	char cmd[512];
	snprintf(cmd, sizeof cmd, "WATTLE_LOG_LEVEL=error WATTLE_DATABASE_URL='host=/nonexistent' %s verify >/dev/null 2>&1",
		 WATTLE_BIN);
	int st = system(cmd);
	ck_assert_int_eq(WEXITSTATUS(st), 2);
}
END_TEST

/* The audit log says who, when, from where and what for every change, an admin can search
 * it, and a row deleted behind the API's back (the triggers refuse it; a superuser can
 * drop them) breaks the hash chain where it was. */
START_TEST(audit_is_searchable_and_chained)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin, "{\"amount_minor\":700,\"channel\":\"cash\"}",
			  201));
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"name\":\"Noodle Bar 2\"}", 200));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Tea\",\"category\":\"catering\",\"area_m2\":\"20\","
			  "\"credit_rating\":\"B\"}", 201));
	/* the finance key is the one created fourth (admin, finance, operator, gateway, ...) */
	long long fin_key = th_sql_int(w.db, "SELECT api_key_id FROM audit_log WHERE action = 'topup'");
	char path[160];
	snprintf(path, sizeof path, "/v1/audit?actor=key_%lld&resource=ten_1", fin_key);
	json_t *l = th_ok(&w.srv, "GET", path, w.srv.admin_key, NULL, 200);
	json_t *items = json_object_get(l, "items");
	ck_assert_int_eq(json_array_size(items), 3); /* tenant.create of ten_1, the top-up, the update */
	json_t *top = json_array_get(items, 1);
	ck_assert_str_eq(json_string_value(json_object_get(top, "action")), "topup");
	ck_assert_str_eq(json_string_value(json_object_get(top, "client_addr")), "127.0.0.1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(top, "actor"), "role")), "finance");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(top, "target"), "amount_minor")), 700);
	ck_assert_int_eq(strlen(json_string_value(json_object_get(top, "hash"))), 64);
	json_decref(l);
	l = th_ok(&w.srv, "GET", "/v1/audit?action=tenant.create", w.srv.admin_key, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "items")), 2);
	json_decref(l);
	struct th_resp r = th_req(&w.srv, "GET", "/v1/audit", w.fin, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	r = th_req(&w.srv, "GET", "/v1/audit?actor=ten_1", w.srv.admin_key, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	/* append-only, and a deletion behind its back shows */
	char out[4096];
	ck_assert_msg(verify(out, sizeof out) == 0, "%s", out);
	PGconn *pc = PQconnectdb(w.db);
	PGresult *d = PQexec(pc, "DELETE FROM audit_log WHERE action = 'topup'");
	ck_assert_int_ne(PQresultStatus(d), PGRES_COMMAND_OK);
	ck_assert_ptr_nonnull(strstr(PQresultErrorMessage(d), "append-only"));
	PQclear(d);
	PQfinish(pc);
	long long next = th_sql_int(w.db, "SELECT id FROM audit_log WHERE chain_seq ="
				    " (SELECT chain_seq + 1 FROM audit_log WHERE action = 'topup')");
	PQclear(th_sql(w.db, "ALTER TABLE audit_log DISABLE TRIGGER audit_no_update;"
			     " DELETE FROM audit_log WHERE action = 'topup';"
			     " ALTER TABLE audit_log ENABLE TRIGGER audit_no_update"));
	ck_assert_int_eq(verify(out, sizeof out), 1);
	char want[64];
	snprintf(want, sizeof want, "(first: aud_%lld)", next);
	ck_assert_msg(strstr(out, "FAILED audit_chain") && strstr(out, want), "%s", out);
}
END_TEST

/* verify_vacant_meter_is_not_a_false_alarm: a meter that billed while vacant and then got a
 * tenant charged minor units no ledger holds; verify reported its books wrong forever. And
 * the audit chain's head row cannot be deleted (auditing would stop with it). */
START_TEST(verify_vacant_meter_is_not_a_false_alarm)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"V-1\",\"site_id\":\"site_1\",\"tariff_id\":\"trf_1\",\"purpose\":\"other\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"V-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0},"
			  "{\"meter\":\"V-1\",\"ts\":\"2026-11-01T01:00:00Z\",\"energy_wh\":5000}]}",
			  200));
	json_decref(th_ok(&w.srv, "PATCH", "/v1/meters/V-1", w.ops, "{\"tenant_id\":\"ten_1\",\"purpose\":\"tenant\"}",
			  200));
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"V-1\",\"ts\":\"2026-11-01T02:00:00Z\",\"energy_wh\":9000}]}", 200));
	char out[4096];
	ck_assert_msg(verify(out, sizeof out) == 0, "%s", out);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT unposted_minor FROM meter_state WHERE meter_id = 1"), 617);
	PGconn *pc = PQconnectdb(w.db);
	PGresult *d = PQexec(pc, "DELETE FROM audit_head");
	ck_assert_int_ne(PQresultStatus(d), PGRES_COMMAND_OK);
	PQclear(d);
	PQfinish(pc);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, verify_passes_then_names_what_is_wrong);
	tcase_add_test(tc, audit_is_searchable_and_chained);
	tcase_add_test(tc, verify_vacant_meter_is_not_a_false_alarm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return th_run(suite()); }
