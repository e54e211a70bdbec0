/* IPv4 and IPv6 addresses and lists of networks (CIDR): parsing, matching,
 * printing. Nothing is allocated but a parsed list and error messages. */
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
 * separated by commas and/or blanks ("10.0.0.0/8, 2001:db8::/32 ::1"),
 * parsed once (when the configuration loads) and matched per connection.
 * Returns NULL with *err naming the first bad entry and why.
 */
struct netaddr_list;

struct netaddr_list *netaddr_list_parse(const char *list, char **err);
/* True when a is inside one of the list's networks; false for NULL. */
bool	 netaddr_list_has(const struct netaddr_list *, const struct netaddr *a);
void	 netaddr_list_free(struct netaddr_list *);	/* NULL is a no-op */

/* The same on the text of a list, parsed at each call (for a list that
 * is not kept). netaddr_list_check returns -1 with *err; in
 * netaddr_list_match entries that do not parse never match. */
int	 netaddr_list_check(const char *list, char **err);
bool	 netaddr_list_match(const char *list, const struct netaddr *a);

/* Parses a listen address, "ADDR:PORT" or "[ADDR6]:PORT" (numeric, the
 * port from 0 to 65535). Returns -1 with *err. */
struct sockaddr_storage;
int	 netaddr_parse_listen(const char *, struct sockaddr_storage *,
	    unsigned *len, char **err);

#endif
