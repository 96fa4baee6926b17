/* msgtext.h: messages to tenants and to the duty phone as data (issue 16): the events, their
 * variables, the shipped default texts in zh-CN and en, checking a site's templates, and
 * rendering a text or an approved template's parameters for a language. Pure.
 *
 * Formats: in free text an amount is formatted for the language ("¥1,234.50" in zh-CN for
 * CNY, "CNY 1,234.50" in en; the currency's digits); inside an approved template's
 * parameters it is a plain number ("1234.50": the template carries the unit). Times are in
 * the site's time, "YYYY-MM-DD HH:MM". */
#ifndef WATTLE_MSGTEXT_H
#define WATTLE_MSGTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The events a site has templates for, NULL-terminated: low_balance, grace_started,
 * cut_off, restored, topup_received, statement_ready, alarm, login_code (a tenant's sign-in
 * code: by SMS alone, never held back by the limits). */
extern const char *const msg_events[];
/* The languages: "zh-CN", "en", NULL. */
extern const char *const msg_languages[];
/* The variables a text may name as {name}, NULL-terminated: tenant_name, shop, balance,
 * threshold, cut_at, amount, receipt_no, period, alarm_kind, meter, code (login_code's). */
extern const char *const msg_variables[];

/* Whether name is one of list (NULL-terminated). */
bool msg_is_one_of(const char *name, const char *const *list);

/* The values of one message. Strings "" when not given; amounts in minor units. */
struct msg_vars {
	char tenant_name[201], shop[280], receipt_no[64], period[8], alarm_kind[64], meter[72];
	char code[8]; /* login_code: the six digits */
	char currency[4];
	int digits;
	bool has_balance, has_threshold, has_amount;
	int64_t balance, threshold, amount;
	int64_t cut_at_us; /* 0: none */
	char zone[64];     /* the site's IANA zone, for cut_at */
	int64_t entry_id;  /* topup_received: the ledger entry, whose receipt the sender looks up */
};

/* The shipped free text of event in language (both exist for every event); NULL for an
 * unknown event or language. */
const char *msg_default_text(const char *event, const char *language);

/* Check a text's {variables}: 0 when every one is known; -1 with bad naming the first
 * unknown one (or "{" for an unclosed brace). */
int msg_text_check(const char *text, char *bad, size_t n);

/* An amount: plain "1234.50"; else zh-CN with CNY "¥1,234.50", otherwise "CNY 1,234.50"
 * (a minus before the unit). Writes buf[n]; returns buf. */
char *msg_amount(int64_t minor, int digits, const char *currency, const char *language, bool plain, char *buf,
		 size_t n);

/* One variable's value for language (plain: inside an approved template); NULL when name
 * is no variable. Writes buf[n]. */
char *msg_var(const struct msg_vars *v, const char *name, const char *language, bool plain, char *buf, size_t n);

/* text with each {variable} replaced (plain as msg_var); unknown ones are kept as written.
 * Writes buf[n] (truncated, never mid-character); returns buf. */
char *msg_render(const char *text, const struct msg_vars *v, const char *language, bool plain, char *buf, size_t n);

/* The payload of a tenant's or the duty phone's message row (a JSON object, new: caller
 * frees): {"event", "audience" ("tenant" or "duty"), "site_id", "vars": {...}} plus extra
 * (a JSON object's text whose members are added, NULL: none; the webhook's fields, kept for
 * whoever reads the row). */
char *msg_payload(const char *event, const char *audience, int64_t site_id, const struct msg_vars *v,
		  const char *extra_json);
/* Read a payload msg_payload wrote: 0, or -1 when it is not one (an older row, a webhook
 * event). event[32], audience[8]. */
int msg_payload_read(const char *json, char *event, char *audience, int64_t *site_id, struct msg_vars *v);

#endif
