/* test_db.c: the SQL layer against a real PostgreSQL: migrations, postings, transactions. */
#include "harness.h"

#include "api/api.h"
#include "server/statements.h"
#include "ops/ledger.h"
#include "store/db.h"
#include "store/migrate.h"
#include "store/outbox.h"

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *db;

static void setup(void)
{
	db = th_fresh_db();
	srv_register_statements();
	db_set_conninfo(db);
}

static void teardown(void)
{
	th_assert_ledger_invariant(db);
	db_close_all();
	free(db);
}

/* A site with one tenant and its account; returns the tenant id. */
static int64_t seed_tenant(void)
{
	PQclear(th_sql(db, "INSERT INTO sites (name, timezone, currency, created_at)"
			   " VALUES ('S', 'Asia/Shanghai', 'CNY', now())"));
	PQclear(th_sql(db, "INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating,"
			   " created_at, updated_at) SELECT max(id), 'T', 'retail', 100, 'A', now(), now() FROM sites"));
	PQclear(th_sql(db, "INSERT INTO accounts (tenant_id, currency, created_at, updated_at)"
			   " SELECT max(id), 'CNY', now(), now() FROM tenants"));
	return th_sql_int(db, "SELECT max(id) FROM tenants");
}

/* How many migrations the binary carries: their numbers may have gaps (two branches each
 * add one; a later number may land first), so the count, not the latest number. */
static int migrations_embedded(void)
{
	int n = 0;
	for (const struct migration *m = srv_migrations; m->sql; m++)
		n++;
	return n;
}

START_TEST(migrate_is_idempotent)
{
	/* The template is migrated already: nothing more to apply. */
	ck_assert_int_eq(srv_migrate(db), 0);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM schema_migrations"), migrations_embedded());
	ck_assert_int_eq(th_sql_int(db, "SELECT max(version) FROM schema_migrations"), srv_migrations_latest());
}
END_TEST

START_TEST(migrate_concurrently_applies_once)
{
	/* An empty database, and four processes migrating it at the same moment. */
	char name[64], sql[128], base[600], *target;
	snprintf(name, sizeof name, "empty_%d", (int)getpid());
	snprintf(base, sizeof base, "%s dbname=postgres", getenv("WATTLE_TEST_PG"));
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PQclear(th_sql(base, sql));
	target = malloc(700);
	snprintf(target, 700, "%s dbname=%s", getenv("WATTLE_TEST_PG"), name);
	pid_t kids[4];
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(srv_migrate(target) < 0 ? 1 : 0);
	}
	for (int i = 0; i < 4; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "migrator %d failed", i);
	}
	ck_assert_int_eq(th_sql_int(target, "SELECT count(*) FROM schema_migrations"), migrations_embedded());
	ck_assert_int_eq(th_sql_int(target, "SELECT count(*) FROM pg_tables WHERE tablename = 'ledger_entries'"), 1);
	free(target);
}
END_TEST

struct post_arg {
	int64_t tenant, amount;
	struct bill_entry e;
	enum bill_post_result res;
};

static enum db_status post_cb(PGconn *c, void *arg)
{
	struct post_arg *a = arg;
	return bill_post(c, a->tenant, "adjustment", a->amount, "{\"reason\":\"test\"}", "req-1",
			 INT64_C(1759276800000000), &a->e, &a->res);
}

START_TEST(ledger_posts_and_balances)
{
	int64_t t = seed_tenant();
	int64_t amounts[] = {10000, -2500, -7501, 1};
	int64_t bal = 0;
	for (size_t i = 0; i < 4; i++) {
		struct post_arg a = {t, amounts[i], {0}, POST_OK};
		ck_assert_int_eq(db_run_tx(post_cb, &a), DB_OK);
		ck_assert_int_eq(a.res, POST_OK);
		ck_assert_int_eq(a.e.balance_before_minor, bal);
		bal += amounts[i];
		ck_assert_int_eq(a.e.balance_after_minor, bal);
	}
	ck_assert_int_eq(th_sql_int(db, "SELECT balance_minor FROM accounts"), 0);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM ledger_entries"), 4);
	struct post_arg none = {t + 1000, 5, {0}, POST_OK};
	ck_assert_int_eq(db_run_tx(post_cb, &none), DB_OK);
	ck_assert_int_eq(none.res, POST_NO_ACCOUNT);
}
END_TEST

