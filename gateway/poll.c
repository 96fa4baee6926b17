/* poll.c: the lanes. A lane is one connection to meters: a Modbus TCP address, a serial
 * port, an RS-485-to-Ethernet converter, a DL/T 645 bus; its meters are asked in turn
 * (a bus carries one conversation at a time), while the lanes run in parallel on a few
 * threads. A lane's commands go before its polls. A meter that fails is counted, logged
 * and asked again later with backoff; it never holds up another lane, and on a shared bus
 * it costs one timeout per try, not one per cycle.
 *
 * Modbus TCP and RTU on a serial port are libmodbus's; Modbus RTU over a TCP socket (what
 * most converters speak, and libmodbus cannot) and DL/T 645 are framed by core/mbrtu.c and
 * core/dlt645.c over a plain socket or a tty. */
#include "gateway/gw.h"
#include "core/clock.h"
#include "core/dlt645.h"
#include "core/mbrtu.h"

#include <errno.h>
#include <fcntl.h>
#include <modbus/modbus.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct lane_cmd {
	struct gw_meter *m;
	struct gw_cmd c;
};

struct gw_lane {
	enum gw_transport tr;
	char key[160];
	struct gw_meter **m;
	int nm;
	modbus_t *mb;
	bool connected;
	int fd;
	uint8_t rx[600];
	size_t rxn;
	struct lane_cmd *cmds;
	int ncmds, capcmds;
	char running[32]; /* the id of the command being run, "" when none */
	bool busy;
	int64_t due_us;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct gw_lane *lanes;
	int n;
	bool stop;
	pthread_t th[64];
	int nth;
	struct gw_config *cfg;
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, false, {0}, 0, NULL};

const char *const gw_fault_names[GF__FAULTS] = {"timeout", "io", "crc", "exception", "dlt645_error", "range", "parse"};

/* ---- plain sockets and ttys ---- */

static int tcp_connect(const char *hostport, int timeout_ms)
{
	char host[128];
	const char *c = strrchr(hostport, ':');
	snprintf(host, sizeof host, "%.*s", (int)(c - hostport), hostport);
	struct addrinfo hints = {0}, *ai;
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, c + 1, &hints, &ai))
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	struct pollfd p = {fd, POLLOUT, 0};
	int e = 0;
	socklen_t el = sizeof e;
	if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) || e) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static speed_t baud_code(int baud)
{
	static const struct {
		int b;
		speed_t s;
	} t[] = {{300, B300},     {600, B600},     {1200, B1200},   {2400, B2400},   {4800, B4800},
		 {9600, B9600},   {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200}};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (t[i].b == baud)
			return t[i].s;
	return B9600;
}

/* A serial port, raw, 8 data bits, the parity asked for (DL/T 645: 8E1), 1 stop bit. */
static int tty_open(const struct gw_meter *m)
{
	int fd = open(m->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct termios t;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		t.c_cflag |= CLOCAL | CREAD;
		t.c_cflag &= ~(tcflag_t)(PARENB | PARODD | CSTOPB);
		if (m->parity != 'N')
			t.c_cflag |= PARENB | (m->parity == 'O' ? PARODD : 0);
		cfsetispeed(&t, baud_code(m->baud));
		cfsetospeed(&t, baud_code(m->baud));
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

static void lane_close(struct gw_lane *l)
{
	if (l->mb && l->connected)
		modbus_close(l->mb);
	l->connected = false;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->rxn = 0;
}

static bool lane_open(struct gw_lane *l, const struct gw_meter *m, int timeout_ms)
{
	if (l->tr == GW_MODBUS_TCP || l->tr == GW_MODBUS_RTU) {
		if (!l->mb) {
			if (l->tr == GW_MODBUS_TCP) {
				char host[128];
				const char *c = strrchr(m->address, ':');
				snprintf(host, sizeof host, "%.*s", (int)(c - m->address), m->address);
				l->mb = modbus_new_tcp(host, atoi(c + 1));
			} else {
				l->mb = modbus_new_rtu(m->device, m->baud, m->parity, 8, 1);
			}
			if (!l->mb)
				return false;
			modbus_set_response_timeout(l->mb, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000);
		}
		if (!l->connected && modbus_connect(l->mb) == 0)
			l->connected = true;
		return l->connected;
	}
	if (l->fd < 0)
		l->fd = l->tr == GW_MODBUS_RTU_TCP || l->tr == GW_DLT645_TCP ? tcp_connect(m->address, timeout_ms) : tty_open(m);
	return l->fd >= 0;
}

/* Write all of p; false on failure. */
static bool put(int fd, const uint8_t *p, size_t n, int timeout_ms)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		struct pollfd pf = {fd, POLLOUT, 0};
		if (poll(&pf, 1, timeout_ms) != 1)
			return false;
	}
	return true;
}

