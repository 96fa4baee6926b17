/* buf.c: appending formatted text without size arithmetic at every call site. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(struct srv_buf *b, size_t need)
{
	if (b->len + need + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + need + 1)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (!b->p)
		abort();
	b->cap = cap;
}

void srv_buf_printf(struct srv_buf *b, const char *fmt, ...)
{
	grow(b, 64); /* most appends fit: format once */
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		grow(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void srv_buf_puts(struct srv_buf *b, const char *s)
{
	size_t n = strlen(s);
	grow(b, n);
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

void srv_buf_i64(struct srv_buf *b, int64_t v)
{
	char tmp[24];
	int i = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		tmp[i++] = (char)('0' + u % 10);
	while ((u /= 10));
	grow(b, (size_t)i + 1);
	if (v < 0)
		b->p[b->len++] = '-';
	while (i)
		b->p[b->len++] = tmp[--i];
	b->p[b->len] = 0;
}

void srv_buf_elem(struct srv_buf *b)
{
	srv_buf_putc(b, b->len ? ',' : '{');
}

void srv_buf_putc(struct srv_buf *b, char c)
{
	grow(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = 0;
}

void srv_buf_pg_quoted(struct srv_buf *b, const char *s)
{
	srv_buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			srv_buf_putc(b, '\\');
		srv_buf_putc(b, *s);
	}
	srv_buf_putc(b, '"');
}

void srv_buf_putn(struct srv_buf *b, const char *s, size_t n)
{
	grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void srv_buf_json_str(struct srv_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s);
	grow(b, n + 2);
	b->p[b->len++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			srv_buf_putn(b, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			srv_buf_putn(b, esc, 6);
		} else {
			srv_buf_putc(b, (char)c);
		}
	}
	srv_buf_putc(b, '"');
}

size_t srv_buf_write(char *p, size_t size, size_t n, void *buf)
{
	srv_buf_putn(buf, p, size * n);
	return size * n;
}

void srv_buf_clear(struct srv_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = 0;
}

void srv_buf_free(struct srv_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void srv_buf_pct(struct srv_buf *b, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *c = (const unsigned char *)s; c && *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		    *c == '.' || *c == '_' || *c == '~' || (keep && strchr(keep, *c))) {
			srv_buf_putc(b, (char)*c);
		} else {
			char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
			srv_buf_putn(b, e, 3);
		}
	}
}
