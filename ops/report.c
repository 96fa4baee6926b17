/* report.c: tenant statements, the finance summary and the energy report, from the ledger
 * and the rollups. Whole sets of tenants are read with a handful of grouped statements
 * (not one round of queries per tenant), so closing a month of 10,000 tenants stays a
 * matter of seconds. */
#include "ops/report.h"
#include "core/alloc.h"
#include "core/valid.h"
#include "core/money.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The site-local month [$2, $2 + 1 month) of site $1, as instants and as dates. */
#define PERIOD                                                                                  \
	"p AS MATERIALIZED (SELECT s.id, s.name, s.timezone, s.currency, ($2::date)::timestamp AT TIME ZONE s.timezone AS t0," \
	" (($2::date + interval '1 month')::date)::timestamp AT TIME ZONE s.timezone AS t1,"     \
	" $2::date AS d0, ($2::date + interval '1 month')::date AS d1 FROM sites s WHERE s.id = $1)"

static const struct db_stmt report_stmts[] = {
	{"rep_site", /* every report: the site and the period's bounds */
	 "WITH " PERIOD " SELECT p.name, p.timezone, p.currency, " SQL_US("p.t0") ", " SQL_US("p.t1") " FROM p"},
	{"rep_st_accounts", /* bill_report_statements: balances and totals per tenant; the opening
			       balance is today's less everything since the month began, so no
			       scan of older history */
	 "WITH " PERIOD ", acc AS (SELECT t.id, t.name, t.category, t.area_centi_m2, t.phone, a.id AS aid, a.currency,"
	 "  a.balance_minor FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 "  WHERE t.id >= $3 AND t.id < $4)"
	 " SELECT acc.id, acc.name, acc.category, acc.area_centi_m2, acc.currency,"
	 " acc.balance_minor - coalesce(s.since, 0),"
	 " coalesce(s.topup, 0), coalesce(s.energy, 0), coalesce(s.alloc, 0), coalesce(s.adj, 0), coalesce(s.refund, 0),"
	 " acc.phone"
	 " FROM acc CROSS JOIN p LEFT JOIN LATERAL (SELECT sum(e.amount_minor) AS since," /* per account: its index */
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'topup') AS topup,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'energy_charge') AS energy,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind IN ('allocation', 'reversal')) AS alloc,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'adjustment') AS adj,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'refund') AS refund"
	 "  FROM ledger_entries e WHERE e.account_id = acc.aid AND e.at >= p.t0) s ON true"
	 " ORDER BY acc.id"},
	{"rep_st_entries", /* bill_report_statements: every entry but energy charges, listed */
	 "WITH " PERIOD " SELECT a.tenant_id, " SQL_US("e.at") ", e.kind, e.amount_minor, e.ref::text,"
	 " coalesce(cp.name, ''), coalesce(r.period, ''), to_char(e.at AT TIME ZONE p.timezone, 'YYYY-MM-DD HH24:MI')"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 " JOIN ledger_entries e ON e.account_id = a.id AND e.at >= p.t0 AND e.at < p.t1 AND e.kind <> 'energy_charge'"
	 " LEFT JOIN allocation_runs r ON e.kind IN ('allocation', 'reversal')"
	 "  AND r.id = nullif(split_part(coalesce(e.ref->>'run_id', ''), '_', 2), '')::bigint"
	 " LEFT JOIN cost_pools cp ON cp.id = r.pool_id"
	 " WHERE t.id >= $3 AND t.id < $4 ORDER BY a.tenant_id, e.at, e.id"},
	{"rep_st_bands", /* bill_report_statements: energy by band from the daily rollup */
	 "WITH " PERIOD " SELECT m.tenant_id, d.band, sum(d.wh)::bigint, sum(d.cost_nano)::bigint"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NOT NULL"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " WHERE m.tenant_id >= $3 AND m.tenant_id < $4 GROUP BY m.tenant_id, d.band ORDER BY 1, 2"},
	{"rep_st_daily", /* bill_report_statements: kWh by day */
	 "WITH " PERIOD " SELECT m.tenant_id, d.day::text, sum(d.wh)::bigint"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NOT NULL"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " WHERE m.tenant_id >= $3 AND m.tenant_id < $4 GROUP BY m.tenant_id, d.day ORDER BY 1, 2"},
	{"rep_fin_totals", /* bill_report_finance: liability from today's balances less what moved
			      since, one scan of the entries since the month began */
	 "WITH " PERIOD ", acc AS (SELECT a.id, a.balance_minor FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	 "  JOIN p ON t.site_id = p.id),"
	 " since AS (SELECT e.account_id, sum(e.amount_minor) AS s0,"
	 "  coalesce(sum(e.amount_minor) FILTER (WHERE e.at >= p.t1), 0) AS s1,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'topup') AS topup,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'energy_charge') AS energy,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind IN ('allocation', 'reversal')) AS alloc,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'adjustment') AS adj,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'refund') AS refund"
	 "  FROM ledger_entries e JOIN acc ON acc.id = e.account_id, p WHERE e.at >= p.t0 GROUP BY e.account_id),"
	 " b AS (SELECT acc.balance_minor AS now, coalesce(s.s0, 0) AS s0, coalesce(s.s1, 0) AS s1, s.topup, s.energy,"
	 "  s.alloc, s.adj, s.refund FROM acc LEFT JOIN since s ON s.account_id = acc.id)"
	 " SELECT coalesce(sum(now - s0), 0), coalesce(sum(now - s1), 0), coalesce(sum(topup), 0),"
	 "  coalesce(sum(energy), 0), coalesce(sum(alloc), 0), coalesce(sum(adj), 0), coalesce(sum(refund), 0),"
	 "  count(*), count(*) FILTER (WHERE now - s1 < 0),"
	 "  (SELECT count(*) FROM commands c JOIN acc ON acc.id = c.account_id, p WHERE c.action = 'cut_off'"
	 "   AND c.state <> 'superseded' AND c.created_at >= p.t0 AND c.created_at < p.t1),"
	 "  (SELECT count(*) FROM commands c JOIN acc ON acc.id = c.account_id, p WHERE c.action = 'restore'"
	 "   AND c.state <> 'superseded' AND c.created_at >= p.t0 AND c.created_at < p.t1),"
	 "  (SELECT count(*) FROM payment_conflicts pc JOIN payments py ON py.id = pc.payment_id"
	 "   LEFT JOIN tenants pt ON pt.id = py.tenant_id, p WHERE pc.state = 'open'"
	 "   AND (pt.site_id = p.id OR py.tenant_id IS NULL))"
	 " FROM b"},
	{"rep_fin_channels", /* bill_report_finance: top-ups by channel */
	 "WITH " PERIOD " SELECT coalesce(e.ref->>'channel', 'other'), count(*), sum(e.amount_minor)::bigint"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 " JOIN ledger_entries e ON e.account_id = a.id AND e.at >= p.t0 AND e.at < p.t1 AND e.kind = 'topup'"
	 " GROUP BY 1 ORDER BY 1"},
	{"rep_fin_bands", /* bill_report_finance: energy by band */
	 "WITH " PERIOD " SELECT d.band, sum(d.wh)::bigint, sum(d.cost_nano)::bigint"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NOT NULL"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1 GROUP BY 1 ORDER BY 1"},
	{"rep_fin_pools", /* bill_report_finance: allocations by pool */
	 "WITH " PERIOD " SELECT coalesce(cp.name, 'other'), -sum(e.amount_minor)::bigint"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 " JOIN ledger_entries e ON e.account_id = a.id AND e.at >= p.t0 AND e.at < p.t1"
	 "  AND e.kind IN ('allocation', 'reversal')"
	 " LEFT JOIN allocation_runs r ON r.id = nullif(split_part(coalesce(e.ref->>'run_id', ''), '_', 2), '')::bigint"
	 " LEFT JOIN cost_pools cp ON cp.id = r.pool_id GROUP BY 1 ORDER BY 1"},
	{"rep_fin_payments", /* bill_report_finance: payments received vs ledger credits */
	 "WITH " PERIOD ", pr(provider) AS (VALUES ('wechat'), ('alipay'), ('stripe')),"
	 " paid AS (SELECT py.provider, count(*) AS n, sum(py.amount_minor) AS received,"
	 "  sum(py.amount_minor) FILTER (WHERE py.status <> 'credited') AS held"
	 "  FROM payments py JOIN tenants t ON t.id = py.tenant_id JOIN p ON t.site_id = p.id"
	 "  WHERE py.received_at >= p.t0 AND py.received_at < p.t1 GROUP BY 1),"
	 " led AS (SELECT e.ref->>'channel' AS provider,"
	 "  sum(e.amount_minor) FILTER (WHERE e.kind = 'topup') AS credited,"
	 "  -sum(e.amount_minor) FILTER (WHERE e.kind = 'refund') AS refunded"
	 "  FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 "  JOIN ledger_entries e ON e.account_id = a.id AND e.at >= p.t0 AND e.at < p.t1"
	 "  AND e.kind IN ('topup', 'refund') GROUP BY 1)"
	 " SELECT pr.provider, coalesce(paid.n, 0), coalesce(paid.received, 0)::bigint,"
	 " coalesce(led.credited, 0)::bigint, coalesce(paid.held, 0)::bigint, coalesce(led.refunded, 0)::bigint"
	 " FROM pr LEFT JOIN paid USING (provider) LEFT JOIN led USING (provider) ORDER BY 1"},
	{"rep_en_totals", /* bill_report_energy: this month and the one before, tenants and public */
	 "WITH " PERIOD " SELECT"
	 " coalesce(sum(d.wh) FILTER (WHERE d.day >= p.d0), 0)::bigint,"
	 " coalesce(sum(d.wh) FILTER (WHERE d.day < p.d0), 0)::bigint,"
	 " coalesce(sum(d.wh) FILTER (WHERE d.day >= p.d0 AND m.tenant_id IS NULL), 0)::bigint"
	 " FROM p JOIN meters m ON m.site_id = p.id"
	 " LEFT JOIN meter_daily d ON d.meter_id = m.id AND d.day >= (p.d0 - interval '1 month')::date AND d.day < p.d1"
	 " GROUP BY p.id"},
	{"rep_en_categories", /* bill_report_energy */
	 "WITH " PERIOD " SELECT t.category, count(DISTINCT t.id), coalesce(sum(d.wh), 0)::bigint"
	 " FROM p JOIN tenants t ON t.site_id = p.id LEFT JOIN meters m ON m.tenant_id = t.id"
	 " LEFT JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " GROUP BY 1 ORDER BY 3 DESC, 1"},
	{"rep_en_pools", /* bill_report_energy: public pools by their meters */
	 "WITH " PERIOD " SELECT cp.name, coalesce((SELECT sum(d.wh) FROM meter_daily d"
	 "  WHERE d.meter_id = ANY(cp.meter_ids || coalesce(cp.main_meter_id, 0)) AND d.day >= p.d0 AND d.day < p.d1), 0)::bigint"
	 " FROM p JOIN cost_pools cp ON cp.site_id = p.id ORDER BY cp.id"},
	{"rep_en_heat", /* bill_report_energy: public load by day and hour */
	 "WITH " PERIOD " SELECT (h.day - p.d0), h.hour, sum(h.wh)::bigint"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NULL"
	 " JOIN meter_hourly h ON h.meter_id = m.id AND h.day >= p.d0 AND h.day < p.d1 GROUP BY 1, 2"},
	{"rep_en_top", /* bill_report_energy: the ten largest consumers */
	 "WITH " PERIOD " SELECT t.id, t.name, t.category, sum(d.wh)::bigint AS wh"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN meters m ON m.tenant_id = t.id"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " GROUP BY t.id ORDER BY wh DESC, t.id LIMIT 10"},
	{0, 0},
};

void bill_report_register(void) { db_register(report_stmts); }

static const char *const kind_names[] = {"tenant_statement", "finance_summary", "energy"};

int bill_report_kind_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, kind_names[i]))
			return i;
	return -1;
}

