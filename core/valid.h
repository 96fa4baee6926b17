/* valid.h: pure checks of client-supplied values (no I/O but the zoneinfo lookup). */
#ifndef WATTLE_VALID_H
#define WATTLE_VALID_H

#include <stddef.h>
#include <stdint.h>

/* E.164: '+', a non-zero digit, then 1..14 more digits. 1 if valid. */
int api_valid_phone(const char *s);

/* An active ISO 4217 code. 1 if valid; *minor_digits (may be NULL) gets its exponent. */
int api_valid_currency(const char *s, int *minor_digits);

/* A real IANA time zone: a name made of zone-name characters whose file in the system
 * zoneinfo database (tzdata) is a TZif file. 1 if valid. */
int api_valid_timezone(const char *s);

/* "HH:MM" with HH 00..23 (or "24:00" when allow_24 is set) -> minutes since midnight,
 * or -1 when malformed. */
int api_parse_hhmm(const char *s, int allow_24);

/* RFC 3339 date-time with an offset ("2026-10-01T08:00:00+08:00", fraction allowed,
 * 'Z' or +hh:mm) -> unix microseconds. Return 0, or -1 when malformed. */
int api_parse_time(const char *s, int64_t *out_us);

/* A billing period "YYYY-MM" -> year and month. Return 0, or -1. */
int api_parse_period(const char *s, int *year, int *month);

/* A calendar date "YYYY-MM-DD" -> its parts. Return 0, or -1. */
int api_parse_date(const char *s, int *year, int *month, int *day);

/* A printable, single-line string of 1..max bytes of valid UTF-8. 1 if valid. */
int api_valid_text(const char *s, size_t max);

/* An http:// or https:// URL without spaces, at most 512 bytes. 1 if valid. */
int api_valid_url(const char *s);

#endif
