/* Check suite for util.c: durations, sizes, numbers and booleans as the
 * configuration writes them, escaping for log lines, UTF-8 cuts, delivery
 * ids, signal names, whole writes. */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"

START_TEST(durations_and_sizes)
{
	int64_t ms;
	uint64_t b;

	ck_assert_int_eq(util_parse_duration("500ms", &ms), 0);
	ck_assert_int_eq(ms, 500);
	ck_assert_int_eq(util_parse_duration("30s", &ms), 0);
	ck_assert_int_eq(ms, 30000);
	ck_assert_int_eq(util_parse_duration("5m", &ms), 0);
	ck_assert_int_eq(ms, 300000);
	ck_assert_int_eq(util_parse_duration("2", &ms), 0);
	ck_assert_int_eq(ms, 2000);
	ck_assert_int_eq(util_parse_duration("1.5s", &ms), -1);
	ck_assert_int_eq(util_parse_duration("-1s", &ms), -1);
	ck_assert_int_eq(util_parse_duration("s", &ms), -1);
	ck_assert_int_eq(util_parse_duration("99999999999999999999d", &ms),
	    -1);
	ck_assert_int_eq(util_parse_size("64k", &b), 0);
	ck_assert_uint_eq(b, 65536);
	ck_assert_int_eq(util_parse_size("1M", &b), 0);
	ck_assert_uint_eq(b, 1048576);
	ck_assert_int_eq(util_parse_size("1T", &b), -1);
}
END_TEST

