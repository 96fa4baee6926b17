/* fake_wxoa.h: a local fake of the WeChat official account's API, for the tests, the bench and
 * the demo. It checks what WeChat checks: GET /cgi-bin/token with grant_type=client_credential
 * and the account's appid (40013 invalid appid) and secret (40125 invalid appsecret) issues an
 * access token valid for expires_in; POST /cgi-bin/message/template/send takes only a token it
 * issued (41001 missing, 40001 invalid or revoked, 42001 expired), a JSON body (47001), a
 * template registered with its fields (40037), every field given as {"value": "..."} (47003),
 * an openid of the account (40003) that follows it (43004). Answers are WeChat's shape:
 * {"errcode","errmsg"} (and "msgid" on success; "access_token","expires_in" for a token).
 * It counts the tokens it issued and keeps every message it accepted. */
#ifndef WATTLE_FAKE_WXOA_H
#define WATTLE_FAKE_WXOA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fakewx;

/* A message the fake accepted. */
struct fakewx_msg {
	char touser[64], template_id[128], url[512];
	char data[2048]; /* the "data" object as it came, compact JSON */
	int64_t msgid;
};

/* Start the fake of account appid / secret on a free port of 127.0.0.1 (NULL when it cannot
 * listen). Tokens last 7200 s unless fakewx_token_life says otherwise. */
struct fakewx *fakewx_start(const char *appid, const char *secret);
void fakewx_stop(struct fakewx *f); /* NULL: nothing */
/* "http://127.0.0.1:<port>", for WATTLE_WECHAT_OA_API_BASE; into buf. */
const char *fakewx_base(const struct fakewx *f, char *buf, size_t n);

/* Register template_id with its field names (the "keyword1" ... its text names). */
void fakewx_template(struct fakewx *f, const char *template_id, const char *const *fields, size_t n);
/* An openid of the account's users; follows false: it unfollowed (sends answer 43004). */
void fakewx_user(struct fakewx *f, const char *openid, bool follows);

/* Tokens issued from now say expires_in (seconds) and really expire after life_ms (0: after
 * expires_in): a life shorter than expires_in is a token WeChat expires early (42001). */
void fakewx_token_life(struct fakewx *f, int64_t expires_in, int64_t life_ms);
/* Every token issued so far is no longer valid (sends with one answer 40001). */
void fakewx_revoke(struct fakewx *f);
/* The next n template sends answer errcode (45009 a quota, -1 system busy; 503: HTTP 503). */
void fakewx_fail_next(struct fakewx *f, int errcode, unsigned n);
/* Answer /cgi-bin/token this much later (a wide window for processes racing to refresh). */
void fakewx_token_delay(struct fakewx *f, int ms);

/* How many tokens it issued; how many requests it refused (a failed check); the messages it
 * accepted (copy of the i-th into *out: 0, or -1 when there is none). */
unsigned fakewx_tokens_issued(struct fakewx *f);
unsigned fakewx_refused(struct fakewx *f);
size_t fakewx_messages(struct fakewx *f);
int fakewx_message(struct fakewx *f, size_t i, struct fakewx_msg *out);
/* The errcode of the last refusal (0: none), for a test's message. */
int fakewx_last_errcode(struct fakewx *f);

#endif
