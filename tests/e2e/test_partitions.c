/* test_partitions.c: readings and meter_harmonics partitioned by UTC month (migration 0029,
 * the partitions worker): months made ahead, a reading with no month's partition kept in
 * the default one, an old month dropped once closed while its statements, reports,
 * consumption and ledger stay byte for byte what they were, a month not closed kept, and
 * the upgrade of a table that already holds rows keeping every one of them. */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct th_world w;

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

/* The first column of the first row as text (new: caller frees). */
static char *q_text(const char *conninfo, const char *sql)
{
	PGresult *r = th_sql(conninfo, sql);
	char *s = strdup(PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return s;
}

static bool exists(const char *rel)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT (to_regclass('%s') IS NOT NULL)::int", rel);
	return q(sql) == 1;
}

static void post(const char *path, const char *key, const char *body, long want)
{
	json_decref(th_ok(&w.srv, "POST", path, key, body, want));
}

static char e_start[64], e_anchor[64], e_keep[64], e_delay[64];
static const char *env[] = {"WATTLE_CLOCK_SPEED=60", e_start, e_anchor, e_keep, e_delay, NULL};

/* wattle's clock from the unix second start (60x), keeping keep months, closing delay
 * minutes after a month ends. */
static void clock_env(long long start, int keep, int delay)
{
	snprintf(e_start, sizeof e_start, "WATTLE_CLOCK_START=%lld", start);
	snprintf(e_anchor, sizeof e_anchor, "WATTLE_CLOCK_ANCHOR=%lld", (long long)time(NULL));
	snprintf(e_keep, sizeof e_keep, "WATTLE_READINGS_KEEP_MONTHS=%d", keep);
	snprintf(e_delay, sizeof e_delay, "WATTLE_CLOSE_DELAY_MIN=%d", delay);
}

static void restart(long long start, int keep, int delay)
{
	ck_assert_int_eq(th_server_stop(&w.srv), 0);
	clock_env(start, keep, delay);
	th_server_restart(&w.srv, env);
}

/* A site in timezone tz that existed since the start of September, a flat tariff, a tenant
 * with a meter T-1 and a top-up. */
static void site(const char *tz, const char *offset)
{
	char body[256];
	snprintf(body, sizeof body, "{\"name\":\"Mall\",\"timezone\":\"%s\",\"currency\":\"CNY\"}", tz);
	post("/v1/sites", w.srv.admin_key, body, 201);
	snprintf(body, sizeof body, "UPDATE sites SET created_at = '2026-09-01T00:00:00%s'", offset);
	PQclear(th_sql(w.db, body));
	post("/v1/tariffs", w.fin,
	     "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
	     "\"rate_micros_per_kwh\":1234567,\"effective_from\":\"2026-01-01T00:00:00Z\"}", 201);
	post("/v1/tenants", w.fin, "{\"site_id\":\"site_1\",\"name\":\"Noodle Bar\",\"category\":\"catering\","
				   "\"area_m2\":\"80\",\"credit_rating\":\"A\"}", 201);
	post("/v1/meters", w.ops, "{\"serial\":\"T-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"}", 201);
	post("/v1/tenants/ten_1/topups", w.fin, "{\"amount_minor\":50000,\"channel\":\"cash\"}", 201);
}

/* Readings of T-1 every 6 hours through October (site-local, offset "+08:00" or "Z"), up to
 * 18:00 on the 31st; the ones at noon carry a spectrum of harmonics. */
static void october(const char *offset)
{
	char *body = malloc(400000);
	size_t n = (size_t)sprintf(body, "{\"readings\":[");
	long long e = 0;
	char spec[400];
	size_t sl = (size_t)sprintf(spec, "[");
	for (int k = 0; k < 30; k++)
		sl += (size_t)sprintf(spec + sl, "%s%.1f", k ? "," : "", 1.0 + 0.1 * k);
	sprintf(spec + sl, "]");
	for (int d = 1; d <= 31; d++)
		for (int h = 0; h <= 18; h += 6) {
			n += (size_t)sprintf(body + n, "%s{\"meter\":\"T-1\",\"ts\":\"2026-10-%02dT%02d:00:00%s\",\"energy_wh\":%lld%s%s}",
					     n > 14 ? "," : "", d, h, offset, e, h == 12 ? ",\"thd_v_pct\":2.5,\"harmonics_v_pct\":" : "",
					     h == 12 ? spec : "");
			e += 900 + (d % 7) * 10;
		}
	sprintf(body + n, "]}");
	json_t *r = th_ok(&w.srv, "POST", "/v1/readings", w.gw, body, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "rejected")), 0);
	json_decref(r);
	free(body);
}

