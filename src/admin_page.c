/*
 * The operator's page, rendered on the server (see admin_int.h). Every
 * text from a payload, a script's stderr or a file goes through
 * admin_esc_html (text and quoted attributes) or admin_esc_url (links);
 * the only script and style carry the response's CSP nonce. The page
 * reads without JavaScript; the script only reloads it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin_int.h"
#include "livedesk/event.h"

static void
head(struct abuf *b, const char *nonce, const char *title)
{
	abuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width\"><title>");
	admin_esc_html(b, title);
	abuf_printf(b, "</title><style nonce=\"%s\">", nonce);
	abuf_puts(b, "body{font:14px system-ui,sans-serif;margin:1em 2em;"
	    "color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:"
	    "1.5em;border-bottom:1px solid #ccc}table{border-collapse:"
	    "collapse;width:100%}td,th{padding:3px 6px;border-bottom:1px "
	    "solid #eee;text-align:left;vertical-align:top}th{background:"
	    "#f4f4f4}.ok{color:#070}.failed{color:#b00}.muted{color:#777}"
	    "pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:"
	    "30em;white-space:pre-wrap}.msg{background:#ffd;padding:6px;"
	    "border:1px solid #cc9}form.inline{display:inline}"
	    "svg{background:#fafafa;border:1px solid #ddd}"
	    ".excerpt{max-width:30em;overflow-wrap:anywhere}</style>"
	    "</head><body>");
}

static void
status(struct abuf *b, const struct admin_view *v)
{
	char when[40];
	size_t i, max = 1;

	abuf_puts(b, "<h2 id=\"status\">Status</h2><table><tr><th>version"
	    "</th><td>");
	admin_esc_html(b, v->version);
	abuf_printf(b, "</td></tr><tr><th>uptime</th><td>%" PRId64 " s</td>"
	    "</tr><tr><th>configuration generation</th><td>%u</td></tr>"
	    "<tr><th>last reload</th><td>", v->uptime_s, v->generation);
	if (v->reload_usec > 0) {
		ld_time_format(v->reload_usec, when, sizeof when);
		abuf_puts(b, when);
		if (v->reload_err[0] != '\0') {
			abuf_puts(b, " <span class=\"failed\">refused: ");
			admin_esc_html(b, v->reload_err);
			abuf_puts(b, "</span>");
		}
	} else
		abuf_puts(b, "<span class=\"muted\">none since start</span>");
	abuf_printf(b, "</td></tr><tr><th>backlog</th><td id=\"backlog\">"
	    "%zu events, %" PRIu64 " bytes, oldest %" PRId64 " s; %zu "
	    "deliver%s waiting for a retry</td></tr><tr><th>backlog, last "
	    "hour</th><td>", v->backlog_events, v->backlog_bytes,
	    v->backlog_oldest_s, v->retrying, v->retrying == 1 ? "y" : "ies");
	/* Inline SVG: one point a minute, the peak of that minute. */
	for (i = 0; i < v->n_chart; i++)
		if (v->chart[i] > max)
			max = v->chart[i];
	abuf_printf(b, "<svg width=\"360\" height=\"60\" viewBox=\"0 0 360 "
	    "60\" role=\"img\" aria-label=\"backlog per minute, peak %zu\">"
	    "<line x1=\"0\" y1=\"59\" x2=\"360\" y2=\"59\" stroke=\"#bbb\"/>",
	    max);
	/* A bar a minute, the newest on the right. */
	for (i = 0; i < v->n_chart; i++)
		abuf_printf(b, "<rect x=\"%zu\" y=\"%zu\" width=\"5\" "
		    "height=\"%zu\" fill=\"#36c\"/>",
		    (ADMIN_CHART - v->n_chart + i) * 6,
		    58 - v->chart[i] * 56 / max, 1 + v->chart[i] * 56 / max);
	abuf_printf(b, "</svg> <span class=\"muted\">peak %zu, a bar a "
	    "minute</span></td></tr></table>", max);
}

static void
seconds(struct abuf *b, double s)
{
	if (s < 0)
		abuf_puts(b, "<span class=\"muted\">-</span>");
	else
		abuf_printf(b, "&le; %g s", s);
}

static void
sinks(struct abuf *b, const struct admin_view *v)
{
	size_t i;

	abuf_puts(b, "<h2 id=\"sinks\">Sinks</h2><table><tr><th>sink</th>"
	    "<th>type</th><th>delivered</th><th>failed attempts</th><th>"
	    "retried</th><th>dead</th><th>p50</th><th>p99</th><th>last "
	    "error</th></tr>");
	for (i = 0; i < v->n_sinks; i++) {
		abuf_puts(b, "<tr><td>");
		admin_esc_html(b, v->sinks[i].name);
		abuf_puts(b, "</td><td>");
		admin_esc_html(b, v->sinks[i].type);
		abuf_printf(b, "</td><td>%" PRIu64 "</td><td>%" PRIu64
		    "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>",
		    v->sinks[i].delivered, v->sinks[i].failed,
		    v->sinks[i].retried, v->sinks[i].dead);
		seconds(b, v->sinks[i].p50);
		abuf_puts(b, "</td><td>");
		seconds(b, v->sinks[i].p99);
		abuf_puts(b, "</td><td class=\"failed\">");
		admin_esc_html(b, v->sinks[i].last_error);
		abuf_puts(b, "</td></tr>");
	}
	abuf_puts(b, "</table>");
}

