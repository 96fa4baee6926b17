/* users.h: the people who sign in (users): insert, list, read, change, and the count of wrong
 * passwords that locks one. The password hash is made and checked in core/password.h. */
#ifndef WATTLE_STORE_USERS_H
#define WATTLE_STORE_USERS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

#define USER_SITES_MAX 64

struct user {
	int64_t id;
	char username[208];
	char password_hash[160];
	char role[16];
	int64_t tenant_id; /* 0: none */
	int64_t *site_ids; /* new (caller frees with store_user_free), n_sites of them */
	int n_sites;
	bool disabled;
	int failed_logins;
	int64_t locked_until_us; /* 0: not locked */
	int64_t created_us, updated_us;
};
void store_user_free(struct user *u);
void store_users_free(struct user *v, int n);

/* Insert u (its id set). DB_UNIQUE when the username (any case) is taken. */
enum db_status store_user_insert(PGconn *c, struct user *u, int64_t now_us);

/* A page of users by id after `after`, at most limit. *out new (store_users_free). */
enum db_status store_users_list(PGconn *c, int64_t after, int64_t limit, struct user **out, int *n);

/* One user by id or by username (any case); *found false when there is none. */
enum db_status store_user_get(PGconn *c, int64_t id, struct user *u, bool *found);
enum db_status store_user_by_name(PGconn *c, const char *username, struct user *u, bool *found);

/* Write u's role, tenant, sites, disabled flag and password hash (id names the row); a new
 * password also clears the lock. */
enum db_status store_user_update(PGconn *c, const struct user *u, bool new_password, int64_t now_us);

/* A wrong password: count it; the max-th in a row locks the user until lock_until_us and
 * starts the count again. *locked says whether this one locked it. */
enum db_status store_user_login_failed(PGconn *c, int64_t id, int max, int64_t lock_until_us, bool *locked);

/* A right password: the count is cleared, unless the user is disabled or locked at now_us
 * (then *ok false: a concurrent wrong password locked it). */
enum db_status store_user_login_ok(PGconn *c, int64_t id, int64_t now_us, bool *ok);

void store_users_register(void);

#endif
