/* payments.c: top-up orders, the providers' signed notifications (WeChat Pay, Alipay,
 * Stripe), refunds, and the conflicts finance resolves.
 *
 * A notification is checked in this order: the provider is configured, the signature
 * over the raw bytes verifies (billing/paysig.c), the merchant is ours; then one
 * transaction locks the order, records the payment under UNIQUE (provider, provider
 * payment id) and, when it matches the order, credits the account (ledger entry, state
 * machine, receipt) before committing. A replay finds the payment recorded and credits
 * nothing; a genuine payment that does not match its order is kept as a conflict. */
#include "api/api.h"
#include "api/qr.h"
#include "core/valid.h"
#include "ops/ledger.h"
#include "core/money.h"
#include "core/paysig.h"
#include "core/clock.h"
#include "core/log.h"
#include "api/metrics.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ID_ORDER "ord"
#define ID_PAYMENT "pay"
#define ID_CONFLICT "pcf"

/* Amounts are bounded far inside int64, as for cashier top-ups. */
#define MAX_AMOUNT INT64_C(1000000000000000)

enum provider { PROV_WECHAT, PROV_ALIPAY, PROV_STRIPE, PROV__COUNT };
static const char *const provider_names[] = {"wechat", "alipay", "stripe", NULL};

/* Configuration, loaded once by api_payments_start before serving; read-only after. */
static struct {
	bool on[PROV__COUNT];
	unsigned char wx_key[32];
	EVP_PKEY *wx_pub;
	const char *wx_serial, *wx_mchid;
	EVP_PKEY *ali_pub;
	const char *ali_app_id;
	const char *stripe_secret;
	const char *pay_url;
	int64_t ttl_s;
} cfg;

/* wattle_payment_notifications_total{provider,outcome} */
enum outcome { OUT_CREDITED, OUT_REPLAY, OUT_CONFLICT, OUT_REFUND, OUT_IGNORED, OUT_REFUSED, OUT__COUNT };
static const char *const note_labels[PROV__COUNT * OUT__COUNT] = {
#define L(p) "provider=\"" p "\",outcome=\"credited\"", "provider=\"" p "\",outcome=\"replay\"",   \
	     "provider=\"" p "\",outcome=\"conflict\"", "provider=\"" p "\",outcome=\"refund\"",    \
	     "provider=\"" p "\",outcome=\"ignored\"", "provider=\"" p "\",outcome=\"refused\""
	L("wechat"), L("alipay"), L("stripe")
#undef L
};
static _Atomic uint64_t note_values[PROV__COUNT * OUT__COUNT];
static struct srv_counters note_counters = {
	"wattle_payment_notifications_total",
	"Payment notifications by provider and outcome (refused: signature, merchant or body).",
	PROV__COUNT * OUT__COUNT, note_labels, note_values, NULL};

static void count(enum provider p, enum outcome o)
{
	srv_counters_add(&note_counters, (int)p * OUT__COUNT + (int)o, 1);
}

#define ORDER_COLS                                                                              \
	"o.id, o.out_trade_no, o.tenant_id, o.provider, o.amount_minor, o.currency, o.status,"  \
	" o.pay_url, " SQL_US("o.created_at") ", " SQL_US("o.expires_at") ", "                 \
	SQL_US("o.paid_at") ", o.payment_id"

#define CONFLICT_COLS                                                                           \
	"c.id, c.reason, c.expected_minor, c.expected_currency, c.state, " SQL_US("c.created_at") \
	", " SQL_US("c.resolved_at") ", c.resolution_reason, c.ledger_entry_id, p.id, p.provider,"  \
	" p.provider_txn_id, p.out_trade_no, p.amount_minor, p.currency, p.tenant_id,"            \
	" p.refunded_minor, " SQL_US("p.received_at") ", p.order_id"

static const struct db_stmt pay_stmts[] = {
	{"order_account", /* api_orders_create */
	 "SELECT currency FROM accounts WHERE tenant_id = $1"},
	{"order_insert", /* api_orders_create */
	 "INSERT INTO topup_orders AS o (out_trade_no, tenant_id, provider, amount_minor, currency, pay_url,"
	 " created_at, expires_at, api_key_id) VALUES ($1, $2, $3, $4, $5, $6, " SQL_TS("$7") ", "
	 SQL_TS("$8") ", $9) RETURNING " ORDER_COLS},
	{"order_get", /* api_orders_get */
	 "SELECT " ORDER_COLS " FROM topup_orders o WHERE o.id = $1"},
	{"order_lock", /* credit_tx: the order, locked, so deliveries of one payment queue here */
	 "SELECT id, tenant_id, amount_minor, currency, status FROM topup_orders"
	 " WHERE out_trade_no = $1 FOR UPDATE"},
	{"pay_account", /* credit_tx, resolve_tx: an order-less payment's account */
	 "SELECT currency FROM accounts WHERE tenant_id = $1"},
	{"pay_insert", /* credit_tx: nothing when the provider reported this payment before */
	 "INSERT INTO payments (provider, provider_txn_id, out_trade_no, order_id, tenant_id,"
	 " amount_minor, currency, status, event, received_at, request_id)"
	 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, " SQL_TS("$10") ", $11)"
	 " ON CONFLICT (provider, provider_txn_id) DO NOTHING RETURNING id"},
	{"pay_set", /* credit_tx, resolve_tx */
	 "UPDATE payments SET status = $2, ledger_entry_id = coalesce($3, ledger_entry_id),"
	 " tenant_id = coalesce($4, tenant_id) WHERE id = $1"},
	{"conflict_insert", /* credit_tx */
	 "INSERT INTO payment_conflicts (payment_id, reason, expected_minor, expected_currency, created_at)"
	 " VALUES ($1, $2, $3, $4, " SQL_TS("$5") ") RETURNING id"},
	{"order_paid", /* credit_tx, resolve_tx */
	 "UPDATE topup_orders SET status = 'paid', payment_id = $2, paid_at = " SQL_TS("$3")
	 " WHERE id = $1 AND status = 'open'"},
	{"pay_lock", /* refund_tx */
	 "SELECT id, status, amount_minor, refunded_minor, coalesce(tenant_id, 0), coalesce(out_trade_no, '')"
	 " FROM payments WHERE provider = $1 AND provider_txn_id = $2 FOR UPDATE"},
	{"refund_insert", /* refund_tx: nothing when this refund was recorded before */
	 "INSERT INTO payment_refunds (payment_id, refund_ref, amount_minor, event, received_at)"
	 " VALUES ($1, $2, $3, $4::jsonb, " SQL_TS("$5") ") ON CONFLICT DO NOTHING RETURNING id"},
	{"refund_done", /* refund_tx */
	 "WITH r AS (UPDATE payment_refunds SET ledger_entry_id = $3 WHERE id = $2)"
	 " UPDATE payments SET refunded_minor = refunded_minor + $4 WHERE id = $1"},
	{"conflict_list", /* api_conflicts_list */
	 "SELECT " CONFLICT_COLS " FROM payment_conflicts c JOIN payments p ON p.id = c.payment_id"
	 " WHERE c.id > $1 AND ($3::text IS NULL OR c.state = $3) ORDER BY c.id LIMIT $2"},
	{"conflict_lock", /* resolve_tx */
	 "SELECT " CONFLICT_COLS " FROM payment_conflicts c JOIN payments p ON p.id = c.payment_id"
	 " WHERE c.id = $1 FOR UPDATE OF c, p"},
	{"conflict_set", /* resolve_tx */
	 "UPDATE payment_conflicts SET state = $2, resolved_at = " SQL_TS("$3") ", resolved_by_key = $4,"
	 " resolution_reason = $5, ledger_entry_id = $6 WHERE id = $1"},
	{0, 0},
};

