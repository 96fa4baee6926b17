/* msgtemplates.h: a site's message templates (message_templates, 0022), per event and
 * language: an approved SMS template code with its parameters mapped to variables, a WeChat
 * template id with its fields, and free text. Missing rows fall back to the shipped defaults
 * (core/msgtext.h). */
#ifndef WATTLE_STORE_MSGTEMPLATES_H
#define WATTLE_STORE_MSGTEMPLATES_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* One row. Strings new or NULL (not set); the mappings are JSON objects' texts. */
struct msg_template {
	char event[24], language[8];
	char *sms_template, *sms_params_json, *wechat_template, *wechat_fields_json, *text;
	int64_t updated_us;
};
void store_msg_templates_free(struct msg_template *v, int n);

/* Replace the site's set with rows[0..n) (in the caller's transaction). */
enum db_status store_msg_templates_replace(PGconn *c, int64_t site_id, const struct msg_template *rows, int n,
					   int64_t now_us);
/* The site's rows by event and language. *out new: store_msg_templates_free. */
enum db_status store_msg_templates_list(PGconn *c, int64_t site_id, struct msg_template **out, int *n);
/* The site's row for event and language; *found false when it has none (out zeroed). */
enum db_status store_msg_template_get(PGconn *c, int64_t site_id, const char *event, const char *language,
				      struct msg_template *out, bool *found);

void store_msgtemplates_register(void);

#endif
