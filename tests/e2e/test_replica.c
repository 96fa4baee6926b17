/* test_replica.c: reads off the primary (issue 19, item 5). The suite starts its own primary
 * and a hot standby streaming from it (tests/replica/cluster.sh: pg_basebackup -R), so no
 * other suite pays for a standby; the real wattle reads lists, reports and consumption from
 * the standby while it is within WATTLE_REPLICA_MAX_LAG_MS, money and read-your-writes from
 * the primary, and falls back to the primary when the standby lags or is stopped. Then
 * Debian's pgbouncer in front of the primary: session mode carries wattle; transaction mode
 * loses a named prepared statement between transactions, which is why wattle refuses it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* promcheck.h's helpers this suite does not need */
#include "promcheck.h"
#pragma GCC diagnostic pop

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char dir[64];        /* the pair's folder */
static char primary[256];   /* conninfo without dbname */
static char standby[256];
static struct th_world w;
static char replica_env[600];

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* cluster.sh CMD DIR [args]: exit status 0 or the test fails. */
static void cluster(const char *cmd, const char *args)
{
	char line[512];
	snprintf(line, sizeof line, "%s/tests/replica/cluster.sh %s %s %s", WATTLE_SRC, cmd, dir, args ? args : "");
	ck_assert_msg(system(line) == 0, "%s failed", line);
}

/* "dbname=NAME" of a conninfo: NAME, into out. */
static void dbname_of(const char *ci, char *out, size_t n)
{
	const char *d = strstr(ci, "dbname=");
	ck_assert(d != NULL);
	snprintf(out, n, "%s", d + 7);
}

/* The standby's conninfo for the database of ci. */
static void standby_ci(const char *ci, char *out, size_t n)
{
	char db[128];
	dbname_of(ci, db, sizeof db);
	snprintf(out, n, "%s dbname=%s", standby, db);
}

/* SQL on the standby's copy of the world's database. */
static PGresult *on_standby(const char *sql)
{
	char ci[400];
	standby_ci(w.db, ci, sizeof ci);
	return th_sql(ci, sql);
}

static char *scrape(void)
{
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_int_eq(m.status, 200);
	char *b = m.body;
	m.body = NULL;
	th_resp_free(&m);
	return b;
}

static double metric(const char *sample)
{
	char *b = scrape();
	double v = pc_value(b, sample);
	free(b);
	return v;
}

/* Whether GET /v1/tenants lists id (asserting a 200). */
static bool lists(const char *id)
{
	json_t *o = th_ok(&w.srv, "GET", "/v1/tenants", w.fin, NULL, 200);
	bool found = false;
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(o, "items"), i, t)
		found |= !strcmp(json_string_value(json_object_get(t, "id")), id);
	json_decref(o);
	return found;
}

static bool log_has(const char *needle)
{
	FILE *f = fopen(w.srv.log_path, "r");
	ck_assert(f != NULL);
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The world with the replica: a lag bound of 4 s, checked every 100 ms. */
static void setup(void)
{
	/* a test that failed may have left replay paused: resume it (an error is no matter) */
	char sci[300];
	snprintf(sci, sizeof sci, "%s dbname=postgres", standby);
	PGconn *sc = PQconnectdb(sci);
	PQclear(PQexec(sc, "SELECT pg_wal_replay_resume()"));
	PQfinish(sc);
	cluster("standby-start", NULL); /* ... or left it stopped (nothing when it runs) */
	/* th_world_start makes the database, then starts wattle: the standby's copy of the
	 * database must exist by then, so the URL names it before it does, and wattle retries */
	th_world_start(&w, NULL, TH_SITE | TH_TENANT | TH_TARIFF);
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"}", 201));
	th_server_stop(&w.srv);
	char ci[400];
	standby_ci(w.db, ci, sizeof ci);
	for (int i = 0; i < 200; i++) { /* the standby has replayed CREATE DATABASE and the world */
		PGconn *c = PQconnectdb(ci);
		bool ok = PQstatus(c) == CONNECTION_OK;
		PQfinish(c);
		if (ok)
			break;
		usleep(50000);
	}
	snprintf(replica_env, sizeof replica_env, "WATTLE_REPLICA_URL=%s", ci);
	static const char *env[] = {replica_env, "WATTLE_REPLICA_MAX_LAG_MS=4000", "WATTLE_REPLICA_CHECK_MS=100", NULL};
	th_server_restart(&w.srv, env);
}

