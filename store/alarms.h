/* alarms.h: alarms as the control room reads and acknowledges them, and the alarm
 * settings of sites and meters. (Opening, refreshing and closing them from detections is
 * ops/alarm_db.c.) */
#ifndef WATTLE_STORE_ALARMS_H
#define WATTLE_STORE_ALARMS_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

struct alarm_view {
	int64_t id, meter_id, site_id, tenant_id; /* tenant 0: a public meter */
	char serial[72], kind[32], severity[16], state[12];
	int64_t opened_us, last_seen_us, detections, acked_us, closed_us, cut_command_id; /* 0: none */
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
/* Acknowledge an open alarm with a note (*acked false when it was not open). key 0: none. */
enum db_status store_alarm_ack(PGconn *c, int64_t id, const char *note, int64_t now_us, int64_t key_id, bool *acked);
/* One alarm; x->id == 0 when there is none. Free its strings with store_alarm_view_clear. */
enum db_status store_alarm_get(PGconn *c, int64_t id, struct alarm_view *x);
void store_alarm_view_clear(struct alarm_view *x);
/* Replace a site's (meter false) or meter's alarm settings; *out the stored text (new), NULL
 * when there is no such site or meter. */
enum db_status store_alarm_settings_set(PGconn *c, bool meter, int64_t id, const char *settings_json, int64_t now_us,
					char **out);

void store_alarms_register(void);

#endif
