/* fuzz_meterframes.c: bytes as they come off a meter's line, through the gateway's and the
 * simulator's frame decoders: DL/T 645 (every frame of the stream, then read as a read
 * request and reply, a remote-control request and reply) and Modbus RTU (the slave's
 * request decoder over the stream, the master's reply decoder on what follows the first
 * request, and on the bytes after a first byte that picks a request); and frames of both
 * built from the bytes' fields, encoded and decoded back (checksums and CRCs are seldom
 * hit by chance). No crash, consumed never past the input, every cut of an accepted frame
 * waits for more, and what a decoder accepts encodes back to the same bytes. */
#include "core/dlt645.h"
#include "core/mbrtu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
	if (!ok)
		abort();
}

/* A value read from f as bytes, signed or not, re-encodes to them (a negative zero as 0). */
static void dlt_value(const struct dlt_frame *f, uint32_t di, int is_signed)
{
	int64_t v;
	uint8_t err = 0, back[16];
	if (dlt_read_value(f, di, 0, is_signed, &v, &err) != DLT_REPLY_OK)
		return;
	size_t n = f->len - 4u;
	require(dlt_bcd_encode(v, n, is_signed, back) == 0);
	uint8_t top = f->data[f->len - 1];
	if (is_signed && v == 0)
		top &= 0x7F;
	require(memcmp(back, f->data + 4, n - 1) == 0 && back[n - 1] == top);
}

static void dlt_frame_checks(const uint8_t *wire, const struct dlt_frame *f)
{
	size_t len = DLT_OVERHEAD + f->len, used;
	uint8_t out[DLT_FRAME_MAX];
	require(f->len <= DLT_DATA_MAX);
	require(dlt_encode(f, 0, out, sizeof out) == len && memcmp(out, wire, len) == 0);
	struct dlt_frame g;
	for (size_t k = 0; k < len; k++)
		require(dlt_decode(wire, k, &g, &used) == DLT_MORE && used == 0);
	char s[13];
	uint8_t a[DLT_ADDR_LEN];
	if (dlt_addr_parse(dlt_addr_format(f->addr, s), a) == 0)
		require(memcmp(a, f->addr, DLT_ADDR_LEN) == 0);
	uint32_t di = 0;
	if (dlt_read_parse(f, &di) == 0) {
		dlt_read_request(&g, f->addr, di);
		require(g.c == f->c && g.len == f->len && memcmp(g.data, f->data, f->len) == 0);
	}
	if (f->len >= 4) {
		di = (uint32_t)f->data[0] | (uint32_t)f->data[1] << 8 | (uint32_t)f->data[2] << 16 |
		     (uint32_t)f->data[3] << 24;
		const uint8_t *p = NULL;
		size_t n = 0;
		uint8_t err;
		if (dlt_read_data(f, di, &p, &n, &err) == DLT_REPLY_OK)
			require(p == f->data + 4 && n == f->len - 4u);
		dlt_value(f, di, 0);
		dlt_value(f, di, 1);
	}
	struct dlt_control c;
	if (dlt_control_parse(f, &c) == 0) {
		require(dlt_control_request(&g, f->addr, &c) == 0);
		require(g.c == f->c && g.len == f->len && memcmp(g.data, f->data, f->len) == 0);
	}
	uint8_t err = 0;
	enum dlt_reply r = dlt_control_result(f, &err);
	require(r != DLT_REPLY_ERROR || err == f->data[0]);
}

static void dlt_stream(const uint8_t *p, size_t n)
{
	for (;;) {
		struct dlt_frame f;
		size_t used = SIZE_MAX;
		enum dlt_status st = dlt_decode(p, n, &f, &used);
		require(used <= n);
		if (st == DLT_MORE)
			return;
		require(used > 0);
		if (st == DLT_OK) {
			require(used >= DLT_OVERHEAD + (size_t)f.len);
			dlt_frame_checks(p + used - (DLT_OVERHEAD + f.len), &f);
		}
		p += used;
		n -= used;
	}
}

/* A frame made of the input's fields (C, then the data), encoded, decodes to itself: the
 * frame checks then reach every C and any data without having to hit a checksum. */
static void dlt_built(const uint8_t *p, size_t n)
{
	static const uint8_t addr[DLT_ADDR_LEN] = {0x78, 0x56, 0x34, 0x12, 0x00, 0x00};
	struct dlt_frame f, g;
	memcpy(f.addr, addr, sizeof addr);
	f.c = p[0];
	f.len = (uint8_t)(n - 1 > DLT_DATA_MAX ? DLT_DATA_MAX : n - 1);
	memcpy(f.data, p + 1, f.len);
	uint8_t wire[DLT_FRAME_MAX];
	size_t len = dlt_encode(&f, (int)(n & 1), wire, sizeof wire), used = 0;
	require(len == DLT_OVERHEAD + f.len + (n & 1 ? DLT_PREAMBLE : 0));
	require(dlt_decode(wire, len, &g, &used) == DLT_OK && used == len);
	require(memcmp(g.addr, f.addr, DLT_ADDR_LEN) == 0 && g.c == f.c && g.len == f.len);
	require(memcmp(g.data, f.data, f.len) == 0);
	dlt_frame_checks(wire + len - (DLT_OVERHEAD + f.len), &g);
}