static void teardown(void) { th_world_stop(&w); }

/* Until the replica serves and has ten_1 (it streams what the world made). */
static void await_replica(void)
{
	for (int i = 0; i < 100; i++) {
		bool listed = lists("ten_1"); /* the lag is checked when reads come */
		if (listed && metric("wattle_db_replica_up") == 1)
			return;
		usleep(100000);
	}
	ck_abort_msg("the replica never served the list (see %s)", w.srv.log_path);
}

START_TEST(lists_from_the_replica_money_from_the_primary_fallback_on_lag)
{
	await_replica();
	double reads0 = metric("wattle_db_replica_reads_total");
	ck_assert(lists("ten_1"));
	ck_assert_double_gt(metric("wattle_db_replica_reads_total"), reads0);

	/* replay paused: what the primary writes from now on is not on the replica */
	PQclear(on_standby("SELECT pg_wal_replay_pause()"));
	for (int i = 0; i < 100; i++) {
		PGresult *r = on_standby("SELECT pg_get_wal_replay_pause_state()");
		bool paused = !strcmp(PQgetvalue(r, 0, 0), "paused");
		PQclear(r);
		if (paused)
			break;
		usleep(20000);
	}
	int64_t paused_at = now_ms();
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Tea House\",\"category\":\"catering\",\"area_m2\":\"40\","
			  "\"credit_rating\":\"A\"}", 201));
	/* the tenant itself is read from the primary (read your writes) ... */
	json_decref(th_ok(&w.srv, "GET", "/v1/tenants/ten_2", w.fin, NULL, 200));
	/* ... and the list from the replica, which has not got it yet */
	bool listed = lists("ten_2");
	int64_t listed_after = now_ms() - paused_at;
	ck_assert_msg(listed_after < 3000, "too slow to prove anything: the list came %lld ms after the pause",
		      (long long)listed_after);
	ck_assert_msg(!listed, "ten_2 is listed %lld ms after the replica stopped replaying: the list was not the "
		      "replica's", (long long)listed_after);

	/* money stays on the primary: a top-up, then the balance that includes it */
	const char *idem[] = {"Idempotency-Key: replica-1", NULL};
	struct th_resp t = th_req(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin,
				  "{\"amount_minor\":5000,\"channel\":\"cash\"}", idem);
	ck_assert_int_eq(t.status, 201);
	th_resp_free(&t);
	json_t *a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "balance_minor")), 5000);
	json_decref(a);

	/* the lag grows past 4 s: the list falls back to the primary and has ten_2 */
	double lag0 = metric("wattle_db_replica_fallbacks_total{reason=\"lag\"}");
	int64_t seen = -1;
	for (int i = 0; i < 150 && seen < 0; i++) {
		if (lists("ten_2"))
			seen = now_ms() - paused_at;
		else
			usleep(100000);
	}
	ck_assert_msg(seen >= 0, "ten_2 was never listed: no fallback to the primary (see %s)", w.srv.log_path);
	/* not before the bound (less the check interval and the pause's own wait for "paused") */
	ck_assert_msg(seen >= 3000, "ten_2 listed %lld ms after the pause, before the lag reached its bound",
		      (long long)seen);
	char *m = scrape();
	pc_assert_promtool_clean(m);
	ck_assert_double_eq(pc_value(m, "wattle_db_replica_up"), 0);
	ck_assert_double_gt(pc_value(m, "wattle_db_replica_fallbacks_total{reason=\"lag\"}"), lag0);
	ck_assert_double_ge(pc_value(m, "wattle_db_replica_lag_seconds"), 4.0);
	free(m);
	ck_assert(!lists("ten_3"));
	PGresult *still = on_standby("SELECT count(*) FROM tenants");
	ck_assert_str_eq(PQgetvalue(still, 0, 0), "1"); /* the replica really is behind */
	PQclear(still);

	/* replay resumed: the replica catches up and serves again */
	PQclear(on_standby("SELECT pg_wal_replay_resume()"));
	bool back = false;
	for (int i = 0; i < 100 && !back; i++) {
		(void)lists("ten_2"); /* the lag is checked when reads come */
		back = metric("wattle_db_replica_up") == 1;
		if (!back)
			usleep(100000);
	}
	ck_assert_msg(back, "the replica did not serve again after replay resumed");
	double reads1 = metric("wattle_db_replica_reads_total");
	ck_assert(lists("ten_2"));
	ck_assert_double_gt(metric("wattle_db_replica_reads_total"), reads1);
	/* the log said when reads left the replica, and when they returned */
	ck_assert_msg(log_has("over WATTLE_REPLICA_MAX_LAG_MS=4000: reads go to the primary"), "no fallback line in %s",
		      w.srv.log_path);
	ck_assert_msg(log_has("\"level\":\"warn\",\"msg\":\"db: reads go to the replica (lag"),
		      "no line saying reads returned to the replica in %s", w.srv.log_path);
}
END_TEST

