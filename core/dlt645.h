/* dlt645.h: DL/T 645-2007 frames, the Chinese meter protocol (master and slave side), as
 * a pure codec: bytes in, structs out and back; no I/O, no allocation, no clock. The wire
 * facts and their sources are in METERS.md, section 1b.
 *
 * A frame on the wire: [FE FE FE FE] 68 A0..A5 68 C L D0..D(L-1) CS 16, where the address
 * is 6 BCD bytes low byte first, every data byte is sent +0x33, and CS is the sum mod 256
 * of every byte from the first 68 through the last data byte. struct dlt_frame holds a
 * frame without the wire's offsets: data as the meter means it (0x33 taken off).
 *
 * Who owns what: every function writes only into memory its caller passes and keeps no
 * pointer to it; nothing here has state, so any of it may run on any thread. */
#ifndef WATTLE_DLT645_H
#define WATTLE_DLT645_H

#include <stddef.h>
#include <stdint.h>

#define DLT_ADDR_LEN 6
/* The standard's limit on L (a read reply carries at most 200 data bytes). */
#define DLT_DATA_MAX 200
/* Bytes of a frame around its data: 68, address, 68, C, L, CS, 16. */
#define DLT_OVERHEAD 12
/* FE bytes dlt_encode sends before a frame when asked (they wake a meter's UART). */
#define DLT_PREAMBLE 4
/* Room for any frame dlt_encode can write, preamble included (216). */
#define DLT_FRAME_MAX (DLT_PREAMBLE + DLT_OVERHEAD + DLT_DATA_MAX)

/* The control byte C. */
#define DLT_C_REPLY 0x80 /* D7: sent by the meter */
#define DLT_C_ERROR 0x40 /* D6: an error reply (data is one error byte) */
#define DLT_C_MORE 0x20  /* D5: follow-up frames come after this one */
#define DLT_C_FN 0x1F    /* D4-D0: the function */
#define DLT_FN_READ 0x11
#define DLT_FN_CONTROL 0x1C /* remote control: trip and close the relay */

/* The error byte of an error reply, bit by bit (several may be set). */
#define DLT_ERR_OTHER 0x01
#define DLT_ERR_NO_DATA 0x02      /* no such data identifier */
#define DLT_ERR_UNAUTHORISED 0x04 /* wrong password or not permitted */
#define DLT_ERR_BAUD 0x08         /* the baud rate cannot be changed */
#define DLT_ERR_ZONES 0x10        /* too many yearly time zones */
#define DLT_ERR_SEGMENTS 0x20     /* too many daily time segments */
#define DLT_ERR_TARIFFS 0x40      /* too many tariffs */

/* N1 of a remote-control frame. */
#define DLT_CTL_TRIP 0x1A          /* open the relay */
#define DLT_CTL_CLOSE_ALLOWED 0x1B /* allow closing: the tenant presses the meter's button */
#define DLT_CTL_CLOSE 0x1C         /* close the relay now */

/* A frame as the meter means it. */
struct dlt_frame {
	uint8_t addr[DLT_ADDR_LEN]; /* as on the wire: A0 (the lowest two digits) first */
	uint8_t c;                  /* the control byte */
	uint8_t len;                /* L: bytes in data, 0..DLT_DATA_MAX */
	uint8_t data[DLT_DATA_MAX]; /* the first len bytes, 0x33 already taken off */
};

/* --- addresses --- */

/* A meter address as written on its nameplate, 12 characters, to the wire bytes: the
 * meter number "000012345678" gives 78 56 34 12 00 00. Each pair of characters is two
 * decimal digits or "AA" (either case), the wildcard byte; wildcards may only fill the
 * high end ("AAAAAAAAAAAA" addresses any meter, "AAAA12345678" any whose low eight digits
 * are these). "999999999999" is the broadcast address (meters do not answer it). Returns
 * 0, or -1 for anything else (NULL, another length, other characters, a wildcard below a
 * digit pair); addr is then unchanged. */
int dlt_addr_parse(const char *s, uint8_t addr[DLT_ADDR_LEN]);

/* The 12 characters of addr, high byte first, each byte as two upper-case hex digits (so
 * digits for BCD, "AA" for a wildcard; the inverse of dlt_addr_parse), into out, which is
 * NUL-terminated. Returns out. */
char *dlt_addr_format(const uint8_t addr[DLT_ADDR_LEN], char out[2 * DLT_ADDR_LEN + 1]);

/* 1 when a reply from the address got answers a request to want: each byte equal, or
 * want's byte the wildcard AA (any got byte matches it); else 0. */
int dlt_addr_match(const uint8_t want[DLT_ADDR_LEN], const uint8_t got[DLT_ADDR_LEN]);

