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

#include "cacheclient.h"
#include "faultproxy.h"
#include "harness.h"

#define MAXN 3

struct node {
    struct harness *h;
    char dir[256];
    char fp[80];
    uint16_t port; /* replication-listen */
    cc_client *c;
};

struct cluster {
    int n;
    char root[200];
    struct node nodes[MAXN];
    struct faultproxy *proxy[MAXN][MAXN]; /* [from][to]: from's link to `to` goes through it */
};

static uint64_t _ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void _sleep_ms(unsigned ms) { usleep(ms * 1000u); }

/* A port nothing listens on now, below the kernel's ephemeral range (32768..60999 by
 * default): a port bind(0) hands out is soon handed out again to someone's outgoing
 * connection or listener (the fault proxies', another test's), and the node started on it
 * then finds it taken. */
static uint16_t _free_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)_ms();
    for (int tries = 0; tries < 1000; tries++) {
        uint16_t port = (uint16_t)(20000 + rand_r(&seed) % 12000);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    fail_msg("no free port in 20000..31999");
    return 0;
}

/* cacheserverd --gen-identity DIR; the fingerprint is the last line it prints. */
static void _gen_identity(const char *dir, char *fp, size_t len)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "\"%s\" --gen-identity %s", getenv("CACHESERVERD"), dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[256] = "";
    fp[0] = '\0';
    while (fgets(line, sizeof(line), f))
        snprintf(fp, len, "%.*s", (int)strcspn(line, "\n"), line);
    assert_int_equal(pclose(f), 0);
    assert_int_equal(strlen(fp), 64);
}

static cc_client *_client(struct harness *h)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(h);
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    return c;
}

/* Start node i with extra arguments (NULL-terminated, may be NULL). wrong_fp_for: a peer
 * whose fingerprint this node pins wrong (a made-up one; -1: none). */
static void _start_node(struct cluster *cl, int i, const char *const *extra, int wrong_fp_for)
{
    struct node *nd = &cl->nodes[i];
    static char bufs[MAXN][24][200];
    const char *args[64];
    int a = 0;
    snprintf(bufs[i][0], 200, "%d", i + 1);
    snprintf(bufs[i][1], 200, "n%d", i);
    snprintf(bufs[i][2], 200, "127.0.0.1:%u", nd->port);
    args[a++] = "--node-id";
    args[a++] = bufs[i][0];
    args[a++] = "--node-name";
    args[a++] = bufs[i][1];
    args[a++] = "--replication-listen";
    args[a++] = bufs[i][2];
    args[a++] = "--identity";
    args[a++] = nd->dir;
    int b = 3;
    for (int j = 0; j < cl->n; j++) {
        if (j == i)
            continue;
        const char *fp = j == wrong_fp_for
                             ? "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                             : cl->nodes[j].fp;
        snprintf(bufs[i][b], 200, "n%d 127.0.0.1:%u %s", j, faultproxy_port(cl->proxy[i][j]), fp);
        args[a++] = "--peer";
        args[a++] = bufs[i][b++];
    }
    for (int k = 0; extra && extra[k]; k++)
        args[a++] = extra[k];
    args[a] = NULL;
    nd->h = harness_start(args);
    nd->c = _client(nd->h);
}

/* The cluster of the running test, for _teardown: a failing assertion leaves the test
 * before its _cluster_destroy. */
static struct cluster *live;

static void _cluster_init(struct cluster *cl, int n)
{
    memset(cl, 0, sizeof(*cl));
    live = cl;
    cl->n = n;
    snprintf(cl->root, sizeof(cl->root), "/tmp/csd-repl-XXXXXX");
    assert_non_null(mkdtemp(cl->root));
    for (int i = 0; i < n; i++) {
        snprintf(cl->nodes[i].dir, sizeof(cl->nodes[i].dir), "%s/id%d", cl->root, i);
        _gen_identity(cl->nodes[i].dir, cl->nodes[i].fp, sizeof(cl->nodes[i].fp));
        cl->nodes[i].port = _free_port();
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                cl->proxy[i][j] = faultproxy_start(cl->nodes[j].port);
}

static void _cluster_start(struct cluster *cl, const char *const *extra)
{
    for (int i = 0; i < cl->n; i++)
        _start_node(cl, i, extra, -1);
}

static void _cluster_destroy(struct cluster *cl)
{
    for (int i = 0; i < cl->n; i++) {
        if (cl->nodes[i].c)
            cc_client_destroy(&cl->nodes[i].c);
        if (cl->nodes[i].h)
                harness_destroy(&cl->nodes[i].h);
    }
    for (int i = 0; i < cl->n; i++)
        for (int j = 0; j < cl->n; j++)
            if (cl->proxy[i][j])
                faultproxy_stop(&cl->proxy[i][j]);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", cl->root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", cl->root);
    live = NULL;
}

