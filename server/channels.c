/* channels.c: which carrier takes SMS (WATTLE_SMS_PROVIDER: twilio, the default, aliyun or
 * tencent). */
#include "server/channels.h"
#include "server/channels_config.h"

#include <string.h>

static const struct chan_carrier *sms_carrier = &chan_twilio;

int chan_sms_choose(const char *provider)
{
	if (!provider || !*provider || !strcmp(provider, "twilio"))
		sms_carrier = &chan_twilio;
	else if (!strcmp(provider, "aliyun"))
		sms_carrier = &chan_aliyun;
	else if (!strcmp(provider, "tencent"))
		sms_carrier = &chan_tencent;
	else
		return -1;
	return 0;
}

const struct chan_carrier *chan_sms(void) { return sms_carrier; }
