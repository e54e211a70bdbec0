/*
 * The operator's page: the escaping by context (unit), the ring of recent
 * deliveries (unit), and the admin listener driven over real HTTP on
 * loopback and over its Unix socket: the token, the CSRF token, the
 * security headers, payload text shown as text, dead letters and replay.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "admin_esc.h"
#include "config.h"
#include "deliveries.h"
#include "testutil.h"
#include "util.h"

static char *
esc_html(const char *s)
{
	struct abuf b = { 0 };

	admin_esc_html(&b, s);
	return b.s != NULL ? b.s : xstrdup("");
}

START_TEST(escape_html)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain", "plain" },
		{ "<img src=x onerror=alert(1)>",
		  "&lt;img src=x onerror=alert(1)&gt;" },
		{ "<script>alert(1)</script>",
		  "&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "a\" onmouseover='x' &amp;",
		  "a&quot; onmouseover=&#39;x&#39; &amp;amp;" },
		{ "tab\tnl\n", "tab\tnl\n" },
		{ "nul-less \x01\x1b[31m\x7f", "nul-less \xef\xbf\xbd\xef\xbf\xbd"
		  "[31m\xef\xbf\xbd" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		/* Not UTF-8: a lone continuation, an overlong '<', a
		 * surrogate, a sequence cut short. */
		{ "\x80", "\xef\xbf\xbd" },
		{ "\xc0\xbc", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd" },
	};
	size_t i;
	char *out;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		out = esc_html(cases[i].in);
		ck_assert_msg(strcmp(out, cases[i].out) == 0,
		    "case %zu: got '%s'", i, out);
		free(out);
	}
	out = esc_html(NULL);
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

START_TEST(escape_url)
{
	struct abuf b = { 0 };

	admin_esc_url(&b, "a-b_c.d~e");
	ck_assert_str_eq(b.s, "a-b_c.d~e");
	abuf_free(&b);
	admin_esc_url(&b, "\"><script>/&?#= \xc3\xa9");
	ck_assert_str_eq(b.s, "%22%3E%3Cscript%3E%2F%26%3F%23%3D%20%C3%A9");
	abuf_free(&b);
}
END_TEST

START_TEST(fix_utf8)
{
	char s[] = "ok \xc3\xa9 \xff\xc3 end";

	admin_esc_fix_utf8(s);
	ck_assert_str_eq(s, "ok \xc3\xa9 ?? end");
}
END_TEST

/* The ring keeps the last DELIVERIES_MAX, newest first, each cut to its
 * fixed size: a large payload costs no more than a small one. */
START_TEST(ring_bounded)
{
	static const char body_fmt[] = "{\"event\":\"message_created\","
	    "\"id\":%d,\"content\":\"%s\",\"conversation\":{\"id\":7}}";
	struct deliveries *d = deliveries_new();
	struct sink_result r;
	struct ld_event_error perr;
	struct ld_event *ev;
	struct delivery *all;
	char *big = xmalloc(4001), *body;
	size_t n;
	int i;

	memset(big, 'x', 4000);
	big[4000] = '\0';
	memset(&r, 0, sizeof r);
	r.ok = true;
	for (i = 0; i < DELIVERIES_MAX + 20; i++) {
		body = xasprintf(body_fmt, i, big);
		ev = ld_event_parse(body, strlen(body), 0, &perr);
		ck_assert_ptr_nonnull(ev);
		deliveries_add(d, ev, "s", &r, 1);
		ld_event_unref(ev);
		free(body);
	}
	all = deliveries_copy(d, &n);
	ck_assert_uint_eq(n, DELIVERIES_MAX);
	ck_assert_int_eq(all[0].message, DELIVERIES_MAX + 19);
	ck_assert_int_eq(all[n - 1].message, 20);
	ck_assert_int_eq(all[0].conversation, 7);
	ck_assert_uint_eq(strlen(all[0].excerpt), sizeof all[0].excerpt - 1);
	ck_assert_str_eq(all[0].excerpt + sizeof all[0].excerpt - 4, "...");
	free(all);
	free(big);
	deliveries_free(d);
}
END_TEST

