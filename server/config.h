/* config.h: process configuration from the environment (WATTLE_*). */
#ifndef WATTLE_CONFIG_H
#define WATTLE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config {
	const char *database_url; /* WATTLE_DATABASE_URL, libpq URL or key=value */
	char listen_host[64];     /* WATTLE_LISTEN host part, default 127.0.0.1 */
	uint16_t listen_port;     /* WATTLE_LISTEN port part, default 8080 */
	unsigned threads;         /* WATTLE_THREADS, default: number of cores */
	size_t body_max;          /* WATTLE_BODY_MAX bytes, default 1 MiB */
	unsigned ingest_workers;  /* WATTLE_INGEST_WORKERS, group-commit workers, default 2 */
};

/* Fill from the environment. Returns 0, or -1 with a message on stderr. */
int srv_config_load(struct config *c);

#endif
