/* move_out.c: a tenant moves out (move_out.h). The final readings go through bill_ingest as
 * any batch does; the pool shares through ops/allocation.c's op_alloc_share; the provider
 * refunds through ops/refund.h's op_refund_request (sent by the refund worker); the final
 * statement is ops/report.c's, stored as the month close stores its statements. */
#include "ops/move_out.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/report_doc.h"
#include "ops/allocation.h"
#include "ops/ingest.h"
#include "ops/receipt.h"
#include "ops/ledger.h"
#include "ops/refund.h"
#include "ops/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mo_settlement_names[] = {"refund", "cash", "carry", NULL};

/* How far back each provider takes a refund through its API: WeChat Pay 365 days after the
 * payment ("交易时间超过一年的订单无法提交退款"); Alipay the contract's window, 12 months by
 * default; Stripe has no hard limit, but a card refund after about 180 days may fail, so
 * older ones are paid in cash. */
#define DAY_US (INT64_C(86400) * 1000000)
#define WECHAT_WINDOW_US (365 * DAY_US)
#define ALIPAY_WINDOW_US (365 * DAY_US)
#define STRIPE_WINDOW_US (180 * DAY_US)

void op_moveout_result_free(struct op_moveout_result *r)
{
	if (!r)
		return;
	store_moveout_free(&r->mo);
	free(r->refunds);
	r->refunds = NULL;
	r->nrefunds = 0;
}

/* The refunds a move-out asked for, as they stand. */
static enum db_status load_refunds(PGconn *c, int64_t tenant_id, struct op_moveout_result *out)
{
	struct refund *all = NULL;
	int n = 0;
	enum db_status st = store_refunds_list(c, tenant_id, 0, NULL, 0, 1000, &all, &n);
	if (st != DB_OK)
		return st;
	out->refunds = calloc((size_t)n + 1, sizeof *out->refunds);
	if (!out->refunds)
		abort();
	for (int i = 0; i < n; i++)
		if (!strcmp(all[i].origin, "move_out"))
			out->refunds[out->nrefunds++] = all[i];
	free(all);
	return DB_OK;
}

enum db_status op_move_out_get(PGconn *c, int64_t tenant_id, struct op_moveout_result *out)
{
	memset(out, 0, sizeof *out);
	enum db_status st = store_moveout_get(c, tenant_id, &out->mo);
	if (st == DB_OK && out->mo.id)
		st = load_refunds(c, tenant_id, out);
	return st;
}

