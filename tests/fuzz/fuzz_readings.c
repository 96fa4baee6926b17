/* fuzz_readings.c: a readings batch as a gateway posts it, decoded reading by reading
 * (mb_reading_decode) and billed on a one-meter batch (mb_decide, mb_carry): no crash, and
 * what is billed is never negative energy or money. */
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
	struct bill_reading **order = calloc(n, sizeof *order);
	for (size_t i = 0; i < n; i++) {
		rd[i].index = (int)i;
		rd[i].request_id = "fuzz";
		mb_reading_decode(json_array_get(arr, i), &rd[i], T0 + INT64_C(86400000000));
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
	m->ast.last_power_w = INT64_MIN;
	json_t *spec = json_loads("{\"rate_micros_per_kwh\":1234567}", 0, NULL);
	b.tariffs = calloc(1, sizeof *b.tariffs);
	b.nt = 1;
	b.tariffs[0].id = 1;
	b.tariffs[0].t.v = calloc(1, sizeof(struct bill_version));
	if (bill_version_parse("flat", spec, 0, &b.tariffs[0].t.v[0]) == 0)
		b.tariffs[0].t.n = 1;
	json_decref(spec);
	mb_index(&b);
	mb_decide(&b, rd, (int)n, order);
	mb_carry(&b);
	if (b.m[0].batch_wh < 0 || b.m[0].minor < 0 || b.m[0].batch_cost < 0)
		abort(); /* a positive rate never credits */
	mb_free(&b);
	free(rd);
	free(order);
	json_decref(root);
	return 0;
}
