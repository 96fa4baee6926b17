/* apikeys.c: POST /v1/api-keys (the key is shown once) and DELETE (revocation). */
#include "api/api.h"
#include "store/keys.h"
#include "store/tenants.h"
#include "core/clock.h"

struct key_tx {
	struct req *rq;
	unsigned role;
	int64_t tenant, id;
	char key[KEY_LEN + 1];
};

static enum db_status key_create_tx(PGconn *c, void *arg)
{
	struct key_tx *t = arg;
	enum db_status st;
	if (t->tenant) {
		bool found;
		if ((st = store_tenant_exists(c, t->tenant, &found)) != DB_OK)
			return st;
		if (!found) {
			api_field_error(t->rq, "tenant_id", "no such tenant");
			return DB_ABORT;
		}
	}
	struct key_new k = {api_body_str(t->rq, "name"), t->role, t->tenant, 0, 0};
	st = srv_key_insert(c, &k, t->key, &t->id);
	if (st != DB_OK)
		return st;
	return api_audit(c, t->rq, "api_key.create",
			 json_pack("{s:o, s:s}", "id", api_id_json(ID_KEY, t->id), "role",
				   srv_role_name(t->role)));
}

void api_keys_create(struct req *rq)
{
	static const char *const roles[] = {"admin", "finance", "operator", "gateway", "tenant", NULL};
	static const struct field spec[] = {
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"role", FK_ENUM, F_REQ, 0, 0, roles, 0},
		{"tenant_id", FK_ID, F_NULL, 0, 0, 0, ID_TENANT},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct key_tx t = {rq, srv_role_parse(api_body_str(rq, "role")),
			   api_body_id(rq, ID_TENANT, "tenant_id"), 0, {0}};
	if ((t.role == ROLE_TENANT) != (t.tenant != 0)) {
		api_field_error(rq, "tenant_id", t.tenant ? "only a tenant key has a tenant_id"
							  : "a tenant key needs tenant_id");
		return;
	}
	if (api_tx_failed(rq, db_run_tx(key_create_tx, &t)))
		return;
	api_reply(rq, 201,
		  json_pack("{s:o, s:s, s:s, s:o, s:s}", "id", api_id_json(ID_KEY, t.id), "name",
			    api_body_str(rq, "name"), "role", srv_role_name(t.role), "tenant_id",
			    t.tenant ? api_id_json(ID_TENANT, t.tenant) : json_null(), "key", t.key));
}

struct revoke_tx {
	struct req *rq;
	int64_t id;
};

static enum db_status key_revoke_tx(PGconn *c, void *arg)
{
	struct revoke_tx *t = arg;
	bool found;
	enum db_status st = store_key_revoke(c, t->id, srv_clock_now_us(), &found);
	if (st != DB_OK)
		return st;
	if (!found) {
		api_error(t->rq, E_NOT_FOUND, NULL, "no API key %s", t->rq->args[0]);
		return DB_ABORT;
	}
	return api_audit(c, t->rq, "api_key.revoke", json_pack("{s:o}", "id", api_id_json(ID_KEY, t->id)));
}

void api_keys_delete(struct req *rq)
{
	struct revoke_tx t = {rq, api_arg_id(rq, 0, ID_KEY, "API key")};
	if (!t.id || api_tx_failed(rq, db_run_tx(key_revoke_tx, &t)))
		return;
	srv_auth_forget(t.id);
	api_reply(rq, 204, NULL);
}
