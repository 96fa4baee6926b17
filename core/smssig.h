/* smssig.h: the request signatures of the two Chinese SMS providers, Aliyun's V3
 * (ACS3-HMAC-SHA256) and Tencent Cloud's API 3.0 (TC3-HMAC-SHA256). Pure: the parts of the
 * canonical request go in, the hex signature comes out; the carriers (server/sms_*.c) build
 * requests with them and the test fakes check theirs with them only after canonicalizing the
 * request as they received it. Pinned by the providers' published examples
 * (tests/e2e/test_sms_carriers.c). */
#ifndef WATTLE_SMSSIG_H
#define WATTLE_SMSSIG_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lowercase hex SHA-256 of p[0..n) into out[65]. */
void sms_sha256_hex(const void *p, size_t n, char out[65]);
/* HMAC-SHA256(key, msg) into out[32]. */
void sms_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, unsigned char out[32]);

/* Append s percent-encoded as RFC 3986 asks (A-Z a-z 0-9 - _ . ~ kept, every other byte
 * %XX in upper case, so a space is %20, never '+'). */
void sms_rfc3986(struct srv_buf *b, const char *s);

/* One query parameter or header, borrowed. */
struct sms_kv {
	const char *k, *v;
};

/* The canonical query string of Aliyun V3: keys sorted by byte, "k=v" joined by '&', both
 * RFC 3986 encoded. kv is sorted in place. Appended to b. */
void sms_acs3_query(struct srv_buf *b, struct sms_kv *kv, size_t n);

/* Aliyun V3: the canonical request
 *   method\nuri\nquery\n<"name:value\n" per signed header, lower-case names in order>\n
 *   signed_headers\nhashed_payload
 * (headers[] lower-case names already sorted, values trimmed), then the signature: hex
 * HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" + hex SHA-256(canonical request)) into sig[65].
 * signed_headers gets the names joined by ';' (into signed_n bytes); canonical, when not
 * NULL, the canonical request (appended). */
void sms_acs3_sign(const char *secret, const char *method, const char *uri, const char *query,
		   const struct sms_kv *headers, size_t nheaders, const char *hashed_payload, char *signed_headers,
		   size_t signed_n, char sig[65], struct srv_buf *canonical);

/* Tencent TC3: the canonical request
 *   POST\n/\n\ncontent-type:<ctype>\nhost:<host>\n\ncontent-type;host\n<hex sha256(payload)>
 * the string to sign "TC3-HMAC-SHA256\n<ts>\n<date>/<service>/tc3_request\n<hex sha256(canonical)>",
 * the key HMAC(HMAC(HMAC("TC3"+secret_key, date), service), "tc3_request"), date the UTC
 * day of ts (YYYY-MM-DD). The hex signature into sig[65]; date[11] gets the date. */
void sms_tc3_sign(const char *secret_key, const char *service, const char *host, const char *ctype, int64_t ts,
		  const void *payload, size_t n, char date[11], char sig[65]);

/* a and b (n bytes each, hex signatures) equal, in constant time; false when either is
 * not n bytes long. */
bool sms_sig_equal(const char *a, const char *b, size_t n);

#endif
