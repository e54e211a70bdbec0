/* libFuzzer harness for the configuration parser: any bytes, as the
 * configuration file (config_load reads a path, so the input goes to a
 * private temporary file first). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char path[64];

static void
remove_file(void)
{
	unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *err = NULL;
	FILE *f, *out;

	if (path[0] == '\0') {
		snprintf(path, sizeof path, "/tmp/ld-fuzz-config.%ld.conf",
		    (long)getpid());
		atexit(remove_file);
	}
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		fprintf(stderr, "fuzz_config: write %s: %s\n", path,
		    strerror(errno));
		abort();
	}
	cfg = config_load(path, &err);
	if (cfg != NULL) {
		/* What --check-config prints must hold up too. */
		if ((out = fopen("/dev/null", "w")) != NULL) {
			config_print(cfg, out);
			fclose(out);
		}
		(void)config_log_prio(cfg);
	}
	config_free(cfg);
	free(err);
	return 0;
}
