/* ingest.c: a batch of readings, billed in one transaction (DESIGN.md, money path 1-3):
 * load and lock its meters (store/ingest.c), decide every reading (core/meterbatch.c), then
 * write the readings, the spectra of harmonics they carry (one per meter and 15 minutes), the
 * meters' state and rollups, the ledger entries (one energy_charge per charged meter, through
 * ops/ledger.c), the commands a disobeying relay needs, the meter events and the alarms. */
#include "ops/ingest.h"
#include "core/log.h"
#include "ops/account.h"
#include "ops/alarm.h"
#include "ops/ledger.h"
#include "store/harmonics.h"
#include "store/ingest.h"
#include "store/outbox.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bill_ingest_register(void)
{
	store_ingest_register();
	store_harmonics_register();
}

static _Atomic uint64_t st_batches, st_billed, st_baselines, st_late, st_dups, st_rejected,
	st_charged;

void bill_ingest_committed(const struct bill_batch *b)
{
	atomic_fetch_add(&st_batches, 1);
	atomic_fetch_add(&st_billed, (uint64_t)b->billed);
	atomic_fetch_add(&st_baselines, (uint64_t)b->baselines);
	atomic_fetch_add(&st_late, (uint64_t)b->late);
	atomic_fetch_add(&st_dups, (uint64_t)b->duplicates);
	atomic_fetch_add(&st_rejected, (uint64_t)b->rejected);
	atomic_fetch_add(&st_charged, (uint64_t)b->charged_minor);
}

void bill_ingest_stats_get(struct bill_ingest_stats *s)
{
	s->batches = atomic_load(&st_batches);
	s->billed = atomic_load(&st_billed);
	s->baselines = atomic_load(&st_baselines);
	s->late = atomic_load(&st_late);
	s->duplicates = atomic_load(&st_dups);
	s->rejected = atomic_load(&st_rejected);
	s->charged_minor = atomic_load(&st_charged);
}

#define INGEST_REQ_IDS 8 /* request ids an entry names; more are counted */

/* Open or refresh the batch's alarms, then cut where a malicious load was confirmed. */
static enum db_status write_alarms(PGconn *c, struct mb_batch *x, int64_t now_us)
{
	struct alarm_row *rows = NULL;
	int64_t *cut = NULL;
	int n = 0, cap = 0, ncut = 0;
	for (int i = 0; i < x->nm; i++) {
		struct mb_meter *m = &x->m[i];
		for (int k = 0; m->alarms && k < AK__COUNT; k++) {
			if (!m->alarms[k].count)
				continue;
			if (n == cap && !(rows = realloc(rows, (size_t)(cap = cap ? cap * 2 : 16) * sizeof *rows)))
				abort();
			rows[n] = m->alarms[k];
			rows[n].meter_id = m->id;
			rows[n].site_id = m->site_id;
			rows[n].tenant_id = m->tenant_id;
			rows[n].clear_s = m->acfg.clear_us / 1000000;
			n++;
		}
		if (m->cut) {
			if (!(cut = realloc(cut, (size_t)(ncut + 1) * sizeof *cut)))
				abort();
			cut[ncut++] = m->id;
		}
	}
	int opened = 0, cuts = 0;
	enum db_status st = alarms_upsert(c, rows, n, now_us, &opened);
	if (st == DB_OK)
		st = alarms_autocut(c, cut, ncut, now_us, &cuts);
	if (st == DB_OK && opened)
		srv_log(LOG_WARN, "alarms: %d opened", opened);
	if (st == DB_OK && cuts)
		srv_log(LOG_WARN, "alarms: %d meters cut for a confirmed malicious load", cuts);
	free(rows);
	free(cut);
	return st;
}

/* Keep the batch's spectra, the first of each meter's 15-minute slot (detection saw every
 * one). Nothing to do, and nothing allocated, for a batch that carries none. */
static enum db_status write_harmonics(PGconn *c, const struct mb_batch *x, struct bill_reading **order, int n)
{
	if (!x->nharm)
		return DB_OK;
	struct bill_reading **keep = malloc(((size_t)n + 1) * sizeof *keep);
	if (!keep)
		abort();
	enum db_status st = store_harmonics_insert(c, keep, mb_harm_pick(order, n, keep));
	free(keep);
	return st;
}

