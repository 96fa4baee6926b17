/* harmonics.c (store): the SQL of kept spectra and of the power-quality reads (harmonics.h). */
#include "store/harmonics.h"
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US(x) "('epoch'::timestamptz + " x " * interval '1 microsecond')"

/* A range [from, to) on ts, through the slots that can hold it (the primary key's order). */
#define IN_RANGE(FROM, TO)                                                                           \
	" slot >= " SQL_TS(FROM) " - interval '15 minutes' AND slot < " SQL_TS(TO)                        \
	" AND ts >= " SQL_TS(FROM) " AND ts < " SQL_TS(TO)

#define HARM_COLS SQL_US("ts") " AS ts_us, v, i"

static const struct db_stmt harmonics_stmts[] = {
	{"harmonics_insert", /* store_harmonics_insert: the first of a slot stays */
	 "INSERT INTO meter_harmonics (meter_id, slot, ts, v, i)"
	 " SELECT m, " US("s") ", " US("t") ", v::smallint[], i::smallint[]"
	 " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS x(m, s, t, v, i)"
	 " ON CONFLICT (meter_id, slot) DO NOTHING"},
	{"thd_list", /* store_thd_list: the primary key's order, readings without a THD skipped */
	 "SELECT " SQL_US("ts") " AS ts_us, coalesce(thd_v_pct::text, '') AS thd_v_pct,"
	 " coalesce(thd_i_pct::text, '') AS thd_i_pct FROM readings"
	 " WHERE meter_id = $1 AND ts >= " SQL_TS("$2") " AND ts < " SQL_TS("$3") " AND ts > " SQL_TS("$4")
	 " AND (thd_v_pct IS NOT NULL OR thd_i_pct IS NOT NULL) ORDER BY ts LIMIT $5"},
	{"harmonics_list", /* store_harmonics_list */
	 "SELECT " HARM_COLS " FROM meter_harmonics WHERE meter_id = $1 AND" IN_RANGE("$2", "$3")
	 " AND slot > " SQL_TS("$4") " - interval '15 minutes' AND ts > " SQL_TS("$4") " ORDER BY slot LIMIT $5"},
	{"harmonics_latest", /* store_harmonics_latest */
	 "SELECT " HARM_COLS " FROM meter_harmonics WHERE meter_id = $1 AND" IN_RANGE("$2", "$3")
	 " ORDER BY slot DESC LIMIT 1"},
	{"pq_meter_settings", /* store_meter_alarm_settings */
	 "SELECT m.serial, (s.alarm_settings || m.alarm_settings)::text AS alarm_settings"
	 " FROM meters m JOIN sites s ON s.id = m.site_id WHERE m.id = $1"},
	{0, 0},
};

void store_harmonics_register(void) { db_register(harmonics_stmts); }

/* One spectrum as an element of a text[] literal: "{620,...}", or NULL when absent. */
static void spectrum_elem(struct srv_buf *b, bool has, const uint16_t *v)
{
	srv_buf_elem(b);
	if (!has) {
		srv_buf_puts(b, "NULL");
		return;
	}
	srv_buf_puts(b, "\"{");
	for (int k = 0; k < ALARM_ORDERS; k++) {
		if (k)
			srv_buf_putc(b, ',');
		srv_buf_i64(b, v[k]);
	}
	srv_buf_puts(b, "}\"");
}

enum db_status store_harmonics_insert(PGconn *c, struct bill_reading *const *r, int n)
{
	if (!n)
		return DB_OK;
	struct srv_buf a[5] = {{0}};
	for (int k = 0; k < n; k++) {
		for (int j = 0; j < 3; j++)
			srv_buf_elem(&a[j]);
		srv_buf_i64(&a[0], r[k]->meter_id);
		srv_buf_i64(&a[1], mb_harm_slot_us(r[k]->ts_us));
		srv_buf_i64(&a[2], r[k]->ts_us);
		spectrum_elem(&a[3], r[k]->harm->has_v, r[k]->harm->v);
		spectrum_elem(&a[4], r[k]->harm->has_i, r[k]->harm->i);
	}
	struct db_params p = {0};
	for (int j = 0; j < 5; j++) {
		srv_buf_putc(&a[j], '}');
		db_p_take(&p, a[j].p);
	}
	return db_exec_void(c, "harmonics_insert", &p);
}

