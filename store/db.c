/* db.c: per-thread libpq connections, prepared statements and the transaction runner. */
#include "store/db.h"
#include "core/buf.h"
#include "core/hist.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_STMT_SETS 64
#define TX_MAX_TRIES 8

static const struct db_stmt *stmt_sets[MAX_STMT_SETS];
static int nstmt_sets;
static const char *conninfo = "";

static _Thread_local PGconn *tl_conn;
static _Thread_local int64_t tl_last_fail_log;

/* Every open connection, so shutdown can close those of threads it does not own. */
#define MAX_CONNS 256
static PGconn *all_conns[MAX_CONNS];
static _Atomic int64_t n_open, n_in_tx; /* for /metrics: see connect_wait below */
static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;

static void track(PGconn *c, PGconn *replace_with)
{
	pthread_mutex_lock(&all_mu);
	for (int i = 0; i < MAX_CONNS; i++)
		if (all_conns[i] == c) {
			all_conns[i] = replace_with;
			break;
		}
	pthread_mutex_unlock(&all_mu);
}

void db_close_all(void)
{
	pthread_mutex_lock(&all_mu);
	for (int i = 0; i < MAX_CONNS; i++)
		if (all_conns[i]) {
			PQfinish(all_conns[i]);
			all_conns[i] = NULL;
			atomic_fetch_sub(&n_open, 1);
		}
	pthread_mutex_unlock(&all_mu);
	tl_conn = NULL;
}

static _Atomic uint64_t n_commits, n_retries, n_gone, n_connects, n_connect_fail;
/* wattle has no pool: each thread that needs the database holds its own connection. What
 * is real: how many are open, how many are inside a transaction now (in use), and how long
 * a thread waits when it must open one (the connection, the session settings and the
 * statements prepared), successful or not. */
static const int64_t connect_bounds[] = {1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
					 500000, 1000000, 2500000, 5000000, 10000000};
static struct core_hist connect_h[2] = {{.labels = "outcome=\"ok\""}, {.labels = "outcome=\"failed\""}};
static struct core_hist_family connect_wait = {
	"wattle_db_connect_wait_seconds",
	"Time a thread waited for its database connection when it had to open one (connect, settings,"
	" statements prepared), by outcome",
	connect_bounds, (int)(sizeof connect_bounds / sizeof *connect_bounds), 1e6, 2, connect_h, NULL};

void db_register(const struct db_stmt *stmts)
{
	if (nstmt_sets == MAX_STMT_SETS)
		abort();
	stmt_sets[nstmt_sets++] = stmts;
}

void db_set_conninfo(const char *ci) { conninfo = ci ? ci : ""; }

static int prepare_all(PGconn *c)
{
	for (int s = 0; s < nstmt_sets; s++) {
		for (const struct db_stmt *st = stmt_sets[s]; st->name; st++) {
			PGresult *r = PQprepare(c, st->name, st->sql, 0, NULL);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				srv_log(LOG_ERROR, "db: prepare %s failed: %s", st->name,
					PQresultErrorMessage(r));
				PQclear(r);
				return -1;
			}
			PQclear(r);
		}
	}
	return 0;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_s(void) { return mono_us() / 1000000; }

PGconn *db_conn(void)
{
	if (tl_conn && PQstatus(tl_conn) == CONNECTION_OK)
		return tl_conn;
	db_conn_reset();
	core_hist_register(&connect_wait);
	int64_t t0 = mono_us();
	PGconn *c = PQconnectdb(conninfo);
	/* No JIT: wattle's statements are short, and the reports' scans of a month paid
	 * ~0.6 s of compilation each (measured: 4 statement queries per 500 tenants went from
	 * 2.1 s to 0.8 s without it) and never got it back.
	 * Random page cost 1.1, as for data on SSD or in memory: with the default 4 the planner
	 * answered a batch of 16 meters by hashing whole meter, meter_state and tenant tables
	 * (a third of the database's time on single-reading posts, and growing with the
	 * fleet) rather than 16 primary-key probes each. */
	if (PQstatus(c) == CONNECTION_OK)
		PQclear(PQexec(c, "SET jit = off; SET random_page_cost = 1.1"));
	if (PQstatus(c) != CONNECTION_OK || prepare_all(c) != 0) {
		atomic_fetch_add(&n_connect_fail, 1);
		core_hist_observe(&connect_wait, 1, mono_us() - t0);
		int64_t now = mono_s();
		if (now - tl_last_fail_log >= 5) { /* one line per thread per 5 s, not a flood */
			tl_last_fail_log = now;
			srv_log(LOG_ERROR, "db: cannot connect: %s", PQerrorMessage(c));
		}
		PQfinish(c);
		return NULL;
	}
	atomic_fetch_add(&n_connects, 1);
	core_hist_observe(&connect_wait, 0, mono_us() - t0);
	atomic_fetch_add(&n_open, 1);
	track(NULL, c);
	tl_conn = c;
	return c;
}

void db_conn_reset(void)
{
	if (tl_conn) {
		atomic_fetch_sub(&n_open, 1);
		track(tl_conn, NULL);
		PQfinish(tl_conn);
		tl_conn = NULL;
	}
}