/* Wait (up to 90 s) until the SQL's count is want. */
static void wait_for(const char *sql, long long want)
{
	for (int i = 0; i < 900 && q(sql) != want; i++)
		usleep(100000);
	ck_assert_int_eq(q(sql), want);
}

/* Wait (up to 30 s) until the server's log holds needle. */
static void wait_log(const char *needle)
{
	for (int i = 0; i < 300; i++) {
		FILE *f = fopen(w.srv.log_path, "r");
		char line[512];
		bool found = false;
		while (f && !found && fgets(line, sizeof line, f))
			found = strstr(line, needle) != NULL;
		if (f)
			fclose(f);
		if (found)
			return;
		usleep(100000);
	}
	ck_abort_msg("no \"%s\" in %s", needle, w.srv.log_path);
}

static long long metric(const char *sample)
{
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	long long v = -1;
	size_t n = strlen(sample);
	for (const char *p = m.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, sample, n) && p[n] == ' ')
			v = atoll(p + n + 1);
	th_resp_free(&m);
	return v;
}

static void put_get(FILE *f, const char *path, const char *accept)
{
	const char *h[] = {accept, NULL};
	struct th_resp r = th_req(&w.srv, "GET", path, w.fin, NULL, accept ? h : NULL);
	fprintf(f, "== GET %s (%s): %ld\n", path, accept ? accept : "json", r.status);
	fwrite(r.body ? r.body : "", 1, r.body_len, f);
	fputc('\n', f);
	th_resp_free(&r);
}

/* A report made now: its data, but for generated_at (sorted keys). */
static void put_made(FILE *f, const char *body)
{
	json_t *r = th_ok(&w.srv, "POST", "/v1/reports", w.fin, body, 201);
	json_t *d = json_object_get(r, "data");
	json_object_del(d, "generated_at");
	char *s = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
	fprintf(f, "== made %s\n%s\n", body, s);
	free(s);
	json_decref(r);
}

static void put_sql(FILE *f, const char *sql)
{
	char *s = q_text(w.db, sql);
	fprintf(f, "== %s\n%s\n", sql, s);
	free(s);
}

/* Everything a document of October is made of, as the API serves it: the month close's
 * stored statements and reports (JSON, HTML, CSV), the same made again now, the
 * consumption, the ledger, and the rollups and entries themselves. New: caller frees. */
static char *documents(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	json_t *list = th_ok(&w.srv, "GET", "/v1/reports?period=2026-10&limit=100", w.fin, NULL, 200);
	size_t i;
	json_t *e;
	int stored = 0;
	json_array_foreach(json_object_get(list, "items"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "origin")), "month_close"))
			continue;
		char path[96];
		snprintf(path, sizeof path, "/v1/reports/%s", json_string_value(json_object_get(e, "id")));
		put_get(f, path, NULL);
		put_get(f, path, "Accept: text/html");
		put_get(f, path, "Accept: text/csv");
		stored++;
	}
	json_decref(list);
	ck_assert_int_ge(stored, 2); /* the tenant's statement and the site's reports */
	put_made(f, "{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}");
	put_made(f, "{\"kind\":\"energy\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}");
	put_made(f, "{\"kind\":\"finance_summary\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}");
	put_get(f, "/v1/tenants/ten_1/consumption?from=2026-09-01&to=2026-11-01", NULL);
	put_get(f, "/v1/tenants/ten_1/consumption?from=2026-09-01&to=2026-11-01&granularity=month", NULL);
	put_get(f, "/v1/tenants/ten_1/ledger?limit=100", NULL);
	put_get(f, "/v1/tenants/ten_1/account", NULL);
	put_sql(f, "SELECT string_agg(d::text, ';' ORDER BY meter_id, day, band) FROM meter_daily d");
	put_sql(f, "SELECT string_agg(e::text, ';' ORDER BY id) FROM ledger_entries e");
	put_sql(f, "SELECT string_agg(r::text, ';' ORDER BY id) FROM reports r WHERE period = '2026-10'"
		   " AND origin = 'month_close'");
	fclose(f);
	return out;
}

/* readings_old_month_dropped_documents_unchanged: October's readings and spectra, closed,
 * dropped three months on with WATTLE_READINGS_KEEP_MONTHS=1; every document of October
 * the same bytes after as before. */
