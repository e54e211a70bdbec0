/* IPv4 and IPv6 addresses and CIDR lists (see netaddr.h). */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "util.h"

/* One network of a list: an address and how many leading bits count. */
struct netmask {
	struct netaddr	 addr;
	int		 bits;
};

struct netaddr_list {
	size_t		 n;
	struct netmask	 masks[];
};

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* ::ffff:a.b.c.d is a.b.c.d: peers reach a dual-stack socket that way. */
static void
unmap(struct netaddr *a)
{
	if (a->family == AF_INET6 && memcmp(a->a, v4mapped, 12) == 0) {
		memmove(a->a, a->a + 12, 4);
		memset(a->a + 4, 0, 12);
		a->family = AF_INET;
	}
}

int
netaddr_from_sockaddr(struct netaddr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof *a);
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		a->family = AF_INET;
		memcpy(a->a, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		a->family = AF_INET6;
		memcpy(a->a, &s6->sin6_addr, 16);
		unmap(a);
		return 0;
	}
	return -1;
}

/* inet_pton on len bytes (not NUL-terminated), IPv4 or IPv6. */
static int
pton(struct netaddr *a, const char *s, size_t len, bool v6)
{
	char buf[NETADDR_STRLEN];

	memset(a, 0, sizeof *a);
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	a->family = v6 ? AF_INET6 : AF_INET;
	if (inet_pton(a->family, buf, a->a) != 1) {
		a->family = 0;
		return -1;
	}
	unmap(a);
	return 0;
}

