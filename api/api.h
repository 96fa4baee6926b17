/* api.h: what every resource file shares: ids, declared field specs, audit,
 * idempotency, transaction outcomes, pagination and tenant scope. */
#ifndef WATTLE_API_H
#define WATTLE_API_H

#include "store/db.h"
#include "store/notes.h"
#include "api/req.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Ids on the wire are "<prefix>_<n>": site_1, ten_7, pol_2, trf_3, mtr_9, key_4, le_12, gw_5, rcpt_3,
 * usr_2. */
#define ID_SITE "site"
#define ID_TENANT "ten"
#define ID_POLICY "pol"
#define ID_TARIFF "trf"
#define ID_METER "mtr"
#define ID_KEY "key"
#define ID_LEDGER "le"
#define ID_GATEWAY "gw"
#define ID_RECEIPT "rcpt"
#define ID_USER "usr"

/* Parse "<prefix>_<n>" -> n > 0, or 0 when it is not such an id. */
int64_t api_id_parse(const char *prefix, const char *s);
/* New json string "<prefix>_<n>". */
json_t *api_id_json(const char *prefix, int64_t n);
/* Unix microseconds -> RFC 3339 string. */
json_t *api_time_json(int64_t us);

/* Field kinds for declared body specs. */
enum field_kind {
	FK_TEXT,     /* printable single-line UTF-8, 1..max bytes */
	FK_INT,      /* JSON integer in [min, max] (reals and strings refused) */
	FK_BOOL,
	FK_ENUM,     /* one of choices */
	FK_ID,       /* "<prefix>_<n>" */
	FK_PHONE,    /* E.164 */
	FK_TZ,       /* IANA zone */
	FK_CURRENCY, /* ISO 4217 */
	FK_AREA,     /* decimal string, up to 2 fraction digits */
	FK_TIME,     /* RFC 3339 with offset */
	FK_DATE,     /* YYYY-MM-DD, a real calendar day */
	FK_URL,
	FK_ARRAY,    /* type only; the handler checks the items */
	FK_OBJECT,   /* type only */
};

#define F_REQ 1u  /* required (on create) */
#define F_NULL 2u /* null accepted */

struct field {
	const char *name;
	enum field_kind kind;
	unsigned flags;
	int64_t min, max;            /* FK_INT; FK_TEXT uses max as the byte limit */
	const char *const *choices;  /* FK_ENUM, NULL-terminated */
	const char *prefix;          /* FK_ID */
};

/* Check rq->json against spec: unknown fields, missing required ones (unless patch),
 * and every present value. On failure reply 400 naming the field and return -1. */
int api_fields(struct req *rq, const struct field *spec, bool patch);

/* Accessors for a validated body (NULL / 0 when absent or null). */
const char *api_body_str(struct req *rq, const char *name);
int64_t api_body_int(struct req *rq, const char *name);
int64_t api_body_id(struct req *rq, const char *prefix, const char *name);
bool api_body_has(struct req *rq, const char *name);
bool api_body_isnull(struct req *rq, const char *name);

