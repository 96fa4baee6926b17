/* metersim.c: a simulated meter fleet and its gateway, for the demo, tests and benchmarks.
 *
 * It reads the meters whose gateway is this simulator from the server, makes load by
 * profile, posts cumulative readings in batches on wattle's clock (WATTLE_CLOCK_SPEED and
 * WATTLE_CLOCK_START, as the server reads them), serves {gateway}/commands (checking
 * X-Wattle-Signature), honours the relay (a cut meter's energy stops) and acks.
 * --inject KIND:SERIAL makes a meter show a condition the alarms capability detects. */
#include "peer/peer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "metersim/devices.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum profile { RETAIL, CATERING, OFFICE, HVAC, FLAT };

struct meter {
	char serial[72];
	enum profile profile;
	int64_t max_w;
	int64_t energy_wh, milli_wh; /* register and the part below one Wh */
	int64_t next_us;             /* the next reading's time */
	int relay_on;
	int64_t limit_w; /* max_power_w as registered, 0 = none */
	unsigned inject; /* 1 << enum fault */
	long sent;       /* readings made so far */
};

/* Conditions --inject can put on a meter, from its third reading on. */
enum fault { F_OVERLOAD, F_MALICIOUS, F_OVER_V, F_UNDER_V, F_LOW_PF, F_HARMONICS, F_COMM_LOST,
	     F_REGRESSED, F_RELAY, F__COUNT };
static const char *const fault_names[F__COUNT] = {"overload", "malicious", "over_voltage", "under_voltage",
						   "low_pf", "harmonics", "comm_lost", "energy_regressed",
						   "relay_mismatch"};
struct injection {
	enum fault f;
	char serial[72];
};

static struct {
	const char *url, *key, *operator_key, *secret, *self;
	int port, interval_min, offset_h;
	double seconds;
	struct injection inj[64];
	int ninj;
	double inject_until_min; /* simulated minutes after start; 0 = for ever */
	int64_t start_us;
	struct meter *m;
	int n;
	pthread_mutex_t mu;
	long readings, posts, commands, acks, bad_signatures;
	/* acks to send: command id and relay */
	char acks_q[1024][48];
	int nacks;
	int64_t ack_delay_us; /* --ack-delay-s */
	volatile sig_atomic_t stop;
} S = {.interval_min = 15, .offset_h = 8, .mu = PTHREAD_MUTEX_INITIALIZER};

/* Relative load (0..1) of a profile at a local hour. */
static double load(enum profile p, double hour)
{
	switch (p) {
	case RETAIL:
		return hour >= 10 && hour < 22 ? 0.75 : 0.08;
	case CATERING: /* lunch and dinner peaks */
		return 0.15 + 0.8 * exp(-pow(hour - 12.5, 2) / 1.5) + 0.9 * exp(-pow(hour - 19, 2) / 2.0);
	case OFFICE:
		return hour >= 8.5 && hour < 18.5 ? 0.6 : 0.05;
	case HVAC: /* the afternoon heat */
		return 0.2 + 0.7 * exp(-pow(hour - 15, 2) / 8.0);
	default:
		return 0.5;
	}
}

/* A reply body: never NULL, "" when the reply had none. */
static struct srv_buf sink_new(void)
{
	struct srv_buf s = {0};
	srv_buf_putn(&s, "", 0);
	return s;
}

static long http(CURL *h, const char *method, const char *path, const char *key, const char *body,
		 struct srv_buf *out)
{
	char url[512], auth[160];
	snprintf(url, sizeof url, "%s%s", S.url, path);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
	struct curl_slist *hd = curl_slist_append(NULL, auth);
	hd = curl_slist_append(hd, "Content-Type: application/json");
	hd = curl_slist_append(hd, "Expect:");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, srv_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	long status = 0;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hd);
	return status;
}

