/* fake_wxoa.c: the WeChat official account's fake (fake_wxoa.h). */
#include "fake_wxoa.h"

#include "peer/peer.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOKENS 256
#define MAX_TEMPLATES 32
#define MAX_FIELDS 16
#define MAX_USERS 64
/* A new token leaves the older ones valid for 5 more minutes, as WeChat documents. */
#define OLD_TOKEN_GRACE_MS (300 * 1000)

struct fake_token {
	char value[160];
	int64_t expires_ms; /* monotonic */
	bool revoked;
};

struct fakewx {
	struct peer *peer;
	int port;
	char appid[64], secret[128];
	pthread_mutex_t mu; /* guards everything below */
	struct fake_token tokens[MAX_TOKENS];
	unsigned ntokens;
	int64_t expires_in, life_ms;
	int token_delay_ms;
	struct {
		char id[128];
		char fields[MAX_FIELDS][64];
		size_t n;
	} templates[MAX_TEMPLATES];
	size_t ntemplates;
	struct {
		char openid[64];
		bool follows;
	} users[MAX_USERS];
	size_t nusers;
	int fail_code;
	unsigned fail_n;
	struct fakewx_msg *msgs;
	size_t nmsgs, msgs_cap;
	int64_t next_msgid;
	unsigned refused;
	int last_errcode;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A WeChat error answer (HTTP 200, as WeChat answers its errors); counted as a refusal. */
static void wx_error(struct fakewx *f, struct peer_reply *out, int code, const char *msg)
{
	char rid[32];
	snprintf(rid, sizeof rid, "%08x-%08x", (unsigned)rand(), (unsigned)rand());
	char m[256];
	snprintf(m, sizeof m, "%s rid: %s", msg, rid);
	json_t *b = json_pack("{s:i, s:s}", "errcode", code, "errmsg", m);
	out->body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	f->refused++;
	f->last_errcode = code;
	fprintf(stderr, "fake_wxoa: errcode %d: %s\n", code, msg);
}

static void wx_json(struct peer_reply *out, json_t *b)
{
	out->body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
}

/* GET /cgi-bin/token?grant_type=client_credential&appid=..&secret=.. */
static void token(struct fakewx *f, const struct peer_request *r, struct peer_reply *out)
{
	const char *gt = peer_query(r, "grant_type"), *appid = peer_query(r, "appid"),
		   *secret = peer_query(r, "secret");
	if (strcmp(r->method, "GET"))
		return wx_error(f, out, 43001, "require GET method");
	if (!gt || strcmp(gt, "client_credential"))
		return wx_error(f, out, 40002, "invalid grant_type");
	if (!appid || !*appid)
		return wx_error(f, out, 41002, "appid missing");
	if (strcmp(appid, f->appid))
		return wx_error(f, out, 40013, "invalid appid");
	if (!secret || !*secret)
		return wx_error(f, out, 41004, "appsecret missing");
	if (strcmp(secret, f->secret))
		return wx_error(f, out, 40125, "invalid appsecret");
	if (f->ntokens == MAX_TOKENS)
		return wx_error(f, out, 45009, "reach max api daily quota limit");
	int64_t now = mono_ms();
	for (unsigned i = 0; i < f->ntokens; i++)
		if (f->tokens[i].expires_ms > now + OLD_TOKEN_GRACE_MS)
			f->tokens[i].expires_ms = now + OLD_TOKEN_GRACE_MS;
	struct fake_token *t = &f->tokens[f->ntokens++];
	unsigned char rnd[48];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		abort();
	/* WeChat's tokens are long strings of letters, digits, '_' and '-' */
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	int n = snprintf(t->value, sizeof t->value, "%u_", f->ntokens);
	for (size_t i = 0; i < sizeof rnd; i++)
		t->value[n++] = alpha[rnd[i] % 64];
	t->value[n] = 0;
	t->expires_ms = now + (f->life_ms > 0 ? f->life_ms : f->expires_in * 1000);
	t->revoked = false;
	wx_json(out, json_pack("{s:s, s:I}", "access_token", t->value, "expires_in", (json_int_t)f->expires_in));
}

/* The access token's check: 0, or the errcode with the answer set. */
static int check_token(struct fakewx *f, const struct peer_request *r, struct peer_reply *out)
{
	const char *tok = peer_query(r, "access_token");
	if (!tok || !*tok) {
		wx_error(f, out, 41001, "access_token missing");
		return 41001;
	}
	for (unsigned i = 0; i < f->ntokens; i++) {
		struct fake_token *t = &f->tokens[i];
		if (strcmp(t->value, tok))
			continue;
		if (t->revoked)
			break;
		if (mono_ms() >= t->expires_ms) {
			wx_error(f, out, 42001, "access_token expired");
			return 42001;
		}
		return 0;
	}
	wx_error(f, out, 40001, "invalid credential, access_token is invalid or not latest");
	return 40001;
}

/* POST /cgi-bin/message/template/send?access_token=.. */
static void template_send(struct fakewx *f, const struct peer_request *r, struct peer_reply *out)
{
	if (strcmp(r->method, "POST"))
		return wx_error(f, out, 43002, "require POST method");
	if (check_token(f, r, out))
		return;
	if (f->fail_n > 0) {
		f->fail_n--;
		if (f->fail_code == 503) {
			out->status = 503;
			out->body = strdup("<html>503 Service Unavailable</html>");
			out->content_type = "text/html";
			f->refused++;
			return;
		}
		return wx_error(f, out, f->fail_code,
				f->fail_code == -1 ? "system error" : "reach max api daily quota limit");
	}
	json_error_t je;
	json_t *b = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(b)) {
		json_decref(b);
		return wx_error(f, out, 47001, "data format error");
	}
	const char *touser = json_string_value(json_object_get(b, "touser"));
	const char *tid = json_string_value(json_object_get(b, "template_id"));
	json_t *url = json_object_get(b, "url"), *data = json_object_get(b, "data");
	int code = 0;
	const char *msg = "";
	size_t ti = f->ntemplates, ui = f->nusers;
	if (!touser || !*touser) {
		code = 40003, msg = "invalid openid";
	} else {
		for (ui = 0; ui < f->nusers && strcmp(f->users[ui].openid, touser); ui++)
			;
		if (ui == f->nusers)
			code = 40003, msg = "invalid openid";
	}
	if (!code) {
		for (ti = 0; tid && ti < f->ntemplates && strcmp(f->templates[ti].id, tid); ti++)
			;
		if (!tid || ti == f->ntemplates)
			code = 40037, msg = "invalid template_id";
	}
	if (!code && url && !json_is_string(url))
		code = 47001, msg = "data format error: url";
	if (!code && !json_is_object(data))
		code = 47001, msg = "data format error: data";
	for (size_t i = 0; !code && i < f->templates[ti].n; i++) {
		json_t *v = json_object_get(data, f->templates[ti].fields[i]);
		if (!json_is_object(v) || !json_is_string(json_object_get(v, "value")))
			code = 47003, msg = "argument invalid! data.value empty or not a string";
	}
	if (!code && !f->users[ui].follows)
		code = 43004, msg = "require subscribe";
	if (code) {
		json_decref(b);
		return wx_error(f, out, code, msg);
	}
	if (f->nmsgs == f->msgs_cap) {
		f->msgs_cap = f->msgs_cap ? 2 * f->msgs_cap : 64;
		if (!(f->msgs = realloc(f->msgs, f->msgs_cap * sizeof *f->msgs)))
			abort();
	}
	struct fakewx_msg *m = &f->msgs[f->nmsgs++];
	memset(m, 0, sizeof *m);
	snprintf(m->touser, sizeof m->touser, "%s", touser);
	snprintf(m->template_id, sizeof m->template_id, "%s", tid);
	snprintf(m->url, sizeof m->url, "%s", url ? json_string_value(url) : "");
	char *d = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(m->data, sizeof m->data, "%s", d ? d : "");
	free(d);
	m->msgid = f->next_msgid++;
	json_decref(b);
	wx_json(out, json_pack("{s:i, s:s, s:I}", "errcode", 0, "errmsg", "ok", "msgid", (json_int_t)m->msgid));
}

