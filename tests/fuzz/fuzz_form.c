/* fuzz_form.c: an Alipay notification body (application/x-www-form-urlencoded): parsed,
 * looked up, and turned into the string Alipay signs. */
#include "core/paysig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bill_form f;
	if (bill_form_parse((const char *)data, size, &f) == 0) {
		const char *v = bill_form_get(&f, "out_trade_no");
		if (v)
			(void)strlen(v);
		char *content = bill_alipay_sign_content(&f);
		if (content && (strstr(content, "sign=") == content))
			abort(); /* sign is never part of what is signed */
		free(content);
	}
	bill_form_free(&f);
	return 0;
}