/* Every read a replica may serve, each answered 200 (never a 5xx) by whichever served it. */
static void read_everything(void)
{
	static const char *const paths[] = {"/v1/tenants", "/v1/reports", "/v1/dashboard?site_id=site_1",
					    "/v1/tenants/ten_1/consumption?from=2026-01-01&to=2026-01-31", NULL};
	for (int i = 0; paths[i]; i++) {
		struct th_resp r = th_req(&w.srv, "GET", paths[i], w.fin, NULL, NULL);
		ck_assert_msg(r.status == 200, "GET %s: %ld %s", paths[i], r.status, r.body);
		th_resp_free(&r);
	}
	static const char *const ops_paths[] = {"/v1/meters", "/v1/meters/mtr_1/readings", "/v1/meters/mtr_1/power-quality",
						NULL};
	for (int i = 0; ops_paths[i]; i++) {
		struct th_resp r = th_req(&w.srv, "GET", ops_paths[i], w.ops, NULL, NULL);
		ck_assert_msg(r.status == 200, "GET %s: %ld %s", ops_paths[i], r.status, r.body);
		th_resp_free(&r);
	}
}

/* Readers that list tenants until told to stop, counting what was not a 200. */
static atomic_bool readers_stop;
static atomic_int reads_done, reads_failed;
static char failed_status[64];

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&readers_stop)) {
		struct th_resp r = th_req(&w.srv, "GET", "/v1/tenants", w.fin, NULL, NULL);
		if (r.status != 200 && atomic_fetch_add(&reads_failed, 1) == 0)
			snprintf(failed_status, sizeof failed_status, "%ld", r.status);
		atomic_fetch_add(&reads_done, 1);
		th_resp_free(&r);
		usleep(10000); /* 4 readers at most 400 a second: under the key's rate limit */
	}
	return NULL;
}

