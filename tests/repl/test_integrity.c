/* Checksums between real cacheserverd processes (docs/design.md, "Checksums"): a value that
 * no longer matches the checksum it was given when the server accepted it is never served
 * and never sent to a peer, and a peer's change whose value does not match the checksum
 * its origin sent with it is never applied. Needs the test-only FAULT op (a build with
 * -Dfault_injection=true: the test command's ASan and TSan builds); elsewhere each test
 * says it is skipped. And self-fencing (docs/integrity.md): a node whose values fail their
 * checksum, whose known-answer tests fail, or whose clock is far from its peers' fences
 * itself; the others go on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster.h"

static bool _skip_without_faults(struct cluster *cl)
{
    if (cluster_fault(cl, 0, "corrupt-values", 0) >= 0)
        return false;
    printf("# skipped: this cacheserverd has no FAULT op (configure with -Dfault_injection=true)\n");
    cluster_destroy(cl);
    return true;
}

#define N 1000
static void _val(char *out, size_t cap, int i) { snprintf(out, cap, "value-%d-%0200d", i, i); }

/* Every key k0..k(N-1) on node i: right (ok), a miss, or anything else (wrong). */
static void _check(struct cluster *cl, int i, int *ok, int *miss, int *wrong)
{
    *ok = *miss = *wrong = 0;
    char key[32], want[256];
    for (int k = 0; k < N; k++) {
        snprintf(key, sizeof(key), "k%d", k);
        _val(want, sizeof(want), k);
        cc_item it = {0};
        int rc = cc_get(cl->nodes[i].c, key, strlen(key), &it);
        if (rc == CC_NOT_FOUND) {
            (*miss)++;
            continue;
        }
        if (rc == CC_OK && it.value.len == strlen(want) && !memcmp(it.value.data, want, it.value.len))
            (*ok)++;
        else
            (*wrong)++;
        if (rc == CC_OK)
            cc_item_release(&it);
    }
}

