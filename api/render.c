/* render.c: reports as CSV and as HTML with inline SVG; power quality and receipts as HTML. */
#include "api/render.h"
#include "core/alarm.h"
#include "core/money.h"
#include "core/buf.h"
#include "core/tz.h"
#include "core/valid.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t num(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Minor units as a signed decimal in major units: -12345, 2 -> "-123.45". */
static char *money(int64_t v, int digits, char *buf, size_t n) { return bill_format_decimal(v, digits, buf, n); }

/* Wh as kWh with three decimals. */
static char *kwh(int64_t wh, char *buf, size_t n) { return money(wh, 3, buf, n); }

/* The same for people (HTML): the integer part grouped by thousands ("12,345.67"). */
static char *hmoney(int64_t v, int digits, char *buf, size_t n)
{
	char d[48];
	return bill_group_decimal(money(v, digits, d, sizeof d), buf, n);
}
static char *hkwh(int64_t wh, char *buf, size_t n) { return hmoney(wh, 3, buf, n); }

/* A shared-cost line's basis with its unit: "250.80 m²", "7375.250 kWh" (a consumption
 * basis is Wh), "12 share" (grouped for people when human). */
static char *basis_text(const json_t *e, bool human, char *buf, size_t n)
{
	json_t *bv = json_object_get(e, "basis");
	const char *unit = str(e, "basis_unit");
	char v[64] = "";
	if (json_is_integer(bv) && !strcmp(unit, "wh")) {
		(human ? hkwh : kwh)(json_integer_value(bv), v, sizeof v);
		unit = "kWh";
	} else if (json_is_integer(bv)) {
		snprintf(v, sizeof v, "%lld", (long long)json_integer_value(bv));
	} else if (json_is_string(bv)) {
		if (human)
			bill_group_decimal(json_string_value(bv), v, sizeof v);
		else
			snprintf(v, sizeof v, "%s", json_string_value(bv));
	}
	if (!strcmp(unit, "m2"))
		unit = "m\u00b2";
	snprintf(buf, n, "%s%s%s", v, v[0] && unit[0] ? " " : "", unit);
	return buf;
}

/* ---- CSV ---- */

static void csv_field(struct srv_buf *b, const char *s, int text)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	bool formula = text && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t');
	if (!quote && !formula) {
		srv_buf_puts(b, s);
		return;
	}
	srv_buf_putc(b, '"');
	if (formula)
		srv_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '"')
			srv_buf_putc(b, '"');
		srv_buf_putc(b, *s);
	}
	srv_buf_putc(b, '"');
}

struct csv {
	struct srv_buf b;
	int digits;
};

/* One row; wh and amount may be absent (has_wh / has_amount false). */
static void row(struct csv *c, const char *section, const char *date, const char *item, const char *detail,
		bool has_wh, int64_t wh, bool has_amount, int64_t amount)
{
	char n[48];
	csv_field(&c->b, section, 1);
	srv_buf_putc(&c->b, ',');
	csv_field(&c->b, date, 1);
	srv_buf_putc(&c->b, ',');
	csv_field(&c->b, item, 1);
	srv_buf_putc(&c->b, ',');
	csv_field(&c->b, detail, 1);
	srv_buf_putc(&c->b, ',');
	if (has_wh)
		srv_buf_i64(&c->b, wh);
	srv_buf_putc(&c->b, ',');
	if (has_wh)
		srv_buf_puts(&c->b, kwh(wh, n, sizeof n));
	srv_buf_putc(&c->b, ',');
	if (has_amount) {
		srv_buf_i64(&c->b, amount);
		srv_buf_putc(&c->b, ',');
		srv_buf_puts(&c->b, money(amount, c->digits, n, sizeof n));
	} else {
		srv_buf_putc(&c->b, ',');
	}
	srv_buf_puts(&c->b, "\r\n");
}

static const char *const statement_totals[] = {"opening_balance_minor", "topups_minor", "energy_charges_minor",
					       "allocations_minor", "adjustments_minor", "refunds_minor",
					       "closing_balance_minor", NULL};
static const char *const finance_totals[] = {"prepaid_liability_start_minor", "topups_minor", "energy_charges_minor",
					     "allocations_minor", "adjustments_minor", "refunds_minor",
					     "prepaid_liability_end_minor", NULL};

static const char *date10(const char *at, char *buf)
{
	snprintf(buf, 11, "%s", at);
	return buf;
}

