/* test_gwprofile.c: the gateway's profiles and config (gateway/profile.c, config.c): every
 * shipped profile loads; values decode as their meters encode them (float32 high word
 * first, scaled integers exactly, BCD digits, low word first); out-of-range values are
 * refused; Modbus reads are merged; bad profiles are refused naming the key. */
#include "gateway/gw.h"

#include "check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR WATTLE_SRC "/gateway/profiles"

static void load(const char *name, struct gw_profile *p)
{
	char err[400] = "";
	ck_assert_msg(gw_profile_load(DIR, name, p, err, sizeof err) == 0, "%s: %s", name, err);
}

static const struct gw_value *value(const struct gw_profile *p, enum gw_field f)
{
	for (int i = 0; i < p->nv; i++)
		if (p->v[i].field == f)
			return &p->v[i];
	ck_abort_msg("no %s in %s", gw_field_names[f], p->name);
	return NULL;
}

START_TEST(every_shipped_profile_loads)
{
	static const char *const names[] = {"eastron-sdm630", "eastron-sdm120", "acrel-ddsy1352",
					    "dlt645-2007",    "shelly-pro-em",  "tasmota-energy"};
	struct gw_profile p;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		load(names[i], &p);
		ck_assert_int_ge(p.nv, 5);
	}
	load("acrel-ddsy1352", &p);
	ck_assert(p.relay.present);
	ck_assert_uint_eq(p.relay.write_reg, 0x0057);
	ck_assert_int_eq(p.relay.nwords, 2);
	ck_assert_uint_eq(p.relay.off_words[1], 1);
	ck_assert_uint_eq(p.relay.on_words[1], 0);
	load("eastron-sdm630", &p);
	ck_assert(!p.relay.present);
	load("dlt645-2007", &p);
	ck_assert_uint_eq(p.relay.trip_n1, 0x1A);
	ck_assert_uint_eq(p.relay.close_n1, 0x1C);
	ck_assert_uint_eq(p.relay.state_di, 0x04000503);
}
END_TEST

START_TEST(eastron_float_high_word_first)
{
	struct gw_profile p;
	load("eastron-sdm630", &p);
	/* 1234.5 kWh is 0x449A5000 as IEEE-754 */
	uint16_t regs[2] = {0x449A, 0x5000};
	struct gw_decoded d;
	const struct gw_value *e = value(&p, GF_ENERGY);
	ck_assert_uint_eq(e->reg, 0x0156);
	ck_assert_int_eq(e->function, 4);
	gw_value_from_regs(e, regs, 0x0156, &d);
	ck_assert(d.ok);
	ck_assert_int_eq(d.wh, 1234500);
	/* reads: 0x0000..0x0047 in one (voltage to frequency), the THD pair, the energy */
	ck_assert_int_eq(p.nblocks, 3);
	ck_assert_uint_eq(p.blocks[0].start, 0x0000);
	ck_assert_uint_eq(p.blocks[0].count, 0x48);
	ck_assert_uint_eq(p.blocks[2].start, 0x0156);
	ck_assert_uint_eq(p.blocks[2].count, 2);
	/* a NaN register is no value */
	uint16_t nan[2] = {0x7FC0, 0x0000};
	gw_value_from_regs(e, nan, 0x0156, &d);
	ck_assert(!d.ok);
}
END_TEST

START_TEST(acrel_scaled_integers_exact)
{
	struct gw_profile p;
	load("acrel-ddsy1352", &p);
	/* the register block 0x0000..0x0010 in one read */
	ck_assert_int_eq(p.nblocks, 1);
	ck_assert_uint_eq(p.blocks[0].count, 0x11);
	uint16_t regs[0x11] = {0};
	regs[0] = 0x0001; /* 123456 x 0.01 kWh = 1234.56 kWh */
	regs[1] = 0xE240;
	regs[0x0B] = 2301;                 /* 230.1 V */
	regs[0x0C] = 1234;                 /* 12.34 A */
	regs[0x0D] = (uint16_t)(int16_t)-500; /* -0.5 kW */
	regs[0x10] = 955;                  /* 0.955 */
	struct gw_decoded d;
	gw_value_from_regs(value(&p, GF_ENERGY), regs, 0, &d);
	ck_assert(d.ok);
	ck_assert_int_eq(d.wh, 1234560);
	gw_value_from_regs(value(&p, GF_VOLTAGE), regs, 0, &d);
	ck_assert(d.ok);
	ck_assert_double_eq_tol(d.x, 230.1, 1e-9);
	gw_value_from_regs(value(&p, GF_POWER), regs, 0, &d);
	ck_assert(d.ok);
	ck_assert_double_eq_tol(d.x, -500, 1e-9);
	gw_value_from_regs(value(&p, GF_PF), regs, 0, &d);
	ck_assert_double_eq_tol(d.x, 0.955, 1e-9);
	/* the largest register is exact too: 0xFFFFFFFF x 10 Wh */
	regs[0] = regs[1] = 0xFFFF;
	gw_value_from_regs(value(&p, GF_ENERGY), regs, 0, &d);
	ck_assert(d.ok);
	ck_assert_int_eq(d.wh, INT64_C(42949672950));
}
END_TEST