/* After every test: stop and remove what a failed one left (servers, proxies, files). */
static int _teardown(void **state)
{
    (void)state;
    if (live)
        _cluster_destroy(live);
    return 0;
}

static uint64_t _stat(struct cluster *cl, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static uint64_t _stat(struct cluster *cl, int i, const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    return harness_stat(cl->nodes[i].h, name);
}

/* Sum of a per-peer stat over every node and its peers. */
static uint64_t _sum_peer_stat(struct cluster *cl, const char *leaf)
{
    uint64_t sum = 0;
    for (int i = 0; i < cl->n; i++)
        for (int j = 0; j < cl->n; j++)
            if (i != j)
                sum += _stat(cl, i, "repl.n%d.%s", j, leaf);
    return sum;
}

/* Wait until every link is up both ways (repl_peers_up == n - 1 on every node). */
static void _wait_links(struct cluster *cl, unsigned timeout_ms)
{
    uint64_t end = _ms() + timeout_ms;
    for (;;) {
        bool all = true;
        for (int i = 0; i < cl->n; i++)
            all &= _stat(cl, i, "repl_peers_up") == (uint64_t)(cl->n - 1);
        if (all)
            return;
        if (_ms() > end) {
            for (int i = 0; i < cl->n; i++)
                harness_print_log(cl->nodes[i].h, 20);
            fail_msg("the links did not come up within %u ms", timeout_ms);
        }
        _sleep_ms(50);
    }
}

/* ---- a node's whole content, for comparing ---- */

struct entry {
    char key[64];
    uint64_t version;
    char val[64];
};

struct dump {
    size_t n, cap;
    struct entry *e;
};

static int _entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

static void _dump(cc_client *c, struct dump *d)
{
    d->n = 0;
    uint64_t cursor = 0;
    do {
        cc_keys keys = {0};
        assert_int_equal(cc_scan(c, cursor, "", 0, 1000, &cursor, &keys), CC_OK);
        for (size_t i = 0; i < keys.n; i++) {
            cc_item it = {0};
            if (cc_get(c, keys.keys[i], keys.lens[i], &it) != CC_OK)
                continue; /* deleted since the scan saw it */
            if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 1024;
                d->e = realloc(d->e, d->cap * sizeof(*d->e));
            }
            struct entry *e = &d->e[d->n++];
            snprintf(e->key, sizeof(e->key), "%.*s", (int)keys.lens[i], keys.keys[i]);
            e->version = it.version;
            if (it.value.type == CC_TYPE_INT)
                snprintf(e->val, sizeof(e->val), "%lld", (long long)it.value.i);
            else
                snprintf(e->val, sizeof(e->val), "%.*s", (int)it.value.len,
                         (const char *)it.value.data);
            cc_item_release(&it);
        }
        cc_keys_release(&keys);
    } while (cursor != 0);
    if (d->n)
        qsort(d->e, d->n, sizeof(*d->e), _entry_cmp);
}

/* Do all nodes hold the same keys, versions and values? On the last try, print the first
 * difference. */
