/* The persistent exec handler's JSON Lines, encoded and decoded side by
 * side (see codec_persist.h for the layout). */
#include <stdlib.h>
#include <string.h>

#include "codec_line.h"
#include "codec_persist.h"
#include "util.h"

#define ENV_PREFIX	"LIVEDESK_"

/* The env object of a NULL-ended "KEY=VALUE" array: its LIVEDESK_* ones.
 * NULL when a value is not UTF-8 (never so for the daemon's own). */
static json_t *
env_object(char *const *env)
{
	json_t *o = json_object(), *v;
	const char *eq;
	char *key;
	int rc;

	if (o == NULL)
		return NULL;
	for (; env != NULL && *env != NULL; env++) {
		if (strncmp(*env, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 ||
		    (eq = strchr(*env, '=')) == NULL)
			continue;
		key = xstrndup(*env, (size_t)(eq - *env));
		v = json_string(eq + 1);
		rc = v == NULL ? -1 : json_object_set_new(o, key, v);
		free(key);
		if (rc == -1) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* The line up to the payload's bytes, {"delivery_id":...,"payload":
 * (codec_line_head). Takes env's reference. NULL when jansson cannot. */
static char *
head(const char *delivery_id, const char *event, json_t *env, size_t *len)
{
	if (env == NULL)
		return NULL;
	return codec_line_head(json_pack("{s:s, s:s, s:o, s:n}", "delivery_id",
	    delivery_id, "event", event, "env", env, "payload"), len);
}

char *
codec_persist_encode(const struct ld_event *ev, char *const *env,
    size_t *len)
{
	const char *raw = ev->raw != NULL ? ev->raw : "null";
	size_t rl = ev->raw != NULL ? ev->raw_len : 4, hl;
	char *line;

	if ((line = head(ev->delivery_id, ev->name, env_object(env), &hl)) ==
	    NULL)
		return NULL;
	return codec_line_finish(line, hl, raw, rl, len);
}

struct ld_event *
codec_persist_decode(const char *line, size_t len, int max_depth,
    json_t **env, char **err)
{
	struct ld_event *ev = NULL;
	struct ld_event_error perr;
	const json_t *id, *name, *e;
	char *h = NULL;
	size_t hl, end = len;
	json_t *o;

	if ((o = ld_event_json_load(line, len, &perr)) == NULL) {
		*err = xasprintf("not an event line: %s", perr.text);
		return NULL;
	}
	id = json_object_get(o, "delivery_id");
	name = json_object_get(o, "event");
	e = json_object_get(o, "env");
	if (!json_is_object(o) || json_object_size(o) != 4 ||
	    !json_is_string(id) || !json_is_string(name) ||
	    !json_is_object(e) || json_object_get(o, "payload") == NULL ||
	    json_string_length(id) >= sizeof ev->delivery_id) {
		*err = xstrdup("not an event line: not the four keys "
		    "delivery_id, event, env and payload");
		goto fail;
	}
	/* The payload's own bytes: what follows the head as the encoder
	 * writes it, up to the closing brace. */
	json_incref((json_t *)e);
	if ((h = head(json_string_value(id), json_string_value(name),
	    (json_t *)e, &hl)) == NULL || hl >= len ||
	    memcmp(line, h, hl) != 0) {
		*err = xstrdup("not an event line as the daemon writes it");
		goto fail;
	}
	while (end > hl && (line[end - 1] == '\n' || line[end - 1] == ' '))
		end--;
	if (end <= hl || line[end - 1] != '}') {
		*err = xstrdup("not an event line: no closing brace");
		goto fail;
	}
	if ((ev = ld_event_parse(line + hl, end - 1 - hl, max_depth,
	    &perr)) == NULL) {
		*err = xasprintf("payload: %s", perr.text);
		goto fail;
	}
	memcpy(ev->delivery_id, json_string_value(id),
	    json_string_length(id) + 1);
	*env = json_incref((json_t *)e);
fail:
	free(h);
	json_decref(o);
	return ev;
}

char *
codec_persist_answer_encode(bool ok, const char *error,
    const char *delivery_id, size_t *len)
{
	json_t *o = json_pack("{s:b}", "ok", ok);
	char *text, *line;

	if (o == NULL)
		return NULL;
	if ((error != NULL && json_object_set_new(o, "error",
	    json_string(error)) == -1) || (delivery_id != NULL &&
	    json_object_set_new(o, "delivery_id",
	    json_string(delivery_id)) == -1) ||
	    (text = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_decref(o);
	line = xasprintf("%s\n", text);
	free(text);
	*len = strlen(line);
	return line;
}

int
codec_persist_answer_decode(const char *line, size_t len,
    const char *delivery_id, struct codec_persist_answer *a, char **err)
{
	const json_t *ok, *error, *id;
	json_error_t jerr;
	const char *s;
	size_t n;
	json_t *o;

	memset(a, 0, sizeof *a);
	if (len > CODEC_PERSIST_ANSWER_MAX) {
		*err = xasprintf("longer than %d bytes",
		    CODEC_PERSIST_ANSWER_MAX);
		return -1;
	}
	if ((o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		*err = xasprintf("not JSON (%s)", jerr.text);
		return -1;
	}
	ok = json_object_get(o, "ok");
	error = json_object_get(o, "error");
	id = json_object_get(o, "delivery_id");
	if (!json_is_object(o) || !json_is_boolean(ok)) {
		*err = xstrdup("not an object with \"ok\": true or false");
		goto fail;
	}
	if (error != NULL && !json_is_string(error) && !json_is_null(error)) {
		*err = xstrdup("\"error\" is not a string");
		goto fail;
	}
	if (id != NULL && (!json_is_string(id) ||
	    strcmp(json_string_value(id), delivery_id) != 0)) {
		*err = xstrdup("its \"delivery_id\" is not the event's");
		goto fail;
	}
	a->ok = json_is_true(ok);
	if ((s = json_string_value(error)) != NULL) {
		n = json_string_length(error);
		if (n >= sizeof a->error)
			n = util_utf8_cut(s, sizeof a->error - 1);
		memcpy(a->error, s, n);
		a->error[n] = '\0';
	}
	json_decref(o);
	return 0;
fail:
	json_decref(o);
	return -1;
}
