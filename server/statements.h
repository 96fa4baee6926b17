/* statements.h: every layer's prepared statements, registered with the db layer at once. */
#ifndef WATTLE_STATEMENTS_H
#define WATTLE_STATEMENTS_H

/* Register the statements of store/, ops/, api/ and server/ (before db_conn() is first
 * used; not thread-safe). */
void srv_register_statements(void);

#endif
