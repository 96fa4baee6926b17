/* users.c: POST /v1/users, GET /v1/users, GET and PATCH /v1/users/{id} (admin): the people who
 * sign in. Passwords are hashed with Argon2id before any transaction and never shown. */
#include "api/api.h"
#include "api/sessions.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/password.h"
#include "store/sessions.h"
#include "store/sites.h"
#include "store/tenants.h"
#include "store/users.h"

#include <stdlib.h>
#include <string.h>

static const char *const user_roles[] = {"admin", "finance", "operator", "tenant", NULL};

static json_t *user_json(const struct user *u)
{
	json_t *sites = json_array();
	for (int i = 0; i < u->n_sites; i++)
		json_array_append_new(sites, api_id_json(ID_SITE, u->site_ids[i]));
	return json_pack("{s:o, s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o}", "id", api_id_json(ID_USER, u->id), "username",
			 u->username, "role", u->role, "tenant_id",
			 u->tenant_id ? api_id_json(ID_TENANT, u->tenant_id) : json_null(), "site_ids", sites, "disabled",
			 u->disabled, "locked_until", u->locked_until_us ? api_time_json(u->locked_until_us) : json_null(),
			 "created_at", api_time_json(u->created_us), "updated_at", api_time_json(u->updated_us));
}

/* Characters (UTF-8 code points) in s. */
static size_t chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A password long enough, else 422 password_too_short (and -1). */
static int password_ok(struct req *rq, const char *pw)
{
	if (chars(pw) >= PASSWORD_MIN)
		return 0;
	api_error(rq, E_PASSWORD_TOO_SHORT, json_pack("{s:s, s:i}", "field", "password", "min_length", PASSWORD_MIN),
		  "the password must have at least %d characters", PASSWORD_MIN);
	return -1;
}

/* site_ids from the body into u (new array), or 400 naming the item and -1. */
static int read_sites(struct req *rq, struct user *u)
{
	json_t *a = json_object_get(rq->json, "site_ids");
	free(u->site_ids);
	u->site_ids = NULL;
	u->n_sites = 0;
	if (!a || json_is_null(a))
		return 0;
	size_t n = json_array_size(a);
	if (n > USER_SITES_MAX)
		return api_field_error(rq, "site_ids", "at most %d sites", USER_SITES_MAX);
	u->site_ids = calloc(n + 1, sizeof *u->site_ids);
	if (!u->site_ids)
		abort();
	for (size_t i = 0; i < n; i++) {
		int64_t id = api_id_parse(ID_SITE, json_string_value(json_array_get(a, i)));
		if (!id) {
			char f[32];
			snprintf(f, sizeof f, "site_ids[%zu]", i);
			return api_field_error(rq, f, "must be a site id (site_N)");
		}
		for (int j = 0; j < u->n_sites; j++)
			if (u->site_ids[j] == id)
				return api_field_error(rq, "site_ids", "site_%lld is named twice", (long long)id);
		u->site_ids[u->n_sites++] = id;
	}
	return 0;
}

/* role, tenant_id and site_ids agree: a tenant user has a tenant and only it; only finance
 * and operator users are bound to sites (an admin reaches every site, a tenant its own);
 * else 400 and -1. */
static int role_tenant_ok(struct req *rq, const struct user *u)
{
	bool tenant = !strcmp(u->role, "tenant");
	if (tenant != (u->tenant_id != 0))
		return api_field_error(rq, "tenant_id", tenant ? "a tenant user needs tenant_id"
							       : "only a tenant user has a tenant_id");
	if (u->n_sites && strcmp(u->role, "finance") && strcmp(u->role, "operator"))
		return api_field_error(rq, "site_ids", "only finance and operator users are bound to sites; %s",
				       tenant ? "a tenant reaches its own" : "an admin reaches every site");
	return 0;
}

/* Inside a transaction: the tenant and sites u names exist, else 400 (DB_ABORT). */
static enum db_status refs_exist(PGconn *c, struct req *rq, const struct user *u)
{
	enum db_status st;
	bool found;
	if (u->tenant_id) {
		if ((st = store_tenant_exists(c, u->tenant_id, &found)) != DB_OK)
			return st;
		if (!found) {
			api_field_error(rq, "tenant_id", "no such tenant");
			return DB_ABORT;
		}
	}
	for (int i = 0; i < u->n_sites; i++) {
		struct site s;
		if ((st = store_site_get(c, u->site_ids[i], &s)) != DB_OK)
			return st;
		if (!s.id) {
			api_field_error(rq, "site_ids", "no such site: site_%lld", (long long)u->site_ids[i]);
			return DB_ABORT;
		}
	}
	return DB_OK;
}

struct user_tx {
	struct req *rq;
	struct user u;
	bool new_password, end_sessions;
	json_t *out;
};

static enum db_status user_create_tx(PGconn *c, void *arg)
{
	struct user_tx *t = arg;
	enum db_status st = refs_exist(c, t->rq, &t->u);
	if (st != DB_OK)
		return st;
	st = store_user_insert(c, &t->u, srv_clock_now_us());
	if (st == DB_UNIQUE) {
		api_error(t->rq, E_ALREADY_EXISTS, json_pack("{s:s}", "field", "username"), "username %s is taken",
			  t->u.username);
		return DB_ABORT;
	}
	if (st != DB_OK)
		return st;
	return api_audit(c, t->rq, "user.create",
			 json_pack("{s:o, s:s}", "id", api_id_json(ID_USER, t->u.id), "role", t->u.role));
}

