/* WhatsApp templates: options collected into the vendor's template_params. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send/send.h"

enum header_kind {
	HEADER_NONE,
	HEADER_TEXT,
	HEADER_IMAGE,
	HEADER_VIDEO,
	HEADER_DOCUMENT,
	HEADER_LOCATION,
};

static const char *const header_types[] = {
	[HEADER_NONE] = NULL,
	[HEADER_TEXT] = "text",
	[HEADER_IMAGE] = "image",
	[HEADER_VIDEO] = "video",
	[HEADER_DOCUMENT] = "document",
	[HEADER_LOCATION] = "location",
};

static const char *const header_opts[] = {
	[HEADER_NONE] = NULL,
	[HEADER_TEXT] = "--header-text",
	[HEADER_IMAGE] = "--header-image",
	[HEADER_VIDEO] = "--header-video",
	[HEADER_DOCUMENT] = "--header-document",
	[HEADER_LOCATION] = "--header-location",
};

struct template {
	bool		 used;
	json_t		*name;		/* JSON strings, NULL until given */
	json_t		*language;
	json_t		*namespace_;
	json_t		*category;
	json_t		*params;	/* processed_params, NULL if none */
	enum header_kind header;
	json_t		*header_vars;	/* text header's text_variables */
	json_t		*media_url;
	json_t		*filename;
	json_t		*location;
	json_t		*footer_vars;
	json_t		*buttons;	/* button_params, NULL if none */
};

struct template *
template_new(void)
{
	return calloc(1, sizeof(struct template));
}

void
template_free(struct template *t)
{
	if (t == NULL)
		return;
	json_decref(t->name);
	json_decref(t->language);
	json_decref(t->namespace_);
	json_decref(t->category);
	json_decref(t->params);
	json_decref(t->header_vars);
	json_decref(t->media_url);
	json_decref(t->filename);
	json_decref(t->location);
	json_decref(t->footer_vars);
	json_decref(t->buttons);
	free(t);
}

bool
template_used(const struct template *t)
{
	return t->used;
}

/* A JSON string of s, which must be UTF-8 and (unless may_be_empty) not "". */
static json_t *
utf8_string(const char *s, size_t len, bool may_be_empty, const char *opt,
    char *err, size_t errlen)
{
	json_t *j;

	if (len == 0 && !may_be_empty) {
		snprintf(err, errlen, "%s: empty value", opt);
		return NULL;
	}
	j = json_stringn(s, len);
	if (j == NULL)
		snprintf(err, errlen, "%s: not valid UTF-8 (or holds a NUL)",
		    opt);
	return j;
}

/* Sets a once-only string field. */
static int
set_once(json_t **field, const char *arg, const char *opt, char *err,
    size_t errlen)
{
	if (*field != NULL) {
		snprintf(err, errlen, "%s given twice", opt);
		return -1;
	}
	*field = utf8_string(arg, strlen(arg), false, opt, err, errlen);
	return *field == NULL ? -1 : 0;
}