const char *bill_report_kind_name(enum bill_report_kind k) { return kind_names[k]; }

/* ---- helpers ---- */

struct period {
	char first[16]; /* "YYYY-MM-01" */
	char label[8];  /* "YYYY-MM" */
	int year, month;
};

static void period_init(struct period *p, int y, int m)
{
	p->year = y;
	p->month = m;
	snprintf(p->first, sizeof p->first, "%04d-%02d-01", y, m);
	snprintf(p->label, sizeof p->label, "%04d-%02d", y, m);
}

/* Statement queries take the tenant id range [from, to) as $3, $4; the others site and
 * period only. */
static enum db_status run_range(PGconn *c, const char *stmt, int64_t site, const struct period *pd, int64_t from,
				int64_t to, PGresult **r)
{
	char s[24], f[24], t[24];
	snprintf(s, sizeof s, "%lld", (long long)site);
	snprintf(f, sizeof f, "%lld", (long long)from);
	snprintf(t, sizeof t, "%lld", (long long)to);
	const char *p[4] = {s, pd->first, f, t};
	int n = strncmp(stmt, "rep_st_", 7) ? 2 : 4;
	enum db_status st = db_exec(c, stmt, n, p, r);
	if (st != DB_OK) {
		PQclear(*r);
		*r = NULL;
	}
	return st;
}

