/*
 * The operator's page: a growing text buffer and the escaping of
 * attacker-controlled text (every payload field is) by the context it
 * goes into. One module, so that each context is escaped one way.
 */
#ifndef ADMIN_ESC_H
#define ADMIN_ESC_H

#include <stddef.h>

struct abuf {
	char	*s;
	size_t	 len, cap;
};

void	 abuf_add(struct abuf *, const char *s, size_t n);
void	 abuf_puts(struct abuf *, const char *s);
void	 abuf_printf(struct abuf *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 abuf_free(struct abuf *);

/* HTML text and quoted attribute values: & < > " ' as references; bytes
 * that are not UTF-8, and control characters but tab and newline, as
 * U+FFFD. NULL adds nothing. */
void	 admin_esc_html(struct abuf *, const char *s);
/* The length of the valid UTF-8 sequence at p (a lead byte >= 0x80), or
 * 0: overlong forms, surrogates and what is past U+10FFFF are not. */
size_t	 admin_esc_utf8_len(const unsigned char *p);
/* Replaces each byte of s that is not valid UTF-8 by '?', in place (for
 * JSON, which takes only UTF-8). */
void	 admin_esc_fix_utf8(char *s);
/* A URL query value or path segment: all but A-Z a-z 0-9 - . _ ~ as %XX. */
void	 admin_esc_url(struct abuf *, const char *s);

#endif
