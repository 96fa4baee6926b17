/* profile.c: meter models as data. A profile (gateway/profiles/<name>.json) lists what a
 * model reports, where (Modbus register and function, DL/T 645 data identifier, or a path
 * in an MQTT device's JSON), as what (u16, i16, u32, i32, f32, BCD, a JSON number), in which
 * word order, scale and unit, and the range of a sane value; and how its relay is switched
 * and read back. No model has code of its own. */
#include "gateway/gw.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const gw_field_names[GF__COUNT] = {"energy_wh",    "power_w",   "voltage_v",       "current_a",
					       "pf",           "frequency_hz", "thd_v_pct",    "thd_i_pct",
					       "harmonics_v_pct", "harmonics_i_pct"};

/* The unit a field may be given in, and its factor to the reading's unit. */
static const struct {
	enum gw_field f;
	const char *unit;
	int64_t mul;
} units[] = {
	{GF_ENERGY, "kWh", 1000}, {GF_ENERGY, "Wh", 1}, {GF_POWER, "kW", 1000}, {GF_POWER, "W", 1},
	{GF_VOLTAGE, "V", 1},     {GF_CURRENT, "A", 1}, {GF_PF, "", 1},          {GF_FREQ, "Hz", 1},
	{GF_THD_V, "%", 1},       {GF_THD_I, "%", 1},   {GF_HARM_V, "%", 1},     {GF_HARM_I, "%", 1},
};

int gw_fail(char *err, size_t errn, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errn, fmt, ap);
	va_end(ap);
	return -1;
}

/* A register or identifier: a JSON integer or a "0x..." / decimal string. */
static int parse_uint(json_t *j, unsigned long max, unsigned long *out)
{
	if (json_is_integer(j)) {
		json_int_t v = json_integer_value(j);
		if (v < 0 || (unsigned long)v > max)
			return -1;
		*out = (unsigned long)v;
		return 0;
	}
	const char *s = json_string_value(j);
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A DL/T 645 identifier as written in the standard, "00010000" (DI3 DI2 DI1 DI0). */
static int parse_di(json_t *j, uint32_t *out)
{
	const char *s = json_string_value(j);
	if (!s || strlen(s) != 8 || strspn(s, "0123456789abcdefABCDEF") != 8)
		return -1;
	*out = (uint32_t)strtoul(s, NULL, 16);
	return 0;
}

/* "0.01" -> 1 x 10^-2; "10" -> 10 x 10^0. Exact; at most 9 digits. */
static int parse_scale(json_t *j, int64_t *mant, int *exp)
{
	if (!j) {
		*mant = 1;
		*exp = 0;
		return 0;
	}
	if (json_is_integer(j) && json_integer_value(j) > 0 && json_integer_value(j) < 1000000000) {
		*mant = json_integer_value(j);
		*exp = 0;
		return 0;
	}
	const char *s = json_string_value(j);
	if (!s || !*s)
		return -1;
	int64_t m = 0;
	int e = 0, digits = 0;
	bool dot = false;
	for (const char *p = s; *p; p++) {
		if (*p == '.' && !dot) {
			dot = true;
		} else if (*p >= '0' && *p <= '9') {
			if (++digits > 9)
				return -1;
			m = m * 10 + (*p - '0');
			if (dot)
				e--;
		} else {
			return -1;
		}
	}
	if (m == 0)
		return -1;
	while (m % 10 == 0 && e < 0) { /* "0.10" is 1 x 10^-1 */
		m /= 10;
		e++;
	}
	*mant = m;
	*exp = e;
	return 0;
}

static int parse_words(json_t *a, uint16_t *w, int *n)
{
	if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > GW_RELAY_WORDS)
		return -1;
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x) {
		if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 0xffff)
			return -1;
		w[i] = (uint16_t)json_integer_value(x);
	}
	*n = (int)json_array_size(a);
	return 0;
}

static int span(enum gw_type t) { return t == GT_U16 || t == GT_I16 ? 1 : 2; }

/* Registers a value takes: a spectrum is count values in a row. */
static int regs_of(const struct gw_value *v) { return span(v->type) * v->count; }

