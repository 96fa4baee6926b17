/* routes.c: the one route table. api/openapi.yaml describes exactly these routes
 * (tests/test_openapi.c checks it). */
#include "api/api.h"
#include "api/events.h"
#include "api/sessions.h"

#define ADMIN ROLE_ADMIN
#define FIN ROLE_FINANCE
#define OPS ROLE_OPERATOR
#define TEN ROLE_TENANT
#define GW ROLE_GATEWAY

const struct route api_routes[] = {
	{"GET", "/healthz", api_health, 0, 0, "/healthz"},
	{"GET", "/readyz", api_ready, 0, 0, "/readyz"},
	{"GET", "/metrics", api_metrics, 0, 0, "/metrics"},
	{"POST", "/v1/sites", api_sites_create, ADMIN, ROUTE_BODY, "/v1/sites"},
	{"GET", "/v1/sites", api_sites_list, ADMIN | FIN | OPS, ROUTE_ANY_SITE, "/v1/sites"},
	{"GET", "/v1/sites/{id}", api_sites_get, ADMIN | FIN | OPS | TEN, 0, "/v1/sites/{id}"},
	{"PATCH", "/v1/sites/{id}", api_sites_patch, ADMIN, ROUTE_BODY, "/v1/sites/{id}"},
	{"POST", "/v1/sites/{id}/holidays", api_holidays_create, ADMIN | FIN, ROUTE_BODY,
	 "/v1/sites/{id}/holidays"},
	{"GET", "/v1/sites/{id}/holidays", api_holidays_list, ADMIN | FIN | OPS, 0, "/v1/sites/{id}/holidays"},
	{"GET", "/v1/sites/{id}/message-templates", api_msg_templates_get, ADMIN | FIN, 0,
	 "/v1/sites/{id}/message-templates"},
	{"PUT", "/v1/sites/{id}/message-templates", api_msg_templates_put, ADMIN | FIN, ROUTE_BODY,
	 "/v1/sites/{id}/message-templates"},
	{"POST", "/v1/tenants", api_tenants_create, ADMIN | FIN, ROUTE_BODY, "/v1/tenants"},
	{"GET", "/v1/tenants", api_tenants_list, ADMIN | FIN, ROUTE_SITE_LIST, "/v1/tenants"},
	{"GET", "/v1/tenants/{id}", api_tenants_get, ADMIN | FIN | TEN, 0, "/v1/tenants/{id}"},
	{"PATCH", "/v1/tenants/{id}", api_tenants_patch, ADMIN | FIN, ROUTE_BODY, "/v1/tenants/{id}"},
	{"GET", "/v1/tenants/{id}/account", api_account_get, FIN | OPS | TEN, 0,
	 "/v1/tenants/{id}/account"},
	{"GET", "/v1/tenants/{id}/ledger", api_ledger_list, FIN | TEN, 0, "/v1/tenants/{id}/ledger"},
	{"POST", "/v1/tenants/{id}/topups", api_topups_create, FIN, ROUTE_BODY,
	 "/v1/tenants/{id}/topups"},
	{"POST", "/v1/tenants/{id}/adjustments", api_adjustments_create, FIN, ROUTE_BODY,
	 "/v1/tenants/{id}/adjustments"},
	{"POST", "/v1/tenants/{id}/move-out", api_moveout_create, FIN, ROUTE_BODY, "/v1/tenants/{id}/move-out"},
	{"GET", "/v1/tenants/{id}/move-out", api_moveout_get, ADMIN | FIN, 0, "/v1/tenants/{id}/move-out"},
	{"POST", "/v1/credit-policies", api_policies_create, ADMIN | FIN, ROUTE_BODY,
	 "/v1/credit-policies"},
	{"GET", "/v1/credit-policies", api_policies_list, ADMIN | FIN, ROUTE_SITE_LIST, "/v1/credit-policies"},
	{"POST", "/v1/tariffs", api_tariffs_create, ADMIN | FIN, ROUTE_BODY, "/v1/tariffs"},
	{"GET", "/v1/tariffs", api_tariffs_list, ADMIN | FIN, ROUTE_SITE_LIST, "/v1/tariffs"},
	{"GET", "/v1/tariffs/{id}", api_tariffs_get, ADMIN | FIN, 0, "/v1/tariffs/{id}"},
	{"POST", "/v1/meters", api_meters_create, ADMIN | OPS, ROUTE_BODY, "/v1/meters"},
	{"GET", "/v1/meters", api_meters_list, ADMIN | OPS, ROUTE_SITE_LIST, "/v1/meters"},
	{"GET", "/v1/meters/{id}", api_meters_get, ADMIN | OPS, 0, "/v1/meters/{id}"},
	{"PATCH", "/v1/meters/{id}", api_meters_patch, ADMIN | OPS, ROUTE_BODY, "/v1/meters/{id}"},
	{"POST", "/v1/tariffs/{id}/versions", api_tariff_versions_create, ADMIN | FIN, ROUTE_BODY,
	 "/v1/tariffs/{id}/versions"},
	{"POST", "/v1/readings", api_readings_create, GW, ROUTE_BODY | ROUTE_BIG_BODY, "/v1/readings"},
	{"GET", "/v1/meters/{id}/readings", api_meter_readings, FIN | OPS | TEN, 0,
	 "/v1/meters/{id}/readings"},
	{"GET", "/v1/meters/{id}/power-quality", api_meter_power_quality, FIN | OPS, 0,
	 "/v1/meters/{id}/power-quality"},
	{"GET", "/v1/tenants/{id}/consumption", api_consumption, FIN | OPS | TEN, 0,
	 "/v1/tenants/{id}/consumption"},
	{"POST", "/v1/gateways", api_gateways_create, ADMIN | OPS, ROUTE_BODY, "/v1/gateways"},
	{"GET", "/v1/gateways", api_gateways_list, ADMIN | OPS, ROUTE_SITE_LIST, "/v1/gateways"},
	{"GET", "/v1/gateways/{id}", api_gateways_get, ADMIN | OPS, 0, "/v1/gateways/{id}"},
	{"GET", "/v1/commands", api_commands_list, OPS | GW, 0, "/v1/commands"},
	{"POST", "/v1/commands/{id}/ack", api_command_ack, GW, ROUTE_BODY, "/v1/commands/{id}/ack"},
	{"POST", "/v1/meters/{id}/commands", api_meter_command, OPS, ROUTE_BODY, "/v1/meters/{id}/commands"},
	{"GET", "/v1/events", api_events, ADMIN | FIN | OPS | TEN, ROUTE_ANY_SITE, "/v1/events"},
	{"GET", "/v1/notifications", api_notifications_list, OPS | FIN, 0, "/v1/notifications"},
	{"POST", "/v1/cost-pools", api_pools_create, ADMIN | FIN, ROUTE_BODY, "/v1/cost-pools"},
	{"GET", "/v1/cost-pools", api_pools_list, ADMIN | FIN, ROUTE_SITE_LIST, "/v1/cost-pools"},
	{"POST", "/v1/cost-pools/{id}/runs", api_pool_runs_create, FIN, ROUTE_BODY, "/v1/cost-pools/{id}/runs"},
	{"GET", "/v1/cost-pools/{id}/runs", api_pool_runs_list, ADMIN | FIN, 0, "/v1/cost-pools/{id}/runs"},
	{"GET", "/v1/sites/{id}/reconciliation", api_site_reconciliation, ADMIN | FIN | OPS, 0,
	 "/v1/sites/{id}/reconciliation"},
	{"GET", "/v1/tenants/{id}/allocations", api_tenant_allocations, FIN | TEN, 0,
	 "/v1/tenants/{id}/allocations"},
	{"GET", "/v1/allocation-runs/{id}", api_allocation_run_get, FIN | OPS, 0, "/v1/allocation-runs/{id}"},
	{"POST", "/v1/allocation-runs/{id}/reverse", api_allocation_run_reverse, FIN, ROUTE_BODY,
	 "/v1/allocation-runs/{id}/reverse"},
	{"POST", "/v1/topup-orders", api_orders_create, FIN | TEN, ROUTE_BODY, "/v1/topup-orders"},
	{"GET", "/v1/topup-orders/{id}", api_orders_get, FIN | TEN, 0, "/v1/topup-orders/{id}"},
	{"POST", "/v1/webhooks/payments/wechat", api_hook_wechat, 0, ROUTE_RAW, "/v1/webhooks/payments/wechat"},
	{"POST", "/v1/webhooks/payments/alipay", api_hook_alipay, 0, ROUTE_RAW, "/v1/webhooks/payments/alipay"},
	{"POST", "/v1/webhooks/payments/stripe", api_hook_stripe, 0, ROUTE_RAW, "/v1/webhooks/payments/stripe"},
	{"POST", "/v1/webhooks/sms/twilio", api_hook_twilio, 0, ROUTE_RAW, "/v1/webhooks/sms/twilio"},
	{"POST", "/v1/webhooks/sms/aliyun", api_hook_sms_aliyun, 0, ROUTE_RAW, "/v1/webhooks/sms/aliyun"},
	{"POST", "/v1/webhooks/sms/tencent", api_hook_sms_tencent, 0, ROUTE_RAW, "/v1/webhooks/sms/tencent"},
	{"GET", "/v1/payment-conflicts", api_conflicts_list, FIN, ROUTE_SITE_LIST, "/v1/payment-conflicts"},
	{"POST", "/v1/refunds", api_refunds_create, FIN, ROUTE_BODY, "/v1/refunds"},
	{"POST", "/v1/reconciliations", api_reconciliations_create, FIN, ROUTE_BODY | ROUTE_EVERY_SITE, "/v1/reconciliations"},
	{"GET", "/v1/reconciliations", api_reconciliations_list, FIN, ROUTE_EVERY_SITE, "/v1/reconciliations"},
	{"GET", "/v1/reconciliations/{id}", api_reconciliations_get, FIN, ROUTE_EVERY_SITE, "/v1/reconciliations/{id}"},
	{"GET", "/v1/refunds", api_refunds_list, FIN, ROUTE_SITE_LIST, "/v1/refunds"},
	{"GET", "/v1/refunds/{id}", api_refunds_get, FIN, 0, "/v1/refunds/{id}"},
	{"POST", "/v1/payment-conflicts/{id}/resolve", api_conflict_resolve, FIN, ROUTE_BODY,
	 "/v1/payment-conflicts/{id}/resolve"},
	{"GET", "/v1/alarms", api_alarms_list, OPS, ROUTE_SITE_LIST, "/v1/alarms"},
	{"POST", "/v1/alarms/{id}/ack", api_alarm_ack, OPS, ROUTE_BODY, "/v1/alarms/{id}/ack"},
	{"POST", "/v1/alarms/{id}/shelve", api_alarm_shelve, OPS, ROUTE_BODY, "/v1/alarms/{id}/shelve"},
	{"PUT", "/v1/sites/{id}/alarm-settings", api_site_alarm_settings, ADMIN | OPS, ROUTE_BODY,
	 "/v1/sites/{id}/alarm-settings"},
	{"PUT", "/v1/meters/{id}/alarm-settings", api_meter_alarm_settings, ADMIN | OPS, ROUTE_BODY,
	 "/v1/meters/{id}/alarm-settings"},
	{"POST", "/v1/reports", api_reports_create, FIN | OPS, ROUTE_BODY, "/v1/reports"},
	{"GET", "/v1/reports", api_reports_list, FIN | OPS | TEN, ROUTE_SITE_LIST, "/v1/reports"},
	{"GET", "/v1/reports/{id}", api_reports_get, FIN | OPS | TEN, 0, "/v1/reports/{id}"},
	{"GET", "/v1/receipts", api_receipts_list, FIN | TEN, ROUTE_SITE_LIST, "/v1/receipts"},
	{"GET", "/v1/receipts/{id}", api_receipts_get, FIN | TEN, 0, "/v1/receipts/{id}"},
	{"POST", "/v1/api-keys", api_keys_create, ADMIN, ROUTE_BODY, "/v1/api-keys"},
	{"GET", "/v1/audit", api_audit_list, ADMIN, 0, "/v1/audit"},
	{"DELETE", "/v1/api-keys/{id}", api_keys_delete, ADMIN, 0, "/v1/api-keys/{id}"},
	{"GET", "/v1/dashboard", api_dashboard, ADMIN | FIN | OPS, ROUTE_SITE_LIST, "/v1/dashboard"},
	{"GET", "/console", api_console_redirect, 0, 0, "/console"},
	{"GET", "/console/{path*}", api_console_staff, 0, 0, "/console/"},
	{"GET", "/t", api_console_redirect, 0, 0, "/t"},
	{"GET", "/t/{path*}", api_console_tenant, 0, 0, "/t/"},
	{"POST", "/v1/users", api_users_create, ADMIN, ROUTE_BODY, "/v1/users"},
	{"GET", "/v1/users", api_users_list, ADMIN, 0, "/v1/users"},
	{"GET", "/v1/users/{id}", api_users_get, ADMIN, 0, "/v1/users/{id}"},
	{"PATCH", "/v1/users/{id}", api_users_patch, ADMIN, ROUTE_BODY, "/v1/users/{id}"},
	/* public: they read the session cookie themselves (a page asking whether it is signed in
	 * is no failed authentication) */
	{"POST", "/v1/sessions", api_sessions_create, 0, ROUTE_BODY | ROUTE_SIGN_IN, "/v1/sessions"},
	{"GET", "/v1/sessions/current", api_sessions_current, 0, 0, "/v1/sessions/current"},
	{"DELETE", "/v1/sessions/current", api_sessions_delete, 0, 0, "/v1/sessions/current"},
	{"POST", "/v1/sessions/otp", api_sessions_otp, 0, ROUTE_BODY | ROUTE_SIGN_IN, "/v1/sessions/otp"},
	{0},
};