/* The meters whose gateway is this simulator. */
static int load_meters(CURL *h)
{
	char path[256] = "/v1/meters?limit=1000";
	for (;;) {
		struct srv_buf s = sink_new();
		if (http(h, "GET", path, S.operator_key, NULL, &s) != 200) {
			fprintf(stderr, "metersim: cannot list meters: %s\n", s.p);
			srv_buf_free(&s);
			return -1;
		}
		json_t *j = json_loads(s.p, 0, NULL);
		srv_buf_free(&s);
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(j, "items"), i, m) {
			const char *gw = json_string_value(json_object_get(m, "gateway"));
			if (!gw || strcmp(gw, S.self) || strcmp(json_string_value(json_object_get(m, "status")), "active"))
				continue;
			S.m = realloc(S.m, (size_t)(S.n + 1) * sizeof *S.m);
			struct meter *x = &S.m[S.n++];
			memset(x, 0, sizeof *x);
			snprintf(x->serial, sizeof x->serial, "%s", json_string_value(json_object_get(m, "serial")));
			const char *purpose = json_string_value(json_object_get(m, "purpose"));
			unsigned hash = 0;
			for (const char *c = x->serial; *c; c++)
				hash = hash * 31 + (unsigned char)*c;
			x->profile = !strcmp(purpose, "hvac") ? HVAC
				     : strcmp(purpose, "tenant") ? FLAT
								 : (enum profile)(hash % 3);
			json_t *mw = json_object_get(m, "max_power_w");
			x->max_w = json_is_integer(mw) ? json_integer_value(mw) * 6 / 10 : 8000;
			x->limit_w = json_is_integer(mw) ? json_integer_value(mw) : 0;
			x->relay_on = 1;
			for (int k = 0; k < S.ninj; k++)
				if (!strcmp(S.inj[k].serial, x->serial))
					x->inject |= 1u << S.inj[k].f;
		}
		const char *next = json_string_value(json_object_get(j, "next_after"));
		if (next)
			snprintf(path, sizeof path, "/v1/meters?limit=1000&after=%s", next);
		json_decref(j);
		if (!next)
			return 0;
	}
}

static struct meter *find(const char *serial)
{
	for (int i = 0; i < S.n; i++)
		if (!strcmp(S.m[i].serial, serial))
			return &S.m[i];
	return NULL;
}

/* POST /commands from wattle: check the signature, apply the relay, queue the ack. */
static void on_command(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	unsigned status = 200;
	const char *sig = peer_header(rq, "X-Wattle-Signature");
	json_t *j = json_loads(rq->body, 0, NULL);
	if (strcmp(rq->method, "POST") || strcmp(rq->path, "/commands") || !j) {
		status = 404;
	} else if (S.secret) {
		char want[200];
		long long t = sig && !strncmp(sig, "t=", 2) ? atoll(sig + 2) : 0;
		srv_sign(S.secret, t, rq->body, want, sizeof want);
		if (!sig || strcmp(sig, want)) {
			status = 401;
			pthread_mutex_lock(&S.mu);
			S.bad_signatures++;
			pthread_mutex_unlock(&S.mu);
		}
	}
	if (status == 200) {
		const char *serial = json_string_value(json_object_get(j, "meter_serial"));
		const char *action = json_string_value(json_object_get(j, "action"));
		const char *id = json_string_value(json_object_get(j, "command_id"));
		pthread_mutex_lock(&S.mu);
		struct meter *m = serial ? find(serial) : NULL;
		if (!m || !action || !id) {
			status = 422;
		} else {
			m->relay_on = strcmp(action, "cut_off") != 0;
			S.commands++;
			if (S.nacks < 1024)
				snprintf(S.acks_q[S.nacks++], sizeof S.acks_q[0], "%s %s %lld", id, m->relay_on ? "on" : "off",
					 (long long)(srv_mono_us() + S.ack_delay_us));
		}
		pthread_mutex_unlock(&S.mu);
	}
	json_decref(j);
	out->status = status;
}