/* True when s[0..len) is ":" and 1 to 5 digits. */
static bool
is_port(const char *s, size_t len)
{
	size_t i;

	if (len < 2 || len > 6 || s[0] != ':')
		return false;
	for (i = 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int
netaddr_parse(struct netaddr *a, const char *s, size_t len)
{
	const char *close, *colon;

	memset(a, 0, sizeof *a);
	while (len > 0 && is_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	if (len == 0)
		return -1;
	if (s[0] == '[') {
		/* [v6] or [v6]:port */
		if ((close = memchr(s, ']', len)) == NULL)
			return -1;
		if ((size_t)(close + 1 - s) != len &&
		    !is_port(close + 1, len - (size_t)(close + 1 - s)))
			return -1;
		return pton(a, s + 1, (size_t)(close - s - 1), true);
	}
	colon = memchr(s, ':', len);
	if (colon == NULL)
		return pton(a, s, len, false);
	/* One colon: a.b.c.d:port; more: a bare IPv6 address. */
	if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
		if (!is_port(colon, len - (size_t)(colon - s)))
			return -1;
		return pton(a, s, (size_t)(colon - s), false);
	}
	return pton(a, s, len, true);
}

void
netaddr_format(const struct netaddr *a, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (a->family == 0 || inet_ntop(a->family, a->a, buf,
	    (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

bool
netaddr_equal(const struct netaddr *x, const struct netaddr *y)
{
	return x->family == y->family && x->family != 0 &&
	    memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

/* Parses one list entry, "ADDR" or "ADDR/BITS". Returns NULL or why not. */
static const char *
mask_parse(struct netmask *m, const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len, i, nbytes;
	int max, bits = 0;
	bool v6 = memchr(s, ':', alen) != NULL;

	if (pton(&m->addr, s, alen, v6) == -1)
		return "is not an IPv4 or IPv6 address";
	/* An IPv4-mapped entry was turned into IPv4 by pton. */
	max = m->addr.family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		m->bits = max;
		return NULL;
	}
	if (slash + 1 == s + len || len - alen - 1 > 3)
		return "has a bad prefix length after /";
	for (i = alen + 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return "has a bad prefix length after /";
		bits = bits * 10 + (s[i] - '0');
	}
	if (v6 && m->addr.family == AF_INET)
		bits -= 96;
	if (bits < 0 || bits > max)
		return "has a prefix length out of range (IPv4 /0 to /32, "
		    "IPv6 /0 to /128)";
	m->bits = bits;
	/* Host bits set are most likely a typo in a security rule. */
	nbytes = (size_t)max / 8;
	for (i = 0; i < nbytes; i++) {
		int keep = bits - (int)i * 8;
		uint8_t hostbits = keep >= 8 ? 0 : keep <= 0 ? 0xff :
		    (uint8_t)(0xff >> keep);

		if (m->addr.a[i] & hostbits)
			return "has bits set past its prefix length (write the "
			    "network address, e.g. 192.0.2.0/24)";
	}
	return NULL;
}

static bool
mask_match(const struct netmask *m, const struct netaddr *a)
{
	int full = m->bits / 8, rest = m->bits % 8;
	uint8_t hi;

	if (a->family != m->addr.family)
		return false;
	if (memcmp(a->a, m->addr.a, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	hi = (uint8_t)(0xff << (8 - rest));
	return (a->a[full] & hi) == (m->addr.a[full] & hi);
}

/* Steps to the next entry of a list; returns false at the end. */
static bool
next_entry(const char **p, const char **s, size_t *len)
{
	const char *q = *p;

	while (*q == ',' || is_blank(*q))
		q++;
	if (*q == '\0')
		return false;
	*s = q;
	while (*q != '\0' && *q != ',' && !is_blank(*q))
		q++;
	*len = (size_t)(q - *s);
	*p = q;
	return true;
}

struct netaddr_list *
netaddr_list_parse(const char *list, char **err)
{
	struct netaddr_list *nl;
	const char *p = list, *s, *why;
	size_t len, n = 0;
	char *entry, *shown;

	while (next_entry(&p, &s, &len))
		n++;
	nl = xmalloc(sizeof *nl + n * sizeof nl->masks[0]);
	nl->n = 0;
	for (p = list; next_entry(&p, &s, &len); nl->n++) {
		if ((why = mask_parse(&nl->masks[nl->n], s, len)) == NULL)
			continue;
		entry = xstrndup(s, len);
		shown = util_escape(entry, 64);
		*err = xasprintf("'%s' %s", shown, why);
		free(shown);
		free(entry);
		free(nl);
		return NULL;
	}
	return nl;
}

bool
netaddr_list_has(const struct netaddr_list *nl, const struct netaddr *a)
{
	size_t i;

	if (nl == NULL || a->family == 0)
		return false;
	for (i = 0; i < nl->n; i++)
		if (mask_match(&nl->masks[i], a))
			return true;
	return false;
}

void
netaddr_list_free(struct netaddr_list *nl)
{
	free(nl);
}

int
netaddr_list_check(const char *list, char **err)
{
	struct netaddr_list *nl = netaddr_list_parse(list, err);

	netaddr_list_free(nl);
	return nl == NULL ? -1 : 0;
}

bool
netaddr_list_match(const char *list, const struct netaddr *a)
{
	struct netmask m;
	const char *p = list, *s;
	size_t len;

	if (list == NULL || a->family == 0)
		return false;
	while (next_entry(&p, &s, &len))
		if (mask_parse(&m, s, len) == NULL && mask_match(&m, a))
			return true;
	return false;
}

/* ADDR:PORT or [ADDR6]:PORT, numeric, the port from 0 to 65535. */
int
netaddr_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned *len,
    char **err)
{
	struct addrinfo hints, *ai = NULL;
	const char *colon = strrchr(s, ':');
	char host[64];
	long long port;
	size_t hl;
	int rc;

	if (colon == NULL || colon == s || colon[1] == '\0')
		goto bad;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			goto bad;
		s++;
		hl -= 2;
	}
	if (hl >= sizeof host ||
	    util_parse_int(colon + 1, 0, 65535, &port) == -1)
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		*err = xasprintf("listen '%s': %s", s, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	*err = xasprintf("listen '%s': expected ADDR:PORT or [ADDR6]:PORT, "
	    "the port from 0 to 65535", s);
	return -1;
}
