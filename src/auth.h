/*
 * Who may enter: the client address (behind trusted proxies, the forwarded
 * one), the source rules, the shared token, the Chatwoot-style and the
 * Standard Webhooks signatures (auth_sig.c), and the redelivery set
 * (auth_dedupe.c). No libmicrohttpd here: http.c hands over the header
 * values, so that all of it can be tested and fuzzed on its own.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct config;

/* What auth looks at in a request. Every string may be NULL (absent). */
struct auth_request {
	struct netaddr	 peer;		/* the TCP peer */
	const char	*forwarded_for;	/* every X-Forwarded-For line, joined
					   with "," in the order received */
	const char	*real_ip;	/* X-Real-IP */
	const char	*path_token;	/* the segment after the webhook path */
	const char	*header_token;	/* X-Webhook-Token */
	const char	*cw_signature;	/* X-Chatwoot-Signature */
	const char	*cw_timestamp;	/* X-Chatwoot-Timestamp */
	const char	*cw_delivery;	/* X-Chatwoot-Delivery */
	const char	*wh_id;		/* webhook-id */
	const char	*wh_timestamp;	/* webhook-timestamp */
	const char	*wh_signature;	/* webhook-signature */
	int64_t		 now;		/* wall clock, seconds since the epoch */
};

/* Why a request may not enter: the status to answer (401, 403, or 500
 * when the check itself failed) and a reason that is safe to answer and
 * to log: a constant that never holds request bytes or secrets. */
struct auth_refusal {
	int		 status;
	const char	*reason;
};

/*
 * The client address: the peer itself, or, when the peer is one of
 * trusted_proxies, the address it forwards: X-Forwarded-For walked from
 * the right past every trusted proxy, else X-Real-IP. Returns -1 (and
 * the nearest hop known in *client) when a forwarded entry is not an
 * address.
 */
int	 auth_client(const struct config *, const struct auth_request *,
	    struct netaddr *client);

/*
 * The checks made before the body is read: allow_from (403; a client
 * whose address could not be told, client_ok false, is refused when
 * allow_from is set), the token (401), and that every configured
 * signature comes with well-formed, fresh headers (401). Returns 0, or -1
 * with *why.
 */
int	 auth_check_headers(const struct config *, const struct auth_request *,
	    const struct netaddr *client, bool client_ok,
	    struct auth_refusal *why);
/*
 * What a request is known by once its signatures verified: the MAC of
 * each scheme that checked it. A MAC covers the timestamp and the body
 * (and, for Standard Webhooks, webhook-id), not X-Chatwoot-Delivery, and
 * is the same however its header was written (case, order of a list):
 * a captured request re-sent under a new delivery id, or none, still
 * carries it.
 */
struct auth_macs {
	bool		 cw;		/* X-Chatwoot-Signature verified */
	bool		 wh;		/* webhook-signature verified */
	uint8_t		 cw_mac[32];
	uint8_t		 wh_mac[32];
};

/* Every configured signature, over the exact bytes received. Returns 0
 * with the MACs that verified in *macs, or -1 with *why. */
int	 auth_check_body(const struct config *, const struct auth_request *,
	    const void *body, size_t len, struct auth_macs *macs,
	    struct auth_refusal *why);

/* The id a delivery is known by for redelivery: webhook-id, else
 * X-Chatwoot-Delivery; NULL when the request has neither. */
const char *auth_delivery_id(const struct auth_request *);

/*
 * The signature schemes alone (for tests and the fuzzer). tolerance_ms 0
 * leaves the timestamp unchecked (it is still signed). Return 0, or -1
 * with *why; a failure of OpenSSL itself is reported as such in *why and
 * by *internal when internal is not NULL.
 */
int	 auth_verify_chatwoot(const char *secret, const char *signature,
	    const char *timestamp, int64_t now, int64_t tolerance_ms,
	    const void *body, size_t len, const char **why, bool *internal);
int	 auth_verify_standard(const char *secret, const char *id,
	    const char *timestamp, const char *signatures, int64_t now,
	    int64_t tolerance_ms, const void *body, size_t len,
	    const char **why, bool *internal);

/*
 * Redelivery and replay (auth_dedupe.c): the keys of accepted requests,
 * each kept for a window of its own, at most cap of them (the oldest go
 * first). Thread-safe. It lives as long as the HTTP front, so that a
 * configuration reload keeps it.
 */
struct auth_dedupe;

/* What one request holds in the set, from its claim to its end: plain
 * memory, which the caller frees (free()) after auth_dedupe_done. */
struct auth_claim;

enum auth_seen {
	AUTH_NEW,	/* claimed: finish with auth_dedupe_done */
	AUTH_SEEN,	/* the delivery id was accepted within its window:
			   answer 200, drop */
	AUTH_REPLAY,	/* a signature was accepted within its window,
			   under another delivery id or none: the same */
	AUTH_BUSY,	/* one of its keys is being handled right now */
};

struct auth_dedupe *auth_dedupe_new(size_t cap);
void	 auth_dedupe_free(struct auth_dedupe *);	/* NULL is a no-op */
/*
 * Claims a request whose body checked out (macs from auth_check_body):
 * its delivery id (auth_delivery_id) for dedupe_window, and each MAC for
 * as long as a request with the same timestamp can still pass
 * signature_tolerance (at least dedupe_window; with a tolerance of 0,
 * dedupe_window alone). Nothing is claimed unless every key is free; on
 * AUTH_NEW *claim is set (NULL when there is nothing to know the request
 * by), else left NULL.
 */
enum auth_seen auth_dedupe_claim_request(struct auth_dedupe *,
	    const struct config *, const struct auth_request *,
	    const struct auth_macs *, int64_t now_ms, struct auth_claim **claim);
/* Claims one id alone, for window_ms. */
enum auth_seen auth_dedupe_claim(struct auth_dedupe *, const char *id,
	    int64_t now_ms, int64_t window_ms, struct auth_claim **claim);
/* Ends a claim (NULL is a no-op): accepted, each key is kept for its
 * window from now; else all are forgotten so that the sender's retry gets
 * in. */
void	 auth_dedupe_done(struct auth_dedupe *, const struct auth_claim *,
	    bool accepted, int64_t now_ms);
/* Keys held (accepted or claimed). */
size_t	 auth_dedupe_size(struct auth_dedupe *);

#endif
