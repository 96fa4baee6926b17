/* mbrtu.h: Modbus RTU frames (functions 03, 04 and 10), master and slave side, as a pure
 * codec for "RTU over TCP": RS-485-to-Ethernet converters pass raw RTU frames, CRC and
 * all, through a TCP socket, which libmodbus cannot speak (METERS.md, section 1a). No I/O,
 * no allocation, no clock.
 *
 * A frame: unit, function, its fields (big-endian 16-bit words), CRC-16/MODBUS sent low
 * byte first. RTU marks a frame's end by silence on the line, which a TCP stream does not
 * keep: these functions find a frame's end from its function and counts instead, so they
 * read frames from the front of a buffer and cannot resynchronise inside a stream of
 * noise; a master that gets anything but a good reply drops what it has (and what else
 * arrives for that request) and asks again.
 *
 * Who owns what: every function writes only into memory its caller passes and keeps no
 * pointer to it; nothing here has state, so any of it may run on any thread. */
#ifndef WATTLE_MBRTU_H
#define WATTLE_MBRTU_H

#include <stddef.h>
#include <stdint.h>

#define MBRTU_READ_HOLDING 0x03
#define MBRTU_READ_INPUT 0x04
#define MBRTU_WRITE_MULTIPLE 0x10
#define MBRTU_READ_MAX 125  /* registers one read may ask for */
#define MBRTU_WRITE_MAX 123 /* registers one write may carry */
/* The longest frame these functions write or accept (a read reply of 125 registers, a
 * write of 123: 255 bytes). */
#define MBRTU_FRAME_MAX 256
#define MBRTU_READ_REQUEST_LEN 8
#define MBRTU_WRITE_REPLY_LEN 8
#define MBRTU_EXCEPTION_LEN 5

/* Exception codes (any byte may come back; these are the common ones). */
#define MBRTU_EXC_ILLEGAL_FUNCTION 0x01
#define MBRTU_EXC_ILLEGAL_ADDRESS 0x02
#define MBRTU_EXC_ILLEGAL_VALUE 0x03
#define MBRTU_EXC_DEVICE_FAILURE 0x04
#define MBRTU_EXC_ACKNOWLEDGE 0x05
#define MBRTU_EXC_BUSY 0x06
#define MBRTU_EXC_GATEWAY_PATH 0x0A
#define MBRTU_EXC_GATEWAY_TARGET 0x0B

/* CRC-16/MODBUS of n bytes (reflected polynomial 0xA001, initial 0xFFFF). A frame carries
 * it low byte first, so the CRC over a whole good frame, its CRC included, is 0. */
uint16_t mbrtu_crc(const uint8_t *p, size_t n);

/* A request: what the master asks, and what the slave decoded. */
struct mbrtu_req {
	uint8_t unit;   /* the slave's address: 1..247; 0 broadcasts (a write; no reply comes) */
	uint8_t fc;     /* MBRTU_READ_HOLDING, MBRTU_READ_INPUT or MBRTU_WRITE_MULTIPLE */
	uint16_t start; /* the first register's address as on the wire (0-based: 0x0156) */
	uint16_t count; /* registers: 1..MBRTU_READ_MAX to read, 1..MBRTU_WRITE_MAX to write */
	uint16_t regs[MBRTU_WRITE_MAX]; /* writes: the count values, in register order */
};

enum mbrtu_status {
	MBRTU_OK,         /* a good frame */
	MBRTU_MORE,       /* no complete frame yet: append what arrives next and call again */
	MBRTU_EXCEPTION,  /* master: a good exception reply; slave: a good request that must
			   * be answered with MBRTU_EXC_ILLEGAL_VALUE (a count out of range, a
			   * byte count that does not match it) */
	MBRTU_BAD_CRC,    /* a complete frame whose CRC is wrong */
	MBRTU_OTHER_UNIT, /* master: the frame names another unit than the request's */
	MBRTU_BAD_FRAME,  /* the bytes cannot be the frame wanted: another function, a byte
			   * count or an echo that does not match the request */
};

/* "ok", "more", "exception", "bad_crc", "other_unit", "bad_frame": for logs and counters. */
const char *mbrtu_status_name(enum mbrtu_status s);

/* --- master side --- */