void db_thread_close(void) { db_conn_reset(); }

enum db_status db_classify(PGconn *c, const PGresult *r, const char *what)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return DB_OK;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (!state || (c && PQstatus(c) != CONNECTION_OK))
		return DB_GONE;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
		return DB_RETRY;
	if (!strcmp(state, "23505"))
		return DB_UNIQUE;
	/* 08P01 on a live connection is a message the server refused (a statement given the
	 * wrong number of parameters): wattle's bug, not a lost database */
	if (!strncmp(state, "08", 2) && strcmp(state, "08P01") != 0)
		return DB_GONE;
	if (!strcmp(state, "57P01") || !strcmp(state, "57P02") ||
	    !strcmp(state, "57P03") || !strcmp(state, "53300"))
		return DB_GONE;
	srv_log(LOG_ERROR, "db: %s failed (%s): %s", what, state, PQresultErrorMessage(r));
	if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2))
		return DB_REFUSED;
	return DB_HARD;
}

static _Thread_local uint64_t thread_statements;
static _Atomic uint64_t n_statements;

uint64_t db_thread_statements(void) { return thread_statements; }

enum db_status db_exec(PGconn *c, const char *stmt, int n, const char *const *params,
		       PGresult **res)
{
	thread_statements++;
	atomic_fetch_add_explicit(&n_statements, 1, memory_order_relaxed);
	PGresult *r = PQexecPrepared(c, stmt, n, params, NULL, NULL, 0);
	*res = r;
	return db_classify(c, r, stmt);
}

static enum db_status simple(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	enum db_status s = db_classify(c, r, sql);
	PQclear(r);
	return s;
}

static enum db_status run_tx(db_tx_fn fn, void *arg);

enum db_status db_run_tx(db_tx_fn fn, void *arg)
{
	atomic_fetch_add_explicit(&n_in_tx, 1, memory_order_relaxed);
	enum db_status s = run_tx(fn, arg);
	atomic_fetch_sub_explicit(&n_in_tx, 1, memory_order_relaxed);
	return s;
}

static enum db_status run_tx(db_tx_fn fn, void *arg)
{
	int reconnected = 0;
	for (int attempt = 0; attempt < TX_MAX_TRIES; attempt++) {
		PGconn *c = db_conn();
		if (!c) {
			atomic_fetch_add(&n_gone, 1);
			return DB_GONE;
		}
		enum db_status s = simple(c, "BEGIN");
		if (s == DB_GONE) {
			/* A stale connection fails at BEGIN, before anything was sent: safe to
			 * reconnect and start again, once. */
			db_conn_reset();
			if (reconnected++ == 0)
				continue;
			atomic_fetch_add(&n_gone, 1);
			return DB_GONE;
		}
		if (s == DB_OK) {
			s = fn(c, arg);
			if (s == DB_OK)
				s = simple(c, "COMMIT");
			else if (PQstatus(c) == CONNECTION_OK)
				simple(c, "ROLLBACK");
		}
		if (s == DB_OK) {
			atomic_fetch_add(&n_commits, 1);
			return DB_OK;
		}
		if (s == DB_RETRY) {
			atomic_fetch_add(&n_retries, 1);
			usleep((useconds_t)(1000 * (attempt + 1)));
			continue;
		}
		if (s == DB_GONE) {
			/* Lost mid-transaction or at COMMIT: it may or may not have landed, so it
			 * is not run again here; the client retries with its Idempotency-Key. */
			db_conn_reset();
			atomic_fetch_add(&n_gone, 1);
			return DB_GONE;
		}
		return s;
	}
	srv_log(LOG_WARN, "db: transaction still conflicting after %d tries", TX_MAX_TRIES);
	return DB_RETRY;
}

void db_stats_get(struct db_stats *o)
{
	o->tx_commits = atomic_load(&n_commits);
	o->tx_retries = atomic_load(&n_retries);
	o->tx_gone = atomic_load(&n_gone);
	o->connects = atomic_load(&n_connects);
	o->connect_failures = atomic_load(&n_connect_fail);
	o->statements = atomic_load(&n_statements);
	o->open = atomic_load(&n_open);
	o->in_tx = atomic_load(&n_in_tx);
}

static void p_own(struct db_params *p, char *s)
{
	if (p->n == DB_MAX_PARAMS) {
		srv_log(LOG_ERROR, "db: more than %d parameters", DB_MAX_PARAMS);
		abort();
	}
	p->own[p->n] = s;
	p->v[p->n++] = s;
}