void api_users_create(struct req *rq)
{
	static const struct field spec[] = {
		{"username", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"password", FK_TEXT, F_REQ, 0, PASSWORD_MAX, 0, 0},
		{"role", FK_ENUM, F_REQ, 0, 0, user_roles, 0},
		{"tenant_id", FK_ID, F_NULL, 0, 0, 0, ID_TENANT},
		{"site_ids", FK_ARRAY, F_NULL, 0, 0, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct user_tx t = {rq, {0}, true, false, NULL};
	snprintf(t.u.username, sizeof t.u.username, "%s", api_body_str(rq, "username"));
	snprintf(t.u.role, sizeof t.u.role, "%s", api_body_str(rq, "role"));
	t.u.tenant_id = api_body_id(rq, ID_TENANT, "tenant_id");
	const char *pw = api_body_str(rq, "password");
	if (read_sites(rq, &t.u) || role_tenant_ok(rq, &t.u) || password_ok(rq, pw))
		goto out;
	if (srv_password_hash(pw, t.u.password_hash)) {
		api_error(rq, E_INTERNAL, NULL, "the password could not be hashed");
		goto out;
	}
	if (api_tx_failed(rq, db_run_tx(user_create_tx, &t)))
		goto out;
	api_reply(rq, 201, user_json(&t.u));
out:
	store_user_free(&t.u);
}

void api_users_list(struct req *rq)
{
	int64_t limit, after;
	if (api_page(rq, ID_USER, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct user *v = NULL;
	int n = 0;
	if (api_read_failed(rq, store_users_list(c, after, limit + 1, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, user_json(&v[i]));
	store_users_free(v, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}

void api_users_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_USER, "user");
	if (!id)
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct user u;
	bool found;
	if (api_read_failed(rq, store_user_get(c, id, &u, &found)))
		return;
	if (!found)
		api_error(rq, E_NOT_FOUND, NULL, "no user %s", rq->args[0]);
	else
		api_reply(rq, 200, user_json(&u));
	store_user_free(&u);
}

struct patch_tx {
	struct req *rq;
	int64_t id;
	const char *hash; /* a new password's, or NULL */
	json_t *out;
};

static enum db_status user_patch_tx(PGconn *c, void *arg)
{
	struct patch_tx *t = arg;
	struct req *rq = t->rq;
	struct user u;
	bool found;
	enum db_status st = store_user_get(c, t->id, &u, &found);
	if (st != DB_OK)
		goto out;
	if (!found) {
		api_error(rq, E_NOT_FOUND, NULL, "no user %s", rq->args[0]);
		st = DB_ABORT;
		goto out;
	}
	bool was_disabled = u.disabled;
	if (api_body_has(rq, "role"))
		snprintf(u.role, sizeof u.role, "%s", api_body_str(rq, "role"));
	if (api_body_has(rq, "tenant_id"))
		u.tenant_id = api_body_id(rq, ID_TENANT, "tenant_id");
	else if (api_body_has(rq, "role") && strcmp(u.role, "tenant"))
		u.tenant_id = 0; /* a tenant user made staff leaves its tenant */
	if (api_body_has(rq, "disabled"))
		u.disabled = json_is_true(json_object_get(rq->json, "disabled"));
	if (api_body_has(rq, "site_ids") && read_sites(rq, &u)) {
		st = DB_ABORT;
		goto out;
	}
	if (role_tenant_ok(rq, &u)) {
		st = DB_ABORT;
		goto out;
	}
	if ((st = refs_exist(c, rq, &u)) != DB_OK)
		goto out;
	if (t->hash)
		snprintf(u.password_hash, sizeof u.password_hash, "%s", t->hash);
	int64_t now = srv_clock_now_us();
	if ((st = store_user_update(c, &u, t->hash != NULL, now)) != DB_OK)
		goto out;
	/* disabled, or a password reset: whoever is signed in as the user is signed out */
	if ((u.disabled && !was_disabled) || t->hash)
		if ((st = store_sessions_end_user(c, u.id, now)) != DB_OK)
			goto out;
	json_t *target = json_pack("{s:o, s:s, s:b, s:b}", "id", api_id_json(ID_USER, u.id), "role", u.role, "disabled",
				   u.disabled, "password_reset", t->hash != NULL);
	if ((st = api_audit(c, rq, "user.update", target)) != DB_OK)
		goto out;
	u.updated_us = now;
	if (t->hash)
		u.locked_until_us = 0;
	json_decref(t->out);
	t->out = user_json(&u);
out:
	store_user_free(&u);
	return st;
}

void api_users_patch(struct req *rq)
{
	static const struct field spec[] = {
		{"password", FK_TEXT, 0, 0, PASSWORD_MAX, 0, 0},
		{"role", FK_ENUM, 0, 0, 0, user_roles, 0},
		{"tenant_id", FK_ID, F_NULL, 0, 0, 0, ID_TENANT},
		{"site_ids", FK_ARRAY, F_NULL, 0, 0, 0, 0},
		{"disabled", FK_BOOL, 0, 0, 0, 0, 0},
		{0},
	};
	struct patch_tx t = {rq, api_arg_id(rq, 0, ID_USER, "user"), NULL, NULL};
	if (!t.id || api_fields(rq, spec, true))
		return;
	char hash[PASSWORD_HASH_MAX];
	const char *pw = api_body_str(rq, "password");
	if (pw) {
		if (password_ok(rq, pw))
			return;
		if (srv_password_hash(pw, hash)) {
			api_error(rq, E_INTERNAL, NULL, "the password could not be hashed");
			return;
		}
		t.hash = hash;
	}
	if (api_tx_failed(rq, db_run_tx(user_patch_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 200, t.out);
}
