/* test_receipts.c: numbered electronic receipts against the real binary. 20 cashier top-ups
 * at once get numbers 1..20 of one series, without a gap or a duplicate, chained by hash; a
 * replay, a transaction that fails after the number was taken and one that is retried take no
 * number; the PDF (libharu, CJK font embedded) holds the fields as pdftotext reads them and
 * renders with pdftoppm; HTML and JSON say the same; a tenant key reads only its own; a
 * missing font is a 503 for the PDF alone. */
#include "harness.h"

#include <openssl/sha.h>
#include <png.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ZHANG "\xe5\xbc\xa0\xe8\xae\xb0\xe9\xa4\x90\xe5\x8e\x85" /* 张记餐厅 */
#define LEGAL "Wattle Mall Management (Shanghai) Co., Ltd. \xe7\x93\xa6\xe7\x89\xb9\xe5\x95\x86\xe4\xb8\x9a" /* 瓦特商业 */
#define TAXID "91310000MA1FL8XQ3K"

static struct th_world w;

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static void setup(void)
{
	th_world_start(&w, NULL, TH_SITE | TH_TENANT);
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"" ZHANG "\",\"category\":\"catering\","
			  "\"area_m2\":\"42.50\",\"credit_rating\":\"A\"}", 201));
}

static void teardown(void) { th_world_stop(&w); }

/* A cashier top-up; the reply (caller decrefs) when it is want_status. */
static json_t *topup(const char *tenant, long long amount, const char *idem, long want_status)
{
	char path[64], body[200], h[128];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tenant);
	snprintf(body, sizeof body, "{\"amount_minor\":%lld,\"channel\":\"cash\",\"reference\":\"till-%lld\"}", amount,
		 amount);
	snprintf(h, sizeof h, "Idempotency-Key: %s", idem);
	const char *hdrs[] = {h, NULL};
	struct th_resp r = th_req(&w.srv, "POST", path, w.fin, body, hdrs);
	ck_assert_msg(r.status == want_status, "top-up %lld: want %ld, got %ld: %s", amount, want_status, r.status,
		      r.body);
	json_t *j = r.json ? json_incref(r.json) : NULL;
	th_resp_free(&r);
	return j;
}

/* `wattle verify` on the world's database: its exit status, its output into out. */
static int verify(char *out, size_t n)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "WATTLE_LOG_LEVEL=warn WATTLE_DATABASE_URL='%s' %s verify 2>&1", w.db, WATTLE_BIN);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t k = fread(out, 1, n - 1, p);
	out[k] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct burst {
	int i;
	long status;
	char number[64];
};

static void *one(void *arg)
{
	struct burst *b = arg;
	char path[64], body[200], h[64];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", b->i % 2 ? "ten_1" : "ten_2");
	snprintf(body, sizeof body, "{\"amount_minor\":%d,\"channel\":\"%s\"}", 1000 + b->i, b->i % 3 ? "cash" : "card");
	snprintf(h, sizeof h, "Idempotency-Key: burst-%d", b->i);
	const char *hdrs[] = {h, NULL};
	struct th_resp r = th_req(&w.srv, "POST", path, w.fin, body, hdrs);
	b->status = r.status;
	const char *n = json_string_value(json_object_get(json_object_get(r.json, "receipt"), "number"));
	snprintf(b->number, sizeof b->number, "%s", n ? n : "");
	th_resp_free(&r);
	return NULL;
}

/* The TOPUP series of site 1 is 1..n without a gap or a duplicate, every number is
 * S1-TOPUP-<site-local year>-<6 digits>, and each receipt's hash is what its fields give,
 * chained to the one before. */
