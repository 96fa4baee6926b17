/* dlt645.c: DL/T 645-2007 framing, BCD values, reads and remote control (see dlt645.h). */
#include "core/dlt645.h"

#include <string.h>

#define START 0x68
#define END 0x16
#define WAKE 0xFE
#define OFFSET 0x33
#define WILDCARD 0xAA
#define VALUE_MAX_BYTES 9 /* 18 digits: the most an int64 always holds */

static int digit(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : -1;
}

static int hexdigit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int dlt_addr_parse(const char *s, uint8_t addr[DLT_ADDR_LEN])
{
	if (!s || strlen(s) != 2 * DLT_ADDR_LEN)
		return -1;
	uint8_t a[DLT_ADDR_LEN];
	int digits_seen = 0;
	for (int i = 0; i < DLT_ADDR_LEN; i++) { /* s[0..1] is the high byte, A5 */
		const char *pair = s + 2 * i;
		uint8_t *b = &a[DLT_ADDR_LEN - 1 - i];
		if ((pair[0] == 'A' || pair[0] == 'a') && (pair[1] == 'A' || pair[1] == 'a')) {
			if (digits_seen)
				return -1; /* a wildcard below a digit pair */
			*b = WILDCARD;
			continue;
		}
		int hi = digit(pair[0]), lo = digit(pair[1]);
		if (hi < 0 || lo < 0)
			return -1;
		*b = (uint8_t)(hi << 4 | lo);
		digits_seen = 1;
	}
	memcpy(addr, a, sizeof a);
	return 0;
}

char *dlt_addr_format(const uint8_t addr[DLT_ADDR_LEN], char out[2 * DLT_ADDR_LEN + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	for (int i = 0; i < DLT_ADDR_LEN; i++) {
		uint8_t b = addr[DLT_ADDR_LEN - 1 - i];
		out[2 * i] = hex[b >> 4];
		out[2 * i + 1] = hex[b & 0x0F];
	}
	out[2 * DLT_ADDR_LEN] = 0;
	return out;
}

int dlt_addr_match(const uint8_t want[DLT_ADDR_LEN], const uint8_t got[DLT_ADDR_LEN])
{
	for (int i = 0; i < DLT_ADDR_LEN; i++)
		if (want[i] != WILDCARD && want[i] != got[i])
			return 0;
	return 1;
}

int dlt_hex_parse(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++)
		if (hexdigit(s[i]) < 0)
			return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(hexdigit(s[2 * i]) << 4 | hexdigit(s[2 * i + 1]));
	return 0;
}

/* The checksum of the wire bytes p[0..n): their sum mod 256. */
static uint8_t checksum(const uint8_t *p, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += p[i];
	return (uint8_t)sum;
}

size_t dlt_encode(const struct dlt_frame *f, int preamble, uint8_t *out, size_t cap)
{
	if (f->len > DLT_DATA_MAX)
		return 0;
	size_t pre = preamble ? DLT_PREAMBLE : 0, total = pre + DLT_OVERHEAD + f->len;
	if (total > cap)
		return 0;
	memset(out, WAKE, pre);
	uint8_t *p = out + pre;
	p[0] = START;
	memcpy(p + 1, f->addr, DLT_ADDR_LEN);
	p[7] = START;
	p[8] = f->c;
	p[9] = f->len;
	for (size_t i = 0; i < f->len; i++)
		p[10 + i] = (uint8_t)(f->data[i] + OFFSET);
	p[10 + f->len] = checksum(p, 10 + (size_t)f->len);
	p[11 + f->len] = END;
	return total;
}

const char *dlt_status_name(enum dlt_status s)
{
	switch (s) {
	case DLT_OK: return "ok";
	case DLT_MORE: return "more";
	case DLT_BAD_SUM: return "bad_checksum";
	case DLT_BAD_FRAME: return "bad_frame";
	}
	return "?";
}

