/* msgtext.c: the events, variables and shipped texts of messages, and their rendering
 * (msgtext.h). */
#include "core/msgtext.h"
#include "core/calendar.h"
#include "core/money.h"
#include "core/tz.h"

#include <jansson.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const msg_events[] = {"low_balance",    "grace_started",   "cut_off", "restored",
				  "topup_received", "statement_ready", "alarm",   "login_code", NULL};
const char *const msg_languages[] = {"zh-CN", "en", NULL};
const char *const msg_variables[] = {"tenant_name", "shop",       "balance", "threshold",  "cut_at",
				     "amount",      "receipt_no", "period",  "alarm_kind", "meter",     "code", NULL};

bool msg_is_one_of(const char *name, const char *const *list)
{
	for (int i = 0; name && list[i]; i++)
		if (!strcmp(name, list[i]))
			return true;
	return false;
}

/* The shipped texts, by event (msg_events' order), zh-CN then en. */
static const char *const defaults[8][2] = {
	{"{tenant_name}：您的电费余额为{balance}，已低于{threshold}，请及时充值。",
	 "{tenant_name}: your electricity balance is {balance}, below {threshold}. Please top up."},
	{"{tenant_name}：您的电费余额{balance}已用完，如未充值，将于{cut_at}停止供电。",
	 "{tenant_name}: your electricity balance of {balance} has run out. The supply will be cut at {cut_at} unless you top up."},
	{"{tenant_name}：您的电力供应已停止，当前余额{balance}。充值后即可恢复供电。",
	 "{tenant_name}: the electricity supply has been cut off; the balance is {balance}. A top-up restores it."},
	{"{tenant_name}：感谢充值，供电正在恢复，当前余额{balance}。",
	 "{tenant_name}: thank you; the supply is being restored. Balance {balance}."},
	{"{tenant_name}：已收到充值{amount}（收据号{receipt_no}），当前余额{balance}。",
	 "{tenant_name}: top-up of {amount} received (receipt {receipt_no}); your balance is {balance}."},
	{"{tenant_name}：您{period}的电费账单已生成，期末余额{balance}。",
	 "{tenant_name}: your electricity statement for {period} is ready; closing balance {balance}."},
	{"告警：{shop}电表{meter}发生{alarm_kind}。", "Alarm: {alarm_kind} on meter {meter} at {shop}."},
	{"您的登录验证码为{code}，5分钟内有效。请勿告诉他人。",
	 "Your sign-in code is {code}. It is valid for 5 minutes; do not share it."},
};

static int index_of(const char *name, const char *const *list)
{
	for (int i = 0; name && list[i]; i++)
		if (!strcmp(name, list[i]))
			return i;
	return -1;
}

const char *msg_default_text(const char *event, const char *language)
{
	int e = index_of(event, msg_events), l = index_of(language, msg_languages);
	return e < 0 || l < 0 ? NULL : defaults[e][l];
}

int msg_text_check(const char *text, char *bad, size_t n)
{
	for (const char *p = text; (p = strchr(p, '{')); p++) {
		const char *end = strchr(p, '}');
		if (!end) {
			snprintf(bad, n, "{");
			return -1;
		}
		char name[64];
		size_t len = (size_t)(end - p - 1);
		snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p + 1);
		if (len >= sizeof name || !msg_is_one_of(name, msg_variables)) {
			snprintf(bad, n, "%s", name);
			return -1;
		}
		p = end;
	}
	return 0;
}

char *msg_amount(int64_t minor, int digits, const char *currency, const char *language, bool plain, char *buf,
		 size_t n)
{
	char num[48];
	bill_format_decimal(minor, digits, num, sizeof num);
	if (plain) {
		snprintf(buf, n, "%s", num);
		return buf;
	}
	/* group the integer part by thousands */
	const char *digits_at = num[0] == '-' ? num + 1 : num;
	const char *dot = strchr(digits_at, '.');
	size_t ilen = dot ? (size_t)(dot - digits_at) : strlen(digits_at);
	char grouped[64];
	size_t g = 0;
	for (size_t i = 0; i < ilen && g + 2 < sizeof grouped; i++) {
		if (i && (ilen - i) % 3 == 0)
			grouped[g++] = ',';
		grouped[g++] = digits_at[i];
	}
	grouped[g] = 0;
	const char *sign = num[0] == '-' ? "-" : "";
	const char *frac = dot ? dot : "";
	if (!strcmp(language, "zh-CN") && !strcmp(currency, "CNY"))
		snprintf(buf, n, "%s¥%s%s", sign, grouped, frac);
	else
		snprintf(buf, n, "%s %s%s%s", currency, sign, grouped, frac);
	return buf;
}

