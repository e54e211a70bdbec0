/* The JSON Lines codecs' shared part: a head of fields dumped by jansson,
 * then the payload's bytes as received. */
#include <stdlib.h>
#include <string.h>

#include "codec_line.h"
#include "util.h"

/* The payload's stand-in while jansson dumps the head. */
#define STAND_IN	"null}"

char *
codec_line_head(json_t *o, size_t *len)
{
	size_t n, cut = strlen(STAND_IN);
	char *text;

	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	if (n < cut || strcmp(text + n - cut, STAND_IN) != 0) {
		free(text);
		return NULL;
	}
	*len = n - cut;
	text[*len] = '\0';
	return text;
}

char *
codec_line_finish(char *head, size_t hl, const char *raw, size_t rl,
    size_t *len)
{
	char *line, *p;
	size_t i;

	*len = hl + rl + 2;
	line = xrealloc(head, *len + 1);
	p = line + hl;
	for (i = 0; i < rl; i++)
		p[i] = raw[i] == '\n' || raw[i] == '\r' ? ' ' : raw[i];
	memcpy(p + rl, "}\n", 3);
	return line;
}