START_TEST(old_month_dropped_documents_unchanged)
{
	clock_env(INT64_C(1793490000) /* 2026-10-31T23:40Z */, 13, 1);
	th_world_start(&w, env, 0);
	site("UTC", "Z");
	/* the template was migrated empty: a default partition and months ahead of today */
	ck_assert(exists("readings_default") && exists("meter_harmonics_default"));
	/* partitions_made_ahead: 13 months back to three ahead on wattle's clock */
	wait_log("partitions: created meter_harmonics_p2025_09"); /* (the last table of the pass) */
	ck_assert(exists("readings_p2025_09") && exists("readings_p2026_10") && exists("readings_p2026_11") &&
		  exists("readings_p2026_12") && exists("readings_p2027_01") && exists("meter_harmonics_p2027_01"));
	ck_assert(!exists("readings_p2025_08"));
	october("Z");
	ck_assert_int_eq(q("SELECT count(*) FROM readings_p2026_10"), 124);
	ck_assert_int_eq(q("SELECT count(*) FROM meter_harmonics_p2026_10"), 31);
	/* late_reading_without_partition_kept: a reading of 2024 lands in the default partition */
	json_t *r = th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"T-1\",\"ts\":\"2024-01-15T00:00:00Z\",\"energy_wh\":5}]}", 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "rejected")), 0);
	json_decref(r);
	ck_assert_int_eq(q("SELECT count(*) FROM readings_default WHERE ts = '2024-01-15T00:00:00Z'"), 1);
	/* October closes 21 s in */
	wait_for("SELECT count(*) FROM month_closes WHERE period = '2026-10'", 1);
	wait_for("SELECT count(*) FROM reports WHERE period = '2026-10' AND origin = 'month_close'"
		 " AND kind = 'tenant_statement'", 1);
	ck_assert_int_ge(q("SELECT count(*) FROM month_partitions('readings')"), 17);
	ck_assert_int_eq(metric("wattle_readings_partitions{table=\"readings\"}"),
			 q("SELECT count(*) FROM month_partitions('readings')"));
	char *before = documents();
	ck_assert(strstr(before, "energy_charge"));

	/* mid-December, raw readings kept one month: October is past it, and closed */
	restart(INT64_C(1797292800) /* 2026-12-15T00:00Z */, 1, 1);
	wait_log("partitions: dropped readings_p2026_10 (older than 1 months)");
	wait_log("partitions: dropped meter_harmonics_p2026_10");
	wait_log("partitions: deleted 1 rows older than 1 months from readings_default");
	ck_assert(!exists("readings_p2026_10") && !exists("meter_harmonics_p2026_10") && !exists("readings_p2025_09"));
	ck_assert_int_eq(q("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
			   " WHERE i.inhparent = 'readings'::regclass AND c.relname = 'readings_p2026_10'"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM readings WHERE ts < '2026-11-01T00:00:00Z'"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM meter_harmonics WHERE slot < '2026-11-01T00:00:00Z'"), 0);
	/* November (the month kept) and three ahead of December */
	ck_assert(exists("readings_p2026_11") && exists("readings_p2027_03") && exists("meter_harmonics_p2027_03"));
	/* the rollups and the ledger did not move; raw readings are gone from the API */
	char *after = documents();
	ck_assert_str_eq(after, before);
	json_t *rd = th_ok(&w.srv, "GET", "/v1/meters/T-1/readings?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z",
			   w.fin, NULL, 200);
	ck_assert_int_eq((long long)json_array_size(json_object_get(rd, "items")), 0);
	json_decref(rd);
	/* readings_partitions_metrics: Nov 2026 .. Mar 2027 (and any the template made later), the
	 * oldest from 1 November */
	ck_assert_int_ge(q("SELECT count(*) FROM month_partitions('readings')"), 5);
	ck_assert_int_eq(metric("wattle_readings_partitions{table=\"readings\"}"),
			 q("SELECT count(*) FROM month_partitions('readings')"));
	ck_assert_int_eq(metric("wattle_readings_partitions{table=\"meter_harmonics\"}"),
			 q("SELECT count(*) FROM month_partitions('meter_harmonics')"));
	ck_assert_int_eq(metric("wattle_readings_oldest_month_seconds{table=\"readings\"}"), 1793491200);
	free(before);
	free(after);
	th_world_stop(&w);
}
END_TEST

