/* queue.c: the on-disk queue between the meters and wattle (SQLite through libsqlite3, WAL,
 * synchronous=FULL: a committed reading survives kill -9 and power loss). Every reading is
 * committed here before it is sent and deleted only after wattle's 2xx; so is every
 * command's ack. Producers (poll lanes, the MQTT thread) hand readings to a writer thread
 * that commits whatever has gathered in one transaction (group commit: one fsync for many
 * readings), so 5,000 readings a second cost a few hundred commits, not 5,000. */
#include "gateway/gw.h"
#include "core/buf.h"
#include "core/clock.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sqlite3 *db;
static pthread_mutex_t db_mu = PTHREAD_MUTEX_INITIALIZER; /* one connection, one user at a time */

struct pending {
	struct pending *next;
	char *meter, *json;
};
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	struct pending *head, *tail;
	uint64_t handed, committed;
	bool stop;
	pthread_t th;
} W = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, false, 0};
static _Atomic int64_t depth;

static int exec(const char *sql)
{
	char *e = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
		gw_log("error", "queue: %s: %s", sql, e ? e : sqlite3_errmsg(db));
		sqlite3_free(e);
		return -1;
	}
	return 0;
}

static int64_t count(const char *sql)
{
	sqlite3_stmt *s;
	int64_t n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* Commit every pending reading in one transaction; on failure (a full disk) keep them and
 * try again: nothing is dropped. */
static void *writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.mu);
	for (;;) {
		while (!W.head && !W.stop)
			pthread_cond_wait(&W.cv, &W.mu);
		if (!W.head && W.stop)
			break;
		struct pending *batch = W.head;
		uint64_t n = 0;
		W.head = W.tail = NULL;
		pthread_mutex_unlock(&W.mu);
		pthread_mutex_lock(&db_mu);
		sqlite3_stmt *s = NULL;
		bool ok = exec("BEGIN IMMEDIATE") == 0 &&
			  sqlite3_prepare_v2(db, "INSERT INTO readings (meter, body) VALUES (?, ?)", -1, &s, NULL) == SQLITE_OK;
		for (struct pending *p = batch; ok && p; p = p->next, n++) {
			sqlite3_bind_text(s, 1, p->meter, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, p->json, -1, SQLITE_STATIC);
			ok = sqlite3_step(s) == SQLITE_DONE;
			sqlite3_reset(s);
		}
		sqlite3_finalize(s);
		ok = ok && exec("COMMIT") == 0;
		if (!ok)
			exec("ROLLBACK");
		pthread_mutex_unlock(&db_mu);
		pthread_mutex_lock(&W.mu);
		if (!ok) { /* put them back in front, in order, and wait a little */
			gw_log("error", "queue: cannot commit %llu readings (%s); retrying in 1 s",
			       (unsigned long long)n, sqlite3_errmsg(db));
			struct pending *last = batch;
			while (last->next)
				last = last->next;
			last->next = W.head;
			if (!W.head)
				W.tail = last;
			W.head = batch;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&W.cv, &W.mu, &ts);
			continue;
		}
		atomic_fetch_add(&depth, (int64_t)n);
		W.committed += n;
		pthread_cond_broadcast(&W.done_cv);
		pthread_mutex_unlock(&W.mu);
		for (struct pending *p = batch, *next; p; p = next) {
			next = p->next;
			free(p->meter);
			free(p->json);
			free(p);
		}
		gw_uplink_kick();
		pthread_mutex_lock(&W.mu);
	}
	pthread_mutex_unlock(&W.mu);
	return NULL;
}

int gw_queue_open(const char *path)
{
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		gw_log("error", "queue: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (exec("PRAGMA journal_mode=WAL") || exec("PRAGMA synchronous=FULL") ||
	    exec("CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY AUTOINCREMENT, meter TEXT NOT NULL,"
		 " body TEXT NOT NULL)") ||
	    exec("CREATE TABLE IF NOT EXISTS acks (seq INTEGER PRIMARY KEY AUTOINCREMENT, command_id TEXT NOT NULL"
		 " UNIQUE, body TEXT NOT NULL)") ||
	    exec("CREATE TABLE IF NOT EXISTS done (command_id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)"))
		return -1;
	/* executed commands are remembered for a day: wattle hands a command out again only
	 * while its lease runs out unacked, minutes at most */
	char sql[128];
	snprintf(sql, sizeof sql, "DELETE FROM done WHERE at < %lld", (long long)(time(NULL) - 86400));
	exec(sql);
	atomic_store(&depth, count("SELECT count(*) FROM readings"));
	if (pthread_create(&W.th, NULL, writer, NULL))
		abort();
	return 0;
}

void gw_queue_close(void)
{
	pthread_mutex_lock(&W.mu);
	W.stop = true;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.th, NULL);
	sqlite3_close(db);
	db = NULL;
}

