/* channels.h: the carriers of messages to people, as the notification sender uses them
 * (server/dispatch.c): SMS through Twilio's Messages API, Aliyun's SendSms or Tencent Cloud's
 * SendSms, and WeChat official account template messages. One file per carrier
 * (sms_twilio.c, sms_aliyun.c, sms_tencent.c, wechat_oa.c); each signs its request as its
 * provider documents and reads the provider's answer, not just its status. The message is
 * already rendered for the carrier (the template chosen, its parameters filled, the text in
 * the tenant's language): a carrier only carries. */
#ifndef WATTLE_CHANNELS_H
#define WATTLE_CHANNELS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One message for one carrier. Strings borrowed for the call. */
struct chan_msg {
	int64_t notification_id;
	const char *to;       /* SMS: the E.164 phone; WeChat: the openid */
	const char *language; /* "zh-CN" or "en" */
	const char *text;     /* the whole text: Twilio sends it; a template carrier may ignore it */
	/* An approved template: Aliyun TemplateCode, Tencent TemplateId, WeChat template_id;
	 * NULL or "" when the site has none for this event and language. */
	const char *template_id;
	/* Its parameters in order: Aliyun TemplateParam {key: value}, Tencent TemplateParamSet
	 * (keys "1", "2", ... in order, values only), WeChat data {key: {"value": value}}. */
	const char *const *param_keys, *const *param_vals;
	size_t nparams;
	const char *url; /* WeChat: the tenant's page the message opens; NULL: none */
};

enum chan_result {
	CH_SENT,     /* the provider took it; provider_msg_id set when it gives one */
	CH_RETRY,    /* not now (a timeout, a 5xx, throttling): try again later */
	CH_REFUSED,  /* never (a bad template, a blacklisted number, a bad signature): dead at once */
	CH_FALLBACK, /* not on this channel (WeChat 43004: the tenant does not follow): the next one */
};

struct chan_outcome {
	enum chan_result result;
	long http_status;       /* 0: no answer */
	char code[64];          /* the provider's code (Aliyun Code, Tencent Code, WeChat errcode, Twilio code) */
	char message[256];      /* its message, for the log and last_error; never a secret */
	char provider_msg_id[128]; /* Aliyun BizId, Tencent SerialNo, Twilio sid, WeChat msgid */
	/* With CH_RETRY: the provider limits the whole account's rate (Aliyun Throttling.*,
	 * Tencent RequestLimitExceeded, Twilio 429), not this number's or this message's: the
	 * sender pauses the carrier instead of backing this message off. */
	bool throttled;
};

/* A carrier: its name as notifications.provider stores it, and its send. h is the sender
 * thread's libcurl handle (reset by the carrier before use). Returns o->result. */
struct chan_carrier {
	const char *name; /* "twilio", "aliyun", "tencent", "wechat" */
	enum chan_result (*send)(CURL *h, const struct chan_msg *m, struct chan_outcome *o);
	bool (*configured)(void); /* all its settings are given */
};
extern const struct chan_carrier chan_twilio, chan_aliyun, chan_tencent, chan_wechat;

/* The SMS carrier WATTLE_SMS_PROVIDER chose (twilio by default). */
const struct chan_carrier *chan_sms(void);

#endif