/* The n bytes at p as the reply to r: MORE exactly while mbrtu_reply_need says more is
 * due, and a good reply or exception encodes back to its bytes, every cut of it MORE. */
static void mb_reply(const struct mbrtu_req *r, const uint8_t *p, size_t n)
{
	uint16_t regs[MBRTU_READ_MAX];
	uint8_t code = 0, out[MBRTU_FRAME_MAX];
	size_t used = SIZE_MAX, need = mbrtu_reply_need(r, p, n);
	enum mbrtu_status st = mbrtu_reply_decode(r, p, n, regs, &code, &used);
	require(used <= n);
	require((st == MBRTU_MORE) == (need > n));
	if (st == MBRTU_OK) {
		require(used == need && mbrtu_reply_encode(r, regs, out, sizeof out) == used);
		require(memcmp(out, p, used) == 0);
	} else if (st == MBRTU_EXCEPTION) {
		require(used == MBRTU_EXCEPTION_LEN && mbrtu_exception_encode(r->unit, r->fc, code, out) == used);
		require(memcmp(out, p, used) == 0);
	} else
		return;
	for (size_t k = 0; k < used; k++)
		require(mbrtu_reply_decode(r, p, k, regs, &code, &used) == MBRTU_MORE);
}

/* The slave's view of the stream; returns how far its first good request reached (0 when
 * there is none) and that request in *first. */
static size_t mb_requests(const uint8_t *p, size_t n, struct mbrtu_req *first)
{
	size_t at = 0, first_end = 0;
	for (;;) {
		struct mbrtu_req r;
		uint8_t out[MBRTU_FRAME_MAX];
		size_t used = SIZE_MAX;
		enum mbrtu_status st = mbrtu_request_decode(p + at, n - at, &r, &used);
		require(used <= n - at);
		if (st == MBRTU_MORE)
			return first_end;
		require(used > 0);
		if (st == MBRTU_OK) {
			require(mbrtu_request_encode(&r, out, sizeof out) == used);
			require(memcmp(out, p + at, used) == 0);
			struct mbrtu_req q;
			size_t u;
			for (size_t k = 0; k < used; k++)
				require(mbrtu_request_decode(p + at, k, &q, &u) == MBRTU_MORE);
			if (!first_end) {
				*first = r;
				first_end = at + used;
			}
		} else if (st == MBRTU_EXCEPTION)
			require(mbrtu_request_encode(&r, out, sizeof out) == 0 || r.fc == MBRTU_WRITE_MULTIPLE);
		at += used;
	}
}

/* A request and its reply made of the input's fields encode, then decode to the same
 * fields on both sides: past the CRC, which fuzzing seldom hits. */
static void mb_built(const struct mbrtu_req *r, const uint8_t *p, size_t n)
{
	struct mbrtu_req w = *r, q;
	uint16_t regs[MBRTU_READ_MAX], back[MBRTU_READ_MAX];
	for (size_t i = 0; i < MBRTU_READ_MAX; i++)
		regs[i] = (uint16_t)(2 * i < n ? p[2 * i] << 8 | (2 * i + 1 < n ? p[2 * i + 1] : 0) : i);
	memcpy(w.regs, regs, sizeof w.regs);
	uint8_t out[MBRTU_FRAME_MAX], code = 0;
	size_t len = mbrtu_request_encode(&w, out, sizeof out), used;
	if (!len)
		return; /* a count past what a write carries */
	require(mbrtu_request_decode(out, len, &q, &used) == MBRTU_OK && used == len);
	require(q.unit == w.unit && q.fc == w.fc && q.start == w.start && q.count == w.count);
	if (w.fc == MBRTU_WRITE_MULTIPLE)
		require(memcmp(q.regs, w.regs, w.count * sizeof w.regs[0]) == 0);
	len = mbrtu_reply_encode(&w, regs, out, sizeof out);
	require(len > 0 && mbrtu_reply_decode(&w, out, len, back, &code, &used) == MBRTU_OK && used == len);
	if (w.fc != MBRTU_WRITE_MULTIPLE)
		require(memcmp(back, regs, w.count * sizeof regs[0]) == 0);
	mb_reply(&w, out, len);
	len = mbrtu_exception_encode(w.unit, w.fc, n ? p[0] : 0, out);
	require(mbrtu_reply_decode(&w, out, len, back, &code, &used) == MBRTU_EXCEPTION && code == (n ? p[0] : 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	dlt_stream(data, size);
	if (size >= 1)
		dlt_built(data, size);
	struct mbrtu_req first;
	size_t end = mb_requests(data, size, &first);
	if (end)
		mb_reply(&first, data + end, size - end);
	if (size >= 1) {
		/* the first byte picks a request: the function, and the count */
		static const uint8_t fcs[4] = {MBRTU_READ_HOLDING, MBRTU_READ_INPUT, MBRTU_WRITE_MULTIPLE,
					       MBRTU_WRITE_MULTIPLE};
		struct mbrtu_req r;
		memset(&r, 0, sizeof r);
		r.unit = size >= 2 ? data[1] : 1;
		r.fc = fcs[data[0] & 3];
		r.start = r.fc == MBRTU_WRITE_MULTIPLE ? 0x0057 : 0x0156;
		r.count = (uint16_t)(1 + (data[0] >> 2));
		mb_reply(&r, data + 1, size - 1);
		mb_built(&r, data + 1, size - 1);
	}
	return 0;
}
