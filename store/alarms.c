/* alarms.c: the SQL of alarms: opening, refreshing and closing them, the automatic cut's
 * targets, reading and acknowledging them, and alarm settings (alarms.h). */
#include "store/alarms.h"
#include "core/buf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The columns of an alarm that changed (a data-modifying CTE's rows are visible to the rest
 * of its statement only through RETURNING, not through the table). */
#define ALARM_RET                                                                                        \
	"id, meter_id, site_id, tenant_id, kind, severity, state, opened_at, last_seen_at, cleared_at,"        \
	" closed_at, peak, detail, shelved_until"

/* The alarm_events of relation SRC (ALARM_RET columns and `event`: alarm_opened, _acked,
 * _cleared or _closed) at time NOW, with the meter's serial, what the site says about its
 * duty phone, how many alarm SMS that phone got in the last hour (the flood guard), and
 * whether an operator shelved this kind of alarm on this meter (any of its rows, so a
 * chattering alarm that closes and opens again stays silent). */
#define ALARM_EVENTS(SRC, NOW)                                                                           \
	" ev2 AS (SELECT e.*, m.serial, s.name AS site_name,"                                                 \
	"  coalesce(s.alarm_settings->>'duty_phone', '') AS duty_phone,"                                      \
	"  coalesce(s.alarm_settings->'sms_severities', '[\"critical\"]'::jsonb) ? e.severity AS duty_sms,"   \
	"  coalesce((s.alarm_settings->>'duty_sms_per_hour')::int, 10) AS duty_sms_per_hour"                  \
	"  FROM " SRC " e JOIN meters m ON m.id = e.meter_id JOIN sites s ON s.id = e.site_id),"              \
	" recent AS (SELECT p.duty_phone, (SELECT count(*) FROM notifications n WHERE n.channel = 'sms'"      \
	"   AND n.recipient = p.duty_phone AND n.kind LIKE 'alarm%' AND n.created_at > " SQL_TS(NOW)           \
	"   - interval '1 hour') AS c FROM (SELECT DISTINCT duty_phone FROM ev2 WHERE duty_phone <> '') p)"   \
	" SELECT e.id, e.meter_id, e.site_id, coalesce(e.tenant_id, 0) AS tenant_id, e.event, e.kind,"        \
	" e.severity, e.state, " SQL_US("e.opened_at") " AS opened_us, " SQL_US("e.last_seen_at") " AS last_seen_us," \
	" coalesce(" SQL_US("e.cleared_at") ", 0) AS cleared_us, coalesce(" SQL_US("e.closed_at") ", 0) AS closed_us," \
	" coalesce(e.peak::text, '') AS peak, e.detail::text AS detail, e.serial, e.site_name, e.duty_phone,"  \
	" e.duty_sms, e.duty_sms_per_hour, coalesce(r.c, 0)::int AS duty_sms_recent,"                          \
	" EXISTS (SELECT 1 FROM alarms s2 WHERE s2.meter_id = e.meter_id AND s2.kind = e.kind"                  \
	"  AND s2.shelved_until > " SQL_TS(NOW) ") AS shelved"                                                 \
	" FROM ev2 e LEFT JOIN recent r ON r.duty_phone = e.duty_phone ORDER BY e.id"

#define US(x) "('epoch'::timestamptz + (" x ") * interval '1 microsecond')"

#define ALARM_COLS                                                                                     \
	"a.id, a.meter_id, m.serial, a.site_id, coalesce(a.tenant_id, 0) AS tenant_id, a.kind, a.severity,"   \
	" a.state, " SQL_US("a.opened_at") " AS opened_us, " SQL_US("a.last_seen_at") " AS last_seen_us,"   \
	" a.detections, coalesce(a.peak::text, '') AS peak, a.detail::text AS detail,"                       \
	" coalesce(" SQL_US("a.acked_at") ", 0) AS acked_us, a.ack_note,"                                   \
	" coalesce(" SQL_US("a.closed_at") ", 0) AS closed_us, coalesce(a.cut_command_id, 0) AS cut_command_id," \
	" coalesce(" SQL_US("a.cleared_at") ", 0) AS cleared_us, coalesce(" SQL_US("a.shelved_until") ", 0) AS shelved_us," \
	" a.shelve_reason"

