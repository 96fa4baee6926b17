/* sms_poll.c: delivery reports asked for, where the providers' callbacks are not configured
 * (WATTLE_SMS_DELIVERY=poll): every WATTLE_SMS_POLL_MS, Aliyun's QuerySendDetails for each
 * message sent through it more than a minute ago (and less than three days: Aliyun keeps
 * details 30 days, but a report that has not come in three never will) still without a
 * delivery, a page at a time in id order with a cursor, so messages whose report never comes
 * do not starve the rest; and Tencent's PullSmsSendStatus, which hands out each report once.
 * What they say is recorded as a callback's report would be (store_note_delivery). */
#include "server/sms_poll.h"
#include "api/api.h"
#include "core/clock.h"
#include "core/log.h"
#include "server/channels.h"
#include "server/sms.h"
#include "store/notes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool poll_on;
static int64_t poll_ms = 30000;

void srv_sms_poll_configure(bool on, int64_t period_ms)
{
	poll_on = on;
	poll_ms = period_ms > 0 ? period_ms : 30000;
}

bool srv_sms_poll_enabled(void) { return poll_on; }

struct poll_state {
	CURL *h;
	int64_t after;   /* the Aliyun cursor: the last notification id asked */
	int64_t last_us; /* monotonic time of the last round */
};

void *srv_sms_poll_open(void)
{
	struct poll_state *s = calloc(1, sizeof *s);
	if (!s || !(s->h = curl_easy_init()))
		abort();
	s->last_us = -poll_ms * 1000; /* the first tick polls */
	return s;
}

void srv_sms_poll_close(void *state)
{
	struct poll_state *s = state;
	if (!s)
		return;
	curl_easy_cleanup(s->h);
	free(s);
}

#define PAGE 20
#define MIN_AGE_US (60 * INT64_C(1000000))
#define MAX_AGE_US (3 * 86400 * INT64_C(1000000))

static void record(PGconn *c, const char *provider, const struct sms_report *r)
{
	enum note_delivery what;
	char channel[16] = "";
	int64_t at = r->at_s ? r->at_s * 1000000 : 0;
	if (store_note_delivery(c, provider, r->msg_id, r->delivered, r->code, at, srv_clock_now_us(), &what, channel) !=
	    DB_OK) {
		db_conn_reset();
		return;
	}
	api_sms_report_count(provider, channel, what, r->delivered);
	if (what == ND_RECORDED)
		srv_log(LOG_INFO, "sms poll: %s %s %s (%s)", provider, r->msg_id, r->delivered ? "delivered" : "undelivered",
			r->code);
}

static void poll_aliyun(struct poll_state *s, PGconn *c, int64_t now)
{
	struct note_waiting *w = NULL;
	int n = 0;
	if (store_notes_waiting(c, "aliyun", s->after, now - MAX_AGE_US, now - MIN_AGE_US, PAGE, &w, &n) != DB_OK) {
		db_conn_reset();
		return;
	}
	for (int i = 0; i < n; i++) {
		char day[9];
		time_t t = (time_t)(w[i].sent_us / 1000000 + 8 * 3600); /* SendDate is China's day */
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(day, sizeof day, "%Y%m%d", &tm);
		struct sms_report r;
		if (sms_aliyun_query(s->h, w[i].recipient, w[i].msg_id, day, &r) == 1)
			record(c, "aliyun", &r);
		s->after = w[i].id;
	}
	if (n < PAGE)
		s->after = 0; /* from the start again next round */
	free(w);
}

static void poll_tencent(struct poll_state *s, PGconn *c)
{
	struct sms_report r[100];
	int n = sms_tencent_pull(s->h, r, 100);
	for (int i = 0; i < n; i++)
		record(c, "tencent", &r[i]);
}

int srv_sms_poll_tick(void *state)
{
	struct poll_state *s = state;
	int64_t mono = srv_mono_us();
	if (mono - s->last_us < poll_ms * 1000)
		return 0;
	s->last_us = mono;
	PGconn *c = db_conn();
	if (!c)
		return 0;
	if (chan_aliyun.configured())
		poll_aliyun(s, c, srv_clock_now_us());
	if (chan_tencent.configured())
		poll_tencent(s, c);
	return 0;
}
