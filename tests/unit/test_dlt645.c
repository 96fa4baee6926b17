/* test_dlt645.c: the DL/T 645-2007 codec against published frames (METERS.md 1b, from
 * WKJay/DLT645's readme): addresses, encode and decode from a stream, reads and their
 * values, error replies, remote control, BCD. */
#include "core/dlt645.h"

#include "check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "68 AA .." to bytes at out; returns their count. */
static size_t hex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned b;
	int k;
	while (sscanf(s, " %2x%n", &b, &k) == 1) {
		out[n++] = (uint8_t)b;
		s += k;
	}
	return n;
}

/* Encode f (no preamble) and compare with the frame written in hex. */
static void assert_wire(const struct dlt_frame *f, const char *want)
{
	uint8_t w[DLT_FRAME_MAX], got[DLT_FRAME_MAX];
	size_t nw = hex(want, w), ng = dlt_encode(f, 0, got, sizeof got);
	ck_assert_uint_eq(ng, nw);
	ck_assert_mem_eq(got, w, nw);
}

/* Decode the frame written in hex, which must be whole and alone. */
static struct dlt_frame decoded(const char *wire)
{
	uint8_t b[DLT_FRAME_MAX + 32];
	size_t n = hex(wire, b), used = 99;
	struct dlt_frame f;
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_OK);
	ck_assert_uint_eq(used, n);
	return f;
}

static const uint8_t WILD[6] = {0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA};
static const uint8_t METER[6] = {0x78, 0x56, 0x34, 0x12, 0x00, 0x00}; /* 000012345678 */
#define REQ_METER "68 78 56 34 12 00 00 68 11 04 33 33 34 33 C6 16"
#define REPLY_1234_56 "68 78 56 34 12 00 00 68 91 08 33 33 34 33 89 67 45 33 B2 16"

START_TEST(golden_read_requests)
{
	struct dlt_frame f;
	dlt_read_request(&f, WILD, 0x00010000);
	assert_wire(&f, "68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16");
	dlt_read_request(&f, WILD, 0x02010100);
	assert_wire(&f, "68 AA AA AA AA AA AA 68 11 04 33 34 34 35 B1 16");
	uint8_t a[6];
	ck_assert_int_eq(dlt_addr_parse("000012345678", a), 0);
	ck_assert_mem_eq(a, METER, 6);
	dlt_read_request(&f, a, 0x00010000);
	assert_wire(&f, REQ_METER);
	/* with the preamble: four FE, then the same frame */
	uint8_t w[DLT_FRAME_MAX];
	ck_assert_uint_eq(dlt_encode(&f, 1, w, sizeof w), 20);
	ck_assert_mem_eq(w, "\xFE\xFE\xFE\xFE\x68\x78", 6);
	/* and the meter's side reads it back */
	f = decoded(REQ_METER);
	uint32_t di = 0;
	ck_assert_int_eq(dlt_read_parse(&f, &di), 0);
	ck_assert_uint_eq(di, 0x00010000);
	ck_assert_mem_eq(f.addr, METER, 6);
}
END_TEST

START_TEST(golden_reply_value)
{
	struct dlt_frame f = decoded(REPLY_1234_56);
	ck_assert_uint_eq(f.c, 0x91);
	ck_assert_uint_eq(f.len, 8);
	ck_assert_mem_eq(f.data, "\x00\x00\x01\x00\x56\x34\x12\x00", 8);
	int64_t v = 0;
	uint8_t err = 0;
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 4, 0, &v, &err), DLT_REPLY_OK);
	ck_assert_int_eq(v, 123456); /* 1234.56 kWh: XXXXXX.XX */
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 0, 0, &v, &err), DLT_REPLY_OK);
	ck_assert_int_eq(v, 123456);
	/* another DI, or another size than the profile's, is not this value */
	ck_assert_int_eq(dlt_read_value(&f, 0x00020000, 4, 0, &v, &err), DLT_REPLY_OTHER_DI);
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 3, 0, &v, &err), DLT_REPLY_LENGTH);
	/* a request is not a reply */
	struct dlt_frame q = decoded(REQ_METER);
	ck_assert_int_eq(dlt_read_value(&q, 0x00010000, 4, 0, &v, &err), DLT_REPLY_UNEXPECTED);
	/* the simulator's side builds the same bytes */
	uint8_t val[4];
	ck_assert_int_eq(dlt_bcd_encode(123456, 4, 0, val), 0);
	ck_assert_int_eq(dlt_read_reply(&f, METER, 0x00010000, val, 4), 0);
	assert_wire(&f, REPLY_1234_56);
	/* B1: more frames follow, the value is read all the same */
	f.c = 0xB1;
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 4, 0, &v, &err), DLT_REPLY_OK);
}
END_TEST

