/* queue.h: deferred requests handed to worker threads that serve them in batches. */
#ifndef WATTLE_QUEUE_H
#define WATTLE_QUEUE_H

#include <pthread.h>
#include <stdbool.h>

struct srv_job {
	struct srv_job *next;
	int weight; /* how much of a batch it takes (readings: its number of readings) */
};

/* A batch is a list of jobs (next-linked, in arrival order) whose weights add up to at most
 * max_weight, or one heavier job alone. run() answers every job in it. */
typedef void (*srv_batch_fn)(struct srv_job *jobs);

#define SRV_QUEUE_MAX_WORKERS 16

struct srv_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct srv_job *head, *tail;
	bool running, stopping;
	int max_weight;
	srv_batch_fn run;
	pthread_t th[SRV_QUEUE_MAX_WORKERS];
	unsigned nth;
	int jobs, weight; /* queued, not yet taken by a worker (under mu) */
};

#define SRV_QUEUE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, false, false, 0, NULL, {0}, 0, 0, 0}

/* Start workers (1..16) that call run on batches. */
void srv_queue_start(struct srv_queue *q, unsigned workers, int max_weight, srv_batch_fn run);

/* Queue a job. When the queue takes it, accepted(arg) runs first, under the queue's lock,
 * before any worker can see the job (a handler suspends its request there). Returns
 * false, without calling accepted, when the queue is not running or is stopping. */
bool srv_queue_push(struct srv_queue *q, struct srv_job *job, void (*accepted)(void *), void *arg);

/* What is queued and not yet taken by a worker: jobs and their weights' sum (for /metrics). */
void srv_queue_depth(struct srv_queue *q, int *jobs, int *weight);

/* Stop: workers finish everything queued, then exit; pushes after this return false. */
void srv_queue_stop(struct srv_queue *q);

#endif