static bool _agree(struct cluster *cl, bool print)
{
    struct dump d[MAXN] = {{0}};
    bool same = true;
    for (int i = 0; i < cl->n; i++)
        _dump(cl->nodes[i].c, &d[i]);
    for (int i = 1; i < cl->n && same; i++) {
        if (d[i].n != d[0].n) {
            same = false;
            if (print)
                fprintf(stderr, "node 0 holds %zu keys, node %d %zu\n", d[0].n, i, d[i].n);
        }
        for (size_t k = 0, l = 0; print && !same && (k < d[0].n || l < d[i].n);) {
            int c = k == d[0].n ? 1 : l == d[i].n ? -1 : strcmp(d[0].e[k].key, d[i].e[l].key);
            if (c < 0)
                fprintf(stderr, "only node 0 holds %s v%llu '%s'\n", d[0].e[k].key,
                        (unsigned long long)d[0].e[k].version, d[0].e[k].val);
            else if (c > 0)
                fprintf(stderr, "only node %d holds %s v%llu '%s'\n", i, d[i].e[l].key,
                        (unsigned long long)d[i].e[l].version, d[i].e[l].val);
            k += c <= 0;
            l += c >= 0;
        }
        for (size_t k = 0; k < d[0].n && k < d[i].n && same; k++) {
            if (strcmp(d[0].e[k].key, d[i].e[k].key) || d[0].e[k].version != d[i].e[k].version ||
                strcmp(d[0].e[k].val, d[i].e[k].val)) {
                same = false;
                if (print)
                    fprintf(stderr, "node 0: %s v%llu '%s'; node %d: %s v%llu '%s'\n",
                            d[0].e[k].key, (unsigned long long)d[0].e[k].version, d[0].e[k].val,
                            i, d[i].e[k].key, (unsigned long long)d[i].e[k].version,
                            d[i].e[k].val);
            }
        }
    }
    for (int i = 0; i < cl->n; i++)
        free(d[i].e);
    return same;
}

static void _wait_agree(struct cluster *cl, unsigned timeout_ms)
{
    uint64_t end = _ms() + timeout_ms;
    while (!_agree(cl, false)) {
        if (_ms() > end) {
            _agree(cl, true);
            static const char *const leaves[] = {"applied", "dropped_older", "clock_rejected",
                                                 "lag_records", "sent", "partial_resyncs",
                                                 "full_syncs", "out_up", "in_up"};
            for (int i = 0; i < cl->n; i++) {
                harness_print_log(cl->nodes[i].h, 15);
                for (int j = 0; j < cl->n; j++)
                    for (size_t l = 0; j != i && l < sizeof(leaves) / sizeof(leaves[0]); l++)
                        fprintf(stderr, "node %d: repl.n%d.%s = %llu\n", i, j, leaves[l],
                                (unsigned long long)_stat(cl, i, "repl.n%d.%s", j, leaves[l]));
            }
            fail_msg("the nodes did not agree within %u ms", timeout_ms);
        }
        _sleep_ms(100);
    }
}

/* Wait until every link's first full sync has completed: a marker written on each node
 * reaches the others only after SYNCED (links count as up during a full sync already). */
static void _wait_synced(struct cluster *cl)
{
    char key[32];
    for (int i = 0; i < cl->n; i++) {
        snprintf(key, sizeof(key), "synced-marker-%d", i);
        cc_value v = cc_value_bytes("1", 1);
        assert_int_equal(cc_set(cl->nodes[i].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    _wait_agree(cl, 10000);
}

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
    cc_client *c = _client(w->h);
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

static void _write_keys(struct cluster *cl, int node, const char *prefix, int n);

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
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 3);
    _cluster_start(&cl, NULL);
    _wait_links(&cl, 10000);
    _wait_synced(&cl);
    uint64_t full0 = _sum_peer_stat(&cl, "full_syncs");

    struct writer w[MAXN];
    pthread_t t[MAXN];
    int scale = _scale();
    _run_writers(&cl, w, t, 3000u * (unsigned)scale, 2000, 1000);
    unsigned seed = 99;
    for (int round = 0; round < 12 * scale; round++) {
        _sleep_ms(300);
        int i = rand_r(&seed) % 3, j = (i + 1 + rand_r(&seed) % 2) % 3;
        if (round % 12 == 4) {
            faultproxy_blackhole(cl.proxy[i][j], true); /* silence: no FIN, no RST */
            _sleep_ms(1500);
            faultproxy_cut(cl.proxy[i][j]);
            faultproxy_blackhole(cl.proxy[i][j], false);
        } else {
            faultproxy_cut(cl.proxy[i][j]);
        }
    }
    _join_writers(&cl, w, t);
    _wait_agree(&cl, 5000);
    uint64_t partial = _sum_peer_stat(&cl, "partial_resyncs");
    uint64_t full = _sum_peer_stat(&cl, "full_syncs") - full0;
    if (partial < 8u * (unsigned)scale || full != 0)
        fail_msg("expected >= 8 partial resyncs and no full sync, got %llu and %llu",
                 (unsigned long long)partial, (unsigned long long)full);
    assert_true(_sum_peer_stat(&cl, "applied") > 3000);
    _cluster_destroy(&cl);
}

/* A 64 KiB backlog and a link down while 2 MB of changes are made: the peer gets a full
 * sync, and the cluster still converges; what was deleted meanwhile does not survive on
 * the peer that was away (the full sync removes what its sender did not have). */
static void test_small_backlog_full_sync_converges(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 2);
    const char *extra[] = {"--repl-backlog-size", "64KiB", NULL};
    _cluster_start(&cl, extra);
    _wait_links(&cl, 10000);
    _write_keys(&cl, 1, "old", 100);
    _wait_agree(&cl, 5000);
    uint64_t full0 = _sum_peer_stat(&cl, "full_syncs");
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
    _wait_agree(&cl, 30000);
    assert_true(_sum_peer_stat(&cl, "full_syncs") > full0);
    cc_item it = {0};
    assert_int_equal(cc_get(cl.nodes[1].c, "old7", 4, &it), CC_NOT_FOUND);
    assert_int_equal(cc_get(cl.nodes[1].c, "old77", 5, &it), CC_OK);
    cc_item_release(&it);
    assert_true(_stat(&cl, 1, "repl.n0.sync_dropped") >= 50);
    _cluster_destroy(&cl);
}

