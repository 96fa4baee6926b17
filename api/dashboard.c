/* dashboard.c: GET /v1/dashboard?site_id=: one site's figures for the console's first page
 * (store/dashboard.h), in one request so the page draws at once. Read only. */
#include "api/api.h"
#include "core/clock.h"
#include "store/dashboard.h"

#include <stdlib.h>

void api_register_statements_dashboard(void);
void api_register_statements_dashboard(void) { store_dashboard_register(); }

void api_dashboard(struct req *rq)
{
	int64_t site, days = 14;
	if (api_query_id(rq, "site_id", ID_SITE, &site))
		return;
	if (!site) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "site_id"), "site_id is required");
		return;
	}
	PGconn *c = api_read_conn(rq);
	if (!c)
		return;
	int64_t now = srv_clock_now_us();
	struct dash_summary s;
	if (api_read_failed(rq, store_dash_summary(c, site, now, &s)))
		return;
	if (!s.currency[0]) {
		api_error(rq, E_NOT_FOUND, NULL, "no such site");
		return;
	}
	struct dash_topups *t;
	struct dash_day *d;
	int nt, nd;
	if (api_read_failed(rq, store_dash_topups(c, site, now, &t, &nt)))
		return;
	if (api_read_failed(rq, store_dash_days(c, site, now, days, &d, &nd))) {
		free(t);
		return;
	}
	json_t *top = json_array(), *cons = json_array();
	for (int i = 0; i < nt; i++)
		json_array_append_new(top, json_pack("{s:s, s:I, s:I}", "channel", t[i].channel, "count",
						     (json_int_t)t[i].count, "amount_minor", (json_int_t)t[i].amount_minor));
	for (int i = 0; i < nd; i++)
		json_array_append_new(cons, json_pack("{s:s, s:I}", "day", d[i].day, "energy_wh", (json_int_t)d[i].wh));
	free(t);
	free(d);
	json_t *o = json_pack("{s:o, s:s, s:s, s:o, s:I}", "site_id", api_id_json(ID_SITE, site), "currency", s.currency,
			      "timezone", s.timezone, "at", api_time_json(now), "prepaid_liability_minor",
			      (json_int_t)s.liability_minor);
	json_object_set_new(o, "tenants_by_state",
			    json_pack("{s:I, s:I, s:I, s:I}", "normal", (json_int_t)s.normal, "warned", (json_int_t)s.warned,
				      "grace", (json_int_t)s.grace, "cut_off", (json_int_t)s.cut_off));
	json_object_set_new(o, "alarms_open",
			    json_pack("{s:I, s:I, s:I}", "critical", (json_int_t)s.alarms_critical, "major",
				      (json_int_t)s.alarms_major, "minor", (json_int_t)s.alarms_minor));
	json_object_set_new(o, "alarms_acked", json_integer((json_int_t)s.alarms_acked));
	json_object_set_new(o, "commands", json_pack("{s:I, s:I}", "pending", (json_int_t)s.commands_pending,
						     "failed_24h", (json_int_t)s.commands_failed));
	json_object_set_new(o, "topups_today", top);
	json_object_set_new(o, "energy_by_day", cons);
	api_reply(rq, 200, o);
}
