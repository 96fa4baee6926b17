/* stall_peer.c: an SMS provider (or any peer) that stalls, then recovers: every request that
 * arrives in the first --stall-s seconds is held until then, and answered 201 after; each
 * request's body is appended to --log as one line (newlines escaped), so the fault suite can
 * count deliveries. On the shared local peer (tools/peer). */
#include "peer/peer.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double stall_until;
static FILE *log_file;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stop;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void answer(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	double wait = stall_until - now_s();
	if (wait > 0)
		usleep((useconds_t)(wait * 1e6));
	pthread_mutex_lock(&mu);
	for (const char *p = rq->body; *p; p++)
		fputc(*p == '\n' ? ' ' : *p, log_file);
	fputc('\n', log_file);
	fflush(log_file);
	pthread_mutex_unlock(&mu);
	out->status = 201;
}

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	int port = 0;
	double stall = 0;
	const char *log = "/dev/null";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--stall-s"))
			stall = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--log"))
			log = argv[i + 1];
	}
	if (!port || !(log_file = fopen(log, "a"))) {
		fprintf(stderr, "usage: fault-stall-peer --port P [--stall-s S] [--log FILE]\n");
		return 2;
	}
	stall_until = now_s() + stall;
	struct peer *p = peer_start(port, answer, NULL);
	if (!p) {
		fprintf(stderr, "fault-stall-peer: cannot listen on %d\n", port);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		pause();
	peer_stop(p);
	fclose(log_file);
	return 0;
}
