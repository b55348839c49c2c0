/* Peer replication between real cacheserverd processes on 127.0.0.1, each peer link through a
 * fault proxy (tests/harness/faultproxy.h) that the test cuts, blackholes and heals. Every
 * node has its own identity made by `cacheserverd --gen-identity`. The durations here are
 * the suite's short runs; scripts/repl-soak.sh runs the link-cut scenario longer
 * (REPL_SOAK_SCALE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "cluster.h"

/* ---- writers ---- */

struct writer {
    struct harness *h;
    int node;
    unsigned ops;
    unsigned keys;
    unsigned pause_us;
    unsigned seed;
    unsigned done;
};

static void *_writer(void *arg)
{
    struct writer *w = arg;
    cc_client *c = cl_client(w->h);
    char key[32], val[48];
    for (unsigned i = 0; i < w->ops; i++) {
        unsigned r = (unsigned)rand_r(&w->seed);
        unsigned k = r % w->keys;
        snprintf(key, sizeof(key), "k%u", k);
        int rc;
        switch ((r >> 16) % 10) {
        case 0:
        case 1: {
            uint64_t n;
            const void *kp = key;
            size_t kl = strlen(key);
            rc = cc_del(c, 1, &kp, &kl, &n);
            break;
        }
        case 2: {
            int64_t res;
            snprintf(key, sizeof(key), "c%u", k % 100);
            rc = cc_incr(c, key, strlen(key), 1, 0, 0, &res);
            break;
        }
        case 3: {
            snprintf(val, sizeof(val), "ttl-n%d-%u", w->node, i);
            cc_value v = cc_value_bytes(val, strlen(val));
            rc = cc_set(c, key, strlen(key), &v, 600000, 0, 0, NULL);
            break;
        }
        default: {
            snprintf(val, sizeof(val), "n%d-%u", w->node, i);
            cc_value v = cc_value_bytes(val, strlen(val));
            rc = cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL);
            break;
        }
        }
        if (rc == CC_OK || rc == CC_NOT_FOUND)
            w->done++;
        if (w->pause_us)
            usleep(w->pause_us);
    }
    cc_client_destroy(&c);
    return NULL;
}

static void _run_writers(struct cluster *cl, struct writer *w, pthread_t *t, unsigned ops,
                         unsigned keys, unsigned pause_us)
{
    for (int i = 0; i < cl->n; i++) {
        w[i] = (struct writer){.h = cl->nodes[i].h, .node = i, .ops = ops, .keys = keys,
                               .pause_us = pause_us, .seed = 1234u + (unsigned)i};
        assert_int_equal(pthread_create(&t[i], NULL, _writer, &w[i]), 0);
    }
}

static void _join_writers(struct cluster *cl, struct writer *w, pthread_t *t)
{
    for (int i = 0; i < cl->n; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].done, w[i].ops);
    }
}

/* ---- tests ---- */


/* The soak scale: REPL_SOAK_SCALE=N (scripts/repl-soak.sh) makes the long scenarios N times
 * longer with the same assertions; 1 in the suite. */
static int _scale(void)
{
    const char *s = getenv("REPL_SOAK_SCALE");
    int n = s ? atoi(s) : 1;
    return n >= 1 && n <= 1000 ? n : 1;
}

/* 3 nodes, 3 writers (~2,000 changes/s in all), a link cut every 300 ms (one blackholed for
 * 1.5 s of it), 3.6 s (x the soak scale): after the writers stop, every node holds the same
 * keys, versions and values within 5 s; the backlog resumed every reconnection (no full
 * sync after the first). */
