/* apikeys.c: POST /v1/api-keys (the key is shown once) and DELETE (revocation). A gateway
 * key may be bound to a site (it acts for that site's meters alone); one bound to its
 * gateway is made with the gateway (api/gateways.c). */
#include "api/api.h"
#include "store/keys.h"
#include "store/sites.h"
#include "store/tenants.h"
#include "core/clock.h"

struct key_tx {
	struct req *rq;
	struct key_new k;
	int64_t id;
	char key[KEY_LEN + 1];
};

static enum db_status key_create_tx(PGconn *c, void *arg)
{
	struct key_tx *t = arg;
	enum db_status st;
	bool found;
	if (t->k.tenant_id) {
		if ((st = store_tenant_exists(c, t->k.tenant_id, &found)) != DB_OK)
			return st;
		if (!found) {
			api_field_error(t->rq, "tenant_id", "no such tenant");
			return DB_ABORT;
		}
	}
	if (t->k.site_id) {
		struct site site;
		if ((st = store_site_get(c, t->k.site_id, &site)) != DB_OK)
			return st;
		if (!site.id) {
			api_field_error(t->rq, "site_id", "no such site");
			return DB_ABORT;
		}
	}
	st = srv_key_insert(c, &t->k, t->key, &t->id);
	if (st != DB_OK)
		return st;
	json_t *target = json_pack("{s:o, s:s}", "id", api_id_json(ID_KEY, t->id), "role", srv_role_name(t->k.role));
	if (t->k.site_id)
		json_object_set_new(target, "site_id", api_id_json(ID_SITE, t->k.site_id));
	return api_audit(c, t->rq, "api_key.create", target);
}

void api_keys_create(struct req *rq)
{
	static const char *const roles[] = {"admin", "finance", "operator", "gateway", "tenant", NULL};
	static const struct field spec[] = {
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"role", FK_ENUM, F_REQ, 0, 0, roles, 0},
		{"tenant_id", FK_ID, F_NULL, 0, 0, 0, ID_TENANT},
		{"site_id", FK_ID, F_NULL, 0, 0, 0, ID_SITE},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct key_tx t = {rq,
			   {api_body_str(rq, "name"), srv_role_parse(api_body_str(rq, "role")),
			    api_body_id(rq, ID_TENANT, "tenant_id"), api_body_id(rq, ID_SITE, "site_id"), 0},
			   0, {0}};
	if ((t.k.role == ROLE_TENANT) != (t.k.tenant_id != 0)) {
		api_field_error(rq, "tenant_id", t.k.tenant_id ? "only a tenant key has a tenant_id"
							       : "a tenant key needs tenant_id");
		return;
	}
	if (t.k.site_id && t.k.role != ROLE_GATEWAY) {
		api_field_error(rq, "site_id", "only a gateway key has a site_id");
		return;
	}
	if (api_tx_failed(rq, db_run_tx(key_create_tx, &t)))
		return;
	api_reply(rq, 201,
		  json_pack("{s:o, s:s, s:s, s:o, s:o, s:s}", "id", api_id_json(ID_KEY, t.id), "name", t.k.name, "role",
			    srv_role_name(t.k.role), "tenant_id",
			    t.k.tenant_id ? api_id_json(ID_TENANT, t.k.tenant_id) : json_null(), "site_id",
			    t.k.site_id ? api_id_json(ID_SITE, t.k.site_id) : json_null(), "key", t.key));
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