START_TEST(addresses)
{
	uint8_t a[6];
	char s[13];
	ck_assert_int_eq(dlt_addr_parse("AAAAAAAAAAAA", a), 0);
	ck_assert_mem_eq(a, WILD, 6);
	ck_assert_str_eq(dlt_addr_format(a, s), "AAAAAAAAAAAA");
	ck_assert_int_eq(dlt_addr_parse("aaaa12345678", a), 0);
	ck_assert_mem_eq(a, "\x78\x56\x34\x12\xAA\xAA", 6);
	ck_assert_str_eq(dlt_addr_format(a, s), "AAAA12345678");
	ck_assert_int_eq(dlt_addr_parse("000012345678", a), 0);
	ck_assert_str_eq(dlt_addr_format(a, s), "000012345678");
	ck_assert_int_eq(dlt_addr_parse("999999999999", a), 0);
	memcpy(a, METER, 6);
	const char *bad[] = {NULL, "", "00001234567", "0000123456789", "00001234567x", "0000 2345678",
			     "12AA12345678", "AAAAAAAAAA0A", "+00012345678", "00001234567A"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(dlt_addr_parse(bad[i], a) == -1, "accepted %s", bad[i] ? bad[i] : "NULL");
	ck_assert_mem_eq(a, METER, 6); /* unchanged */
	uint8_t got[6];
	memcpy(got, METER, 6);
	ck_assert_int_eq(dlt_addr_match(WILD, got), 1);
	ck_assert_int_eq(dlt_addr_match(METER, got), 1);
	ck_assert_int_eq(dlt_addr_parse("AAAA12345678", a), 0);
	ck_assert_int_eq(dlt_addr_match(a, got), 1);
	got[0] = 0x79;
	ck_assert_int_eq(dlt_addr_match(METER, got), 0);
	ck_assert_int_eq(dlt_addr_match(a, got), 0);
	uint8_t pw[4] = {9, 9, 9, 9};
	ck_assert_int_eq(dlt_hex_parse("02aBcDeF", pw, 4), 0);
	ck_assert_mem_eq(pw, "\x02\xAB\xCD\xEF", 4);
	ck_assert_int_eq(dlt_hex_parse("0200000", pw, 4), -1);
	ck_assert_int_eq(dlt_hex_parse("0200000g", pw, 4), -1);
	ck_assert_mem_eq(pw, "\x02\xAB\xCD\xEF", 4);
}
END_TEST

START_TEST(preamble_and_garbage_skipped)
{
	uint8_t b[64];
	size_t n = hex("FE FE FE FE " REPLY_1234_56, b), used = 0;
	struct dlt_frame f;
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_OK);
	ck_assert_uint_eq(used, n);
	ck_assert_uint_eq(f.c, 0x91);
	/* noise, a lone 68 and a 68 that starts no header, then the frame and one more */
	n = hex("00 13 68 68 01 02 03 04 05 06 07 FE FE " REQ_METER " FE " REPLY_1234_56, b);
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_OK);
	ck_assert_uint_eq(used, 13 + 16);
	ck_assert_uint_eq(f.c, 0x11);
	size_t used2 = 0;
	ck_assert_int_eq(dlt_decode(b + used, n - used, &f, &used2), DLT_OK);
	ck_assert_uint_eq(used + used2, n);
	ck_assert_uint_eq(f.c, 0x91);
	/* nothing but noise: all of it may go */
	n = hex("FE FE 00 16 33", b);
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_MORE);
	ck_assert_uint_eq(used, n);
	ck_assert_int_eq(dlt_decode(b, 0, &f, &used), DLT_MORE);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(split_frame_needs_more)
{
	uint8_t b[64];
	size_t n = hex("FE FE " REPLY_1234_56, b), used = 99;
	struct dlt_frame f;
	/* every cut: the noise before the frame may go, the rest waits */
	for (size_t k = 0; k < n; k++) {
		ck_assert_msg(dlt_decode(b, k, &f, &used) == DLT_MORE, "cut at %zu", k);
		ck_assert_uint_eq(used, k < 2 ? k : 2);
	}
	/* the first half, kept as the decoder said, then the rest appended */
	uint8_t stream[64];
	size_t have = 11;
	memcpy(stream, b, have);
	ck_assert_int_eq(dlt_decode(stream, have, &f, &used), DLT_MORE);
	memmove(stream, stream + used, have - used);
	have -= used;
	memcpy(stream + have, b + 11, n - 11);
	have += n - 11;
	ck_assert_int_eq(dlt_decode(stream, have, &f, &used), DLT_OK);
	ck_assert_uint_eq(used, have);
	int64_t v;
	uint8_t err;
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 4, 0, &v, &err), DLT_REPLY_OK);
	ck_assert_int_eq(v, 123456);
}
END_TEST