static void test_three_nodes_converge_through_link_cuts(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    uint64_t full0 = cluster_sum_peer_stat(&cl, "full_syncs");

    struct writer w[MAXN];
    pthread_t t[MAXN];
    int scale = _scale();
    _run_writers(&cl, w, t, 3000u * (unsigned)scale, 2000, 1000);
    unsigned seed = 99;
    for (int round = 0; round < 12 * scale; round++) {
        cl_sleep_ms(300);
        int i = rand_r(&seed) % 3, j = (i + 1 + rand_r(&seed) % 2) % 3;
        if (round % 12 == 4) {
            faultproxy_blackhole(cl.proxy[i][j], true); /* silence: no FIN, no RST */
            cl_sleep_ms(1500);
            faultproxy_cut(cl.proxy[i][j]);
            faultproxy_blackhole(cl.proxy[i][j], false);
        } else {
            faultproxy_cut(cl.proxy[i][j]);
        }
    }
    _join_writers(&cl, w, t);
    cluster_wait_agree(&cl, 5000);
    uint64_t partial = cluster_sum_peer_stat(&cl, "partial_resyncs");
    uint64_t full = cluster_sum_peer_stat(&cl, "full_syncs") - full0;
    if (partial < 8u * (unsigned)scale || full != 0)
        fail_msg("expected >= 8 partial resyncs and no full sync, got %llu and %llu",
                 (unsigned long long)partial, (unsigned long long)full);
    assert_true(cluster_sum_peer_stat(&cl, "applied") > 3000);
    cluster_destroy(&cl);
}

/* A 64 KiB backlog and a link down while 2 MB of changes are made: the peer gets a full
 * sync, and the cluster still converges; what was deleted meanwhile does not survive on
 * the peer that was away (the full sync removes what its sender did not have). */
static void test_small_backlog_full_sync_converges(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    const char *extra[] = {"--repl-backlog-size", "64KiB", NULL};
    cluster_start(&cl, extra);
    cluster_wait_links(&cl, 10000);
    cluster_write_keys(&cl, 1, "old", 100);
    cluster_wait_agree(&cl, 5000);
    uint64_t full0 = cluster_sum_peer_stat(&cl, "full_syncs");
    faultproxy_refuse(cl.proxy[0][1], true);
    faultproxy_cut(cl.proxy[0][1]);
    char key[32], val[1000];
    for (int i = 0; i < 50; i++) { /* node 1 does not hear of these */
        snprintf(key, sizeof(key), "old%d", i);
        const void *kp = key;
        size_t kl = strlen(key);
        uint64_t n;
        assert_int_equal(cc_del(cl.nodes[0].c, 1, &kp, &kl, &n), CC_OK);
        assert_int_equal(n, 1);
    }
    memset(val, 'x', sizeof(val));
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "big%d", i);
        cc_value v = cc_value_bytes(val, sizeof(val));
        assert_int_equal(cc_set(cl.nodes[0].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    faultproxy_refuse(cl.proxy[0][1], false);
    cluster_wait_agree(&cl, 30000);
    assert_true(cluster_sum_peer_stat(&cl, "full_syncs") > full0);
    cc_item it = {0};
    assert_int_equal(cc_get(cl.nodes[1].c, "old7", 4, &it), CC_NOT_FOUND);
    assert_int_equal(cc_get(cl.nodes[1].c, "old77", 5, &it), CC_OK);
    cc_item_release(&it);
    assert_true(cluster_stat(&cl, 1, "repl.n0.sync_dropped") >= 50);
    cluster_destroy(&cl);
}

/* A partition {0} | {1, 2}: writes on both sides, some to the same keys, deletes on one
 * side. After healing: every node holds what the greatest (stamp, node id) left, which the
 * writers read back as versions; nothing deleted comes back. */
static void test_partition_heals_to_last_writer(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    char key[32], val[48];
    /* before: 200 keys everywhere */
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        cc_value v = cc_value_bytes("before", 6);
        assert_int_equal(cc_set(cl.nodes[1].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    cluster_wait_agree(&cl, 5000);
    for (int j = 1; j < 3; j++) {
        faultproxy_blackhole(cl.proxy[0][j], true);
        faultproxy_blackhole(cl.proxy[j][0], true);
    }
    /* node 0 deletes p0..p49 and writes p100..p199; node 2 writes p150..p249 afterwards */
    uint64_t v0[300] = {0}, v2[300] = {0};
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        const void *kp = key;
        size_t kl = strlen(key);
        uint64_t n;
        assert_int_equal(cc_del(cl.nodes[0].c, 1, &kp, &kl, &n), CC_OK);
    }
    for (int i = 100; i < 200; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        snprintf(val, sizeof(val), "zero-%d", i);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(cl.nodes[0].c, key, strlen(key), &v, 0, 0, 0, &v0[i]), CC_OK);
    }
    cl_sleep_ms(5);
    for (int i = 150; i < 250; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        snprintf(val, sizeof(val), "two-%d", i);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(cl.nodes[2].c, key, strlen(key), &v, 0, 0, 0, &v2[i]), CC_OK);
    }
    cl_sleep_ms(300);
    /* during the partition, 0 and 2 disagree */
    cc_item it = {0};
    assert_int_equal(cc_get(cl.nodes[2].c, "p0", 2, &it), CC_OK);
    cc_item_release(&it);
    for (int j = 1; j < 3; j++) {
        faultproxy_cut(cl.proxy[0][j]);
        faultproxy_cut(cl.proxy[j][0]);
        faultproxy_blackhole(cl.proxy[0][j], false);
        faultproxy_blackhole(cl.proxy[j][0], false);
    }
    cluster_wait_agree(&cl, 10000);
    for (int i = 0; i < 250; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        for (int n = 0; n < 3; n++) {
            int rc = cc_get(cl.nodes[n].c, key, strlen(key), &it);
            if (i < 50) {
                assert_int_equal(rc, CC_NOT_FOUND); /* deleted: never back */
            } else if (i < 100) {
                assert_int_equal(rc, CC_OK);
                assert_memory_equal(it.value.data, "before", 6);
            } else {
                /* the greater (version, node id) of what the writers were told */
                uint64_t want = v0[i] > v2[i] ? v0[i] : v2[i];
                assert_int_equal(rc, CC_OK);
                assert_int_equal(it.version, want);
                snprintf(val, sizeof(val), "%s-%d", want == v0[i] ? "zero" : "two", i);
                assert_int_equal(it.value.len, strlen(val));
                assert_memory_equal(it.value.data, val, strlen(val));
            }
            cc_item_release(&it);
        }
    }
    cluster_destroy(&cl);
}

