/* money.c: checked int64 arithmetic and exact decimal strings. */
#include "billing/money.h"

#include <stdio.h>

int bill_add(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return 1;
	*out = r;
	return 0;
}

int bill_mul(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return 1;
	*out = r;
	return 0;
}

int bill_parse_decimal(const char *s, int scale, int64_t max, int64_t *out)
{
	int64_t v = 0;
	int frac = -1; /* digits seen after the point, -1 before it */
	int digits = 0;
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (frac >= 0 || digits == 0 || scale == 0)
				return -1;
			frac = 0;
			continue;
		}
		if (*p < '0' || *p > '9')
			return -1;
		if (frac >= 0 && ++frac > scale)
			return -1;
		if (bill_mul(v, 10, &v) || bill_add(v, *p - '0', &v))
			return -1;
		digits++;
	}
	if (frac == 0) /* "12." */
		return -1;
	for (int k = frac < 0 ? 0 : frac; k < scale; k++)
		if (bill_mul(v, 10, &v))
			return -1;
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

char *bill_format_decimal(int64_t v, int scale, char *buf, size_t n)
{
	int64_t div = 1;
	for (int i = 0; i < scale; i++)
		div *= 10;
	if (scale == 0)
		snprintf(buf, n, "%lld", (long long)v);
	else
		snprintf(buf, n, "%lld.%0*lld", (long long)(v / div), scale, (long long)(v % div));
	return buf;
}
