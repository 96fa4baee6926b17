/* db.c: per-thread libpq connections, prepared statements and the transaction runner. */
#include "store/db.h"
#include "core/buf.h"
#include "core/hist.h"
#include "core/log.h"

#include <poll.h>
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
static _Thread_local PGconn *tl_replica; /* reads off the primary: see db_read_conn */

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
	tl_replica = NULL;
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

/* A new connection to ci with the session settings and every statement prepared, or NULL
 * (logged at most once per 5 s per thread and kind, through *last_log). Counted in the
 * connect metrics and tracked for db_close_all. */
static PGconn *open_conn(const char *ci, const char *kind, int64_t *last_log)
{
	core_hist_register(&connect_wait);
	int64_t t0 = mono_us();
	PGconn *c = PQconnectdb(ci);
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
		if (now - *last_log >= 5) { /* one line per thread per 5 s, not a flood */
			*last_log = now;
			srv_log(LOG_ERROR, "db: cannot connect%s: %s", kind, PQerrorMessage(c));
		}
		PQfinish(c);
		return NULL;
	}
	atomic_fetch_add(&n_connects, 1);
	core_hist_observe(&connect_wait, 0, mono_us() - t0);
	atomic_fetch_add(&n_open, 1);
	track(NULL, c);
	return c;
}

