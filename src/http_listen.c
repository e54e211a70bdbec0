/* The sockets the HTTP front serves: the listen address parsed and bound,
 * or the ones systemd passed (socket activation). */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "http_int.h"
#include "netaddr.h"
#include "util.h"

/* Binds listen_on and listens; the address bound (the port the kernel
 * chose for port 0) goes into address. Returns -1 with *err. */
static int
bind_listen(const char *listen_on, char *address, size_t alen, char **err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned len;
	int fd, one = 1;
	char host[INET6_ADDRSTRLEN];

	if (netaddr_parse_listen(listen_on, &ss, &len, err) == -1)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		*err = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof one) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 1024) == -1) {
		*err = xasprintf("listen on %s: %s", listen_on,
		    strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
			snprintf(address, alen, "[%s]:%u", host,
			    ntohs(a6->sin6_port));
		} else {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
			snprintf(address, alen, "%s:%u", host,
			    ntohs(a4->sin_port));
		}
	}
	return fd;
}

int
http_listen_socket(const char *listen_on, int first_fd, int n_fds, int i,
    char *address, size_t alen, char **err)
{
	if (n_fds > 0) {
		snprintf(address, alen, "socket activation (%d socket%s)",
		    n_fds, n_fds == 1 ? "" : "s");
		return first_fd + i;
	}
	return bind_listen(listen_on, address, alen, err);
}
