/* workers.h: background loops of a serving process (grace expiry now; dispatchers later). */
#ifndef WATTLE_WORKERS_H
#define WATTLE_WORKERS_H

/* Start the loops; each has its own database connection. */
void srv_workers_start(void);

/* Ask them to stop and wait for them. */
void srv_workers_stop(void);

#endif