/* The Modbus reads that cover every value: values sorted by (function, register), merged
 * while the gap between them is at most gap registers and a read stays within 125. */
static int plan_blocks(struct gw_profile *p, int gap, char *err, size_t errn)
{
	int order[GW_MAX_VALUES];
	for (int i = 0; i < p->nv; i++)
		order[i] = i;
	for (int i = 1; i < p->nv; i++) /* insertion sort: a profile has a handful */
		for (int k = i; k > 0; k--) {
			const struct gw_value *a = &p->v[order[k - 1]], *b = &p->v[order[k]];
			if (a->function < b->function || (a->function == b->function && a->reg <= b->reg))
				break;
			int t = order[k];
			order[k] = order[k - 1];
			order[k - 1] = t;
		}
	p->nblocks = 0;
	for (int i = 0; i < p->nv; i++) {
		const struct gw_value *v = &p->v[order[i]];
		int end = v->reg + regs_of(v);
		struct gw_block *b = p->nblocks ? &p->blocks[p->nblocks - 1] : NULL;
		if (b && b->function == v->function && v->reg <= b->start + b->count + gap && end - b->start <= 125) {
			if (end > b->start + b->count)
				b->count = (uint16_t)(end - b->start);
			continue;
		}
		if (p->nblocks == GW_MAX_BLOCKS)
			return gw_fail(err, errn, "values: more than %d separate reads", GW_MAX_BLOCKS);
		p->blocks[p->nblocks++] = (struct gw_block){v->function, v->reg, (uint16_t)regs_of(v)};
	}
	return 0;
}

static int parse_value(json_t *o, enum gw_proto proto, struct gw_value *v, char *err, size_t errn)
{
	static const char *const types[] = {"u16", "i16", "u32", "i32", "f32", "bcd", "sbcd", "number"};
	memset(v, 0, sizeof *v);
	const char *field = json_string_value(json_object_get(o, "field"));
	int f = -1;
	for (int i = 0; field && i < GF__COUNT; i++)
		if (!strcmp(field, gw_field_names[i]))
			f = i;
	if (f < 0)
		return gw_fail(err, errn, "field: not a reading field (energy_wh, power_w, voltage_v, ...)");
	v->field = (enum gw_field)f;
	v->count = f == GF_HARM_V || f == GF_HARM_I ? GW_HARMONICS : 1;
	const char *type = json_string_value(json_object_get(o, "type"));
	int t = -1;
	for (int i = 0; type && i < (int)(sizeof types / sizeof *types); i++)
		if (!strcmp(type, types[i]))
			t = i;
	if (t < 0)
		return gw_fail(err, errn, "type: one of u16, i16, u32, i32, f32, bcd, sbcd, number");
	v->type = (enum gw_type)t;
	unsigned long x;
	switch (proto) {
	case GP_MODBUS:
		if (t > GT_F32)
			return gw_fail(err, errn, "type: a Modbus value is u16, i16, u32, i32 or f32");
		if (parse_uint(json_object_get(o, "register"), 0xffff, &x))
			return gw_fail(err, errn, "register: a number or \"0x...\" from 0 to 0xFFFF");
		v->reg = (uint16_t)x;
		if (parse_uint(json_object_get(o, "function"), 4, &x) || (x != 3 && x != 4))
			return gw_fail(err, errn, "function: 3 (holding registers) or 4 (input registers)");
		v->function = (int)x;
		{
			const char *wo = json_string_value(json_object_get(o, "word_order"));
			if (wo && strcmp(wo, "high_first") && strcmp(wo, "low_first"))
				return gw_fail(err, errn, "word_order: high_first or low_first");
			v->low_word_first = wo && !strcmp(wo, "low_first");
		}
		break;
	case GP_DLT645:
		if (t != GT_BCD && t != GT_SBCD)
			return gw_fail(err, errn, "type: a DL/T 645 value is bcd or sbcd");
		if (v->count > 1)
			return gw_fail(err, errn, "field: spectra are read from Modbus registers or MQTT JSON");
		if (parse_di(json_object_get(o, "di"), &v->di))
			return gw_fail(err, errn, "di: eight hex digits, DI3 first (\"00010000\")");
		if (parse_uint(json_object_get(o, "bytes"), 8, &x) || x < 1)
			return gw_fail(err, errn, "bytes: the value's BCD bytes, 1 to 8");
		v->bytes = (int)x;
		break;
	default: {
		if (t != GT_NUMBER)
			return gw_fail(err, errn, "type: an MQTT device's value is a JSON number");
		const char *path = json_string_value(json_object_get(o, "path"));
		if (!path || !*path || strlen(path) >= sizeof v->path || !strchr(path, '.'))
			return gw_fail(err, errn, "path: \"component.field\" in the device's JSON");
		snprintf(v->path, sizeof v->path, "%s", path);
	}
	}
	if (parse_scale(json_object_get(o, "scale"), &v->scale_mant, &v->scale_exp))
		return gw_fail(err, errn, "scale: a positive decimal such as \"0.01\"");
	const char *unit = json_string_value(json_object_get(o, "unit"));
	if (!unit)
		unit = "";
	v->unit_mul = 0;
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (units[i].f == v->field && !strcmp(units[i].unit, unit))
			v->unit_mul = units[i].mul;
	if (!v->unit_mul)
		return gw_fail(err, errn, "unit: \"%s\" is not a unit of %s", unit, gw_field_names[f]);
	json_t *mn = json_object_get(o, "min"), *mx = json_object_get(o, "max");
	if ((mn && !json_is_number(mn)) || (mx && !json_is_number(mx)))
		return gw_fail(err, errn, "min, max: numbers");
	v->has_min = mn != NULL;
	v->has_max = mx != NULL;
	v->min = json_number_value(mn);
	v->max = json_number_value(mx);
	return 0;
}

