/* accounts.c: a tenant's prepaid account, its ledger, cashier top-ups and adjustments. */
#include "api/api.h"
#include "ops/ledger.h"
#include "ops/receipt.h"
#include "core/buf.h"
#include "core/clock.h"
#include "api/queue.h"
#include "store/accounts.h"
#include "store/ledger.h"
#include "store/tenants.h"

#include <stdlib.h>
#include <string.h>

/* The account reply, written as text: this is the busiest reply, and building it as a
 * jansson tree and dumping it cost more than the query. Key order and values are what
 * json_pack would give. */
static void account_text(const struct account_view *v, struct srv_buf *b)
{
	PUT_LIT(b, "{\"tenant_id\":\"" ID_TENANT "_");
	srv_buf_i64(b, v->tenant_id);
	PUT_LIT(b, "\",\"balance_minor\":");
	srv_buf_i64(b, v->balance_minor);
	PUT_LIT(b, ",\"currency\":");
	srv_buf_json_str(b, v->currency);
	PUT_LIT(b, ",\"state\":");
	srv_buf_json_str(b, v->state);
	PUT_LIT(b, ",\"warn_levels_minor\":"); /* PostgreSQL's array_to_json: a JSON array */
	srv_buf_puts(b, v->levels_json);
	PUT_LIT(b, ",\"cut_threshold_minor\":");
	srv_buf_i64(b, v->cut_threshold_minor);
	PUT_LIT(b, ",\"grace_until\":");
	if (!v->grace_until_us) {
		PUT_LIT(b, "null");
	} else {
		char at[40];
		srv_buf_json_str(b, srv_time_format(v->grace_until_us, at, sizeof at));
	}
	PUT_LIT(b, ",\"supply\":");
	srv_buf_json_str(b, v->supply);
	/* a tenant that moved out: its account is closed to new money, a negative balance arrears */
	PUT_LIT(b, ",\"closed_at\":");
	if (!v->closed_us) {
		PUT_LIT(b, "null");
	} else {
		char at[40];
		srv_buf_json_str(b, srv_time_format(v->closed_us, at, sizeof at));
	}
	PUT_LIT(b, ",\"arrears_minor\":");
	srv_buf_i64(b, v->closed_us && v->balance_minor < 0 ? -v->balance_minor : 0);
	srv_buf_putc(b, '}');
}

/* Answer rq with v, or 404 when v is NULL (no such tenant). */
static void account_reply(struct req *rq, const struct account_view *v)
{
	if (v) {
		struct srv_buf b = {0};
		account_text(v, &b);
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
	int64_t tenants[MAX_READS];
	struct account_view views[MAX_READS];
	int n = 0, found = 0;
	for (struct read_job *j = (struct read_job *)batch; j && n < MAX_READS; j = (struct read_job *)j->q.next)
		tenants[n++] = j->tenant;
	PGconn *c = db_conn();
	enum db_status st = DB_GONE;
	if (c) {
		st = store_account_views(c, tenants, n, views, &found);
		if (st == DB_GONE)
			db_conn_reset();
	}
	for (struct read_job *j = (struct read_job *)batch, *next; j; j = next) {
		next = (struct read_job *)j->q.next;
		if (st == DB_OK) {
			const struct account_view *v = NULL;
			for (int i = 0; i < found && !v; i++)
				if (views[i].tenant_id == j->tenant)
					v = &views[i];
			account_reply(j->rq, v);
		} else {
			api_tx_failed(j->rq, st);
		}
		api_complete(j->rq);
		free(j);
	}
}

void api_accounts_start(unsigned workers) { srv_queue_start(&reads, workers, MAX_READS, read_batch); }
void api_accounts_queue(int *jobs)
{
	int w;
	srv_queue_depth(&reads, jobs, &w);
}

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
	PGconn *c = api_conn(rq);
	struct account_view v;
	int found;
	if (c && !api_read_failed(rq, store_account_views(c, &id, 1, &v, &found)))
		account_reply(rq, found ? &v : NULL);
}

static json_t *entry_json(const struct ledger_entry *e)
{
	json_t *ref = e->ref_json ? json_loads(e->ref_json, 0, NULL) : NULL;
	return json_pack("{s:o, s:o, s:s, s:I, s:I, s:o}", "id", api_id_json(ID_LEDGER, e->id), "at",
			 api_time_json(e->at_us), "kind", e->kind, "amount_minor", (json_int_t)e->amount_minor,
			 "balance_after_minor", (json_int_t)e->balance_after_minor, "ref", ref ? ref : json_object());
}

void api_ledger_list(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant"), limit, after;
	if (!id || api_tenant_scope(rq, id) || api_page(rq, ID_LEDGER, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	bool exists;
	if (api_read_failed(rq, store_tenant_exists(c, id, &exists)))
		return;
	if (!exists) {
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
		return;
	}
	struct ledger_entry *v;
	int n;
	if (api_read_failed(rq, store_ledger_of_tenant(c, id, after, limit + 1, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, entry_json(&v[i]));
	store_ledger_entries_free(v, n);
	api_reply(rq, 200, api_page_reply(items, limit));
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
	if (res == POST_CLOSED) {
		api_error(rq, E_ACCOUNT_CLOSED, NULL, "tenant %s moved out: its account takes no new money", rq->args[0]);
		return DB_ABORT;
	}
	if (res == POST_OVERFLOW) {
		api_error(rq, E_BALANCE_OVERFLOW, NULL, "the balance would overflow");
		return DB_ABORT;
	}
	char at[40];
	json_t *reply = json_pack("{s:o, s:s, s:s, s:I, s:I, s:O}", "id", api_id_json(ID_LEDGER, e.id), "at",
				  srv_time_format(e.at_us, at, sizeof at), "kind", t->kind, "amount_minor",
				  (json_int_t)e.amount_minor, "balance_after_minor", (json_int_t)e.balance_after_minor,
				  "ref", t->ref);
	if (!strcmp(t->kind, "topup")) { /* money in at the cashier: its receipt, in this transaction */
		json_t *ch = json_object_get(t->ref, "channel"), *rf = json_object_get(t->ref, "reference");
		struct receipt_req r = {RCPT_TOPUP, t->tenant_id, &e, json_string_value(ch), NULL,
					json_string_value(rf), 0, 0, e.at_us};
		struct receipt_issued ri;
		if ((st = op_receipt_issue(c, &r, &ri)) != DB_OK) {
			json_decref(reply);
			return st;
		}
		json_object_set_new(reply, "receipt",
				    json_pack("{s:o, s:s}", "id", api_id_json(ID_RECEIPT, ri.id), "number", ri.number));
	}
	api_reply(rq, 201, reply);
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
