/* mbrtu.c: Modbus RTU framing, CRC-16, requests and replies of 03, 04 and 10 (see mbrtu.h). */
#include "core/mbrtu.h"

#include <string.h>

#define EXC_BIT 0x80

uint16_t mbrtu_crc(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 1 ? (crc >> 1) ^ 0xA001 : crc >> 1);
	}
	return crc;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Append the CRC of the len bytes at out (low byte first); returns the frame's length. */
static size_t seal(uint8_t *out, size_t len)
{
	uint16_t crc = mbrtu_crc(out, len);
	out[len] = (uint8_t)crc;
	out[len + 1] = (uint8_t)(crc >> 8);
	return len + 2;
}

/* 1 when the n bytes at p end with the CRC of those before it. */
static int crc_ok(const uint8_t *p, size_t n)
{
	return mbrtu_crc(p, n) == 0;
}

static int is_read(uint8_t fc)
{
	return fc == MBRTU_READ_HOLDING || fc == MBRTU_READ_INPUT;
}

/* 1 when r is a request these functions make and answer. */
static int valid_request(const struct mbrtu_req *r)
{
	if (is_read(r->fc))
		return r->count >= 1 && r->count <= MBRTU_READ_MAX;
	return r->fc == MBRTU_WRITE_MULTIPLE && r->count >= 1 && r->count <= MBRTU_WRITE_MAX;
}

const char *mbrtu_status_name(enum mbrtu_status s)
{
	switch (s) {
	case MBRTU_OK: return "ok";
	case MBRTU_MORE: return "more";
	case MBRTU_EXCEPTION: return "exception";
	case MBRTU_BAD_CRC: return "bad_crc";
	case MBRTU_OTHER_UNIT: return "other_unit";
	case MBRTU_BAD_FRAME: return "bad_frame";
	}
	return "?";
}

size_t mbrtu_request_encode(const struct mbrtu_req *r, uint8_t *out, size_t cap)
{
	if (!valid_request(r))
		return 0;
	size_t len = is_read(r->fc) ? MBRTU_READ_REQUEST_LEN : 9 + 2 * (size_t)r->count;
	if (len > cap)
		return 0;
	out[0] = r->unit;
	out[1] = r->fc;
	put16(out + 2, r->start);
	put16(out + 4, r->count);
	if (is_read(r->fc))
		return seal(out, 6);
	out[6] = (uint8_t)(2 * r->count);
	for (size_t i = 0; i < r->count; i++)
		put16(out + 7 + 2 * i, r->regs[i]);
	return seal(out, 7 + 2 * (size_t)r->count);
}

size_t mbrtu_reply_need(const struct mbrtu_req *r, const uint8_t *buf, size_t n)
{
	if (!valid_request(r))
		return 0;
	if (n < 1)
		return MBRTU_EXCEPTION_LEN;
	if (buf[0] != r->unit)
		return 0;
	if (n < 2)
		return MBRTU_EXCEPTION_LEN;
	if (buf[1] == (r->fc | EXC_BIT))
		return MBRTU_EXCEPTION_LEN;
	if (buf[1] != r->fc)
		return 0;
	if (r->fc == MBRTU_WRITE_MULTIPLE)
		return MBRTU_WRITE_REPLY_LEN;
	if (n >= 3 && buf[2] != 2 * r->count)
		return 0;
	return 5 + 2 * (size_t)r->count;
}

enum mbrtu_status mbrtu_reply_decode(const struct mbrtu_req *r, const uint8_t *buf, size_t n, uint16_t *regs,
				     uint8_t *code, size_t *used)
{
	size_t len = mbrtu_reply_need(r, buf, n);
	if (len == 0) {
		*used = n;
		return valid_request(r) && buf[0] != r->unit ? MBRTU_OTHER_UNIT : MBRTU_BAD_FRAME;
	}
	if (n < len) {
		*used = 0;
		return MBRTU_MORE;
	}
	*used = len;
	if (!crc_ok(buf, len))
		return MBRTU_BAD_CRC;
	if (buf[1] & EXC_BIT) {
		*code = buf[2];
		return MBRTU_EXCEPTION;
	}
	if (r->fc == MBRTU_WRITE_MULTIPLE) {
		if (get16(buf + 2) != r->start || get16(buf + 4) != r->count) {
			*used = n;
			return MBRTU_BAD_FRAME;
		}
		return MBRTU_OK;
	}
	for (size_t i = 0; i < r->count; i++)
		regs[i] = get16(buf + 3 + 2 * i);
	return MBRTU_OK;
}

enum mbrtu_status mbrtu_request_decode(const uint8_t *buf, size_t n, struct mbrtu_req *r, size_t *used)
{
	*used = 0;
	if (n < 2)
		return MBRTU_MORE;
	uint8_t fc = buf[1];
	size_t len;
	if (is_read(fc))
		len = MBRTU_READ_REQUEST_LEN;
	else if (fc != MBRTU_WRITE_MULTIPLE) {
		*used = 1;
		return MBRTU_BAD_FRAME;
	} else if (n < 7)
		return MBRTU_MORE;
	else
		len = 9 + (size_t)buf[6];
	if (n < len)
		return MBRTU_MORE;
	if (!crc_ok(buf, len)) {
		*used = 1;
		return MBRTU_BAD_CRC;
	}
	*used = len;
	r->unit = buf[0];
	r->fc = fc;
	r->start = get16(buf + 2);
	r->count = get16(buf + 4);
	if (!valid_request(r) || (fc == MBRTU_WRITE_MULTIPLE && buf[6] != 2 * r->count))
		return MBRTU_EXCEPTION;
	if (fc == MBRTU_WRITE_MULTIPLE)
		for (size_t i = 0; i < r->count; i++)
			r->regs[i] = get16(buf + 7 + 2 * i);
	return MBRTU_OK;
}

size_t mbrtu_reply_encode(const struct mbrtu_req *r, const uint16_t *regs, uint8_t *out, size_t cap)
{
	if (!valid_request(r))
		return 0;
	size_t len = is_read(r->fc) ? 5 + 2 * (size_t)r->count : MBRTU_WRITE_REPLY_LEN;
	if (len > cap)
		return 0;
	out[0] = r->unit;
	out[1] = r->fc;
	if (r->fc == MBRTU_WRITE_MULTIPLE) {
		put16(out + 2, r->start);
		put16(out + 4, r->count);
		return seal(out, 6);
	}
	out[2] = (uint8_t)(2 * r->count);
	for (size_t i = 0; i < r->count; i++)
		put16(out + 3 + 2 * i, regs[i]);
	return seal(out, 3 + 2 * (size_t)r->count);
}

size_t mbrtu_exception_encode(uint8_t unit, uint8_t fc, uint8_t code, uint8_t out[MBRTU_EXCEPTION_LEN])
{
	out[0] = unit;
	out[1] = (uint8_t)(fc | EXC_BIT);
	out[2] = code;
	return seal(out, 3);
}
