/* Shared-memory reads of a fenced node (docs/shm-reads.md, "Fencing", and its Tests line
 * `shm_fenced`; docs/integrity.md, "Fenced"), against a real cacheserverd built with
 * -Dfault_injection=true (else "# skipped"):
 *   keys published and read from the region; FAULT fence: from its reply on, no read is a
 *   region hit (fenced-reads is off by default, so reads answer as misses at once, region or
 *   not): the very next GET and MGET of the same client, a fresh client's (which adopts the
 *   process's region before it connects), and a thread that reads in a loop and is told
 *   when the fence is acknowledged. Each answer equals the socket's while fenced (GET: not
 *   found; MGET: every key a miss); writes answer E_FENCED. CLUSTER_UNFENCE
 *   (cc_cluster_unfence): the values are there again, and after they are republished they
 *   are read from the region again, new values included.
 * The client hooks (cc_shm_region_id) are libcacheclient's internal ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client-internal.h"
#include "client_test.h"
#include "harness.h"

#define NKEYS 8

static void _key(int i, char *buf, size_t len) { snprintf(buf, len, "fk%d", i); }

static cc_client *_client(int shm_reads, bool connect)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(srv);
    o.client_name = "test_shm_fenced";
    o.shm_reads = shm_reads;
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    if (connect)
        EXPECT_STATUS(c, CC_OK, cc_connect(c));
    return c;
}

static uint64_t _hits(const cc_client *c)
{
    cc_shm_info s;
    cc_shm_stats(c, &s);
    return s.hits;
}

/* Read key through c until it is read from the region (bounded: 2 s); its value must be
 * val. */
static void _publish(cc_client *c, const char *key, const char *val)
{
    for (int i = 0; i < 200; i++) {
        uint64_t before = _hits(c);
        cc_item it;
        EXPECT_STATUS(c, CC_OK, cc_get(c, key, strlen(key), &it));
        if (!it.found || it.value.len != strlen(val) || memcmp(it.value.data, val, it.value.len))
            fail_msg("%s read as \"%.*s\", not \"%s\" (%s)", key, it.found ? (int)it.value.len : 9,
                     it.found ? (const char *)it.value.data : "not found", val,
                     _hits(c) > before ? "from the region" : "through the socket");
        cc_item_release(&it);
        if (_hits(c) > before)
            return;
        usleep(10000);
    }
    fail_msg("key %s was never read from the region", key);
}

static void _set_all(cc_client *c, const char *prefix)
{
    for (int i = 0; i < NKEYS; i++) {
        char key[16], val[32];
        _key(i, key, sizeof(key));
        snprintf(val, sizeof(val), "%s-%d", prefix, i);
        cc_value v = cc_value_bytes(val, strlen(val));
        EXPECT_STATUS(c, CC_OK, cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL));
    }
}

static void _publish_all(cc_client *c, const char *prefix)
{
    for (int i = 0; i < NKEYS; i++) {
        char key[16], val[32];
        _key(i, key, sizeof(key));
        snprintf(val, sizeof(val), "%s-%d", prefix, i);
        _publish(c, key, val);
    }
}

/* GET key through c while fenced: a miss, not from the region, as the socket answers. */
static void _fenced_get(cc_client *c, cc_client *sock, const char *key, const char *who)
{
    uint64_t h0 = _hits(c);
    cc_item a, b;
    int sa = cc_get(c, key, strlen(key), &a);
    bool hit = _hits(c) > h0;
    int sb = cc_get(sock, key, strlen(key), &b);
    if (hit || sa != sb || sa != CC_NOT_FOUND || a.found || b.found)
        fail_msg("fenced: %s read %s %s: %s, found %d \"%.*s\"; the socket answered %s, "
                 "found %d", who, key, hit ? "FROM THE REGION" : "through the socket",
                 cc_strstatus(sa), a.found, a.found ? (int)a.value.len : 0,
                 a.found ? (const char *)a.value.data : "", cc_strstatus(sb), b.found);
    cc_item_release(&a);
    cc_item_release(&b);
}

/* A thread reading the keys in a loop; once `fenced` is set (after FAULT fence's reply), no
 * read may be a region hit nor find a value, until `unfenced` is set before the unfence. */
struct loop {
    const char *path;
    int fenced, stop;
    uint64_t hits_before, reads_fenced, bad, errors;
    char first[300];
};

static void *_loop(void *arg)
{
    struct loop *l = arg;
    cc_options o;
    cc_options_init(&o);
    o.socket_path = l->path;
    o.client_name = "test_shm_fenced loop";
    cc_client *c = cc_client_create(&o);
    if (!c)
        return NULL;
    for (unsigned n = 0; n < 2000000 && !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE); n++) {
        char key[16];
        _key((int)(n % NKEYS), key, sizeof(key));
        int fenced = __atomic_load_n(&l->fenced, __ATOMIC_ACQUIRE);
        uint64_t h0 = _hits(c);
        cc_item it;
        int st = cc_get(c, key, strlen(key), &it);
        bool hit = _hits(c) > h0;
        if (st != CC_OK && st != CC_NOT_FOUND) {
            l->errors++;
        } else if (!fenced) {
            __atomic_fetch_add(&l->hits_before, hit, __ATOMIC_RELAXED); /* main polls it */
        } else {
            __atomic_fetch_add(&l->reads_fenced, 1, __ATOMIC_RELAXED); /* main polls it */
            if ((hit || it.found) && l->bad++ == 0)
                snprintf(l->first, sizeof(l->first), "%s read %s after the fence: \"%.*s\"",
                         hit ? "a region hit" : "a socket read", key,
                         it.found ? (int)it.value.len : 0,
                         it.found ? (const char *)it.value.data : "");
        }
        cc_item_release(&it);
        if (n % 64 == 63)
            usleep(100);
    }
    cc_client_destroy(&c);
    return NULL;
}

