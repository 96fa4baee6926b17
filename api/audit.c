/* audit.c: GET /v1/audit (admin): the audit log, filtered by actor (the key), resource (an
 * id anywhere in what was changed), action and since, with each row's place in the hash
 * chain. */
#include "api/api.h"
#include "core/valid.h"
#include "store/requests.h"

#include <stdlib.h>

#define ID_AUDIT "aud"

static json_t *entry_json(const struct audit_entry *e)
{
	json_t *target = e->target_json ? json_loads(e->target_json, JSON_DECODE_ANY, NULL) : NULL;
	return json_pack("{s:o, s:o, s:{s:o, s:o, s:s}, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:s}", "id",
			 api_id_json(ID_AUDIT, e->id), "at", api_time_json(e->at_us), "actor", "key_id",
			 e->key_id ? api_id_json(ID_KEY, e->key_id) : json_null(), "user_id",
			 e->user_id ? api_id_json(ID_USER, e->user_id) : json_null(), "role", e->role, "method", e->method,
			 "path", e->path ? e->path : "", "request_id", e->request_id, "action", e->action, "target",
			 target ? target : json_null(), "client_addr",
			 e->client_addr[0] ? json_string(e->client_addr) : json_null(), "chain_seq",
			 (json_int_t)e->chain_seq, "hash", e->hash);
}

void api_audit_list(struct req *rq)
{
	struct audit_filter f = {0, api_query(rq, "resource"), api_query(rq, "action"), 0, false};
	const char *actor = api_query(rq, "actor"), *since = api_query(rq, "since");
	if (actor && !(f.key_id = api_id_parse(ID_KEY, actor))) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "actor"), "actor must be a key id (key_N)");
		return;
	}
	if ((f.resource && !api_valid_text(f.resource, 64)) || (f.action && !api_valid_text(f.action, 64))) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", f.resource ? "resource" : "action"),
			  "must be 1 to 64 printable characters");
		return;
	}
	if (since) {
		if (api_parse_time(since, &f.since_us) != 0) {
			api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "since"),
				  "since must be an RFC 3339 time with an offset");
			return;
		}
		f.has_since = true;
	}
	int64_t limit, after;
	if (api_page(rq, ID_AUDIT, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct audit_entry *v;
	int n;
	if (api_read_failed(rq, store_audit_list(c, after, limit + 1, &f, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, entry_json(&v[i]));
	store_audit_entries_free(v, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}
