/* alarm.c: alarms from detections and from the worker's tick, each opened or closed one
 * pushed to the control room and the duty phone, and the automatic cut. */
#include "ops/alarm.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/messages.h"
#include "core/msgtext.h"
#include "store/alarms.h"
#include "store/outbox.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool alarms_on = true;

bool alarms_enabled(void) { return alarms_on; }

void alarms_set_enabled(bool on) { alarms_on = on; }


/* The signed webhook event of an alarm's change (new). */
static char *event_payload(const struct alarm_event *e)
{
	struct msg_alarm_event m = {e->event, e->kind, e->severity, e->state, e->serial, e->peak, e->detail_json,
				    e->id, e->meter_id, e->site_id, e->tenant_id, e->opened_us, e->last_seen_us,
				    e->cleared_us, e->closed_us, e->shelved};
	return msg_alarm_event_payload(&m);
}

static _Atomic uint64_t duty_sms[3];

_Atomic uint64_t *alarm_duty_sms_counters(void) { return duty_sms; }

/* Push each event: a webhook event for the control room (every change), and for an opened
 * alarm an SMS to the site's duty phone, for the severities the site chose, unless the
 * alarm is shelved or the phone had its duty_sms_per_hour already (the flood guard: a
 * gateway replaying its backlog must not send a thousand SMS). */
static enum db_status push_events(PGconn *c, const struct alarm_event *ev, int n, int64_t now_us)
{
	if (n == 0)
		return DB_OK;
	struct note_order *notes = calloc(2 * (size_t)n, sizeof *notes);
	char **pay = calloc((size_t)n, sizeof *pay), **duty = calloc((size_t)n, sizeof *duty);
	char (*text)[400] = calloc((size_t)n, sizeof *text);
	int *sent = calloc((size_t)n, sizeof *sent); /* SMS queued here, per event's phone (first event of it) */
	if (!notes || !pay || !text || !sent || !duty)
		abort();
	int nn = 0, guarded = 0;
	for (int i = 0; i < n; i++) {
		const struct alarm_event *e = &ev[i];
		pay[i] = event_payload(e);
		msg_alarm(text[i], sizeof text[i], e->severity, e->kind, e->event, e->serial, e->site_name, e->peak);
		notes[nn++] = (struct note_order){e->tenant_id, e->event, "webhook", NULL, text[i], pay[i]};
		if (strcmp(e->event, "alarm_opened") || !e->duty_phone[0] || !e->duty_sms)
			continue;
		if (e->shelved) {
			duty_sms[2]++;
			continue;
		}
		int k = 0; /* the first event of this phone keeps the batch's count */
		while (strcmp(ev[k].duty_phone, e->duty_phone))
			k++;
		if (e->duty_sms_recent + sent[k] >= e->duty_sms_per_hour) {
			guarded++;
			duty_sms[1]++;
			continue;
		}
		sent[k]++;
		duty_sms[0]++;
		/* the duty phone's message: the 'alarm' event and its variables, rendered when sent
		 * in the site's language through the SMS provider (server/dispatch.c) */
		struct msg_vars v = {0};
		snprintf(v.alarm_kind, sizeof v.alarm_kind, "%s", e->kind);
		snprintf(v.meter, sizeof v.meter, "%s", e->serial);
		snprintf(v.shop, sizeof v.shop, "%s", e->site_name);
		duty[i] = msg_payload("alarm", "duty", e->site_id, &v, pay[i]);
		notes[nn++] = (struct note_order){e->tenant_id, e->event, "sms", e->duty_phone, text[i], duty[i]};
	}
	if (guarded)
		srv_log(LOG_WARN, "alarms: %d duty-phone SMS held back by the flood guard (the webhook events all went)",
			guarded);
	enum db_status st = store_notes_queue(c, notes, nn, now_us);
	for (int i = 0; i < n; i++) {
		free(pay[i]);
		free(duty[i]);
	}
	free(pay);
	free(duty);
	free(text);
	free(notes);
	free(sent);
	return st;
}

enum db_status alarms_upsert(PGconn *c, const struct alarm_row *rows, int n, int64_t now_us, int *opened)
{
	struct alarm_event *ev;
	enum db_status st = store_alarms_upsert(c, rows, n, now_us, &ev, opened);
	if (st == DB_OK)
		st = push_events(c, ev, *opened, now_us);
	store_alarm_events_free(ev, *opened);
	return st;
}