void api_register_statements_payments(void);
void api_register_statements_payments(void) { db_register(pay_stmts); }

/* ---- configuration ---- */

static EVP_PKEY *load_pubkey(const char *var, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		srv_log(LOG_ERROR, "payments: %s: cannot open %s", var, path);
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!k) { /* a platform certificate holds the key too */
		rewind(f);
		X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
		if (x) {
			k = X509_get_pubkey(x);
			X509_free(x);
		}
	}
	fclose(f);
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		srv_log(LOG_ERROR, "payments: %s: %s holds no RSA public key (PEM)", var, path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static bool set(const char *v) { return v && *v; }

/* All of a provider's settings or none: half a configuration is a mistake to report. */
static int need_all(const char *provider, const char *const *names, const char *const *vals)
{
	int have = 0, n = 0;
	for (; names[n]; n++)
		have += set(vals[n]);
	if (have == 0)
		return 0;
	if (have == n)
		return 1;
	for (int i = 0; names[i]; i++)
		if (!set(vals[i]))
			srv_log(LOG_ERROR, "payments: %s is configured in part: %s is missing", provider, names[i]);
	return -1;
}

int api_payments_start(const struct api_pay_settings *ps)
{
	static const char *const wx[] = {"WATTLE_WECHAT_APIV3_KEY", "WATTLE_WECHAT_PLATFORM_PUBKEY",
					 "WATTLE_WECHAT_PLATFORM_SERIAL", "WATTLE_WECHAT_MCHID", NULL};
	static const char *const ali[] = {"WATTLE_ALIPAY_PUBKEY", "WATTLE_ALIPAY_APP_ID", NULL};
	static const char *const st[] = {"WATTLE_STRIPE_WEBHOOK_SECRET", NULL};
	const char *wxv[] = {ps->wx_apiv3_key, ps->wx_pubkey_path, ps->wx_serial, ps->wx_mchid};
	const char *aliv[] = {ps->ali_pubkey_path, ps->ali_app_id};
	const char *stv[] = {ps->stripe_secret};
	int w = need_all("wechat", wx, wxv), a = need_all("alipay", ali, aliv), s = need_all("stripe", st, stv);
	if (w < 0 || a < 0 || s < 0)
		return -1;
	if (w) {
		if (strlen(ps->wx_apiv3_key) != 32) {
			srv_log(LOG_ERROR, "payments: WATTLE_WECHAT_APIV3_KEY must be the 32-byte APIv3 key");
			return -1;
		}
		memcpy(cfg.wx_key, ps->wx_apiv3_key, 32);
		if (!(cfg.wx_pub = load_pubkey("WATTLE_WECHAT_PLATFORM_PUBKEY", ps->wx_pubkey_path)))
			return -1;
		cfg.wx_serial = ps->wx_serial;
		cfg.wx_mchid = ps->wx_mchid;
	}
	if (a) {
		if (!(cfg.ali_pub = load_pubkey("WATTLE_ALIPAY_PUBKEY", ps->ali_pubkey_path)))
			return -1;
		cfg.ali_app_id = ps->ali_app_id;
	}
	if (s)
		cfg.stripe_secret = ps->stripe_secret;
	cfg.on[PROV_WECHAT] = w;
	cfg.on[PROV_ALIPAY] = a;
	cfg.on[PROV_STRIPE] = s;
	cfg.pay_url = set(ps->pay_url) ? ps->pay_url : "https://pay.wattle.invalid/topup";
	cfg.ttl_s = ps->order_ttl_s > 0 ? ps->order_ttl_s : 1800;
	srv_counters_register(&note_counters);
	srv_log(LOG_INFO, "payments: wechat %s, alipay %s, stripe %s", w ? "on" : "off", a ? "on" : "off",
		s ? "on" : "off");
	return 0;
}

void api_payments_stop(void)
{
	EVP_PKEY_free(cfg.wx_pub);
	EVP_PKEY_free(cfg.ali_pub);
	OPENSSL_cleanse(cfg.wx_key, sizeof cfg.wx_key);
	memset(&cfg, 0, sizeof cfg);
}

/* ---- orders ---- */

static json_t *order_json(const PGresult *r, int i)
{
	const char *status = PQgetvalue(r, i, 6);
	if (!strcmp(status, "open") && db_int64(r, i, 9) <= srv_clock_now_us())
		status = "expired";
	json_t *o = json_pack("{s:o, s:s, s:o, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
			      api_id_col(ID_ORDER, r, i, 0), "out_trade_no", PQgetvalue(r, i, 1),
			      "tenant_id", api_id_col(ID_TENANT, r, i, 2), "provider",
			      PQgetvalue(r, i, 3), "amount_minor", api_int_col(r, i, 4), "currency",
			      PQgetvalue(r, i, 5), "status", status, "pay_url", PQgetvalue(r, i, 7),
			      "created_at", api_time_col(r, i, 8), "expires_at", api_time_col(r, i, 9),
			      "paid_at", api_time_col(r, i, 10), "payment_id",
			      api_id_col(ID_PAYMENT, r, i, 11));
	char *svg = api_qr_svg(PQgetvalue(r, i, 7));
	json_object_set_new(o, "qr_svg", svg ? json_string(svg) : json_null());
	free(svg);
	return o;
}

struct order_tx {
	struct req *rq;
	int64_t tenant_id;
	const char *provider;
	json_t *out;
};

static enum db_status order_tx(PGconn *c, void *arg)
{
	struct order_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	char tid[I64_BUF], amt[I64_BUF], now[I64_BUF], exp[I64_BUF], kid[I64_BUF];
	const char *p[9] = {NULL, api_i64(tid, t->tenant_id)};
	PGresult *r;
	if ((st = db_exec(c, "order_account", 1, p + 1, &r)) != DB_OK) {
		PQclear(r);
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		api_field_error(rq, "tenant_id", "no tenant %s", api_body_str(rq, "tenant_id"));
		return DB_ABORT;
	}
	char currency[4];
	snprintf(currency, sizeof currency, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	/* out_trade_no: 26 characters WeChat, Alipay and Stripe all accept; random, so that
	 * an order number tells nothing and cannot be guessed. */
	unsigned char raw[12];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return DB_HARD;
	char otn[32] = "wt";
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(otn + 2 + 2 * i, 3, "%02x", raw[i]);
	int64_t amount = api_body_int(rq, "amount_minor"), t0 = srv_clock_now_us();
	char url[1024];
	snprintf(url, sizeof url, "%s%cprovider=%s&out_trade_no=%s&amount_minor=%lld&currency=%s",
		 cfg.pay_url, strchr(cfg.pay_url, '?') ? '&' : '?', t->provider, otn,
		 (long long)amount, currency);
	p[0] = otn;
	p[2] = t->provider;
	p[3] = api_i64(amt, amount);
	p[4] = currency;
	p[5] = url;
	p[6] = api_i64(now, t0);
	p[7] = api_i64(exp, t0 + cfg.ttl_s * 1000000);
	p[8] = rq->who.key_id ? api_i64(kid, rq->who.key_id) : NULL;
	if ((st = db_exec(c, "order_insert", 9, p, &r)) != DB_OK) {
		PQclear(r);
		return st;
	}
	json_decref(t->out);
	t->out = order_json(r, 0);
	PQclear(r);
	api_reply(rq, 201, json_incref(t->out));
	st = api_audit(c, rq, "topup_order.create",
		       json_pack("{s:O, s:O, s:I}", "id", json_object_get(t->out, "id"), "tenant_id",
				 json_object_get(t->out, "tenant_id"), "amount_minor", (json_int_t)amount));
	if (st != DB_OK)
		return st;
	return api_idem_finish(c, rq);
}

static int provider_index(const char *name)
{
	for (int i = 0; provider_names[i]; i++)
		if (!strcmp(provider_names[i], name))
			return i;
	return -1;
}

void api_orders_create(struct req *rq)
{
	static const struct field spec[] = {
		{"tenant_id", FK_ID, F_REQ, 0, 0, 0, ID_TENANT},
		{"amount_minor", FK_INT, F_REQ, 1, MAX_AMOUNT, 0, 0},
		{"provider", FK_ENUM, F_REQ, 0, 0, provider_names, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct order_tx t = {rq, api_body_id(rq, ID_TENANT, "tenant_id"), api_body_str(rq, "provider"), NULL};
	if (api_tenant_scope(rq, t.tenant_id))
		return;
	if (!cfg.on[provider_index(t.provider)]) {
		api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL, "%s is not configured on this server",
			  t.provider);
		return;
	}
	api_tx_failed(rq, db_run_tx(order_tx, &t));
	json_decref(t.out);
}

void api_orders_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_ORDER, "top-up order");
	if (!id)
		return;
	char ids[I64_BUF];
	const char *p[1] = {api_i64(ids, id)};
	PGresult *r = api_read(rq, "order_get", 1, p);
	if (!r)
		return;
	if (PQntuples(r) != 1 ||
	    (rq->who.role == ROLE_TENANT && db_int64(r, 0, 2) != rq->who.tenant_id)) {
		/* another tenant's order does not exist as far as a tenant key can tell */
		PQclear(r);
		api_error(rq, E_NOT_FOUND, NULL, "no top-up order %s", rq->args[0]);
		return;
	}
	api_reply(rq, 200, order_json(r, 0));
	PQclear(r);
}

/* ---- notifications: the one transaction ---- */

/* A payment as a provider reports it, once its signature has been checked. */
struct pay_note {
	struct req *rq;
	enum provider prov;
	const char *txn;          /* the provider's payment id */
	const char *out_trade_no; /* our order, or NULL */
	int64_t tenant_hint;      /* Stripe metadata.tenant_id without an order, else 0 */
	int64_t amount;
	char currency[4];
	json_t *event; /* borrowed; stored with the payment */
	/* refunds */
	const char *refund_ref;
	bool refund_cumulative; /* amount is the payment's total refunded so far */
	/* outcome */
	enum outcome out;
	const char *conflict;
	int64_t payment_id;
};

/* Record a conflict for payment pid: nothing is credited. */
static enum db_status record_conflict(PGconn *c, struct pay_note *n, int64_t pid, const char *reason,
				      int64_t expected, const char *expected_cur, int64_t now)
{
	char ids[I64_BUF], exp[I64_BUF], t[I64_BUF];
	const char *p[5] = {api_i64(ids, pid), reason, expected ? api_i64(exp, expected) : NULL,
			    expected_cur, api_i64(t, now)};
	PGresult *r;
	enum db_status st = db_exec(c, "conflict_insert", 5, p, &r);
	PQclear(r);
	if (st != DB_OK)
		return st;
	const char *s[4] = {ids, "conflict", NULL, NULL};
	st = db_exec(c, "pay_set", 4, s, &r);
	PQclear(r);
	n->out = OUT_CONFLICT;
	n->conflict = reason;
	return st;
}

/* Post a top-up of amount for tenant; *ledger_id gets the entry. DB_ABORT with *no_account
 * when the tenant has no account. */
static enum db_status credit(PGconn *c, struct req *rq, int64_t tenant, int64_t amount, json_t *ref,
			     int64_t now, int64_t *ledger_id, bool *no_account)
{
	char *refs = json_dumps(ref, JSON_COMPACT);
	struct bill_entry e;
	enum bill_post_result res;
	enum db_status st = bill_post(c, tenant, "topup", amount, refs, rq->request_id, now, &e, &res);
	free(refs);
	*no_account = st == DB_OK && res != POST_OK;
	if (st == DB_OK && res == POST_OK)
		*ledger_id = e.id;
	return st;
}

static enum db_status credit_tx(PGconn *c, void *arg)
{
	struct pay_note *n = arg;
	int64_t now = srv_clock_now_us(), order = 0, tenant = 0, want = 0;
	char want_cur[4] = "", order_status[8] = "";
	PGresult *r;
	enum db_status st;
	n->conflict = NULL;
	if (n->out_trade_no) {
		const char *p[1] = {n->out_trade_no};
		if ((st = db_exec(c, "order_lock", 1, p, &r)) != DB_OK) {
			PQclear(r);
			return st;
		}
		if (PQntuples(r) == 1) {
			order = db_int64(r, 0, 0);
			tenant = db_int64(r, 0, 1);
			want = db_int64(r, 0, 2);
			snprintf(want_cur, sizeof want_cur, "%s", PQgetvalue(r, 0, 3));
			snprintf(order_status, sizeof order_status, "%s", PQgetvalue(r, 0, 4));
		}
		PQclear(r);
	}
	if (!order && n->tenant_hint) {
		char tid[I64_BUF];
		const char *p[1] = {api_i64(tid, n->tenant_hint)};
		if ((st = db_exec(c, "pay_account", 1, p, &r)) != DB_OK) {
			PQclear(r);
			return st;
		}
		if (PQntuples(r) == 1) {
			tenant = n->tenant_hint;
			want = n->amount; /* no order: whatever was paid */
			snprintf(want_cur, sizeof want_cur, "%s", PQgetvalue(r, 0, 0));
		}
		PQclear(r);
	}
	const char *reason = !tenant                         ? "unknown_order"
			     : strcmp(want_cur, n->currency) ? "currency_mismatch"
			     : want != n->amount             ? "amount_mismatch"
			     : !strcmp(order_status, "paid") ? "order_already_paid"
							     : NULL;
	char *ev = json_dumps(n->event, JSON_COMPACT);
	char oid[I64_BUF], tid[I64_BUF], amt[I64_BUF], t[I64_BUF];
	const char *p[11] = {provider_names[n->prov], n->txn, n->out_trade_no,
			     order ? api_i64(oid, order) : NULL, tenant ? api_i64(tid, tenant) : NULL,
			     api_i64(amt, n->amount), n->currency, reason ? "conflict" : "credited", ev,
			     api_i64(t, now), n->rq->request_id};
	st = db_exec(c, "pay_insert", 11, p, &r);
	free(ev);
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	if (PQntuples(r) == 0) { /* reported before: that answer stands */
		PQclear(r);
		n->out = OUT_REPLAY;
		return DB_OK;
	}
	n->payment_id = db_int64(r, 0, 0);
	PQclear(r);
	if (reason)
		return record_conflict(c, n, n->payment_id, reason, order ? want : 0, want_cur, now);
	json_t *ref = json_pack("{s:s, s:s, s:o, s:s}", "channel", provider_names[n->prov],
				"provider_txn_id", n->txn, "payment_id",
				api_id_json(ID_PAYMENT, n->payment_id), "out_trade_no",
				n->out_trade_no ? n->out_trade_no : "");
	int64_t ledger = 0;
	bool no_account;
	st = credit(c, n->rq, tenant, n->amount, ref, now, &ledger, &no_account);
	json_decref(ref);
	if (st != DB_OK)
		return st;
	if (no_account)
		return record_conflict(c, n, n->payment_id, "no_account", want, want_cur, now);
	char pid[I64_BUF], lid[I64_BUF];
	const char *s[4] = {api_i64(pid, n->payment_id), "credited", api_i64(lid, ledger), NULL};
	if ((st = db_exec(c, "pay_set", 4, s, &r)) != DB_OK) {
		PQclear(r);
		return st;
	}
	PQclear(r);
	if (order) {
		const char *q[3] = {oid, pid, t};
		st = db_exec(c, "order_paid", 3, q, &r);
		PQclear(r);
	}
	n->out = OUT_CREDITED;
	return st;
}

static enum db_status refund_tx(PGconn *c, void *arg)
{
	struct pay_note *n = arg;
	int64_t now = srv_clock_now_us();
	const char *p[2] = {provider_names[n->prov], n->txn};
	PGresult *r;
	enum db_status st = db_exec(c, "pay_lock", 2, p, &r);
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		/* The refund overtook its payment, or names one we never saw: let the provider
		 * deliver it again later. */
		api_error(n->rq, E_NOT_FOUND, NULL, "no payment %s from %s", n->txn, provider_names[n->prov]);
		return DB_ABORT;
	}
	int64_t pid = db_int64(r, 0, 0), paid = db_int64(r, 0, 2), refunded = db_int64(r, 0, 3);
	int64_t tenant = db_int64(r, 0, 4);
	bool credited = !strcmp(PQgetvalue(r, 0, 1), "credited");
	char otn[130];
	snprintf(otn, sizeof otn, "%s", PQgetvalue(r, 0, 5));
	PQclear(r);
	int64_t amount = n->amount;
	char ref_buf[64];
	const char *refund_ref = n->refund_ref;
	if (n->refund_cumulative) {
		snprintf(ref_buf, sizeof ref_buf, "total:%lld", (long long)n->amount);
		refund_ref = ref_buf;
		amount = n->amount - refunded;
		if (amount <= 0) { /* an older or repeated report of what is recorded */
			n->out = OUT_REPLAY;
			return DB_OK;
		}
	}
	if (amount > paid - refunded) {
		srv_log(LOG_ERROR, "payments: %s refund %s of %lld on payment %s exceeds what is left (%lld)",
			provider_names[n->prov], refund_ref, (long long)amount, n->txn,
			(long long)(paid - refunded));
		api_error(n->rq, E_REFUSED, NULL, "the refund is larger than what is left of the payment");
		return DB_ABORT;
	}
	char ids[I64_BUF], amt[I64_BUF], t[I64_BUF];
	char *ev = json_dumps(n->event, JSON_COMPACT);
	const char *q[5] = {api_i64(ids, pid), refund_ref, api_i64(amt, amount), ev, api_i64(t, now)};
	st = db_exec(c, "refund_insert", 5, q, &r);
	free(ev);
	if (st != DB_OK || PQntuples(r) == 0) {
		PQclear(r);
		n->out = OUT_REPLAY;
		return st;
	}
	int64_t rid = db_int64(r, 0, 0), ledger = 0;
	PQclear(r);
	n->out = OUT_REFUND;
	if (credited && amount > 0) {
		/* The money leaves the account as it came: a debit through the same posting path,
		 * which runs the state machine (a refund may warn, start grace or cut). */
		json_t *ref = json_pack("{s:s, s:s, s:o, s:s, s:s}", "channel", provider_names[n->prov],
					"provider_txn_id", n->txn, "payment_id", api_id_json(ID_PAYMENT, pid),
					"refund_ref", refund_ref, "out_trade_no", otn);
		char *refs = json_dumps(ref, JSON_COMPACT);
		json_decref(ref);
		struct bill_entry e;
		enum bill_post_result res;
		st = bill_post(c, tenant, "refund", -amount, refs, n->rq->request_id, now, &e, &res);
		free(refs);
		if (st != DB_OK)
			return st;
		if (res != POST_OK) {
			api_error(n->rq, E_INTERNAL, NULL, "the refund could not be posted");
			return DB_ABORT;
		}
		ledger = e.id;
	}
	char rids[I64_BUF], lid[I64_BUF];
	const char *u[4] = {ids, api_i64(rids, rid), ledger ? api_i64(lid, ledger) : NULL, amt};
	st = db_exec(c, "refund_done", 4, u, &r);
	PQclear(r);
	return st;
}