char *api_render_csv(const json_t *r, size_t *len)
{
	struct csv c = {{0}, (int)num(r, "minor_digits")};
	const char *kind = str(r, "kind");
	srv_buf_puts(&c.b, "\xEF\xBB\xBF" "section,date,item,detail,wh,kwh,amount_minor,amount\r\n");
	json_t *site = json_object_get(r, "site");
	row(&c, "report", str(r, "period"), kind, str(site, "name"), false, 0, false, 0);
	size_t i;
	json_t *e;
	char d[16];
	if (!strcmp(kind, "tenant_statement")) {
		json_t *t = json_object_get(r, "tenant");
		row(&c, "tenant", "", str(t, "id"), str(t, "name"), false, 0, false, 0);
		for (int k = 0; statement_totals[k]; k++)
			row(&c, "total", "", statement_totals[k], "", false, 0, true, num(r, statement_totals[k]));
		json_array_foreach(json_object_get(r, "energy_by_band"), i, e)
			row(&c, "energy", "", str(e, "band"), "", true, num(e, "wh"), true, num(e, "amount_minor"));
		json_array_foreach(json_object_get(r, "topups"), i, e)
			row(&c, "topup", date10(str(e, "local_time"), d), str(e, "channel"), "", false, 0, true, num(e, "amount_minor"));
		json_array_foreach(json_object_get(r, "allocations"), i, e) {
			char basis[96];
			basis_text(e, false, basis, sizeof basis);
			row(&c, "allocation", date10(str(e, "local_time"), d), str(e, "pool"), basis, false, 0, true,
			    num(e, "amount_minor"));
		}
		json_array_foreach(json_object_get(r, "adjustments"), i, e)
			row(&c, "adjustment", date10(str(e, "local_time"), d), "adjustment", str(e, "reason"), false, 0, true,
			    num(e, "amount_minor"));
		json_array_foreach(json_object_get(r, "refunds"), i, e)
			row(&c, "refund", date10(str(e, "local_time"), d), str(e, "channel"), "", false, 0, true, num(e, "amount_minor"));
		json_array_foreach(json_object_get(r, "daily"), i, e)
			row(&c, "daily", str(e, "date"), "consumption", "", true, num(e, "wh"), false, 0);
	} else if (!strcmp(kind, "finance_summary")) {
		for (int k = 0; finance_totals[k]; k++)
			row(&c, "total", "", finance_totals[k], "", false, 0, true, num(r, finance_totals[k]));
		static const char *const counts[] = {"tenants", "tenants_in_arrears", "cut_offs", "restores",
						     "payment_conflicts_open", NULL};
		for (int k = 0; counts[k]; k++) {
			char v[24];
			snprintf(v, sizeof v, "%lld", (long long)num(r, counts[k]));
			row(&c, "count", "", counts[k], v, false, 0, false, 0);
		}
		json_array_foreach(json_object_get(r, "topups_by_channel"), i, e)
			row(&c, "topup", "", str(e, "channel"), "", false, 0, true, num(e, "amount_minor"));
		json_array_foreach(json_object_get(r, "energy_by_band"), i, e)
			row(&c, "energy", "", str(e, "band"), "", true, num(e, "wh"), true, num(e, "amount_minor"));
		json_array_foreach(json_object_get(r, "allocations_by_pool"), i, e)
			row(&c, "allocation", "", str(e, "pool"), "", false, 0, true, num(e, "amount_minor"));
		json_array_foreach(json_object_get(r, "payments_reconciliation"), i, e) {
			static const char *const cols[] = {"received_minor", "credited_minor", "not_credited_minor",
							   "refunded_minor", "difference_minor", NULL};
			for (int k = 0; cols[k]; k++)
				row(&c, "payments", "", str(e, "provider"), cols[k], false, 0, true, num(e, cols[k]));
		}
	} else {
		row(&c, "total", "", "total_wh", "", true, num(r, "total_wh"), false, 0);
		row(&c, "total", "", "previous_month_wh", "", true, num(r, "previous_month_wh"), false, 0);
		row(&c, "total", "", "public_wh", "", true, num(r, "public_wh"), false, 0);
		json_array_foreach(json_object_get(r, "by_category"), i, e)
			row(&c, "category", "", str(e, "category"), "", true, num(e, "wh"), false, 0);
		json_array_foreach(json_object_get(r, "by_pool"), i, e)
			row(&c, "pool", "", str(e, "pool"), "", true, num(e, "wh"), false, 0);
		json_array_foreach(json_object_get(r, "top_consumers"), i, e)
			row(&c, "top", "", str(e, "tenant_id"), str(e, "name"), true, num(e, "wh"), false, 0);
		json_t *day;
		json_array_foreach(json_object_get(r, "public_load_wh_by_day_hour"), i, day) {
			size_t h;
			json_t *cell;
			char dd[24];
			snprintf(dd, sizeof dd, "%zu", i + 1);
			json_array_foreach(day, h, cell) {
				char hh[24];
				snprintf(hh, sizeof hh, "%02zu:00", h);
				row(&c, "public_load", dd, hh, "", true, json_integer_value(cell), false, 0);
			}
		}
	}
	*len = c.b.len;
	return c.b.p;
}

/* ---- HTML ---- */

static void esc(struct srv_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': srv_buf_puts(b, "&lt;"); break;
		case '>': srv_buf_puts(b, "&gt;"); break;
		case '&': srv_buf_puts(b, "&amp;"); break;
		case '"': srv_buf_puts(b, "&quot;"); break;
		case '\'': srv_buf_puts(b, "&#39;"); break;
		default: srv_buf_putc(b, *s);
		}
	}
}

static const char style[] =
	"<style>body{font:14px/1.45 system-ui,-apple-system,'Segoe UI','Noto Sans',sans-serif;color:#1d2630;"
	"margin:32px auto;max-width:960px;padding:0 24px}h1{font-size:22px;margin:0 0 4px}"
	"h2{font-size:16px;margin:28px 0 8px;border-bottom:2px solid #1f6f8b;padding-bottom:4px}"
	".sub{color:#5b6b78}table{border-collapse:collapse;width:100%}th,td{padding:5px 8px;text-align:left;"
	"border-bottom:1px solid #e3e8ec}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
	"tr.total td{font-weight:600;border-top:2px solid #1d2630}.cards{display:flex;gap:12px;flex-wrap:wrap}"
	".card{flex:1;min-width:150px;background:#f3f7f9;border-radius:8px;padding:10px 14px}"
	".card b{display:block;font-size:20px}svg{max-width:100%;height:auto}"
	"@media print{body{margin:0}h2{break-after:avoid}table,svg{break-inside:avoid}}</style>";

