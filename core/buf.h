/* buf.h: a growable string buffer (out of memory aborts). */
#ifndef WATTLE_BUF_H
#define WATTLE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct srv_buf {
	char *p; /* NUL-terminated; owned */
	size_t len, cap;
};

void srv_buf_printf(struct srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void srv_buf_putc(struct srv_buf *b, char c);
void srv_buf_puts(struct srv_buf *b, const char *s);
/* Append v in decimal (no printf: this is the ingest hot path). */
void srv_buf_i64(struct srv_buf *b, int64_t v);
/* Start the next element of a PostgreSQL array literal: '{' first, then ','. */
void srv_buf_elem(struct srv_buf *b);
/* Append s as a PostgreSQL array element: double-quoted, with " and \ escaped. */
void srv_buf_pg_quoted(struct srv_buf *b, const char *s);
/* Append s as a JSON string: quoted, with quotes, backslashes and controls escaped. */
void srv_buf_json_str(struct srv_buf *b, const char *s);
/* Append n bytes as they are; PUT_LIT appends a string literal. */
void srv_buf_putn(struct srv_buf *b, const char *s, size_t n);
/* s percent-encoded: every byte but RFC 3986's unreserved ones (A-Z a-z 0-9 - . _ ~) and
 * those in keep (NULL: none) as %XX, upper-case hex; a space is %20. */
void srv_buf_pct(struct srv_buf *b, const char *s, const char *keep);
#define PUT_LIT(b, lit) srv_buf_putn((b), (lit), sizeof(lit) - 1)
/* A libcurl write callback (CURLOPT_WRITEFUNCTION) appending to the struct srv_buf in
 * CURLOPT_WRITEDATA. */
size_t srv_buf_write(char *p, size_t size, size_t n, void *buf);
/* Reset to empty, keeping the memory. */
void srv_buf_clear(struct srv_buf *b);
void srv_buf_free(struct srv_buf *b);

#endif
