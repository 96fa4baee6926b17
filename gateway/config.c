/* config.c: the gateway's JSON config, checked whole before anything starts; a bad file
 * is refused naming its key. */
#include "gateway/gw.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef WATTLE_PROFILES_DIR
#define WATTLE_PROFILES_DIR "/usr/local/share/wattle/profiles"
#endif

const char *const gw_transport_names[] = {"modbus-tcp",  "modbus-rtu",    "modbus-rtu-tcp",
					  "dlt645-tcp",  "dlt645-serial", "mqtt"};


/* Copy string key of o into out; 0, 1 when absent, -1 when not a string or too long. */
static int str(json_t *o, const char *key, char *out, size_t n)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 1;
	const char *s = json_string_value(v);
	if (!s || strlen(s) >= n)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int known(json_t *o, const char *const *keys, const char *where, char *err, size_t errn)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		int ok = 0;
		for (int i = 0; keys[i]; i++)
			ok |= !strcmp(k, keys[i]);
		if (!ok)
			return gw_fail(err, errn, "%s%s: unknown key", where, k);
	}
	return 0;
}

static bool host_port(const char *s)
{
	const char *c = strrchr(s, ':');
	if (!c || c == s)
		return false;
	char *end;
	long port = strtol(c + 1, &end, 10);
	return !*end && port > 0 && port < 65536;
}

