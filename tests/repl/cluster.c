/* The replication tests' clusters (cluster.h). */
#include "cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>



uint64_t cl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void cl_sleep_ms(unsigned ms) { usleep(ms * 1000u); }

/* A port nothing listens on now, below the kernel's ephemeral range (32768..60999 by
 * default): a port bind(0) hands out is soon handed out again to someone's outgoing
 * connection or listener (the fault proxies', another test's), and the node started on it
 * then finds it taken. Nor one of the last CL_RECENT_PORTS this process handed out: a
 * cluster picks every node's port before it starts any, so a repeat passed the bind check
 * and the second node found it taken ("Address already in use", test_repl under ASan). */
#define CL_RECENT_PORTS 64
uint16_t cl_free_port(void)
{
    static unsigned seed, next;
    static uint16_t recent[CL_RECENT_PORTS];
    /* from the kernel: two copies of one test binary that meson starts together (repl_tiers
     * and repl_tiers_vlog) had consecutive pids within one millisecond, and pid ^ time then
     * gave both the same ports */
    while (!seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = (unsigned)getpid() * 2654435761u + (unsigned)cl_now_ms();
    for (int tries = 0; tries < 1000; tries++) {
        uint16_t port = (uint16_t)(20000 + rand_r(&seed) % 12000);
        bool again = false;
        for (int i = 0; i < CL_RECENT_PORTS && !again; i++)
            again = recent[i] == port;
        if (again)
            continue;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok) {
            recent[next++ % CL_RECENT_PORTS] = port;
            return port;
        }
    }
    fail_msg("no free port in 20000..31999");
    return 0;
}

/* cacheserverd --gen-identity DIR; the fingerprint is the last line it prints. */
void cl_gen_identity(const char *dir, char *fp, size_t len)
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

cc_client *cl_client(struct harness *h)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(h);
    /* not the default 2 s: under ThreadSanitizer on a loaded two-core machine a GET of a
     * 24 MiB stream, or of a value on disk while a full sync reads the disk, has taken
     * longer (E_TIMEOUT in repl_streams and repl_tiers); these tests check what is served,
     * not how fast */
    o.io_timeout_ms = 15000;
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    return c;
}

/* Start node i with extra arguments (NULL-terminated, may be NULL). wrong_fp_for: a peer
 * whose fingerprint this node pins wrong (a made-up one; -1: none). */
void cluster_start_node(struct cluster *cl, int i, const char *const *extra, int wrong_fp_for)
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
        if (j == i || ((cl->absent >> j & 1) && !(cl->absent >> i & 1)))
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
    nd->c = cl_client(nd->h);
}

/* The cluster of the running test, for cluster_teardown: a failing assertion leaves the test
 * before its cluster_destroy. */
static struct cluster *live;

