/* harness.c: real PostgreSQL databases, the real wattle binary, real HTTP. */
#include "harness.h"
#include "peer/peer.h"
#include "core/buf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *pg_base(void)
{
	const char *b = getenv("WATTLE_TEST_PG");
	ck_assert_msg(b && *b, "WATTLE_TEST_PG is not set: run the suites through tests/run.sh");
	return b;
}

PGresult *th_sql(const char *conninfo, const char *sql)
{
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", conninfo, PQerrorMessage(c));
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	ck_assert_msg(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	PQfinish(c);
	return r;
}

long long th_sql_int(const char *conninfo, const char *sql)
{
	PGresult *r = th_sql(conninfo, sql);
	ck_assert_msg(PQntuples(r) >= 1, "%s: no rows", sql);
	long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

char *th_fresh_db(void)
{
	static unsigned counter;
	char name[64], base[600], sql[200];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof name, "t_%d_%u_%ld", (int)getpid(), counter++, ts.tv_nsec);
	snprintf(base, sizeof base, "%s dbname=postgres", pg_base());
	snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE wattle_template", name);
	/* CREATE DATABASE ... TEMPLATE fails if another session is copying the template at the
	 * same moment; suites run in parallel, so try again a few times. */
	for (int i = 0;; i++) {
		PGconn *c = PQconnectdb(base);
		ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
		PGresult *r = PQexec(c, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok && i == 50)
			ck_abort_msg("%s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
		if (ok)
			break;
		usleep(100000);
	}
	char *out = malloc(700);
	snprintf(out, 700, "%s dbname=%s", pg_base(), name);
	return out;
}

void th_assert_ledger_invariant(const char *conninfo)
{
	long long bad = th_sql_int(conninfo,
				   "SELECT count(*) FROM accounts a WHERE a.balance_minor <>"
				   " (SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries e"
				   "  WHERE e.account_id = a.id)");
	ck_assert_msg(bad == 0, "%lld accounts whose balance is not the sum of their entries", bad);
	long long chain = th_sql_int(conninfo,
				     "SELECT count(*) FROM (SELECT balance_after_minor, sum(amount_minor)"
				     " OVER (PARTITION BY account_id ORDER BY id) AS running"
				     " FROM ledger_entries) x WHERE balance_after_minor <> running");
	ck_assert_msg(chain == 0, "%lld entries whose balance_after is not the running sum", chain);
}

void th_assert_meter_invariant(const char *conninfo)
{
	/* CNY-style two-digit currencies in the tests: one minor unit is 10^7 nano-units. */
	long long bad = th_sql_int(conninfo,
				   "SELECT count(*) FROM meter_state st WHERE st.charged_minor <>"
				   " floor(st.cost_nano_total / 10000000)");
	ck_assert_msg(bad == 0, "%lld meters whose charges are not their exact cost rounded down", bad);
	long long posted = th_sql_int(conninfo,
				      "SELECT count(*) FROM meter_state st JOIN meters m ON m.id = st.meter_id"
				      " WHERE st.charged_minor - st.unposted_minor <> (SELECT"
				      " coalesce(-sum(amount_minor), 0) FROM ledger_entries e WHERE"
				      " e.kind = 'energy_charge' AND e.ref->>'meter_id' = 'mtr_' || m.id)");
	ck_assert_msg(posted == 0, "%lld meters whose ledger charges differ from their state", posted);
}

int th_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	socklen_t n = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &n);
	close(fd);
	return ntohs(a.sin_port);
}

/* Run `wattle keys create` and read the key from its stdout. */
static void cli_admin_key(struct th_server *s)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "WATTLE_DATABASE_URL='%s' %s keys create --role admin --name harness",
		 s->conninfo, WATTLE_BIN);
	FILE *p = popen(cmd, "r");
	ck_assert(p);
	ck_assert(fgets(s->admin_key, sizeof s->admin_key, p));
	ck_assert_int_eq(pclose(p), 0);
	s->admin_key[strcspn(s->admin_key, "\n")] = 0;
	ck_assert_int_eq((int)strlen(s->admin_key), 51);
}

static void spawn(struct th_server *s, const char *conninfo, const char *const *env);

void th_server_start(struct th_server *s, const char *conninfo, const char *const *env)
{
	memset(s, 0, sizeof *s);
	snprintf(s->conninfo, sizeof s->conninfo, "%s", conninfo);
	cli_admin_key(s);
	s->port = th_free_port();
	spawn(s, conninfo, env);
}

void th_server_restart(struct th_server *s, const char *const *env)
{
	ck_assert_int_eq(s->pid, 0);
	spawn(s, s->conninfo, env);
}