/* Run the transaction for a checked notification; on success count and log it. Returns 0
 * when the provider may be told "received", else -1 with an error reply set. */
static int settle(struct pay_note *n, bool refund)
{
	n->out = OUT_IGNORED;
	if (api_tx_failed(n->rq, db_run_tx(refund ? refund_tx : credit_tx, n)))
		return -1;
	count(n->prov, n->out);
	const char *what = n->out == OUT_CREDITED ? "credited"
			   : n->out == OUT_REPLAY  ? "already recorded"
			   : n->out == OUT_REFUND  ? "refund recorded"
						   : "kept as a conflict";
	srv_log(n->out == OUT_CONFLICT ? LOG_WARN : LOG_INFO,
		"payments: %s %s %s %lld %s (order %s): %s%s%s", provider_names[n->prov],
		refund ? "refund for" : "payment", n->txn, (long long)n->amount, n->currency,
		n->out_trade_no ? n->out_trade_no : "none", what,
		n->conflict ? ": " : "", n->conflict ? n->conflict : "");
	return 0;
}

/* Refuse a notification in the provider's own words, with the error table's status. */
static void refuse(struct req *rq, enum provider prov, enum api_err e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void refuse(struct req *rq, enum provider prov, enum api_err e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	api_error(rq, e, NULL, "%s", msg);
	count(prov, OUT_REFUSED);
	srv_log(LOG_WARN, "payments: %s notification refused: %s (request %s)", provider_names[prov], msg,
		rq->request_id);
}

/* Turn our error reply into the provider's: WeChat {"code":"FAIL","message"}, Alipay
 * the text "fail". Stripe reads only the status. */
static void provider_reply(struct req *rq, enum provider prov)
{
	if (rq->status < 400 || prov == PROV_STRIPE)
		return;
	json_t *err = json_object_get(rq->reply, "error");
	const char *msg = json_string_value(json_object_get(err, "message"));
	if (prov == PROV_WECHAT)
		api_reply(rq, rq->status, json_pack("{s:s, s:s}", "code", "FAIL", "message", msg ? msg : "error"));
	else
		api_reply_raw(rq, rq->status, "text/plain; charset=utf-8", "fail", 4);
}

static bool configured(struct req *rq, enum provider prov)
{
	if (cfg.on[prov])
		return true;
	/* Nothing is accepted on faith: without the secret, no notification is genuine. */
	api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL, "%s is not configured on this server",
		  provider_names[prov]);
	count(prov, OUT_REFUSED);
	srv_log(LOG_ERROR, "payments: a %s notification arrived but %s is not configured",
		provider_names[prov], provider_names[prov]);
	return false;
}