static const struct db_stmt alarm_stmts[] = {
	{"alarm_upsert", /* store_alarms_upsert: rows are unique per (meter, kind) */
	 "WITH prev AS (SELECT a.meter_id, a.kind FROM alarms a"
	 "  JOIN unnest($1::bigint[], $4::text[]) AS x(m, k) ON a.meter_id = x.m AND a.kind = x.k"
	 "  WHERE a.state = 'cleared')," /* (the snapshot before the upsert: these come back) */
	 " up AS (INSERT INTO alarms AS a (meter_id, site_id, tenant_id, kind, severity, opened_at,"
	 "  last_seen_at, detections, peak, detail, clear_after_s)"
	 "  SELECT m, s, nullif(t, 0), k, sev, " US("o") ", " US("l") ", c, p, d::jsonb, ca"
	 "  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],"
	 "   $7::bigint[], $8::integer[], $9::float8[], $10::text[], $11::integer[])"
	 "   AS x(m, s, t, k, sev, o, l, c, p, d, ca)"
	 "  ON CONFLICT (meter_id, kind) WHERE state <> 'closed' DO UPDATE SET"
	 "   last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),"
	 "   detections = a.detections + EXCLUDED.detections,"
	 "   peak = CASE WHEN a.kind IN ('under_voltage', 'low_power_factor')"
	 "    THEN least(a.peak, EXCLUDED.peak) ELSE greatest(a.peak, EXCLUDED.peak) END,"
	 "   state = CASE WHEN a.state = 'cleared' THEN 'open' ELSE a.state END," /* it came back */
	 "   cleared_at = NULL"
	 "  RETURNING " ALARM_RET ", xmax = 0 AS opened),"
	 " new AS (SELECT *, 'alarm_opened'::text AS event FROM up WHERE opened"
	 "  OR EXISTS (SELECT 1 FROM prev p WHERE p.meter_id = up.meter_id AND p.kind = up.kind)),"
	 ALARM_EVENTS("new", "$12")},
	{"alarm_tick", /* store_alarms_tick: ISA-18.2, on the readings' time */
	 "WITH stale AS (UPDATE alarms a SET state = CASE a.state WHEN 'acked' THEN 'closed' ELSE 'cleared' END,"
	 "  cleared_at = a.last_seen_at + a.clear_after_s * interval '1 second',"
	 "  closed_at = CASE a.state WHEN 'acked' THEN " SQL_TS("$1") " END"
	 "  FROM meter_state st WHERE st.meter_id = a.meter_id AND a.state IN ('open', 'acked')"
	 "  AND a.kind <> 'comm_lost' AND st.last_ts >= a.last_seen_at + a.clear_after_s * interval '1 second'"
	 "  RETURNING a.id, a.meter_id, a.site_id, a.tenant_id, a.kind, a.severity, a.state, a.opened_at,"
	 "  a.last_seen_at, a.cleared_at, a.closed_at, a.peak, a.detail, a.shelved_until),"
	 " back AS (UPDATE alarms a SET state = CASE a.state WHEN 'acked' THEN 'closed' ELSE 'cleared' END,"
	 "  cleared_at = st.last_seen_at, closed_at = CASE a.state WHEN 'acked' THEN " SQL_TS("$1") " END"
	 "  FROM meter_state st WHERE a.kind = 'comm_lost' AND a.state IN ('open', 'acked')"
	 "  AND st.meter_id = a.meter_id AND st.last_seen_at > a.last_seen_at"
	 "  RETURNING a.id, a.meter_id, a.site_id, a.tenant_id, a.kind, a.severity, a.state, a.opened_at,"
	 "  a.last_seen_at, a.cleared_at, a.closed_at, a.peak, a.detail, a.shelved_until),"
	 " relost AS (UPDATE alarms a SET state = 'open', cleared_at = NULL, last_seen_at = st.last_seen_at,"
	 "  detections = a.detections + 1"
	 "  FROM meter_state st JOIN meters m ON m.id = st.meter_id JOIN sites s ON s.id = m.site_id,"
	 "  LATERAL (SELECT coalesce(((s.alarm_settings || m.alarm_settings)->>'interval_seconds')::int, 900) AS iv,"
	 "   coalesce(((s.alarm_settings || m.alarm_settings)->>'comm_lost_intervals')::int, 3) AS k) cfg"
	 "  WHERE a.meter_id = m.id AND a.kind = 'comm_lost' AND a.state = 'cleared' AND m.status = 'active'"
	 "  AND st.last_seen_at IS NOT NULL AND st.last_seen_at < " SQL_TS("$1") " - cfg.iv * cfg.k * interval '1 second'"
	 "  RETURNING a.id, a.meter_id, a.site_id, a.tenant_id, a.kind, a.severity, a.state, a.opened_at,"
	 "  a.last_seen_at, a.cleared_at, a.closed_at, a.peak, a.detail, a.shelved_until)," /* silent again, unacked */
	 " silent AS (INSERT INTO alarms (meter_id, site_id, tenant_id, kind, severity, opened_at,"
	 "  last_seen_at, peak, detail, clear_after_s)"
	 "  SELECT m.id, m.site_id, m.tenant_id, 'comm_lost', 'major', " SQL_TS("$1") ", st.last_seen_at,"
	 "  extract(epoch FROM " SQL_TS("$1") " - st.last_seen_at),"
	 "  jsonb_build_object('last_seen_at', st.last_seen_at, 'interval_s', cfg.iv, 'intervals', cfg.k), 0"
	 "  FROM meter_state st JOIN meters m ON m.id = st.meter_id JOIN sites s ON s.id = m.site_id,"
	 "  LATERAL (SELECT coalesce(((s.alarm_settings || m.alarm_settings)->>'interval_seconds')::int, 900) AS iv,"
	 "   coalesce(((s.alarm_settings || m.alarm_settings)->>'comm_lost_intervals')::int, 3) AS k) cfg"
	 "  WHERE m.status = 'active' AND st.last_seen_at IS NOT NULL"
	 "  AND st.last_seen_at < " SQL_TS("$1") " - cfg.iv * cfg.k * interval '1 second'"
	 "  AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.meter_id = m.id AND a.kind = 'comm_lost'"
	 "   AND a.state <> 'closed')"
	 "  ON CONFLICT (meter_id, kind) WHERE state <> 'closed' DO NOTHING RETURNING " ALARM_RET "),"
	 " ev AS (SELECT *, CASE state WHEN 'closed' THEN 'alarm_closed' ELSE 'alarm_cleared' END AS event FROM stale"
	 "  UNION ALL SELECT *, CASE state WHEN 'closed' THEN 'alarm_closed' ELSE 'alarm_cleared' END FROM back"
	 "  UNION ALL SELECT *, 'alarm_opened' FROM silent UNION ALL SELECT *, 'alarm_opened' FROM relost),"
	 ALARM_EVENTS("ev", "$1")},
	{"alarm_autocut_targets", /* store_alarms_autocut_targets */
	 "SELECT m.id, m.serial, t.id AS tenant_id, t.site_id, t.name, t.category, coalesce(t.phone, '') AS phone,"
	 " t.wechat_openid IS NOT NULL AS wechat"
	 " FROM meters m JOIN sites s ON s.id = m.site_id JOIN tenants t ON t.id = m.tenant_id"
	 " WHERE m.id = ANY($1::bigint[]) AND NOT m.protected AND m.status = 'active'"
	 " AND (s.alarm_settings->>'auto_cut_malicious')::boolean IS TRUE ORDER BY m.id"},
	{"alarm_cut_link", /* store_alarms_cut_link */
	 "UPDATE alarms SET cut_command_id = x.c FROM unnest($1::bigint[], $2::bigint[]) AS x(m, c)"
	 " WHERE alarms.meter_id = x.m AND alarms.kind = 'suspected_malicious_load' AND alarms.state <> 'closed'"},
	{"alarm_list", /* store_alarms_list */
	 "SELECT " ALARM_COLS " FROM alarms a JOIN meters m ON m.id = a.meter_id"
	 " WHERE a.id > $1 AND ($3::bigint IS NULL OR a.site_id = $3) AND ($4::text IS NULL OR a.state = $4)"
	 " AND ($5::text IS NULL OR a.kind = $5) AND ($6::bigint IS NULL OR a.last_seen_at >= " SQL_TS("$6") ")"
	 " ORDER BY a.id LIMIT $2"},
	{"alarm_ack", /* store_alarm_ack: open -> acked, cleared -> closed; once */
	 "WITH x AS (UPDATE alarms a SET state = CASE a.state WHEN 'cleared' THEN 'closed' ELSE 'acked' END,"
	 " acked_at = " SQL_TS("$3") ", acked_by_key = $4, ack_note = $2,"
	 " closed_at = CASE a.state WHEN 'cleared' THEN " SQL_TS("$3") " END"
	 " WHERE a.id = $1 AND a.state IN ('open', 'cleared') RETURNING " ALARM_RET "),"
	 " ev AS (SELECT *, CASE state WHEN 'closed' THEN 'alarm_closed' ELSE 'alarm_acked' END AS event FROM x),"
	 ALARM_EVENTS("ev", "$3")},
	{"alarm_shelve", /* store_alarm_shelve: shelve an alarm that is not closed; unshelving lifts the
			    silence from every alarm of its meter and kind, closed ones included */
	 "UPDATE alarms a SET shelved_until = CASE WHEN $2::bigint > 0 THEN " SQL_TS("$3") " + $2 * interval '1 minute' END,"
	 " shelve_reason = CASE WHEN $2::bigint > 0 THEN $4 END, shelved_by_key = $5"
	 " FROM alarms t WHERE t.id = $1 AND (t.state <> 'closed' OR $2::bigint = 0)"
	 " AND a.meter_id = t.meter_id AND a.kind = t.kind AND (a.id = t.id OR $2::bigint = 0) RETURNING t.id"},
	{"alarm_get", /* store_alarm_get */
	 "SELECT " ALARM_COLS " FROM alarms a JOIN meters m ON m.id = a.meter_id WHERE a.id = $1"},
	{"site_alarm_settings", /* store_alarm_settings_set */
	 "UPDATE sites SET alarm_settings = $2::jsonb WHERE id = $1"
	 " RETURNING alarm_settings::text AS settings"},
	{"meter_alarm_settings", /* store_alarm_settings_set */
	 "UPDATE meters SET alarm_settings = $2::jsonb, updated_at = " SQL_TS("$3")
	 " WHERE id = $1 RETURNING alarm_settings::text AS settings"},
	{0, 0},
};