PGconn *db_conn(void)
{
	if (tl_conn && PQstatus(tl_conn) == CONNECTION_OK)
		return tl_conn;
	db_conn_reset();
	tl_conn = open_conn(conninfo, "", &tl_last_fail_log);
	return tl_conn;
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

static void replica_reset(void);

void db_thread_close(void)
{
	db_conn_reset();
	replica_reset();
}

/* Reads off the primary. Each thread that reads may hold a second connection, to the
 * replica; whether the replica may be read is decided for the whole process by a check at
 * most every replica_check_us, made by whichever reading thread comes first (the others do
 * not wait for it). The check reads the primary's flushed WAL position, then what the
 * replica has replayed: caught up is lag 0; otherwise the lag is the age of the newest
 * earlier check whose position the replica has replayed, or the age of the last commit it
 * replayed when that is less (both bound how old its data is). */
static const char *replica_ci; /* NULL: no replica */
static int64_t replica_max_lag_us, replica_check_us;
static _Thread_local bool tl_replica_lost;   /* lost in this request: its statements go to the primary */
static _Thread_local bool tl_checking;       /* in replica_check: the replica's answer or none, never the primary's */
static _Thread_local int64_t tl_replica_fail_log;
static _Atomic bool replica_usable;           /* the last check found it up and within the bound */
static _Atomic int64_t replica_next_check_us; /* monotonic */
static _Atomic int64_t replica_lag_us = -1;   /* the last check's; -1 when it could not be read */
static _Atomic uint64_t n_replica_reads, n_fallback_lag, n_fallback_down;
static pthread_mutex_t check_mu = PTHREAD_MUTEX_INITIALIZER; /* one check at a time; guards the rest */
#define LSN_RING 64
static struct {
	int64_t lsn, at_us;
} lsn_ring[LSN_RING]; /* the primary's position at the last checks, newest at lsn_head - 1 */
static int lsn_n, lsn_head;
static bool state_said;                        /* the first verdict was logged */
static int64_t state_changes;                  /* changes not logged yet */
static int64_t log_credit_us, log_credit_at_us; /* see replica_state */

static const struct db_stmt replica_stmts[] = {
	/* replica_check, on the primary: how far its WAL is flushed (what it can stream) */
	{"db_primary_wal", "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint AS lsn"},
	/* replica_check, on the replica: how far it has replayed, and the age of the last commit
	 * it replayed (-1 when none since it started) */
	{"db_replica_wal",
	 "SELECT pg_is_in_recovery() AS in_recovery,"
	 " coalesce((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, 0) AS lsn,"
	 " coalesce(greatest(0, (extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000000)::bigint),"
	 " -1) AS age_us"},
	{0},
};

void db_set_replica(const char *ci, int64_t max_lag_ms, int64_t check_ms)
{
	if (!ci || !*ci)
		return;
	replica_ci = ci;
	replica_max_lag_us = max_lag_ms * 1000;
	replica_check_us = check_ms * 1000;
	db_register(replica_stmts);
}

static void replica_reset(void)
{
	if (tl_replica) {
		atomic_fetch_sub(&n_open, 1);
		track(tl_replica, NULL);
		PQfinish(tl_replica);
		tl_replica = NULL;
	}
	tl_replica_lost = false;
}

static void replica_notice(void *arg, const char *msg)
{
	(void)arg;
	srv_log(LOG_DEBUG, "db: the replica says: %s", msg);
}

/* This thread's replica connection, (re)connecting when needed, or NULL. A server that went
 * away since the last request (a clean stop sends its last words; a crash closes the socket)
 * is noticed here, before a statement is sent to it. */
static PGconn *replica_conn(void)
{
	if (tl_replica_lost)
		replica_reset();
	if (tl_replica && PQstatus(tl_replica) == CONNECTION_OK) {
		struct pollfd pf = {PQsocket(tl_replica), POLLIN, 0};
		if (poll(&pf, 1, 0) <= 0 || (PQconsumeInput(tl_replica) && PQstatus(tl_replica) == CONNECTION_OK)) {
			PGnotify *nt;
			while ((nt = PQnotifies(tl_replica)))
				PQfreemem(nt);
			return tl_replica;
		}
	}
	replica_reset();
	tl_replica = open_conn(replica_ci, " to the replica", &tl_replica_fail_log);
	if (tl_replica) /* its last words when it stops ("terminating connection") are not news */
		PQsetNoticeProcessor(tl_replica, replica_notice, NULL);
	return tl_replica;
}

/* Whether the replica is read now, and its lag (-1: it could not be read; why says what
 * failed). Each change is logged at once, as long as that makes at most 6 lines a minute
 * (a budget that refills a line per 10 s); a change past that is logged by a later check,
 * with how many there were. Called with check_mu held. */
static void replica_state(bool usable, int64_t lag_us, const char *why)
{
	bool was = atomic_exchange(&replica_usable, usable);
	atomic_store(&replica_lag_us, lag_us);
	if (was != usable || !state_said)
		state_changes++;
	int64_t now = mono_us();
	log_credit_us += now - log_credit_at_us;
	if (log_credit_us > 60000000)
		log_credit_us = 60000000;
	log_credit_at_us = now;
	if (!state_changes || log_credit_us < 10000000)
		return;
	log_credit_us -= 10000000;
	char more[64] = "";
	if (state_changes > 1)
		snprintf(more, sizeof more, " (%lld changes since the last line)", (long long)state_changes);
	if (usable)
		srv_log(state_said ? LOG_WARN : LOG_INFO, "db: reads go to the replica (lag %.3f s, bound %lld ms)%s",
			(double)lag_us / 1e6, (long long)(replica_max_lag_us / 1000), more);
	else if (lag_us >= 0)
		srv_log(LOG_WARN, "db: the replica lags %.3f s, over WATTLE_REPLICA_MAX_LAG_MS=%lld: reads go to the"
			" primary%s", (double)lag_us / 1e6, (long long)(replica_max_lag_us / 1000), more);
	else
		srv_log(LOG_WARN, "db: the replica cannot be read (%s): reads go to the primary%s", why, more);
	state_said = true;
	state_changes = 0;
}

static void replica_check(void)
{
	int64_t now = mono_us();
	if (now < atomic_load(&replica_next_check_us) || pthread_mutex_trylock(&check_mu))
		return;
	if (now < atomic_load(&replica_next_check_us)) { /* another thread just checked */
		pthread_mutex_unlock(&check_mu);
		return;
	}
	atomic_store(&replica_next_check_us, now + replica_check_us);
	struct db_params none = {0};
	int64_t plsn = 0, rlsn = 0, age = -1;
	bool found = false, recovering = false;
	PGconn *p = db_conn();
	struct db_col pc[] = {DB_COL("lsn", DB_I64, &plsn), {0}};
	enum db_status st = p ? db_exec_row(p, "db_primary_wal", &none, pc, &found) : DB_GONE;
	if (st != DB_OK || !found) {
		/* the primary cannot say: the reads will fail over there anyway; keep what we knew */
		if (st == DB_GONE)
			db_conn_reset();
		pthread_mutex_unlock(&check_mu);
		return;
	}
	PGconn *r = replica_conn();
	struct db_col rc[] = {DB_COL("in_recovery", DB_BOOL, &recovering), DB_COL("lsn", DB_I64, &rlsn),
			      DB_COL("age_us", DB_I64, &age), {0}};
	found = false;
	tl_checking = true;
	st = r ? db_exec_row(r, "db_replica_wal", &none, rc, &found) : DB_GONE;
	tl_checking = false;
	if (st != DB_OK || !found) {
		if (r)
			replica_reset();
		replica_state(false, -1, r ? "the check failed" : "cannot connect");
	} else {
		int64_t lag = 0;
		if (recovering && rlsn < plsn) {
			lag = -1;
			for (int i = 0; i < lsn_n && lag < 0; i++) {
				int k = (lsn_head - 1 - i + LSN_RING) % LSN_RING;
				if (lsn_ring[k].lsn <= rlsn)
					lag = now - lsn_ring[k].at_us;
			}
			if (age >= 0 && (lag < 0 || age < lag))
				lag = age;
			if (lag < 0) /* nothing replayed that any check saw: as old as the oldest check at least */
				lag = lsn_n ? now - lsn_ring[(lsn_head - lsn_n + LSN_RING) % LSN_RING].at_us : INT64_MAX / 2;
		}
		replica_state(lag <= replica_max_lag_us, lag, NULL);
	}
	lsn_ring[lsn_head].lsn = plsn;
	lsn_ring[lsn_head].at_us = now;
	lsn_head = (lsn_head + 1) % LSN_RING;
	if (lsn_n < LSN_RING)
		lsn_n++;
	pthread_mutex_unlock(&check_mu);
}

static void replica_down(const char *why);

PGconn *db_read_conn(void)
{
	if (!replica_ci)
		return db_conn();
	replica_check();
	if (!atomic_load(&replica_usable)) {
		atomic_fetch_add(atomic_load(&replica_lag_us) >= 0 ? &n_fallback_lag : &n_fallback_down, 1);
		return db_conn();
	}
	PGconn *r = replica_conn();
	if (!r) {
		atomic_fetch_add(&n_fallback_down, 1);
		replica_down("cannot connect");
		return db_conn();
	}
	atomic_fetch_add(&n_replica_reads, 1);
	return r;
}

bool db_is_replica(const PGconn *c) { return c && c == tl_replica; }

/* The replica failed a reading thread (why): no thread reads it until the next check finds
 * it well, a check interval from now. */
static void replica_down(const char *why)
{
	if (pthread_mutex_trylock(&check_mu) == 0) {
		replica_state(false, -1, why);
		pthread_mutex_unlock(&check_mu);
	} else { /* a check is under way and will say */
		atomic_store(&replica_usable, false);
	}
	atomic_store(&replica_next_check_us, mono_us() + replica_check_us);
}

/* A statement the replica could not answer (lost, or cancelled by a conflict with recovery),
 * to be run on the primary instead: the reply the client gets is the same, only later. */
static void replica_failed(enum db_status st)
{
	atomic_fetch_add(&n_fallback_down, 1);
	if (st == DB_GONE) {
		tl_replica_lost = true; /* closed at the next db_read_conn: the caller still holds it */
		replica_down("connection lost");
	}
}

void db_replica_stats_get(struct db_replica_stats *o)
{
	o->configured = replica_ci != NULL;
	o->reads = atomic_load(&n_replica_reads);
	o->fallbacks_lag = atomic_load(&n_fallback_lag);
	o->fallbacks_down = atomic_load(&n_fallback_down);
	o->usable = atomic_load(&replica_usable);
	o->lag_us = atomic_load(&replica_lag_us);
}

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
	if (tl_replica_lost && c == tl_replica)
		c = db_conn();
	thread_statements++;
	atomic_fetch_add_explicit(&n_statements, 1, memory_order_relaxed);
	PGresult *r = PQexecPrepared(c, stmt, n, params, NULL, NULL, 0);
	enum db_status st = db_classify(c, r, stmt);
	if (c && c == tl_replica && !tl_checking && (st == DB_GONE || st == DB_RETRY)) {
		PQclear(r);
		replica_failed(st);
		return db_exec(db_conn(), stmt, n, params, res);
	}
	*res = r;
	return st;
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