/* A grey line of facts separated by middle dots, each escaped. */
static void dotted(struct srv_buf *b, const char *const *parts, int n)
{
	srv_buf_puts(b, "<div class=\"sub\">");
	for (int i = 0; i < n; i++) {
		if (i)
			srv_buf_puts(b, " &middot; ");
		esc(b, parts[i]);
	}
	srv_buf_puts(b, "</div>");
}

static void page_head(struct srv_buf *b, const json_t *r, const char *title)
{
	json_t *site = json_object_get(r, "site");
	srv_buf_puts(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
	esc(b, title);
	srv_buf_puts(b, "</title>");
	srv_buf_puts(b, style);
	srv_buf_puts(b, "</head><body><main><h1>");
	esc(b, title);
	srv_buf_puts(b, "</h1>");
	char generated[80] = "", at[40];
	int64_t us;
	if (!api_parse_time(str(r, "generated_at"), &us))
		snprintf(generated, sizeof generated, "generated %s", bill_tz_minute(str(site, "timezone"), us, at, sizeof at));
	const char *parts[] = {str(site, "name"), str(r, "period"), str(site, "timezone"), generated};
	dotted(b, parts, generated[0] ? 4 : 3);
}

static void money_cell(struct srv_buf *b, int64_t v, int digits)
{
	char n[48];
	srv_buf_puts(b, "<td class=\"n\">");
	srv_buf_puts(b, hmoney(v, digits, n, sizeof n));
	srv_buf_puts(b, "</td>");
}

/* start + topups - energy - allocations + adjustments - refunds = end, as a table: each
 * line's amount as the positive number it is elsewhere on the page (a charge is a charge),
 * with + or \u2212 before it saying how it moves the balance; the balances themselves signed. */
static void balance_table(struct srv_buf *b, const json_t *r, int digits, const char *start, const char *start_label,
			  const char *energy_label, const char *end, const char *end_label)
{
	const struct {
		const char *key, *label;
		int sign;
	} lines[] = {{"topups_minor", "Top-ups", 1},
		     {"energy_charges_minor", energy_label, -1},
		     {"allocations_minor", "Shared-area costs", -1},
		     {"adjustments_minor", "Adjustments", 1},
		     {"refunds_minor", "Refunds", -1}};
	srv_buf_printf(b, "<table><tr><td>%s</td><td></td>", start_label);
	money_cell(b, num(r, start), digits);
	srv_buf_puts(b, "</tr>");
	for (size_t k = 0; k < sizeof lines / sizeof *lines; k++) {
		int64_t v = num(r, lines[k].key), effect = v * lines[k].sign;
		srv_buf_printf(b, "<tr><td>%s</td><td class=\"n\">%s</td>", lines[k].label,
			       effect < 0 || (effect == 0 && lines[k].sign < 0) ? "\u2212" : "+");
		money_cell(b, v < 0 ? -v : v, digits);
		srv_buf_puts(b, "</tr>");
	}
	srv_buf_printf(b, "<tr class=\"total\"><td>%s</td><td class=\"n\">=</td>", end_label);
	money_cell(b, num(r, end), digits);
	srv_buf_puts(b, "</tr></table>");
}

/* Bands with kWh and amount, and the total line. */
static void band_table(struct srv_buf *b, const json_t *bands, int digits, const char *total_label, int64_t total)
{
	char n[48];
	size_t i;
	json_t *e;
	srv_buf_puts(b, "<table><tr><th>Band</th><th class=\"n\">kWh</th><th class=\"n\">Amount</th></tr>");
	json_array_foreach(bands, i, e) {
		srv_buf_puts(b, "<tr><td>");
		esc(b, str(e, "band"));
		srv_buf_printf(b, "</td><td class=\"n\">%s</td>", hkwh(num(e, "wh"), n, sizeof n));
		money_cell(b, num(e, "amount_minor"), digits);
		srv_buf_puts(b, "</tr>");
	}
	srv_buf_printf(b, "<tr class=\"total\"><td>%s</td><td></td>", total_label);
	money_cell(b, total, digits);
	srv_buf_puts(b, "</tr></table>");
}

/* A bar chart of values with labels; every label_every-th label is written. */
static void bars(struct srv_buf *b, const char *what, const char *const *labels, const int64_t *v, int n,
		 const char *unit, int label_every, const char *color)
{
	const int W = 900, H = 230, left = 72, bottom = 28, top = 24;
	int64_t max = 1, total = 0;
	int hi = 0;
	for (int i = 0; i < n; i++) {
		total += v[i];
		if (v[i] > v[hi])
			hi = i;
		if (v[i] > max)
			max = v[i];
	}
	/* the chart in words, for a screen reader: what, the total, the highest bar */
	char t[48], top_v[48];
	srv_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", W, H);
	esc(b, what);
	srv_buf_printf(b, ": %d bars, %s kWh in all; the highest ", n, hkwh(total, t, sizeof t));
	esc(b, n ? labels[hi] : "");
	srv_buf_printf(b, " with %s kWh\">", hkwh(n ? v[hi] : 0, top_v, sizeof top_v));
	int plot_w = W - left - 8, plot_h = H - bottom - top;
	for (int g = 0; g <= 4; g++) { /* gridlines with values */
		int y = top + plot_h - plot_h * g / 4;
		char lab[48];
		if (max >= 10000) /* whole kWh on the axis once the values are large */
			snprintf(lab, sizeof lab, "%lld", (long long)(max * g / 4 / 1000));
		else
			kwh(max * g / 4, lab, sizeof lab);
		srv_buf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#e3e8ec\"/>"
				  "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" fill=\"#5b6b78\">%s</text>",
			       left, W - 8, y, y, left - 4, y + 3, lab);
	}
	srv_buf_printf(b, "<text x=\"4\" y=\"10\" font-size=\"10\" fill=\"#5b6b78\">%s</text>", unit);
	for (int i = 0; i < n; i++) {
		double slot = (double)plot_w / n;
		int h = (int)(v[i] * plot_h / max);
		srv_buf_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>",
			       left + slot * i + slot * 0.12, top + plot_h - h, slot * 0.76, h, color);
		esc(b, labels[i]);
		char val[48];
		srv_buf_printf(b, ": %s</title></rect>", hkwh(v[i], val, sizeof val));
		if (i % label_every == 0) {
			srv_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6b78\">",
				       left + slot * i + slot / 2, H - 10);
			esc(b, labels[i]);
			srv_buf_puts(b, "</text>");
		}
	}
	srv_buf_puts(b, "</svg>");
}

