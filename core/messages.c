/* messages.c: the English texts that are not yet data (the statement's row body, the duty
 * phone's alarm line) and the webhook events' JSON (messages.h). */
#include "core/messages.h"
#include "core/money.h"
#include "core/clock.h"

#include <jansson.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "12.34 CNY" into b[48]. */
static const char *amount(struct msg_money m, char *b)
{
	char num[32];
	snprintf(b, 48, "%s %s", bill_format_decimal(m.minor, m.digits, num, sizeof num), m.currency);
	return b;
}

char *msg_statement_ready(char *buf, size_t n, const char *tenant, const char *period, struct msg_money closing)
{
	char b[48];
	snprintf(buf, n, "%s: your electricity statement for %s is ready; closing balance %s.", tenant, period,
		 amount(closing, b));
	return buf;
}

char *msg_alarm(char *buf, size_t n, const char *severity, const char *kind, const char *event, const char *serial,
		const char *site, const char *peak)
{
	char sev[16], pk[40] = "-";
	size_t i = 0;
	for (; severity[i] && i + 1 < sizeof sev; i++)
		sev[i] = (char)toupper((unsigned char)severity[i]);
	sev[i] = 0;
	double v = peak[0] ? strtod(peak, NULL) : NAN;
	if (isfinite(v) && fabs(v) < 1e15) { /* a measurement to two places, ties away from zero; never money */
		long long h = llround(v * 100);
		snprintf(pk, sizeof pk, "%s%lld.%02lld", h < 0 ? "-" : "", llabs(h) / 100, llabs(h) % 100);
	}
	const char *what = !strncmp(event, "alarm_", 6) ? event + 6 : event;
	snprintf(buf, n, "[%s] %s %s on meter %s at %s (peak %s)", sev, kind, what, serial, site, pk);
	return buf;
}

char *msg_account_event(const char *event, int64_t tenant_id, const char *tenant_name, int64_t balance_minor,
			const char *currency, int64_t at_us, const char *extra_key, const char *extra_str,
			int64_t extra_num)
{
	char at[40], tid[32];
	snprintf(tid, sizeof tid, "ten_%lld", (long long)tenant_id);
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "event", event, "tenant_id", tid, "tenant_name",
			      tenant_name, "balance_minor", (json_int_t)balance_minor, "currency", currency, "at",
			      srv_time_format(at_us, at, sizeof at));
	if (extra_key)
		json_object_set_new(o, extra_key, extra_str ? json_string(extra_str) : json_integer((json_int_t)extra_num));
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static json_t *id_json(const char *prefix, int64_t id)
{
	char b[40];
	snprintf(b, sizeof b, "%s_%lld", prefix, (long long)id);
	return json_string(b);
}

static json_t *time_json(int64_t us)
{
	char t[40];
	return us ? json_string(srv_time_format(us, t, sizeof t)) : json_null();
}

static char *dump(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)); /* 8123.4, not 8123.3999999999996 */
	json_decref(o);
	if (!text)
		abort();
	return text;
}

char *msg_alarm_event_payload(const struct msg_alarm_event *e)
{
	json_t *detail = e->detail_json && e->detail_json[0] ? json_loads(e->detail_json, JSON_DECODE_ANY, NULL) : NULL;
	json_t *peak = e->peak && e->peak[0] ? json_real(strtod(e->peak, NULL)) : json_null();
	return dump(json_pack("{s:s, s:o, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "event",
			      e->event, "alarm_id", id_json("alm", e->alarm_id), "kind", e->kind, "severity", e->severity,
			      "state", e->state, "meter_id", id_json("mtr", e->meter_id), "serial", e->serial, "site_id",
			      id_json("site", e->site_id), "tenant_id", e->tenant_id ? id_json("ten", e->tenant_id) : json_null(),
			      "opened_at", time_json(e->opened_us), "last_seen_at", time_json(e->last_seen_us), "cleared_at",
			      time_json(e->cleared_us), "closed_at", time_json(e->closed_us), "peak", peak, "detail",
			      detail ? detail : json_null(), "shelved", e->shelved));
}

char *msg_malicious_cut_payload(int64_t tenant_id, int64_t meter_id, const char *serial, int64_t command_id)
{
	return dump(json_pack("{s:s, s:o, s:o, s:s, s:o}", "event", "malicious_load_cut", "tenant_id",
			      id_json("ten", tenant_id), "meter_id", id_json("mtr", meter_id), "serial", serial, "command_id",
			      id_json("cmd", command_id)));
}

char *msg_statement_ready_payload(int64_t tenant_id, const char *period, int64_t closing_minor)
{
	return dump(json_pack("{s:s, s:o, s:s, s:I}", "event", "statement_ready", "tenant_id", id_json("ten", tenant_id),
			      "period", period, "closing_balance_minor", (json_int_t)closing_minor));
}