/* A partition {0} | {1, 2}: writes on both sides, some to the same keys, deletes on one
 * side. After healing: every node holds what the greatest (stamp, node id) left, which the
 * writers read back as versions; nothing deleted comes back. */
static void test_partition_heals_to_last_writer(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 3);
    _cluster_start(&cl, NULL);
    _wait_links(&cl, 10000);
    char key[32], val[48];
    /* before: 200 keys everywhere */
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        cc_value v = cc_value_bytes("before", 6);
        assert_int_equal(cc_set(cl.nodes[1].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    _wait_agree(&cl, 5000);
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
    _sleep_ms(5);
    for (int i = 150; i < 250; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        snprintf(val, sizeof(val), "two-%d", i);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(cl.nodes[2].c, key, strlen(key), &v, 0, 0, 0, &v2[i]), CC_OK);
    }
    _sleep_ms(300);
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
    _wait_agree(&cl, 10000);
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
    _cluster_destroy(&cl);
}

/* A node whose stamps run 10 s ahead: the others apply none of its writes and count them. */
static void test_future_stamps_refused(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 2);
    _start_node(&cl, 0, NULL, -1);
    const char *skew[] = {"--repl-test-clock-skew-ms", "10000", NULL};
    _start_node(&cl, 1, skew, -1);
    _wait_links(&cl, 10000);
    cc_value v = cc_value_bytes("future", 6);
    assert_int_equal(cc_set(cl.nodes[1].c, "f", 1, &v, 0, 0, 0, NULL), CC_OK);
    uint64_t end = _ms() + 5000;
    while (_stat(&cl, 0, "repl.n1.clock_rejected") == 0 && _ms() < end)
        _sleep_ms(50);
    assert_true(_stat(&cl, 0, "repl.n1.clock_rejected") >= 1);
    cc_item it = {0};
    assert_int_equal(cc_get(cl.nodes[0].c, "f", 1, &it), CC_NOT_FOUND);
    assert_true(harness_log_contains(cl.nodes[0].h, "max-clock-offset"));
    /* the other way round works */
    cc_value w = cc_value_bytes("now", 3);
    assert_int_equal(cc_set(cl.nodes[0].c, "g", 1, &w, 0, 0, 0, NULL), CC_OK);
    end = _ms() + 5000;
    while (cc_get(cl.nodes[1].c, "g", 1, &it) != CC_OK && _ms() < end)
        _sleep_ms(50);
    assert_int_equal(it.value.len, 3);
    cc_item_release(&it);
    _cluster_destroy(&cl);
}

/* A peer with the wrong certificate, garbage on the peer port, a stranger's TLS client: each
 * refused and counted; the node keeps serving clients. */
