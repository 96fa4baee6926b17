/* devices.c: wattle-metersim --protocol: the fleet as real-protocol devices, for
 * wattle-gateway to talk to as it talks to meters in a building.
 *   modbus-tcp      one libmodbus TCP server per meter (port BASE+i, unit 1), Eastron
 *                   SDM630/SDM120 input registers (float32) or Acrel DDSY1352 holding
 *                   registers (scaled integers, relay control words at 0x0057)
 *   modbus-rtu-tcp  an RS-485-to-Ethernet converter: one TCP port, the meters as units
 *                   1..N on its bus, raw RTU frames with CRC (core/mbrtu.c)
 *   dlt645-tcp      a DL/T 645-2007 bus behind a converter: one TCP port, meters by
 *                   address (core/dlt645.c), remote control 0x1C with a password
 *   mqtt-shelly     Shelly Pro EM devices answering JSON-RPC on <prefix>/rpc
 *   mqtt-tasmota    Tasmota devices answering cmnd/<topic>/STATUS 10 and POWER
 * Each meter's register advances at its power while its relay is on. A control port
 * (HTTP on 127.0.0.1) shows each device's register and relay (GET /state) and changes them
 * (POST /set {"serial", "power_w"?, "silent"?, "corrupt"?, "register_wh"?}), so a test can
 * check what the device did against what wattle billed. --write-config writes the
 * gateway config that reaches these devices. */
#include "metersim/devices.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/dlt645.h"
#include "core/mbrtu.h"
#include "peer/peer.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <modbus/modbus.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum proto { P_MODBUS_TCP, P_RTU_TCP, P_DLT645, P_SHELLY, P_TASMOTA };
static const char *const proto_names[] = {"modbus-tcp", "modbus-rtu-tcp", "dlt645-tcp", "mqtt-shelly", "mqtt-tasmota"};

struct dev {
	char serial[72], topic[96], address[16];
	uint8_t dlt_addr[6];
	int64_t milli_wh; /* the energy used, in mWh */
	int64_t power_w;
	bool relay_on, silent;
	int corrupt; /* replies still to send with a bad CRC or checksum */
	int64_t last_us;
	modbus_mapping_t *map;
	modbus_t *ctx;
	int listen_fd;
};

static struct {
	enum proto proto;
	char model[40]; /* eastron-sdm630, eastron-sdm120, acrel-ddsy1352 */
	struct dev *d;
	int n, base_port, control_port, poll_s;
	double speed;
	pthread_mutex_t mu;
	volatile sig_atomic_t stop;
	char broker_host[64];
	int broker_port;
	double notify_hz;
	struct mosquitto *mq;
	long requests, replies, commands;
	uint8_t password[4];
} D = {.speed = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .broker_host = "127.0.0.1", .broker_port = 1883};

static bool acrel(void) { return !strcmp(D.model, "acrel-ddsy1352"); }

/* Advance every register to now. Under D.mu. */
static void advance(void)
{
	int64_t now = srv_mono_us();
	for (int i = 0; i < D.n; i++) {
		struct dev *v = &D.d[i];
		if (v->last_us && v->relay_on) /* W x us x speed / 3.6e6 = mWh */
			v->milli_wh += (int64_t)((double)v->power_w * (double)(now - v->last_us) * D.speed / 3600000.0);
		v->last_us = now;
	}
}

/* The register as the device shows it, in Wh: what a gateway decodes from it. */
static int64_t shown_wh(const struct dev *v)
{
	int64_t wh = v->milli_wh / 1000;
	switch (D.proto) {
	case P_MODBUS_TCP:
	case P_RTU_TCP:
		if (acrel())
			return wh / 10 * 10;
		{
			float kwh = (float)((double)wh / 1000.0);
			return llround((double)kwh * 1000.0);
		}
	case P_DLT645:
		return wh / 10 * 10;
	default:
		return wh;
	}
}

static double volts(const struct dev *v) { return v->relay_on ? 230.0 : 229.0; }
static double amps(const struct dev *v) { return v->relay_on ? (double)v->power_w / 230.0 / 0.95 : 0; }
static int64_t watts(const struct dev *v) { return v->relay_on ? v->power_w : 0; }

/* An IEEE-754 float32 in two registers, high word first, each big-endian on the wire: what
 * Eastron sends. (libmodbus 3.1.6's modbus_set_float_abcd swaps the words' bytes on a
 * little-endian host, so it is not used.) */
static void put_f32(float f, uint16_t *dest)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	dest[0] = (uint16_t)(u >> 16);
	dest[1] = (uint16_t)u;
}

