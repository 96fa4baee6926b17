/* outbox.c: commands and notifications queued in the caller's transaction. */
#include "store/outbox.h"
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#define COMMAND_COLS                                                                               \
	"c.id, c.meter_id, m.serial, c.action, c.reason, c.state, c.attempts, " SQL_US("c.created_at")  \
	" AS created_us, coalesce(" SQL_US("c.acked_at") ", 0) AS acked_us, c.origin,"                 \
	" coalesce(c.result, '') AS result, coalesce(c.relay, '') AS relay,"                             \
	" coalesce(m.gateway_id, 0) AS gateway_id, m.site_id"

/* A command a pull gateway may be handed (the alias's row): pending, or handed out before and
 * not acked, with attempts left (its lease is next_attempt_at). commands_open covers it. */
#define PULL_OPEN(c)                                                                             \
	"(" c ".state = 'pending' OR (" c ".state = 'sent' AND " c ".pulled_by IS NOT NULL AND " c    \
	".attempts < $5))"

static const struct db_stmt outbox_stmts[] = {
	{"outbox_commands", /* store_commands_queue: the rules of outbox.h, in one statement */
	 "WITH x AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
	 "  $6::bigint[], $7::boolean[]) WITH ORDINALITY AS x(meter, tenant, action, reason, origin, key, spare, o)),"
	 " t AS (SELECT m.id AS meter, a.id AS account, x.action, x.reason, x.origin, x.key, x.o"
	 "  FROM x JOIN meters m ON (x.meter IS NOT NULL AND m.id = x.meter)"
	 "   OR (x.meter IS NULL AND m.tenant_id = x.tenant)"
	 "  LEFT JOIN accounts a ON a.tenant_id = m.tenant_id"
	 "  WHERE m.status = 'active' AND (x.action = 'restore' OR NOT (x.spare AND m.protected))),"
	 " sup AS (UPDATE commands c SET state = 'superseded' FROM t"
	 "  WHERE c.meter_id = t.meter AND c.state = 'pending' AND c.action <> t.action),"
	 " ins AS (INSERT INTO commands (meter_id, account_id, action, reason, origin, created_at,"
	 "  next_attempt_at, api_key_id) SELECT meter, account, action, reason, origin, " SQL_TS("$8") ", "
	 SQL_TS("$8") ", key FROM t ORDER BY o, meter RETURNING id, meter_id, account_id, action),"
	 " sp AS (UPDATE accounts a SET supply = CASE i.action WHEN 'cut_off' THEN 'pending_off' ELSE 'pending_on' END"
	 "  FROM (SELECT DISTINCT ON (account_id) account_id, action FROM ins WHERE account_id IS NOT NULL"
	 "   ORDER BY account_id, id DESC) i WHERE a.id = i.account_id)"
	 " SELECT id, meter_id FROM ins ORDER BY id"},
	{"outbox_notes", /* store_notes_queue */
	 "INSERT INTO notifications (tenant_id, kind, channel, recipient, body, payload, created_at,"
	 " next_attempt_at) SELECT nullif(t, 0), k, ch, nullif(r, ''), b, p::jsonb, " SQL_TS("$7") ", " SQL_TS("$7")
	 " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
	 " WITH ORDINALITY AS x(t, k, ch, r, b, p, o) ORDER BY o"},
	{"outbox_follow_check", /* store_commands_follow_account: is the meter to be cut with its tenant? */
	 "SELECT m.tenant_id FROM meters m JOIN accounts a ON a.tenant_id = m.tenant_id"
	 " WHERE m.id = $1 AND a.state = 'cut_off'"
	 " AND coalesce((SELECT c.action FROM commands c WHERE c.meter_id = m.id AND c.state <> 'superseded'"
	 "  ORDER BY c.id DESC LIMIT 1), '') <> 'cut_off'"},
	{"command_list", /* store_commands_list */
	 "SELECT " COMMAND_COLS " FROM commands c JOIN meters m ON m.id = c.meter_id"
	 " WHERE c.id > $1 AND ($3::text IS NULL OR c.state = $3) ORDER BY c.id LIMIT $2"},
	{"command_get", /* store_command_get */
	 "SELECT " COMMAND_COLS " FROM commands c JOIN meters m ON m.id = c.meter_id WHERE c.id = $1"},
	{"command_ack", /* store_command_ack: the first answer counts; supply follows the relay; a
			   scoped key answers only for its gateway's ($6) or site's ($7) meters */
	 "WITH c AS (UPDATE commands SET state = CASE WHEN $2 = 'executed' THEN 'acked' ELSE 'failed' END,"
	 "  result = $2, relay = $3, detail = $4, acked_at = " SQL_TS("$5")
	 "  WHERE id = $1 AND state IN ('pending', 'sent', 'superseded') AND result IS NULL"
	 "  AND ($6::bigint IS NULL AND $7::bigint IS NULL OR EXISTS (SELECT 1 FROM meters m WHERE m.id = commands.meter_id"
	 "   AND ($6::bigint IS NULL OR m.gateway_id = $6) AND ($7::bigint IS NULL OR m.site_id = $7)))"
	 "  RETURNING account_id, relay, state),"
	 " a AS (UPDATE accounts SET supply = c.relay FROM c"
	 "  WHERE accounts.id = c.account_id AND c.relay IS NOT NULL AND $2 = 'executed')"
	 " SELECT state FROM c"},
	{"note_list", /* store_notes_list */
	 "SELECT id, coalesce(tenant_id, 0) AS tenant_id, kind, channel, recipient, body, state, attempts, "
	 SQL_US("created_at") " AS created_us, coalesce(" SQL_US("sent_at") ", 0) AS sent_us, last_error,"
	 " coalesce(delivery, '') AS delivery, delivery_code, coalesce(" SQL_US("delivered_at") ", 0) AS delivered_us,"
	 " coalesce(language, '') AS language, coalesce(provider, '') AS provider, coalesce(last_code, '') AS last_code"
	 " FROM notifications WHERE id > $1 AND ($3::text IS NULL OR state = $3) ORDER BY id LIMIT $2"},
	{"cmd_claim", /* store_outbox_claim: the oldest due command of each meter whose earlier ones are
			 sent, but none of a pull gateway's meters (they take theirs: cmd_pull); a meter's
			 gateway's url before its own gateway URL */
	 "UPDATE commands c SET next_attempt_at = " SQL_TS("$1") " + $2 * interval '1 microsecond',"
	 " attempts = c.attempts + 1 FROM meters m LEFT JOIN gateways g ON g.id = m.gateway_id"
	 " WHERE c.id IN (SELECT c2.id FROM commands c2 WHERE c2.state = 'pending'"
	 "  AND c2.next_attempt_at <= " SQL_TS("$1") " AND NOT EXISTS (SELECT 1 FROM commands c3"
	 "  WHERE c3.meter_id = c2.meter_id AND c3.state = 'pending' AND c3.id < c2.id)"
	 "  AND NOT EXISTS (SELECT 1 FROM meters m2 JOIN gateways g2 ON g2.id = m2.gateway_id"
	 "   WHERE m2.id = c2.meter_id AND g2.delivery = 'pull')"
	 "  ORDER BY c2.id LIMIT $3 FOR UPDATE SKIP LOCKED)"
	 " AND m.id = c.meter_id"
	 " RETURNING c.id, c.attempts, m.serial, c.action, c.reason, " SQL_US("c.created_at") " AS created_us,"
	 " coalesce(g.url, m.gateway, '') AS gateway, '' AS channel, '' AS recipient, '' AS body, '' AS payload,"
	 " 0::bigint AS tenant_id, '' AS kind"},
	{"cmd_pull", /* store_commands_pull: for each gateway $1[i], up to $2[i] of its meters' due
			commands, oldest first, each the oldest open one of its meter; marked sent with
			a lease and the gateway that took them. Those handed out $5 times and still not
			acked when the lease ends are failed. */
	 "WITH w AS (SELECT gw, lim FROM unnest($1::bigint[], $2::integer[]) AS w(gw, lim)),"
	 " due AS (SELECT c.id, w.lim, row_number() OVER (PARTITION BY w.gw ORDER BY c.id) AS rn"
	 "  FROM commands c JOIN meters m ON m.id = c.meter_id JOIN w ON w.gw = m.gateway_id"
	 "  WHERE " PULL_OPEN("c") " AND c.next_attempt_at <= " SQL_TS("$3")
	 "  AND NOT EXISTS (SELECT 1 FROM commands c3 WHERE c3.meter_id = c.meter_id AND c3.id < c.id"
	 "   AND " PULL_OPEN("c3") ")),"
	 " pick AS (SELECT c.id FROM commands c WHERE c.id IN (SELECT id FROM due WHERE rn <= lim)"
	 "  AND " PULL_OPEN("c") " AND c.next_attempt_at <= " SQL_TS("$3") " FOR UPDATE SKIP LOCKED),"
	 " up AS (UPDATE commands c SET state = 'sent', sent_at = " SQL_TS("$3") ", attempts = c.attempts + 1,"
	 "  next_attempt_at = " SQL_TS("$3") " + $4 * interval '1 microsecond', pulled_by = m.gateway_id"
	 "  FROM pick, meters m WHERE c.id = pick.id AND m.id = c.meter_id RETURNING c.*),"
	 " gone AS (UPDATE commands c SET state = 'failed', detail = 'not acknowledged after ' || c.attempts || ' deliveries'"
	 "  FROM meters m JOIN w ON w.gw = m.gateway_id WHERE c.meter_id = m.id AND c.state = 'sent'"
	 "  AND c.pulled_by IS NOT NULL AND c.attempts >= $5 AND c.next_attempt_at <= " SQL_TS("$3") ")"
	 " SELECT " COMMAND_COLS " FROM up c JOIN meters m ON m.id = c.meter_id ORDER BY m.gateway_id, c.id"},
	{"cmd_sent", /* store_outbox_sent */
	 "UPDATE commands SET state = 'sent', sent_at = " SQL_TS("$2") " WHERE id = $1 AND state = 'pending'"},
	{"cmd_retry", /* store_outbox_retry: attempts used up: failed */
	 "UPDATE commands SET next_attempt_at = " SQL_TS("$2") ","
	 " state = CASE WHEN attempts >= $3 THEN 'failed' ELSE state END,"
	 " detail = $4 WHERE id = $1 AND state = 'pending'"},
	{"note_claim", /* store_outbox_claim */
	 "UPDATE notifications n SET next_attempt_at = " SQL_TS("$1") " + $2 * interval '1 microsecond',"
	 " attempts = n.attempts + 1"
	 " WHERE n.id IN (SELECT id FROM notifications WHERE state = 'pending'"
	 "  AND next_attempt_at <= " SQL_TS("$1") " ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"
	 " RETURNING n.id, n.attempts, '' AS serial, '' AS action, '' AS reason, 0::bigint AS created_us,"
	 " '' AS gateway, n.channel, coalesce(n.recipient, '') AS recipient, n.body, n.payload::text AS payload,"
	 " coalesce(n.tenant_id, 0) AS tenant_id, n.kind"},
	{"note_route", /* store_note_route: the tenant's language, else the site's */
	 "SELECT coalesce(t.language, s.language) AS language,"
	 " coalesce(array_to_string(t.channels, ','), 'sms') AS channels,"
	 " coalesce(t.phone, '') AS phone, coalesce(t.wechat_openid, '') AS openid,"
	 " coalesce((SELECT r.number FROM receipts r WHERE r.ledger_entry_id = $3), '') AS receipt_no"
	 " FROM sites s LEFT JOIN tenants t ON t.id = $1 WHERE s.id = $2 AND ($1::bigint IS NULL OR t.id IS NOT NULL)"},
	{"note_lock_tenant", /* store_note_admit: one admission at a time per tenant (NO KEY: new
				notifications referencing the tenant are not held up) */
	 "SELECT id FROM tenants WHERE id = $1 FOR NO KEY UPDATE"},
	{"note_admit", /* store_note_admit: $7 window of duplicates (us), $5 per hour, $6 exempt kind */
	 "WITH seen AS (SELECT"
	 "  (SELECT count(*) FROM notifications WHERE tenant_id = $2 AND admitted_at IS NOT NULL AND id <> $1"
	 "   AND admitted_at > " SQL_TS("$8") " - interval '1 hour') AS hour,"
	 "  (SELECT count(*) FROM notifications WHERE tenant_id = $2 AND admitted_at IS NOT NULL AND id <> $1"
	 "   AND kind = $3 AND body = $4 AND admitted_at > " SQL_TS("$8") " - $7 * interval '1 microsecond') AS dup),"
	 " v AS (SELECT CASE WHEN n.admitted_at IS NOT NULL THEN ''"
	 "  WHEN seen.dup > 0 THEN 'the same message went to the tenant within the last minutes'"
	 "  WHEN seen.hour >= $5::bigint AND n.kind IS DISTINCT FROM $6 THEN 'the tenant had ' || $5::bigint || ' messages in the last hour'"
	 "  ELSE '' END AS why FROM notifications n, seen WHERE n.id = $1 AND n.state = 'pending')"
	 " UPDATE notifications n SET body = $4, language = $9,"
	 " admitted_at = CASE WHEN v.why = '' THEN coalesce(n.admitted_at, " SQL_TS("$8") ") END,"
	 " state = CASE WHEN v.why = '' THEN n.state ELSE 'suppressed' END,"
	 " last_error = CASE WHEN v.why = '' THEN n.last_error ELSE v.why END"
	 " FROM v WHERE n.id = $1 RETURNING v.why"},
	{"note_redact", /* store_note_redact */
	 "UPDATE notifications SET body = regexp_replace(body, '[0-9]{6}', '******', 'g'),"
	 " payload = CASE WHEN payload #> '{vars,code}' IS NULL THEN payload"
	 "  ELSE jsonb_set(payload, '{vars,code}', '\"******\"') END"
	 " WHERE id = $1 AND kind = 'login_code' AND state <> 'pending'"},
	{"note_sent_via", /* store_note_sent_via */
	 "UPDATE notifications SET state = 'sent', sent_at = " SQL_TS("$2") ", channel = coalesce($3, channel),"
	 " provider = coalesce($4, provider), provider_msg_id = $5, recipient = coalesce($6, recipient),"
	 " body = coalesce($7, body), language = coalesce($8, language)"
	 " WHERE id = $1 AND state = 'pending'"},
	{"note_dead_now", /* store_note_dead_now */
	 "UPDATE notifications SET state = 'dead', channel = coalesce($2, channel), provider = coalesce($3, provider),"
	 " last_code = $4, last_error = $5, body = coalesce($6, body), language = coalesce($7, language),"
	 " recipient = coalesce($8, recipient) WHERE id = $1 AND state = 'pending'"},
	{"note_retry_via", /* store_note_retry_via: attempts used up: dead */
	 "UPDATE notifications SET next_attempt_at = " SQL_TS("$2") ","
	 " state = CASE WHEN attempts >= $3 THEN 'dead' ELSE state END,"
	 " last_error = $4, last_code = $5, channel = coalesce($6, channel), provider = coalesce($7, provider)"
	 " WHERE id = $1 AND state = 'pending'"},
	{"note_sent", /* store_outbox_sent */
	 "UPDATE notifications SET state = 'sent', sent_at = " SQL_TS("$2") " WHERE id = $1 AND state = 'pending'"},
	{"note_retry", /* store_outbox_retry: attempts used up: dead */
	 "UPDATE notifications SET next_attempt_at = " SQL_TS("$2") ","
	 " state = CASE WHEN attempts >= $3 THEN 'dead' ELSE state END,"
	 " last_error = $4 WHERE id = $1 AND state = 'pending'"},
	{"attempt_log", /* store_outbox_attempt */
	 "INSERT INTO delivery_attempts (outbox, item_id, at, http_status, error, duration_ms)"
	 " VALUES ($1, $2, " SQL_TS("$3") ", $4, $5, $6)"},
	{0, 0},
};

