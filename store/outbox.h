/* outbox.h: the one writer of each outbox. Every meter command any caller queues (the
 * prepaid state machine, the grace worker, an operator, the alarm auto-cut, a meter joining
 * a cut-off tenant, a relay that disobeyed) goes through store_commands_queue, and every
 * message to a person through store_notes_queue, in the caller's transaction; dispatchers
 * (server/dispatch.c) send them afterwards. */
#ifndef WATTLE_STORE_OUTBOX_H
#define WATTLE_STORE_OUTBOX_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* A command to queue: for one meter, or (meter_id 0) for every meter of tenant_id. */
struct cmd_order {
	int64_t meter_id;
	int64_t tenant_id;
	const char *action; /* "cut_off" or "restore"; borrowed */
	const char *reason; /* borrowed */
	const char *origin; /* "auto" or "operator"; borrowed */
	int64_t key_id;     /* the operator's key, 0 for none */
	bool spare_protected; /* a cut skips protected meters: every automatic decision */
};

/* A queued command. */
struct cmd_queued {
	int64_t id, meter_id;
};

/* Queue orders[0..n) in one statement, by the same rules for every caller:
 *  - only active meters get commands;
 *  - a cut with spare_protected skips protected meters;
 *  - a pending command of the opposite action on the same meter is superseded (a restore
 *    supersedes a pending cut, a cut a pending restore), so the gateway never runs both;
 *  - the account of the meter's tenant shows supply pending_off / pending_on.
 * *out (may be NULL) gets the new commands in order (new: caller frees), *nout how many. */
enum db_status store_commands_queue(PGconn *c, const struct cmd_order *orders, int n, int64_t now_us,
				    struct cmd_queued **out, int *nout);

/* A meter that joins (or is moved to) a tenant whose account is cut off is cut too, unless
 * protected or its last command already cuts it. */
enum db_status store_commands_follow_account(PGconn *c, int64_t meter_id, int64_t now_us);

/* A message to queue: channel "sms" (to recipient) or "webhook" (the signed event feed). */
struct note_order {
	int64_t tenant_id;     /* 0: not a tenant's (the duty phone, the control room) */
	const char *kind;      /* borrowed, as every field */
	const char *channel;
	const char *recipient; /* NULL or "" for webhook */
	const char *body;
	const char *payload_json; /* a JSON object */
};

/* Queue notes[0..n) in one statement. */
enum db_status store_notes_queue(PGconn *c, const struct note_order *notes, int n, int64_t now_us);

/* A login_code message no longer pending (sent, dead, suppressed): its code is blanked out of
 * its text and payload (the six digits become ******), so the outbox does not keep it. */
enum db_status store_note_redact(PGconn *c, int64_t id);

/* The outboxes as operators see them. */
struct command_row {
	int64_t id, meter_id, attempts, created_us, acked_us; /* acked_us 0: not acked */
	char serial[72], action[12], reason[501], state[12], origin[12];
	char result[12], relay[4]; /* "" when none */
	int64_t gateway_id, site_id; /* the meter's (gateway 0: none) */
};
/* A page of commands in state (NULL: all). *out new (caller frees). */
enum db_status store_commands_list(PGconn *c, int64_t after, int64_t limit, const char *state,
				   struct command_row **out, int *n);
/* x->id == 0 when there is none. */
enum db_status store_command_get(PGconn *c, int64_t id, struct command_row *x);
/* Record a gateway's answer; the first one counts (*acked false when it was answered before,
 * or when the command's meter is not of gateway_id, or not of site_id: 0 for any), and an
 * executed command's relay becomes its account's supply. */
enum db_status store_command_ack(PGconn *c, int64_t id, const char *result, const char *relay, const char *detail,
				 int64_t gateway_id, int64_t site_id, int64_t now_us, bool *acked);

/* Hand pull gateways their commands, in one statement (autocommit): for each gateway_ids[i],
 * up to limits[i] of its meters' due commands, each the oldest not yet settled of its meter
 * (the push rule: a meter's later command waits for its earlier one). Pending ones, and
 * those handed out before whose lease ran out unacknowledged, are marked sent, attempts
 * counted, leased for lease_us and remembered as pulled; any handed out max_attempts times
 * and still not acknowledged when the lease ends is failed instead. *out (new: caller frees)
 * gets the commands handed out, by gateway (gateway_id) and id. */
enum db_status store_commands_pull(PGconn *c, const int64_t *gateway_ids, const int64_t *limits, int n,
				   int64_t now_us, int64_t lease_us, int max_attempts, struct command_row **out,
				   int *nout);