void cluster_init(struct cluster *cl, int n)
{
    memset(cl, 0, sizeof(*cl));
    live = cl;
    cl->n = n;
    snprintf(cl->root, sizeof(cl->root), "/tmp/csd-repl-XXXXXX");
    assert_non_null(mkdtemp(cl->root));
    for (int i = 0; i < n; i++) {
        snprintf(cl->nodes[i].dir, sizeof(cl->nodes[i].dir), "%s/id%d", cl->root, i);
        cl_gen_identity(cl->nodes[i].dir, cl->nodes[i].fp, sizeof(cl->nodes[i].fp));
        cl->nodes[i].port = cl_free_port();
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                cl->proxy[i][j] = faultproxy_start(cl->nodes[j].port);
}

void cluster_start(struct cluster *cl, const char *const *extra)
{
    for (int i = 0; i < cl->n; i++)
        cluster_start_node(cl, i, extra, -1);
}

void cluster_destroy(struct cluster *cl)
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
int cluster_teardown(void **state)
{
    (void)state;
    if (live)
        cluster_destroy(live);
    return 0;
}

uint64_t cluster_stat(struct cluster *cl, int i, const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    return harness_stat(cl->nodes[i].h, name);
}

/* Sum of a per-peer stat over every node and its peers. */
uint64_t cluster_sum_peer_stat(struct cluster *cl, const char *leaf)
{
    uint64_t sum = 0;
    for (int i = 0; i < cl->n; i++)
        for (int j = 0; j < cl->n; j++)
            if (i != j)
                sum += cluster_stat(cl, i, "repl.n%d.%s", j, leaf);
    return sum;
}

/* Wait until every link is up both ways (repl_peers_up == n - 1 on every node). */
void cluster_wait_links(struct cluster *cl, unsigned timeout_ms)
{
    uint64_t end = cl_now_ms() + timeout_ms;
    for (;;) {
        bool all = true;
        for (int i = 0; i < cl->n; i++)
            all &= cluster_stat(cl, i, "repl_peers_up") == (uint64_t)(cl->n - 1);
        if (all)
            return;
        if (cl_now_ms() > end) {
            for (int i = 0; i < cl->n; i++)
                harness_print_log(cl->nodes[i].h, 20);
            fail_msg("the links did not come up within %u ms", timeout_ms);
        }
        cl_sleep_ms(50);
    }
}

/* ---- a node's whole content, for comparing ---- */



static int _entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

void cluster_dump(cc_client *c, struct dump *d)
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
                struct entry *ne = realloc(d->e, d->cap * sizeof(*d->e));
                assert_non_null(ne);
                d->e = ne;
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
bool cluster_agree(struct cluster *cl, bool print)
{
    struct dump d[MAXN] = {{0}};
    bool same = true;
    for (int i = 0; i < cl->n; i++)
        cluster_dump(cl->nodes[i].c, &d[i]);
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

void cluster_wait_agree(struct cluster *cl, unsigned timeout_ms)
{
    uint64_t end = cl_now_ms() + timeout_ms;
    while (!cluster_agree(cl, false)) {
        if (cl_now_ms() > end) {
            cluster_agree(cl, true);
            static const char *const leaves[] = {"applied", "dropped_older", "clock_rejected",
                                                 "lag_records", "sent", "partial_resyncs",
                                                 "full_syncs", "out_up", "in_up"};
            for (int i = 0; i < cl->n; i++) {
                harness_print_log(cl->nodes[i].h, 15);
                for (int j = 0; j < cl->n; j++)
                    for (size_t l = 0; j != i && l < sizeof(leaves) / sizeof(leaves[0]); l++)
                        fprintf(stderr, "node %d: repl.n%d.%s = %llu\n", i, j, leaves[l],
                                (unsigned long long)cluster_stat(cl, i, "repl.n%d.%s", j, leaves[l]));
            }
            fail_msg("the nodes did not agree within %u ms", timeout_ms);
        }
        cl_sleep_ms(100);
    }
}

/* Wait until every link's first full sync has completed: a marker written on each node
 * reaches the others only after SYNCED (links count as up during a full sync already). */
void cluster_wait_synced(struct cluster *cl)
{
    char key[32];
    for (int i = 0; i < cl->n; i++) {
        snprintf(key, sizeof(key), "synced-marker-%d", i);
        cc_value v = cc_value_bytes("1", 1);
        assert_int_equal(cc_set(cl->nodes[i].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    cluster_wait_agree(cl, 10000);
}

void cluster_write_keys(struct cluster *cl, int node, const char *prefix, int n)
{
    char key[32], val[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s%d", prefix, i);
        snprintf(val, sizeof(val), "%s-n%d", prefix, node);
        cc_value v = cc_value_bytes(val, strlen(val));
        assert_int_equal(cc_set(cl->nodes[node].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
}

static void *_incr_writer(void *arg)
{
    struct incr_writer *w = arg;
    cc_client *c = cl_client(w->h);
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

void cluster_counters_begin(struct cluster *cl, struct incr_writer *w, unsigned keys,
                            unsigned seed)
{
    char key[16];
    for (unsigned k = 0; k < keys; k++) { /* created once, before the race */
        snprintf(key, sizeof(key), "ctr%u", k);
        int64_t res;
        assert_int_equal(cc_incr(cl->nodes[0].c, key, strlen(key), 1, 0, 0, &res), CC_OK);
    }
    cluster_wait_agree(cl, 5000);
    memset(w, 0, sizeof(*w) * (size_t)cl->n);
    for (int i = 0; i < cl->n; i++)
        w[i].seed = seed + (unsigned)i;
}

void cluster_incr_start(struct cluster *cl, struct incr_writer *w, const int *nodes, int n,
                        unsigned each, unsigned keys, pthread_t *t)
{
    assert_true(keys <= 100);
    for (int i = 0; i < n; i++) {
        struct incr_writer *x = &w[nodes[i]];
        x->h = cl->nodes[nodes[i]].h;
        x->n = each;
        x->keys = keys;
        assert_int_equal(pthread_create(&t[i], NULL, _incr_writer, x), 0);
    }
}

void cluster_incr_join(const int *nodes, int n, pthread_t *t)
{
    (void)nodes;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

void cluster_check_counters(struct cluster *cl, const struct incr_writer *w, unsigned keys,
                            int64_t initial)
{
    char key[16];
    for (unsigned k = 0; k < keys; k++) {
        snprintf(key, sizeof(key), "ctr%u", k);
        int64_t want = initial;
        for (int i = 0; i < cl->n; i++)
            want += (int64_t)w[i].acked[k];
        for (int n = 0; n < cl->n; n++) {
            cc_item it = {0};
            assert_int_equal(cc_get(cl->nodes[n].c, key, strlen(key), &it), CC_OK);
            if (it.value.i != want)
                fail_msg("node %d: %s = %lld, the writers were acknowledged %lld increments",
                         n, key, (long long)it.value.i, (long long)want);
            cc_item_release(&it);
        }
    }
}

void cluster_up(struct cluster *cl, int n)
{
    cluster_init(cl, n);
    cluster_start(cl, NULL);
    cluster_wait_links(cl, 10000);
}

void cluster_start_skewed(struct cluster *cl)
{
    static const char *const skew[] = {"--repl-test-clock-skew-ms", "10000", NULL};
    cluster_init(cl, 3);
    cluster_start_node(cl, 0, NULL, -1);
    cluster_start_node(cl, 1, NULL, -1);
    cluster_start_node(cl, 2, skew, -1);
}

/* ---- integrity and membership ---- */

int64_t cluster_fault(struct cluster *cl, int i, const char *what, uint32_t n)
{
    int fd = harness_connect(cl->nodes[i].h);
    assert_true(fd >= 0);
    uint8_t body[64];
    size_t wl = strlen(what), o = 0;
    body[o++] = 0x94;         /* [op, id, what, n] */
    body[o++] = 24;           /* FAULT */
    body[o++] = 7;            /* id */
    body[o++] = (uint8_t)(0xa0 | wl);
    memcpy(body + o, what, wl);
    o += wl;
    body[o++] = 0xce;
    for (int s = 24; s >= 0; s -= 8)
        body[o++] = (uint8_t)(n >> s);
    assert_int_equal(harness_send_frame(fd, body, o), 0);
    uint8_t *r;
    size_t rlen;
    assert_int_equal(harness_recv_frame(fd, &r, &rlen), 0);
    close(fd);
    int64_t done = -1;
    /* [7, 0, count] (count a fixint, uint8, 16, 32 or 64), or [7, error, message] */
    if (rlen >= 4 && r[0] == 0x93 && r[1] == 7 && r[2] == 0) {
        if (r[3] < 0x80)
            done = r[3];
        else if (r[3] >= 0xcc && r[3] <= 0xcf) {
            done = 0;
            for (size_t k = 0; k < (1u << (r[3] - 0xcc)) && 4 + k < rlen; k++)
                done = done << 8 | r[4 + k];
        }
    }
    free(r);
    return done;
}

bool cluster_is_fenced(struct cluster *cl, int i) { return cluster_stat(cl, i, "fenced") != 0; }

uint64_t cluster_wait_fenced(struct cluster *cl, int i, unsigned timeout_ms)
{
    uint64_t t0 = cl_now_ms(), end = t0 + timeout_ms;
    while (!cluster_is_fenced(cl, i)) {
        if (cl_now_ms() > end) {
            harness_print_log(cl->nodes[i].h, 10);
            fail_msg("node %d did not fence itself within %u ms", i, timeout_ms);
        }
        cl_sleep_ms(20);
    }
    return cl_now_ms() - t0;
}

bool cluster_links_to(struct cluster *cl, int i, int j)
{
    return cluster_stat(cl, i, "repl.n%d.out_up", j) || cluster_stat(cl, i, "repl.n%d.in_up", j);
}

/* Where key's value starts in a flat msgpack map of str keys (NULL when absent). */
static const uint8_t *_map_find(const cc_item *it, const char *key)
{
    const uint8_t *p = it->value.data, *end = p + it->value.len;
    size_t kl = strlen(key);
    for (; p + kl + 2 <= end; p++)
        if (p[0] == (0xa0 | kl) && !memcmp(p + 1, key, kl))
            return p + 1 + kl;
    return NULL;
}

uint64_t cluster_status_num(struct cluster *cl, int i, const char *key)
{
    cc_item it = {0};
    assert_int_equal(cc_cluster_status(cl->nodes[i].c, &it), CC_OK);
    const uint8_t *v = _map_find(&it, key);
    uint64_t n = v && v[0] < 0x80 ? v[0] : 0;
    cc_item_release(&it);
    return n;
}

void cluster_status_str(struct cluster *cl, int i, const char *key, char *out, size_t len)
{
    cc_item it = {0};
    assert_int_equal(cc_cluster_status(cl->nodes[i].c, &it), CC_OK);
    const uint8_t *v = _map_find(&it, key), *end = it.value.data + it.value.len;
    out[0] = '\0';
    size_t vl = 0;
    if (v && v < end && (v[0] & 0xe0) == 0xa0) {
        vl = v[0] & 0x1f;
        v += 1;
    } else if (v && v + 1 < end && v[0] == 0xd9) {
        vl = v[1];
        v += 2;
    } else {
        v = NULL;
    }
    if (v && v + vl <= end)
        snprintf(out, len, "%.*s", (int)vl, (const char *)v);
    cc_item_release(&it);
}