static int parse_relay(json_t *r, enum gw_proto proto, struct gw_relay *y, char *err, size_t errn)
{
	memset(y, 0, sizeof *y);
	if (!r || json_is_null(r))
		return 0;
	if (!json_is_object(r))
		return gw_fail(err, errn, "relay: an object or null");
	y->present = true;
	unsigned long x;
	switch (proto) {
	case GP_MODBUS: {
		json_t *w = json_object_get(r, "write"), *s = json_object_get(r, "state");
		int n1 = 0, n2 = 0;
		if (!w || parse_uint(json_object_get(w, "register"), 0xffff, &x))
			return gw_fail(err, errn, "relay.write.register: the control register");
		y->write_reg = (uint16_t)x;
		if (parse_words(json_object_get(w, "off"), y->off_words, &n1) ||
		    parse_words(json_object_get(w, "on"), y->on_words, &n2) || n1 != n2)
			return gw_fail(err, errn, "relay.write.off, .on: arrays of the same number (1 to 4) of words");
		y->nwords = n1;
		if (!s || parse_uint(json_object_get(s, "register"), 0xffff, &x))
			return gw_fail(err, errn, "relay.state.register: where the relay's state is read back");
		y->state_reg = (uint16_t)x;
		if (parse_uint(json_object_get(s, "function"), 4, &x) || (x != 3 && x != 4))
			return gw_fail(err, errn, "relay.state.function: 3 or 4");
		y->state_fn = (int)x;
		break;
	}
	case GP_DLT645: {
		json_t *c = json_object_get(r, "control"), *s = json_object_get(r, "state");
		if (!c || parse_uint(json_object_get(c, "trip"), 0xff, &x))
			return gw_fail(err, errn, "relay.control.trip: N1 of the 0x1C frame that trips");
		y->trip_n1 = (uint8_t)x;
		if (parse_uint(json_object_get(c, "close"), 0xff, &x))
			return gw_fail(err, errn, "relay.control.close: N1 of the 0x1C frame that closes");
		y->close_n1 = (uint8_t)x;
		if (!s || parse_di(json_object_get(s, "di"), &y->state_di))
			return gw_fail(err, errn, "relay.state.di: the status word's identifier");
		if (parse_uint(json_object_get(s, "bit"), 15, &x))
			return gw_fail(err, errn, "relay.state.bit: 0 to 15");
		y->state_bit = (int)x;
		if (parse_uint(json_object_get(s, "off_when"), 1, &x))
			return gw_fail(err, errn, "relay.state.off_when: 0 or 1");
		y->off_when = (int)x;
		y->esam = json_is_true(json_object_get(r, "esam"));
		break;
	}
	case GP_SHELLY:
		if (parse_uint(json_object_get(r, "switch_id"), 16, &x))
			return gw_fail(err, errn, "relay.switch_id: the Switch component's id");
		y->switch_id = (int)x;
		break;
	case GP_TASMOTA:
		break;
	}
	return 0;
}

