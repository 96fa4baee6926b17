/* gateways.c: /v1/gateways. A gateway belongs to a site and is made with its own gateway
 * key (shown once), which acts for the gateway's meters only; it is pushed its commands (at
 * its url) or pulls them (api/pull.c). Requests made with its key say when it was last seen,
 * its version and its queue's depth. */
#include "api/api.h"
#include "core/clock.h"
#include "core/money.h"
#include "core/valid.h"
#include "store/gateways.h"
#include "store/keys.h"
#include "store/sites.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void api_register_statements_gateways(void);
void api_register_statements_gateways(void) { store_gateways_register(); }

static json_t *opt_str(const char *s) { return s[0] ? json_string(s) : json_null(); }

static json_t *gateway_json(const struct gateway_row *g)
{
	return json_pack("{s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
			 api_id_json(ID_GATEWAY, g->id), "site_id", api_id_json(ID_SITE, g->site_id), "name", g->name,
			 "delivery", g->delivery, "url", opt_str(g->url), "api_key_id",
			 g->api_key_id ? api_id_json(ID_KEY, g->api_key_id) : json_null(), "last_seen_at",
			 g->last_seen_us ? api_time_json(g->last_seen_us) : json_null(), "queue_depth",
			 g->depth_null ? json_null() : json_integer(g->queue_depth), "version", opt_str(g->version),
			 "meters", (json_int_t)g->meters, "created_at", api_time_json(g->created_us), "updated_at",
			 api_time_json(g->updated_us));
}

struct gateway_tx {
	struct req *rq;
	int64_t site;
	struct gateway_row g;
	char key[KEY_LEN + 1];
};

static enum db_status gateway_create_tx(PGconn *c, void *arg)
{
	struct gateway_tx *t = arg;
	struct req *rq = t->rq;
	struct site s;
	enum db_status st = store_site_get(c, t->site, &s);
	if (st != DB_OK)
		return st;
	if (!s.id) {
		api_field_error(rq, "site_id", "no such site");
		return DB_ABORT;
	}
	const char *name = api_body_str(rq, "name");
	if ((st = store_gateway_insert(c, t->site, name, api_body_str(rq, "delivery"), api_body_str(rq, "url"),
				       srv_clock_now_us(), &t->g)) != DB_OK)
		return st;
	struct key_new k = {name, ROLE_GATEWAY, 0, t->site, t->g.id};
	if ((st = srv_key_insert(c, &k, t->key, &t->g.api_key_id)) != DB_OK ||
	    (st = store_gateway_set_key(c, t->g.id, t->g.api_key_id)) != DB_OK)
		return st;
	return api_audit(c, rq, "gateway.create",
			 json_pack("{s:o, s:o, s:s, s:o}", "id", api_id_json(ID_GATEWAY, t->g.id), "site_id",
				   api_id_json(ID_SITE, t->site), "delivery", t->g.delivery, "api_key_id",
				   api_id_json(ID_KEY, t->g.api_key_id)));
}

void api_gateways_create(struct req *rq)
{
	static const char *const deliveries[] = {"push", "pull", NULL};
	static const struct field spec[] = {
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"delivery", FK_ENUM, F_REQ, 0, 0, deliveries, 0},
		{"url", FK_URL, F_NULL, 0, 0, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	bool push = !strcmp(api_body_str(rq, "delivery"), "push");
	if (push != (api_body_str(rq, "url") != NULL)) {
		api_field_error(rq, "url", push ? "a push gateway needs the url its commands are POSTed to"
						: "a pull gateway takes its commands itself and has no url");
		return;
	}
	struct gateway_tx t = {rq, api_body_id(rq, ID_SITE, "site_id"), {0}, {0}};
	if (api_tx_failed(rq, db_run_tx(gateway_create_tx, &t)))
		return;
	json_t *out = gateway_json(&t.g);
	json_object_set_new(out, "key", json_string(t.key));
	api_reply(rq, 201, out);
}

void api_gateways_list(struct req *rq)
{
	int64_t site, limit, after;
	if (api_query_id(rq, "site_id", ID_SITE, &site) || api_page(rq, ID_GATEWAY, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	struct gateway_row *v;
	int n;
	if (!c || api_read_failed(rq, store_gateways_list(c, after, limit + 1, site, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, gateway_json(&v[i]));
	free(v);
	api_reply(rq, 200, api_page_reply(items, limit));
}

void api_gateways_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_GATEWAY, "gateway");
	PGconn *c = id ? api_conn(rq) : NULL;
	struct gateway_row g;
	if (!c || api_read_failed(rq, store_gateway_get(c, id, &g)))
		return;
	if (g.id)
		api_reply(rq, 200, gateway_json(&g));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no gateway %s", rq->args[0]);
}

/* When each gateway was last written seen by this process, direct-mapped by id: a slot
 * says "gateway_id, at_us" (srv_mono_us). Read without the lock: a request seen less than
 * SEEN_EVERY_US ago costs two atomic loads and no statement. */
#define SEEN_SLOTS 1024
#define SEEN_EVERY_US INT64_C(5000000)
#define VERSION_MAX 64

static struct {
	_Atomic int64_t gateway_id, at_us;
} seen[SEEN_SLOTS];
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;

/* Whether gateway gw is due to be written seen at now (and, if so, it is marked written). */
static bool seen_due(int64_t gw, int64_t now)
{
	unsigned s = (unsigned)(gw % SEEN_SLOTS);
	if (atomic_load(&seen[s].gateway_id) == gw && now - atomic_load(&seen[s].at_us) < SEEN_EVERY_US)
		return false;
	pthread_mutex_lock(&seen_mu); /* one writer per gateway and window */
	bool due = atomic_load(&seen[s].gateway_id) != gw || now - atomic_load(&seen[s].at_us) >= SEEN_EVERY_US;
	if (due) {
		atomic_store(&seen[s].at_us, now);
		atomic_store(&seen[s].gateway_id, gw);
	}
	pthread_mutex_unlock(&seen_mu);
	return due;
}

void api_gateway_seen(struct req *rq)
{
	int64_t gw = rq->who.gateway_id;
	if (!gw || !seen_due(gw, srv_mono_us()))
		return;
	/* what the headers say, when they say it well; a bad one is not the request's fault */
	const char *version = api_header(rq, "X-Wattle-Gateway-Version");
	if (version && !api_valid_text(version, VERSION_MAX))
		version = NULL;
	const char *d = api_header(rq, "X-Wattle-Queue-Depth");
	int64_t depth = 0;
	bool has_depth = d && bill_parse_decimal(d, 0, INT64_C(1000000000000), &depth) == 0;
	PGconn *c = db_conn();
	if (c && store_gateway_seen(c, gw, srv_clock_now_us(), version, has_depth, depth) == DB_GONE)
		db_conn_reset();
}
