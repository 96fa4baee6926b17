/* log.h: JSON log lines on stderr, one write(2) each so lines never interleave. */
#ifndef WATTLE_LOG_H
#define WATTLE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Write {"ts","level","msg"} plus the printf-formatted msg. Messages are escaped. */
void srv_log(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write a raw, already-JSON object line (without the newline). Used by the request log. */
void srv_log_raw(const char *json_line);

/* Below this level nothing is written. WATTLE_LOG_LEVEL=debug|info|warn|error. */
void srv_log_set_level(enum log_level lvl);
int srv_log_enabled(enum log_level lvl);

#endif
