/* db.h: PostgreSQL access. One connection per thread, statements prepared once per
 * connection, SQLSTATE mapped in one place, and db_run_tx for every transaction. */
#ifndef WATTLE_DB_H
#define WATTLE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* How a statement or transaction ended, decided only by db_classify(). */
enum db_status {
	DB_OK = 0,    /* ran; rows (maybe none) in the result */
	DB_RETRY,     /* serialization failure or deadlock: run the transaction again */
	DB_UNIQUE,    /* unique violation (23505): the caller decides what it means */
	DB_REFUSED,   /* a constraint or data error the caller caused (23xxx, 22xxx) */
	DB_GONE,      /* connection lost or server shutting down: 503 */
	DB_HARD,      /* anything else: logged, 500 */
	DB_ABORT,     /* returned by a tx callback: roll back, the reply is already set */
};

/* A prepared statement: the name it is executed by and its SQL. Arrays end with {0}. */
struct db_stmt {
	const char *name;
	const char *sql;
};

/* Register a statement array (static storage) to be prepared on every connection.
 * Call before db_conn() is first used; not thread-safe. */
void db_register(const struct db_stmt *stmts);

/* Set the connection string (libpq URL or key=value); borrowed, must outlive use. */
void db_set_conninfo(const char *conninfo);

/* This thread's connection, connecting (and preparing) when needed.
 * Borrowed: valid on this thread until db_thread_close(). NULL when the database is
 * unreachable (logged, rate-limited). */
PGconn *db_conn(void);

/* Reads off the primary (docs/operations.md, "Replicas and PgBouncer"). With a replica set
 * (conninfo borrowed, must outlive use; NULL or "" is none), db_read_conn() answers a second
 * per-thread connection, to the replica, while the replica's lag is within max_lag_ms, as
 * checked at most every check_ms by one of the reading threads; else, or when it cannot be
 * reached, this thread's primary connection (db_conn()). Call before db_conn() is first used;
 * not thread-safe. */
void db_set_replica(const char *conninfo, int64_t max_lag_ms, int64_t check_ms);

/* A connection for a read that may be up to the replica's bound old: only read-only
 * statements, outside any transaction, and never a read that must see what this client has
 * just written (money, a balance after a top-up) - those take db_conn(). Borrowed like
 * db_conn()'s; NULL when neither database can be reached. A statement the replica fails to
 * answer (the connection lost, a conflict with recovery) is run again on the primary by
 * db_exec, and the rest of the request's statements on this connection go there too. */
PGconn *db_read_conn(void);

/* Whether c is this thread's replica connection (a "not found" there may only be lag). */
bool db_is_replica(const PGconn *c);

/* Counters for /metrics: reads db_read_conn sent to the replica, and those it sent to the
 * primary because the replica lagged or could not answer; the last check's verdict. */
struct db_replica_stats {
	bool configured, usable;
	uint64_t reads, fallbacks_lag, fallbacks_down;
	int64_t lag_us; /* -1 when the last check could not read the replica */
};
void db_replica_stats_get(struct db_replica_stats *out);

/* Close this thread's connections (worker exit). Safe when there is none. */
void db_thread_close(void);

/* Close every connection any thread opened (at shutdown, after the threads stopped). */
void db_close_all(void);

/* Drop this thread's connection so the next db_conn() reconnects. */
void db_conn_reset(void);

/* Map a result (NULL = connection failure) to a status; logs hard errors with the
 * statement name. Never exposes diagnostics to clients. */
enum db_status db_classify(PGconn *c, const PGresult *r, const char *what);

/* Execute a prepared statement with text parameters (NULL = SQL NULL).
 * *res gets the result (caller PQclear()s it; set even on error, may be NULL).
 * Returns the classified status. */
enum db_status db_exec(PGconn *c, const char *stmt, int n, const char *const *params,
		       PGresult **res);

/* A transaction body. Runs inside BEGIN..COMMIT; must not do network I/O or other
 * side effects outside the database, since it may run more than once.
 * Return DB_OK to commit, DB_ABORT to roll back (reply already prepared), or the
 * failing status of a statement (DB_RETRY retries; others roll back). */
typedef enum db_status (*db_tx_fn)(PGconn *c, void *arg);

/* Run fn in a READ COMMITTED transaction on this thread's connection, retrying
 * serialization failures and deadlocks up to 8 times and reconnecting once when the
 * connection was lost. Returns DB_OK (committed), DB_ABORT, DB_GONE (503), or DB_HARD,
 * DB_UNIQUE, DB_REFUSED as the callback returned them (rolled back). */
enum db_status db_run_tx(db_tx_fn fn, void *arg);

/* SQL fragments: a bigint parameter of unix microseconds as timestamptz, and back. */
#define SQL_TS(param) "('epoch'::timestamptz + (" param ")::bigint * interval '1 microsecond')"
#define SQL_US(col) "(extract(epoch from " col ") * 1000000)::bigint"