START_TEST(ledger_refuses_overflow)
{
	int64_t t = seed_tenant();
	struct post_arg a = {t, INT64_MAX, {0}, POST_OK};
	ck_assert_int_eq(db_run_tx(post_cb, &a), DB_OK);
	ck_assert_int_eq(a.res, POST_OK);
	struct post_arg b = {t, 1, {0}, POST_OK};
	ck_assert_int_eq(db_run_tx(post_cb, &b), DB_OK);
	ck_assert_int_eq(b.res, POST_OVERFLOW);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM ledger_entries"), 1);
	ck_assert_int_eq(th_sql_int(db, "SELECT (balance_minor = 9223372036854775807)::int FROM accounts"), 1);
}
END_TEST

START_TEST(ledger_is_append_only)
{
	int64_t t = seed_tenant();
	struct post_arg a = {t, 500, {0}, POST_OK};
	ck_assert_int_eq(db_run_tx(post_cb, &a), DB_OK);
	PGconn *c = PQconnectdb(db);
	PGresult *r = PQexec(c, "UPDATE ledger_entries SET amount_minor = 1");
	ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	r = PQexec(c, "DELETE FROM ledger_entries");
	ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	PQfinish(c);
	ck_assert_int_eq(th_sql_int(db, "SELECT amount_minor FROM ledger_entries"), 500);
}
END_TEST

/* The ledger's reference to its account, checked per statement (0012): an entry for an
 * account that does not exist is refused, in a batch too, and accounts cannot be deleted. */
START_TEST(ledger_entries_need_their_account)
{
	int64_t t = seed_tenant();
	struct post_arg a = {t, 500, {0}, POST_OK};
	ck_assert_int_eq(db_run_tx(post_cb, &a), DB_OK);
	int64_t acct = th_sql_int(db, "SELECT id FROM accounts");
	PGconn *c = PQconnectdb(db);
	char sql[400];
	snprintf(sql, sizeof sql,
		 "INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor)"
		 " VALUES (%lld, now(), 'topup', 1, 501), (%lld, now(), 'topup', 1, 1)",
		 (long long)acct, (long long)acct + 1000);
	PGresult *r = PQexec(c, sql);
	ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
	ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23503");
	PQclear(r);
	const char *refused[] = {"DELETE FROM accounts", "TRUNCATE accounts CASCADE"};
	for (int i = 0; i < 2; i++) {
		r = PQexec(c, refused[i]);
		ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR, "%s was allowed", refused[i]);
		PQclear(r);
	}
	snprintf(sql, sizeof sql,
		 "INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor)"
		 " VALUES (%lld, now(), 'topup', 0, 500)", (long long)acct);
	r = PQexec(c, sql); /* the account exists: the check lets it through */
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM ledger_entries"), 2);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM accounts"), 1);
}
END_TEST

static int attempts;

static enum db_status conflict_once_cb(PGconn *c, void *arg)
{
	(void)arg;
	attempts++;
	PGresult *r = PQexec(c, attempts == 1
					? "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$"
					: "INSERT INTO sites (name, timezone, currency, created_at)"
					  " VALUES ('retried', 'UTC', 'USD', now())");
	enum db_status st = db_classify(c, r, "test");
	PQclear(r);
	return st;
}

START_TEST(tx_retries_serialization_failure)
{
	attempts = 0;
	ck_assert_int_eq(db_run_tx(conflict_once_cb, NULL), DB_OK);
	ck_assert_int_eq(attempts, 2);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM sites WHERE name = 'retried'"), 1);
}
END_TEST

static enum db_status deadlock_always_cb(PGconn *c, void *arg)
{
	(void)arg;
	attempts++;
	PGresult *r = PQexec(c, "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40P01'; END $$");
	enum db_status st = db_classify(c, r, "test");
	PQclear(r);
	return st;
}

START_TEST(tx_retries_are_bounded)
{
	attempts = 0;
	ck_assert_int_eq(db_run_tx(deadlock_always_cb, NULL), DB_RETRY);
	ck_assert_int_eq(attempts, 8);
}
END_TEST

