/* Streams (APPEND) between real cacheserverd processes: what an APPEND adds travels to the
 * peers, which grow the same stream byte for byte; concurrent appends to one key on both
 * sides of a partition end with every node holding the winner's stream or a miss; a full
 * sync copies a stream whole, or a long one in parts (docs/replication.md, "Streams"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"

/* Under a sanitizer, the long stream and the nodes' memory are halved together (12 MB
 * against 8 MiB: still more than memory holds); the plain build runs the full volume. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SAN_SCALE 2
#define NODE_MEMORY "8MiB"
#else
#define SAN_SCALE 1
#define NODE_MEMORY "16MiB"
#endif

/* The whole content of the stream (or bytes value) at key on node i into a malloc'd *out;
 * CC_OK, or CC_NOT_FOUND. *version gets its version. */
static int _read(struct cluster *cl, int i, const char *key, uint8_t **out, size_t *len,
                 uint64_t *version)
{
    cc_item it = {0};
    int rc = cc_get(cl->nodes[i].c, key, strlen(key), &it);
    if (rc != CC_OK)
        return rc;
    *version = it.version;
    cc_item_release(&it);
    uint64_t n = 0;
    assert_int_equal(cc_strlen(cl->nodes[i].c, key, strlen(key), &n), CC_OK);
    *out = malloc(n + 1);
    *len = 0;
    while (*len < n) {
        cc_item r = {0};
        uint64_t want = n - *len > (1u << 20) ? (1u << 20) : n - *len;
        assert_int_equal(cc_getrange(cl->nodes[i].c, key, strlen(key), *len, want, &r), CC_OK);
        assert_true(r.value.len > 0);
        memcpy(*out + *len, r.value.data, r.value.len);
        *len += r.value.len;
        cc_item_release(&r);
    }
    return CC_OK;
}

/* Wait until every node holds at key what node `from` holds (content and version). */
static void _wait_same(struct cluster *cl, int from, const char *key, unsigned timeout_ms)
{
    uint64_t end = cl_now_ms() + timeout_ms;
    uint8_t *want;
    size_t wlen;
    uint64_t wver;
    assert_int_equal(_read(cl, from, key, &want, &wlen, &wver), CC_OK);
    for (int i = 0; i < cl->n; i++) {
        for (;;) {
            uint8_t *got = NULL;
            size_t glen = 0;
            uint64_t gver = 0;
            int rc = _read(cl, i, key, &got, &glen, &gver);
            bool same = rc == CC_OK && gver == wver && glen == wlen && !memcmp(got, want, wlen);
            free(got);
            if (same)
                break;
            if (cl_now_ms() > end) {
                harness_print_log(cl->nodes[i].h, 15);
                if (i != from)
                    harness_print_log(cl->nodes[from].h, 15);
                for (int j = 0; j < cl->n; j++)
                    if (j != i)
                        fprintf(stderr, "node %d from node %d: applied %llu, older %llu, "
                                "stream_lost %llu, no memory %llu, full syncs %llu\n", i, j,
                                (unsigned long long)cluster_stat(cl, i, "repl.n%d.applied", j),
                                (unsigned long long)cluster_stat(cl, i, "repl.n%d.dropped_older", j),
                                (unsigned long long)cluster_stat(cl, i, "repl.n%d.stream_lost", j),
                                (unsigned long long)cluster_stat(cl, i, "repl.n%d.dropped_nomem", j),
                                (unsigned long long)cluster_stat(cl, j, "repl.n%d.full_syncs", i));
                fail_msg("node %d: %s is %s (%zu bytes, version %llu); node %d holds %zu bytes "
                         "at version %llu", i, key, rc == CC_OK ? "different" : "missing", glen,
                         (unsigned long long)gver, from, wlen, (unsigned long long)wver);
            }
            cl_sleep_ms(50);
        }
    }
    free(want);
}

static void _append(struct cluster *cl, int node, const char *key, const void *data, size_t len)
{
    uint64_t n;
    assert_int_equal(cc_append(cl->nodes[node].c, key, strlen(key), data, len, 0, &n), CC_OK);
}

/* Appends on one node reach the others: a stream made by APPEND, one grown past a chunk
 * (256 KiB) in one append, and one grown from a bytes value; appends on another node to the
 * same stream afterwards too. */