static char *dup_or_die(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

void db_p_i64(struct db_params *p, int64_t v)
{
	char b[24];
	snprintf(b, sizeof b, "%lld", (long long)v);
	p_own(p, dup_or_die(b));
}

void db_p_id(struct db_params *p, int64_t v)
{
	if (v)
		db_p_i64(p, v);
	else
		p_own(p, NULL);
}

void db_p_take(struct db_params *p, char *s) { p_own(p, s); }

void db_p_i64_if(struct db_params *p, bool has, int64_t v)
{
	if (has)
		db_p_i64(p, v);
	else
		p_own(p, NULL);
}

void db_p_bool(struct db_params *p, bool v) { p_own(p, dup_or_die(v ? "true" : "false")); }

void db_p_text(struct db_params *p, const char *s) { p_own(p, s ? dup_or_die(s) : NULL); }

void db_p_i64_array(struct db_params *p, const int64_t *v, int n)
{
	struct srv_buf b = {0};
	for (int i = 0; i < n; i++) {
		srv_buf_elem(&b);
		srv_buf_i64(&b, v[i]);
	}
	if (n)
		srv_buf_putc(&b, '}');
	else
		PUT_LIT(&b, "{}");
	p_own(p, b.p);
}

void db_params_free(struct db_params *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->own[i]);
	p->n = 0;
}

enum db_status db_exec_p(PGconn *c, const char *stmt, struct db_params *p, PGresult **res)
{
	enum db_status st = db_exec(c, stmt, p->n, p->v, res);
	db_params_free(p);
	return st;
}

/* v into dst[size]; when it does not fit, cut at a UTF-8 character boundary, so a cut
 * text is still text (a JSON encoder refuses half a character). */
static void text_fit(char *dst, size_t size, const char *v)
{
	size_t n = strlen(v);
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, v, n);
	dst[n] = 0;
}

enum db_status db_cols_bind(const PGresult *r, struct db_col *spec, const char *what)
{
	for (struct db_col *s = spec; s->name; s++) {
		s->num = PQfnumber(r, s->name);
		if (s->num < 0) {
			srv_log(LOG_ERROR, "db: %s: the result has no column %s", what, s->name);
			return DB_HARD;
		}
	}
	return DB_OK;
}

/* "{1,2,3}" -> a new array. */
static int64_t *parse_i64_array(const char *s, int *count)
{
	int cap = 0, n = 0;
	int64_t *a = NULL;
	for (const char *p = s + (*s == '{'); *p && *p != '}';) {
		char *end;
		long long v = strtoll(p, &end, 10);
		if (end == p)
			break;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			a = realloc(a, (size_t)cap * sizeof *a);
			if (!a)
				abort();
		}
		a[n++] = v;
		p = *end == ',' ? end + 1 : end;
	}
	*count = n;
	return a;
}

void db_cols_read(const PGresult *r, int row, const struct db_col *spec)
{
	for (const struct db_col *s = spec; s->name; s++) {
		bool null = PQgetisnull(r, row, s->num);
		const char *v = null ? "" : PQgetvalue(r, row, s->num);
		if (s->isnull)
			*s->isnull = null;
		switch (s->type) {
		case DB_I64:
			*(int64_t *)s->dst = null ? 0 : strtoll(v, NULL, 10);
			break;
		case DB_INT:
			*(int *)s->dst = null ? 0 : (int)strtol(v, NULL, 10);
			break;
		case DB_BOOL:
			*(bool *)s->dst = !null && v[0] == 't';
			break;
		case DB_TEXT:
			text_fit(s->dst, s->size, v);
			break;
		case DB_TEXT_NEW:
			*(char **)s->dst = null ? NULL : dup_or_die(v);
			break;
		case DB_I64_ARRAY:
			if (null) {
				*(int64_t **)s->dst = NULL;
				*(int *)s->aux = 0;
			} else {
				*(int64_t **)s->dst = parse_i64_array(v, (int *)s->aux);
			}
			break;
		}
	}
}

enum db_status db_exec_bind(PGconn *c, const char *stmt, struct db_params *p, struct db_col *spec, PGresult **res)
{
	enum db_status st = db_exec_p(c, stmt, p, res);
	if (st == DB_OK && spec)
		st = db_cols_bind(*res, spec, stmt);
	if (st != DB_OK) {
		PQclear(*res);
		*res = NULL;
	}
	return st;
}

enum db_status db_exec_row(PGconn *c, const char *stmt, struct db_params *p, struct db_col *spec, bool *found)
{
	PGresult *r;
	enum db_status st = db_exec_bind(c, stmt, p, spec, &r);
	bool one = st == DB_OK && PQntuples(r) >= 1;
	if (one)
		db_cols_read(r, 0, spec);
	if (found)
		*found = one;
	PQclear(r);
	return st;
}

enum db_status db_exec_void(PGconn *c, const char *stmt, struct db_params *p)
{
	PGresult *r;
	enum db_status st = db_exec_p(c, stmt, p, &r);
	PQclear(r);
	return st;
}

enum db_status db_exec_rows(PGconn *c, const char *stmt, struct db_params *p, struct db_col *spec, void *row,
			    size_t row_size, void **out, int *n)
{
	*out = NULL;
	*n = 0;
	PGresult *r;
	enum db_status st = db_exec_bind(c, stmt, p, spec, &r);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	char *a = rows ? malloc((size_t)rows * row_size) : NULL;
	if (rows && !a)
		abort();
	for (int i = 0; i < rows; i++) {
		memset(row, 0, row_size);
		db_cols_read(r, i, spec);
		memcpy(a + (size_t)i * row_size, row, row_size);
	}
	PQclear(r);
	*out = a;
	*n = rows;
	return DB_OK;
}
