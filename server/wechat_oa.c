/* wechat_oa.c: the WeChat official account carrier (chan_wechat): template messages through
 * POST /cgi-bin/message/template/send with the account's access token, which every process
 * shares through the database (store/wechat.h) and one refreshes: when it is missing, shortly
 * before it expires, or once when WeChat says it is invalid (40001) or expired (42001). The
 * answer's errcode decides the outcome (see errcode_result). The secret and the token never
 * reach the log: a token is named by its generation. */
#include "server/channels.h"
#include "server/wechat_oa.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/db.h"
#include "store/wechat.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
	char appid[128], secret[256], api_base[512];
} wcfg = {"", "", "https://api.weixin.qq.com"};

void chan_wechat_configure(const struct chan_wechat_cfg *cfg)
{
	snprintf(wcfg.appid, sizeof wcfg.appid, "%s", cfg->appid ? cfg->appid : "");
	snprintf(wcfg.secret, sizeof wcfg.secret, "%s", cfg->secret ? cfg->secret : "");
	const char *base = cfg->api_base && *cfg->api_base ? cfg->api_base : "https://api.weixin.qq.com";
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(wcfg.api_base, sizeof wcfg.api_base, "%.*s", (int)n, base);
}

static bool wx_configured(void) { return wcfg.appid[0] && wcfg.secret[0]; }

#define ANSWER_MAX (64 * 1024) /* WeChat's answers are a few hundred bytes */

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	struct srv_buf *b = ud;
	if (b->len + size * n > ANSWER_MAX)
		return 0; /* libcurl fails the transfer: CURLE_WRITE_ERROR */
	srv_buf_putn(b, p, size * n);
	return size * n;
}

/* GET (body NULL) or POST a JSON body to url; the answer's JSON into *ans (new, or NULL when
 * none or not JSON). Returns the HTTP status, or 0 with o->message set when nothing came
 * back. url carries the secret or the token: it is never logged, nor put in o. */
