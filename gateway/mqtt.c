/* mqtt.c: Shelly Gen2 and Tasmota devices on an MQTT broker, through libmosquitto (its own
 * network thread, QoS 1, TLS and username/password when configured, reconnecting by
 * itself). A Shelly is asked EM1.GetStatus, EM1Data.GetStatus and Switch.GetStatus on
 * <prefix>/rpc every poll_s, and its status notifications (<prefix>/status/<component>,
 * NotifyStatus on <prefix>/events/rpc) are read as well; a Tasmota is asked
 * cmnd/<topic>/STATUS 10 every poll_s rather than waiting for its TelePeriod, and its
 * tele/<topic>/SENSOR is read too. A reading is made whenever a device says its energy
 * register, with the latest power, voltage, current and PF it said. Commands: Shelly
 * Switch.Set then Switch.GetStatus to read the output back; Tasmota cmnd/<topic>/POWER
 * confirmed by stat/<topic>/POWER. */
#include "gateway/gw.h"
#include "core/clock.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum topic_kind { TK_SH_STATUS, TK_SH_EVENTS, TK_SH_ONLINE, TK_TA_SENSOR, TK_TA_STATUS10, TK_TA_POWER, TK_TA_RESULT,
		  TK_TA_LWT, TK_REPLY };

/* What an RPC id carries: the meter, the question, a sequence number. */
enum rpc_kind { RK_EM1 = 1, RK_EM1DATA, RK_SWITCH, RK_SET, RK_CHECK };
#define RPC_ID(seq, meter, kind) (((int64_t)(seq) << 24) | ((int64_t)(meter) << 4) | (kind))

#define CMD_TIMEOUT_US (10 * INT64_C(1000000))
#define MAX_QUEUED 8

struct dev {
	struct gw_meter *m;
	/* the latest instantaneous values a device said, and when */
	struct gw_decoded v[GF__COUNT];
	bool have[GF__COUNT];
	int64_t values_us;
	int64_t last_energy_ts;
	char relay[4];
	/* commands: the one running (stage 1: sent, waiting) and those after it */
	struct gw_cmd cmds[MAX_QUEUED];
	int ncmds, stage;
	int64_t deadline_us;
	bool want_on;
};

static struct {
	struct mosquitto *mq;
	struct gw_config *cfg;
	struct dev *d; /* by meter index (only MQTT meters used) */
	pthread_mutex_t mu;
	char client_id[64], reply_topic[96];
	pthread_t timer;
	bool stop, running;
	int64_t seq;
	/* topic -> (meter, kind), open addressing */
	struct slot {
		char *topic;
		int meter;
		enum topic_kind kind;
	} *tab;
	size_t tabn;
	char **subs;
	int nsubs;
} Q = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

static void tab_put(const char *topic, int meter, enum topic_kind kind)
{
	size_t i = hash(topic) & (Q.tabn - 1);
	while (Q.tab[i].topic)
		i = (i + 1) & (Q.tabn - 1);
	if (!(Q.tab[i].topic = strdup(topic)))
		abort();
	Q.tab[i].meter = meter;
	Q.tab[i].kind = kind;
	if (!(Q.subs = realloc(Q.subs, (size_t)(Q.nsubs + 1) * sizeof *Q.subs)))
		abort();
	Q.subs[Q.nsubs++] = Q.tab[i].topic;
}

static const struct slot *tab_get(const char *topic)
{
	for (size_t i = hash(topic) & (Q.tabn - 1); Q.tab[i].topic; i = (i + 1) & (Q.tabn - 1))
		if (!strcmp(Q.tab[i].topic, topic))
			return &Q.tab[i];
	return NULL;
}

static void publish(const char *topic, const char *payload)
{
	int rc = mosquitto_publish(Q.mq, NULL, topic, (int)strlen(payload), payload, 1, false);
	if (rc != MOSQ_ERR_SUCCESS)
		gw_log("warn", "mqtt: publish to %s failed: %s", topic, mosquitto_strerror(rc));
}

static void rpc(struct dev *d, enum rpc_kind kind, const char *method, const char *params)
{
	char topic[200], body[300];
	int64_t id = RPC_ID(++Q.seq & 0xffffff, d->m->index, kind);
	snprintf(topic, sizeof topic, "%s/rpc", d->m->topic);
	snprintf(body, sizeof body, "{\"id\":%lld,\"src\":\"%s\",\"method\":\"%s\",\"params\":%s}", (long long)id,
		 Q.client_id, method, params);
	publish(topic, body);
}

