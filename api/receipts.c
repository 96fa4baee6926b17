/* receipts.c: GET /v1/receipts and GET /v1/receipts/{id} as JSON, HTML or PDF (libharu, with
 * an embedded CJK TrueType font so Chinese names print). Receipts are issued by the money
 * operations themselves (ops/receipt.h); this file only reads them. */
#include "api/api.h"
#include "api/payments.h"
#include "api/render.h"
#include "core/log.h"
#include "store/receipts.h"

#include <hpdf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_FONT "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"

static const char *font_setting; /* WATTLE_RECEIPT_FONT, NULL: DEFAULT_FONT */

void api_receipts_set_font(const char *path) { font_setting = path; }

void api_register_statements_receipts(void);
void api_register_statements_receipts(void) { store_receipts_register(); }

static json_t *opt_str(const char *s) { return *s ? json_string(s) : json_null(); }

static json_t *receipt_json(const struct receipt_row *r)
{
	json_t *cites = r->cites_receipt_id ? json_pack("{s:o, s:s}", "id", api_id_json(ID_RECEIPT, r->cites_receipt_id),
							"number", r->cites_number)
					    : json_null();
	json_t *site = json_pack("{s:o, s:s, s:o, s:o}", "id", api_id_json(ID_SITE, r->site_id), "name", r->site_name,
				 "legal_name", opt_str(r->legal_name), "tax_id", opt_str(r->tax_id));
	json_t *o = json_pack("{s:o, s:s, s:s, s:i, s:I, s:o, s:s, s:o}", "id", api_id_json(ID_RECEIPT, r->id), "number",
			      r->number, "series", r->series, "year", r->year, "seq", (json_int_t)r->seq, "issued_at",
			      api_time_json(r->issued_us), "issued_local", r->issued_local, "site", site);
	json_object_set_new(o, "tenant_id", api_id_json(ID_TENANT, r->tenant_id));
	json_object_set_new(o, "tenant_name", json_string(r->tenant_name));
	json_object_set_new(o, "shop", json_string(r->shop));
	json_object_set_new(o, "amount_minor", json_integer(r->amount_minor));
	json_object_set_new(o, "currency", json_string(r->currency));
	json_object_set_new(o, "channel", json_string(r->channel));
	json_object_set_new(o, "provider_txn_id", opt_str(r->provider_txn_id));
	json_object_set_new(o, "reference", opt_str(r->reference));
	json_object_set_new(o, "payment_id", r->payment_id ? api_id_json(ID_PAYMENT, r->payment_id) : json_null());
	json_object_set_new(o, "ledger_entry_id", api_id_json(ID_LEDGER, r->ledger_entry_id));
	json_object_set_new(o, "balance_before_minor", json_integer(r->balance_before_minor));
	json_object_set_new(o, "balance_after_minor", json_integer(r->balance_after_minor));
	json_object_set_new(o, "cites", cites);
	json_object_set_new(o, "prev_hash", json_string(r->prev_hash));
	json_object_set_new(o, "hash", json_string(r->hash));
	json_object_set_new(o, "notice", json_string(api_receipt_notice));
	return o;
}

