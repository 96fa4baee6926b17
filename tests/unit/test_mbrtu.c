/* test_mbrtu.c: Modbus RTU framing against published frames (METERS.md 1a: Eastron,
 * Acrel; simplymodbus.ca's function 03 example; the CRC catalogue's check value): CRC,
 * requests and replies on both sides, exceptions, refusals, partial frames. */
#include "core/mbrtu.h"

#include "check_run.h"
#include <stdio.h>
#include <string.h>

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

static void assert_bytes(const uint8_t *got, size_t n, const char *want)
{
	uint8_t w[MBRTU_FRAME_MAX];
	size_t nw = hex(want, w);
	ck_assert_uint_eq(n, nw);
	ck_assert_mem_eq(got, w, nw);
}

static struct mbrtu_req req(uint8_t unit, uint8_t fc, uint16_t start, uint16_t count)
{
	struct mbrtu_req r;
	memset(&r, 0, sizeof r);
	r.unit = unit;
	r.fc = fc;
	r.start = start;
	r.count = count;
	return r;
}

#define EASTRON_READ "01 04 01 56 00 02 90 27"
#define ACREL_TRIP "01 10 00 57 00 02 04 00 01 00 01 27 75"
#define ACREL_CLOSE "01 10 00 57 00 02 04 00 01 00 00 E6 B5"

START_TEST(crc_known_values)
{
	ck_assert_uint_eq(mbrtu_crc((const uint8_t *)"123456789", 9), 0x4B37);
	uint8_t b[32];
	/* simplymodbus.ca, function 03: slave 17 reads 3 registers at 0x006B; its reply */
	size_t n = hex("11 03 00 6B 00 03 76 87", b);
	ck_assert_uint_eq(mbrtu_crc(b, n - 2), 0x8776); /* sent 76 87: low byte first */
	ck_assert_uint_eq(mbrtu_crc(b, n), 0);
	n = hex("11 03 06 AE 41 56 52 43 40 49 AD", b);
	ck_assert_uint_eq(mbrtu_crc(b, n - 2), 0xAD49);
	struct mbrtu_req r = req(0x11, MBRTU_READ_HOLDING, 0x006B, 3);
	uint16_t regs[3];
	uint8_t code;
	size_t used;
	ck_assert_int_eq(mbrtu_reply_decode(&r, b, n, regs, &code, &used), MBRTU_OK);
	ck_assert_uint_eq(used, n);
	ck_assert_uint_eq(regs[0], 0xAE41);
	ck_assert_uint_eq(regs[1], 0x5652);
	ck_assert_uint_eq(regs[2], 0x4340);
	uint8_t out[MBRTU_FRAME_MAX];
	assert_bytes(out, mbrtu_request_encode(&r, out, sizeof out), "11 03 00 6B 00 03 76 87");
	assert_bytes(out, mbrtu_reply_encode(&r, regs, out, sizeof out), "11 03 06 AE 41 56 52 43 40 49 AD");
}
END_TEST

START_TEST(golden_requests)
{
	uint8_t out[MBRTU_FRAME_MAX];
	struct mbrtu_req r = req(1, MBRTU_READ_INPUT, 0x0156, 2);
	assert_bytes(out, mbrtu_request_encode(&r, out, sizeof out), EASTRON_READ);
	r = req(1, MBRTU_WRITE_MULTIPLE, 0x0057, 2);
	r.regs[0] = 0x0001;
	r.regs[1] = 0x0001;
	assert_bytes(out, mbrtu_request_encode(&r, out, sizeof out), ACREL_TRIP);
	r.regs[1] = 0x0000;
	assert_bytes(out, mbrtu_request_encode(&r, out, sizeof out), ACREL_CLOSE);
}
END_TEST

