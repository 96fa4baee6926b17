/* workers.h: every background worker of a serving process is a row of one table
 * (workers.c): the batching queues of readings and account reads, the waiter of pull
 * gateways' held requests, the grace expiry, the alarm tick, the two outbox senders, the
 * month close and the raw tables' month partitions. */
#ifndef WATTLE_WORKERS_H
#define WATTLE_WORKERS_H

#include "server/config.h"

/* Start every row the configuration enables (each loop has its own thread and database
 * connection). cfg is borrowed until srv_workers_stop. */
void srv_workers_start(const struct config *cfg);

/* Stop them in table order (the queues first: what is queued is billed and answered, and
 * every held pull answered) and wait for them. */
void srv_workers_stop(void);

#endif
