/* prov_stripe.c: calling stripe (provider.h). To be written: every call answers not_configured. */
#include "api/provider.h"

const struct prov_ops prov_stripe_ops = {0};