static void send_acks(CURL *h)
{
	char q[1024][48];
	pthread_mutex_lock(&S.mu);
	int n = S.nacks;
	memcpy(q, S.acks_q, (size_t)n * sizeof q[0]);
	S.nacks = 0;
	pthread_mutex_unlock(&S.mu);
	int failed = 0;
	int64_t now = srv_mono_us();
	for (int i = 0; i < n; i++) {
		char id[40], relay[8], path[80], body[120];
		long long due = 0;
		sscanf(q[i], "%39s %7s %lld", id, relay, &due);
		if (due > now) { /* --ack-delay-s: a gateway that acks late */
			memmove(q[failed++], q[i], sizeof q[0]);
			continue;
		}
		snprintf(path, sizeof path, "/v1/commands/%s/ack", id);
		snprintf(body, sizeof body, "{\"result\":\"executed\",\"relay\":\"%s\"}", relay);
		struct srv_buf s = sink_new();
		long st = http(h, "POST", path, S.key, body, &s);
		if (st == 200 || st == 409) /* 409: acked already (an ack whose answer was lost) */
			S.acks++;
		else /* wattle down or busy: the gateway keeps the ack and sends it again */
			memmove(q[failed++], q[i], sizeof q[0]);
		srv_buf_free(&s);
	}
	if (failed) {
		pthread_mutex_lock(&S.mu);
		for (int i = 0; i < failed && S.nacks < 1024; i++)
			memcpy(S.acks_q[S.nacks++], q[i], sizeof q[0]);
		pthread_mutex_unlock(&S.mu);
	}
}

static void flush(CURL *h, struct srv_buf *b, int *count)
{
	if (!*count)
		return;
	srv_buf_puts(b, "]}");
	struct srv_buf s = sink_new();
	if (http(h, "POST", "/v1/readings", S.key, b->p, &s) == 200) {
		S.readings += *count;
		S.posts++;
	} else {
		fprintf(stderr, "\nmetersim: readings refused: %s\n", s.p);
	}
	srv_buf_free(&s);
	srv_buf_clear(b);
	*count = 0;
}

/* Readings due up to now, for every meter, in batches of at most 5,000. */
static void post_readings(CURL *h, int64_t now)
{
	int64_t step = (int64_t)S.interval_min * 60000000;
	struct srv_buf b = {0};
	int count = 0;
	for (int i = 0; i < S.n; i++) {
		struct meter *m = &S.m[i];
		while (m->next_us <= now) {
			if (count == 5000)
				flush(h, &b, &count);
			pthread_mutex_lock(&S.mu);
			double hour = fmod((double)(m->next_us / 1000000) / 3600.0 + S.offset_h, 24.0);
			int64_t w = m->relay_on ? (int64_t)((double)m->max_w * load(m->profile, hour) *
							    (0.85 + 0.3 * (double)rand() / RAND_MAX))
						: 0;
			m->milli_wh += w * S.interval_min * 1000 / 60; /* W x h, in mWh */
			m->energy_wh += m->milli_wh / 1000;
			m->milli_wh %= 1000;
			int on = m->relay_on;
			pthread_mutex_unlock(&S.mu);
			unsigned f = m->sent++ >= 2 && (S.inject_until_min <= 0 ||
							(double)(m->next_us - S.start_us) / 6e7 < S.inject_until_min)
					     ? m->inject
					     : 0;
			if (f & (1u << F_COMM_LOST)) { /* silent: no reading at all */
				m->next_us += step;
				continue;
			}
			/* Instantaneous values; energy stays what the load really used. */
			int64_t pw = w;
			double volts = 220 + 4.0 * rand() / RAND_MAX - 2, pf = 0.92 + 0.04 * rand() / RAND_MAX;
			double thd_v = 2.0, thd_i = 8.0;
			if (f & (1u << F_OVERLOAD))
				pw = (m->limit_w ? m->limit_w : m->max_w) * 13 / 10;
			if (f & (1u << F_MALICIOUS)) { /* a 3 kW heater */
				pw = w + 3000;
				pf = 0.99;
			}
			if (f & (1u << F_OVER_V))
				volts = 252;
			if (f & (1u << F_UNDER_V))
				volts = 188;
			if (f & (1u << F_LOW_PF)) {
				pf = 0.6;
				pw = pw < 1000 ? 1000 : pw;
			}
			if (f & (1u << F_HARMONICS))
				thd_v = 7.5;
			int64_t reg = m->energy_wh;
			if ((f & (1u << F_REGRESSED)) && m->sent == 3) /* once: a register reset */
				reg = 0;
			const char *relay = (f & (1u << F_RELAY)) ? "on" : on ? "on" : "off";
			char ts[40];
			srv_buf_puts(&b, count++ ? "," : "{\"readings\":[");
			srv_buf_printf(&b, "{\"meter\":\"%s\",\"ts\":\"%s\",\"energy_wh\":%lld,\"power_w\":%lld,"
				       "\"voltage_v\":%.1f,\"pf\":%.3f,\"thd_v_pct\":%.1f,\"thd_i_pct\":%.1f,\"relay\":\"%s\"}",
				       m->serial, srv_time_format(m->next_us, ts, sizeof ts), (long long)reg,
				       (long long)pw, volts, pf, thd_v, thd_i, relay);
			m->next_us += step;
		}
	}
	flush(h, &b, &count);
	srv_buf_free(&b);
}

