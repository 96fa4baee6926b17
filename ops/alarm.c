/* alarm_db.c: alarm rows, their push, the automatic cut and the worker's tick. */
#include "ops/alarm_db.h"
#include "core/buf.h"
#include "core/messages.h"
#include "store/outbox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The columns a push needs, as RETURNING gives them (a data-modifying CTE's rows are not
 * visible to the rest of its statement through the table, only through RETURNING). */
#define ALARM_RET "id, meter_id, site_id, tenant_id, kind, severity, state, opened_at, last_seen_at, closed_at, peak, detail"

/* Push the alarms of relation SRC (ALARM_RET columns and `event`: alarm_opened or
 * alarm_closed): a signed webhook event for the control room, and an SMS to the site's
 * duty phone for the severities the site chose (default: critical). $NOW is the time. */
#define ALARM_PUSH(SRC, NOW)                                                                            \
	" push AS (SELECT e.*, m.serial, s.alarm_settings AS ss,"                                       \
	"  format('[%s] %s %s on meter %s at %s (peak %s)', upper(e.severity), e.kind,"                  \
	"   CASE e.event WHEN 'alarm_opened' THEN 'opened' ELSE 'closed' END, m.serial, s.name,"          \
	"   coalesce(round(e.peak::numeric, 2)::text, '-')) AS text"                                     \
	"  FROM " SRC " e JOIN meters m ON m.id = e.meter_id JOIN sites s ON s.id = e.site_id),"          \
	" pay AS (SELECT p.*, jsonb_build_object('event', p.event, 'alarm_id', 'alm_' || p.id,"          \
	"  'kind', p.kind, 'severity', p.severity, 'state', p.state, 'meter_id', 'mtr_' || p.meter_id,"  \
	"  'serial', p.serial, 'site_id', 'site_' || p.site_id, 'tenant_id', 'ten_' || p.tenant_id,"     \
	"  'opened_at', p.opened_at, 'last_seen_at', p.last_seen_at, 'closed_at', p.closed_at,"          \
	"  'peak', p.peak, 'detail', p.detail) AS j FROM push p),"                                        \
	" hook AS (INSERT INTO notifications (tenant_id, kind, channel, recipient, body, payload,"       \
	"  created_at, next_attempt_at) SELECT tenant_id, event, 'webhook', NULL, text, j, "            \
	SQL_TS(NOW) ", " SQL_TS(NOW) " FROM pay),"                                                      \
	" duty AS (INSERT INTO notifications (tenant_id, kind, channel, recipient, body, payload,"       \
	"  created_at, next_attempt_at) SELECT tenant_id, event, 'sms', ss->>'duty_phone', text, j, "   \
	SQL_TS(NOW) ", " SQL_TS(NOW) " FROM pay WHERE ss->>'duty_phone' IS NOT NULL"                    \
	"  AND coalesce(ss->'sms_severities', '[\"critical\"]'::jsonb) ? severity)"

#define US(x) "('epoch'::timestamptz + (" x ") * interval '1 microsecond')"