static json_t *time_json(int64_t us)
{
	char b[40];
	return json_string(srv_time_format(us, b, sizeof b));
}

static json_t *i64(int64_t v) { return json_integer((json_int_t)v); }

/* The report's head: site, period and its bounds. DB_ABORT when there is no such site. */
static enum db_status head(PGconn *c, int64_t site, const struct period *pd, const char *kind, json_t **out,
			   int *digits)
{
	PGresult *r;
	enum db_status st = run_range(c, "rep_site", site, pd, 0, 0, &r);
	if (st != DB_OK)
		return st;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return DB_ABORT;
	}
	char sid[32];
	snprintf(sid, sizeof sid, "site_%lld", (long long)site);
	*digits = 2;
	api_valid_currency(PQgetvalue(r, 0, 2), digits);
	*out = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:i, s:o, s:o, s:o}", "kind", kind, "period",
			 pd->label, "site", "id", sid, "name", PQgetvalue(r, 0, 0), "timezone",
			 PQgetvalue(r, 0, 1), "currency", PQgetvalue(r, 0, 2), "minor_digits", *digits,
			 "from", time_json(db_int64(r, 0, 3)), "to", time_json(db_int64(r, 0, 4)),
			 "generated_at", time_json(srv_clock_now_us()));
	PQclear(r);
	return DB_OK;
}