static void _write(struct cluster *cl, int i)
{
    char key[32], val[256];
    for (int k = 0; k < N; k++) {
        snprintf(key, sizeof(key), "k%d", k);
        _val(val, sizeof(val), k);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(cl->nodes[i].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
}

static const char *const verify_all[] = {"--verify-reads", "all", NULL};
/* the same, on a node that must not fence itself for what it finds (a test of the checks) */
static const char *const verify_all_nofence[] = {"--verify-reads", "all",
                                                 "--corrupt-fence-limit", "0", NULL};

/* 100 values broken in node 0's memory: node 0 serves none of them (a miss each), and the
 * full sync that brings node 1 everything else sends none of them. */
static void test_corrupt_values_never_served_or_sent(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    cluster_start_node(&cl, 0, verify_all_nofence, -1);
    if (_skip_without_faults(&cl))
        return;
    _write(&cl, 0);
    assert_int_equal(cluster_fault(&cl, 0, "corrupt-values", 100), 100);
    cluster_start_node(&cl, 1, verify_all, -1); /* joins: a full sync from node 0 */
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    int ok, miss, wrong;
    _check(&cl, 1, &ok, &miss, &wrong);
    if (wrong || ok != N - 100)
        fail_msg("node 1 holds %d right, %d wrong, %d missing of %d", ok, wrong, miss, N);
    _check(&cl, 0, &ok, &miss, &wrong);
    if (wrong || ok != N - 100)
        fail_msg("node 0 serves %d right, %d wrong, %d missing of %d", ok, wrong, miss, N);
    assert_true(cluster_stat(&cl, 0, "corrupt_values") >= 100);
    assert_int_equal(cluster_stat(&cl, 1, "corrupt_values"), 0);
    assert_true(harness_log_contains(cl.nodes[0].h, "E_CORRUPT"));
    cluster_destroy(&cl);
}

/* Streams (docs/integrity.md, "Checksums"): every chunk carries the CRC-32C of its bytes.
 * Stream s's byte j is _sbyte(s, j); the streams go in APPENDs of 64 KiB. Short ones (3
 * chunks) go in a full sync as one copy, long ones (6 chunks, over 1 MiB) in parts. */
#define SHORT_STREAM (600u * 1024u)
#define LONG_STREAM (1536u * 1024u)
static uint8_t _sbyte(int s, uint64_t j) { return (uint8_t)(j * 31 + (uint64_t)s * 7 + j / 977); }
static uint64_t _slen(int s) { return s % 2 ? LONG_STREAM : SHORT_STREAM; }

static void _write_stream(cc_client *c, int s)
{
    static uint8_t buf[64 * 1024];
    char key[32];
    snprintf(key, sizeof(key), "s%d", s);
    for (uint64_t off = 0; off < _slen(s); off += sizeof(buf)) {
        size_t n = _slen(s) - off < sizeof(buf) ? (size_t)(_slen(s) - off) : sizeof(buf);
        for (size_t j = 0; j < n; j++)
            buf[j] = _sbyte(s, off + j);
        uint64_t len;
        assert_int_equal(cc_append(c, key, strlen(key), buf, n, 0, &len), CC_OK);
    }
}

/* Are stream s's bytes [off, off + len) what it was given? */
static bool _stream_right(int s, uint64_t off, const uint8_t *p, size_t len)
{
    for (size_t j = 0; j < len; j++)
        if (p[j] != _sbyte(s, off + j))
            return false;
    return true;
}

/* Streams from..to-1 on node i, read with GETRANGE (a range over the byte FAULT flips in a
 * chunk of 256 KiB: its middle) and with GET: right (ok), a miss, or anything else. */
static void _check_streams(struct cluster *cl, int i, int from, int to, int *ok, int *miss,
                           int *wrong)
{
    *ok = *miss = *wrong = 0;
    for (int s = from; s < to; s++) {
        char key[32];
        snprintf(key, sizeof(key), "s%d", s);
        cc_item it = {0};
        int rc = cc_getrange(cl->nodes[i].c, key, strlen(key), 100 * 1024, 64 * 1024, &it);
        bool right = rc == CC_OK && it.value.len == 64 * 1024 &&
                     _stream_right(s, 100 * 1024, it.value.data, it.value.len);
        if (rc == CC_OK)
            cc_item_release(&it);
        if (rc == CC_OK && right) {
            rc = cc_get(cl->nodes[i].c, key, strlen(key), &it);
            right = rc == CC_OK && it.value.len == _slen(s) &&
                    _stream_right(s, 0, it.value.data, it.value.len);
            if (rc == CC_OK)
                cc_item_release(&it);
        }
        if (rc == CC_NOT_FOUND)
            (*miss)++;
        else if (right)
            (*ok)++;
        else
            (*wrong)++;
    }
}

/* Node 0 of n started with args, given streams 0..nstreams-1, then a byte flipped in a chunk
 * of each of them; false when the build has no FAULT (the test is skipped). */
static bool _broken_streams_on_node0(struct cluster *cl, int n, const char *const *args,
                                     int nstreams)
{
    cluster_init(cl, n);
    cluster_start_node(cl, 0, args, -1);
    if (_skip_without_faults(cl))
        return false;
    for (int s = 0; s < nstreams; s++)
        _write_stream(cl->nodes[0].c, s);
    assert_int_equal(cluster_fault(cl, 0, "corrupt-streams", 100), nstreams);
    return true;
}

/* A node that scrubs slowly (so what it finds, the full sync and the reads find) */
static const char *const verify_all_noscrub[] = {"--verify-reads", "all", "--corrupt-fence-limit",
                                                 "0", "--sweep-interval-ms", "60000", NULL};

/* 8 streams with a byte flipped in a chunk in node 0's memory, 8 intact: the full sync that
 * brings node 1 the intact ones sends none of the others (short ones go as a copy, long ones
 * in parts), and node 0 counts them. Then 2 more flipped: node 0 serves neither (GETRANGE,
 * GET: a miss each), and serves the rest right. */
static void test_corrupt_streams_never_served_or_sent(void **state)
{
    (void)state;
    static struct cluster cl;
    if (!_broken_streams_on_node0(&cl, 2, verify_all_noscrub, 8))
        return;
    for (int s = 8; s < 16; s++)
        _write_stream(cl.nodes[0].c, s);
    cluster_start_node(&cl, 1, verify_all, -1); /* joins: a full sync from node 0 */
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    int ok, miss, wrong;
    _check_streams(&cl, 1, 0, 16, &ok, &miss, &wrong);
    if (wrong || ok != 8 || miss != 8)
        fail_msg("node 1 holds %d streams right, %d wrong, %d missing of 16", ok, wrong, miss);
    /* at least 8: a reader that found one too before it was removed counts it as well */
    assert_true(cluster_stat(&cl, 0, "corrupt_values") >= 8);
    assert_int_equal(cluster_stat(&cl, 1, "corrupt_values"), 0);
    assert_true(harness_log_contains(cl.nodes[0].h, "E_CORRUPT"));

    assert_int_equal(cluster_fault(&cl, 0, "corrupt-streams", 2), 2);
    _check_streams(&cl, 0, 0, 16, &ok, &miss, &wrong);
    if (wrong || ok != 6 || miss != 10)
        fail_msg("node 0 serves %d streams right, %d wrong, %d missing of 16", ok, wrong, miss);
    assert_true(cluster_stat(&cl, 0, "corrupt_values") >= 10);
    cluster_destroy(&cl);
}

/* Nobody reads them: the background scrub finds 4 streams with a byte flipped in a chunk
 * (a slice of each per step) and removes them; with reads unchecked (verify-reads off) they
 * are a miss from then on. */
static void test_scrub_finds_corrupt_streams(void **state)
{
    (void)state;
    static struct cluster cl;
    static const char *const off[] = {"--verify-reads", "off", "--corrupt-fence-limit", "0",
                                      NULL};
    if (!_broken_streams_on_node0(&cl, 1, off, 4))
        return;
    uint64_t t0 = cl_now_ms();
    while (cluster_stat(&cl, 0, "corrupt_values") < 4) {
        if (cl_now_ms() - t0 > 20000)
            fail_msg("the scrub found %llu of 4 broken streams in 20 s",
                     (unsigned long long)cluster_stat(&cl, 0, "corrupt_values"));
        cl_sleep_ms(50);
    }
    printf("# the scrub found 4 broken streams of 600 KiB to 1.5 MiB in %llu ms\n",
           (unsigned long long)(cl_now_ms() - t0));
    int ok, miss, wrong;
    _check_streams(&cl, 0, 0, 4, &ok, &miss, &wrong);
    assert_int_equal(miss, 4);
    assert_true(harness_log_contains(cl.nodes[0].h, "the background scrub"));
    cluster_destroy(&cl);
}

/* Node 0's next 50 changes leave with a bit flipped after their checksum was taken: node 1
 * applies none of them, counts them, and takes the others. */
static void test_corrupt_records_refused(void **state)
{
    (void)state;
    static struct cluster cl;
    cluster_init(&cl, 2);
    cluster_start(&cl, verify_all);
    if (_skip_without_faults(&cl))
        return;
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    assert_int_equal(cluster_fault(&cl, 0, "corrupt-records", 50), 50);
    _write(&cl, 0);
    uint64_t end = cl_now_ms() + 20000;
    while (cluster_stat(&cl, 1, "repl.n0.applied") + cluster_stat(&cl, 1, "repl.n0.corrupt") <
           N) {
        if (cl_now_ms() > end)
            fail_msg("node 1 took only %llu of node 0's changes",
                     (unsigned long long)cluster_stat(&cl, 1, "repl.n0.applied"));
        cl_sleep_ms(50);
    }
    assert_int_equal(cluster_stat(&cl, 1, "repl.n0.corrupt"), 50);
    int ok, miss, wrong;
    _check(&cl, 1, &ok, &miss, &wrong);
    if (wrong || ok < N - 50)
        fail_msg("node 1 holds %d right, %d wrong, %d missing of %d", ok, wrong, miss, N);
    _check(&cl, 0, &ok, &miss, &wrong);
    assert_int_equal(ok, N);
    cluster_destroy(&cl);
}

/* What a fenced node does for clients: writes E_FENCED, reads a miss; INFO says why. */
static void _check_fenced_node(struct cluster *cl, int i, const char *why_part)
{
    cc_value v = cc_value_bytes("x", 1);
    assert_int_equal(cc_set(cl->nodes[i].c, "while-fenced-here", 17, &v, 0, 0, 0, NULL),
                     CC_E_FENCED);
    int64_t n;
    assert_int_equal(cc_incr(cl->nodes[i].c, "ctr", 3, 1, 0, 0, &n), CC_E_FENCED);
    cc_item it = {0};
    assert_int_equal(cc_get(cl->nodes[i].c, "k1", 2, &it), CC_NOT_FOUND);
    assert_true(harness_log_contains(cl->nodes[i].h, "FENCED"));
    assert_true(harness_log_contains(cl->nodes[i].h, why_part));
}

/* 100 values flipped in node 2's memory: the scrub finds them, node 2 fences itself within
 * a second (1.5 s allowed here for the sanitizer builds), serves and sends nothing, and its
 * peers go on, every value of theirs intact; the peers' links to it say it is fenced. After
 * `cluster unfence` it takes writes and its peers' changes again. */
static void test_corrupt_values_fence_the_node(void **state)
{
    (void)state;
    static struct cluster cl;
    cluster_init(&cl, 3);
    cluster_start(&cl, verify_all);
    if (_skip_without_faults(&cl))
        return;
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    _write(&cl, 0);
    cluster_wait_agree(&cl, 10000);
    assert_int_equal(cluster_fault(&cl, 2, "corrupt-values", 100), 100);
    uint64_t took = cluster_wait_fenced(&cl, 2, 1500);
    printf("# node 2 fenced itself %llu ms after 100 of its values were flipped\n",
           (unsigned long long)took);
    _check_fenced_node(&cl, 2, "failed their checksum");
    for (int i = 0; i < 2; i++) {
        int ok, miss, wrong;
        assert_false(cluster_is_fenced(&cl, i));
        _check(&cl, i, &ok, &miss, &wrong);
        if (ok != N)
            fail_msg("node %d holds %d right, %d wrong, %d missing of %d", i, ok, wrong, miss, N);
        assert_int_equal(cluster_stat(&cl, i, "corrupt_values"), 0);
    }
    /* its peers hear why when they dial it */
    uint64_t end = cl_now_ms() + 10000;
    while (!harness_log_contains(cl.nodes[0].h, "fenced:")) {
        if (cl_now_ms() > end) {
            harness_print_log(cl.nodes[0].h, 12);
            harness_print_log(cl.nodes[2].h, 12);
            fail_msg("node 0 was never told node 2 is fenced");
        }
        cl_sleep_ms(50);
    }
    cc_value v = cc_value_bytes("later", 5);
    assert_int_equal(cc_set(cl.nodes[0].c, "after", 5, &v, 0, 0, 0, NULL), CC_OK);
    /* the scrub has found every flipped value: lifted earlier, the rest would fence it again */
    end = cl_now_ms() + 10000;
    while (cluster_stat(&cl, 2, "corrupt_values") < 100) {
        if (cl_now_ms() > end)
            fail_msg("node 2's scrub found only %llu of the 100 flipped values",
                     (unsigned long long)cluster_stat(&cl, 2, "corrupt_values"));
        cl_sleep_ms(50);
    }
    int was = 0;
    assert_int_equal(cc_cluster_unfence(cl.nodes[2].c, &was), CC_OK);
    assert_int_equal(was, 1);
    assert_false(cluster_is_fenced(&cl, 2));
    assert_int_equal(cc_set(cl.nodes[2].c, "mine", 4, &v, 0, 0, 0, NULL), CC_OK);
    end = cl_now_ms() + 15000;
    cc_item it = {0};
    while (cc_get(cl.nodes[2].c, "after", 5, &it) != CC_OK) {
        if (cl_now_ms() > end) {
            harness_print_log(cl.nodes[0].h, 12);
            harness_print_log(cl.nodes[2].h, 12);
            fail_msg("node 2 never got the write node 0 made while it was fenced");
        }
        cl_sleep_ms(50);
    }
    cc_item_release(&it);
    cluster_destroy(&cl);
}

/* A known-answer test that fails at start (fault injection): the node starts fenced and
 * says why. */
static void test_failed_self_test_starts_fenced(void **state)
{
    (void)state;
    static struct cluster cl;
    cluster_init(&cl, 1);
    static const char *const kat[] = {"--fault-fail-kat", "true", NULL};
    cluster_start_node(&cl, 0, NULL, -1);
    if (_skip_without_faults(&cl))
        return;
    harness_stop(cl.nodes[0].h);
    harness_destroy(&cl.nodes[0].h);
    cc_client_destroy(&cl.nodes[0].c);
    cluster_start_node(&cl, 0, kat, -1);
    assert_true(cluster_is_fenced(&cl, 0));
    _check_fenced_node(&cl, 0, "known-answer test failed at start");
    cluster_destroy(&cl);
}

/* Node 2's clock runs 10 s ahead: it fences itself within 10 s (its offset is beyond 80% of
 * max-clock-offset from both its peers); nodes 0 and 1, each of which sees one peer of two
 * off, stay up, and neither applied node 2's future-stamped write. */
static void test_clock_ahead_fences_the_node(void **state)
{
    (void)state;
    static struct cluster cl;
    cluster_start_skewed(&cl);
    /* at once, before its links are up: it may fence itself as soon as it hears its peers'
     * clocks (under ThreadSanitizer before all its links were ever up together) */
    cc_value v = cc_value_bytes("future", 6);
    int set = cc_set(cl.nodes[2].c, "f", 1, &v, 0, 0, 0, NULL);
    assert_true(set == CC_OK || set == CC_E_FENCED);
    uint64_t took = cluster_wait_fenced(&cl, 2, 15000);
    printf("# node 2 fenced itself %llu ms after it started\n", (unsigned long long)took);
    assert_true(harness_log_contains(cl.nodes[2].h, "clock"));
    for (int i = 0; i < 2; i++) {
        assert_false(cluster_is_fenced(&cl, i));
        cc_item it = {0};
        assert_int_equal(cc_get(cl.nodes[i].c, "f", 1, &it), CC_NOT_FOUND);
        assert_int_equal(cluster_stat(&cl, i, "repl.n2.applied"), 0);
    }
    if (set == CC_OK) /* it was sent before the fence: refused and counted */
        assert_true(cluster_stat(&cl, 0, "repl.n2.clock_rejected") +
                    cluster_stat(&cl, 1, "repl.n2.clock_rejected") >= 1);
    cluster_destroy(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_corrupt_values_never_served_or_sent, cluster_teardown),
        cmocka_unit_test_teardown(test_corrupt_streams_never_served_or_sent, cluster_teardown),
        cmocka_unit_test_teardown(test_scrub_finds_corrupt_streams, cluster_teardown),
        cmocka_unit_test_teardown(test_corrupt_records_refused, cluster_teardown),
        cmocka_unit_test_teardown(test_corrupt_values_fence_the_node, cluster_teardown),
        cmocka_unit_test_teardown(test_failed_self_test_starts_fenced, cluster_teardown),
        cmocka_unit_test_teardown(test_clock_ahead_fences_the_node, cluster_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
