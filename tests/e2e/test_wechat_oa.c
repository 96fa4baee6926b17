/* test_wechat_oa.c: the WeChat official account carrier (server/wechat_oa.c) against its fake
 * (tools/fakemsg/fake_wxoa.c), in process, with the access token shared through a real
 * database (store/wechat.c): each errcode's outcome, the token fetched once, refreshed once
 * when it expires or WeChat refuses it, and shared by senders racing on their own
 * connections. */
#include "harness.h"

#include "fake_wxoa.h"
#include "server/channels.h"
#include "server/statements.h"
#include "server/wechat_oa.h"
#include "store/db.h"
#include "store/wechat.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define APPID "wx5f1c2e3d4a6b7c8d"
#define SECRET "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
#define TPL "Zc8WQ3hT_low_balance_0001"
#define OPENID "oHk2u6x_Tenant-Shop-101_abcde"

static char *db;
static struct fakewx *fx;
static CURL *h;

static const char *const fields[] = {"first", "keyword1", "keyword2", "remark"};
static const char *const vals[] = {"电费余额不足", "101 铺", "12.30", "请及时充值"};

static void configure(const char *appid, const char *secret, const char *base)
{
	struct chan_wechat_cfg c = {appid, secret, base};
	chan_wechat_configure(&c);
}

static void setup(void)
{
	db = th_fresh_db();
	srv_register_statements();
	db_set_conninfo(db);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fx = fakewx_start(APPID, SECRET);
	ck_assert_ptr_nonnull(fx);
	fakewx_template(fx, TPL, fields, 4);
	fakewx_user(fx, OPENID, true);
	char base[64];
	configure(APPID, SECRET, fakewx_base(fx, base, sizeof base));
	ck_assert_ptr_nonnull(h = curl_easy_init());
}

static void teardown(void)
{
	curl_easy_cleanup(h);
	fakewx_stop(fx);
	db_close_all();
	free(db);
}

static struct chan_msg msg(const char *to, const char *template_id)
{
	return (struct chan_msg){.notification_id = 1, .to = to, .language = "zh-CN", .text = "电费余额不足",
				 .template_id = template_id, .param_keys = fields, .param_vals = vals,
				 .nparams = 4, .url = "https://wattle.example/t/ten_1"};
}

static enum chan_result send_to(const char *to, const char *template_id, struct chan_outcome *o)
{
	struct chan_msg m = msg(to, template_id);
	return chan_wechat.send(h, &m, o);
}

static long long generation(void)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT coalesce(max(generation), -1) FROM wechat_tokens WHERE appid = '%s'", APPID);
	return th_sql_int(db, sql);
}

START_TEST(template_message_is_sent_with_its_msgid)
{
	ck_assert(chan_wechat.configured());
	ck_assert_str_eq(chan_wechat.name, "wechat");
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_int_eq(o.result, CH_SENT);
	ck_assert_int_eq(o.http_status, 200);
	ck_assert_str_eq(o.code, "0");
	ck_assert_uint_eq(fakewx_messages(fx), 1);
	struct fakewx_msg m;
	ck_assert_int_eq(fakewx_message(fx, 0, &m), 0);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)m.msgid);
	ck_assert_str_eq(o.provider_msg_id, id);
	ck_assert_str_eq(m.touser, OPENID);
	ck_assert_str_eq(m.template_id, TPL);
	ck_assert_str_eq(m.url, "https://wattle.example/t/ten_1");
	ck_assert_str_eq(m.data, "{\"first\":{\"value\":\"电费余额不足\"},\"keyword1\":{\"value\":\"101 铺\"},"
				 "\"keyword2\":{\"value\":\"12.30\"},\"remark\":{\"value\":\"请及时充值\"}}");
	/* one token, fetched once, kept in the database and used again */
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
	ck_assert_int_eq(generation(), 1);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_uint_eq(fakewx_messages(fx), 2);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
	ck_assert_uint_eq(fakewx_refused(fx), 0);
	/* another process (another connection) finds it there: no fetch either */
	db_close_all();
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
}
END_TEST