START_TEST(tcp_needs_token)
{
	char *dir = tu_tmpdir(), *path = xasprintf("%s/c.conf", dir), *err =
	    NULL;
	static const char text[] = "[server]\nadmin_listen = 127.0.0.1:9\n"
	    "[sink a]\ntype = log\n";
	struct config *cfg;

	tu_write_file(path, text, strlen(text));
	cfg = config_load(path, &err);
	ck_assert_msg(cfg != NULL, "%s", err);
	/* Refused before it listens, so no runtime is needed. */
	ck_assert_ptr_null(admin_new(NULL, cfg, &err));
	ck_assert_msg(err != NULL && strstr(err, "admin_token") != NULL,
	    "%s", err);
	free(err);
	config_free(cfg);
	free(path);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* --- the daemon --- */

struct admin_fx {
	struct tu_daemon d;
	char	*dir, *flag, *conf;
	char	 admin[128];	/* http://127.0.0.1:PORT */
};

/* An exec sink that fails until flag exists; a spool for dead letters. */
static void
fx_start(struct admin_fx *fx, const char *listen_extra)
{
	char *script, *text;
	int port = tu_free_port();

	memset(fx, 0, sizeof *fx);
	fx->dir = tu_tmpdir();
	fx->flag = xasprintf("%s/fixed", fx->dir);
	script = xasprintf("%s/sink.sh", fx->dir);
	text = xasprintf("#!/bin/sh\nif [ -e %s ]; then cat >/dev/null; "
	    "exit 0; fi\necho 'not fixed yet <b>' >&2\nexit 3\n", fx->flag);
	tu_write_file(script, text, strlen(text));
	ck_assert_int_eq(chmod(script, 0755), 0);
	free(text);
	snprintf(fx->admin, sizeof fx->admin, "http://127.0.0.1:%d", port);
	fx->conf = xasprintf("[server]\nadmin_listen = %s\n%s"
	    "spool_dir = %s/spool\n[sink script]\ntype = exec\n"
	    "command = %s\nretries = 0\nenv = SECRET_VALUE=hunter2\n"
	    "[sink closed]\ntype = log\nevents = conversation_status_changed\n"
	    "[sink archive]\ntype = file\npath = %s/archive.jsonl\n",
	    listen_extra != NULL ? listen_extra : fx->admin + 7,
	    listen_extra != NULL ? "" : "admin_token = t0ken\n", fx->dir,
	    script, fx->dir);
	free(script);
	ck_assert(tu_daemon_start(&fx->d, fx->conf, NULL));
}

static void
fx_stop(struct admin_fx *fx)
{
	ck_assert_int_eq(WEXITSTATUS(tu_daemon_stop(&fx->d)), 0);
	tu_daemon_free(&fx->d);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->flag);
	free(fx->conf);
}

static void
post_event(struct admin_fx *fx, const char *content)
{
	struct tu_response r;
	const char *h[] = { "Content-Type: application/json", NULL };
	char *body = xasprintf("{\"event\":\"message_created\",\"id\":42,"
	    "\"message_type\":\"incoming\",\"content\":\"%s\","
	    "\"conversation\":{\"id\":9},\"sender\":{\"name\":\"Mallory\"}}",
	    content);
	char *url = xasprintf("%s/webhook", fx->d.url);

	tu_http(&r, "POST", url, h, body, strlen(body));
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	free(body);
	free(url);
}

static void
admin_get(struct admin_fx *fx, struct tu_response *r, const char *path,
    bool token)
{
	const char *h[] = { "Authorization: Bearer t0ken", NULL };
	char *url = xasprintf("%s%s", fx->admin, path);

	tu_http(r, "GET", url, token ? h : NULL, NULL, 0);
	free(url);
}

/* Waits for text in GET path's body. */
static bool
wait_body(struct admin_fx *fx, const char *path, const char *text, int ms)
{
	long long end = tu_now_ms() + ms;
	struct tu_response r;
	bool found;

	do {
		admin_get(fx, &r, path, true);
		found = r.body != NULL && strstr(r.body, text) != NULL;
		tu_response_free(&r);
		if (found)
			return true;
		usleep(20000);
	} while (tu_now_ms() < end);
	return false;
}

static char *
csrf_of(struct admin_fx *fx)
{
	struct tu_response r;
	char *p, *out;

	admin_get(fx, &r, "/api/status", true);
	ck_assert_int_eq(r.status, 200);
	p = strstr(r.body, "\"csrf\":\"");
	ck_assert_ptr_nonnull(p);
	out = xstrndup(p + 8, 64);
	tu_response_free(&r);
	return out;
}

