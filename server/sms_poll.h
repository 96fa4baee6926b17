/* sms_poll.h: the worker that asks Aliyun (QuerySendDetails) and Tencent Cloud
 * (PullSmsSendStatus) what became of sent messages, when WATTLE_SMS_DELIVERY=poll (their
 * callbacks not configured): a row of the worker table (server/workers.c). */
#ifndef WATTLE_SMS_POLL_H
#define WATTLE_SMS_POLL_H

#include <stdbool.h>
#include <stdint.h>

/* On or off (WATTLE_SMS_DELIVERY), and how often it asks (WATTLE_SMS_POLL_MS, real time). */
void srv_sms_poll_configure(bool on, int64_t period_ms);
bool srv_sms_poll_enabled(void);
/* The worker's state (a libcurl handle, the cursor) and one round: nothing until period_ms
 * has passed since the last. Always 0 (no hurry). */
void *srv_sms_poll_open(void);
void srv_sms_poll_close(void *state);
int srv_sms_poll_tick(void *state);

#endif