void store_alarms_register(void) { db_register(alarm_stmts); }

#define ALARM_SPEC(x)                                                                                    \
	{DB_COL("id", DB_I64, &(x)->id), DB_COL("meter_id", DB_I64, &(x)->meter_id), DB_COL_TEXT("serial", (x)->serial), \
	 DB_COL("site_id", DB_I64, &(x)->site_id), DB_COL("tenant_id", DB_I64, &(x)->tenant_id),                  \
	 DB_COL_TEXT("kind", (x)->kind), DB_COL_TEXT("severity", (x)->severity), DB_COL_TEXT("state", (x)->state), \
	 DB_COL("opened_us", DB_I64, &(x)->opened_us), DB_COL("last_seen_us", DB_I64, &(x)->last_seen_us),        \
	 DB_COL("detections", DB_I64, &(x)->detections), DB_COL_TEXT("peak", (x)->peak),                          \
	 DB_COL("detail", DB_TEXT_NEW, &(x)->detail_json), DB_COL("acked_us", DB_I64, &(x)->acked_us),           \
	 DB_COL("ack_note", DB_TEXT_NEW, &(x)->ack_note), DB_COL("closed_us", DB_I64, &(x)->closed_us),          \
	 DB_COL("cut_command_id", DB_I64, &(x)->cut_command_id), DB_COL("cleared_us", DB_I64, &(x)->cleared_us), \
	 DB_COL("shelved_us", DB_I64, &(x)->shelved_us), DB_COL_TEXT("shelve_reason", (x)->shelve_reason), {0}}

