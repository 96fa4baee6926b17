/* check_run.h: the one Check runner every suite ends with. */
#ifndef WATTLE_CHECK_RUN_H
#define WATTLE_CHECK_RUN_H

#include <check.h>

/* Run a suite (fork mode), print Check's summary; returns the process exit status. */
int th_run(Suite *s);

#endif
