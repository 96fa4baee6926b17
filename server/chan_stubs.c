/* chan_stubs.c: TEMPORARY (branch h-msgroute only): the carriers the other helpers of issue 16
 * write (sms_aliyun.c, sms_tencent.c, wechat_oa.c), never configured, so that this branch
 * links before theirs land. Deleted when main with them is merged. */
#include "server/channels.h"

static bool never(void) { return false; }

static enum chan_result not_here(CURL *h, const struct chan_msg *m, struct chan_outcome *o)
{
	(void)h;
	(void)m;
	o->result = CH_FALLBACK;
	return CH_FALLBACK;
}

const struct chan_carrier chan_aliyun = {"aliyun", not_here, never};
const struct chan_carrier chan_tencent = {"tencent", not_here, never};
const struct chan_carrier chan_wechat = {"wechat", not_here, never};