static void summary(int64_t now, int final)
{
	char when[40];
	int on = 0;
	pthread_mutex_lock(&S.mu);
	for (int i = 0; i < S.n; i++)
		on += S.m[i].relay_on;
	pthread_mutex_unlock(&S.mu);
	srv_time_format(now, when, sizeof when);
	fprintf(stdout, "%smetersim %.16s | meters %d on %d off %d | readings %ld in %ld posts | commands %ld acked %ld%s%s",
		isatty(1) && !final ? "\r" : "", when, S.n, on, S.n - on, S.readings, S.posts, S.commands,
		S.acks, S.bad_signatures ? " | BAD SIGNATURES" : "", isatty(1) && !final ? "" : "\n");
	fflush(stdout);
}

static void on_signal(int sig)
{
	(void)sig;
	S.stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wattle-metersim --url URL --key GATEWAY_KEY --operator-key OPERATOR_KEY --port PORT\n"
		"                       [--secret S] [--interval-min 15] [--seconds N] [--utc-offset-h 8]\n"
		"                       [--inject KIND:SERIAL]... [--inject-until-min M] [--ack-delay-s S]\n"
		"Simulates every active meter whose gateway is http://127.0.0.1:PORT. Its clock is wattle's:\n"
		"WATTLE_CLOCK_SPEED and WATTLE_CLOCK_START (default: real time). The secret defaults to\n"
		"WATTLE_GATEWAY_SECRET. --seconds: stop after that much real time (default: until SIGTERM).\n"
		"--ack-delay-s: ack each command that long after executing it (a gateway that acks late).\n"
		"--inject puts a condition on a meter from its third reading on (until M simulated minutes\n"
		"after the start, when given): overload, malicious (a 3 kW resistive heater), over_voltage,\n"
		"under_voltage, low_pf, harmonics, comm_lost (silence), energy_regressed (once),\n"
		"relay_mismatch (the relay always reports on).\n"
		"With --protocol (see wattle-metersim --protocol x --help) it plays the meters as Modbus,\n"
		"DL/T 645 or MQTT devices for wattle-gateway instead.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", 1, 0, 'u'}, {"key", 1, 0, 'k'}, {"operator-key", 1, 0, 'o'},
		{"port", 1, 0, 'p'}, {"secret", 1, 0, 's'}, {"interval-min", 1, 0, 'i'},
		{"seconds", 1, 0, 't'}, {"utc-offset-h", 1, 0, 'z'}, {"inject", 1, 0, 'j'},
		{"inject-until-min", 1, 0, 'U'}, {"ack-delay-s", 1, 0, 'A'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	for (int i = 1; i < argc; i++) /* the fleet as real-protocol devices for wattle-gateway */
		if (!strcmp(argv[i], "--protocol") || !strncmp(argv[i], "--protocol=", 11))
			return metersim_devices(argc, argv);
	int c;
	S.secret = getenv("WATTLE_GATEWAY_SECRET");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': S.url = optarg; break;
		case 'k': S.key = optarg; break;
		case 'o': S.operator_key = optarg; break;
		case 'p': S.port = atoi(optarg); break;
		case 's': S.secret = optarg; break;
		case 'i': S.interval_min = atoi(optarg); break;
		case 't': S.seconds = atof(optarg); break;
		case 'z': S.offset_h = atoi(optarg); break;
		case 'U': S.inject_until_min = atof(optarg); break;
		case 'A': S.ack_delay_us = (int64_t)(atof(optarg) * 1e6); break;
		case 'j': {
			const char *colon = strchr(optarg, ':');
			int f = -1;
			for (int k = 0; colon && k < F__COUNT; k++)
				if ((size_t)(colon - optarg) == strlen(fault_names[k]) &&
				    !strncmp(optarg, fault_names[k], (size_t)(colon - optarg)))
					f = k;
			if (f < 0 || S.ninj == 64) {
				fprintf(stderr, "metersim: --inject KIND:SERIAL, KIND one of overload, malicious,"
						" over_voltage, under_voltage, low_pf, harmonics, comm_lost,"
						" energy_regressed, relay_mismatch\n");
				return 2;
			}
			S.inj[S.ninj].f = (enum fault)f;
			snprintf(S.inj[S.ninj++].serial, sizeof S.inj[0].serial, "%s", colon + 1);
			break;
		}
		default: usage(c == 'h' ? stdout : stderr); return c == 'h' ? 0 : 2; /* --help answers on stdout */
		}
	}
	if (!S.url || !S.key || !S.operator_key || S.port <= 0 || S.interval_min <= 0 ||
	    srv_clock_init(getenv("WATTLE_CLOCK_SPEED"), getenv("WATTLE_CLOCK_START"), getenv("WATTLE_CLOCK_ANCHOR"))) {
		usage(stderr);
		return 2;
	}
	if (S.secret && !*S.secret)
		S.secret = NULL;
	char self[64];
	snprintf(self, sizeof self, "http://127.0.0.1:%d", S.port);
	S.self = self;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	if (load_meters(h))
		return 1;
	int64_t now = srv_clock_now_us();
	S.start_us = now;
	for (int i = 0; i < S.n; i++)
		S.m[i].next_us = now - now % ((int64_t)S.interval_min * 60000000);
	struct peer *d = peer_start(S.port, on_command, NULL);
	if (!d) {
		fprintf(stderr, "metersim: cannot listen on %s\n", self);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "metersim: %d meters on %s, a reading every %d simulated minutes\n", S.n, self, S.interval_min);
	int64_t started = srv_mono_us(), last_summary = 0;
	while (!S.stop && (S.seconds <= 0 || (double)(srv_mono_us() - started) / 1e6 < S.seconds)) {
		now = srv_clock_now_us();
		send_acks(h);
		post_readings(h, now);
		if (srv_mono_us() - last_summary > 1000000) {
			summary(now, 0);
			last_summary = srv_mono_us();
		}
		usleep(100000);
	}
	send_acks(h);
	summary(srv_clock_now_us(), 1);
	peer_stop(d);
	curl_easy_cleanup(h);
	free(S.m);
	return S.bad_signatures ? 3 : 0;
}
