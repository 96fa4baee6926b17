/* health.c: /healthz (process up), /readyz (database reachable and migrated), /metrics. */
#include "api/api.h"
#include "api/events.h"
#include "api/metrics.h"
#include "core/buf.h"
#include "core/clock.h"
#include "store/gauges.h"
#include "store/migrate.h"

#include <stdlib.h>
#include <string.h>

void api_health(struct req *rq) { api_reply(rq, 200, json_pack("{s:s}", "status", "ok")); }

void api_ready(struct req *rq)
{
	PGconn *c = api_conn(rq);
	int64_t have, want = srv_migrations_latest();
	if (!c || api_read_failed(rq, store_schema_version(c, &have)))
		return;
	if (have < want)
		api_error(rq, E_DB_UNAVAILABLE, json_pack("{s:I, s:I}", "schema_version", (json_int_t)have,
							  "expected", (json_int_t)want),
			  "the database is not migrated");
	else
		api_reply(rq, 200, json_pack("{s:s, s:I}", "status", "ready", "schema_version",
					     (json_int_t)have));
}

void api_register_statements_gauges(void);
void api_register_statements_gauges(void) { store_gauges_register(); }

/* The database's gauges, after the process's counters: what the control room graphs. Without
 * a database, wattle_gauges_up is 0 and the counters are served alone. */
static void gauges(struct srv_buf *b)
{
	static const struct {
		const char *family, *metric, *label, *help;
	} fam[] = {
		{"accounts", "wattle_accounts", "state", "Accounts by prepaid state."},
		{"alarms", "wattle_alarms_open", "severity", "Alarms not closed (open, acked or cleared), by severity."},
		{"commands", "wattle_outbox_commands", "state", "Meter commands pending, sent (awaiting the ack) or failed."},
		{"notifications", "wattle_outbox_notifications", "state", "Messages pending or dead."},
		{"commands_oldest_seconds", "wattle_outbox_commands_oldest_seconds", NULL,
		 "Age of the oldest pending meter command, on wattle's clock (0: none)."},
		{"notifications_oldest_seconds", "wattle_outbox_notifications_oldest_seconds", NULL,
		 "Age of the oldest pending message, on wattle's clock (0: none)."},
		{"gateway_keys_unbound", "wattle_gateway_keys_unbound", NULL,
		 "Gateway keys bound to no gateway and no site: they may report for any meter of any site."
		 " Replace each with a gateway's own key (POST /v1/gateways) and revoke it."},
		{"partitions", "wattle_readings_partitions", "table",
		 "Month partitions of the raw tables (readings, meter_harmonics), from the oldest kept to the ones made"
		 " ahead."},
		{"partitions_oldest", "wattle_readings_oldest_month_seconds", "table",
		 "Unix time the oldest kept month of a raw table starts (UTC; 0: none). Older months were dropped"
		 " (WATTLE_READINGS_KEEP_MONTHS)."},
	};
	srv_buf_printf(b, "# HELP wattle_build_info The running build.\n# TYPE wattle_build_info gauge\n"
			  "wattle_build_info{version=\"%s\",commit=\"%s\"} 1\n", WATTLE_VERSION, WATTLE_COMMIT);
	PGconn *c = db_conn();
	struct gauge *g = NULL;
	int n = 0;
	bool up = c && store_gauges(c, srv_clock_now_us(), &g, &n) == DB_OK;
	srv_buf_printf(b, "# HELP wattle_gauges_up Whether the database's gauges below could be read.\n"
			  "# TYPE wattle_gauges_up gauge\nwattle_gauges_up %d\n", up ? 1 : 0);
	for (size_t f = 0; up && f < sizeof fam / sizeof *fam; f++) {
		srv_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", fam[f].metric, fam[f].help, fam[f].metric);
		for (int i = 0; i < n; i++) {
			if (strcmp(g[i].family, fam[f].family))
				continue;
			if (fam[f].label)
				srv_buf_printf(b, "%s{%s=\"%s\"} %lld\n", fam[f].metric, fam[f].label, g[i].label,
					       (long long)g[i].value);
			else
				srv_buf_printf(b, "%s %lld\n", fam[f].metric, (long long)g[i].value);
		}
	}
	free(g);
}

void api_metrics(struct req *rq)
{
	size_t len;
	char *text = srv_metrics_render(&len);
	struct srv_buf b = {0};
	srv_buf_putn(&b, text, len);
	free(text);
	gauges(&b);
	api_events_metrics(&b);
	api_reply_buf(rq, 200, "text/plain; version=0.0.4", &b);
}