void gw_queue_reading(const char *meter, const char *json)
{
	struct pending *p = malloc(sizeof *p);
	if (!p || !(p->meter = strdup(meter)) || !(p->json = strdup(json)))
		abort();
	p->next = NULL;
	pthread_mutex_lock(&W.mu);
	if (W.tail)
		W.tail->next = p;
	else
		W.head = p;
	W.tail = p;
	W.handed++;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
}

void gw_queue_flush(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5; /* a disk that takes nothing must not keep the gateway from stopping */
	pthread_mutex_lock(&W.mu);
	uint64_t want = W.handed;
	while (W.committed < want && !W.stop)
		if (pthread_cond_timedwait(&W.done_cv, &W.mu, &until))
			break;
	pthread_mutex_unlock(&W.mu);
}

int gw_queue_peek(int max, int64_t *last_id, struct srv_buf *out)
{
	pthread_mutex_lock(&db_mu);
	sqlite3_stmt *s;
	int n = 0;
	if (sqlite3_prepare_v2(db, "SELECT id, body FROM readings ORDER BY id LIMIT ?", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int(s, 1, max);
		while (sqlite3_step(s) == SQLITE_ROW) {
			if (n++)
				srv_buf_putc(out, ',');
			*last_id = sqlite3_column_int64(s, 0);
			srv_buf_puts(out, (const char *)sqlite3_column_text(s, 1));
		}
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&db_mu);
	return n;
}

void gw_queue_drop(int64_t last_id)
{
	pthread_mutex_lock(&db_mu);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "DELETE FROM readings WHERE id <= ?", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, last_id);
		if (sqlite3_step(s) == SQLITE_DONE)
			atomic_fetch_sub(&depth, (int64_t)sqlite3_changes(db));
		else
			gw_log("error", "queue: cannot delete sent readings: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&db_mu);
}

int64_t gw_queue_depth(void) { return atomic_load(&depth); }

/* Run sql with two text parameters (NULL: none) in autocommit; 0 or -1. */
static int run2(const char *sql, const char *a, const char *b)
{
	pthread_mutex_lock(&db_mu);
	sqlite3_stmt *s;
	int rc = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (a)
			sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
		if (b)
			sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	}
	if (rc)
		gw_log("error", "queue: %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&db_mu);
	return rc;
}

void gw_queue_ack(const char *command_id, const char *json)
{
	/* the ack and the memory that the command ran, in one transaction */
	pthread_mutex_lock(&db_mu);
	sqlite3_stmt *s = NULL;
	bool ok = exec("BEGIN IMMEDIATE") == 0;
	static const char *const sqls[] = {"INSERT OR REPLACE INTO acks (command_id, body) VALUES (?, ?)",
					   "INSERT OR REPLACE INTO done (command_id, body, at) VALUES (?, ?, strftime('%s','now'))"};
	for (int i = 0; ok && i < 2; i++) {
		ok = sqlite3_prepare_v2(db, sqls[i], -1, &s, NULL) == SQLITE_OK;
		if (ok) {
			sqlite3_bind_text(s, 1, command_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, json, -1, SQLITE_STATIC);
			ok = sqlite3_step(s) == SQLITE_DONE;
		}
		sqlite3_finalize(s);
	}
	if (!ok || exec("COMMIT")) {
		gw_log("error", "queue: cannot keep the ack of %s: %s", command_id, sqlite3_errmsg(db));
		exec("ROLLBACK");
	}
	pthread_mutex_unlock(&db_mu);
	gw_uplink_kick();
}

int gw_queue_ack_peek(char *command_id, size_t n, char **json)
{
	pthread_mutex_lock(&db_mu);
	sqlite3_stmt *s;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT command_id, body FROM acks ORDER BY seq LIMIT 1", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		snprintf(command_id, n, "%s", (const char *)sqlite3_column_text(s, 0));
		if (!(*json = strdup((const char *)sqlite3_column_text(s, 1))))
			abort();
		found = 1;
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&db_mu);
	return found;
}

void gw_queue_ack_drop(const char *command_id) { run2("DELETE FROM acks WHERE command_id = ?", command_id, NULL); }

int gw_queue_done(const char *command_id)
{
	pthread_mutex_lock(&db_mu);
	sqlite3_stmt *s;
	char *body = NULL;
	if (sqlite3_prepare_v2(db, "SELECT body FROM done WHERE command_id = ?", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, command_id, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW && !(body = strdup((const char *)sqlite3_column_text(s, 0))))
			abort();
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&db_mu);
	if (!body)
		return 0;
	/* wattle has not seen the ack (it handed the command out again): send it again */
	run2("INSERT OR IGNORE INTO acks (command_id, body) VALUES (?, ?)", command_id, body);
	free(body);
	gw_uplink_kick();
	return 1;
}