/* Take the values of component comp ("em1:0", or "ENERGY" for Tasmota) from o; a reading
 * when the energy register is among them. Under Q.mu. */
static void take(struct dev *d, const char *comp, json_t *o)
{
	const struct gw_profile *p = d->m->p;
	bool energy = false;
	struct gw_decoded e;
	size_t cl = strlen(comp);
	for (int i = 0; i < p->nv; i++) {
		const struct gw_value *v = &p->v[i];
		if (strncmp(v->path, comp, cl) || v->path[cl] != '.')
			continue;
		json_t *x = json_object_get(o, v->path + cl + 1);
		if (!x)
			continue;
		struct gw_decoded dv;
		if (v->count > 1) {
			gw_value_from_array(v, x, &dv);
		} else if (!json_is_number(x)) {
			atomic_fetch_add(&d->m->faults[GF_PARSE], 1);
			continue;
		} else {
			gw_value_from_number(v, json_number_value(x), &dv);
		}
		if (!dv.ok) {
			uint64_t n = atomic_fetch_add(&d->m->faults[GF_RANGE], 1);
			if (n % 100 == 0)
				gw_log("warn", "meter %s: %s; the value is not sent", d->m->serial, dv.why);
			continue;
		}
		if (v->field == GF_ENERGY) {
			e = dv;
			energy = true;
		} else {
			d->v[v->field] = dv;
			d->have[v->field] = true;
			d->values_us = srv_mono_us();
		}
	}
	if (!energy)
		return;
	int64_t ts = srv_clock_now_us();
	if (ts <= d->last_energy_ts) /* two in one microsecond would be one reading to wattle */
		ts = d->last_energy_ts + 1;
	d->last_energy_ts = ts;
	struct gw_decoded v[GF__COUNT];
	bool have[GF__COUNT] = {0};
	bool fresh = srv_mono_us() - d->values_us < 2 * (int64_t)d->m->poll_s * 1000000 + 5000000;
	for (int f = 1; f < GF__COUNT; f++)
		if (fresh && d->have[f]) {
			v[f] = d->v[f];
			have[f] = true;
		}
	v[GF_ENERGY] = e;
	have[GF_ENERGY] = true;
	char *json = gw_reading_json(d->m->serial, ts, v, have, d->relay);
	gw_queue_reading(d->m->serial, json);
	free(json);
	atomic_fetch_add(&d->m->readings, 1);
}

/* Start the next queued command of d, if none is running. Under Q.mu. */
static void next_command(struct dev *d)
{
	if (d->stage || !d->ncmds)
		return;
	const struct gw_cmd *c = &d->cmds[0];
	d->want_on = !strcmp(c->action, "restore");
	d->stage = 1;
	d->deadline_us = srv_mono_us() + CMD_TIMEOUT_US;
	atomic_fetch_add(&d->m->commands, 1);
	if (d->m->p->proto == GP_SHELLY) {
		char params[64];
		snprintf(params, sizeof params, "{\"id\":%d,\"on\":%s}", d->m->p->relay.switch_id, d->want_on ? "true" : "false");
		rpc(d, RK_SET, "Switch.Set", params);
	} else {
		char topic[200];
		snprintf(topic, sizeof topic, "cmnd/%s/POWER", d->m->topic);
		publish(topic, d->want_on ? "ON" : "OFF");
	}
}

/* The running command is answered; the next may start. Under Q.mu. */
static void command_done(struct dev *d, bool executed, const char *relay, const char *detail)
{
	if (!d->stage)
		return;
	gw_ack(d->cmds[0].id, executed, relay, detail);
	memmove(d->cmds, d->cmds + 1, (size_t)--d->ncmds * sizeof *d->cmds);
	d->stage = 0;
	next_command(d);
}

static void relay_seen(struct dev *d, bool on)
{
	snprintf(d->relay, sizeof d->relay, "%s", on ? "on" : "off");
	if (d->stage && d->m->p->proto == GP_TASMOTA) {
		if (on == d->want_on)
			command_done(d, true, d->relay, NULL);
	}
}

