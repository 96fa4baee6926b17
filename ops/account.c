/* account.c: accounts with their policy, transitions into outbox rows, and those rows. */
#include "ops/account.h"
#include "core/calendar.h"
#include "core/messages.h"
#include "core/msgtext.h"
#include "core/valid.h"
#include "core/price.h"
#include "core/tz.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message's variables of an account (the balance now). */
static struct msg_vars acct_vars(const struct bill_acct *a)
{
	struct msg_vars v = {0};
	snprintf(v.tenant_name, sizeof v.tenant_name, "%s", a->tenant_name);
	snprintf(v.shop, sizeof v.shop, "%s (%s)", a->tenant_name, a->category);
	snprintf(v.currency, sizeof v.currency, "%s", a->currency);
	snprintf(v.zone, sizeof v.zone, "%s", a->zone);
	v.digits = a->digits;
	v.has_balance = true;
	v.balance = a->st.balance_minor;
	return v;
}

/* The tenant's message (when the tenant has a phone or a WeChat openid) and the webhook
 * event of one change. The message row carries the event (kind) and its variables
 * (msg_payload); the sender renders it at send time for the tenant's language and channel
 * (server/dispatch.c); body is the shipped English text until then. extra_key: one more
 * field of the event (msg_account_event). */
static void add_note(struct bill_outbox *o, const struct bill_acct *a, const char *kind, const struct msg_vars *v,
		     int64_t now_us, const char *extra_key, const char *extra_str, int64_t extra_num)
{
	char *p = msg_account_event(kind, a->tenant_id, a->tenant_name, a->st.balance_minor, a->currency, now_us,
				    extra_key, extra_str, extra_num);
	if (!p)
		abort();
	const char *text = msg_default_text(kind, "en");
	char body[800];
	if (text)
		msg_render(text, v, "en", false, body, sizeof body);
	else
		snprintf(body, sizeof body, "%s", kind);
	for (int ch = 0; ch < 2; ch++) {
		if (ch == 0 && !a->phone[0] && !a->wechat)
			continue; /* no phone, no WeChat: the webhook event only */
		if (o->nnote == o->capnote) {
			o->capnote = o->capnote ? 2 * o->capnote : 8;
			o->note = realloc(o->note, (size_t)o->capnote * sizeof *o->note);
			if (!o->note)
				abort();
		}
		char *rcpt = strdup(ch == 0 ? a->phone : ""), *b = strdup(body);
		char *pl = ch == 0 ? msg_payload(kind, "tenant", a->site_id, v, NULL) : strdup(p);
		if (!rcpt || !b || !pl)
			abort();
		const char *channel = ch ? "webhook" : a->phone[0] ? "sms" : "wechat";
		o->note[o->nnote++] = (struct note_order){a->tenant_id, kind, channel, rcpt, b, pl};
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
	char at[40];
	for (int i = 0; i < n; i++) {
		struct msg_vars v = acct_vars(a);
		switch (act[i].kind) {
		case ACT_WARN:
			v.has_threshold = true;
			v.threshold = act[i].level;
			add_note(o, a, "low_balance", &v, now_us, "level_minor", NULL, act[i].level);
			break;
		case ACT_GRACE:
			v.cut_at_us = act[i].at_us;
			add_note(o, a, "grace_started", &v, now_us, "cut_at", srv_time_format(act[i].at_us, at, sizeof at), 0);
			break;
		case ACT_CUT:
			add_command(o, a, "cut_off", "balance_exhausted");
			add_note(o, a, "cut_off", &v, now_us, NULL, NULL, 0);
			break;
		case ACT_RESTORE:
			add_command(o, a, "restore", "topped_up");
			add_note(o, a, "restored", &v, now_us, NULL, NULL, 0);
			break;
		case ACT_RECOVERED:
			add_note(o, a, "grace_ended", &v, now_us, NULL, NULL, 0);
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

void bill_acct_topup_notice(struct bill_acct *a, int64_t amount, int64_t entry_id, int64_t now_us,
			    struct bill_outbox *o)
{
	struct msg_vars v = acct_vars(a);
	v.has_amount = true;
	v.amount = amount;
	v.entry_id = entry_id;
	add_note(o, a, "topup_received", &v, now_us, "amount_minor", NULL, amount);
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

enum db_status bill_acct_refresh(PGconn *c, int64_t tenant_id, int64_t site_id, const char *rating,
				 int64_t now_us)
{
	struct bill_acct *v;
	int n;
	enum db_status st = tenant_id ? store_accounts_of_tenants(c, &tenant_id, 1, now_us, &v, &n)
				      : store_accounts_of_policy(c, site_id, rating, now_us, &v, &n);
	if (st != DB_OK)
		return st;
	struct bill_outbox o = {0};
	for (int i = 0; st == DB_OK && i < n; i++) {
		struct bill_account before = v[i].st;
		bill_acct_transition(&v[i], v[i].st.balance_minor, now_us, &o);
		if (memcmp(&before, &v[i].st, sizeof before))
			st = store_account_save(c, &v[i], now_us);
	}
	free(v);
	if (st == DB_OK)
		return bill_outbox_flush(c, &o, now_us);
	bill_outbox_free(&o);
	return st;
}

enum db_status bill_grace_tick(PGconn *c, int64_t now_us, int *handled)
{
	struct bill_acct *v;
	int n;
	*handled = 0;
	enum db_status st = store_accounts_due(c, now_us, &v, &n);
	if (st != DB_OK)
		return st;
	struct bill_outbox o = {0};
	for (int i = 0; st == DB_OK && i < n; i++) {
		bill_acct_due(&v[i], now_us, &o);
		st = store_account_save(c, &v[i], now_us);
		(*handled)++;
	}
	free(v);
	if (st == DB_OK)
		return bill_outbox_flush(c, &o, now_us);
	bill_outbox_free(&o);
	return st;
}
