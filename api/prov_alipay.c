/* prov_alipay.c: calling alipay (provider.h). To be written: every call answers not_configured. */
#include "api/provider.h"

const struct prov_ops prov_alipay_ops = {0};
