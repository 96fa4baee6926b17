/* valid.c: validation of phones, currencies, zones, clock times, timestamps and text. */
#include "core/valid.h"
#include "core/calendar.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int api_valid_phone(const char *s)
{
	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	size_t n = 0;
	for (const char *p = s + 1; *p; p++, n++)
		if (*p < '0' || *p > '9')
			return 0;
	return n >= 2 && n <= 15;
}

/* Active ISO 4217 codes with their minor-unit exponent (list 2024; precious metals,
 * test and "no currency" codes left out: an account cannot hold them). */
static const struct {
	char code[4];
	signed char digits;
} currencies[] = {
	{"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2},
	{"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2},
	{"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2},
	{"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2},
	{"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2},
	{"COU", 2}, {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2},
	{"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2},
	{"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0},
	{"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2},
	{"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3},
	{"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0},
	{"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2},
	{"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2},
	{"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2},
	{"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2},
	{"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2},
	{"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2},
	{"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
	{"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2},
	{"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2},
	{"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2},
	{"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2},
	{"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0},
	{"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
};

int api_valid_currency(const char *s, int *minor_digits)
{
	if (!s || strlen(s) != 3)
		return 0;
	size_t lo = 0, hi = sizeof currencies / sizeof currencies[0];
	while (lo < hi) { /* the table is sorted */
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s, currencies[mid].code);
		if (c == 0) {
			if (minor_digits)
				*minor_digits = currencies[mid].digits;
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

int api_valid_timezone(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64 || s[0] == '/' || strstr(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			return 0;
	}
	/* Names that are not zones but live in the folder. */
	if (!strcmp(s, "posixrules") || !strcmp(s, "localtime") || !strncmp(s, "posix/", 6) ||
	    !strncmp(s, "right/", 6))
		return 0;
	char path[128];
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", s);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char magic[4];
	ssize_t r = read(fd, magic, 4);
	close(fd);
	return r == 4 && !memcmp(magic, "TZif", 4);
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int api_parse_hhmm(const char *s, int allow_24)
{
	if (!s || strlen(s) != 5 || s[2] != ':')
		return -1;
	int h = digits(s, 2), m = digits(s + 3, 2);
	if (h < 0 || m < 0 || m > 59)
		return -1;
	if (h == 24 && m == 0 && allow_24)
		return 24 * 60;
	if (h > 23)
		return -1;
	return h * 60 + m;
}


static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

int api_parse_time(const char *s, int64_t *out_us)
{
	if (!s || strlen(s) < 20)
		return -1;
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
		return -1;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		int n = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (n < 6)
				frac = frac * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0 || n > 9)
			return -1;
		for (; n < 6; n++)
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh = digits(p + 1, 2), om = (p[3] == ':') ? digits(p + 4, 2) : -1;
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	int64_t secs = cal_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off * 60;
	*out_us = secs * 1000000 + frac;
	return 0;
}

int api_parse_period(const char *s, int *year, int *month)
{
	if (!s || strlen(s) != 7 || s[4] != '-')
		return -1;
	int y = digits(s, 4), m = digits(s + 5, 2);
	if (y < 1970 || m < 1 || m > 12)
		return -1;
	*year = y;
	*month = m;
	return 0;
}

int api_parse_date(const char *s, int *year, int *month, int *day)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	char ym[8];
	if (!s || strlen(s) != 10 || s[7] != '-')
		return -1;
	memcpy(ym, s, 7);
	ym[7] = 0;
	int y, m, d = digits(s + 8, 2);
	if (api_parse_period(ym, &y, &m))
		return -1;
	int leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
	if (d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	*year = y;
	*month = m;
	*day = d;
	return 0;
}

int api_valid_text(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		int extra = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
		if (extra < 0)
			return 0;
		p++;
		for (int i = 0; i < extra; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

int api_valid_url(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 512 || (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)))
		return 0;
	size_t start = s[4] == 's' ? 8 : 7;
	if (n <= start)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}