static void statement_html(struct srv_buf *b, const json_t *r, int digits)
{
	json_t *t = json_object_get(r, "tenant");
	char title[300], n[48];
	snprintf(title, sizeof title, "Statement: %s", str(t, "name"));
	page_head(b, r, title);
	char area[64], cur[32];
	snprintf(area, sizeof area, "%s m\u00b2", str(t, "area_m2"));
	snprintf(cur, sizeof cur, "amounts in %s", str(r, "currency"));
	const char *facts[] = {str(t, "category"), area, cur};
	dotted(b, facts, 3);
	srv_buf_puts(b, "<div class=\"cards\" style=\"margin-top:16px\">");
	static const char *const cards[][2] = {{"opening_balance_minor", "Opening balance"},
					       {"closing_balance_minor", "Closing balance"}};
	for (int k = 0; k < 2; k++)
		srv_buf_printf(b, "<div class=\"card\">%s<b>%s</b></div>", cards[k][1],
			       hmoney(num(r, cards[k][0]), digits, n, sizeof n));
	srv_buf_printf(b, "<div class=\"card\">Energy<b>%s kWh</b></div></div>", hkwh(num(r, "energy_wh"), n, sizeof n));

	srv_buf_puts(b, "<h2>Summary</h2>");
	balance_table(b, r, digits, "opening_balance_minor", "Opening balance", "Energy charges",
		      "closing_balance_minor", "Closing balance");

	size_t i;
	json_t *e;
	json_t *daily = json_object_get(r, "daily");
	size_t nd = json_array_size(daily);
	if (nd) {
		srv_buf_puts(b, "<h2>Daily consumption</h2>");
		const char **labels = calloc(nd, sizeof *labels);
		int64_t *v = calloc(nd, sizeof *v);
		char (*lab)[8] = calloc(nd, sizeof *lab);
		json_array_foreach(daily, i, e) {
			snprintf(lab[i], sizeof lab[i], "%s", str(e, "date") + (strlen(str(e, "date")) >= 10 ? 8 : 0));
			labels[i] = lab[i];
			v[i] = num(e, "wh");
		}
		bars(b, "Daily consumption", labels, v, (int)nd, "kWh", nd > 16 ? 2 : 1, "#1f6f8b");
		free(labels);
		free(v);
		free(lab);
	}
	srv_buf_puts(b, "<h2>Energy by band</h2>");
	band_table(b, json_object_get(r, "energy_by_band"), digits, "Energy charges", num(r, "energy_charges_minor"));

	if (json_array_size(json_object_get(r, "allocations"))) {
		srv_buf_puts(b, "<h2>Shared-area costs</h2><table><tr><th>Pool</th><th>Your basis</th><th>Posted</th>"
				"<th class=\"n\">Amount</th></tr>");
		json_array_foreach(json_object_get(r, "allocations"), i, e) {
			srv_buf_puts(b, "<tr><td>");
			esc(b, str(e, "pool"));
			if (json_is_true(json_object_get(e, "reversal")))
				srv_buf_puts(b, " (reversed)");
			srv_buf_puts(b, "</td><td>");
			char basis[96];
			esc(b, basis_text(e, true, basis, sizeof basis));
			srv_buf_puts(b, "</td><td>");
			esc(b, str(e, "local_time"));
			srv_buf_puts(b, "</td>");
			money_cell(b, num(e, "amount_minor"), digits);
			srv_buf_puts(b, "</tr>");
		}
		srv_buf_puts(b, "</table>");
	}
	srv_buf_puts(b, "<h2>Top-ups</h2><table><tr><th>Date</th><th>Channel</th><th class=\"n\">Amount</th></tr>");
	json_array_foreach(json_object_get(r, "topups"), i, e) {
		srv_buf_puts(b, "<tr><td>");
		esc(b, str(e, "local_time"));
		srv_buf_puts(b, "</td><td>");
		esc(b, str(e, "channel"));
		srv_buf_puts(b, "</td>");
		money_cell(b, num(e, "amount_minor"), digits);
		srv_buf_puts(b, "</tr>");
	}
	if (!json_array_size(json_object_get(r, "topups")))
		srv_buf_puts(b, "<tr><td colspan=\"3\" class=\"sub\">No top-ups this month.</td></tr>");
	srv_buf_puts(b, "</table>");
	static const char *const lists[][2] = {{"adjustments", "Adjustments"}, {"refunds", "Refunds"}};
	for (int k = 0; k < 2; k++) {
		json_t *l = json_object_get(r, lists[k][0]);
		if (!json_array_size(l))
			continue;
		srv_buf_printf(b, "<h2>%s</h2><table>", lists[k][1]);
		json_array_foreach(l, i, e) {
			srv_buf_puts(b, "<tr><td>");
			esc(b, str(e, "local_time"));
			srv_buf_puts(b, "</td><td>");
			esc(b, k ? str(e, "channel") : str(e, "reason"));
			srv_buf_puts(b, "</td>");
			money_cell(b, num(e, "amount_minor"), digits);
			srv_buf_puts(b, "</tr>");
		}
		srv_buf_puts(b, "</table>");
	}
}