START_TEST(bad_checksum_refused)
{
	uint8_t b[64];
	/* the reply with CS B3 for B2, then the request: the bad one is dropped whole */
	size_t n = hex("68 78 56 34 12 00 00 68 91 08 33 33 34 33 89 67 45 33 B3 16 " REQ_METER, b), used = 0;
	struct dlt_frame f;
	memset(&f, 0x5A, sizeof f);
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_BAD_SUM);
	ck_assert_uint_eq(used, 20);
	ck_assert_uint_eq(f.c, 0x5A); /* not written */
	ck_assert_int_eq(dlt_decode(b + used, n - used, &f, &used), DLT_OK);
	ck_assert_uint_eq(f.c, 0x11);
	/* one data bit flipped: the sum catches it too */
	n = hex(REPLY_1234_56, b);
	b[14] ^= 0x01;
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_BAD_SUM);
}
END_TEST

START_TEST(bad_framing_refused)
{
	uint8_t b[64];
	/* no 16 at the end: the header's 68 is dropped and the search goes on */
	size_t n = hex("68 78 56 34 12 00 00 68 91 08 33 33 34 33 89 67 45 33 B2 17 " REQ_METER, b), used = 0;
	struct dlt_frame f;
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_BAD_FRAME);
	ck_assert_uint_eq(used, 1);
	size_t at = used;
	ck_assert_int_eq(dlt_decode(b + at, n - at, &f, &used), DLT_OK);
	ck_assert_uint_eq(at + used, n);
	ck_assert_uint_eq(f.c, 0x11);
	/* L over 200 is refused at once, not waited for */
	n = hex("FE 68 AA AA AA AA AA AA 68 91 C9", b);
	ck_assert_int_eq(dlt_decode(b, n, &f, &used), DLT_BAD_FRAME);
	ck_assert_uint_eq(used, 2);
}
END_TEST

START_TEST(bad_bcd_refused)
{
	/* the reply of 1234.56 with its top value byte 00 made 0A: 33 -> 3D, CS B2 -> BC */
	struct dlt_frame f = decoded("68 78 56 34 12 00 00 68 91 08 33 33 34 33 89 67 45 3D BC 16");
	int64_t v = 77;
	uint8_t err = 0;
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 4, 0, &v, &err), DLT_REPLY_BAD_BCD);
	ck_assert_int_eq(v, 77);
	ck_assert_int_eq(dlt_bcd_decode((const uint8_t *)"\x56\x34\x12\x00", 4, 0, &v), 0);
	ck_assert_int_eq(v, 123456);
	ck_assert_int_eq(dlt_bcd_decode((const uint8_t *)"\x5A", 1, 0, &v), -1);
	ck_assert_int_eq(dlt_bcd_decode((const uint8_t *)"\xA5", 1, 0, &v), -1);
	/* signed: the sign bit is not a digit, but the rest still must be */
	ck_assert_int_eq(dlt_bcd_decode((const uint8_t *)"\x00\x8A", 2, 1, &v), -1);
	ck_assert_int_eq(v, 123456);
	ck_assert_int_eq(dlt_bcd_decode((const uint8_t *)"\x00\xF0", 2, 1, &v), 0); /* F = sign + 7 */
	ck_assert_int_eq(v, -7000);
}
END_TEST