START_TEST(slave_decodes_requests)
{
	uint8_t b[MBRTU_FRAME_MAX];
	struct mbrtu_req r;
	size_t used = 99, n = hex(EASTRON_READ, b);
	ck_assert_int_eq(mbrtu_request_decode(b, n, &r, &used), MBRTU_OK);
	ck_assert_uint_eq(used, 8);
	ck_assert_uint_eq(r.unit, 1);
	ck_assert_uint_eq(r.fc, 4);
	ck_assert_uint_eq(r.start, 0x0156);
	ck_assert_uint_eq(r.count, 2);
	n = hex(ACREL_TRIP " " ACREL_CLOSE, b);
	ck_assert_int_eq(mbrtu_request_decode(b, n, &r, &used), MBRTU_OK);
	ck_assert_uint_eq(used, 13);
	ck_assert_uint_eq(r.fc, 0x10);
	ck_assert_uint_eq(r.start, 0x0057);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_uint_eq(r.regs[0], 1);
	ck_assert_uint_eq(r.regs[1], 1);
	ck_assert_int_eq(mbrtu_request_decode(b + used, n - used, &r, &used), MBRTU_OK);
	ck_assert_uint_eq(r.regs[1], 0);
	/* the write's reply echoes start and count, and the master takes it */
	uint8_t out[MBRTU_FRAME_MAX];
	size_t len = mbrtu_reply_encode(&r, NULL, out, sizeof out);
	assert_bytes(out, len, "01 10 00 57 00 02 F0 18");
	uint8_t code;
	ck_assert_int_eq(mbrtu_reply_decode(&r, out, len, NULL, &code, &used), MBRTU_OK);
	ck_assert_uint_eq(used, 8);
	/* an echo of another start is not the reply */
	struct mbrtu_req other = r;
	other.start = 0x0058;
	ck_assert_int_eq(mbrtu_reply_decode(&other, out, len, NULL, &code, &used), MBRTU_BAD_FRAME);
	ck_assert_uint_eq(used, len);
}
END_TEST

START_TEST(read_reply_round_trip)
{
	/* Eastron's total kWh as float32 ABCD, 1234.56 = 44 9A 51 EC */
	struct mbrtu_req r = req(1, MBRTU_READ_INPUT, 0x0156, 2);
	uint16_t regs[2] = {0x449A, 0x51EC}, back[2] = {0, 0};
	uint8_t out[MBRTU_FRAME_MAX], code;
	size_t n = mbrtu_reply_encode(&r, regs, out, sizeof out), used;
	ck_assert_uint_eq(n, 9);
	ck_assert_uint_eq(mbrtu_reply_need(&r, out, 0), 5);
	ck_assert_uint_eq(mbrtu_reply_need(&r, out, 2), 9);
	ck_assert_int_eq(mbrtu_reply_decode(&r, out, n, back, &code, &used), MBRTU_OK);
	ck_assert_uint_eq(used, 9);
	ck_assert_mem_eq(back, regs, sizeof regs);
}
END_TEST

START_TEST(exception_decoded)
{
	uint8_t b[16], code = 0;
	struct mbrtu_req r = req(1, MBRTU_READ_HOLDING, 0x9000, 2);
	uint16_t regs[2] = {7, 7};
	size_t used, n = hex("01 83 02 C0 F1", b);
	ck_assert_uint_eq(mbrtu_reply_need(&r, b, 2), 5);
	ck_assert_int_eq(mbrtu_reply_decode(&r, b, n, regs, &code, &used), MBRTU_EXCEPTION);
	ck_assert_uint_eq(code, MBRTU_EXC_ILLEGAL_ADDRESS);
	ck_assert_uint_eq(used, 5);
	ck_assert_uint_eq(regs[0], 7); /* not written */
	uint8_t out[MBRTU_EXCEPTION_LEN];
	assert_bytes(out, mbrtu_exception_encode(1, MBRTU_READ_HOLDING, MBRTU_EXC_ILLEGAL_ADDRESS, out),
		     "01 83 02 C0 F1");
	/* an exception to another function is not an answer to this request */
	r.fc = MBRTU_READ_INPUT;
	ck_assert_int_eq(mbrtu_reply_decode(&r, b, n, regs, &code, &used), MBRTU_BAD_FRAME);
	ck_assert_uint_eq(used, n);
	/* a write's device failure */
	r = req(1, MBRTU_WRITE_MULTIPLE, 0x0057, 2);
	mbrtu_exception_encode(1, MBRTU_WRITE_MULTIPLE, MBRTU_EXC_DEVICE_FAILURE, out);
	ck_assert_int_eq(mbrtu_reply_decode(&r, out, 5, NULL, &code, &used), MBRTU_EXCEPTION);
	ck_assert_uint_eq(code, 4);
	ck_assert_str_eq(mbrtu_status_name(MBRTU_EXCEPTION), "exception");
}
END_TEST

