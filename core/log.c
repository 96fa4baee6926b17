/* log.c: structured logging to stderr for operators and log shippers. */
#include "core/log.h"
#include "core/clock.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void srv_log_set_level(enum log_level lvl) { min_level = lvl; }
int srv_log_enabled(enum log_level lvl) { return lvl >= min_level; }

void srv_log_raw(const char *json_line)
{
	/* One writev: the line and its newline land together, without a copy. */
	struct iovec v[2] = {{(void *)json_line, strlen(json_line)}, {"\n", 1}};
	if (writev(STDERR_FILENO, v, 2) < 0)
		return;
}

void srv_log(enum log_level lvl, const char *fmt, ...)
{
	if (lvl < min_level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	/* Log lines carry real time, even when wattle's clock runs fast. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char when[40];
	srv_time_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, when, sizeof when);

	json_t *o = json_pack("{s:s, s:s, s:s}", "ts", when, "level", level_names[lvl], "msg", msg);
	char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (line) {
		srv_log_raw(line);
		free(line);
	}
	json_decref(o);
}