/* Bands with their kWh, and total split over them by their exact cost (largest remainder:
 * the lines add up to total); by energy when nothing was priced. */
static json_t *bands_json(const PGresult *r, int from, int to, int band_col, int64_t total)
{
	int n = to - from;
	json_t *out = json_array();
	if (n <= 0) {
		if (total)
			json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "band", "unassigned", "wh", (json_int_t)0,
							     "amount_minor", (json_int_t)total));
		return out;
	}
	int64_t *w = calloc((size_t)n, sizeof *w), *share = calloc((size_t)n, sizeof *share);
	if (!w || !share)
		abort();
	int64_t costs = 0, whs = 0;
	for (int i = 0; i < n; i++) {
		w[i] = db_int64(r, from + i, band_col + 2);
		costs += w[i];
		whs += db_int64(r, from + i, band_col + 1);
	}
	if (costs <= 0)
		for (int i = 0; i < n; i++)
			w[i] = whs > 0 ? db_int64(r, from + i, band_col + 1) : 1;
	if (total <= 0 || alloc_hamilton(total, w, n, share) != ALLOC_OK)
		memset(share, 0, (size_t)n * sizeof *share);
	int64_t assigned = 0;
	for (int i = 0; i < n; i++) {
		assigned += share[i];
		json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "band", PQgetvalue(r, from + i, band_col), "wh",
						     (json_int_t)db_int64(r, from + i, band_col + 1), "amount_minor",
						     (json_int_t)share[i]));
	}
	if (assigned != total) /* a negative total (corrections) is shown apart, never lost */
		json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "band", "unassigned", "wh", (json_int_t)0,
						     "amount_minor", (json_int_t)(total - assigned)));
	free(w);
	free(share);
	return out;
}

