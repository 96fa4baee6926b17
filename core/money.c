/* money.c: checked int64 arithmetic and exact decimal strings. */
#include "core/money.h"

#include <stdio.h>
#include <string.h>

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

char *bill_format_percent(int64_t num, int64_t den, int decimals, char *buf, size_t n)
{
	int64_t scale = 100;
	for (int i = 0; i < decimals; i++)
		scale *= 10;
	__int128 x = (__int128)num * scale * 2; /* |num| * 10^6 * 2 < 2^127: no overflow */
	__int128 q = (x + (x >= 0 ? den : -den)) / (2 * (__int128)den);
	unsigned __int128 mag = q < 0 ? (unsigned __int128)-q : (unsigned __int128)q;
	char tmp[64];
	int k = 0;
	do { /* digits, least significant first, the point after `decimals` of them */
		if (k == decimals && decimals)
			tmp[k++] = '.';
		tmp[k++] = (char)('0' + (int)(mag % 10));
		mag /= 10;
	} while (mag || k <= decimals);
	size_t at = 0;
	if (q < 0 && at + 1 < n)
		buf[at++] = '-';
	while (k > 0 && at + 1 < n)
		buf[at++] = tmp[--k];
	buf[at] = 0;
	return buf;
}

char *bill_format_decimal(int64_t v, int scale, char *buf, size_t n)
{
	/* The magnitude as unsigned, so INT64_MIN has one too. */
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, div = 1;
	const char *sign = v < 0 ? "-" : "";
	if (scale < 0)
		scale = 0;
	if (scale > 40) /* no currency has more than 4; a nonsense scale gets a bounded text */
		scale = 40;
	if (scale > 19) { /* past 10^19 the power overflows: every digit is a fraction digit */
		snprintf(buf, n, "%s0.%0*llu", sign, scale, (unsigned long long)mag);
		return buf;
	}
	for (int i = 0; i < scale; i++)
		div *= 10;
	if (scale == 0)
		snprintf(buf, n, "%s%llu", sign, (unsigned long long)mag);
	else
		snprintf(buf, n, "%s%llu.%0*llu", sign, (unsigned long long)(mag / div), scale,
			 (unsigned long long)(mag % div));
	return buf;
}

char *bill_group_decimal(const char *dec, char *buf, size_t n)
{
	const char *d = dec[0] == '-' ? dec + 1 : dec;
	const char *dot = strchr(d, '.');
	size_t ilen = dot ? (size_t)(dot - d) : strlen(d), g = 0;
	char out[96];
	if (dec[0] == '-')
		out[g++] = '-';
	for (size_t i = 0; i < ilen && g + 2 < sizeof out; i++) {
		if (i && (ilen - i) % 3 == 0)
			out[g++] = ',';
		out[g++] = d[i];
	}
	out[g] = 0;
	snprintf(buf, n, "%s%s", out, dot ? dot : "");
	return buf;
}
