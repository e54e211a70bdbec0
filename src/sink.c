/* The table of sink types. Adding a sink: one file, one line here. */
#include <string.h>

#include "livedesk/sink.h"

extern const struct sink_ops sink_log_ops;
extern const struct sink_ops sink_file_ops;
extern const struct sink_ops sink_exec_ops;
extern const struct sink_ops sink_redis_ops;

const struct sink_ops *const sink_types[] = {
	&sink_log_ops,
	&sink_file_ops,
	&sink_exec_ops,
	&sink_redis_ops,
	NULL,
};

const struct sink_ops *
sink_find(const char *type)
{
	size_t i;

	for (i = 0; sink_types[i] != NULL; i++)
		if (strcmp(sink_types[i]->type, type) == 0)
			return sink_types[i];
	return NULL;
}
