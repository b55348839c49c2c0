/* Reads from the shared-memory region (docs/shm-reads.md, step 4), against real cacheserverd
 * processes:
 *   basic   a region hit answers what the socket answers (type, value, ttl, version) for
 *           every type, counters included; MGET mixes region hits, socket hits and misses in
 *           order; one key in two namespaces; values over 4 KiB and streams are never read
 *           from the region; cc_options.shm_reads = 0 reads only the socket; region hits are
 *           reported (STATS hits, ns.<name>.hits, shm.hits) by the next socket request and at
 *           cc_client_destroy.
 *   corrupt (fault builds, else "# skipped") FAULT corrupt-shm: reads answer the right values
 *           through the socket, the client reports the hashes, the server finds the copies
 *           bad itself (corrupt_values) and publishes the keys again.
 * A key is published by the server after its second socket read (the admission rule);
 * _publish reads it until shm.published says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client-internal.h"
#include "client_test.h"
#include "harness.h"

static cc_client *_client_ns(const char *ns, int shm_reads)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(srv);
    o.ns = ns;
    o.client_name = "test_shm_reads";
    o.shm_reads = shm_reads;
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    EXPECT_STATUS(c, CC_OK, cc_connect(c));
    return c;
}

static uint64_t _hits(const cc_client *c)
{
    cc_shm_info s;
    cc_shm_stats(c, &s);
    return s.hits;
}

/* Read key through c until the server has published it (at most 2 s), then once more: the
 * read that must come from the region. */
static void _publish(cc_client *c, const char *key)
{
    for (int i = 0; i < 200; i++) {
        uint64_t before = _hits(c);
        cc_item it;
        int st = cc_get(c, key, strlen(key), &it);
        cc_item_release(&it);
        EXPECT_STATUS(c, CC_OK, st);
        if (_hits(c) > before)
            return;
        usleep(10000);
    }
    fail_msg("key %s was never read from the region", key);
}

/* A read of a published key that the region answers. Usually the first try; a region whose
 * heartbeat is late (csd-shm starved on a loaded host, as under ThreadSanitizer beside other
 * tests) makes reads go to the socket meanwhile: then try again, at most 2 s. */
static void _region_get(cc_client *c, const char *key, cc_item *it)
{
    for (int i = 0; i < 200; i++) {
        uint64_t before = _hits(c);
        EXPECT_STATUS(c, CC_OK, cc_get(c, key, strlen(key), it));
        if (_hits(c) == before + 1)
            return;
        cc_item_release(it);
        usleep(10000);
    }
    fail_msg("key %s was not read from the region again", key);
}

/* The region's answer for key equals the socket's. */
static void _same_answer(cc_client *region, cc_client *sock, const char *key)
{
    _publish(region, key);
    cc_item a, b;
    _region_get(region, key, &a);
    EXPECT_STATUS(sock, CC_OK, cc_get(sock, key, strlen(key), &b));
    assert_true(a.found && b.found);
    assert_int_equal(a.value.type, b.value.type);
    assert_int_equal(a.version, b.version);
    assert_int_equal(a.value.len, b.value.len);
    if (a.value.len)
        assert_memory_equal(a.value.data, b.value.data, a.value.len);
    assert_int_equal(a.value.i, b.value.i);
    assert_int_equal(a.value.u, b.value.u);
    assert_int_equal(a.value.b, b.value.b);
    assert_true(a.value.f == b.value.f);
    assert_int_equal(a.value.class_len, b.value.class_len);
    if (a.value.class_len)
        assert_memory_equal(a.value.class_name, b.value.class_name, a.value.class_len);
    assert_int_equal(a.value.serializer, b.value.serializer);
    if (b.ttl_ms < 0) {
        assert_int_equal(a.ttl_ms, -1);
    } else { /* read a moment apart: within a second of each other */
        assert_true(a.ttl_ms >= 0 && a.ttl_ms <= 600000);
        assert_true(llabs(a.ttl_ms - b.ttl_ms) < 1000);
    }
    cc_item_release(&a);
    cc_item_release(&b);
}

static void _set(cc_client *c, const char *key, const cc_value *v, uint64_t ttl_ms)
{
    EXPECT_STATUS(c, CC_OK, cc_set(c, key, strlen(key), v, ttl_ms, 0, 0, NULL));
}