void store_alarm_view_clear(struct alarm_view *x)
{
	free(x->detail_json);
	free(x->ack_note);
	x->detail_json = x->ack_note = NULL;
}

void store_alarm_views_free(struct alarm_view *v, int n)
{
	for (int i = 0; v && i < n; i++)
		store_alarm_view_clear(&v[i]);
	free(v);
}

enum db_status store_alarms_list(PGconn *c, int64_t after, int64_t limit, const struct alarm_filter *f,
				 struct alarm_view **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_id(&p, f->site_id);
	db_p_text(&p, f->state);
	db_p_text(&p, f->kind);
	db_p_i64_if(&p, f->has_since, f->since_us);
	struct alarm_view x;
	struct db_col spec[] = ALARM_SPEC(&x);
	return db_exec_rows(c, "alarm_list", &p, spec, &x, sizeof x, (void **)out, n);
}


enum db_status store_alarm_get(PGconn *c, int64_t id, struct alarm_view *x)
{
	memset(x, 0, sizeof *x);
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct db_col spec[] = ALARM_SPEC(x);
	return db_exec_row(c, "alarm_get", &p, spec, NULL);
}

enum db_status store_alarm_settings_set(PGconn *c, bool meter, int64_t id, const char *settings_json, int64_t now_us,
					char **out)
{
	*out = NULL;
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, settings_json);
	if (meter) /* a meter's change is dated; a site has no updated_at */
		db_p_i64(&p, now_us);
	struct db_col spec[] = {DB_COL("settings", DB_TEXT_NEW, out), {0}};
	return db_exec_row(c, meter ? "meter_alarm_settings" : "site_alarm_settings", &p, spec, NULL);
}