START_TEST(token_near_its_expiry_is_refreshed_once)
{
	/* tokens that live 2 s: used for 1.5 s (a quarter of its life is the margin), then one new */
	fakewx_token_life(fx, 2, 0);
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
	usleep(1700 * 1000);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 2);
	ck_assert_int_eq(generation(), 2);
	ck_assert_uint_eq(fakewx_messages(fx), 4);
	/* refreshed before WeChat expired it: WeChat never refused one */
	ck_assert_uint_eq(fakewx_refused(fx), 0);
}
END_TEST

START_TEST(token_expired_early_by_wechat_42001_is_refreshed_and_the_send_retried)
{
	/* WeChat says 7200 s but expires it after 0.8 s: the cached token is refused mid-run */
	fakewx_token_life(fx, 7200, 800);
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	usleep(1000 * 1000);
	fakewx_token_life(fx, 7200, 0);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_str_eq(o.code, "0");
	ck_assert_uint_eq(fakewx_refused(fx), 1);
	ck_assert_int_eq(fakewx_last_errcode(fx), 42001);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 2);
	ck_assert_int_eq(generation(), 2);
	ck_assert_uint_eq(fakewx_messages(fx), 2);
}
END_TEST

START_TEST(revoked_token_40001_is_refreshed_once_and_the_send_retried)
{
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	fakewx_revoke(fx);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_int_eq(fakewx_last_errcode(fx), 40001);
	ck_assert_uint_eq(fakewx_refused(fx), 1);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 2);
	ck_assert_int_eq(generation(), 2);
	ck_assert_uint_eq(fakewx_messages(fx), 2);
	/* refused again after the refresh: one refresh only, then "try later" */
	fakewx_fail_next(fx, 40001, 2);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "40001");
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 3);
	ck_assert_uint_eq(fakewx_messages(fx), 2);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 3);
}
END_TEST

START_TEST(not_following_43004_falls_back)
{
	fakewx_user(fx, "oUnfollowed_0000000000000000", false);
	struct chan_outcome o;
	ck_assert_int_eq(send_to("oUnfollowed_0000000000000000", TPL, &o), CH_FALLBACK);
	ck_assert_str_eq(o.code, "43004");
	ck_assert_ptr_nonnull(strstr(o.message, "require subscribe"));
	ck_assert_str_eq(o.provider_msg_id, "");
	ck_assert_uint_eq(fakewx_messages(fx), 0);
}
END_TEST

START_TEST(bad_template_openid_or_data_is_refused)
{
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, "no_such_template", &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "40037");
	ck_assert_int_eq(send_to("oNotOfThisAccount_0000000000", TPL, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "40003");
	/* a field of the template left out */
	struct chan_msg m = msg(OPENID, TPL);
	m.nparams = 3;
	ck_assert_int_eq(chan_wechat.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "47003");
	ck_assert_uint_eq(fakewx_messages(fx), 0);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
}
END_TEST

START_TEST(throttled_busy_or_5xx_is_retried)
{
	struct chan_outcome o;
	fakewx_fail_next(fx, 45009, 1);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "45009");
	fakewx_fail_next(fx, -1, 1);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "-1");
	fakewx_fail_next(fx, 503, 1);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_RETRY);
	ck_assert_int_eq(o.http_status, 503);
	ck_assert_uint_eq(fakewx_messages(fx), 0);
	/* the limit over, the same message goes, on the same token */
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	ck_assert_uint_eq(fakewx_messages(fx), 1);
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
}
END_TEST

/* ---- senders racing, each on its own connection and libcurl handle ---- */

#define RACERS 4
static pthread_barrier_t start_line;

struct racer {
	enum chan_result r;
	char code[64];
};

