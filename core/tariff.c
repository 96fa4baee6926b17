/* tariff.c: flat, time-of-use and tiered tariffs are checked here before they are stored. */
#include "core/tariff.h"
#include "core/valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct err {
	char *field, *msg;
	size_t fn, mn;
};

static json_t *fail(struct err *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *fail(struct err *e, const char *field, const char *fmt, ...)
{
	snprintf(e->field, e->fn, "%s", field);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, e->mn, fmt, ap);
	va_end(ap);
	return NULL;
}

static int rate_ok(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	       json_integer_value(v) <= TARIFF_MAX_RATE;
}

/* Only the named keys may appear in object o. Returns the first other key or NULL. */
static const char *extra_key(json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		const char *const *a = allowed;
		while (*a && strcmp(*a, k))
			a++;
		if (!*a)
			return k;
	}
	return NULL;
}

static json_t *check_flat(json_t *body, struct err *e)
{
	json_t *rate = json_object_get(body, "rate_micros_per_kwh");
	if (!rate)
		return fail(e, "rate_micros_per_kwh", "required for a flat tariff");
	if (!rate_ok(rate))
		return fail(e, "rate_micros_per_kwh", "must be an integer from 0 to %lld",
			    (long long)TARIFF_MAX_RATE);
	return json_pack("{s:O}", "rate_micros_per_kwh", rate);
}

static int cmp_from(const void *a, const void *b)
{
	int x = (int)json_integer_value(json_object_get(*(json_t *const *)a, "from_min"));
	int y = (int)json_integer_value(json_object_get(*(json_t *const *)b, "from_min"));
	return (x > y) - (x < y);
}

static json_t *check_tou(json_t *body, struct err *e)
{
	static const char *const band_keys[] = {"name", "rate_micros_per_kwh", NULL};
	static const char *const slot_keys[] = {"from", "to", "band", NULL};
	char f[64];
	json_t *bands = json_object_get(body, "bands");
	json_t *sched = json_object_get(body, "schedule");
	if (!json_is_array(bands) || json_array_size(bands) < 1 || json_array_size(bands) > 24)
		return fail(e, "bands", "must be an array of 1 to 24 bands");
	if (!json_is_array(sched) || json_array_size(sched) < 1 || json_array_size(sched) > 96)
		return fail(e, "schedule", "must be an array of 1 to 96 entries");
	size_t i;
	json_t *b;
	json_array_foreach(bands, i, b) {
		snprintf(f, sizeof f, "bands[%zu]", i);
		if (!json_is_object(b) || extra_key(b, band_keys))
			return fail(e, f, "must be {\"name\",\"rate_micros_per_kwh\"}");
		const char *name = json_string_value(json_object_get(b, "name"));
		if (!name || !api_valid_text(name, 32))
			return fail(e, f, "name must be 1 to 32 printable bytes");
		if (!rate_ok(json_object_get(b, "rate_micros_per_kwh")))
			return fail(e, f, "rate_micros_per_kwh must be an integer from 0 to %lld",
				    (long long)TARIFF_MAX_RATE);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(name, json_string_value(json_object_get(json_array_get(bands, j), "name"))))
				return fail(e, f, "band name %s is used twice", name);
	}
	size_t n = json_array_size(sched);
	json_t **slots = calloc(n, sizeof *slots);
	if (!slots)
		abort();
	json_t *s, *out = NULL;
	json_array_foreach(sched, i, s) {
		snprintf(f, sizeof f, "schedule[%zu]", i);
		if (!json_is_object(s) || extra_key(s, slot_keys)) {
			fail(e, f, "must be {\"from\",\"to\",\"band\"}");
			goto out;
		}
		int from = api_parse_hhmm(json_string_value(json_object_get(s, "from")), 0);
		int to = api_parse_hhmm(json_string_value(json_object_get(s, "to")), 1);
		const char *band = json_string_value(json_object_get(s, "band"));
		if (from < 0 || to < 0 || from >= to) {
			fail(e, f, "from and to must be HH:MM with from < to (to may be 24:00)");
			goto out;
		}
		size_t k = 0;
		for (; band && k < json_array_size(bands); k++)
			if (!strcmp(band, json_string_value(json_object_get(json_array_get(bands, k), "name"))))
				break;
		if (!band || k == json_array_size(bands)) {
			fail(e, f, "band must name one of bands");
			goto out;
		}
		slots[i] = json_pack("{s:O, s:O, s:s, s:i, s:i}", "from", json_object_get(s, "from"),
				     "to", json_object_get(s, "to"), "band", band, "from_min", from,
				     "to_min", to);
	}
	qsort(slots, n, sizeof *slots, cmp_from);
	int at = 0;
	for (i = 0; i < n; i++) {
		int from = (int)json_integer_value(json_object_get(slots[i], "from_min"));
		if (from != at) {
			fail(e, "schedule", from > at ? "a gap at %02d:%02d: the schedule must cover 24 h"
						      : "an overlap at %02d:%02d: each minute belongs to one band",
			     at / 60, at % 60);
			goto out;
		}
		at = (int)json_integer_value(json_object_get(slots[i], "to_min"));
	}
	if (at != 24 * 60) {
		fail(e, "schedule", "a gap at %02d:%02d: the schedule must cover 24 h", at / 60, at % 60);
		goto out;
	}
	json_t *sorted = json_array();
	for (i = 0; i < n; i++) {
		json_object_del(slots[i], "from_min");
		json_object_del(slots[i], "to_min");
		json_array_append(sorted, slots[i]);
	}
	out = json_pack("{s:O, s:o}", "bands", bands, "schedule", sorted);