/* Post one energy_charge per meter with whole minor units to charge, accounts locked in
 * id order, balances chained in that order. */
static enum db_status post_charges(PGconn *c, struct mb_batch *x, int64_t now_us, const char *request_id,
				   struct bill_batch *out)
{
	/* One energy_charge entry per charged meter, all posted at once by the ledger (accounts
	 * locked in id order, the state machine once per account on its final balance). */
	struct bill_posting *p = calloc((size_t)x->nm + 1, sizeof *p);
	char **refs = calloc((size_t)x->nm + 1, sizeof *refs);
	char **rqs = calloc((size_t)x->nm + 1, sizeof *rqs);
	if (!p || !refs || !rqs)
		abort();
	int n = 0;
	for (int i = 0; i < x->nm; i++) {
		struct mb_meter *m = &x->m[i];
		if (m->minor <= 0 || !m->tenant_id)
			continue;
		refs[n] = mb_charge_ref(m);
		rqs[n] = mb_charge_requests(m);
		p[n] = (struct bill_posting){m->tenant_id, -m->minor, refs[n], rqs[n]};
		out->charged_minor += m->minor;
		n++;
	}
	int missing = 0;
	enum db_status st = bill_post_many(c, p, n, "energy_charge", request_id, now_us, now_us, &missing);
	if (st == DB_OK && missing < 0) {
		srv_log(LOG_ERROR, "ingest: an account's balance would overflow; the batch is refused");
		st = DB_HARD;
	} else if (st == DB_OK && missing) {
		srv_log(LOG_ERROR, "ingest: %d charged meters belong to tenants without an account", missing);
	}
	for (int i = 0; i < n; i++) {
		free(refs[i]);
		free(rqs[i]);
	}
	free(refs);
	free(rqs);
	free(p);
	return st;
}

/* The acknowledged command again for each meter whose relay disobeyed: what was decided
 * stands, protected or not. */
static enum db_status resend_commands(PGconn *c, const struct mb_batch *x, int64_t now_us)
{
	struct cmd_order *orders = calloc((size_t)x->nm + 1, sizeof *orders);
	if (!orders)
		abort();
	int n = 0;
	for (int i = 0; i < x->nm; i++)
		if (x->m[i].resend)
			orders[n++] = (struct cmd_order){x->m[i].id, x->m[i].tenant_id, x->m[i].resend, "relay_mismatch", "auto",
							 0, false};
	enum db_status st = store_commands_queue(c, orders, n, now_us, NULL, NULL);
	free(orders);
	return st;
}

enum db_status bill_ingest(PGconn *c, struct bill_reading *rd, int n, int64_t now_us,
			   const char *request_id, struct bill_batch *out)
{
	memset(out, 0, sizeof *out);
	struct mb_batch x = {0};
	x.alarms = alarms_enabled();
	struct bill_reading **order = calloc((size_t)n + 1, sizeof *order);
	if (!order)
		abort();
	enum db_status st = store_ingest_load(c, rd, n, &x);
	if (st != DB_OK)
		goto out;
	int no = mb_decide(&x, rd, n, order);
	st = store_ingest_readings(c, order, no, now_us);
	if (st == DB_UNIQUE) {
		/* A reading newer than the baseline is already stored: the state is inconsistent;
		 * billing it again would charge twice. Refuse the batch loudly. */
		srv_log(LOG_ERROR, "ingest: a reading newer than its meter's baseline is already stored");
		st = DB_HARD;
	}
	if (st != DB_OK || (st = write_harmonics(c, &x, order, no)) != DB_OK)
		goto out;
	mb_carry(&x);
	mb_relay_check(&x);
	if ((st = store_ingest_state(c, &x, now_us)) != DB_OK || (st = store_ingest_rollups(c, &x)) != DB_OK ||
	    (st = resend_commands(c, &x, now_us)) != DB_OK ||
	    (st = post_charges(c, &x, now_us, request_id, out)) != DB_OK ||
	    (st = store_ingest_events(c, &x, now_us)) != DB_OK || (st = write_alarms(c, &x, now_us)) != DB_OK)
		goto out;
	mb_count(rd, n, out);
out:
	free(order);
	mb_free(&x);
	return st;
}