START_TEST(replica_stopped_reads_go_to_the_primary)
{
	await_replica();
	read_everything(); /* every thread that reads has its replica connection now */
	double down0 = metric("wattle_db_replica_fallbacks_total{reason=\"down\"}");
	/* the standby stops under reads: those in flight on it are answered from the primary */
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader, NULL), 0);
	usleep(300000);
	int before = atomic_load(&reads_done);
	cluster("standby-stop", NULL);
	usleep(500000);
	atomic_store(&readers_stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_msg(atomic_load(&reads_failed) == 0, "%d of %d lists failed while the standby stopped (the first: %s)",
		      atomic_load(&reads_failed), atomic_load(&reads_done), failed_status);
	ck_assert_int_gt(before, 0);
	ck_assert_int_gt(atomic_load(&reads_done), before);
	for (int i = 0; i < 10; i++)
		read_everything();
	ck_assert(lists("ten_1"));
	char *m = scrape();
	pc_assert_promtool_clean(m);
	ck_assert_double_eq(pc_value(m, "wattle_db_replica_up"), 0);
	ck_assert_double_gt(pc_value(m, "wattle_db_replica_fallbacks_total{reason=\"down\"}"), down0);
	ck_assert_msg(!pc_serves(m, "wattle_db_replica_lag_seconds"), "a lag for a replica that cannot be read");
	free(m);
	ck_assert_msg(log_has("db: the replica cannot be read"), "no line saying so in %s", w.srv.log_path);

	/* started again, it is found again */
	cluster("standby-start", NULL);
	bool back = false;
	for (int i = 0; i < 100 && !back; i++) {
		back = metric("wattle_db_replica_up") == 1;
		if (!back) {
			read_everything(); /* the check runs when reads come */
			usleep(100000);
		}
	}
	ck_assert_msg(back, "the replica was not read again after it restarted (see %s)", w.srv.log_path);
	double reads = metric("wattle_db_replica_reads_total");
	read_everything();
	ck_assert_double_gt(metric("wattle_db_replica_reads_total"), reads);
}
END_TEST

/* Stored reports never change, so the replica serves them; one made since the replica's
 * data is found on the primary, not answered 404. */
START_TEST(report_made_while_replica_behind_is_found)
{
	await_replica();
	PQclear(on_standby("SELECT pg_wal_replay_pause()"));
	json_t *r = th_ok(&w.srv, "POST", "/v1/reports", w.fin,
			  "{\"kind\":\"tenant_statement\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"period\":\"2026-01\"}", 201);
	char path[96];
	snprintf(path, sizeof path, "/v1/reports/%s", json_string_value(json_object_get(r, "id")));
	json_decref(r);
	double reads = metric("wattle_db_replica_reads_total");
	json_t *got = th_ok(&w.srv, "GET", path, w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(got, "kind")), "tenant_statement");
	json_decref(got);
	ck_assert_double_gt(metric("wattle_db_replica_reads_total"), reads); /* the replica was asked first */
	PQclear(on_standby("SELECT pg_wal_replay_resume()"));
}
END_TEST

/* wattle through Debian's pgbouncer in session mode: a top-up and reads succeed, and the
 * connections are pgbouncer's clients. */
START_TEST(pgbouncer_session_mode_carries_wattle)
{
	int port = th_free_port();
	char args[64];
	snprintf(args, sizeof args, "%d session 20", port);
	cluster("bouncer-start", args);
	char *db = th_fresh_db();
	char name[128], ci[300];
	dbname_of(db, name, sizeof name);
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=%s", port, name);
	struct th_server s;
	th_server_start(&s, ci, NULL);
	json_decref(th_ok(&s, "POST", "/v1/sites", s.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	char *fin = th_key(&s, "finance", NULL);
	json_decref(th_ok(&s, "POST", "/v1/tenants", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Noodle Bar\",\"category\":\"catering\",\"area_m2\":\"80\","
			  "\"credit_rating\":\"A\"}", 201));
	for (int i = 0; i < 20; i++) {
		char key[64];
		snprintf(key, sizeof key, "Idempotency-Key: bouncer-%d", i);
		const char *h[] = {key, NULL};
		struct th_resp t = th_req(&s, "POST", "/v1/tenants/ten_1/topups", fin,
					  "{\"amount_minor\":100,\"channel\":\"cash\"}", h);
		ck_assert_int_eq(t.status, 201);
		th_resp_free(&t);
		json_decref(th_ok(&s, "GET", "/v1/tenants", fin, NULL, 200));
	}
	json_t *a = th_ok(&s, "GET", "/v1/tenants/ten_1/account", fin, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "balance_minor")), 2000);
	json_decref(a);
	/* pgbouncer's own view: our database's pool has clients */
	char admin[128];
	snprintf(admin, sizeof admin, "host=127.0.0.1 port=%d user=postgres dbname=pgbouncer", port);
	PGresult *p = th_sql(admin, "SHOW POOLS");
	int col = PQfnumber(p, "database"), cl = PQfnumber(p, "cl_active");
	bool pooled = false;
	for (int i = 0; i < PQntuples(p); i++)
		pooled |= !strcmp(PQgetvalue(p, i, col), name) && atoi(PQgetvalue(p, i, cl)) > 0;
	PQclear(p);
	ck_assert_msg(pooled, "wattle's connections are not pgbouncer's clients");
	ck_assert_int_eq(th_server_stop(&s), 0);
	th_assert_ledger_invariant(db);
	free(fin);
	free(db);
	cluster("bouncer-stop", NULL);
}
END_TEST

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	PQclear(r);
}

