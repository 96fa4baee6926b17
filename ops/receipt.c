/* receipt.c: issuing receipts (receipt.h). */
#include "ops/receipt.h"
#include "core/calendar.h"
#include "core/log.h"
#include "core/tz.h"
#include "store/receipts.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *const receipt_series_names[] = {"TOPUP", "REFUND", "PAYOUT", NULL};

/* The site-local time of t_us as "YYYY-MM-DD HH:MM:SS +HH:MM", and its year. */
static int local_time(const char *zone, int64_t t_us, char out[40], int *year)
{
	int32_t off;
	if (bill_tz_offset(zone, t_us, &off))
		return -1;
	int64_t local = t_us + (int64_t)off * 1000000;
	int32_t day = cal_local_day(local);
	int64_t sec = (local - (int64_t)day * CAL_DAY_US) / 1000000;
	int y, m, d;
	cal_civil_from_days(day, &y, &m, &d);
	int32_t a = off < 0 ? -off : off;
	snprintf(out, 40, "%04d-%02d-%02d %02d:%02d:%02d %c%02d:%02d", y, m, d, (int)(sec / 3600), (int)(sec / 60 % 60),
		 (int)(sec % 60), off < 0 ? '-' : '+', (int)(a / 3600), (int)(a / 60 % 60));
	*year = y;
	return 0;
}

enum db_status op_receipt_issue(PGconn *c, const struct receipt_req *rq, struct receipt_issued *out)
{
	memset(out, 0, sizeof *out);
	const struct bill_entry *e = rq->entry;
	if ((int)rq->series < 0 || rq->series >= RCPT__COUNT || !e || !rq->channel ||
	    (rq->series == RCPT_TOPUP) != (e->amount_minor > 0) || e->amount_minor == 0 ||
	    e->amount_minor == INT64_MIN) {
		srv_log(LOG_ERROR, "receipts: refusing to issue a receipt that does not fit its entry (tenant %lld)",
			(long long)rq->tenant_id);
		return DB_HARD;
	}
	struct receipt_context x;
	bool found;
	enum db_status st = store_receipt_context(c, rq->tenant_id, &x, &found);
	if (st != DB_OK)
		return st;
	if (!found) {
		srv_log(LOG_ERROR, "receipts: tenant %lld has no account to issue a receipt on", (long long)rq->tenant_id);
		return DB_HARD;
	}
	struct receipt_row r = {0};
	if (local_time(x.timezone, rq->now_us, r.issued_local, &r.year)) {
		srv_log(LOG_ERROR, "receipts: site %lld has an unknown time zone %s", (long long)x.site_id, x.timezone);
		return DB_HARD;
	}
	int64_t cites = rq->cites_receipt_id;
	if (cites)
		st = store_receipt_number(c, cites, r.cites_number);
	else if (rq->series == RCPT_REFUND && rq->payment_id)
		st = store_receipt_of_payment(c, rq->payment_id, &cites, r.cites_number);
	if (st != DB_OK)
		return st;
	if (cites && !r.cites_number[0]) {
		srv_log(LOG_ERROR, "receipts: receipt %lld to cite does not exist", (long long)cites);
		return DB_HARD;
	}
	r.cites_receipt_id = cites;
	/* Everything that can fail before the number is taken has been tried: from here the
	 * counter row is locked until the caller's transaction ends. */
	const char *series = receipt_series_names[rq->series];
	if ((st = store_receipt_bump(c, x.site_id, series, r.year, &r.seq, r.prev_hash)) != DB_OK)
		return st;
	r.site_id = x.site_id;
	snprintf(r.series, sizeof r.series, "%s", series);
	snprintf(r.number, sizeof r.number, "S%lld-%s-%04d-%06lld", (long long)x.site_id, series, r.year,
		 (long long)r.seq);
	r.issued_us = rq->now_us;
	memcpy(r.legal_name, x.legal_name, sizeof r.legal_name);
	memcpy(r.tax_id, x.tax_id, sizeof r.tax_id);
	r.has_legal_name = x.has_legal_name;
	r.has_tax_id = x.has_tax_id;
	memcpy(r.site_name, x.site_name, sizeof r.site_name);
	r.tenant_id = x.tenant_id;
	memcpy(r.tenant_name, x.tenant_name, sizeof r.tenant_name);
	snprintf(r.shop, sizeof r.shop, "%s (%s)", x.tenant_name, x.category);
	r.amount_minor = e->amount_minor < 0 ? -e->amount_minor : e->amount_minor;
	memcpy(r.currency, x.currency, sizeof r.currency);
	snprintf(r.channel, sizeof r.channel, "%s", rq->channel);
	snprintf(r.provider_txn_id, sizeof r.provider_txn_id, "%s", rq->provider_txn_id ? rq->provider_txn_id : "");
	snprintf(r.reference, sizeof r.reference, "%s", rq->reference ? rq->reference : "");
	r.payment_id = rq->payment_id;
	r.ledger_entry_id = e->id;
	r.balance_before_minor = e->balance_before_minor;
	r.balance_after_minor = e->balance_after_minor;
	if ((st = store_receipt_insert(c, &r)) != DB_OK)
		return st;
	out->id = r.id;
	out->seq = r.seq;
	out->year = r.year;
	memcpy(out->number, r.number, sizeof out->number);
	memcpy(out->hash, r.hash, sizeof out->hash);
	return DB_OK;
}
