/* main.c: wattle-gateway --config FILE [--check]. Reads and checks the config, opens the
 * queue, starts the lanes, the MQTT side and the uplink, serves /metrics (and, with
 * commands "push", POST /commands) on "listen", and on SIGTERM or SIGINT stops in order:
 * no new polls, everything handed to the queue committed, then exit. */
#include "gateway/gw.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "peer/peer.h"

#include <curl/curl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WATTLE_VERSION
#define WATTLE_VERSION "dev"
#endif

static struct gw_config cfg;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static bool quiet_info;

void gw_log(const char *level, const char *fmt, ...)
{
	if (quiet_info && !strcmp(level, "info"))
		return;
	char msg[1024], ts[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	srv_time_format((int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000, ts, sizeof ts);
	struct srv_buf b = {0};
	srv_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level);
	srv_buf_json_str(&b, msg);
	PUT_LIT(&b, "}\n");
	pthread_mutex_lock(&log_mu);
	fputs(b.p, stderr);
	pthread_mutex_unlock(&log_mu);
	srv_buf_free(&b);
}

/* A command from wattle: once per id, on its meter's lane or its MQTT device. */
static void exec_cmd(const struct gw_cmd *c)
{
	if (gw_queue_done(c->id))
		return; /* ran here before; its ack was queued again */
	struct gw_meter *m = gw_config_meter(&cfg, c->serial);
	if (!m) {
		gw_ack(c->id, false, NULL, "no such meter in this gateway's config");
		return;
	}
	if (strcmp(c->action, "cut_off") && strcmp(c->action, "restore")) {
		gw_ack(c->id, false, NULL, "unknown action");
		return;
	}
	gw_log("info", "command %s: %s meter %s", c->id, c->action, m->serial);
	if (m->tr == GW_MQTT)
		gw_mqtt_command(m, c);
	else
		gw_poll_command(m, c);
}

static void metrics(struct srv_buf *b)
{
	PUT_LIT(b, "# HELP wattle_gateway_queue_depth Readings on disk not yet taken by wattle\n"
		   "# TYPE wattle_gateway_queue_depth gauge\n");
	srv_buf_printf(b, "wattle_gateway_queue_depth %lld\n", (long long)gw_queue_depth());
	/* the queue's files (the database, its WAL) and the room left on their filesystem: a full
	 * disk stops the queue taking readings */
	long long bytes = 0;
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		char path[300];
		struct stat st;
		snprintf(path, sizeof path, "%s%s", cfg.queue, suffix[i]);
		if (!stat(path, &st))
			bytes += (long long)st.st_size;
	}
	PUT_LIT(b, "# HELP wattle_gateway_queue_bytes Bytes of the on-disk queue's files (database and WAL)\n"
		   "# TYPE wattle_gateway_queue_bytes gauge\n");
	srv_buf_printf(b, "wattle_gateway_queue_bytes %lld\n", bytes);
	char dir[256];
	snprintf(dir, sizeof dir, "%s", cfg.queue);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	else
		snprintf(dir, sizeof dir, ".");
	struct statvfs vf;
	if (!statvfs(dir, &vf)) {
		PUT_LIT(b, "# HELP wattle_gateway_queue_fs_avail_bytes Bytes free to the gateway on the queue's filesystem\n"
			   "# TYPE wattle_gateway_queue_fs_avail_bytes gauge\n");
		srv_buf_printf(b, "wattle_gateway_queue_fs_avail_bytes %llu\n",
			       (unsigned long long)vf.f_bavail * (unsigned long long)vf.f_frsize);
		PUT_LIT(b, "# HELP wattle_gateway_queue_fs_size_bytes Size of the queue's filesystem\n"
			   "# TYPE wattle_gateway_queue_fs_size_bytes gauge\n");
		srv_buf_printf(b, "wattle_gateway_queue_fs_size_bytes %llu\n",
			       (unsigned long long)vf.f_blocks * (unsigned long long)vf.f_frsize);
	}
	static const struct {
		const char *name, *help;
		_Atomic uint64_t *v;
	} g[] = {
		{"wattle_gateway_readings_sent_total", "Readings wattle answered 2xx for", &gw_sent_readings},
		{"wattle_gateway_readings_refused_total", "Readings wattle refused for good (logged with the meter)",
		 &gw_rejected_readings},
		{"wattle_gateway_posts_failed_total", "Requests to wattle that failed and are retried", &gw_posts_failed},
		{"wattle_gateway_commands_total", "Commands taken from wattle", &gw_commands_in},
		{"wattle_gateway_acks_total", "Command acks wattle took", &gw_acks_sent},
	};
	for (size_t i = 0; i < sizeof g / sizeof *g; i++)
		srv_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", g[i].name, g[i].help, g[i].name, g[i].name,
			       (unsigned long long)atomic_load(g[i].v));
	static const struct {
		const char *name, *help;
		size_t off;
	} per[] = {
		{"wattle_gateway_meter_polls_total", "Polls of a meter", offsetof(struct gw_meter, polls)},
		{"wattle_gateway_meter_readings_total", "Readings a meter gave", offsetof(struct gw_meter, readings)},
		{"wattle_gateway_meter_commands_total", "Relay commands run on a meter", offsetof(struct gw_meter, commands)},
		{"wattle_gateway_meter_overruns_total", "Polls that came a whole cycle late",
		 offsetof(struct gw_meter, overruns)},
	};
	for (size_t k = 0; k < sizeof per / sizeof *per; k++) {
		srv_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", per[k].name, per[k].help, per[k].name);
		for (int i = 0; i < cfg.nm; i++) {
			_Atomic uint64_t *v = (_Atomic uint64_t *)(void *)((char *)&cfg.m[i] + per[k].off);
			srv_buf_printf(b, "%s{meter=\"%s\"} %llu\n", per[k].name, cfg.m[i].serial,
				       (unsigned long long)atomic_load(v));
		}
	}
	PUT_LIT(b, "# HELP wattle_gateway_meter_faults_total What went wrong asking a meter: timeout, io, crc,"
		   " exception, dlt645_error, range, parse\n# TYPE wattle_gateway_meter_faults_total counter\n");
	for (int i = 0; i < cfg.nm; i++)
		for (int f = 0; f < GF__FAULTS; f++) {
			uint64_t v = atomic_load(&cfg.m[i].faults[f]);
			if (v)
				srv_buf_printf(b, "wattle_gateway_meter_faults_total{meter=\"%s\",fault=\"%s\"} %llu\n",
					       cfg.m[i].serial, gw_fault_names[f], (unsigned long long)v);
		}
}