static void handle(void *ud, const struct peer_request *r, struct peer_reply *out)
{
	struct fakewx *f = ud;
	out->content_type = "application/json; encoding=utf-8";
	if (!strcmp(r->path, "/cgi-bin/token")) {
		pthread_mutex_lock(&f->mu);
		int delay = f->token_delay_ms;
		pthread_mutex_unlock(&f->mu);
		if (delay > 0)
			usleep((useconds_t)delay * 1000);
		pthread_mutex_lock(&f->mu);
		token(f, r, out);
	} else if (!strcmp(r->path, "/cgi-bin/message/template/send")) {
		pthread_mutex_lock(&f->mu);
		template_send(f, r, out);
	} else {
		out->status = 404;
		out->body = strdup("{\"errcode\":404,\"errmsg\":\"not found\"}");
		return;
	}
	pthread_mutex_unlock(&f->mu);
}

struct fakewx *fakewx_start(const char *appid, const char *secret)
{
	struct fakewx *f = calloc(1, sizeof *f);
	if (!f)
		abort();
	snprintf(f->appid, sizeof f->appid, "%s", appid);
	snprintf(f->secret, sizeof f->secret, "%s", secret);
	f->expires_in = 7200;
	f->next_msgid = 2026120100000001LL;
	pthread_mutex_init(&f->mu, NULL);
	if (!(f->peer = peer_start(0, handle, f))) {
		pthread_mutex_destroy(&f->mu);
		free(f);
		return NULL;
	}
	f->port = peer_port(f->peer);
	return f;
}