void store_outbox_register(void) { db_register(outbox_stmts); }

static void text_elem(struct srv_buf *b, const char *s)
{
	srv_buf_elem(b);
	if (s)
		srv_buf_pg_quoted(b, s);
	else
		PUT_LIT(b, "NULL");
}

static void close_arrays(struct srv_buf *a, int n)
{
	for (int k = 0; k < n; k++)
		srv_buf_putc(&a[k], '}');
}

enum db_status store_commands_queue(PGconn *c, const struct cmd_order *orders, int n, int64_t now_us,
				    struct cmd_queued **out, int *nout)
{
	if (out)
		*out = NULL;
	if (nout)
		*nout = 0;
	if (n == 0)
		return DB_OK;
	struct srv_buf a[7] = {{0}};
	for (int i = 0; i < n; i++) {
		const struct cmd_order *o = &orders[i];
		srv_buf_elem(&a[0]);
		if (o->meter_id)
			srv_buf_i64(&a[0], o->meter_id);
		else
			PUT_LIT(&a[0], "NULL");
		srv_buf_elem(&a[1]);
		srv_buf_i64(&a[1], o->tenant_id);
		text_elem(&a[2], o->action);
		text_elem(&a[3], o->reason);
		text_elem(&a[4], o->origin);
		srv_buf_elem(&a[5]);
		if (o->key_id)
			srv_buf_i64(&a[5], o->key_id);
		else
			PUT_LIT(&a[5], "NULL");
		srv_buf_elem(&a[6]);
		srv_buf_puts(&a[6], o->spare_protected ? "t" : "f");
	}
	close_arrays(a, 7);
	struct db_params p = {0};
	for (int k = 0; k < 7; k++)
		db_p_take(&p, a[k].p);
	db_p_i64(&p, now_us);
	PGresult *r;
	struct cmd_queued q;
	struct db_col spec[] = {DB_COL("id", DB_I64, &q.id), DB_COL("meter_id", DB_I64, &q.meter_id), {0}};
	enum db_status st = db_exec_p(c, "outbox_commands", &p, &r);
	if (st == DB_OK)
		st = db_cols_bind(r, spec, "outbox_commands");
	if (st == DB_OK && out) {
		int rows = PQntuples(r);
		*out = calloc((size_t)rows + 1, sizeof **out);
		if (!*out)
			abort();
		for (int i = 0; i < rows; i++) {
			db_cols_read(r, i, spec);
			(*out)[i] = q;
		}
	}
	if (st == DB_OK && nout)
		*nout = PQntuples(r);
	PQclear(r);
	return st;
}

