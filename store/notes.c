/* notes.c: delivery reports of sent notifications (notes.h). */
#include "store/notes.h"

#include <stdio.h>
#include <string.h>

static const struct db_stmt notes_stmts[] = {
	{"note_delivery", /* store_note_delivery: the first report of a sent message stands */
	 "WITH n AS (SELECT id, channel, delivery FROM notifications WHERE provider = $1 AND provider_msg_id = $2"
	 "  AND state = 'sent' FOR UPDATE),"
	 " u AS (UPDATE notifications x SET delivery = CASE WHEN $3::boolean THEN 'delivered' ELSE 'undelivered' END,"
	 "  delivery_code = $4, delivered_at = " SQL_TS("$5") " FROM n WHERE x.id = n.id AND n.delivery IS NULL"
	 "  RETURNING x.id)"
	 " SELECT n.id, n.channel, (SELECT count(*) FROM u) AS moved FROM n"},
	{"note_waiting", /* store_notes_waiting */
	 "SELECT id, coalesce(recipient, '') AS recipient, provider_msg_id, " SQL_US("sent_at") " AS sent_us"
	 " FROM notifications WHERE provider = $1 AND state = 'sent' AND delivery IS NULL"
	 " AND provider_msg_id IS NOT NULL AND id > $2 AND sent_at >= " SQL_TS("$3") " AND sent_at <= " SQL_TS("$4")
	 " ORDER BY id LIMIT $5"},
	{0, 0},
};

void store_notes_register(void) { db_register(notes_stmts); }

enum db_status store_note_delivery(PGconn *c, const char *provider, const char *msg_id, bool delivered,
				   const char *code, int64_t at_us, int64_t now_us, enum note_delivery *what,
				   char *channel)
{
	*what = ND_UNKNOWN;
	struct db_params p = {0};
	db_p_text(&p, provider);
	db_p_text(&p, msg_id);
	db_p_bool(&p, delivered);
	db_p_text(&p, code && *code ? code : NULL);
	db_p_i64(&p, at_us ? at_us : now_us);
	int64_t id = 0, moved = 0;
	char ch[16] = "";
	struct db_col spec[] = {DB_COL("id", DB_I64, &id), DB_COL_TEXT("channel", ch), DB_COL("moved", DB_I64, &moved),
				{0}};
	bool found = false;
	enum db_status st = db_exec_row(c, "note_delivery", &p, spec, &found);
	if (st == DB_OK && found) {
		*what = moved ? ND_RECORDED : ND_DUPLICATE;
		if (channel)
			snprintf(channel, 16, "%s", ch);
	}
	return st;
}

enum db_status store_notes_waiting(PGconn *c, const char *provider, int64_t after, int64_t since_us,
				   int64_t before_us, int limit, struct note_waiting **out, int *n)
{
	struct db_params p = {0};
	db_p_text(&p, provider);
	db_p_i64(&p, after);
	db_p_i64(&p, since_us);
	db_p_i64(&p, before_us);
	db_p_i64(&p, limit);
	struct note_waiting x;
	struct db_col spec[] = {DB_COL("id", DB_I64, &x.id), DB_COL_TEXT("recipient", x.recipient),
				DB_COL_TEXT("provider_msg_id", x.msg_id), DB_COL("sent_us", DB_I64, &x.sent_us), {0}};
	return db_exec_rows(c, "note_waiting", &p, spec, &x, sizeof x, (void **)out, n);
}
