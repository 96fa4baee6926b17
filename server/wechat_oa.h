/* wechat_oa.h: the WeChat official account carrier's settings (chan_wechat itself is in
 * server/channels.h). */
#ifndef WATTLE_WECHAT_OA_H
#define WATTLE_WECHAT_OA_H

/* As server/config.c read them; NULL or "": not set. */
struct chan_wechat_cfg {
	const char *appid;    /* WATTLE_WECHAT_OA_APPID */
	const char *secret;   /* WATTLE_WECHAT_OA_SECRET: never logged */
	const char *api_base; /* WATTLE_WECHAT_OA_API_BASE, default https://api.weixin.qq.com */
};

/* Set the carrier's settings before any sender runs (copied; not thread-safe). chan_wechat
 * is configured when appid and secret are given. Its access token is kept in the database
 * (store/wechat.h) on the calling thread's connection (db_conn()): every process and thread
 * shares it, and one fetches it when it is missing, near its expiry or refused by WeChat.
 * So chan_wechat.send must be called outside any transaction on that connection; and when the
 * connection was lost, db_conn() inside send replaces it: a caller holding the PGconn * from
 * before the send takes db_conn() again after it. */
void chan_wechat_configure(const struct chan_wechat_cfg *cfg);

#endif
