/*
 * Redelivery and replay: the keys of accepted requests, each kept for a
 * window of its own, at most cap of them (the oldest go first).
 * Thread-safe. It lives as long as the HTTP front, so that a
 * configuration reload keeps it.
 */
#ifndef AUTH_DEDUPE_H
#define AUTH_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_macs;
struct auth_request;
struct config;

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
