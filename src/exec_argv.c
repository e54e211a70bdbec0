/* A command line split into words as sh would, without a shell. */
#include <stdlib.h>
#include <string.h>

#include "exec_argv.h"
#include "util.h"

void
exec_argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

char **
exec_argv_parse(const char *s, char **err)
{
	char **argv = NULL, *word = xmalloc(strlen(s) + 1);
	const char *p = s, *end;
	size_t argc = 0, len;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		len = 0;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r') {
			if (*p == '\'') {
				if ((end = strchr(p + 1, '\'')) == NULL) {
					*err = xstrdup("unterminated ' quote");
					goto fail;
				}
				memcpy(word + len, p + 1, (size_t)(end - p - 1));
				len += (size_t)(end - p - 1);
				p = end + 1;
			} else if (*p == '"') {
				for (p++; *p != '"'; p++) {
					if (*p == '\0') {
						*err = xstrdup("unterminated \" "
						    "quote");
						goto fail;
					}
					if (*p == '\\' && p[1] != '\0' &&
					    strchr("\"\\$`", p[1]) != NULL)
						p++;
					word[len++] = *p;
				}
				p++;
			} else if (*p == '\\') {
				if (p[1] == '\0') {
					*err = xstrdup("backslash at the end");
					goto fail;
				}
				word[len++] = p[1];
				p += 2;
			} else if (strchr("|&;<>`", *p) != NULL) {
				*err = xasprintf("unquoted '%c': the command "
				    "is not run by a shell (quote it, or use "
				    "/bin/sh -c '...')", *p);
				goto fail;
			} else
				word[len++] = *p++;
		}
		argv = xreallocarray(argv, argc + 2, sizeof *argv);
		argv[argc++] = xstrndup(word, len);
		argv[argc] = NULL;
	}
	if (argc == 0) {
		*err = xstrdup("empty command");
		goto fail;
	}
	free(word);
	return argv;
fail:
	free(word);
	exec_argv_free(argv);
	return NULL;
}
