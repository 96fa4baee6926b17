/* test_report_doc.c: the reports' documents from typed data, without a database: keys in
 * order, the phone number kept out, bands that add up to the charges, the closing balance. */
#include "check_run.h"

#include "core/report_doc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct report_site site(void)
{
	struct report_site s = {.id = 7, .minor_digits = 2, .from_us = 0, .to_us = 86400000000LL, .generated_us = 0};
	report_site_period(&s, 2026, 2);
	s.name = "Mall";
	strcpy(s.timezone, "UTC");
	strcpy(s.currency, "CNY");
	return s;
}

START_TEST(statement_in_order_without_phone)
{
	struct report_site si = site();
	struct statement_entry e[2] = {
		{.tenant_id = 3, .at_us = 1000000, .amount_minor = 500, .kind = "topup", .local_time = "2026-02-01 00:00",
		 .channel = "cash", .pool = ""},
		{.tenant_id = 3, .at_us = 2000000, .amount_minor = -120, .kind = "allocation",
		 .local_time = "2026-02-01 00:00", .channel = "other", .pool = "Lighting", .period = "2026-02",
		 .run_id = "run_4", .basis_json = "\"10.00\"", .basis_unit = "m2"},
	};
	struct report_band b[2] = {{3, "peak", 300, 3}, {3, "valley", 100, 1}};
	struct statement s = {.tenant_id = 3, .name = "Shop", .category = "retail", .phone = "+8613800000000",
			      .area_centi_m2 = 1000, .currency = "CNY", .opening_minor = 100,
			      .sums = {.topup = 500, .energy = -41, .alloc = -120, .adj = 0, .refund = 0},
			      .entries = e, .nentries = 2, .bands = b, .nbands = 2};
	ck_assert_int_eq(report_statement_closing(&s), 100 + 500 - 41 - 120);
	char *t = report_doc_statement_text(&si, &s);
	ck_assert_ptr_null(strstr(t, "phone"));
	ck_assert_ptr_null(strstr(t, "+86"));
	const char *want =
		"{\"kind\":\"tenant_statement\",\"period\":\"2026-02\",\"site\":{\"id\":\"site_7\",\"name\":\"Mall\","
		"\"timezone\":\"UTC\"},\"currency\":\"CNY\",\"minor_digits\":2,\"from\":\"1970-01-01T00:00:00.000000Z\","
		"\"to\":\"1970-01-02T00:00:00.000000Z\",\"generated_at\":\"1970-01-01T00:00:00.000000Z\","
		"\"tenant\":{\"id\":\"ten_3\",\"name\":\"Shop\",\"category\":\"retail\",\"area_m2\":\"10.00\"},"
		"\"opening_balance_minor\":100,\"topups_minor\":500,\"energy_charges_minor\":41,\"allocations_minor\":120,"
		"\"adjustments_minor\":0,\"refunds_minor\":0,\"closing_balance_minor\":439,"
		"\"topups_by_channel\":[{\"channel\":\"cash\",\"amount_minor\":500}],"
		"\"energy_by_band\":[{\"band\":\"peak\",\"wh\":300,\"amount_minor\":31},"
		"{\"band\":\"valley\",\"wh\":100,\"amount_minor\":10}],"
		"\"allocations\":[{\"at\":\"1970-01-01T00:00:02.000000Z\",\"local_time\":\"2026-02-01 00:00\","
		"\"pool\":\"Lighting\",\"period\":\"2026-02\",\"run_id\":\"run_4\",\"basis\":\"10.00\",\"basis_unit\":\"m2\","
		"\"amount_minor\":120,\"reversal\":false}],\"adjustments\":[],\"refunds\":[],"
		"\"topups\":[{\"at\":\"1970-01-01T00:00:01.000000Z\",\"local_time\":\"2026-02-01 00:00\","
		"\"channel\":\"cash\",\"amount_minor\":500}],\"daily\":[],\"energy_wh\":0}";
	ck_assert_str_eq(t, want);
	free(t);
}
END_TEST

START_TEST(limits_negative_charges_and_no_bands)
{
	/* corrections made the month's energy a credit: shown apart as unassigned, never lost */
	struct report_site si = site();
	struct statement s = {.tenant_id = 1, .name = "A", .category = "c", .currency = "CNY", .sums = {.energy = 25}};
	json_t *d = report_doc_statement(&si, &s);
	json_t *bands = json_object_get(d, "energy_by_band");
	ck_assert_int_eq(json_array_size(bands), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(bands, 0), "band")), "unassigned");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(bands, 0), "amount_minor")), -25);
	json_decref(d);
	/* February of a leap year has 29 rows of 24 hours; a cell outside the month is dropped */
	struct energy_cell cells[2] = {{28, 23, 5}, {29, 0, 7}};
	struct energy_report e = {.site = site(), .heat = cells, .nheat = 2};
	report_site_period(&e.site, 2028, 2);
	d = report_doc_energy(&e);
	json_t *grid = json_object_get(d, "public_load_wh_by_day_hour");
	ck_assert_int_eq(json_array_size(grid), 29);
	ck_assert_int_eq(json_integer_value(json_array_get(json_array_get(grid, 28), 23)), 5);
	ck_assert(json_is_null(json_object_get(d, "change_pct")));
	json_decref(d);
	ck_assert_int_eq(bill_report_kind_parse("energy"), REPORT_ENERGY);
	ck_assert_int_eq(bill_report_kind_parse(NULL), -1);
	ck_assert_str_eq(bill_report_kind_name(REPORT_FINANCE), "finance_summary");
}
END_TEST

