/* fuzz_parsers.c: the small parsers every request goes through: RFC 3339 times, dates,
 * periods, HH:MM, phone numbers, currencies, zones, URLs, text. */
#include "core/valid.h"
#include "core/calendar.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 512)
		return 0;
	char s[513];
	memcpy(s, data, size);
	s[size] = 0;
	int64_t us;
	int y, m, d, digits;
	if (api_parse_time(s, &us) == 0) {
		int32_t day = cal_local_day(us);
		cal_civil_from_days(day, &y, &m, &d);
		if (m < 1 || m > 12 || d < 1 || d > 31)
			abort();
	}
	if (api_parse_date(s, &y, &m, &d) == 0 && cal_days_from_civil(y, m, d) != cal_days_from_civil(y, m, d))
		abort();
	(void)api_parse_period(s, &y, &m);
	(void)api_parse_hhmm(s, 1);
	(void)api_valid_phone(s);
	(void)api_valid_currency(s, &digits);
	if (size < 64)
		(void)api_valid_timezone(s);
	(void)api_valid_url(s);
	(void)api_valid_text(s, 255);
	return 0;
}