START_TEST(dlt645_bcd_digits_and_range)
{
	struct gw_profile p;
	load("dlt645-2007", &p);
	struct gw_decoded d;
	gw_value_from_bcd(value(&p, GF_ENERGY), 123456, &d); /* 1234.56 kWh */
	ck_assert(d.ok);
	ck_assert_int_eq(d.wh, 1234560);
	gw_value_from_bcd(value(&p, GF_POWER), -12345, &d); /* -1.2345 kW */
	ck_assert(d.ok);
	ck_assert_double_eq_tol(d.x, -1234.5, 1e-9);
	gw_value_from_bcd(value(&p, GF_PF), 1500, &d); /* PF 1.5: out of range */
	ck_assert(!d.ok);
	ck_assert(strstr(d.why, "range"));
}
END_TEST

START_TEST(mqtt_numbers)
{
	struct gw_profile p;
	load("tasmota-energy", &p);
	struct gw_decoded d;
	const struct gw_value *e = value(&p, GF_ENERGY);
	ck_assert_str_eq(e->path, "ENERGY.Total");
	gw_value_from_number(e, 12.345, &d);
	ck_assert(d.ok);
	ck_assert_int_eq(d.wh, 12345);
	gw_value_from_number(e, -1, &d);
	ck_assert(!d.ok);
	load("shelly-pro-em", &p);
	e = value(&p, GF_ENERGY);
	ck_assert_str_eq(e->path, "em1data:0.total_act_energy");
	gw_value_from_number(e, 98765.4, &d);
	ck_assert_int_eq(d.wh, 98765);
}
END_TEST

/* A profile written here, in a scratch folder. */
static char scratch[64];
static int write_profile(const char *name, const char *json)
{
	char path[160];
	snprintf(path, sizeof path, "%s/%s.json", scratch, name);
	FILE *f = fopen(path, "w");
	fputs(json, f);
	fclose(f);
	return 0;
}

START_TEST(low_word_first_and_scales)
{
	snprintf(scratch, sizeof scratch, "/tmp/gwprof-%d", (int)getpid());
	mkdir(scratch, 0700);
	write_profile("shelly-3em-modbus",
		      "{\"protocol\":\"modbus\",\"values\":[{\"field\":\"energy_wh\",\"function\":4,\"register\":1000,"
		      "\"type\":\"u32\",\"word_order\":\"low_first\",\"scale\":\"0.10\",\"unit\":\"Wh\"}]}");
	struct gw_profile p;
	char err[300];
	ck_assert_int_eq(gw_profile_load(scratch, "shelly-3em-modbus", &p, err, sizeof err), 0);
	uint16_t regs[2] = {0x86A0, 0x0001}; /* low word first: 0x000186A0 = 100000 x 0.1 Wh */
	struct gw_decoded d;
	gw_value_from_regs(&p.v[0], regs, 1000, &d);
	ck_assert(d.ok);
	ck_assert_int_eq(d.wh, 10000);
	ck_assert_int_eq(p.v[0].scale_mant, 1);
	ck_assert_int_eq(p.v[0].scale_exp, -1);
}
END_TEST

/* A model that has them maps its 2nd-31st harmonics as a spectrum: 30 registers in a row
 * (one read with the energy when near), or a JSON array. */
