/* accounts.c: a tenant's prepaid account, its ledger, cashier top-ups and adjustments. */
#include "api/api.h"
#include "ops/ledger.h"
#include "core/buf.h"
#include "core/clock.h"
#include "api/queue.h"

#include <stdlib.h>
#include <string.h>

static const struct db_stmt account_stmts[] = {
	{"account_get_many", /* read_batch: accounts of an array of tenants, each with its
			       credit policy's limits, in one query */
	 "SELECT a.tenant_id, a.balance_minor, a.currency, a.state,"
	 " array_to_json(coalesce(p.warn_levels_minor, '{}'))::text,"
	 " -coalesce(p.overdraft_minor, 0), " SQL_US("a.grace_until") ", a.supply"
	 " FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 " LEFT JOIN credit_policies p ON p.site_id = t.site_id AND p.rating = t.credit_rating"
	 " WHERE a.tenant_id = ANY($1::bigint[])"
	 " AND t.id = ANY($1::bigint[])"}, /* said twice: both tables by index, not one seq scan */
	{"ledger_list", /* api_ledger_list */
	 "SELECT e.id, " SQL_US("e.at") ", e.kind, e.amount_minor, e.balance_after_minor, e.ref::text"
	 " FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
	 " WHERE e.id > $1 AND a.tenant_id = $3 ORDER BY e.id LIMIT $2"},
	{"tenant_exists", /* api_ledger_list */
	 "SELECT 1 FROM tenants WHERE id = $1"},
	{0, 0},
};

void api_register_statements_accounts(void);
void api_register_statements_accounts(void) { db_register(account_stmts); }

/* The account reply from row i of account_get_many, written as text: this
 * is the busiest reply, and building it as a jansson tree and dumping it cost more than
 * the query. Key order and values are what json_pack would give. */
static void account_text(const PGresult *r, int i, struct srv_buf *b)
{
	PUT_LIT(b, "{\"tenant_id\":\"" ID_TENANT "_");
	srv_buf_puts(b, PQgetvalue(r, i, 0));
	PUT_LIT(b, "\",\"balance_minor\":");
	srv_buf_puts(b, PQgetvalue(r, i, 1));
	PUT_LIT(b, ",\"currency\":");
	srv_buf_json_str(b, PQgetvalue(r, i, 2));
	PUT_LIT(b, ",\"state\":");
	srv_buf_json_str(b, PQgetvalue(r, i, 3));
	PUT_LIT(b, ",\"warn_levels_minor\":"); /* PostgreSQL's array_to_json: a JSON array */
	srv_buf_puts(b, PQgetvalue(r, i, 4));
	PUT_LIT(b, ",\"cut_threshold_minor\":");
	srv_buf_puts(b, PQgetvalue(r, i, 5));
	PUT_LIT(b, ",\"grace_until\":");
	if (PQgetisnull(r, i, 6)) {
		PUT_LIT(b, "null");
	} else {
		char at[40];
		srv_buf_json_str(b, srv_time_format(db_int64(r, i, 6), at, sizeof at));
	}
	PUT_LIT(b, ",\"supply\":");
	srv_buf_json_str(b, PQgetvalue(r, i, 7));
	srv_buf_putc(b, '}');
}

/* Answer rq from row i of r, or 404 when i < 0 (no such tenant). */
static void account_reply(struct req *rq, const PGresult *r, int i)
{
	if (i >= 0) {
		struct srv_buf b = {0};
		account_text(r, i, &b);
		api_reply_buf(rq, 200, "application/json", &b);
	} else
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
}

/* Account reads are the busiest GET: queued, and a batch of up to MAX_READS is answered
 * by one query over the array of their tenants, so the database parses, plans and runs
 * one statement where it would run MAX_READS. Each read still sees committed data. */
#define MAX_READS 64

struct read_job {
	struct srv_job q; /* first: the queue links jobs through it */
	struct req *rq;
	int64_t tenant;
};

static struct srv_queue reads = SRV_QUEUE_INIT;

static void read_batch(struct srv_job *batch)
{
	struct srv_buf ids = {0};
	for (struct read_job *j = (struct read_job *)batch; j; j = (struct read_job *)j->q.next) {
		srv_buf_elem(&ids);
		srv_buf_i64(&ids, j->tenant);
	}
	srv_buf_putc(&ids, '}');
	PGconn *c = db_conn();
	PGresult *r = NULL;
	enum db_status st = DB_GONE;
	if (c) {
		const char *p[1] = {ids.p};
		st = db_exec(c, "account_get_many", 1, p, &r);
		if (st == DB_GONE)
			db_conn_reset();
	}
	int n = st == DB_OK ? PQntuples(r) : 0;
	int64_t row_tenant[MAX_READS];
	for (int i = 0; i < n && i < MAX_READS; i++)
		row_tenant[i] = db_int64(r, i, 0);
	for (struct read_job *j = (struct read_job *)batch, *next; j; j = next) {
		next = (struct read_job *)j->q.next;
		if (st == DB_OK) {
			int row = -1;
			for (int i = 0; i < n && i < MAX_READS && row < 0; i++)
				if (row_tenant[i] == j->tenant)
					row = i;
			account_reply(j->rq, r, row);
		} else {
			api_tx_failed(j->rq, st);
		}
		api_complete(j->rq);
		free(j);
	}
	PQclear(r);
	srv_buf_free(&ids);
}