void api_receipts_list(struct req *rq)
{
	int64_t tenant, site, limit, after;
	if (api_query_id(rq, "tenant_id", ID_TENANT, &tenant) || api_query_id(rq, "site_id", ID_SITE, &site) ||
	    api_page(rq, ID_RECEIPT, &limit, &after))
		return;
	if (rq->who.role == ROLE_TENANT) { /* a tenant key lists its own, whatever it asks */
		if (tenant && api_tenant_scope(rq, tenant))
			return;
		tenant = rq->who.tenant_id;
	}
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct receipt_row *v;
	int n;
	if (api_read_failed(rq, store_receipts_list(c, tenant, site, after, limit + 1, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, receipt_json(&v[i]));
	free(v);
	api_reply(rq, 200, api_page_reply(items, limit));
}

/* ---- PDF ---- */

struct pdf_err {
	HPDF_STATUS error, detail;
};

static void pdf_error(HPDF_STATUS error, HPDF_STATUS detail, void *user)
{
	struct pdf_err *e = user;
	if (!e->error) { /* the first is the cause */
		e->error = error;
		e->detail = detail;
	}
}

/* The font file and, for a collection (.ttc), the index in it: "path" or "path,index". */
static void font_of(char path[512], unsigned *index, int *collection)
{
	const char *s = font_setting ? font_setting : DEFAULT_FONT;
	snprintf(path, 512, "%s", s);
	*index = 0;
	char *comma = strrchr(path, ',');
	if (comma && comma[1] && strspn(comma + 1, "0123456789") == strlen(comma + 1)) {
		*index = (unsigned)strtoul(comma + 1, NULL, 10);
		*comma = 0;
	}
	size_t n = strlen(path);
	*collection = n > 4 && !strcasecmp(path + n - 4, ".ttc");
}

static void text_at(HPDF_Page page, HPDF_Font f, float size, float x, float y, const char *s)
{
	HPDF_Page_SetFontAndSize(page, f, size);
	HPDF_Page_TextOut(page, x, y, s);
}

/* The receipt as one A4 page. New bytes (caller frees) into *len, or NULL when the font cannot be
 * used (logged). */
static unsigned char *receipt_pdf(const json_t *r, size_t *len)
{
	char path[512];
	unsigned index;
	int collection;
	font_of(path, &index, &collection);
	if (access(path, R_OK)) {
		srv_log(LOG_ERROR, "receipts: the PDF font %s cannot be read (WATTLE_RECEIPT_FONT; Debian: fonts-wqy-zenhei)",
			path);
		return NULL;
	}
	struct pdf_err e = {0};
	HPDF_Doc pdf = HPDF_New(pdf_error, &e);
	if (!pdf)
		abort(); /* out of memory */
	unsigned char *out = NULL;
	HPDF_SetCompressionMode(pdf, HPDF_COMP_ALL);
	HPDF_UseUTFEncodings(pdf);
	const char *name = collection ? HPDF_LoadTTFontFromFile2(pdf, path, index, HPDF_TRUE)
				      : HPDF_LoadTTFontFromFile(pdf, path, HPDF_TRUE);
	HPDF_Font f = name ? HPDF_GetFont(pdf, name, "UTF-8") : NULL;
	if (!f) {
		srv_log(LOG_ERROR, "receipts: the PDF font %s could not be loaded (libharu error 0x%04X, %u)", path,
			(unsigned)e.error, (unsigned)e.detail);
		goto out;
	}
	struct api_receipt_print p;
	api_receipt_print(r, &p);
	HPDF_SetInfoAttr(pdf, HPDF_INFO_TITLE, json_string_value(json_object_get(r, "number")));
	HPDF_SetInfoAttr(pdf, HPDF_INFO_CREATOR, "wattle");
	HPDF_Page page = HPDF_AddPage(pdf);
	HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
	float top = HPDF_Page_GetHeight(page) - 60;
	HPDF_Page_BeginText(page);
	text_at(page, f, 18, 50, top, p.title);
	float y = top - 36;
	for (int i = 0; i < p.n; i++, y -= 22) {
		bool hash = strstr(p.lines[i].label, "hash") != NULL;
		text_at(page, f, 9, 50, y, p.lines[i].label);
		text_at(page, f, hash ? 7.5f : 11, 200, y, p.lines[i].value);
	}
	text_at(page, f, 11, 50, y - 16, api_receipt_notice);
	HPDF_Page_EndText(page);
	/* a rule under the title and above the notice */
	HPDF_Page_SetLineWidth(page, 0.8f);
	HPDF_Page_MoveTo(page, 50, top - 14);
	HPDF_Page_LineTo(page, 545, top - 14);
	HPDF_Page_MoveTo(page, 50, y + 4);
	HPDF_Page_LineTo(page, 545, y + 4);
	HPDF_Page_Stroke(page);
	if (e.error || HPDF_SaveToStream(pdf) != HPDF_OK) {
		srv_log(LOG_ERROR, "receipts: libharu failed making a PDF (error 0x%04X, %u)", (unsigned)e.error,
			(unsigned)e.detail);
		goto out;
	}
	HPDF_UINT32 size = HPDF_GetStreamSize(pdf);
	out = malloc(size ? size : 1);
	if (!out)
		abort();
	HPDF_UINT32 got = size;
	HPDF_ResetStream(pdf);
	HPDF_ReadFromStream(pdf, out, &got); /* HPDF_STREAM_EOF when it read it all */
	if (got != size) {
		srv_log(LOG_ERROR, "receipts: reading the PDF back from libharu failed");
		free(out);
		out = NULL;
		goto out;
	}
	*len = got;
out:
	HPDF_Free(pdf);
	return out;
}

/* json, html or pdf: ?format= first, then Accept. */
static const char *format(struct req *rq)
{
	const char *f = api_query(rq, "format");
	if (f)
		return f;
	const char *a = api_header(rq, "Accept");
	if (a && strstr(a, "application/pdf"))
		return "pdf";
	if (a && strstr(a, "text/html"))
		return "html";
	return "json";
}

void api_receipts_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_RECEIPT, "receipt");
	if (!id)
		return;
	const char *f = format(rq);
	if (strcmp(f, "json") && strcmp(f, "html") && strcmp(f, "pdf")) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "format"),
			  "format must be json, html or pdf");
		return;
	}
	PGconn *c = api_conn(rq);
	struct receipt_row r;
	if (!c || api_read_failed(rq, store_receipt_get(c, id, &r)))
		return;
	if (!r.id || (rq->who.role == ROLE_TENANT && r.tenant_id != rq->who.tenant_id)) {
		api_error(rq, E_NOT_FOUND, NULL, "no receipt %s", rq->args[0]);
		return;
	}
	json_t *o = receipt_json(&r);
	if (!strcmp(f, "json")) {
		api_reply(rq, 200, o);
		return;
	}
	size_t n = 0;
	if (!strcmp(f, "html")) {
		char *body = api_render_receipt_html(o, &n);
		api_reply_raw(rq, 200, "text/html; charset=utf-8", body, n);
		free(body);
	} else {
		unsigned char *pdf = receipt_pdf(o, &n);
		if (pdf)
			api_reply_raw(rq, 200, "application/pdf", (const char *)pdf, n);
		else
			api_error(rq, E_PDF_UNAVAILABLE, NULL, NULL);
		free(pdf);
	}
	json_decref(o);
}