/* Statements this thread has executed (db_exec and everything built on it): the request
 * log shows each request's share, so an N+1 query shows up in the log. */
uint64_t db_thread_statements(void);

/* Counters for /metrics. */
struct db_stats {
	uint64_t tx_commits, tx_retries, tx_gone, connects, connect_failures, statements;
	int64_t open;  /* connections open now (one per thread that holds one; there is no pool) */
	int64_t in_tx; /* threads inside db_run_tx now */
};
void db_stats_get(struct db_stats *out);

/* Parameters of one statement, built without hand-filled buffers: each db_p_* appends
 * parameter $n+1. Values are copied into the set; db_params_free releases it. At most
 * DB_MAX_PARAMS (more is a programming error: abort). */
#define DB_MAX_PARAMS 24
struct db_params {
	int n;
	const char *v[DB_MAX_PARAMS];
	char *own[DB_MAX_PARAMS]; /* owned copies, freed by db_params_free */
};
void db_p_i64(struct db_params *p, int64_t v);
/* v, or SQL NULL when v == 0 (optional ids). */
void db_p_id(struct db_params *p, int64_t v);
void db_p_bool(struct db_params *p, bool v);
/* v when has, else SQL NULL (optional values where 0 is a value). */
void db_p_i64_if(struct db_params *p, bool has, int64_t v);
/* s copied; NULL is SQL NULL. */
void db_p_text(struct db_params *p, const char *s);
/* s taken over (freed by db_params_free); NULL is SQL NULL. For big literals built in a
 * struct srv_buf: db_p_take(&p, b.p) and forget b. */
void db_p_take(struct db_params *p, char *s);
/* A bigint[] literal of v[0..n). */
void db_p_i64_array(struct db_params *p, const int64_t *v, int n);
void db_params_free(struct db_params *p);

/* db_exec with a parameter set, which it frees. */
enum db_status db_exec_p(PGconn *c, const char *stmt, struct db_params *p, PGresult **res);

/* The common shapes of a store function, on top of db_exec_p and the column specs below:
 * db_exec_bind runs stmt and binds spec (may be NULL) to its result, leaving *res to the
 * caller on DB_OK (cleared otherwise); db_exec_row reads the first row into spec when there
 * is one (*found says so; may be NULL); db_exec_void runs a statement whose result is not
 * needed. Each frees p. */
struct db_col;
enum db_status db_exec_bind(PGconn *c, const char *stmt, struct db_params *p, struct db_col *spec, PGresult **res);
enum db_status db_exec_row(PGconn *c, const char *stmt, struct db_params *p, struct db_col *spec, bool *found);
enum db_status db_exec_void(PGconn *c, const char *stmt, struct db_params *p);
/* Every row into a new array: spec's destinations point into *row (row_size bytes, the
 * caller's scratch), zeroed before each row is read and then appended to *out (new: caller
 * frees; NULL when there are none), *n how many. */
enum db_status db_exec_rows(PGconn *c, const char *stmt, struct db_params *p, struct db_col *spec, void *row,
			    size_t row_size, void **out, int *n);

/* Reading results by column name. A spec is an array of columns ending with {0}; each
 * names a result column, a type and where the value goes. db_cols_bind resolves the names
 * once per result (a name the result lacks is a programming error: logged, DB_HARD);
 * db_cols_read then fills one row. A NULL reads as 0 / false / "" / no array, and sets
 * *isnull when the spec gives it. */
enum db_type {
	DB_I64,       /* int64_t */
	DB_INT,       /* int */
	DB_BOOL,      /* bool */
	DB_TEXT,      /* char[size], truncated to fit */
	DB_TEXT_NEW,  /* char *, new: caller frees */
	DB_I64_ARRAY, /* int64_t *, new (caller frees), count into *(int *)aux */
};
struct db_col {
	const char *name;
	enum db_type type;
	void *dst;
	size_t size;  /* DB_TEXT: the buffer's size */
	void *aux;    /* DB_I64_ARRAY: int * for the count */
	bool *isnull; /* optional */
	int num;      /* resolved by db_cols_bind */
};
#define DB_COL(name, type, dst) {name, type, dst, 0, NULL, NULL, -1}
#define DB_COL_TEXT(name, buf) {name, DB_TEXT, buf, sizeof(buf), NULL, NULL, -1}
#define DB_COL_ARRAY(name, dst, count) {name, DB_I64_ARRAY, dst, 0, count, NULL, -1}
#define DB_COL_NULL(name, type, dst, isnull) {name, type, dst, 0, NULL, isnull, -1}
enum db_status db_cols_bind(const PGresult *r, struct db_col *spec, const char *what);
void db_cols_read(const PGresult *r, int row, const struct db_col *spec);


#endif
