/* dispatch.h: outbox senders. Rows are claimed with a lease (FOR UPDATE SKIP LOCKED, then
 * next_attempt_at moved past the lease), sent over HTTP with libcurl outside any
 * transaction, and marked sent or rescheduled with exponential backoff and jitter. A process
 * killed mid-send loses nothing: the lease runs out and another process sends it. */
#ifndef WATTLE_DISPATCH_H
#define WATTLE_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the senders send, as server/config.c read it (strings borrowed for the server's
 * life; NULL: not set). */
struct srv_dispatch_cfg {
	const char *gateway_secret;                         /* WATTLE_GATEWAY_SECRET */
	const char *sms_url, *sms_user, *sms_token, *sms_from; /* WATTLE_SMS_* */
	const char *notify_url, *notify_secret;             /* WATTLE_NOTIFY_WEBHOOK_* */
	int64_t lease_ms;                                   /* WATTLE_DISPATCH_LEASE_MS, >= 1000 */
};

/* Set the peers and the lease before the senders run (cfg copied; its strings borrowed). */
void srv_dispatch_configure(const struct srv_dispatch_cfg *cfg);

/* The senders, as rows of the worker table (server/workers.c): per-thread state (a libcurl
 * handle), and one round each: claim due rows, send them, record every attempt. A tick
 * returns 1 when it claimed a full batch (more may be due: tick again at once). */
void *srv_dispatch_open(void);
void srv_dispatch_close(void *state);
int srv_dispatch_commands_tick(void *state);
int srv_dispatch_notes_tick(void *state);

/* The backoff before attempt n+1 (n >= 1), in microseconds: 2^n s capped at 5 min, with
 * jitter of +-25%. */
int64_t srv_backoff_us(int attempts, unsigned *seed);

#endif
