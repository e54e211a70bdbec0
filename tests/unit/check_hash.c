/* The hash table of hash.c: uint64, digest and string keys, growth far
 * past its first buckets, removal, and emptying it with hash_pop. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util.h"

struct num {
	struct hash_entry	 h;
	uint64_t		 key;
};

struct word {
	struct hash_entry	 h;
	char			 key[16];
};

static struct num *
num_find(struct hash *t, uint64_t key)
{
	struct hash_entry *e = hash_find(t, &key);

	return e != NULL ? hash_item(e, struct num, h) : NULL;
}

/* Thousands of keys in a table made for 4: each found, as itself. */
START_TEST(u64_keys_grow)
{
	struct hash *t = hash_new(sizeof(uint64_t), 4);
	struct num *n = xcalloc(5000, sizeof *n);
	uint64_t i;

	for (i = 0; i < 5000; i++) {
		n[i].key = i * 7919;
		hash_add(t, &n[i].h, &n[i].key);
	}
	for (i = 0; i < 5000; i++)
		ck_assert_ptr_eq(num_find(t, i * 7919), &n[i]);
	ck_assert_ptr_null(num_find(t, 1));
	ck_assert_ptr_null(num_find(t, 5000 * 7919));
	hash_free(t);
	free(n);
}
END_TEST

/* A removed entry is gone, the others stay; removing it again, or one
 * never added, changes nothing. */
START_TEST(remove_entry)
{
	struct hash *t = hash_new(sizeof(uint64_t), 2);
	struct num n[10], stray;
	uint64_t i;

	memset(&stray, 0, sizeof stray);
	stray.key = 3;
	for (i = 0; i < 10; i++) {
		n[i].key = i;
		hash_add(t, &n[i].h, &n[i].key);
	}
	hash_remove(t, &n[3].h);
	hash_remove(t, &n[3].h);
	stray.h.hv = n[3].h.hv;
	hash_remove(t, &stray.h);
	ck_assert_ptr_null(num_find(t, 3));
	for (i = 0; i < 10; i++)
		if (i != 3)
			ck_assert_ptr_eq(num_find(t, i), &n[i]);
	hash_add(t, &n[3].h, &n[3].key);
	ck_assert_ptr_eq(num_find(t, 3), &n[3]);
	hash_free(t);
}
END_TEST

/* Keys of 16 bytes that differ only after the first eight are told
 * apart. */
START_TEST(digest_keys)
{
	struct hash *t = hash_new(16, 8);
	struct word a, b;
	struct hash_entry *e;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(a.key, 'x', sizeof a.key);
	memcpy(b.key, a.key, sizeof b.key);
	b.key[15] = 'y';
	hash_add(t, &a.h, a.key);
	hash_add(t, &b.h, b.key);
	ck_assert_ptr_eq(hash_find(t, a.key), &a.h);
	ck_assert_ptr_eq(hash_find(t, b.key), &b.h);
	b.key[15] = 'z';	/* a key never added */
	e = hash_find(t, b.key);
	ck_assert_ptr_null(e);
	hash_free(t);
}
END_TEST

START_TEST(string_keys)
{
	struct hash *t = hash_new(HASH_STRING, 1);
	struct word w[100];
	char key[16];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(w[i].key, sizeof w[i].key, "id-%d", i);
		hash_add(t, &w[i].h, w[i].key);
	}
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "id-%d", i);
		ck_assert_ptr_eq(hash_find(t, key), &w[i].h);
	}
	ck_assert_ptr_null(hash_find(t, "id-100"));
	ck_assert_ptr_null(hash_find(t, "id-"));
	hash_free(t);
}
END_TEST

/* hash_pop gives every entry once, then NULL; entries added after some
 * were popped are given too. */
START_TEST(pop_all)
{
	struct hash *t = hash_new(sizeof(uint64_t), 16);
	struct num n[300];
	struct hash_entry *e;
	int seen[300] = { 0 }, count = 0;
	uint64_t i;

	for (i = 0; i < 200; i++) {
		n[i].key = i;
		hash_add(t, &n[i].h, &n[i].key);
	}
	for (i = 0; i < 50; i++) {
		ck_assert_ptr_nonnull(e = hash_pop(t));
		seen[hash_item(e, struct num, h)->key]++;
		count++;
	}
	for (i = 200; i < 300; i++) {
		n[i].key = i;
		hash_add(t, &n[i].h, &n[i].key);
	}
	while ((e = hash_pop(t)) != NULL) {
		seen[hash_item(e, struct num, h)->key]++;
		count++;
	}
	ck_assert_int_eq(count, 300);
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(seen[i], 1);
	ck_assert_ptr_null(hash_find(t, &n[0].key));
	hash_free(t);
	hash_free(NULL);
}
END_TEST

static Suite *
hash_suite(void)
{
	Suite *s = suite_create("hash");
	TCase *tc = tcase_create("hash");

	tcase_add_test(tc, u64_keys_grow);
	tcase_add_test(tc, remove_entry);
	tcase_add_test(tc, digest_keys);
	tcase_add_test(tc, string_keys);
	tcase_add_test(tc, pop_all);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hash_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