static void test_wrong_peers_refused(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 3);
    /* node 0 pins the wrong fingerprint for node 1; node 2 is not started */
    _start_node(&cl, 0, NULL, 1);
    _start_node(&cl, 1, NULL, -1);
    uint64_t end = _ms() + 10000;
    while (_stat(&cl, 1, "repl_refused") == 0 && _ms() < end)
        _sleep_ms(50);
    assert_true(_stat(&cl, 1, "repl_refused") >= 1);
    assert_int_equal(_stat(&cl, 0, "repl.n1.out_up"), 0);
    /* garbage on the port */
    uint64_t before = _stat(&cl, 1, "repl_refused");
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
    end = _ms() + 5000;
    while (_stat(&cl, 1, "repl_refused") == before && _ms() < end)
        _sleep_ms(50);
    assert_true(_stat(&cl, 1, "repl_refused") > before);
    assert_true(harness_log_contains(cl.nodes[1].h, "refused a connection from 127.0.0.1"));
    assert_int_equal(harness_ping(cl.nodes[1].h), 0);
    assert_int_equal(harness_ping(cl.nodes[0].h), 0);
    _cluster_destroy(&cl);
}

/* SET n keys "<prefix><i>" on node i. */
static void _write_keys(struct cluster *cl, int node, const char *prefix, int n)
{
    char key[32], val[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s%d", prefix, i);
        snprintf(val, sizeof(val), "%s-n%d", prefix, node);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(cl->nodes[node].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
}

/* With persistence, a clean restart of a node resumes both ways from the backlog (no full
 * sync); a kill -9 cannot (its backlog is lost: full syncs) but the nodes still agree. */
static void test_restart_resumes_and_crash_resyncs(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 2);
    char ssd[MAXN][320];
    for (int i = 0; i < 2; i++) {
        snprintf(ssd[i], sizeof(ssd[i]), "%s/ssd%d", cl.root, i);
        const char *extra[] = {"--ssd-path", ssd[i], "--ssd-size", "64MiB", "--persist", "async",
                               NULL};
        _start_node(&cl, i, extra, -1);
    }
    _wait_links(&cl, 10000);
    _write_keys(&cl, 0, "a", 300);
    _write_keys(&cl, 1, "b", 300);
    _wait_agree(&cl, 5000);
    uint64_t full0 = _stat(&cl, 0, "repl.n1.full_syncs");
    uint64_t part0 = _stat(&cl, 0, "repl.n1.partial_resyncs");

    cc_client_destroy(&cl.nodes[1].c);
    harness_restart(cl.nodes[1].h);
    cl.nodes[1].c = _client(cl.nodes[1].h);
    assert_true(harness_log_contains(cl.nodes[1].h, "replication: resumed from"));
    _wait_links(&cl, 10000);
    _write_keys(&cl, 0, "c", 300);
    _write_keys(&cl, 1, "d", 300);
    _wait_agree(&cl, 5000);
    assert_int_equal(_stat(&cl, 0, "repl.n1.full_syncs"), full0);
    assert_true(_stat(&cl, 0, "repl.n1.partial_resyncs") > part0);
    assert_int_equal(_stat(&cl, 1, "repl.n0.full_syncs"), 0);
    assert_int_equal(_stat(&cl, 1, "repl.n0.partial_resyncs"), 1);

    /* kill -9 while writes go on: no saved state, so full syncs, and still one answer */
    cc_client_destroy(&cl.nodes[1].c);
    harness_kill(cl.nodes[1].h, SIGKILL);
    _write_keys(&cl, 0, "e", 300);
    harness_respawn(cl.nodes[1].h);
    cl.nodes[1].c = _client(cl.nodes[1].h);
    _write_keys(&cl, 1, "f", 300);
    _wait_links(&cl, 10000);
    _wait_agree(&cl, 30000);
    assert_true(_stat(&cl, 1, "repl.n0.full_syncs") >= 1);
    _cluster_destroy(&cl);
}

struct incr_writer {
    struct harness *h;
    unsigned n, keys, seed;
    uint64_t acked[100];
};

static void *_incr_writer(void *arg)
{
    struct incr_writer *w = arg;
    cc_client *c = _client(w->h);
    char key[16];
    for (unsigned i = 0; i < w->n; i++) {
        unsigned k = (unsigned)rand_r(&w->seed) % w->keys;
        snprintf(key, sizeof(key), "ctr%u", k);
        int64_t res;
        if (cc_incr(c, key, strlen(key), 1, 0, 0, &res) == CC_OK)
            w->acked[k]++;
    }
    cc_client_destroy(&c);
    return NULL;
}

/* Counters: 3 writers on 3 nodes increment the same 100 keys at once, with link cuts: every
 * node's totals equal the sum of the increments acknowledged anywhere (the first increment,
 * before the race, creates each key at 0 + 1 on node 0, as INCR does without peers). */
static void test_counters_add_up_across_nodes(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 3);
    _cluster_start(&cl, NULL);
    _wait_links(&cl, 10000);
    char key[16];
    for (int k = 0; k < 100; k++) { /* created once, before the race */
        snprintf(key, sizeof(key), "ctr%d", k);
        int64_t res;
        assert_int_equal(cc_incr(cl.nodes[0].c, key, strlen(key), 1, 0, 0, &res), CC_OK);
    }
    _wait_agree(&cl, 5000);
    struct incr_writer w[MAXN];
    pthread_t t[MAXN];
    for (int i = 0; i < 3; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i] = (struct incr_writer){.h = cl.nodes[i].h, .n = 3000, .keys = 100,
                                    .seed = 7u + (unsigned)i};
        assert_int_equal(pthread_create(&t[i], NULL, _incr_writer, &w[i]), 0);
    }
    for (int round = 0; round < 6; round++) {
        _sleep_ms(200);
        faultproxy_cut(cl.proxy[round % 3][(round + 1) % 3]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    _wait_agree(&cl, 10000);
    for (int k = 0; k < 100; k++) {
        snprintf(key, sizeof(key), "ctr%d", k);
        int64_t want = 1 + (int64_t)(w[0].acked[k] + w[1].acked[k] + w[2].acked[k]);
        for (int n = 0; n < 3; n++) {
            cc_item it = {0};
            assert_int_equal(cc_get(cl.nodes[n].c, key, strlen(key), &it), CC_OK);
            if (it.value.i != want)
                fail_msg("node %d: %s = %lld, the writers were acknowledged %lld increments",
                         n, key, (long long)it.value.i, (long long)want);
            cc_item_release(&it);
        }
    }
    _cluster_destroy(&cl);
}

/* A peer that stops reading (and answering): the link is dropped after READ_TIMEOUT_S and
 * counted, the node keeps serving and writing, and once the peer reads again it catches up
 * from the backlog. */
static void test_silent_peer_is_dropped_and_resumes(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 2);
    _cluster_start(&cl, NULL);
    _wait_links(&cl, 10000);
    _wait_synced(&cl);
    uint64_t disc = _stat(&cl, 0, "repl.n1.disconnects");
    faultproxy_blackhole(cl.proxy[0][1], true);
    uint64_t end = _ms() + 12000;
    int i = 0;
    while (_stat(&cl, 0, "repl.n1.disconnects") == disc && _ms() < end) {
        char key[32];
        snprintf(key, sizeof(key), "s%d", i++);
        cc_value v = cc_value_bytes("x", 1);
        assert_int_equal(cc_set(cl.nodes[0].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
        _sleep_ms(50);
    }
    assert_true(_stat(&cl, 0, "repl.n1.disconnects") > disc);
    assert_int_equal(harness_ping(cl.nodes[0].h), 0);
    faultproxy_cut(cl.proxy[0][1]); /* the old, silent connections go */
    faultproxy_blackhole(cl.proxy[0][1], false);
    _wait_agree(&cl, 10000);
    assert_int_equal(_stat(&cl, 0, "repl.n1.full_syncs"), 1); /* only the first */
    _cluster_destroy(&cl);
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
    _cluster_init(&cl, 3);
    _cluster_start(&cl, NULL);
    _wait_links(&cl, 10000);
    _wait_synced(&cl);
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
    uint64_t t0 = _ms();
    assert_int_equal(cc_wait(c, 2, 400, &acked), CC_OK);
    uint64_t took = _ms() - t0;
    assert_int_equal(acked, 1);
    assert_true(took >= 390 && took < 3000);
    assert_int_equal(cc_wait(c, 1, 5000, &acked), CC_OK);
    assert_int_equal(acked, 1);
    assert_int_equal(cc_wait(c, 2, 0, &acked), CC_OK); /* timeout 0: the count now */
    assert_int_equal(acked, 1);
    /* shutdown while a WAIT for both is pending (it would wait 60 s) */
    struct waiter_arg w = {.replicas = 2, .timeout_ms = 60000};
    w.c = _client(cl.nodes[0].h);
    assert_int_equal(cc_ping(w.c), CC_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, _waiter, &w), 0);
    _sleep_ms(300);
    t0 = _ms();
    assert_int_equal(harness_stop(cl.nodes[0].h), 0);
    assert_true(_ms() - t0 < 5000);
    pthread_join(t, NULL);
    assert_true(w.rc == CC_OK || w.rc == CC_E_IO || w.rc == CC_E_SHUTDOWN);
    if (w.rc == CC_OK)
        assert_int_equal(w.acked, 1);
    cc_client_destroy(&w.c);
    faultproxy_blackhole(cl.proxy[0][2], false);
    _cluster_destroy(&cl);
}

/* Run cache-cli against node i; its exit code, and its output in out. */
static int _cli(struct cluster *cl, int i, const char *args, char *out, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "\"%s\" -s %s %s 2>&1", getenv("CACHE_CLI"),
             harness_socket(cl->nodes[i].h), args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Poll `cluster status --all` on node i until its exit code is want (views come every s). */
static void _wait_cli(struct cluster *cl, int i, int want, const char *needle)
{
    static char out[16384];
    uint64_t end = _ms() + 8000;
    int rc;
    while ((rc = _cli(cl, i, "cluster status --all", out, sizeof(out))) != want ||
           !strstr(out, needle)) {
        if (_ms() > end)
            fail_msg("cluster status --all: exit %d, wanted %d and '%s':\n%s", rc, want, needle,
                     out);
        _sleep_ms(200);
    }
}

/* cache-cli cluster status --all: every node's view, and exit 1 when two nodes pin different
 * certificates for one node or a peer does not answer. */
static void test_cluster_status_finds_disagreement(void **state)
{
    (void)state;
    static struct cluster cl; /* static: _teardown still finds it after a failure */
    _cluster_init(&cl, 3);
    _cluster_start(&cl, NULL);
    _wait_links(&cl, 10000);
    _wait_cli(&cl, 0, 0, "every node pins the same certificates");
    char out[16384];
    assert_int_equal(_cli(&cl, 0, "cluster status", out, sizeof(out)), 0);
    assert_non_null(strstr(out, cl.nodes[1].fp));
    assert_non_null(strstr(out, "n2 "));
    assert_int_equal(_cli(&cl, 0, "stats --prometheus", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "# TYPE cacheserverd_repl_lag_records gauge"));
    assert_non_null(strstr(out, "cacheserverd_repl_lag_records{peer=\"n1\"} "));
    /* node 1 comes back pinning a certificate for node 2 that node 2 does not have */
    cc_client_destroy(&cl.nodes[1].c);
    harness_destroy(&cl.nodes[1].h);
    _start_node(&cl, 1, NULL, 2);
    _wait_cli(&cl, 0, 1, "DISAGREE: n1 has aaaaaaaa");
    /* node 2 stops answering */
    cc_client_destroy(&cl.nodes[2].c);
    harness_destroy(&cl.nodes[2].h);
    _wait_cli(&cl, 0, 1, "NO ANSWER: n2");
    assert_int_equal(_cli(&cl, 0, "cluster status --json", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"peer.n1.fingerprint\""));
    _cluster_destroy(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_wrong_peers_refused, _teardown),
        cmocka_unit_test_teardown(test_future_stamps_refused, _teardown),
        cmocka_unit_test_teardown(test_partition_heals_to_last_writer, _teardown),
        cmocka_unit_test_teardown(test_small_backlog_full_sync_converges, _teardown),
        cmocka_unit_test_teardown(test_restart_resumes_and_crash_resyncs, _teardown),
        cmocka_unit_test_teardown(test_cluster_status_finds_disagreement, _teardown),
        cmocka_unit_test_teardown(test_wait_counts_acknowledging_peers, _teardown),
        cmocka_unit_test_teardown(test_silent_peer_is_dropped_and_resumes, _teardown),
        cmocka_unit_test_teardown(test_counters_add_up_across_nodes, _teardown),
        cmocka_unit_test_teardown(test_three_nodes_converge_through_link_cuts, _teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