enum dlt_status dlt_decode(const uint8_t *buf, size_t n, struct dlt_frame *f, size_t *used)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != START)
			continue;
		const uint8_t *p = buf + i;
		size_t left = n - i;
		if (left > 7 && p[7] != START)
			continue; /* a 68 that starts no header */
		if (left < 10) {
			*used = i;
			return DLT_MORE;
		}
		if (p[9] > DLT_DATA_MAX) {
			*used = i + 1;
			return DLT_BAD_FRAME;
		}
		size_t len = p[9], total = DLT_OVERHEAD + len;
		if (left < total) {
			*used = i;
			return DLT_MORE;
		}
		if (p[total - 1] != END) {
			*used = i + 1;
			return DLT_BAD_FRAME;
		}
		*used = i + total;
		if (checksum(p, 10 + len) != p[10 + len])
			return DLT_BAD_SUM;
		memcpy(f->addr, p + 1, DLT_ADDR_LEN);
		f->c = p[8];
		f->len = (uint8_t)len;
		for (size_t k = 0; k < len; k++)
			f->data[k] = (uint8_t)(p[10 + k] - OFFSET);
		return DLT_OK;
	}
	*used = n;
	return DLT_MORE;
}

int dlt_bcd_decode(const uint8_t *p, size_t n, int is_signed, int64_t *v)
{
	if (n < 1 || n > VALUE_MAX_BYTES)
		return -1;
	int negative = 0;
	int64_t x = 0;
	for (size_t i = n; i-- > 0;) { /* the most significant byte is the last */
		uint8_t b = p[i];
		if (is_signed && i == n - 1) {
			negative = (b & 0x80) != 0;
			b &= 0x7F;
		}
		if ((b >> 4) > 9 || (b & 0x0F) > 9)
			return -1;
		x = x * 100 + (b >> 4) * 10 + (b & 0x0F);
	}
	*v = negative ? -x : x;
	return 0;
}

int dlt_bcd_encode(int64_t v, size_t n, int is_signed, uint8_t *out)
{
	if (n < 1 || n > VALUE_MAX_BYTES || (v < 0 && !is_signed))
		return -1;
	/* the magnitude, INT64_MIN's included, without negating in int64 */
	uint64_t m = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
	uint8_t b[VALUE_MAX_BYTES];
	for (size_t i = 0; i < n; i++) {
		b[i] = (uint8_t)((m / 10 % 10) << 4 | m % 10);
		m /= 100;
	}
	if (m != 0 || (is_signed && (b[n - 1] & 0x80)))
		return -1;
	if (v < 0)
		b[n - 1] |= 0x80;
	memcpy(out, b, n);
	return 0;
}

const char *dlt_reply_name(enum dlt_reply r)
{
	switch (r) {
	case DLT_REPLY_OK: return "ok";
	case DLT_REPLY_ERROR: return "error_reply";
	case DLT_REPLY_UNEXPECTED: return "unexpected";
	case DLT_REPLY_OTHER_DI: return "other_di";
	case DLT_REPLY_LENGTH: return "length";
	case DLT_REPLY_BAD_BCD: return "bad_bcd";
	}
	return "?";
}

/* A frame to or from addr with control byte c and no data yet. */
static void frame_start(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], uint8_t c)
{
	memmove(f->addr, addr, DLT_ADDR_LEN); /* addr may be f's own */
	f->c = c;
	f->len = 0;
}

/* di's four bytes at p, DI0 first. */
static void put_di(uint8_t *p, uint32_t di)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(di >> (8 * i));
}

static uint32_t get_di(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void dlt_read_request(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], uint32_t di)
{
	frame_start(f, addr, DLT_FN_READ);
	put_di(f->data, di);
	f->len = 4;
}

int dlt_read_parse(const struct dlt_frame *f, uint32_t *di)
{
	if (f->c != DLT_FN_READ || f->len != 4)
		return -1;
	*di = get_di(f->data);
	return 0;
}

/* An error reply to fn: C fn|C0 and exactly one data byte. */
static enum dlt_reply error_reply(const struct dlt_frame *f, uint8_t *err)
{
	if (f->len != 1)
		return DLT_REPLY_LENGTH;
	*err = f->data[0];
	return DLT_REPLY_ERROR;
}

enum dlt_reply dlt_read_data(const struct dlt_frame *f, uint32_t di, const uint8_t **p, size_t *n,
			     uint8_t *err)
{
	if (f->c == (DLT_C_REPLY | DLT_C_ERROR | DLT_FN_READ))
		return error_reply(f, err);
	if (f->c != (DLT_C_REPLY | DLT_FN_READ) && f->c != (DLT_C_REPLY | DLT_C_MORE | DLT_FN_READ))
		return DLT_REPLY_UNEXPECTED;
	if (f->len < 4)
		return DLT_REPLY_LENGTH;
	if (get_di(f->data) != di)
		return DLT_REPLY_OTHER_DI;
	*p = f->data + 4;
	*n = f->len - 4u;
	return DLT_REPLY_OK;
}