START_TEST(token_and_headers)
{
	struct admin_fx fx;
	struct tu_response r;
	char *v;

	fx_start(&fx, NULL);
	/* Without the token: 401, page and API. */
	admin_get(&fx, &r, "/", false);
	ck_assert_int_eq(r.status, 401);
	ck_assert_ptr_nonnull(strstr(r.body, "name=\"token\""));
	tu_response_free(&r);
	admin_get(&fx, &r, "/api/deliveries", false);
	ck_assert_int_eq(r.status, 401);
	tu_response_free(&r);
	{
		const char *h[] = { "Authorization: Bearer t0kem", NULL };
		char *url = xasprintf("%s/api/status", fx.admin);

		tu_http(&r, "GET", url, h, NULL, 0);
		ck_assert_int_eq(r.status, 401);
		tu_response_free(&r);
		free(url);
	}
	/* The webhook listener never serves the page. */
	{
		char *url = xasprintf("%s/api/status", fx.d.url);

		tu_http(&r, "GET", url, NULL, NULL, 0);
		ck_assert_int_ne(r.status, 200);
		tu_response_free(&r);
		free(url);
	}
	admin_get(&fx, &r, "/", true);
	ck_assert_int_eq(r.status, 200);
	v = tu_header(&r, "Content-Security-Policy");
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(strstr(v, "frame-ancestors 'none'"));
	ck_assert_ptr_nonnull(strstr(v, "script-src 'nonce-"));
	ck_assert_ptr_null(strstr(v, "unsafe-inline"));
	free(v);
	v = tu_header(&r, "X-Content-Type-Options");
	ck_assert_str_eq(v, "nosniff");
	free(v);
	v = tu_header(&r, "Referrer-Policy");
	ck_assert_str_eq(v, "no-referrer");
	free(v);
	tu_response_free(&r);
	/* The login form sets a SameSite=Strict cookie, which then
	 * opens the page. */
	{
		const char *h[] = { "Content-Type: "
		    "application/x-www-form-urlencoded", NULL };
		char *url = xasprintf("%s/login", fx.admin), *cookie, *semi;
		const char *h2[2] = { NULL, NULL };

		tu_http(&r, "POST", url, h, "token=wrong", 11);
		ck_assert_int_eq(r.status, 401);
		tu_response_free(&r);
		tu_http(&r, "POST", url, h, "token=t0ken", 11);
		ck_assert_int_eq(r.status, 303);
		cookie = tu_header(&r, "Set-Cookie");
		ck_assert_ptr_nonnull(strstr(cookie, "SameSite=Strict"));
		ck_assert_ptr_nonnull(strstr(cookie, "HttpOnly"));
		tu_response_free(&r);
		semi = strchr(cookie, ';');
		*semi = '\0';
		free(url);
		url = xasprintf("Cookie: %s", cookie);
		h2[0] = url;
		free(cookie);
		cookie = xasprintf("%s/api/status", fx.admin);
		tu_http(&r, "GET", cookie, h2, NULL, 0);
		ck_assert_int_eq(r.status, 200);
		tu_response_free(&r);
		free(cookie);
		free(url);
	}
	fx_stop(&fx);
}
END_TEST