START_TEST(error_reply_reported)
{
	struct dlt_frame f;
	dlt_error_reply(&f, METER, DLT_FN_READ, DLT_ERR_NO_DATA);
	/* D1, L 1, 02 + 33 = 35; CS = 68+78+56+34+12+68+D1+01+35 */
	assert_wire(&f, "68 78 56 34 12 00 00 68 D1 01 35 EB 16");
	f = decoded("68 78 56 34 12 00 00 68 D1 01 35 EB 16");
	int64_t v = 5;
	uint8_t err = 0;
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 4, 0, &v, &err), DLT_REPLY_ERROR);
	ck_assert_uint_eq(err, 0x02);
	ck_assert_int_eq(v, 5);
	const uint8_t *p = NULL;
	size_t n = 0;
	err = 0;
	ck_assert_int_eq(dlt_read_data(&f, 0x04000503, &p, &n, &err), DLT_REPLY_ERROR);
	ck_assert_uint_eq(err, 0x02);
	ck_assert_ptr_null(p);
	/* an error reply must carry exactly its one byte */
	f.len = 2;
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 4, 0, &v, &err), DLT_REPLY_LENGTH);
	/* raw data for non-BCD values (status word 3) */
	ck_assert_int_eq(dlt_read_reply(&f, METER, 0x04000503, (const uint8_t *)"\x10\x00", 2), 0);
	ck_assert_int_eq(dlt_read_data(&f, 0x04000503, &p, &n, &err), DLT_REPLY_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_eq(p, f.data + 4);
	ck_assert_uint_eq(p[0], 0x10);
}
END_TEST

START_TEST(control_round_trip)
{
	struct dlt_control c = {
		.password = {0x02, 0x12, 0x34, 0x56},
		.operator_code = {0x01, 0x00, 0x00, 0x00},
		.n1 = DLT_CTL_TRIP,
		.deadline = {.ss = 30, .mm = 5, .hh = 14, .day = 31, .month = 12, .year = 26},
	};
	struct dlt_frame f;
	ck_assert_int_eq(dlt_control_request(&f, METER, &c), 0);
	ck_assert_uint_eq(f.c, 0x1C);
	ck_assert_uint_eq(f.len, 16);
	ck_assert_mem_eq(f.data, "\x02\x12\x34\x56\x01\x00\x00\x00\x1A\x00\x30\x05\x14\x31\x12\x26", 16);
	uint8_t w[DLT_FRAME_MAX];
	size_t n = dlt_encode(&f, 1, w, sizeof w);
	ck_assert_uint_eq(n, 4 + 12 + 16);
	/* on the wire, each data byte +33: 35 45 67 89 34 33 33 33 4D 33 63 38 47 64 45 59 */
	ck_assert_mem_eq(w + 14, "\x35\x45\x67\x89\x34\x33\x33\x33\x4D\x33\x63\x38\x47\x64\x45\x59", 16);
	struct dlt_frame g;
	size_t used;
	ck_assert_int_eq(dlt_decode(w, n, &g, &used), DLT_OK);
	ck_assert_uint_eq(used, n);
	struct dlt_control back;
	memset(&back, 0, sizeof back);
	ck_assert_int_eq(dlt_control_parse(&g, &back), 0);
	ck_assert_mem_eq(back.password, c.password, 4);
	ck_assert_mem_eq(back.operator_code, c.operator_code, 4);
	ck_assert_uint_eq(back.n1, DLT_CTL_TRIP);
	ck_assert_int_eq(back.deadline.ss, 30);
	ck_assert_int_eq(back.deadline.mm, 5);
	ck_assert_int_eq(back.deadline.hh, 14);
	ck_assert_int_eq(back.deadline.day, 31);
	ck_assert_int_eq(back.deadline.month, 12);
	ck_assert_int_eq(back.deadline.year, 26);
	/* a deadline out of range is refused, so is a frame with one */
	c.deadline.month = 13;
	ck_assert_int_eq(dlt_control_request(&f, METER, &c), -1);
	g.data[14] = 0x13;
	ck_assert_int_eq(dlt_control_parse(&g, &back), -1);
	g.data[14] = 0x1A; /* not BCD */
	ck_assert_int_eq(dlt_control_parse(&g, &back), -1);
	g.data[14] = 0x12;
	g.data[9] = 0x01; /* N2 is reserved, 00 */
	ck_assert_int_eq(dlt_control_parse(&g, &back), -1);
	g.data[9] = 0x00;
	g.len = 15;
	ck_assert_int_eq(dlt_control_parse(&g, &back), -1);
	/* the meter's answers */
	uint8_t err = 0;
	dlt_control_ack(&f, METER);
	assert_wire(&f, "68 78 56 34 12 00 00 68 9C 00 80 16");
	ck_assert_int_eq(dlt_control_result(&f, &err), DLT_REPLY_OK);
	dlt_error_reply(&f, METER, DLT_FN_CONTROL, DLT_ERR_UNAUTHORISED);
	ck_assert_uint_eq(f.c, 0xDC);
	ck_assert_int_eq(dlt_control_result(&f, &err), DLT_REPLY_ERROR);
	ck_assert_uint_eq(err, 0x04);
	dlt_read_request(&f, METER, 0x00010000);
	ck_assert_int_eq(dlt_control_result(&f, &err), DLT_REPLY_UNEXPECTED);
	f.c = 0x9C;
	ck_assert_int_eq(dlt_control_result(&f, &err), DLT_REPLY_LENGTH);
}
END_TEST

