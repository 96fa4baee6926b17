/* reports.c: the SQL of the monthly reports (see reports.h). Every result is read by column
 * name into core/report_doc.h's structs. */
#include "store/reports.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The site-local month [$2, $2 + 1 month) of site $1, as instants and as dates. */
#define PERIOD                                                                                  \
	"p AS MATERIALIZED (SELECT s.id, s.name, s.timezone, s.currency, ($2::date)::timestamp AT TIME ZONE s.timezone AS t0," \
	" (($2::date + interval '1 month')::date)::timestamp AT TIME ZONE s.timezone AS t1,"     \
	" $2::date AS d0, ($2::date + interval '1 month')::date AS d1 FROM sites s WHERE s.id = $1)"

static const struct db_stmt report_stmts[] = {
	{"rep_site", /* store_report_site: the site and the period's bounds */
	 "WITH " PERIOD " SELECT p.name, p.timezone, p.currency, " SQL_US("p.t0") " AS from_us, " SQL_US("p.t1") " AS to_us FROM p"},
	{"rep_st_accounts", /* store_report_statements: balances and totals per tenant; the opening
			       balance is today's less everything since the month began, so no
			       scan of older history */
	 "WITH " PERIOD ", acc AS (SELECT t.id, t.name, t.category, t.area_centi_m2, t.phone,"
	 "  t.wechat_openid IS NOT NULL AS wechat, a.id AS aid, a.currency,"
	 "  a.balance_minor FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 "  WHERE t.id >= $3 AND t.id < $4)"
	 " SELECT acc.id AS tenant_id, acc.name, acc.category, acc.area_centi_m2, acc.currency,"
	 " acc.balance_minor - coalesce(s.since, 0) AS opening_minor,"
	 " coalesce(s.topup, 0) AS topup_sum, coalesce(s.energy, 0) AS energy_sum, coalesce(s.alloc, 0) AS alloc_sum,"
	 " coalesce(s.adj, 0) AS adj_sum, coalesce(s.refund, 0) AS refund_sum, acc.phone, acc.wechat"
	 " FROM acc CROSS JOIN p LEFT JOIN LATERAL (SELECT sum(e.amount_minor) AS since," /* per account: its index */
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'topup') AS topup,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'energy_charge') AS energy,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind IN ('allocation', 'reversal')) AS alloc,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'adjustment') AS adj,"
	 "  sum(e.amount_minor) FILTER (WHERE e.at < p.t1 AND e.kind = 'refund') AS refund"
	 "  FROM ledger_entries e WHERE e.account_id = acc.aid AND e.at >= p.t0) s ON true"
	 " ORDER BY acc.id"},
	{"rep_st_entries", /* store_report_statements: every entry but energy charges, listed, with
			   what the documents show of their refs */
	 "WITH " PERIOD " SELECT a.tenant_id, " SQL_US("e.at") " AS at_us, e.kind, e.amount_minor,"
	 " CASE WHEN jsonb_typeof(e.ref->'channel') = 'string' THEN e.ref->>'channel' ELSE 'other' END AS channel,"
	 " e.ref->>'run_id' AS run_id, (e.ref->'basis')::text AS basis, e.ref->>'basis_unit' AS basis_unit,"
	 " e.ref->>'reason' AS reason, coalesce(cp.name, '') AS pool, coalesce(r.period, e.ref->>'period', '') AS run_period,"
	 " to_char(e.at AT TIME ZONE p.timezone, 'YYYY-MM-DD HH24:MI') AS local_time"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 " JOIN ledger_entries e ON e.account_id = a.id AND e.at >= p.t0 AND e.at < p.t1 AND e.kind <> 'energy_charge'"
	 " LEFT JOIN allocation_runs r ON e.kind IN ('allocation', 'reversal')"
	 "  AND r.id = nullif(split_part(coalesce(e.ref->>'run_id', ''), '_', 2), '')::bigint"
	 " LEFT JOIN cost_pools cp ON cp.id = coalesce(r.pool_id," /* a move-out's share names its pool */
	 "  nullif(split_part(coalesce(e.ref->>'pool_id', ''), '_', 2), '')::bigint)"
	 " WHERE t.id >= $3 AND t.id < $4 ORDER BY a.tenant_id, e.at, e.id"},
	{"rep_st_bands", /* store_report_statements: energy by band from the daily rollup */
	 "WITH " PERIOD " SELECT m.tenant_id, d.band, sum(d.wh)::bigint AS wh, sum(d.cost_nano)::bigint AS cost_nano"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NOT NULL"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " WHERE m.tenant_id >= $3 AND m.tenant_id < $4 GROUP BY m.tenant_id, d.band ORDER BY 1, 2"},
	{"rep_st_daily", /* store_report_statements: kWh by day */
	 "WITH " PERIOD " SELECT m.tenant_id, d.day::text AS day, sum(d.wh)::bigint AS wh"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NOT NULL"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " WHERE m.tenant_id >= $3 AND m.tenant_id < $4 GROUP BY m.tenant_id, d.day ORDER BY 1, 2"},
	{"rep_fin_totals", /* store_report_finance: liability from today's balances less what moved
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
	 " SELECT coalesce(sum(now - s0), 0) AS liability_start, coalesce(sum(now - s1), 0) AS liability_end,"
	 "  coalesce(sum(topup), 0) AS topup_sum, coalesce(sum(energy), 0) AS energy_sum,"
	 "  coalesce(sum(alloc), 0) AS alloc_sum, coalesce(sum(adj), 0) AS adj_sum, coalesce(sum(refund), 0) AS refund_sum,"
	 "  count(*) AS tenants, count(*) FILTER (WHERE now - s1 < 0) AS in_arrears,"
	 "  (SELECT count(*) FROM commands c JOIN acc ON acc.id = c.account_id, p WHERE c.action = 'cut_off'"
	 "   AND c.state <> 'superseded' AND c.created_at >= p.t0 AND c.created_at < p.t1) AS cut_offs,"
	 "  (SELECT count(*) FROM commands c JOIN acc ON acc.id = c.account_id, p WHERE c.action = 'restore'"
	 "   AND c.state <> 'superseded' AND c.created_at >= p.t0 AND c.created_at < p.t1) AS restores,"
	 "  (SELECT count(*) FROM payment_conflicts pc JOIN payments py ON py.id = pc.payment_id"
	 "   LEFT JOIN tenants pt ON pt.id = py.tenant_id, p WHERE pc.state = 'open'"
	 "   AND (pt.site_id = p.id OR py.tenant_id IS NULL)) AS conflicts_open"
	 " FROM b"},
	{"rep_fin_channels", /* store_report_finance: top-ups by channel */
	 "WITH " PERIOD " SELECT coalesce(e.ref->>'channel', 'other') AS channel, count(*) AS n,"
	 " sum(e.amount_minor)::bigint AS amount_minor"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 " JOIN ledger_entries e ON e.account_id = a.id AND e.at >= p.t0 AND e.at < p.t1 AND e.kind = 'topup'"
	 " GROUP BY 1 ORDER BY 1"},
	{"rep_fin_bands", /* store_report_finance: energy by band */
	 "WITH " PERIOD " SELECT d.band, sum(d.wh)::bigint AS wh, sum(d.cost_nano)::bigint AS cost_nano"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NOT NULL"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1 GROUP BY 1 ORDER BY 1"},
	{"rep_fin_pools", /* store_report_finance: allocations by pool */
	 "WITH " PERIOD " SELECT coalesce(cp.name, 'other') AS pool, -sum(e.amount_minor)::bigint AS amount_minor"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN accounts a ON a.tenant_id = t.id"
	 " JOIN ledger_entries e ON e.account_id = a.id AND e.at >= p.t0 AND e.at < p.t1"
	 "  AND e.kind IN ('allocation', 'reversal')"
	 " LEFT JOIN allocation_runs r ON r.id = nullif(split_part(coalesce(e.ref->>'run_id', ''), '_', 2), '')::bigint"
	 " LEFT JOIN cost_pools cp ON cp.id = coalesce(r.pool_id," /* a move-out's share names its pool */
	 "  nullif(split_part(coalesce(e.ref->>'pool_id', ''), '_', 2), '')::bigint) GROUP BY 1 ORDER BY 1"},
	{"rep_fin_payments", /* store_report_finance: payments received vs ledger credits */
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
	 " SELECT pr.provider, coalesce(paid.n, 0) AS payments, coalesce(paid.received, 0)::bigint AS received_minor,"
	 " coalesce(led.credited, 0)::bigint AS credited_minor, coalesce(paid.held, 0)::bigint AS held_minor,"
	 " coalesce(led.refunded, 0)::bigint AS refunded_minor"
	 " FROM pr LEFT JOIN paid USING (provider) LEFT JOIN led USING (provider) ORDER BY 1"},
	{"rep_en_totals", /* store_report_energy: this month and the one before, tenants and public */
	 "WITH " PERIOD " SELECT"
	 " coalesce(sum(d.wh) FILTER (WHERE d.day >= p.d0), 0)::bigint AS total_wh,"
	 " coalesce(sum(d.wh) FILTER (WHERE d.day < p.d0), 0)::bigint AS previous_wh,"
	 " coalesce(sum(d.wh) FILTER (WHERE d.day >= p.d0 AND m.tenant_id IS NULL), 0)::bigint AS public_wh"
	 " FROM p JOIN meters m ON m.site_id = p.id"
	 " LEFT JOIN meter_daily d ON d.meter_id = m.id AND d.day >= (p.d0 - interval '1 month')::date AND d.day < p.d1"
	 " GROUP BY p.id"},
	{"rep_en_categories", /* store_report_energy */
	 "WITH " PERIOD " SELECT t.category, count(DISTINCT t.id) AS tenants, coalesce(sum(d.wh), 0)::bigint AS wh"
	 " FROM p JOIN tenants t ON t.site_id = p.id LEFT JOIN meters m ON m.tenant_id = t.id"
	 " LEFT JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " GROUP BY 1 ORDER BY 3 DESC, 1"},
	{"rep_en_pools", /* store_report_energy: public pools by their meters */
	 "WITH " PERIOD " SELECT cp.name AS pool, coalesce((SELECT sum(d.wh) FROM meter_daily d"
	 "  WHERE d.meter_id = ANY(cp.meter_ids || coalesce(cp.main_meter_id, 0)) AND d.day >= p.d0 AND d.day < p.d1), 0)::bigint AS wh"
	 " FROM p JOIN cost_pools cp ON cp.site_id = p.id ORDER BY cp.id"},
	{"rep_en_heat", /* store_report_energy: public load by day and hour */
	 "WITH " PERIOD " SELECT (h.day - p.d0) AS day, h.hour, sum(h.wh)::bigint AS wh"
	 " FROM p JOIN meters m ON m.site_id = p.id AND m.tenant_id IS NULL"
	 " JOIN meter_hourly h ON h.meter_id = m.id AND h.day >= p.d0 AND h.day < p.d1 GROUP BY 1, 2"},
	{"rep_en_top", /* store_report_energy: the ten largest consumers */
	 "WITH " PERIOD " SELECT t.id AS tenant_id, t.name, t.category, sum(d.wh)::bigint AS wh"
	 " FROM p JOIN tenants t ON t.site_id = p.id JOIN meters m ON m.tenant_id = t.id"
	 " JOIN meter_daily d ON d.meter_id = m.id AND d.day >= p.d0 AND d.day < p.d1"
	 " GROUP BY t.id ORDER BY wh DESC, t.id LIMIT 10"},
	{0, 0},
};

void store_reports_register(void) { db_register(report_stmts); }

/* Every row of stmt for site s's month (and, when range is given, the tenant ids
 * [range[0], range[1]) as $3, $4) into a new array (db_exec_rows). */
static enum db_status rows(PGconn *c, const char *stmt, const struct report_site *s, const int64_t *range,
			   struct db_col *spec, void *row, size_t size, void **out, int *n)
{
	struct db_params p = {0};
	db_p_i64(&p, s->id);
	db_p_text(&p, s->first);
	if (range) {
		db_p_i64(&p, range[0]);
		db_p_i64(&p, range[1]);
	}
	return db_exec_rows(c, stmt, &p, spec, row, size, out, n);
}

/* The one row of stmt for site s's month into spec (none: spec's destinations untouched). */
static enum db_status one(PGconn *c, const char *stmt, const struct report_site *s, struct db_col *spec, bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, s->id);
	db_p_text(&p, s->first);
	return db_exec_row(c, stmt, &p, spec, found);
}

enum db_status store_report_site(PGconn *c, struct report_site *s, bool *found)
{
	struct db_col spec[] = {
		DB_COL("name", DB_TEXT_NEW, &s->name),
		DB_COL_TEXT("timezone", s->timezone),
		DB_COL_TEXT("currency", s->currency),
		DB_COL("from_us", DB_I64, &s->from_us),
		DB_COL("to_us", DB_I64, &s->to_us),
		{0},
	};
	return one(c, "rep_site", s, spec, found);
}

#define SUMS_SPEC(m)                                                                                      \
	DB_COL("topup_sum", DB_I64, &(m).topup), DB_COL("energy_sum", DB_I64, &(m).energy),               \
		DB_COL("alloc_sum", DB_I64, &(m).alloc), DB_COL("adj_sum", DB_I64, &(m).adj),             \
		DB_COL("refund_sum", DB_I64, &(m).refund)

#define BAND_SPEC(b)                                                                                      \
	DB_COL("band", DB_TEXT_NEW, &(b).band), DB_COL("wh", DB_I64, &(b).wh),                            \
		DB_COL("cost_nano", DB_I64, &(b).cost_nano)

/* The rows of tenant tid from *at on, in an array of n rows of size bytes that each start
 * with their tenant's id, ordered by tenant: rows before tid (a tenant outside the
 * statements) are passed over. Returns the slice's start, its length in *len; *at moves
 * past it. */
_Static_assert(offsetof(struct statement_entry, tenant_id) == 0 && offsetof(struct report_band, tenant_id) == 0 &&
		       offsetof(struct statement_day, tenant_id) == 0,
	       "slice() reads a row's tenant id at its start");

static const void *slice(const void *rows_, size_t size, int n, int *at, int64_t tid, int *len)
{
	const char *r = rows_;
	int64_t t;
	while (*at < n && (memcpy(&t, r + (size_t)*at * size, sizeof t), t < tid))
		(*at)++;
	int from = *at;
	while (*at < n && (memcpy(&t, r + (size_t)*at * size, sizeof t), t == tid))
		(*at)++;
	*len = *at - from;
	return r ? r + (size_t)from * size : NULL;
}

enum db_status store_report_statements(PGconn *c, int64_t from, int64_t to, struct statement_set *s)
{
	const int64_t range[2] = {from, to};
	struct statement a;
	struct db_col acc[] = {
		DB_COL("tenant_id", DB_I64, &a.tenant_id),
		DB_COL("name", DB_TEXT_NEW, &a.name),
		DB_COL("category", DB_TEXT_NEW, &a.category),
		DB_COL("area_centi_m2", DB_I64, &a.area_centi_m2),
		DB_COL_TEXT("currency", a.currency),
		DB_COL("opening_minor", DB_I64, &a.opening_minor),
		SUMS_SPEC(a.sums),
		DB_COL("phone", DB_TEXT_NEW, &a.phone),
		DB_COL("wechat", DB_BOOL, &a.wechat),
		{0},
	};
	struct statement_entry e;
	struct db_col ent[] = {
		DB_COL("tenant_id", DB_I64, &e.tenant_id),
		DB_COL("at_us", DB_I64, &e.at_us),
		DB_COL_TEXT("kind", e.kind),
		DB_COL("amount_minor", DB_I64, &e.amount_minor),
		DB_COL_TEXT("channel", e.channel),
		DB_COL("run_id", DB_TEXT_NEW, &e.run_id),
		DB_COL("basis", DB_TEXT_NEW, &e.basis_json),
		DB_COL("basis_unit", DB_TEXT_NEW, &e.basis_unit),
		DB_COL("reason", DB_TEXT_NEW, &e.reason),
		DB_COL("pool", DB_TEXT_NEW, &e.pool),
		DB_COL_TEXT("run_period", e.period),
		DB_COL_TEXT("local_time", e.local_time),
		{0},
	};
	struct report_band b;
	struct db_col band[] = {DB_COL("tenant_id", DB_I64, &b.tenant_id), BAND_SPEC(b), {0}};
	struct statement_day d;
	struct db_col day[] = {DB_COL("tenant_id", DB_I64, &d.tenant_id), DB_COL_TEXT("day", d.date),
			       DB_COL("wh", DB_I64, &d.wh), {0}};
	enum db_status st;
	if ((st = rows(c, "rep_st_accounts", &s->site, range, acc, &a, sizeof a, (void **)&s->items, &s->n)) != DB_OK ||
	    (st = rows(c, "rep_st_entries", &s->site, range, ent, &e, sizeof e, (void **)&s->entries, &s->nentries)) !=
		    DB_OK ||
	    (st = rows(c, "rep_st_bands", &s->site, range, band, &b, sizeof b, (void **)&s->bands, &s->nbands)) != DB_OK ||
	    (st = rows(c, "rep_st_daily", &s->site, range, day, &d, sizeof d, (void **)&s->days, &s->ndays)) != DB_OK)
		return st;
	/* Every result is ordered by tenant: walk them side by side. */
	int ie = 0, ib = 0, id = 0;
	for (int i = 0; i < s->n; i++) {
		struct statement *x = &s->items[i];
		x->entries = slice(s->entries, sizeof *s->entries, s->nentries, &ie, x->tenant_id, &x->nentries);
		x->bands = slice(s->bands, sizeof *s->bands, s->nbands, &ib, x->tenant_id, &x->nbands);
		x->daily = slice(s->days, sizeof *s->days, s->ndays, &id, x->tenant_id, &x->ndaily);
	}
	return DB_OK;
}

enum db_status store_report_finance(PGconn *c, struct finance_report *f)
{
	struct finance_totals *t = &f->t;
	struct db_col tot[] = {
		DB_COL("liability_start", DB_I64, &t->liability_start_minor),
		DB_COL("liability_end", DB_I64, &t->liability_end_minor),
		SUMS_SPEC(t->sums),
		DB_COL("tenants", DB_I64, &t->tenants),
		DB_COL("in_arrears", DB_I64, &t->tenants_in_arrears),
		DB_COL("cut_offs", DB_I64, &t->cut_offs),
		DB_COL("restores", DB_I64, &t->restores),
		DB_COL("conflicts_open", DB_I64, &t->conflicts_open),
		{0},
	};
	struct finance_channel ch;
	struct db_col chan[] = {DB_COL_TEXT("channel", ch.channel), DB_COL("n", DB_I64, &ch.count),
				DB_COL("amount_minor", DB_I64, &ch.amount_minor), {0}};
	struct report_band b;
	struct db_col band[] = {BAND_SPEC(b), {0}};
	struct finance_pool pl;
	struct db_col pool[] = {DB_COL("pool", DB_TEXT_NEW, &pl.pool), DB_COL("amount_minor", DB_I64, &pl.amount_minor),
				{0}};
	struct finance_payment py;
	struct db_col pay[] = {
		DB_COL_TEXT("provider", py.provider),
		DB_COL("payments", DB_I64, &py.payments),
		DB_COL("received_minor", DB_I64, &py.received_minor),
		DB_COL("credited_minor", DB_I64, &py.credited_minor),
		DB_COL("held_minor", DB_I64, &py.held_minor),
		DB_COL("refunded_minor", DB_I64, &py.refunded_minor),
		{0},
	};
	enum db_status st;
	if ((st = one(c, "rep_fin_totals", &f->site, tot, NULL)) != DB_OK ||
	    (st = rows(c, "rep_fin_channels", &f->site, NULL, chan, &ch, sizeof ch, (void **)&f->channels,
		       &f->nchannels)) != DB_OK ||
	    (st = rows(c, "rep_fin_bands", &f->site, NULL, band, &b, sizeof b, (void **)&f->bands, &f->nbands)) != DB_OK ||
	    (st = rows(c, "rep_fin_pools", &f->site, NULL, pool, &pl, sizeof pl, (void **)&f->pools, &f->npools)) != DB_OK)
		return st;
	return rows(c, "rep_fin_payments", &f->site, NULL, pay, &py, sizeof py, (void **)&f->payments, &f->npayments);
}

enum db_status store_report_energy(PGconn *c, struct energy_report *e)
{
	struct db_col tot[] = {
		DB_COL("total_wh", DB_I64, &e->t.total_wh),
		DB_COL("previous_wh", DB_I64, &e->t.previous_wh),
		DB_COL("public_wh", DB_I64, &e->t.public_wh),
		{0},
	};
	struct energy_category ca;
	struct db_col cat[] = {DB_COL("category", DB_TEXT_NEW, &ca.category), DB_COL("tenants", DB_I64, &ca.tenants),
			       DB_COL("wh", DB_I64, &ca.wh), {0}};
	struct energy_pool pl;
	struct db_col pool[] = {DB_COL("pool", DB_TEXT_NEW, &pl.pool), DB_COL("wh", DB_I64, &pl.wh), {0}};
	struct energy_cell h;
	struct db_col heat[] = {DB_COL("day", DB_I64, &h.day), DB_COL("hour", DB_I64, &h.hour), DB_COL("wh", DB_I64, &h.wh),
				{0}};
	struct energy_top tp;
	struct db_col top[] = {DB_COL("tenant_id", DB_I64, &tp.tenant_id), DB_COL("name", DB_TEXT_NEW, &tp.name),
			       DB_COL("category", DB_TEXT_NEW, &tp.category), DB_COL("wh", DB_I64, &tp.wh), {0}};
	enum db_status st;
	/* no meters, no row: the totals stay 0 */
	if ((st = one(c, "rep_en_totals", &e->site, tot, NULL)) != DB_OK ||
	    (st = rows(c, "rep_en_categories", &e->site, NULL, cat, &ca, sizeof ca, (void **)&e->categories,
		       &e->ncategories)) != DB_OK ||
	    (st = rows(c, "rep_en_pools", &e->site, NULL, pool, &pl, sizeof pl, (void **)&e->pools, &e->npools)) != DB_OK ||
	    (st = rows(c, "rep_en_heat", &e->site, NULL, heat, &h, sizeof h, (void **)&e->heat, &e->nheat)) != DB_OK)
		return st;
	return rows(c, "rep_en_top", &e->site, NULL, top, &tp, sizeof tp, (void **)&e->top, &e->ntop);
}
