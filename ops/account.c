/* account.c: accounts with their policy, transitions into outbox rows, and those rows. */
#include "ops/account.h"
#include "core/messages.h"
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

/* The account's money for a message. */
static struct msg_money money(const struct bill_acct *a, int64_t minor)
{
	return (struct msg_money){minor, a->digits, a->currency};
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
		if (o->nnote == o->capnote) {
			o->capnote = o->capnote ? 2 * o->capnote : 8;
			o->note = realloc(o->note, (size_t)o->capnote * sizeof *o->note);
			if (!o->note)
				abort();
		}
		char *rcpt = strdup(ch == 0 ? a->phone : ""), *b = strdup(body), *pl = strdup(p);
		if (!rcpt || !b || !pl)
			abort();
		o->note[o->nnote++] = (struct note_order){a->tenant_id, kind, ch == 0 ? "sms" : "webhook", rcpt, b, pl};
	}
	free(p);
}

/* reason: a static string. */
static void add_command(struct bill_outbox *o, const struct bill_acct *a, const char *action,
			const char *reason)
{
	if (o->ncmd == o->capcmd) {
		o->capcmd = o->capcmd ? 2 * o->capcmd : 8;
		o->cmd = realloc(o->cmd, (size_t)o->capcmd * sizeof *o->cmd);
		if (!o->cmd)
			abort();
	}
	/* every meter of the tenant; an automatic cut spares protected meters */
	o->cmd[o->ncmd++] = (struct cmd_order){0, a->tenant_id, action, reason, "auto", 0, true};
}

static void queue_actions(struct bill_acct *a, const struct bill_action *act, int n,
			  int64_t now_us, struct bill_outbox *o)
{
	char when[40], body[600], at[40];
	struct msg_money bal = money(a, a->st.balance_minor);
	for (int i = 0; i < n; i++) {
		switch (act[i].kind) {
		case ACT_WARN:
			msg_low_balance(body, sizeof body, a->tenant_name, bal, money(a, act[i].level));
			add_note(o, a, "low_balance", body, json_pack("{s:I}", "level_minor", (json_int_t)act[i].level), now_us);
			break;
		case ACT_GRACE:
			local_time(a, act[i].at_us, when, sizeof when);
			msg_grace_started(body, sizeof body, a->tenant_name, bal, when, a->zone);
			add_note(o, a, "grace_started", body,
				 json_pack("{s:s}", "cut_at", srv_time_format(act[i].at_us, at, sizeof at)), now_us);
			break;
		case ACT_CUT:
			add_command(o, a, "cut_off", "balance_exhausted");
			add_note(o, a, "cut_off", msg_cut_off(body, sizeof body, a->tenant_name, bal), NULL, now_us);
			break;
		case ACT_RESTORE:
			add_command(o, a, "restore", "topped_up");
			add_note(o, a, "restored", msg_restored(body, sizeof body, a->tenant_name, bal), NULL, now_us);
			break;
		case ACT_RECOVERED:
			add_note(o, a, "grace_ended", msg_grace_ended(body, sizeof body, a->tenant_name, bal), NULL, now_us);
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
	char body[400];
	msg_topup_received(body, sizeof body, a->tenant_name, money(a, amount), money(a, a->st.balance_minor));
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
	enum db_status st = store_commands_queue(c, o->cmd, o->ncmd, now_us, NULL, NULL);
	if (st == DB_OK)
		st = store_notes_queue(c, o->note, o->nnote, now_us);
	bill_outbox_free(o);
	return st;
}

void bill_outbox_free(struct bill_outbox *o)
{
	for (int i = 0; i < o->nnote; i++) {
		free((char *)o->note[i].recipient);
		free((char *)o->note[i].body);
		free((char *)o->note[i].payload_json);
	}
	free(o->cmd);
	free(o->note);
	memset(o, 0, sizeof *o);
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
