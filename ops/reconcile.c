/* reconcile.c: a day's provider bill against what wattle recorded (reconcile.h). Both sides
 * are sorted by the provider's payment id and matched in one pass each; a bill of 10,000
 * lines is a few sorts and one transaction. */
#include "ops/reconcile.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The margin around the day within which wattle's records may match the bill's lines: a
 * payment made at 23:59:59 is notified after midnight. Unmatched records of the margin
 * belong to the next or previous day's bill and are not reported. */
#define MARGIN_US (3600 * INT64_C(1000000))

static int by_txn(const void *a, const void *b)
{
	const struct recon_mine *x = a, *y = b;
	int c = strcmp(x->txn, y->txn);
	return c ? c : (x->payment_id > y->payment_id) - (x->payment_id < y->payment_id);
}

/* The first of m[0..n) with txn, or -1. m sorted by txn. */
static int find_txn(const struct recon_mine *m, int n, const char *txn)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (strcmp(m[mid].txn, txn) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !strcmp(m[lo].txn, txn) ? lo : -1;
}

struct diffs {
	struct recon_diff *d;
	int n, cap;
};

static struct recon_diff *diff_add(struct diffs *ds, const char *kind, bool refund, const char *txn)
{
	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? 2 * ds->cap : 64;
		if (!(ds->d = realloc(ds->d, (size_t)ds->cap * sizeof *ds->d)))
			abort();
	}
	struct recon_diff *d = &ds->d[ds->n++];
	memset(d, 0, sizeof *d);
	snprintf(d->kind, sizeof d->kind, "%s", kind);
	snprintf(d->type, sizeof d->type, "%s", refund ? "refund" : "payment");
	snprintf(d->txn, sizeof d->txn, "%s", txn);
	d->provider_minor = d->wattle_minor = -1;
	snprintf(d->action, sizeof d->action, "none");
	return d;
}

/* A payment on the bill that wattle never recorded: credit it as a notification would. */
static enum db_status credit_missing(PGconn *c, const struct recon_req *rq, const struct recon_line *l,
				     struct recon_diff *d, struct recon_run *run)
{
	char ev[512];
	snprintf(ev, sizeof ev, "{\"source\":\"reconciliation\",\"bill_date\":\"%s\"}", rq->date);
	struct pay_note n = {.prov = rq->prov, .txn = l->txn, .out_trade_no = *l->out_trade_no ? l->out_trade_no : NULL,
			     .amount = l->amount_minor, .event_json = ev, .request_id = rq->request_id,
			     .now_us = rq->now_us};
	snprintf(n.currency, sizeof n.currency, "%s", l->currency);
	struct pay_result res;
	enum pay_err err;
	enum db_status st = op_payment_credit(c, &n, &res, &err);
	if (st != DB_OK)
		return st;
	d->payment_id = res.payment_id;
	if (res.out == PAY_CREDITED) {
		snprintf(d->action, sizeof d->action, "credited");
		run->credited++;
	} else if (res.out == PAY_CONFLICT) {
		snprintf(d->action, sizeof d->action, "conflict:%s", res.conflict ? res.conflict : "?");
	} else {
		snprintf(d->action, sizeof d->action, "already_recorded");
	}
	srv_log(res.out == PAY_CREDITED ? LOG_WARN : LOG_ERROR,
		"reconcile: %s %s: payment %s of %lld %s (order %s) was on the bill only: %s",
		pay_provider_names[rq->prov], rq->date, l->txn, (long long)l->amount_minor, l->currency,
		*l->out_trade_no ? l->out_trade_no : "none", d->action);
	return DB_OK;
}

