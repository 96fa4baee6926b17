/* msgtemplates.c: GET/PUT /v1/sites/{id}/message-templates: what a site's messages say, per
 * event and language (issue 16). PUT replaces the site's set in one transaction; GET shows
 * the site's rows merged over the shipped defaults (core/msgtext.h), marking the defaults. */
#include "api/api.h"
#include "core/clock.h"
#include "core/msgtext.h"
#include "store/msgtemplates.h"
#include "store/sites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_register_statements_msgtemplates(void);
void api_register_statements_msgtemplates(void) { store_msgtemplates_register(); }

/* A mapping's value: a variable's name ("balance"), or a text naming variables
 * ("{balance} left"). 0, or -1 with bad the unknown variable. */
static int mapping_value_ok(const char *v, char *bad, size_t n)
{
	if (!strchr(v, '{') && !strchr(v, '}')) {
		if (msg_is_one_of(v, msg_variables))
			return 0;
		snprintf(bad, n, "%s", v);
		return -1;
	}
	return msg_text_check(v, bad, n);
}

/* Check a mapping ({"<param or field>": "<variable>"}) at templates[i].key; 0 or -1 (400 set).
 * Tencent's positional keys "1", "2", ... must run from 1 without a gap when all are numbers. */
static int mapping_ok(struct req *rq, json_t *m, size_t i, const char *key)
{
	char field[64];
	snprintf(field, sizeof field, "templates[%zu].%s", i, key);
	if (!json_is_object(m) || json_object_size(m) == 0 || json_object_size(m) > 20)
		return api_field_error(rq, field, "must be an object of 1 to 20 parameters, each naming a variable");
	const char *k;
	json_t *v;
	size_t numeric = 0;
	json_object_foreach(m, k, v) {
		const char *s = json_string_value(v);
		char bad[64];
		if (!k[0] || strlen(k) > 64)
			return api_field_error(rq, field, "a parameter's name must be 1 to 64 bytes");
		if (!s || strlen(s) > 500)
			return api_field_error(rq, field, "%s must be a variable's name (a string)", k);
		if (mapping_value_ok(s, bad, sizeof bad)) {
			api_error(rq, E_INVALID_FIELD, json_pack("{s:s, s:s}", "field", field, "variable", bad),
				  "%s.%s names an unknown variable {%s}", field, k, bad);
			return -1;
		}
		numeric += strspn(k, "0123456789") == strlen(k);
	}
	if (numeric == json_object_size(m))
		for (size_t want = 1; want <= numeric; want++) {
			char key_n[24];
			snprintf(key_n, sizeof key_n, "%zu", want);
			if (!json_object_get(m, key_n))
				return api_field_error(rq, field, "positional parameters must be \"1\", \"2\", ... without a gap");
		}
	return 0;
}

static int opt_text(struct req *rq, json_t *o, size_t i, const char *key, size_t max)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	const char *s = json_string_value(v);
	if (!s || !s[0] || strlen(s) > max) {
		char field[64];
		snprintf(field, sizeof field, "templates[%zu].%s", i, key);
		return api_field_error(rq, field, "must be a text of 1 to %zu bytes", max);
	}
	return 0;
}

