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

static Suite *suite(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, verify_passes_then_names_what_is_wrong);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return th_run(suite()); }