START_TEST(bad_crc_refused)
{
	uint8_t b[16], code;
	struct mbrtu_req r = req(0x11, MBRTU_READ_HOLDING, 0x006B, 3);
	uint16_t regs[3] = {0, 0, 0};
	size_t used, n = hex("11 03 06 AE 41 56 52 43 40 49 AE", b);
	ck_assert_int_eq(mbrtu_reply_decode(&r, b, n, regs, &code, &used), MBRTU_BAD_CRC);
	ck_assert_uint_eq(used, n);
	ck_assert_uint_eq(regs[0], 0);
	n = hex("11 03 06 AE 41 57 52 43 40 49 AD", b); /* a data bit flipped */
	ck_assert_int_eq(mbrtu_reply_decode(&r, b, n, regs, &code, &used), MBRTU_BAD_CRC);
	/* the slave refuses a bad request and slides on by one byte */
	struct mbrtu_req q;
	n = hex("01 04 01 56 00 02 90 28", b);
	ck_assert_int_eq(mbrtu_request_decode(b, n, &q, &used), MBRTU_BAD_CRC);
	ck_assert_uint_eq(used, 1);
	/* one byte of noise, then the request */
	n = hex("07 " EASTRON_READ, b);
	ck_assert_int_eq(mbrtu_request_decode(b, n, &q, &used), MBRTU_BAD_FRAME);
	ck_assert_uint_eq(used, 1);
	ck_assert_int_eq(mbrtu_request_decode(b + 1, n - 1, &q, &used), MBRTU_OK);
	ck_assert_uint_eq(q.start, 0x0156);
}
END_TEST

START_TEST(other_unit_refused)
{
	/* a good reply, CRC and all, from unit 2 to a request to unit 1 */
	struct mbrtu_req r2 = req(2, MBRTU_READ_INPUT, 0x0156, 2), r1 = req(1, MBRTU_READ_INPUT, 0x0156, 2);
	uint16_t regs[2] = {0x449A, 0x51EC};
	uint8_t out[MBRTU_FRAME_MAX], code;
	size_t n = mbrtu_reply_encode(&r2, regs, out, sizeof out), used;
	ck_assert_int_eq(mbrtu_reply_decode(&r2, out, n, regs, &code, &used), MBRTU_OK);
	ck_assert_int_eq(mbrtu_reply_decode(&r1, out, n, regs, &code, &used), MBRTU_OTHER_UNIT);
	ck_assert_uint_eq(used, n);
	ck_assert_uint_eq(mbrtu_reply_need(&r1, out, 1), 0);
	ck_assert_int_eq(mbrtu_reply_decode(&r1, out, 1, regs, &code, &used), MBRTU_OTHER_UNIT);
	/* and a reply of another size than asked for */
	struct mbrtu_req r3 = req(2, MBRTU_READ_INPUT, 0x0156, 3);
	ck_assert_uint_eq(mbrtu_reply_need(&r3, out, 3), 0);
	ck_assert_int_eq(mbrtu_reply_decode(&r3, out, n, regs, &code, &used), MBRTU_BAD_FRAME);
	/* or another function */
	struct mbrtu_req r4 = req(2, MBRTU_READ_HOLDING, 0x0156, 2);
	ck_assert_int_eq(mbrtu_reply_decode(&r4, out, n, regs, &code, &used), MBRTU_BAD_FRAME);
}
END_TEST

START_TEST(partial_frames_need_more)
{
	uint8_t b[MBRTU_FRAME_MAX], code;
	struct mbrtu_req r = req(0x11, MBRTU_READ_HOLDING, 0x006B, 3);
	uint16_t regs[3];
	size_t used = 99, n = hex("11 03 06 AE 41 56 52 43 40 49 AD", b);
	for (size_t k = 0; k < n; k++) {
		ck_assert_msg(mbrtu_reply_decode(&r, b, k, regs, &code, &used) == MBRTU_MORE, "cut at %zu", k);
		ck_assert_uint_eq(used, 0);
		size_t need = mbrtu_reply_need(&r, b, k);
		ck_assert_msg(need > k && need <= n, "need %zu at %zu", need, k);
	}
	ck_assert_uint_eq(mbrtu_reply_need(&r, b, n), n);
	/* the write's reply */
	struct mbrtu_req w = req(1, MBRTU_WRITE_MULTIPLE, 0x0057, 2);
	n = hex("01 10 00 57 00 02 F0 18", b);
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(mbrtu_reply_decode(&w, b, k, NULL, &code, &used), MBRTU_MORE);
	ck_assert_int_eq(mbrtu_reply_decode(&w, b, n, NULL, &code, &used), MBRTU_OK);
	/* the slave's side: each request, cut anywhere */
	struct mbrtu_req q;
	n = hex(ACREL_TRIP, b);
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(mbrtu_request_decode(b, k, &q, &used) == MBRTU_MORE && used == 0, "cut at %zu", k);
	n = hex(EASTRON_READ, b);
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(mbrtu_request_decode(b, k, &q, &used), MBRTU_MORE);
}
END_TEST