static void finance_html(struct srv_buf *b, const json_t *r, int digits)
{
	page_head(b, r, "Finance summary");
	srv_buf_puts(b, "<div class=\"cards\" style=\"margin-top:16px\">");
	static const char *const counts[][2] = {{"tenants", "Tenants"}, {"tenants_in_arrears", "In arrears"},
						{"cut_offs", "Cut-offs"}, {"restores", "Restores"},
						{"payment_conflicts_open", "Open payment conflicts"}};
	for (int k = 0; k < 5; k++)
		srv_buf_printf(b, "<div class=\"card\">%s<b>%lld</b></div>", counts[k][1], (long long)num(r, counts[k][0]));
	srv_buf_puts(b, "</div><h2>Prepaid liability</h2>");
	balance_table(b, r, digits, "prepaid_liability_start_minor", "Liability at the start", "Energy revenue",
		      "prepaid_liability_end_minor", "Liability at the end");
	size_t i;
	json_t *e;
	srv_buf_puts(b, "<h2>Top-ups by channel</h2><table><tr><th>Channel</th><th class=\"n\">Count</th><th class=\"n\">Amount</th></tr>");
	json_array_foreach(json_object_get(r, "topups_by_channel"), i, e) {
		srv_buf_puts(b, "<tr><td>");
		esc(b, str(e, "channel"));
		srv_buf_printf(b, "</td><td class=\"n\">%lld</td>", (long long)num(e, "count"));
		money_cell(b, num(e, "amount_minor"), digits);
		srv_buf_puts(b, "</tr>");
	}
	srv_buf_puts(b, "</table><h2>Energy revenue by band</h2>");
	band_table(b, json_object_get(r, "energy_by_band"), digits, "Energy revenue", num(r, "energy_charges_minor"));
	srv_buf_puts(b, "<h2>Shared-area costs by pool</h2><table>");
	json_array_foreach(json_object_get(r, "allocations_by_pool"), i, e) {
		srv_buf_puts(b, "<tr><td>");
		esc(b, str(e, "pool"));
		srv_buf_puts(b, "</td>");
		money_cell(b, num(e, "amount_minor"), digits);
		srv_buf_puts(b, "</tr>");
	}
	srv_buf_puts(b, "</table><h2>Payments received and credited</h2><table><tr><th>Provider</th>"
			"<th class=\"n\">Payments</th><th class=\"n\">Received</th><th class=\"n\">Credited</th>"
			"<th class=\"n\">Not credited</th><th class=\"n\">Refunded</th><th class=\"n\">Difference</th></tr>");
	json_array_foreach(json_object_get(r, "payments_reconciliation"), i, e) {
		srv_buf_puts(b, "<tr><td>");
		esc(b, str(e, "provider"));
		srv_buf_printf(b, "</td><td class=\"n\">%lld</td>", (long long)num(e, "payments"));
		static const char *const cols[] = {"received_minor", "credited_minor", "not_credited_minor",
						   "refunded_minor", "difference_minor"};
		for (int k = 0; k < 5; k++)
			money_cell(b, num(e, cols[k]), digits);
		srv_buf_puts(b, "</tr>");
	}
	srv_buf_puts(b, "</table>");
}

