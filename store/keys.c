/* keys.c: API keys are stored as SHA-256 hashes; lookups go through a small cache. */
#include "store/keys.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "store/db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct db_stmt auth_stmts[] = {
	{"auth_lookup", /* srv_auth_lookup: the key, its reach and its gateway's delivery */
	 "SELECT k.id, k.role, coalesce(k.tenant_id, 0) AS tenant_id, coalesce(k.site_id, 0) AS site_id,"
	 " coalesce(k.gateway_id, 0) AS gateway_id, coalesce(g.delivery = 'pull', false) AS pull"
	 " FROM api_keys k LEFT JOIN gateways g ON g.id = k.gateway_id"
	 " WHERE k.key_hash = $1 AND k.revoked_at IS NULL"},
	{"key_revoke", /* store_key_revoke */
	 "UPDATE api_keys SET revoked_at = coalesce(revoked_at, " SQL_TS("$2") ")"
	 " WHERE id = $1 RETURNING id"},
	{"auth_insert", /* srv_key_insert */
	 "INSERT INTO api_keys (name, role, tenant_id, key_hash, key_prefix, created_at, site_id, gateway_id)"
	 " VALUES ($1, $2, $3::bigint, $4, $5, " SQL_TS("$6") ", $7::bigint, $8::bigint) RETURNING id"},
	{"keys_unbound", /* store_keys_unbound */
	 "SELECT count(*) AS n FROM api_keys WHERE role = 'gateway' AND revoked_at IS NULL"
	 " AND site_id IS NULL AND gateway_id IS NULL"},
	{0, 0},
};

void srv_auth_register(void) { db_register(auth_stmts); }

/* The cache: direct-mapped by hash, entries expire after TTL. */
#define CACHE_SLOTS 4096
#define CACHE_TTL_US 5000000

struct cache_slot {
	char hash[KEY_HASH_LEN + 1];
	struct auth who;
	int64_t expires;
};

static struct cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static unsigned slot_of(const char *hash)
{
	unsigned v = 0;
	for (int i = 0; i < 8; i++)
		v = v * 16 + (unsigned)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
	return v % CACHE_SLOTS;
}

int srv_auth_lookup(const char *key, struct auth *out)
{
	if (strlen(key) != KEY_LEN || strncmp(key, "wk_", 3))
		return 0;
	char hash[KEY_HASH_LEN + 1];
	srv_key_hash(key, hash);
	unsigned s = slot_of(hash);
	int64_t now = mono_us();

	pthread_mutex_lock(&cache_mu);
	if (cache[s].expires > now && !strcmp(cache[s].hash, hash)) {
		*out = cache[s].who;
		pthread_mutex_unlock(&cache_mu);
		return 1;
	}
	pthread_mutex_unlock(&cache_mu);

	PGconn *c = db_conn();
	if (!c)
		return -1;
	struct db_params p = {0};
	db_p_text(&p, hash);
	char role[16];
	struct db_col spec[] = {DB_COL("id", DB_I64, &out->key_id), DB_COL_TEXT("role", role),
				DB_COL("tenant_id", DB_I64, &out->tenant_id), DB_COL("site_id", DB_I64, &out->site_id),
				DB_COL("gateway_id", DB_I64, &out->gateway_id), DB_COL("pull", DB_BOOL, &out->pull),
				{0}};
	bool one;
	enum db_status st = db_exec_row(c, "auth_lookup", &p, spec, &one);
	int found = -1;
	if (st == DB_OK) {
		found = one;
		if (found)
			out->role = srv_role_parse(role);
	} else if (st == DB_GONE) {
		db_conn_reset();
	}
	if (found == 1) {
		pthread_mutex_lock(&cache_mu);
		memcpy(cache[s].hash, hash, sizeof hash);
		cache[s].who = *out;
		cache[s].expires = now + CACHE_TTL_US;
		pthread_mutex_unlock(&cache_mu);
	}
	return found;
}

void srv_auth_forget(int64_t key_id)
{
	pthread_mutex_lock(&cache_mu);
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].expires && cache[i].who.key_id == key_id)
			cache[i].expires = 0;
	pthread_mutex_unlock(&cache_mu);
}

enum db_status srv_key_insert(PGconn *c, const struct key_new *k, char *key, int64_t *id_out)
{
	if (srv_key_generate(key) != 0)
		return DB_HARD;
	char hash[KEY_HASH_LEN + 1], prefix[12];
	srv_key_hash(key, hash);
	snprintf(prefix, sizeof prefix, "%.10s", key);
	struct db_params p = {0};
	db_p_text(&p, k->name);
	db_p_text(&p, srv_role_name(k->role));
	db_p_id(&p, k->tenant_id);
	db_p_text(&p, hash);
	db_p_text(&p, prefix);
	db_p_i64(&p, srv_clock_now_us());
	db_p_id(&p, k->site_id);
	db_p_id(&p, k->gateway_id);
	struct db_col spec[] = {DB_COL("id", DB_I64, id_out), {0}};
	return db_exec_row(c, "auth_insert", &p, spec, NULL);
}

enum db_status store_keys_unbound(PGconn *c, int64_t *n)
{
	struct db_params p = {0};
	*n = 0;
	struct db_col spec[] = {DB_COL("n", DB_I64, n), {0}};
	return db_exec_row(c, "keys_unbound", &p, spec, NULL);
}

enum db_status store_key_revoke(PGconn *c, int64_t id, int64_t now_us, bool *found)
{
	struct db_params p = {0};
	db_p_i64(&p, id);
	db_p_i64(&p, now_us);
	int64_t got = 0;
	struct db_col spec[] = {DB_COL("id", DB_I64, &got), {0}};
	return db_exec_row(c, "key_revoke", &p, spec, found);
}
