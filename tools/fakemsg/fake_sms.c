/* fake_sms.c: the SMS fakes' shared state (fake_sms.h). */
#include "fake_sms.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void handle(void *ud, const struct peer_request *r, struct peer_reply *out)
{
	struct fakesms *f = ud;
	pthread_mutex_lock(&f->mu);
	int delay = f->delay_ms;
	pthread_mutex_unlock(&f->mu);
	if (delay > 0)
		usleep((useconds_t)delay * 1000);
	if (!strcmp(f->provider, "aliyun"))
		fake_aliyun(f, r, out);
	else
		fake_tencent(f, r, out);
}

struct fakesms *fakesms_start(const char *provider, const char *key_id, const char *secret, const char *sign_name,
			      const char *app_id)
{
	struct fakesms *f = calloc(1, sizeof *f);
	if (!f)
		abort();
	snprintf(f->provider, sizeof f->provider, "%s", provider);
	snprintf(f->key_id, sizeof f->key_id, "%s", key_id ? key_id : "");
	snprintf(f->secret, sizeof f->secret, "%s", secret ? secret : "");
	snprintf(f->sign_name, sizeof f->sign_name, "%s", sign_name ? sign_name : "");
	snprintf(f->app_id, sizeof f->app_id, "%s", app_id ? app_id : "");
	pthread_mutex_init(&f->mu, NULL);
	if (!(f->peer = peer_start(0, handle, f))) {
		pthread_mutex_destroy(&f->mu);
		free(f);
		return NULL;
	}
	f->port = peer_port(f->peer);
	return f;
}

void fakesms_stop(struct fakesms *f)
{
	if (!f)
		return;
	peer_stop(f->peer);
	pthread_mutex_destroy(&f->mu);
	free(f->msgs);
	free(f);
}

const char *fakesms_base(const struct fakesms *f, char *buf, size_t n)
{
	snprintf(buf, n, "http://127.0.0.1:%d", f->port);
	return buf;
}

void fakesms_template(struct fakesms *f, const char *code, int nparams, const char *const *names)
{
	pthread_mutex_lock(&f->mu);
	if (f->ntpls < (int)(sizeof f->tpls / sizeof f->tpls[0])) {
		struct fake_sms_tpl *t = &f->tpls[f->ntpls++];
		memset(t, 0, sizeof *t);
		snprintf(t->code, sizeof t->code, "%s", code);
		t->nparams = nparams > FAKE_SMS_MAX_PARAMS ? FAKE_SMS_MAX_PARAMS : nparams;
		for (int i = 0; names && i < t->nparams; i++)
			snprintf(t->names[i], sizeof t->names[i], "%s", names[i]);
	}
	pthread_mutex_unlock(&f->mu);
}

void fakesms_fail_next(struct fakesms *f, const char *code, int n)
{
	pthread_mutex_lock(&f->mu);
	snprintf(f->fail_code, sizeof f->fail_code, "%s", code);
	f->fail_n = n;
	pthread_mutex_unlock(&f->mu);
}

void fakesms_delay(struct fakesms *f, int ms)
{
	pthread_mutex_lock(&f->mu);
	f->delay_ms = ms;
	pthread_mutex_unlock(&f->mu);
}

int fakesms_count(struct fakesms *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->nmsgs;
	pthread_mutex_unlock(&f->mu);
	return n;
}

int fakesms_msg(struct fakesms *f, int i, struct fake_sms_msg *out)
{
	pthread_mutex_lock(&f->mu);
	int rc = -1;
	if (i >= 0 && i < f->nmsgs) {
		*out = f->msgs[i];
		rc = 0;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

unsigned fakesms_refused(struct fakesms *f)
{
	pthread_mutex_lock(&f->mu);
	unsigned n = f->refused;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static int settle_locked(struct fakesms *f, const char *msg_id, bool delivered, const char *code)
{
	struct fake_sms_msg *m = fake_sms_msg_find(f, msg_id);
	if (!m)
		return -1;
	m->state = delivered ? FS_DELIVERED : FS_FAILED;
	m->settled_s = (int64_t)time(NULL);
	snprintf(m->err_code, sizeof m->err_code, "%s",
		 code ? code : delivered ? (!strcmp(f->provider, "aliyun") ? "DELIVERED" : "DELIVRD") : "MK:0001");
	return 0;
}

int fakesms_settle(struct fakesms *f, const char *msg_id, bool delivered, const char *code)
{
	pthread_mutex_lock(&f->mu);
	int rc = settle_locked(f, msg_id, delivered, code);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static size_t keep(char *p, size_t s, size_t n, void *ud)
{
	char **b = ud;
	size_t old = *b ? strlen(*b) : 0;
	char *nb = realloc(*b, old + s * n + 1);
	if (!nb)
		abort();
	memcpy(nb + old, p, s * n);
	nb[old + s * n] = 0;
	*b = nb;
	return s * n;
}

long fakesms_report(struct fakesms *f, const char *msg_id, bool delivered, const char *code, const char *url,
		    char **answer)
{
	pthread_mutex_lock(&f->mu);
	char *body = NULL;
	if (settle_locked(f, msg_id, delivered, code) == 0) {
		struct fake_sms_msg *m = fake_sms_msg_find(f, msg_id);
		body = !strcmp(f->provider, "aliyun") ? fake_aliyun_report(m) : fake_tencent_report(m);
	}
	pthread_mutex_unlock(&f->mu);
	if (answer)
		*answer = NULL;
	if (!body)
		return 0;
	CURL *h = curl_easy_init();
	struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	char *ans = NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	long status = 0;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	free(body);
	if (answer)
		*answer = ans;
	else
		free(ans);
	return status;
}

struct fake_sms_tpl *fake_sms_tpl_find(struct fakesms *f, const char *code)
{
	for (int i = 0; code && i < f->ntpls; i++)
		if (!strcmp(f->tpls[i].code, code))
			return &f->tpls[i];
	return NULL;
}

struct fake_sms_msg *fake_sms_msg_add(struct fakesms *f)
{
	if (f->nmsgs == f->msgs_cap) {
		int cap = f->msgs_cap ? 2 * f->msgs_cap : 64;
		struct fake_sms_msg *n = realloc(f->msgs, (size_t)cap * sizeof *n);
		if (!n)
			abort();
		f->msgs = n;
		f->msgs_cap = cap;
	}
	struct fake_sms_msg *m = &f->msgs[f->nmsgs++];
	memset(m, 0, sizeof *m);
	return m;
}

struct fake_sms_msg *fake_sms_msg_find(struct fakesms *f, const char *msg_id)
{
	for (int i = 0; msg_id && i < f->nmsgs; i++)
		if (!strcmp(f->msgs[i].msg_id, msg_id))
			return &f->msgs[i];
	return NULL;
}

void fake_sms_refuse(struct fakesms *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->last_refusal, sizeof f->last_refusal, fmt, ap);
	va_end(ap);
	f->refused++;
	fprintf(stderr, "fake %s: refused: %s\n", f->provider, f->last_refusal);
}

const char *fake_sms_take_fail(struct fakesms *f, char out[80])
{
	if (f->fail_n <= 0 || !f->fail_code[0])
		return NULL;
	f->fail_n--;
	snprintf(out, 80, "%s", f->fail_code);
	return out;
}
