/* notes.h: what the carriers reported of the notifications wattle sent (delivery reports
 * from Aliyun's and Tencent's callbacks or polls, Twilio's status callback), and the sent
 * messages still waiting for one. A report moves only a row wattle sent, found by the
 * provider and the provider's id of the message. */
#ifndef WATTLE_STORE_NOTES_H
#define WATTLE_STORE_NOTES_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* What a report did. */
enum note_delivery {
	ND_RECORDED,  /* the row now shows delivered or undelivered */
	ND_DUPLICATE, /* the row had a report already: unchanged (the first report stands) */
	ND_UNKNOWN,   /* no sent notification of that provider has that id: nothing changed */
};

/* Record a report: the notification in state sent with (provider, msg_id) becomes delivery
 * 'delivered' (or 'undelivered') with code and delivered_at at_us (0: now_us), unless it has
 * one. *what says which; *channel[16] (may be NULL) the row's channel when it was found.
 * One statement (autocommit is fine). */
enum db_status store_note_delivery(PGconn *c, const char *provider, const char *msg_id, bool delivered,
				   const char *code, int64_t at_us, int64_t now_us, enum note_delivery *what,
				   char *channel);

/* A sent message waiting for its report. */
struct note_waiting {
	int64_t id, sent_us;
	char recipient[64], msg_id[128];
};
/* Up to limit notifications of provider after id `after`, in id order, sent between
 * since_us and before_us with a provider id and no delivery yet. *out new (caller frees). */
enum db_status store_notes_waiting(PGconn *c, const char *provider, int64_t after, int64_t since_us,
				   int64_t before_us, int limit, struct note_waiting **out, int *n);

void store_notes_register(void);

#endif
