/* fuzz_render.c: a report's JSON rendered as CSV and as HTML, and as a power-quality page:
 * no crash, and the HTML never carries a script that came from the data (every text is
 * escaped). */
#include "api/render.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return 0;
	}
	size_t n;
	free(api_render_csv(j, &n));
	char *html = api_render_html(j, &n);
	if (html && strstr(html, "<script"))
		abort();
	free(html);
	html = api_render_power_quality_html(j, &n);
	if (html && strstr(html, "<script"))
		abort();
	free(html);
	json_decref(j);
	return 0;
}