/* readings_month_not_closed_kept: in Shanghai, the UTC month of October runs into 1 November
 * local: it is kept while November is not closed, though older than kept; September (its
 * local months closed) goes; once November closes, October goes too. */
START_TEST(month_not_closed_kept)
{
	clock_env(INT64_C(1793461200) /* 2026-10-31T23:40+08 */, 13, 1);
	th_world_start(&w, env, 0);
	site("Asia/Shanghai", "+08:00");
	wait_log("partitions: created meter_harmonics_p2025_09"); /* (the last table of the pass) */
	october("+08:00");
	/* 1 October 00:00 and 06:00 in Shanghai are 30 September in UTC */
	ck_assert_int_eq(q("SELECT count(*) FROM readings_p2026_09"), 2);
	long long in_oct = q("SELECT count(*) FROM readings_p2026_10");
	ck_assert_int_eq(in_oct, 122);
	wait_for("SELECT count(*) FROM month_closes WHERE period = '2026-10'", 1);

	/* mid-December; the close waits 31 days, so November is not closed */
	restart(INT64_C(1797264000) /* 2026-12-15T00:00+08 */, 1, 44640);
	wait_log("partitions: keeping readings_p2026_10 past 1 months: a site's month it overlaps is not closed yet");
	wait_log("partitions: dropped readings_p2026_09");
	ck_assert_int_eq(q("SELECT count(*) FROM month_closes WHERE period = '2026-11'"), 0);
	ck_assert(exists("readings_p2026_10") && exists("meter_harmonics_p2026_10") && !exists("readings_p2026_09"));
	ck_assert_int_eq(q("SELECT count(*) FROM readings_p2026_10"), in_oct);

	/* November closes; the next pass drops October (the pass at this start, when the close
	 * came first, else the one at the next start) */
	restart(INT64_C(1797264000), 1, 1);
	wait_for("SELECT count(*) FROM month_closes WHERE period = '2026-11'", 1);
	if (exists("readings_p2026_10"))
		restart(INT64_C(1797264000), 1, 1);
	wait_for("SELECT (to_regclass('readings_p2026_10') IS NULL)::int", 1);
	ck_assert(!exists("readings_p2026_10") && !exists("meter_harmonics_p2026_10"));
	ck_assert_int_eq(q("SELECT count(*) FROM readings WHERE ts < '2026-11-01T00:00:00Z'"), 0);
	th_world_stop(&w);
}
END_TEST

/* Late readings of 2024 posted without a pause, 10 a batch, each batch in the month being
 * made now (month), until done. */
struct poster {
	_Atomic int month;
	_Atomic bool done;
	int batches, refused;
	long long accepted;
};

static void *post_late(void *arg)
{
	struct poster *p = arg;
	char body[2000];
	int minute[13] = {0};
	while (!atomic_load(&p->done)) {
		int m = atomic_load(&p->month);
		size_t n = (size_t)sprintf(body, "{\"readings\":[");
		for (int k = 0; k < 10; k++, minute[m]++)
			n += (size_t)sprintf(body + n, "%s{\"meter\":\"T-1\",\"ts\":\"2024-%02d-%02dT%02d:%02d:00Z\",\"energy_wh\":%d}",
					     k ? "," : "", m, 1 + minute[m] / 1440, minute[m] / 60 % 24, minute[m] % 60, k);
		sprintf(body + n, "]}");
		struct th_resp r = th_req(&w.srv, "POST", "/v1/readings", w.gw, body, NULL);
		if (r.status == 200)
			p->accepted += json_integer_value(json_object_get(r.json, "accepted"));
		else
			p->refused++;
		p->batches++;
		th_resp_free(&r);
	}
	return NULL;
}

/* readings_meanwhile_partition_made: the months of 2024 are made one by one (each in a
 * transaction held open 0.3 s) while late readings of that very month arrive; none is refused
 * (an insert that routed its row by the partitions it saw before the attach used to wait for
 * the default partition and then find its constraint narrowed: 422) and every one ends in
 * its month's partition. */