static int int_in(json_t *o, const char *key, long lo, long hi, long dflt, long *out)
{
	json_t *v = json_object_get(o, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = (long)json_integer_value(v);
	return 0;
}

/* Eight hex digits (4 bytes) as the meter wants them on the wire, PA first / C0 first. */
static int hex4(const char *s, uint8_t out[4])
{
	if (strlen(s) != 8 || strspn(s, "0123456789abcdefABCDEF") != 8)
		return -1;
	for (int i = 0; i < 4; i++) {
		char b[3] = {s[2 * i], s[2 * i + 1], 0};
		out[i] = (uint8_t)strtoul(b, NULL, 16);
	}
	return 0;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return p && *p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static struct gw_profile *profile(struct gw_config *c, const char *name, char *err, size_t errn)
{
	for (int i = 0; i < c->nprofiles; i++)
		if (!strcmp(c->profiles_loaded[i].name, name))
			return &c->profiles_loaded[i];
	struct gw_profile p;
	if (gw_profile_load(c->profiles, name, &p, err, errn))
		return NULL;
	/* profiles never move once loaded: meters point at them */
	if (c->nprofiles == 32) {
		gw_fail(err, errn, "more than 32 profiles");
		return NULL;
	}
	c->profiles_loaded[c->nprofiles] = p;
	return &c->profiles_loaded[c->nprofiles++];
}

static int meter(struct gw_config *c, json_t *o, int i, char *err, size_t errn)
{
	static const char *const keys[] = {"serial", "profile", "transport", "address", "device", "baud",
					   "parity", "unit", "meter_address", "topic", "poll_s", "password",
					   "operator", NULL};
	char where[32], sub[400];
	snprintf(where, sizeof where, "meters[%d].", i);
	struct gw_meter *m = &c->m[i];
	memset(m, 0, sizeof *m);
	m->index = i;
	if (!json_is_object(o))
		return gw_fail(err, errn, "meters[%d]: an object", i);
	if (known(o, keys, where, err, errn))
		return -1;
	if (str(o, "serial", m->serial, sizeof m->serial) || !m->serial[0])
		return gw_fail(err, errn, "%sserial: the meter's serial in wattle, 1 to 64 characters", where);
	for (int k = 0; k < i; k++)
		if (!strcmp(c->m[k].serial, m->serial))
			return gw_fail(err, errn, "%sserial: %s is listed twice", where, m->serial);
	if (str(o, "profile", m->profile_name, sizeof m->profile_name) || !m->profile_name[0])
		return gw_fail(err, errn, "%sprofile: a profile name (gateway/profiles/<name>.json)", where);
	if (!(m->p = profile(c, m->profile_name, sub, sizeof sub)))
		return gw_fail(err, errn, "%sprofile: %s", where, sub);
	char tr[24] = "";
	int t = -1;
	if (!str(o, "transport", tr, sizeof tr))
		for (int k = 0; k < 6; k++)
			if (!strcmp(tr, gw_transport_names[k]))
				t = k;
	if (t < 0)
		return gw_fail(err, errn, "%stransport: one of modbus-tcp, modbus-rtu, modbus-rtu-tcp, dlt645-tcp, dlt645-serial, mqtt", where);
	m->tr = (enum gw_transport)t;
	enum gw_proto want = m->tr <= GW_MODBUS_RTU_TCP ? GP_MODBUS : m->tr <= GW_DLT645_SERIAL ? GP_DLT645 : GP_SHELLY;
	if ((want == GP_SHELLY) != (m->p->proto == GP_SHELLY || m->p->proto == GP_TASMOTA) ||
	    (want != GP_SHELLY && want != m->p->proto))
		return gw_fail(err, errn, "%stransport: %s does not carry profile %s", where, tr, m->profile_name);
	long v;
	if (int_in(o, "poll_s", 1, 86400, 15, &v))
		return gw_fail(err, errn, "%spoll_s: seconds between polls, 1 to 86400", where);
	m->poll_s = (int)v;
	switch (m->tr) {
	case GW_MODBUS_TCP:
	case GW_MODBUS_RTU_TCP:
	case GW_DLT645_TCP:
		if (str(o, "address", m->address, sizeof m->address) || !host_port(m->address))
			return gw_fail(err, errn, "%saddress: \"host:port\"", where);
		break;
	case GW_MODBUS_RTU:
	case GW_DLT645_SERIAL: {
		if (str(o, "device", m->device, sizeof m->device) || m->device[0] != '/')
			return gw_fail(err, errn, "%sdevice: the serial port's path", where);
		if (int_in(o, "baud", 300, 921600, m->tr == GW_DLT645_SERIAL ? 2400 : 9600, &v))
			return gw_fail(err, errn, "%sbaud: 300 to 921600", where);
		m->baud = (int)v;
		char par[4] = "";
		int pr = str(o, "parity", par, sizeof par);
		if (pr == 1)
			snprintf(par, sizeof par, "%s", m->tr == GW_DLT645_SERIAL ? "E" : "N");
		if (pr < 0 || strlen(par) != 1 || !strchr("NEO", par[0]))
			return gw_fail(err, errn, "%sparity: \"N\", \"E\" or \"O\"", where);
		m->parity = par[0];
		break;
	}
	case GW_MQTT:
		if (str(o, "topic", m->topic, sizeof m->topic) || !m->topic[0] || strpbrk(m->topic, "#+"))
			return gw_fail(err, errn, "%stopic: the device's topic (Tasmota) or prefix (Shelly), no wildcards", where);
		if (!c->mqtt.present)
			return gw_fail(err, errn, "%stransport: mqtt needs the config's \"mqtt\" broker", where);
		break;
	}
	if (m->tr <= GW_MODBUS_RTU_TCP) {
		if (int_in(o, "unit", 0, 247, 1, &v))
			return gw_fail(err, errn, "%sunit: the Modbus unit id, 0 to 247", where);
		m->unit = (int)v;
	}
	if (m->tr == GW_DLT645_TCP || m->tr == GW_DLT645_SERIAL) {
		if (str(o, "meter_address", m->meter_address, sizeof m->meter_address) ||
		    strlen(m->meter_address) != 12 || strspn(m->meter_address, "0123456789") != 12)
			return gw_fail(err, errn, "%smeter_address: the meter's 12-digit address", where);
		for (int k = 0; k < 6; k++) /* low byte first on the wire */
			m->dlt_addr[k] = (uint8_t)(((m->meter_address[10 - 2 * k] - '0') << 4) |
						   (m->meter_address[11 - 2 * k] - '0'));
		char pw[16] = "00000000", op[16] = "00000000";
		if (str(o, "password", pw, sizeof pw) < 0 || hex4(pw, m->password))
			return gw_fail(err, errn, "%spassword: 8 hex digits, the level byte PA first", where);
		if (str(o, "operator", op, sizeof op) < 0 || hex4(op, m->operator_code))
			return gw_fail(err, errn, "%soperator: 8 hex digits", where);
	}
	return 0;
}

int gw_config_load(const char *path, struct gw_config *c, char *err, size_t errn)
{
	static const char *const top[] = {"wattle", "queue", "mqtt", "meters", "profiles", "listen", "workers",
					  "timeout_ms", "batch", NULL};
	static const char *const wk[] = {"url", "key", "key_file", "commands", "push_secret", NULL};
	static const char *const mk[] = {"host", "port", "username", "password", "tls", "cafile", NULL};
	memset(c, 0, sizeof *c);
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return gw_fail(err, errn, "%s: %s (line %d)", path, je.text, je.line);
	int rc = -1;
	long v;
	if (!json_is_object(j)) {
		gw_fail(err, errn, "the config must be a JSON object");
		goto out;
	}
	if (known(j, top, "", err, errn))
		goto out;
	json_t *w = json_object_get(j, "wattle");
	if (!json_is_object(w)) {
		gw_fail(err, errn, "wattle: {\"url\", \"key\" or \"key_file\"}");
		goto out;
	}
	if (known(w, wk, "wattle.", err, errn))
		goto out;
	if (str(w, "url", c->url, sizeof c->url) || (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))) {
		gw_fail(err, errn, "wattle.url: wattle's base URL, http:// or https://");
		goto out;
	}
	size_t ul = strlen(c->url);
	while (ul && c->url[ul - 1] == '/')
		c->url[--ul] = 0;
	char kf[256] = "";
	int hk = str(w, "key", c->key, sizeof c->key), hf = str(w, "key_file", kf, sizeof kf);
	if (hk < 0 || hf < 0 || (hk == 0) == (hf == 0)) {
		gw_fail(err, errn, "wattle.key: the gateway's API key, or wattle.key_file: a file holding it (one of them)");
		goto out;
	}
	if (hf == 0) {
		FILE *f = fopen(kf, "r");
		if (!f || !fgets(c->key, sizeof c->key, f)) {
			if (f)
				fclose(f);
			gw_fail(err, errn, "wattle.key_file: cannot read %s", kf);
			goto out;
		}
		fclose(f);
		c->key[strcspn(c->key, "\r\n")] = 0;
	}
	if (strncmp(c->key, "wk_", 3) || strlen(c->key) < 10) {
		gw_fail(err, errn, "wattle.key: not a wattle API key (wk_...)");
		goto out;
	}
	snprintf(c->commands, sizeof c->commands, "pull");
	if (str(w, "commands", c->commands, sizeof c->commands) < 0 ||
	    (strcmp(c->commands, "pull") && strcmp(c->commands, "push") && strcmp(c->commands, "none"))) {
		gw_fail(err, errn, "wattle.commands: \"pull\" (long poll, the default), \"push\" (wattle POSTs to \"listen\") or \"none\"");
		goto out;
	}
	if (str(w, "push_secret", c->push_secret, sizeof c->push_secret) < 0) {
		gw_fail(err, errn, "wattle.push_secret: WATTLE_GATEWAY_SECRET as wattle has it");
		goto out;
	}
	if (str(j, "queue", c->queue, sizeof c->queue) || !c->queue[0]) {
		gw_fail(err, errn, "queue: the path of the on-disk queue (an SQLite file)");
		goto out;
	}
	if (str(j, "listen", c->listen, sizeof c->listen) < 0 || (c->listen[0] && !host_port(c->listen))) {
		gw_fail(err, errn, "listen: \"host:port\" for /metrics (and push commands)");
		goto out;
	}
	if (!strcmp(c->commands, "push") && !c->listen[0]) {
		gw_fail(err, errn, "listen: push commands need an address to listen on");
		goto out;
	}
	if (int_in(j, "workers", 1, 64, 8, &v)) {
		gw_fail(err, errn, "workers: poll threads, 1 to 64");
		goto out;
	}
	c->workers = (int)v;
	if (int_in(j, "timeout_ms", 50, 30000, 1000, &v)) {
		gw_fail(err, errn, "timeout_ms: how long a meter may take to answer, 50 to 30000");
		goto out;
	}
	c->timeout_ms = (int)v;
	if (int_in(j, "batch", 1, 5000, 500, &v)) {
		gw_fail(err, errn, "batch: readings per POST, 1 to 5000");
		goto out;
	}
	c->batch = (int)v;
	json_t *mq = json_object_get(j, "mqtt");
	if (mq) {
		if (!json_is_object(mq) || known(mq, mk, "mqtt.", err, errn)) {
			if (!err[0])
				gw_fail(err, errn, "mqtt: {\"host\", \"port\", \"username\"?, \"password\"?, \"tls\"?}");
			goto out;
		}
		c->mqtt.present = true;
		if (str(mq, "host", c->mqtt.host, sizeof c->mqtt.host) || !c->mqtt.host[0]) {
			gw_fail(err, errn, "mqtt.host: the broker's host");
			goto out;
		}
		json_t *tls = json_object_get(mq, "tls");
		if (tls && !json_is_boolean(tls)) {
			gw_fail(err, errn, "mqtt.tls: true or false");
			goto out;
		}
		c->mqtt.tls = json_is_true(tls);
		if (int_in(mq, "port", 1, 65535, c->mqtt.tls ? 8883 : 1883, &v)) {
			gw_fail(err, errn, "mqtt.port: 1 to 65535");
			goto out;
		}
		c->mqtt.port = (int)v;
		if (str(mq, "username", c->mqtt.username, sizeof c->mqtt.username) < 0 ||
		    str(mq, "password", c->mqtt.password, sizeof c->mqtt.password) < 0 ||
		    str(mq, "cafile", c->mqtt.cafile, sizeof c->mqtt.cafile) < 0) {
			gw_fail(err, errn, "mqtt.username, mqtt.password, mqtt.cafile: strings");
			goto out;
		}
	}
	/* profiles: the config's, else ./gateway/profiles, else the installed ones */
	int hp = str(j, "profiles", c->profiles, sizeof c->profiles);
	if (hp < 0 || (hp == 0 && !is_dir(c->profiles))) {
		gw_fail(err, errn, "profiles: not a directory");
		goto out;
	}
	if (hp == 1)
		snprintf(c->profiles, sizeof c->profiles, "%s", is_dir("gateway/profiles") ? "gateway/profiles" : WATTLE_PROFILES_DIR);
	json_t *ms = json_object_get(j, "meters");
	if (!json_is_array(ms) || !json_array_size(ms) || json_array_size(ms) > 10000) {
		gw_fail(err, errn, "meters: an array of 1 to 10000 meters");
		goto out;
	}
	c->nm = (int)json_array_size(ms);
	c->m = calloc((size_t)c->nm, sizeof *c->m);
	c->profiles_loaded = calloc(32, sizeof *c->profiles_loaded);
	if (!c->m || !c->profiles_loaded)
		abort();
	size_t i;
	json_t *o;
	json_array_foreach(ms, i, o) {
		if (meter(c, o, (int)i, err, errn))
			goto out;
	}
	rc = 0;
out:
	json_decref(j);
	if (rc)
		gw_config_free(c);
	return rc;
}

void gw_config_free(struct gw_config *c)
{
	free(c->m);
	free(c->profiles_loaded);
	c->m = NULL;
	c->profiles_loaded = NULL;
	c->nm = 0;
}

struct gw_meter *gw_config_meter(struct gw_config *c, const char *serial)
{
	for (int i = 0; i < c->nm; i++)
		if (!strcmp(c->m[i].serial, serial))
			return &c->m[i];
	return NULL;
}