static void
option(struct abuf *b, const char *value, const char *label, bool on)
{
	abuf_puts(b, "<option value=\"");
	admin_esc_html(b, value);
	abuf_printf(b, "\"%s>", on ? " selected" : "");
	admin_esc_html(b, label);
	abuf_puts(b, "</option>");
}

static void
outcome(struct abuf *b, const struct delivery *d)
{
	if (d->ok) {
		abuf_puts(b, "<span class=\"ok\">ok</span>");
		return;
	}
	if (d->filtered) {
		abuf_puts(b, "<span class=\"muted\">filtered out: ");
		admin_esc_html(b, d->detail);
		abuf_puts(b, "</span>");
		return;
	}
	abuf_puts(b, "<span class=\"failed\">failed");
	if (d->exited)
		abuf_printf(b, " (exit status %d)", d->exit_status);
	abuf_puts(b, "</span>");
}

static void
deliveries(struct abuf *b, const struct admin_view *v)
{
	const struct admin_filter *f = &v->filter;
	char when[40];
	size_t i;

	abuf_printf(b, "<h2 id=\"deliveries\">Recent deliveries (%zu shown, "
	    "newest first)</h2><form method=\"get\" action=\"/\">"
	    "<label>event <input name=\"event\" value=\"", v->n_dl);
	admin_esc_html(b, f->event);
	abuf_puts(b, "\"></label> <label>conversation <input name=\""
	    "conversation\" value=\"");
	if (f->conversation >= 0)
		abuf_printf(b, "%" PRId64, f->conversation);
	abuf_puts(b, "\"></label> <label>outcome <select name=\"outcome\">");
	option(b, "", "any", f->outcome[0] == '\0');
	option(b, "ok", "ok", strcmp(f->outcome, "ok") == 0);
	option(b, "failed", "failed", strcmp(f->outcome, "failed") == 0);
	option(b, "filtered", "filtered out", strcmp(f->outcome, "filtered") ==
	    0);
	abuf_puts(b, "</select></label> <button>Filter</button> "
	    "<a href=\"/\">clear</a></form><table id=\"deliveries-table\">"
	    "<tr><th>time</th><th>event</th><th>conversation</th><th>"
	    "message</th><th>sender</th><th>content</th><th>sink</th>"
	    "<th>outcome</th><th>duration</th></tr>");
	for (i = 0; i < v->n_dl; i++) {
		const struct delivery *d = &v->dl[i];

		ld_time_format(d->received_usec, when, sizeof when);
		abuf_printf(b, "<tr class=\"delivery\"><td><a href=\"/?open=");
		admin_esc_url(b, d->id);
		abuf_puts(b, "#detail\" title=\"");
		admin_esc_html(b, when);
		abuf_puts(b, "\">");
		/* The time of day; the date is in the title. */
		admin_esc_html(b, strchr(when, 'T') ? strchr(when, 'T') + 1 :
		    when);
		abuf_puts(b, "</a></td><td>");
		admin_esc_html(b, d->event);
		abuf_puts(b, "</td><td>");
		if (d->conversation >= 0)
			abuf_printf(b, "%" PRId64, d->conversation);
		abuf_puts(b, "</td><td>");
		if (d->message >= 0)
			abuf_printf(b, "%" PRId64, d->message);
		abuf_puts(b, "</td><td>");
		admin_esc_html(b, d->sender);
		abuf_puts(b, "</td><td class=\"excerpt\">");
		admin_esc_html(b, d->excerpt);
		abuf_puts(b, "</td><td>");
		admin_esc_html(b, d->sink);
		abuf_puts(b, "</td><td>");
		outcome(b, d);
		abuf_printf(b, "</td><td>%.3f s</td></tr>",
		    (double)d->duration_usec / 1e6);
	}
	abuf_puts(b, "</table>");
	if (v->n_dl == 0)
		abuf_puts(b, "<p class=\"muted\">No deliveries yet.</p>");
}

static void
detail_of(struct abuf *b, const struct delivery *d, const char *payload)
{
	abuf_puts(b, "<h2 id=\"detail\">Delivery ");
	admin_esc_html(b, d->id);
	abuf_puts(b, "</h2><p>sink ");
	admin_esc_html(b, d->sink);
	abuf_puts(b, ": ");
	outcome(b, d);
	abuf_printf(b, " after %d attempt%s</p>", d->attempts,
	    d->attempts == 1 ? "" : "s");
	if (d->detail[0] != '\0') {
		abuf_puts(b, "<h3>Why (the script's stderr tail)</h3><pre>");
		admin_esc_html(b, d->detail);
		abuf_puts(b, "</pre>");
	}
	abuf_puts(b, "<h3>Payload</h3>");
	if (payload == NULL)
		abuf_puts(b, "<p class=\"muted\">The payload is no longer "
		    "kept (neither a dead letter nor a file sink's archive "
		    "holds it); its excerpt:</p><pre>");
	else {
		abuf_puts(b, "<pre id=\"payload\">");
		admin_esc_html(b, payload);
	}
	if (payload == NULL)
		admin_esc_html(b, d->excerpt);
	abuf_puts(b, "</pre>");
}