/* Fill a meter's registers from its state. Under D.mu. */
static void fill_registers(struct dev *v)
{
	modbus_mapping_t *m = v->map;
	int64_t wh = v->milli_wh / 1000;
	if (acrel()) {
		uint32_t e = (uint32_t)(wh / 10);
		m->tab_registers[0] = (uint16_t)(e >> 16);
		m->tab_registers[1] = (uint16_t)e;
		m->tab_registers[0x0B] = (uint16_t)(volts(v) * 10);
		m->tab_registers[0x0C] = (uint16_t)(amps(v) * 100);
		m->tab_registers[0x0D] = (uint16_t)(int16_t)(watts(v));
		m->tab_registers[0x10] = (uint16_t)(int16_t)950;
		m->tab_registers[0x57] = 1;
		m->tab_registers[0x58] = v->relay_on ? 0 : 1;
		return;
	}
	put_f32((float)((double)wh / 1000.0), &m->tab_input_registers[0x156]);
	put_f32((float)volts(v), &m->tab_input_registers[0x00]);
	put_f32((float)amps(v), &m->tab_input_registers[0x06]);
	put_f32((float)watts(v), &m->tab_input_registers[0x0C]);
	put_f32(0.95f, &m->tab_input_registers[0x1E]);
	put_f32(50.0f, &m->tab_input_registers[0x46]);
	put_f32(2.1f, &m->tab_input_registers[0xEA]);
	put_f32(7.5f, &m->tab_input_registers[0xF0]);
}