out:
	for (i = 0; i < n; i++)
		json_decref(slots[i]);
	free(slots);
	return out;
}

static json_t *check_tiered(json_t *body, struct err *e)
{
	static const char *const tier_keys[] = {"up_to_wh", "rate_micros_per_kwh", NULL};
	char f[64];
	json_t *tiers = json_object_get(body, "tiers");
	if (!json_is_array(tiers) || json_array_size(tiers) < 1 || json_array_size(tiers) > 16)
		return fail(e, "tiers", "must be an array of 1 to 16 tiers");
	json_int_t prev = 0;
	size_t i, n = json_array_size(tiers);
	json_t *t;
	json_array_foreach(tiers, i, t) {
		snprintf(f, sizeof f, "tiers[%zu]", i);
		if (!json_is_object(t) || extra_key(t, tier_keys) || !json_object_get(t, "up_to_wh"))
			return fail(e, f, "must be {\"up_to_wh\",\"rate_micros_per_kwh\"}");
		if (!rate_ok(json_object_get(t, "rate_micros_per_kwh")))
			return fail(e, f, "rate_micros_per_kwh must be an integer from 0 to %lld",
				    (long long)TARIFF_MAX_RATE);
		json_t *up = json_object_get(t, "up_to_wh");
		if (i == n - 1) {
			if (!json_is_null(up))
				return fail(e, f, "the last tier must have up_to_wh null (no upper bound)");
		} else if (!json_is_integer(up) || json_integer_value(up) <= prev ||
			   json_integer_value(up) > INT64_C(1000000000000000)) {
			return fail(e, f, "up_to_wh must be an integer above the previous tier's");
		} else {
			prev = json_integer_value(up);
		}
	}
	return json_pack("{s:O}", "tiers", tiers);
}

json_t *bill_tariff_check(const char *kind, json_t *body, char *field, size_t field_n,
			  char *msg, size_t msg_n)
{
	struct err e = {field, msg, field_n, msg_n};
	static const char *const flat_only[] = {"rate_micros_per_kwh", NULL};
	static const char *const tou_only[] = {"bands", "schedule", NULL};
	static const char *const tiered_only[] = {"tiers", NULL};
	static const struct {
		const char *kind;
		const char *const *own;
		json_t *(*check)(json_t *, struct err *);
	} kinds[] = {{"flat", flat_only, check_flat},
		     {"tou", tou_only, check_tou},
		     {"tiered", tiered_only, check_tiered}};
	for (size_t k = 0; k < 3; k++) {
		if (!kind || strcmp(kind, kinds[k].kind))
			continue;
		for (size_t o = 0; o < 3; o++) /* another kind's fields are a mistake */
			for (const char *const *f = kinds[o].own; o != k && *f; f++)
				if (json_object_get(body, *f))
					return fail(&e, *f, "not used by a %s tariff", kind);
		return kinds[k].check(body, &e);
	}
	return fail(&e, "kind", "must be flat, tou or tiered");
}
