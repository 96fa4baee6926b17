/* test_config.c: server/config.c without a database: secrets from NAME_FILE and from systemd
 * credentials (and the errors when both or neither can be read), WATTLE_TRUSTED_PROXIES, and
 * errors that name the variable. */
#include "check_run.h"
#include "server/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/wattle-config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* dir/name holding text; returns the path (static, one at a time). */
static const char *put(const char *name, const char *text)
{
	static char path[160];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* srv_config_load with its stderr caught in err; returns its result. */
static int load(struct config *c, char *err, size_t errn)
{
	fflush(stderr);
	int saved = dup(2);
	FILE *t = tmpfile();
	ck_assert_ptr_nonnull(t);
	dup2(fileno(t), 2);
	int r = srv_config_load(c);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(t);
	size_t n = fread(err, 1, errn - 1, t);
	err[n] = 0;
	fclose(t);
	return r;
}

/* The value of secret `name` as the config holds it. */
static const char *value(const struct config *c, const char *name)
{
	static const char *const names[] = {
		"WATTLE_DATABASE_URL", "WATTLE_GATEWAY_SECRET", "WATTLE_SMS_TOKEN", "WATTLE_NOTIFY_WEBHOOK_SECRET",
		"WATTLE_WECHAT_APIV3_KEY", "WATTLE_WECHAT_MERCHANT_KEY", "WATTLE_ALIPAY_APP_PRIVATE_KEY",
		"WATTLE_STRIPE_SECRET_KEY", "WATTLE_STRIPE_WEBHOOK_SECRET", "WATTLE_ALIYUN_ACCESS_KEY_SECRET",
		"WATTLE_TENCENT_SECRET_KEY", "WATTLE_WECHAT_OA_SECRET", "WATTLE_SMS_CALLBACK_TOKEN", "WATTLE_REPLICA_URL"};
	const char *v[] = {c->database_url, c->dispatch.gateway_secret, c->dispatch.sms_token,
			   c->dispatch.notify_secret, c->pay.wx_apiv3_key, c->pay.wx_merchant_key_path,
			   c->pay.ali_app_private_key_path, c->pay.stripe_secret_key, c->pay.stripe_secret,
			   c->aliyun.key_secret, c->tencent.secret_key, c->wechat_oa.secret, c->sms_callback_token,
			   c->replica_url};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(names[i], name))
			return v[i];
	ck_abort_msg("%s: the test does not know this secret; add it to value()", name);
	return NULL;
}

static bool is_path_secret(const char *name)
{
	return !strcmp(name, "WATTLE_WECHAT_MERCHANT_KEY") || !strcmp(name, "WATTLE_ALIPAY_APP_PRIVATE_KEY");
}

START_TEST(file_variant_of_every_secret_is_read_with_newline_cut)
{
	struct config c;
	char err[1024], var[80];
	size_t i;
	for (i = 0; srv_config_secret_name(i); i++) {
		const char *name = srv_config_secret_name(i);
		snprintf(var, sizeof var, "%s_FILE", name);
		const char *path = put(name, "s3cret-value\n");
		char held[160];
		snprintf(held, sizeof held, "%s", path);
		setenv(var, path, 1);
		ck_assert_msg(load(&c, err, sizeof err) == 0, "%s: %s", var, err);
		/* a key setting already names a file: its _FILE form names the same file */
		ck_assert_str_eq(value(&c, name), is_path_secret(name) ? held : "s3cret-value");
		unsetenv(var);
	}
	ck_assert_uint_eq(i, 14);
	/* CRLF and several newlines are cut too; a newline inside stays */
	setenv("WATTLE_DATABASE_URL_FILE", put("db", "host=/x dbname=w\nuser=u\r\n\n"), 1);
	ck_assert_int_eq(load(&c, err, sizeof err), 0);
	ck_assert_str_eq(c.database_url, "host=/x dbname=w\nuser=u");
}
END_TEST

START_TEST(both_given_is_an_error_naming_both)
{
	struct config c;
	char err[1024], var[80];
	for (size_t i = 0; srv_config_secret_name(i); i++) {
		const char *name = srv_config_secret_name(i);
		snprintf(var, sizeof var, "%s_FILE", name);
		setenv(name, "inline", 1);
		setenv(var, put(name, "from-file\n"), 1);
		ck_assert_int_eq(load(&c, err, sizeof err), -1);
		char want[200];
		snprintf(want, sizeof want, "%s and %s are both set", name, var);
		ck_assert_msg(strstr(err, want), "%s: got %s", name, err);
		unsetenv(name);
		unsetenv(var);
	}
}
END_TEST

START_TEST(unreadable_file_names_variable_and_path)
{
	struct config c;
	char err[1024];
	setenv("WATTLE_STRIPE_SECRET_KEY_FILE", "/nonexistent/stripe", 1);
	ck_assert_int_eq(load(&c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "WATTLE_STRIPE_SECRET_KEY_FILE=/nonexistent/stripe cannot be read"), "%s", err);
	unsetenv("WATTLE_STRIPE_SECRET_KEY_FILE");
	/* a key that names its file: the file must be readable too */
	setenv("WATTLE_ALIPAY_APP_PRIVATE_KEY_FILE", "/nonexistent/alipay.pem", 1);
	ck_assert_int_eq(load(&c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "WATTLE_ALIPAY_APP_PRIVATE_KEY_FILE=/nonexistent/alipay.pem cannot be read"), "%s", err);
	unsetenv("WATTLE_ALIPAY_APP_PRIVATE_KEY_FILE");
	/* an empty file is a mistake, not an unset secret */
	const char *p = put("empty", "\n");
	char held[160];
	snprintf(held, sizeof held, "%s", p);
	setenv("WATTLE_GATEWAY_SECRET_FILE", p, 1);
	ck_assert_int_eq(load(&c, err, sizeof err), -1);
	char want[220];
	snprintf(want, sizeof want, "WATTLE_GATEWAY_SECRET_FILE=%s is empty", held);
	ck_assert_msg(strstr(err, want), "%s", err);
}
END_TEST