static void test_shm_fenced(void **state)
{
    (void)state;
    const char *args[] = {"--memory", "64MiB", "--shm-reads", "true", NULL};
    srv = harness_start(args);
    if (harness_skip_without_faults(&srv))
        return;
    cc_client *c = _client(1, true), *sock = _client(0, true);
    assert_int_not_equal(cc_shm_region_id(c), 0);
    _set_all(c, "before");
    _publish_all(c, "before");
    uint64_t hits_published = _hits(c);

    /* a thread reading from the region in a loop */
    static struct loop l;
    memset(&l, 0, sizeof(l));
    l.path = harness_socket(srv);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, _loop, &l), 0);
    for (int i = 0; i < 500 && !__atomic_load_n(&l.hits_before, __ATOMIC_RELAXED); i++)
        usleep(10000);

    /* the fence */
    assert_int_equal(harness_fault(srv, "fence", 0), 1);
    __atomic_store_n(&l.fenced, 1, __ATOMIC_RELEASE);
    char key[16];
    _key(0, key, sizeof(key));
    _fenced_get(c, sock, key, "the client that read it from the region"); /* the very next */
    for (int i = 0; i < NKEYS; i++) {
        _key(i, key, sizeof(key));
        _fenced_get(c, sock, key, "the client that read it from the region");
    }
    cc_client *fresh = _client(1, false); /* adopts the region before it connects */
    _fenced_get(fresh, sock, key, "a fresh client");
    cc_client_destroy(&fresh);
    /* MGET: every key a miss, none from the region */
    const void *mk[NKEYS];
    size_t ml[NKEYS];
    char keys[NKEYS][16];
    for (int i = 0; i < NKEYS; i++) {
        _key(i, keys[i], sizeof(keys[i]));
        mk[i] = keys[i];
        ml[i] = strlen(keys[i]);
    }
    cc_item out[NKEYS];
    uint64_t h0 = _hits(c);
    EXPECT_STATUS(c, CC_OK, cc_mget(c, NKEYS, mk, ml, out));
    assert_int_equal(_hits(c), h0);
    for (int i = 0; i < NKEYS; i++) {
        if (out[i].found)
            fail_msg("fenced: MGET found %s", keys[i]);
        cc_item_release(&out[i]);
    }
    /* writes are refused: nothing changes while fenced */
    cc_value v = cc_value_bytes("while fenced", 12);
    EXPECT_STATUS(c, CC_E_FENCED, cc_set(c, keys[0], strlen(keys[0]), &v, 0, 0, 0, NULL));
    assert_int_equal(harness_stat(srv, "fenced"), 1);
    /* the loop reads on, fenced, for a while */
    uint64_t target = __atomic_load_n(&l.reads_fenced, __ATOMIC_RELAXED) + 200;
    for (int i = 0; i < 500 && __atomic_load_n(&l.reads_fenced, __ATOMIC_RELAXED) < target; i++)
        usleep(10000);
    __atomic_store_n(&l.fenced, 0, __ATOMIC_RELEASE); /* before the unfence */
    usleep(1000);

    /* the unfence: the values are back, then read from the region once republished */
    int was = 0;
    EXPECT_STATUS(c, CC_OK, cc_cluster_unfence(c, &was));
    assert_int_equal(was, 1);
    assert_int_equal(harness_stat(srv, "fenced"), 0);
    __atomic_store_n(&l.stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(t, NULL), 0);
    printf("# region hits: %llu before the fence (the client), %llu (the loop); the loop read "
           "%llu times fenced; errors %llu\n", (unsigned long long)hits_published,
           (unsigned long long)l.hits_before, (unsigned long long)l.reads_fenced,
           (unsigned long long)l.errors);
    if (l.bad)
        fail_msg("fenced: the loop had %llu reads that found a value; the first: %s",
                 (unsigned long long)l.bad, l.first);
    assert_true(l.hits_before > 0);
    assert_true(l.reads_fenced > 0);
    assert_int_equal(l.errors, 0);

    uint64_t h1 = _hits(c);
    _publish_all(c, "before");
    _set_all(c, "after");
    _publish_all(c, "after");
    printf("# region hits after the unfence: %llu\n", (unsigned long long)(_hits(c) - h1));
    assert_true(_hits(c) >= h1 + 2 * NKEYS);
    cc_client_destroy(&c);
    cc_client_destroy(&sock);
    harness_destroy(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shm_fenced)};
    return cmocka_run_group_tests_name("shm_fenced", tests, NULL, group_teardown);
}