static void *race(void *arg)
{
	struct racer *x = arg;
	CURL *mine = curl_easy_init();
	struct chan_msg m = msg(OPENID, TPL);
	struct chan_outcome o;
	ck_assert_ptr_nonnull(db_conn()); /* connected before the start, so they start together */
	pthread_barrier_wait(&start_line);
	x->r = chan_wechat.send(mine, &m, &o);
	snprintf(x->code, sizeof x->code, "%s", o.code);
	curl_easy_cleanup(mine);
	db_thread_close();
	return NULL;
}

static void race_all(void)
{
	pthread_t t[RACERS];
	struct racer x[RACERS];
	memset(x, 0, sizeof x);
	pthread_barrier_init(&start_line, NULL, RACERS);
	for (int i = 0; i < RACERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race, &x[i]), 0);
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start_line);
	for (int i = 0; i < RACERS; i++)
		ck_assert_msg(x[i].r == CH_SENT, "racer %d: %d (%s)", i, x[i].r, x[i].code);
}

START_TEST(senders_racing_for_a_missing_token_fetch_one)
{
	/* a slow /cgi-bin/token: the racers all find no token and wait on the row's lock */
	fakewx_token_delay(fx, 300);
	race_all();
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
	ck_assert_uint_eq(fakewx_messages(fx), RACERS);
	ck_assert_int_eq(generation(), 1);
}
END_TEST

START_TEST(senders_racing_for_an_expired_token_fetch_one)
{
	fakewx_token_life(fx, 2, 0);
	race_all();
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
	usleep(1700 * 1000);
	fakewx_token_delay(fx, 300);
	race_all();
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 2);
	ck_assert_uint_eq(fakewx_messages(fx), 2 * RACERS);
	ck_assert_uint_eq(fakewx_refused(fx), 0);
}
END_TEST

START_TEST(senders_refused_the_same_revoked_token_refresh_once)
{
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	fakewx_revoke(fx);
	/* each racer gets 40001 for generation 1; the first to lock fetches generation 2, the others
	 * find it there after the lock and use it */
	fakewx_token_delay(fx, 300);
	race_all();
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 2);
	ck_assert_int_eq(generation(), 2);
	ck_assert_uint_eq(fakewx_messages(fx), 1 + RACERS);
	ck_assert_uint_eq(fakewx_refused(fx), RACERS);
}
END_TEST

START_TEST(two_processes_share_the_token)
{
	/* forked processes, each its own connection: both need a token at once; one is fetched */
	fakewx_token_delay(fx, 300);
	db_close_all();
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			CURL *mine = curl_easy_init();
			struct chan_outcome o;
			struct chan_msg m = msg(OPENID, TPL);
			_exit(chan_wechat.send(mine, &m, &o) == CH_SENT ? 0 : 1);
		}
	}
	for (int i = 0; i < 2; i++) {
		int st;
		ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 1);
	ck_assert_uint_eq(fakewx_messages(fx), 2);
}
END_TEST

/* ---- limits ---- */

START_TEST(wrong_secret_or_appid_is_refused_without_a_token)
{
	char base[64];
	fakewx_base(fx, base, sizeof base);
	configure(APPID, "0000000000000000000000000000000", base);
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "40125");
	configure("wx0000000000000000", SECRET, base);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "40013");
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 0);
	ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM wechat_tokens"), 0);
	/* the settings fixed, it works (nothing was left locked) */
	configure(APPID, SECRET, base);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
}
END_TEST

START_TEST(no_template_or_no_openid_falls_back_without_a_call)
{
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, NULL, &o), CH_FALLBACK);
	ck_assert_str_eq(o.code, "no_template");
	ck_assert_int_eq(send_to(OPENID, "", &o), CH_FALLBACK);
	ck_assert_int_eq(send_to("", TPL, &o), CH_FALLBACK);
	ck_assert_str_eq(o.code, "no_openid");
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 0);
	/* not configured: not this channel either */
	configure(NULL, NULL, NULL);
	ck_assert(!chan_wechat.configured());
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_FALLBACK);
	ck_assert_str_eq(o.code, "not_configured");
}
END_TEST