/* Why wattle needs session mode: it prepares each statement once per connection, by name,
 * and executes it later; in transaction mode the next transaction may get another server
 * connection, which never saw the statement. Made certain here: while a second client holds
 * the server connection the statement was prepared on, executing it fails. */
START_TEST(pgbouncer_transaction_mode_loses_prepared_statements)
{
	int port = th_free_port();
	char args[64];
	snprintf(args, sizeof args, "%d transaction 2", port);
	cluster("bouncer-start", args);
	char *db = th_fresh_db();
	char name[128], ci[300];
	dbname_of(db, name, sizeof name);
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=%s", port, name);
	PGconn *a = PQconnectdb(ci), *b = PQconnectdb(ci);
	ck_assert_msg(PQstatus(a) == CONNECTION_OK && PQstatus(b) == CONNECTION_OK, "%s", PQerrorMessage(a));
	PGresult *r = PQprepare(a, "tenant_count", "SELECT count(*) FROM tenants", 0, NULL);
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	exec_ok(b, "BEGIN"); /* b holds the server connection a prepared on (the idle one) */
	exec_ok(b, "SELECT 1");
	r = PQexecPrepared(a, "tenant_count", 0, NULL, NULL, NULL, 0);
	ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
	ck_assert_msg(strstr(PQresultErrorMessage(r), "prepared statement \"tenant_count\" does not exist"), "%s",
		      PQresultErrorMessage(r));
	PQclear(r);
	exec_ok(b, "COMMIT");
	PQfinish(a);
	PQfinish(b);
	free(db);
	cluster("bouncer-stop", NULL);
}
END_TEST

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/wattle-replica.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char line[512];
	snprintf(line, sizeof line, "%s/tests/replica/cluster.sh start %s %s", WATTLE_SRC, dir, WATTLE_BIN);
	FILE *p = popen(line, "r");
	if (!p || !fgets(primary, sizeof primary, p) || !fgets(standby, sizeof standby, p)) {
		fprintf(stderr, "test_replica: %s failed\n", line);
		return 1;
	}
	int st = pclose(p);
	primary[strcspn(primary, "\n")] = 0;
	standby[strcspn(standby, "\n")] = 0;
	if (st != 0) {
		fprintf(stderr, "test_replica: %s failed\n", line);
		return 1;
	}
	setenv("WATTLE_TEST_PG", primary, 1); /* the harness's fresh databases come from this pair's primary */
	Suite *s = suite_create("replica");
	TCase *tc = tcase_create("standby");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, lists_from_the_replica_money_from_the_primary_fallback_on_lag);
	tcase_add_test(tc, replica_stopped_reads_go_to_the_primary);
	tcase_add_test(tc, report_made_while_replica_behind_is_found);
	suite_add_tcase(s, tc);
	TCase *bo = tcase_create("pgbouncer");
	tcase_set_timeout(bo, 120);
	tcase_add_test(bo, pgbouncer_session_mode_carries_wattle);
	tcase_add_test(bo, pgbouncer_transaction_mode_loses_prepared_statements);
	suite_add_tcase(s, bo);
	int rc = th_run(s);
	snprintf(line, sizeof line, "%s/tests/replica/cluster.sh stop %s", WATTLE_SRC, dir);
	if (system(line) != 0)
		fprintf(stderr, "test_replica: %s failed\n", line);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
