/* Shared-memory reads and replication (docs/shm-reads.md, "Why a read never returns a value
 * older than an acknowledged one" and its Tests line `repl_shm_coherence`), with two real
 * cacheserverd processes, both with --shm-reads true:
 *   a writer thread SETs increasing sequence numbers to a few keys on node 2 (nodes[1]);
 *   on node 1 (nodes[0]) a client reading only the socket and a client reading the region
 *   first take turns on the same keys. Once node 1 answered a sequence for a key, node 1's
 *   region never answers an older one afterwards: the floor (the highest sequence node 1's
 *   socket answered, and, checked apart, the highest anything on node 1 answered) is loaded
 *   before each read through the region client and its answer may not be below it. Some of
 *   those reads must be region hits, or the test proves nothing. Reads through MGET too.
 *   Beside them a thread with a region client of its own reads the same keys against the
 *   socket floors the main loop publishes (stored with release after each socket read,
 *   loaded with acquire before each of its reads): the same rule across threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "cluster.h"

#define NKEYS 8
#define WRITES 4000    /* the node 1 readers take turns until node 2 wrote this many... */
#define ITERS 1000000  /* ...or for this many turns (each: a socket read and a region read) */

static void _key(int i, char *buf, size_t len) { snprintf(buf, len, "rs%d", i); }

static cc_client *_client(struct harness *h, int shm_reads, const char *name)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(h);
    o.client_name = name;
    o.shm_reads = shm_reads;
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    assert_int_equal(cc_connect(c), CC_OK);
    return c;
}

static uint64_t _hits(const cc_client *c)
{
    cc_shm_info s;
    cc_shm_stats(c, &s);
    return s.hits;
}

/* The writer on node 2: key (seq % NKEYS) gets "seq", seq = 1, 2, ... */
struct writer {
    struct harness *h;
    int stop;
    uint64_t seq, errors;
    char err[200];
};

static void *_writer(void *arg)
{
    struct writer *w = arg;
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(w->h);
    o.client_name = "repl_shm writer";
    o.shm_reads = 0;
    cc_client *c = cc_client_create(&o);
    if (!c)
        return NULL;
    for (uint64_t seq = NKEYS + 1; seq < 10000000 && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE);
         seq++) {
        char key[16], val[32];
        _key((int)(seq % NKEYS), key, sizeof(key));
        snprintf(val, sizeof(val), "%llu", (unsigned long long)seq);
        cc_value v = cc_value_bytes(val, strlen(val));
        int st = cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL);
        if (st != CC_OK && w->errors++ == 0)
            snprintf(w->err, sizeof(w->err), "SET %s: %s (%s)", key, cc_strstatus(st),
                     cc_errmsg(c));
        __atomic_store_n(&w->seq, seq, __ATOMIC_RELAXED);
        usleep(100); /* a key changes about every ms: read twice and published in between */
    }
    cc_client_destroy(&c);
    return NULL;
}

/* The thread reading node 1's region against the floors the main loop's socket reads
 * publish. */
struct side {
    struct harness *h;
    uint64_t floor[NKEYS]; /* the main loop's socket floors (atomics) */
    int stop;
    uint64_t reads, hits, bad, errors;
    char first[300];
};

static void *_side(void *arg)
{
    struct side *sd = arg;
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(sd->h);
    o.client_name = "repl_shm side";
    cc_client *c = cc_client_create(&o);
    if (!c)
        return NULL;
    for (unsigned n = 0; n < 10000000 && !__atomic_load_n(&sd->stop, __ATOMIC_ACQUIRE); n++) {
        char key[16];
        int k = (int)(n * 3 % NKEYS);
        _key(k, key, sizeof(key));
        uint64_t f = __atomic_load_n(&sd->floor[k], __ATOMIC_ACQUIRE), h0 = _hits(c);
        cc_item it;
        int st = cc_get(c, key, strlen(key), &it);
        bool hit = _hits(c) > h0;
        if (st != CC_OK || !it.found) {
            sd->errors++;
        } else {
            char buf[32];
            size_t l = it.value.len < sizeof(buf) - 1 ? it.value.len : sizeof(buf) - 1;
            memcpy(buf, it.value.data, l);
            buf[l] = 0;
            uint64_t s = strtoull(buf, NULL, 10);
            sd->reads++;
            sd->hits += hit;
            if (s < f && sd->bad++ == 0)
                snprintf(sd->first, sizeof(sd->first), "%s answered %s = %llu after node 1's "
                         "socket had answered %llu", hit ? "node 1's REGION" : "node 1's socket",
                         key, (unsigned long long)s, (unsigned long long)f);
        }
        cc_item_release(&it);
        if (n % 16 == 15)
            usleep(50);
    }
    cc_client_destroy(&c);
    return NULL;
}

/* The sequence an answer carries (0: not found). */
static uint64_t _seq_of(int st, const cc_item *it, const char *key)
{
    if (st == CC_NOT_FOUND || (st == CC_OK && !it->found))
        return 0;
    if (st != CC_OK)
        fail_msg("GET %s on node 1: %s", key, cc_strstatus(st));
    char buf[32];
    size_t n = it->value.len < sizeof(buf) - 1 ? it->value.len : sizeof(buf) - 1;
    memcpy(buf, it->value.data, n);
    buf[n] = 0;
    return strtoull(buf, NULL, 10);
}

