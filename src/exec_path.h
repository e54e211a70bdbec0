/* Finding the program as execvp would, without a shell, and checking the
 * directory it runs in. */
#ifndef EXEC_PATH_H
#define EXEC_PATH_H

/* Whether path is a file we may execute; -1 with errno if not. */
int	 exec_path_can_exec(const char *path);
/* Whether path is a directory; -1 with errno if not. */
int	 exec_path_is_dir(const char *path);
/*
 * Finds the program as execvp would: a name with a slash as it is (relative
 * to workdir, where it runs), else the first executable in path. Returns a
 * malloc'd path, or NULL with errno (EACCES when one was found but could not
 * be run, as execvp says).
 */
char	*exec_path_resolve(const char *prog, const char *path,
	    const char *workdir);
/* Why the program cannot be found (err from exec_path_resolve), as "NAME:
 * reason"; malloc'd. */
char	*exec_path_error(const char *prog, const char *path, int err);

#endif
