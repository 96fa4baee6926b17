/* alarms.c: alarms for the control room (list, acknowledge) and the settings detection
 * uses (per site, overridden per meter). Detection itself runs in the readings path
 * (core/meterbatch.c, core/alarm.c); opening, closing and pushing in ops/alarm.c. */
#include "api/api.h"
#include "api/metrics.h"
#include "core/valid.h"
#include "core/alarm.h"
#include "core/clock.h"
#include "ops/alarm.h"
#include "store/alarms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_ALARM "alm"

void api_register_statements_alarms(void);
static const char *const duty_labels[] = {"outcome=\"sent\"", "outcome=\"flood_guard\"", "outcome=\"shelved\""};
static struct srv_counters duty_counters = {
	"wattle_alarm_duty_sms_total",
	"Duty-phone SMS for opened alarms: sent, held back by the flood guard, or not sent for a shelved alarm.",
	3, duty_labels, NULL, NULL};

void api_register_statements_alarms(void)
{
	store_alarms_register();
	duty_counters.v = alarm_duty_sms_counters();
	srv_counters_register(&duty_counters);
}

static json_t *opt_time(int64_t us) { return us ? api_time_json(us) : json_null(); }

static json_t *alarm_json(const struct alarm_view *x)
{
	json_t *detail = x->detail_json ? json_loads(x->detail_json, 0, NULL) : NULL;
	json_t *peak = x->peak[0] ? json_real(strtod(x->peak, NULL)) : json_null();
	return json_pack("{s:o, s:o, s:s, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "id", api_id_json(ID_ALARM, x->id), "meter_id", api_id_json(ID_METER, x->meter_id), "serial",
			 x->serial, "site_id", api_id_json(ID_SITE, x->site_id), "tenant_id",
			 x->tenant_id ? api_id_json(ID_TENANT, x->tenant_id) : json_null(), "kind", x->kind, "severity",
			 x->severity, "state", x->state, "opened_at", api_time_json(x->opened_us), "last_seen_at",
			 api_time_json(x->last_seen_us), "detections", (json_int_t)x->detections, "peak", peak, "detail",
			 detail ? detail : json_object(), "acked_at", opt_time(x->acked_us), "ack_note",
			 x->ack_note ? json_string(x->ack_note) : json_null(), "closed_at", opt_time(x->closed_us),
			 "cut_command_id", x->cut_command_id ? api_id_json("cmd", x->cut_command_id) : json_null(),
			 "cleared_at", opt_time(x->cleared_us), "shelved_until", opt_time(x->shelved_us), "shelve_reason",
			 x->shelved_us ? json_string(x->shelve_reason) : json_null());
}

void api_alarms_list(struct req *rq)
{
	static const char *const states[] = {"open", "acked", "cleared", "closed", NULL};
	static const char *const kinds[] = {"overload", "suspected_malicious_load", "over_voltage",
					    "under_voltage", "low_power_factor", "high_harmonics",
					    "comm_lost", "energy_regressed", "relay_mismatch", "energy_implausible", NULL};
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
	int64_t limit, after;
	if (api_page(rq, ID_ALARM, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct alarm_filter f = {site, state, kind, since_us, since != NULL};
	struct alarm_view *v;
	int n;
	if (api_read_failed(rq, store_alarms_list(c, after, limit + 1, &f, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, alarm_json(&v[i]));
	store_alarm_views_free(v, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}

/* The alarm as a change left it, into t->out; 404 (DB_ABORT) when there is none. */
static enum db_status alarm_after(PGconn *c, struct api_id_tx *t)
{
	struct alarm_view x;
	enum db_status st = store_alarm_get(c, t->id, &x);
	if (st != DB_OK)
		return st;
	if (!x.id) {
		api_error(t->rq, E_NOT_FOUND, NULL, "no alarm %s", t->rq->args[0]);
		return DB_ABORT;
	}
	json_decref(t->out);
	t->out = alarm_json(&x);
	store_alarm_view_clear(&x);
	return DB_OK;
}

static enum db_status ack_tx(PGconn *c, void *arg)
{
	struct api_id_tx *t = arg;
	struct req *rq = t->rq;
	bool acked;
	enum db_status st = op_alarm_ack(c, t->id, api_body_str(rq, "note"), srv_clock_now_us(), rq->who.key_id, &acked);
	if (st != DB_OK)
		return st;
	if ((st = alarm_after(c, t)) != DB_OK)
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

static enum db_status shelve_tx(PGconn *c, void *arg)
{
	struct api_id_tx *t = arg;
	struct req *rq = t->rq;
	bool found;
	int64_t minutes = api_body_int(rq, "minutes");
	enum db_status st = store_alarm_shelve(c, t->id, minutes, api_body_str(rq, "reason"), srv_clock_now_us(),
					       rq->who.key_id, &found);
	if (st != DB_OK)
		return st;
	if ((st = alarm_after(c, t)) != DB_OK)
		return st;
	if (!found) {
		api_error(rq, E_CONFLICT, json_pack("{s:s}", "state", "closed"), "a closed alarm cannot be shelved");
		return DB_ABORT;
	}
	api_reply(rq, 200, json_incref(t->out));
	return api_audit(c, rq, minutes ? "alarm.shelve" : "alarm.unshelve",
			 json_pack("{s:O, s:I, s:s?}", "id", json_object_get(t->out, "id"), "minutes", (json_int_t)minutes,
				   "reason", api_body_str(rq, "reason")));
}

/* POST /v1/alarms/{id}/shelve {"minutes": 1..1440, "reason"}: silence an alarm for a while
 * (no duty SMS; its webhook events say shelved); {"minutes": 0} unshelves. */
void api_alarm_shelve(struct req *rq)
{
	static const struct field spec[] = {
		{"minutes", FK_INT, F_REQ, 0, 1440, 0, 0},
		{"reason", FK_TEXT, 0, 0, 500, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	if (api_body_int(rq, "minutes") > 0 && !api_body_str(rq, "reason")) {
		api_field_error(rq, "reason", "shelving an alarm needs a reason");
		return;
	}
	struct api_id_tx t = {rq, api_arg_id(rq, 0, ID_ALARM, "alarm"), NULL};
	if (t.id)
		api_tx_failed(rq, db_run_tx(shelve_tx, &t));
	json_decref(t.out);
}

/* ---- settings ---- */

struct settings_tx {
	struct req *rq;
	bool meter;
	int64_t id;
	char *text;
};

static enum db_status settings_tx(PGconn *c, void *arg)
{
	struct settings_tx *t = arg;
	char *stored;
	enum db_status st = store_alarm_settings_set(c, t->meter, t->id, t->text, srv_clock_now_us(), &stored);
	if (st != DB_OK)
		return st;
	if (!stored) {
		api_error(t->rq, E_NOT_FOUND, NULL, "no %s %s", t->meter ? "meter" : "site", t->rq->args[0]);
		return DB_ABORT;
	}
	api_reply(t->rq, 200, json_loads(stored, 0, NULL));
	free(stored);
	return api_audit(c, t->rq, t->meter ? "meter.alarm_settings" : "site.alarm_settings",
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
	struct settings_tx t = {rq, !site, api_arg_id(rq, 0, site ? ID_SITE : ID_METER, site ? "site" : "meter"), NULL};
	if (!t.id)
		return;
	t.text = json_dumps(rq->json, JSON_COMPACT);
	api_tx_failed(rq, db_run_tx(settings_tx, &t));
	free(t.text);
}

void api_site_alarm_settings(struct req *rq) { put_settings(rq, true); }
void api_meter_alarm_settings(struct req *rq) { put_settings(rq, false); }