static void assert_series_whole(long long n)
{
	ck_assert_int_eq(q("SELECT count(*) FROM receipts WHERE series = 'TOPUP'"), n);
	ck_assert_int_eq(q("SELECT count(DISTINCT seq) FROM receipts WHERE series = 'TOPUP'"), n);
	ck_assert_int_eq(q("SELECT min(seq) FROM receipts WHERE series = 'TOPUP'"), 1);
	ck_assert_int_eq(q("SELECT max(seq) FROM receipts WHERE series = 'TOPUP'"), n);
	ck_assert_int_eq(q("SELECT last_no FROM receipt_counters WHERE site_id = 1 AND series = 'TOPUP'"), n);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts WHERE number <> format('S1-TOPUP-%s-%s', year,"
			   " lpad(seq::text, 6, '0'))"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts WHERE year <> extract(year FROM issued_at AT TIME ZONE"
			   " 'Asia/Shanghai')"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts r WHERE r.hash <> receipt_hash(r)"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts r LEFT JOIN receipts p ON p.series = r.series AND"
			   " p.year = r.year AND p.site_id = r.site_id AND p.seq = r.seq - 1"
			   " WHERE r.prev_hash <> coalesce(p.hash, '')"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM receipts r JOIN receipt_counters k USING (site_id, series, year)"
			   " WHERE r.seq = k.last_no AND r.hash <> k.last_hash"), 0);
	/* each receipt is its ledger entry: amount, balances */
	ck_assert_int_eq(q("SELECT count(*) FROM receipts r JOIN ledger_entries e ON e.id = r.ledger_entry_id"
			   " WHERE e.amount_minor <> r.amount_minor OR e.balance_after_minor <> r.balance_after_minor"
			   " OR r.balance_before_minor <> r.balance_after_minor - r.amount_minor"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), n);
}

START_TEST(twenty_concurrent_topups_number_without_gaps)
{
	pthread_t th[20];
	struct burst b[20];
	for (int i = 0; i < 20; i++) {
		b[i] = (struct burst){.i = i};
		pthread_create(&th[i], NULL, one, &b[i]);
	}
	for (int i = 0; i < 20; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(b[i].status, 201);
		ck_assert_msg(!strncmp(b[i].number, "S1-TOPUP-", 9), "reply's receipt %s", b[i].number);
		for (int k = 0; k < i; k++)
			ck_assert_str_ne(b[i].number, b[k].number);
	}
	assert_series_whole(20);

	/* a replay (same key, same body) answers the first reply and takes no number */
	struct burst again = {.i = 7};
	one(&again);
	ck_assert_int_eq(again.status, 201);
	ck_assert_str_eq(again.number, b[7].number);
	assert_series_whole(20);

	/* a transaction that fails after its receipt was numbered (its audit row is refused)
	 * rolls the number back with it */
	PQclear(th_sql(w.db, "CREATE FUNCTION test_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
			     " IF NEW.target->>'amount_minor' = '777' THEN RAISE EXCEPTION 'boom'; END IF;"
			     " IF NEW.target->>'amount_minor' = '778' THEN IF nextval('test_once') = 1 THEN"
			     " RAISE EXCEPTION 'serialize' USING ERRCODE = '40001'; END IF; END IF; RETURN NEW; END $$"));
	PQclear(th_sql(w.db, "CREATE SEQUENCE test_once"));
	PQclear(th_sql(w.db, "CREATE TRIGGER test_boom BEFORE INSERT ON audit_log FOR EACH ROW"
			     " EXECUTE FUNCTION test_boom()"));
	json_decref(topup("ten_1", 777, "fails", 500));
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE amount_minor = 777"), 0);
	assert_series_whole(20);
	/* one retried after a serialization failure: numbered once, the next number */
	json_t *r = topup("ten_2", 778, "retried", 201);
	ck_assert_int_eq(q("SELECT last_value FROM test_once"), 2); /* it did run twice */
	const char *n21 = json_string_value(json_object_get(json_object_get(r, "receipt"), "number"));
	ck_assert_msg(strlen(n21) == 20 && !strcmp(n21 + 13, "-000021"), "the retried top-up's receipt %s", n21);
	json_decref(r);
	json_decref(topup("ten_1", 500, "after", 201));
	assert_series_whole(22);
	ck_assert_int_eq(q("SELECT seq FROM receipts WHERE amount_minor = 500"), 22);
	char out[4096];
	ck_assert_msg(verify(out, sizeof out) == 0, "%s", out);
	ck_assert_msg(strstr(out, "ok     receipts      23 checked"), "%s", out); /* 22 receipts, 1 counter */
	/* receipts are never edited, and one altered behind the triggers' back shows */
	PGconn *pc = PQconnectdb(w.db);
	PGresult *res = PQexec(pc, "UPDATE receipts SET amount_minor = 1 WHERE seq = 1");
	ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
	ck_assert_ptr_nonnull(strstr(PQresultErrorMessage(res), "append-only"));
	PQclear(res);
	PQfinish(pc);
	PQclear(th_sql(w.db, "ALTER TABLE receipts DISABLE TRIGGER receipts_no_update;"
			     " UPDATE receipts SET amount_minor = amount_minor + 1 WHERE seq = 5;"
			     " DELETE FROM receipts WHERE seq = 22;"
			     " ALTER TABLE receipts ENABLE TRIGGER receipts_no_update"));
	ck_assert_int_eq(verify(out, sizeof out), 1);
	ck_assert_msg(strstr(out, "FAILED receipts") && strstr(out, "-000005") && strstr(out, "counter S1-TOPUP-"), "%s",
		      out);
}
END_TEST

