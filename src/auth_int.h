/* What auth.c, auth_sig.c and auth_dedupe.c share and no other module
 * needs: the HMAC, each signature scheme's own checks, the secret's key. */
#ifndef AUTH_INT_H
#define AUTH_INT_H

#include <sys/uio.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_SHA256_LEN	32
/* A Standard Webhooks secret: 24 to 64 random bytes; some room beyond. */
#define AUTH_WHSEC_MAX	128

/* auth_sig.c: HMAC-SHA256 over the concatenation of n pieces. Returns -1
 * when OpenSSL fails (out of memory, or a provider missing). */
int	 auth_sig_hmac(const void *key, size_t klen, const struct iovec *v,
	    size_t n, uint8_t out[AUTH_SHA256_LEN]);
/* The header checks of each scheme, made before the body is read: NULL, or
 * why the request is refused. */
const char *auth_sig_chatwoot_headers(const char *signature,
	    const char *timestamp, int64_t now, int64_t tolerance_ms,
	    uint8_t given[AUTH_SHA256_LEN]);
const char *auth_sig_standard_headers(const char *id, const char *timestamp,
	    const char *signatures, int64_t now, int64_t tolerance_ms);
/* Each scheme's whole check (auth_verify_chatwoot, auth_verify_standard);
 * the MAC that matched goes to mac. */
int	 auth_sig_chatwoot(const char *secret, const char *signature,
	    const char *timestamp, int64_t now, int64_t tolerance_ms,
	    const void *body, size_t len, const char **why, bool *internal,
	    uint8_t mac[AUTH_SHA256_LEN]);
struct secret_key;
/* key: the secret's, decoded (NULL: not a Standard Webhooks secret). */
int	 auth_sig_standard(const struct secret_key *key, const char *id,
	    const char *timestamp, const char *signatures, int64_t now,
	    int64_t tolerance_ms, const void *body, size_t len,
	    const char **why, bool *internal, uint8_t mac[AUTH_SHA256_LEN]);

#endif
