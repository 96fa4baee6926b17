/* tariff.h: validation of tariff pricing rules (pure: no I/O). */
#ifndef WATTLE_TARIFF_H
#define WATTLE_TARIFF_H

#include <jansson.h>
#include <stddef.h>

/* Rates are bounded so that rate x energy cannot overflow int64 for any realistic interval. */
#define TARIFF_MAX_RATE INT64_C(1000000000) /* 1,000 major units per kWh */

/* Check the pricing part of a tariff body for kind "flat", "tou" or "tiered" and return
 * the normalised spec to store (new reference: caller decrefs): flat
 * {"rate_micros_per_kwh"}, tou {"bands","schedule"} (schedule sorted by start), tiered
 * {"tiers"}. On failure return NULL and write the offending field ("schedule[2].to")
 * and a message. Fields that belong to another kind are refused. */
json_t *bill_tariff_check(const char *kind, json_t *body, char *field, size_t field_n,
			  char *msg, size_t msg_n);

#endif