static void test_appends_replicate(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    char buf[1000];
    for (int i = 0; i < 100; i++) {
        memset(buf, 'a' + i % 26, sizeof(buf));
        snprintf(buf, sizeof(buf), "piece %d|", i);
        _append(&cl, 0, "log", buf, sizeof(buf));
    }
    static uint8_t big[300 * 1024];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + i / 1000);
    _append(&cl, 0, "big", big, sizeof(big));
    _append(&cl, 0, "big", big, 1000);
    cc_value v = cc_value_bytes("base:", 5);
    assert_int_equal(cc_set(cl.nodes[1].c, "grown", 5, &v, 0, 0, 0, NULL), CC_OK);
    _wait_same(&cl, 1, "grown", 5000); /* every node holds the bytes value first */
    for (int i = 0; i < 10; i++)
        _append(&cl, 1, "grown", "+x", 2);
    _wait_same(&cl, 0, "log", 5000);
    _wait_same(&cl, 0, "big", 5000);
    _wait_same(&cl, 1, "grown", 5000);
    /* node 2 goes on with node 0's stream */
    _append(&cl, 2, "log", "from node 2", 11);
    _wait_same(&cl, 2, "log", 5000);
    assert_int_equal(cluster_sum_peer_stat(&cl, "stream_lost"), 0);
    cluster_destroy(&cl);
}

/* A partition {0} | {1, 2}: both sides append to the same stream. After healing, every node
 * holds the stream of the side whose last append won (greatest stamp, node id) or a miss,
 * never a mix and never the losing branch. */
static void test_partitioned_appends_end_with_one_winner(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    _append(&cl, 0, "s", "start|", 6);
    _wait_same(&cl, 0, "s", 5000);
    for (int j = 1; j < 3; j++) {
        faultproxy_blackhole(cl.proxy[0][j], true);
        faultproxy_blackhole(cl.proxy[j][0], true);
    }
    for (int i = 0; i < 5; i++) {
        _append(&cl, 0, "s", "A", 1);
        _append(&cl, 1, "s", "B", 1);
        cl_sleep_ms(2);
    }
    _append(&cl, 2, "s", "C", 1); /* node 2's last: its side's last append */
    for (int j = 1; j < 3; j++) {
        faultproxy_cut(cl.proxy[0][j]);
        faultproxy_cut(cl.proxy[j][0]);
        faultproxy_blackhole(cl.proxy[0][j], false);
        faultproxy_blackhole(cl.proxy[j][0], false);
    }
    cluster_wait_links(&cl, 10000);
    /* a marker from each node, written after everything else, reached every node: so did
     * what each sent before it (a link delivers in order) */
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof(key), "healed-%d", i);
        cc_value v = cc_value_bytes("1", 1);
        assert_int_equal(cc_set(cl.nodes[i].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            char key[32];
            snprintf(key, sizeof(key), "healed-%d", j);
            uint64_t end = cl_now_ms() + 10000;
            cc_item it = {0};
            while (cc_get(cl.nodes[i].c, key, strlen(key), &it) != CC_OK) {
                if (cl_now_ms() > end)
                    fail_msg("node %d never got %s", i, key);
                cl_sleep_ms(50);
            }
            cc_item_release(&it);
        }
    /* the winner: the greatest version any node holds; every holder has it exactly */
    uint8_t *c[MAXN] = {0};
    size_t len[MAXN] = {0};
    uint64_t ver[MAXN] = {0};
    int win = -1;
    for (int i = 0; i < 3; i++)
        if (_read(&cl, i, "s", &c[i], &len[i], &ver[i]) == CC_OK &&
            (win < 0 || ver[i] > ver[win]))
            win = i;
    assert_true(win >= 0);
    for (int i = 0; i < 3; i++) {
        if (!c[i])
            continue;
        if (ver[i] != ver[win] || len[i] != len[win] || memcmp(c[i], c[win], len[i]) != 0)
            fail_msg("node %d holds '%.*s' (version %llu), the winner on node %d '%.*s' (%llu)",
                     i, (int)len[i], (const char *)c[i], (unsigned long long)ver[i], win,
                     (int)len[win], (const char *)c[win], (unsigned long long)ver[win]);
    }
    bool a = memchr(c[win], 'A', len[win]) != NULL, b = memchr(c[win], 'B', len[win]) != NULL;
    /* one branch, not a mix (neither, when node 2 appended C before node 1's Bs reached it:
     * then its "start|C" is a branch of its own, seen under ThreadSanitizer's slowness) */
    assert_false(a && b);
    assert_memory_equal(c[win], "start|", 6);
    for (int i = 0; i < 3; i++)
        free(c[i]);
    cluster_destroy(&cl);
}

/* A 64 KiB backlog and a link down while a stream is made and 2 MB of other changes: the
 * full sync that follows copies the stream whole. */