enum db_status store_notes_queue(PGconn *c, const struct note_order *notes, int n, int64_t now_us)
{
	if (n == 0)
		return DB_OK;
	struct srv_buf a[6] = {{0}};
	for (int i = 0; i < n; i++) {
		const struct note_order *o = &notes[i];
		srv_buf_elem(&a[0]);
		srv_buf_i64(&a[0], o->tenant_id);
		text_elem(&a[1], o->kind);
		text_elem(&a[2], o->channel);
		text_elem(&a[3], o->recipient ? o->recipient : "");
		text_elem(&a[4], o->body);
		text_elem(&a[5], o->payload_json ? o->payload_json : "{}");
	}
	close_arrays(a, 6);
	struct db_params p = {0};
	for (int k = 0; k < 6; k++)
		db_p_take(&p, a[k].p);
	db_p_i64(&p, now_us);
	return db_exec_void(c, "outbox_notes", &p);
}

enum db_status store_commands_follow_account(PGconn *c, int64_t meter_id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, meter_id);
	int64_t tenant = 0;
	struct db_col spec[] = {DB_COL("tenant_id", DB_I64, &tenant), {0}};
	enum db_status st = db_exec_row(c, "outbox_follow_check", &p, spec, NULL);
	if (st != DB_OK || !tenant)
		return st;
	struct cmd_order o = {meter_id, tenant, "cut_off", "balance_exhausted", "auto", 0, true};
	return store_commands_queue(c, &o, 1, now_us, NULL, NULL);
}

