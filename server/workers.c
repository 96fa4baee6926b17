/* workers.c: the grace-expiry loop, ticking every 100 ms of real time, and the alarm
 * loop (closing cleared alarms, comm_lost), every second. */
#include "server/workers.h"
#include "ops/account.h"
#include "ops/alarm_db.h"
#include "core/clock.h"
#include "store/db.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define TICK_MS 100

static pthread_t grace_thread, alarm_thread;
static atomic_bool stopping;
static bool started, alarm_started;

struct tick {
	int64_t now;
	int handled;
};

static enum db_status grace_tx(PGconn *c, void *arg)
{
	struct tick *t = arg;
	return bill_grace_tick(c, t->now, &t->handled);
}

static void *grace_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		struct tick t = {srv_clock_now_us(), 0};
		enum db_status st = db_run_tx(grace_tx, &t);
		if (st != DB_OK && st != DB_GONE)
			srv_log(LOG_ERROR, "grace: tick failed (%d); retrying", (int)st);
		else if (t.handled)
			srv_log(LOG_INFO, "grace: %d accounts due handled", t.handled);
		if (t.handled == 200) /* more may be due: go again at once */
			continue;
		struct timespec ts = {0, TICK_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	db_thread_close();
	return NULL;
}

struct alarm_tick {
	int64_t now;
	int opened, closed;
};

static enum db_status alarm_tx(PGconn *c, void *arg)
{
	struct alarm_tick *t = arg;
	return alarms_tick(c, t->now, &t->opened, &t->closed);
}

#define ALARM_TICK_MS 1000

static void *alarm_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		struct alarm_tick t = {srv_clock_now_us(), 0, 0};
		enum db_status st = db_run_tx(alarm_tx, &t);
		if (st != DB_OK && st != DB_GONE)
			srv_log(LOG_ERROR, "alarms: tick failed (%d); retrying", (int)st);
		else if (t.opened || t.closed)
			srv_log(LOG_INFO, "alarms: %d comm_lost opened, %d closed", t.opened, t.closed);
		for (int i = 0; i < ALARM_TICK_MS / TICK_MS && !atomic_load(&stopping); i++) {
			struct timespec ts = {0, TICK_MS * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	db_thread_close();
	return NULL;
}

void srv_workers_start(void)
{
	atomic_store(&stopping, false);
	started = pthread_create(&grace_thread, NULL, grace_loop, NULL) == 0;
	alarm_started = alarms_enabled() && pthread_create(&alarm_thread, NULL, alarm_loop, NULL) == 0;
}

void srv_workers_stop(void)
{
	atomic_store(&stopping, true);
	if (started)
		pthread_join(grace_thread, NULL);
	if (alarm_started)
		pthread_join(alarm_thread, NULL);
	started = alarm_started = false;
}