START_TEST(readings_meanwhile_partition_made)
{
	clock_env(INT64_C(1793490000), 13, 44640);
	th_world_start(&w, env, 0);
	site("UTC", "Z");
	wait_log("partitions: created meter_harmonics_p2025_09");
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"T-1\",\"ts\":\"2026-10-31T00:00:00Z\",\"energy_wh\":100000}]}", 200));
	struct poster p = {0};
	atomic_store(&p.month, 1);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, post_late, &p), 0);
	for (int m = 1; m <= 12; m++) {
		atomic_store(&p.month, m);
		usleep(100000); /* rows of the month wait in the default */
		char sql[200];
		snprintf(sql, sizeof sql, "BEGIN; SELECT partitions_ensure('readings', 'ts', '2024-%02d-01', '2024-%02d-01');"
					  " SELECT pg_sleep(0.3); COMMIT", m, m);
		PQclear(th_sql(w.db, sql));
	}
	atomic_store(&p.done, true);
	pthread_join(th, NULL);
	ck_assert_int_eq(p.refused, 0);
	ck_assert_int_gt(p.batches, 24);
	ck_assert_int_eq(p.accepted, p.batches * 10);
	ck_assert_int_eq(q("SELECT count(*) FROM readings WHERE ts < '2025-01-01'"), p.accepted);
	ck_assert_int_eq(q("SELECT count(*) FROM readings_default"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM month_partitions('readings') WHERE name LIKE 'readings_p2024_%'"), 12);
	th_world_stop(&w);
}
END_TEST

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int is_sql(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && !strcmp(d->d_name + n - 4, ".sql");
}

/* Apply db/migrations up to version `upto` as srv_migrate does (each in a transaction,
 * recorded in schema_migrations). */
static void migrate_upto(const char *conninfo, int upto)
{
	PQclear(th_sql(conninfo, "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
				 " applied_at timestamptz NOT NULL DEFAULT now())"));
	struct dirent **names;
	char dir[600];
	snprintf(dir, sizeof dir, "%s/db/migrations", WATTLE_SRC);
	int n = scandir(dir, &names, is_sql, by_name);
	ck_assert_int_gt(n, 20);
	for (int i = 0; i < n; i++) {
		int v = atoi(names[i]->d_name);
		if (v <= upto) {
			char path[900];
			snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
			FILE *f = fopen(path, "r");
			ck_assert(f);
			struct stat st;
			fstat(fileno(f), &st);
			char *sql = calloc(1, (size_t)st.st_size + 1);
			ck_assert_int_eq(fread(sql, 1, (size_t)st.st_size, f), (size_t)st.st_size);
			fclose(f);
			size_t len = strlen(sql) + 400;
			char *tx = malloc(len);
			snprintf(tx, len, "BEGIN; %s;\nINSERT INTO schema_migrations (version, name) VALUES (%d, '%s'); COMMIT",
				 sql, v, names[i]->d_name);
			PQclear(th_sql(conninfo, tx));
			free(tx);
			free(sql);
		}
		free(names[i]);
	}
	free(names);
}

/* readings_upgrade_keeps_rows: a database at 0028 whose readings and spectra span 2025 to
 * 2031 is migrated by the real binary; every row is where it was (the same text), in its
 * month's partition. A reading of a month with no partition is kept in the default one, and
 * making that month moves it out. */
START_TEST(upgrade_keeps_rows)
{
	const char *pg = getenv("WATTLE_TEST_PG");
	ck_assert(pg);
	char name[64], admin[700], conninfo[700], sql[200];
	snprintf(name, sizeof name, "t_upgrade_%d_%ld", (int)getpid(), (long)time(NULL));
	snprintf(admin, sizeof admin, "%s dbname=postgres", pg);
	snprintf(conninfo, sizeof conninfo, "%s dbname=%s", pg, name);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0", name);
	PQclear(th_sql(admin, sql));
	migrate_upto(conninfo, 28);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM pg_partitioned_table"), 0);
	/* three meters, a reading an hour from March 2025 to February 2026, and one in 2031 */
	PQclear(th_sql(conninfo,
		       "INSERT INTO readings (meter_id, ts, energy_wh, power_w, voltage_v, thd_v_pct, relay, billed, received_at)"
		       " SELECT m, t, (extract(epoch FROM t) / 360)::bigint, m * 10, 230.5, CASE WHEN m = 2 THEN 3.25 END,"
		       " CASE WHEN m = 3 THEN 'off' END, m <> 1, t + interval '1 minute'"
		       " FROM generate_series(1, 3) m,"
		       " generate_series('2025-03-01T00:00:00Z'::timestamptz, '2026-02-28T23:00:00Z', interval '1 hour') t;"
		       "INSERT INTO readings (meter_id, ts, energy_wh, billed, received_at)"
		       " VALUES (1, '2031-05-05T05:05:05.123456Z', 7, false, now());"
		       "INSERT INTO meter_harmonics (meter_id, slot, ts, v, i)"
		       " SELECT 1, t, t + interval '1 minute', array_fill(120::smallint, ARRAY[30]), NULL"
		       " FROM generate_series('2025-03-01T00:00:00Z'::timestamptz, '2026-02-28T00:00:00Z', interval '1 day') t"));
	const char *sum_r = "SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY meter_id, ts)) FROM readings r";
	const char *sum_h = "SELECT count(*) || ' ' || md5(string_agg(h::text, '|' ORDER BY meter_id, slot)) FROM meter_harmonics h";
	char *r0 = q_text(conninfo, sum_r), *h0 = q_text(conninfo, sum_h);
	ck_assert_int_eq(atoll(r0), 3 * 365 * 24 + 1);

	/* the real binary applies 0029 */
	setenv("WATTLE_DATABASE_URL", conninfo, 1);
	const char *argv[] = {WATTLE_BIN, "migrate", NULL};
	ck_assert_int_eq(th_reap(th_spawn(argv, NULL), 0), 0);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM schema_migrations WHERE version = 29"), 1);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM pg_partitioned_table"
					      " WHERE partrelid IN ('readings'::regclass, 'meter_harmonics'::regclass)"), 2);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT (to_regclass('readings_unpartitioned') IS NULL)::int"), 1);
	char *r1 = q_text(conninfo, sum_r), *h1 = q_text(conninfo, sum_h);
	ck_assert_str_eq(r1, r0);
	ck_assert_str_eq(h1, h0);
	/* every month from March 2025 has its partition, up to three months from today */
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM readings_p2025_03"), 3 * 31 * 24);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM readings_p2025_12"), 3 * 31 * 24);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM meter_harmonics_p2026_02"), 28);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM month_partitions('readings') p"
					      " WHERE p.lo > now() + interval '2 months' AND p.lo < '2030-01-01'"), 1);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM month_partitions('readings') p"
					      " WHERE p.lo > now() + interval '3 months' AND p.lo < '2030-01-01'"), 0);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM readings_p2031_05"), 1);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT (to_regclass('readings_p2026_03') IS NULL)::int"), 1);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM readings_default"), 0);
	/* the primary key holds across partitions */
	PGconn *c = PQconnectdb(conninfo);
	PGresult *dup = PQexec(c, "INSERT INTO readings (meter_id, ts, energy_wh, billed, received_at)"
				  " VALUES (2, '2025-06-01T00:00:00Z', 1, true, now())");
	ck_assert_str_eq(PQresultErrorField(dup, PG_DIAG_SQLSTATE), "23505");
	PQclear(dup);
	PQfinish(c);
	/* a reading of March 2026 (no partition) is kept in the default; making March (and April,
	 * from the 15th: whole months) moves it out */
	PQclear(th_sql(conninfo, "INSERT INTO readings (meter_id, ts, energy_wh, billed, received_at)"
				 " VALUES (3, '2026-03-31T23:59:59.999999Z', 9, false, now())"));
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM readings_default"), 1);
	char *made = q_text(conninfo, "SELECT string_agg(p, ',') FROM partitions_ensure('readings', 'ts', '2026-03-15', '2026-04-01') p");
	ck_assert_str_eq(made, "readings_p2026_03,readings_p2026_04");
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM readings_default"), 0);
	ck_assert_int_eq(th_sql_int(conninfo, "SELECT count(*) FROM readings_p2026_03"), 1);
	char *r2 = q_text(conninfo, "SELECT count(*) FROM readings");
	ck_assert_int_eq(atoll(r2), atoll(r0) + 1);
	/* and made again, nothing */
	char *again = q_text(conninfo, "SELECT count(*) FROM partitions_ensure('readings', 'ts', '2026-03-01', '2026-04-01')");
	ck_assert_str_eq(again, "0");
	free(r0);
	free(h0);
	free(r1);
	free(h1);
	free(r2);
	free(made);
	free(again);
	snprintf(sql, sizeof sql, "DROP DATABASE %s", name);
	PQclear(th_sql(admin, sql));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("partitions");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 300);
	tcase_add_test(core, old_month_dropped_documents_unchanged);
	tcase_add_test(core, month_not_closed_kept);
	tcase_add_test(core, upgrade_keeps_rows);
	tcase_add_test(core, readings_meanwhile_partition_made);
	suite_add_tcase(s, core);
	return th_run(s);
}