#define COMMAND_SPEC(x)                                                                          \
	{DB_COL("id", DB_I64, &(x)->id), DB_COL("meter_id", DB_I64, &(x)->meter_id),                \
	 DB_COL_TEXT("serial", (x)->serial), DB_COL_TEXT("action", (x)->action),                     \
	 DB_COL_TEXT("reason", (x)->reason), DB_COL_TEXT("state", (x)->state),                       \
	 DB_COL("attempts", DB_I64, &(x)->attempts), DB_COL("created_us", DB_I64, &(x)->created_us), \
	 DB_COL("acked_us", DB_I64, &(x)->acked_us), DB_COL_TEXT("origin", (x)->origin),             \
	 DB_COL_TEXT("result", (x)->result), DB_COL_TEXT("relay", (x)->relay),                        \
	 DB_COL("gateway_id", DB_I64, &(x)->gateway_id), DB_COL("site_id", DB_I64, &(x)->site_id), {0}}

enum db_status store_commands_list(PGconn *c, int64_t after, int64_t limit, const char *state,
				   struct command_row **out, int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_text(&p, state);
	struct command_row x;
	struct db_col spec[] = COMMAND_SPEC(&x);
	return db_exec_rows(c, "command_list", &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_command_get(PGconn *c, int64_t id, struct command_row *x)
{
	memset(x, 0, sizeof *x);
	struct db_params p = {0};
	db_p_i64(&p, id);
	struct db_col spec[] = COMMAND_SPEC(x);
	return db_exec_row(c, "command_get", &p, spec, NULL);
}

enum db_status store_command_ack(PGconn *c, int64_t id, const char *result, const char *relay, const char *detail,
				 int64_t gateway_id, int64_t site_id, int64_t now_us, bool *acked)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, result);
	db_p_text(&p, relay);
	db_p_text(&p, detail);
	db_p_i64(&p, now_us);
	db_p_id(&p, gateway_id);
	db_p_id(&p, site_id);
	char state[12];
	struct db_col spec[] = {DB_COL_TEXT("state", state), {0}};
	return db_exec_row(c, "command_ack", &p, spec, acked);
}

