/* test_unit.c: the pure modules: money, validation, key hashing, ids, tariff rules. */
#include "api/api.h"
#include "core/valid.h"
#include "core/money.h"
#include "core/tariff.h"
#include "store/keys.h"
#include "core/clock.h"

#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- money ---- */

START_TEST(money_add_mul)
{
	int64_t v = 7;
	ck_assert_int_eq(bill_add(40, 2, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(bill_mul(-6, 7, &v), 0);
	ck_assert_int_eq(v, -42);
}
END_TEST

START_TEST(money_limits)
{
	int64_t v = 7;
	ck_assert_int_eq(bill_add(INT64_MAX, 1, &v), 1);
	ck_assert_int_eq(v, 7); /* unchanged on overflow */
	ck_assert_int_eq(bill_add(INT64_MIN, -1, &v), 1);
	ck_assert_int_eq(bill_add(INT64_MAX, 0, &v), 0);
	ck_assert_int_eq(v, INT64_MAX);
	ck_assert_int_eq(bill_add(INT64_MIN, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(bill_mul(INT64_MAX / 2 + 1, 2, &v), 1);
	ck_assert_int_eq(bill_mul(INT64_MIN, -1, &v), 1);
	ck_assert_int_eq(bill_mul(INT64_MIN, 1, &v), 0);
	ck_assert_int_eq(v, INT64_MIN);
}
END_TEST

START_TEST(decimal_parse)
{
	int64_t v;
	ck_assert_int_eq(bill_parse_decimal("86.50", 2, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 8650);
	ck_assert_int_eq(bill_parse_decimal("86.5", 2, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 8650);
	ck_assert_int_eq(bill_parse_decimal("12", 2, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 1200);
	ck_assert_int_eq(bill_parse_decimal("0", 2, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(bill_parse_decimal("0.01", 2, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(bill_parse_decimal("123", 0, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 123);
	const char *bad[] = {"", ".5", "5.", "1.234", "-1", "+1", "1e3", " 1", "1 ", "1..2", "1.2.3",
			     "0x10", "1,5", "NaN"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(bill_parse_decimal(bad[i], 2, INT64_MAX, &v) == -1, "accepted '%s'", bad[i]);
	ck_assert_int_eq(bill_parse_decimal("5", 0, INT64_MAX, &v), 0);
	ck_assert_int_eq(bill_parse_decimal("5.0", 0, INT64_MAX, &v), -1);
}
END_TEST

/* format_decimal_signed: the formatter refused negatives (-1234, 2 came out "-12.-34"), so
 * four signed copies of it grew around the code; now it is the one formatter. */
START_TEST(format_decimal_signed)
{
	char buf[32];
	ck_assert_str_eq(bill_format_decimal(-1234, 2, buf, sizeof buf), "-12.34");
	ck_assert_str_eq(bill_format_decimal(-5, 2, buf, sizeof buf), "-0.05");
	ck_assert_str_eq(bill_format_decimal(-100, 2, buf, sizeof buf), "-1.00");
	ck_assert_str_eq(bill_format_decimal(0, 2, buf, sizeof buf), "0.00");
	ck_assert_str_eq(bill_format_decimal(-42, 0, buf, sizeof buf), "-42");
	ck_assert_str_eq(bill_format_decimal(-7, 3, buf, sizeof buf), "-0.007");
	ck_assert_str_eq(bill_format_decimal(INT64_MIN, 2, buf, sizeof buf), "-92233720368547758.08");
	ck_assert_str_eq(bill_format_decimal(INT64_MIN, 0, buf, sizeof buf), "-9223372036854775808");
	ck_assert_str_eq(bill_format_decimal(INT64_MAX, 0, buf, sizeof buf), "9223372036854775807");
}
END_TEST

/* format_decimal_wide_scale (found by fuzz_render): a report whose minor_digits was 88 made
 * the power of ten overflow to 0 and the formatter divide by it (SIGFPE). Past 19 digits
 * every digit is a fraction digit; a negative scale is 0, one past 40 is 40. */
START_TEST(format_decimal_wide_scale)
{
	char buf[128];
	ck_assert_str_eq(bill_format_decimal(12345, 19, buf, sizeof buf), "0.0000000000000012345");
	ck_assert_str_eq(bill_format_decimal(-12345, 22, buf, sizeof buf), "-0.0000000000000000012345");
	ck_assert_str_eq(bill_format_decimal(INT64_MIN, 20, buf, sizeof buf), "-0.09223372036854775808");
	ck_assert_int_eq(strlen(bill_format_decimal(1, 88, buf, sizeof buf)), 42); /* bounded at 40 places */
	ck_assert_str_eq(bill_format_decimal(42, -3, buf, sizeof buf), "42");
}
END_TEST

START_TEST(decimal_limits)
{
	int64_t v;
	ck_assert_int_eq(bill_parse_decimal("92233720368547758.07", 2, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, INT64_MAX);
	ck_assert_int_eq(bill_parse_decimal("92233720368547758.08", 2, INT64_MAX, &v), -1);
	ck_assert_int_eq(bill_parse_decimal("99999999999999999999", 0, INT64_MAX, &v), -1);
	ck_assert_int_eq(bill_parse_decimal("1001", 0, 1000, &v), -1);
	ck_assert_int_eq(bill_parse_decimal("1000", 0, 1000, &v), 0);
	char buf[32];
	ck_assert_str_eq(bill_format_decimal(8650, 2, buf, sizeof buf), "86.50");
	ck_assert_str_eq(bill_format_decimal(5, 2, buf, sizeof buf), "0.05");
	ck_assert_str_eq(bill_format_decimal(INT64_MAX, 2, buf, sizeof buf), "92233720368547758.07");
	ck_assert_str_eq(bill_format_decimal(42, 0, buf, sizeof buf), "42");
	/* percentages in integers, rounded half away from zero */
	ck_assert_str_eq(bill_format_percent(100000, 1100000, 2, buf, sizeof buf), "9.09");
	ck_assert_str_eq(bill_format_percent(1, 3, 2, buf, sizeof buf), "33.33");
	ck_assert_str_eq(bill_format_percent(2, 3, 2, buf, sizeof buf), "66.67");
	ck_assert_str_eq(bill_format_percent(-1, 8, 1, buf, sizeof buf), "-12.5");
	ck_assert_str_eq(bill_format_percent(-1, 16, 1, buf, sizeof buf), "-6.3");
	ck_assert_str_eq(bill_format_percent(0, 7, 1, buf, sizeof buf), "0.0");
	ck_assert_str_eq(bill_format_percent(5, 1, 0, buf, sizeof buf), "500");
	ck_assert_str_eq(bill_format_percent(INT64_MAX, 1, 2, buf, sizeof buf), "922337203685477580700.00");
}
END_TEST

/* ---- validation ---- */

START_TEST(valid_phone)
{
	ck_assert(api_valid_phone("+8613800138000"));
	ck_assert(api_valid_phone("+441632960961"));
	ck_assert(api_valid_phone("+123"));
	ck_assert(api_valid_phone("+123456789012345")); /* 15 digits, the maximum */
	ck_assert(!api_valid_phone("+1234567890123456"));
	ck_assert(!api_valid_phone("8613800138000"));
	ck_assert(!api_valid_phone("+0861380013800"));
	ck_assert(!api_valid_phone("+86 138 0013 8000"));
	ck_assert(!api_valid_phone("+1"));
	ck_assert(!api_valid_phone(""));
	ck_assert(!api_valid_phone(NULL));
}
END_TEST

START_TEST(valid_currency)
{
	int d = -1;
	ck_assert(api_valid_currency("CNY", &d));
	ck_assert_int_eq(d, 2);
	ck_assert(api_valid_currency("JPY", &d));
	ck_assert_int_eq(d, 0);
	ck_assert(api_valid_currency("KWD", &d));
	ck_assert_int_eq(d, 3);
	ck_assert(api_valid_currency("AED", NULL)); /* first in the table */
	ck_assert(api_valid_currency("ZWG", NULL)); /* last */
	ck_assert(!api_valid_currency("cny", NULL));
	ck_assert(!api_valid_currency("RMB", NULL));
	ck_assert(!api_valid_currency("XAU", NULL));
	ck_assert(!api_valid_currency("CNYY", NULL));
	ck_assert(!api_valid_currency("", NULL));
}
END_TEST

START_TEST(valid_timezone)
{
	ck_assert(api_valid_timezone("Asia/Shanghai"));
	ck_assert(api_valid_timezone("Europe/Berlin"));
	ck_assert(api_valid_timezone("America/Argentina/Buenos_Aires"));
	ck_assert(api_valid_timezone("UTC"));
	ck_assert(!api_valid_timezone("Mars/Olympus"));
	ck_assert(!api_valid_timezone("../../etc/passwd"));
	ck_assert(!api_valid_timezone("/etc/passwd"));
	ck_assert(!api_valid_timezone("Asia"));        /* a folder, not a zone */
	ck_assert(!api_valid_timezone("posixrules"));
	ck_assert(!api_valid_timezone("Asia/Shanghai "));
	ck_assert(!api_valid_timezone(""));
}
END_TEST

START_TEST(valid_hhmm_time_period)
{
	ck_assert_int_eq(api_parse_hhmm("00:00", 0), 0);
	ck_assert_int_eq(api_parse_hhmm("23:59", 0), 1439);
	ck_assert_int_eq(api_parse_hhmm("24:00", 1), 1440);
	ck_assert_int_eq(api_parse_hhmm("24:00", 0), -1);
	ck_assert_int_eq(api_parse_hhmm("24:01", 1), -1);
	ck_assert_int_eq(api_parse_hhmm("12:60", 0), -1);
	ck_assert_int_eq(api_parse_hhmm("7:00", 0), -1);
	int64_t t;
	ck_assert_int_eq(api_parse_time("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(api_parse_time("2026-10-01T08:00:00+08:00", &t), 0);
	ck_assert_int_eq(t, INT64_C(1790812800) * 1000000);
	ck_assert_int_eq(api_parse_time("2026-10-01T00:00:00.5Z", &t), 0);
	ck_assert_int_eq(t, INT64_C(1790812800) * 1000000 + 500000);
	ck_assert_int_eq(api_parse_time("2024-02-29T12:00:00-05:30", &t), 0);
	ck_assert_int_eq(api_parse_time("2023-02-29T12:00:00Z", &t), -1);
	ck_assert_int_eq(api_parse_time("2026-10-01T08:00:00", &t), -1); /* no offset */
	ck_assert_int_eq(api_parse_time("2026-10-01 08:00:00Z", &t), -1);
	ck_assert_int_eq(api_parse_time("2026-13-01T08:00:00Z", &t), -1);
	ck_assert_int_eq(api_parse_time("2026-10-01T08:00:00.Z", &t), -1);
	int y, m;
	ck_assert_int_eq(api_parse_period("2026-10", &y, &m), 0);
	ck_assert_int_eq(y * 100 + m, 202610);
	ck_assert_int_eq(api_parse_period("2026-13", &y, &m), -1);
	ck_assert_int_eq(api_parse_period("2026-1", &y, &m), -1);
}
END_TEST

START_TEST(valid_text_url)
{
	ck_assert(api_valid_text("Noodle Bar", 200));
	ck_assert(api_valid_text("\xe9\x9d\xa2\xe9\xa6\x86", 200)); /* UTF-8 */
	ck_assert(!api_valid_text("a\nb", 200));
	ck_assert(!api_valid_text("\xff", 200));
	ck_assert(!api_valid_text("\xe9\x9d", 200)); /* truncated sequence */
	ck_assert(!api_valid_text("", 200));
	ck_assert(!api_valid_text("abcd", 3));
	ck_assert(api_valid_url("http://127.0.0.1:9000/gw"));
	ck_assert(api_valid_url("https://gw.example"));
	ck_assert(!api_valid_url("ftp://x"));
	ck_assert(!api_valid_url("http://"));
	ck_assert(!api_valid_url("http://a b"));
}
END_TEST

/* ---- keys and ids ---- */

START_TEST(key_hash_and_generate)
{
	char h[KEY_HASH_LEN + 1];
	srv_key_hash("abc", h); /* the FIPS 180-2 test vector */
	ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	char k1[KEY_LEN + 1], k2[KEY_LEN + 1];
	ck_assert_int_eq(srv_key_generate(k1), 0);
	ck_assert_int_eq(srv_key_generate(k2), 0);
	ck_assert_int_eq((int)strlen(k1), KEY_LEN);
	ck_assert(!strncmp(k1, "wk_", 3));
	ck_assert_str_ne(k1, k2);
	ck_assert_uint_eq(srv_role_parse("finance"), ROLE_FINANCE);
	ck_assert_uint_eq(srv_role_parse("root"), 0);
	ck_assert_str_eq(srv_role_name(ROLE_TENANT), "tenant");
}
END_TEST

START_TEST(ids)
{
	ck_assert_int_eq(api_id_parse("ten", "ten_42"), 42);
	ck_assert_int_eq(api_id_parse("ten", "ten_9223372036854775807"), INT64_MAX);
	ck_assert_int_eq(api_id_parse("ten", "ten_9223372036854775808"), 0);
	ck_assert_int_eq(api_id_parse("ten", "site_42"), 0);
	ck_assert_int_eq(api_id_parse("ten", "ten_"), 0);
	ck_assert_int_eq(api_id_parse("ten", "ten_042"), 0);
	ck_assert_int_eq(api_id_parse("ten", "ten_0"), 0);
	ck_assert_int_eq(api_id_parse("ten", "ten_-1"), 0);
	ck_assert_int_eq(api_id_parse("ten", "tenant_1"), 0);
	ck_assert_int_eq(api_id_parse("ten", NULL), 0);
	/* the prefixes of api.h: none is another's, so no id parses as two kinds */
	static const char *const prefixes[] = {ID_SITE, ID_TENANT, ID_POLICY, ID_TARIFF, ID_METER,
					       ID_KEY,	ID_LEDGER, ID_GATEWAY, ID_RECEIPT, ID_USER};
	size_t np = sizeof prefixes / sizeof *prefixes;
	for (size_t i = 0; i < np; i++)
		for (size_t k = 0; k < np; k++) {
			char id[32];
			snprintf(id, sizeof id, "%s_7", prefixes[i]);
			ck_assert_int_eq(api_id_parse(prefixes[k], id), i == k ? 7 : 0);
		}
	ck_assert_int_eq(api_id_parse(ID_GATEWAY, "gw_12"), 12);
}
END_TEST

START_TEST(clock_format)
{
	char b[40];
	ck_assert_str_eq(srv_time_format(0, b, sizeof b), "1970-01-01T00:00:00.000000Z");
	ck_assert_str_eq(srv_time_format(INT64_C(1790812800) * 1000000 + 7, b, sizeof b),
			 "2026-10-01T00:00:00.000007Z");
	ck_assert_str_eq(srv_time_format(-1, b, sizeof b), "1969-12-31T23:59:59.999999Z");
	srv_clock_set(3600, INT64_C(1790812800) * 1000000);
	int64_t a = srv_clock_now_us();
	ck_assert(a >= INT64_C(1790812800) * 1000000);
	srv_clock_set(1, 0);
}
END_TEST

/* ---- tariffs ---- */

static json_t *tariff(const char *kind, const char *json, char *field)
{
	char msg[200];
	json_t *body = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	ck_assert(body);
	field[0] = 0;
	json_t *spec = bill_tariff_check(kind, body, field, 64, msg, sizeof msg);
	json_decref(body);
	return spec;
}

START_TEST(tariff_valid)
{
	char f[64];
	json_t *s = tariff("flat", "{\"rate_micros_per_kwh\":1234500}", f);
	ck_assert(s);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "rate_micros_per_kwh")), 1234500);
	json_decref(s);
	s = tariff("tou",
		   "{\"bands\":[{\"name\":\"peak\",\"rate_micros_per_kwh\":1200000},"
		   "{\"name\":\"valley\",\"rate_micros_per_kwh\":400000}],"
		   "\"schedule\":[{\"from\":\"22:00\",\"to\":\"24:00\",\"band\":\"valley\"},"
		   "{\"from\":\"08:00\",\"to\":\"22:00\",\"band\":\"peak\"},"
		   "{\"from\":\"00:00\",\"to\":\"08:00\",\"band\":\"valley\"}]}",
		   f);
	ck_assert_msg(s, "refused at %s", f);
	/* normalised: sorted by start */
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(s, "schedule"), 0), "from")),
			 "00:00");
	json_decref(s);
	s = tariff("tiered",
		   "{\"tiers\":[{\"up_to_wh\":200000,\"rate_micros_per_kwh\":500000},"
		   "{\"up_to_wh\":400000,\"rate_micros_per_kwh\":700000},"
		   "{\"up_to_wh\":null,\"rate_micros_per_kwh\":900000}]}",
		   f);
	ck_assert_msg(s, "refused at %s", f);
	json_decref(s);
	s = tariff("tou", "{\"bands\":[{\"name\":\"all\",\"rate_micros_per_kwh\":1}],"
			  "\"schedule\":[{\"from\":\"00:00\",\"to\":\"24:00\",\"band\":\"all\"}]}", f);
	ck_assert(s);
	json_decref(s);
}
END_TEST

START_TEST(tariff_refused)
{
	char f[64];
	static const struct {
		const char *kind, *json, *field;
	} cases[] = {
		{"flat", "{}", "rate_micros_per_kwh"},
		{"flat", "{\"rate_micros_per_kwh\":1.5}", "rate_micros_per_kwh"},
		{"flat", "{\"rate_micros_per_kwh\":-1}", "rate_micros_per_kwh"},
		{"flat", "{\"rate_micros_per_kwh\":1000000001}", "rate_micros_per_kwh"},
		{"flat", "{\"rate_micros_per_kwh\":1,\"tiers\":[]}", "tiers"},
		{"tou", "{\"bands\":[{\"name\":\"a\",\"rate_micros_per_kwh\":1}],"
			"\"schedule\":[{\"from\":\"00:00\",\"to\":\"12:00\",\"band\":\"a\"}]}", "schedule"},
		{"tou", "{\"bands\":[{\"name\":\"a\",\"rate_micros_per_kwh\":1}],"
			"\"schedule\":[{\"from\":\"00:00\",\"to\":\"13:00\",\"band\":\"a\"},"
			"{\"from\":\"12:00\",\"to\":\"24:00\",\"band\":\"a\"}]}", "schedule"},
		{"tou", "{\"bands\":[{\"name\":\"a\",\"rate_micros_per_kwh\":1}],"
			"\"schedule\":[{\"from\":\"00:00\",\"to\":\"24:00\",\"band\":\"b\"}]}", "schedule[0]"},
		{"tou", "{\"bands\":[{\"name\":\"a\",\"rate_micros_per_kwh\":1}],"
			"\"schedule\":[{\"from\":\"22:00\",\"to\":\"08:00\",\"band\":\"a\"}]}", "schedule[0]"},
		{"tou", "{\"bands\":[{\"name\":\"a\",\"rate_micros_per_kwh\":1},"
			"{\"name\":\"a\",\"rate_micros_per_kwh\":2}],"
			"\"schedule\":[{\"from\":\"00:00\",\"to\":\"24:00\",\"band\":\"a\"}]}", "bands[1]"},
		{"tou", "{\"bands\":[],\"schedule\":[]}", "bands"},
		{"tiered", "{\"tiers\":[{\"up_to_wh\":100,\"rate_micros_per_kwh\":1}]}", "tiers[0]"},
		{"tiered", "{\"tiers\":[{\"up_to_wh\":100,\"rate_micros_per_kwh\":1},"
			   "{\"up_to_wh\":100,\"rate_micros_per_kwh\":1},"
			   "{\"up_to_wh\":null,\"rate_micros_per_kwh\":1}]}", "tiers[1]"},
		{"tiered", "{\"tiers\":[{\"up_to_wh\":null,\"rate_micros_per_kwh\":1},"
			   "{\"up_to_wh\":null,\"rate_micros_per_kwh\":1}]}", "tiers[0]"},
		{"tiered", "{\"tiers\":[{\"rate_micros_per_kwh\":1}]}", "tiers[0]"},
		{"hourly", "{}", "kind"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *s = tariff(cases[i].kind, cases[i].json, f);
		ck_assert_msg(!s, "case %zu accepted", i);
		ck_assert_msg(!strcmp(f, cases[i].field), "case %zu: field %s, want %s", i, f,
			      cases[i].field);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("unit");
	TCase *money = tcase_create("money");
	tcase_add_test(money, money_add_mul);
	tcase_add_test(money, money_limits);
	tcase_add_test(money, decimal_parse);
	tcase_add_test(money, decimal_limits);
	tcase_add_test(money, format_decimal_signed);
	tcase_add_test(money, format_decimal_wide_scale);
	suite_add_tcase(s, money);
	TCase *valid = tcase_create("valid");
	tcase_add_test(valid, valid_phone);
	tcase_add_test(valid, valid_currency);
	tcase_add_test(valid, valid_timezone);
	tcase_add_test(valid, valid_hhmm_time_period);
	tcase_add_test(valid, valid_text_url);
	suite_add_tcase(s, valid);
	TCase *keys = tcase_create("keys_ids_clock");
	tcase_add_test(keys, key_hash_and_generate);
	tcase_add_test(keys, ids);
	tcase_add_test(keys, clock_format);
	suite_add_tcase(s, keys);
	TCase *tar = tcase_create("tariff");
	tcase_add_test(tar, tariff_valid);
	tcase_add_test(tar, tariff_refused);
	suite_add_tcase(s, tar);
	return s;
}

int main(void) { return th_run(suite()); }
