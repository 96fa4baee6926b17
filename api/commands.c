/* commands.c: the outboxes as operators see them (meter commands and notifications), a
 * gateway's acknowledgement, and an operator's command. A pull gateway's key takes its own
 * commands from the same list (api/pull.c). */
#include "api/api.h"
#include "core/clock.h"
#include "store/meters.h"
#include "store/outbox.h"

#include <stdlib.h>
#include <string.h>

#define ID_COMMAND "cmd"
#define ID_NOTE "ntf"

static json_t *opt_str(const char *s) { return s && s[0] ? json_string(s) : json_null(); }

json_t *api_command_json(const struct command_row *x)
{
	return json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:s, s:o, s:o}", "id",
			 api_id_json(ID_COMMAND, x->id), "meter_id", api_id_json(ID_METER, x->meter_id), "serial",
			 x->serial, "action", x->action, "reason", x->reason, "state", x->state, "attempts",
			 (json_int_t)x->attempts, "created_at", api_time_json(x->created_us), "acked_at",
			 x->acked_us ? api_time_json(x->acked_us) : json_null(), "origin", x->origin, "result",
			 opt_str(x->result), "relay", opt_str(x->relay));
}


static json_t *note_json(const struct note_row *x)
{
	json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:o, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", api_id_json(ID_NOTE, x->id),
			 "tenant_id", x->tenant_id ? api_id_json(ID_TENANT, x->tenant_id) : json_null(), "kind", x->kind,
			 "channel", x->channel, "recipient", x->recipient ? json_string(x->recipient) : json_null(),
			 "body", x->body ? x->body : "", "state", x->state, "attempts", (json_int_t)x->attempts,
			 "created_at", api_time_json(x->created_us), "sent_at",
			 x->sent_us ? api_time_json(x->sent_us) : json_null(), "last_error",
			 x->last_error ? json_string(x->last_error) : json_null(), "delivery",
			 x->delivery[0] ? json_string(x->delivery) : json_null(), "delivery_code",
			 x->delivery_code ? json_string(x->delivery_code) : json_null(), "delivered_at",
			 x->delivered_us ? api_time_json(x->delivered_us) : json_null());
	json_object_set_new(o, "provider", opt_str(x->provider));
	json_object_set_new(o, "language", opt_str(x->language));
	json_object_set_new(o, "last_code", opt_str(x->last_code));
	return o;
}