/* Read more bytes into the lane's buffer within the deadline; false on timeout or EOF
 * (*fault and why set). */
static bool more(struct gw_lane *l, int64_t deadline_us, int timeout_ms, enum gw_fault *fault, char *why, size_t whyn)
{
	int64_t left = (deadline_us - srv_mono_us()) / 1000;
	struct pollfd pf = {l->fd, POLLIN, 0};
	if (left <= 0 || poll(&pf, 1, (int)left) != 1) {
		*fault = GF_TIMEOUT;
		snprintf(why, whyn, "no answer within %d ms", timeout_ms);
		return false;
	}
	if (l->rxn == sizeof l->rx)
		l->rxn = 0; /* garbage filled it: start over */
	ssize_t r = read(l->fd, l->rx + l->rxn, sizeof l->rx - l->rxn);
	if (r <= 0) {
		*fault = GF_IO;
		snprintf(why, whyn, "connection closed");
		return false;
	}
	l->rxn += (size_t)r;
	return true;
}

/* Send a request's n bytes after dropping what a previous, timed-out answer left behind;
 * the deadline of its answer, or -1 (*fault and why set). */
static int64_t ask(struct gw_lane *l, const uint8_t *req, size_t n, int timeout_ms, enum gw_fault *fault, char *why,
		   size_t whyn)
{
	uint8_t junk[256];
	while (read(l->fd, junk, sizeof junk) > 0)
		;
	l->rxn = 0;
	if (!n || !put(l->fd, req, n, timeout_ms)) {
		*fault = GF_IO;
		snprintf(why, whyn, "write: %s", n ? strerror(errno) : "the request does not encode");
		return -1;
	}
	return srv_mono_us() + (int64_t)timeout_ms * 1000;
}

/* ---- Modbus ---- */

static enum gw_fault mb_fault(int e)
{
	if (e == EMBBADCRC)
		return GF_CRC;
	if (e > MODBUS_ENOBASE && e <= EMBXGTAR)
		return GF_EXCEPTION;
	if (e == ETIMEDOUT)
		return GF_TIMEOUT;
	return GF_IO;
}

/* An RTU exchange over the lane's socket: send the request, read until its reply is whole. */
static int rtu_exchange(struct gw_lane *l, const struct mbrtu_req *rq, uint16_t *regs, enum gw_fault *fault, char *why,
			size_t whyn, int timeout_ms)
{
	uint8_t req[MBRTU_FRAME_MAX];
	int64_t deadline = ask(l, req, mbrtu_request_encode(rq, req, sizeof req), timeout_ms, fault, why, whyn);
	if (deadline < 0)
		return -1;
	for (;;) {
		uint8_t code = 0;
		size_t used = 0;
		enum mbrtu_status st = mbrtu_reply_decode(rq, l->rx, l->rxn, regs, &code, &used);
		if (st == MBRTU_MORE) {
			if (!more(l, deadline, timeout_ms, fault, why, whyn))
				return -1;
			continue;
		}
		l->rxn = 0; /* whatever else came for this request is not trusted */
		if (st == MBRTU_OK)
			return 0;
		if (st == MBRTU_EXCEPTION) {
			*fault = GF_EXCEPTION;
			snprintf(why, whyn, "Modbus exception %d", code);
		} else {
			*fault = st == MBRTU_BAD_CRC ? GF_CRC : GF_PARSE;
			snprintf(why, whyn, "%s", mbrtu_status_name(st));
		}
		return -1;
	}
}

