/* harness.h: what the integration and end-to-end suites share. tests/run.sh starts a
 * private PostgreSQL and exports WATTLE_TEST_PG (its conninfo without dbname) after
 * migrating the database wattle_template; each test gets a fresh copy of it. */
#ifndef WATTLE_HARNESS_H
#define WATTLE_HARNESS_H

#include "check_run.h"

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sys/types.h>

/* A fresh database cloned from wattle_template. New conninfo: caller frees. */
char *th_fresh_db(void);

/* Run SQL on conninfo (fails the test on error). New result: caller PQclear()s. */
PGresult *th_sql(const char *conninfo, const char *sql);
/* The first column of the first row as an integer. */
long long th_sql_int(const char *conninfo, const char *sql);

/* Every account's balance equals the sum of its entries, and each entry's
 * balance_after is the running sum in id order. Fails the test otherwise. */
void th_assert_ledger_invariant(const char *conninfo);

/* Every meter's charged_minor is floor(exact lifetime cost / minor unit), and the
 * energy_charge entries naming the meter add up to it. Fails the test otherwise. */
void th_assert_meter_invariant(const char *conninfo);

struct th_server {
	pid_t pid;
	int port;
	char conninfo[512];
	char admin_key[64];
	char log_path[256];
};

/* Start the real wattle binary on a free port against conninfo, with extra environment
 * ("K=V", NULL-terminated, may be NULL); create an admin key with the CLI first.
 * Waits for /healthz. */
void th_server_start(struct th_server *s, const char *conninfo, const char *const *env);

/* Start s again after th_server_stop, on the same port and database (a client that knows
 * its address finds it back). */
void th_server_restart(struct th_server *s, const char *const *env);

/* SIGTERM and wait; returns the exit status (0 = clean stop). */
int th_server_stop(struct th_server *s);

struct th_resp {
	long status;
	char *body;
	json_t *json; /* parsed body or NULL */
	char request_id[128];
	char content_type[128];
	long retry_after; /* the Retry-After header's seconds, 0 when none */
	char location[256], etag[128], cache_control[128], content_encoding[32]; /* those headers, "" when none */
	size_t body_len; /* body's bytes (a gzip body holds NULs) */
	char set_cookie[512]; /* the Set-Cookie header, "" when none */
};

/* The world a suite starts each test from: a fresh database, the real server (with the
 * extra environment env, may be NULL), API keys for finance, an operator and a gateway,
 * and, by flags, a site "Mall" in Asia/Shanghai with CNY (site_1), a tenant (ten_1) and a
 * flat tariff of 1.234567 CNY/kWh (trf_1). th_world_stop stops the server (it must exit 0,
 * unless a test stopped it already), then checks that every balance equals its ledger and
 * every meter's charges the floor of its exact cost, and frees the world. */
#define TH_SITE 1u
#define TH_TENANT 2u
#define TH_TARIFF 4u
struct th_world {
	char *db;
	struct th_server srv;
	char *fin, *ops, *gw;
};
void th_world_start(struct th_world *w, const char *const *env, unsigned flags);
void th_world_stop(struct th_world *w);
/* A second site (site_2, "Tower") with one tenant (the next ten_N, "Tea Shop") and a finance
 * user bound to it (fin.two, password 0123456789): for tests of users kept to their sites. */
void th_world_second_site(struct th_world *w);

/* One request. key may be NULL; body may be NULL; headers "Name: value", NULL-terminated,
 * may be NULL (Content-Type: application/json is added when there is a body and no
 * Content-Type among them). */
struct th_resp th_req(struct th_server *s, const char *method, const char *path, const char *key,
		      const char *body, const char *const *headers);
void th_resp_free(struct th_resp *r);

/* Shorthands that assert the status and return the parsed body (caller decrefs). */
json_t *th_ok(struct th_server *s, const char *method, const char *path, const char *key,
	      const char *body, long want_status);

/* Create an API key through the API with the admin key. New string: caller frees. */
char *th_key(struct th_server *s, const char *role, const char *tenant_id);

/* The error code of an error reply ("" when none). Borrowed from r. */
const char *th_err(const struct th_resp *r);

/* A fake outside peer (gateway, SMS provider, webhook receiver) on 127.0.0.1: it records
 * every POST and answers 200, or 500 while fail_next > 0 (then decrements it). */
#define TH_PEER_MAX 256
struct th_peer_req {
	char path[128], auth[256], sig[256], ctype[128];
	char *body;
};
struct peer;
struct th_peer {
	int port;
	struct peer *daemon;
	int fail_next;
	int delay_ms; /* answer this late */
	int n;
	struct th_peer_req reqs[TH_PEER_MAX];
	pthread_mutex_t mu;
};
/* Start on port (0: a free one). */
void th_peer_start(struct th_peer *p, int port);
void th_peer_stop(struct th_peer *p);
/* A free port nobody listens on (for "connection refused"). */
int th_free_port(void);
/* Requests received so far whose body contains needle (NULL: all). */
int th_peer_count(struct th_peer *p, const char *needle);

/* Run argv[0] (a path) with stderr to log_path (appended; NULL: the test's own). */
pid_t th_spawn(const char *const *argv, const char *log_path);
/* Send sig and wait; the exit status (128 + the signal when killed). */
int th_reap(pid_t pid, int sig);
/* Wait until something listens on 127.0.0.1:port (or fail the test). */
void th_wait_port(int port);

/* A real mosquitto broker (Debian's) on a free loopback port, for a suite that needs one. */
struct th_broker {
	pid_t pid;
	int port;
	char conf[128];
};
void th_broker_start(struct th_broker *b);
void th_broker_stop(struct th_broker *b);


#endif