START_TEST(unreachable_wechat_is_retried)
{
	char base[64];
	snprintf(base, sizeof base, "http://127.0.0.1:%d", th_free_port());
	configure(APPID, SECRET, base);
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "token_transport");
	ck_assert_int_eq(o.http_status, 0);
}
END_TEST

START_TEST(secret_and_token_are_never_logged)
{
	char path[] = "/tmp/wxoa_log_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
	fakewx_revoke(fx);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT); /* refreshed: logged by generation */
	char base[64];
	configure(APPID, "wrong-secret-9999", fakewx_base(fx, base, sizeof base));
	db_close_all();
	PQclear(th_sql(db, "UPDATE wechat_tokens SET expires_at = now()"));
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_REFUSED);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	FILE *f = fopen(path, "r");
	char log[65536];
	size_t n = fread(log, 1, sizeof log - 1, f);
	fclose(f);
	unlink(path);
	log[n] = 0;
	ck_assert_ptr_nonnull(strstr(log, "generation 2"));
	ck_assert_ptr_null(strstr(log, SECRET));
	ck_assert_ptr_null(strstr(log, "wrong-secret-9999"));
	PGresult *r = th_sql(db, "SELECT access_token FROM wechat_tokens");
	ck_assert_int_eq(PQntuples(r), 1);
	ck_assert_ptr_null(strstr(log, PQgetvalue(r, 0, 0)));
	ck_assert_ptr_null(strstr(o.message, "wrong-secret-9999"));
	PQclear(r);
}
END_TEST

START_TEST(send_inside_a_transaction_takes_no_token_lock)
{
	/* the lock's COMMIT would commit the caller's work: refused, and the send is for later */
	PGconn *c = db_conn();
	ck_assert_ptr_nonnull(c);
	PQclear(PQexec(c, "BEGIN"));
	struct wechat_token t;
	ck_assert_int_eq(store_wechat_token_lock(c, APPID, &t), DB_HARD);
	struct chan_outcome o;
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "db");
	ck_assert_int_eq(PQtransactionStatus(c), PQTRANS_INTRANS);
	PQclear(PQexec(c, "ROLLBACK"));
	ck_assert_uint_eq(fakewx_tokens_issued(fx), 0);
	ck_assert_int_eq(send_to(OPENID, TPL, &o), CH_SENT);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wechat_oa");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, template_message_is_sent_with_its_msgid);
	tcase_add_test(tc, token_near_its_expiry_is_refreshed_once);
	tcase_add_test(tc, token_expired_early_by_wechat_42001_is_refreshed_and_the_send_retried);
	tcase_add_test(tc, revoked_token_40001_is_refreshed_once_and_the_send_retried);
	tcase_add_test(tc, not_following_43004_falls_back);
	tcase_add_test(tc, bad_template_openid_or_data_is_refused);
	tcase_add_test(tc, throttled_busy_or_5xx_is_retried);
	tcase_add_test(tc, senders_racing_for_a_missing_token_fetch_one);
	tcase_add_test(tc, senders_racing_for_an_expired_token_fetch_one);
	tcase_add_test(tc, senders_refused_the_same_revoked_token_refresh_once);
	tcase_add_test(tc, two_processes_share_the_token);
	suite_add_tcase(s, tc);
	TCase *lim = tcase_create("limits");
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_set_timeout(lim, 60);
	tcase_add_test(lim, wrong_secret_or_appid_is_refused_without_a_token);
	tcase_add_test(lim, no_template_or_no_openid_falls_back_without_a_call);
	tcase_add_test(lim, unreachable_wechat_is_retried);
	tcase_add_test(lim, secret_and_token_are_never_logged);
	tcase_add_test(lim, send_inside_a_transaction_takes_no_token_lock);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