static void energy_html(struct srv_buf *b, const json_t *r)
{
	char n[48];
	page_head(b, r, "Energy report");
	srv_buf_printf(b, "<div class=\"cards\" style=\"margin-top:16px\"><div class=\"card\">This month<b>%s kWh</b></div>",
		       hkwh(num(r, "total_wh"), n, sizeof n));
	srv_buf_printf(b, "<div class=\"card\">Month before<b>%s kWh</b></div>", hkwh(num(r, "previous_month_wh"), n, sizeof n));
	const char *pct = json_string_value(json_object_get(r, "change_pct"));
	srv_buf_printf(b, "<div class=\"card\">Change<b>%s%s</b></div>", pct ? pct : "&ndash;", pct ? " %" : "");
	srv_buf_printf(b, "<div class=\"card\">Public areas<b>%s kWh</b></div></div>", hkwh(num(r, "public_wh"), n, sizeof n));
	size_t i;
	json_t *e;
	json_t *cats = json_object_get(r, "by_category");
	size_t nc = json_array_size(cats);
	if (nc) {
		srv_buf_puts(b, "<h2>Consumption by tenant category</h2>");
		const char **labels = calloc(nc, sizeof *labels);
		int64_t *v = calloc(nc, sizeof *v);
		json_array_foreach(cats, i, e) {
			labels[i] = str(e, "category");
			v[i] = num(e, "wh");
		}
		bars(b, "Consumption by tenant category", labels, v, (int)nc, "kWh", 1, "#2e8b57");
		free(labels);
		free(v);
	}
	srv_buf_puts(b, "<h2>Public pools</h2><table><tr><th>Pool</th><th class=\"n\">kWh</th></tr>");
	json_array_foreach(json_object_get(r, "by_pool"), i, e) {
		srv_buf_puts(b, "<tr><td>");
		esc(b, str(e, "pool"));
		srv_buf_printf(b, "</td><td class=\"n\">%s</td></tr>", hkwh(num(e, "wh"), n, sizeof n));
	}
	srv_buf_puts(b, "</table><h2>Public-area load by day and hour</h2>");
	json_t *grid = json_object_get(r, "public_load_wh_by_day_hour");
	size_t days = json_array_size(grid);
	int64_t max = 1;
	json_t *day;
	json_array_foreach(grid, i, day) {
		size_t h;
		json_t *cell;
		json_array_foreach(day, h, cell) if (json_integer_value(cell) > max) max = json_integer_value(cell);
	}
	const int cw = 26, ch = 14, left = 40, top = 18;
	srv_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\""
			  "Public-area load by day and hour: %zu days of 24 hours, darker is more; the busiest hour %s kWh\">",
		       left + 24 * cw + 8, top + (int)days * ch + 8, days, hkwh(max, n, sizeof n));
	for (int h = 0; h < 24; h += 3)
		srv_buf_printf(b, "<text x=\"%d\" y=\"12\" font-size=\"10\" fill=\"#5b6b78\">%02d:00</text>", left + h * cw, h);
	json_array_foreach(grid, i, day) {
		srv_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" fill=\"#5b6b78\">%zu</text>",
			       left - 6, top + (int)i * ch + 11, i + 1);
		size_t h;
		json_t *cell;
		json_array_foreach(day, h, cell) {
			int64_t v = json_integer_value(cell);
			int shade = (int)(v * 200 / max); /* 0..200: light to dark */
			srv_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\"><title>day %zu %02zu:00 %s kWh</title></rect>",
				       left + (int)h * cw, top + (int)i * ch, cw - 1, ch - 1, 235 - shade, 243 - shade / 2,
				       247 - shade / 4, i + 1, h, hkwh(v, n, sizeof n));
		}
	}
	srv_buf_puts(b, "</svg><h2>Largest consumers</h2><table><tr><th>Tenant</th><th>Category</th><th class=\"n\">kWh</th></tr>");
	json_array_foreach(json_object_get(r, "top_consumers"), i, e) {
		srv_buf_puts(b, "<tr><td>");
		esc(b, str(e, "name"));
		srv_buf_puts(b, "</td><td>");
		esc(b, str(e, "category"));
		srv_buf_printf(b, "</td><td class=\"n\">%s</td></tr>", hkwh(num(e, "wh"), n, sizeof n));
	}
	srv_buf_puts(b, "</table>");
}

/* ---- power quality ---- */

/* A JSON percentage as hundredths, within 0..10000 (anything else as 0). */
static int hundredths(const json_t *v)
{
	double x = json_number_value(v);
	return x >= 0 && x <= 100 ? (int)(x * 100 + 0.5) : 0;
}

/* The smallest of 1, 2, 5, 10, 20, 50, 100 percent (in hundredths) at or above v. */
static int nice_top(int v)
{
	static const int steps[] = {100, 200, 500, 1000, 2000, 5000, 10000};
	for (size_t k = 0; k < sizeof steps / sizeof *steps; k++)
		if (v <= steps[k])
			return steps[k];
	return 10000;
}

/* One spectrum (30 percentages, orders 2..31) as a bar chart: exactly one <rect> per order;
 * each order's limit (limits: {"3": 5}) a red tick across its bar, the bar red when over. */
