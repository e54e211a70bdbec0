/* Finding the program as execvp would, without a shell, and checking the
 * directory it runs in. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_path.h"
#include "util.h"

int
exec_path_can_exec(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EACCES;
		return -1;
	}
	return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS);
}

int
exec_path_is_dir(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

char *
exec_path_resolve(const char *prog, const char *path, const char *workdir)
{
	const char *p, *end;
	char *cand;
	int saved = ENOENT;

	if (strchr(prog, '/') != NULL) {
		cand = prog[0] == '/' ? xstrdup(prog) :
		    xasprintf("%s/%s", workdir, prog);
		if (exec_path_can_exec(cand) == 0)
			return cand;
		saved = errno;
		free(cand);
		errno = saved;
		return NULL;
	}
	for (p = path; *p != '\0'; p = *end == ':' ? end + 1 : end) {
		end = strchrnul(p, ':');
		/* Empty or relative entries would depend on the cwd. */
		if (*p != '/')
			continue;
		cand = xasprintf("%.*s/%s", (int)(end - p), p, prog);
		if (exec_path_can_exec(cand) == 0)
			return cand;
		if (errno == EACCES)
			saved = EACCES;
		free(cand);
	}
	errno = saved;
	return NULL;
}

char *
exec_path_error(const char *prog, const char *path, int err)
{
	if (strchr(prog, '/') == NULL && err == ENOENT)
		return xasprintf("%s: not found in PATH (%s)", prog, path);
	return xasprintf("%s: %s", prog, strerror(err));
}
