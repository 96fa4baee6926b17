/* prov_wechat.c: calling wechat (provider.h). To be written: every call answers not_configured. */
#include "api/provider.h"

const struct prov_ops prov_wechat_ops = {0};