void api_commands_list(struct req *rq)
{
	static const char *const states[] = {"pending", "sent", "acked", "failed", "superseded", NULL};
	const char *state;
	int64_t limit, after;
	if (api_query_enum(rq, "state", states, &state) || api_page(rq, ID_COMMAND, &limit, &after))
		return;
	if (rq->who.role == ROLE_GATEWAY && rq->who.pull) {
		api_commands_pull(rq, state, limit);
		return;
	}
	/* Anyone else has nothing to wait for: a loop that thinks it long-polls would spin. */
	if (api_query(rq, "wait_s")) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "wait_s"),
			  "wait_s is for the key of a pull gateway; this key's commands are not pulled");
		return;
	}
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct command_row *v;
	int n;
	if (api_read_failed(rq, store_commands_list(c, after, limit + 1, state, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, api_command_json(&v[i]));
	free(v);
	api_reply(rq, 200, api_page_reply(items, limit));
}

void api_notifications_list(struct req *rq)
{
	static const char *const states[] = {"pending", "sent", "dead", "suppressed", NULL};
	const char *state;
	int64_t limit, after;
	if (api_query_enum(rq, "state", states, &state) || api_page(rq, ID_NOTE, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct note_row *v;
	int n;
	if (api_read_failed(rq, store_notes_list(c, after, limit + 1, state, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, note_json(&v[i]));
	store_note_rows_free(v, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}

static enum db_status ack_tx(PGconn *c, void *arg)
{
	struct api_id_tx *t = arg;
	struct req *rq = t->rq;
	const char *result = api_body_str(rq, "result");
	bool acked;
	int64_t gw = rq->who.gateway_id, site = gw ? 0 : rq->who.site_id; /* the key's reach, 0: any */
	enum db_status st = store_command_ack(c, t->id, result, api_body_str(rq, "relay"), api_body_str(rq, "detail"),
					      gw, site, srv_clock_now_us(), &acked);
	if (st != DB_OK)
		return st;
	struct command_row x;
	if ((st = store_command_get(c, t->id, &x)) != DB_OK)
		return st;
	if (!x.id) {
		api_error(rq, E_NOT_FOUND, NULL, "no command %s", rq->args[0]);
		return DB_ABORT;
	}
	if ((gw && x.gateway_id != gw) || (site && x.site_id != site)) { /* the ack changed nothing */
		api_error(rq, E_FORBIDDEN, NULL, "command %s is not for a meter of this gateway key", rq->args[0]);
		return DB_ABORT;
	}
	json_decref(t->out);
	t->out = api_command_json(&x);
	if (!acked) { /* acked before: the same answer again is fine, another is a conflict */
		if (!x.result[0] || strcmp(x.result, result)) {
			api_error(rq, E_CONFLICT, json_pack("{s:O}", "result", json_object_get(t->out, "result")),
				  "the command was already answered differently");
			return DB_ABORT;
		}
		return DB_OK;
	}
	return api_audit(c, rq, "command.ack", json_pack("{s:O, s:s}", "id", json_object_get(t->out, "id"),
							 "result", result));
}

void api_command_ack(struct req *rq)
{
	static const char *const results[] = {"executed", "failed", NULL};
	static const char *const relays[] = {"on", "off", NULL};
	static const struct field spec[] = {
		{"result", FK_ENUM, F_REQ, 0, 0, results, 0},
		{"relay", FK_ENUM, 0, 0, 0, relays, 0},
		{"detail", FK_TEXT, 0, 0, 500, 0, 0},
		{0},
	};
	struct api_id_tx t = {rq, api_arg_id(rq, 0, ID_COMMAND, "command"), NULL};
	if (!t.id || api_fields(rq, spec, false))
		return;
	if (!strcmp(api_body_str(rq, "result"), "executed") && !api_body_has(rq, "relay")) {
		api_field_error(rq, "relay", "an executed command reports the relay");
		return;
	}
	if (api_tx_failed(rq, db_run_tx(ack_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 200, t.out);
}

struct manual_tx {
	struct req *rq;
	int64_t meter;
};

static enum db_status manual_tx(PGconn *c, void *arg)
{
	struct manual_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	const char *action = api_body_str(rq, "action"), *reason = api_body_str(rq, "reason");
	bool active;
	int64_t tenant;
	if ((st = store_meter_takes_commands(c, t->meter, &active, &tenant)) != DB_OK)
		return st;
	if (!active) {
		api_error(rq, E_CONFLICT, NULL, "meter %s is retired", rq->args[0]);
		return DB_ABORT;
	}
	/* An operator may cut a protected meter: only automatic decisions spare it. */
	struct cmd_order o = {t->meter, tenant, action, reason, "operator", rq->who.key_id, false};
	struct cmd_queued *q1;
	int nq;
	if ((st = store_commands_queue(c, &o, 1, srv_clock_now_us(), &q1, &nq)) != DB_OK)
		return st;
	int64_t id = nq == 1 ? q1[0].id : 0;
	free(q1);
	struct command_row x;
	if ((st = store_command_get(c, id, &x)) != DB_OK)
		return st;
	json_t *out = api_command_json(&x);
	api_reply(rq, 202, out);
	st = api_audit(c, rq, "command.manual", json_pack("{s:O, s:s, s:s}", "id", json_object_get(out, "id"),
							  "action", action, "reason", reason));
	return st != DB_OK ? st : api_idem_finish(c, rq);
}

void api_meter_command(struct req *rq)
{
	static const char *const actions[] = {"cut_off", "restore", NULL};
	static const struct field spec[] = {
		{"action", FK_ENUM, F_REQ, 0, 0, actions, 0},
		{"reason", FK_TEXT, F_REQ, 0, 500, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct manual_tx t = {rq, api_meter_find(rq, NULL)};
	if (!t.meter)
		return;
	api_tx_failed(rq, db_run_tx(manual_tx, &t));
}