struct note_row {
	int64_t id, tenant_id, attempts, created_us, sent_us; /* tenant_id, sent_us 0: none */
	char kind[40], channel[8], state[12];
	char language[8], provider[16], last_code[64]; /* "" when none */
	char *recipient, *body, *last_error; /* new or NULL */
	char delivery[12];    /* "delivered", "undelivered", "" (no report yet) */
	char *delivery_code;  /* the carrier's, new or NULL */
	int64_t delivered_us; /* 0: none */
};
/* A page of notifications in state (NULL: all). *out new: store_note_rows_free. */
enum db_status store_notes_list(PGconn *c, int64_t after, int64_t limit, const char *state, struct note_row **out,
				int *n);
void store_note_rows_free(struct note_row *v, int n);

void store_outbox_register(void);

/* The senders' side (server/dispatch.c): rows are claimed with a lease in autocommit (FOR
 * UPDATE SKIP LOCKED, then next_attempt_at moved past the lease, attempts counted), sent,
 * and marked sent or rescheduled; every attempt is recorded. A pull gateway's meters are
 * never claimed here: store_commands_pull hands theirs out. */
enum outbox { OUTBOX_COMMANDS, OUTBOX_NOTES };

/* Deliveries of a row before it is failed (or dead), pushed or pulled alike. */
#define OUTBOX_MAX_ATTEMPTS 8

/* A claimed row. Commands fill the first group, notifications the second; strings new. */
struct outbox_item {
	int64_t id;
	int attempts; /* including this one */
	char serial[72], action[12];
	char *reason, *gateway; /* gateway "" when the meter has none */
	int64_t created_us;
	char channel[16];      /* "sms", "wechat" or "webhook" */
	char *recipient, *body, *payload_json;
	int64_t tenant_id; /* notifications: 0 when none */
	char kind[40];     /* notifications: the event */
};
void store_outbox_items_free(struct outbox_item *v, int n);

/* Claim up to limit due rows: for commands, the oldest pending one of each meter whose
 * earlier ones are sent. They are not due again for lease_us. *out new. */
enum db_status store_outbox_claim(PGconn *c, enum outbox which, int64_t now_us, int64_t lease_us, int limit,
				  struct outbox_item **out, int *n);
/* A pending row was delivered. */
enum db_status store_outbox_sent(PGconn *c, enum outbox which, int64_t id, int64_t now_us);
/* A pending row failed: due again at next_us, or failed / dead after max_attempts. */
enum db_status store_outbox_retry(PGconn *c, enum outbox which, int64_t id, int64_t next_us, int max_attempts,
				  const char *error);
/* One delivery attempt: the HTTP status, or 0 and the error. */
enum db_status store_outbox_attempt(PGconn *c, enum outbox which, int64_t id, int64_t now_us, long http_status,
				    const char *error, int64_t ms);

/* What the notification sender needs to route a tenant's (or the duty phone's) message,
 * read when it sends: the tenant's language (else the site's), channels in order, phone and
 * openid; the receipt number of ledger entry entry_id (0: none). tenant_id 0: the duty
 * phone's (the site's language, SMS only). */
struct note_route {
	char language[8], channels[40], phone[24], openid[129], receipt_no[64];
	bool found; /* the site (and the tenant) exist */
};
enum db_status store_note_route(PGconn *c, int64_t tenant_id, int64_t site_id, int64_t entry_id,
				struct note_route *out);

/* Admit a tenant's message (rendered: body in language) against the limits, in one
 * transaction under the tenant's row lock: it is suppressed when the same kind with the
 * same body was admitted to the tenant within dup_window_us, or when per_hour of the
 * tenant's messages were admitted within the hour before now_us and kind is not
 * exempt_kind. A row admitted before (a retry) stays admitted. *admitted says which;
 * *why (may be NULL) the reason of a suppression ("" otherwise). */
enum db_status store_note_admit(int64_t id, int64_t tenant_id, const char *kind, const char *body,
				const char *language, int per_hour, const char *exempt_kind, int64_t dup_window_us,
				int64_t now_us, bool *admitted, char *why, size_t whyn);

/* How a message went out, or did not. Strings borrowed; NULL leaves the column. */
struct note_result {
	const char *channel, *provider, *provider_msg_id, *recipient, *body, *language;
	const char *code, *error; /* last_code, last_error */
};
/* Sent through r (channel, provider, ...). */
enum db_status store_note_sent_via(PGconn *c, int64_t id, int64_t now_us, const struct note_result *r);
/* Dead at once: the provider refused it and no channel is left, or none can carry it. */
enum db_status store_note_dead_now(PGconn *c, int64_t id, const struct note_result *r);
/* Not now: due again at next_us (dead after max_attempts), the code and error kept. */
enum db_status store_note_retry_via(PGconn *c, int64_t id, int64_t next_us, int max_attempts,
				    const struct note_result *r);

#endif