static int mb_read(struct gw_lane *l, const struct gw_meter *m, int fn, uint16_t start, uint16_t count, uint16_t *out,
		   enum gw_fault *fault, char *why, size_t whyn, int timeout_ms)
{
	if (l->tr == GW_MODBUS_RTU_TCP) {
		struct mbrtu_req rq = {(uint8_t)m->unit, (uint8_t)fn, start, count, {0}};
		return rtu_exchange(l, &rq, out, fault, why, whyn, timeout_ms);
	}
	modbus_set_slave(l->mb, m->unit);
	int r = fn == 4 ? modbus_read_input_registers(l->mb, start, count, out) : modbus_read_registers(l->mb, start, count, out);
	if (r == count)
		return 0;
	int e = r < 0 ? errno : EMBMDATA;
	*fault = mb_fault(e);
	snprintf(why, whyn, "%s", modbus_strerror(e));
	if (*fault == GF_IO || *fault == GF_TIMEOUT) { /* a TCP stream out of step is reopened */
		modbus_close(l->mb);
		l->connected = false;
	}
	return -1;
}

static int mb_write(struct gw_lane *l, const struct gw_meter *m, uint16_t start, int n, const uint16_t *w,
		    enum gw_fault *fault, char *why, size_t whyn, int timeout_ms)
{
	if (l->tr == GW_MODBUS_RTU_TCP) {
		struct mbrtu_req rq = {(uint8_t)m->unit, MBRTU_WRITE_MULTIPLE, start, (uint16_t)n, {0}};
		memcpy(rq.regs, w, (size_t)n * sizeof *w);
		return rtu_exchange(l, &rq, NULL, fault, why, whyn, timeout_ms);
	}
	modbus_set_slave(l->mb, m->unit);
	if (modbus_write_registers(l->mb, start, n, w) == n)
		return 0;
	*fault = mb_fault(errno);
	snprintf(why, whyn, "%s", modbus_strerror(errno));
	if (*fault == GF_IO || *fault == GF_TIMEOUT) {
		modbus_close(l->mb);
		l->connected = false;
	}
	return -1;
}

/* The relay as the meter's registers say: "on", "off", or "" when they match neither. */
static int mb_relay(struct gw_lane *l, const struct gw_meter *m, char relay[4], enum gw_fault *fault, char *why,
		    size_t whyn, int timeout_ms)
{
	const struct gw_relay *y = &m->p->relay;
	uint16_t w[GW_RELAY_WORDS];
	if (mb_read(l, m, y->state_fn, y->state_reg, (uint16_t)y->nwords, w, fault, why, whyn, timeout_ms))
		return -1;
	relay[0] = 0;
	if (!memcmp(w, y->off_words, (size_t)y->nwords * sizeof *w))
		snprintf(relay, 4, "off");
	else if (!memcmp(w, y->on_words, (size_t)y->nwords * sizeof *w))
		snprintf(relay, 4, "on");
	return 0;
}

/* ---- DL/T 645 ---- */

static const char *dlt_error_text(uint8_t e)
{
	return e & DLT_ERR_UNAUTHORISED ? "wrong password or not permitted"
	       : e & DLT_ERR_NO_DATA	? "no such data"
	       : e & DLT_ERR_OTHER	? "other error"
					: "refused";
}

/* Send frame q and read the meter's answer into *f. */
static int dlt_exchange(struct gw_lane *l, const struct dlt_frame *q, const struct gw_meter *m, struct dlt_frame *f,
			enum gw_fault *fault, char *why, size_t whyn, int timeout_ms)
{
	uint8_t req[DLT_FRAME_MAX];
	int64_t deadline = ask(l, req, dlt_encode(q, 1, req, sizeof req), timeout_ms, fault, why, whyn);
	if (deadline < 0)
		return -1;
	for (;;) {
		size_t used = 0;
		enum dlt_status st = dlt_decode(l->rx, l->rxn, f, &used);
		memmove(l->rx, l->rx + used, l->rxn - used);
		l->rxn -= used;
		if (st == DLT_MORE) {
			if (!more(l, deadline, timeout_ms, fault, why, whyn))
				return -1;
			continue;
		}
		if (st == DLT_BAD_FRAME)
			continue; /* not a frame: look after it */
		if (st == DLT_BAD_SUM) {
			*fault = GF_CRC;
			snprintf(why, whyn, "a frame with a bad checksum");
			return -1;
		}
		if (!(f->c & DLT_C_REPLY) || !dlt_addr_match(m->dlt_addr, f->addr))
			continue; /* an echo on a two-wire bus, or another meter's: not ours */
		return 0;
	}
}