/* Exactly 2n hex digits (either case) to n bytes in the order written, into out: for a
 * configured password ("02000000": PA first, then P0..P2) or operator code ("00000000":
 * C0 first), which go on the wire in that order. Returns 0, or -1 (out is then
 * unchanged). */
int dlt_hex_parse(const char *s, uint8_t *out, size_t n);

/* --- frames --- */

/* The wire bytes of f (f->len <= DLT_DATA_MAX) into out: with preamble set, DLT_PREAMBLE
 * bytes of FE first; then 68, the address, 68, C, L, each data byte +0x33, CS, 16.
 * Returns the bytes written, DLT_OVERHEAD + f->len (+ DLT_PREAMBLE), or 0 when they do
 * not fit in cap (nothing is then written) or f->len is over DLT_DATA_MAX. */
size_t dlt_encode(const struct dlt_frame *f, int preamble, uint8_t *out, size_t cap);

enum dlt_status {
	DLT_OK,        /* a frame, in *f */
	DLT_MORE,      /* no complete frame yet: append what arrives next and call again */
	DLT_BAD_SUM,   /* a frame with a wrong checksum (f not written): count it, drop it */
	DLT_BAD_FRAME, /* a header (68, six bytes, 68) whose L is over DLT_DATA_MAX or that has
			* no 16 where its end should be: not a frame (f not written) */
};

/* "ok", "more", "bad_checksum", "bad_frame": for logs and counters. */
const char *dlt_status_name(enum dlt_status s);

/* Find the first frame in the n bytes of buf, as they came from a serial port or a TCP
 * stream: any bytes before a frame (FE preambles, line noise, a half frame) are skipped,
 * and a frame may be incomplete. *used is always set to how many bytes at the front of
 * buf the caller drops before it calls again (more bytes appended or not):
 *   DLT_OK         the frame and everything before it; the frame is the last
 *                  DLT_OVERHEAD + f->len of those bytes;
 *   DLT_MORE       the bytes before where a frame may start (all n when none can), so
 *                  the caller keeps the rest and appends to it;
 *   DLT_BAD_SUM    the bad frame and everything before it;
 *   DLT_BAD_FRAME  everything through the header's first 68, so the next call looks
 *                  for a frame after it.
 * Call in a loop until DLT_MORE; every other status consumes at least one byte. buf is
 * only read. Noise that happens to look like a header (a 68, six bytes, a 68) makes the
 * call wait for the length it names before it is refused: a master's reply timeout covers
 * that, as it covers a meter that does not answer. */
enum dlt_status dlt_decode(const uint8_t *buf, size_t n, struct dlt_frame *f, size_t *used);

/* --- BCD values --- */

/* The n bytes at p (1..9), low byte first, each two BCD digits, as the number they write
 * (56 34 12 00 -> 123456: the raw digits; the decimal point is the caller's, from the
 * data identifier's format, here XXXXXX.XX = 1234.56). Signed: the top bit of the most
 * significant (last) byte is the sign and not a digit (80 00 12 -> -1200; a negative
 * zero is 0). Returns 0, or -1 when a nibble is over 9 or n is not 1..9 (*v unchanged). */
int dlt_bcd_decode(const uint8_t *p, size_t n, int is_signed, int64_t *v);

/* v as n BCD bytes (1..9) at out, low byte first; signed sets the top bit of the last
 * byte for a negative v. Returns 0, or -1 when v does not fit: negative and not signed,
 * more than 2n digits, or, signed, a magnitude whose top digit is over 7 (the sign takes
 * its high bit: 3 signed bytes hold -799999..799999). out is then unchanged. */
int dlt_bcd_encode(int64_t v, size_t n, int is_signed, uint8_t *out);

/* --- reading data (function 11) --- */

/* What a reply to our request turned out to be. */
enum dlt_reply {
	DLT_REPLY_OK,         /* the reply we asked for */
	DLT_REPLY_ERROR,      /* the meter refused: *err holds its error byte (DLT_ERR_*) */
	DLT_REPLY_UNEXPECTED, /* not a reply to this function (another C; a request) */
	DLT_REPLY_OTHER_DI,   /* a read reply for another data identifier */
	DLT_REPLY_LENGTH,     /* L does not fit the reply: a read reply shorter than its DI or
			       * whose value has another size, an error reply without exactly
			       * one byte, a 9C with data */
	DLT_REPLY_BAD_BCD,    /* a nibble over 9 in a value */
};

/* "ok", "error_reply", "unexpected", "other_di", "length", "bad_bcd". */
const char *dlt_reply_name(enum dlt_reply r);

/* The request to read data identifier di (DI3 in the top byte: 0x00010000 is forward
 * active energy, total) from the meter at addr, into *f (C 11, L 4, DI0 first: 00 00 01
 * 00). Send it with dlt_encode. */
