/* migrate.c: numbered SQL files applied in order, each once, recorded in schema_migrations. */
#include "store/migrate.h"
#include "core/log.h"
#include "store/db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An arbitrary constant that names "wattle migrations" among advisory locks. */
#define MIGRATE_LOCK_KEY "7227370131"

int srv_migrations_latest(void)
{
	int v = 0;
	for (const struct migration *m = srv_migrations; m->sql; m++)
		if (m->version > v)
			v = m->version;
	return v;
}

static int run(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		srv_log(LOG_ERROR, "migrate: %s failed: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

int srv_migrate(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		srv_log(LOG_ERROR, "migrate: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	int applied = 0;
	if (run(c, "SET client_min_messages = warning", "set") ||
	    run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "lock") ||
	    run(c,
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version integer PRIMARY KEY, name text NOT NULL,"
		" applied_at timestamptz NOT NULL DEFAULT now())",
		"create schema_migrations")) {
		applied = -1;
		goto out;
	}
	for (const struct migration *m = srv_migrations; m->sql; m++) {
		char v[16];
		snprintf(v, sizeof v, "%d", m->version);
		const char *p[2] = {v, m->name};
		PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
					   NULL, p, NULL, NULL, 0);
		int have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
		int failed = PQresultStatus(r) != PGRES_TUPLES_OK;
		PQclear(r);
		if (failed) {
			applied = -1;
			goto out;
		}
		if (have)
			continue;
		if (run(c, "BEGIN", "begin") || run(c, m->sql, m->name)) {
			run(c, "ROLLBACK", "rollback");
			applied = -1;
			goto out;
		}
		r = PQexecParams(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
				 2, NULL, p, NULL, NULL, 0);
		failed = PQresultStatus(r) != PGRES_COMMAND_OK;
		PQclear(r);
		if (failed || run(c, "COMMIT", "commit")) {
			run(c, "ROLLBACK", "rollback");
			applied = -1;
			goto out;
		}
		srv_log(LOG_INFO, "migrate: applied %s", m->name);
		applied++;
	}
out:
	run(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "unlock");
	PQfinish(c);
	return applied;
}

static const struct db_stmt migrate_stmts[] = {
	{"ready_version", /* store_schema_version */
	 "SELECT coalesce(max(version), 0) AS version FROM schema_migrations"},
	{0, 0},
};

void store_migrate_register(void) { db_register(migrate_stmts); }

enum db_status store_schema_version(PGconn *c, int64_t *version)
{
	*version = 0;
	struct db_params p = {0};
	struct db_col spec[] = {DB_COL("version", DB_I64, version), {0}};
	return db_exec_row(c, "ready_version", &p, spec, NULL);
}
