/* IPv4 and IPv6 addresses and lists of networks (CIDR): parsing, matching,
 * printing. Pure functions: no allocation except for error messages. */
#ifndef NETADDR_H
#define NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* INET6_ADDRSTRLEN, without pulling in <netinet/in.h>. */
#define NETADDR_STRLEN	46

struct netaddr {
	int	 family;	/* AF_INET or AF_INET6; 0: none */
	uint8_t	 a[16];		/* network order; 4 bytes used for AF_INET */
};

/* From a socket address; an IPv4-mapped IPv6 address becomes IPv4, so that
 * one rule matches both forms. Returns -1 for other families. */
int	 netaddr_from_sockaddr(struct netaddr *, const struct sockaddr *);
/*
 * Parses the len bytes at s as one numeric address, as it may appear in
 * X-Forwarded-For: "192.0.2.1", "2001:db8::1", "[2001:db8::1]",
 * "192.0.2.1:443", "[2001:db8::1]:443". Surrounding blanks are ignored.
 * Returns -1 when it is not an address.
 */
int	 netaddr_parse(struct netaddr *, const char *s, size_t len);
/* "192.0.2.1" or "2001:db8::1" into buf (NETADDR_STRLEN bytes or more). */
void	 netaddr_format(const struct netaddr *, char *buf, size_t len);
bool	 netaddr_equal(const struct netaddr *, const struct netaddr *);

/*
 * A list of networks, as written in the configuration: addresses or CIDRs
 * separated by commas and/or blanks ("10.0.0.0/8, 2001:db8::/32 ::1").
 * Returns -1 with *err naming the first bad entry and why.
 */
int	 netaddr_list_check(const char *list, char **err);
/* True when a is inside one of the list's networks. Entries that do not
 * parse never match (netaddr_list_check refused them at load time). */
bool	 netaddr_list_match(const char *list, const struct netaddr *a);

#endif