static long call(CURL *h, const char *url, const char *body, json_t **ans, struct chan_outcome *o)
{
	*ans = NULL;
	struct srv_buf b = {0};
	struct curl_slist *hd = NULL;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (body) {
		hd = curl_slist_append(hd, "Content-Type: application/json; charset=utf-8");
		hd = curl_slist_append(hd, "Expect:");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	long status = 0;
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (b.p)
			*ans = json_loadb(b.p, b.len, 0, NULL);
	} else {
		/* libcurl's messages name the host and port, never the query */
		snprintf(o->message, sizeof o->message, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	}
	curl_slist_free_all(hd);
	srv_buf_free(&b);
	o->http_status = status;
	return status;
}

/* The answer's errcode (0 when it has none) and errmsg into o. */
static long long read_errcode(const json_t *ans, struct chan_outcome *o)
{
	json_t *e = json_object_get(ans, "errcode");
	long long code = json_is_integer(e) ? (long long)json_integer_value(e) : 0;
	snprintf(o->code, sizeof o->code, "%lld", code);
	const char *msg = json_string_value(json_object_get(ans, "errmsg"));
	if (msg)
		snprintf(o->message, sizeof o->message, "%s", msg);
	return code;
}

/* What an errcode of the template send means. */
static enum chan_result errcode_result(long long e)
{
	switch (e) {
	case 0:
		return CH_SENT;
	case 43004: /* require subscribe: the tenant does not follow the account */
		return CH_FALLBACK;
	case -1:    /* system busy */
	case 45009: /* reach max api daily quota limit */
	case 45011: /* api minute-quota reached */
	case 45047: /* out of response count limit */
	case 40001: /* invalid credential, left after the one refresh */
	case 40014: /* invalid access_token */
	case 42001: /* access_token expired, left after the one refresh */
		return CH_RETRY;
	case 40003: /* invalid openid */
	case 40037: /* invalid template_id */
	case 47001: /* data format error */
	case 47003: /* argument invalid (a field of the template missing or malformed) */
		return CH_REFUSED;
	default:
		/* the other 4xxxx are about the request or the account (unauthorized api, bad
		 * arguments), which sending again cannot fix; the 45xxx are limits */
		return e >= 40000 && e < 50000 && !(e >= 45000 && e < 46000) ? CH_REFUSED : CH_RETRY;
	}
}

static bool token_refused(long long e) { return e == 40001 || e == 40014 || e == 42001; }

/* Fetch a new token from WeChat into *tok / *expires_in. CH_SENT on success; otherwise the
 * outcome in o: transport, 5xx, system busy and limits are CH_RETRY; a wrong appid (40013),
 * secret (40125), an address not on the account's allow-list (40164) and the like are
 * CH_REFUSED (no message can be sent until the settings are fixed). */
static enum chan_result token_fetch(CURL *h, char *tok, size_t tokn, int64_t *expires_in, struct chan_outcome *o)
{
	char *appid = curl_easy_escape(h, wcfg.appid, 0), *secret = curl_easy_escape(h, wcfg.secret, 0);
	if (!appid || !secret)
		abort();
	struct srv_buf url = {0};
	srv_buf_printf(&url, "%s/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s", wcfg.api_base, appid,
		       secret);
	curl_free(appid);
	curl_free(secret);
	json_t *ans;
	long st = call(h, url.p, NULL, &ans, o);
	memset(url.p, 0, url.len); /* the secret does not linger in freed memory */
	srv_buf_free(&url);
	enum chan_result r = CH_RETRY;
	if (st == 0) {
		snprintf(o->code, sizeof o->code, "token_transport");
		goto out;
	}
	if (st != 200 || !ans) {
		snprintf(o->code, sizeof o->code, "token_http_%ld", st);
		snprintf(o->message, sizeof o->message, "access token: HTTP %ld%s", st, ans ? "" : " without JSON");
		goto out;
	}
	const char *t = json_string_value(json_object_get(ans, "access_token"));
	json_t *ei = json_object_get(ans, "expires_in");
	if (t && *t && strlen(t) < tokn && json_is_integer(ei) && json_integer_value(ei) > 0) {
		snprintf(tok, tokn, "%s", t);
		*expires_in = (int64_t)json_integer_value(ei);
		r = CH_SENT;
		goto out;
	}
	long long e = read_errcode(ans, o);
	if (e == 0) {
		snprintf(o->code, sizeof o->code, "token_answer");
		snprintf(o->message, sizeof o->message, "access token: an answer without access_token and expires_in");
	} else if (e != -1 && !(e >= 45000 && e < 46000)) {
		r = CH_REFUSED;
	}
	srv_log(LOG_ERROR, "wechat: cannot get an access token for appid %s: errcode %lld (%s)", wcfg.appid, e,
		o->message);
out:
	json_decref(ans);
	return r;
}

/* A usable token into *t. stale_gen 0: any fresh one; else WeChat refused generation
 * stale_gen, so a newer fresh generation (another process's refresh) is taken, and only if
 * the row still holds stale_gen is a new one fetched. A fetch happens under the row's lock,
 * in a transaction held open for that one HTTP call (at most 10 s): processes that need a
 * token at the same moment wait for the first's fetch and take its token. CH_SENT when *t is
 * set; else the outcome in o. */
static enum chan_result token_get(PGconn *c, CURL *h, int64_t stale_gen, struct wechat_token *t,
				  struct chan_outcome *o)
{
	bool found = false;
	if (!stale_gen && store_wechat_token_get(c, wcfg.appid, t, &found) == DB_OK && found && t->fresh &&
	    t->generation > 0)
		return CH_SENT;
	if (store_wechat_token_lock(c, wcfg.appid, t) != DB_OK) {
		snprintf(o->code, sizeof o->code, "db");
		snprintf(o->message, sizeof o->message, "the access token's row could not be locked");
		return CH_RETRY;
	}
	if (t->generation > 0 && t->fresh && (!stale_gen || t->generation != stale_gen)) {
		store_wechat_token_release(c); /* somebody refreshed it while this waited */
		return CH_SENT;
	}
	char tok[sizeof t->access_token];
	int64_t expires_in = 0;
	enum chan_result r = token_fetch(h, tok, sizeof tok, &expires_in, o);
	if (r != CH_SENT) {
		store_wechat_token_release(c);
		return r;
	}
	int64_t old = t->generation;
	enum db_status s = store_wechat_token_save(c, wcfg.appid, tok, expires_in, t);
	memset(tok, 0, sizeof tok);
	if (s != DB_OK) {
		snprintf(o->code, sizeof o->code, "db");
		snprintf(o->message, sizeof o->message, "the new access token could not be stored");
		return CH_RETRY;
	}
	srv_log(LOG_INFO, "wechat: access token generation %lld for appid %s (was %lld%s), expires in %lld s",
		(long long)t->generation, wcfg.appid, (long long)old, stale_gen ? ", refused by WeChat" : "",
		(long long)expires_in);
	return CH_SENT;
}

/* The template message's body: {"touser","template_id","url"?,"data":{key:{"value":val}}}, in
 * UTF-8 as it is (WeChat's own examples send Chinese unescaped). */
static char *template_body(const struct chan_msg *m)
{
	json_t *data = json_object();
	for (size_t i = 0; i < m->nparams; i++)
		json_object_set_new(data, m->param_keys[i],
				    json_pack("{s:s}", "value", m->param_vals[i] ? m->param_vals[i] : ""));
	json_t *b = json_pack("{s:s, s:s, s:o}", "touser", m->to, "template_id", m->template_id, "data", data);
	if (m->url && *m->url)
		json_object_set_new(b, "url", json_string(m->url));
	char *s = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	if (!s)
		abort();
	return s;
}

/* One send with token t. */
static enum chan_result send_once(CURL *h, const char *body, const struct wechat_token *t, struct chan_outcome *o,
				  long long *errcode)
{
	*errcode = 0;
	struct srv_buf url = {0};
	char *tok = curl_easy_escape(h, t->access_token, 0);
	if (!tok)
		abort();
	srv_buf_printf(&url, "%s/cgi-bin/message/template/send?access_token=%s", wcfg.api_base, tok);
	curl_free(tok);
	json_t *ans;
	long st = call(h, url.p, body, &ans, o);
	srv_buf_free(&url);
	enum chan_result r = CH_RETRY;
	if (st == 0) {
		snprintf(o->code, sizeof o->code, "transport");
	} else if (st != 200 || !ans) {
		snprintf(o->code, sizeof o->code, "http_%ld", st);
		snprintf(o->message, sizeof o->message, "HTTP %ld%s", st, ans ? "" : " without JSON");
	} else {
		*errcode = read_errcode(ans, o);
		r = errcode_result(*errcode);
		if (r == CH_SENT) {
			json_t *id = json_object_get(ans, "msgid");
			if (json_is_integer(id))
				snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "%lld",
					 (long long)json_integer_value(id));
			else if (json_is_string(id))
				snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "%s", json_string_value(id));
		}
	}
	json_decref(ans);
	return r;
}

