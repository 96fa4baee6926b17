/* commands.c: the outboxes as operators see them: meter commands and notifications. */
#include "api/api.h"
#include "core/clock.h"
#include "store/outbox.h"

#include <stdlib.h>
#include <string.h>

#define ID_COMMAND "cmd"
#define ID_NOTE "ntf"

static const struct db_stmt command_stmts[] = {
	{"command_list", /* api_commands_list */
	 "SELECT c.id, c.meter_id, m.serial, c.action, c.reason, c.state, c.attempts, "
	 SQL_US("c.created_at") ", " SQL_US("c.acked_at") ", c.origin, c.result, c.relay"
	 " FROM commands c JOIN meters m ON m.id = c.meter_id"
	 " WHERE c.id > $1 AND ($3::text IS NULL OR c.state = $3) ORDER BY c.id LIMIT $2"},
	{"note_list", /* api_notifications_list */
	 "SELECT id, tenant_id, kind, channel, recipient, body, state, attempts, "
	 SQL_US("created_at") ", " SQL_US("sent_at") ", last_error FROM notifications"
	 " WHERE id > $1 AND ($3::text IS NULL OR state = $3) ORDER BY id LIMIT $2"},
	{"command_ack", /* api_command_ack: the first answer counts; supply follows the relay */
	 "WITH c AS (UPDATE commands SET state = CASE WHEN $2 = 'executed' THEN 'acked' ELSE 'failed' END,"
	 "  result = $2, relay = $3, detail = $4, acked_at = " SQL_TS("$5")
	 "  WHERE id = $1 AND state IN ('pending', 'sent', 'superseded') AND result IS NULL"
	 "  RETURNING account_id, relay, state),"
	 " a AS (UPDATE accounts SET supply = c.relay FROM c"
	 "  WHERE accounts.id = c.account_id AND c.relay IS NOT NULL AND $2 = 'executed')"
	 " SELECT state FROM c"},
	{"command_get", /* api_command_ack: after a repeated ack */
	 "SELECT c.id, c.meter_id, m.serial, c.action, c.reason, c.state, c.attempts, "
	 SQL_US("c.created_at") ", " SQL_US("c.acked_at") ", c.origin, c.result, c.relay"
	 " FROM commands c JOIN meters m ON m.id = c.meter_id WHERE c.id = $1"},
	{"command_meter_active", /* manual_tx: the meter, when it takes commands */
	 "SELECT coalesce(tenant_id, 0) AS tenant_id FROM meters WHERE id = $1 AND status = 'active'"},
	{0, 0},
};

void api_register_statements_commands(void);
void api_register_statements_commands(void) { db_register(command_stmts); }

static json_t *command_json(const PGresult *r, int i)
{
	return json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:o}", "id",
			 api_id_col(ID_COMMAND, r, i, 0), "meter_id", api_id_col(ID_METER, r, i, 1),
			 "serial", PQgetvalue(r, i, 2), "action", PQgetvalue(r, i, 3), "reason",
			 PQgetvalue(r, i, 4), "state", PQgetvalue(r, i, 5), "attempts",
			 api_int_col(r, i, 6), "created_at", api_time_col(r, i, 7), "acked_at",
			 api_time_col(r, i, 8), "origin", PQgetvalue(r, i, 9), "result",
			 api_str_col(r, i, 10), "relay", api_str_col(r, i, 11));
}

static json_t *note_json(const PGresult *r, int i)
{
	return json_pack("{s:o, s:o, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
			 api_id_col(ID_NOTE, r, i, 0), "tenant_id", api_id_col(ID_TENANT, r, i, 1),
			 "kind", PQgetvalue(r, i, 2), "channel", PQgetvalue(r, i, 3), "recipient",
			 api_str_col(r, i, 4), "body", PQgetvalue(r, i, 5), "state",
			 PQgetvalue(r, i, 6), "attempts", api_int_col(r, i, 7), "created_at",
			 api_time_col(r, i, 8), "sent_at", api_time_col(r, i, 9), "last_error",
			 api_str_col(r, i, 10));
}

void api_commands_list(struct req *rq)
{
	static const char *const states[] = {"pending", "sent", "acked", "failed", "superseded", NULL};
	const char *state;
	if (api_query_enum(rq, "state", states, &state))
		return;
	const char *extra[1] = {state};
	api_list(rq, ID_COMMAND, "command_list", command_json, 1, extra);
}

void api_notifications_list(struct req *rq)
{
	static const char *const states[] = {"pending", "sent", "dead", NULL};
	const char *state;
	if (api_query_enum(rq, "state", states, &state))
		return;
	const char *extra[1] = {state};
	api_list(rq, ID_NOTE, "note_list", note_json, 1, extra);
}

static enum db_status ack_tx(PGconn *c, void *arg)
{
	struct api_id_tx *t = arg;
	struct req *rq = t->rq;
	char id[I64_BUF], now[I64_BUF];
	const char *p[5] = {api_i64(id, t->id), api_body_str(rq, "result"), api_body_str(rq, "relay"),
			    api_body_str(rq, "detail"), api_i64(now, srv_clock_now_us())};
	PGresult *r;
	enum db_status st = db_exec(c, "command_ack", 5, p, &r);
	int acked = st == DB_OK && PQntuples(r) == 1;
	PQclear(r);
	if (st != DB_OK)
		return st;
	st = api_tx_row(c, rq, "command_get", 1, p, command_json, &t->out, NULL, "no command");
	if (st != DB_OK)
		return st;
	if (!acked) { /* acked before: the same answer again is fine, another is a conflict */
		const char *was = json_string_value(json_object_get(t->out, "result"));
		if (!was || strcmp(was, p[1])) {
			api_error(rq, E_CONFLICT, json_pack("{s:O}", "result", json_object_get(t->out, "result")),
				  "the command was already answered differently");
			return DB_ABORT;
		}
		return DB_OK;
	}
	return api_audit(c, rq, "command.ack", json_pack("{s:O, s:s}", "id", json_object_get(t->out, "id"),
							 "result", p[1]));
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
	char m[I64_BUF];
	const char *p[3] = {api_i64(m, t->meter), api_body_str(rq, "action"), api_body_str(rq, "reason")};
	PGresult *r;
	st = db_exec(c, "command_meter_active", 1, p, &r);
	bool active = st == DB_OK && PQntuples(r) == 1;
	int64_t tenant = active ? db_int64(r, 0, 0) : 0;
	PQclear(r);
	if (st != DB_OK)
		return st;
	if (!active) {
		api_error(rq, E_CONFLICT, NULL, "meter %s is retired", rq->args[0]);
		return DB_ABORT;
	}
	/* An operator may cut a protected meter: only automatic decisions spare it. */
	struct cmd_order o = {t->meter, tenant, p[1], p[2], "operator", rq->who.key_id, false};
	struct cmd_queued *q1;
	int nq;
	if ((st = store_commands_queue(c, &o, 1, srv_clock_now_us(), &q1, &nq)) != DB_OK)
		return st;
	int64_t id = nq == 1 ? q1[0].id : 0;
	free(q1);
	json_t *out = NULL;
	const char *q[1] = {api_i64(m, id)};
	if ((st = api_tx_row(c, rq, "command_get", 1, q, command_json, &out, NULL, "no command")) != DB_OK)
		return st;
	api_reply(rq, 202, out);
	st = api_audit(c, rq, "command.manual", json_pack("{s:O, s:s, s:s}", "id", json_object_get(out, "id"),
							  "action", p[1], "reason", p[2]));
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
