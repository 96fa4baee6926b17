/* queue.c: a mutex-and-condition queue; each worker takes all it may at once. */
#include "api/queue.h"
#include "store/db.h"

#include <stdlib.h>

static void *worker(void *arg)
{
	struct srv_queue *q = arg;
	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->head) { /* stopping, and nothing left */
			pthread_mutex_unlock(&q->mu);
			break;
		}
		struct srv_job *first = q->head, *last = q->head;
		int total = last->weight;
		while (last->next && total + last->next->weight <= q->max_weight) {
			last = last->next;
			total += last->weight;
		}
		for (struct srv_job *j = first;; j = j->next) {
			q->jobs--;
			if (j == last)
				break;
		}
		q->weight -= total;
		q->head = last->next;
		if (!q->head)
			q->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&q->mu);
		q->run(first);
	}
	db_thread_close();
	return NULL;
}

void srv_queue_start(struct srv_queue *q, unsigned workers, int max_weight, srv_batch_fn run)
{
	q->stopping = false;
	q->max_weight = max_weight;
	q->run = run;
	q->nth = workers < 1 ? 1 : workers > SRV_QUEUE_MAX_WORKERS ? SRV_QUEUE_MAX_WORKERS : workers;
	for (unsigned i = 0; i < q->nth; i++)
		if (pthread_create(&q->th[i], NULL, worker, q))
			abort();
	q->running = true;
}

bool srv_queue_push(struct srv_queue *q, struct srv_job *job, void (*accepted)(void *), void *arg)
{
	job->next = NULL;
	pthread_mutex_lock(&q->mu);
	bool open = q->running && !q->stopping;
	if (open) {
		if (accepted)
			accepted(arg);
		if (q->tail)
			q->tail->next = job;
		else
			q->head = job;
		q->tail = job;
		q->jobs++;
		q->weight += job->weight;
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return open;
}

void srv_queue_depth(struct srv_queue *q, int *jobs, int *weight)
{
	pthread_mutex_lock(&q->mu);
	*jobs = q->jobs;
	*weight = q->weight;
	pthread_mutex_unlock(&q->mu);
}

void srv_queue_stop(struct srv_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->nth; i++)
		pthread_join(q->th[i], NULL);
	q->nth = 0;
	q->running = false;
}