static int dlt_fail(enum dlt_reply r, uint8_t err, enum gw_fault *fault, char *why, size_t whyn)
{
	*fault = r == DLT_REPLY_ERROR ? GF_DLT_ERROR : GF_PARSE;
	if (r == DLT_REPLY_ERROR)
		snprintf(why, whyn, "error reply 0x%02X (%s)", err, dlt_error_text(err));
	else
		snprintf(why, whyn, "%s", dlt_reply_name(r));
	return -1;
}

static int dlt_read(struct gw_lane *l, const struct gw_meter *m, uint32_t di, int bytes, bool is_signed, int64_t *digits,
		    enum gw_fault *fault, char *why, size_t whyn, int timeout_ms)
{
	struct dlt_frame q, f;
	dlt_read_request(&q, m->dlt_addr, di);
	if (dlt_exchange(l, &q, m, &f, fault, why, whyn, timeout_ms))
		return -1;
	uint8_t err = 0;
	enum dlt_reply r = dlt_read_value(&f, di, (size_t)bytes, is_signed, digits, &err);
	return r == DLT_REPLY_OK ? 0 : dlt_fail(r, err, fault, why, whyn);
}

/* The relay from status word 3: two bytes of bits, low byte first. */
static int dlt_relay(struct gw_lane *l, const struct gw_meter *m, char relay[4], enum gw_fault *fault, char *why,
		     size_t whyn, int timeout_ms)
{
	const struct gw_relay *y = &m->p->relay;
	struct dlt_frame q, f;
	dlt_read_request(&q, m->dlt_addr, y->state_di);
	if (dlt_exchange(l, &q, m, &f, fault, why, whyn, timeout_ms))
		return -1;
	const uint8_t *p;
	size_t n = 0;
	uint8_t err = 0;
	enum dlt_reply r = dlt_read_data(&f, y->state_di, &p, &n, &err);
	if (r != DLT_REPLY_OK)
		return dlt_fail(r, err, fault, why, whyn);
	if (n != 2)
		return dlt_fail(DLT_REPLY_LENGTH, 0, fault, why, whyn);
	int bits = p[0] | p[1] << 8;
	snprintf(relay, 4, "%s", ((bits >> y->state_bit) & 1) == y->off_when ? "off" : "on");
	return 0;
}

/* ---- a poll ---- */

/* Log a meter's fault: the first, then one in a hundred, so a dead meter does not flood the log. */
static void fault_log(struct gw_meter *m, enum gw_fault f, const char *why)
{
	atomic_fetch_add(&m->faults[f], 1);
	if (m->fails == 1 || m->fails % 100 == 0)
		gw_log("warn", "meter %s (%s %s): %s: %s (failure %d in a row)", m->serial, gw_transport_names[m->tr],
		       m->address[0] ? m->address : m->device, gw_fault_names[f], why, m->fails);
}

static void value_fault(struct gw_meter *m, const char *why)
{
	uint64_t n = atomic_fetch_add(&m->faults[GF_RANGE], 1);
	if (n % 100 == 0)
		gw_log("warn", "meter %s: %s; the value is not sent", m->serial, why);
}

/* A decoded value into the reading; a value out of its range is counted and left out, and
 * -1 (why set) when that value is the energy register: then there is no reading. */
static int keep(struct gw_meter *m, const struct gw_value *v, const struct gw_decoded *x, struct gw_decoded *d,
		bool *have, char *why, size_t whyn)
{
	if (!x->ok) {
		if (v->field == GF_ENERGY) {
			snprintf(why, whyn, "%s", x->why);
			return -1;
		}
		value_fault(m, x->why);
		return 0;
	}
	d[v->field] = *x;
	have[v->field] = true;
	return 0;
}

