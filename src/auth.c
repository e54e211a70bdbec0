/*
 * Who may enter (see auth.h): client address, allow_from, token, the
 * Chatwoot-style and Standard Webhooks signatures (HMAC-SHA256 with
 * OpenSSL, compared in constant time), and the redelivery set.
 */
#include <sys/random.h>
#include <sys/uio.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "auth.h"
#include "config.h"
#include "secret.h"
#include "util.h"

#define SHA256_LEN	32
/* A Standard Webhooks secret: 24 to 64 random bytes; some room beyond. */
#define WHSEC_MAX	128
/* Timestamps are whole seconds; 12 digits reach the year 33658. */
#define TS_DIGITS_MAX	12

/* HMAC-SHA256 over the concatenation of n pieces. Returns -1 when OpenSSL
 * fails (out of memory, or a provider missing). */
static int
hmac_sha256(const void *key, size_t klen, const struct iovec *v, size_t n,
    uint8_t out[SHA256_LEN])
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
	if (EVP_MAC_final(ctx, out, &outl, SHA256_LEN) && outl == SHA256_LEN)
		rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

static int
sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	unsigned int outl = 0;

	if (!EVP_Digest(data, len, out, &outl, EVP_sha256(), NULL) ||
	    outl != SHA256_LEN)
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
	uint8_t a[SHA256_LEN], b[SHA256_LEN];

	if (sha256(given, strlen(given), a) == -1 ||
	    sha256(secret, strlen(secret), b) == -1)
		return false;
	return CRYPTO_memcmp(a, b, SHA256_LEN) == 0;
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
parse_cw_signature(const char *s, uint8_t out[SHA256_LEN])
{
	size_t i;
	int hi, lo;

	if (strncasecmp(s, "sha256=", 7) != 0 ||
	    strlen(s + 7) != 2 * SHA256_LEN)
		return -1;
	s += 7;
	for (i = 0; i < SHA256_LEN; i++) {
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
	uint8_t buf[WHSEC_MAX + 4];
	char in[(WHSEC_MAX + 2) / 3 * 4 + 4];
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

/* The header checks of the Chatwoot-style scheme. Returns NULL or why. */
static const char *
cw_headers(const char *signature, const char *timestamp, int64_t now,
    int64_t tolerance_ms, uint8_t given[SHA256_LEN])
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

/* The Chatwoot-style check; the MAC that matched goes to mac. */
static int
verify_chatwoot(const char *secret, const char *signature,
    const char *timestamp, int64_t now, int64_t tolerance_ms,
    const void *body, size_t len, const char **why, bool *internal,
    uint8_t mac[SHA256_LEN])
{
	uint8_t given[SHA256_LEN];
	struct iovec v[3];

	if (internal != NULL)
		*internal = false;
	if ((*why = cw_headers(signature, timestamp, now, tolerance_ms,
	    given)) != NULL)
		return -1;
	/* HMAC(secret, "<timestamp>.<raw body>") */
	v[0].iov_base = (void *)timestamp;
	v[0].iov_len = strlen(timestamp);
	v[1].iov_base = (void *)".";
	v[1].iov_len = 1;
	v[2].iov_base = (void *)body;
	v[2].iov_len = len;
	if (hmac_sha256(secret, strlen(secret), v, 3, mac) == -1) {
		*why = "HMAC-SHA256 failed inside OpenSSL";
		if (internal != NULL)
			*internal = true;
		return -1;
	}
	if (CRYPTO_memcmp(mac, given, SHA256_LEN) != 0) {
		*why = "X-Chatwoot-Signature does not match";
		return -1;
	}
	return 0;
}

int
auth_verify_chatwoot(const char *secret, const char *signature,
    const char *timestamp, int64_t now, int64_t tolerance_ms,
    const void *body, size_t len, const char **why, bool *internal)
{
	uint8_t mac[SHA256_LEN];

	return verify_chatwoot(secret, signature, timestamp, now,
	    tolerance_ms, body, len, why, internal, mac);
}

/* The next "v1,<base64>" of a webhook-signature list, decoded; other
 * versions and malformed entries are skipped. */
static bool
next_v1(const char **p, uint8_t sig[SHA256_LEN])
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
		    SHA256_LEN) == 0) {
			*p = e;
			return true;
		}
		s = e;
	}
}

