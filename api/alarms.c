/* alarms.c: alarms for the control room (list, acknowledge) and the settings detection
 * uses (per site, overridden per meter). Detection itself runs in the readings path
 * (billing/ingest.c, billing/alarm.c); opening, closing and pushing in billing/alarm_db.c. */
#include "api/api.h"
#include "core/valid.h"
#include "core/alarm.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_ALARM "alm"

#define ALARM_COLS                                                                               \
	"a.id, a.meter_id, m.serial, a.site_id, a.tenant_id, a.kind, a.severity, a.state, "      \
	SQL_US("a.opened_at") ", " SQL_US("a.last_seen_at") ", a.detections, a.peak, a.detail::text, " \
	SQL_US("a.acked_at") ", a.ack_note, " SQL_US("a.closed_at") ", a.cut_command_id"

static const struct db_stmt alarm_api_stmts[] = {
	{"alarm_list", /* api_alarms_list */
	 "SELECT " ALARM_COLS " FROM alarms a JOIN meters m ON m.id = a.meter_id"
	 " WHERE a.id > $1 AND ($3::bigint IS NULL OR a.site_id = $3) AND ($4::text IS NULL OR a.state = $4)"
	 " AND ($5::text IS NULL OR a.kind = $5) AND ($6::bigint IS NULL OR a.last_seen_at >= " SQL_TS("$6") ")"
	 " ORDER BY a.id LIMIT $2"},
	{"alarm_ack", /* api_alarm_ack: open -> acked, once */
	 "WITH u AS (UPDATE alarms SET state = 'acked', acked_at = " SQL_TS("$3") ", acked_by_key = $4,"
	 " ack_note = $2 WHERE id = $1 AND state = 'open' RETURNING *)"
	 " SELECT " ALARM_COLS " FROM u a JOIN meters m ON m.id = a.meter_id"},
	{"alarm_get", /* api_alarm_ack: why it was not acked */
	 "SELECT " ALARM_COLS " FROM alarms a JOIN meters m ON m.id = a.meter_id WHERE a.id = $1"},
	{"site_alarm_settings", /* api_site_alarm_settings */
	 "UPDATE sites SET alarm_settings = $2::jsonb WHERE id = $1 RETURNING alarm_settings::text"},
	{"meter_alarm_settings", /* api_meter_alarm_settings */
	 "UPDATE meters SET alarm_settings = $2::jsonb, updated_at = " SQL_TS("$3")
	 " WHERE id = $1 RETURNING alarm_settings::text"},
	{0, 0},
};

void api_register_statements_alarms(void);
void api_register_statements_alarms(void) { db_register(alarm_api_stmts); }

static json_t *alarm_json(const PGresult *r, int i)
{
	json_t *detail = json_loads(PQgetvalue(r, i, 12), 0, NULL);
	json_t *peak = PQgetisnull(r, i, 11) ? json_null() : json_real(strtod(PQgetvalue(r, i, 11), NULL));
	return json_pack("{s:o, s:o, s:s, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "id", api_id_col(ID_ALARM, r, i, 0), "meter_id", api_id_col(ID_METER, r, i, 1),
			 "serial", PQgetvalue(r, i, 2), "site_id", api_id_col(ID_SITE, r, i, 3), "tenant_id",
			 api_id_col(ID_TENANT, r, i, 4), "kind", PQgetvalue(r, i, 5), "severity",
			 PQgetvalue(r, i, 6), "state", PQgetvalue(r, i, 7), "opened_at",
			 api_time_col(r, i, 8), "last_seen_at", api_time_col(r, i, 9), "detections",
			 api_int_col(r, i, 10), "peak", peak, "detail", detail ? detail : json_object(),
			 "acked_at", api_time_col(r, i, 13), "ack_note", api_str_col(r, i, 14), "closed_at",
			 api_time_col(r, i, 15), "cut_command_id", api_id_col("cmd", r, i, 16));
}

void api_alarms_list(struct req *rq)
{
	static const char *const states[] = {"open", "acked", "closed", NULL};
	static const char *const kinds[] = {"overload", "suspected_malicious_load", "over_voltage",
					    "under_voltage", "low_power_factor", "high_harmonics",
					    "comm_lost", "energy_regressed", "relay_mismatch", NULL};
	const char *state, *kind, *since = api_query(rq, "since");
	int64_t site, since_us = 0;
	if (api_query_id(rq, "site_id", ID_SITE, &site) || api_query_enum(rq, "state", states, &state) ||
	    api_query_enum(rq, "kind", kinds, &kind))
		return;
	if (since && api_parse_time(since, &since_us) != 0) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "since"),
			  "since must be an RFC 3339 time with an offset");
		return;
	}
	char s[I64_BUF], t[I64_BUF];
	const char *extra[4] = {site ? api_i64(s, site) : NULL, state, kind, since ? api_i64(t, since_us) : NULL};
	api_list(rq, ID_ALARM, "alarm_list", alarm_json, 4, extra);
}