static void test_shm_basic(void **state)
{
    (void)state;
    const char *args[] = {"--memory", "64MiB", "--shm-reads", "true", NULL};
    srv = harness_start(args);
    cc_client *c = _client_ns(NULL, 1), *s = _client_ns(NULL, 0);
    assert_int_not_equal(cc_shm_region_id(c), 0);
    assert_int_equal(cc_shm_region_id(s), 0); /* shm_reads = 0 does not even ask */

    /* every type */
    cc_value v = cc_value_null();
    _set(c, "null", &v, 0);
    v = cc_value_bool(true);
    _set(c, "bool", &v, 0);
    v = cc_value_int(-42);
    _set(c, "int", &v, 0);
    v = cc_value_float(2.5);
    _set(c, "float", &v, 600000);
    v = cc_value_bytes("hello", 5);
    _set(c, "bytes", &v, 0);
    v = cc_value_bytes("", 0);
    _set(c, "empty", &v, 0);
    const uint8_t arr[] = {0x93, 0x01, 0xa1, 'x', 0xc3}; /* [1, "x", true] */
    v = cc_value_msgpack(CC_TYPE_ARRAY, arr, sizeof(arr));
    _set(c, "array", &v, 0);
    const uint8_t map[] = {0x81, 0xa1, 'k', 0x92, 0x01, 0x02}; /* {"k": [1, 2]} */
    v = cc_value_msgpack(CC_TYPE_MAP, map, sizeof(map));
    _set(c, "map", &v, 0);
    v = cc_value_object("App\\User", 8, 1, "O:8:...", 7);
    _set(c, "object", &v, 0);
    int64_t n;
    EXPECT_STATUS(c, CC_OK, cc_incr(c, "counter", 7, 5, 0, 0, &n));
    const char *keys[] = {"null", "bool", "int", "float", "bytes", "empty", "array", "map",
                          "object", "counter"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        _same_answer(c, s, keys[i]);
    /* a counter changed: the region never answers the old number */
    EXPECT_STATUS(c, CC_OK, cc_incr(c, "counter", 7, 1, 0, 0, &n));
    cc_item it;
    EXPECT_STATUS(c, CC_OK, cc_get(c, "counter", 7, &it));
    assert_int_equal(it.value.i, 6);
    cc_item_release(&it);

    /* MGET: region hits, socket reads and misses, in order */
    const void *mk[] = {"bytes", "nope", "int", "map", "never-read"};
    size_t ml[] = {5, 4, 3, 3, 10};
    v = cc_value_bytes("cold", 4);
    _set(c, "never-read", &v, 0);
    cc_shm_info before, after;
    bool mixed = false; /* bytes, int, map are published: 3 region hits (retried as above) */
    for (int tries = 0; tries < 200 && !mixed; tries++) {
        cc_shm_stats(c, &before);
        cc_item out[5];
        EXPECT_STATUS(c, CC_OK, cc_mget(c, 5, mk, ml, out));
        cc_shm_stats(c, &after);
        mixed = after.hits == before.hits + 3;
        assert_true(out[0].found && out[0].value.len == 5 &&
                    !memcmp(out[0].value.data, "hello", 5));
        assert_false(out[1].found);
        assert_true(out[2].found && out[2].value.i == -42);
        assert_true(out[3].found && out[3].value.type == CC_TYPE_MAP);
        assert_true(out[4].found && out[4].value.len == 4 &&
                    !memcmp(out[4].value.data, "cold", 4));
        for (int i = 0; i < 5; i++)
            cc_item_release(&out[i]);
        if (!mixed)
            usleep(10000);
    }
    assert_true(mixed);

    /* one key in two namespaces */
    cc_client *a = _client_ns("alpha", 1), *b = _client_ns("beta", 1);
    v = cc_value_bytes("in alpha", 8);
    _set(a, "same", &v, 0);
    v = cc_value_bytes("in beta", 7);
    _set(b, "same", &v, 0);
    _publish(a, "same");
    _publish(b, "same");
    EXPECT_STATUS(a, CC_OK, cc_get(a, "same", 4, &it));
    assert_int_equal(it.value.len, 8);
    cc_item_release(&it);
    EXPECT_STATUS(b, CC_OK, cc_get(b, "same", 4, &it));
    assert_int_equal(it.value.len, 7);
    cc_item_release(&it);
    /* a client that switches namespace reads the other namespace's copy (the server is told
     * only before the next socket request: the switch costs a region reader nothing) */
    EXPECT_STATUS(a, CC_OK, cc_select_ns(a, "beta"));
    assert_true(a->ns_owed);
    EXPECT_STATUS(a, CC_OK, cc_get(a, "same", 4, &it));
    assert_int_equal(it.value.len, 7);
    cc_item_release(&it);
    assert_true(a->ns_owed); /* a region hit: still untold */
    /* its next socket request goes to beta, and back in alpha to alpha */
    v = cc_value_bytes("written via a in beta", 21);
    _set(a, "switched", &v, 0);
    assert_false(a->ns_owed);
    EXPECT_STATUS(b, CC_OK, cc_get(b, "switched", 8, &it));
    assert_int_equal(it.value.len, 21);
    cc_item_release(&it);
    EXPECT_STATUS(a, CC_OK, cc_select_ns(a, "alpha"));
    v = cc_value_bytes("written via a in alpha", 22);
    _set(a, "switched", &v, 0);
    EXPECT_STATUS(b, CC_OK, cc_get(b, "switched", 8, &it));
    assert_int_equal(it.value.len, 21); /* beta's is unchanged */
    cc_item_release(&it);
    cc_client *a2 = _client_ns("alpha", 0);
    EXPECT_STATUS(a2, CC_OK, cc_get(a2, "switched", 8, &it));
    assert_int_equal(it.value.len, 22);
    cc_item_release(&it);
    cc_client_destroy(&a2);
    /* a namespace the server has never seen is selected at once, as before */
    EXPECT_STATUS(a, CC_OK, cc_select_ns(a, "gamma-new"));
    assert_false(a->ns_owed);

    /* over 4 KiB, and streams: always the socket */
    char big[5000];
    memset(big, 'b', sizeof(big));
    v = cc_value_bytes(big, sizeof(big));
    _set(c, "big", &v, 0);
    EXPECT_STATUS(c, CC_OK, cc_append(c, "stream", 6, "abc", 3, 0, NULL));
    uint64_t h0 = _hits(c);
    for (int i = 0; i < 5; i++) {
        EXPECT_STATUS(c, CC_OK, cc_get(c, "big", 3, &it));
        assert_int_equal(it.value.len, sizeof(big));
        cc_item_release(&it);
        EXPECT_STATUS(c, CC_OK, cc_get(c, "stream", 6, &it));
        assert_int_equal(it.value.len, 3);
        cc_item_release(&it);
        usleep(5000);
    }
    assert_int_equal(_hits(c), h0);

    /* lease_get answers a hit from the region, without a lease */
    bool leased_hit = false;
    for (int tries = 0; tries < 200 && !leased_hit; tries++) {
        uint64_t tok = 1;
        h0 = _hits(c);
        EXPECT_STATUS(c, CC_OK, cc_lease_get(c, "bytes", 5, 0, &it, &tok, NULL));
        assert_int_equal(tok, 0);
        assert_int_equal(it.value.len, 5);
        cc_item_release(&it);
        leased_hit = _hits(c) == h0 + 1;
        if (!leased_hit)
            usleep(10000);
    }
    assert_true(leased_hit);

    /* a client reading only the socket is never answered from the region */
    for (int i = 0; i < 3; i++) {
        EXPECT_STATUS(s, CC_OK, cc_get(s, "bytes", 5, &it));
        cc_item_release(&it);
    }
    assert_int_equal(_hits(s), 0);

    /* the hits reach the server's STATS: a socket request carries them, and so does the
     * client's end */
    uint64_t hits_srv = harness_stat(srv, "hits");
    uint64_t unreported = _hits(c) + _hits(a) + _hits(b);
    cc_client_destroy(&a);
    cc_client_destroy(&b);
    cc_client_destroy(&c);
    cc_client_destroy(&s);
    assert_true(harness_stat(srv, "shm.hits") >= unreported);
    assert_true(harness_stat(srv, "hits") >= hits_srv);
    harness_destroy(&srv);
}

static void test_shm_corrupt(void **state)
{
    (void)state;
    const char *args[] = {"--memory", "64MiB", "--shm-reads", "true", NULL};
    srv = harness_start(args);
    if (harness_skip_without_faults(&srv))
        return;
    cc_client *c = _client_ns(NULL, 1);
    char key[16], val[64];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "ck%d", i);
        snprintf(val, sizeof(val), "the right value of %s", key);
        cc_value v = cc_value_bytes(val, strlen(val));
        _set(c, key, &v, 0);
        _publish(c, key);
    }
    uint64_t corrupt0 = harness_stat(srv, "corrupt_values");
    int64_t flipped = harness_fault(srv, "corrupt-shm", 4);
    assert_true(flipped >= 1);
    /* every read answers the right value: from the socket when the copy is bad */
    cc_shm_info before, after;
    cc_shm_stats(c, &before);
    after = before;
    /* (a late heartbeat sends reads to the socket without looking: read again until every
     * bad copy was met once, at most 2 s) */
    for (int tries = 0; tries < 200 && after.checksum - before.checksum < (uint64_t)flipped;
         tries++) {
        for (int i = 0; i < 4; i++) {
            snprintf(key, sizeof(key), "ck%d", i);
            snprintf(val, sizeof(val), "the right value of %s", key);
            cc_item it;
            EXPECT_STATUS(c, CC_OK, cc_get(c, key, strlen(key), &it));
            assert_int_equal(it.value.len, strlen(val));
            assert_memory_equal(it.value.data, val, strlen(val));
            cc_item_release(&it);
        }
        cc_shm_stats(c, &after);
        if (after.checksum - before.checksum < (uint64_t)flipped)
            usleep(10000);
    }
    assert_int_equal(after.checksum - before.checksum, (uint64_t)flipped);
    /* the reads that went to the socket carried the report: the server checked the copies
     * itself, counted them and dropped them */
    EXPECT_STATUS(c, CC_OK, cc_ping(c));
    assert_int_equal(harness_stat(srv, "corrupt_values"), corrupt0 + (uint64_t)flipped);
    /* and the keys are published again, right this time */
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "ck%d", i);
        _publish(c, key);
    }
    cc_client_destroy(&c);
    harness_destroy(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shm_basic),
                                       cmocka_unit_test(test_shm_corrupt)};
    return cmocka_run_group_tests_name("shm_basic", tests, NULL, group_teardown);
}