START_TEST(payload_is_text)
{
	struct admin_fx fx;
	struct tu_response r;

	fx_start(&fx, NULL);
	post_event(&fx, "<img src=x onerror=alert(1)><script>x()</script>");
	ck_assert(wait_body(&fx, "/", "&lt;img src=x onerror=alert(1)&gt;"
	    "&lt;script&gt;x()&lt;/script&gt;", 5000));
	admin_get(&fx, &r, "/?event=message_created&conversation=9", true);
	ck_assert_ptr_null(strstr(r.body, "<img src=x"));
	ck_assert_ptr_null(strstr(r.body, "<script>x()"));
	/* No env = value, ever. */
	ck_assert_ptr_null(strstr(r.body, "hunter2"));
	ck_assert_ptr_nonnull(strstr(r.body, "Mallory"));
	tu_response_free(&r);
	/* The filters: another conversation shows none of it. */
	admin_get(&fx, &r, "/api/deliveries?conversation=10", true);
	ck_assert_str_eq(r.body, "{\"deliveries\":[]}");
	tu_response_free(&r);
	/* The other sinks may be done before the script is. */
	ck_assert(wait_body(&fx, "/api/deliveries?outcome=failed",
	    "\"exit_status\":3", 5000));
	admin_get(&fx, &r, "/api/deliveries?outcome=failed", true);
	ck_assert_ptr_nonnull(strstr(r.body, "not fixed yet <b>"));
	tu_response_free(&r);
	admin_get(&fx, &r, "/api/status", true);
	ck_assert_ptr_null(strstr(r.body, "hunter2"));
	tu_response_free(&r);
	/* A sink whose filter kept it out says so, and why. */
	admin_get(&fx, &r, "/api/deliveries?outcome=filtered", true);
	ck_assert_msg(strstr(r.body, "\"sink\":\"closed\"") != NULL &&
	    strstr(r.body, "\"outcome\":\"filtered\"") != NULL &&
	    strstr(r.body, "events") != NULL, "%s", r.body);
	ck_assert_ptr_null(strstr(r.body, "\"sink\":\"script\""));
	tu_response_free(&r);
	admin_get(&fx, &r, "/?outcome=filtered", true);
	ck_assert_ptr_nonnull(strstr(r.body, "filtered out: "));
	tu_response_free(&r);
	/* Opened, its payload is read from the file sink's archive (the
	 * ring has only an excerpt), pretty-printed, as text. */
	{
		char *p, id[64], *path;

		ck_assert(wait_body(&fx, "/api/deliveries",
		    "\"sink\":\"archive\"", 5000));
		admin_get(&fx, &r, "/api/deliveries?outcome=ok", true);
		p = strstr(r.body, "\"id\":\"");
		ck_assert_ptr_nonnull(p);
		snprintf(id, sizeof id, "%.*s", (int)strcspn(p + 6, "\""),
		    p + 6);
		tu_response_free(&r);
		path = xasprintf("/api/deliveries/%s", id);
		admin_get(&fx, &r, path, true);
		ck_assert_msg(strstr(r.body, "\\n  \\\"conversation\\\": {") !=
		    NULL, "%s", r.body);
		tu_response_free(&r);
		free(path);
		path = xasprintf("/?open=%s", id);
		admin_get(&fx, &r, path, true);
		ck_assert_ptr_nonnull(strstr(r.body, "<pre id=\"payload\">"));
		ck_assert_ptr_nonnull(strstr(r.body, "&lt;img src=x "
		    "onerror=alert(1)&gt;"));
		ck_assert_ptr_null(strstr(r.body, "<img src=x"));
		tu_response_free(&r);
		free(path);
	}
	fx_stop(&fx);
}
END_TEST

START_TEST(replay_dead_letter)
{
	struct admin_fx fx;
	struct tu_response r;
	char *csrf, *p, id[64], *url, *hdr;
	const char *h[3];

	fx_start(&fx, NULL);
	post_event(&fx, "hello");
	ck_assert(wait_body(&fx, "/api/dead-letters", "not fixed yet", 5000));
	admin_get(&fx, &r, "/api/dead-letters", true);
	p = strstr(r.body, "\"id\":\"");
	ck_assert_ptr_nonnull(p);
	snprintf(id, sizeof id, "%.*s", (int)strcspn(p + 6, "\""), p + 6);
	tu_response_free(&r);
	url = xasprintf("%s/api/dead-letters/%s/replay", fx.admin, id);
	/* Without the CSRF token: refused, nothing runs. */
	h[0] = "Authorization: Bearer t0ken";
	h[1] = NULL;
	tu_http(&r, "POST", url, h, "", 0);
	ck_assert_int_eq(r.status, 403);
	tu_response_free(&r);
	h[1] = "X-CSRF-Token: 0000000000000000000000000000000000000000000000"
	    "000000000000000000";
	h[2] = NULL;
	tu_http(&r, "POST", url, h, "", 0);
	ck_assert_int_eq(r.status, 403);
	tu_response_free(&r);
	/* Still failing: it stays. */
	csrf = csrf_of(&fx);
	hdr = xasprintf("X-CSRF-Token: %s", csrf);
	h[1] = hdr;
	tu_http(&r, "POST", url, h, "", 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"ok\":false"));
	tu_response_free(&r);
	admin_get(&fx, &r, "/api/dead-letters", true);
	ck_assert_ptr_nonnull(strstr(r.body, id));
	tu_response_free(&r);
	/* Fixed: replayed, and gone. */
	tu_write_file(fx.flag, "", 0);
	tu_http(&r, "POST", url, h, "", 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "\"ok\":true") != NULL, "%s", r.body);
	tu_response_free(&r);
	admin_get(&fx, &r, "/api/dead-letters", true);
	ck_assert_str_eq(r.body, "{\"dead_letters\":[]}");
	tu_response_free(&r);
	/* An id that would walk out of failed/. */
	free(url);
	url = xasprintf("%s/api/dead-letters/..%%2Fx/replay", fx.admin);
	tu_http(&r, "POST", url, h, "", 0);
	ck_assert_int_eq(r.status, 404);
	tu_response_free(&r);
	free(url);
	free(hdr);
	free(csrf);
	fx_stop(&fx);
}
END_TEST