static void spectrum_svg(struct srv_buf *b, const json_t *values, const json_t *limits, const char *what)
{
	const int W = 900, H = 250, left = 48, bottom = 30, top = 16, n = 30;
	int v[30], lim[30], max = 0;
	for (int k = 0; k < n; k++) {
		char key[8];
		snprintf(key, sizeof key, "%d", k + 2);
		json_t *l = json_object_get(limits, key);
		v[k] = hundredths(json_array_get(values, (size_t)k));
		lim[k] = json_is_number(l) ? hundredths(l) : -1;
		max = v[k] > max ? v[k] : max;
		max = lim[k] > max ? lim[k] : max;
	}
	int ymax = nice_top(max);
	int plot_w = W - left - 8, plot_h = H - bottom - top;
	char t[16];
	srv_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", W, H);
	esc(b, what);
	srv_buf_puts(b, "\">");
	for (int g = 0; g <= 4; g++) {
		int y = top + plot_h - plot_h * g / 4;
		srv_buf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#e3e8ec\"/>"
				  "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" fill=\"#5b6b78\">%s</text>",
			       left, W - 8, y, y, left - 4, y + 3, alarm_pct_text((unsigned)(ymax * g / 4), t, sizeof t));
	}
	srv_buf_puts(b, "<text x=\"4\" y=\"10\" font-size=\"10\" fill=\"#5b6b78\">%</text>");
	double slot = (double)plot_w / n;
	for (int k = 0; k < n; k++) {
		int h = v[k] * plot_h / ymax;
		bool over = lim[k] >= 0 && v[k] > lim[k];
		double x = left + slot * k;
		srv_buf_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>order %d: %s%%",
			       x + slot * 0.15, top + plot_h - h, slot * 0.7, h, over ? "#c0392b" : "#1f6f8b", k + 2,
			       alarm_pct_text((unsigned)v[k], t, sizeof t));
		if (lim[k] >= 0)
			srv_buf_printf(b, " (limit %s%%)", alarm_pct_text((unsigned)lim[k], t, sizeof t));
		srv_buf_puts(b, "</title></rect>");
		if (lim[k] >= 0) {
			int y = top + plot_h - lim[k] * plot_h / ymax;
			srv_buf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#c0392b\" stroke-width=\"2\"/>",
				       x + slot * 0.05, x + slot * 0.95, y, y);
		}
		srv_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6b78\">%d</text>",
			       x + slot / 2, H - 14, k + 2);
	}
	srv_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6b78\">harmonic order</text></svg>",
		       left + plot_w / 2, H - 1);
}

/* A THD or other measurement cell: the number, or a dash. */
static void measure_cell(struct srv_buf *b, const json_t *v)
{
	if (json_is_number(v))
		srv_buf_printf(b, "<td class=\"n\">%.2f</td>", json_number_value(v));
	else
		srv_buf_puts(b, "<td class=\"n\">&ndash;</td>");
}

char *api_render_power_quality_html(const json_t *d, size_t *len)
{
	struct srv_buf b = {0};
	char title[120];
	snprintf(title, sizeof title, "Power quality: %.80s", str(d, "serial"));
	srv_buf_puts(&b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
	esc(&b, title);
	srv_buf_puts(&b, "</title>");
	srv_buf_puts(&b, style);
	srv_buf_puts(&b, "</head><body><h1>");
	esc(&b, title);
	srv_buf_puts(&b, "</h1>");
	char range[120], generated[80];
	snprintf(range, sizeof range, "%.40s to %.40s", str(d, "from"), str(d, "to"));
	snprintf(generated, sizeof generated, "generated %.40s", str(d, "generated_at"));
	const char *parts[] = {str(d, "meter_id"), range, generated};
	dotted(&b, parts, 3);
	static const char *const halves[][3] = {{"harmonics_v_pct", "harmonic_limits_pct", "Voltage harmonics"},
						{"harmonics_i_pct", "harmonic_limits_i_pct", "Current harmonics"}};
	bool any = false;
	for (int h = 0; h < 2; h++) {
		json_t *v = json_object_get(d, halves[h][0]);
		if (!json_is_array(v))
			continue;
		any = true;
		srv_buf_printf(&b, "<h2>%s, orders 2 to 31</h2>", halves[h][2]);
		char at[160];
		snprintf(at, sizeof at, "latest spectrum in range, at %.40s; percent of the fundamental",
			 str(d, "harmonics_ts"));
		dotted(&b, (const char *[]){at}, 1);
		spectrum_svg(&b, v, json_object_get(d, halves[h][1]), halves[h][2]);
	}
	if (!any)
		srv_buf_puts(&b, "<h2>Harmonics</h2><p class=\"sub\">No spectrum was kept in this range.</p>");
	srv_buf_puts(&b, "<h2>Total harmonic distortion</h2><table><tr><th>Time</th><th class=\"n\">THD voltage %</th>"
			 "<th class=\"n\">THD current %</th></tr>");
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(d, "thd"), i, e) {
		srv_buf_puts(&b, "<tr><td>");
		esc(&b, str(e, "ts"));
		srv_buf_puts(&b, "</td>");
		measure_cell(&b, json_object_get(e, "thd_v_pct"));
		measure_cell(&b, json_object_get(e, "thd_i_pct"));
		srv_buf_puts(&b, "</tr>");
	}
	if (!json_array_size(json_object_get(d, "thd")))
		srv_buf_puts(&b, "<tr><td colspan=\"3\" class=\"sub\">No readings with THD in this range.</td></tr>");
	srv_buf_puts(&b, "</table>");
	if (json_is_string(json_object_get(d, "next_after"))) {
		srv_buf_puts(&b, "<p class=\"sub\">More readings follow; ask again with after=");
		esc(&b, str(d, "next_after"));
		srv_buf_puts(&b, ".</p>");
	}
	srv_buf_puts(&b, "<p class=\"sub\" style=\"margin-top:32px\">wattle &middot; measured by the meter; spectra kept "
			 "one per 15 minutes.</p></body></html>\n");
	*len = b.len;
	return b.p;
}

