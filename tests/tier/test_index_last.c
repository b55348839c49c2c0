/* The tier index's record of a key's last record on disk while a change of it waits
 * (cacheserverd/tiers/index.c, tix_last_is): what a value log's reclaim keeps instead of
 * waiting for the writer's queue (docs/valuelog.md, "Reclaim with persistence"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "index.h"

static const struct tix_loc A = {7, 4096 + 64}, B = {9, 4096 + 640}, C = {65536 + 7, 8192};

static int setup(void **state)
{
    (void)state;
    return tix_setup();
}

static int teardown(void **state)
{
    (void)state;
    tix_teardown();
    return 0;
}

/* A change of a key on the log: its record stays the last one, through more changes and a
 * delete queued, until a job of the key is written. */
static void test_changes_keep_the_written_record(void **state)
{
    (void)state;
    uint64_t h = 0x1111;
    assert_true(tix_add_live(h, 0, 1, TIX_SSD, 100, false, A));
    tix_set_queued(h, 0, 2, NULL);
    struct tix_entry e = tix_get(h);
    assert_true(tix_last_is(&e, A));
    assert_false(tix_last_is(&e, B));
    assert_false(tix_last_is(&e, C)); /* another segment, even in the same slot's range */
    tix_set_queued(h, 0, 3, NULL);
    bool stream;
    tix_tomb(h, 0, 4, false, &stream, NULL);
    e = tix_get(h);
    assert_int_equal(e.state, TIX_TOMB);
    assert_true(tix_last_is(&e, A));
    /* job 2 written at B while the entry waits for 4: B is the last record now */
    assert_false(tix_written(h, 2, TIX_SSD, 100, false, B));
    e = tix_get(h);
    assert_true(tix_last_is(&e, B));
    /* the reclaim copied B to C */
    assert_false(tix_last_move(h, A, C));
    assert_true(tix_last_move(h, B, C));
    e = tix_get(h);
    assert_true(tix_last_is(&e, C));
    /* an older delete written: the last record is a delete */
    tix_deleted(h);
    e = tix_get(h);
    assert_false(tix_last_is(&e, C));
    assert_false(tix_last_put(&e));
}

/* Written with its own sequence: LIVE, nothing kept. From no entry: nothing. On a RocksDB
 * tier: a put, but at no place on a log. */
static void test_written_new_and_elsewhere(void **state)
{
    (void)state;
    uint64_t h = 0x2222;
    tix_set_queued(h, 0, 1, NULL);
    struct tix_entry e = tix_get(h);
    assert_false(tix_last_put(&e));
    assert_true(tix_written(h, 1, TIX_SSD, 50, false, A));
    e = tix_get(h);
    assert_int_equal(e.state, TIX_LIVE);
    assert_false(tix_last_is(&e, A)); /* LIVE: its record is named, not kept */
    uint64_t g = 0x3333;
    assert_true(tix_add_live(g, 0, 1, TIX_HDD, 50, false, TIX_NOLOC));
    tix_set_queued(g, 0, 2, NULL);
    e = tix_get(g);
    assert_true(tix_last_put(&e));
    assert_false(tix_last_is(&e, TIX_NOLOC));
}

/* A change whose job could not be queued puts the entry back; the reclaim may have moved
 * the key's last record meanwhile: the entry put back never names the old place. */
static void test_restore_keeps_the_moved_place(void **state)
{
    (void)state;
    uint64_t h = 0x4444;
    assert_true(tix_add_live(h, 0, 1, TIX_SSD, 100, false, A));
    struct tix_entry before = tix_set_queued(h, 0, 2, NULL);
    tix_restore(h, &before); /* nothing moved: LIVE at A again */
    struct tix_entry e = tix_get(h);
    assert_int_equal(e.state, TIX_LIVE);
    assert_true(tix_loc_eq(e.loc, A));
    before = tix_set_queued(h, 0, 3, NULL);
    assert_true(tix_last_move(h, A, B));
    tix_restore(h, &before);
    e = tix_get(h);
    assert_int_equal(e.state, TIX_TOMB); /* read as absent, still keeping B */
    assert_true(tix_last_is(&e, B));
    /* a waiting entry put back takes the current place too */
    before = tix_set_queued(h, 0, 4, NULL); /* before: that TOMB, last B */
    assert_true(tix_last_move(h, B, C));
    tix_restore(h, &before);
    e = tix_get(h);
    assert_true(tix_last_is(&e, C));
}

/* tix_add_many, as the replay uses it: for each hash the first of its entries in the array
 * decides (later ones are older records), whatever the shards' order; an entry already in
 * the index (a change made meanwhile) is never replaced; the outcome is the same as
 * tix_add_live and tix_add_tomb one at a time. */
static void test_add_many_keeps_each_hash_first_entry(void **state)
{
    (void)state;
    enum { N = 5000, KEYS = 1500 };
    static struct tix_add a[N];
    uint64_t pre = 0x9e3779b97f4a7c15ull * 7; /* key 7's hash: in the index before */
    assert_true(tix_add_live(pre, 0, 1, TIX_SSD, 10, false, A));
    for (int i = 0; i < N; i++) {
        int key = (i * 7919) % KEYS; /* each key 3-4 times, spread over the array */
        a[i] = (struct tix_add){.hash = 0x9e3779b97f4a7c15ull * (uint64_t)key,
                                .seq = 100 + (uint64_t)i, .loc = {1, 4096 + 8 * (uint32_t)i},
                                .dlen = (uint32_t)i + 1, .tier = TIX_SSD,
                                .live = i % 3 != 0};
    }
    tix_add_many(a, N);
    static bool seen[KEYS];
    for (int i = 0; i < N; i++) {
        int key = (i * 7919) % KEYS;
        bool first = !seen[key] && a[i].hash != pre;
        seen[key] = true;
        assert_int_equal(a[i].added, first);
        struct tix_entry e = tix_get(a[i].hash);
        if (a[i].hash == pre) {
            assert_int_equal(e.seq, 1);
            continue;
        }
        if (!first)
            continue;
        assert_int_equal(e.seq, a[i].seq);
        assert_int_equal(e.state, a[i].live ? TIX_LIVE : TIX_TOMB);
        if (a[i].live)
            assert_true(tix_loc_eq(e.loc, a[i].loc) && e.dlen == a[i].dlen);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changes_keep_the_written_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_written_new_and_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_keeps_the_moved_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_many_keeps_each_hash_first_entry, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
