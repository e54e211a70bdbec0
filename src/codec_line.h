/* What the JSON Lines codecs share (codec_archive.c, codec_persist.c): a
 * line of fields whose last member is a payload's own bytes, so that the
 * payload goes out as received rather than as jansson would write it. */
#ifndef CODEC_LINE_H
#define CODEC_LINE_H

#include <stddef.h>

#include <jansson.h>

/*
 * The line up to the payload's bytes, {...,"payload": (length in *len),
 * from o, an object whose last member is "payload": null: jansson dumps
 * it and the null and closing brace are cut off. The encoder writes it
 * and the decoder compares a line with it, so the two cannot drift apart.
 * Takes o's reference (NULL: returns NULL). NULL when jansson cannot.
 */
char	*codec_line_head(json_t *o, size_t *len);
/*
 * Ends head (hl bytes, malloc'd; taken) with the payload's rl bytes and
 * "}\n": the whole line, its length in *len. A line break in valid JSON
 * can only be whitespace between tokens: each becomes a space, and the
 * line stays one line.
 */
char	*codec_line_finish(char *head, size_t hl, const char *raw, size_t rl,
	    size_t *len);

#endif