START_TEST(signed_values)
{
	uint8_t b[4];
	int64_t v = 0;
	/* power XX.XXXX kW, 3 bytes: -1.2345 kW is 45 23 81 */
	ck_assert_int_eq(dlt_bcd_encode(-12345, 3, 1, b), 0);
	ck_assert_mem_eq(b, "\x45\x23\x81", 3);
	ck_assert_int_eq(dlt_bcd_decode(b, 3, 1, &v), 0);
	ck_assert_int_eq(v, -12345);
	/* read unsigned, the same bytes are not a value (8 is a digit, 81 is not a sign) */
	ck_assert_int_eq(dlt_bcd_decode(b, 3, 0, &v), 0);
	ck_assert_int_eq(v, 812345);
	ck_assert_int_eq(dlt_bcd_encode(12345, 3, 1, b), 0);
	ck_assert_mem_eq(b, "\x45\x23\x01", 3);
	/* negative zero is zero */
	ck_assert_int_eq(dlt_bcd_decode((const uint8_t *)"\x00\x80", 2, 1, &v), 0);
	ck_assert_int_eq(v, 0);
	/* through a reply: PF -0.500, X.XXX in 2 bytes */
	struct dlt_frame f;
	ck_assert_int_eq(dlt_bcd_encode(-500, 2, 1, b), 0);
	ck_assert_int_eq(dlt_read_reply(&f, METER, 0x02060000, b, 2), 0);
	uint8_t w[DLT_FRAME_MAX];
	size_t n = dlt_encode(&f, 0, w, sizeof w), used;
	struct dlt_frame g;
	ck_assert_int_eq(dlt_decode(w, n, &g, &used), DLT_OK);
	uint8_t err;
	ck_assert_int_eq(dlt_read_value(&g, 0x02060000, 2, 1, &v, &err), DLT_REPLY_OK);
	ck_assert_int_eq(v, -500);
	/* unsigned refuses a negative */
	memcpy(b, "\x11\x22\x33\x44", 4);
	ck_assert_int_eq(dlt_bcd_encode(-1, 4, 0, b), -1);
	ck_assert_mem_eq(b, "\x11\x22\x33\x44", 4);
}
END_TEST

