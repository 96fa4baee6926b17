/* fuzz_readings.c: a readings batch as a gateway posts it, decoded reading by reading
 * (mb_reading_decode, the harmonics included) and billed on a one-meter batch (mb_decide,
 * mb_carry) whose alarm settings set per-order harmonic limits: no crash, what is billed is
 * never negative energy or money, a decoded spectrum is within 0..100 %, and the spectra
 * picked to keep are one per meter and 15-minute slot. */
#include "core/meterbatch.h"
#include "core/price.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1793520000000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *arr = json_is_object(root) ? json_object_get(root, "readings") : root;
	size_t n = json_array_size(arr);
	if (!n || n > 512) {
		json_decref(root);
		return 0;
	}
	struct bill_reading *rd = calloc(n, sizeof *rd);
	struct bill_reading **order = calloc(n, sizeof *order), **keep = calloc(n, sizeof *keep);
	for (size_t i = 0; i < n; i++) {
		rd[i].index = (int)i;
		rd[i].request_id = "fuzz";
		mb_reading_decode(json_array_get(arr, i), &rd[i], T0 + INT64_C(86400000000));
		if (rd[i].harm && rd[i].invalid)
			abort(); /* a refused reading holds nothing */
		for (int k = 0; rd[i].harm && k < ALARM_ORDERS; k++)
			if (rd[i].harm->v[k] > 10000 || rd[i].harm->i[k] > 10000)
				abort();
	}
	struct mb_batch b;
	memset(&b, 0, sizeof b);
	b.alarms = true;
	b.m = calloc(1, sizeof *b.m);
	b.nm = 1;
	struct mb_meter *m = &b.m[0];
	m->id = 7;
	m->tenant_id = 3;
	m->tariff_id = 1;
	m->multiplier = 1 + (int64_t)(size % 3);
	m->max_power_w = size % 2 ? 5000 : 0;
	m->register_max = size % 5 == 0 ? 100000 : 0;
	snprintf(m->serial, sizeof m->serial, "M-7");
	snprintf(m->zone, sizeof m->zone, "Asia/Shanghai");
	m->unit = bill_nano_per_minor(2);
	m->has_last = true;
	m->last_ts = T0;
	alarm_state_init(&m->ast);
	json_t *limits = json_loads("{\"harmonic_limits_pct\":{\"3\":5,\"5\":6,\"31\":0},"
				    "\"harmonic_limits_i_pct\":{\"7\":20}}", 0, NULL);
	alarm_cfg_load(&m->acfg, limits, m->max_power_w, NULL);
	json_decref(limits);
	json_t *spec = json_loads("{\"rate_micros_per_kwh\":1234567}", 0, NULL);
	b.tariffs = calloc(1, sizeof *b.tariffs);
	b.nt = 1;
	b.tariffs[0].id = 1;
	b.tariffs[0].t.v = calloc(1, sizeof(struct bill_version));
	if (bill_version_parse("flat", spec, 0, &b.tariffs[0].t.v[0]) == 0)
		b.tariffs[0].t.n = 1;
	json_decref(spec);
	mb_index(&b);
	int no = mb_decide(&b, rd, (int)n, order);
	int nk = mb_harm_pick(order, no, keep);
	for (int k = 1; k < nk; k++)
		if (keep[k]->meter_id == keep[k - 1]->meter_id &&
		    mb_harm_slot_us(keep[k]->ts_us) == mb_harm_slot_us(keep[k - 1]->ts_us))
			abort(); /* one spectrum per meter and slot */
	mb_carry(&b);
	if (b.m[0].batch_wh < 0 || b.m[0].minor < 0 || b.m[0].batch_cost < 0)
		abort(); /* a positive rate never credits */
	mb_free(&b);
	mb_readings_clear(rd, (int)n);
	free(rd);
	free(order);
	free(keep);
	json_decref(root);
	return 0;
}
