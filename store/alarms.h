/* alarms.h: alarms opened, refreshed and closed from detections and by the worker's tick,
 * the meters an automatic cut applies to, alarms as the control room reads and
 * acknowledges them, and the alarm settings of sites and meters. What is pushed to whom is
 * ops/alarm.c's. */
#ifndef WATTLE_STORE_ALARMS_H
#define WATTLE_STORE_ALARMS_H

#include "core/alarm.h"
#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct alarm_view {
	int64_t id, meter_id, site_id, tenant_id; /* tenant 0: a public meter */
	char serial[72], kind[32], severity[16], state[12];
	int64_t opened_us, last_seen_us, detections, acked_us, closed_us, cut_command_id; /* 0: none */
	int64_t cleared_us, shelved_us; /* 0: none */
	char shelve_reason[501];
	char peak[32];   /* as PostgreSQL prints it; "" when none */
	char *detail_json, *ack_note; /* new or NULL */
};
void store_alarm_views_free(struct alarm_view *v, int n);

struct alarm_filter {
	int64_t site_id;        /* 0: any */
	const char *state, *kind; /* NULL: any */
	int64_t since_us;       /* seen at or after; 0: any */
	bool has_since;
};
/* A page of alarms. *out new: store_alarm_views_free. */
enum db_status store_alarms_list(PGconn *c, int64_t after, int64_t limit, const struct alarm_filter *f,
				 struct alarm_view **out, int *n);
/* One alarm; x->id == 0 when there is none. Free its strings with store_alarm_view_clear. */
enum db_status store_alarm_get(PGconn *c, int64_t id, struct alarm_view *x);
void store_alarm_view_clear(struct alarm_view *x);
/* Replace a site's (meter false) or meter's alarm settings; *out the stored text (new), NULL
 * when there is no such site or meter. */
enum db_status store_alarm_settings_set(PGconn *c, bool meter, int64_t id, const char *settings_json, int64_t now_us,
					char **out);

/* An alarm that was opened or closed, with what its push needs. */
struct alarm_event {
	int64_t id, meter_id, site_id, tenant_id; /* tenant 0: a public meter */
	char event[16]; /* alarm_opened, alarm_acked, alarm_cleared, alarm_closed */
	char kind[32], severity[16], state[12];
	int64_t opened_us, last_seen_us, cleared_us, closed_us; /* 0: not (yet) */
	char peak[32];                              /* as PostgreSQL prints it; "" when none */
	char *detail_json;                          /* new */
	char serial[72], site_name[201];
	char duty_phone[40]; /* the site's duty phone; "" when none */
	bool duty_sms;       /* the site sends this severity to the duty phone (default: critical) */
	int duty_sms_per_hour, duty_sms_recent; /* the flood guard: its limit, and alarm SMS to the phone in the last hour */
	bool shelved;        /* this kind of alarm on this meter is shelved until after now */
};
void store_alarm_events_free(struct alarm_event *v, int n);

/* Open new alarms or refresh those not closed (one per meter and kind; a cleared one that
 * comes back is open again) from n detections; *opened gets the new ones (new:
 * store_alarm_events_free; NULL when none). */
enum db_status store_alarms_upsert(PGconn *c, const struct alarm_row *rows, int n, int64_t now_us,
				   struct alarm_event **opened, int *nopened);

/* The worker's tick at now_us, as ISA-18.2 has it: an alarm whose meter's readings have gone
 * its clear time past its last detection (the readings' own time, so a replayed backlog
 * clears in its real order) is cleared, or closed when it was acknowledged; comm_lost clears
 * when the meter is heard from again; comm_lost opens for meters silent for K intervals.
 * *ev gets every alarm opened, cleared or closed (new: store_alarm_events_free). */
enum db_status store_alarms_tick(PGconn *c, int64_t now_us, struct alarm_event **ev, int *n);

/* Of meter_ids, those an automatic cut for a malicious load applies to: active, not
 * protected, a tenant's, at a site whose alarm_settings.auto_cut_malicious is true. */
struct autocut_target {
	int64_t meter_id, tenant_id, site_id;
	char serial[72], name[201], category[64], phone[24]; /* the tenant's name, category and phone ("" when none) */
	bool wechat; /* the tenant has a WeChat openid */
};
enum db_status store_alarms_autocut_targets(PGconn *c, const int64_t *meter_ids, int n, struct autocut_target **out,
					    int *nout);
/* The open malicious-load alarms of meters[i] name the command that cut it, cmds[i]. */
enum db_status store_alarms_cut_link(PGconn *c, const int64_t *meters, const int64_t *cmds, int n);

/* Acknowledge an alarm with a note: open -> acked, cleared -> closed. *ev gets the alarm
 * (event alarm_acked or alarm_closed), none when it was neither open nor cleared. key 0: none. */
enum db_status store_alarm_ack(PGconn *c, int64_t id, const char *note, int64_t now_us, int64_t key_id,
			       struct alarm_event **ev, int *n);
/* Shelve an alarm that is not closed for minutes with a reason: no duty SMS for its meter
 * and kind while shelved (webhook events still go, marked shelved). minutes 0 unshelves
 * every alarm of its meter and kind, closed ones too. *found false when there is no such
 * alarm, or it is closed and minutes > 0. */
enum db_status store_alarm_shelve(PGconn *c, int64_t id, int64_t minutes, const char *reason, int64_t now_us,
				  int64_t key_id, bool *found);

void store_alarms_register(void);

#endif