START_TEST(systemd_credential_is_used)
{
	struct config c;
	char err[1024];
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	put("WATTLE_STRIPE_WEBHOOK_SECRET", "whsec_cred\n");
	put("WATTLE_WECHAT_MERCHANT_KEY", "-----BEGIN PRIVATE KEY-----\n");
	ck_assert_msg(load(&c, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.pay.stripe_secret, "whsec_cred");
	char want[256];
	snprintf(want, sizeof want, "%s/WATTLE_WECHAT_MERCHANT_KEY", dir); /* the key's file is the credential */
	ck_assert_str_eq(c.pay.wx_merchant_key_path, want);
	ck_assert_ptr_null(c.pay.stripe_secret_key); /* no credential, no variable: unset */
	/* a credential and the variable: which one was meant is not guessed */
	setenv("WATTLE_STRIPE_WEBHOOK_SECRET", "whsec_env", 1);
	ck_assert_int_eq(load(&c, err, sizeof err), -1);
	snprintf(want, sizeof want, "WATTLE_STRIPE_WEBHOOK_SECRET and the systemd credential %s/WATTLE_STRIPE_WEBHOOK_SECRET are both set", dir);
	ck_assert_msg(strstr(err, want), "%s", err);
	unsetenv("WATTLE_STRIPE_WEBHOOK_SECRET");
	/* without CREDENTIALS_DIRECTORY the folder is not looked at */
	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(load(&c, err, sizeof err), 0);
	ck_assert_ptr_null(c.pay.stripe_secret);
}
END_TEST

START_TEST(trusted_proxies)
{
	struct config c;
	char err[1024];
	ck_assert_int_eq(load(&c, err, sizeof err), 0);
	ck_assert_uint_eq(c.n_trusted_proxies, 0); /* default: nobody's X-Real-IP counts */
	setenv("WATTLE_TRUSTED_PROXIES", "127.0.0.1, 10.1.2.3", 1);
	ck_assert_int_eq(load(&c, err, sizeof err), 0);
	ck_assert_uint_eq(c.n_trusted_proxies, 2);
	ck_assert_uint_eq(c.trusted_proxies[0], 0x7f000001u);
	ck_assert_uint_eq(c.trusted_proxies[1], 0x0a010203u);
	setenv("WATTLE_TRUSTED_PROXIES", "127.0.0.1,nginx", 1);
	ck_assert_int_eq(load(&c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "WATTLE_TRUSTED_PROXIES=127.0.0.1,nginx") && strstr(err, "(nginx is not one)"), "%s", err);
}
END_TEST

START_TEST(errors_name_the_variable)
{
	struct config c;
	char err[1024];
	static const char *const bad[][2] = {{"WATTLE_LISTEN", "localhost"}, {"WATTLE_THREADS", "many"},
					     {"WATTLE_BODY_MAX", "-1"}, {"WATTLE_ALARMS", "maybe"},
					     {"WATTLE_RATE_PER_KEY", "1e3"}, {"WATTLE_SMS_PROVIDER", "pigeon"},
					     {"WATTLE_SMS_DELIVERY", "later"}, {"WATTLE_LOG_LEVEL", "loud"},
					     {"WATTLE_REPLICA_MAX_LAG_MS", "-1"}, {"WATTLE_REPLICA_CHECK_MS", "9"}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv(bad[i][0], bad[i][1], 1);
		ck_assert_int_eq(load(&c, err, sizeof err), -1);
		ck_assert_msg(strstr(err, bad[i][0]), "%s=%s: %s", bad[i][0], bad[i][1], err);
		unsetenv(bad[i][0]);
	}
}
END_TEST

START_TEST(replica_settings_and_their_defaults)
{
	struct config c;
	char err[1024];
	ck_assert_int_eq(load(&c, err, sizeof err), 0);
	ck_assert_ptr_null(c.replica_url); /* none: every read on the primary */
	ck_assert_int_eq(c.replica_max_lag_ms, 5000);
	ck_assert_int_eq(c.replica_check_ms, 1000);
	setenv("WATTLE_REPLICA_URL", "host=/r dbname=w", 1);
	setenv("WATTLE_REPLICA_MAX_LAG_MS", "0", 1); /* 0: only a replica caught up is read */
	setenv("WATTLE_REPLICA_CHECK_MS", "10", 1);
	ck_assert_msg(load(&c, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.replica_url, "host=/r dbname=w");
	ck_assert_int_eq(c.replica_max_lag_ms, 0);
	ck_assert_int_eq(c.replica_check_ms, 10);
	unsetenv("WATTLE_REPLICA_URL");
	unsetenv("WATTLE_REPLICA_MAX_LAG_MS");
	unsetenv("WATTLE_REPLICA_CHECK_MS");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, file_variant_of_every_secret_is_read_with_newline_cut);
	tcase_add_test(core, systemd_credential_is_used);
	tcase_add_test(core, trusted_proxies);
	tcase_add_test(core, replica_settings_and_their_defaults);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_add_test(lim, both_given_is_an_error_naming_both);
	tcase_add_test(lim, unreadable_file_names_variable_and_path);
	tcase_add_test(lim, errors_name_the_variable);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