/* Adds KEY=VALUE to the object *vars (created on first use). */
static int
add_var(json_t **vars, const char *arg, const char *opt, char *err,
    size_t errlen)
{
	const char *eq = strchr(arg, '=');
	json_t *key = NULL, *val = NULL;
	int rc = -1;

	if (eq == NULL || eq == arg) {
		snprintf(err, errlen, "%s: expected KEY=VALUE, got \"%s\"", opt,
		    arg);
		return -1;
	}
	if ((key = utf8_string(arg, (size_t)(eq - arg), false, opt, err,
	    errlen)) == NULL)
		goto fail;
	if ((val = utf8_string(eq + 1, strlen(eq + 1), false, opt, err,
	    errlen)) == NULL)
		goto fail;
	if (*vars == NULL && (*vars = json_object()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (json_object_get(*vars, json_string_value(key)) != NULL) {
		snprintf(err, errlen, "%s: %s given twice", opt,
		    json_string_value(key));
		goto fail;
	}
	if (json_object_set(*vars, json_string_value(key), val) == -1) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = 0;
fail:
	json_decref(key);
	json_decref(val);
	return rc;
}

/* Claims the one header a template may have. */
static int
set_header(struct template *t, enum header_kind kind, char *err,
    size_t errlen)
{
	if (t->header != HEADER_NONE && t->header != kind) {
		snprintf(err, errlen, "%s and %s: a template has one header",
		    header_opts[t->header], header_opts[kind]);
		return -1;
	}
	if (t->header == kind && kind != HEADER_TEXT) {
		snprintf(err, errlen, "%s given twice", header_opts[kind]);
		return -1;
	}
	t->header = kind;
	return 0;
}

/* A finite number within [-limit, limit], from the whole of s. */
static int
parse_coord(const char *s, size_t len, double limit, double *out)
{
	char buf[64], *end;

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtod(buf, &end);
	if (errno != 0 || *end != '\0' || !isfinite(*out) ||
	    fabs(*out) > limit)
		return -1;
	/* Hexadecimal, "inf" and "nan" are not coordinates. */
	if (strpbrk(buf, "xXiInN") != NULL)
		return -1;
	return 0;
}

/* LAT,LON[,NAME[,ADDRESS]]: the address may itself hold commas. */
static int
set_location(struct template *t, const char *arg, char *err, size_t errlen)
{
	const char *opt = "--header-location";
	const char *c1, *c2, *c3;
	double lat, lon;
	json_t *loc, *s;

	c1 = strchr(arg, ',');
	c2 = c1 != NULL ? strchr(c1 + 1, ',') : NULL;
	if (c2 == NULL)
		c2 = arg + strlen(arg);
	if (c1 == NULL || parse_coord(arg, (size_t)(c1 - arg), 90, &lat) ==
	    -1 || parse_coord(c1 + 1, (size_t)(c2 - c1 - 1), 180, &lon) ==
	    -1) {
		snprintf(err, errlen, "%s: expected LAT,LON[,NAME[,ADDRESS]] "
		    "with latitude in [-90,90] and longitude in [-180,180], "
		    "got \"%s\"", opt, arg);
		return -1;
	}
	if ((loc = json_object()) == NULL)
		goto oom;
	if (json_object_set_new(loc, "latitude", json_real(lat)) == -1 ||
	    json_object_set_new(loc, "longitude", json_real(lon)) == -1)
		goto oom;
	if (*c2 == ',') {
		c3 = strchr(c2 + 1, ',');
		if (c3 == NULL)
			c3 = c2 + strlen(c2);
		if ((s = utf8_string(c2 + 1, (size_t)(c3 - c2 - 1), false, opt,
		    err, errlen)) == NULL)
			goto fail;
		if (json_object_set_new(loc, "name", s) == -1)
			goto oom;
		if (*c3 == ',') {
			if ((s = utf8_string(c3 + 1, strlen(c3 + 1), false,
			    opt, err, errlen)) == NULL)
				goto fail;
			if (json_object_set_new(loc, "address", s) == -1)
				goto oom;
		}
	}
	t->location = loc;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	json_decref(loc);
	return -1;
}

/* INDEX=TEXT for a url button, INDEX=PAYLOAD for a quick_reply button. */
static int
add_button(struct template *t, bool url, const char *arg, char *err,
    size_t errlen)
{
	const char *opt = url ? "--button-url" : "--button-reply";
	const char *eq = strchr(arg, '='), *p;
	json_t *b = NULL, *val = NULL;
	size_t i;
	long index = 0;

	if (eq == NULL || eq == arg || eq - arg > 4)
		goto usage;
	for (p = arg; p < eq; p++) {
		if (*p < '0' || *p > '9')
			goto usage;
		index = index * 10 + (*p - '0');
	}
	if (t->buttons == NULL && (t->buttons = json_array()) == NULL)
		goto oom;
	for (i = 0; i < json_array_size(t->buttons); i++) {
		json_t *old = json_object_get(json_array_get(t->buttons, i),
		    "index");

		if (json_integer_value(old) == index) {
			snprintf(err, errlen, "%s: button %ld given twice", opt,
			    index);
			return -1;
		}
	}
	if ((val = utf8_string(eq + 1, strlen(eq + 1), false, opt, err,
	    errlen)) == NULL)
		return -1;
	if ((b = json_object()) == NULL)
		goto oom;
	if (json_object_set_new(b, "index", json_integer(index)) == -1 ||
	    json_object_set_new(b, "sub_type",
	    json_string(url ? "url" : "quick_reply")) == -1 ||
	    json_object_set(b, url ? "text" : "payload", val) == -1 ||
	    json_array_append(t->buttons, b) == -1)
		goto oom;
	json_decref(b);
	json_decref(val);
	return 0;
usage:
	snprintf(err, errlen, "%s: expected INDEX=%s with INDEX a button "
	    "number from 0, got \"%s\"", opt, url ? "TEXT" : "PAYLOAD", arg);
	return -1;
oom:
	snprintf(err, errlen, "out of memory");
	json_decref(b);
	json_decref(val);
	return -1;
}

int
template_add(struct template *t, enum template_opt opt, const char *arg,
    char *err, size_t errlen)
{
	t->used = true;
	switch (opt) {
	case TEMPLATE_NAME:
		return set_once(&t->name, arg, "--template", err, errlen);
	case TEMPLATE_LANGUAGE:
		return set_once(&t->language, arg, "--language", err, errlen);
	case TEMPLATE_NAMESPACE:
		return set_once(&t->namespace_, arg, "--namespace", err,
		    errlen);
	case TEMPLATE_CATEGORY:
		return set_once(&t->category, arg, "--category", err, errlen);
	case TEMPLATE_PARAM:
		return add_var(&t->params, arg, "--param", err, errlen);
	case TEMPLATE_HEADER_TEXT:
		if (set_header(t, HEADER_TEXT, err, errlen) == -1)
			return -1;
		return add_var(&t->header_vars, arg, "--header-text", err,
		    errlen);
	case TEMPLATE_HEADER_IMAGE:
	case TEMPLATE_HEADER_VIDEO:
	case TEMPLATE_HEADER_DOCUMENT: {
		enum header_kind k = opt == TEMPLATE_HEADER_IMAGE ?
		    HEADER_IMAGE : opt == TEMPLATE_HEADER_VIDEO ? HEADER_VIDEO :
		    HEADER_DOCUMENT;

		if (set_header(t, k, err, errlen) == -1)
			return -1;
		return set_once(&t->media_url, arg, header_opts[k], err,
		    errlen);
	}
	case TEMPLATE_FILENAME:
		return set_once(&t->filename, arg, "--filename", err, errlen);
	case TEMPLATE_HEADER_LOCATION:
		if (set_header(t, HEADER_LOCATION, err, errlen) == -1)
			return -1;
		return set_location(t, arg, err, errlen);
	case TEMPLATE_FOOTER:
		return add_var(&t->footer_vars, arg, "--footer", err, errlen);
	case TEMPLATE_BUTTON_URL:
	case TEMPLATE_BUTTON_REPLY:
		return add_button(t, opt == TEMPLATE_BUTTON_URL, arg, err,
		    errlen);
	case TEMPLATE_NOPTS:
		break;
	}
	snprintf(err, errlen, "unknown template option");
	return -1;
}

/* header_params for the header that was given, or NULL (and *oom). */
static json_t *
header_params(const struct template *t)
{
	json_t *h = json_object();

	if (h == NULL)
		return NULL;
	if (json_object_set_new(h, "type",
	    json_string(header_types[t->header])) == -1)
		goto fail;
	switch (t->header) {
	case HEADER_TEXT:
		if (json_object_set(h, "text_variables", t->header_vars) == -1)
			goto fail;
		break;
	case HEADER_IMAGE:
	case HEADER_VIDEO:
	case HEADER_DOCUMENT:
		if (json_object_set(h, "media_url", t->media_url) == -1)
			goto fail;
		if (t->filename != NULL &&
		    json_object_set(h, "filename", t->filename) == -1)
			goto fail;
		break;
	case HEADER_LOCATION:
		if (json_object_set(h, "location", t->location) == -1)
			goto fail;
		break;
	case HEADER_NONE:
		break;
	}
	return h;
fail:
	json_decref(h);
	return NULL;
}

/* Sets key to value in o when value is not NULL. */
static int
set_opt(json_t *o, const char *key, json_t *value)
{
	return value == NULL ? 0 : json_object_set(o, key, value);
}

json_t *
template_params(const struct template *t, char *err, size_t errlen)
{
	json_t *tp = NULL, *h = NULL, *f = NULL;

	if (t->name == NULL) {
		snprintf(err, errlen, "template options need --template NAME");
		return NULL;
	}
	if (t->language == NULL) {
		snprintf(err, errlen, "--template needs --language CODE "
		    "(e.g. en_US)");
		return NULL;
	}
	if (t->filename != NULL && t->header != HEADER_DOCUMENT) {
		snprintf(err, errlen, "--filename goes with --header-document");
		return NULL;
	}
	/* Key order follows the vendor's example. */
	if ((tp = json_object()) == NULL)
		goto oom;
	if (set_opt(tp, "name", t->name) == -1 ||
	    set_opt(tp, "namespace", t->namespace_) == -1 ||
	    set_opt(tp, "language", t->language) == -1 ||
	    set_opt(tp, "category", t->category) == -1 ||
	    set_opt(tp, "processed_params", t->params) == -1)
		goto oom;
	if (t->header != HEADER_NONE) {
		/* json_object_set_new consumes h even when it fails. */
		if ((h = header_params(t)) == NULL ||
		    json_object_set_new(tp, "header_params", h) == -1)
			goto oom;
	}
	if (t->footer_vars != NULL) {
		if ((f = json_object()) == NULL)
			goto oom;
		if (json_object_set(f, "text_variables", t->footer_vars) ==
		    -1) {
			json_decref(f);
			goto oom;
		}
		if (json_object_set_new(tp, "footer_params", f) == -1)
			goto oom;
	}
	if (set_opt(tp, "button_params", t->buttons) == -1)
		goto oom;
	return tp;
oom:
	snprintf(err, errlen, "out of memory");
	json_decref(tp);
	return NULL;
}
