/* bare_server.c: the machine's HTTP ceiling: libmicrohttpd replying a fixed JSON body,
 * queued after the final upload callback, same daemon flags as wattle. */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char body[] = "{\"tenant_id\":\"ten_1\",\"balance_minor\":12345,\"currency\":\"CNY\"}";

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *up,
			      size_t *up_size, void **req_cls)
{
	(void)cls; (void)url; (void)method; (void)version; (void)up;
	static int marker;
	if (!*req_cls) {
		*req_cls = &marker;
		return MHD_YES;
	}
	if (*up_size) {
		*up_size = 0;
		return MHD_YES;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
								 MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned port = argc > 1 ? (unsigned)atoi(argv[1]) : 8090;
	unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO,
						(uint16_t)port, NULL, NULL, on_req, NULL,
						MHD_OPTION_THREAD_POOL_SIZE, threads,
						MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
	if (!d)
		return 1;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sig;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