/* /metrics, and POST /commands from wattle (push delivery, signed as wattle signs). */
static void serve(void *ud, const struct peer_request *r, struct peer_reply *out)
{
	(void)ud;
	if (!strcmp(r->method, "GET") && !strcmp(r->path, "/metrics")) {
		struct srv_buf b = {0};
		metrics(&b);
		out->body = b.p;
		out->content_type = "text/plain; version=0.0.4";
		return;
	}
	if (!strcmp(r->method, "POST") && !strcmp(r->path, "/commands") && !strcmp(cfg.commands, "push")) {
		const char *sig = peer_header(r, "X-Wattle-Signature");
		if (cfg.push_secret[0]) { /* t=<unix>,v1=<HMAC>, within five minutes of our clock */
			char want[200];
			long long t = sig && !strncmp(sig, "t=", 2) ? atoll(sig + 2) : 0;
			srv_sign(cfg.push_secret, t, r->body, want, sizeof want);
			if (!sig || strlen(sig) != strlen(want) || CRYPTO_memcmp(sig, want, strlen(want)) ||
			    llabs(t - (long long)time(NULL)) > 300) {
				out->status = 401;
				return;
			}
		}
		json_t *j = json_loads(r->body, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "command_id"));
		const char *serial = json_string_value(json_object_get(j, "meter_serial"));
		const char *action = json_string_value(json_object_get(j, "action"));
		struct gw_cmd c;
		if (!id || !serial || !action || strlen(id) >= sizeof c.id || strlen(serial) >= sizeof c.serial ||
		    strlen(action) >= sizeof c.action) {
			json_decref(j);
			out->status = 400;
			return;
		}
		snprintf(c.id, sizeof c.id, "%s", id);
		snprintf(c.serial, sizeof c.serial, "%s", serial);
		snprintf(c.action, sizeof c.action, "%s", action);
		json_decref(j);
		atomic_fetch_add(&gw_commands_in, 1);
		exec_cmd(&c);
		out->status = 202;
		return;
	}
	out->status = 404;
}