static void on_reply(json_t *j)
{
	json_int_t id = json_integer_value(json_object_get(j, "id"));
	int meter = (int)((id >> 4) & 0xfffff);
	enum rpc_kind kind = (enum rpc_kind)(id & 0xf);
	if (meter >= Q.cfg->nm || !Q.d[meter].m)
		return;
	struct dev *d = &Q.d[meter];
	json_t *res = json_object_get(j, "result"), *err = json_object_get(j, "error");
	if (err) {
		char why[200];
		snprintf(why, sizeof why, "the device answered error %lld: %s",
			 (long long)json_integer_value(json_object_get(err, "code")),
			 json_string_value(json_object_get(err, "message")) ? json_string_value(json_object_get(err, "message")) : "");
		if (kind == RK_SET || kind == RK_CHECK)
			command_done(d, false, NULL, why);
		else
			atomic_fetch_add(&d->m->faults[GF_EXCEPTION], 1);
		return;
	}
	char comp[24];
	switch (kind) {
	case RK_EM1:
		snprintf(comp, sizeof comp, "em1:%lld", (long long)json_integer_value(json_object_get(res, "id")));
		take(d, comp, res);
		break;
	case RK_EM1DATA:
		snprintf(comp, sizeof comp, "em1data:%lld", (long long)json_integer_value(json_object_get(res, "id")));
		take(d, comp, res);
		break;
	case RK_SWITCH:
		if (json_is_boolean(json_object_get(res, "output")))
			relay_seen(d, json_is_true(json_object_get(res, "output")));
		break;
	case RK_SET:
		if (d->stage == 1) {
			char params[32];
			snprintf(params, sizeof params, "{\"id\":%d}", d->m->p->relay.switch_id);
			d->stage = 2;
			rpc(d, RK_CHECK, "Switch.GetStatus", params);
		}
		break;
	case RK_CHECK:
		if (d->stage == 2 && json_is_boolean(json_object_get(res, "output"))) {
			bool on = json_is_true(json_object_get(res, "output"));
			relay_seen(d, on);
			if (on == d->want_on)
				command_done(d, true, d->relay, NULL);
			else
				command_done(d, false, d->relay, "the switch reads otherwise after Switch.Set");
		}
		break;
	}
}

static void on_message(struct mosquitto *mq, void *ud, const struct mosquitto_message *msg)
{
	(void)mq;
	(void)ud;
	pthread_mutex_lock(&Q.mu);
	const struct slot *s = tab_get(msg->topic);
	if (!s)
		goto out;
	struct dev *d = s->meter >= 0 ? &Q.d[s->meter] : NULL;
	const char *payload = msg->payload ? msg->payload : "";
	size_t len = (size_t)msg->payloadlen;
	if (s->kind == TK_TA_POWER || s->kind == TK_TA_LWT || s->kind == TK_SH_ONLINE) {
		if (s->kind == TK_TA_POWER && len >= 2 && (!strncmp(payload, "ON", len) || !strncmp(payload, "OFF", len)))
			relay_seen(d, !strncmp(payload, "ON", len));
		else if (s->kind != TK_TA_POWER)
			gw_log("info", "meter %s is %.*s", d->m->serial, (int)(len > 16 ? 16 : len), payload);
		goto out;
	}
	json_error_t je;
	json_t *j = json_loadb(payload, len, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		if (d) {
			uint64_t n = atomic_fetch_add(&d->m->faults[GF_PARSE], 1);
			if (n % 100 == 0)
				gw_log("warn", "meter %s: a payload on %s that does not parse: %s", d->m->serial, msg->topic,
				       je.text);
		}
		goto out;
	}
	switch (s->kind) {
	case TK_REPLY:
		on_reply(j);
		break;
	case TK_SH_STATUS: { /* <prefix>/status/<component> */
		const char *comp = strrchr(msg->topic, '/') + 1;
		if (!strncmp(comp, "switch:", 7) && json_is_boolean(json_object_get(j, "output")))
			relay_seen(d, json_is_true(json_object_get(j, "output")));
		else
			take(d, comp, j);
		break;
	}
	case TK_SH_EVENTS: { /* NotifyStatus: {"method":"NotifyStatus","params":{"ts":..,"em1:0":{..}}} */
		const char *method = json_string_value(json_object_get(j, "method"));
		json_t *params = json_object_get(j, "params");
		if (!method || strcmp(method, "NotifyStatus"))
			break;
		const char *k;
		json_t *v;
		json_object_foreach(params, k, v) {
			if (!json_is_object(v))
				continue;
			if (!strncmp(k, "switch:", 7) && json_is_boolean(json_object_get(v, "output")))
				relay_seen(d, json_is_true(json_object_get(v, "output")));
			else /* a NotifyStatus carries what changed; a total_act_energy there is the total */
				take(d, k, v);
		}
		break;
	}
	case TK_TA_SENSOR:
		take(d, "ENERGY", json_object_get(j, "ENERGY"));
		break;
	case TK_TA_STATUS10:
		take(d, "ENERGY", json_object_get(json_object_get(j, "StatusSNS"), "ENERGY"));
		break;
	case TK_TA_RESULT: {
		const char *pw = json_string_value(json_object_get(j, "POWER"));
		if (pw && (!strcmp(pw, "ON") || !strcmp(pw, "OFF")))
			relay_seen(d, !strcmp(pw, "ON"));
		break;
	}
	default:
		break;
	}
	json_decref(j);
out:
	pthread_mutex_unlock(&Q.mu);
}