/* The text pdftotext reads from pdf (len bytes). New: caller frees. */
static char *pdf_text(const char *pdf_path)
{
	char cmd[300], txt[120];
	snprintf(txt, sizeof txt, "%s.txt", pdf_path);
	snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 %s %s 2>/dev/null", pdf_path, txt);
	ck_assert_msg(system(cmd) == 0, "pdftotext failed (poppler-utils installed?)");
	FILE *f = fopen(txt, "r");
	ck_assert_ptr_nonnull(f);
	char *s = calloc(1, 1 << 16);
	size_t n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = 0;
	fclose(f);
	unlink(txt);
	return s;
}

/* pdftoppm renders the first page to a PNG; the share of its pixels that are not white. */
static double pdf_ink(const char *pdf_path)
{
	char cmd[300], base[120], png_path[140];
	snprintf(base, sizeof base, "%s-page", pdf_path);
	snprintf(cmd, sizeof cmd, "pdftoppm -png -r 60 -singlefile %s %s", pdf_path, base);
	ck_assert_msg(system(cmd) == 0, "pdftoppm failed");
	snprintf(png_path, sizeof png_path, "%s.png", base);
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	ck_assert_msg(png_image_begin_read_from_file(&img, png_path), "no PNG: %s", img.message);
	img.format = PNG_FORMAT_GRAY;
	unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
	ck_assert(png_image_finish_read(&img, NULL, px, 0, NULL));
	/* A4 at 60 dpi: 496 x 702 */
	ck_assert_int_gt(img.width, 480);
	ck_assert_int_gt(img.height, 680);
	size_t n = (size_t)img.width * img.height, dark = 0;
	for (size_t i = 0; i < n; i++)
		dark += px[i] < 200;
	free(px);
	unlink(png_path);
	return (double)dark / (double)n;
}

/* A JSON field as text for the canonical form: strings as they are, numbers in decimal, null
 * and absent as "". */
static void field(char *buf, size_t cap, const json_t *v)
{
	size_t n = strlen(buf);
	if (json_is_string(v))
		snprintf(buf + n, cap - n, "%s\n", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf + n, cap - n, "%lld\n", (long long)json_integer_value(v));
	else
		snprintf(buf + n, cap - n, "\n");
}