int gw_profile_load(const char *dir, const char *name, struct gw_profile *p, char *err, size_t errn)
{
	char path[600];
	memset(p, 0, sizeof *p);
	if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(name) || !*name)
		return gw_fail(err, errn, "profile \"%s\": not a profile name", name);
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return gw_fail(err, errn, "%s: %s (line %d)", path, je.text, je.line);
	int rc = -1;
	char sub[200] = "";
	snprintf(p->name, sizeof p->name, "%s", name);
	static const char *const protos[] = {"modbus", "dlt645", "shelly", "tasmota"};
	const char *proto = json_string_value(json_object_get(j, "protocol"));
	int pr = -1;
	for (int i = 0; proto && i < 4; i++)
		if (!strcmp(proto, protos[i]))
			pr = i;
	if (pr < 0) {
		gw_fail(err, errn, "%s: protocol: one of modbus, dlt645, shelly, tasmota", path);
		goto out;
	}
	p->proto = (enum gw_proto)pr;
	json_t *vals = json_object_get(j, "values");
	if (!json_is_array(vals) || !json_array_size(vals) || json_array_size(vals) > GW_MAX_VALUES) {
		gw_fail(err, errn, "%s: values: an array of 1 to %d values", path, GW_MAX_VALUES);
		goto out;
	}
	size_t i;
	json_t *o;
	bool energy = false;
	json_array_foreach(vals, i, o) {
		if (parse_value(o, p->proto, &p->v[i], sub, sizeof sub)) {
			gw_fail(err, errn, "%s: values[%zu].%s", path, i, sub);
			goto out;
		}
		energy |= p->v[i].field == GF_ENERGY;
		p->nv++;
	}
	if (!energy) {
		gw_fail(err, errn, "%s: values: no energy_wh (a reading needs the register)", path);
		goto out;
	}
	if (parse_relay(json_object_get(j, "relay"), p->proto, &p->relay, sub, sizeof sub)) {
		gw_fail(err, errn, "%s: %s", path, sub);
		goto out;
	}
	if (p->proto == GP_MODBUS) {
		unsigned long gap = 8;
		json_t *g = json_object_get(j, "read_gap");
		if (g && parse_uint(g, 64, &gap)) {
			gw_fail(err, errn, "%s: read_gap: registers that may be read between two values, 0 to 64", path);
			goto out;
		}
		if (plan_blocks(p, (int)gap, sub, sizeof sub)) {
			gw_fail(err, errn, "%s: %s", path, sub);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- decoding ---- */

static int64_t pow10i(int e)
{
	int64_t r = 1;
	while (e-- > 0)
		r *= 10;
	return r;
}

static bool in_range(const struct gw_value *v, double x, struct gw_decoded *d)
{
	if (!isfinite(x) || (v->has_min && x < v->min) || (v->has_max && x > v->max)) {
		snprintf(d->why, sizeof d->why, "%s = %.6g is outside the profile's range", gw_field_names[v->field], x);
		return false;
	}
	return true;
}

/* An integer raw value: exact. */
static void from_int(const struct gw_value *v, int64_t raw, struct gw_decoded *d)
{
	memset(d, 0, sizeof *d);
	double x = (double)raw * (double)v->scale_mant;
	x = v->scale_exp >= 0 ? x * (double)pow10i(v->scale_exp) : x / (double)pow10i(-v->scale_exp);
	if (!in_range(v, x, d))
		return;
	d->x = x * (double)v->unit_mul;
	if (v->field == GF_ENERGY) {
		__int128 w = (__int128)raw * v->scale_mant * v->unit_mul;
		if (v->scale_exp >= 0)
			w *= pow10i(v->scale_exp);
		else
			w /= pow10i(-v->scale_exp); /* a register is never negative: this is the floor */
		if (w < 0 || w > INT64_C(1000000000000000)) {
			snprintf(d->why, sizeof d->why, "energy_wh out of range");
			return;
		}
		d->wh = (int64_t)w;
	}
	d->ok = true;
}

static void from_real(const struct gw_value *v, double f, struct gw_decoded *d)
{
	memset(d, 0, sizeof *d);
	double x = f * (double)v->scale_mant;
	x = v->scale_exp >= 0 ? x * (double)pow10i(v->scale_exp) : x / (double)pow10i(-v->scale_exp);
	if (!in_range(v, x, d))
		return;
	d->x = x * (double)v->unit_mul;
	if (v->field == GF_ENERGY) {
		if (d->x < 0 || d->x > 1e15) {
			snprintf(d->why, sizeof d->why, "energy_wh out of range");
			return;
		}
		d->wh = llround(d->x);
	}
	d->ok = true;
}

static void one_from_regs(const struct gw_value *v, const uint16_t *r, struct gw_decoded *d);

/* A spectrum: each order decoded as a value of its own, all in range or none. */
static void spectrum_from(const struct gw_value *v, const uint16_t *r, json_t *a, struct gw_decoded *d)
{
	struct gw_value one = *v;
	one.count = 1;
	struct gw_decoded x;
	memset(d, 0, sizeof *d);
	for (int k = 0; k < GW_HARMONICS; k++) {
		if (r) {
			one_from_regs(&one, r + k * span(v->type), &x);
		} else {
			json_t *e = json_array_get(a, (size_t)k);
			if (!json_is_number(e) || json_array_size(a) != GW_HARMONICS) {
				snprintf(d->why, sizeof d->why, "%s is not an array of %d numbers", gw_field_names[v->field],
					 GW_HARMONICS);
				return;
			}
			from_real(&one, json_number_value(e), &x);
		}
		if (!x.ok) {
			snprintf(d->why, sizeof d->why, "%s order %d: %.60s", gw_field_names[v->field], k + 2, x.why);
			return;
		}
		d->xs[k] = x.x;
	}
	d->ok = true;
}

void gw_value_from_array(const struct gw_value *v, json_t *a, struct gw_decoded *d) { spectrum_from(v, NULL, a, d); }

void gw_value_from_regs(const struct gw_value *v, const uint16_t *regs, uint16_t block_start, struct gw_decoded *d)
{
	if (v->count > 1)
		spectrum_from(v, regs + (v->reg - block_start), NULL, d);
	else
		one_from_regs(v, regs + (v->reg - block_start), d);
}

static void one_from_regs(const struct gw_value *v, const uint16_t *r, struct gw_decoded *d)
{
	/* a 16-bit value's next register may be past the block: read it only for 32 bits */
	uint32_t u32 = span(v->type) == 1      ? 0
		       : v->low_word_first ? ((uint32_t)r[1] << 16 | r[0])
					   : ((uint32_t)r[0] << 16 | r[1]);
	switch (v->type) {
	case GT_U16:
		from_int(v, r[0], d);
		return;
	case GT_I16:
		from_int(v, (int16_t)r[0], d);
		return;
	case GT_U32:
		from_int(v, u32, d);
		return;
	case GT_I32:
		from_int(v, (int32_t)u32, d);
		return;
	case GT_F32: {
		float f;
		memcpy(&f, &u32, sizeof f);
		from_real(v, f, d);
		return;
	}
	default:
		memset(d, 0, sizeof *d);
		snprintf(d->why, sizeof d->why, "not a register type");
	}
}

void gw_value_from_bcd(const struct gw_value *v, int64_t digits, struct gw_decoded *d) { from_int(v, digits, d); }

void gw_value_from_number(const struct gw_value *v, double n, struct gw_decoded *d) { from_real(v, n, d); }