void dlt_read_request(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], uint32_t di);

/* The meter's side: if f is a read request (C 11, L 4), its data identifier in *di and 0;
 * else -1. A read with L 5 or 10 (load records: a count and a time) is -1 here. */
int dlt_read_parse(const struct dlt_frame *f, uint32_t *di);

/* A read reply's data, as bytes: f must be C 91 (or B1: more frames follow; this frame's
 * data is read) starting with di; then *p points at the bytes after the DI, inside f (valid
 * while f is), *n is their count (0 or more) and the result DLT_REPLY_OK. C D1 with one
 * data byte is DLT_REPLY_ERROR with that byte in *err. *p, *n and *err are written only
 * with the results that name them. For non-BCD data such as status word 3 (04000503,
 * the relay's state). */
enum dlt_reply dlt_read_data(const struct dlt_frame *f, uint32_t di, const uint8_t **p, size_t *n,
			     uint8_t *err);

/* A read reply's value: dlt_read_data, then dlt_bcd_decode of the bytes after the DI into
 * *v. nbytes is the value's size by the DI's format (4 for energy XXXXXX.XX, 2 for voltage
 * XXX.X, 3 for current XXX.XXX and power XX.XXXX, 2 for PF X.XXX) and must equal what
 * follows the DI (else DLT_REPLY_LENGTH); 0 takes what follows, which must be 1..9 bytes.
 * is_signed for values with a sign bit (power, current, PF). A nibble over 9 is
 * DLT_REPLY_BAD_BCD, never a value. *v is written only with DLT_REPLY_OK, *err only with
 * DLT_REPLY_ERROR. */
enum dlt_reply dlt_read_value(const struct dlt_frame *f, uint32_t di, size_t nbytes, int is_signed, int64_t *v,
			      uint8_t *err);

/* The meter's side: the reply 91 to a read of di with the n value bytes at value (as the
 * meter means them: dlt_bcd_encode's output), into *f. Returns 0, or -1 when 4 + n is
 * over DLT_DATA_MAX (f is then unchanged). value may be NULL when n is 0. */
int dlt_read_reply(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], uint32_t di, const uint8_t *value,
		   size_t n);

/* The meter's side: the error reply to function fn (DLT_FN_READ gives C D1,
 * DLT_FN_CONTROL C DC) carrying the error byte err, into *f. */
void dlt_error_reply(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], uint8_t fn, uint8_t err);

/* --- remote control (function 1C): the relay --- */

/* A time as the meter's clock reads it; year is two digits (2026 is 26). */
struct dlt_time {
	int ss, mm, hh; /* 0..59, 0..59, 0..23 */
	int day, month; /* 1..31, 1..12 (the day is not checked against the month) */
	int year;       /* 0..99 */
};

struct dlt_control {
	uint8_t password[4];      /* PA (the password's level), P0, P1, P2: wire order */
	uint8_t operator_code[4]; /* C0..C3: wire order */
	uint8_t n1;               /* DLT_CTL_TRIP, DLT_CTL_CLOSE_ALLOWED, DLT_CTL_CLOSE, ... */
	struct dlt_time deadline; /* the command is void after this time (the caller's clock,
				   * a few minutes ahead) */
};

/* The remote-control request c to the meter at addr into *f: C 1C, L 16, data = password,
 * operator code, N1, N2 = 00, N3..N8 = the deadline as BCD ss mm hh DD MM YY. In plain
 * text: meters with an ESAM (State Grid style) accept only an encrypted 1C and refuse
 * this one. Returns 0, or -1 when a field of the deadline is out of its range (f is then
 * unchanged). */
int dlt_control_request(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN], const struct dlt_control *c);

/* The meter's side: if f is such a request (C 1C, L 16, N2 00, a deadline of valid BCD
 * and in range), its fields into *c and 0; else -1 (c unchanged). N1 is not
 * checked: the caller answers a value it does not know with an error reply. */
int dlt_control_parse(const struct dlt_frame *f, struct dlt_control *c);

/* The meter's side: the reply 9C (done, L 0) to a remote-control request, into *f. Its
 * refusal is dlt_error_reply(f, addr, DLT_FN_CONTROL, err). */
void dlt_control_ack(struct dlt_frame *f, const uint8_t addr[DLT_ADDR_LEN]);

/* What the meter said to a remote-control request: 9C with L 0 is DLT_REPLY_OK, DC with
 * one byte DLT_REPLY_ERROR with that byte in *err (written only then), 9C or DC of another
 * length DLT_REPLY_LENGTH, any other C DLT_REPLY_UNEXPECTED. OK means the meter took the
 * command; whether the relay moved is read back from status word 3. */
enum dlt_reply dlt_control_result(const struct dlt_frame *f, uint8_t *err);

#endif
