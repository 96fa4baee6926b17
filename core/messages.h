/* messages.h: every text wattle sends a person, in one place (the tenant's SMS and app
 * event bodies, the duty phone's alarm lines). Pure: each writes into buf[n] and returns
 * buf. Money is minor units with the currency's digits; times are already formatted. */
#ifndef WATTLE_MESSAGES_H
#define WATTLE_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Money as the messages show it: "-12.34 CNY". */
struct msg_money {
	int64_t minor;
	int digits;
	const char *currency;
};

/* The English body of a statement_ready row until it is rendered (period "YYYY-MM"); the
 * tenants' other texts are data (core/msgtext.h). */
char *msg_statement_ready(char *buf, size_t n, const char *tenant, const char *period, struct msg_money closing);
/* The duty phone's and the control room's line for an alarm's change (event "alarm_opened",
 * "alarm_acked", "alarm_cleared", "alarm_closed"): peak is the measured extreme as a decimal
 * text, "" when none. */
char *msg_alarm(char *buf, size_t n, const char *severity, const char *kind, const char *event, const char *serial,
		const char *site, const char *peak);

/* The app/webhook event of an account's change (a JSON object, new: caller frees): event,
 * tenant_id, tenant_name, balance_minor, currency, at, and one extra field when extra_key
 * is given (extra_str when not NULL, else extra_num). */
char *msg_account_event(const char *event, int64_t tenant_id, const char *tenant_name, int64_t balance_minor,
			const char *currency, int64_t at_us, const char *extra_key, const char *extra_str,
			int64_t extra_num);

/* The webhook event of an alarm's change (a JSON object, new: caller frees). Strings
 * borrowed; peak is a decimal number's text ("" when none), detail a JSON text (NULL: null);
 * times 0 are null. */
struct msg_alarm_event {
	const char *event, *kind, *severity, *state, *serial, *peak, *detail_json;
	int64_t alarm_id, meter_id, site_id, tenant_id; /* tenant 0: a public meter (null) */
	int64_t opened_us, last_seen_us, cleared_us, closed_us;
	bool shelved;
};
char *msg_alarm_event_payload(const struct msg_alarm_event *e);

/* The event of a meter cut for a confirmed malicious load (new: caller frees). */
char *msg_malicious_cut_payload(int64_t tenant_id, int64_t meter_id, const char *serial, int64_t command_id);

/* The event of a tenant's month statement (new: caller frees). */
char *msg_statement_ready_payload(int64_t tenant_id, const char *period, int64_t closing_minor);

#endif
