/* config.c: reads WATTLE_* environment variables, refusing malformed values. */
#include "server/config.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_uint(const char *name, const char *s, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || v > max || s[0] == '-') {
		fprintf(stderr, "wattle: %s=%s is not a number up to %llu\n", name, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

int srv_config_load(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->database_url = getenv("WATTLE_DATABASE_URL");
	if (!c->database_url)
		c->database_url = "";
	snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
	c->listen_port = 8080;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	c->threads = n > 0 ? (unsigned)n : 2;
	c->body_max = 1 << 20;
	c->ingest_workers = 2;

	const char *l = getenv("WATTLE_LISTEN");
	if (l && *l) {
		const char *colon = strrchr(l, ':');
		unsigned long long port;
		if (!colon || (size_t)(colon - l) >= sizeof c->listen_host ||
		    parse_uint("WATTLE_LISTEN port", colon + 1, 65535, &port))
			return -1;
		if (colon > l)
			snprintf(c->listen_host, sizeof c->listen_host, "%.*s", (int)(colon - l), l);
		c->listen_port = (uint16_t)port;
	}
	unsigned long long v;
	const char *t = getenv("WATTLE_THREADS");
	if (t && *t) {
		if (parse_uint("WATTLE_THREADS", t, 256, &v) || v == 0)
			return -1;
		c->threads = (unsigned)v;
	}
	const char *b = getenv("WATTLE_BODY_MAX");
	if (b && *b) {
		if (parse_uint("WATTLE_BODY_MAX", b, 1ull << 30, &v) || v < 1024)
			return -1;
		c->body_max = (size_t)v;
	}
	const char *iw = getenv("WATTLE_INGEST_WORKERS");
	if (iw && *iw) {
		if (parse_uint("WATTLE_INGEST_WORKERS", iw, 16, &v) || v == 0)
			return -1;
		c->ingest_workers = (unsigned)v;
	}
	const char *lv = getenv("WATTLE_LOG_LEVEL");
	if (lv && *lv) {
		static const char *const names[] = {"debug", "info", "warn", "error"};
		int found = 0;
		for (int i = 0; i < 4; i++)
			if (!strcmp(lv, names[i])) {
				srv_log_set_level((enum log_level)i);
				found = 1;
			}
		if (!found) {
			fprintf(stderr, "wattle: WATTLE_LOG_LEVEL must be debug, info, warn or error\n");
			return -1;
		}
	}
	return 0;
}
