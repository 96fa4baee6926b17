/* events.h: GET /v1/events, the live events as server-sent events (api/events.c). */
#ifndef WATTLE_API_EVENTS_H
#define WATTLE_API_EVENTS_H

#include "api/req.h"
#include "core/buf.h"

#include <stdint.h>

/* The handler: a stream of the account, alarm, command and payment events this key may see,
 * from Last-Event-ID when the request has one. */
void api_events(struct req *rq);

/* Start the thread that feeds every stream (a heartbeat comment every heartbeat_s, at most
 * max_clients streams at once, beyond that 503); stopping it ends every stream, so that the
 * HTTP daemon stops with none suspended. */
void api_events_start(int64_t heartbeat_s, int max_clients);
void api_events_stop(void);

/* Append the streams' gauge to /metrics (the counters are registered families). */
void api_events_metrics(struct srv_buf *b);

#endif