/* ---- tenant statements ---- */

enum db_status bill_report_statements(PGconn *c, int64_t site, int64_t from, int64_t to, int year, int month,
				      json_t **out)
{
	struct period pd;
	period_init(&pd, year, month);
	json_t *base = NULL;
	int digits;
	enum db_status st = head(c, site, &pd, "tenant_statement", &base, &digits);
	if (st != DB_OK)
		return st;
	PGresult *acc = NULL, *ent = NULL, *bands = NULL, *daily = NULL;
	if ((st = run_range(c, "rep_st_accounts", site, &pd, from, to, &acc)) != DB_OK ||
	    (st = run_range(c, "rep_st_entries", site, &pd, from, to, &ent)) != DB_OK ||
	    (st = run_range(c, "rep_st_bands", site, &pd, from, to, &bands)) != DB_OK ||
	    (st = run_range(c, "rep_st_daily", site, &pd, from, to, &daily)) != DB_OK)
		goto done;
	if (to == from + 1 && PQntuples(acc) == 0) {
		st = DB_ABORT;
		goto done;
	}
	*out = json_array();
	/* Every result is ordered by tenant: walk them side by side. */
	int ie = 0, ib = 0, id = 0, ne = PQntuples(ent), nb = PQntuples(bands), nd = PQntuples(daily);
	for (int i = 0; i < PQntuples(acc); i++) {
		int64_t tid = db_int64(acc, i, 0);
		int64_t opening = db_int64(acc, i, 5), topups = db_int64(acc, i, 6), energy = -db_int64(acc, i, 7);
		int64_t alloc = -db_int64(acc, i, 8), adj = db_int64(acc, i, 9), refunds = -db_int64(acc, i, 10);
		int64_t closing = opening + topups - energy - alloc + adj - refunds;
		json_t *s = json_deep_copy(base);
		char tids[32], area[32];
		snprintf(tids, sizeof tids, "ten_%lld", (long long)tid);
		bill_format_decimal(db_int64(acc, i, 3), 2, area, sizeof area);
		json_object_set_new(s, "tenant", json_pack("{s:s, s:s, s:s, s:s}", "id", tids, "name", PQgetvalue(acc, i, 1),
							   "category", PQgetvalue(acc, i, 2), "area_m2", area));
		json_object_set_new(s, "currency", json_string(PQgetvalue(acc, i, 4)));
		json_object_set_new(s, "opening_balance_minor", i64(opening));
		json_object_set_new(s, "topups_minor", i64(topups));
		json_object_set_new(s, "energy_charges_minor", i64(energy));
		json_object_set_new(s, "allocations_minor", i64(alloc));
		json_object_set_new(s, "adjustments_minor", i64(adj));
		json_object_set_new(s, "refunds_minor", i64(refunds));
		json_object_set_new(s, "closing_balance_minor", i64(closing));
		json_t *tops = json_array(), *allocs = json_array(), *adjs = json_array(), *refs = json_array();
		json_t *chan = json_object();
		for (; ie < ne && db_int64(ent, ie, 0) < tid; ie++)
			;
		for (; ie < ne && db_int64(ent, ie, 0) == tid; ie++) {
			const char *kind = PQgetvalue(ent, ie, 2);
			int64_t amt = db_int64(ent, ie, 3);
			json_t *ref = json_loads(PQgetvalue(ent, ie, 4), 0, NULL);
			const char *channel = json_string_value(json_object_get(ref, "channel"));
			json_t *at = time_json(db_int64(ent, ie, 1));
			const char *local = PQgetvalue(ent, ie, 7); /* site-local, for people */
			if (!strcmp(kind, "topup")) {
				json_array_append_new(tops, json_pack("{s:o, s:s, s:s, s:I}", "at", at, "local_time", local,
								      "channel", channel ? channel : "other", "amount_minor",
								      (json_int_t)amt));
				const char *ch = channel ? channel : "other";
				json_t *sum = json_object_get(chan, ch);
				json_object_set_new(chan, ch, i64((sum ? json_integer_value(sum) : 0) + amt));
			} else if (!strcmp(kind, "allocation") || !strcmp(kind, "reversal")) {
				json_array_append_new(allocs, json_pack("{s:o, s:s, s:s, s:s, s:O, s:O, s:O, s:I, s:b}", "at", at,
									"local_time", local, "pool",
									PQgetvalue(ent, ie, 5), "period", PQgetvalue(ent, ie, 6),
									"run_id", json_object_get(ref, "run_id"),
									"basis", json_object_get(ref, "basis"), "basis_unit",
									json_object_get(ref, "basis_unit"), "amount_minor",
									(json_int_t)-amt, "reversal", !strcmp(kind, "reversal")));
			} else if (!strcmp(kind, "adjustment")) {
				json_t *why = json_object_get(ref, "reason");
				json_array_append_new(adjs, json_pack("{s:o, s:s, s:O, s:I}", "at", at, "local_time", local,
								      "reason", why ? why : json_null(), "amount_minor", (json_int_t)amt));
			} else {
				json_array_append_new(refs, json_pack("{s:o, s:s, s:s, s:I}", "at", at, "local_time", local,
								      "channel", channel ? channel : "other", "amount_minor",
								      (json_int_t)-amt));
			}
			json_decref(ref);
		}
		json_t *by_channel = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(chan, k, v)
			json_array_append_new(by_channel, json_pack("{s:s, s:O}", "channel", k, "amount_minor", v));
		json_decref(chan);
		json_object_set_new(s, "topups_by_channel", by_channel);
		for (; ib < nb && db_int64(bands, ib, 0) < tid; ib++)
			;
		int b0 = ib;
		for (; ib < nb && db_int64(bands, ib, 0) == tid; ib++)
			;
		json_object_set_new(s, "energy_by_band", bands_json(bands, b0, ib, 1, energy));
		json_object_set_new(s, "allocations", allocs);
		json_object_set_new(s, "adjustments", adjs);
		json_object_set_new(s, "refunds", refs);
		json_object_set_new(s, "topups", tops);
		json_t *days = json_array();
		int64_t wh = 0;
		for (; id < nd && db_int64(daily, id, 0) < tid; id++)
			;
		for (; id < nd && db_int64(daily, id, 0) == tid; id++) {
			wh += db_int64(daily, id, 2);
			json_array_append_new(days, json_pack("{s:s, s:I}", "date", PQgetvalue(daily, id, 1), "wh",
							      (json_int_t)db_int64(daily, id, 2)));
		}
		json_object_set_new(s, "daily", days);
		json_object_set_new(s, "energy_wh", i64(wh));
		json_object_set_new(s, "phone", PQgetisnull(acc, i, 11) ? json_null() : json_string(PQgetvalue(acc, i, 11)));
		json_array_append_new(*out, s);
	}
done:
	json_decref(base);
	PQclear(acc);
	PQclear(ent);
	PQclear(bands);
	PQclear(daily);
	return st;
}

