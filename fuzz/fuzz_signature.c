/*
 * libFuzzer harness for the signature checks and the address parsing
 * around them. The input is split at the first five newlines into a
 * secret, a signature header, a timestamp, a webhook-id and an address
 * list; the rest is the body. Both schemes run on it, then the client
 * address logic with the list as trusted proxies and X-Forwarded-For,
 * and what passes goes through the redelivery set twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "netaddr.h"

#define NFIELDS 5

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A request accepted is never new again within its window. */
static void
dedupe_twice(const struct config *cfg, const struct auth_request *r,
    const struct auth_macs *macs)
{
	struct auth_dedupe *d = auth_dedupe_new(8);
	struct auth_claim *c = NULL, *again = NULL;

	if (auth_dedupe_claim_request(d, cfg, r, macs, 0, &c) != AUTH_NEW)
		abort();
	auth_dedupe_done(d, c, true, 1);
	if (c != NULL && auth_dedupe_claim_request(d, cfg, r, macs, 2,
	    &again) == AUTH_NEW)
		abort();
	free(c);
	free(again);
	auth_dedupe_free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *f[NFIELDS], *p, *nl, *err = NULL;
	const char *body, *why = NULL;
	struct auth_request r;
	struct config cfg;
	struct netaddr a;
	size_t blen;
	int i;

	/* A private copy: the fields must be NUL-terminated. */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	p = copy;
	for (i = 0; i < NFIELDS; i++) {
		f[i] = p;
		if ((nl = memchr(p, '\n', size - (size_t)(p - copy))) != NULL) {
			*nl = '\0';
			p = nl + 1;
		} else
			p = copy + size;
	}
	body = p;
	blen = size - (size_t)(p - copy);

	(void)auth_verify_chatwoot(f[0], f[1], f[2], 1700000000, 300000, body,
	    blen, &why, NULL);
	(void)auth_verify_chatwoot(f[0], f[1], f[2], 1700000000, 0, body,
	    blen, &why, NULL);
	(void)auth_verify_standard(f[0], f[3], f[2], f[1], 1700000000, 0,
	    body, blen, &why, NULL);

	if (netaddr_list_check(f[4], &err) == -1)
		free(err);
	(void)netaddr_parse(&a, f[4], strlen(f[4]));
	memset(&cfg, 0, sizeof cfg);
	cfg.trusted_proxies = f[4];
	cfg.allow_from = f[4];
	cfg.token = f[0];
	cfg.signature_secret = *f[0] ? f[0] : NULL;
	cfg.standard_webhooks_secret = *f[0] ? f[0] : NULL;
	cfg.signature_tolerance_ms = 300000;
	cfg.dedupe_window_ms = 600000;
	memset(&r, 0, sizeof r);
	(void)netaddr_parse(&r.peer, f[3], strlen(f[3]));
	r.forwarded_for = body;
	r.real_ip = f[3];
	r.path_token = f[1];
	r.cw_signature = f[1];
	r.cw_timestamp = f[2];
	r.wh_id = f[3];
	r.wh_timestamp = f[2];
	r.wh_signature = f[1];
	r.now = 1700000000;
	{
		struct auth_refusal no;
		struct auth_macs macs;
		struct netaddr client;
		bool ok = auth_client(&cfg, &r, &client) == 0;

		(void)auth_check_headers(&cfg, &r, &client, ok, &no);
		if (auth_check_body(&cfg, &r, body, blen, &macs, &no) == 0)
			dedupe_twice(&cfg, &r, &macs);
		(void)auth_delivery_id(&r);
	}
	free(copy);
	return 0;
}
