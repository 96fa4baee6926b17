/* check.c: the one failure path of WATTLE_CHECK. */
#include "core/check.h"
#include "core/log.h"

#include <stdlib.h>

void core_check_failed(const char *what, const char *file, int line)
{
	srv_log(LOG_ERROR, "invariant broken at %s:%d: %s", file, line, what);
	abort();
}
