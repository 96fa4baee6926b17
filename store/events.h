/* events.h: the backlog of live events (db/migrations/0027_events.sql): triggers write the
 * rows in the transactions that change the data; here they are numbered, read and pruned,
 * and a connection listens for them. */
#ifndef WATTLE_STORE_EVENTS_H
#define WATTLE_STORE_EVENTS_H

#include "store/db.h"

#include <stdint.h>

/* One event as stored: its seq (the SSE id), kind ("account", "alarm", "command",
 * "payment"), tenant (0: none), site (0: unknown, a row from before 0031) and JSON text
 * (new: caller frees). */
struct event_row {
	int64_t seq;
	char kind[16];
	int64_t tenant_id, site_id;
	char *data;
};

void store_events_register(void);

/* LISTEN on c for new rows (wattle_events) and numbered ones (wattle_events_seq). Once per
 * connection; a new connection must listen again. */
enum db_status store_events_listen(PGconn *c);

/* Number up to max_rows committed rows not numbered yet (its own transaction: call outside
 * one). *n how many, or -1 when another process's sequencer was at it. */
enum db_status store_events_sequence(PGconn *c, int max_rows, int64_t *n);

/* The backlog's bounds: *first the oldest seq kept (0 when none), *last the last given. */
enum db_status store_events_bounds(PGconn *c, int64_t *first, int64_t *last);

/* Rows with after < seq <= upto, in seq order, at most limit: *out new (caller frees each
 * data and the array with store_events_free), *n how many. */
enum db_status store_events_read(PGconn *c, int64_t after, int64_t upto, int limit, struct event_row **out, int *n);
void store_events_free(struct event_row *rows, int n);

/* Delete the numbered rows but the newest keep. */
enum db_status store_events_prune(PGconn *c, int64_t keep);

#endif