void store_alarm_events_free(struct alarm_event *v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i].detail_json);
	free(v);
}

#define EVENT_SPEC(x)                                                                                    \
	{DB_COL("id", DB_I64, &(x)->id), DB_COL("meter_id", DB_I64, &(x)->meter_id),                          \
	 DB_COL("site_id", DB_I64, &(x)->site_id), DB_COL("tenant_id", DB_I64, &(x)->tenant_id),                \
	 DB_COL_TEXT("event", (x)->event), DB_COL_TEXT("kind", (x)->kind),                                      \
	 DB_COL_TEXT("severity", (x)->severity), DB_COL_TEXT("state", (x)->state),                              \
	 DB_COL("opened_us", DB_I64, &(x)->opened_us), DB_COL("last_seen_us", DB_I64, &(x)->last_seen_us),      \
	 DB_COL("cleared_us", DB_I64, &(x)->cleared_us), DB_COL("closed_us", DB_I64, &(x)->closed_us),          \
	 DB_COL_TEXT("peak", (x)->peak),                                                                          \
	 DB_COL("detail", DB_TEXT_NEW, &(x)->detail_json), DB_COL_TEXT("serial", (x)->serial),                  \
	 DB_COL_TEXT("site_name", (x)->site_name), DB_COL_TEXT("duty_phone", (x)->duty_phone),                  \
	 DB_COL("duty_sms", DB_BOOL, &(x)->duty_sms), DB_COL("duty_sms_per_hour", DB_INT, &(x)->duty_sms_per_hour), \
	 DB_COL("duty_sms_recent", DB_INT, &(x)->duty_sms_recent), DB_COL("shelved", DB_BOOL, &(x)->shelved), {0}}

