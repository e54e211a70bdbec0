/* Secrets from the configuration (see secret.h). Every buffer that held
 * one is wiped before it is left. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "secret.h"
#include "util.h"

char *
secret_read(const char *path, char **err)
{
	char buf[4096], *line = NULL;
	struct stat st;
	size_t n;
	FILE *f = NULL;
	int fd;

	/* A regular file only, read with a bound: /dev/stdin would block
	 * the start-up and /dev/zero would eat the memory; opened without
	 * blocking, as a FIFO would block the open itself. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1 ||
	    fstat(fd, &st) == -1 || (f = fdopen(fd, "r")) == NULL) {
		*err = xasprintf("open %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("%s is not a regular file", path);
		goto out;
	}
	if (fgets(buf, sizeof buf, f) == NULL) {
		*err = xasprintf("%s is empty", path);
		goto out;
	}
	n = strlen(buf);
	if (n == sizeof buf - 1 && buf[n - 1] != '\n') {
		*err = xasprintf("%s: the secret is longer than %zu bytes",
		    path, sizeof buf - 2);
		goto out;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0)
		*err = xasprintf("%s is empty", path);
	else
		line = xstrdup(buf);
out:
	explicit_bzero(buf, sizeof buf);
	if (f != NULL)
		fclose(f);
	return line;
}

int
secret_whsec(const char *secret, struct secret_key *key)
{
	uint8_t buf[SECRET_KEY_MAX + 4];
	char in[(SECRET_KEY_MAX + 2) / 3 * 4 + 4];
	size_t len, pad = 0;
	int n;

	key->len = 0;
	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	len = strlen(secret);
	if (len < 4 || len % 4 != 0 || len > sizeof in - 1)
		return -1;
	memcpy(in, secret, len + 1);
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	explicit_bzero(in, sizeof in);
	if (n < 0 || (size_t)n <= pad || (size_t)n - pad > SECRET_KEY_MAX) {
		explicit_bzero(buf, sizeof buf);
		return -1;
	}
	key->len = (size_t)n - pad;
	memcpy(key->b, buf, key->len);
	explicit_bzero(buf, sizeof buf);
	return 0;
}