/* ---- finance summary ---- */

enum db_status bill_report_finance(PGconn *c, int64_t site, int year, int month, json_t **out)
{
	struct period pd;
	period_init(&pd, year, month);
	int digits;
	enum db_status st = head(c, site, &pd, "finance_summary", out, &digits);
	if (st != DB_OK)
		return st;
	PGresult *tot = NULL, *ch = NULL, *bands = NULL, *pools = NULL, *pay = NULL;
	if ((st = run_range(c, "rep_fin_totals", site, &pd, 0, 0, &tot)) != DB_OK ||
	    (st = run_range(c, "rep_fin_channels", site, &pd, 0, 0, &ch)) != DB_OK ||
	    (st = run_range(c, "rep_fin_bands", site, &pd, 0, 0, &bands)) != DB_OK ||
	    (st = run_range(c, "rep_fin_pools", site, &pd, 0, 0, &pools)) != DB_OK ||
	    (st = run_range(c, "rep_fin_payments", site, &pd, 0, 0, &pay)) != DB_OK)
		goto done;
	json_t *o = *out;
	int64_t energy = -db_int64(tot, 0, 3);
	json_object_set_new(o, "prepaid_liability_start_minor", i64(db_int64(tot, 0, 0)));
	json_object_set_new(o, "prepaid_liability_end_minor", i64(db_int64(tot, 0, 1)));
	json_object_set_new(o, "topups_minor", i64(db_int64(tot, 0, 2)));
	json_object_set_new(o, "energy_charges_minor", i64(energy));
	json_object_set_new(o, "allocations_minor", i64(-db_int64(tot, 0, 4)));
	json_object_set_new(o, "adjustments_minor", i64(db_int64(tot, 0, 5)));
	json_object_set_new(o, "refunds_minor", i64(-db_int64(tot, 0, 6)));
	json_object_set_new(o, "tenants", i64(db_int64(tot, 0, 7)));
	json_object_set_new(o, "tenants_in_arrears", i64(db_int64(tot, 0, 8)));
	json_object_set_new(o, "cut_offs", i64(db_int64(tot, 0, 9)));
	json_object_set_new(o, "restores", i64(db_int64(tot, 0, 10)));
	json_object_set_new(o, "payment_conflicts_open", i64(db_int64(tot, 0, 11)));
	json_t *a = json_array();
	for (int i = 0; i < PQntuples(ch); i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "channel", PQgetvalue(ch, i, 0), "count",
						   (json_int_t)db_int64(ch, i, 1), "amount_minor", (json_int_t)db_int64(ch, i, 2)));
	json_object_set_new(o, "topups_by_channel", a);
	json_object_set_new(o, "energy_by_band", bands_json(bands, 0, PQntuples(bands), 0, energy));
	a = json_array();
	for (int i = 0; i < PQntuples(pools); i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "pool", PQgetvalue(pools, i, 0), "amount_minor",
						   (json_int_t)db_int64(pools, i, 1)));
	json_object_set_new(o, "allocations_by_pool", a);
	a = json_array();
	for (int i = 0; i < PQntuples(pay); i++) {
		int64_t received = db_int64(pay, i, 2), credited = db_int64(pay, i, 3), held = db_int64(pay, i, 4);
		json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "provider", PQgetvalue(pay, i, 0),
						   "payments", (json_int_t)db_int64(pay, i, 1), "received_minor",
						   (json_int_t)received, "credited_minor", (json_int_t)credited,
						   "not_credited_minor", (json_int_t)held, "refunded_minor",
						   (json_int_t)db_int64(pay, i, 5), "difference_minor",
						   (json_int_t)(received - credited - held)));
	}
	json_object_set_new(o, "payments_reconciliation", a);