static const struct db_stmt alarm_stmts[] = {
	{"alarm_upsert", /* alarms_upsert: rows are unique per (meter, kind) */
	 "WITH up AS (INSERT INTO alarms AS a (meter_id, site_id, tenant_id, kind, severity, opened_at,"
	 "  last_seen_at, detections, peak, detail, clear_after_s)"
	 "  SELECT m, s, nullif(t, 0), k, sev, " US("o") ", " US("l") ", c, p, d::jsonb, ca"
	 "  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],"
	 "   $7::bigint[], $8::integer[], $9::float8[], $10::text[], $11::integer[])"
	 "   AS x(m, s, t, k, sev, o, l, c, p, d, ca)"
	 "  ON CONFLICT (meter_id, kind) WHERE state <> 'closed' DO UPDATE SET"
	 "   last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),"
	 "   detections = a.detections + EXCLUDED.detections,"
	 "   peak = CASE WHEN a.kind IN ('under_voltage', 'low_power_factor')"
	 "    THEN least(a.peak, EXCLUDED.peak) ELSE greatest(a.peak, EXCLUDED.peak) END"
	 "  RETURNING " ALARM_RET ", xmax = 0 AS opened),"
	 " opened AS (SELECT *, 'alarm_opened'::text AS event FROM up WHERE opened),"
	 ALARM_PUSH("opened", "$12")
	 " SELECT count(*) FROM opened"},
	{"alarm_autocut_targets", /* alarms_autocut: the confirmed meters whose site cuts them */
	 "SELECT m.id, m.serial, t.id AS tenant_id, t.name, coalesce(t.phone, '') AS phone"
	 " FROM meters m JOIN sites s ON s.id = m.site_id JOIN tenants t ON t.id = m.tenant_id"
	 " WHERE m.id = ANY($1::bigint[]) AND NOT m.protected AND m.status = 'active'"
	 " AND (s.alarm_settings->>'auto_cut_malicious')::boolean IS TRUE ORDER BY m.id"},
	{"alarm_cut_link", /* alarms_autocut: the open alarm names the command that cut */
	 "UPDATE alarms SET cut_command_id = x.c FROM unnest($1::bigint[], $2::bigint[]) AS x(m, c)"
	 " WHERE alarms.meter_id = x.m AND alarms.kind = 'suspected_malicious_load' AND alarms.state <> 'closed'"},
	{"alarm_tick", /* alarms_tick */
	 "WITH stale AS (UPDATE alarms SET state = 'closed', closed_at = " SQL_TS("$1")
	 "  WHERE state <> 'closed' AND kind <> 'comm_lost'"
	 "  AND last_seen_at + clear_after_s * interval '1 second' <= " SQL_TS("$1")
	 "  RETURNING " ALARM_RET "),"
	 " back AS (UPDATE alarms a SET state = 'closed', closed_at = " SQL_TS("$1")
	 "  FROM meter_state st WHERE a.kind = 'comm_lost' AND a.state <> 'closed'"
	 "  AND st.meter_id = a.meter_id AND st.last_seen_at > a.last_seen_at"
	 "  RETURNING a.id, a.meter_id, a.site_id, a.tenant_id, a.kind, a.severity, a.state, a.opened_at,"
	 "  a.last_seen_at, a.closed_at, a.peak, a.detail),"
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
	 " ev AS (SELECT *, 'alarm_closed'::text AS event FROM stale UNION ALL"
	 "  SELECT *, 'alarm_closed' FROM back UNION ALL SELECT *, 'alarm_opened' FROM silent),"
	 ALARM_PUSH("ev", "$1")
	 " SELECT (SELECT count(*) FROM silent), (SELECT count(*) FROM stale) + (SELECT count(*) FROM back)"},
	{0, 0},
};

void alarm_db_register(void) { db_register(alarm_stmts); }

static bool alarms_on = true;

bool alarms_enabled(void) { return alarms_on; }

void alarms_set_enabled(bool on) { alarms_on = on; }


static enum db_status one_count(PGconn *c, const char *stmt, int n, const char *const *p, int *out)
{
	PGresult *r;
	enum db_status st = db_exec(c, stmt, n, p, &r);
	if (st == DB_OK && out)
		*out = (int)db_int64(r, 0, 0);
	PQclear(r);
	return st;
}

enum db_status alarms_upsert(PGconn *c, const struct alarm_row *rows, int n, int64_t now_us,
				  int *opened)
{
	*opened = 0;
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
	const char *p[12];
	for (int k = 0; k < 11; k++) {
		srv_buf_putc(&a[k], '}');
		p[k] = a[k].p;
	}
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	p[11] = now;
	enum db_status st = one_count(c, "alarm_upsert", 12, p, opened);
	for (int k = 0; k < 11; k++)
		srv_buf_free(&a[k]);
	return st;
}

