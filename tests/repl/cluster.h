/* Clusters of real cacheserverd processes on 127.0.0.1 for the replication tests: each node
 * has its own identity (`cacheserverd --gen-identity`), data directory and peer port, and
 * each peer link goes through a fault proxy (tests/harness/faultproxy.h) that a test cuts,
 * blackholes and heals: proxy[i][j] carries node i's link to node j. Every function fails
 * the running cmocka test (with a message) when something cannot be set up. */
#ifndef TEST_REPL_CLUSTER_H
#define TEST_REPL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "cacheclient.h"
#include "faultproxy.h"
#include "harness.h"

#define MAXN 4

struct node {
    struct harness *h;
    char dir[256];
    char fp[80];
    uint16_t port; /* replication-listen */
    cc_client *c;
};

struct cluster {
    int n;
    unsigned absent; /* bit j: node j is in no other node's `peer` lines (it names them) */
    char root[200];
    struct node nodes[MAXN];
    struct faultproxy *proxy[MAXN][MAXN]; /* [from][to]: from's link to `to` goes through it */
};

/* A node's whole content in memory (SCAN, then GET of every key), sorted by key. */
struct entry {
    char key[64];
    uint64_t version;
    char val[64];
};
struct dump {
    size_t n, cap;
    struct entry *e;
};

uint64_t cl_now_ms(void); /* monotonic */
void cl_sleep_ms(unsigned ms);
/* A loopback port nothing listens on now, in 20000..31999 (below the ephemeral range). */
uint16_t cl_free_port(void);
/* cacheserverd --gen-identity DIR; fp gets the fingerprint (the last line it prints). */
void cl_gen_identity(const char *dir, char *fp, size_t len);
/* A client of the node's socket. */
cc_client *cl_client(struct harness *h);

/* Identities, ports and proxies for n nodes (none started). */
void cluster_init(struct cluster *cl, int n);
/* Start node i with extra arguments (NULL-terminated, may be NULL); its peers are every
 * other node through the proxies. wrong_fp_for: a peer whose fingerprint this node pins
 * wrong (a made-up one; -1: none). */
void cluster_start_node(struct cluster *cl, int i, const char *const *extra, int wrong_fp_for);
/* Start every node with the same extra arguments. */
void cluster_start(struct cluster *cl, const char *const *extra);
/* cluster_init, cluster_start without extra arguments, and cluster_wait_links (10 s). */
void cluster_up(struct cluster *cl, int n);
/* Three nodes, node 2's clock 10 s ahead (repl-test-clock-skew-ms): cluster_init and
 * every node started, links not waited for. */
void cluster_start_skewed(struct cluster *cl);
/* Stop everything and remove the files. */
void cluster_destroy(struct cluster *cl);
/* A cmocka teardown: destroys the cluster a failed test left behind. */
int cluster_teardown(void **state);

/* The STATS value named by fmt on node i (the test fails when there is none). */
uint64_t cluster_stat(struct cluster *cl, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sum of repl.<peer>.<leaf> over every node and its peers. */
uint64_t cluster_sum_peer_stat(struct cluster *cl, const char *leaf);
/* Wait until every link is up both ways (repl_peers_up == n - 1 on every node). */
void cluster_wait_links(struct cluster *cl, unsigned timeout_ms);

void cluster_dump(cc_client *c, struct dump *d);
/* Do all nodes hold the same keys, versions and values in memory? print: the first
 * difference. */
bool cluster_agree(struct cluster *cl, bool print);
/* Wait until they do; fails with the difference, logs and link figures after timeout_ms. */
void cluster_wait_agree(struct cluster *cl, unsigned timeout_ms);
/* Wait until every link's first full sync has completed (a marker written on each node
 * reaches the others only after SYNCED). */
void cluster_wait_synced(struct cluster *cl);
/* SET prefix0..prefix(n-1) to "prefix-n<node>" on node. */
void cluster_write_keys(struct cluster *cl, int node, const char *prefix, int n);

/* Counter writers: w[i] increments random keys ctr0..ctr(keys-1) by 1 on node i, on a client
 * of its own, counting what was acknowledged. Start the writers of the n nodes listed (each
 * makes `each` increments, seeded by w[i].seed; keys <= 100), then join them. */
struct incr_writer {
    struct harness *h;
    unsigned n, keys, seed;
    uint64_t acked[100];
};
/* Create ctr0..ctr(keys-1) at 1 on node 0 (INCR), wait until every node has them, and
 * make w[0..n) fresh writers seeded from seed. */
void cluster_counters_begin(struct cluster *cl, struct incr_writer *w, unsigned keys,
                            unsigned seed);
void cluster_incr_start(struct cluster *cl, struct incr_writer *w, const int *nodes, int n,
                        unsigned each, unsigned keys, pthread_t *t);
void cluster_incr_join(const int *nodes, int n, pthread_t *t);
/* Every node holds, for each key, initial + the increments acknowledged to every writer. */
void cluster_check_counters(struct cluster *cl, const struct incr_writer *w, unsigned keys,
                            int64_t initial);

/* Integrity and membership (test_integrity.c, test_membership.c). */
/* FAULT what n on node i: how many faults it set up, or -1 when the server has no FAULT
 * (a normal build: configure with -Dfault_injection=true). */
int64_t cluster_fault(struct cluster *cl, int i, const char *what, uint32_t n);
bool cluster_is_fenced(struct cluster *cl, int i);
/* Wait (up to timeout_ms) until node i is fenced; the time it took, in ms. */
uint64_t cluster_wait_fenced(struct cluster *cl, int i, unsigned timeout_ms);
/* Has node i a link (either way) up to node j? */
bool cluster_links_to(struct cluster *cl, int i, int j);
/* A number (a fixint: 0..127) in node i's CLUSTER_STATUS map, by its key; 0 when absent. */
uint64_t cluster_status_num(struct cluster *cl, int i, const char *key);
/* The string value of key in node i's CLUSTER_STATUS map (at most 255 bytes), into out (""
 * when absent). */
void cluster_status_str(struct cluster *cl, int i, const char *key, char *out, size_t len);
#endif