done:
	PQclear(tot);
	PQclear(ch);
	PQclear(bands);
	PQclear(pools);
	PQclear(pay);
	if (st != DB_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return st;
}

/* ---- energy ---- */

enum db_status bill_report_energy(PGconn *c, int64_t site, int year, int month, json_t **out)
{
	struct period pd;
	period_init(&pd, year, month);
	int digits;
	enum db_status st = head(c, site, &pd, "energy", out, &digits);
	if (st != DB_OK)
		return st;
	PGresult *tot = NULL, *cat = NULL, *pools = NULL, *heat = NULL, *top = NULL;
	if ((st = run_range(c, "rep_en_totals", site, &pd, 0, 0, &tot)) != DB_OK ||
	    (st = run_range(c, "rep_en_categories", site, &pd, 0, 0, &cat)) != DB_OK ||
	    (st = run_range(c, "rep_en_pools", site, &pd, 0, 0, &pools)) != DB_OK ||
	    (st = run_range(c, "rep_en_heat", site, &pd, 0, 0, &heat)) != DB_OK ||
	    (st = run_range(c, "rep_en_top", site, &pd, 0, 0, &top)) != DB_OK)
		goto done;
	json_t *o = *out;
	int64_t now = PQntuples(tot) ? db_int64(tot, 0, 0) : 0, before = PQntuples(tot) ? db_int64(tot, 0, 1) : 0;
	json_object_set_new(o, "total_wh", i64(now));
	json_object_set_new(o, "previous_month_wh", i64(before));
	json_object_set_new(o, "public_wh", i64(PQntuples(tot) ? db_int64(tot, 0, 2) : 0));
	if (before > 0) {
		char pct[64];
		json_object_set_new(o, "change_pct", json_string(bill_format_percent(now - before, before, 1, pct, sizeof pct)));
	} else {
		json_object_set_new(o, "change_pct", json_null());
	}
	json_t *a = json_array();
	for (int i = 0; i < PQntuples(cat); i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "category", PQgetvalue(cat, i, 0), "tenants",
						   (json_int_t)db_int64(cat, i, 1), "wh", (json_int_t)db_int64(cat, i, 2)));
	json_object_set_new(o, "by_category", a);
	a = json_array();
	for (int i = 0; i < PQntuples(pools); i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "pool", PQgetvalue(pools, i, 0), "wh",
						   (json_int_t)db_int64(pools, i, 1)));
	json_object_set_new(o, "by_pool", a);
	/* day x hour, every cell present */
	int days = 31;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	days = mdays[month - 1] + (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0));
	json_t *grid = json_array();
	int64_t cells[31][24] = {{0}};
	for (int i = 0; i < PQntuples(heat); i++) {
		int64_t d = db_int64(heat, i, 0), h = db_int64(heat, i, 1);
		if (d >= 0 && d < days && h >= 0 && h < 24)
			cells[d][h] += db_int64(heat, i, 2);
	}
	for (int d = 0; d < days; d++) {
		json_t *row = json_array();
		for (int h = 0; h < 24; h++)
			json_array_append_new(row, i64(cells[d][h]));
		json_array_append_new(grid, row);
	}
	json_object_set_new(o, "public_load_wh_by_day_hour", grid);
	a = json_array();
	for (int i = 0; i < PQntuples(top); i++) {
		char tid[32];
		snprintf(tid, sizeof tid, "ten_%s", PQgetvalue(top, i, 0));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "tenant_id", tid, "name", PQgetvalue(top, i, 1),
						   "category", PQgetvalue(top, i, 2), "wh", (json_int_t)db_int64(top, i, 3)));
	}
	json_object_set_new(o, "top_consumers", a);
done:
	PQclear(tot);
	PQclear(cat);
	PQclear(pools);
	PQclear(heat);
	PQclear(top);
	if (st != DB_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return st;
}
