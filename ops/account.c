/* account.c: accounts with their policy, transitions into outbox rows, and those rows. */
#include "ops/account.h"
#include "core/valid.h"
#include "core/price.h"
#include "core/tz.h"
#include "core/clock.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct db_stmt account_stmts[] = {
	{"acct_save", /* bill_acct_save */
	 "UPDATE accounts SET balance_minor = $2, state = $3, warned_mask = $4,"
	 " grace_until = CASE WHEN $5::bigint = 0 THEN NULL ELSE " SQL_TS("$5") " END,"
	 " updated_at = " SQL_TS("$6") " WHERE id = $1"},
	{"outbox_commands", /* bill_outbox_flush: supersede, insert per active meter, supply */
	 "WITH x AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])"
	 "  AS x(account, tenant, action, reason)),"
	 " sup AS (UPDATE commands c SET state = 'superseded' FROM x, meters m"
	 "  WHERE m.tenant_id = x.tenant AND c.meter_id = m.id AND c.state = 'pending'"
	 "  AND c.action <> x.action),"
	 " ins AS (INSERT INTO commands (meter_id, account_id, action, reason, origin, created_at,"
	 "  next_attempt_at) SELECT m.id, x.account, x.action, x.reason, 'auto', " SQL_TS("$5") ", "
	 SQL_TS("$5") " FROM x JOIN meters m ON m.tenant_id = x.tenant AND m.status = 'active'"
	 "  AND (x.action = 'restore' OR NOT m.protected) ORDER BY m.id RETURNING account_id, action)"
	 " UPDATE accounts a SET supply = CASE i.action WHEN 'cut_off' THEN 'pending_off' ELSE 'pending_on' END"
	 " FROM (SELECT DISTINCT account_id, action FROM ins) i WHERE a.id = i.account_id"},
	{"outbox_notes", /* bill_outbox_flush */
	 "INSERT INTO notifications (tenant_id, kind, channel, recipient, body, payload, created_at,"
	 " next_attempt_at) SELECT t, k, ch, nullif(r, ''), b, p::jsonb, " SQL_TS("$7") ", " SQL_TS("$7")
	 " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
	 " AS x(t, k, ch, r, b, p)"},
	{"acct_lock_tenants", /* bill_acct_refresh callers: accounts of these tenants */
	 BILL_ACCT_SELECT("$2") " WHERE a.tenant_id = ANY($1::bigint[]) ORDER BY a.id FOR UPDATE OF a"},
	{"acct_due", /* bill_grace_tick: due accounts by the grace_until index; another process
		      takes the ones this one has locked */
	 BILL_ACCT_SELECT("$2") " WHERE a.grace_until <= " SQL_TS("$1")
	 " ORDER BY a.id LIMIT 200 FOR UPDATE OF a SKIP LOCKED"},
	{"acct_lock_policy", /* bill_acct_refresh callers: accounts under a site's rating */
	 BILL_ACCT_SELECT("$3") " WHERE t.site_id = $1 AND t.credit_rating = $2 ORDER BY a.id FOR UPDATE OF a"},
	{0, 0},
};

void bill_account_register(void) { db_register(account_stmts); }

