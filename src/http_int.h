/* What the HTTP front's files (http*.c) share and no other module needs. */
#ifndef HTTP_INT_H
#define HTTP_INT_H

#include <stddef.h>

/* http_listen.c */
/*
 * The socket the i-th daemon serves: with n_fds > 0 the one systemd
 * passed (first_fd + i), else listen_on, bound here. Writes what is
 * served into address. Returns -1 with *err.
 */
int	 http_listen_socket(const char *listen_on, int first_fd, int n_fds,
	    int i, char *address, size_t alen, char **err);

#endif