static const char *opt_str(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

/* The body's rows (borrowing rq->json; the mappings' texts new). 0, or -1 with the 400 set. */
static int read_rows(struct req *rq, struct msg_template **out, int *n)
{
	*out = NULL;
	*n = 0;
	json_t *a = json_object_get(rq->json, "templates");
	if (!json_is_object(rq->json) || !json_is_array(a) || json_object_size(rq->json) != 1)
		return api_field_error(rq, "templates", "the body must be {\"templates\": [...]}");
	size_t cnt = json_array_size(a);
	if (cnt > 14 * 4)
		return api_field_error(rq, "templates", "at most one row per event and language");
	struct msg_template *v = calloc(cnt + 1, sizeof *v);
	if (!v)
		abort();
	size_t i;
	json_t *o;
	json_array_foreach(a, i, o) {
		char field[64];
		snprintf(field, sizeof field, "templates[%zu]", i);
		if (!json_is_object(o)) {
			api_field_error(rq, field, "must be an object");
			goto fail;
		}
		const char *k;
		json_t *x;
		json_object_foreach(o, k, x) {
			static const char *const known[] = {"event", "language", "sms_template", "sms_params",
							    "wechat_template", "wechat_fields", "text", NULL};
			if (!msg_is_one_of(k, known)) {
				api_field_error(rq, field, "unknown field %s", k);
				goto fail;
			}
		}
		const char *event = opt_str(o, "event"), *lang = opt_str(o, "language");
		if (!msg_is_one_of(event, msg_events)) {
			snprintf(field, sizeof field, "templates[%zu].event", i);
			api_field_error(rq, field, "must be one of low_balance, grace_started, cut_off, restored,"
						   " topup_received, statement_ready, alarm, login_code");
			goto fail;
		}
		if (!msg_is_one_of(lang, msg_languages)) {
			snprintf(field, sizeof field, "templates[%zu].language", i);
			api_field_error(rq, field, "must be zh-CN or en");
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(v[j].event, event) && !strcmp(v[j].language, lang)) {
				api_field_error(rq, field, "a second row for %s in %s", event, lang);
				goto fail;
			}
		if (opt_text(rq, o, i, "sms_template", 64) || opt_text(rq, o, i, "wechat_template", 128) ||
		    opt_text(rq, o, i, "text", 1000))
			goto fail;
		const char *text = opt_str(o, "text");
		char bad[64];
		if (text && msg_text_check(text, bad, sizeof bad)) {
			snprintf(field, sizeof field, "templates[%zu].text", i);
			api_error(rq, E_INVALID_FIELD, json_pack("{s:s, s:s}", "field", field, "variable", bad),
				  "%s names an unknown variable {%s}", field, bad);
			goto fail;
		}
		json_t *sp = json_object_get(o, "sms_params"), *wf = json_object_get(o, "wechat_fields");
		if ((sp && !json_is_null(sp) && mapping_ok(rq, sp, i, "sms_params")) ||
		    (wf && !json_is_null(wf) && mapping_ok(rq, wf, i, "wechat_fields")))
			goto fail;
		if (sp && !json_is_null(sp) && !opt_str(o, "sms_template")) {
			snprintf(field, sizeof field, "templates[%zu].sms_params", i);
			api_field_error(rq, field, "is for sms_template, which is missing");
			goto fail;
		}
		if (wf && !json_is_null(wf) && !opt_str(o, "wechat_template")) {
			snprintf(field, sizeof field, "templates[%zu].wechat_fields", i);
			api_field_error(rq, field, "is for wechat_template, which is missing");
			goto fail;
		}
		if (!opt_str(o, "sms_template") && !opt_str(o, "wechat_template") && !text) {
			api_field_error(rq, field, "needs sms_template, wechat_template or text");
			goto fail;
		}
		struct msg_template *t = &v[i];
		snprintf(t->event, sizeof t->event, "%s", event);
		snprintf(t->language, sizeof t->language, "%s", lang);
		t->sms_template = (char *)opt_str(o, "sms_template");
		t->wechat_template = (char *)opt_str(o, "wechat_template");
		t->text = (char *)text;
		t->sms_params_json = sp && !json_is_null(sp) ? json_dumps(sp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		t->wechat_fields_json = wf && !json_is_null(wf) ? json_dumps(wf, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	}
	*out = v;
	*n = (int)cnt;
	return 0;
fail:
	for (size_t j = 0; j <= i && j < cnt; j++) {
		free(v[j].sms_params_json);
		free(v[j].wechat_fields_json);
	}
	free(v);
	return -1;
}

static json_t *opt_json_text(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *mapping_json(const char *s)
{
	json_t *m = s ? json_loads(s, 0, NULL) : NULL;
	return m ? m : json_null();
}

/* The site's rows over the defaults: every event and language, "default": true where the
 * site has none. */
static json_t *merged_json(const struct msg_template *v, int n)
{
	json_t *items = json_array();
	for (int e = 0; msg_events[e]; e++)
		for (int l = 0; msg_languages[l]; l++) {
			const struct msg_template *t = NULL;
			for (int i = 0; i < n && !t; i++)
				if (!strcmp(v[i].event, msg_events[e]) && !strcmp(v[i].language, msg_languages[l]))
					t = &v[i];
			json_t *o = json_pack("{s:s, s:s}", "event", msg_events[e], "language", msg_languages[l]);
			if (t) {
				json_object_set_new(o, "sms_template", opt_json_text(t->sms_template));
				json_object_set_new(o, "sms_params", mapping_json(t->sms_params_json));
				json_object_set_new(o, "wechat_template", opt_json_text(t->wechat_template));
				json_object_set_new(o, "wechat_fields", mapping_json(t->wechat_fields_json));
				/* a row without its own text sends the shipped one on free-text channels */
				json_object_set_new(o, "text",
						    json_string(t->text ? t->text : msg_default_text(t->event, t->language)));
				json_object_set_new(o, "default", json_false());
				json_object_set_new(o, "updated_at", api_time_json(t->updated_us));
			} else {
				json_object_set_new(o, "sms_template", json_null());
				json_object_set_new(o, "sms_params", json_null());
				json_object_set_new(o, "wechat_template", json_null());
				json_object_set_new(o, "wechat_fields", json_null());
				json_object_set_new(o, "text", json_string(msg_default_text(msg_events[e], msg_languages[l])));
				json_object_set_new(o, "default", json_true());
				json_object_set_new(o, "updated_at", json_null());
			}
			json_array_append_new(items, o);
		}
	return json_pack("{s:o}", "templates", items);
}

static enum db_status site_exists(PGconn *c, struct req *rq, int64_t id)
{
	struct site s;
	enum db_status st = store_site_get(c, id, &s);
	if (st == DB_OK && !s.id) {
		api_error(rq, E_NOT_FOUND, NULL, "no site %s", rq->args[0]);
		return DB_ABORT;
	}
	return st;
}

void api_msg_templates_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_SITE, "site");
	PGconn *c = id ? api_conn(rq) : NULL;
	if (!c)
		return;
	enum db_status st = site_exists(c, rq, id);
	if (st == DB_ABORT)
		return;
	struct msg_template *v = NULL;
	int n = 0;
	if (st == DB_OK)
		st = store_msg_templates_list(c, id, &v, &n);
	if (api_read_failed(rq, st))
		return;
	json_t *out = merged_json(v, n);
	store_msg_templates_free(v, n);
	api_reply(rq, 200, out);
}

struct put_tx {
	struct req *rq;
	int64_t id;
	const struct msg_template *rows;
	int n;
	json_t *out;
};

static enum db_status put_tx(PGconn *c, void *arg)
{
	struct put_tx *t = arg;
	enum db_status st = site_exists(c, t->rq, t->id);
	if (st == DB_OK)
		st = store_msg_templates_replace(c, t->id, t->rows, t->n, srv_clock_now_us());
	struct msg_template *v = NULL;
	int n = 0;
	if (st == DB_OK)
		st = store_msg_templates_list(c, t->id, &v, &n);
	if (st == DB_OK) {
		json_decref(t->out);
		t->out = merged_json(v, n);
	}
	store_msg_templates_free(v, n);
	if (st == DB_OK)
		st = api_audit(c, t->rq, "site.message_templates",
			       json_pack("{s:o, s:i}", "id", api_id_json(ID_SITE, t->id), "rows", t->n));
	return st;
}

void api_msg_templates_put(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_SITE, "site");
	struct msg_template *rows;
	int n;
	if (!id || read_rows(rq, &rows, &n))
		return;
	struct put_tx t = {rq, id, rows, n, NULL};
	enum db_status st = db_run_tx(put_tx, &t);
	for (int i = 0; i < n; i++) {
		free(rows[i].sms_params_json);
		free(rows[i].wechat_fields_json);
	}
	free(rows);
	if (api_tx_failed(rq, st)) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 200, t.out);
}