/* An Acrel relay write landed in the control words: the relay follows. Under D.mu. */
static void relay_from_registers(struct dev *v)
{
	if (!acrel())
		return;
	uint16_t *w = &v->map->tab_registers[0x57];
	if (w[0] == 1 && (w[1] == 0 || w[1] == 1)) {
		bool on = w[1] == 0;
		if (on != v->relay_on)
			D.commands++;
		v->relay_on = on;
	}
}

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64)) {
		fprintf(stderr, "metersim: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

/* ---- Modbus TCP: libmodbus servers ---- */

static void *modbus_tcp_loop(void *arg)
{
	(void)arg;
	/* fds: the listening sockets, then the connections (with the meter each is for) */
	struct pollfd pf[1024];
	int owner[1024], npf = 0;
	for (int i = 0; i < D.n; i++) {
		pf[npf] = (struct pollfd){D.d[i].listen_fd, POLLIN, 0};
		owner[npf++] = i;
	}
	int nlisten = npf;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	while (!D.stop) {
		if (poll(pf, (nfds_t)npf, 200) <= 0)
			continue;
		for (int k = 0; k < npf; k++) {
			if (!pf[k].revents)
				continue;
			struct dev *v = &D.d[owner[k]];
			if (k < nlisten) {
				int c = accept4(pf[k].fd, NULL, NULL, SOCK_CLOEXEC);
				if (c >= 0 && npf < 1024) {
					pf[npf] = (struct pollfd){c, POLLIN, 0};
					owner[npf++] = owner[k];
				} else if (c >= 0) {
					close(c);
				}
				continue;
			}
			modbus_set_socket(v->ctx, pf[k].fd);
			int rc = modbus_receive(v->ctx, q);
			if (rc < 0) {
				close(pf[k].fd);
				pf[k] = pf[--npf];
				owner[k] = owner[npf];
				k--;
				continue;
			}
			if (rc == 0)
				continue;
			pthread_mutex_lock(&D.mu);
			D.requests++;
			bool silent = v->silent;
			advance();
			fill_registers(v);
			pthread_mutex_unlock(&D.mu);
			if (silent)
				continue;
			modbus_reply(v->ctx, q, rc, v->map);
			pthread_mutex_lock(&D.mu);
			D.replies++;
			relay_from_registers(v);
			pthread_mutex_unlock(&D.mu);
		}
	}
	return NULL;
}

/* ---- a bus behind a converter: RTU over TCP and DL/T 645 ---- */

/* One request's answer from the bus into out; 0 when no meter answers. Under D.mu. */
static size_t rtu_answer(const struct mbrtu_req *r, uint8_t *out, size_t cap)
{
	if (r->unit < 1 || r->unit > D.n)
		return 0;
	struct dev *v = &D.d[r->unit - 1];
	if (v->silent)
		return 0;
	advance();
	fill_registers(v);
	modbus_mapping_t *m = v->map;
	uint16_t *tab = r->fc == MBRTU_READ_INPUT ? m->tab_input_registers : m->tab_registers;
	int nb = r->fc == MBRTU_READ_INPUT ? m->nb_input_registers : m->nb_registers;
	if (r->start + r->count > nb) {
		uint8_t e[MBRTU_EXCEPTION_LEN];
		return mbrtu_exception_encode(r->unit, r->fc, MBRTU_EXC_ILLEGAL_ADDRESS, e) <= cap ? (memcpy(out, e, sizeof e), sizeof e) : 0;
	}
	if (r->fc == MBRTU_WRITE_MULTIPLE) {
		memcpy(m->tab_registers + r->start, r->regs, (size_t)r->count * sizeof *r->regs);
		relay_from_registers(v);
	}
	size_t n = mbrtu_reply_encode(r, tab + r->start, out, cap);
	if (n && v->corrupt > 0) {
		v->corrupt--;
		out[n - 1] ^= 0x5a;
	}
	return n;
}

static int64_t bcd_field(double x, int decimals)
{
	double s = x;
	for (int i = 0; i < decimals; i++)
		s *= 10;
	return llround(s);
}

/* A DL/T 645 request's answer; 0 bytes when nobody answers. Under D.mu. */
static size_t dlt_answer(const struct dlt_frame *q, uint8_t *out, size_t cap)
{
	struct dev *v = NULL;
	for (int i = 0; i < D.n && !v; i++)
		if (!memcmp(D.d[i].dlt_addr, q->addr, 6))
			v = &D.d[i];
	if (!v || v->silent)
		return 0;
	advance();
	struct dlt_frame r;
	uint32_t di;
	struct dlt_control c;
	if (!dlt_read_parse(q, &di)) {
		uint8_t val[4];
		size_t n = 0;
		int rc = -1;
		switch (di) {
		case 0x00010000:
			rc = dlt_bcd_encode(v->milli_wh / 10000, n = 4, 0, val);
			break;
		case 0x02010100:
			rc = dlt_bcd_encode(bcd_field(volts(v), 1), n = 2, 0, val);
			break;
		case 0x02020100:
			rc = dlt_bcd_encode(bcd_field(amps(v), 3), n = 3, 1, val);
			break;
		case 0x02030000:
			rc = dlt_bcd_encode(bcd_field((double)watts(v) / 1000.0, 4), n = 3, 1, val);
			break;
		case 0x02060000:
			rc = dlt_bcd_encode(950, n = 2, 1, val);
			break;
		case 0x04000503: /* status word 3: bit 4 is the relay, 1 when open */
			val[0] = v->relay_on ? 0 : 0x10;
			val[1] = 0;
			n = 2;
			rc = 0;
			break;
		}
		if (rc)
			dlt_error_reply(&r, v->dlt_addr, DLT_FN_READ, DLT_ERR_NO_DATA);
		else
			dlt_read_reply(&r, v->dlt_addr, di, val, n);
	} else if (!dlt_control_parse(q, &c)) {
		if (memcmp(c.password, D.password, 4)) {
			dlt_error_reply(&r, v->dlt_addr, DLT_FN_CONTROL, DLT_ERR_UNAUTHORISED);
		} else if (c.n1 == DLT_CTL_TRIP || c.n1 == DLT_CTL_CLOSE) {
			bool on = c.n1 == DLT_CTL_CLOSE;
			if (on != v->relay_on)
				D.commands++;
			v->relay_on = on;
			dlt_control_ack(&r, v->dlt_addr);
		} else {
			dlt_error_reply(&r, v->dlt_addr, DLT_FN_CONTROL, DLT_ERR_OTHER);
		}
	} else {
		return 0;
	}
	size_t n = dlt_encode(&r, 1, out, cap);
	if (n && v->corrupt > 0) {
		v->corrupt--;
		out[n - 2] ^= 0x01; /* the checksum */
	}
	return n;
}

/* The converter: every connection in turn, a request in, the bus's answer out. */
static void *bus_loop(void *arg)
{
	int lfd = *(int *)arg;
	struct pollfd pf[64];
	uint8_t buf[64][600];
	size_t len[64];
	int npf = 1;
	pf[0] = (struct pollfd){lfd, POLLIN, 0};
	while (!D.stop) {
		if (poll(pf, (nfds_t)npf, 200) <= 0)
			continue;
		if (pf[0].revents) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0 && npf < 64) {
				pf[npf] = (struct pollfd){c, POLLIN, 0};
				len[npf++] = 0;
			} else if (c >= 0) {
				close(c);
			}
		}
		for (int k = 1; k < npf; k++) {
			if (!pf[k].revents)
				continue;
			ssize_t r = read(pf[k].fd, buf[k] + len[k], sizeof buf[k] - len[k]);
			if (r <= 0) {
				close(pf[k].fd);
				pf[k] = pf[npf - 1];
				memcpy(buf[k], buf[npf - 1], len[npf - 1]);
				len[k] = len[npf - 1];
				npf--;
				k--;
				continue;
			}
			len[k] += (size_t)r;
			for (;;) {
				uint8_t out[600];
				size_t used = 0, n = 0;
				bool more = false;
				pthread_mutex_lock(&D.mu);
				if (D.proto == P_RTU_TCP) {
					struct mbrtu_req q;
					enum mbrtu_status st = mbrtu_request_decode(buf[k], len[k], &q, &used);
					if (st == MBRTU_MORE)
						more = true;
					else if (st == MBRTU_OK) {
						D.requests++;
						n = rtu_answer(&q, out, sizeof out);
					} else if (st == MBRTU_EXCEPTION) {
						n = mbrtu_exception_encode(q.unit, q.fc, MBRTU_EXC_ILLEGAL_VALUE, out);
					}
				} else {
					struct dlt_frame q;
					enum dlt_status st = dlt_decode(buf[k], len[k], &q, &used);
					if (st == DLT_MORE)
						more = true;
					else if (st == DLT_OK && !(q.c & DLT_C_REPLY)) {
						D.requests++;
						n = dlt_answer(&q, out, sizeof out);
					}
				}
				if (n)
					D.replies++;
				pthread_mutex_unlock(&D.mu);
				memmove(buf[k], buf[k] + used, len[k] - used);
				len[k] -= used;
				if (n && write(pf[k].fd, out, n) != (ssize_t)n)
					break;
				if (more || !len[k])
					break;
			}
		}
	}
	return NULL;
}