START_TEST(spectrum_from_registers_and_arrays)
{
	snprintf(scratch, sizeof scratch, "/tmp/gwprof-%d", (int)getpid());
	mkdir(scratch, 0700);
	write_profile("harmonic-meter",
		      "{\"protocol\":\"modbus\",\"read_gap\":4,\"values\":["
		      "{\"field\":\"energy_wh\",\"function\":3,\"register\":0,\"type\":\"u32\",\"scale\":\"0.01\",\"unit\":\"kWh\"},"
		      "{\"field\":\"harmonics_v_pct\",\"function\":3,\"register\":4,\"type\":\"u16\",\"scale\":\"0.01\","
		      "\"unit\":\"%\",\"min\":0,\"max\":100}]}");
	struct gw_profile p;
	char err[300] = "";
	ck_assert_msg(gw_profile_load(scratch, "harmonic-meter", &p, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(p.nblocks, 1);
	ck_assert_uint_eq(p.blocks[0].count, 4 + GW_HARMONICS);
	uint16_t regs[4 + GW_HARMONICS] = {0};
	for (int k = 0; k < GW_HARMONICS; k++)
		regs[4 + k] = (uint16_t)(100 * (k + 1)); /* order k+2 at (k+1).00 % */
	struct gw_decoded d;
	gw_value_from_regs(&p.v[1], regs, 0, &d);
	ck_assert(d.ok);
	ck_assert_double_eq_tol(d.xs[0], 1.0, 1e-9);
	ck_assert_double_eq_tol(d.xs[29], 30.0, 1e-9);
	regs[4 + 3] = 20000; /* order 5 at 200 %: the spectrum is refused, naming the order */
	gw_value_from_regs(&p.v[1], regs, 0, &d);
	ck_assert(!d.ok);
	ck_assert(strstr(d.why, "order 5"));
	json_t *a = json_array();
	for (int k = 0; k < GW_HARMONICS; k++)
		json_array_append_new(a, json_real(0.5 * k));
	struct gw_value jv = p.v[1];
	gw_value_from_array(&jv, a, &d);
	ck_assert(d.ok);
	ck_assert_double_eq_tol(d.xs[29], 0.145, 1e-9); /* 14.5 x the profile's 0.01 */
	json_array_remove(a, 0);
	gw_value_from_array(&jv, a, &d);
	ck_assert(!d.ok);
	json_decref(a);
}
END_TEST

START_TEST(bad_profiles_name_the_key)
{
	snprintf(scratch, sizeof scratch, "/tmp/gwprof-%d", (int)getpid());
	mkdir(scratch, 0700);
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"{\"protocol\":\"modbus\",\"values\":[{\"field\":\"energy_wh\",\"function\":5,\"register\":0,\"type\":\"u16\"}]}",
		 "values[0].function"},
		{"{\"protocol\":\"modbus\",\"values\":[{\"field\":\"energy_wh\",\"function\":3,\"register\":0,\"type\":\"u64\"}]}",
		 "values[0].type"},
		{"{\"protocol\":\"modbus\",\"values\":[{\"field\":\"energy_wh\",\"function\":3,\"register\":0,\"type\":\"u16\","
		 "\"unit\":\"V\"}]}", "values[0].unit"},
		{"{\"protocol\":\"modbus\",\"values\":[{\"field\":\"power_w\",\"function\":3,\"register\":0,\"type\":\"u16\",\"unit\":\"W\"}]}",
		 "no energy_wh"},
		{"{\"protocol\":\"dlt645\",\"values\":[{\"field\":\"energy_wh\",\"di\":\"0001\",\"type\":\"bcd\",\"bytes\":4}]}",
		 "values[0].di"},
		{"{\"protocol\":\"modbus\",\"values\":[{\"field\":\"energy_wh\",\"function\":3,\"register\":0,\"type\":\"u16\","
		 "\"scale\":\"0.0.1\"}]}", "values[0].scale"},
		{"{\"protocol\":\"zigbee\",\"values\":[]}", "protocol"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		write_profile("bad", cases[i].json);
		struct gw_profile p;
		char err[400] = "";
		ck_assert_int_eq(gw_profile_load(scratch, "bad", &p, err, sizeof err), -1);
		ck_assert_msg(strstr(err, cases[i].want), "case %zu: want %s in %s", i, cases[i].want, err);
	}
	char err[400] = "";
	struct gw_profile p;
	ck_assert_int_eq(gw_profile_load(scratch, "../etc/passwd", &p, err, sizeof err), -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gwprofile");
	TCase *core = tcase_create("core");
	tcase_add_test(core, every_shipped_profile_loads);
	tcase_add_test(core, eastron_float_high_word_first);
	tcase_add_test(core, acrel_scaled_integers_exact);
	tcase_add_test(core, dlt645_bcd_digits_and_range);
	tcase_add_test(core, mqtt_numbers);
	tcase_add_test(core, low_word_first_and_scales);
	tcase_add_test(core, spectrum_from_registers_and_arrays);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, bad_profiles_name_the_key);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
