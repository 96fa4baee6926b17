/* render.h: a report's data (billing/report.h) as CSV or as one self-contained HTML page
 * with inline SVG charts, and a meter's power quality as such a page. Pure: JSON in, bytes
 * out. */
#ifndef WATTLE_RENDER_H
#define WATTLE_RENDER_H

#include <jansson.h>
#include <stddef.h>

/* UTF-8 with a byte-order mark (so spreadsheets read it as UTF-8), a header row
 * section,date,item,detail,wh,amount_minor,amount and CRLF line ends (RFC 4180). Text
 * that a spreadsheet would take for a formula is prefixed with '. New: caller frees. */
char *api_render_csv(const json_t *report, size_t *len);

/* One printable HTML page: no scripts, no external assets. New: caller frees. */
char *api_render_html(const json_t *report, size_t *len);

/* A meter's power quality (core/report_doc.h, report_doc_power_quality's document) as one
 * printable page like the reports': the latest spectrum as SVG bar charts (orders 2 to 31 on
 * x, percent of the fundamental on y, each order's limit drawn where one is set, bars over it
 * marked), and the THD series as a table. New: caller frees. */
char *api_render_power_quality_html(const json_t *doc, size_t *len);

/* A receipt as printed: its title, then label and value lines, in order, the same for HTML and
 * PDF. From the receipt's JSON (api/receipts.c: number, series, issued_local, site {name,
 * legal_name, tax_id}, tenant_id, tenant_name, shop, amount_minor, currency, channel,
 * provider_txn_id, reference, balance_before_minor, balance_after_minor, cites, hash,
 * prev_hash); a value not set says so ("not set"). */
#define API_RECEIPT_LINES 24
struct api_receipt_line {
	char label[64];
	char value[512];
};
struct api_receipt_print {
	char title[128];
	int n;
	struct api_receipt_line lines[API_RECEIPT_LINES];
};
/* The notice every receipt carries, in English and Chinese. */
extern const char api_receipt_notice[];
void api_receipt_print(const json_t *receipt, struct api_receipt_print *out);

/* One printable HTML page of a receipt. New: caller frees. */
char *api_render_receipt_html(const json_t *receipt, size_t *len);

#endif