enum db_status alarms_autocut(PGconn *c, const int64_t *meter_ids, int n, int64_t now_us, int *cuts)
{
	*cuts = 0;
	if (n == 0)
		return DB_OK;
	struct db_params p = {0};
	db_p_i64_array(&p, meter_ids, n);
	PGresult *r;
	struct target {
		int64_t meter, tenant;
		char serial[72], name[201], phone[24];
	} t;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &t.meter),
		DB_COL("tenant_id", DB_I64, &t.tenant),
		DB_COL_TEXT("serial", t.serial),
		DB_COL_TEXT("name", t.name),
		DB_COL_TEXT("phone", t.phone),
		{0},
	};
	enum db_status st = db_exec_p(c, "alarm_autocut_targets", &p, &r);
	if (st == DB_OK)
		st = db_cols_bind(r, spec, "alarm_autocut_targets");
	int rows = st == DB_OK ? PQntuples(r) : 0;
	struct target *tg = calloc((size_t)rows + 1, sizeof *tg);
	struct cmd_order *orders = calloc((size_t)rows + 1, sizeof *orders);
	if (!tg || !orders)
		abort();
	for (int i = 0; i < rows; i++) {
		db_cols_read(r, i, spec);
		tg[i] = t;
		/* as an operator's cut would be, with the reason; never a protected meter */
		orders[i] = (struct cmd_order){t.meter, t.tenant, "cut_off", "malicious_load", "auto", 0, true};
	}
	PQclear(r);
	struct cmd_queued *q = NULL;
	int nq = 0;
	if (st == DB_OK)
		st = store_commands_queue(c, orders, rows, now_us, &q, &nq);
	free(orders);
	if (st == DB_OK && nq) {
		int64_t *ms = calloc((size_t)nq, sizeof *ms), *cs = calloc((size_t)nq, sizeof *cs);
		struct note_order *notes = calloc(2 * (size_t)nq, sizeof *notes);
		char (*body)[512] = calloc((size_t)nq, sizeof *body), (*pay)[1024] = calloc((size_t)nq, sizeof *pay);
		if (!ms || !cs || !notes || !body || !pay)
			abort();
		int nn = 0;
		for (int i = 0; i < nq; i++) {
			ms[i] = q[i].meter_id;
			cs[i] = q[i].id;
			const struct target *x = NULL;
			for (int k = 0; k < rows && !x; k++)
				if (tg[k].meter == q[i].meter_id)
					x = &tg[k];
			if (!x)
				continue;
			msg_malicious_load_cut(body[i], sizeof body[i], x->name, x->serial);
			struct srv_buf pl = {0};
			PUT_LIT(&pl, "{\"event\":\"malicious_load_cut\",\"tenant_id\":\"ten_");
			srv_buf_i64(&pl, x->tenant);
			PUT_LIT(&pl, "\",\"meter_id\":\"mtr_");
			srv_buf_i64(&pl, x->meter);
			PUT_LIT(&pl, "\",\"serial\":");
			srv_buf_json_str(&pl, x->serial);
			PUT_LIT(&pl, ",\"command_id\":\"cmd_");
			srv_buf_i64(&pl, q[i].id);
			PUT_LIT(&pl, "\"}");
			snprintf(pay[i], sizeof pay[i], "%s", pl.p);
			srv_buf_free(&pl);
			if (x->phone[0])
				notes[nn++] = (struct note_order){x->tenant, "malicious_load_cut", "sms", x->phone, body[i], pay[i]};
			notes[nn++] = (struct note_order){x->tenant, "malicious_load_cut", "webhook", NULL, body[i], pay[i]};
		}
		db_p_i64_array(&p, ms, nq);
		db_p_i64_array(&p, cs, nq);
		st = db_exec_p(c, "alarm_cut_link", &p, &r);
		PQclear(r);
		if (st == DB_OK)
			st = store_notes_queue(c, notes, nn, now_us);
		free(ms);
		free(cs);
		free(notes);
		free(body);
		free(pay);
	}
	*cuts = nq;
	free(q);
	free(tg);
	return st;
}

enum db_status alarms_tick(PGconn *c, int64_t now_us, int *opened, int *closed)
{
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	const char *p[1] = {now};
	PGresult *r;
	enum db_status st = db_exec(c, "alarm_tick", 1, p, &r);
	if (st == DB_OK) {
		*opened = (int)db_int64(r, 0, 0);
		*closed = (int)db_int64(r, 0, 1);
	}
	PQclear(r);
	return st;
}