/* ---- MQTT devices ---- */

static void pub(const char *topic, const char *payload, bool retain)
{
	mosquitto_publish(D.mq, NULL, topic, (int)strlen(payload), payload, 1, retain);
}

static void shelly_rpc(struct dev *v, json_t *j)
{
	const char *method = json_string_value(json_object_get(j, "method"));
	const char *src = json_string_value(json_object_get(j, "src"));
	json_t *id = json_object_get(j, "id"), *params = json_object_get(j, "params");
	if (!method || !src || !json_is_integer(id))
		return;
	json_t *res = NULL;
	char topic[200];
	if (!strcmp(method, "EM1.GetStatus")) {
		res = json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "id", 0, "current", amps(v), "voltage", volts(v),
				"act_power", (double)watts(v), "aprt_power", (double)watts(v) / 0.95, "pf", 0.95, "freq", 50.0);
	} else if (!strcmp(method, "EM1Data.GetStatus")) {
		res = json_pack("{s:i, s:f, s:f}", "id", 0, "total_act_energy", (double)(v->milli_wh / 1000),
				"total_act_ret_energy", 0.0);
	} else if (!strcmp(method, "Switch.GetStatus")) {
		res = json_pack("{s:i, s:b, s:s}", "id", 0, "output", v->relay_on, "source", "init");
	} else if (!strcmp(method, "Switch.Set")) {
		json_t *on = json_object_get(params, "on");
		if (!json_is_boolean(on)) {
			json_t *e = json_pack("{s:O, s:s, s:{s:i, s:s}}", "id", id, "src", v->topic, "error", "code", -103,
					      "message", "Missing required argument 'on'!");
			char *s = json_dumps(e, JSON_COMPACT);
			snprintf(topic, sizeof topic, "%s/rpc", src);
			pub(topic, s, false);
			free(s);
			json_decref(e);
			return;
		}
		res = json_pack("{s:b}", "was_on", v->relay_on);
		if (json_is_true(on) != v->relay_on)
			D.commands++;
		v->relay_on = json_is_true(on);
		char st[100];
		snprintf(topic, sizeof topic, "%s/status/switch:0", v->topic);
		snprintf(st, sizeof st, "{\"id\":0,\"output\":%s,\"source\":\"MQTT\"}", v->relay_on ? "true" : "false");
		pub(topic, st, false);
	} else {
		res = NULL;
	}
	json_t *a = res ? json_pack("{s:O, s:s, s:s, s:o}", "id", id, "src", v->topic, "dst", src, "result", res)
			: json_pack("{s:O, s:s, s:{s:i, s:s}}", "id", id, "src", v->topic, "error", "code", -114, "message",
				    "Method not found");
	char *s = json_dumps(a, JSON_COMPACT);
	snprintf(topic, sizeof topic, "%s/rpc", src);
	pub(topic, s, false);
	free(s);
	json_decref(a);
}