int api_route_count(void)
{
	static int n = -1;
	if (n < 0) {
		int k = 0;
		while (api_routes[k].method)
			k++;
		n = k;
	}
	return n;
}

void api_register_statements_common(void);
void api_register_statements_sites(void);
void api_register_statements_tenants(void);
void api_register_statements_policies(void);
void api_register_statements_tariffs(void);
void api_register_statements_meters(void);
void api_register_statements_readings(void);
void api_register_statements_pools(void);
void api_register_statements_payments(void);
void api_register_statements_alarms(void);
void api_register_statements_reports(void);
void api_register_statements_gauges(void);
void api_register_statements_gateways(void);
void api_register_statements_receipts(void);
void api_register_statements_moveout(void);
void api_register_statements_msgtemplates(void);
void api_register_statements_sms(void);
void api_register_statements_dashboard(void);
void api_register_statements_events(void);
void api_register_statements_sessions(void);

void api_register_statements(void)
{
	api_register_statements_common();
	api_register_statements_dashboard();
	api_register_statements_sites();
	api_register_statements_tenants();
	api_register_statements_msgtemplates();
	api_register_statements_policies();
	api_register_statements_tariffs();
	api_register_statements_meters();
	api_register_statements_readings();
	api_register_statements_pools();
	api_register_statements_payments();
	api_register_statements_alarms();
	api_register_statements_reports();
	api_register_statements_gauges();
	api_register_statements_gateways();
	api_register_statements_receipts();
	api_register_statements_moveout();
	api_register_statements_sms();
	api_register_statements_events();
	api_register_statements_sessions();
}
