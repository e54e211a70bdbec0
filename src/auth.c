/* Who may enter (see auth.h): the client address, allow_from, the token,
 * and the checks in order; the signature schemes are auth_sig.c's. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"
#include "auth_int.h"
#include "config.h"
#include "secret.h"
#include "util.h"

static int
sha256(const void *data, size_t len, uint8_t out[AUTH_SHA256_LEN])
{
	unsigned int outl = 0;

	if (!EVP_Digest(data, len, out, &outl, EVP_sha256(), NULL) ||
	    outl != AUTH_SHA256_LEN)
		return -1;
	return 0;
}

/*
 * Compares a token given by the sender with the configured one in
 * constant time: both are hashed first, so that neither the content nor
 * the length of the secret shows in the time taken.
 */
static bool
token_equal(const char *given, const char *secret)
{
	uint8_t a[AUTH_SHA256_LEN], b[AUTH_SHA256_LEN];

	if (sha256(given, strlen(given), a) == -1 ||
	    sha256(secret, strlen(secret), b) == -1)
		return false;
	return CRYPTO_memcmp(a, b, AUTH_SHA256_LEN) == 0;
}

int
auth_verify_chatwoot(const char *secret, const char *signature,
    const char *timestamp, int64_t now, int64_t tolerance_ms,
    const void *body, size_t len, const char **why, bool *internal)
{
	uint8_t mac[AUTH_SHA256_LEN];

	return auth_sig_chatwoot(secret, signature, timestamp, now,
	    tolerance_ms, body, len, why, internal, mac);
}

/* The key of a Standard Webhooks secret: decoded when the configuration
 * loaded, else (a configuration built by hand: tests, the fuzzer) now, into
 * tmp. NULL when the secret is not one. */
static const struct secret_key *
webhooks_key(const char *secret, const struct secret_key *decoded,
    struct secret_key *tmp)
{
	if (decoded != NULL)
		return decoded;
	return secret_whsec(secret, tmp) == 0 ? tmp : NULL;
}

int
auth_verify_standard(const char *secret, const char *id,
    const char *timestamp, const char *signatures, int64_t now,
    int64_t tolerance_ms, const void *body, size_t len, const char **why,
    bool *internal)
{
	uint8_t mac[AUTH_SHA256_LEN];
	struct secret_key tmp;
	int rc;

	rc = auth_sig_standard(webhooks_key(secret, NULL, &tmp), id,
	    timestamp, signatures, now, tolerance_ms, body, len, why,
	    internal, mac);
	explicit_bzero(&tmp, sizeof tmp);
	return rc;
}

/* Whether a is in a CIDR list: parsed when the configuration loaded, else
 * (one built by hand) read from its text now. */
static bool
in_list(const struct netaddr_list *nets, const char *text,
    const struct netaddr *a)
{
	return nets != NULL ? netaddr_list_has(nets, a) :
	    netaddr_list_match(text, a);
}

int
auth_client(const struct config *cfg, const struct auth_request *r,
    struct netaddr *client)
{
	const char *xff = r->forwarded_for, *end, *comma;
	struct netaddr hop;

	*client = r->peer;
	if (cfg->trusted_proxies == NULL ||
	    !in_list(cfg->proxy_nets, cfg->trusted_proxies, &r->peer))
		return 0;
	if (xff != NULL && xff[strspn(xff, " \t,")] != '\0') {
		/* Right to left: each hop was added by the one after it,
		 * so only entries added by trusted proxies are believed. */
		end = xff + strlen(xff);
		while (end > xff) {
			for (comma = end; comma > xff && comma[-1] != ',';
			    comma--)
				;
			if (strspn(comma, " \t") < (size_t)(end - comma)) {
				if (netaddr_parse(&hop, comma,
				    (size_t)(end - comma)) == -1)
					return -1;
				*client = hop;
				if (!in_list(cfg->proxy_nets,
				    cfg->trusted_proxies, &hop))
					return 0;
			}
			end = comma > xff ? comma - 1 : xff;
		}
		return 0;
	}
	if (r->real_ip != NULL) {
		if (netaddr_parse(&hop, r->real_ip, strlen(r->real_ip)) == -1)
			return -1;
		*client = hop;
	}
	return 0;
}

static int
refuse(struct auth_refusal *why, int status, const char *reason)
{
	why->status = status;
	why->reason = reason;
	return -1;
}

int
auth_check_headers(const struct config *cfg, const struct auth_request *r,
    const struct netaddr *client, bool client_ok, struct auth_refusal *why)
{
	uint8_t given[AUTH_SHA256_LEN];
	const char *reason;

	if (cfg->allow_from != NULL) {
		if (!client_ok)
			return refuse(why, 403, "forwarded client address is "
			    "not an address");
		if (!in_list(cfg->allow_nets, cfg->allow_from, client))
			return refuse(why, 403, "client address not in "
			    "allow_from");
	}
	if (cfg->token != NULL) {
		if (r->path_token == NULL && r->header_token == NULL)
			return refuse(why, 401, "missing token");
		/* Every token given must be right, not just one of them. */
		if ((r->path_token != NULL &&
		    !token_equal(r->path_token, cfg->token)) ||
		    (r->header_token != NULL &&
		    !token_equal(r->header_token, cfg->token)))
			return refuse(why, 401, "wrong token");
	}
	if (cfg->signature_secret != NULL &&
	    (reason = auth_sig_chatwoot_headers(r->cw_signature,
	    r->cw_timestamp, r->now, cfg->signature_tolerance_ms, given)) !=
	    NULL)
		return refuse(why, 401, reason);
	if (cfg->standard_webhooks_secret != NULL &&
	    (reason = auth_sig_standard_headers(r->wh_id, r->wh_timestamp,
	    r->wh_signature, r->now, cfg->signature_tolerance_ms)) != NULL)
		return refuse(why, 401, reason);
	return 0;
}

int
auth_check_body(const struct config *cfg, const struct auth_request *r,
    const void *body, size_t len, struct auth_macs *macs,
    struct auth_refusal *why)
{
	struct secret_key tmp;
	const char *reason;
	bool internal;
	int rc;

	memset(macs, 0, sizeof *macs);
	if (cfg->signature_secret != NULL) {
		if (auth_sig_chatwoot(cfg->signature_secret, r->cw_signature,
		    r->cw_timestamp, r->now, cfg->signature_tolerance_ms, body,
		    len, &reason, &internal, macs->cw_mac) == -1)
			return refuse(why, internal ? 500 : 401, reason);
		macs->cw = true;
	}
	if (cfg->standard_webhooks_secret != NULL) {
		rc = auth_sig_standard(webhooks_key(
		    cfg->standard_webhooks_secret, cfg->webhooks_key, &tmp),
		    r->wh_id, r->wh_timestamp, r->wh_signature, r->now,
		    cfg->signature_tolerance_ms, body, len, &reason, &internal,
		    macs->wh_mac);
		explicit_bzero(&tmp, sizeof tmp);
		if (rc == -1)
			return refuse(why, internal ? 500 : 401, reason);
		macs->wh = true;
	}
	return 0;
}

const char *
auth_delivery_id(const struct auth_request *r)
{
	if (r->wh_id != NULL && *r->wh_id != '\0')
		return r->wh_id;
	if (r->cw_delivery != NULL && *r->cw_delivery != '\0')
		return r->cw_delivery;
	return NULL;
}
