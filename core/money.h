/* money.h: exact integer arithmetic and decimal parsing for money and quantities.
 * No floating point: amounts are int64 minor units, rates int64 micro-units per kWh. */
#ifndef WATTLE_MONEY_H
#define WATTLE_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* *out = a + b. Return 0 on success; on overflow leave *out unchanged and return 1. */
int bill_add(int64_t a, int64_t b, int64_t *out);

/* *out = a * b. Return 0 on success; on overflow leave *out unchanged and return 1. */
int bill_mul(int64_t a, int64_t b, int64_t *out);

/* Parse a non-negative decimal string with at most `scale` fraction digits ("86.50",
 * "12", "0.5") into an integer in units of 10^-scale ("86.50", 2 -> 8650).
 * No sign, exponent, spaces or leading '.'. Return 0, or -1 when malformed or > max. */
int bill_parse_decimal(const char *s, int scale, int64_t max, int64_t *out);

/* Format v (units of 10^-scale) as a decimal string with exactly `scale` (0..18) fraction
 * digits and a leading '-' when negative (8650, 2 -> "86.50"; -5, 2 -> "-0.05"; any int64,
 * INT64_MIN included). The one formatter of money, energy and areas. Returns buf (32 bytes
 * hold any value). */
char *bill_format_decimal(int64_t v, int scale, char *buf, size_t n);

/* A decimal string as bill_format_decimal writes it with its integer part grouped by
 * thousands for people: "-1234567.89" -> "-1,234,567.89". Returns buf. */
char *bill_group_decimal(const char *dec, char *buf, size_t n);

/* num / den as a percentage with `decimals` (0..4) fraction digits, rounded half away
 * from zero, in integers: (1, 3, 2) -> "33.33", (-1, 8, 1) -> "-12.5". den > 0. Returns buf. */
char *bill_format_percent(int64_t num, int64_t den, int decimals, char *buf, size_t n);

#endif