static enum db_status abort_cb(PGconn *c, void *arg)
{
	(void)arg;
	PQclear(PQexec(c, "INSERT INTO sites (name, timezone, currency, created_at)"
			  " VALUES ('rolled back', 'UTC', 'USD', now())"));
	return DB_ABORT;
}

START_TEST(tx_abort_rolls_back)
{
	ck_assert_int_eq(db_run_tx(abort_cb, NULL), DB_ABORT);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM sites"), 0);
}
END_TEST

/* A statement given the wrong number of parameters is a bug in wattle, not a lost
 * database: it was answered 503 "database_unavailable" with nothing in the log. */
static enum db_status wrong_params_cb(PGconn *c, void *arg)
{
	(void)arg;
	const char *p[2] = {"1", "2"};
	PGresult *r;
	enum db_status st = db_exec(c, "ledger_append", 2, p, &r);
	PQclear(r);
	return st;
}

START_TEST(wrong_parameter_count_is_a_hard_error_not_gone)
{
	ck_assert_int_eq(db_run_tx(wrong_params_cb, NULL), DB_HARD);
}
END_TEST

START_TEST(tx_database_gone_is_503_then_recovers)
{
	attempts = 0;
	ck_assert_int_eq(db_run_tx(conflict_once_cb, NULL), DB_OK); /* connected */
	/* Cut every connection and refuse new ones, as a database restart would. */
	char base[600], sql[300];
	snprintf(base, sizeof base, "%s dbname=postgres", getenv("WATTLE_TEST_PG"));
	const char *name = strstr(db, "dbname=") + 7;
	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", name);
	PQclear(th_sql(base, sql));
	snprintf(sql, sizeof sql,
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'", name);
	PQclear(th_sql(base, sql));
	ck_assert_int_eq(db_run_tx(abort_cb, NULL), DB_GONE);
	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", name);
	PQclear(th_sql(base, sql));
	attempts = 1; /* skip the forced conflict */
	ck_assert_int_eq(db_run_tx(conflict_once_cb, NULL), DB_OK);
}
END_TEST

/* Two pull gateways of one site and a third site's: gateway 1 has meters 1..40 with three
 * commands each, gateway 2 meters 41..50 with one each. */
static void seed_pull(void)
{
	seed_tenant();
	PQclear(th_sql(db, "INSERT INTO sites (name, timezone, currency, created_at) VALUES ('S2', 'UTC', 'CNY', now())"));
	PQclear(th_sql(db, "INSERT INTO gateways (site_id, name, delivery, created_at, updated_at)"
			   " VALUES (1, 'G1', 'pull', now(), now()), (1, 'G2', 'pull', now(), now()),"
			   " (2, 'G3', 'pull', now(), now())"));
	PQclear(th_sql(db, "INSERT INTO meters (serial, site_id, tenant_id, purpose, gateway_id, created_at, updated_at)"
			   " SELECT 'M-' || g, 1, 1, 'tenant', CASE WHEN g <= 40 THEN 1 ELSE 2 END, now(), now()"
			   " FROM generate_series(1, 50) g"));
	PQclear(th_sql(db, "INSERT INTO commands (meter_id, action, reason, origin, created_at, next_attempt_at)"
			   " SELECT m.id, 'cut_off', 'r' || k, 'operator', now(), now() FROM meters m,"
			   " generate_series(1, 3) k WHERE k = 1 OR m.gateway_id = 1 ORDER BY k, m.id"));
}

/* The SQLSTATE of running sql ("" when it ran). Static. */
static const char *sqlstate(const char *sql)
{
	static char state[8];
	PGconn *c = PQconnectdb(db);
	PGresult *r = PQexec(c, sql);
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(state, sizeof state, "%s", s ? s : "");
	PQclear(r);
	PQfinish(c);
	return state;
}

#define PULLERS 4
static _Atomic int handed[200]; /* by command id */

static void *puller(void *arg)
{
	(void)arg;
	PGconn *c = db_conn();
	int64_t gw = 1, lim = 3;
	for (int round = 0; round < 40; round++) {
		struct command_row *v;
		int n;
		ck_assert_int_eq(store_commands_pull(c, &gw, &lim, 1, INT64_C(4102444800000000), INT64_C(60000000), 8, &v, &n),
				 DB_OK);
		for (int i = 0; i < n; i++) {
			ck_assert_int_eq(v[i].gateway_id, 1);
			handed[v[i].id]++;
		}
		free(v);
	}
	db_thread_close();
	return NULL;
}

START_TEST(pull_hands_each_command_once_and_a_meter_one_at_a_time)
{
	seed_pull();
	/* the database refuses a meter on another site's gateway, and a push gateway without url */
	ck_assert_str_eq(sqlstate("UPDATE meters SET gateway_id = 3 WHERE id = 1"), "23503");
	ck_assert_str_eq(sqlstate("INSERT INTO gateways (site_id, name, delivery, created_at, updated_at)"
				  " VALUES (1, 'P', 'push', now(), now())"),
			 "23514");
	/* one statement for both gateways: each its own limit, by gateway then id */
	PGconn *c = db_conn();
	int64_t gws[2] = {2, 1}, lims[2] = {4, 2};
	struct command_row *v;
	int n;
	int64_t now = INT64_C(4102444800000000); /* 2100: every command is due */
	ck_assert_int_eq(store_commands_pull(c, gws, lims, 2, now, INT64_C(60000000), 8, &v, &n), DB_OK);
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(v[0].gateway_id, 1);
	ck_assert_int_eq(v[0].id, 1);
	ck_assert_int_eq(v[1].id, 2);
	ck_assert_int_eq(v[2].gateway_id, 2);
	ck_assert_int_eq(v[2].id, 41);
	ck_assert_str_eq(v[5].state, "sent");
	ck_assert_int_eq(v[5].attempts, 1);
	free(v);
	/* four pullers at once: each meter's first command once, its second not until the first
	 * is settled */
	memset(handed, 0, sizeof handed);
	pthread_t th[PULLERS];
	for (int i = 0; i < PULLERS; i++)
		pthread_create(&th[i], NULL, puller, NULL);
	for (int i = 0; i < PULLERS; i++)
		pthread_join(th[i], NULL);
	for (int id = 3; id <= 40; id++)
		ck_assert_msg(handed[id] == 1, "cmd_%d handed out %d times", id, handed[id]);
	for (int id = 41; id < 200; id++)
		ck_assert_msg(handed[id] == 0, "cmd_%d handed out before its meter's first was settled", id);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM commands WHERE state = 'sent' AND pulled_by = 1"), 40);
	/* the first acked, the meter's next is handed out */
	PQclear(th_sql(db, "UPDATE commands SET state = 'acked', result = 'executed' WHERE id = 1"));
	int64_t one = 1, lim = 10;
	ck_assert_int_eq(store_commands_pull(c, &one, &lim, 1, now, INT64_C(60000000), 8, &v, &n), DB_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(v[0].meter_id, 1);
	ck_assert_int_eq(v[0].id, 51);
	free(v);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("db");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 60);
	tcase_add_test(core, migrate_is_idempotent);
	tcase_add_test(core, migrate_concurrently_applies_once);
	tcase_add_test(core, ledger_posts_and_balances);
	tcase_add_test(core, ledger_is_append_only);
	tcase_add_test(core, ledger_entries_need_their_account);
	tcase_add_test(core, tx_retries_serialization_failure);
	tcase_add_test(core, tx_abort_rolls_back);
	tcase_add_test(core, wrong_parameter_count_is_a_hard_error_not_gone);
	tcase_add_test(core, pull_hands_each_command_once_and_a_meter_one_at_a_time);
	suite_add_tcase(s, core);
	TCase *limits = tcase_create("limits");
	tcase_add_checked_fixture(limits, setup, teardown);
	tcase_set_timeout(limits, 60);
	tcase_add_test(limits, ledger_refuses_overflow);
	tcase_add_test(limits, tx_retries_are_bounded);
	tcase_add_test(limits, tx_database_gone_is_503_then_recovers);
	suite_add_tcase(s, limits);
	return s;
}

int main(void) { return th_run(suite()); }