static void on_connect(struct mosquitto *mq, void *ud, int rc)
{
	(void)ud;
	if (rc) {
		gw_log("error", "mqtt: the broker refused the connection: %s", mosquitto_connack_string(rc));
		return;
	}
	gw_log("info", "mqtt: connected to %s:%d; subscribing to %d topics", Q.cfg->mqtt.host, Q.cfg->mqtt.port, Q.nsubs);
	for (int i = 0; i < Q.nsubs; i += 100) {
		int n = Q.nsubs - i < 100 ? Q.nsubs - i : 100;
		mosquitto_subscribe_multiple(mq, NULL, n, Q.subs + i, 1, 0, NULL);
	}
}

static void on_disconnect(struct mosquitto *mq, void *ud, int rc)
{
	(void)mq;
	(void)ud;
	if (rc)
		gw_log("warn", "mqtt: connection lost (%s); reconnecting", mosquitto_strerror(rc));
}

/* Every 50 ms: ask the devices that are due, and fail commands that got no answer. */
static void *timer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&Q.mu);
		if (Q.stop) {
			pthread_mutex_unlock(&Q.mu);
			break;
		}
		int64_t now = srv_mono_us();
		for (int i = 0; i < Q.cfg->nm; i++) {
			struct dev *d = &Q.d[i];
			if (!d->m)
				continue;
			if (d->stage && now > d->deadline_us)
				command_done(d, false, NULL, "the device did not confirm within 10 s");
			if (d->m->next_us > now)
				continue;
			d->m->next_us = now + (int64_t)d->m->poll_s * 1000000;
			atomic_fetch_add(&d->m->polls, 1);
			if (d->m->p->proto == GP_SHELLY) {
				rpc(d, RK_EM1, "EM1.GetStatus", "{\"id\":0}");
				rpc(d, RK_EM1DATA, "EM1Data.GetStatus", "{\"id\":0}");
				if (d->m->p->relay.present) {
					char params[32];
					snprintf(params, sizeof params, "{\"id\":%d}", d->m->p->relay.switch_id);
					rpc(d, RK_SWITCH, "Switch.GetStatus", params);
				}
			} else {
				char topic[200];
				snprintf(topic, sizeof topic, "cmnd/%s/STATUS", d->m->topic);
				publish(topic, "10");
				if (!d->relay[0]) { /* an empty POWER asks the relay's state (stat/<topic>/POWER) */
					snprintf(topic, sizeof topic, "cmnd/%s/POWER", d->m->topic);
					publish(topic, "");
				}
			}
		}
		pthread_mutex_unlock(&Q.mu);
		usleep(50000);
	}
	return NULL;
}

void gw_mqtt_command(struct gw_meter *m, const struct gw_cmd *c)
{
	pthread_mutex_lock(&Q.mu);
	struct dev *d = &Q.d[m->index];
	bool dup = false;
	for (int i = 0; i < d->ncmds; i++)
		dup |= !strcmp(d->cmds[i].id, c->id);
	if (dup) {
		/* handed out again while it runs: it will be answered once */
	} else if (!m->p->relay.present) {
		pthread_mutex_unlock(&Q.mu);
		gw_ack(c->id, false, NULL, "this meter's profile has no relay");
		return;
	} else if (d->ncmds == MAX_QUEUED) {
		pthread_mutex_unlock(&Q.mu);
		gw_log("warn", "meter %s: %d commands waiting; %s is left for wattle to hand out again", m->serial,
		       MAX_QUEUED, c->id);
		return;
	} else {
		d->cmds[d->ncmds++] = *c;
		next_command(d);
	}
	pthread_mutex_unlock(&Q.mu);
}