/* Ask one meter everything its profile lists and queue the reading. 0, or -1 (counted). */
static int poll_meter(struct gw_lane *l, struct gw_meter *m, int timeout_ms)
{
	const struct gw_profile *p = m->p;
	struct gw_decoded d[GF__COUNT];
	bool have[GF__COUNT] = {0};
	enum gw_fault fault = GF_IO;
	char why[160] = "cannot connect", relay[4] = "";
	int64_t ts = srv_clock_now_us();
	atomic_fetch_add(&m->polls, 1);
	if (!lane_open(l, m, timeout_ms))
		goto failed;
	if (p->proto == GP_MODBUS) {
		for (int b = 0; b < p->nblocks; b++) {
			uint16_t regs[125];
			const struct gw_block *k = &p->blocks[b];
			if (mb_read(l, m, k->function, k->start, k->count, regs, &fault, why, sizeof why, timeout_ms))
				goto failed;
			for (int i = 0; i < p->nv; i++) {
				const struct gw_value *v = &p->v[i];
				int sp = (v->type == GT_U16 || v->type == GT_I16 ? 1 : 2) * v->count;
				if (v->function != k->function || v->reg < k->start || v->reg + sp > k->start + k->count)
					continue;
				struct gw_decoded x;
				gw_value_from_regs(v, regs, k->start, &x);
				if (keep(m, v, &x, d, have, why, sizeof why)) {
					fault = GF_RANGE;
					goto failed;
				}
			}
		}
		if (p->relay.present && mb_relay(l, m, relay, &fault, why, sizeof why, timeout_ms))
			goto failed;
	} else {
		for (int i = 0; i < p->nv; i++) {
			const struct gw_value *v = &p->v[i];
			int64_t digits;
			if (dlt_read(l, m, v->di, v->bytes, v->type == GT_SBCD, &digits, &fault, why, sizeof why, timeout_ms)) {
				if (v->field == GF_ENERGY || fault != GF_DLT_ERROR)
					goto failed;
				continue; /* a meter without that item: the reading goes without it */
			}
			struct gw_decoded x;
			gw_value_from_bcd(v, digits, &x);
			if (keep(m, v, &x, d, have, why, sizeof why)) {
				fault = GF_RANGE;
				goto failed;
			}
		}
		if (p->relay.present && dlt_relay(l, m, relay, &fault, why, sizeof why, timeout_ms))
			goto failed;
	}
	if (!have[GF_ENERGY]) {
		fault = GF_PARSE;
		snprintf(why, sizeof why, "no energy value");
		goto failed;
	}
	if (m->fails)
		gw_log("info", "meter %s answers again after %d failures", m->serial, m->fails);
	m->fails = 0;
	m->backoff_us = 0;
	snprintf(m->last_relay, sizeof m->last_relay, "%s", relay);
	char *json = gw_reading_json(m->serial, ts, d, have, relay);
	gw_queue_reading(m->serial, json);
	free(json);
	atomic_fetch_add(&m->readings, 1);
	return 0;
failed:
	m->fails++;
	fault_log(m, fault, why);
	if (fault == GF_IO || fault == GF_TIMEOUT)
		lane_close(l);
	return -1;
}

/* ---- commands ---- */