START_TEST(bcd_limits)
{
	uint8_t b[10];
	int64_t v;
	/* 9 bytes, 18 digits: the most an int64 always holds */
	ck_assert_int_eq(dlt_bcd_encode(INT64_C(999999999999999999), 9, 0, b), 0);
	ck_assert_int_eq(dlt_bcd_decode(b, 9, 0, &v), 0);
	ck_assert_int_eq(v, INT64_C(999999999999999999));
	ck_assert_int_eq(dlt_bcd_encode(INT64_C(1000000000000000000), 9, 0, b), -1);
	ck_assert_int_eq(dlt_bcd_encode(INT64_MAX, 9, 0, b), -1);
	ck_assert_int_eq(dlt_bcd_encode(INT64_MIN, 9, 1, b), -1);
	ck_assert_int_eq(dlt_bcd_encode(0, 10, 0, b), -1);
	ck_assert_int_eq(dlt_bcd_encode(0, 0, 0, b), -1);
	ck_assert_int_eq(dlt_bcd_decode(b, 10, 0, &v), -1);
	ck_assert_int_eq(dlt_bcd_decode(b, 0, 0, &v), -1);
	/* signed: the top digit gives its high bit to the sign */
	ck_assert_int_eq(dlt_bcd_encode(799999, 3, 1, b), 0);
	ck_assert_int_eq(dlt_bcd_encode(-799999, 3, 1, b), 0);
	ck_assert_mem_eq(b, "\x99\x99\xF9", 3);
	ck_assert_int_eq(dlt_bcd_decode(b, 3, 1, &v), 0);
	ck_assert_int_eq(v, -799999);
	ck_assert_int_eq(dlt_bcd_encode(800000, 3, 1, b), -1);
	ck_assert_int_eq(dlt_bcd_encode(-800000, 3, 1, b), -1);
	ck_assert_int_eq(dlt_bcd_encode(999999, 3, 0, b), 0);
	ck_assert_int_eq(dlt_bcd_encode(1000000, 3, 0, b), -1);
	/* a reply with 10 value bytes has no int64 value */
	struct dlt_frame f;
	uint8_t ten[10] = {0};
	ck_assert_int_eq(dlt_read_reply(&f, METER, 0x00010000, ten, 10), 0);
	uint8_t err;
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 0, 0, &v, &err), DLT_REPLY_LENGTH);
	ck_assert_int_eq(dlt_read_reply(&f, METER, 0x00010000, NULL, 0), 0);
	ck_assert_int_eq(dlt_read_value(&f, 0x00010000, 0, 0, &v, &err), DLT_REPLY_LENGTH);
}
END_TEST

START_TEST(frame_limits)
{
	struct dlt_frame f;
	uint8_t big[DLT_DATA_MAX] = {0};
	ck_assert_int_eq(dlt_read_reply(&f, METER, 0x00010000, big, DLT_DATA_MAX - 4), 0);
	ck_assert_uint_eq(f.len, DLT_DATA_MAX);
	ck_assert_int_eq(dlt_read_reply(&f, WILD, 0x1, big, DLT_DATA_MAX - 3), -1);
	ck_assert_mem_eq(f.addr, METER, 6); /* unchanged */
	/* the largest frame fits DLT_FRAME_MAX exactly, and not one byte less */
	uint8_t w[DLT_FRAME_MAX];
	ck_assert_uint_eq(dlt_encode(&f, 1, w, sizeof w), DLT_FRAME_MAX);
	ck_assert_uint_eq(dlt_encode(&f, 1, w, sizeof w - 1), 0);
	ck_assert_uint_eq(dlt_encode(&f, 0, w, DLT_FRAME_MAX - DLT_PREAMBLE), DLT_FRAME_MAX - DLT_PREAMBLE);
	struct dlt_frame g;
	size_t used;
	ck_assert_int_eq(dlt_decode(w, DLT_FRAME_MAX - DLT_PREAMBLE, &g, &used), DLT_OK);
	ck_assert_uint_eq(g.len, DLT_DATA_MAX);
	/* a frame with no data */
	dlt_control_ack(&f, METER);
	ck_assert_uint_eq(dlt_encode(&f, 0, w, 12), 12);
	ck_assert_uint_eq(dlt_encode(&f, 0, w, 11), 0);
	/* names for the logs */
	ck_assert_str_eq(dlt_status_name(DLT_BAD_SUM), "bad_checksum");
	ck_assert_str_eq(dlt_reply_name(DLT_REPLY_BAD_BCD), "bad_bcd");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dlt645");
	TCase *core = tcase_create("core");
	tcase_add_test(core, golden_read_requests);
	tcase_add_test(core, golden_reply_value);
	tcase_add_test(core, addresses);
	tcase_add_test(core, preamble_and_garbage_skipped);
	tcase_add_test(core, split_frame_needs_more);
	tcase_add_test(core, bad_checksum_refused);
	tcase_add_test(core, bad_framing_refused);
	tcase_add_test(core, bad_bcd_refused);
	tcase_add_test(core, error_reply_reported);
	tcase_add_test(core, control_round_trip);
	tcase_add_test(core, signed_values);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, bcd_limits);
	tcase_add_test(lim, frame_limits);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
