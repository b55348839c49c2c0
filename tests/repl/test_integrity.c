/* Checksums between real cacheserverd processes (docs/design.md, "Checksums"): a value that
 * no longer matches the checksum it was given when the server accepted it is never served
 * and never sent to a peer, and a peer's change whose value does not match the checksum
 * its origin sent with it is never applied. Needs the test-only FAULT op (a build with
 * -Dfault_injection=true: the test command's ASan and TSan builds); elsewhere each test
 * says it is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster.h"

/* FAULT what n on node i: how many faults it set up, or -1 when the server has no FAULT
 * (a normal build). */
static int64_t _fault(struct cluster *cl, int i, const char *what, uint32_t n)
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

static bool _skip_without_faults(struct cluster *cl)
{
    if (_fault(cl, 0, "corrupt-values", 0) >= 0)
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

/* 100 values broken in node 0's memory: node 0 serves none of them (a miss each), and the
 * full sync that brings node 1 everything else sends none of them. */
static void test_corrupt_values_never_served_or_sent(void **state)
{
    (void)state;
    static struct cluster cl; /* static: cluster_teardown still finds it after a failure */
    cluster_init(&cl, 2);
    cluster_start_node(&cl, 0, verify_all, -1);
    if (_skip_without_faults(&cl))
        return;
    _write(&cl, 0);
    assert_int_equal(_fault(&cl, 0, "corrupt-values", 100), 100);
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
    assert_int_equal(_fault(&cl, 0, "corrupt-records", 50), 50);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_corrupt_values_never_served_or_sent, cluster_teardown),
        cmocka_unit_test_teardown(test_corrupt_records_refused, cluster_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
