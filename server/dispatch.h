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

/* Start and stop the command and notification senders. */
void srv_dispatch_start(const struct srv_dispatch_cfg *cfg);
void srv_dispatch_stop(void);

/* The backoff before attempt n+1 (n >= 1), in microseconds: 2^n s capped at 5 min, with
 * jitter of +-25%. */
int64_t srv_backoff_us(int attempts, unsigned *seed);

void srv_dispatch_register(void);

#endif