/* A refused reload shows with its error; a good one moves the
 * generation on and clears it. */
START_TEST(reload_status)
{
	struct admin_fx fx;
	char *broken;

	fx_start(&fx, NULL);
	ck_assert(wait_body(&fx, "/api/status", "\"generation\":1,", 5000));
	broken = xasprintf("%s[sink bad]\ntype = nosuch\n", fx.conf);
	tu_write_file(fx.d.conf, broken, strlen(broken));
	ck_assert_int_eq(kill(fx.d.pid, SIGHUP), 0);
	ck_assert(wait_body(&fx, "/api/status", "nosuch", 10000));
	ck_assert(wait_body(&fx, "/", "refused: ", 1000));
	tu_write_file(fx.d.conf, fx.conf, strlen(fx.conf));
	ck_assert_int_eq(kill(fx.d.pid, SIGHUP), 0);
	ck_assert(wait_body(&fx, "/api/status", "\"generation\":2,", 10000));
	ck_assert(wait_body(&fx, "/api/status", "\"last_reload_error\":null",
	    1000));
	free(broken);
	fx_stop(&fx);
}
END_TEST

/* Replay all: every dead letter, one POST from the page's form (the
 * answer leads back to the page), gone once delivered. */
START_TEST(replay_all_form)
{
	struct admin_fx fx;
	struct tu_response r;
	char *csrf, *body, *url;
	const char *h[] = { "Authorization: Bearer t0ken", "Content-Type: "
	    "application/x-www-form-urlencoded", NULL };

	fx_start(&fx, NULL);
	post_event(&fx, "one");
	post_event(&fx, "two");
	ck_assert(wait_body(&fx, "/api/status", "\"dead_letters\":2,",
	    10000));
	tu_write_file(fx.flag, "", 0);
	csrf = csrf_of(&fx);
	body = xasprintf("csrf=%s", csrf);
	url = xasprintf("%s/api/dead-letters/replay", fx.admin);
	tu_http(&r, "POST", url, h, body, strlen(body));
	ck_assert_int_eq(r.status, 303);
	tu_response_free(&r);
	admin_get(&fx, &r, "/", true);
	ck_assert_msg(strstr(r.body, "replayed 2 dead letters: 2 delivered, "
	    "0 still failing") != NULL, "%s", r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "Dead letters (0)"));
	tu_response_free(&r);
	free(url);
	free(body);
	free(csrf);
	fx_stop(&fx);
}
END_TEST

/* A Unix socket needs no token; the page answers there. */
START_TEST(unix_socket)
{
	struct admin_fx fx;
	struct sockaddr_un sun;
	char *dir = tu_tmpdir(), *path = xasprintf("%s/admin.sock", dir);
	char buf[8192];
	static const char req[] = "GET /api/status HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n";
	size_t got = 0;
	ssize_t n;
	int fd;

	fx_start(&fx, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(write(fd, req, sizeof req - 1), (ssize_t)sizeof req -
	    1);
	while (got < sizeof buf - 1 && (n = read(fd, buf + got,
	    sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "\"version\""));
	fx_stop(&fx);
	/* Gone with the daemon. */
	ck_assert_int_ne(access(path, F_OK), 0);
	free(path);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *unit = tcase_create("unit"), *e2e = tcase_create("e2e");

	tcase_add_test(unit, escape_html);
	tcase_add_test(unit, escape_url);
	tcase_add_test(unit, fix_utf8);
	tcase_add_test(unit, ring_bounded);
	tcase_add_test(unit, tcp_needs_token);
	tcase_set_timeout(e2e, 60);
	tcase_add_test(e2e, token_and_headers);
	tcase_add_test(e2e, payload_is_text);
	tcase_add_test(e2e, replay_dead_letter);
	tcase_add_test(e2e, unix_socket);
	tcase_add_test(e2e, reload_status);
	tcase_add_test(e2e, replay_all_form);
	suite_add_tcase(s, unit);
	suite_add_tcase(s, e2e);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(admin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