char *api_render_html(const json_t *r, size_t *len)
{
	struct srv_buf b = {0};
	const char *kind = str(r, "kind");
	int digits = (int)num(r, "minor_digits");
	if (!strcmp(kind, "tenant_statement"))
		statement_html(&b, r, digits);
	else if (!strcmp(kind, "finance_summary"))
		finance_html(&b, r, digits);
	else
		energy_html(&b, r);
	srv_buf_puts(&b, "<p class=\"sub\" style=\"margin-top:32px\">wattle &middot; figures from the ledger and the "
			 "metered rollups; in the summaries \u2212 marks what was taken from the balance.</p></main></body>"
			 "</html>\n");
	*len = b.len;
	return b.p;
}

/* ---- receipts ---- */

const char api_receipt_notice[] =
	"This receipt is not a tax invoice (fapiao). \xe6\x9c\xac\xe6\x94\xb6\xe6\x8d\xae\xe4\xb8\x8d\xe6\x98\xaf"
	"\xe5\x8f\x91\xe7\xa5\xa8\xe3\x80\x82"; /* 本收据不是发票。 */

static void line(struct api_receipt_print *p, const char *label, const char *value)
{
	if (p->n >= API_RECEIPT_LINES)
		return;
	struct api_receipt_line *l = &p->lines[p->n++];
	snprintf(l->label, sizeof l->label, "%s", label);
	snprintf(l->value, sizeof l->value, "%s", value && *value ? value : "not set");
}

void api_receipt_print(const json_t *r, struct api_receipt_print *p)
{
	memset(p, 0, sizeof *p);
	const char *series = str(r, "series");
	snprintf(p->title, sizeof p->title, "%s",
		 !strcmp(series, "TOPUP")    ? "Top-up receipt \xe5\x85\x85\xe5\x80\xbc\xe6\x94\xb6\xe6\x8d\xae"
		 : !strcmp(series, "REFUND") ? "Refund receipt \xe9\x80\x80\xe6\xac\xbe\xe6\x94\xb6\xe6\x8d\xae"
					     : "Cash payout receipt \xe7\x8e\xb0\xe9\x87\x91\xe9\x80\x80\xe6\xac\xbe"
					       "\xe6\x94\xb6\xe6\x8d\xae");
	const json_t *site = json_object_get(r, "site");
	int digits = 2;
	api_valid_currency(str(r, "currency"), &digits);
	char v[512], a[32], b[32];
	line(p, "Receipt number", str(r, "number"));
	line(p, "Issued (site time)", str(r, "issued_local"));
	line(p, "Issuer (legal name)", str(site, "legal_name"));
	line(p, "Tax id", str(site, "tax_id"));
	line(p, "Site", str(site, "name"));
	snprintf(v, sizeof v, "%s (%s)", str(r, "tenant_name"), str(r, "tenant_id"));
	line(p, "Tenant", v);
	line(p, "Shop", str(r, "shop"));
	snprintf(v, sizeof v, "%s %s", str(r, "currency"), money(num(r, "amount_minor"), digits, a, sizeof a));
	line(p, !strcmp(series, "TOPUP") ? "Amount received" : "Amount paid back", v);
	line(p, "Channel", str(r, "channel"));
	line(p, "Provider transaction id", str(r, "provider_txn_id"));
	if (*str(r, "reference"))
		line(p, !strcmp(series, "REFUND") ? "Refund reference" : "Reference", str(r, "reference"));
	const json_t *cites = json_object_get(r, "cites");
	if (json_is_object(cites))
		line(p, "Refund of receipt", str(cites, "number"));
	snprintf(v, sizeof v, "%s %s -> %s %s", str(r, "currency"),
		 money(num(r, "balance_before_minor"), digits, a, sizeof a), str(r, "currency"),
		 money(num(r, "balance_after_minor"), digits, b, sizeof b));
	line(p, "Balance before -> after", v);
	line(p, "Verification hash (SHA-256)", str(r, "hash"));
	line(p, "Previous receipt's hash", *str(r, "prev_hash") ? str(r, "prev_hash") : "none (first of the series)");
}

char *api_render_receipt_html(const json_t *r, size_t *len)
{
	struct api_receipt_print p;
	api_receipt_print(r, &p);
	struct srv_buf b = {0};
	srv_buf_puts(&b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
	esc(&b, p.title);
	srv_buf_puts(&b, " ");
	esc(&b, str(r, "number"));
	srv_buf_puts(&b, "</title>");
	srv_buf_puts(&b, style);
	srv_buf_puts(&b, "</head><body><h1>");
	esc(&b, p.title);
	srv_buf_puts(&b, "</h1><table>");
	for (int i = 0; i < p.n; i++) {
		srv_buf_puts(&b, "<tr><th>");
		esc(&b, p.lines[i].label);
		srv_buf_puts(&b, strstr(p.lines[i].label, "hash") ? "</th><td><code>" : "</th><td>");
		esc(&b, p.lines[i].value);
		srv_buf_puts(&b, strstr(p.lines[i].label, "hash") ? "</code></td></tr>" : "</td></tr>");
	}
	srv_buf_puts(&b, "</table><p><strong>");
	esc(&b, api_receipt_notice);
	srv_buf_puts(&b, "</strong></p></body></html>\n");
	*len = b.len;
	return b.p;
}
