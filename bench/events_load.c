/* events_load.c: many browsers on GET /v1/events, simulated: CLIENTS raw connections read by
 * one poll loop for SECONDS, each decoding its chunked stream and counting its events.
 * usage: events_load PORT KEY CLIENTS SECONDS [TENANT_KEYS_FILE]
 * With TENANT_KEYS_FILE (one key a line), client i uses line i % n instead of KEY.
 * Prints one line: clients, connected, events, events/s (all clients, between the first and
 * the last event), per client, closed by the server, heartbeats. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	int head_done;
	long chunk_left; /* -1: a size line is next */
	char raw[65536];
	size_t raw_len;
	char line[4096];
	size_t line_len;
	long long events, hb;
	int closed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Body bytes: count lines "event: ..." and ": hb". */
static void body(struct conn *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (c->line_len < sizeof c->line - 1)
				c->line[c->line_len++] = p[i];
			continue;
		}
		c->line[c->line_len] = 0;
		if (!strncmp(c->line, "event: ", 7))
			c->events++;
		else if (!strcmp(c->line, ": hb"))
			c->hb++;
		c->line_len = 0;
	}
}

static void dechunk(struct conn *c)
{
	size_t off = 0;
	if (!c->head_done) {
		char *e = memmem(c->raw, c->raw_len, "\r\n\r\n", 4);
		if (!e)
			return;
		if (strncmp(c->raw + 9, "200", 3)) {
			fprintf(stderr, "events_load: %.40s\n", c->raw);
			c->closed = 1;
			return;
		}
		off = (size_t)(e - c->raw) + 4;
		c->head_done = 1;
	}
	for (;;) {
		if (c->chunk_left < 0) {
			char *nl = memmem(c->raw + off, c->raw_len - off, "\r\n", 2);
			if (!nl)
				break;
			c->chunk_left = strtol(c->raw + off, NULL, 16);
			off = (size_t)(nl - c->raw) + 2;
			continue;
		}
		size_t have = c->raw_len - off;
		if (c->chunk_left > 0) {
			size_t take = have < (size_t)c->chunk_left ? have : (size_t)c->chunk_left;
			body(c, c->raw + off, take);
			off += take;
			c->chunk_left -= (long)take;
			if (c->chunk_left > 0)
				break;
		}
		if (c->raw_len - off < 2)
			break;
		off += 2;
		c->chunk_left = -1;
	}
	memmove(c->raw, c->raw + off, c->raw_len - off);
	c->raw_len -= off;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: events_load PORT KEY CLIENTS SECONDS [TENANT_KEYS_FILE]\n");
		return 2;
	}
	int port = atoi(argv[1]), n = atoi(argv[3]);
	double seconds = atof(argv[4]);
	char **keys = NULL;
	int nkeys = 0;
	if (argc > 5) {
		FILE *f = fopen(argv[5], "r");
		char buf[256];
		while (f && fgets(buf, sizeof buf, f)) {
			buf[strcspn(buf, "\n")] = 0;
			keys = realloc(keys, sizeof *keys * (size_t)(nkeys + 1));
			keys[nkeys++] = strdup(buf);
		}
		if (f)
			fclose(f);
	}
	struct conn *cs = calloc((size_t)n, sizeof *cs);
	struct pollfd *pf = calloc((size_t)n, sizeof *pf);
	int connected = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = &cs[i];
		c->chunk_left = -1;
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {0};
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa)) {
			perror("events_load: connect");
			c->closed = 1;
			continue;
		}
		char req[512];
		int len = snprintf(req, sizeof req,
				   "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
				   "Accept: text/event-stream\r\n\r\n",
				   nkeys ? keys[i % nkeys] : argv[2]);
		if (write(c->fd, req, (size_t)len) != len)
			c->closed = 1;
		connected++;
	}
	double t0 = now_s(), first = 0, last = 0;
	long long total = 0;
	while (now_s() - t0 < seconds) {
		for (int i = 0; i < n; i++)
			pf[i] = (struct pollfd){cs[i].closed ? -1 : cs[i].fd, POLLIN, 0};
		if (poll(pf, (nfds_t)n, 100) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct conn *c = &cs[i];
			ssize_t r = read(c->fd, c->raw + c->raw_len, sizeof c->raw - c->raw_len);
			if (r <= 0) {
				c->closed = 1;
				continue;
			}
			c->raw_len += (size_t)r;
			long long before = c->events;
			dechunk(c);
			if (c->events > before) {
				total += c->events - before;
				last = now_s();
				if (!first)
					first = last;
			}
		}
	}
	long long hb = 0;
	int closed = 0;
	for (int i = 0; i < n; i++) {
		hb += cs[i].hb;
		closed += cs[i].closed;
	}
	double span = last > first ? last - first : 1;
	printf("clients %d connected %d events %lld events_per_s %.0f per_client_per_s %.1f closed %d heartbeats %lld\n", n,
	       connected, total, (double)total / span, (double)total / span / n, closed, hb);
	return 0;
}