/* A node whose stamps run 10 s ahead: the others apply none of its writes and count them. */
static void test_future_stamps_refused(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    cluster_start_node(&cl, 0, NULL, -1);
    const char *skew[] = {"--repl-test-clock-skew-ms", "10000", NULL};
    cluster_start_node(&cl, 1, skew, -1);
    cluster_wait_links(&cl, 10000);
    cc_value v = cc_value_bytes("future", 6);
    assert_int_equal(cc_set(cl.nodes[1].c, "f", 1, &v, 0, 0, 0, NULL), CC_OK);
    uint64_t end = cl_now_ms() + 5000;
    while (cluster_stat(&cl, 0, "repl.n1.clock_rejected") == 0 && cl_now_ms() < end)
        cl_sleep_ms(50);
    assert_true(cluster_stat(&cl, 0, "repl.n1.clock_rejected") >= 1);
    cc_item it = {0};
    assert_int_equal(cc_get(cl.nodes[0].c, "f", 1, &it), CC_NOT_FOUND);
    assert_true(harness_log_contains(cl.nodes[0].h, "max-clock-offset"));
    /* the other way round works */
    cc_value w = cc_value_bytes("now", 3);
    assert_int_equal(cc_set(cl.nodes[0].c, "g", 1, &w, 0, 0, 0, NULL), CC_OK);
    end = cl_now_ms() + 5000;
    while (cc_get(cl.nodes[1].c, "g", 1, &it) != CC_OK && cl_now_ms() < end)
        cl_sleep_ms(50);
    assert_int_equal(it.value.len, 3);
    cc_item_release(&it);
    cluster_destroy(&cl);
}

/* A peer with the wrong certificate, garbage on the peer port, a stranger's TLS client: each
 * refused and counted; the node keeps serving clients. */
