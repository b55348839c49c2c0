/* The writer's marks of streams with bytes not written (cacheserverd/tiers/gaps.c): a head
 * of a marked stream is withheld until what is missing is written again, and not only the
 * next head (the failure found by the crash loop on a full value log: appends queued before
 * a failed one each carried a head naming the gap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store.h"
#include "tiering-internal.h"

#define CHUNK STORE_STREAM_CHUNK

static int teardown(void **state)
{
    (void)state;
    tiering_gap_teardown();
    return 0;
}

/* Appended bytes lost: heads stay withheld through later appends (which start inside the
 * chunk) until the whole last chunk is written again (an append record at a chunk's start). */
static void test_missing_appends_until_the_tail_is_whole(void **state)
{
    (void)state;
    assert_false(tiering_gap_blocks(7));
    tiering_gap_missing(7, true, 0);
    assert_true(tiering_gap_blocks(7));
    assert_false(tiering_gap_blocks(8)); /* another stream is not concerned */
    tiering_gap_written(7, true, 100);    /* a later append, queued before the failure showed */
    assert_true(tiering_gap_blocks(7));
    tiering_gap_written(7, true, 2 * CHUNK + 5);
    assert_true(tiering_gap_blocks(7));
    tiering_gap_written(7, true, 2 * CHUNK); /* the whole last chunk (resync, or a new chunk) */
    assert_false(tiering_gap_blocks(7));
    assert_int_equal(tiering_gap_count(), 0);
}

/* Whole chunks lost: each must be written again; appended bytes do not heal them. */
static void test_missing_chunks_until_each_is_written(void **state)
{
    (void)state;
    tiering_gap_missing(9, false, 3);
    tiering_gap_missing(9, false, 4);
    tiering_gap_missing(9, false, 3); /* twice: one mark */
    tiering_gap_written(9, true, 5 * CHUNK);
    assert_true(tiering_gap_blocks(9));
    tiering_gap_written(9, false, 3);
    assert_true(tiering_gap_blocks(9));
    tiering_gap_written(9, false, 4);
    assert_false(tiering_gap_blocks(9));
}

/* Both at once; and a deleted stream's mark goes with its records. */
static void test_both_and_deleted(void **state)
{
    (void)state;
    tiering_gap_missing(11, false, 0);
    tiering_gap_missing(11, true, 0);
    tiering_gap_written(11, false, 0);
    assert_true(tiering_gap_blocks(11));
    tiering_gap_written(11, true, CHUNK);
    assert_false(tiering_gap_blocks(11));
    tiering_gap_missing(12, true, 0);
    tiering_gap_gone(12);
    assert_false(tiering_gap_blocks(12));
}

/* More missing chunks than a mark holds: withheld until the stream is deleted. */
static void test_overflow_stays_until_deleted(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < 20; i++)
        tiering_gap_missing(13, false, i);
    for (uint32_t i = 0; i < 20; i++)
        tiering_gap_written(13, false, i);
    assert_true(tiering_gap_blocks(13));
    tiering_gap_gone(13);
    assert_false(tiering_gap_blocks(13));
    /* many streams at once (the table grows) */
    for (uint64_t sid = 100; sid < 1100; sid++)
        tiering_gap_missing(sid, true, 0);
    assert_int_equal(tiering_gap_count(), 1000);
    for (uint64_t sid = 100; sid < 1100; sid++) {
        assert_true(tiering_gap_blocks(sid));
        tiering_gap_written(sid, true, 0);
    }
    assert_int_equal(tiering_gap_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_missing_appends_until_the_tail_is_whole, teardown),
        cmocka_unit_test_teardown(test_missing_chunks_until_each_is_written, teardown),
        cmocka_unit_test_teardown(test_both_and_deleted, teardown),
        cmocka_unit_test_teardown(test_overflow_stays_until_deleted, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