enum db_status store_commands_pull(PGconn *c, const int64_t *gateway_ids, const int64_t *limits, int n,
				   int64_t now_us, int64_t lease_us, int max_attempts, struct command_row **out,
				   int *nout)
{
	*out = NULL;
	*nout = 0;
	struct db_params p = {0};
	db_p_i64_array(&p, gateway_ids, n);
	db_p_i64_array(&p, limits, n);
	db_p_i64(&p, now_us);
	db_p_i64(&p, lease_us);
	db_p_i64(&p, max_attempts);
	struct command_row x;
	struct db_col spec[] = COMMAND_SPEC(&x);
	return db_exec_rows(c, "cmd_pull", &p, spec, &x, sizeof x, (void **)out, nout);
}

enum db_status store_notes_list(PGconn *c, int64_t after, int64_t limit, const char *state, struct note_row **out,
				int *n)
{
	*out = NULL;
	*n = 0;
	struct db_params p = {0};
	db_p_i64(&p, after);
	db_p_i64(&p, limit);
	db_p_text(&p, state);
	struct note_row x;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x.id),
		DB_COL("tenant_id", DB_I64, &x.tenant_id),
		DB_COL_TEXT("kind", x.kind),
		DB_COL_TEXT("channel", x.channel),
		DB_COL("recipient", DB_TEXT_NEW, &x.recipient),
		DB_COL("body", DB_TEXT_NEW, &x.body),
		DB_COL_TEXT("state", x.state),
		DB_COL("attempts", DB_I64, &x.attempts),
		DB_COL("created_us", DB_I64, &x.created_us),
		DB_COL("sent_us", DB_I64, &x.sent_us),
		DB_COL("last_error", DB_TEXT_NEW, &x.last_error),
		DB_COL_TEXT("delivery", x.delivery),
		DB_COL("delivery_code", DB_TEXT_NEW, &x.delivery_code),
		DB_COL("delivered_us", DB_I64, &x.delivered_us),
		DB_COL_TEXT("language", x.language),
		DB_COL_TEXT("provider", x.provider),
		DB_COL_TEXT("last_code", x.last_code),
		{0},
	};
	return db_exec_rows(c, "note_list", &p, spec, &x, sizeof x, (void **)out, n);
}

