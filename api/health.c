/* health.c: /healthz (process up), /readyz (database reachable and migrated), /metrics. */
#include "api/api.h"
#include "api/metrics.h"
#include "store/migrate.h"

#include <stdlib.h>

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

void api_metrics(struct req *rq)
{
	size_t len;
	char *text = srv_metrics_render(&len);
	api_reply_raw(rq, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}