static bool has(const int64_t *ids, int n, int64_t id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Bill the final readings in this transaction, as POST /v1/readings would: they must be the
 * tenant's meters', at or before at. */
static enum db_status final_readings(PGconn *c, const struct op_moveout_req *rq, const struct moveout_ctx *x,
				     struct op_moveout_result *out, enum moveout_err *err)
{
	for (int i = 0; i < rq->nrd; i++) {
		rq->rd[i].scope_site = x->site_id; /* another site's meter is refused forbidden_meter */
		if (!rq->rd[i].invalid && rq->rd[i].ts_us > rq->at_us) {
			out->bad_index = rq->rd[i].index;
			*err = MO_READING_AFTER;
			return DB_OK;
		}
	}
	int64_t *mine = NULL;
	int nmine = 0;
	enum db_status st = store_moveout_meters(c, rq->tenant_id, &mine, &nmine);
	if (st != DB_OK || rq->nrd == 0) {
		free(mine);
		return st;
	}
	struct bill_batch b;
	st = bill_ingest(c, rq->rd, rq->nrd, rq->now_us, rq->request_id, &b);
	for (int i = 0; st == DB_OK && i < rq->nrd && !*err; i++) {
		const struct bill_reading *r = &rq->rd[i];
		if (r->outcome == RD_REJECTED || r->outcome == RD_PENDING) {
			out->bad_index = r->index;
			*err = MO_READING_REFUSED;
		} else if (!has(mine, nmine, r->meter_id)) {
			out->bad_index = r->index;
			*err = MO_READING_METER;
		}
	}
	free(mine);
	if (st == DB_OK && !*err) {
		out->mo.energy_minor = b.charged_minor;
		out->batch = b;
	}
	return st;
}

/* The tenant's share of each of its pools' month so far; a pool whose month is committed
 * already charged it for the whole month. */
static enum db_status shares(PGconn *c, const struct op_moveout_req *rq, const struct moveout_ctx *x,
			     struct moveout_share **out_s, int *out_n, int64_t *total, enum moveout_err *err)
{
	struct moveout_pool *pools = NULL;
	int n = 0;
	enum db_status st = store_moveout_pools(c, rq->tenant_id, x->at_period, &pools, &n);
	struct moveout_share *s = calloc((size_t)n + 1, sizeof *s);
	if (!s)
		abort();
	int k = 0;
	for (int i = 0; st == DB_OK && i < n && !*err; i++) {
		if (pools[i].committed)
			continue;
		struct op_share_req q = {pools[i].pool_id, rq->tenant_id, x->at_period, x->at_date, true, rq->request_id,
					 rq->now_us};
		struct alloc_share a;
		enum op_alloc_err ae;
		st = op_alloc_share(c, &q, &a, &ae);
		if (st != DB_OK)
			break;
		if (ae == OP_ALLOC_NO_BASIS || ae == OP_ALLOC_NO_OCCUPANCY) {
			/* nobody to weigh the cost so far against: the tenant's share is 0, and the
			 * month's run shares it all among those who stay */
			memset(&a, 0, sizeof a);
			a.member = true;
			snprintf(a.basis_json, sizeof a.basis_json, "0");
		} else if (ae) {
			srv_log(LOG_ERROR, "move-out: ten_%lld pool_%lld: the share is refused (%d)",
				(long long)rq->tenant_id, (long long)pools[i].pool_id, (int)ae);
			*err = MO_OVERFLOW;
			break;
		}
		if (!a.member)
			continue;
		s[k++] = (struct moveout_share){pools[i].pool_id, a.line.amount_minor, a.ledger_id, "", a.line.days,
						a.line.days_in_period};
		snprintf(s[k - 1].basis_json, sizeof s[k - 1].basis_json, "%s", a.basis_json);
		*total += a.line.amount_minor;
	}
	free(pools);
	*out_s = s;
	*out_n = k;
	return st;
}

/* Ask the providers to refund up to amount across the tenant's payments, largest first
 * (those within the provider's window, through a provider wattle can ask); *left_over is what
 * none of them could take back. */
static enum db_status refund_payments(PGconn *c, const struct op_moveout_req *rq, int64_t amount,
				      struct op_moveout_result *out, int64_t *left_over)
{
	struct moveout_payment *p = NULL;
	int n = 0;
	enum db_status st = store_moveout_payments(c, rq->tenant_id, rq->now_us - WECHAT_WINDOW_US,
						   rq->now_us - ALIPAY_WINDOW_US, rq->now_us - STRIPE_WINDOW_US, &p, &n);
	out->refunds = calloc((size_t)n + 1, sizeof *out->refunds);
	if (!out->refunds)
		abort();
	int64_t rest = amount;
	for (int i = 0; st == DB_OK && i < n && rest > 0; i++) {
		int prov = pay_provider_parse(p[i].provider);
		if (prov < 0 || !rq->refunds_by[prov])
			continue; /* nobody to ask: what it covers is paid in cash */
		int64_t want = p[i].left_minor < rest ? p[i].left_minor : rest;
		for (int tries = 0; tries < 2 && want > 0; tries++) {
			struct op_refund_req q = {p[i].payment_id, want, "move-out", "move_out", true, rq->key_id,
						  rq->request_id, rq->now_us, rq->now_us};
			struct refund r;
			int64_t left = 0;
			enum refund_err re;
			if ((st = op_refund_request(c, &q, &r, &left, &re)) != DB_OK)
				break;
			if (re == RF_OK) {
				out->refunds[out->nrefunds++] = r;
				rest -= want;
				break;
			}
			/* less is left than this look saw (a refund settled meanwhile): take that */
			want = (re == RF_TOO_LARGE || re == RF_BALANCE) && left < want ? left : 0;
		}
	}
	free(p);
	*left_over = rest;
	return st;
}

/* Pay amount out in cash now: a refund entry, ref channel cash. */
static enum db_status pay_cash(PGconn *c, const struct op_moveout_req *rq, int64_t amount, int64_t *entry,
			       enum moveout_err *err)
{
	struct srv_buf ref = {0};
	PUT_LIT(&ref, "{\"channel\":\"cash\",\"reason\":\"move-out\",\"move_out\":true}");
	struct bill_entry e;
	enum bill_post_result res;
	enum db_status st = bill_post(c, rq->tenant_id, "refund", -amount, ref.p, rq->request_id, rq->now_us, &e, &res);
	srv_buf_free(&ref);
	if (st != DB_OK)
		return st;
	if (res != POST_OK) {
		*err = MO_OVERFLOW;
		return DB_OK;
	}
	*entry = e.id;
	/* RECEIPT: the cash paid out gets its receipt in this transaction (series PAYOUT) */
	struct receipt_req rr = {RCPT_PAYOUT, rq->tenant_id, &e, "cash", NULL, "move-out", 0, 0, rq->now_us};
	struct receipt_issued ri;
	return op_receipt_issue(c, &rr, &ri);
}

/* The final statement: the month of at from its start to now (everything the move-out
 * posted included), stored as a tenant_statement of origin move_out. */
static enum db_status statement(PGconn *c, const struct op_moveout_req *rq, const struct moveout_ctx *x,
				struct op_moveout_result *out)
{
	int y = 0, m = 0;
	sscanf(x->at_period, "%d-%d", &y, &m);
	struct statement_set all;
	enum db_status st = op_report_statements(c, x->site_id, rq->tenant_id, rq->tenant_id + 1, y, m, &all);
	if (st == DB_ABORT) /* the tenant is the site's: read in this transaction */
		st = DB_HARD;
	if (st != DB_OK)
		return st;
	all.site.to_us = rq->now_us;
	char *text = report_doc_statement_text(&all.site, &all.items[0]); /* without the phone number */
	statement_set_free(&all);
	st = store_moveout_statement(c, x->site_id, rq->tenant_id, x->at_period, text, rq->now_us, rq->key_id,
				     &out->mo.statement_id);
	free(text);
	snprintf(out->statement_period, sizeof out->statement_period, "%s", x->at_period);
	return st;
}

enum db_status op_move_out(PGconn *c, const struct op_moveout_req *rq, struct op_moveout_result *out,
			   enum moveout_err *err)
{
	memset(out, 0, sizeof *out);
	*err = MO_OK;
	enum db_status st = op_move_out_get(c, rq->tenant_id, out);
	if (st != DB_OK || out->mo.id) {
		if (st == DB_OK)
			*err = MO_DONE;
		return st;
	}
	struct moveout_ctx x;
	bool found;
	if ((st = store_moveout_ctx(c, rq->tenant_id, rq->at_us, rq->now_us, false, &x, &found)) != DB_OK)
		return st;
	if (!found)
		*err = MO_NO_TENANT;
	else if (rq->at_us > rq->now_us)
		*err = MO_AT_FUTURE;
	else if (strcmp(x.at_period, x.now_period))
		*err = MO_AT_MONTH;
	else if (x.before_move_in)
		*err = MO_BEFORE_MOVE_IN;
	if (*err)
		return DB_OK;
	/* 1. the final readings, meters then accounts locked as every batch locks them */
	if ((st = final_readings(c, rq, &x, out, err)) != DB_OK || *err)
		return st;
	/* 2. the account locked: a move-out that got here first has committed, or waits for us */
	if ((st = store_moveout_ctx(c, rq->tenant_id, rq->at_us, rq->now_us, true, &x, &found)) != DB_OK)
		return st;
	if (x.closed) {
		op_moveout_result_free(out);
		if ((st = op_move_out_get(c, rq->tenant_id, out)) == DB_OK)
			*err = out->mo.id ? MO_DONE : MO_NO_TENANT;
		return st;
	}
	/* 3. the shared costs of the month so far */
	struct moveout_share *sh = NULL;
	int nsh = 0;
	st = shares(c, rq, &x, &sh, &nsh, &out->mo.shared_minor, err);
	if (st != DB_OK || *err)
		goto done;
	if ((st = store_moveout_ctx(c, rq->tenant_id, rq->at_us, rq->now_us, true, &x, &found)) != DB_OK)
		goto done;
	/* 4. closed to new money from here on: a payment that comes in while we settle waits on
	 * the account's lock and then finds it closed */
	if ((st = store_account_close(c, rq->tenant_id, rq->now_us)) != DB_OK)
		goto done;
	/* 5. the settlement */
	int64_t b = x.balance_minor;
	out->mo.final_balance_minor = b;
	if (b > 0 && rq->settlement == MO_CARRY) {
		*err = MO_CARRY_POSITIVE;
		goto done;
	}
	if (b > 0) {
		int64_t cash = b;
		if (rq->settlement == MO_REFUND && (st = refund_payments(c, rq, b, out, &cash)) != DB_OK)
			goto done;
		out->mo.refund_minor = b - cash;
		out->mo.cash_minor = cash;
		if (cash > 0 && ((st = pay_cash(c, rq, cash, &out->mo.cash_entry_id, err)) != DB_OK || *err))
			goto done;
	} else if (b < 0) {
		out->mo.arrears_minor = -b;
		out->nothing_settled = rq->settlement != MO_CARRY;
	}
	/* 6. the final statement, while the meters are still the tenant's (its energy by band) */
	if ((st = statement(c, rq, &x, out)) != DB_OK)
		goto done;
	/* 7. the meters vacant, the tenant gone; the move-out recorded once */
	if ((st = store_moveout_vacate(c, rq->tenant_id, x.at_date, rq->now_us, &out->mo.meter_ids,
				       &out->mo.nmeters)) != DB_OK)
		goto done;
	out->mo.tenant_id = rq->tenant_id;
	out->mo.at_us = rq->at_us;
	snprintf(out->mo.at_date, sizeof out->mo.at_date, "%s", x.at_date);
	snprintf(out->mo.settlement, sizeof out->mo.settlement, "%s", mo_settlement_names[rq->settlement]);
	snprintf(out->mo.currency, sizeof out->mo.currency, "%s", x.currency);
	st = store_moveout_insert(c, &out->mo, rq->now_us, rq->key_id, rq->request_id);
	if (st == DB_UNIQUE) /* the account's lock orders move-outs: this cannot be */
		st = DB_HARD;
	if (st == DB_OK)
		st = store_moveout_shares_insert(c, out->mo.id, rq->tenant_id, x.at_period, sh, nsh);
done:
	free(sh);
	return st;
}