/* t_us as "YYYY-MM-DD HH:MM" in zone. */
static char *site_time(int64_t t_us, const char *zone, char *buf, size_t n)
{
	int32_t off = 0;
	bill_tz_offset(zone, t_us, &off);
	int64_t local = t_us + (int64_t)off * 1000000;
	int32_t day = cal_local_day(local);
	int64_t tod = (local - (int64_t)day * INT64_C(86400000000)) / 60000000;
	int y, m, d;
	cal_civil_from_days(day, &y, &m, &d);
	snprintf(buf, n, "%04d-%02d-%02d %02d:%02d", y, m, d, (int)(tod / 60), (int)(tod % 60));
	return buf;
}

char *msg_var(const struct msg_vars *v, const char *name, const char *language, bool plain, char *buf, size_t n)
{
	buf[0] = 0;
	const char *cur = v->currency[0] ? v->currency : "CNY";
	if (!strcmp(name, "tenant_name"))
		snprintf(buf, n, "%s", v->tenant_name);
	else if (!strcmp(name, "shop"))
		snprintf(buf, n, "%s", v->shop);
	else if (!strcmp(name, "receipt_no"))
		snprintf(buf, n, "%s", v->receipt_no);
	else if (!strcmp(name, "period"))
		snprintf(buf, n, "%s", v->period);
	else if (!strcmp(name, "alarm_kind"))
		snprintf(buf, n, "%s", v->alarm_kind);
	else if (!strcmp(name, "meter"))
		snprintf(buf, n, "%s", v->meter);
	else if (!strcmp(name, "code"))
		snprintf(buf, n, "%s", v->code);
	else if (!strcmp(name, "balance")) {
		if (v->has_balance)
			msg_amount(v->balance, v->digits, cur, language, plain, buf, n);
	} else if (!strcmp(name, "threshold")) {
		if (v->has_threshold)
			msg_amount(v->threshold, v->digits, cur, language, plain, buf, n);
	} else if (!strcmp(name, "amount")) {
		if (v->has_amount)
			msg_amount(v->amount, v->digits, cur, language, plain, buf, n);
	} else if (!strcmp(name, "cut_at")) {
		if (v->cut_at_us)
			site_time(v->cut_at_us, v->zone[0] ? v->zone : "UTC", buf, n);
	} else
		return NULL;
	return buf;
}

/* Append s to buf[n] at *len, never cutting a UTF-8 character. */
static void append(char *buf, size_t n, size_t *len, const char *s, size_t slen)
{
	if (*len + slen >= n) {
		slen = n - 1 - *len;
		while (slen && ((unsigned char)s[slen] & 0xC0) == 0x80)
			slen--;
	}
	memcpy(buf + *len, s, slen);
	*len += slen;
	buf[*len] = 0;
}

char *msg_render(const char *text, const struct msg_vars *v, const char *language, bool plain, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = 0;
	const char *p = text;
	while (*p) {
		const char *open = strchr(p, '{'), *close = open ? strchr(open, '}') : NULL;
		if (!open || !close) {
			append(buf, n, &len, p, strlen(p));
			break;
		}
		append(buf, n, &len, p, (size_t)(open - p));
		char name[64], val[300];
		size_t nlen = (size_t)(close - open - 1);
		snprintf(name, sizeof name, "%.*s", (int)(nlen < sizeof name ? nlen : sizeof name - 1), open + 1);
		if (nlen < sizeof name && msg_var(v, name, language, plain, val, sizeof val))
			append(buf, n, &len, val, strlen(val));
		else
			append(buf, n, &len, open, (size_t)(close - open + 1));
		p = close + 1;
	}
	return buf;
}