void store_note_rows_free(struct note_row *v, int n)
{
	for (int i = 0; v && i < n; i++) {
		free(v[i].recipient);
		free(v[i].body);
		free(v[i].last_error);
		free(v[i].delivery_code);
	}
	free(v);
}

/* The statements of each outbox: claim, sent, retry, and its name in delivery_attempts. */
static const struct {
	const char *claim, *sent, *retry, *name;
} box[2] = {{"cmd_claim", "cmd_sent", "cmd_retry", "commands"}, {"note_claim", "note_sent", "note_retry", "notifications"}};

void store_outbox_items_free(struct outbox_item *v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i].reason);
		free(v[i].gateway);
		free(v[i].recipient);
		free(v[i].body);
		free(v[i].payload_json);
	}
	free(v);
}

enum db_status store_outbox_claim(PGconn *c, enum outbox which, int64_t now_us, int64_t lease_us, int limit,
				  struct outbox_item **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, now_us);
	db_p_i64(&p, lease_us);
	db_p_i64(&p, limit);
	struct outbox_item x;
	struct db_col spec[] = {
		DB_COL("id", DB_I64, &x.id),
		DB_COL("attempts", DB_INT, &x.attempts),
		DB_COL_TEXT("serial", x.serial),
		DB_COL_TEXT("action", x.action),
		DB_COL("reason", DB_TEXT_NEW, &x.reason),
		DB_COL("created_us", DB_I64, &x.created_us),
		DB_COL("gateway", DB_TEXT_NEW, &x.gateway),
		DB_COL_TEXT("channel", x.channel),
		DB_COL("recipient", DB_TEXT_NEW, &x.recipient),
		DB_COL("body", DB_TEXT_NEW, &x.body),
		DB_COL("payload", DB_TEXT_NEW, &x.payload_json),
		DB_COL("tenant_id", DB_I64, &x.tenant_id),
		DB_COL_TEXT("kind", x.kind),
		{0},
	};
	return db_exec_rows(c, box[which].claim, &p, spec, &x, sizeof x, (void **)out, n);
}