static void test_wrong_peers_refused(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    /* node 0 pins the wrong fingerprint for node 1; node 2 is not started */
    cluster_start_node(&cl, 0, NULL, 1);
    cluster_start_node(&cl, 1, NULL, -1);
    uint64_t end = cl_now_ms() + 10000;
    while (cluster_stat(&cl, 1, "repl_refused") == 0 && cl_now_ms() < end)
        cl_sleep_ms(50);
    assert_true(cluster_stat(&cl, 1, "repl_refused") >= 1);
    assert_int_equal(cluster_stat(&cl, 0, "repl.n1.out_up"), 0);
    /* garbage on the port */
    uint64_t before = cluster_stat(&cl, 1, "repl_refused");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cl.nodes[1].port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char junk[] = "GET / HTTP/1.0\r\n\r\n\x16\x03\x01garbage";
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    char buf[64];
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
    end = cl_now_ms() + 5000;
    while (cluster_stat(&cl, 1, "repl_refused") == before && cl_now_ms() < end)
        cl_sleep_ms(50);
    assert_true(cluster_stat(&cl, 1, "repl_refused") > before);
    assert_true(harness_log_contains(cl.nodes[1].h, "refused a connection from 127.0.0.1"));
    assert_int_equal(harness_ping(cl.nodes[1].h), 0);
    assert_int_equal(harness_ping(cl.nodes[0].h), 0);
    cluster_destroy(&cl);
}

/* SET n keys "<prefix><i>" on node i. */

/* With persistence, a clean restart of a node resumes both ways from the backlog (no full
 * sync); a kill -9 cannot (its backlog is lost: full syncs) but the nodes still agree. */
static void test_restart_resumes_and_crash_resyncs(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    char ssd[MAXN][320];
    for (int i = 0; i < 2; i++) {
        snprintf(ssd[i], sizeof(ssd[i]), "%s/ssd%d", cl.root, i);
        const char *extra[] = {"--ssd-path", ssd[i], "--ssd-size", "64MiB", "--persist", "async",
                               NULL};
        cluster_start_node(&cl, i, extra, -1);
    }
    cluster_wait_links(&cl, 10000);
    cluster_write_keys(&cl, 0, "a", 300);
    cluster_write_keys(&cl, 1, "b", 300);
    cluster_wait_agree(&cl, 5000);
    uint64_t full0 = cluster_stat(&cl, 0, "repl.n1.full_syncs");
    uint64_t part0 = cluster_stat(&cl, 0, "repl.n1.partial_resyncs");

    cc_client_destroy(&cl.nodes[1].c);
    harness_restart(cl.nodes[1].h);
    cl.nodes[1].c = cl_client(cl.nodes[1].h);
    assert_true(harness_log_contains(cl.nodes[1].h, "replication: resumed from"));
    cluster_wait_links(&cl, 10000);
    cluster_write_keys(&cl, 0, "c", 300);
    cluster_write_keys(&cl, 1, "d", 300);
    cluster_wait_agree(&cl, 5000);
    assert_int_equal(cluster_stat(&cl, 0, "repl.n1.full_syncs"), full0);
    assert_true(cluster_stat(&cl, 0, "repl.n1.partial_resyncs") > part0);
    assert_int_equal(cluster_stat(&cl, 1, "repl.n0.full_syncs"), 0);
    assert_int_equal(cluster_stat(&cl, 1, "repl.n0.partial_resyncs"), 1);

    /* kill -9 while writes go on: no saved state, so full syncs, and still one answer */
    cc_client_destroy(&cl.nodes[1].c);
    harness_kill(cl.nodes[1].h, SIGKILL);
    cluster_write_keys(&cl, 0, "e", 300);
    harness_respawn(cl.nodes[1].h);
    cl.nodes[1].c = cl_client(cl.nodes[1].h);
    cluster_write_keys(&cl, 1, "f", 300);
    cluster_wait_links(&cl, 10000);
    cluster_wait_agree(&cl, 30000);
    assert_true(cluster_stat(&cl, 1, "repl.n0.full_syncs") >= 1);
    cluster_destroy(&cl);
}

