/* buf.h: a growable string buffer (out of memory aborts). */
#ifndef WATTLE_BUF_H
#define WATTLE_BUF_H

#include <stddef.h>

struct srv_buf {
	char *p; /* NUL-terminated; owned */
	size_t len, cap;
};

void srv_buf_printf(struct srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void srv_buf_putc(struct srv_buf *b, char c);
/* Append s as a PostgreSQL array element: double-quoted, with " and \ escaped. */
void srv_buf_pg_quoted(struct srv_buf *b, const char *s);
/* Reset to empty, keeping the memory. */
void srv_buf_clear(struct srv_buf *b);
void srv_buf_free(struct srv_buf *b);

#endif