/* The header checks of Standard Webhooks. Returns NULL or why. */
static const char *
wh_headers(const char *id, const char *timestamp, const char *signatures,
    int64_t now, int64_t tolerance_ms)
{
	uint8_t sig[SHA256_LEN];
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

/* The Standard Webhooks check; the MAC that matched goes to mac. */
static int
verify_standard(const struct secret_key *key, const char *id,
    const char *timestamp, const char *signatures, int64_t now,
    int64_t tolerance_ms, const void *body, size_t len, const char **why,
    bool *internal, uint8_t mac[SHA256_LEN])
{
	uint8_t sig[SHA256_LEN];
	const char *p = signatures;
	struct iovec v[5];
	int rc;

	if (internal != NULL)
		*internal = false;
	if ((*why = wh_headers(id, timestamp, signatures, now,
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
	rc = hmac_sha256(key->b, key->len, v, 5, mac);
	if (rc == -1) {
		*why = "HMAC-SHA256 failed inside OpenSSL";
		if (internal != NULL)
			*internal = true;
		return -1;
	}
	/* Any of the list may match: senders rotate keys this way. */
	while (next_v1(&p, sig))
		if (CRYPTO_memcmp(mac, sig, SHA256_LEN) == 0)
			return 0;
	*why = "webhook-signature does not match";
	return -1;
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
	uint8_t mac[SHA256_LEN];
	struct secret_key tmp;
	int rc;

	rc = verify_standard(webhooks_key(secret, NULL, &tmp), id, timestamp,
	    signatures, now, tolerance_ms, body, len, why, internal, mac);
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
	uint8_t given[SHA256_LEN];
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
	    (reason = cw_headers(r->cw_signature, r->cw_timestamp, r->now,
	    cfg->signature_tolerance_ms, given)) != NULL)
		return refuse(why, 401, reason);
	if (cfg->standard_webhooks_secret != NULL &&
	    (reason = wh_headers(r->wh_id, r->wh_timestamp, r->wh_signature,
	    r->now, cfg->signature_tolerance_ms)) != NULL)
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
		if (verify_chatwoot(cfg->signature_secret, r->cw_signature,
		    r->cw_timestamp, r->now, cfg->signature_tolerance_ms, body,
		    len, &reason, &internal, macs->cw_mac) == -1)
			return refuse(why, internal ? 500 : 401, reason);
		macs->cw = true;
	}
	if (cfg->standard_webhooks_secret != NULL) {
		rc = verify_standard(webhooks_key(cfg->standard_webhooks_secret,
		    cfg->webhooks_key, &tmp), r->wh_id, r->wh_timestamp,
		    r->wh_signature, r->now, cfg->signature_tolerance_ms, body,
		    len, &reason, &internal, macs->wh_mac);
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

/* The redelivery set: a ring of entries in the order they came (the
 * oldest is the first to go, by the cap, or by age once it reaches the
 * head) and a hash chain through it. Links are index + 1, so that 0 is
 * the end and calloc'd memory is a valid empty table that costs nothing
 * until used. Entries keep windows of their own, so one that expired
 * behind a younger head waits for the head to pass it; dd_find's callers
 * look at the expiry, not only at presence. */
enum { DD_FREE, DD_BUSY, DD_DONE };

/* A delivery id, and a MAC per signature scheme. */
#define DD_KEYS		3

struct dd_entry {
	uint8_t		 key[16];	/* HMAC-SHA256(salt, what), truncated */
	int64_t		 until;		/* expires, msec */
	uint32_t	 next;
	uint8_t		 state;
};

struct auth_dedupe {
	pthread_mutex_t	 lock;
	uint8_t		 salt[16];	/* so that chains cannot be aimed at */
	struct dd_entry	*e;
	uint32_t	*bucket;
	size_t		 cap, nb, head, used;
};

struct auth_claim {
	size_t		 n;
	struct {
		uint8_t	 key[16];
		int64_t	 window;
		bool	 mac;		/* a signature, not a delivery id */
	} k[DD_KEYS];
};

struct auth_dedupe *
auth_dedupe_new(size_t cap)
{
	struct auth_dedupe *d = xcalloc(1, sizeof *d);

	if (cap < 1)
		cap = 1;
	if (cap > UINT32_MAX - 1)
		cap = UINT32_MAX - 1;
	d->cap = cap;
	for (d->nb = 1; d->nb < cap; d->nb *= 2)
		;
	d->e = xcalloc(cap, sizeof *d->e);
	d->bucket = xcalloc(d->nb, sizeof *d->bucket);
	if (getrandom(d->salt, sizeof d->salt, 0) != sizeof d->salt)
		memset(d->salt, 0, sizeof d->salt);	/* still correct */
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void
auth_dedupe_free(struct auth_dedupe *d)
{
	if (d == NULL)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d->e);
	free(d->bucket);
	free(d);
}

/* Adds a key to a claim: a keyed hash of the n pieces, so that ids from
 * outside cannot be chosen to collide. */
static void
dd_add(const struct auth_dedupe *d, struct auth_claim *c,
    const struct iovec *v, size_t n, int64_t window, bool mac)
{
	uint8_t h[SHA256_LEN];

	if (hmac_sha256(d->salt, sizeof d->salt, v, n, h) == -1)
		abort();	/* OpenSSL out of memory, like xmalloc */
	memcpy(c->k[c->n].key, h, sizeof c->k[c->n].key);
	c->k[c->n].window = window;
	c->k[c->n].mac = mac;
	c->n++;
}

static void
dd_add_id(const struct auth_dedupe *d, struct auth_claim *c, const char *id,
    int64_t window)
{
	struct iovec v[1];

	v[0].iov_base = (void *)id;
	v[0].iov_len = strlen(id);
	dd_add(d, c, v, 1, window, false);
}

/* A MAC is keyed as a NUL, the scheme's tag and its bytes: an id, a C
 * string, never starts with a NUL, so the two never meet. */
static void
dd_add_mac(const struct auth_dedupe *d, struct auth_claim *c,
    const char tag[2], const uint8_t mac[SHA256_LEN], int64_t window)
{
	struct iovec v[3];

	v[0].iov_base = (void *)"";
	v[0].iov_len = 1;
	v[1].iov_base = (void *)tag;
	v[1].iov_len = 2;
	v[2].iov_base = (void *)mac;
	v[2].iov_len = SHA256_LEN;
	dd_add(d, c, v, 3, window, true);
}

static uint32_t *
dd_chain(struct auth_dedupe *d, const uint8_t key[16])
{
	uint32_t h;

	memcpy(&h, key, sizeof h);
	return &d->bucket[h & (d->nb - 1)];
}

static struct dd_entry *
dd_find(struct auth_dedupe *d, const uint8_t key[16])
{
	uint32_t i;

	for (i = *dd_chain(d, key); i != 0; i = d->e[i - 1].next)
		if (memcmp(d->e[i - 1].key, key, 16) == 0)
			return &d->e[i - 1];
	return NULL;
}

/* Takes an entry off its chain and frees it; its ring slot stays until
 * the ring's head passes it. */
static void
dd_unlink(struct auth_dedupe *d, struct dd_entry *x)
{
	uint32_t *pp = dd_chain(d, x->key), self = (uint32_t)(x - d->e) + 1;

	while (*pp != 0 && *pp != self)
		pp = &d->e[*pp - 1].next;
	if (*pp == self)
		*pp = x->next;
	x->state = DD_FREE;
	x->next = 0;
}

static void
dd_pop(struct auth_dedupe *d)
{
	struct dd_entry *x = &d->e[d->head];

	if (x->state != DD_FREE)
		dd_unlink(d, x);
	d->head = (d->head + 1) % d->cap;
	d->used--;
}

static void
dd_expire(struct auth_dedupe *d, int64_t now)
{
	while (d->used > 0 && (d->e[d->head].state == DD_FREE ||
	    d->e[d->head].until <= now))
		dd_pop(d);
}

static void
dd_insert(struct auth_dedupe *d, const uint8_t key[16], int state,
    int64_t until)
{
	struct dd_entry *x;
	uint32_t *chain;

	if (d->used == d->cap)
		dd_pop(d);
	x = &d->e[(d->head + d->used) % d->cap];
	d->used++;
	memcpy(x->key, key, 16);
	x->until = until;
	x->state = (uint8_t)state;
	chain = dd_chain(d, key);
	x->next = *chain;
	*chain = (uint32_t)(x - d->e) + 1;
}

/* How strongly a live entry turns a request away: an accepted delivery
 * id (a redelivery) before an accepted MAC (a replay) before a claim in
 * flight. */
static enum auth_seen
dd_verdict(const struct dd_entry *x, bool mac)
{
	if (x->state == DD_DONE)
		return mac ? AUTH_REPLAY : AUTH_SEEN;
	return AUTH_BUSY;
}

static int
dd_rank(enum auth_seen s)
{
	switch (s) {
	case AUTH_SEEN:
		return 3;
	case AUTH_REPLAY:
		return 2;
	case AUTH_BUSY:
		return 1;
	case AUTH_NEW:
		break;
	}
	return 0;
}

/* Claims every key of c, or none of them: a replay under a new delivery
 * id must not leave that id behind. */
static enum auth_seen
dd_claim(struct auth_dedupe *d, const struct auth_claim *c, int64_t now,
    struct auth_claim **claim)
{
	enum auth_seen seen = AUTH_NEW, v;
	struct dd_entry *x;
	size_t i;

	*claim = NULL;
	if (c->n == 0)
		return AUTH_NEW;
	pthread_mutex_lock(&d->lock);
	dd_expire(d, now);
	for (i = 0; i < c->n; i++)
		if ((x = dd_find(d, c->k[i].key)) != NULL && x->until > now &&
		    dd_rank(v = dd_verdict(x, c->k[i].mac)) > dd_rank(seen))
			seen = v;
	for (i = 0; seen == AUTH_NEW && i < c->n; i++) {
		if ((x = dd_find(d, c->k[i].key)) != NULL)
			dd_unlink(d, x);	/* expired */
		dd_insert(d, c->k[i].key, DD_BUSY, now + c->k[i].window);
	}
	pthread_mutex_unlock(&d->lock);
	if (seen == AUTH_NEW) {
		*claim = xmalloc(sizeof **claim);
		**claim = *c;
	}
	return seen;
}

/*
 * How long a verified MAC is kept. A timestamp passes from tolerance
 * before now to tolerance after, in whole seconds: a replay can come up
 * to 2 x tolerance + 1 s after the first was let in, and one second more
 * covers the time from the check to the claim (the HMAC of the body).
 * With a tolerance of 0 timestamps are not checked, nothing bounds a
 * replay, and the MAC is kept as long as a delivery id.
 */
static int64_t
replay_window(const struct config *cfg)
{
	int64_t w = cfg->signature_tolerance_ms / 1000 * 2000 + 2000;

	if (cfg->signature_tolerance_ms == 0 || w < cfg->dedupe_window_ms)
		return cfg->dedupe_window_ms;
	return w;
}

enum auth_seen
auth_dedupe_claim_request(struct auth_dedupe *d, const struct config *cfg,
    const struct auth_request *r, const struct auth_macs *macs,
    int64_t now, struct auth_claim **claim)
{
	struct auth_claim c;
	int64_t mw = replay_window(cfg);
	const char *id;

	c.n = 0;
	if (cfg->dedupe_window_ms > 0 && (id = auth_delivery_id(r)) != NULL)
		dd_add_id(d, &c, id, cfg->dedupe_window_ms);
	if (mw > 0 && macs->cw)
		dd_add_mac(d, &c, "cw", macs->cw_mac, mw);
	if (mw > 0 && macs->wh)
		dd_add_mac(d, &c, "wh", macs->wh_mac, mw);
	return dd_claim(d, &c, now, claim);
}

enum auth_seen
auth_dedupe_claim(struct auth_dedupe *d, const char *id, int64_t now,
    int64_t window, struct auth_claim **claim)
{
	struct auth_claim c;

	c.n = 0;
	dd_add_id(d, &c, id, window);
	return dd_claim(d, &c, now, claim);
}

void
auth_dedupe_done(struct auth_dedupe *d, const struct auth_claim *c,
    bool accepted, int64_t now)
{
	struct dd_entry *x;
	size_t i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < c->n; i++) {
		x = dd_find(d, c->k[i].key);
		if (!accepted) {
			/* Only our own claim: had it expired in flight and
			 * another request been accepted since, that one
			 * stays. */
			if (x != NULL && x->state == DD_BUSY)
				dd_unlink(d, x);
		} else if (x != NULL) {
			x->state = DD_DONE;
			x->until = now + c->k[i].window;
		} else
			/* Pushed out by the cap while in flight: keep it
			 * now. */
			dd_insert(d, c->k[i].key, DD_DONE,
			    now + c->k[i].window);
	}
	pthread_mutex_unlock(&d->lock);
}

size_t
auth_dedupe_size(struct auth_dedupe *d)
{
	size_t i, n = 0;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->used; i++)
		if (d->e[(d->head + i) % d->cap].state != DD_FREE)
			n++;
	pthread_mutex_unlock(&d->lock);
	return n;
}