enum db_status store_outbox_sent(PGconn *c, enum outbox which, int64_t id, int64_t now_us)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	return db_exec_void(c, box[which].sent, &p);
}

enum db_status store_outbox_retry(PGconn *c, enum outbox which, int64_t id, int64_t next_us, int max_attempts,
				  const char *error)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, next_us);
	db_p_i64(&p, max_attempts);
	db_p_text(&p, error);
	return db_exec_void(c, box[which].retry, &p);
}

enum db_status store_outbox_attempt(PGconn *c, enum outbox which, int64_t id, int64_t now_us, long http_status,
				    const char *error, int64_t ms)
{
	struct db_params p = {0};
	db_p_text(&p, box[which].name);
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	db_p_i64_if(&p, http_status != 0, http_status);
	db_p_text(&p, http_status ? NULL : error);
	db_p_i64(&p, ms);
	return db_exec_void(c, "attempt_log", &p);
}

enum db_status store_note_route(PGconn *c, int64_t tenant_id, int64_t site_id, int64_t entry_id,
				struct note_route *out)
{
	memset(out, 0, sizeof *out);
	struct db_params p = {0};
	db_p_id(&p, tenant_id);
	db_p_i64(&p, site_id);
	db_p_i64(&p, entry_id);
	struct db_col spec[] = {DB_COL_TEXT("language", out->language), DB_COL_TEXT("channels", out->channels),
				DB_COL_TEXT("phone", out->phone), DB_COL_TEXT("openid", out->openid),
				DB_COL_TEXT("receipt_no", out->receipt_no), {0}};
	return db_exec_row(c, "note_route", &p, spec, &out->found);
}