char *msg_payload(const char *event, const char *audience, int64_t site_id, const struct msg_vars *v,
		  const char *extra_json)
{
	json_t *o = extra_json ? json_loads(extra_json, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	json_t *x = json_pack("{s:s, s:s, s:i, s:s}", "tenant_name", v->tenant_name, "currency", v->currency, "digits",
			      v->digits, "zone", v->zone);
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {{"shop", offsetof(struct msg_vars, shop)},
		    {"receipt_no", offsetof(struct msg_vars, receipt_no)},
		    {"period", offsetof(struct msg_vars, period)},
		    {"alarm_kind", offsetof(struct msg_vars, alarm_kind)},
		    {"meter", offsetof(struct msg_vars, meter)},
		    {"code", offsetof(struct msg_vars, code)}};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		const char *s = (const char *)v + strs[i].off;
		if (s[0])
			json_object_set_new(x, strs[i].key, json_string(s));
	}
	if (v->has_balance)
		json_object_set_new(x, "balance_minor", json_integer((json_int_t)v->balance));
	if (v->has_threshold)
		json_object_set_new(x, "threshold_minor", json_integer((json_int_t)v->threshold));
	if (v->has_amount)
		json_object_set_new(x, "amount_minor", json_integer((json_int_t)v->amount));
	if (v->cut_at_us)
		json_object_set_new(x, "cut_at_us", json_integer((json_int_t)v->cut_at_us));
	if (v->entry_id)
		json_object_set_new(x, "entry_id", json_integer((json_int_t)v->entry_id));
	json_object_set_new(o, "event", json_string(event));
	json_object_set_new(o, "audience", json_string(audience));
	json_object_set_new(o, "site_id", json_integer((json_int_t)site_id));
	json_object_set_new(o, "vars", x);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		abort();
	return text;
}

static void copy_str(json_t *o, const char *key, char *dst, size_t n)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(dst, n, "%s", s ? s : "");
}

static bool read_i64(json_t *o, const char *key, int64_t *dst)
{
	json_t *x = json_object_get(o, key);
	if (!json_is_integer(x))
		return false;
	*dst = (int64_t)json_integer_value(x);
	return true;
}

int msg_payload_read(const char *json, char *event, char *audience, int64_t *site_id, struct msg_vars *v)
{
	memset(v, 0, sizeof *v);
	json_t *o = json ? json_loads(json, 0, NULL) : NULL;
	json_t *x = json_object_get(o, "vars");
	if (!json_is_object(x) || !json_is_string(json_object_get(o, "event"))) {
		json_decref(o);
		return -1;
	}
	copy_str(o, "event", event, 32);
	copy_str(o, "audience", audience, 8);
	*site_id = 0;
	read_i64(o, "site_id", site_id);
	copy_str(x, "tenant_name", v->tenant_name, sizeof v->tenant_name);
	copy_str(x, "shop", v->shop, sizeof v->shop);
	copy_str(x, "receipt_no", v->receipt_no, sizeof v->receipt_no);
	copy_str(x, "period", v->period, sizeof v->period);
	copy_str(x, "alarm_kind", v->alarm_kind, sizeof v->alarm_kind);
	copy_str(x, "meter", v->meter, sizeof v->meter);
	copy_str(x, "code", v->code, sizeof v->code);
	copy_str(x, "currency", v->currency, sizeof v->currency);
	copy_str(x, "zone", v->zone, sizeof v->zone);
	int64_t d = 2;
	read_i64(x, "digits", &d);
	v->digits = (int)d;
	v->has_balance = read_i64(x, "balance_minor", &v->balance);
	v->has_threshold = read_i64(x, "threshold_minor", &v->threshold);
	v->has_amount = read_i64(x, "amount_minor", &v->amount);
	read_i64(x, "cut_at_us", &v->cut_at_us);
	read_i64(x, "entry_id", &v->entry_id);
	json_decref(o);
	return 0;
}