static json_t *parse_json(const char *s, size_t n)
{
	json_error_t e;
	json_t *j = json_loadb(s ? s : "", n, JSON_REJECT_DUPLICATES, &e);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void upcase(char out[4], const char *s)
{
	snprintf(out, 4, "%s", s ? s : "");
	for (int i = 0; out[i]; i++)
		if (out[i] >= 'a' && out[i] <= 'z')
			out[i] = (char)(out[i] - 'a' + 'A');
}

/* ---- WeChat Pay API v3 ---- */

static void wechat(struct req *rq)
{
	const enum provider W = PROV_WECHAT;
	enum bill_sig sig = bill_wechat_verify(cfg.wx_pub, cfg.wx_serial, api_header(rq, "Wechatpay-Serial"),
					       api_header(rq, "Wechatpay-Timestamp"),
					       api_header(rq, "Wechatpay-Nonce"),
					       api_header(rq, "Wechatpay-Signature"), rq->body ? rq->body : "",
					       rq->body_len, (int64_t)time(NULL));
	if (sig != SIG_OK) {
		refuse(rq, W, E_INVALID_SIGNATURE, "signature %s", bill_sig_name(sig));
		return;
	}
	json_t *body = parse_json(rq->body, rq->body_len), *plain = NULL;
	json_t *res = json_object_get(body, "resource");
	const char *type = json_string_value(json_object_get(body, "event_type"));
	const char *alg = json_string_value(json_object_get(res, "algorithm"));
	if (!type || !alg || strcmp(alg, "AEAD_AES_256_GCM")) {
		refuse(rq, W, E_MALFORMED_JSON, "not a v3 notification with an AEAD_AES_256_GCM resource");
		goto out;
	}
	size_t n;
	char *pt = bill_wechat_decrypt(cfg.wx_key, json_string_value(json_object_get(res, "nonce")),
				       json_string_value(json_object_get(res, "associated_data")),
				       json_string_value(json_object_get(res, "ciphertext")), &n);
	plain = pt ? parse_json(pt, n) : NULL;
	free(pt);
	if (!plain) {
		refuse(rq, W, E_INVALID_SIGNATURE, "the resource does not decrypt with the APIv3 key");
		goto out;
	}
	const char *mchid = json_string_value(json_object_get(plain, "mchid"));
	if (!mchid || strcmp(mchid, cfg.wx_mchid)) {
		refuse(rq, W, E_FORBIDDEN, "mchid %s is not ours", mchid ? mchid : "(none)");
		goto out;
	}
	json_t *amount = json_object_get(plain, "amount");
	struct pay_note pn = {.rq = rq, .prov = W, .event = plain};
	pn.txn = json_string_value(json_object_get(plain, "transaction_id"));
	pn.out_trade_no = json_string_value(json_object_get(plain, "out_trade_no"));
	bool refund = !strncmp(type, "REFUND.", 7);
	if (refund) {
		const char *rs = json_string_value(json_object_get(plain, "refund_status"));
		json_t *ra = json_object_get(amount, "refund");
		pn.refund_ref = json_string_value(json_object_get(plain, "refund_id"));
		if (strcmp(type, "REFUND.SUCCESS") || !rs || strcmp(rs, "SUCCESS")) {
			count(W, OUT_IGNORED);
			api_reply_raw(rq, 204, "application/json", "", 0);
			goto out;
		}
		if (!pn.txn || !pn.refund_ref || !json_is_integer(ra) || json_integer_value(ra) <= 0) {
			refuse(rq, W, E_INVALID_FIELD, "a refund needs transaction_id, refund_id and amount.refund");
			goto out;
		}
		pn.amount = json_integer_value(ra);
		upcase(pn.currency, "CNY");
	} else {
		const char *state = json_string_value(json_object_get(plain, "trade_state"));
		if (!state || strcmp(state, "SUCCESS")) { /* only a paid trade moves money */
			count(W, OUT_IGNORED);
			api_reply_raw(rq, 204, "application/json", "", 0);
			goto out;
		}
		json_t *total = json_object_get(amount, "total");
		if (!pn.txn || !*pn.txn || !pn.out_trade_no || !json_is_integer(total) ||
		    json_integer_value(total) < 0 || json_integer_value(total) > MAX_AMOUNT) {
			refuse(rq, W, E_INVALID_FIELD, "a payment needs transaction_id, out_trade_no and amount.total");
			goto out;
		}
		pn.amount = json_integer_value(total);
		const char *cur = json_string_value(json_object_get(amount, "currency"));
		upcase(pn.currency, cur ? cur : "CNY");
	}
	if (settle(&pn, refund) == 0)
		api_reply_raw(rq, 204, "application/json", "", 0);
out:
	json_decref(body);
	json_decref(plain);
}

void api_hook_wechat(struct req *rq)
{
	if (configured(rq, PROV_WECHAT))
		wechat(rq);
	provider_reply(rq, PROV_WECHAT);
}

/* ---- Alipay ---- */

static json_t *form_json(const struct bill_form *f)
{
	json_t *o = json_object();
	for (size_t i = 0; i < f->n; i++)
		json_object_set_new(o, f->keys[i], json_string(f->vals[i]));
	return o;
}

static void alipay(struct req *rq)
{
	const enum provider A = PROV_ALIPAY;
	struct bill_form f;
	json_t *ev = NULL;
	if (bill_form_parse(rq->body ? rq->body : "", rq->body_len, &f)) {
		refuse(rq, A, E_INVALID_FIELD, "the body is not a well-formed form");
		goto out;
	}
	enum bill_sig sig = bill_alipay_verify(cfg.ali_pub, &f);
	if (sig != SIG_OK) {
		refuse(rq, A, E_INVALID_SIGNATURE, "signature %s", bill_sig_name(sig));
		goto out;
	}
	const char *app = bill_form_get(&f, "app_id");
	if (!app || strcmp(app, cfg.ali_app_id)) {
		refuse(rq, A, E_FORBIDDEN, "app_id %s is not ours", app ? app : "(none)");
		goto out;
	}
	ev = form_json(&f);
	const char *status = bill_form_get(&f, "trade_status"), *refund_fee = bill_form_get(&f, "refund_fee");
	const char *cur = bill_form_get(&f, "trans_currency");
	struct pay_note pn = {.rq = rq, .prov = A, .event = ev};
	pn.txn = bill_form_get(&f, "trade_no");
	pn.out_trade_no = bill_form_get(&f, "out_trade_no");
	upcase(pn.currency, cur && *cur ? cur : "CNY");
	int digits = 2;
	if (!api_valid_currency(pn.currency, &digits) || !pn.txn || !*pn.txn || !status) {
		refuse(rq, A, E_INVALID_FIELD, "a notification needs trade_no, trade_status and a known currency");
		goto out;
	}
	/* A refund arrives as a notification carrying refund_fee: the total refunded so far
	 * ("0.00", or none, on a payment). */
	int64_t refund_total = 0;
	bool refund = refund_fee && *refund_fee && bill_parse_decimal(refund_fee, digits, MAX_AMOUNT, &refund_total) == 0 &&
		      refund_total > 0;
	if (refund_fee && *refund_fee && bill_parse_decimal(refund_fee, digits, MAX_AMOUNT, &refund_total)) {
		refuse(rq, A, E_INVALID_FIELD, "refund_fee is not an amount in %s", pn.currency);
		goto out;
	}
	const char *amount = refund ? refund_fee : bill_form_get(&f, "total_amount");
	bool pays = !strcmp(status, "TRADE_SUCCESS") || !strcmp(status, "TRADE_FINISHED");
	if (!refund && !pays) { /* WAIT_BUYER_PAY, TRADE_CLOSED unpaid: nothing moved */
		count(A, OUT_IGNORED);
		api_reply_raw(rq, 200, "text/plain; charset=utf-8", "success", 7);
		goto out;
	}
	if (!amount || bill_parse_decimal(amount, digits, MAX_AMOUNT, &pn.amount)) {
		refuse(rq, A, E_INVALID_FIELD, "%s is not an amount in %s", refund ? "refund_fee" : "total_amount",
		       pn.currency);
		goto out;
	}
	if (!refund && !pn.out_trade_no) {
		refuse(rq, A, E_INVALID_FIELD, "a payment needs out_trade_no");
		goto out;
	}
	pn.refund_cumulative = refund;
	/* TRADE_FINISHED after TRADE_SUCCESS carries the same trade_no: already recorded. */
	if (settle(&pn, refund) == 0)
		api_reply_raw(rq, 200, "text/plain; charset=utf-8", "success", 7);
out:
	json_decref(ev);
	bill_form_free(&f);
}

void api_hook_alipay(struct req *rq)
{
	if (configured(rq, PROV_ALIPAY))
		alipay(rq);
	provider_reply(rq, PROV_ALIPAY);
}

/* ---- Stripe ---- */

static void stripe(struct req *rq)
{
	const enum provider S = PROV_STRIPE;
	enum bill_sig sig = bill_stripe_verify(cfg.stripe_secret, api_header(rq, "Stripe-Signature"),
					       rq->body ? rq->body : "", rq->body_len, (int64_t)time(NULL));
	if (sig != SIG_OK) {
		refuse(rq, S, E_INVALID_SIGNATURE, "signature %s", bill_sig_name(sig));
		return;
	}
	json_t *ev = parse_json(rq->body, rq->body_len);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
	if (!type || !json_is_object(obj)) {
		refuse(rq, S, E_MALFORMED_JSON, "not a Stripe event");
		goto out;
	}
	json_t *meta = json_object_get(obj, "metadata");
	struct pay_note pn = {.rq = rq, .prov = S, .event = ev};
	const char *cur = json_string_value(json_object_get(obj, "currency"));
	upcase(pn.currency, cur);
	json_t *amount = NULL;
	bool refund = false;
	if (!strcmp(type, "checkout.session.completed")) {
		const char *ps = json_string_value(json_object_get(obj, "payment_status"));
		if (!ps || strcmp(ps, "paid")) { /* delayed methods settle later, as payment_intent.succeeded */
			count(S, OUT_IGNORED);
			api_reply(rq, 200, json_pack("{s:b}", "received", 1));
			goto out;
		}
		pn.txn = json_string_value(json_object_get(obj, "payment_intent"));
		amount = json_object_get(obj, "amount_total");
		pn.out_trade_no = json_string_value(json_object_get(meta, "out_trade_no"));
		if (!pn.out_trade_no)
			pn.out_trade_no = json_string_value(json_object_get(obj, "client_reference_id"));
	} else if (!strcmp(type, "payment_intent.succeeded")) {
		pn.txn = json_string_value(json_object_get(obj, "id"));
		amount = json_object_get(obj, "amount_received");
		pn.out_trade_no = json_string_value(json_object_get(meta, "out_trade_no"));
	} else if (!strcmp(type, "charge.refunded")) {
		refund = pn.refund_cumulative = true;
		pn.txn = json_string_value(json_object_get(obj, "payment_intent"));
		amount = json_object_get(obj, "amount_refunded");
	} else {
		count(S, OUT_IGNORED);
		api_reply(rq, 200, json_pack("{s:b}", "received", 1));
		goto out;
	}
	if (!refund && !pn.out_trade_no) {
		const char *t = json_string_value(json_object_get(meta, "tenant_id"));
		pn.tenant_hint = t ? api_id_parse(ID_TENANT, t) : 0;
	}
	int digits;
	if (!pn.txn || !*pn.txn || !json_is_integer(amount) || json_integer_value(amount) < 0 ||
	    json_integer_value(amount) > MAX_AMOUNT || !api_valid_currency(pn.currency, &digits)) {
		refuse(rq, S, E_INVALID_FIELD, "%s needs a payment intent, an amount and a currency", type);
		goto out;
	}
	pn.amount = json_integer_value(amount);
	if (settle(&pn, refund) == 0)
		api_reply(rq, 200, json_pack("{s:b, s:s}", "received", 1, "outcome",
					     pn.out == OUT_CREDITED ? "credited"
					     : pn.out == OUT_REPLAY ? "replay"
					     : pn.out == OUT_REFUND ? "refund"
								    : "conflict"));
out:
	json_decref(ev);
}

void api_hook_stripe(struct req *rq)
{
	if (configured(rq, PROV_STRIPE))
		stripe(rq);
}

/* ---- conflicts ---- */

static json_t *conflict_json(const PGresult *r, int i)
{
	json_t *pay = json_pack("{s:o, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
				api_id_col(ID_PAYMENT, r, i, 9), "provider", PQgetvalue(r, i, 10),
				"provider_txn_id", PQgetvalue(r, i, 11), "out_trade_no",
				api_str_col(r, i, 12), "amount_minor", api_int_col(r, i, 13), "currency",
				PQgetvalue(r, i, 14), "tenant_id", api_id_col(ID_TENANT, r, i, 15),
				"refunded_minor", api_int_col(r, i, 16), "received_at",
				api_time_col(r, i, 17), "order_id", api_id_col(ID_ORDER, r, i, 18));
	return json_pack("{s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "id",
			 api_id_col(ID_CONFLICT, r, i, 0), "reason", PQgetvalue(r, i, 1),
			 "expected_amount_minor", api_int_col(r, i, 2), "expected_currency",
			 api_str_col(r, i, 3), "state", PQgetvalue(r, i, 4), "created_at",
			 api_time_col(r, i, 5), "resolved_at", api_time_col(r, i, 6),
			 "resolution_reason", api_str_col(r, i, 7), "ledger_entry_id",
			 api_id_col(ID_LEDGER, r, i, 8), "payment", pay);
}

void api_conflicts_list(struct req *rq)
{
	static const char *const states[] = {"open", "credited", "rejected", NULL};
	const char *state;
	if (api_query_enum(rq, "state", states, &state))
		return;
	const char *extra[1] = {state};
	api_list(rq, ID_CONFLICT, "conflict_list", conflict_json, 1, extra);
}

static enum db_status resolve_tx(PGconn *c, void *arg)
{
	struct api_id_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	char ids[I64_BUF];
	const char *p[1] = {api_i64(ids, t->id)};
	json_decref(t->out);
	t->out = NULL;
	st = api_tx_row(c, rq, "conflict_lock", 1, p, conflict_json, &t->out, NULL, NULL);
	if (st != DB_OK)
		return st;
	const char *state = json_string_value(json_object_get(t->out, "state"));
	if (strcmp(state, "open")) {
		api_error(rq, E_CONFLICT, json_pack("{s:s}", "state", state), "the conflict is already %s",
			  state);
		return DB_ABORT;
	}
	json_t *pay = json_object_get(t->out, "payment");
	int64_t pid = api_id_parse(ID_PAYMENT, json_string_value(json_object_get(pay, "id")));
	int64_t order = api_id_parse(ID_ORDER, json_string_value(json_object_get(pay, "order_id")));
	bool do_credit = !strcmp(api_body_str(rq, "action"), "credit");
	int64_t now = srv_clock_now_us(), ledger = 0;
	int64_t tenant = api_body_has(rq, "tenant_id") ? api_body_id(rq, ID_TENANT, "tenant_id")
						       : api_id_parse(ID_TENANT, json_string_value(json_object_get(pay, "tenant_id")));
	PGresult *r;
	char pids[I64_BUF], tid[I64_BUF], lid[I64_BUF], nows[I64_BUF], kid[I64_BUF];
	api_i64(pids, pid);
	api_i64(nows, now);
	if (do_credit) {
		if (!tenant) {
			api_field_error(rq, "tenant_id", "the payment names no tenant: say whose it is");
			return DB_ABORT;
		}
		const char *q[1] = {api_i64(tid, tenant)};
		if ((st = db_exec(c, "pay_account", 1, q, &r)) != DB_OK) {
			PQclear(r);
			return st;
		}
		bool found = PQntuples(r) == 1;
		bool same = found && !strcmp(PQgetvalue(r, 0, 0),
					     json_string_value(json_object_get(pay, "currency")));
		PQclear(r);
		if (!found) {
			api_field_error(rq, "tenant_id", "tenant ten_%lld has no account", (long long)tenant);
			return DB_ABORT;
		}
		if (!same) {
			api_error(rq, E_CURRENCY_MISMATCH, NULL,
				  "the payment is in %s, not the account's currency; reject it and adjust by hand",
				  json_string_value(json_object_get(pay, "currency")));
			return DB_ABORT;
		}
		int64_t left = json_integer_value(json_object_get(pay, "amount_minor")) -
			       json_integer_value(json_object_get(pay, "refunded_minor"));
		if (left <= 0) {
			api_error(rq, E_CONFLICT, NULL, "the payment has been refunded in full: nothing to credit");
			return DB_ABORT;
		}
		json_t *ref = json_pack("{s:O, s:O, s:O, s:O, s:s}", "channel", json_object_get(pay, "provider"),
					"provider_txn_id", json_object_get(pay, "provider_txn_id"),
					"payment_id", json_object_get(pay, "id"), "conflict_id",
					json_object_get(t->out, "id"), "reason", api_body_str(rq, "reason"));
		bool no_account;
		st = credit(c, rq, tenant, left, ref, now, &ledger, &no_account);
		json_decref(ref);
		if (st != DB_OK)
			return st;
		const char *s[4] = {pids, "credited", api_i64(lid, ledger), tid};
		if ((st = db_exec(c, "pay_set", 4, s, &r)) != DB_OK) {
			PQclear(r);
			return st;
		}
		PQclear(r);
		if (order) {
			char oid[I64_BUF];
			const char *o[3] = {api_i64(oid, order), pids, nows};
			if ((st = db_exec(c, "order_paid", 3, o, &r)) != DB_OK) {
				PQclear(r);
				return st;
			}
			PQclear(r);
		}
	} else {
		const char *s[4] = {pids, "rejected", NULL, NULL};
		if ((st = db_exec(c, "pay_set", 4, s, &r)) != DB_OK) {
			PQclear(r);
			return st;
		}
		PQclear(r);
	}
	const char *u[6] = {ids, do_credit ? "credited" : "rejected", nows,
			    rq->who.key_id ? api_i64(kid, rq->who.key_id) : NULL, api_body_str(rq, "reason"),
			    ledger ? lid : NULL};
	if ((st = db_exec(c, "conflict_set", 6, u, &r)) != DB_OK) {
		PQclear(r);
		return st;
	}
	PQclear(r);
	json_decref(t->out);
	t->out = NULL;
	if ((st = api_tx_row(c, rq, "conflict_lock", 1, p, conflict_json, &t->out, NULL, NULL)) != DB_OK)
		return st;
	api_reply(rq, 200, json_incref(t->out));
	st = api_audit(c, rq, do_credit ? "payment_conflict.credit" : "payment_conflict.reject",
		       json_pack("{s:O, s:O, s:s}", "id", json_object_get(t->out, "id"), "payment_id",
				 json_object_get(json_object_get(t->out, "payment"), "id"), "reason",
				 api_body_str(rq, "reason")));
	if (st != DB_OK)
		return st;
	return api_idem_finish(c, rq);
}

void api_conflict_resolve(struct req *rq)
{
	static const char *const actions[] = {"credit", "reject", NULL};
	static const struct field spec[] = {
		{"action", FK_ENUM, F_REQ, 0, 0, actions, 0},
		{"reason", FK_TEXT, F_REQ, 0, 500, 0, 0},
		{"tenant_id", FK_ID, 0, 0, 0, 0, ID_TENANT},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct api_id_tx t = {rq, api_arg_id(rq, 0, ID_CONFLICT, "payment conflict"), NULL};
	if (t.id)
		api_tx_failed(rq, db_run_tx(resolve_tx, &t));
	json_decref(t.out);
}
