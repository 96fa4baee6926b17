/* calendar.h: civil dates in the proleptic Gregorian calendar, as day numbers from
 * 1970-01-01 (the algorithms Howard Hinnant published), and local days and months. Pure. */
#ifndef WATTLE_CALENDAR_H
#define WATTLE_CALENDAR_H

#include <stdint.h>

#define CAL_DAY_US INT64_C(86400000000)

/* y-m-d of day number days, and back. */
void cal_civil_from_days(int64_t days, int *y, int *m, int *d);
int64_t cal_days_from_civil(int64_t y, int m, int d);
/* floor(local_us / 1 day): the local day of a local time in microseconds. */
int32_t cal_local_day(int64_t local_us);
/* year * 12 + month - 1 of a day number. */
int32_t cal_month_of_day(int32_t day);

#endif
