/* alarm.h: the alarm operations: opening or refreshing alarms from detections, the
 * automatic cut for a confirmed malicious load, and the worker's tick (closing alarms
 * clear for long enough, comm_lost). Every opened and closed alarm is pushed through the
 * notification outbox in the same transaction. */
#ifndef WATTLE_OPS_ALARM_H
#define WATTLE_OPS_ALARM_H

#include "core/alarm.h"
#include "store/db.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Whether detection runs at all (WATTLE_ALARMS=off turns it off, for measuring its cost). */
bool alarms_enabled(void);
/* Set once at start (WATTLE_ALARMS, read by server/config.c); default on. */
void alarms_set_enabled(bool on);

/* Inside the caller's transaction: open new alarms or refresh open ones (one per meter and
 * kind), pushing the opened ones. *opened gets how many were opened. */
enum db_status alarms_upsert(PGconn *c, const struct alarm_row *rows, int n, int64_t now_us,
				  int *opened);

/* Inside the caller's transaction: cut the meters whose malicious load was confirmed,
 * where their site asks for it (alarm_settings.auto_cut_malicious) and the meter is not
 * protected; the tenant is told why. *cuts gets how many commands were queued. */
enum db_status alarms_autocut(PGconn *c, const int64_t *meter_ids, int n, int64_t now_us,
				   int *cuts);

/* Acknowledge alarm id with a note (open -> acked, cleared -> closed) and push the change;
 * *acked false when it was neither open nor cleared. key_id 0: none. */
enum db_status op_alarm_ack(PGconn *c, int64_t id, const char *note, int64_t now_us, int64_t key_id, bool *acked);

/* Duty-phone SMS of opened alarms since start: sent, held back by the flood guard, not sent
 * because the alarm was shelved. */
_Atomic uint64_t *alarm_duty_sms_counters(void);

/* One worker tick at now_us (store_alarms_tick): *opened alarms opened, *closed cleared or
 * closed, each pushed. */
enum db_status alarms_tick(PGconn *c, int64_t now_us, int *opened, int *closed);

#endif