START_TEST(more_durations)
{
	static const char *const bad[] = {
		"", "ms", "10 s", " 10s", "10s ", "5M", "1w", "1e3", "+5s",
		"0x10", "9223372036854776s", "18446744073709551616ms",
	};
	int64_t ms;
	size_t i;

	ck_assert_int_eq(util_parse_duration("0", &ms), 0);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(util_parse_duration("250ms", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(util_parse_duration("1h", &ms), 0);
	ck_assert_int_eq(ms, 3600000);
	ck_assert_int_eq(util_parse_duration("2d", &ms), 0);
	ck_assert_int_eq(ms, 172800000);
	ck_assert_int_eq(util_parse_duration("9223372036854775807ms", &ms), 0);
	ck_assert_int_eq(ms, INT64_MAX);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ms = 7;
		ck_assert_msg(util_parse_duration(bad[i], &ms) == -1,
		    "'%s' parsed", bad[i]);
		ck_assert_int_eq(ms, 7);	/* untouched */
	}
	ck_assert_int_eq(util_parse_duration(NULL, &ms), -1);
}
END_TEST

START_TEST(more_sizes)
{
	static const char *const bad[] = {
		"", "k", "1m", "1.5M", "1 M", "-1", "1KB", "1g",
		"18446744073709551616", "17179869184G",
	};
	uint64_t b;
	size_t i;

	ck_assert_int_eq(util_parse_size("0", &b), 0);
	ck_assert_uint_eq(b, 0);
	ck_assert_int_eq(util_parse_size("1000", &b), 0);
	ck_assert_uint_eq(b, 1000);
	ck_assert_int_eq(util_parse_size("64K", &b), 0);
	ck_assert_uint_eq(b, 65536);
	ck_assert_int_eq(util_parse_size("2G", &b), 0);
	ck_assert_uint_eq(b, 2147483648ULL);
	ck_assert_int_eq(util_parse_size("18446744073709551615", &b), 0);
	ck_assert_uint_eq(b, UINT64_MAX);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(util_parse_size(bad[i], &b) == -1, "'%s' parsed",
		    bad[i]);
	ck_assert_int_eq(util_parse_size(NULL, &b), -1);
}
END_TEST

START_TEST(ints_and_bools)
{
	/* 1 yes, 0 no, -1 neither. */
	static const struct { const char *text; int want; } bools[] = {
		{ "yes", 1 }, { "true", 1 }, { "on", 1 }, { "1", 1 },
		{ "YES", 1 }, { "True", 1 }, { "oN", 1 },
		{ "no", 0 }, { "false", 0 }, { "off", 0 }, { "0", 0 },
		{ "No", 0 }, { "FALSE", 0 },
		{ "", -1 }, { "y", -1 }, { "n", -1 }, { "2", -1 },
		{ "yes ", -1 }, { "enabled", -1 },
	};
	long long v;
	bool b;
	size_t i;

	ck_assert_int_eq(util_parse_int("42", 0, 100, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(util_parse_int("-5", -10, 10, &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(util_parse_int("100", 0, 100, &v), 0);
	ck_assert_int_eq(util_parse_int("101", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("-1", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int(" 42", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("42 ", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("4x", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("", 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int(NULL, 0, 100, &v), -1);
	ck_assert_int_eq(util_parse_int("9223372036854775808", 0, INT64_MAX,
	    &v), -1);
	for (i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		int rc;

		b = bools[i].want != 1;
		rc = util_parse_bool(bools[i].text, &b);
		ck_assert_msg(rc == (bools[i].want == -1 ? -1 : 0) &&
		    (rc == -1 || b == (bools[i].want == 1)), "'%s'",
		    bools[i].text);
	}
}
END_TEST

/* The printed form is the shortest exact one, and reads back the same. */
START_TEST(format_duration)
{
	static const struct { int64_t ms; const char *text; } t[] = {
		{ 0, "0s" }, { 1, "1ms" }, { 500, "500ms" }, { 1500, "1500ms" },
		{ 1000, "1s" }, { 30000, "30s" }, { 90000, "90s" },
		{ 60000, "1m" }, { 5400000, "90m" }, { 3600000, "1h" },
		{ 86400000, "24h" },
	};
	char buf[32];
	int64_t back;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		util_format_duration(t[i].ms, buf, sizeof buf);
		ck_assert_str_eq(buf, t[i].text);
		ck_assert_int_eq(util_parse_duration(buf, &back), 0);
		ck_assert_int_eq(back, t[i].ms);
	}
}
END_TEST

static void
assert_escaped(const char *in, size_t max, const char *want)
{
	char *out = util_escape(in, max);

	ck_assert_str_eq(out, want);
	free(out);
}

/* Nothing from a request can split or forge a log line. */
START_TEST(escape)
{
	assert_escaped("plain text, 100%", 0, "plain text, 100%");
	assert_escaped("a\nb\tc\rd\\e", 0, "a\\nb\\tc\\rd\\\\e");
	assert_escaped("\x01\x1b[2J\x7f", 0, "\\x01\\x1b[2J\\x7f");
	/* Valid UTF-8 stays as it is. */
	assert_escaped("caf\xc3\xa9 \xe0\xb8\x81 \xf0\x9f\x98\x80", 0,
	    "caf\xc3\xa9 \xe0\xb8\x81 \xf0\x9f\x98\x80");
	/* Invalid UTF-8, byte by byte: stray, overlong, surrogate, cut. */
	assert_escaped("\xff", 0, "\\xff");
	assert_escaped("\xc0\xaf", 0, "\\xc0\\xaf");
	assert_escaped("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
	assert_escaped("a\xe0\xb8", 0, "a\\xe0\\xb8");
	/* C1 controls and the Unicode line separators end lines too. */
	assert_escaped("\xc2\x85", 0, "\\xc2\\x85");
	assert_escaped("x\xe2\x80\xa8y\xe2\x80\xa9", 0,
	    "x\\xe2\\x80\\xa8y\\xe2\\x80\\xa9");
	/* At most max bytes, never cutting a character, and the cut said. */
	assert_escaped("abcdef", 3, "abc...");
	assert_escaped("abc", 3, "abc");
	assert_escaped("\xc3\xa9\xc3\xa9\xc3\xa9", 3, "\xc3\xa9...");
	assert_escaped("a\nb", 2, "a\\n...");
	assert_escaped("", 0, "");
}
END_TEST

/* Into a buffer of its own size: escapes and characters whole, the cut
 * said when "..." fits, always terminated. */
START_TEST(escape_into)
{
	char buf[8];
	size_t n;

	n = util_escape_into(buf, sizeof buf, "abc", 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(buf, "abc");
	/* 7 bytes of room, 3 kept for the mark while more is to come. */
	n = util_escape_into(buf, sizeof buf, "\n\n\n\n", 0);
	ck_assert_str_eq(buf, "\\n\\n...");
	ck_assert_uint_eq(n, 7);
	n = util_escape_into(buf, sizeof buf, "ab\x01" "cdefgh", 0);
	ck_assert_str_eq(buf, "ab...");
	n = util_escape_into(buf, sizeof buf, "abcdefghij", 0);
	ck_assert_str_eq(buf, "abcd...");
	n = util_escape_into(buf, sizeof buf, "abcd\x01", 0);
	ck_assert_str_eq(buf, "abcd...");
	n = util_escape_into(buf, sizeof buf, "ab\xc3\xa9\xc3\xa9\xc3\xa9", 0);
	ck_assert_str_eq(buf, "ab\xc3\xa9...");
	ck_assert_uint_eq(n, 7);
	/* The last character may use the room. */
	n = util_escape_into(buf, sizeof buf, "abcd\n", 0);
	ck_assert_str_eq(buf, "abcd\\n");
	n = util_escape_into(buf, 1, "abc", 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(buf, "");
	/* The same bytes as util_escape when it fits. */
	n = util_escape_into(buf, sizeof buf, "abcdef", 3);
	ck_assert_str_eq(buf, "abc...");
}
END_TEST

START_TEST(utf8_cut)
{
	ck_assert_uint_eq(util_utf8_cut("abc", 2), 2);
	ck_assert_uint_eq(util_utf8_cut("abc", 3), 3);
	ck_assert_uint_eq(util_utf8_cut("\xc3\xa9\xc3\xa9", 3), 2);
	ck_assert_uint_eq(util_utf8_cut("\xc3\xa9\xc3\xa9", 2), 2);
	ck_assert_uint_eq(util_utf8_cut("a\xf0\x9f\x98\x80", 2), 1);
	ck_assert_uint_eq(util_utf8_cut("a\xf0\x9f\x98\x80", 4), 1);
	ck_assert_uint_eq(util_utf8_cut("a\xf0\x9f\x98\x80", 5), 5);
	ck_assert_uint_eq(util_utf8_cut("\xe0\xb8\x81", 1), 0);
}
END_TEST

/* UUIDv7: 36 characters, version 7, RFC 4122 variant, the time first. */
START_TEST(delivery_ids)
{
	char a[40], b[40], hex[13];
	long long before = (long long)(util_now_usec() / 1000), ms;
	int i, j;

	util_delivery_id(a);
	ck_assert_uint_eq(strlen(a), 36);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			ck_assert_msg(a[i] == '-', "%s", a);
		else
			ck_assert_msg(strchr("0123456789abcdef", a[i]) != NULL,
			    "%s", a);
	}
	ck_assert_int_eq(a[14], '7');
	ck_assert_ptr_nonnull(strchr("89ab", a[19]));
	/* The first 48 bits: milliseconds since the epoch, now. */
	memcpy(hex, a, 8);
	memcpy(hex + 8, a + 9, 4);
	hex[12] = '\0';
	ms = strtoll(hex, NULL, 16);
	ck_assert_int_ge(ms, before);
	ck_assert_int_le(ms, (long long)(util_now_usec() / 1000));
	/* Time-ordered and never the same twice. */
	for (j = 0; j < 1000; j++) {
		util_delivery_id(b);
		ck_assert_str_ne(a, b);
		ck_assert_int_le(strncmp(a, b, 13), 0);
		memcpy(a, b, sizeof a);
	}
	/* The random part is never reused, across the refills of the
	 * thread's pool of random bytes too (24 ids a refill). */
	{
		static char tails[100][24];

		for (i = 0; i < 100; i++) {
			util_delivery_id(b);
			memcpy(tails[i], b + 14, 22);
			tails[i][22] = '\0';
			for (j = 0; j < i; j++)
				ck_assert_str_ne(tails[i], tails[j]);
		}
	}
}
END_TEST

START_TEST(signal_names)
{
	char buf[32];

	ck_assert_str_eq(util_signal_name(SIGKILL, buf, sizeof buf),
	    "SIGKILL");
	ck_assert_str_eq(util_signal_name(SIGTERM, buf, sizeof buf),
	    "SIGTERM");
	ck_assert_str_eq(util_signal_name(SIGSEGV, buf, sizeof buf),
	    "SIGSEGV");
	ck_assert_str_eq(util_signal_name(1000, buf, sizeof buf), "unknown");
}
END_TEST

START_TEST(write_all)
{
	char *dir = tu_tmpdir(), *path, *big, *back;
	size_t len = 3 * 1024 * 1024 + 7, got, i;
	int fd;

	ck_assert_int_ge(asprintf(&path, "%s/out", dir), 0);
	big = malloc(len);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < len; i++)
		big[i] = (char)('a' + i % 26);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(util_write_all(fd, big, len), 0);
	ck_assert_int_eq(util_write_all(fd, "", 0), 0);
	ck_assert_int_eq(close(fd), 0);
	back = tu_read_file(path, &got);
	ck_assert_uint_eq(got, len);
	ck_assert(memcmp(back, big, len) == 0);
	/* A write that fails says so, with errno. */
	errno = 0;
	ck_assert_int_eq(util_write_all(fd, big, len), -1);
	ck_assert_int_eq(errno, EBADF);
	free(back);
	free(big);
	free(path);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(deadline_and_strings)
{
	struct timespec now, ts;
	long long diff;
	char *s;

	clock_gettime(CLOCK_MONOTONIC, &now);
	util_deadline(&ts, 1999);
	ck_assert_int_lt(ts.tv_nsec, 1000000000L);
	diff = ((long long)ts.tv_sec - now.tv_sec) * 1000 +
	    (ts.tv_nsec - now.tv_nsec) / 1000000;
	ck_assert_int_ge(diff, 1999);
	ck_assert_int_lt(diff, 2999);
	s = xasprintf("%s-%d", "x", 42);
	ck_assert_str_eq(s, "x-42");
	free(s);
	s = xstrndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free(s);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, durations_and_sizes);
	tcase_add_test(tc, more_durations);
	tcase_add_test(tc, more_sizes);
	tcase_add_test(tc, ints_and_bools);
	tcase_add_test(tc, format_duration);
	tcase_add_test(tc, escape);
	tcase_add_test(tc, escape_into);
	tcase_add_test(tc, utf8_cut);
	tcase_add_test(tc, delivery_ids);
	tcase_add_test(tc, signal_names);
	tcase_add_test(tc, write_all);
	tcase_add_test(tc, deadline_and_strings);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
