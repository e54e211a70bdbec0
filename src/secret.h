/* Secrets from the configuration: read from a file with a bound, and the
 * key a Standard Webhooks secret stands for, decoded. */
#ifndef SECRET_H
#define SECRET_H

#include <stddef.h>
#include <stdint.h>

/* A Standard Webhooks secret: 24 to 64 random bytes; some room beyond. */
#define SECRET_KEY_MAX	128

/* The HMAC key of a Standard Webhooks secret. */
struct secret_key {
	size_t	 len;
	uint8_t	 b[SECRET_KEY_MAX];
};

/* The first line of a regular file, without its newline (a secret of at
 * most 4094 bytes). NULL with *err. */
char	*secret_read(const char *path, char **err);
/* Decodes "whsec_" (which may be left out) followed by the base64 of 1 to
 * SECRET_KEY_MAX bytes. -1 when the secret is not that; the message that
 * says so is the caller's, as it must not hold the secret. */
int	 secret_whsec(const char *secret, struct secret_key *);

#endif