static void test_repl_shm_coherence(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    const char *args[] = {"--shm-reads", "true", NULL};
    cluster_init(&cl, 2);
    cluster_start(&cl, args);
    cluster_wait_links(&cl, 10000);
    struct harness *n1 = cl.nodes[0].h, *n2 = cl.nodes[1].h;

    /* every key on node 2 first, replicated to node 1 */
    cc_client *w0 = _client(n2, 0, "repl_shm setup");
    for (int i = 0; i < NKEYS; i++) {
        char key[16], val[32];
        _key(i, key, sizeof(key));
        snprintf(val, sizeof(val), "%d", i ? i : NKEYS);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(w0, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    cc_client_destroy(&w0);
    cluster_wait_agree(&cl, 10000);

    cc_client *region = _client(n1, 1, "repl_shm region"), *sock = _client(n1, 0, "repl_shm sock");
    cc_shm_info si;
    cc_shm_stats(region, &si);
    assert_true(si.mapped);
    static struct writer w;
    memset(&w, 0, sizeof(w));
    w.h = n2;
    pthread_t t, ts;
    assert_int_equal(pthread_create(&t, NULL, _writer, &w), 0);
    static struct side sd;
    memset(&sd, 0, sizeof(sd));
    sd.h = n1;
    assert_int_equal(pthread_create(&ts, NULL, _side, &sd), 0);

    uint64_t floor_sock[NKEYS] = {0}, floor_any[NKEYS] = {0};
    uint64_t reads = 0, mget_hits = 0, behind = 0;
    char key[16];
    int i;
    for (i = 0; i < ITERS && __atomic_load_n(&w.seq, __ATOMIC_RELAXED) < WRITES; i++) {
        int k = i % NKEYS;
        _key(k, key, sizeof(key));
        /* node 1's socket answers */
        cc_item it;
        int st = cc_get(sock, key, strlen(key), &it);
        uint64_t s = _seq_of(st, &it, key);
        cc_item_release(&it);
        if (s < floor_any[k])
            fail_msg("node 1's socket answered %s = %llu after node 1 had answered %llu",
                     key, (unsigned long long)s, (unsigned long long)floor_any[k]);
        floor_sock[k] = s > floor_sock[k] ? s : floor_sock[k];
        __atomic_store_n(&sd.floor[k], floor_sock[k], __ATOMIC_RELEASE);
        floor_any[k] = floor_sock[k] > floor_any[k] ? floor_sock[k] : floor_any[k];
        /* then the region client, against the floor loaded before it reads */
        uint64_t fs = floor_sock[k], fa = floor_any[k], h0 = _hits(region);
        st = cc_get(region, key, strlen(key), &it);
        bool hit = _hits(region) > h0;
        s = _seq_of(st, &it, key);
        cc_item_release(&it);
        reads++;
        if (s < fs || s < fa)
            fail_msg("node 1's %s answered %s = %llu after node 1's socket had answered "
                     "%llu (and node 1 anything: %llu); node 2 had written up to %llu; "
                     "turn %d, %llu region hits so far",
                     hit ? "REGION" : "socket (region client)", key, (unsigned long long)s,
                     (unsigned long long)fs, (unsigned long long)fa,
                     (unsigned long long)__atomic_load_n(&w.seq, __ATOMIC_RELAXED), i,
                     (unsigned long long)_hits(region));
        floor_any[k] = s > floor_any[k] ? s : floor_any[k];
        uint64_t written = __atomic_load_n(&w.seq, __ATOMIC_RELAXED);
        behind += written > s + NKEYS; /* replication lag: node 1 behind node 2 (fine) */
        /* now and then every key at once through MGET */
        if (i % 64 == 63) {
            const void *mk[NKEYS];
            size_t ml[NKEYS];
            char keys[NKEYS][16];
            uint64_t floors[NKEYS];
            for (int j = 0; j < NKEYS; j++) {
                _key(j, keys[j], sizeof(keys[j]));
                mk[j] = keys[j];
                ml[j] = strlen(keys[j]);
                floors[j] = floor_any[j];
            }
            cc_item out[NKEYS];
            h0 = _hits(region);
            assert_int_equal(cc_mget(region, NKEYS, mk, ml, out), CC_OK);
            mget_hits += _hits(region) - h0;
            for (int j = 0; j < NKEYS; j++) {
                s = _seq_of(CC_OK, &out[j], keys[j]);
                if (s < floors[j])
                    fail_msg("node 1's MGET (%llu of %d keys from the region) answered %s = "
                             "%llu after node 1 had answered %llu", (unsigned long long)(
                             _hits(region) - h0), NKEYS, keys[j], (unsigned long long)s,
                             (unsigned long long)floors[j]);
                floor_any[j] = s > floor_any[j] ? s : floor_any[j];
                cc_item_release(&out[j]);
            }
        }
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&sd.stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pthread_join(ts, NULL), 0);
    printf("# the side thread read %llu times, %llu region hits, %llu errors\n",
           (unsigned long long)sd.reads, (unsigned long long)sd.hits,
           (unsigned long long)sd.errors);
    if (sd.bad)
        fail_msg("the side thread had %llu reads older than the floor; the first: %s",
                 (unsigned long long)sd.bad, sd.first);
    assert_true(sd.hits > 0);
    assert_int_equal(sd.errors, 0);
    uint64_t hits = _hits(region);
    printf("# node 2 wrote %llu sequences; in %d turns node 1's region client read %llu times, "
           "%llu region hits (%llu of them in MGETs), %llu reads more than a round of writes "
           "behind node 2; writer errors %llu\n", (unsigned long long)w.seq, i,
           (unsigned long long)reads,
           (unsigned long long)hits, (unsigned long long)mget_hits, (unsigned long long)behind,
           (unsigned long long)w.errors);
    if (w.errors)
        fail_msg("the writer on node 2 failed: %s", w.err);
    assert_true(hits > 0);
    cc_client_destroy(&region);
    cc_client_destroy(&sock);
    cluster_destroy(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_repl_shm_coherence, cluster_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
