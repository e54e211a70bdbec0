/* The JSON behind the operator's page (see admin_int.h; the API is
 * documented in livedesk-webhookd(8)). jansson escapes every string. */
#include <stdlib.h>

#include <jansson.h>

#include "admin_int.h"
#include "util.h"

static char *
dump(json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static json_t *
delivery_json(const struct delivery *d)
{
	char when[40];
	json_t *o;

	ld_time_format(d->received_usec, when, sizeof when);
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:f}",
	    "seq", (json_int_t)d->seq, "id", d->id, "received_at", when,
	    "event", d->event, "sender", d->sender, "excerpt", d->excerpt,
	    "sink", d->sink, "ok", d->ok, "attempts", d->attempts,
	    "duration_seconds", (double)d->duration_usec / 1e6);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "conversation", d->conversation >= 0 ?
	    json_integer(d->conversation) : json_null());
	json_object_set_new(o, "message", d->message >= 0 ?
	    json_integer(d->message) : json_null());
	json_object_set_new(o, "exit_status", d->exited ?
	    json_integer(d->exit_status) : json_null());
	json_object_set_new(o, "detail", json_string(d->detail));
	json_object_set_new(o, "outcome", json_string(d->ok ? "ok" :
	    d->filtered ? "filtered" : "failed"));
	return o;
}

char *
admin_api_status(const struct admin_view *v)
{
	json_t *o, *sinks = json_array(), *chart = json_array(), *s;
	char when[40];
	size_t i;

	for (i = 0; i < v->n_sinks; i++) {
		s = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s}",
		    "name", v->sinks[i].name, "type", v->sinks[i].type,
		    "delivered", (json_int_t)v->sinks[i].delivered,
		    "failed", (json_int_t)v->sinks[i].failed,
		    "retried", (json_int_t)v->sinks[i].retried,
		    "dead", (json_int_t)v->sinks[i].dead,
		    "last_error", v->sinks[i].last_error);
		if (s == NULL)
			continue;
		json_object_set_new(s, "p50_seconds", v->sinks[i].p50 >= 0 ?
		    json_real(v->sinks[i].p50) : json_null());
		json_object_set_new(s, "p99_seconds", v->sinks[i].p99 >= 0 ?
		    json_real(v->sinks[i].p99) : json_null());
		json_array_append_new(sinks, s);
	}
	for (i = 0; i < v->n_chart; i++)
		json_array_append_new(chart, json_integer((json_int_t)
		    v->chart[i]));
	o = json_pack("{s:s, s:I, s:i, s:{s:I, s:I, s:I, s:o}, s:o, s:I, "
	    "s:s}", "version", v->version, "uptime_seconds",
	    (json_int_t)v->uptime_s, "generation", (int)v->generation,
	    "backlog", "events", (json_int_t)v->backlog_events, "bytes",
	    (json_int_t)v->backlog_bytes, "oldest_seconds",
	    (json_int_t)v->backlog_oldest_s, "per_minute", chart,
	    "sinks", sinks, "dead_letters", (json_int_t)v->n_dead,
	    "csrf", v->csrf);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "retrying", json_integer((json_int_t)
	    v->retrying));
	if (v->reload_usec > 0) {
		ld_time_format(v->reload_usec, when, sizeof when);
		json_object_set_new(o, "last_reload", json_string(when));
	} else
		json_object_set_new(o, "last_reload", json_null());
	json_object_set_new(o, "last_reload_error", v->reload_err[0] ?
	    json_string(v->reload_err) : json_null());
	json_object_set_new(o, "last_replay", v->replay_msg[0] ?
	    json_string(v->replay_msg) : json_null());
	return dump(o);
}

char *
admin_api_deliveries(const struct admin_view *v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < v->n_dl; i++)
		json_array_append_new(a, delivery_json(&v->dl[i]));
	return dump(json_pack("{s:o}", "deliveries", a));
}

char *
admin_api_delivery(const struct delivery *d, const char *payload)
{
	json_t *o = delivery_json(d);

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "payload", payload != NULL ?
	    json_string(payload) : json_null());
	return dump(o);
}

char *
admin_api_dead(const struct admin_view *v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < v->n_dead; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}",
		    "id", v->dead[i].id, "event", v->dead[i].event,
		    "received_at", v->dead[i].received_at, "failed_at",
		    v->dead[i].failed_at, "reason", v->dead[i].reason));
	return dump(json_pack("{s:o}", "dead_letters", a));
}