START_TEST(request_limits)
{
	uint8_t out[MBRTU_FRAME_MAX];
	struct mbrtu_req r = req(1, MBRTU_READ_HOLDING, 0, 0);
	ck_assert_uint_eq(mbrtu_request_encode(&r, out, sizeof out), 0);
	r.count = MBRTU_READ_MAX;
	ck_assert_uint_eq(mbrtu_request_encode(&r, out, sizeof out), 8);
	ck_assert_uint_eq(mbrtu_request_encode(&r, out, 7), 0);
	r.count = MBRTU_READ_MAX + 1;
	ck_assert_uint_eq(mbrtu_request_encode(&r, out, sizeof out), 0);
	r = req(1, 0x06, 0, 1); /* write single: not spoken here */
	ck_assert_uint_eq(mbrtu_request_encode(&r, out, sizeof out), 0);
	ck_assert_uint_eq(mbrtu_reply_need(&r, out, 0), 0);
	/* the largest write and the largest read reply are 255 bytes */
	r = req(1, MBRTU_WRITE_MULTIPLE, 0, MBRTU_WRITE_MAX);
	for (int i = 0; i < MBRTU_WRITE_MAX; i++)
		r.regs[i] = (uint16_t)(i * 257);
	size_t n = mbrtu_request_encode(&r, out, sizeof out), used;
	ck_assert_uint_eq(n, 255);
	struct mbrtu_req q;
	ck_assert_int_eq(mbrtu_request_decode(out, n, &q, &used), MBRTU_OK);
	ck_assert_uint_eq(used, 255);
	ck_assert_mem_eq(q.regs, r.regs, sizeof r.regs);
	r.count = MBRTU_WRITE_MAX + 1;
	ck_assert_uint_eq(mbrtu_request_encode(&r, out, sizeof out), 0);
	r = req(1, MBRTU_READ_INPUT, 0, MBRTU_READ_MAX);
	uint16_t regs[MBRTU_READ_MAX] = {0};
	ck_assert_uint_eq(mbrtu_reply_encode(&r, regs, out, sizeof out), 255);
	ck_assert_uint_eq(mbrtu_reply_encode(&r, regs, out, 254), 0);
	/* a read of 0 or 126 registers, CRC good: the slave answers illegal value */
	uint8_t b[16];
	n = hex("01 03 00 00 00 00", b);
	uint16_t crc = mbrtu_crc(b, n);
	b[n++] = (uint8_t)crc;
	b[n++] = (uint8_t)(crc >> 8);
	ck_assert_int_eq(mbrtu_request_decode(b, n, &q, &used), MBRTU_EXCEPTION);
	ck_assert_uint_eq(used, 8);
	ck_assert_uint_eq(q.count, 0);
	/* a write whose byte count is not twice its count */
	n = hex("01 10 00 57 00 02 02 00 01", b);
	crc = mbrtu_crc(b, n);
	b[n++] = (uint8_t)crc;
	b[n++] = (uint8_t)(crc >> 8);
	ck_assert_int_eq(mbrtu_request_decode(b, n, &q, &used), MBRTU_EXCEPTION);
	ck_assert_uint_eq(used, 11);
	ck_assert_uint_eq(q.start, 0x0057);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mbrtu");
	TCase *core = tcase_create("core");
	tcase_add_test(core, crc_known_values);
	tcase_add_test(core, golden_requests);
	tcase_add_test(core, slave_decodes_requests);
	tcase_add_test(core, read_reply_round_trip);
	tcase_add_test(core, exception_decoded);
	tcase_add_test(core, bad_crc_refused);
	tcase_add_test(core, other_unit_refused);
	tcase_add_test(core, partial_frames_need_more);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, request_limits);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
