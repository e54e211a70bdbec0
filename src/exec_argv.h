/* A command line split into words as sh would, without a shell. */
#ifndef EXEC_ARGV_H
#define EXEC_ARGV_H

/*
 * Splits a command into words the way sh would, without expanding anything:
 * 'single quotes', "double quotes" with \" \\ \$ \` escapes, and backslash
 * outside quotes. Shell operators outside quotes are refused: nothing here
 * runs a shell, so they would only become surprising arguments. Returns a
 * NULL-ended array, or NULL with *err (malloc'd).
 */
char	**exec_argv_parse(const char *, char **err);
void	  exec_argv_free(char **);	/* NULL is a no-op */

#endif