static void tasmota_status10(struct dev *v, const char *kind)
{
	char topic[200], body[400], t[40];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
	const char *fmt = !strcmp(kind, "STATUS10")
		? "{\"StatusSNS\":{\"Time\":\"%s\",\"ENERGY\":{\"TotalStartTime\":\"2026-01-01T00:00:00\",\"Total\":%.3f,"
		  "\"Yesterday\":0.000,\"Today\":0.000,\"Power\":%lld,\"ApparentPower\":%lld,\"ReactivePower\":0,"
		  "\"Factor\":0.95,\"Voltage\":%.0f,\"Current\":%.3f}}}"
		: "{\"Time\":\"%s\",\"ENERGY\":{\"TotalStartTime\":\"2026-01-01T00:00:00\",\"Total\":%.3f,"
		  "\"Yesterday\":0.000,\"Today\":0.000,\"Power\":%lld,\"ApparentPower\":%lld,\"ReactivePower\":0,"
		  "\"Factor\":0.95,\"Voltage\":%.0f,\"Current\":%.3f}}";
	snprintf(body, sizeof body, fmt, t, (double)(v->milli_wh / 1000) / 1000.0, (long long)watts(v),
		 (long long)watts(v), volts(v), amps(v));
	snprintf(topic, sizeof topic, !strcmp(kind, "STATUS10") ? "stat/%s/STATUS10" : "tele/%s/SENSOR", v->topic);
	pub(topic, body, false);
}

static void on_mqtt(struct mosquitto *mq, void *ud, const struct mosquitto_message *msg)
{
	(void)mq;
	(void)ud;
	pthread_mutex_lock(&D.mu);
	advance();
	D.requests++;
	for (int i = 0; i < D.n; i++) {
		struct dev *v = &D.d[i];
		size_t tl = strlen(v->topic);
		if (v->silent)
			continue;
		if (D.proto == P_SHELLY) {
			if (strncmp(msg->topic, v->topic, tl) || strcmp(msg->topic + tl, "/rpc"))
				continue;
			json_t *j = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
			if (j)
				shelly_rpc(v, j);
			json_decref(j);
		} else {
			char want[200];
			snprintf(want, sizeof want, "cmnd/%s/", v->topic);
			if (strncmp(msg->topic, want, strlen(want)))
				continue;
			const char *cmd = msg->topic + strlen(want);
			char arg[16] = "";
			snprintf(arg, sizeof arg, "%.*s", msg->payloadlen > 15 ? 15 : msg->payloadlen, (const char *)msg->payload);
			if (!strcmp(cmd, "STATUS") && !strcmp(arg, "10")) {
				tasmota_status10(v, "STATUS10");
			} else if (!strcmp(cmd, "POWER")) {
				bool on = !strcasecmp(arg, "ON") || !strcmp(arg, "1");
				if (strcasecmp(arg, "ON") && strcasecmp(arg, "OFF") && strcmp(arg, "1") && strcmp(arg, "0"))
					on = v->relay_on;
				if (on != v->relay_on)
					D.commands++;
				v->relay_on = on;
				char topic[200], body[40];
				snprintf(topic, sizeof topic, "stat/%s/RESULT", v->topic);
				snprintf(body, sizeof body, "{\"POWER\":\"%s\"}", on ? "ON" : "OFF");
				pub(topic, body, false);
				snprintf(topic, sizeof topic, "stat/%s/POWER", v->topic);
				pub(topic, on ? "ON" : "OFF", false);
			}
		}
		D.replies++;
		break;
	}
	pthread_mutex_unlock(&D.mu);
}

static void on_mqtt_connect(struct mosquitto *mq, void *ud, int rc)
{
	(void)ud;
	if (rc)
		return;
	for (int i = 0; i < D.n; i++) {
		char t[200];
		if (D.proto == P_SHELLY) {
			snprintf(t, sizeof t, "%s/rpc", D.d[i].topic);
		} else {
			snprintf(t, sizeof t, "cmnd/%s/#", D.d[i].topic);
			char lwt[200];
			snprintf(lwt, sizeof lwt, "tele/%s/LWT", D.d[i].topic);
			pub(lwt, "Online", true);
		}
		mosquitto_subscribe(mq, NULL, t, 1);
	}
}

/* With --notify-hz: each device says its energy that often on its own (Shelly status
 * notifications on <prefix>/status/em1data:0, Tasmota tele/<topic>/SENSOR). */
