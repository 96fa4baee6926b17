/* main.c: the wattle command line: migrate, serve, keys create, routes, verify, demo, help. */
#include "api/api.h"
#include "core/tz.h"
#include "store/verify.h"
#include "store/keys.h"
#include "core/clock.h"
#include "server/config.h"
#include "store/db.h"
#include "demo/demo.h"
#include "api/sessions.h"
#include "server/dispatch.h"
#include "server/http.h"
#include "server/statements.h"
#include "core/log.h"
#include "store/migrate.h"
#include "server/workers.h"
#include "ops/alarm.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each command's help: `wattle help COMMAND` and `wattle COMMAND --help` print it on stdout
 * and do nothing else. */
static const struct {
	const char *name, *synopsis, *text;
} commands[] = {
	{"migrate", "migrate", "apply db/migrations to WATTLE_DATABASE_URL (idempotent)"},
	{"serve", "serve [--no-migrate]",
	 "serve the HTTP API on WATTLE_LISTEN (default 127.0.0.1:8080)\n"
	 "after migrating (unless --no-migrate), until SIGTERM or SIGINT"},
	{"keys", "keys create --role ROLE --name NAME [--tenant ID]",
	 "print a new API key alone on one line\n"
	 "ROLE is admin, finance, operator, gateway or tenant (a tenant key needs --tenant ten_N)"},
	{"routes", "routes", "print the route table (METHOD PATH)"},
	{"verify", "verify",
	 "check the books; exit 1 naming what is wrong\n"
	 "(balances, ledger chains, meter charges, allocation runs); 2 when the database cannot be read"},
	{"demo", "demo [--speed N] [--exit]", "a month of a simulated mall, reports in ./var/reports"},
	{"help", "help [COMMAND]", "this help, or COMMAND's"},
	{"version", "version", "the release and commit (also --version)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The settings, as `wattle help` and `wattle serve --help` list them. */
static void settings(FILE *f)
{
	fprintf(f, "environment (README.md and deploy/wattle.env.example say what each takes):\n");
	for (int i = 0; srv_config_names[i]; i++)
		fprintf(f, "%s%s", i % 4 ? ", " : (i ? ",\n  " : "  "), srv_config_names[i]);
	fprintf(f, "\nsecrets: each of these may instead be read from a file, NAME_FILE=/path (trailing\n"
		   "newlines cut), or from the systemd credential NAME ($CREDENTIALS_DIRECTORY/NAME,\n"
		   "LoadCredential=NAME:/path); one way only:\n");
	for (size_t i = 0; srv_config_secret_name(i); i++)
		fprintf(f, "%s%s", i % 4 ? ", " : (i ? ",\n  " : "  "), srv_config_secret_name(i));
	fputc('\n', f);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: wattle <command>   (wattle help COMMAND: that command's help)\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-50s %.*s\n", commands[i].synopsis, (int)strcspn(commands[i].text, "\n"), commands[i].text);
	settings(f);
}

/* `wattle help NAME`: 0, or 2 (on stderr) when there is no such command. */
static int help(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name)) {
			printf("usage: wattle %s\n%s\n", commands[i].synopsis, commands[i].text);
			if (!strcmp(name, "serve") || !strcmp(name, "migrate") || !strcmp(name, "verify") ||
			    !strcmp(name, "keys"))
				settings(stdout);
			return 0;
		}
	fprintf(stderr, "wattle: help: there is no command %s (wattle help lists them)\n", name);
	return 2;
}

/* wattle verify: one line per check; 0 when the books hold, 1 when any check fails, 2 when
 * the database cannot be read. */
static int cmd_verify(const struct config *cfg)
{
	store_verify_register();
	db_set_conninfo(cfg->database_url);
	struct verify_result *r;
	int n;
	enum db_status st = store_verify(&r, &n);
	db_close_all();
	if (st != DB_OK) {
		fprintf(stderr, "wattle: verify could not read the database (is it reachable and migrated?)\n");
		free(r);
		return 2;
	}
	int failed = 0;
	for (int i = 0; i < n; i++) {
		if (r[i].bad) {
			failed++;
			printf("FAILED %-13s %lld of %lld break the rule: %s (first: %s)\n", r[i].check, (long long)r[i].bad,
			       (long long)r[i].checked, r[i].rule, r[i].examples);
		} else {
			printf("ok     %-13s %lld checked: %s\n", r[i].check, (long long)r[i].checked, r[i].rule);
		}
	}
	free(r);
	if (failed)
		fprintf(stderr, "wattle: verify: %d check%s failed\n", failed, failed > 1 ? "s" : "");
	return failed ? 1 : 0;
}

static int cmd_migrate(const struct config *cfg)
{
	int n = srv_migrate(cfg->database_url);
	if (n < 0)
		return 1;
	srv_log(LOG_INFO, "migrate: %d applied, schema at version %d", n, srv_migrations_latest());
	return 0;
}

/* Gateway keys made before gateways reach every meter of every site; until each is replaced,
 * every start says so (and /metrics counts them: wattle_gateway_keys_unbound). */
static void warn_unbound_keys(void)
{
	PGconn *c = db_conn();
	int64_t n = 0;
	if (c && store_keys_unbound(c, &n) == DB_OK && n > 0)
		srv_log(LOG_WARN, "serve: %lld gateway keys are bound to no gateway or site; replace them: make each"
			" gateway with POST /v1/gateways (it comes with its own key) or a key with POST /v1/api-keys"
			" {\"role\":\"gateway\",\"site_id\":...}, then revoke the old key with DELETE /v1/api-keys/{id}",
			(long long)n);
	db_thread_close();
}

static int cmd_serve(struct config *cfg, int argc, char **argv)
{
	int migrate = 1;
	static char demo_phone[24];
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--no-migrate")) {
			migrate = 0;
		} else if (!strcmp(argv[i], "--demo-login-code") && i + 1 < argc && strchr(argv[i + 1], ':') &&
			   strchr(argv[i + 1], ':') - argv[i + 1] < (long)sizeof demo_phone) {
			/* `wattle demo`'s one tenant phone with a fixed code (never the environment) */
			const char *arg = argv[++i], *colon = strchr(arg, ':');
			snprintf(demo_phone, sizeof demo_phone, "%.*s", (int)(colon - arg), arg);
			cfg->demo_phone = demo_phone;
			cfg->demo_code = colon + 1;
		} else {
			fprintf(stderr, "wattle: serve: unknown option %s (wattle help serve)\n", argv[i]);
			return 2;
		}
	}
	if (migrate && srv_migrate(cfg->database_url) < 0)
		return 1;

	/* Signals are taken synchronously by this thread; every other thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	alarms_set_enabled(cfg->alarms);
	srv_register_statements();
	db_set_conninfo(cfg->database_url);
	db_set_replica(cfg->replica_url, cfg->replica_max_lag_ms, cfg->replica_check_ms);
	api_route_count();
	struct http_opts o = {api_routes, cfg->listen_host, cfg->listen_port, cfg->threads, cfg->body_max, cfg->limits,
			      cfg->conn_per_addr, (unsigned)cfg->idle_timeout_s, cfg->request_timeout_s,
			      api_gateway_seen, cfg->trusted_proxies, cfg->n_trusted_proxies, cfg->header_timeout_s};
	warn_unbound_keys();
	api_receipts_set_font(cfg->receipt_font);
	api_twilio_hook_configure(cfg->sms_callback_token);
	struct api_session_settings ss = {cfg->session_idle_s, cfg->pay.public_url, cfg->demo_phone, cfg->demo_code};
	api_sessions_configure(&ss);
	if (api_payments_start(&cfg->pay)) {
		srv_log(LOG_ERROR, "serve: the payment settings are wrong; not starting");
		api_payments_stop();
		return 2;
	}
	srv_workers_start(cfg);
	struct MHD_Daemon *d = srv_http_start(&o);
	if (!d) {
		srv_workers_stop();
		return 1;
	}
	srv_log(LOG_INFO, "serve: listening on %s:%u with %u threads", cfg->listen_host,
		(unsigned)srv_http_port(d), cfg->threads);
	int sig;
	sigwait(&set, &sig);
	srv_log(LOG_INFO, "serve: %s received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	srv_workers_stop(); /* queued work is done and answered before the server stops */
	srv_http_stop(d);
	api_payments_stop();
	db_close_all();
	bill_tz_close_all();
	srv_log(LOG_INFO, "serve: stopped");
	return 0;
}

