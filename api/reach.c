/* reach.c: a finance or operator user bound to some sites (users.site_ids) reaches only
 * them, on every route, checked once before the handler runs; a handler never has to
 * remember it. What a request touches is named three ways, and each is checked:
 *
 *   - the id in its path (/v1/tenants/ten_7/account): its row's site must be the user's,
 *     else 404 as if there were no such row (another site's ids are not confirmed);
 *   - the ids in its query and top-level body fields (site_id, tenant_id, meter_id, ...;
 *     and arrays of them, meter_ids): the same;
 *   - a list (ROUTE_SITE_LIST) is narrowed by site_id, which must be one of the user's: when
 *     the query has none, the site of the tenant or meter it names is implied, else the
 *     user's one site; a user with several names one (400 listing them).
 *
 * A route that holds no site's data or keeps to the user's sites itself is ROUTE_ANY_SITE
 * (the event stream filters by site, the site list shows only the user's). Anything else
 * (a list with no site filter: notifications, commands; an admin's route) is refused with
 * 403, and so is a route that spans every site whatever it names (ROUTE_EVERY_SITE: a
 * reconciliation matches a provider's bill against every site's payments): a new route is closed to a
 * site-bound user until it is made to say its site. */
#include "api/reach.h"
#include "api/api.h"
#include "api/payments.h"
#include "store/reach.h"

#include <stdio.h>
#include <string.h>

/* A name for a site's thing: where it is named (a path prefix, or a query parameter or body
 * field), the prefix of its ids, and what it is called in a 404. */
struct thing {
	const char *name, *id, *noun;
	enum reach_kind kind;
};

/* Routes with a site's thing in their path: the pattern starts with name, then "{id}". */
static const struct thing paths[] = {
	{"/v1/sites/", ID_SITE, "site", RK_SITE},
	{"/v1/tenants/", ID_TENANT, "tenant", RK_TENANT},
	{"/v1/meters/", ID_METER, "meter", RK_METER},
	{"/v1/gateways/", ID_GATEWAY, "gateway", RK_GATEWAY},
	{"/v1/tariffs/", ID_TARIFF, "tariff", RK_TARIFF},
	{"/v1/cost-pools/", "pool", "cost pool", RK_POOL},
	{"/v1/allocation-runs/", "run", "allocation run", RK_RUN},
	{"/v1/topup-orders/", ID_ORDER, "top-up order", RK_ORDER},
	{"/v1/payment-conflicts/", ID_CONFLICT, "payment conflict", RK_CONFLICT},
	{"/v1/refunds/", "rfd", "refund", RK_REFUND},
	{"/v1/alarms/", "alm", "alarm", RK_ALARM},
	{"/v1/reports/", "rpt", "report", RK_REPORT},
	{"/v1/receipts/", ID_RECEIPT, "receipt", RK_RECEIPT},
};

/* Query parameters and body fields that name a site's thing (and "<name>s" arrays of them). */
static const struct thing refs[] = {
	{"site_id", ID_SITE, "site", RK_SITE},
	{"tenant_id", ID_TENANT, "tenant", RK_TENANT},
	{"meter_id", ID_METER, "meter", RK_METER},
	{"main_meter_id", ID_METER, "meter", RK_METER},
	{"minus_meter_id", ID_METER, "meter", RK_METER},
	{"gateway_id", ID_GATEWAY, "gateway", RK_GATEWAY},
	{"tariff_id", ID_TARIFF, "tariff", RK_TARIFF},
	{"policy_id", ID_POLICY, "credit policy", RK_POLICY},
	{"pool_id", "pool", "cost pool", RK_POOL},
	{"payment_id", ID_PAYMENT, "payment", RK_PAYMENT},
};

static bool mine(const struct auth *a, int64_t site)
{
	for (int i = 0; i < a->n_sites; i++)
		if (a->sites[i] == site)
			return true;
	return false;
}

/* 1 when the thing s names (an id with prefix, or a meter's serial) is on one of the user's
 * sites or does not parse (the handler answers that); else 0 with a 404 (or a 503). */
static int reach(struct req *rq, const struct thing *t, const char *s, int64_t *at)
{
	int64_t id = api_id_parse(t->id, s);
	if (!id && t->kind != RK_METER)
		return 1;
	PGconn *c = api_conn(rq);
	if (!c)
		return 0;
	int64_t site;
	if (api_read_failed(rq, store_site_of(c, t->kind, id, s, &site)))
		return 0;
	if (site && mine(&rq->who, site)) {
		if (at)
			*at = site;
		return 1;
	}
	api_error(rq, E_NOT_FOUND, NULL, "no %s %s", t->noun, s);
	return 0;
}

/* The refs of the query (body NULL) or of the body: how many, all reachable (*at, when not
 * NULL, the site of the last), or -1 with the reply set. */
static int reach_refs(struct req *rq, json_t *body, int64_t *at)
{
	int named = 0;
	for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
		const char *v = body ? json_string_value(json_object_get(body, refs[i].name)) : api_query(rq, refs[i].name);
		if (v) {
			named++;
			if (!reach(rq, &refs[i], v, at))
				return -1;
		}
		if (!body)
			continue;
		char plural[32];
		snprintf(plural, sizeof plural, "%ss", refs[i].name);
		json_t *a = json_object_get(body, plural);
		size_t j;
		json_t *x;
		json_array_foreach(a, j, x) {
			if (!json_is_string(x))
				continue;
			named++;
			if (!reach(rq, &refs[i], json_string_value(x), at))
				return -1;
		}
	}
	return named;
}

/* A list without site_id: the site of the tenant or meter the query names (at, 0: none), the
 * user's one site, or 400 naming the user's sites. */
static int imply_site(struct req *rq, int64_t at)
{
	if (at || rq->who.n_sites == 1) {
		snprintf(rq->site_implied, sizeof rq->site_implied, ID_SITE "_%lld",
			 (long long)(at ? at : rq->who.sites[0]));
		return 1;
	}
	json_t *sites = json_array();
	for (int i = 0; i < rq->who.n_sites; i++)
		json_array_append_new(sites, api_id_json(ID_SITE, rq->who.sites[i]));
	api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s, s:o}", "parameter", "site_id", "sites", sites),
		  "site_id is required: this user reaches %d sites; name one of them", rq->who.n_sites);
	return 0;
}

int api_site_reach(struct req *rq)
{
	if (!rq->who.n_sites)
		return 1;
	const struct route *r = rq->route;
	if (r->flags & ROUTE_EVERY_SITE) {
		api_error(rq, E_FORBIDDEN, NULL, "a user bound to sites may not use this endpoint: it spans every site");
		return 0;
	}
	/* what a change acts on is what its body names (its handler reads no query ids) */
	int64_t at = 0;
	int named = rq->json ? reach_refs(rq, rq->json, NULL) : 0;
	if (named < 0 || reach_refs(rq, NULL, &at) < 0)
		return 0;
	if (strstr(r->pattern, "{id}")) {
		for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
			size_t n = strlen(paths[i].name);
			if (!strncmp(r->pattern, paths[i].name, n) && !strncmp(r->pattern + n, "{id}", 4))
				return reach(rq, &paths[i], rq->args[0], NULL);
		}
	} else if (r->flags & ROUTE_SITE_LIST) {
		return api_query(rq, "site_id") || imply_site(rq, at);
	} else if ((r->flags & ROUTE_ANY_SITE) || (named && strcmp(r->method, "GET"))) {
		return 1;
	}
	api_error(rq, E_FORBIDDEN, NULL, "a user bound to sites may not use this endpoint: it spans every site");
	return 0;
}