/* Counters: 3 writers on 3 nodes increment the same 100 keys at once, with link cuts: every
 * node's totals equal the sum of the increments acknowledged anywhere (the first increment,
 * before the race, creates each key at 0 + 1 on node 0, as INCR does without peers). */
static void test_counters_add_up_across_nodes(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    static struct incr_writer w[MAXN];
    cluster_counters_begin(&cl, w, 100, 7u);
    static const int all[] = {0, 1, 2};
    pthread_t t[MAXN];
    cluster_incr_start(&cl, w, all, 3, 3000, 100, t);
    for (int round = 0; round < 6; round++) {
        cl_sleep_ms(200);
        faultproxy_cut(cl.proxy[round % 3][(round + 1) % 3]);
    }
    cluster_incr_join(all, 3, t);
    cluster_wait_agree(&cl, 10000);
    cluster_check_counters(&cl, w, 100, 1);
    cluster_destroy(&cl);
}

/* A FLUSH is ordered by its stamp like any change. During a partition node 1 writes
 * `early`, then node 0 flushes, then node 1 writes `late`: after healing no node holds
 * `early` or what was there before the flush (node 0 refuses `early`, made before its
 * flush), and every node holds `late` (node 1 keeps it: it was written after the flush). */
static void test_flush_ordered_by_its_stamp(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    cluster_write_keys(&cl, 0, "before", 50);
    cluster_wait_agree(&cl, 5000);
    faultproxy_blackhole(cl.proxy[0][1], true);
    faultproxy_blackhole(cl.proxy[1][0], true);
    cc_value v = cc_value_bytes("x", 1);
    assert_int_equal(cc_set(cl.nodes[1].c, "early", 5, &v, 0, 0, 0, NULL), CC_OK);
    cl_sleep_ms(5);
    uint64_t removed;
    assert_int_equal(cc_flush(cl.nodes[0].c, NULL, &removed), CC_OK);
    cl_sleep_ms(5);
    assert_int_equal(cc_set(cl.nodes[1].c, "late", 4, &v, 0, 0, 0, NULL), CC_OK);
    faultproxy_cut(cl.proxy[0][1]);
    faultproxy_cut(cl.proxy[1][0]);
    faultproxy_blackhole(cl.proxy[0][1], false);
    faultproxy_blackhole(cl.proxy[1][0], false);
    cluster_wait_agree(&cl, 10000);
    cc_item it = {0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cc_get(cl.nodes[i].c, "early", 5, &it), CC_NOT_FOUND);
        assert_int_equal(cc_get(cl.nodes[i].c, "before7", 7, &it), CC_NOT_FOUND);
        assert_int_equal(cc_get(cl.nodes[i].c, "late", 4, &it), CC_OK);
        cc_item_release(&it);
    }
    cluster_destroy(&cl);
}

/* A peer that stops reading (and answering): the link is dropped after READ_TIMEOUT_S and
 * counted, the node keeps serving and writing, and once the peer reads again it catches up
 * from the backlog. */
