/* dispatch.h: outbox senders. Rows are claimed with a lease (FOR UPDATE SKIP LOCKED, then
 * next_attempt_at moved past the lease), sent over HTTP with libcurl outside any
 * transaction, and marked sent or rescheduled with exponential backoff and jitter. A process
 * killed mid-send loses nothing: the lease runs out and another process sends it. */
#ifndef WATTLE_DISPATCH_H
#define WATTLE_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

/* Start and stop the command and notification senders. */
void srv_dispatch_start(void);
void srv_dispatch_stop(void);

/* The backoff before attempt n+1 (n >= 1), in microseconds: 2^n s capped at 5 min, with
 * jitter of +-25%. */
int64_t srv_backoff_us(int attempts, unsigned *seed);

void srv_dispatch_register(void);

#endif
