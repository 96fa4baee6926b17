/* fuzz_signatures.c: the signature headers of the providers, from a client's bytes: the
 * Stripe-Signature header against its body, WeChat Pay's resource decryption, base64.
 * Input: header, a newline, then the body. Nothing forged may verify. */
#include "core/paysig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	char *nl = memchr(s, '\n', size);
	const char *header = s, *body = "";
	size_t body_len = 0;
	if (nl) {
		*nl = 0;
		body = nl + 1;
		body_len = size - (size_t)(nl + 1 - s);
	}
	/* a random header cannot carry the HMAC of a secret it does not know */
	if (bill_stripe_verify("whsec_fuzz_secret_never_in_the_corpus", header, body, body_len, 1790000000) == SIG_OK)
		abort();
	size_t n;
	free(bill_b64_decode(header, &n));
	static const unsigned char key[32] = "0123456789abcdef0123456789abcde";
	char *plain = bill_wechat_decrypt(key, "nonce_fuzz01", body, header, &n);
	free(plain);
	free(s);
	return 0;
}