void fakewx_stop(struct fakewx *f)
{
	if (!f)
		return;
	peer_stop(f->peer);
	pthread_mutex_destroy(&f->mu);
	free(f->msgs);
	free(f);
}

const char *fakewx_base(const struct fakewx *f, char *buf, size_t n)
{
	snprintf(buf, n, "http://127.0.0.1:%d", f->port);
	return buf;
}

void fakewx_template(struct fakewx *f, const char *template_id, const char *const *fields, size_t n)
{
	pthread_mutex_lock(&f->mu);
	if (f->ntemplates < MAX_TEMPLATES) {
		size_t i = f->ntemplates++;
		snprintf(f->templates[i].id, sizeof f->templates[i].id, "%s", template_id);
		for (size_t j = 0; j < n && j < MAX_FIELDS; j++)
			snprintf(f->templates[i].fields[j], sizeof f->templates[i].fields[j], "%s", fields[j]);
		f->templates[i].n = n < MAX_FIELDS ? n : MAX_FIELDS;
	}
	pthread_mutex_unlock(&f->mu);
}

void fakewx_user(struct fakewx *f, const char *openid, bool follows)
{
	pthread_mutex_lock(&f->mu);
	size_t i;
	for (i = 0; i < f->nusers && strcmp(f->users[i].openid, openid); i++)
		;
	if (i < MAX_USERS) {
		if (i == f->nusers)
			f->nusers++;
		snprintf(f->users[i].openid, sizeof f->users[i].openid, "%s", openid);
		f->users[i].follows = follows;
	}
	pthread_mutex_unlock(&f->mu);
}

void fakewx_token_life(struct fakewx *f, int64_t expires_in, int64_t life_ms)
{
	pthread_mutex_lock(&f->mu);
	f->expires_in = expires_in;
	f->life_ms = life_ms;
	pthread_mutex_unlock(&f->mu);
}

void fakewx_revoke(struct fakewx *f)
{
	pthread_mutex_lock(&f->mu);
	for (unsigned i = 0; i < f->ntokens; i++)
		f->tokens[i].revoked = true;
	pthread_mutex_unlock(&f->mu);
}

void fakewx_fail_next(struct fakewx *f, int errcode, unsigned n)
{
	pthread_mutex_lock(&f->mu);
	f->fail_code = errcode;
	f->fail_n = n;
	pthread_mutex_unlock(&f->mu);
}

void fakewx_token_delay(struct fakewx *f, int ms)
{
	pthread_mutex_lock(&f->mu);
	f->token_delay_ms = ms;
	pthread_mutex_unlock(&f->mu);
}

unsigned fakewx_tokens_issued(struct fakewx *f)
{
	pthread_mutex_lock(&f->mu);
	unsigned n = f->ntokens;
	pthread_mutex_unlock(&f->mu);
	return n;
}

unsigned fakewx_refused(struct fakewx *f)
{
	pthread_mutex_lock(&f->mu);
	unsigned n = f->refused;
	pthread_mutex_unlock(&f->mu);
	return n;
}

size_t fakewx_messages(struct fakewx *f)
{
	pthread_mutex_lock(&f->mu);
	size_t n = f->nmsgs;
	pthread_mutex_unlock(&f->mu);
	return n;
}

int fakewx_message(struct fakewx *f, size_t i, struct fakewx_msg *out)
{
	pthread_mutex_lock(&f->mu);
	int rc = -1;
	if (i < f->nmsgs) {
		*out = f->msgs[i];
		rc = 0;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int fakewx_last_errcode(struct fakewx *f)
{
	pthread_mutex_lock(&f->mu);
	int e = f->last_errcode;
	pthread_mutex_unlock(&f->mu);
	return e;
}