enum dlt_reply dlt_read_value(const struct dlt_frame *f, uint32_t di, size_t nbytes, int is_signed, int64_t *v,
			      uint8_t *err)
{
	const uint8_t *p;
	size_t n;
	enum dlt_reply r = dlt_read_data(f, di, &p, &n, err);
	if (r != DLT_REPLY_OK)
		return r;
	if ((nbytes && n != nbytes) || n < 1 || n > VALUE_MAX_BYTES)
		return DLT_REPLY_LENGTH;
	return dlt_bcd_decode(p, n, is_signed, v) == 0 ? DLT_REPLY_OK : DLT_REPLY_BAD_BCD;
}

int dlt_read_reply(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], uint32_t di, const uint8_t *value,
		   size_t n)
{
	if (n > DLT_DATA_MAX - 4)
		return -1;
	if (n)
		memmove(f->data + 4, value, n); /* first: value may be in f->data */
	frame_start(f, addr, DLT_C_REPLY | DLT_FN_READ);
	put_di(f->data, di);
	f->len = (uint8_t)(4 + n);
	return 0;
}

void dlt_error_reply(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], uint8_t fn, uint8_t err)
{
	frame_start(f, addr, (uint8_t)(DLT_C_REPLY | DLT_C_ERROR | (fn & DLT_C_FN)));
	f->data[0] = err;
	f->len = 1;
}

/* N3..N8 of a remote-control frame: ss mm hh DD MM YY, and each field's range. */
static const int time_lo[6] = {0, 0, 0, 1, 1, 0}, time_hi[6] = {59, 59, 23, 31, 12, 99};

static void time_fields(const struct dlt_time *t, int x[6])
{
	x[0] = t->ss, x[1] = t->mm, x[2] = t->hh, x[3] = t->day, x[4] = t->month, x[5] = t->year;
}

#define CTL_LEN 16
#define CTL_N1 8  /* N1's offset in the data */
#define CTL_N2 9
#define CTL_TIME 10

int dlt_control_request(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], const struct dlt_control *c)
{
	int x[6];
	uint8_t when[6];
	time_fields(&c->deadline, x);
	for (int i = 0; i < 6; i++) {
		if (x[i] < time_lo[i] || x[i] > time_hi[i])
			return -1;
		when[i] = (uint8_t)((x[i] / 10) << 4 | x[i] % 10);
	}
	frame_start(f, addr, DLT_FN_CONTROL);
	memcpy(f->data, c->password, 4);
	memcpy(f->data + 4, c->operator_code, 4);
	f->data[CTL_N1] = c->n1;
	f->data[CTL_N2] = 0;
	memcpy(f->data + CTL_TIME, when, sizeof when);
	f->len = CTL_LEN;
	return 0;
}

int dlt_control_parse(const struct dlt_frame *f, struct dlt_control *c)
{
	if (f->c != DLT_FN_CONTROL || f->len != CTL_LEN || f->data[CTL_N2] != 0)
		return -1;
	int x[6];
	for (int i = 0; i < 6; i++) {
		int64_t v;
		if (dlt_bcd_decode(f->data + CTL_TIME + i, 1, 0, &v) != 0 || v < time_lo[i] || v > time_hi[i])
			return -1;
		x[i] = (int)v;
	}
	c->deadline = (struct dlt_time){.ss = x[0], .mm = x[1], .hh = x[2], .day = x[3], .month = x[4], .year = x[5]};
	memcpy(c->password, f->data, 4);
	memcpy(c->operator_code, f->data + 4, 4);
	c->n1 = f->data[CTL_N1];
	return 0;
}

void dlt_control_ack(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN])
{
	frame_start(f, addr, DLT_C_REPLY | DLT_FN_CONTROL);
}

enum dlt_reply dlt_control_result(const struct dlt_frame *f, uint8_t *err)
{
	if (f->c == (DLT_C_REPLY | DLT_C_ERROR | DLT_FN_CONTROL))
		return error_reply(f, err);
	if (f->c != (DLT_C_REPLY | DLT_FN_CONTROL))
		return DLT_REPLY_UNEXPECTED;
	return f->len == 0 ? DLT_REPLY_OK : DLT_REPLY_LENGTH;
}