static volatile sig_atomic_t stop_now;
static void on_signal(int s)
{
	(void)s;
	stop_now = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: wattle-gateway --config FILE [--check]\n"
		   "  Polls and listens to meters (Modbus TCP/RTU, RTU over TCP, DL/T 645, MQTT Shelly/Tasmota),\n"
		   "  queues every reading on disk and posts it to wattle, and runs wattle's relay commands.\n"
		   "  --check     validate FILE and its profiles, print what it would run, and exit\n"
		   "  --quiet     log warnings and errors only\n"
		   "  --version   print the version\n"
		   "Readings are stamped with the system clock, or, in a simulation, with wattle's clock settings\n"
		   "WATTLE_CLOCK_SPEED, WATTLE_CLOCK_START and WATTLE_CLOCK_ANCHOR as wattle has them.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, 0, 'c'}, {"check", no_argument, 0, 'k'},
					     {"quiet", no_argument, 0, 'q'},          {"help", no_argument, 0, 'h'},
					     {"version", no_argument, 0, 'V'},        {0, 0, 0, 0}};
	const char *path = NULL;
	bool check = false;
	int o;
	while ((o = getopt_long(argc, argv, "c:kqhV", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'q':
			quiet_info = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("wattle-gateway %s\n", WATTLE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	/* readings are stamped on wattle's clock; in a simulation (the demo) that clock may be
	 * set off or sped up as wattle's is, with the same settings */
	if (srv_clock_init(getenv("WATTLE_CLOCK_SPEED"), getenv("WATTLE_CLOCK_START"), getenv("WATTLE_CLOCK_ANCHOR"))) {
		fprintf(stderr, "wattle-gateway: bad WATTLE_CLOCK_SPEED, WATTLE_CLOCK_START or WATTLE_CLOCK_ANCHOR\n");
		return 2;
	}
	char err[600] = "";
	if (gw_config_load(path, &cfg, err, sizeof err)) {
		fprintf(stderr, "wattle-gateway: %s: %s\n", path, err);
		return 1;
	}
	if (check) {
		int n[6] = {0};
		for (int i = 0; i < cfg.nm; i++)
			n[cfg.m[i].tr]++;
		printf("%s: ok: %d meters (", path, cfg.nm);
		for (int t = 0, first = 1; t < 6; t++)
			if (n[t]) {
				printf("%s%d %s", first ? "" : ", ", n[t], gw_transport_names[t]);
				first = 0;
			}
		printf("), %d profiles from %s, wattle at %s, commands %s\n", cfg.nprofiles, cfg.profiles, cfg.url,
		       cfg.commands);
		gw_config_free(&cfg);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (gw_queue_open(cfg.queue))
		return 1;
	gw_log("info", "wattle-gateway %s: %d meters, %lld readings waiting in %s", WATTLE_VERSION, cfg.nm,
	       (long long)gw_queue_depth(), cfg.queue);
	struct peer *srv = NULL;
	if (cfg.listen[0]) {
		const char *c = strrchr(cfg.listen, ':');
		if (!(srv = peer_start(atoi(c + 1), serve, NULL))) {
			gw_log("error", "cannot listen on %s", cfg.listen);
			return 1;
		}
	}
	gw_uplink_start(&cfg, exec_cmd);
	gw_poll_start(&cfg);
	if (gw_mqtt_start(&cfg))
		return 1;
	while (!stop_now)
		pause();
	gw_log("info", "stopping: %lld readings waiting", (long long)gw_queue_depth());
	gw_poll_stop();
	gw_mqtt_stop();
	gw_uplink_stop(); /* the last readings committed and, if wattle takes them, sent */
	peer_stop(srv);
	gw_queue_close();
	gw_config_free(&cfg);
	return 0;
}
