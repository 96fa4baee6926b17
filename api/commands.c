/* commands.c: the outboxes as operators see them: meter commands and notifications. */
#include "api/api.h"

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

/* ?state= must be one of choices (or absent). Replies 400 and returns -1 if not. */
static int state_filter(struct req *rq, const char *const *choices, const char **out)
{
	*out = api_query(rq, "state");
	if (!*out)
		return 0;
	for (const char *const *c = choices; *c; c++)
		if (!strcmp(*c, *out))
			return 0;
	api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "state"),
		  "state is not one of the allowed values");
	return -1;
}

void api_commands_list(struct req *rq)
{
	static const char *const states[] = {"pending", "sent", "acked", "failed", "superseded", NULL};
	const char *state;
	if (state_filter(rq, states, &state))
		return;
	const char *extra[1] = {state};
	api_list(rq, ID_COMMAND, "command_list", command_json, 1, extra);
}

void api_notifications_list(struct req *rq)
{
	static const char *const states[] = {"pending", "sent", "dead", NULL};
	const char *state;
	if (state_filter(rq, states, &state))
		return;
	const char *extra[1] = {state};
	api_list(rq, ID_NOTE, "note_list", note_json, 1, extra);
}