static void
replay_form(struct abuf *b, const struct admin_view *v, const char *id,
    const char *label)
{
	abuf_puts(b, "<form class=\"inline\" method=\"post\" action=\""
	    "/api/dead-letters/");
	if (id != NULL) {
		admin_esc_url(b, id);
		abuf_puts(b, "/");
	}
	abuf_printf(b, "replay\"><input type=\"hidden\" name=\"csrf\" "
	    "value=\"%s\"><button class=\"replay\"", v->csrf);
	if (id != NULL) {
		abuf_puts(b, " data-id=\"");
		admin_esc_html(b, id);
		abuf_puts(b, "\"");
	}
	abuf_puts(b, ">");
	admin_esc_html(b, label);
	abuf_puts(b, "</button></form>");
}

static void
dead(struct abuf *b, const struct admin_view *v)
{
	size_t i;

	abuf_printf(b, "<h2 id=\"dead\">Dead letters (%zu)</h2>", v->n_dead);
	if (v->replay_msg[0] != '\0') {
		abuf_puts(b, "<p class=\"msg\" id=\"replay-result\">");
		admin_esc_html(b, v->replay_msg);
		abuf_puts(b, "</p>");
	}
	if (!v->spool) {
		abuf_puts(b, "<p class=\"muted\">No spool_dir: dead letters "
		    "are not kept.</p>");
		return;
	}
	if (v->n_dead == 0) {
		abuf_puts(b, "<p class=\"muted\">None.</p>");
		return;
	}
	replay_form(b, v, NULL, "Replay all");
	abuf_puts(b, "<table id=\"dead-table\"><tr><th>id</th><th>event</th>"
	    "<th>received</th><th>failed</th><th>reason</th><th></th></tr>");
	for (i = 0; i < v->n_dead; i++) {
		abuf_puts(b, "<tr class=\"dead\"><td>");
		admin_esc_html(b, v->dead[i].id);
		abuf_puts(b, "</td><td>");
		admin_esc_html(b, v->dead[i].event);
		abuf_puts(b, "</td><td>");
		admin_esc_html(b, v->dead[i].received_at);
		abuf_puts(b, "</td><td>");
		admin_esc_html(b, v->dead[i].failed_at);
		abuf_puts(b, "</td><td class=\"failed reason\"><pre>");
		admin_esc_html(b, v->dead[i].reason);
		abuf_puts(b, "</pre></td><td>");
		replay_form(b, v, v->dead[i].id, "Replay");
		abuf_puts(b, "</td></tr>");
	}
	abuf_puts(b, "</table>");
}

void
admin_page_render(struct abuf *b, const struct admin_view *v,
    const struct delivery *detail, const char *payload)
{
	head(b, v->nonce, "livedesk-webhookd");
	abuf_puts(b, "<h1>livedesk-webhookd</h1><p><a href=\"#status\">"
	    "status</a> &middot; <a href=\"#sinks\">sinks</a> &middot; "
	    "<a href=\"#deliveries\">deliveries</a> &middot; <a href=\""
	    "#dead\">dead letters</a> &middot; <label><input type=\""
	    "checkbox\" id=\"auto\"> refresh every 5 s</label></p>");
	status(b, v);
	sinks(b, v);
	if (detail != NULL)
		detail_of(b, detail, payload);
	deliveries(b, v);
	dead(b, v);
	/* The one script: reloads while the box is ticked (remembered in
	 * the session); the page works without it. */
	abuf_printf(b, "<script nonce=\"%s\">(function(){var a=document."
	    "getElementById('auto');a.checked=sessionStorage.getItem("
	    "'auto')==='1';a.addEventListener('change',function(){"
	    "sessionStorage.setItem('auto',a.checked?'1':'0');});"
	    "setInterval(function(){if(a.checked)location.reload();},5000);"
	    "})();</script></body></html>\n", v->nonce);
}

void
admin_page_login(struct abuf *b, const char *nonce, bool failed)
{
	head(b, nonce, "livedesk-webhookd: log in");
	abuf_puts(b, "<h1>livedesk-webhookd</h1>");
	if (failed)
		abuf_puts(b, "<p class=\"failed\">Wrong token.</p>");
	abuf_puts(b, "<form method=\"post\" action=\"/login\"><label>Admin "
	    "token <input type=\"password\" name=\"token\" autocomplete=\""
	    "current-password\" autofocus></label> <button>Log in</button>"
	    "</form></body></html>\n");
}
