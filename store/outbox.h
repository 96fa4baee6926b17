/* outbox.h: the one writer of each outbox. Every meter command any caller queues (the
 * prepaid state machine, the grace worker, an operator, the alarm auto-cut, a meter joining
 * a cut-off tenant, a relay that disobeyed) goes through store_commands_queue, and every
 * message to a person through store_notes_queue, in the caller's transaction; dispatchers
 * (server/dispatch.c) send them afterwards. */
#ifndef WATTLE_STORE_OUTBOX_H
#define WATTLE_STORE_OUTBOX_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* A command to queue: for one meter, or (meter_id 0) for every meter of tenant_id. */
struct cmd_order {
	int64_t meter_id;
	int64_t tenant_id;
	const char *action; /* "cut_off" or "restore"; borrowed */
	const char *reason; /* borrowed */
	const char *origin; /* "auto" or "operator"; borrowed */
	int64_t key_id;     /* the operator's key, 0 for none */
	bool spare_protected; /* a cut skips protected meters: every automatic decision */
};

/* A queued command. */
struct cmd_queued {
	int64_t id, meter_id;
};

/* Queue orders[0..n) in one statement, by the same rules for every caller:
 *  - only active meters get commands;
 *  - a cut with spare_protected skips protected meters;
 *  - a pending command of the opposite action on the same meter is superseded (a restore
 *    supersedes a pending cut, a cut a pending restore), so the gateway never runs both;
 *  - the account of the meter's tenant shows supply pending_off / pending_on.
 * *out (may be NULL) gets the new commands in order (new: caller frees), *nout how many. */
enum db_status store_commands_queue(PGconn *c, const struct cmd_order *orders, int n, int64_t now_us,
				    struct cmd_queued **out, int *nout);

/* A meter that joins (or is moved to) a tenant whose account is cut off is cut too, unless
 * protected or its last command already cuts it. */
enum db_status store_commands_follow_account(PGconn *c, int64_t meter_id, int64_t now_us);

/* A message to queue: channel "sms" (to recipient) or "webhook" (the signed event feed). */
struct note_order {
	int64_t tenant_id;     /* 0: not a tenant's (the duty phone, the control room) */
	const char *kind;      /* borrowed, as every field */
	const char *channel;
	const char *recipient; /* NULL or "" for webhook */
	const char *body;
	const char *payload_json; /* a JSON object */
};

/* Queue notes[0..n) in one statement. */
enum db_status store_notes_queue(PGconn *c, const struct note_order *notes, int n, int64_t now_us);

void store_outbox_register(void);

#endif
