/* channels_config.h: the settings of the carriers this branch owns, handed over at start by
 * srv_dispatch_configure (server/dispatch.c): Twilio's (WATTLE_SMS_URL/_USER/_TOKEN/_FROM and
 * the status callback) and which SMS provider carries SMS (WATTLE_SMS_PROVIDER). */
#ifndef WATTLE_CHANNELS_CONFIG_H
#define WATTLE_CHANNELS_CONFIG_H

/* Twilio's Messages API. Strings borrowed for the server's life; NULL: not set. */
struct chan_twilio_cfg {
	const char *url, *user, *token, *from;
	const char *status_callback; /* the StatusCallback URL sent with each message; NULL: none */
};
void chan_twilio_configure(const struct chan_twilio_cfg *c);

/* The SMS carrier by name ("twilio", "aliyun", "tencent"; NULL or "": twilio). 0, or -1
 * for another name. */
int chan_sms_choose(const char *provider);

#endif