/* The wire bytes of r into out: 03/04 unit fc start count CRC (8 bytes), 10 unit fc start
 * count bytecount regs CRC (9 + 2 count bytes). Returns the length, or 0 (nothing
 * written) when r->fc is another function, r->count is out of its range or the frame
 * does not fit in cap. r->regs is read only for writes. */
size_t mbrtu_request_encode(const struct mbrtu_req *r, uint8_t *out, size_t cap);

/* How long the reply to r is, as far as the n bytes received so far tell: the exact
 * length once they show which reply it is (5 for an exception, 8 for a write's, 5 + 2
 * r->count for a read's), before that the shortest reply (5), so reading until n reaches
 * it never reads past the reply; 0 when the bytes cannot begin a good reply to r (another
 * unit or function, a read's byte count other than 2 r->count), and always 0 when r is
 * not a request mbrtu_request_encode accepts. */
size_t mbrtu_reply_need(const struct mbrtu_req *r, const uint8_t *buf, size_t n);

/* Decode the reply to r at the front of the n bytes of buf (only read):
 *   MBRTU_OK          a read's r->count registers into regs (host order; regs must hold
 *                     r->count values; NULL for a write), or a write's echo of r->start
 *                     and r->count;
 *   MBRTU_EXCEPTION   unit, fc | 0x80, code: the code into *code;
 *   MBRTU_MORE        a good reply may still come (see mbrtu_reply_need);
 *   MBRTU_BAD_CRC, MBRTU_OTHER_UNIT, MBRTU_BAD_FRAME: not a good reply (a reply from
 *                     another unit is refused even when its CRC is good; any reply to an
 *                     r that mbrtu_request_encode refuses is MBRTU_BAD_FRAME).
 * regs and *code are written only with the results that name them. *used is always set:
 * the frame's length with OK, EXCEPTION and BAD_CRC, 0 with MORE, n with OTHER_UNIT and
 * BAD_FRAME (nothing in buf can be trusted). */
enum mbrtu_status mbrtu_reply_decode(const struct mbrtu_req *r, const uint8_t *buf, size_t n, uint16_t *regs,
				     uint8_t *code, size_t *used);

/* --- slave side (the meter simulator) --- */

/* Decode the request at the front of the n bytes of buf (only read): 03/04 are 8 bytes, 10
 * is 9 + its byte count.
 *   MBRTU_OK         *r filled (r->regs for a write); the caller checks r->unit is its own
 *                    (0 is a broadcast: act, do not answer) and the registers exist
 *                    (else it answers MBRTU_EXC_ILLEGAL_ADDRESS);
 *   MBRTU_EXCEPTION  a request with a good CRC and a count out of range or a byte count
 *                    other than 2 count: r->unit, fc, start and count are filled (not
 *                    regs) and the answer is mbrtu_exception_encode(r->unit, r->fc,
 *                    MBRTU_EXC_ILLEGAL_VALUE);
 *   MBRTU_MORE       the bytes so far may begin a request;
 *   MBRTU_BAD_CRC, MBRTU_BAD_FRAME (a function other than 03, 04 and 10, whose end
 *                    cannot be known): r is not written.
 * *used is always set: the frame's length with OK and EXCEPTION, 0 with MORE, 1 with
 * BAD_CRC and BAD_FRAME (drop one byte and look again: what follows may be a frame). */
enum mbrtu_status mbrtu_request_decode(const uint8_t *buf, size_t n, struct mbrtu_req *r, size_t *used);

/* The normal reply to the request r into out: a read's unit fc bytecount regs CRC (5 + 2
 * r->count bytes, from the r->count values of regs), a write's unit fc start count CRC (8
 * bytes; regs not read, may be NULL). Returns the length, or 0 (nothing written) when r
 * is not a request mbrtu_request_encode accepts or the frame does not fit in cap. */
size_t mbrtu_reply_encode(const struct mbrtu_req *r, const uint16_t *regs, uint8_t *out, size_t cap);

/* The exception reply unit, fc | 0x80, code, CRC into out (MBRTU_EXCEPTION_LEN bytes).
 * Returns MBRTU_EXCEPTION_LEN. */
size_t mbrtu_exception_encode(uint8_t unit, uint8_t fc, uint8_t code, uint8_t out[MBRTU_EXCEPTION_LEN]);

#endif