void api_accounts_start(unsigned workers) { srv_queue_start(&reads, workers, MAX_READS, read_batch); }

void api_accounts_stop(void) { srv_queue_stop(&reads); }

void api_account_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id || api_tenant_scope(rq, id))
		return;
	struct read_job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->rq = rq;
	j->q.weight = 1;
	j->tenant = id;
	if (srv_queue_push(&reads, &j->q, api_defer_hook, rq))
		return; /* a worker answers */
	free(j);
	/* No workers (stopping, or not serving): read here. */
	char ids[I64_BUF + 2];
	snprintf(ids, sizeof ids, "{%lld}", (long long)id);
	const char *p[1] = {ids};
	PGresult *r = api_read(rq, "account_get_many", 1, p);
	if (r)
		account_reply(rq, r, PQntuples(r) == 1 ? 0 : -1);
	PQclear(r);
}

static json_t *entry_json(const PGresult *r, int i)
{
	json_t *ref = json_loads(PQgetvalue(r, i, 5), 0, NULL);
	return json_pack("{s:o, s:o, s:s, s:o, s:o, s:o}", "id", api_id_col(ID_LEDGER, r, i, 0),
			 "at", api_time_col(r, i, 1), "kind", PQgetvalue(r, i, 2), "amount_minor",
			 api_int_col(r, i, 3), "balance_after_minor", api_int_col(r, i, 4), "ref",
			 ref ? ref : json_object());
}

void api_ledger_list(struct req *rq)
{
	char ids[I64_BUF];
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id || api_tenant_scope(rq, id))
		return;
	const char *p[1] = {api_i64(ids, id)};
	PGresult *r = api_read(rq, "tenant_exists", 1, p);
	if (!r)
		return;
	int exists = PQntuples(r) == 1;
	PQclear(r);
	if (!exists) {
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
		return;
	}
	api_list(rq, ID_LEDGER, "ledger_list", entry_json, 1, p);
}

/* A money movement requested through the API: top-up or adjustment. */
struct post_tx {
	struct req *rq;
	int64_t tenant_id;
	const char *kind;
	int64_t amount;
	json_t *ref; /* borrowed */
};

static enum db_status post_tx(PGconn *c, void *arg)
{
	struct post_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	char *ref = json_dumps(t->ref, JSON_COMPACT);
	struct bill_entry e;
	enum bill_post_result res;
	st = bill_post(c, t->tenant_id, t->kind, t->amount, ref, rq->request_id,
		       srv_clock_now_us(), &e, &res);
	free(ref);
	if (st != DB_OK)
		return st;
	if (res == POST_NO_ACCOUNT) {
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
		return DB_ABORT;
	}
	if (res == POST_OVERFLOW) {
		api_error(rq, E_BALANCE_OVERFLOW, NULL, "the balance would overflow");
		return DB_ABORT;
	}
	char at[40];
	api_reply(rq, 201,
		  json_pack("{s:o, s:s, s:s, s:I, s:I, s:O}", "id", api_id_json(ID_LEDGER, e.id), "at",
			    srv_time_format(e.at_us, at, sizeof at), "kind", t->kind,
			    "amount_minor", (json_int_t)e.amount_minor,
			    "balance_after_minor", (json_int_t)e.balance_after_minor, "ref", t->ref));
	st = api_audit(c, rq, t->kind,
		       json_pack("{s:o, s:o, s:I}", "tenant_id", api_id_json(ID_TENANT, t->tenant_id),
				 "ledger_id", api_id_json(ID_LEDGER, e.id), "amount_minor",
				 (json_int_t)t->amount));
	if (st != DB_OK)
		return st;
	return api_idem_finish(c, rq);
}

static void run_post(struct req *rq, const char *kind, json_t *ref)
{
	struct post_tx t = {rq, api_arg_id(rq, 0, ID_TENANT, "tenant"), kind,
			    api_body_int(rq, "amount_minor"), ref};
	if (t.tenant_id)
		api_tx_failed(rq, db_run_tx(post_tx, &t));
	json_decref(ref);
}

/* Amounts are bounded far inside int64 so that no sum of a realistic ledger overflows. */
#define MAX_AMOUNT INT64_C(1000000000000000)

void api_topups_create(struct req *rq)
{
	static const char *const channels[] = {"cash", "bank", "card", NULL};
	static const struct field spec[] = {
		{"amount_minor", FK_INT, F_REQ, 1, MAX_AMOUNT, 0, 0},
		{"channel", FK_ENUM, F_REQ, 0, 0, channels, 0},
		{"reference", FK_TEXT, 0, 0, 200, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	json_t *ref = json_pack("{s:s}", "channel", api_body_str(rq, "channel"));
	if (api_body_has(rq, "reference"))
		json_object_set(ref, "reference", json_object_get(rq->json, "reference"));
	run_post(rq, "topup", ref);
}

void api_adjustments_create(struct req *rq)
{
	static const struct field spec[] = {
		{"amount_minor", FK_INT, F_REQ, -MAX_AMOUNT, MAX_AMOUNT, 0, 0},
		{"reason", FK_TEXT, F_REQ, 0, 500, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	if (api_body_int(rq, "amount_minor") == 0) {
		api_field_error(rq, "amount_minor", "an adjustment of zero changes nothing");
		return;
	}
	run_post(rq, "adjustment", json_pack("{s:s}", "reason", api_body_str(rq, "reason")));
}