static enum db_status ack_tx(PGconn *c, void *arg)
{
	struct api_id_tx *t = arg;
	struct req *rq = t->rq;
	char ids[I64_BUF], now[I64_BUF], kid[I64_BUF];
	const char *p[4] = {api_i64(ids, t->id), api_body_str(rq, "note"), api_i64(now, srv_clock_now_us()),
			    rq->who.key_id ? api_i64(kid, rq->who.key_id) : NULL};
	PGresult *r;
	enum db_status st = db_exec(c, "alarm_ack", 4, p, &r);
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	bool acked = PQntuples(r) == 1;
	PQclear(r);
	json_decref(t->out);
	t->out = NULL;
	if ((st = api_tx_row(c, rq, "alarm_get", 1, p, alarm_json, &t->out, NULL, NULL)) != DB_OK)
		return st;
	if (!acked) {
		const char *state = json_string_value(json_object_get(t->out, "state"));
		api_error(rq, E_CONFLICT, json_pack("{s:s}", "state", state), "the alarm is already %s", state);
		return DB_ABORT;
	}
	api_reply(rq, 200, json_incref(t->out));
	return api_audit(c, rq, "alarm.ack",
			 json_pack("{s:O, s:O, s:s}", "id", json_object_get(t->out, "id"), "kind",
				   json_object_get(t->out, "kind"), "note", api_body_str(rq, "note")));
}

void api_alarm_ack(struct req *rq)
{
	static const struct field spec[] = {
		{"note", FK_TEXT, F_REQ, 0, 1000, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct api_id_tx t = {rq, api_arg_id(rq, 0, ID_ALARM, "alarm"), NULL};
	if (t.id)
		api_tx_failed(rq, db_run_tx(ack_tx, &t));
	json_decref(t.out);
}

/* ---- settings ---- */

struct settings_tx {
	struct req *rq;
	const char *stmt, *prefix;
	int64_t id;
	char *text;
};

static enum db_status settings_tx(PGconn *c, void *arg)
{
	struct settings_tx *t = arg;
	char ids[I64_BUF], now[I64_BUF];
	const char *p[3] = {api_i64(ids, t->id), t->text, api_i64(now, srv_clock_now_us())};
	PGresult *r;
	enum db_status st = db_exec(c, t->stmt, strcmp(t->stmt, "meter_alarm_settings") ? 2 : 3, p, &r);
	if (st != DB_OK || PQntuples(r) != 1) {
		PQclear(r);
		if (st == DB_OK)
			api_error(t->rq, E_NOT_FOUND, NULL, "no %s %s", t->prefix, t->rq->args[0]);
		return st == DB_OK ? DB_ABORT : st;
	}
	api_reply(t->rq, 200, json_loads(PQgetvalue(r, 0, 0), 0, NULL));
	PQclear(r);
	return api_audit(c, t->rq, strcmp(t->stmt, "meter_alarm_settings") ? "site.alarm_settings" : "meter.alarm_settings",
			 json_pack("{s:s, s:O}", "id", t->rq->args[0], "alarm_settings", t->rq->json));
}

/* PUT replaces the whole object; null values and absent keys mean the default. */
static void put_settings(struct req *rq, bool site)
{
	char field[96], msg[160];
	if (alarm_settings_check(rq->json, site, field, sizeof field, msg, sizeof msg)) {
		api_field_error(rq, field, "%s", msg);
		return;
	}
	const char *phone = json_string_value(json_object_get(rq->json, "duty_phone"));
	if (phone && !api_valid_phone(phone)) {
		api_field_error(rq, "alarm_settings.duty_phone", "duty_phone must be E.164 (+8613800138000)");
		return;
	}
	struct settings_tx t = {rq, site ? "site_alarm_settings" : "meter_alarm_settings", site ? "site" : "meter",
				api_arg_id(rq, 0, site ? ID_SITE : ID_METER, site ? "site" : "meter"), NULL};
	if (!t.id)
		return;
	t.text = json_dumps(rq->json, JSON_COMPACT);
	api_tx_failed(rq, db_run_tx(settings_tx, &t));
	free(t.text);
}

void api_site_alarm_settings(struct req *rq) { put_settings(rq, true); }
void api_meter_alarm_settings(struct req *rq) { put_settings(rq, false); }