static void run_command(struct gw_lane *l, struct gw_meter *m, const struct gw_cmd *c, int timeout_ms)
{
	const struct gw_relay *y = &m->p->relay;
	bool off = !strcmp(c->action, "cut_off");
	enum gw_fault fault = GF_IO;
	char why[200] = "cannot connect", relay[4] = "";
	atomic_fetch_add(&m->commands, 1);
	if (!y->present) {
		gw_ack(c->id, false, NULL, "this meter's profile has no relay");
		return;
	}
	if (m->p->proto == GP_DLT645 && y->esam) {
		gw_ack(c->id, false, NULL, "this meter has an ESAM and accepts only an encrypted 0x1C, which the gateway cannot make");
		return;
	}
	for (int attempt = 0; attempt < 3; attempt++) { /* a bus error is tried again at once, twice */
		if (!lane_open(l, m, timeout_ms))
			continue;
		int rc;
		if (m->p->proto == GP_MODBUS) {
			rc = mb_write(l, m, y->write_reg, y->nwords, off ? y->off_words : y->on_words, &fault, why, sizeof why,
				      timeout_ms);
			if (!rc)
				rc = mb_relay(l, m, relay, &fault, why, sizeof why, timeout_ms);
		} else {
			/* the deadline a few minutes ahead, in the meter's (the gateway's) local time */
			time_t t = time(NULL) + 300;
			struct tm lt;
			localtime_r(&t, &lt);
			struct dlt_control dc = {{0}, {0}, off ? y->trip_n1 : y->close_n1,
						 {lt.tm_sec, lt.tm_min, lt.tm_hour, lt.tm_mday, lt.tm_mon + 1, lt.tm_year % 100}};
			memcpy(dc.password, m->password, 4);
			memcpy(dc.operator_code, m->operator_code, 4);
			struct dlt_frame q, f;
			dlt_control_request(&q, m->dlt_addr, &dc);
			rc = dlt_exchange(l, &q, m, &f, &fault, why, sizeof why, timeout_ms);
			uint8_t err = 0;
			enum dlt_reply r = rc ? DLT_REPLY_OK : dlt_control_result(&f, &err);
			if (!rc && r == DLT_REPLY_ERROR) {
				snprintf(why, sizeof why, "the meter refused the control frame: error 0x%02X (%s)", err,
					 dlt_error_text(err));
				gw_ack(c->id, false, NULL, why);
				return;
			}
			if (!rc && r != DLT_REPLY_OK)
				rc = dlt_fail(r, err, &fault, why, sizeof why);
			if (!rc)
				rc = dlt_relay(l, m, relay, &fault, why, sizeof why, timeout_ms);
		}
		if (!rc) {
			const char *want = off ? "off" : "on";
			snprintf(m->last_relay, sizeof m->last_relay, "%s", relay);
			if (strcmp(relay, want)) {
				snprintf(why, sizeof why, "the relay reads %s after the command", relay[0] ? relay : "unknown");
				gw_ack(c->id, false, relay[0] ? relay : NULL, why);
			} else {
				gw_ack(c->id, true, relay, NULL);
			}
			m->next_us = 0; /* the next reading, at once, carries the relay */
			return;
		}
		if (fault == GF_EXCEPTION || fault == GF_DLT_ERROR)
			break;
		lane_close(l);
	}
	char detail[260];
	snprintf(detail, sizeof detail, "%s: %s", gw_fault_names[fault], why);
	gw_ack(c->id, false, NULL, detail);
}

/* ---- the scheduler ---- */

static struct gw_lane *pick(int64_t now, int64_t *wait_us)
{
	struct gw_lane *best = NULL;
	int64_t soonest = INT64_MAX;
	for (int i = 0; i < P.n; i++) {
		struct gw_lane *l = &P.lanes[i];
		if (l->busy)
			continue;
		if (l->ncmds)
			return l;
		if (l->due_us <= now && (!best || l->due_us < best->due_us))
			best = l;
		if (l->due_us < soonest)
			soonest = l->due_us;
	}
	*wait_us = soonest == INT64_MAX ? 1000000 : soonest - now;
	return best;
}

static void *worker(void *arg)
{
	(void)arg;
	int timeout_ms = P.cfg->timeout_ms;
	pthread_mutex_lock(&P.mu);
	while (!P.stop) {
		int64_t now = srv_mono_us(), wait;
		struct gw_lane *l = pick(now, &wait);
		if (!l) {
			if (wait > 1000000)
				wait = 1000000;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t ns = ts.tv_nsec + wait * 1000;
			ts.tv_sec += (time_t)(ns / 1000000000);
			ts.tv_nsec = (long)(ns % 1000000000);
			pthread_cond_timedwait(&P.cv, &P.mu, &ts);
			continue;
		}
		l->busy = true;
		while (l->ncmds) {
			struct lane_cmd lc = l->cmds[0];
			memmove(l->cmds, l->cmds + 1, (size_t)--l->ncmds * sizeof *l->cmds);
			snprintf(l->running, sizeof l->running, "%s", lc.c.id);
			pthread_mutex_unlock(&P.mu);
			run_command(l, lc.m, &lc.c, timeout_ms);
			pthread_mutex_lock(&P.mu);
			l->running[0] = 0;
		}
		pthread_mutex_unlock(&P.mu);
		int64_t due = INT64_MAX;
		for (int i = 0; i < l->nm; i++) {
			struct gw_meter *m = l->m[i];
			now = srv_mono_us();
			if (m->next_us <= now) {
				int64_t period = (int64_t)m->poll_s * 1000000;
				if (m->next_us && now - m->next_us > period) /* a whole cycle late */
					atomic_fetch_add(&m->overruns, 1);
				int64_t start = srv_mono_us();
				if (poll_meter(l, m, timeout_ms)) {
					int64_t b = period << (m->fails > 6 ? 5 : m->fails - 1);
					m->next_us = start + (b > 300 * INT64_C(1000000) && period < 300 * INT64_C(1000000)
								 ? 300 * INT64_C(1000000) : b);
				} else {
					m->next_us = (m->next_us && m->next_us + period > now) ? m->next_us + period : start + period;
				}
			}
			if (m->next_us < due)
				due = m->next_us;
		}
		pthread_mutex_lock(&P.mu);
		l->due_us = due;
		l->busy = false;
		pthread_cond_broadcast(&P.cv);
	}
	pthread_mutex_unlock(&P.mu);
	return NULL;
}