enum db_status store_thd_list(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, int64_t after_us,
			      int64_t limit, struct thd_row **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, meter_id);
	db_p_i64(&p, from_us);
	db_p_i64(&p, to_us);
	db_p_i64(&p, after_us);
	db_p_i64(&p, limit);
	struct thd_row x;
	struct db_col spec[] = {DB_COL("ts_us", DB_I64, &x.ts_us), DB_COL_TEXT("thd_v_pct", x.thd_v),
				DB_COL_TEXT("thd_i_pct", x.thd_i), {0}};
	return db_exec_rows(c, "thd_list", &p, spec, &x, sizeof x, (void **)out, n);
}

/* An array column as read (values stored in range by the table's CHECK) into a spectrum's
 * half; whether there was one. */
static bool half(const int64_t *v, int nv, uint16_t *out)
{
	if (!v || nv != ALARM_ORDERS)
		return false;
	for (int k = 0; k < ALARM_ORDERS; k++)
		out[k] = (uint16_t)(v[k] < 0 ? 0 : v[k] > 10000 ? 10000 : v[k]);
	return true;
}

/* Rows of a harmonics statement into *out (new), *n of them. */
static enum db_status read_spectra(PGconn *c, const char *stmt, struct db_params *p, struct pq_spectrum **out, int *n)
{
	*out = NULL;
	*n = 0;
	int64_t ts, *v, *i;
	int nv, ni;
	struct db_col spec[] = {DB_COL("ts_us", DB_I64, &ts), DB_COL_ARRAY("v", &v, &nv), DB_COL_ARRAY("i", &i, &ni),
				{0}};
	PGresult *r;
	enum db_status st = db_exec_bind(c, stmt, p, spec, &r);
	if (st != DB_OK)
		return st;
	int rows = PQntuples(r);
	if (rows && !(*out = calloc((size_t)rows, sizeof **out)))
		abort();
	for (int k = 0; k < rows; k++) {
		db_cols_read(r, k, spec);
		struct pq_spectrum *h = &(*out)[k];
		h->ts_us = ts;
		h->s.has_v = half(v, nv, h->s.v);
		h->s.has_i = half(i, ni, h->s.i);
		free(v);
		free(i);
	}
	*n = rows;
	PQclear(r);
	return DB_OK;
}

enum db_status store_harmonics_list(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, int64_t after_us,
				    int64_t limit, struct pq_spectrum **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, meter_id);
	db_p_i64(&p, from_us);
	db_p_i64(&p, to_us);
	db_p_i64(&p, after_us);
	db_p_i64(&p, limit);
	return read_spectra(c, "harmonics_list", &p, out, n);
}

enum db_status store_harmonics_latest(PGconn *c, int64_t meter_id, int64_t from_us, int64_t to_us, struct pq_spectrum *out,
				      bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, meter_id);
	db_p_i64(&p, from_us);
	db_p_i64(&p, to_us);
	struct pq_spectrum *rows;
	int n;
	enum db_status st = read_spectra(c, "harmonics_latest", &p, &rows, &n);
	*found = st == DB_OK && n > 0;
	if (*found)
		*out = rows[0];
	free(rows);
	return st;
}

enum db_status store_meter_alarm_settings(PGconn *c, int64_t meter_id, char **settings, char serial[72])
{
	struct db_params p = {0};
	db_p_i64(&p, meter_id);
	*settings = NULL;
	serial[0] = 0;
	struct db_col spec[] = {DB_COL("alarm_settings", DB_TEXT_NEW, settings), {"serial", DB_TEXT, serial, 72, NULL, NULL, -1},
				{0}};
	return db_exec_row(c, "pq_meter_settings", &p, spec, NULL);
}
