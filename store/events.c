/* events.c: the live events' backlog (events.h): numbering, reading, pruning, listening. */
#include "store/events.h"

#include <stdlib.h>

static const struct db_stmt event_stmts[] = {
	{"events_sequence", /* store_events_sequence */
	 "SELECT events_sequence($1::integer) AS n"},
	{"events_bounds", /* store_events_bounds */
	 "SELECT coalesce((SELECT min(seq) FROM events WHERE seq IS NOT NULL), 0) AS first,"
	 " (SELECT last_seq FROM event_cursor) AS last"},
	{"events_read", /* store_events_read */
	 "SELECT seq, kind, coalesce(tenant_id, 0) AS tenant_id, coalesce(site_id, 0) AS site_id, data FROM events"
	 " WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"},
	{"events_prune", /* store_events_prune */
	 "DELETE FROM events WHERE seq <= (SELECT last_seq FROM event_cursor) - $1"},
	{0, 0},
};

void store_events_register(void) { db_register(event_stmts); }

enum db_status store_events_listen(PGconn *c)
{
	/* LISTEN cannot be prepared; it takes no parameters either. */
	PGresult *r = PQexecParams(c, "LISTEN wattle_events", 0, NULL, NULL, NULL, NULL, 0);
	enum db_status st = db_classify(c, r, "events_listen");
	PQclear(r);
	if (st != DB_OK)
		return st;
	r = PQexecParams(c, "LISTEN wattle_events_seq", 0, NULL, NULL, NULL, NULL, 0);
	st = db_classify(c, r, "events_listen_seq");
	PQclear(r);
	return st;
}

enum db_status store_events_sequence(PGconn *c, int max_rows, int64_t *n)
{
	struct db_params p = {0};
	db_p_i64(&p, max_rows);
	*n = 0;
	struct db_col spec[] = {DB_COL("n", DB_I64, n), {0}};
	return db_exec_row(c, "events_sequence", &p, spec, NULL);
}

enum db_status store_events_bounds(PGconn *c, int64_t *first, int64_t *last)
{
	struct db_params p = {0};
	*first = *last = 0;
	struct db_col spec[] = {DB_COL("first", DB_I64, first), DB_COL("last", DB_I64, last), {0}};
	return db_exec_row(c, "events_bounds", &p, spec, NULL);
}

enum db_status store_events_read(PGconn *c, int64_t after, int64_t upto, int limit, struct event_row **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, upto);
	db_p_i64(&p, limit);
	struct event_row e;
	struct db_col spec[] = {DB_COL("seq", DB_I64, &e.seq), DB_COL_TEXT("kind", e.kind),
				DB_COL("tenant_id", DB_I64, &e.tenant_id), DB_COL("site_id", DB_I64, &e.site_id),
				DB_COL("data", DB_TEXT_NEW, &e.data), {0}};
	return db_exec_rows(c, "events_read", &p, spec, &e, sizeof e, (void **)out, n);
}

void store_events_free(struct event_row *rows, int n)
{
	for (int i = 0; rows && i < n; i++)
		free(rows[i].data);
	free(rows);
}

enum db_status store_events_prune(PGconn *c, int64_t keep)
{
	struct db_params p = {0};
	db_p_i64(&p, keep);
	return db_exec_void(c, "events_prune", &p);
}
