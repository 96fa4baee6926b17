/* dispatch.h: outbox senders. Rows are claimed with a lease (FOR UPDATE SKIP LOCKED, then
 * next_attempt_at moved past the lease), sent over HTTP with libcurl outside any
 * transaction, and marked sent or rescheduled with exponential backoff and jitter. A process
 * killed mid-send loses nothing: the lease runs out and another process sends it. */
#ifndef WATTLE_DISPATCH_H
#define WATTLE_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the senders send, as server/config.c read it (strings borrowed for the server's
 * life; NULL: not set). */
struct srv_dispatch_cfg {
	const char *gateway_secret;                         /* WATTLE_GATEWAY_SECRET */
	const char *sms_url, *sms_user, *sms_token, *sms_from; /* WATTLE_SMS_* */
	const char *notify_url, *notify_secret;             /* WATTLE_NOTIFY_WEBHOOK_* */
	int64_t lease_ms;                                   /* WATTLE_DISPATCH_LEASE_MS, >= 1000 */
	const char *sms_provider;       /* WATTLE_SMS_PROVIDER: twilio (NULL), aliyun, tencent */
	const char *sms_callback_token; /* WATTLE_SMS_CALLBACK_TOKEN: Twilio's StatusCallback carries it */
	const char *public_url;         /* WATTLE_PUBLIC_URL: the callback's and WeChat pages' base */
	int64_t per_hour;               /* WATTLE_TENANT_MESSAGES_PER_HOUR, default 6 */
};

/* Set the peers and the lease before the senders run (cfg copied; its strings borrowed);
 * hands the carriers theirs (server/channels_config.h). A tenant's message is rendered when
 * it is sent, for the tenant's language (else the site's) and channel, from the site's
 * templates over the shipped ones; it goes to the tenant's channels in order (WeChat when
 * the tenant has an openid, the carrier is configured and the site has a WeChat template;
 * SMS through chan_sms(), which needs an approved template unless it is Twilio); a channel
 * that cannot carry it, or refuses it, passes it to the next; a refusal with none left is
 * dead at once with the provider's code; a retry backs off. The limits (per_hour messages
 * per tenant, only the cut-off notice beyond; the same event and text once in 10 minutes)
 * are applied then, when the text is known: store_note_admit. */
void srv_dispatch_configure(const struct srv_dispatch_cfg *cfg);

/* The senders, as rows of the worker table (server/workers.c): per-thread state (a libcurl
 * handle), and one round each: claim due rows, send them, record every attempt. A tick
 * returns 1 when it claimed a full batch (more may be due: tick again at once). */
void *srv_dispatch_open(void);
void srv_dispatch_close(void *state);
int srv_dispatch_commands_tick(void *state);
int srv_dispatch_notes_tick(void *state);

/* The backoff before attempt n+1 (n >= 1), in microseconds: 2^n s capped at 5 min, with
 * jitter of +-25%. */
int64_t srv_backoff_us(int attempts, unsigned *seed);

#endif
