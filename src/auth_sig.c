/* The signature schemes: Chatwoot-style (X-Chatwoot-Signature) and Standard
 * Webhooks (webhook-signature), HMAC-SHA256 with OpenSSL, compared in
 * constant time. */
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "auth_int.h"
#include "secret.h"

/* Timestamps are whole seconds; 12 digits reach the year 33658. */
#define TS_DIGITS_MAX	12

int
auth_sig_hmac(const void *key, size_t klen, const struct iovec *v, size_t n,
    uint8_t out[AUTH_SHA256_LEN])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	size_t i, outl = 0;
	int rc = -1;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	/* OpenSSL caches the fetch: this is a lookup, not a load. */
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (ctx = EVP_MAC_CTX_new(mac)) == NULL ||
	    !EVP_MAC_init(ctx, key, klen, params))
		goto out;
	for (i = 0; i < n; i++)
		if (v[i].iov_len > 0 &&
		    !EVP_MAC_update(ctx, v[i].iov_base, v[i].iov_len))
			goto out;
	if (EVP_MAC_final(ctx, out, &outl, AUTH_SHA256_LEN) && outl == AUTH_SHA256_LEN)
		rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "sha256=" and 64 hex digits into 32 bytes. */
static int
parse_cw_signature(const char *s, uint8_t out[AUTH_SHA256_LEN])
{
	size_t i;
	int hi, lo;

	if (strncasecmp(s, "sha256=", 7) != 0 ||
	    strlen(s + 7) != 2 * AUTH_SHA256_LEN)
		return -1;
	s += 7;
	for (i = 0; i < AUTH_SHA256_LEN; i++) {
		if ((hi = hexval(s[2 * i])) < 0 ||
		    (lo = hexval(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Whole seconds: 1 to TS_DIGITS_MAX digits and nothing else. */
static int
parse_timestamp(const char *s, int64_t *ts)
{
	int64_t v = 0;
	size_t i;

	if (s == NULL || *s == '\0' || strlen(s) > TS_DIGITS_MAX)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*ts = v;
	return 0;
}

/* Within tolerance of now, in either direction; 0 leaves it unchecked. */
static bool
fresh(int64_t ts, int64_t now, int64_t tolerance_ms)
{
	int64_t d = ts > now ? ts - now : now - ts;

	return tolerance_ms == 0 || d <= tolerance_ms / 1000;
}

/*
 * Standard base64 (with its padding) of exactly want bytes. A missing
 * final padding is tolerated. Returns -1 on anything else.
 */
static int
b64_decode_exact(const char *s, size_t len, uint8_t *out, size_t want)
{
	uint8_t buf[AUTH_WHSEC_MAX + 4];
	char in[(AUTH_WHSEC_MAX + 2) / 3 * 4 + 4];
	size_t pad = 0;
	int n;

	if (len == 0 || len > sizeof in - 4)
		return -1;
	memcpy(in, s, len);
	while (len % 4 != 0)
		in[len++] = '=';
	in[len] = '\0';
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad != want)
		return -1;
	memcpy(out, buf, want);
	explicit_bzero(buf, sizeof buf);
	return 0;
}

const char *
auth_sig_chatwoot_headers(const char *signature, const char *timestamp,
    int64_t now, int64_t tolerance_ms, uint8_t given[AUTH_SHA256_LEN])
{
	int64_t ts;

	if (signature == NULL)
		return "missing X-Chatwoot-Signature";
	if (parse_cw_signature(signature, given) == -1)
		return "malformed X-Chatwoot-Signature (expected sha256= and "
		    "64 hex digits)";
	if (timestamp == NULL)
		return "missing X-Chatwoot-Timestamp";
	if (parse_timestamp(timestamp, &ts) == -1)
		return "malformed X-Chatwoot-Timestamp (expected seconds "
		    "since the epoch)";
	if (!fresh(ts, now, tolerance_ms))
		return "X-Chatwoot-Timestamp outside signature_tolerance";
	return NULL;
}

int
auth_sig_chatwoot(const char *secret, const char *signature,
    const char *timestamp, int64_t now, int64_t tolerance_ms,
    const void *body, size_t len, const char **why, bool *internal,
    uint8_t mac[AUTH_SHA256_LEN])
{
	uint8_t given[AUTH_SHA256_LEN];
	struct iovec v[3];

	if (internal != NULL)
		*internal = false;
	if ((*why = auth_sig_chatwoot_headers(signature, timestamp, now,
	    tolerance_ms, given)) != NULL)
		return -1;
	/* HMAC(secret, "<timestamp>.<raw body>") */
	v[0].iov_base = (void *)timestamp;
	v[0].iov_len = strlen(timestamp);
	v[1].iov_base = (void *)".";
	v[1].iov_len = 1;
	v[2].iov_base = (void *)body;
	v[2].iov_len = len;
	if (auth_sig_hmac(secret, strlen(secret), v, 3, mac) == -1) {
		*why = "HMAC-SHA256 failed inside OpenSSL";
		if (internal != NULL)
			*internal = true;
		return -1;
	}
	if (CRYPTO_memcmp(mac, given, AUTH_SHA256_LEN) != 0) {
		*why = "X-Chatwoot-Signature does not match";
		return -1;
	}
	return 0;
}

/* The next "v1,<base64>" of a webhook-signature list, decoded; other
 * versions and malformed entries are skipped. */
static bool
next_v1(const char **p, uint8_t sig[AUTH_SHA256_LEN])
{
	const char *s = *p, *e;

	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == '\0') {
			*p = s;
			return false;
		}
		for (e = s; *e != '\0' && *e != ' '; e++)
			;
		if (e - s > 3 && strncmp(s, "v1,", 3) == 0 &&
		    b64_decode_exact(s + 3, (size_t)(e - s - 3), sig,
		    AUTH_SHA256_LEN) == 0) {
			*p = e;
			return true;
		}
		s = e;
	}
}

const char *
auth_sig_standard_headers(const char *id, const char *timestamp,
    const char *signatures, int64_t now, int64_t tolerance_ms)
{
	uint8_t sig[AUTH_SHA256_LEN];
	const char *p = signatures;
	int64_t ts;

	if (id == NULL || *id == '\0')
		return "missing webhook-id";
	if (timestamp == NULL)
		return "missing webhook-timestamp";
	if (parse_timestamp(timestamp, &ts) == -1)
		return "malformed webhook-timestamp (expected seconds since "
		    "the epoch)";
	if (!fresh(ts, now, tolerance_ms))
		return "webhook-timestamp outside signature_tolerance";
	if (signatures == NULL)
		return "missing webhook-signature";
	if (!next_v1(&p, sig))
		return "malformed webhook-signature (expected v1,<base64 of "
		    "32 bytes>)";
	return NULL;
}

int
auth_sig_standard(const struct secret_key *key, const char *id,
    const char *timestamp, const char *signatures, int64_t now,
    int64_t tolerance_ms, const void *body, size_t len, const char **why,
    bool *internal, uint8_t mac[AUTH_SHA256_LEN])
{
	uint8_t sig[AUTH_SHA256_LEN];
	const char *p = signatures;
	struct iovec v[5];
	int rc;

	if (internal != NULL)
		*internal = false;
	if ((*why = auth_sig_standard_headers(id, timestamp, signatures, now,
	    tolerance_ms)) != NULL)
		return -1;
	if (key == NULL) {
		/* Refused at load time; reached only by the fuzzer. */
		*why = "standard_webhooks_secret is not whsec_ and base64";
		if (internal != NULL)
			*internal = true;
		return -1;
	}
	/* HMAC(key, "<id>.<timestamp>.<raw body>") */
	v[0].iov_base = (void *)id;
	v[0].iov_len = strlen(id);
	v[1].iov_base = (void *)".";
	v[1].iov_len = 1;
	v[2].iov_base = (void *)timestamp;
	v[2].iov_len = strlen(timestamp);
	v[3] = v[1];
	v[4].iov_base = (void *)body;
	v[4].iov_len = len;
	rc = auth_sig_hmac(key->b, key->len, v, 5, mac);
	if (rc == -1) {
		*why = "HMAC-SHA256 failed inside OpenSSL";
		if (internal != NULL)
			*internal = true;
		return -1;
	}
	/* Any of the list may match: senders rotate keys this way. */
	while (next_v1(&p, sig))
		if (CRYPTO_memcmp(mac, sig, AUTH_SHA256_LEN) == 0)
			return 0;
	*why = "webhook-signature does not match";
	return -1;
}
