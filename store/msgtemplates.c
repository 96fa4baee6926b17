/* msgtemplates.c: the SQL of a site's message templates (msgtemplates.h). */
#include "store/msgtemplates.h"
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#define TEMPLATE_COLS                                                                                    \
	"event, language, sms_template, sms_params::text AS sms_params, wechat_template,"                     \
	" wechat_fields::text AS wechat_fields, text, " SQL_US("updated_at") " AS updated_us"

static const struct db_stmt template_stmts[] = {
	{"tpl_delete", /* store_msg_templates_replace */
	 "DELETE FROM message_templates WHERE site_id = $1"},
	{"tpl_insert", /* store_msg_templates_replace: the rows as parallel arrays */
	 "INSERT INTO message_templates (site_id, event, language, sms_template, sms_params, wechat_template,"
	 " wechat_fields, text, updated_at)"
	 " SELECT $1, e, l, st, sp::jsonb, wt, wf::jsonb, tx, " SQL_TS("$9")
	 " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"
	 " AS r(e, l, st, sp, wt, wf, tx)"},
	{"tpl_list", /* store_msg_templates_list */
	 "SELECT " TEMPLATE_COLS " FROM message_templates WHERE site_id = $1 ORDER BY event, language"},
	{"tpl_get", /* store_msg_template_get */
	 "SELECT " TEMPLATE_COLS " FROM message_templates WHERE site_id = $1 AND event = $2 AND language = $3"},
	{0, 0},
};

void store_msgtemplates_register(void) { db_register(template_stmts); }

#define TEMPLATE_SPEC(x)                                                                                  \
	{DB_COL_TEXT("event", (x)->event), DB_COL_TEXT("language", (x)->language),                           \
	 DB_COL("sms_template", DB_TEXT_NEW, &(x)->sms_template), DB_COL("sms_params", DB_TEXT_NEW, &(x)->sms_params_json), \
	 DB_COL("wechat_template", DB_TEXT_NEW, &(x)->wechat_template),                                       \
	 DB_COL("wechat_fields", DB_TEXT_NEW, &(x)->wechat_fields_json), DB_COL("text", DB_TEXT_NEW, &(x)->text), \
	 DB_COL("updated_us", DB_I64, &(x)->updated_us), {0}}

void store_msg_templates_free(struct msg_template *v, int n)
{
	for (int i = 0; v && i < n; i++) {
		free(v[i].sms_template);
		free(v[i].sms_params_json);
		free(v[i].wechat_template);
		free(v[i].wechat_fields_json);
		free(v[i].text);
	}
	free(v);
}

static void text_elem(struct srv_buf *b, const char *s)
{
	srv_buf_elem(b);
	if (s)
		srv_buf_pg_quoted(b, s);
	else
		PUT_LIT(b, "NULL");
}

enum db_status store_msg_templates_replace(PGconn *c, int64_t site_id, const struct msg_template *rows, int n,
					   int64_t now_us)
{
	struct db_params d = {0};
	db_p_i64(&d, site_id);
	enum db_status st = db_exec_void(c, "tpl_delete", &d);
	if (st != DB_OK || n == 0)
		return st;
	struct srv_buf a[7] = {{0}};
	for (int i = 0; i < n; i++) {
		const struct msg_template *r = &rows[i];
		text_elem(&a[0], r->event);
		text_elem(&a[1], r->language);
		text_elem(&a[2], r->sms_template);
		text_elem(&a[3], r->sms_params_json);
		text_elem(&a[4], r->wechat_template);
		text_elem(&a[5], r->wechat_fields_json);
		text_elem(&a[6], r->text);
	}
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	for (int k = 0; k < 7; k++) {
		srv_buf_putc(&a[k], '}');
		db_p_take(&p, a[k].p);
	}
	db_p_i64(&p, now_us);
	return db_exec_void(c, "tpl_insert", &p);
}

enum db_status store_msg_templates_list(PGconn *c, int64_t site_id, struct msg_template **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	struct msg_template x;
	struct db_col spec[] = TEMPLATE_SPEC(&x);
	return db_exec_rows(c, "tpl_list", &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_msg_template_get(PGconn *c, int64_t site_id, const char *event, const char *language,
				      struct msg_template *out, bool *found)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_i64(&p, site_id);
	db_p_text(&p, event);
	db_p_text(&p, language);
	struct db_col spec[] = TEMPLATE_SPEC(out);
	return db_exec_row(c, "tpl_get", &p, spec, found);
}