/* The receipt's hash recomputed from its JSON alone, as 0019_receipts.sql documents it. */
static void recompute_hash(const json_t *j, char out[65])
{
	char text[4096] = "";
	const char *issued = json_string_value(json_object_get(j, "issued_at")); /* 2026-12-01T18:58:31.123456Z */
	struct tm tm = {0};
	ck_assert_ptr_nonnull(strptime(issued, "%Y-%m-%dT%H:%M:%S", &tm));
	long long us = (long long)timegm(&tm) * 1000000 + atoll(issued + 20);
	const json_t *site = json_object_get(j, "site"), *cites = json_object_get(j, "cites");
	field(text, sizeof text, json_object_get(j, "prev_hash"));
	field(text, sizeof text, json_object_get(j, "number"));
	field(text, sizeof text, json_object_get(j, "series"));
	field(text, sizeof text, json_object_get(j, "year"));
	field(text, sizeof text, json_object_get(j, "seq"));
	json_t *u = json_integer(us);
	field(text, sizeof text, u);
	json_decref(u);
	field(text, sizeof text, json_object_get(j, "issued_local"));
	field(text, sizeof text, json_object_get(site, "legal_name"));
	field(text, sizeof text, json_object_get(site, "tax_id"));
	json_t *sid = json_integer(atoll(json_string_value(json_object_get(site, "id")) + 5)); /* site_N */
	field(text, sizeof text, sid);
	json_decref(sid);
	field(text, sizeof text, json_object_get(site, "name"));
	json_t *tid = json_integer(atoll(json_string_value(json_object_get(j, "tenant_id")) + 4)); /* ten_N */
	field(text, sizeof text, tid);
	json_decref(tid);
	static const char *const rest[] = {"tenant_name", "shop", "amount_minor", "currency", "channel", "provider_txn_id",
					   "reference", "balance_before_minor", "balance_after_minor", NULL};
	for (int i = 0; rest[i]; i++)
		field(text, sizeof text, json_object_get(j, rest[i]));
	field(text, sizeof text, json_object_get(cites, "number"));
	text[strlen(text) - 1] = 0; /* lines joined by newlines: none after the last */
	unsigned char md[32];
	SHA256((const unsigned char *)text, strlen(text), md);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static struct th_resp get_as(const char *path, const char *key, const char *accept)
{
	char h[96];
	snprintf(h, sizeof h, "Accept: %s", accept);
	const char *hdrs[] = {h, NULL};
	return th_req(&w.srv, "GET", path, key, NULL, hdrs);
}

START_TEST(pdf_html_and_json_show_the_receipt)
{
	/* issued before the site had a legal name: it says so, and keeps saying so */
	json_decref(topup("ten_2", 100, "early", 201));
	json_t *site = th_ok(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key,
			     "{\"legal_name\":\"" LEGAL "\",\"tax_id\":\"" TAXID "\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(site, "legal_name")), LEGAL);
	json_decref(site);
	site = th_ok(&w.srv, "GET", "/v1/sites/site_1", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(site, "tax_id")), TAXID);
	json_decref(site);
	json_t *t = topup("ten_2", 12345, "late", 201);
	const char *num = json_string_value(json_object_get(json_object_get(t, "receipt"), "number"));
	char number[64];
	snprintf(number, sizeof number, "%s", num);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "receipt"), "id")), "rcpt_2");
	json_decref(t);

	json_t *j = th_ok(&w.srv, "GET", "/v1/receipts/rcpt_2", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "number")), number);
	ck_assert_str_eq(json_string_value(json_object_get(j, "series")), "TOPUP");
	ck_assert_str_eq(json_string_value(json_object_get(j, "tenant_name")), ZHANG);
	ck_assert_str_eq(json_string_value(json_object_get(j, "shop")), ZHANG " (catering)");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "amount_minor")), 12345);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "balance_before_minor")), 100);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "balance_after_minor")), 12445);
	ck_assert_str_eq(json_string_value(json_object_get(j, "channel")), "cash");
	ck_assert_str_eq(json_string_value(json_object_get(j, "reference")), "till-12345");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "site"), "legal_name")), LEGAL);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "site"), "tax_id")), TAXID);
	const char *local = json_string_value(json_object_get(j, "issued_local"));
	ck_assert_msg(strlen(local) == 26 && !strcmp(local + 20, "+08:00"), "issued_local %s", local);
	char hash[65];
	snprintf(hash, sizeof hash, "%s", json_string_value(json_object_get(j, "hash")));
	ck_assert_uint_eq(strlen(hash), 64);
	ck_assert_uint_eq(strspn(hash, "0123456789abcdef"), 64);
	char again[65];
	recompute_hash(j, again);
	ck_assert_str_eq(again, hash);
	json_t *first = th_ok(&w.srv, "GET", "/v1/receipts/rcpt_1", w.fin, NULL, 200);
	recompute_hash(first, again);
	ck_assert_str_eq(again, json_string_value(json_object_get(first, "hash")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "prev_hash")),
			 json_string_value(json_object_get(first, "hash")));
	ck_assert(json_is_null(json_object_get(json_object_get(first, "site"), "legal_name")));
	json_decref(first);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "notice")), "not a tax invoice (fapiao)"));
	json_decref(j);

	/* PDF */
	struct th_resp r = get_as("/v1/receipts/rcpt_2", w.fin, "application/pdf");
	ck_assert_msg(r.status == 200, "pdf: %ld %s", r.status, r.body);
	ck_assert_str_eq(r.content_type, "application/pdf");
	ck_assert_uint_gt(r.body_len, 1000);
	ck_assert(!memcmp(r.body, "%PDF-", 5));
	char path[96];
	snprintf(path, sizeof path, "/tmp/wattle-receipt-%d.pdf", (int)getpid());
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(r.body, 1, r.body_len, f), r.body_len);
	fclose(f);
	th_resp_free(&r);
	char *text = pdf_text(path);
	const char *want[] = {number, ZHANG, "CNY 123.45", "CNY 1.00 -> CNY 124.45", LEGAL, TAXID, "cash", "till-12345",
			      hash, "This receipt is not a tax invoice (fapiao).", "Top-up receipt", NULL};
	for (int i = 0; want[i]; i++)
		ck_assert_msg(strstr(text, want[i]), "the PDF's text lacks \"%s\":\n%s", want[i], text);
	free(text);
	double ink = pdf_ink(path);
	ck_assert_msg(ink > 0.005 && ink < 0.5, "rendered page ink %.4f", ink);
	unlink(path);
	/* the one before the legal name was set says it is not set */
	r = th_req(&w.srv, "GET", "/v1/receipts/rcpt_1?format=pdf", w.fin, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	f = fopen(path, "wb");
	fwrite(r.body, 1, r.body_len, f);
	fclose(f);
	th_resp_free(&r);
	text = pdf_text(path);
	ck_assert_msg(strstr(text, "not set"), "%s", text);
	ck_assert_ptr_null(strstr(text, TAXID));
	free(text);
	unlink(path);

	/* HTML */
	r = get_as("/v1/receipts/rcpt_2", w.fin, "text/html");
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_type, "text/html; charset=utf-8");
	const char *html[] = {number, ZHANG, "CNY 123.45", LEGAL, TAXID, hash, "not a tax invoice (fapiao)", NULL};
	for (int i = 0; html[i]; i++)
		ck_assert_msg(strstr(r.body, html[i]), "the HTML lacks \"%s\"", html[i]);
	th_resp_free(&r);
	r = th_req(&w.srv, "GET", "/v1/receipts/rcpt_2?format=docx", w.fin, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);

	/* the site fields: given at creation, cleared with null, validated by name; a receipt keeps
	 * what it printed */
	site = th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
		     "{\"name\":\"Tower\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\",\"legal_name\":\"Tower Co.\","
		     "\"tax_id\":\"91110000XYZ\"}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(site, "tax_id")), "91110000XYZ");
	json_decref(site);
	site = th_ok(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key, "{\"tax_id\":null}", 200);
	ck_assert(json_is_null(json_object_get(site, "tax_id")));
	ck_assert_str_eq(json_string_value(json_object_get(site, "legal_name")), LEGAL);
	json_decref(site);
	r = th_req(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key, "{\"timezone\":\"UTC\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "unknown_field");
	th_resp_free(&r);
	r = th_req(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key, "{\"tax_id\":\"\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&w.srv, "PATCH", "/v1/sites/site_1", w.fin, "{\"tax_id\":\"x\"}", NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	r = th_req(&w.srv, "PATCH", "/v1/sites/site_9", w.srv.admin_key, "{\"tax_id\":\"x\"}", NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	j = th_ok(&w.srv, "GET", "/v1/receipts/rcpt_2", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "site"), "tax_id")), TAXID);
	json_decref(j);
}
END_TEST