static void notify_all(void)
{
	pthread_mutex_lock(&D.mu);
	advance();
	for (int i = 0; i < D.n; i++) {
		struct dev *v = &D.d[i];
		if (v->silent)
			continue;
		if (D.proto == P_SHELLY) {
			char topic[200], body[200];
			snprintf(topic, sizeof topic, "%s/status/em1data:0", v->topic);
			snprintf(body, sizeof body, "{\"id\":0,\"total_act_energy\":%lld.00,\"total_act_ret_energy\":0.00}",
				 (long long)(v->milli_wh / 1000));
			pub(topic, body, false);
		} else {
			tasmota_status10(v, "SENSOR");
		}
	}
	pthread_mutex_unlock(&D.mu);
}

/* ---- the control port ---- */

static struct dev *find(const char *serial)
{
	for (int i = 0; serial && i < D.n; i++)
		if (!strcmp(D.d[i].serial, serial))
			return &D.d[i];
	return NULL;
}

static void control(void *ud, const struct peer_request *r, struct peer_reply *out)
{
	(void)ud;
	pthread_mutex_lock(&D.mu);
	advance();
	if (!strcmp(r->method, "GET") && !strcmp(r->path, "/state")) {
		json_t *a = json_array();
		for (int i = 0; i < D.n; i++) {
			struct dev *v = &D.d[i];
			json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:s, s:I}", "serial", v->serial, "register_wh",
							   (json_int_t)shown_wh(v), "energy_mwh", (json_int_t)v->milli_wh,
							   "relay", v->relay_on ? "on" : "off", "power_w", (json_int_t)v->power_w));
		}
		json_t *j = json_pack("{s:o, s:I, s:I, s:I}", "devices", a, "requests", (json_int_t)D.requests, "replies",
				      (json_int_t)D.replies, "relay_changes", (json_int_t)D.commands);
		out->body = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	} else if (!strcmp(r->method, "POST") && !strcmp(r->path, "/set")) {
		json_t *j = json_loads(r->body, 0, NULL);
		struct dev *v = find(json_string_value(json_object_get(j, "serial")));
		if (!v) {
			out->status = 404;
		} else {
			json_t *x;
			if ((x = json_object_get(j, "power_w")))
				v->power_w = json_integer_value(x);
			if ((x = json_object_get(j, "silent")))
				v->silent = json_is_true(x);
			if ((x = json_object_get(j, "corrupt")))
				v->corrupt = (int)json_integer_value(x);
			if ((x = json_object_get(j, "register_wh")))
				v->milli_wh = json_integer_value(x) * 1000;
		}
		json_decref(j);
	} else {
		out->status = 404;
	}
	pthread_mutex_unlock(&D.mu);
}

/* ---- the gateway config ---- */

static int write_config(const char *path, const char *url, const char *key, const char *queue)
{
	json_t *ms = json_array();
	for (int i = 0; i < D.n; i++) {
		struct dev *v = &D.d[i];
		json_t *m = json_pack("{s:s, s:i}", "serial", v->serial, "poll_s", D.poll_s);
		char addr[64];
		switch (D.proto) {
		case P_MODBUS_TCP:
			snprintf(addr, sizeof addr, "127.0.0.1:%d", D.base_port + i);
			json_object_set_new(m, "profile", json_string(D.model));
			json_object_set_new(m, "transport", json_string("modbus-tcp"));
			json_object_set_new(m, "address", json_string(addr));
			break;
		case P_RTU_TCP:
			snprintf(addr, sizeof addr, "127.0.0.1:%d", D.base_port);
			json_object_set_new(m, "profile", json_string(D.model));
			json_object_set_new(m, "transport", json_string("modbus-rtu-tcp"));
			json_object_set_new(m, "address", json_string(addr));
			json_object_set_new(m, "unit", json_integer(i + 1));
			break;
		case P_DLT645:
			snprintf(addr, sizeof addr, "127.0.0.1:%d", D.base_port);
			json_object_set_new(m, "profile", json_string("dlt645-2007"));
			json_object_set_new(m, "transport", json_string("dlt645-tcp"));
			json_object_set_new(m, "address", json_string(addr));
			json_object_set_new(m, "meter_address", json_string(v->address));
			json_object_set_new(m, "password", json_string("02123456"));
			json_object_set_new(m, "operator", json_string("00000001"));
			break;
		default:
			json_object_set_new(m, "profile", json_string(D.proto == P_SHELLY ? "shelly-pro-em" : "tasmota-energy"));
			json_object_set_new(m, "transport", json_string("mqtt"));
			json_object_set_new(m, "topic", json_string(v->topic));
		}
		json_array_append_new(ms, m);
	}
	json_t *c = json_pack("{s:{s:s, s:s}, s:s, s:o}", "wattle", "url", url ? url : "http://127.0.0.1:8080", "key",
			      key ? key : "wk_replace_me", "queue", queue ? queue : "gateway-queue.db", "meters", ms);
	if (D.proto >= P_SHELLY)
		json_object_set_new(c, "mqtt", json_pack("{s:s, s:i}", "host", D.broker_host, "port", D.broker_port));
	int rc = json_dump_file(c, path, JSON_INDENT(2));
	json_decref(c);
	return rc;
}

