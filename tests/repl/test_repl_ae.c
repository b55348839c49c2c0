/* Anti-entropy between real cacheserverd processes (docs/replication.md, "Anti-entropy"),
 * with rounds every second: a third node's changes reach a node whose link from it is down,
 * through the peer that has them; a node with little memory does not pull back what it
 * evicted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"

static const char *const ae_args[] = {"--anti-entropy-interval", "1", NULL};

/* Node 2's link to node 0 is refused while node 2 writes 300 keys: node 0 gets them from
 * node 1's copies by anti-entropy, with node 2's versions, before the link comes back. */
static void test_third_node_changes_spread(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 3);
    cluster_start(&cl, ae_args);
    cluster_wait_links(&cl, 10000);
    cluster_wait_synced(&cl);
    faultproxy_refuse(cl.proxy[2][0], true);
    faultproxy_cut(cl.proxy[2][0]);
    cluster_write_keys(&cl, 2, "third", 300);
    char key[32];
    uint64_t end = cl_now_ms() + 15000;
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "third%d", i);
        cc_item want = {0}, got = {0};
        assert_int_equal(cc_get(cl.nodes[2].c, key, strlen(key), &want), CC_OK);
        for (;;) {
            int rc = cc_get(cl.nodes[0].c, key, strlen(key), &got);
            bool same = rc == CC_OK && got.version == want.version;
            if (rc == CC_OK)
                cc_item_release(&got);
            if (same)
                break;
            if (cl_now_ms() > end) {
                harness_print_log(cl.nodes[0].h, 15);
                fail_msg("node 0 does not hold %s as node 2 wrote it (rounds %llu, buckets "
                         "%llu, repaired %llu)", key,
                         (unsigned long long)cluster_stat(&cl, 0, "repl.n1.ae_rounds"),
                         (unsigned long long)cluster_stat(&cl, 0, "repl.n1.ae_buckets"),
                         (unsigned long long)cluster_stat(&cl, 0, "repl.n1.ae_repaired"));
            }
            cl_sleep_ms(100);
        }
        cc_item_release(&want);
    }
    assert_true(cluster_stat(&cl, 0, "repl.n1.ae_repaired") >= 300);
    faultproxy_refuse(cl.proxy[2][0], false);
    cluster_wait_agree(&cl, 10000);
    cluster_destroy(&cl);
}

/* Node 0 has 4 MiB of memory, node 1 the default: node 1 writes 20 MB, node 0 evicts most
 * of it. Rounds keep running, node 0 pulls back nothing it evicted (what the rounds bring
 * it stays a small part of what it evicted, and its memory stays within its limit), and the
 * rounds leave what node 0 evicted out of the comparison, so they find (almost) no bucket
 * different: without that every round would send the items of AE_MAX_BUCKETS buckets. */
static void test_evicted_keys_stay_evicted(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    const char *small[] = {"--anti-entropy-interval", "1", "--memory", "4MiB", NULL};
    cluster_start_node(&cl, 0, small, -1);
    cluster_start_node(&cl, 1, ae_args, -1);
    cluster_wait_links(&cl, 10000);
    char key[32], val[1000];
    memset(val, 'e', sizeof(val));
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "ev%d", i);
        cc_value v = cc_value_bytes(val, sizeof(val));
        assert_int_equal(cc_set(cl.nodes[1].c, key, strlen(key), &v, 0, 0, 0, NULL), CC_OK);
    }
    cl_sleep_ms(3000); /* past the rounds' cutoff: every write is compared */
    uint64_t rounds0 = cluster_stat(&cl, 0, "repl.n1.ae_rounds");
    uint64_t buckets0 = cluster_stat(&cl, 0, "repl.n1.ae_buckets");
    uint64_t end = cl_now_ms() + 20000;
    while (cluster_stat(&cl, 0, "repl.n1.ae_rounds") < rounds0 + 3) {
        if (cl_now_ms() > end)
            fail_msg("anti-entropy rounds do not complete");
        cl_sleep_ms(200);
    }
    uint64_t buckets = cluster_stat(&cl, 0, "repl.n1.ae_buckets") - buckets0;
    if (buckets > 3 * 8) /* a few keys in flight may differ for a round */
        fail_msg("3 rounds found %llu buckets different", (unsigned long long)buckets);
    uint64_t evicted = cluster_stat(&cl, 0, "evictions");
    uint64_t repaired = cluster_stat(&cl, 0, "repl.n1.ae_repaired");
    if (evicted < 10000 || repaired > evicted / 100)
        fail_msg("node 0 evicted %llu items and anti-entropy brought back %llu",
                 (unsigned long long)evicted, (unsigned long long)repaired);
    assert_true(cluster_stat(&cl, 0, "bytes_used") <= 4u << 20);
    cluster_destroy(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_third_node_changes_spread, cluster_teardown),
        cmocka_unit_test_teardown(test_evicted_keys_stay_evicted, cluster_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