START_TEST(a_tenant_reads_its_own_receipts)
{
	json_decref(topup("ten_1", 100, "a", 201));
	json_decref(topup("ten_2", 200, "b", 201));
	json_decref(topup("ten_1", 300, "c", 201));
	char *k1 = th_key(&w.srv, "tenant", "ten_1");
	json_t *l = th_ok(&w.srv, "GET", "/v1/receipts", k1, NULL, 200);
	json_t *items = json_object_get(l, "items");
	ck_assert_int_eq(json_array_size(items), 2);
	for (size_t i = 0; i < 2; i++)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i), "tenant_id")), "ten_1");
	json_decref(l);
	struct th_resp r = th_req(&w.srv, "GET", "/v1/receipts?tenant_id=ten_2", k1, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	json_decref(th_ok(&w.srv, "GET", "/v1/receipts/rcpt_3", k1, NULL, 200));
	r = th_req(&w.srv, "GET", "/v1/receipts/rcpt_2", k1, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	r = get_as("/v1/receipts/rcpt_2", k1, "application/pdf"); /* not even as a PDF */
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	free(k1);
	/* finance and admin read all; the filters and pages work */
	l = th_ok(&w.srv, "GET", "/v1/receipts?tenant_id=ten_2", w.fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "items")), 1);
	json_decref(l);
	l = th_ok(&w.srv, "GET", "/v1/receipts?limit=2", w.srv.admin_key, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "items")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(l, "next_after")), "rcpt_2");
	json_decref(l);
	l = th_ok(&w.srv, "GET", "/v1/receipts?site_id=site_1&after=rcpt_2", w.fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "items")), 1);
	json_decref(l);
	r = th_req(&w.srv, "GET", "/v1/receipts", w.ops, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	r = th_req(&w.srv, "GET", "/v1/receipts/rcpt_99", w.fin, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	/* adjustments are not money paid in: no receipt */
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_1/adjustments", w.fin,
			  "{\"amount_minor\":50,\"reason\":\"meter swap\"}", 201));
	ck_assert_int_eq(q("SELECT count(*) FROM receipts"), 3);
}
END_TEST

