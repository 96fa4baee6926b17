/* hook_wechat.c: POST /v1/webhooks/payments/wechat, a WeChat Pay API v3 notification:
 * RSA-SHA256 over the headers' timestamp, nonce and the raw body with the platform key,
 * the AES-256-GCM resource decrypted with the APIv3 key, the merchant ours. Answers 204,
 * or {"code":"FAIL","message"} with the error's status. */
#include "api/payments.h"
#include "core/paysig.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void wechat(struct req *rq)
{
	const enum pay_provider W = PROV_WECHAT;
	/* Freshness against the wall clock, not wattle's clock module: the provider signs in
	 * real time, and a clock run fast for a test or the demo must not make it look stale. */
	enum bill_sig sig = bill_wechat_verify(pay_cfg.wx_pub, pay_cfg.wx_serial, api_header(rq, "Wechatpay-Serial"),
					       api_header(rq, "Wechatpay-Timestamp"),
					       api_header(rq, "Wechatpay-Nonce"),
					       api_header(rq, "Wechatpay-Signature"), rq->body ? rq->body : "",
					       rq->body_len, (int64_t)time(NULL));
	if (sig != SIG_OK) {
		pay_refuse(rq, W, E_INVALID_SIGNATURE, "signature %s", bill_sig_name(sig));
		return;
	}
	json_t *body = pay_parse_json(rq->body, rq->body_len), *plain = NULL;
	json_t *res = json_object_get(body, "resource");
	const char *type = json_string_value(json_object_get(body, "event_type"));
	const char *alg = json_string_value(json_object_get(res, "algorithm"));
	if (!type || !alg || strcmp(alg, "AEAD_AES_256_GCM")) {
		pay_refuse(rq, W, E_MALFORMED_JSON, "not a v3 notification with an AEAD_AES_256_GCM resource");
		goto out;
	}
	size_t n;
	char *pt = bill_wechat_decrypt(pay_cfg.wx_key, json_string_value(json_object_get(res, "nonce")),
				       json_string_value(json_object_get(res, "associated_data")),
				       json_string_value(json_object_get(res, "ciphertext")), &n);
	plain = pt ? pay_parse_json(pt, n) : NULL;
	free(pt);
	if (!plain) {
		pay_refuse(rq, W, E_INVALID_SIGNATURE, "the resource does not decrypt with the APIv3 key");
		goto out;
	}
	const char *mchid = json_string_value(json_object_get(plain, "mchid"));
	if (!mchid || strcmp(mchid, pay_cfg.wx_mchid)) {
		pay_refuse(rq, W, E_FORBIDDEN, "mchid %s is not ours", mchid ? mchid : "(none)");
		goto out;
	}
	json_t *amount = json_object_get(plain, "amount");
	struct pay_note pn = {.prov = W};
	pn.txn = json_string_value(json_object_get(plain, "transaction_id"));
	pn.out_trade_no = json_string_value(json_object_get(plain, "out_trade_no"));
	bool refund = !strncmp(type, "REFUND.", 7);
	if (refund) {
		const char *rs = json_string_value(json_object_get(plain, "refund_status"));
		json_t *ra = json_object_get(amount, "refund");
		pn.refund_ref = json_string_value(json_object_get(plain, "refund_id"));
		pn.out_refund_no = json_string_value(json_object_get(plain, "out_refund_no"));
		if (strcmp(type, "REFUND.SUCCESS") || !rs || strcmp(rs, "SUCCESS")) {
			pay_count(W, PAY_IGNORED);
			api_reply_raw(rq, 204, "application/json", "", 0);
			goto out;
		}
		if (!pn.txn || !pn.refund_ref || !json_is_integer(ra) || json_integer_value(ra) <= 0) {
			pay_refuse(rq, W, E_INVALID_FIELD, "a refund needs transaction_id, refund_id and amount.refund");
			goto out;
		}
		pn.amount = json_integer_value(ra);
		pay_upcase(pn.currency, "CNY");
	} else {
		const char *state = json_string_value(json_object_get(plain, "trade_state"));
		if (!state || strcmp(state, "SUCCESS")) { /* only a paid trade moves money */
			pay_count(W, PAY_IGNORED);
			api_reply_raw(rq, 204, "application/json", "", 0);
			goto out;
		}
		json_t *total = json_object_get(amount, "total");
		if (!pn.txn || !*pn.txn || !pn.out_trade_no || !json_is_integer(total) ||
		    json_integer_value(total) < 0 || json_integer_value(total) > MAX_AMOUNT) {
			pay_refuse(rq, W, E_INVALID_FIELD, "a payment needs transaction_id, out_trade_no and amount.total");
			goto out;
		}
		pn.amount = json_integer_value(total);
		const char *cur = json_string_value(json_object_get(amount, "currency"));
		pay_upcase(pn.currency, cur ? cur : "CNY");
	}
	enum pay_outcome o;
	if (pay_settle(rq, &pn, plain, refund, &o) == 0)
		api_reply_raw(rq, 204, "application/json", "", 0);
out:
	json_decref(body);
	json_decref(plain);
}

void api_hook_wechat(struct req *rq)
{
	if (pay_configured(rq, PROV_WECHAT))
		wechat(rq);
	pay_provider_reply(rq, PROV_WECHAT);
}