static void test_full_sync_copies_streams(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    const char *extra[] = {"--repl-backlog-size", "64KiB", NULL};
    cluster_start(&cl, extra);
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    uint64_t full0 = cluster_stat(&cl, 0, "repl.n1.full_syncs");
    faultproxy_refuse(cl.proxy[0][1], true);
    faultproxy_cut(cl.proxy[0][1]);
    char buf[1000];
    for (int i = 0; i < 200; i++) {
        memset(buf, 'a' + i % 26, sizeof(buf));
        _append(&cl, 0, "synced-stream", buf, sizeof(buf));
    }
    cluster_write_keys(&cl, 0, "filler", 3000);
    faultproxy_refuse(cl.proxy[0][1], false);
    _wait_same(&cl, 0, "synced-stream", 20000);
    assert_true(cluster_stat(&cl, 0, "repl.n1.full_syncs") > full0);
    cluster_destroy(&cl);
}

/* Byte o of the long streams: not all alike, so a part out of place shows. */
static uint8_t _pat(uint64_t o, unsigned seed) { return (uint8_t)(o * 131 + (o >> 16) * 7 + seed); }

static void _append_pattern(struct cluster *cl, int node, const char *key, uint64_t from,
                            uint64_t len, unsigned seed)
{
    enum { STEP = 128 * 1024 };
    static uint8_t buf[STEP];
    for (uint64_t o = from; o < from + len; o += STEP) {
        uint64_t n = from + len - o < STEP ? from + len - o : STEP;
        for (uint64_t i = 0; i < n; i++)
            buf[i] = _pat(o + i, seed);
        _append(cl, node, key, buf, n);
    }
}

/* Node i's arguments: 16 MiB of memory and an SSD tier, and persistence on node 0. */
static const char *const *_tier_args(struct cluster *cl, int i)
{
    static char paths[MAXN][256];
    static const char *args[MAXN][12];
    snprintf(paths[i], sizeof(paths[i]), "%s/ssd%d", cl->root, i);
    int a = 0;
    args[i][a++] = "--memory";
    args[i][a++] = NODE_MEMORY;
    args[i][a++] = "--ssd-path";
    args[i][a++] = paths[i];
    if (i == 0) {
        args[i][a++] = "--persist";
        args[i][a++] = "sync";
    }
    args[i][a] = NULL;
    return args[i];
}

/* Streams longer than one copy, one of them only on node 0's disk (after a restart: a
 * stream comes back to memory only when read), reach a joining node in parts: 24 MB
 * against 16 MiB of memory there, so it cannot have been held whole on the way. The
 * epoch kept in the stream's head on disk lets node 0's next appends after the restart
 * reach the copy too. */
static void test_full_sync_copies_long_streams_in_parts(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    cluster_start_node(&cl, 0, _tier_args(&cl, 0), -1);
    enum { BIG = (24 / SAN_SCALE) << 20, MID = 3 << 20 };
    _append_pattern(&cl, 0, "big", 0, BIG, 1);
    _append_pattern(&cl, 0, "mid", 0, MID, 2);
    harness_restart(cl.nodes[0].h); /* both now only on disk */
    cc_client_destroy(&cl.nodes[0].c);
    cl.nodes[0].c = cl_client(cl.nodes[0].h);
    _append_pattern(&cl, 0, "mid", MID, 1000, 2); /* back in memory, its chunks on disk */

    cluster_start_node(&cl, 1, _tier_args(&cl, 1), -1);
    cluster_wait_links(&cl, 10000);
    _wait_same(&cl, 0, "big", 30000);
    _wait_same(&cl, 0, "mid", 10000);
    uint64_t parts = cluster_stat(&cl, 1, "repl.n0.streams_in_parts");
    if (parts < 2)
        fail_msg("node 1 took %llu streams in parts, not 2", (unsigned long long)parts);
    /* node 0 goes on appending: the copies follow, byte for byte */
    _append_pattern(&cl, 0, "big", BIG, 300000, 1);
    _append_pattern(&cl, 0, "mid", MID + 1000, 5000, 2);
    _wait_same(&cl, 0, "big", 10000);
    _wait_same(&cl, 0, "mid", 10000);
    assert_int_equal(cluster_stat(&cl, 1, "repl.n0.stream_lost"), 0);
    cluster_destroy(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_appends_replicate, cluster_teardown),
        cmocka_unit_test_teardown(test_partitioned_appends_end_with_one_winner,
                                  cluster_teardown),
        cmocka_unit_test_teardown(test_full_sync_copies_streams, cluster_teardown),
        cmocka_unit_test_teardown(test_full_sync_copies_long_streams_in_parts,
                                  cluster_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
