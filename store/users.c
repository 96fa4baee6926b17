/* users.c: the SQL of the users table (users.h). */
#include "store/users.h"

#include <stdlib.h>
#include <string.h>

#define USER_COLS                                                                                                    \
	"id, username, password_hash, role, coalesce(tenant_id, 0) AS tenant_id, site_ids, disabled, failed_logins," \
	" coalesce(" SQL_US("locked_until") ", 0) AS locked_until_us, " SQL_US("created_at") " AS created_us, "     \
	SQL_US("updated_at") " AS updated_us"

static const struct db_stmt user_stmts[] = {
	{"user_insert", /* store_user_insert */
	 "INSERT INTO users (username, password_hash, role, tenant_id, site_ids, created_at, updated_at)"
	 " VALUES ($1, $2, $3, $4::bigint, $5::bigint[], " SQL_TS("$6") ", " SQL_TS("$6") ") RETURNING id"},
	{"users_list", /* store_users_list */
	 "SELECT " USER_COLS " FROM users WHERE id > $1 ORDER BY id LIMIT $2"},
	{"user_get", /* store_user_get */
	 "SELECT " USER_COLS " FROM users WHERE id = $1"},
	{"user_by_name", /* store_user_by_name */
	 "SELECT " USER_COLS " FROM users WHERE lower(username) = lower($1)"},
	{"user_update", /* store_user_update */
	 "UPDATE users SET role = $2, tenant_id = $3::bigint, site_ids = $4::bigint[], disabled = $5,"
	 " password_hash = $6, updated_at = " SQL_TS("$7") ","
	 " failed_logins = CASE WHEN $8 THEN 0 ELSE failed_logins END,"
	 " locked_until = CASE WHEN $8 THEN NULL ELSE locked_until END WHERE id = $1"},
	{"user_login_failed", /* store_user_login_failed: the count and the lock in one row update */
	 "UPDATE users SET failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,"
	 " locked_until = CASE WHEN failed_logins + 1 >= $2 THEN " SQL_TS("$3") " ELSE locked_until END"
	 " WHERE id = $1 RETURNING locked_until IS NOT NULL AND locked_until = " SQL_TS("$3") " AS locked"},
	{"user_login_ok", /* store_user_login_ok */
	 "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1 AND NOT disabled"
	 " AND (locked_until IS NULL OR locked_until <= " SQL_TS("$2") ") RETURNING id"},
	{0, 0},
};

void store_users_register(void) { db_register(user_stmts); }

void store_user_free(struct user *u)
{
	if (u) {
		free(u->site_ids);
		u->site_ids = NULL;
	}
}

void store_users_free(struct user *v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i].site_ids);
	free(v);
}

#define USER_SPEC(x)                                                                                             \
	{DB_COL("id", DB_I64, &(x)->id), DB_COL_TEXT("username", (x)->username),                                 \
	 DB_COL_TEXT("password_hash", (x)->password_hash), DB_COL_TEXT("role", (x)->role),                       \
	 DB_COL("tenant_id", DB_I64, &(x)->tenant_id), DB_COL_ARRAY("site_ids", &(x)->site_ids, &(x)->n_sites), \
	 DB_COL("disabled", DB_BOOL, &(x)->disabled), DB_COL("failed_logins", DB_INT, &(x)->failed_logins),     \
	 DB_COL("locked_until_us", DB_I64, &(x)->locked_until_us), DB_COL("created_us", DB_I64, &(x)->created_us), \
	 DB_COL("updated_us", DB_I64, &(x)->updated_us), {0}}

enum db_status store_user_insert(PGconn *c, struct user *u, int64_t now_us)
{
	struct db_params p = {0};
	db_p_text(&p, u->username);
	db_p_text(&p, u->password_hash);
	db_p_text(&p, u->role);
	db_p_id(&p, u->tenant_id);
	db_p_i64_array(&p, u->site_ids, u->n_sites);
	db_p_i64(&p, now_us);
	u->created_us = u->updated_us = now_us;
	struct db_col spec[] = {DB_COL("id", DB_I64, &u->id), {0}};
	return db_exec_row(c, "user_insert", &p, spec, NULL);
}

enum db_status store_users_list(PGconn *c, int64_t after, int64_t limit, struct user **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	struct user x;
	struct db_col spec[] = USER_SPEC(&x);
	return db_exec_rows(c, "users_list", &p, spec, &x, sizeof x, (void **)out, n);
}

static enum db_status user_one(PGconn *c, const char *stmt, struct db_params *p, struct user *u, bool *found)
{
	memset(u, 0, sizeof *u);
	struct db_col spec[] = USER_SPEC(u);
	return db_exec_row(c, stmt, p, spec, found);
}

enum db_status store_user_get(PGconn *c, int64_t id, struct user *u, bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	return user_one(c, "user_get", &p, u, found);
}

enum db_status store_user_by_name(PGconn *c, const char *username, struct user *u, bool *found)
{
	struct db_params p = {0};
	db_p_text(&p, username);
	return user_one(c, "user_by_name", &p, u, found);
}

enum db_status store_user_update(PGconn *c, const struct user *u, bool new_password, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, u->id);
	db_p_text(&p, u->role);
	db_p_id(&p, u->tenant_id);
	db_p_i64_array(&p, u->site_ids, u->n_sites);
	db_p_bool(&p, u->disabled);
	db_p_text(&p, u->password_hash);
	db_p_i64(&p, now_us);
	db_p_bool(&p, new_password);
	return db_exec_void(c, "user_update", &p);
}

enum db_status store_user_login_failed(PGconn *c, int64_t id, int max, int64_t lock_until_us, bool *locked)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, max);
	db_p_i64(&p, lock_until_us);
	*locked = false;
	struct db_col spec[] = {DB_COL("locked", DB_BOOL, locked), {0}};
	return db_exec_row(c, "user_login_failed", &p, spec, NULL);
}

enum db_status store_user_login_ok(PGconn *c, int64_t id, int64_t now_us, bool *ok)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	int64_t got;
	struct db_col spec[] = {DB_COL("id", DB_I64, &got), {0}};
	return db_exec_row(c, "user_login_ok", &p, spec, ok);
}