START_TEST(a_missing_font_is_503_for_the_pdf_alone)
{
	th_world_stop(&w);
	const char *env[] = {"WATTLE_RECEIPT_FONT=/nonexistent/font.ttc,0", NULL};
	th_world_start(&w, env, TH_SITE | TH_TENANT);
	json_decref(topup("ten_1", 100, "a", 201));
	struct th_resp r = get_as("/v1/receipts/rcpt_1", w.fin, "application/pdf");
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(th_err(&r), "pdf_unavailable");
	th_resp_free(&r);
	json_decref(th_ok(&w.srv, "GET", "/v1/receipts/rcpt_1", w.fin, NULL, 200));
	FILE *f = fopen(w.srv.log_path, "r");
	ck_assert_ptr_nonnull(f);
	char *log = calloc(1, 1 << 20);
	size_t n = fread(log, 1, (1 << 20) - 1, f);
	log[n] = 0;
	fclose(f);
	ck_assert_msg(strstr(log, "the PDF font /nonexistent/font.ttc cannot be read"), "log lacks the font error");
	free(log);
	/* a file that is not a font is refused by libharu, not a crash */
	th_world_stop(&w);
	char bad[96], e1[160];
	snprintf(bad, sizeof bad, "/tmp/wattle-notafont-%d.ttf", (int)getpid());
	f = fopen(bad, "w");
	fputs("this is not a TrueType font\n", f);
	fclose(f);
	snprintf(e1, sizeof e1, "WATTLE_RECEIPT_FONT=%s", bad);
	const char *env2[] = {e1, NULL};
	th_world_start(&w, env2, TH_SITE | TH_TENANT);
	json_decref(topup("ten_1", 100, "a", 201));
	r = get_as("/v1/receipts/rcpt_1", w.fin, "application/pdf");
	ck_assert_int_eq(r.status, 503);
	th_resp_free(&r);
	unlink(bad);
}
END_TEST

/* The year of a number is the site's: 2026-12-31 23:59 in Shanghai is still 2026, and ten
 * seconds after its midnight (16:00:10 UTC, still 2026 in UTC) a new series of 2027 begins at
 * 1. wattle's clock runs 10x from 15:59:00 UTC. */
START_TEST(the_year_turns_at_the_sites_midnight)
{
	th_world_stop(&w);
	const char *env[] = {"WATTLE_CLOCK_SPEED=10", "WATTLE_CLOCK_START=1798732740", NULL};
	th_world_start(&w, env, TH_SITE | TH_TENANT);
	json_t *a = topup("ten_1", 100, "old-year", 201);
	long long at_s = th_sql_int(w.db, "SELECT extract(epoch FROM at)::bigint FROM ledger_entries WHERE amount_minor = 100");
	ck_assert_msg(at_s < 1798732800 - 5, "the first top-up came too late (%lld) to test the turn", at_s);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "receipt"), "number")), "S1-TOPUP-2026-000001");
	json_decref(a);
	/* until wattle's clock is 10 s past the site's midnight */
	usleep((useconds_t)((1798732810 - at_s) * 100000));
	a = topup("ten_1", 200, "new-year", 201);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "receipt"), "number")), "S1-TOPUP-2027-000001");
	json_decref(a);
	json_t *j = th_ok(&w.srv, "GET", "/v1/receipts/rcpt_2", w.fin, NULL, 200);
	const char *issued = json_string_value(json_object_get(j, "issued_at")), *local =
		json_string_value(json_object_get(j, "issued_local"));
	ck_assert_msg(!strncmp(issued, "2026-12-31T16:00:", 17), "issued_at %s", issued);
	ck_assert_msg(!strncmp(local, "2027-01-01 00:00:", 17) && !strcmp(local + 20, "+08:00"), "issued_local %s", local);
	ck_assert_str_eq(json_string_value(json_object_get(j, "prev_hash")), ""); /* a new chain */
	json_decref(j);
	ck_assert_int_eq(q("SELECT count(*) FROM receipt_counters"), 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("receipts");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 120);
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, pdf_html_and_json_show_the_receipt);
	tcase_add_test(core, a_tenant_reads_its_own_receipts);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_set_timeout(lim, 120);
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_add_test(lim, twenty_concurrent_topups_number_without_gaps);
	tcase_add_test(lim, a_missing_font_is_503_for_the_pdf_alone);
	tcase_add_test(lim, the_year_turns_at_the_sites_midnight);
	suite_add_tcase(s, lim);
	return th_run(s);
}