static void test_silent_peer_is_dropped_and_resumes(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    uint64_t disc = cluster_stat(&cl, 0, "repl.n1.disconnects");
    faultproxy_blackhole(cl.proxy[0][1], true);
    uint64_t end = cl_now_ms() + 12000;
    int i = 0;
    while (cluster_stat(&cl, 0, "repl.n1.disconnects") == disc && cl_now_ms() < end) {
        char key[32];
        snprintf(key, sizeof(key), "s%d", i++);
        cc_value v = cc_value_bytes("x", 1);
        assert_int_equal(cc_set(cl.nodes[0].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
        cl_sleep_ms(50);
    }
    assert_true(cluster_stat(&cl, 0, "repl.n1.disconnects") > disc);
    assert_int_equal(harness_ping(cl.nodes[0].h), 0);
    faultproxy_cut(cl.proxy[0][1]); /* the old, silent connections go */
    faultproxy_blackhole(cl.proxy[0][1], false);
    cluster_wait_agree(&cl, 10000);
    assert_int_equal(cluster_stat(&cl, 0, "repl.n1.full_syncs"), 1); /* only the first */
    cluster_destroy(&cl);
}

/* ---- WAIT ---- */

struct waiter_arg {
    cc_client *c;
    unsigned replicas, timeout_ms, acked;
    int rc;
};

static void *_waiter(void *arg)
{
    struct waiter_arg *w = arg;
    w->rc = cc_wait(w->c, w->replicas, w->timeout_ms, &w->acked);
    return NULL;
}

/* WAIT returns once N peers have every change made before it: then both peers read the
 * value at once; with a peer cut off it waits out its timeout and says how many did; its
 * bounds are refused; a WAIT pending at shutdown does not hold the shutdown up. */
static void test_wait_counts_acknowledging_peers(void **state)
{
    (void)state;
    static struct cluster cl;
    cluster_init(&cl, 3);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    cc_client *c = cl.nodes[0].c;
    unsigned acked = 99;
    for (int round = 0; round < 20; round++) {
        char key[32], val[32];
        snprintf(key, sizeof(key), "w%d", round);
        snprintf(val, sizeof(val), "v%d", round);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
        assert_int_equal(cc_wait(c, 2, 5000, &acked), CC_OK);
        assert_int_equal(acked, 2);
        for (int j = 1; j < 3; j++) { /* no polling: it is there the moment WAIT returns */
            cc_item it = {0};
            assert_int_equal(cc_get(cl.nodes[j].c, key, strlen(key), &it), CC_OK);
            assert_int_equal(it.value.len, strlen(val));
            assert_memory_equal(it.value.data, val, strlen(val));
            cc_item_release(&it);
        }
    }
    /* bounds */
    assert_int_equal(cc_wait(c, 256, 10, &acked), CC_E_CLIENT_ARGS);
    int fd = harness_connect(cl.nodes[0].h);
    static const uint8_t bad[] = {0x94, 23, 1, 0xcd, 0x01, 0x00, 10}; /* [23, 1, 256, 10] */
    assert_int_equal(harness_send_frame(fd, bad, sizeof(bad)), 0);
    uint8_t *body;
    size_t blen;
    assert_int_equal(harness_recv_frame(fd, &body, &blen), 0);
    assert_true(blen >= 3 && body[2] == CC_E_BAD_ARGS);
    free(body);
    close(fd);
    /* one peer cut off: WAIT for both waits out its timeout and reports one */
    faultproxy_blackhole(cl.proxy[0][2], true);
    cc_value v = cc_value_bytes("late", 4);
    assert_int_equal(cc_set(c, "cut", 3, &v, 0, 0, 0, NULL), CC_OK);
    uint64_t t0 = cl_now_ms();
    assert_int_equal(cc_wait(c, 2, 400, &acked), CC_OK);
    uint64_t took = cl_now_ms() - t0;
    assert_int_equal(acked, 1);
    assert_true(took >= 390 && took < 3000);
    assert_int_equal(cc_wait(c, 1, 5000, &acked), CC_OK);
    assert_int_equal(acked, 1);
    assert_int_equal(cc_wait(c, 2, 0, &acked), CC_OK); /* timeout 0: the count now */
    assert_int_equal(acked, 1);
    /* shutdown while a WAIT for both is pending (it would wait 60 s) */
    struct waiter_arg w = {.replicas = 2, .timeout_ms = 60000};
    w.c = cl_client(cl.nodes[0].h);
    assert_int_equal(cc_ping(w.c), CC_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, _waiter, &w), 0);
    cl_sleep_ms(300);
    t0 = cl_now_ms();
    assert_int_equal(harness_stop(cl.nodes[0].h), 0);
    assert_true(cl_now_ms() - t0 < 5000);
    pthread_join(t, NULL);
    assert_true(w.rc == CC_OK || w.rc == CC_E_IO || w.rc == CC_E_SHUTDOWN);
    if (w.rc == CC_OK)
        assert_int_equal(w.acked, 1);
    cc_client_destroy(&w.c);
    faultproxy_blackhole(cl.proxy[0][2], false);
    cluster_destroy(&cl);
}

/* Run cache-cli against node i; its exit code, and its output in out (the first len - 1
 * bytes: the rest is read and dropped, so a longer output never ends cache-cli with SIGPIPE,
 * exit 141, as `stats --prometheus` of a node with peers did once it passed 16 KiB). */
static int _cli(struct cluster *cl, int i, const char *args, char *out, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "\"%s\" -s %s %s 2>&1", getenv("CACHE_CLI"),
             harness_socket(cl->nodes[i].h), args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    char rest[4096];
    while (fread(rest, 1, sizeof(rest), f) > 0)
        ;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Poll `cluster status --all` on node i until its exit code is want (views come every s). */
static void _wait_cli(struct cluster *cl, int i, int want, const char *needle)
{
    static char out[16384];
    uint64_t end = cl_now_ms() + 8000;
    int rc;
    while ((rc = _cli(cl, i, "cluster status --all", out, sizeof(out))) != want ||
           !strstr(out, needle)) {
        if (cl_now_ms() > end)
            fail_msg("cluster status --all: exit %d, wanted %d and '%s':\n%s", rc, want, needle,
                     out);
        cl_sleep_ms(200);
    }
}

/* cache-cli cluster status --all: every node's view, and exit 1 when two nodes pin different
 * certificates for one node or a peer does not answer. */
static void test_cluster_status_finds_disagreement(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    cluster_start(&cl, NULL);
    cluster_wait_links(&cl, 10000);
    _wait_cli(&cl, 0, 0, "every node pins the same certificates");
    char out[16384];
    assert_int_equal(_cli(&cl, 0, "cluster status", out, sizeof(out)), 0);
    assert_non_null(strstr(out, cl.nodes[1].fp));
    assert_non_null(strstr(out, "n2 "));
    static char prom[1 << 18]; /* every stat, per peer and per op: about 16 KiB and growing */
    assert_int_equal(_cli(&cl, 0, "stats --prometheus", prom, sizeof(prom)), 0);
    assert_non_null(strstr(prom, "# TYPE cacheserverd_repl_lag_records gauge"));
    assert_non_null(strstr(prom, "cacheserverd_repl_lag_records{peer=\"n1\"} "));
    /* node 1 comes back pinning a certificate for node 2 that node 2 does not have */
    cc_client_destroy(&cl.nodes[1].c);
    harness_destroy(&cl.nodes[1].h);
    cluster_start_node(&cl, 1, NULL, 2);
    _wait_cli(&cl, 0, 1, "DISAGREE: n1 has aaaaaaaa");
    /* node 2 stops answering */
    cc_client_destroy(&cl.nodes[2].c);
    harness_destroy(&cl.nodes[2].h);
    _wait_cli(&cl, 0, 1, "NO ANSWER: n2");
    assert_int_equal(_cli(&cl, 0, "cluster status --json", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"peer.n1.fingerprint\""));
    cluster_destroy(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_wrong_peers_refused, cluster_teardown),
        cmocka_unit_test_teardown(test_future_stamps_refused, cluster_teardown),
        cmocka_unit_test_teardown(test_partition_heals_to_last_writer, cluster_teardown),
        cmocka_unit_test_teardown(test_small_backlog_full_sync_converges, cluster_teardown),
        cmocka_unit_test_teardown(test_restart_resumes_and_crash_resyncs, cluster_teardown),
        cmocka_unit_test_teardown(test_cluster_status_finds_disagreement, cluster_teardown),
        cmocka_unit_test_teardown(test_wait_counts_acknowledging_peers, cluster_teardown),
        cmocka_unit_test_teardown(test_silent_peer_is_dropped_and_resumes, cluster_teardown),
        cmocka_unit_test_teardown(test_flush_ordered_by_its_stamp, cluster_teardown),
        cmocka_unit_test_teardown(test_counters_add_up_across_nodes, cluster_teardown),
        cmocka_unit_test_teardown(test_three_nodes_converge_through_link_cuts, cluster_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