void gw_poll_command(struct gw_meter *m, const struct gw_cmd *c)
{
	struct gw_lane *l = m->lane;
	pthread_mutex_lock(&P.mu);
	/* handed out again while it waits or runs (its lease ran out): it is answered once */
	bool dup = !strcmp(l->running, c->id);
	for (int i = 0; i < l->ncmds; i++)
		dup |= !strcmp(l->cmds[i].c.id, c->id);
	if (dup) {
		pthread_mutex_unlock(&P.mu);
		return;
	}
	if (l->ncmds == l->capcmds &&
	    !(l->cmds = realloc(l->cmds, (size_t)(l->capcmds = l->capcmds ? 2 * l->capcmds : 4) * sizeof *l->cmds)))
		abort();
	l->cmds[l->ncmds++] = (struct lane_cmd){m, *c};
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.mu);
}

void gw_poll_start(struct gw_config *c)
{
	P.cfg = c;
	P.lanes = calloc((size_t)c->nm + 1, sizeof *P.lanes);
	if (!P.lanes)
		abort();
	int64_t now = srv_mono_us();
	for (int i = 0; i < c->nm; i++) {
		struct gw_meter *m = &c->m[i];
		if (m->tr == GW_MQTT)
			continue;
		char key[160];
		snprintf(key, sizeof key, "%s %s", gw_transport_names[m->tr], m->address[0] ? m->address : m->device);
		struct gw_lane *l = NULL;
		for (int k = 0; k < P.n && !l; k++)
			if (!strcmp(P.lanes[k].key, key))
				l = &P.lanes[k];
		if (!l) {
			l = &P.lanes[P.n++];
			l->tr = m->tr;
			l->fd = -1;
			snprintf(l->key, sizeof l->key, "%s", key);
			if (!(l->m = calloc((size_t)c->nm, sizeof *l->m)))
				abort();
		}
		l->m[l->nm++] = m;
		m->lane = l;
		/* spread the first polls over the cycle, so a thousand meters do not all ask at once */
		m->next_us = now + (int64_t)m->poll_s * 1000000 * (i % 64) / 64;
		l->due_us = l->nm == 1 || m->next_us < l->due_us ? m->next_us : l->due_us;
	}
	if (!P.n)
		return;
	P.nth = c->workers < P.n ? c->workers : P.n;
	for (int i = 0; i < P.nth; i++)
		if (pthread_create(&P.th[i], NULL, worker, NULL))
			abort();
	gw_log("info", "polling %d lanes on %d threads", P.n, P.nth);
}

void gw_poll_stop(void)
{
	pthread_mutex_lock(&P.mu);
	P.stop = true;
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.mu);
	for (int i = 0; i < P.nth; i++)
		pthread_join(P.th[i], NULL);
	for (int i = 0; i < P.n; i++) {
		lane_close(&P.lanes[i]);
		if (P.lanes[i].mb)
			modbus_free(P.lanes[i].mb);
		free(P.lanes[i].m);
		free(P.lanes[i].cmds);
	}
	free(P.lanes);
}