static void on_stop(int s)
{
	(void)s;
	D.stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wattle-metersim --protocol modbus-tcp|modbus-rtu-tcp|dlt645-tcp|mqtt-shelly|mqtt-tasmota\n"
		"         --meters N [--serial-prefix P] [--port BASE] [--model eastron-sdm630|eastron-sdm120|acrel-ddsy1352]\n"
		"         [--broker HOST:PORT] [--power-w W] [--speed X] [--notify-hz HZ] [--control-port PORT]\n"
		"         [--write-config FILE --url WATTLE_URL --key GATEWAY_KEY --queue PATH --poll-s 1] [--seconds N]\n"
		"Plays N meters as real-protocol devices for wattle-gateway. Modbus TCP: one port per meter\n"
		"from BASE (unit 1); RTU over TCP and DL/T 645: one converter port BASE, meters as units 1..N or\n"
		"addresses 0000100000NN; MQTT: devices on the broker under <prefix>N (shellyproem-/tasmota-).\n"
		"Each register advances at --power-w (default 2000) x --speed while its relay is on. The\n"
		"control port serves GET /state and POST /set {serial, power_w, silent, corrupt, register_wh}.\n"
		"--write-config writes the gateway config for these devices (each polled every --poll-s) and goes on.\n");
}

int metersim_devices(int argc, char **argv)
{
	static const struct option opts[] = {
		{"protocol", 1, 0, 'P'}, {"meters", 1, 0, 'n'},       {"serial-prefix", 1, 0, 's'},
		{"port", 1, 0, 'p'},     {"model", 1, 0, 'm'},        {"broker", 1, 0, 'b'},
		{"power-w", 1, 0, 'w'},  {"speed", 1, 0, 'x'},        {"notify-hz", 1, 0, 'z'},
		{"control-port", 1, 0, 'c'}, {"write-config", 1, 0, 'W'}, {"url", 1, 0, 'u'},
		{"key", 1, 0, 'k'},      {"queue", 1, 0, 'q'},        {"seconds", 1, 0, 't'},
		{"poll-s", 1, 0, 'o'},
		{"help", 0, 0, 'h'},     {0, 0, 0, 0}};
	const char *prefix = NULL, *config = NULL, *url = NULL, *key = NULL, *queue = NULL, *proto = NULL;
	int64_t power = 2000;
	double seconds = 0;
	snprintf(D.model, sizeof D.model, "eastron-sdm630");
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'P': proto = optarg; break;
		case 'n': D.n = atoi(optarg); break;
		case 's': prefix = optarg; break;
		case 'p': D.base_port = atoi(optarg); break;
		case 'm': snprintf(D.model, sizeof D.model, "%s", optarg); break;
		case 'b': {
			const char *c = strrchr(optarg, ':');
			if (!c)
				return usage(stderr), 2;
			snprintf(D.broker_host, sizeof D.broker_host, "%.*s", (int)(c - optarg), optarg);
			D.broker_port = atoi(c + 1);
			break;
		}
		case 'w': power = atoll(optarg); break;
		case 'x': D.speed = atof(optarg); break;
		case 'z': D.notify_hz = atof(optarg); break;
		case 'c': D.control_port = atoi(optarg); break;
		case 'W': config = optarg; break;
		case 'u': url = optarg; break;
		case 'k': key = optarg; break;
		case 'q': queue = optarg; break;
		case 't': seconds = atof(optarg); break;
		case 'o': D.poll_s = atoi(optarg); break;
		default: usage(o == 'h' ? stdout : stderr); return o == 'h' ? 0 : 2;
		}
	}
	int p = -1;
	for (int i = 0; proto && i < 5; i++)
		if (!strcmp(proto, proto_names[i]))
			p = i;
	if (D.poll_s <= 0)
		D.poll_s = 1;
	if (p < 0 || D.n < 1 || D.n > (p == P_MODBUS_TCP ? 1000 : p <= P_DLT645 ? 247 : 10000) ||
	    (p <= P_DLT645 && D.base_port <= 0) ||
	    (strcmp(D.model, "eastron-sdm630") && strcmp(D.model, "eastron-sdm120") && strcmp(D.model, "acrel-ddsy1352"))) {
		usage(stderr);
		return 2;
	}
	D.proto = (enum proto)p;
	if (!prefix)
		prefix = D.proto == P_SHELLY ? "shellyproem-" : D.proto == P_TASMOTA ? "tasmota-" : "GW-";
	memcpy(D.password, (uint8_t[]){0x02, 0x12, 0x34, 0x56}, 4);
	if (!(D.d = calloc((size_t)D.n, sizeof *D.d)))
		abort();
	for (int i = 0; i < D.n; i++) {
		struct dev *v = &D.d[i];
		snprintf(v->serial, sizeof v->serial, "%s%d", prefix, i + 1);
		snprintf(v->topic, sizeof v->topic, "%s%d", prefix, i + 1);
		snprintf(v->address, sizeof v->address, "0000100000%02d", (i + 1) % 100);
		if (i >= 99)
			snprintf(v->address, sizeof v->address, "%012d", 100000 + i);
		dlt_addr_parse(v->address, v->dlt_addr);
		v->power_w = power;
		v->relay_on = true;
		v->milli_wh = (int64_t)(1000 + 37 * i) * 1000 * 10; /* a register that has run a while */
		v->listen_fd = -1;
		if (D.proto <= P_RTU_TCP) {
			v->map = modbus_mapping_new(0, 0, 0x100, 0x200);
			if (!v->map)
				abort();
		}
	}
	if (config && write_config(config, url, key, queue)) {
		fprintf(stderr, "metersim: cannot write %s\n", config);
		return 1;
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGPIPE, SIG_IGN);
	struct peer *ctl = D.control_port ? peer_start(D.control_port, control, NULL) : NULL;
	if (D.control_port && !ctl) {
		fprintf(stderr, "metersim: cannot listen on the control port %d\n", D.control_port);
		return 1;
	}
	pthread_t th;
	bool threaded = false;
	int bus_fd = -1;
	if (D.proto == P_MODBUS_TCP) {
		for (int i = 0; i < D.n; i++) {
			D.d[i].listen_fd = listen_on(D.base_port + i);
			D.d[i].ctx = modbus_new_tcp("127.0.0.1", D.base_port + i);
		}
		threaded = !pthread_create(&th, NULL, modbus_tcp_loop, NULL);
	} else if (D.proto <= P_DLT645) {
		bus_fd = listen_on(D.base_port);
		threaded = !pthread_create(&th, NULL, bus_loop, &bus_fd);
	} else {
		mosquitto_lib_init();
		char id[64];
		snprintf(id, sizeof id, "metersim-%s-%d", proto_names[D.proto], (int)getpid());
		D.mq = mosquitto_new(id, true, NULL);
		mosquitto_connect_callback_set(D.mq, on_mqtt_connect);
		mosquitto_message_callback_set(D.mq, on_mqtt);
		mosquitto_max_inflight_messages_set(D.mq, 0);
		if (mosquitto_connect(D.mq, D.broker_host, D.broker_port, 30) != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "metersim: cannot reach the broker at %s:%d\n", D.broker_host, D.broker_port);
			return 1;
		}
		mosquitto_loop_start(D.mq);
	}
	fprintf(stderr, "metersim: %d %s devices%s%s\n", D.n, proto_names[D.proto], config ? ", config in " : "",
		config ? config : "");
	int64_t t0 = srv_mono_us(), next_notify = t0;
	while (!D.stop && (seconds <= 0 || (double)(srv_mono_us() - t0) / 1e6 < seconds)) {
		if (D.mq && D.notify_hz > 0) {
			int64_t now = srv_mono_us();
			if (now >= next_notify) {
				notify_all();
				next_notify += (int64_t)(1e6 / D.notify_hz);
				if (next_notify < now)
					next_notify = now;
			}
			int64_t wait = next_notify - srv_mono_us();
			usleep(wait > 0 ? (useconds_t)(wait < 100000 ? wait : 100000) : 0);
		} else {
			usleep(100000);
		}
	}
	D.stop = 1;
	if (threaded)
		pthread_join(th, NULL);
	if (D.mq) {
		mosquitto_disconnect(D.mq);
		mosquitto_loop_stop(D.mq, false);
		mosquitto_destroy(D.mq);
		mosquitto_lib_cleanup();
	}
	peer_stop(ctl);
	for (int i = 0; i < D.n; i++) {
		if (D.d[i].ctx)
			modbus_free(D.d[i].ctx);
		if (D.d[i].map)
			modbus_mapping_free(D.d[i].map);
		if (D.d[i].listen_fd >= 0)
			close(D.d[i].listen_fd);
	}
	if (bus_fd >= 0)
		close(bus_fd);
	free(D.d);
	return 0;
}
