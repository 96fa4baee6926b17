/* alarms.c: the SQL of reading and acknowledging alarms, and of alarm settings (alarms.h). */
#include "store/alarms.h"

#include <stdlib.h>
#include <string.h>

#define ALARM_COLS                                                                                     \
	"a.id, a.meter_id, m.serial, a.site_id, coalesce(a.tenant_id, 0) AS tenant_id, a.kind, a.severity,"   \
	" a.state, " SQL_US("a.opened_at") " AS opened_us, " SQL_US("a.last_seen_at") " AS last_seen_us,"   \
	" a.detections, coalesce(a.peak::text, '') AS peak, a.detail::text AS detail,"                       \
	" coalesce(" SQL_US("a.acked_at") ", 0) AS acked_us, a.ack_note,"                                   \
	" coalesce(" SQL_US("a.closed_at") ", 0) AS closed_us, coalesce(a.cut_command_id, 0) AS cut_command_id"

static const struct db_stmt alarm_stmts[] = {
	{"alarm_list", /* store_alarms_list */
	 "SELECT " ALARM_COLS " FROM alarms a JOIN meters m ON m.id = a.meter_id"
	 " WHERE a.id > $1 AND ($3::bigint IS NULL OR a.site_id = $3) AND ($4::text IS NULL OR a.state = $4)"
	 " AND ($5::text IS NULL OR a.kind = $5) AND ($6::bigint IS NULL OR a.last_seen_at >= " SQL_TS("$6") ")"
	 " ORDER BY a.id LIMIT $2"},
	{"alarm_ack", /* store_alarm_ack: open -> acked, once */
	 "UPDATE alarms SET state = 'acked', acked_at = " SQL_TS("$3") ", acked_by_key = $4,"
	 " ack_note = $2 WHERE id = $1 AND state = 'open' RETURNING id"},
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
	 DB_COL("cut_command_id", DB_I64, &(x)->cut_command_id), {0}}

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

enum db_status store_alarm_ack(PGconn *c, int64_t id, const char *note, int64_t now_us, int64_t key_id, bool *acked)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, note);
	db_p_i64(&p, now_us);
	db_p_id(&p, key_id);
	int64_t got;
	struct db_col spec[] = {DB_COL("id", DB_I64, &got), {0}};
	return db_exec_row(c, "alarm_ack", &p, spec, acked);
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