static enum chan_result wx_send(CURL *h, const struct chan_msg *m, struct chan_outcome *o)
{
	memset(o, 0, sizeof *o);
	if (!wx_configured()) {
		snprintf(o->code, sizeof o->code, "not_configured");
		snprintf(o->message, sizeof o->message, "WATTLE_WECHAT_OA_APPID and WATTLE_WECHAT_OA_SECRET are not set");
		return o->result = CH_FALLBACK;
	}
	/* WeChat carries only approved templates: a message without one (or a tenant without an
	 * openid) goes to the next channel, which can say it */
	if (!m->template_id || !*m->template_id || !m->to || !*m->to) {
		snprintf(o->code, sizeof o->code, "%s", !m->to || !*m->to ? "no_openid" : "no_template");
		snprintf(o->message, sizeof o->message, "%s", !m->to || !*m->to ? "the tenant has no WeChat openid"
										 : "no WeChat template for this message");
		return o->result = CH_FALLBACK;
	}
	PGconn *c = db_conn();
	if (!c) {
		snprintf(o->code, sizeof o->code, "db");
		snprintf(o->message, sizeof o->message, "no database for the access token");
		return o->result = CH_RETRY;
	}
	struct wechat_token t;
	enum chan_result r = token_get(c, h, 0, &t, o);
	if (r != CH_SENT)
		return o->result = r;
	char *body = template_body(m);
	long long e;
	r = send_once(h, body, &t, o, &e);
	if (token_refused(e)) {
		srv_log(LOG_WARN, "wechat: errcode %lld for access token generation %lld: refreshing it once", e,
			(long long)t.generation);
		r = token_get(c, h, t.generation, &t, o);
		if (r == CH_SENT)
			r = send_once(h, body, &t, o, &e);
	}
	free(body);
	memset(&t, 0, sizeof t);
	o->throttled = r == CH_RETRY && e == 45011; /* the account's per-minute API quota; 45009 is the day's */
	return o->result = r;
}

const struct chan_carrier chan_wechat = {"wechat", wx_send, wx_configured};