enum db_status op_alarm_ack(PGconn *c, int64_t id, const char *note, int64_t now_us, int64_t key_id, bool *acked)
{
	struct alarm_event *ev;
	int n;
	enum db_status st = store_alarm_ack(c, id, note, now_us, key_id, &ev, &n);
	*acked = st == DB_OK && n == 1;
	if (*acked)
		st = push_events(c, ev, n, now_us);
	store_alarm_events_free(ev, n);
	return st;
}

enum db_status alarms_autocut(PGconn *c, const int64_t *meter_ids, int n, int64_t now_us, int *cuts)
{
	*cuts = 0;
	if (n == 0)
		return DB_OK;
	struct autocut_target *tg;
	int rows;
	enum db_status st = store_alarms_autocut_targets(c, meter_ids, n, &tg, &rows);
	if (st != DB_OK)
		return st;
	struct cmd_order *orders = calloc((size_t)rows + 1, sizeof *orders);
	if (!orders)
		abort();
	for (int i = 0; i < rows; i++) /* as an operator's cut would be, with the reason */
		orders[i] = (struct cmd_order){tg[i].meter_id, tg[i].tenant_id, "cut_off", "malicious_load", "auto", 0, true};
	struct cmd_queued *q = NULL;
	int nq = 0;
	st = store_commands_queue(c, orders, rows, now_us, &q, &nq);
	free(orders);
	if (st == DB_OK && nq) {
		int64_t *ms = calloc((size_t)nq, sizeof *ms), *cs = calloc((size_t)nq, sizeof *cs);
		struct note_order *notes = calloc(2 * (size_t)nq, sizeof *notes);
		char **owned = calloc(3 * (size_t)nq, sizeof *owned); /* the texts and payloads made here */
		if (!ms || !cs || !notes || !owned)
			abort();
		int nn = 0, no = 0;
		for (int i = 0; i < nq; i++) {
			ms[i] = q[i].meter_id;
			cs[i] = q[i].id;
			const struct autocut_target *x = NULL;
			for (int k = 0; k < rows && !x; k++)
				if (tg[k].meter_id == q[i].meter_id)
					x = &tg[k];
			if (!x)
				continue;
			/* the tenant's message: the event and its variables, rendered for its language and
			 * channel when sent; the webhook gets the event as before */
			struct msg_vars v = {0};
			snprintf(v.tenant_name, sizeof v.tenant_name, "%s", x->name);
			snprintf(v.shop, sizeof v.shop, "%s (%s)", x->name, x->category);
			snprintf(v.meter, sizeof v.meter, "%s", x->serial);
			char text[800];
			msg_render(msg_default_text("malicious_load_cut", "en"), &v, "en", false, text, sizeof text);
			char *body = strdup(text), *event = msg_malicious_cut_payload(x->tenant_id, x->meter_id, x->serial, q[i].id);
			char *pl = msg_payload("malicious_load_cut", "tenant", x->site_id, &v, event);
			if (!body || !pl)
				abort();
			owned[no++] = body;
			owned[no++] = event;
			owned[no++] = pl;
			if (x->phone[0] || x->wechat)
				notes[nn++] = (struct note_order){x->tenant_id, "malicious_load_cut", x->phone[0] ? "sms" : "wechat",
								  x->phone, body, pl};
			notes[nn++] = (struct note_order){x->tenant_id, "malicious_load_cut", "webhook", NULL, body, event};
		}
		st = store_alarms_cut_link(c, ms, cs, nq);
		if (st == DB_OK)
			st = store_notes_queue(c, notes, nn, now_us);
		free(ms);
		free(cs);
		free(notes);
		for (int i = 0; i < no; i++)
			free(owned[i]);
		free(owned);
	}
	*cuts = nq;
	free(q);
	free(tg);
	return st;
}

enum db_status alarms_tick(PGconn *c, int64_t now_us, int *opened, int *closed)
{
	struct alarm_event *ev;
	int n;
	*opened = *closed = 0;
	enum db_status st = store_alarms_tick(c, now_us, &ev, &n);
	for (int i = 0; i < n; i++)
		*(!strcmp(ev[i].event, "alarm_opened") ? opened : closed) += 1;
	if (st == DB_OK)
		st = push_events(c, ev, n, now_us);
	store_alarm_events_free(ev, n);
	return st;
}
