/* tests/check_refset.c: the bounded hash sets of ref pairs behind a
 * coroutine's monitors and a peer's watch records (engine/refset.c) —
 * adds, duplicates, lookups and removals against a plain array as the
 * model, over thousands of random operations (removal by backward shift
 * must keep every remaining pair findable); the bound; many pairs that
 * differ in one field only; a set emptied and reused. The helpers are
 * internal (hidden in the library), so this program compiles
 * engine/refset.c itself.
 */
#include "tests/testutil.h"

#include "engine/engine.h"

/* A ref of coroutine id on node (port) with incarnation inc. */
static ac_ref mkref(uint64_t id, uint16_t port, uint64_t inc)
{
	ac_ref r = ac_ref_null();
	r.kind = AC_REF_CORO;
	r.id = id;
	r.inc = inc;
	CK_OK(ac_addr_parse(&r.loc, "127.0.0.1", port));
	return r;
}

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

enum { MODEL_MAX = 512, OPS = 20000 };

/* Random adds and removals over a small key space (so both hit often),
 * checked against an array after every operation. */
START_TEST(test_model)
{
	ac__refset rs;
	ac__refpair model[MODEL_MAX];
	int n = 0, op, i;
	memset(&rs, 0, sizeof(rs));
	rs.rs_key = 0x1234;
	for (op = 0; op < OPS; op++) {
		ac_ref a = mkref(1 + rnd() % 300, 7000, 5);
		ac_ref b = mkref(1 + rnd() % 3, 7001, 9);
		int in = -1;
		for (i = 0; i < n; i++)
			if (ac_ref_eq(model[i].a, a) && ac_ref_eq(model[i].b, b))
				in = i;
		ck_assert_int_eq(ac__refset_has(&rs, a, b), in >= 0);
		if (rnd() % 2) {
			int rc = ac__refset_add(&rs, a, b, MODEL_MAX);
			ck_assert_int_eq(rc, in >= 0 ? 0 : 1);
			if (in < 0) {
				model[n].a = a;
				model[n].b = b;
				n++;
			}
		} else {
			ck_assert_int_eq(ac__refset_del(&rs, a, b), in >= 0);
			if (in >= 0)
				model[in] = model[--n];
		}
		ck_assert_uint_eq(rs.rs_n, (unsigned)n);
		ck_assert_uint_le(rs.rs_n * 2, rs.rs_cap);
	}
	/* every pair of the model is still found, and nothing else */
	for (i = 0; i < n; i++)
		ck_assert(ac__refset_has(&rs, model[i].a, model[i].b));
	{
		uint32_t used = 0, k;
		for (k = 0; k < rs.rs_cap; k++)
			used += rs.rs_tab[k].a.kind != AC_REF_NONE;
		ck_assert_uint_eq(used, (unsigned)n);
	}
	ac__refset_free(&rs);
	ck_assert_uint_eq(rs.rs_n, 0);
	ck_assert_uint_eq(rs.rs_key, 0x1234);
}
END_TEST

/* The bound: max pairs, then -ENOBUFS (a duplicate is still 0); after a
 * removal there is room for one more. */
START_TEST(test_bound)
{
	ac__refset rs;
	uint64_t i;
	memset(&rs, 0, sizeof(rs));
	for (i = 0; i < 100; i++)
		CK_RC(ac__refset_add(&rs, mkref(i + 1, 1, 1), ac_ref_null(), 100), 1);
	CK_RC(ac__refset_add(&rs, mkref(500, 1, 1), ac_ref_null(), 100), -ENOBUFS);
	CK_RC(ac__refset_add(&rs, mkref(7, 1, 1), ac_ref_null(), 100), 0);
	ck_assert_uint_eq(rs.rs_n, 100);
	CK_RC(ac__refset_del(&rs, mkref(7, 1, 1), ac_ref_null()), 1);
	CK_RC(ac__refset_del(&rs, mkref(7, 1, 1), ac_ref_null()), 0);
	CK_RC(ac__refset_add(&rs, mkref(500, 1, 1), ac_ref_null(), 100), 1);
	ac__refset_free(&rs);
}
END_TEST

/* Pairs that differ only in the incarnation, the port or the second ref
 * are different pairs. */
START_TEST(test_fields)
{
	ac__refset rs;
	memset(&rs, 0, sizeof(rs));
	CK_RC(ac__refset_add(&rs, mkref(1, 1, 1), mkref(2, 2, 2), 10), 1);
	CK_RC(ac__refset_add(&rs, mkref(1, 1, 3), mkref(2, 2, 2), 10), 1);
	CK_RC(ac__refset_add(&rs, mkref(1, 4, 1), mkref(2, 2, 2), 10), 1);
	CK_RC(ac__refset_add(&rs, mkref(1, 1, 1), mkref(2, 2, 5), 10), 1);
	CK_RC(ac__refset_add(&rs, mkref(1, 1, 1), ac_ref_null(), 10), 1);
	CK_RC(ac__refset_add(&rs, mkref(1, 1, 1), mkref(2, 2, 2), 10), 0);
	ck_assert_uint_eq(rs.rs_n, 5);
	ac__refset_free(&rs);
}
END_TEST

static Suite *refset_suite(void)
{
	Suite *s = suite_create("refset");
	TCase *tc = tcase_create("refset");
	tcase_add_test(tc, test_model);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_fields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(refset_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