enum db_status op_reconcile(PGconn *c, const struct recon_req *rq, struct recon_run *run)
{
	memset(run, 0, sizeof *run);
	snprintf(run->provider, sizeof run->provider, "%s", pay_provider_names[rq->prov]);
	snprintf(run->date, sizeof run->date, "%s", rq->date);
	snprintf(run->tz, sizeof run->tz, "%s", rq->b.tz);
	snprintf(run->origin, sizeof run->origin, "%s", rq->origin);
	run->site_id = rq->b.site_id;
	struct diffs ds = {0};
	struct recon_mine *pay = NULL, *ref = NULL;
	int npay = 0, nref = 0;
	enum db_status st = DB_OK;
	if (rq->error) {
		snprintf(run->state, sizeof run->state, "failed");
		snprintf(run->error, sizeof run->error, "%s", rq->error);
		goto store;
	}
	snprintf(run->state, sizeof run->state, "done");
	int64_t from = rq->b.from_us - MARGIN_US, to = rq->b.to_us + MARGIN_US;
	if ((st = store_recon_payments(c, run->provider, from, to, rq->b.from_us, rq->b.to_us, &pay, &npay)) != DB_OK ||
	    (st = store_recon_refunds(c, run->provider, from, to, rq->b.from_us, rq->b.to_us, &ref, &nref)) != DB_OK)
		goto out;
	if (npay)
		qsort(pay, (size_t)npay, sizeof *pay, by_txn);
	if (nref)
		qsort(ref, (size_t)nref, sizeof *ref, by_txn);
	bool *used_pay = calloc((size_t)npay + 1, 1), *used_ref = calloc((size_t)nref + 1, 1);
	if (!used_pay || !used_ref)
		abort();
	/* what wattle credited: a conflict is recorded (so it matches) but not in the ledger */
	for (int i = 0; i < npay; i++)
		if (pay[i].in_day && pay[i].credited)
			run->wattle_total += pay[i].amount_minor;
	for (int i = 0; i < nref; i++)
		if (ref[i].in_day)
			run->wattle_total -= ref[i].amount_minor;
	for (size_t i = 0; i < rq->n && st == DB_OK; i++) {
		const struct recon_line *l = &rq->lines[i];
		run->provider_total += l->refund ? -l->amount_minor : l->amount_minor;
		if (!l->refund) {
			int k = find_txn(pay, npay, l->txn);
			if (k >= 0 && !used_pay[k]) {
				used_pay[k] = true;
				if (pay[k].amount_minor == l->amount_minor) {
					run->matched++;
					continue;
				}
				struct recon_diff *d = diff_add(&ds, "amount_mismatch", false, l->txn);
				snprintf(d->out_trade_no, sizeof d->out_trade_no, "%s", l->out_trade_no);
				d->provider_minor = l->amount_minor;
				d->wattle_minor = pay[k].amount_minor;
				d->payment_id = pay[k].payment_id;
				run->amount_mismatch++;
				continue;
			}
			struct recon_diff *d = diff_add(&ds, "missing_in_wattle", false, l->txn);
			snprintf(d->out_trade_no, sizeof d->out_trade_no, "%s", l->out_trade_no);
			d->provider_minor = l->amount_minor;
			run->missing_in_wattle++;
			st = credit_missing(c, rq, l, d, run);
			continue;
		}
		/* A refund: the one with its refund id, else one of its amount, else another of the
		 * payment's (then the amounts differ). */
		int k = find_txn(ref, nref, l->txn), hit = -1, other = -1;
		for (int j = k; k >= 0 && j < nref && !strcmp(ref[j].txn, l->txn); j++) {
			if (used_ref[j])
				continue;
			if (*l->refund_ref && !strcmp(ref[j].refund_ref, l->refund_ref)) {
				hit = j;
				break;
			}
			if (hit < 0 && ref[j].amount_minor == l->amount_minor)
				hit = j;
			if (other < 0)
				other = j;
		}
		if (hit >= 0 && ref[hit].amount_minor == l->amount_minor) {
			used_ref[hit] = true;
			run->matched++;
			continue;
		}
		if (hit < 0)
			hit = other;
		struct recon_diff *d = diff_add(&ds, hit >= 0 ? "amount_mismatch" : "missing_in_wattle", true, l->txn);
		snprintf(d->refund_ref, sizeof d->refund_ref, "%s", l->refund_ref);
		snprintf(d->out_trade_no, sizeof d->out_trade_no, "%s", l->out_trade_no);
		d->provider_minor = l->amount_minor;
		if (hit >= 0) {
			used_ref[hit] = true;
			d->wattle_minor = ref[hit].amount_minor;
			d->payment_id = ref[hit].payment_id;
			run->amount_mismatch++;
		} else {
			run->missing_in_wattle++; /* a refund wattle never heard of: a person looks */
			srv_log(LOG_ERROR, "reconcile: %s %s: refund %s of %lld on payment %s is on the bill only",
				run->provider, rq->date, l->refund_ref, (long long)l->amount_minor, l->txn);
		}
	}
	for (int i = 0; i < npay && st == DB_OK; i++)
		if (!used_pay[i] && pay[i].in_day) {
			struct recon_diff *d = diff_add(&ds, "missing_at_provider", false, pay[i].txn);
			d->wattle_minor = pay[i].amount_minor;
			d->payment_id = pay[i].payment_id;
			run->missing_at_provider++;
		}
	for (int i = 0; i < nref && st == DB_OK; i++)
		if (!used_ref[i] && ref[i].in_day) {
			struct recon_diff *d = diff_add(&ds, "missing_at_provider", true, ref[i].txn);
			snprintf(d->refund_ref, sizeof d->refund_ref, "%s", ref[i].refund_ref);
			d->wattle_minor = ref[i].amount_minor;
			d->payment_id = ref[i].payment_id;
			run->missing_at_provider++;
		}
	free(used_pay);
	free(used_ref);
	if (st != DB_OK)
		goto out;
store:
	st = store_recon_insert(c, run, ds.d, ds.n, rq->key_id, rq->now_us);
out:
	free(pay);
	free(ref);
	free(ds.d);
	return st;
}
