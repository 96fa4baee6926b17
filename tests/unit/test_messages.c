/* test_messages.c: the texts and events sent to people (core/messages.c). */
#include "check_run.h"

#include "core/messages.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The duty phone's line, as the SQL format() that wrote it before ops/alarm.c did. */
START_TEST(alarm_line)
{
	char b[200];
	ck_assert_str_eq(msg_alarm(b, sizeof b, "critical", "overload", "alarm_opened", "M-1", "Harbour Mall", "8123.4"),
			 "[CRITICAL] overload opened on meter M-1 at Harbour Mall (peak 8123.40)");
	ck_assert_str_eq(msg_alarm(b, sizeof b, "major", "comm_lost", "alarm_closed", "M-2", "Harbour Mall", ""),
			 "[MAJOR] comm_lost closed on meter M-2 at Harbour Mall (peak -)");
	ck_assert_str_eq(msg_alarm(b, sizeof b, "minor", "under_voltage", "alarm_opened", "M-3", "X", "190.125"),
			 "[MINOR] under_voltage opened on meter M-3 at X (peak 190.13)");
	ck_assert_str_eq(msg_alarm(b, sizeof b, "major", "overload", "alarm_cleared", "M-1", "X", "1"),
			 "[MAJOR] overload cleared on meter M-1 at X (peak 1.00)");
}
END_TEST

/* An account's event is a JSON object with its one extra field, typed. */
START_TEST(account_event)
{
	char *t = msg_account_event("low_balance", 7, "Noodle \"Bar\"", -1234, "CNY", 0, "level_minor", NULL, 5000);
	json_t *o = json_loads(t, 0, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "event")), "low_balance");
	ck_assert_str_eq(json_string_value(json_object_get(o, "tenant_id")), "ten_7");
	ck_assert_str_eq(json_string_value(json_object_get(o, "tenant_name")), "Noodle \"Bar\"");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "balance_minor")), -1234);
	ck_assert_str_eq(json_string_value(json_object_get(o, "at")), "1970-01-01T00:00:00.000000Z");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "level_minor")), 5000);
	ck_assert_int_eq((int)json_object_size(o), 7);
	json_decref(o);
	free(t);
	t = msg_account_event("grace_started", 1, "T", 0, "CNY", 0, "cut_at", "2026-10-01T00:00:00Z", 0);
	o = json_loads(t, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(o, "cut_at")), "2026-10-01T00:00:00Z");
	json_decref(o);
	free(t);
	t = msg_account_event("cut_off", 1, "T", 0, "CNY", 0, NULL, NULL, 0);
	o = json_loads(t, 0, NULL);
	ck_assert_int_eq((int)json_object_size(o), 6);
	json_decref(o);
	free(t);
}
END_TEST

/* The events beside the texts: valid JSON whatever the strings hold, typed fields. */
START_TEST(event_payloads)
{
	struct msg_alarm_event e = {"alarm_opened", "overload", "critical", "open", "M\"1", "8123.4", "{\"readings\":3}",
				    5, 7, 1, 0, 1000000, 2000000, 0, 0, true};
	char *t = msg_alarm_event_payload(&e);
	json_t *o = json_loads(t, 0, NULL);
	ck_assert_msg(o != NULL, "%s", t);
	ck_assert_str_eq(json_string_value(json_object_get(o, "alarm_id")), "alm_5");
	ck_assert_str_eq(json_string_value(json_object_get(o, "serial")), "M\"1");
	ck_assert(json_is_null(json_object_get(o, "tenant_id")));
	ck_assert(json_is_null(json_object_get(o, "closed_at")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "last_seen_at")), "1970-01-01T00:00:02.000000Z");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "detail"), "readings")), 3);
	ck_assert(json_is_true(json_object_get(o, "shelved")));
	ck_assert_ptr_nonnull(strstr(t, "\"peak\":8123.4,"));
	json_decref(o);
	free(t);
	t = msg_malicious_cut_payload(3, 7, "M-7", 12);
	ck_assert_str_eq(t, "{\"event\":\"malicious_load_cut\",\"tenant_id\":\"ten_3\",\"meter_id\":\"mtr_7\","
			    "\"serial\":\"M-7\",\"command_id\":\"cmd_12\"}");
	free(t);
	t = msg_statement_ready_payload(3, "2026-10", -150);
	ck_assert_str_eq(t, "{\"event\":\"statement_ready\",\"tenant_id\":\"ten_3\",\"period\":\"2026-10\","
			    "\"closing_balance_minor\":-150}");
	free(t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("messages");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, alarm_line);
	tcase_add_test(tc, account_event);
	tcase_add_test(tc, event_payloads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return th_run(suite()); }