int gw_mqtt_start(struct gw_config *c)
{
	int n = 0;
	for (int i = 0; i < c->nm; i++)
		n += c->m[i].tr == GW_MQTT;
	if (!n)
		return 0;
	Q.cfg = c;
	if (!(Q.d = calloc((size_t)c->nm, sizeof *Q.d)))
		abort();
	Q.tabn = 64;
	while (Q.tabn < (size_t)n * 16)
		Q.tabn *= 2;
	if (!(Q.tab = calloc(Q.tabn, sizeof *Q.tab)))
		abort();
	char host[64] = "gw";
	gethostname(host, sizeof host - 1);
	snprintf(Q.client_id, sizeof Q.client_id, "wattle-gw-%.30s-%d", host, (int)getpid());
	snprintf(Q.reply_topic, sizeof Q.reply_topic, "%s/rpc", Q.client_id);
	tab_put(Q.reply_topic, -1, TK_REPLY);
	int64_t now = srv_mono_us();
	for (int i = 0; i < c->nm; i++) {
		struct gw_meter *m = &c->m[i];
		if (m->tr != GW_MQTT)
			continue;
		Q.d[i].m = m;
		m->next_us = now + (int64_t)m->poll_s * 1000000 * (i % 16) / 16;
		char t[200];
		const char *p = m->topic;
		if (m->p->proto == GP_SHELLY) {
			static const char *const comps[] = {"em1:0", "em1data:0", "switch:0"};
			for (int k = 0; k < 3; k++) {
				snprintf(t, sizeof t, "%s/status/%s", p, comps[k]);
				tab_put(t, i, TK_SH_STATUS);
			}
			snprintf(t, sizeof t, "%s/events/rpc", p);
			tab_put(t, i, TK_SH_EVENTS);
			snprintf(t, sizeof t, "%s/online", p);
			tab_put(t, i, TK_SH_ONLINE);
		} else {
			static const struct {
				const char *fmt;
				enum topic_kind k;
			} ts[] = {{"tele/%s/SENSOR", TK_TA_SENSOR}, {"stat/%s/STATUS10", TK_TA_STATUS10},
				  {"stat/%s/POWER", TK_TA_POWER},   {"stat/%s/RESULT", TK_TA_RESULT},
				  {"tele/%s/LWT", TK_TA_LWT}};
			for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) {
				snprintf(t, sizeof t, ts[k].fmt, p);
				tab_put(t, i, ts[k].k);
			}
		}
	}
	mosquitto_lib_init();
	if (!(Q.mq = mosquitto_new(Q.client_id, true, NULL)))
		abort();
	mosquitto_int_option(Q.mq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	if (c->mqtt.username[0])
		mosquitto_username_pw_set(Q.mq, c->mqtt.username, c->mqtt.password[0] ? c->mqtt.password : NULL);
	if (c->mqtt.tls) {
		int rc = mosquitto_tls_set(Q.mq, c->mqtt.cafile[0] ? c->mqtt.cafile : NULL,
					   c->mqtt.cafile[0] ? NULL : "/etc/ssl/certs", NULL, NULL, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			gw_log("error", "mqtt: TLS: %s", mosquitto_strerror(rc));
			return -1;
		}
	}
	mosquitto_connect_callback_set(Q.mq, on_connect);
	mosquitto_disconnect_callback_set(Q.mq, on_disconnect);
	mosquitto_message_callback_set(Q.mq, on_message);
	mosquitto_reconnect_delay_set(Q.mq, 1, 30, true);
	mosquitto_max_inflight_messages_set(Q.mq, 1000);
	int rc = mosquitto_connect_async(Q.mq, c->mqtt.host, c->mqtt.port, 30);
	if (rc != MOSQ_ERR_SUCCESS)
		gw_log("warn", "mqtt: cannot reach %s:%d yet (%s); retrying", c->mqtt.host, c->mqtt.port, mosquitto_strerror(rc));
	if (mosquitto_loop_start(Q.mq) != MOSQ_ERR_SUCCESS)
		return -1;
	Q.running = true;
	if (pthread_create(&Q.timer, NULL, timer, NULL))
		abort();
	gw_log("info", "mqtt: %d devices on %s:%d", n, c->mqtt.host, c->mqtt.port);
	return 0;
}

void gw_mqtt_stop(void)
{
	if (!Q.running)
		return;
	pthread_mutex_lock(&Q.mu);
	Q.stop = true;
	pthread_mutex_unlock(&Q.mu);
	pthread_join(Q.timer, NULL);
	mosquitto_disconnect(Q.mq);
	mosquitto_loop_stop(Q.mq, false);
	mosquitto_destroy(Q.mq);
	mosquitto_lib_cleanup();
}