/* The power-quality document: the latest spectrum's halves as 30 percentages or null, the
 * limits in force by order, THD points with their absent values null, the page's cursor. */
START_TEST(power_quality_document)
{
	struct pq_spectrum sp[2] = {{1000000, {true, false, {0}, {0}}}, {2000000, {true, true, {0}, {0}}}};
	for (int k = 0; k < ALARM_ORDERS; k++) {
		sp[0].s.v[k] = (uint16_t)(k * 10);
		sp[1].s.v[k] = 620;
		sp[1].s.i[k] = 10000;
	}
	struct pq_thd thd[2] = {{1000000, 2.5, 9}, {1500000, 2.75, NAN}};
	struct pq_report p = {.meter_id = 4, .serial = "M-4", .from_us = 0, .to_us = 86400000000LL, .thd = thd,
			      .nthd = 2, .spectra = sp, .nspectra = 2, .has_next = true, .next_after_us = 2000000,
			      .latest = &sp[1]};
	for (int k = 0; k < ALARM_ORDERS; k++)
		p.lim_v[k] = p.lim_i[k] = ALARM_NO_LIMIT;
	p.lim_v[3 - 2] = 500;
	p.lim_i[31 - 2] = 1050;
	json_t *d = report_doc_power_quality(&p);
	ck_assert_str_eq(json_string_value(json_object_get(d, "kind")), "power_quality");
	ck_assert_str_eq(json_string_value(json_object_get(d, "meter_id")), "mtr_4");
	ck_assert_str_eq(json_string_value(json_object_get(d, "harmonics_ts")), "1970-01-01T00:00:02.000000Z");
	json_t *v = json_object_get(d, "harmonics_v_pct"), *i = json_object_get(d, "harmonics_i_pct");
	ck_assert_int_eq(json_array_size(v), 30);
	ck_assert(json_real_value(json_array_get(v, 29)) == 6.2);
	ck_assert(json_real_value(json_array_get(i, 0)) == 100);
	json_t *lim = json_object_get(d, "harmonic_limits_pct");
	ck_assert_int_eq(json_object_size(lim), 1);
	ck_assert(json_real_value(json_object_get(lim, "3")) == 5);
	ck_assert(json_real_value(json_object_get(json_object_get(d, "harmonic_limits_i_pct"), "31")) == 10.5);
	json_t *t = json_object_get(d, "thd");
	ck_assert_int_eq(json_array_size(t), 2);
	ck_assert(json_real_value(json_object_get(json_array_get(t, 1), "thd_v_pct")) == 2.75);
	ck_assert(json_is_null(json_object_get(json_array_get(t, 1), "thd_i_pct")));
	json_t *s0 = json_array_get(json_object_get(d, "spectra"), 0);
	ck_assert(json_real_value(json_array_get(json_object_get(s0, "harmonics_v_pct"), 1)) == 0.1);
	ck_assert(json_is_null(json_object_get(s0, "harmonics_i_pct")));
	ck_assert_str_eq(json_string_value(json_object_get(d, "next_after")), "1970-01-01T00:00:02.000000Z");
	json_decref(d);
	/* nothing kept in range: null halves and time; the last page: no cursor */
	p.latest = NULL;
	p.has_next = false;
	p.nspectra = p.nthd = 0;
	d = report_doc_power_quality(&p);
	ck_assert(json_is_null(json_object_get(d, "harmonics_ts")) && json_is_null(json_object_get(d, "harmonics_v_pct")) &&
		  json_is_null(json_object_get(d, "harmonics_i_pct")) && json_is_null(json_object_get(d, "next_after")));
	ck_assert_int_eq(json_array_size(json_object_get(d, "spectra")), 0);
	json_decref(d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("report_doc");
	TCase *core = tcase_create("core");
	tcase_add_test(core, statement_in_order_without_phone);
	tcase_add_test(core, power_quality_document);
	suite_add_tcase(s, core);
	TCase *limits = tcase_create("limits");
	tcase_add_test(limits, limits_negative_charges_and_no_bands);
	suite_add_tcase(s, limits);
	return s;
}

int main(void) { return th_run(suite()); }