struct admit_tx {
	int64_t id, tenant_id, dup_us, now_us;
	const char *kind, *body, *language, *exempt;
	int per_hour;
	bool admitted;
	char why[200];
};

static enum db_status admit_tx(PGconn *c, void *arg)
{
	struct admit_tx *t = arg;
	struct db_params p = {0};
	db_p_i64(&p, t->tenant_id);
	int64_t got = 0;
	bool found;
	struct db_col lock[] = {DB_COL("id", DB_I64, &got), {0}};
	enum db_status st = db_exec_row(c, "note_lock_tenant", &p, lock, &found);
	if (st != DB_OK)
		return st;
	struct db_params q = {0};
	db_p_i64(&q, t->id);
	db_p_i64(&q, t->tenant_id);
	db_p_text(&q, t->kind);
	db_p_text(&q, t->body);
	db_p_i64(&q, t->per_hour);
	db_p_text(&q, t->exempt);
	db_p_i64(&q, t->dup_us);
	db_p_i64(&q, t->now_us);
	db_p_text(&q, t->language);
	struct db_col spec[] = {DB_COL_TEXT("why", t->why), {0}};
	st = db_exec_row(c, "note_admit", &q, spec, &found);
	t->admitted = st == DB_OK && found && !t->why[0];
	if (st == DB_OK && !found)
		snprintf(t->why, sizeof t->why, "no longer pending");
	return st;
}

enum db_status store_note_admit(int64_t id, int64_t tenant_id, const char *kind, const char *body,
				const char *language, int per_hour, const char *exempt_kind, int64_t dup_window_us,
				int64_t now_us, bool *admitted, char *why, size_t whyn)
{
	struct admit_tx t = {id, tenant_id, dup_window_us, now_us, kind, body, language, exempt_kind, per_hour, false, ""};
	enum db_status st = db_run_tx(admit_tx, &t);
	*admitted = st == DB_OK && t.admitted;
	if (why)
		snprintf(why, whyn, "%s", t.why);
	return st;
}

enum db_status store_note_sent_via(PGconn *c, int64_t id, int64_t now_us, const struct note_result *r)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	db_p_text(&p, r->channel);
	db_p_text(&p, r->provider);
	db_p_text(&p, r->provider_msg_id && *r->provider_msg_id ? r->provider_msg_id : NULL);
	db_p_text(&p, r->recipient);
	db_p_text(&p, r->body);
	db_p_text(&p, r->language);
	return db_exec_void(c, "note_sent_via", &p);
}

enum db_status store_note_dead_now(PGconn *c, int64_t id, const struct note_result *r)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_text(&p, r->channel);
	db_p_text(&p, r->provider);
	db_p_text(&p, r->code && *r->code ? r->code : NULL);
	db_p_text(&p, r->error);
	db_p_text(&p, r->body);
	db_p_text(&p, r->language);
	db_p_text(&p, r->recipient);
	return db_exec_void(c, "note_dead_now", &p);
}

enum db_status store_note_retry_via(PGconn *c, int64_t id, int64_t next_us, int max_attempts,
				    const struct note_result *r)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, next_us);
	db_p_i64(&p, max_attempts);
	db_p_text(&p, r->error);
	db_p_text(&p, r->code && *r->code ? r->code : NULL);
	db_p_text(&p, r->channel);
	db_p_text(&p, r->provider);
	return db_exec_void(c, "note_retry_via", &p);
}

enum db_status store_note_redact(PGconn *c, int64_t id)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	return db_exec_void(c, "note_redact", &p);
}