/* The CLI's changes are audited like the API's, as role "cli". */
/* The key and its audit row, in one transaction. */
struct key_tx {
	const char *name, *role;
	unsigned r;
	int64_t tenant_id;
	char key[KEY_LEN + 1];
	int64_t id;
};

static enum db_status key_tx(PGconn *c, void *arg)
{
	struct key_tx *t = arg;
	struct key_new k = {t->name, t->r, t->tenant_id, 0, 0};
	enum db_status st = srv_key_insert(c, &k, t->key, &t->id);
	if (st != DB_OK)
		return st;
	struct req rq = {0};
	rq.method = "CLI";
	rq.path = "wattle keys create";
	snprintf(rq.request_id, sizeof rq.request_id, "cli-%d", (int)getpid());
	return api_audit(c, &rq, "api_key.create",
			 json_pack("{s:o, s:s}", "id", api_id_json(ID_KEY, t->id), "role", t->role));
}

static int cmd_keys(const struct config *cfg, int argc, char **argv)
{
	const char *role = NULL, *name = NULL, *tenant = NULL;
	if (argc < 1 || strcmp(argv[0], "create")) {
		fprintf(stderr, "wattle: keys: %s%s (wattle help keys)\n", argc < 1 ? "missing subcommand create" : "unknown subcommand ",
			argc < 1 ? "" : argv[0]);
		return 2;
	}
	for (int i = 1; i + 1 < argc + 1; i++) {
		const char **dst = !strcmp(argv[i], "--role")     ? &role
				   : !strcmp(argv[i], "--name")   ? &name
				   : !strcmp(argv[i], "--tenant") ? &tenant
								  : NULL;
		if (!dst || i + 1 >= argc) {
			fprintf(stderr, "wattle: keys create: %s %s (wattle help keys)\n", dst ? "a value is missing after" : "unknown option",
				argv[i]);
			return 2;
		}
		*dst = argv[++i];
	}
	unsigned r = srv_role_parse(role);
	int64_t tid = tenant ? api_id_parse(ID_TENANT, tenant) : 0;
	if (!r || !name || !*name || (tenant && !tid) || ((r == ROLE_TENANT) != (tid != 0))) {
		fprintf(stderr, "wattle: keys create needs --role admin|finance|operator|gateway|tenant,"
				" --name, and --tenant ten_N exactly for a tenant key\n");
		return 2;
	}
	alarms_set_enabled(cfg->alarms);
	srv_register_statements();
	db_set_conninfo(cfg->database_url);
	struct key_tx t = {name, role, r, tid, {0}, 0};
	enum db_status st = db_run_tx(key_tx, &t);
	db_close_all();
	if (st != DB_OK) {
		fprintf(stderr, "wattle: could not create the key (is the database migrated?)\n");
		return 1;
	}
	printf("%s\n", t.key);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || (!strcmp(argv[1], "help") && argc == 2)) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "help"))
		return help(strcmp(argv[2], "--help") && strcmp(argv[2], "-h") ? argv[2] : "help");
	/* `wattle migrate --help` and the like say what they do, and do nothing */
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			if (help(argv[1])) {
				usage(stderr);
				return 2;
			}
			return 0;
		}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("wattle %s%s%s\n", WATTLE_VERSION, WATTLE_COMMIT[0] ? " " : "", WATTLE_COMMIT);
		return 0;
	}
	struct config cfg;
	if (srv_config_load(&cfg)) {
		fprintf(stderr, "wattle: bad configuration (see wattle --help)\n");
		return 2;
	}
	if (!strcmp(argv[1], "routes")) {
		for (int i = 0; api_routes[i].method; i++)
			printf("%s %s\n", api_routes[i].method, api_routes[i].pattern);
		return 0;
	}
	if (!strcmp(argv[1], "migrate"))
		return cmd_migrate(&cfg);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(&cfg);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(&cfg, argc - 2, argv + 2);
	if (!strcmp(argv[1], "keys"))
		return cmd_keys(&cfg, argc - 2, argv + 2);
	if (!strcmp(argv[1], "demo"))
		return srv_demo(argc - 2, argv + 2);
	fprintf(stderr, "wattle: there is no command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