static void spawn(struct th_server *s, const char *conninfo, const char *const *env)
{
	snprintf(s->log_path, sizeof s->log_path, "/tmp/wattle-test-%d-%d.log", (int)getpid(), s->port);
	s->pid = fork();
	ck_assert(s->pid >= 0);
	if (s->pid == 0) {
		char listen[64];
		snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
		setenv("WATTLE_LISTEN", listen, 1);
		setenv("WATTLE_DATABASE_URL", conninfo, 1);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		FILE *log = freopen(s->log_path, "w", stderr);
		(void)log;
		execl(WATTLE_BIN, WATTLE_BIN, "serve", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		struct th_resp r = th_req(s, "GET", "/healthz", NULL, NULL, NULL);
		long st = r.status;
		th_resp_free(&r);
		if (st == 200)
			return;
		int status;
		ck_assert_msg(waitpid(s->pid, &status, WNOHANG) == 0, "wattle exited at start; see %s",
			      s->log_path);
		usleep(25000);
	}
	ck_abort_msg("wattle did not answer /healthz; see %s", s->log_path);
}

int th_server_stop(struct th_server *s)
{
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	int status = 0;
	waitpid(s->pid, &status, 0);
	s->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		unlink(s->log_path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct th_resp *r = ud;
	size_t n = size * nmemb;
	if (n > 14 && !strncasecmp(ptr, "X-Request-Id: ", 14))
		snprintf(r->request_id, sizeof r->request_id, "%.*s", (int)(n - 16), ptr + 14);
	if (n > 14 && !strncasecmp(ptr, "Content-Type: ", 14))
		snprintf(r->content_type, sizeof r->content_type, "%.*s", (int)(n - 16), ptr + 14);
	if (n > 13 && !strncasecmp(ptr, "Retry-After: ", 13))
		r->retry_after = atol(ptr + 13);
	if (n > 10 && !strncasecmp(ptr, "Location: ", 10))
		snprintf(r->location, sizeof r->location, "%.*s", (int)(n - 12), ptr + 10);
	if (n > 18 && !strncasecmp(ptr, "Content-Encoding: ", 18))
		snprintf(r->content_encoding, sizeof r->content_encoding, "%.*s", (int)(n - 20), ptr + 18);
	if (n > 6 && !strncasecmp(ptr, "ETag: ", 6))
		snprintf(r->etag, sizeof r->etag, "%.*s", (int)(n - 8), ptr + 6);
	if (n > 12 && !strncasecmp(ptr, "Set-Cookie: ", 12))
		snprintf(r->set_cookie, sizeof r->set_cookie, "%.*s", (int)(n - 14), ptr + 12);
	if (n > 15 && !strncasecmp(ptr, "Cache-Control: ", 15))
		snprintf(r->cache_control, sizeof r->cache_control, "%.*s", (int)(n - 17), ptr + 15);
	return n;
}

struct th_resp th_req(struct th_server *s, const char *method, const char *path, const char *key,
		      const char *body, const char *const *headers)
{
	struct th_resp r = {0};
	struct srv_buf b = {0};
	CURL *c = curl_easy_init();
	char url[1024], auth[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
	struct curl_slist *h = NULL;
	int has_ct = 0;
	for (int i = 0; headers && headers[i]; i++) {
		h = curl_slist_append(h, headers[i]);
		has_ct |= !strncasecmp(headers[i], "Content-Type:", 13);
	}
	if (body && !has_ct)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (key) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "HEAD")) /* the reply has no body to wait for */
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, srv_buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	r.body = b.p ? b.p : strdup("");
	r.body_len = b.p ? b.len : 0;
	r.json = json_loads(r.body, 0, NULL);
	return r;
}

void th_resp_free(struct th_resp *r)
{
	free(r->body);
	json_decref(r->json);
	r->body = NULL;
	r->json = NULL;
}

json_t *th_ok(struct th_server *s, const char *method, const char *path, const char *key,
	      const char *body, long want_status)
{
	struct th_resp r = th_req(s, method, path, key, body, NULL);
	ck_assert_msg(r.status == want_status, "%s %s: want %ld, got %ld: %s", method, path,
		      want_status, r.status, r.body);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

char *th_key(struct th_server *s, const char *role, const char *tenant_id)
{
	char body[256];
	if (tenant_id)
		snprintf(body, sizeof body, "{\"name\":\"t\",\"role\":\"%s\",\"tenant_id\":\"%s\"}", role,
			 tenant_id);
	else
		snprintf(body, sizeof body, "{\"name\":\"t\",\"role\":\"%s\"}", role);
	json_t *j = th_ok(s, "POST", "/v1/api-keys", s->admin_key, body, 201);
	char *k = strdup(json_string_value(json_object_get(j, "key")));
	json_decref(j);
	return k;
}

const char *th_err(const struct th_resp *r)
{
	const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
	return c ? c : "";
}


/* The fake peer's answer: record the request, or fail it while fail_next > 0. */
static void peer_answer(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	struct th_peer *p = ud;
	if (p->delay_ms)
		usleep((useconds_t)p->delay_ms * 1000);
	pthread_mutex_lock(&p->mu);
	if (p->fail_next > 0) {
		p->fail_next--;
		out->status = 500;
	} else if (p->n < TH_PEER_MAX) {
		struct th_peer_req *r = &p->reqs[p->n++];
		const char *v;
		snprintf(r->path, sizeof r->path, "%s", rq->path);
		snprintf(r->auth, sizeof r->auth, "%s", (v = peer_header(rq, "Authorization")) ? v : "");
		snprintf(r->sig, sizeof r->sig, "%s", (v = peer_header(rq, "X-Wattle-Signature")) ? v : "");
		snprintf(r->ctype, sizeof r->ctype, "%s", (v = peer_header(rq, "Content-Type")) ? v : "");
		r->body = strdup(rq->body);
	}
	pthread_mutex_unlock(&p->mu);
}

void th_peer_start(struct th_peer *p, int port)
{
	if (!p->port) {
		pthread_mutex_init(&p->mu, NULL);
		p->port = port ? port : th_free_port();
	}
	p->daemon = peer_start(p->port, peer_answer, p);
	ck_assert_msg(p->daemon, "fake peer cannot listen on %d", p->port);
}

void th_peer_stop(struct th_peer *p)
{
	peer_stop(p->daemon);
	p->daemon = NULL;
	for (int i = 0; i < p->n; i++)
		free(p->reqs[i].body);
	p->n = 0;
}

int th_peer_count(struct th_peer *p, const char *needle)
{
	pthread_mutex_lock(&p->mu);
	int k = 0;
	for (int i = 0; i < p->n; i++)
		k += !needle || strstr(p->reqs[i].body, needle) != NULL;
	pthread_mutex_unlock(&p->mu);
	return k;
}

void th_world_start(struct th_world *w, const char *const *env, unsigned flags)
{
	memset(w, 0, sizeof *w);
	w->db = th_fresh_db();
	th_server_start(&w->srv, w->db, env);
	w->fin = th_key(&w->srv, "finance", NULL);
	w->ops = th_key(&w->srv, "operator", NULL);
	w->gw = th_key(&w->srv, "gateway", NULL);
	if (flags & (TH_SITE | TH_TENANT | TH_TARIFF))
		json_decref(th_ok(&w->srv, "POST", "/v1/sites", w->srv.admin_key,
				  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	if (flags & TH_TENANT)
		json_decref(th_ok(&w->srv, "POST", "/v1/tenants", w->fin,
				  "{\"site_id\":\"site_1\",\"name\":\"Noodle Bar\",\"category\":\"catering\","
				  "\"area_m2\":\"80\",\"credit_rating\":\"A\"}", 201));
	if (flags & TH_TARIFF)
		json_decref(th_ok(&w->srv, "POST", "/v1/tariffs", w->fin,
				  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
				  "\"rate_micros_per_kwh\":1234567,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201));
}

void th_world_second_site(struct th_world *w)
{
	json_decref(th_ok(&w->srv, "POST", "/v1/sites", w->srv.admin_key,
			  "{\"name\":\"Tower\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	json_decref(th_ok(&w->srv, "POST", "/v1/tenants", w->fin,
			  "{\"site_id\":\"site_2\",\"name\":\"Tea Shop\",\"category\":\"catering\","
			  "\"area_m2\":\"20\",\"credit_rating\":\"A\"}", 201));
	json_decref(th_ok(&w->srv, "POST", "/v1/users", w->srv.admin_key,
			  "{\"username\":\"fin.two\",\"password\":\"0123456789\",\"role\":\"finance\","
			  "\"site_ids\":[\"site_2\"]}", 201));
}

void th_world_stop(struct th_world *w)
{
	if (w->srv.pid) /* a test may have stopped it already */
		ck_assert_int_eq(th_server_stop(&w->srv), 0);
	th_assert_ledger_invariant(w->db);
	th_assert_meter_invariant(w->db);
	free(w->fin);
	free(w->ops);
	free(w->gw);
	free(w->db);
	memset(w, 0, sizeof *w);
}

pid_t th_spawn(const char *const *argv, const char *log_path)
{
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		if (log_path) {
			FILE *log = freopen(log_path, "a", stderr);
			(void)log;
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int th_reap(pid_t pid, int sig)
{
	if (pid <= 0)
		return -1;
	kill(pid, sig);
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Whether something listens on 127.0.0.1:port. */
static int listening(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

void th_wait_port(int port)
{
	for (int i = 0; i < 200; i++) {
		if (listening(port))
			return;
		usleep(25000);
	}
	ck_abort_msg("nothing listens on port %d", port);
}

void th_broker_start(struct th_broker *b)
{
	memset(b, 0, sizeof *b);
	b->port = th_free_port();
	snprintf(b->conf, sizeof b->conf, "/tmp/wattle-mosquitto-%d-%d.conf", (int)getpid(), b->port);
	FILE *f = fopen(b->conf, "w");
	ck_assert(f != NULL);
	fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n", b->port);
	fclose(f);
	const char *argv[] = {"/usr/sbin/mosquitto", "-c", b->conf, NULL};
	b->pid = th_spawn(argv, "/dev/null");
	th_wait_port(b->port);
}

void th_broker_stop(struct th_broker *b)
{
	th_reap(b->pid, SIGTERM);
	unlink(b->conf);
	b->pid = 0;
}
