/* migrate.h: applies the SQL migrations compiled into the binary. */
#ifndef WATTLE_MIGRATE_H
#define WATTLE_MIGRATE_H

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* Generated from the db/migrations SQL files; ends with {0}. */
extern const struct migration srv_migrations[];

/* Highest version compiled in. */
int srv_migrations_latest(void);

/* Apply what is missing, each file in its own transaction, under an advisory lock so two
 * processes starting at once apply nothing twice. Returns the number applied, -1 on error
 * (logged). */
int srv_migrate(const char *conninfo);

/* The highest migration the database has applied (readiness). */
#include "store/db.h"
enum db_status store_schema_version(PGconn *c, int64_t *version);
void store_migrate_register(void);

#endif
