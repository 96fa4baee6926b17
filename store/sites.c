/* sites.c: the SQL of sites and holidays (sites.h). */
#include "store/sites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE_COLS                                                                                             \
	"id, name, timezone, currency, coalesce(legal_name, '') AS legal_name, coalesce(tax_id, '') AS tax_id, language, " \
	"array_to_string(topup_amounts_minor, ',') AS topup_amounts, " SQL_US("created_at") " AS created_us"

static const struct db_stmt site_stmts[] = {
	{"site_insert", /* store_site_insert */
	 "INSERT INTO sites (name, timezone, currency, created_at, legal_name, tax_id, language, topup_amounts_minor)"
	 " VALUES ($1, $2, $3, " SQL_TS("$4") ", $5, $6, coalesce($7, 'en'),"
	 " coalesce($8::bigint[], '{5000,10000,20000,50000}')) RETURNING " SITE_COLS},
	{"site_update", /* store_site_update */
	 "UPDATE sites SET legal_name = CASE WHEN $2 THEN $3 ELSE legal_name END,"
	 " tax_id = CASE WHEN $4 THEN $5 ELSE tax_id END, language = coalesce($6, language),"
	 " topup_amounts_minor = coalesce($7::bigint[], topup_amounts_minor)"
	 " WHERE id = $1 RETURNING " SITE_COLS},
	{"site_list", /* store_sites_list */
	 "SELECT " SITE_COLS " FROM sites WHERE id > $1 ORDER BY id LIMIT $2"},
	{"site_get", /* store_site_get */
	 "SELECT " SITE_COLS " FROM sites WHERE id = $1"},
	{"holiday_upsert", /* store_holiday_upsert */
	 "INSERT INTO site_holidays (site_id, day, name) SELECT id, $2::date, $3 FROM sites WHERE id = $1"
	 " ON CONFLICT (site_id, day) DO UPDATE SET name = EXCLUDED.name"
	 " RETURNING to_char(day, 'YYYY-MM-DD') AS day, name"},
	{"holiday_list", /* store_holidays_list */
	 "SELECT to_char(day, 'YYYY-MM-DD') AS day, name FROM site_holidays WHERE site_id = $1 ORDER BY day"},
	{0, 0},
};

void store_sites_register(void) { db_register(site_stmts); }

#define SITE_AMOUNTS_TEXT (SITE_TOPUP_AMOUNTS_MAX * 21)

#define SITE_SPEC(s)                                                                      \
	{DB_COL("id", DB_I64, &(s)->id), DB_COL_TEXT("name", (s)->name), DB_COL_TEXT("timezone", (s)->timezone), \
	 DB_COL_TEXT("currency", (s)->currency), DB_COL_TEXT("legal_name", (s)->legal_name),                      \
	 DB_COL_TEXT("tax_id", (s)->tax_id), DB_COL_TEXT("language", (s)->language),                              \
	 DB_COL_TEXT("topup_amounts", (s)->amounts_text), DB_COL("created_us", DB_I64, &(s)->created_us), {0}}

/* The amounts column as read ("5000,10000") into s's array (the column's CHECK keeps it to
 * 1..8 positive numbers). */
static void read_amounts(struct site *s)
{
	s->n_topup_amounts = 0;
	const char *p = s->amounts_text;
	while (*p && s->n_topup_amounts < SITE_TOPUP_AMOUNTS_MAX) {
		char *end;
		long long v = strtoll(p, &end, 10);
		if (end == p)
			break;
		s->topup_amounts_minor[s->n_topup_amounts++] = v;
		p = *end == ',' ? end + 1 : end;
	}
}

/* The amounts as an array literal for $n::bigint[] into buf, or NULL when there are none. */
static const char *amounts_param(const int64_t *v, int n, char *buf, size_t cap)
{
	if (n <= 0)
		return NULL;
	size_t o = 0;
	buf[o++] = '{';
	for (int i = 0; i < n && o + 22 < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)v[i]);
	snprintf(buf + o, cap - o, "}");
	return buf;
}

enum db_status store_site_insert(PGconn *c, struct site *s, int64_t now_us)
{
	struct db_params p = {0};
	db_p_text(&p, s->name);
	db_p_text(&p, s->timezone);
	db_p_text(&p, s->currency);
	db_p_i64(&p, now_us);
	db_p_text(&p, *s->legal_name ? s->legal_name : NULL);
	db_p_text(&p, *s->tax_id ? s->tax_id : NULL);
	db_p_text(&p, *s->language ? s->language : NULL);
	char arr[SITE_AMOUNTS_TEXT + 4];
	db_p_text(&p, amounts_param(s->topup_amounts_minor, s->n_topup_amounts, arr, sizeof arr));
	struct db_col spec[] = SITE_SPEC(s);
	enum db_status st = db_exec_row(c, "site_insert", &p, spec, NULL);
	read_amounts(s);
	return st;
}

enum db_status store_site_update(PGconn *c, int64_t id, const struct site_fields *f, struct site *s)
{
	memset(s, 0, sizeof *s);
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_bool(&p, f->set_legal_name);
	db_p_text(&p, f->legal_name);
	db_p_bool(&p, f->set_tax_id);
	db_p_text(&p, f->tax_id);
	db_p_text(&p, f->language);
	char arr[SITE_AMOUNTS_TEXT + 4];
	db_p_text(&p, amounts_param(f->topup_amounts_minor, f->n_topup_amounts, arr, sizeof arr));
	struct db_col spec[] = SITE_SPEC(s);
	enum db_status st = db_exec_row(c, "site_update", &p, spec, NULL);
	read_amounts(s);
	return st;
}

enum db_status store_site_get(PGconn *c, int64_t id, struct site *s)
{
	memset(s, 0, sizeof *s);
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct db_col spec[] = SITE_SPEC(s);
	enum db_status st = db_exec_row(c, "site_get", &p, spec, NULL);
	read_amounts(s);
	return st;
}

enum db_status store_sites_list(PGconn *c, int64_t after, int64_t limit, struct site **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	struct site s;
	struct db_col spec[] = SITE_SPEC(&s);
	enum db_status st = db_exec_rows(c, "site_list", &p, spec, &s, sizeof s, (void **)out, n);
	for (int i = 0; i < *n; i++)
		read_amounts(&(*out)[i]);
	return st;
}

enum db_status store_holiday_upsert(PGconn *c, int64_t site_id, struct holiday *h, bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, h->day);
	db_p_text(&p, h->name);
	struct db_col spec[] = {DB_COL_TEXT("day", h->day), DB_COL_TEXT("name", h->name), {0}};
	return db_exec_row(c, "holiday_upsert", &p, spec, found);
}

enum db_status store_holidays_list(PGconn *c, int64_t site_id, struct holiday **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	struct holiday h;
	struct db_col spec[] = {DB_COL_TEXT("day", h.day), DB_COL_TEXT("name", h.name), {0}};
	return db_exec_rows(c, "holiday_list", &p, spec, &h, sizeof h, (void **)out, n);
}
