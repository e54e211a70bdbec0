/* Escaping by context for the operator's page (see admin_esc.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_esc.h"
#include "util.h"

void
abuf_add(struct abuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
abuf_puts(struct abuf *b, const char *s)
{
	abuf_add(b, s, strlen(s));
}

void
abuf_printf(struct abuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	abuf_puts(b, s);
	free(s);
}

void
abuf_free(struct abuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* The length of the valid UTF-8 sequence at p (no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0. */
size_t
admin_esc_utf8_len(const unsigned char *p)
{
	size_t n, i;
	unsigned long cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void
admin_esc_html(struct abuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	if (s == NULL)
		return;
	while (*p != '\0') {
		switch (*p) {
		case '&': abuf_puts(b, "&amp;"); p++; continue;
		case '<': abuf_puts(b, "&lt;"); p++; continue;
		case '>': abuf_puts(b, "&gt;"); p++; continue;
		case '"': abuf_puts(b, "&quot;"); p++; continue;
		case '\'': abuf_puts(b, "&#39;"); p++; continue;
		case '\t': case '\n': abuf_add(b, (const char *)p, 1); p++;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			abuf_puts(b, "\xef\xbf\xbd");
			p++;
			continue;
		}
		if (*p < 0x80) {
			abuf_add(b, (const char *)p, 1);
			p++;
			continue;
		}
		/* One valid UTF-8 sequence, or U+FFFD for a bad byte. */
		if ((n = admin_esc_utf8_len(p)) == 0) {
			abuf_puts(b, "\xef\xbf\xbd");
			p++;
			continue;
		}
		abuf_add(b, (const char *)p, n);
		p += n;
	}
}

void
admin_esc_fix_utf8(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		if (*p < 0x80)
			p++;
		else if ((n = admin_esc_utf8_len(p)) > 0)
			p += n;
		else
			*p++ = '?';
	}
}

void
admin_esc_url(struct abuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char e[3];

	if (s == NULL)
		return;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~') {
			abuf_add(b, (const char *)p, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 15];
		abuf_add(b, e, 3);
	}
}