/* Reply 400 for field `name` with a message; returns -1 for convenient `return`. */
int api_field_error(struct req *rq, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The argument of a transaction on one resource named by the path: the request, the
 * resource's id, and the reply body built inside (replaced on a retry; caller decrefs). */
struct api_id_tx {
	struct req *rq;
	int64_t id;
	json_t *out;
};

/* Map a db_run_tx outcome to a reply. Returns 0 when it committed (DB_OK), else 1 with
 * the error reply set (DB_ABORT keeps the reply the callback set). */
int api_tx_failed(struct req *rq, enum db_status st);

/* Inside a transaction: write the audit row for this request (who, what, when, request
 * id, action, target). */
enum db_status api_audit(PGconn *c, struct req *rq, const char *action, json_t *target);

/* Inside a transaction, first thing: claim this request's Idempotency-Key (if any).
 * Returns DB_OK to go on (fresh key, or none), DB_ABORT when the key was used before
 * (the stored reply, or 409 for another body, is set), or a db failure. */
enum db_status api_idem_begin(PGconn *c, struct req *rq);

/* Inside the same transaction, last thing: store rq's reply under its key (no-op
 * without a key). */
enum db_status api_idem_finish(PGconn *c, struct req *rq);

/* ?limit= and ?after=: limit 1..1000 (default 50), after an id of prefix (0 = start).
 * On a bad value reply 400 and return -1. */
int api_page(struct req *rq, const char *prefix, int64_t *limit, int64_t *after);
/* ?limit= alone, as api_page reads it, for lists paged by something other than an id. */
int api_query_limit(struct req *rq, int64_t *limit);
/* Optional ?name= as an RFC 3339 time: *out unix microseconds, or def when absent. On a bad
 * value reply 400 and return -1. */
int api_query_time(struct req *rq, const char *name, int64_t def, int64_t *out);

/* Build {"items": items, "next_after": ...}: when items holds more than limit entries,
 * the extra one is dropped and next_after is the id of the last kept. Steals items. */
json_t *api_page_reply(json_t *items, int64_t limit);

/* Optional ?name= that must be one of choices (NULL-terminated): *out = the value, or
 * NULL when absent. On another value reply 400 and return -1. */
int api_query_enum(struct req *rq, const char *name, const char *const *choices, const char **out);

/* Optional ?name=<prefix>_<n> filter: *out = n, or 0 when absent. On a malformed value
 * reply 400 and return -1. */
int api_query_id(struct req *rq, const char *name, const char *prefix, int64_t *out);

/* Inside a transaction: run the prepaid state machine for the accounts of one tenant
 * (tenant_id) or of one site and rating (site_id, rating), with no balance change. */
enum db_status api_refresh_accounts(PGconn *c, int64_t tenant_id, int64_t site_id,
				    const char *rating);

/* A tenant key may only see its own tenant: reply 403 and return -1 otherwise. */
int api_tenant_scope(struct req *rq, int64_t tenant_id);

/* This thread's connection for a read outside a transaction, or NULL with 503 set. */
PGconn *api_conn(struct req *rq);

/* Like api_conn, for a read that may be a little old: the replica's connection while it is
 * within WATTLE_REPLICA_MAX_LAG_MS (db_read_conn), else the primary's. For lists, reports,
 * readings and consumption; never money, nor what a client reads back after writing it. */
PGconn *api_read_conn(struct req *rq);

/* After a store read outside a transaction: 0 when st is DB_OK, else 1 with the error
 * reply set (a lost connection is dropped so the next request reconnects). */
int api_read_failed(struct req *rq, enum db_status st);

/* Path argument i as an id of prefix; replies 404 naming `what` and returns 0 if not. */
int64_t api_arg_id(struct req *rq, int i, const char *prefix, const char *what);

/* The meter named by path argument 0 (id or serial): its id, and *tenant_id (0 for a
 * public meter). Replies 404 (or 503) and returns 0 when there is none. */
int64_t api_meter_find(struct req *rq, int64_t *tenant_id);

/* Format helpers for statement parameters. */
#define I64_BUF 24
const char *api_i64(char *buf, int64_t v);

/* Handlers, one file per resource. */
void api_health(struct req *rq);
void api_ready(struct req *rq);
void api_metrics(struct req *rq);
void api_sites_create(struct req *rq);
void api_sites_list(struct req *rq);
void api_sites_get(struct req *rq);
void api_holidays_create(struct req *rq);
void api_holidays_list(struct req *rq);
void api_tenants_create(struct req *rq);
void api_tenants_list(struct req *rq);
void api_tenants_get(struct req *rq);
void api_tenants_patch(struct req *rq);
void api_account_get(struct req *rq);
void api_ledger_list(struct req *rq);
void api_topups_create(struct req *rq);
void api_adjustments_create(struct req *rq);
void api_moveout_create(struct req *rq);
void api_moveout_get(struct req *rq);
void api_policies_create(struct req *rq);
void api_policies_list(struct req *rq);
void api_tariffs_create(struct req *rq);
void api_tariffs_list(struct req *rq);
void api_tariffs_get(struct req *rq);
void api_tariff_versions_create(struct req *rq);
void api_readings_create(struct req *rq);
void api_meter_readings(struct req *rq);
void api_meter_power_quality(struct req *rq);
void api_consumption(struct req *rq);
void api_commands_list(struct req *rq);
void api_notifications_list(struct req *rq);
void api_command_ack(struct req *rq);
void api_gateways_create(struct req *rq);
void api_gateways_list(struct req *rq);
void api_gateways_get(struct req *rq);

/* A command as GET /v1/commands shows it (commands.c). New. */
struct command_row;
json_t *api_command_json(const struct command_row *x);
/* GET /v1/commands for the key of a pull gateway (pull.c): hand out its due commands, or
 * hold the request until some are queued or ?wait_s= (0..60) is up. state is "pending" or
 * NULL; limit the page's. */
void api_commands_pull(struct req *rq, const char *state, int64_t limit);
/* Start and stop the thread that answers held pulls; stopping answers every held one.
 * lease_us (wattle's clock) is how long a handed-out command waits for its ack before it is
 * handed out again. */
void api_pull_start(int64_t lease_us);
void api_pull_stop(void);
/* A request made with a key bound to a gateway: its last_seen_at (and the version and queue
 * depth its headers say), written at most once per 5 s per gateway in this process. */
void api_gateway_seen(struct req *rq);
void api_pools_create(struct req *rq);
void api_pools_list(struct req *rq);
void api_pool_runs_create(struct req *rq);
void api_allocation_run_get(struct req *rq);
void api_pool_runs_list(struct req *rq);
void api_site_reconciliation(struct req *rq);
void api_allocation_run_reverse(struct req *rq);
void api_tenant_allocations(struct req *rq);
void api_meter_command(struct req *rq);
void api_meters_create(struct req *rq);
void api_meters_list(struct req *rq);
void api_meters_get(struct req *rq);
void api_meters_patch(struct req *rq);
void api_orders_create(struct req *rq);
void api_orders_get(struct req *rq);
void api_reconciliations_create(struct req *rq);
void api_reconciliations_list(struct req *rq);
void api_reconciliations_get(struct req *rq);
void api_refunds_create(struct req *rq);
void api_refunds_list(struct req *rq);
void api_refunds_get(struct req *rq);
void api_hook_wechat(struct req *rq);
void api_hook_alipay(struct req *rq);
void api_hook_stripe(struct req *rq);
/* The SMS providers' delivery reports (api/hook_sms.c), behind ?token=<token>: set it
 * before serving (NULL: every report is refused). */
void api_hook_sms_aliyun(struct req *rq);
void api_hook_sms_tencent(struct req *rq);
void api_sms_hooks_configure(const char *token);
/* Count one delivery report of provider ("aliyun", "tencent") by what it did (store/notes.h),
 * and, when it was recorded, the notification's delivery by channel and outcome
 * (wattle_notification_delivery_total). For the polling worker too. */
void api_sms_report_count(const char *provider, const char *channel, enum note_delivery what, bool delivered);
void api_conflicts_list(struct req *rq);
void api_conflict_resolve(struct req *rq);
void api_alarms_list(struct req *rq);
void api_alarm_ack(struct req *rq);
void api_alarm_shelve(struct req *rq);
void api_audit_list(struct req *rq);
void api_site_alarm_settings(struct req *rq);
void api_meter_alarm_settings(struct req *rq);
void api_reports_create(struct req *rq);
void api_reports_get(struct req *rq);
void api_reports_list(struct req *rq);
void api_sites_patch(struct req *rq);
/* A site's message templates (api/msgtemplates.c) and Twilio's status callback
 * (api/hook_twilio.c), whose ?token= must be token (WATTLE_SMS_CALLBACK_TOKEN; NULL: every
 * callback is refused). */
void api_msg_templates_get(struct req *rq);
void api_msg_templates_put(struct req *rq);
void api_hook_twilio(struct req *rq);
void api_twilio_hook_configure(const char *token);
void api_receipts_list(struct req *rq);
void api_receipts_get(struct req *rq);
/* The CJK TrueType font (WATTLE_RECEIPT_FONT: a .ttf, or a .ttc with ",<index>") receipts'
 * PDFs embed; borrowed for the server's life. NULL: the Debian default. A font that cannot be
 * read is logged when a PDF is asked for and that request is 503. */
void api_receipts_set_font(const char *path);
void api_keys_create(struct req *rq);
void api_keys_delete(struct req *rq);
/* The console's files (api/console.c): /console/{path*}, /t/{path*}, and the bare /console
 * and /t sent one level down. */
void api_console_staff(struct req *rq);
/* GET /v1/dashboard?site_id= (api/dashboard.c). */
void api_dashboard(struct req *rq);
void api_console_tenant(struct req *rq);
void api_console_redirect(struct req *rq);

/* Start and stop the group-commit workers of POST /v1/readings. Stopping finishes what
 * is queued; requests after that get 503. */
void api_readings_start(unsigned workers);
void api_readings_stop(void);
/* Readings requests queued for the group commit and not yet taken, and their readings. */
void api_readings_queue(int *jobs, int *readings);
/* The payment providers' settings, as server/config.c read them (NULL: not set). */
struct api_pay_settings {
	const char *wx_apiv3_key, *wx_pubkey_path, *wx_serial, *wx_mchid; /* WATTLE_WECHAT_* */
	const char *ali_pubkey_path, *ali_app_id;                         /* WATTLE_ALIPAY_* */
	const char *stripe_secret;                                        /* WATTLE_STRIPE_WEBHOOK_SECRET */
	const char *pay_url;                                              /* WATTLE_PAY_URL */
	int64_t order_ttl_s;                                              /* WATTLE_TOPUP_ORDER_TTL_S */
	/* Calling the providers (api/provider.h): API bases and merchant credentials. */
	const char *wx_api_base, *wx_appid, *wx_merchant_key_path, *wx_merchant_serial; /* WATTLE_WECHAT_* */
	const char *ali_gateway, *ali_app_private_key_path; /* WATTLE_ALIPAY_GATEWAY, _APP_PRIVATE_KEY */
	const char *stripe_api_base, *stripe_secret_key;   /* WATTLE_STRIPE_API_BASE, _SECRET_KEY */
	const char *public_url;                             /* WATTLE_PUBLIC_URL */
	int64_t timeout_ms;                                 /* WATTLE_PAY_TIMEOUT_MS */
	int64_t query_after_s;                              /* WATTLE_PAY_QUERY_AFTER_S */
	int64_t reconcile_hour;                             /* WATTLE_RECONCILE_HOUR */
};

/* Load the payment providers' keys from s (borrowed for the server's life). A provider is
 * on when all its settings are given; a partial or unreadable one is an error (-1,
 * logged). */
int api_payments_start(const struct api_pay_settings *s);
void api_payments_stop(void);
/* The query worker's tick: ask the providers about open top-up orders that are due, credit
 * the paid, close the expired (api/order_query.c). 1 when there may be more due. */
int api_orders_query_tick(void);
/* The refund worker's tick: send due refunds to the provider, or ask how sent ones stand
 * (api/refunds.c). 1 when there may be more due. */
int api_refunds_tick(void);
/* The reconciliation worker's tick: yesterday's bill of every provider wattle can call, once
 * each, after WATTLE_RECONCILE_HOUR site time (api/reconciliations.c). */
int api_reconcile_tick(void);

/* The provider-call threads (api/provider.c): requests waiting on a payment provider's answer
 * (an order made, a refund asked) are served there, their HTTP threads free meanwhile. */
void api_provider_calls_start(unsigned workers);
void api_provider_calls_stop(void);
/* Requests queued for a provider-call thread and not yet taken. */
void api_provider_calls_queue(int *jobs);

/* The same for the batched account reads. */
void api_accounts_start(unsigned workers);
void api_accounts_stop(void);
/* Account reads queued and not yet taken. */
void api_accounts_queue(int *jobs);

/* Register every resource's statements with the db layer (before serving). */
void api_register_statements(void);

#endif
