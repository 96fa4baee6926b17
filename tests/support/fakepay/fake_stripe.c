/* fake_stripe.c: the stripe fake's paths (fakepay.h). To be written: everything is refused. */
#include "fakepay.h"

#include <stdlib.h>
#include <string.h>

void fake_stripe(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	pthread_mutex_lock(&f->mu);
	fake_refuse(f, "%s %s: not written yet", r->method, r->path);
	pthread_mutex_unlock(&f->mu);
	out->status = 501;
}
