/* accounts.c: a tenant's prepaid account, its ledger, cashier top-ups and adjustments. */
#include "api/api.h"
#include "billing/ledger.h"
#include "server/clock.h"
#include "server/queue.h"

#include <stdlib.h>
#include <string.h>

static const struct db_stmt account_stmts[] = {
	{"account_get", /* api_account_get: the account with its credit policy's limits */
	 "SELECT a.tenant_id, a.balance_minor, a.currency, a.state,"
	 " array_to_json(coalesce(p.warn_levels_minor, '{}'))::text,"
	 " -coalesce(p.overdraft_minor, 0), " SQL_US("a.grace_until") ", a.supply"
	 " FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 " LEFT JOIN credit_policies p ON p.site_id = t.site_id AND p.rating = t.credit_rating"
	 " WHERE a.tenant_id = $1"},
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

/* The account reply from a row of account_get. */
static json_t *account_json(const PGresult *r)
{
	json_t *levels = json_loads(PQgetvalue(r, 0, 4), 0, NULL);
	return json_pack("{s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:s}", "tenant_id",
			 api_id_col(ID_TENANT, r, 0, 0), "balance_minor", api_int_col(r, 0, 1),
			 "currency", PQgetvalue(r, 0, 2), "state", PQgetvalue(r, 0, 3),
			 "warn_levels_minor", levels ? levels : json_array(), "cut_threshold_minor",
			 api_int_col(r, 0, 5), "grace_until", api_time_col(r, 0, 6), "supply",
			 PQgetvalue(r, 0, 7));
}

static void account_reply(struct req *rq, const PGresult *r)
{
	if (PQntuples(r) == 1)
		api_reply(rq, 200, account_json(r));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
}

/* Account reads are the busiest GET: queued, and answered in batches of up to MAX_READS
 * sent in one round trip (libpq pipeline mode), so the database sees fewer wakeups. */
#define MAX_READS 64

struct read_job {
	struct srv_job q; /* first: the queue links jobs through it */
	struct req *rq;
	char tenant[I64_BUF];
};

static struct srv_queue reads = SRV_QUEUE_INIT;

static void read_batch(struct srv_job *batch)
{
	PGconn *c = db_conn();
	struct read_job *j;
	int failed = !c || !PQenterPipelineMode(c);
	for (j = (struct read_job *)batch; j && !failed; j = (struct read_job *)j->q.next) {
		const char *p[1] = {j->tenant};
		failed = !PQsendQueryPrepared(c, "account_get", 1, p, NULL, NULL, 0);
	}
	if (!failed)
		failed = !PQpipelineSync(c);
	for (j = (struct read_job *)batch; j; j = (struct read_job *)j->q.next) {
		PGresult *r = failed ? NULL : PQgetResult(c);
		enum db_status st = failed ? DB_GONE : db_classify(c, r, "account_get");
		if (st == DB_OK)
			account_reply(j->rq, r);
		else
			api_tx_failed(j->rq, st);
		PQclear(r);
		if (!failed)
			PQclear(PQgetResult(c)); /* the NULL that ends this query's results */
		failed |= st == DB_GONE;
	}
	if (!failed) {
		PGresult *sync = PQgetResult(c); /* PGRES_PIPELINE_SYNC */
		failed = PQresultStatus(sync) != PGRES_PIPELINE_SYNC || !PQexitPipelineMode(c);
		PQclear(sync);
	}
	if (failed && c)
		db_conn_reset(); /* whatever state the pipeline was left in, start afresh */
	for (j = (struct read_job *)batch; j;) {
		struct read_job *next = (struct read_job *)j->q.next;
		api_complete(j->rq);
		free(j);
		j = next;
	}
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
	api_i64(j->tenant, id);
	if (srv_queue_push(&reads, &j->q, api_defer_hook, rq))
		return; /* a worker answers */
	/* No workers (stopping, or not serving): read here. */
	const char *p[1] = {j->tenant};
	PGresult *r = api_read(rq, "account_get", 1, p);
	if (r)
		account_reply(rq, r);
	PQclear(r);
	free(j);
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