static int split_ints(const char *s, int64_t *out, int max)
{
	int n = 0;
	while (s && *s && n < max) {
		char *end;
		out[n++] = strtoll(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

void bill_acct_parse(const PGresult *r, int i, struct bill_acct *a)
{
	memset(a, 0, sizeof *a);
	a->id = db_int64(r, i, 0);
	a->tenant_id = db_int64(r, i, 1);
	a->st.balance_minor = db_int64(r, i, 2);
	int s = bill_state_parse(PQgetvalue(r, i, 3));
	a->st.state = s < 0 ? ST_NORMAL : (enum bill_state)s;
	a->st.warned = (uint32_t)db_int64(r, i, 4);
	a->st.grace_until_us = PQgetisnull(r, i, 5) ? 0 : db_int64(r, i, 5);
	snprintf(a->tenant_name, sizeof a->tenant_name, "%s", PQgetvalue(r, i, 6));
	snprintf(a->phone, sizeof a->phone, "%s", PQgetvalue(r, i, 7));
	snprintf(a->zone, sizeof a->zone, "%s", PQgetvalue(r, i, 8));
	snprintf(a->currency, sizeof a->currency, "%s", PQgetvalue(r, i, 9));
	a->digits = 2;
	api_valid_currency(a->currency, &a->digits);
	a->has_policy = !strcmp(PQgetvalue(r, i, 10), "t");
	a->policy.nlevels = split_ints(PQgetvalue(r, i, 11), a->policy.levels, BILL_MAX_LEVELS);
	a->policy.overdraft_minor = db_int64(r, i, 12);
	a->policy.grace_minutes = db_int64(r, i, 13);
	a->policy.restore_min_minor = db_int64(r, i, 14);
	a->policy.quiet_from = (int)db_int64(r, i, 15);
	a->policy.quiet_to = (int)db_int64(r, i, 16);
	int64_t days[BILL_MAX_HOLIDAYS];
	a->cal.nholidays = split_ints(PQgetvalue(r, i, 17), days, BILL_MAX_HOLIDAYS);
	for (int k = 0; k < a->cal.nholidays; k++)
		a->cal.holidays[k] = (int32_t)days[k];
	a->cal.zone = a->zone;
}

void bill_acct_holiday_from(int64_t now_us, char *buf, size_t n)
{
	int y, m, d;
	bill_civil_from_days(bill_local_day(now_us) - 1, &y, &m, &d);
	snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
}

/* "-12.34" for -1234 with 2 digits. */
static void money(const struct bill_acct *a, int64_t minor, char *buf, size_t n)
{
	int64_t div = 1;
	for (int i = 0; i < a->digits; i++)
		div *= 10;
	uint64_t u = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
	if (a->digits)
		snprintf(buf, n, "%s%llu.%0*llu", minor < 0 ? "-" : "", (unsigned long long)(u / (uint64_t)div),
			 a->digits, (unsigned long long)(u % (uint64_t)div));
	else
		snprintf(buf, n, "%s%llu", minor < 0 ? "-" : "", (unsigned long long)u);
}

/* "2026-11-03 08:00" in the site's time. */
static void local_time(const struct bill_acct *a, int64_t t_us, char *buf, size_t n)
{
	int32_t off = 0;
	bill_tz_offset(a->zone, t_us, &off);
	int64_t local = t_us + (int64_t)off * 1000000;
	int32_t day = bill_local_day(local);
	int64_t tod = (local - (int64_t)day * INT64_C(86400000000)) / 60000000;
	int y, m, d;
	bill_civil_from_days(day, &y, &m, &d);
	snprintf(buf, n, "%04d-%02d-%02d %02d:%02d", y, m, d, (int)(tod / 60), (int)(tod % 60));
}

static void add_note(struct bill_outbox *o, const struct bill_acct *a, const char *kind,
		     const char *body, json_t *extra, int64_t now_us)
{
	char at[40];
	json_t *payload = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "event", kind, "tenant_id", "",
				    "tenant_name", a->tenant_name, "balance_minor",
				    (json_int_t)a->st.balance_minor, "currency", a->currency, "at",
				    srv_time_format(now_us, at, sizeof at));
	char tid[32];
	snprintf(tid, sizeof tid, "ten_%lld", (long long)a->tenant_id);
	json_object_set_new(payload, "tenant_id", json_string(tid));
	if (extra)
		json_object_update(payload, extra);
	json_decref(extra);
	char *p = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	for (int ch = 0; ch < 2; ch++) {
		if (ch == 0 && !a->phone[0])
			continue; /* no phone: the webhook event only */
		o->nnote++;
		for (int k = 0; k < 6; k++)
			srv_buf_elem(&o->note[k]);
		srv_buf_i64(&o->note[0], a->tenant_id);
		srv_buf_pg_quoted(&o->note[1], kind);
		srv_buf_puts(&o->note[2], ch == 0 ? "sms" : "webhook");
		srv_buf_pg_quoted(&o->note[3], ch == 0 ? a->phone : "");
		srv_buf_pg_quoted(&o->note[4], body);
		srv_buf_pg_quoted(&o->note[5], p);
	}
	free(p);
}

static void add_command(struct bill_outbox *o, const struct bill_acct *a, const char *action,
			const char *reason)
{
	o->ncmd++;
	for (int k = 0; k < 4; k++)
		srv_buf_elem(&o->cmd[k]);
	srv_buf_i64(&o->cmd[0], a->id);
	srv_buf_i64(&o->cmd[1], a->tenant_id);
	srv_buf_puts(&o->cmd[2], action);
	srv_buf_pg_quoted(&o->cmd[3], reason);
}

static void queue_actions(struct bill_acct *a, const struct bill_action *act, int n,
			  int64_t now_us, struct bill_outbox *o)
{
	char bal[40], lvl[40], when[40], body[600];
	money(a, a->st.balance_minor, bal, sizeof bal);
	for (int i = 0; i < n; i++) {
		switch (act[i].kind) {
		case ACT_WARN:
			money(a, act[i].level, lvl, sizeof lvl);
			snprintf(body, sizeof body, "%s: your electricity balance is %s %s, below %s %s. Please top up.",
				 a->tenant_name, bal, a->currency, lvl, a->currency);
			add_note(o, a, "low_balance", body, json_pack("{s:I}", "level_minor", (json_int_t)act[i].level), now_us);
			break;
		case ACT_GRACE:
			local_time(a, act[i].at_us, when, sizeof when);
			snprintf(body, sizeof body, "%s: your electricity balance of %s %s has run out. The supply will be cut at %s (%s) unless you top up.",
				 a->tenant_name, bal, a->currency, when, a->zone);
			char at[40];
			add_note(o, a, "grace_started", body,
				 json_pack("{s:s}", "cut_at", srv_time_format(act[i].at_us, at, sizeof at)), now_us);
			break;
		case ACT_CUT:
			add_command(o, a, "cut_off", "balance_exhausted");
			snprintf(body, sizeof body, "%s: the electricity supply has been cut off; the balance is %s %s. A top-up restores it.",
				 a->tenant_name, bal, a->currency);
			add_note(o, a, "cut_off", body, NULL, now_us);
			break;
		case ACT_RESTORE:
			add_command(o, a, "restore", "topped_up");
			snprintf(body, sizeof body, "%s: thank you; the supply is being restored. Balance %s %s.",
				 a->tenant_name, bal, a->currency);
			add_note(o, a, "restored", body, NULL, now_us);
			break;
		case ACT_RECOVERED:
			snprintf(body, sizeof body, "%s: thank you; your balance is %s %s and the supply stays on.",
				 a->tenant_name, bal, a->currency);
			add_note(o, a, "grace_ended", body, NULL, now_us);
			break;
		}
	}
}

void bill_acct_transition(struct bill_acct *a, int64_t new_balance, int64_t now_us,
			  struct bill_outbox *o)
{
	if (!a->has_policy) {
		a->st.balance_minor = new_balance;
		return;
	}
	struct bill_action act[BILL_MAX_ACTIONS];
	int n = bill_prepaid_on_balance(&a->st, &a->policy, &a->cal, now_us, new_balance, act);
	queue_actions(a, act, n, now_us, o);
}

void bill_acct_due(struct bill_acct *a, int64_t now_us, struct bill_outbox *o)
{
	struct bill_action act[BILL_MAX_ACTIONS];
	if (!a->has_policy) { /* the policy was removed during grace: no automatic cut */
		a->st.grace_until_us = 0;
		a->st.state = ST_NORMAL;
		return;
	}
	int n = bill_prepaid_on_due(&a->st, &a->policy, &a->cal, now_us, act);
	queue_actions(a, act, n, now_us, o);
}

void bill_acct_topup_notice(struct bill_acct *a, int64_t amount, int64_t now_us,
			    struct bill_outbox *o)
{
	char amt[40], bal[40], body[400];
	money(a, amount, amt, sizeof amt);
	money(a, a->st.balance_minor, bal, sizeof bal);
	snprintf(body, sizeof body, "%s: top-up of %s %s received; your balance is %s %s.", a->tenant_name,
		 amt, a->currency, bal, a->currency);
	add_note(o, a, "topup_received", body, json_pack("{s:I}", "amount_minor", (json_int_t)amount), now_us);
}

enum db_status bill_acct_save(PGconn *c, const struct bill_acct *a, int64_t now_us)
{
	char id[24], bal[24], warned[24], grace[24], now[24];
	snprintf(id, sizeof id, "%lld", (long long)a->id);
	snprintf(bal, sizeof bal, "%lld", (long long)a->st.balance_minor);
	snprintf(warned, sizeof warned, "%u", a->st.warned);
	snprintf(grace, sizeof grace, "%lld", (long long)a->st.grace_until_us);
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	const char *p[6] = {id, bal, bill_state_name(a->st.state), warned, grace, now};
	PGresult *r;
	enum db_status st = db_exec(c, "acct_save", 6, p, &r);
	PQclear(r);
	return st;
}

enum db_status bill_outbox_flush(PGconn *c, struct bill_outbox *o, int64_t now_us)
{
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	enum db_status st = DB_OK;
	PGresult *r;
	if (o->ncmd) {
		for (int k = 0; k < 4; k++)
			srv_buf_putc(&o->cmd[k], '}');
		const char *p[5] = {o->cmd[0].p, o->cmd[1].p, o->cmd[2].p, o->cmd[3].p, now};
		st = db_exec(c, "outbox_commands", 5, p, &r);
		PQclear(r);
	}
	if (st == DB_OK && o->nnote) {
		for (int k = 0; k < 6; k++)
			srv_buf_putc(&o->note[k], '}');
		const char *p[7] = {o->note[0].p, o->note[1].p, o->note[2].p, o->note[3].p,
				    o->note[4].p, o->note[5].p, now};
		st = db_exec(c, "outbox_notes", 7, p, &r);
		PQclear(r);
	}
	bill_outbox_free(o);
	return st;
}

void bill_outbox_free(struct bill_outbox *o)
{
	for (int k = 0; k < 4; k++)
		srv_buf_free(&o->cmd[k]);
	for (int k = 0; k < 6; k++)
		srv_buf_free(&o->note[k]);
	o->ncmd = o->nnote = 0;
}

enum db_status bill_acct_refresh(PGconn *c, const char *stmt, int n, const char *const *params,
				 int64_t now_us)
{
	PGresult *r;
	enum db_status st = db_exec(c, stmt, n, params, &r);
	struct bill_outbox o = {0};
	for (int i = 0; st == DB_OK && i < PQntuples(r); i++) {
		struct bill_acct a;
		bill_acct_parse(r, i, &a);
		struct bill_account before = a.st;
		bill_acct_transition(&a, a.st.balance_minor, now_us, &o);
		if (memcmp(&before, &a.st, sizeof before))
			st = bill_acct_save(c, &a, now_us);
	}
	PQclear(r);
	if (st == DB_OK)
		return bill_outbox_flush(c, &o, now_us);
	bill_outbox_free(&o);
	return st;
}

enum db_status bill_grace_tick(PGconn *c, int64_t now_us, int *handled)
{
	char now[24], hol[16];
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	bill_acct_holiday_from(now_us, hol, sizeof hol);
	const char *p[2] = {now, hol};
	PGresult *r;
	enum db_status st = db_exec(c, "acct_due", 2, p, &r);
	struct bill_outbox o = {0};
	*handled = 0;
	for (int i = 0; st == DB_OK && i < PQntuples(r); i++) {
		struct bill_acct a;
		bill_acct_parse(r, i, &a);
		bill_acct_due(&a, now_us, &o);
		st = bill_acct_save(c, &a, now_us);
		(*handled)++;
	}
	PQclear(r);
	if (st == DB_OK)
		return bill_outbox_flush(c, &o, now_us);
	bill_outbox_free(&o);
	return st;
}