enum db_status store_alarms_upsert(PGconn *c, const struct alarm_row *rows, int n, int64_t now_us,
				   struct alarm_event **opened, int *nopened)
{
	*opened = NULL;
	*nopened = 0;
	if (n == 0)
		return DB_OK;
	struct srv_buf a[11] = {{0}};
	for (int i = 0; i < n; i++) {
		const struct alarm_row *w = &rows[i];
		for (int k = 0; k < 11; k++)
			srv_buf_elem(&a[k]);
		srv_buf_i64(&a[0], w->meter_id);
		srv_buf_i64(&a[1], w->site_id);
		srv_buf_i64(&a[2], w->tenant_id);
		srv_buf_puts(&a[3], alarm_kind_name(w->kind));
		srv_buf_puts(&a[4], alarm_severity(w->kind));
		srv_buf_i64(&a[5], w->first_us);
		srv_buf_i64(&a[6], w->last_us);
		srv_buf_i64(&a[7], w->count);
		if (isfinite(w->peak))
			srv_buf_printf(&a[8], "%.6g", w->peak);
		else
			srv_buf_puts(&a[8], "NULL");
		srv_buf_pg_quoted(&a[9], w->detail);
		srv_buf_i64(&a[10], w->clear_s);
	}
	struct db_params p = {0};
	for (int k = 0; k < 11; k++) {
		srv_buf_putc(&a[k], '}');
		db_p_take(&p, a[k].p);
	}
	db_p_i64(&p, now_us);
	struct alarm_event e;
	struct db_col spec[] = EVENT_SPEC(&e);
	return db_exec_rows(c, "alarm_upsert", &p, spec, &e, sizeof e, (void **)opened, nopened);
}

enum db_status store_alarms_tick(PGconn *c, int64_t now_us, struct alarm_event **ev, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	struct alarm_event e;
	struct db_col spec[] = EVENT_SPEC(&e);
	return db_exec_rows(c, "alarm_tick", &p, spec, &e, sizeof e, (void **)ev, n);
}

enum db_status store_alarms_autocut_targets(PGconn *c, const int64_t *meter_ids, int n, struct autocut_target **out,
					    int *nout)
{
	struct db_params p = {0};
	db_p_i64_array(&p, meter_ids, n);
	struct autocut_target t;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &t.meter_id), DB_COL("tenant_id", DB_I64, &t.tenant_id),
		DB_COL_TEXT("serial", t.serial),   DB_COL_TEXT("name", t.name),
		DB_COL_TEXT("phone", t.phone),     DB_COL("site_id", DB_I64, &t.site_id),
		DB_COL_TEXT("category", t.category), DB_COL("wechat", DB_BOOL, &t.wechat), {0},
	};
	return db_exec_rows(c, "alarm_autocut_targets", &p, spec, &t, sizeof t, (void **)out, nout);
}

enum db_status store_alarms_cut_link(PGconn *c, const int64_t *meters, const int64_t *cmds, int n)
{
	struct db_params p = {0};
	db_p_i64_array(&p, meters, n);
	db_p_i64_array(&p, cmds, n);
	return db_exec_void(c, "alarm_cut_link", &p);
}

enum db_status store_alarm_ack(PGconn *c, int64_t id, const char *note, int64_t now_us, int64_t key_id,
			       struct alarm_event **ev, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, note);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	struct alarm_event e;
	struct db_col spec[] = EVENT_SPEC(&e);
	return db_exec_rows(c, "alarm_ack", &p, spec, &e, sizeof e, (void **)ev, n);
}

enum db_status store_alarm_shelve(PGconn *c, int64_t id, int64_t minutes, const char *reason, int64_t now_us,
				  int64_t key_id, bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, minutes);
	db_p_i64(&p, now_us);
	db_p_text(&p, reason);
	db_p_id(&p, key_id);
	int64_t got;
	struct db_col spec[] = {DB_COL("id", DB_I64, &got), {0}};
	return db_exec_row(c, "alarm_shelve", &p, spec, found);
}
