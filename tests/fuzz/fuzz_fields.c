/* fuzz_fields.c: a JSON request body checked against a field spec of every kind
 * (api_fields): no crash, and a refusal always says why in a 400. */
#include "api/api.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = {"flat", "tou", "tiered", NULL};
	static const struct field spec[] = {
		{"text", FK_TEXT, F_REQ, 0, 64, 0, 0},
		{"int", FK_INT, F_NULL, -5, INT64_C(1000000000000000), 0, 0},
		{"bool", FK_BOOL, 0, 0, 0, 0, 0},
		{"enum", FK_ENUM, 0, 0, 0, kinds, 0},
		{"id", FK_ID, F_NULL, 0, 0, 0, "ten"},
		{"phone", FK_PHONE, 0, 0, 0, 0, 0},
		{"tz", FK_TZ, 0, 0, 0, 0, 0},
		{"currency", FK_CURRENCY, 0, 0, 0, 0, 0},
		{"area", FK_AREA, 0, 0, 0, 0, 0},
		{"time", FK_TIME, 0, 0, 0, 0, 0},
		{"date", FK_DATE, 0, 0, 0, 0, 0},
		{"url", FK_URL, F_NULL, 0, 0, 0, 0},
		{"array", FK_ARRAY, 0, 0, 0, 0, 0},
		{"object", FK_OBJECT, 0, 0, 0, 0, 0},
		{0},
	};
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return 0;
	}
	for (int patch = 0; patch < 2; patch++) {
		struct req rq;
		memset(&rq, 0, sizeof rq);
		rq.json = j;
		int bad = api_fields(&rq, spec, patch);
		if (bad && rq.status != 400)
			abort();
		if (!bad && rq.reply)
			abort();
		json_decref(rq.reply);
	}
	json_decref(j);
	return 0;
}
