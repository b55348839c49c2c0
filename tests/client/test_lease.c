/* Leases (LEASE_GET / LEASE_SET) and cc_remember against a real cacheserverd: 8 processes
 * missing one key at once compute it exactly once (and, as a control, compute it several
 * times with a plain GET, compute, SET); a lease expires when its holder never comes back;
 * any write, DEL or FLUSH of the key between the lease and its set loses the lease; bad
 * arguments and the max_leases limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"
#include "client_test.h"
#include "harness.h"

static cc_client *_client(const char *ns) { return client_test_new(srv, ns, "test_lease"); }

static int group_setup(void **state)
{
    (void)state;
    srv = harness_start(NULL);
    return srv ? 0 : -1;
}

static uint64_t _now_ms(void) { return client_test_now_ms(); }

static void _sleep_ms(unsigned ms) { usleep(ms * 1000u); }

/* ---- 8 processes, one key ---- */

#define NPROC 8
#define COMPUTE_MS 300

struct shared {
    int go;               /* the children start together once it is 1 */
    int computes;         /* how many computes ran (atomic) */
    char value[NPROC][32]; /* what each child got */
    int how[NPROC];
};

struct compute_ctx {
    struct shared *sh;
    char buf[32];
};

/* A slow compute: counts itself, sleeps, answers a value naming the process that made it. */
static int _slow_compute(void *arg, const void *key, size_t klen, cc_value *out)
{
    (void)key;
    (void)klen;
    struct compute_ctx *x = arg;
    __atomic_add_fetch(&x->sh->computes, 1, __ATOMIC_SEQ_CST);
    _sleep_ms(COMPUTE_MS);
    snprintf(x->buf, sizeof(x->buf), "made-by-%d", (int)getpid());
    *out = cc_value_bytes(x->buf, strlen(x->buf));
    return CC_OK;
}

/* Each child waits for go, then asks for the key: with cc_remember (leases), or as a caller
 * without them does (GET, compute on a miss, SET). Exit status 0 when it got a value. */
static void _child(struct shared *sh, int i, const char *key, bool lease)
{
    cc_client *c = _client("herd");
    if (cc_ping(c) != CC_OK)
        _exit(2);
    while (!__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST))
        usleep(100);
    struct compute_ctx x = {.sh = sh};
    cc_item it;
    int st;
    if (lease) {
        cc_remember_options o;
        cc_remember_options_init(&o);
        o.ttl_ms = 60000;
        o.wait_ms = 5000;
        st = cc_remember(c, key, strlen(key), &o, _slow_compute, &x, &it, &sh->how[i]);
    } else {
        st = cc_get(c, key, strlen(key), &it);
        if (st == CC_NOT_FOUND) {
            cc_value v;
            _slow_compute(&x, key, strlen(key), &v);
            st = cc_set(c, key, strlen(key), &v, 60000, 0, 0, NULL);
            if (st == CC_OK)
                snprintf(sh->value[i], sizeof(sh->value[i]), "%s", x.buf);
            cc_client_destroy(&c);
            _exit(st == CC_OK ? 0 : 3);
        }
    }
    if (st != CC_OK || it.value.type != CC_TYPE_BYTES || it.value.len >= sizeof(sh->value[i]))
        _exit(4);
    memcpy(sh->value[i], it.value.data, it.value.len);
    cc_item_release(&it);
    cc_client_destroy(&c);
    _exit(0);
}

/* Fork NPROC children on key, start them at once, wait for all; returns the computes. */
static int _herd(struct shared *sh, const char *key, bool lease)
{
    memset(sh, 0, sizeof(*sh));
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _child(sh, i, key, lease);
    }
    _sleep_ms(200); /* every child connected and spinning on go */
    __atomic_store_n(&sh->go, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < NPROC; i++) {
        int ws;
        assert_int_equal(waitpid(pids[i], &ws, 0), pids[i]);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            fail_msg("child %d failed (wait status %d)", i, ws);
    }
    return __atomic_load_n(&sh->computes, __ATOMIC_SEQ_CST);
}

static void test_eight_processes_compute_once(void **state)
{
    (void)state;
    struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED |
                             MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    uint64_t grants = harness_stat(srv, "lease_grants");
    uint64_t waits = harness_stat(srv, "lease_waits");
    uint64_t t0 = _now_ms();
    assert_int_equal(_herd(sh, "hot", true), 1);
    uint64_t took = _now_ms() - t0;
    int computed = 0, waited = 0;
    for (int i = 0; i < NPROC; i++) {
        assert_string_equal(sh->value[i], sh->value[0]); /* all got the one value */
        computed += sh->how[i] == CC_REMEMBER_COMPUTED;
        waited += sh->how[i] == CC_REMEMBER_WAITED;
    }
    assert_int_equal(computed, 1);
    assert_int_equal(waited, NPROC - 1); /* they all missed at once: none came after */
    assert_true(took < 5000);
    assert_int_equal(harness_stat(srv, "lease_grants"), grants + 1);
    assert_true(harness_stat(srv, "lease_waits") >= waits + NPROC - 1);
    /* the value is stored, with its ttl */
    cc_client *c = _client("herd");
    cc_item it;
    EXPECT_STATUS(c, CC_OK, cc_get(c, "hot", 3, &it));
    assert_int_equal(it.value.len, strlen(sh->value[0]));
    assert_memory_equal(it.value.data, sh->value[0], it.value.len);
    assert_true(it.ttl_ms > 50000);
    cc_item_release(&it);
    /* a later caller hits without computing */
    struct compute_ctx x = {.sh = sh};
    int how = -1;
    EXPECT_STATUS(c, CC_OK, cc_remember(c, "hot", 3, NULL, _slow_compute, &x, &it, &how));
    assert_int_equal(how, CC_REMEMBER_HIT);
    assert_int_equal(sh->computes, 1);
    cc_item_release(&it);
    cc_client_destroy(&c);

    /* The control: the same herd without leases (GET, compute, SET) computes more than
     * once, so the count above is the leases' doing. */
    assert_true(_herd(sh, "cold", false) > 1);
    munmap(sh, sizeof(*sh));
}

/* ---- one lease at a time ---- */

static uint64_t _lease(cc_client *c, const char *key, uint32_t lease_ms)
{
    cc_item it;
    uint64_t token = 0;
    EXPECT_STATUS(c, CC_LEASED, cc_lease_get(c, key, strlen(key), lease_ms, &it, &token, NULL));
    assert_true(token != 0);
    return token;
}

static void test_lease_expires_when_its_holder_never_sets(void **state)
{
    (void)state;
    cc_client *a = _client("exp"), *b = _client("exp");
    cc_item it;
    uint64_t expired = harness_stat(srv, "lease_expired");
    uint64_t t1 = _lease(a, "k", 200), t2 = 0;
    uint32_t retry = 0;
    EXPECT_STATUS(b, CC_LEASE_WAIT, cc_lease_get(b, "k", 1, 200, &it, &t2, &retry));
    assert_true(retry >= 1 && retry <= CC_LEASE_RETRY_MS);
    assert_int_equal(t2, 0);
    _sleep_ms(250);
    t2 = _lease(b, "k", 1000); /* a's lease ran out: b computes */
    assert_true(t2 != t1);
    cc_value va = cc_value_bytes("late", 4), vb = cc_value_bytes("fresh", 5);
    uint64_t version = 0;
    EXPECT_STATUS(a, CC_NOT_STORED, cc_lease_set(a, "k", 1, t1, &va, 0, &version));
    assert_int_equal(version, 0);
    EXPECT_STATUS(b, CC_OK, cc_lease_set(b, "k", 1, t2, &vb, 0, &version));
    assert_true(version > 0);
    EXPECT_STATUS(a, CC_OK, cc_lease_get(a, "k", 1, 0, &it, NULL, NULL));
    assert_memory_equal(it.value.data, "fresh", 5);
    assert_int_equal(it.version, version);
    cc_item_release(&it);
    /* the lease is gone with its set: a second set with it is refused */
    EXPECT_STATUS(b, CC_NOT_STORED, cc_lease_set(b, "k", 1, t2, &vb, 0, NULL));
    assert_true(harness_stat(srv, "lease_expired") >= expired + 1);

    /* a lease no one asks for again is freed by the sweeper */
    uint64_t held = harness_stat(srv, "leases");
    _lease(a, "abandoned", 50);
    assert_int_equal(harness_stat(srv, "leases"), held + 1);
    uint64_t t0 = _now_ms();
    while (harness_stat(srv, "leases") > held && _now_ms() - t0 < 3000)
        _sleep_ms(20);
    assert_int_equal(harness_stat(srv, "leases"), held);
    cc_client_destroy(&a);
    cc_client_destroy(&b);
}

static void test_changes_between_lease_and_set_lose_the_lease(void **state)
{
    (void)state;
    cc_client *a = _client("inv"), *b = _client("inv");
    cc_value v = cc_value_bytes("computed", 8), other = cc_value_bytes("newer", 5);
    cc_item it;
    uint64_t lost = harness_stat(srv, "lease_lost");

    /* a SET: the newer value stays */
    uint64_t t = _lease(a, "s", 5000);
    EXPECT_STATUS(b, CC_OK, cc_set(b, "s", 1, &other, 0, 0, 0, NULL));
    EXPECT_STATUS(a, CC_NOT_STORED, cc_lease_set(a, "s", 1, t, &v, 0, NULL));
    EXPECT_STATUS(a, CC_OK, cc_get(a, "s", 1, &it));
    assert_memory_equal(it.value.data, "newer", 5);
    cc_item_release(&it);

    /* a DEL of the missing key: the data behind it changed, the lease is gone, and the
     * next caller gets a new one at once */
    t = _lease(a, "d", 5000);
    uint64_t deleted = 9;
    const void *kp = "d";
    size_t kl = 1;
    EXPECT_STATUS(b, CC_OK, cc_del(b, 1, &kp, &kl, &deleted));
    assert_int_equal(deleted, 0);
    uint64_t t2 = _lease(b, "d", 5000);
    EXPECT_STATUS(a, CC_NOT_STORED, cc_lease_set(a, "d", 1, t, &v, 0, NULL));
    EXPECT_STATUS(b, CC_OK, cc_lease_set(b, "d", 1, t2, &other, 0, NULL));

    /* INCR, and a SET then DEL (the key is missing again at the set) */
    int64_t n;
    t = _lease(a, "i", 5000);
    EXPECT_STATUS(b, CC_OK, cc_incr(b, "i", 1, 1, 0, 0, &n));
    EXPECT_STATUS(a, CC_NOT_STORED, cc_lease_set(a, "i", 1, t, &v, 0, NULL));
    t = _lease(a, "sd", 5000);
    EXPECT_STATUS(b, CC_OK, cc_set(b, "sd", 2, &other, 0, 0, 0, NULL));
    kp = "sd";
    kl = 2;
    EXPECT_STATUS(b, CC_OK, cc_del(b, 1, &kp, &kl, &deleted));
    EXPECT_STATUS(a, CC_NOT_STORED, cc_lease_set(a, "sd", 2, t, &v, 0, NULL));
    EXPECT_STATUS(a, CC_NOT_FOUND, cc_get(a, "sd", 2, &it));

    /* a FLUSH, even of everything */
    t = _lease(a, "f", 5000);
    EXPECT_STATUS(b, CC_OK, cc_flush(b, NULL, NULL));
    EXPECT_STATUS(a, CC_NOT_STORED, cc_lease_set(a, "f", 1, t, &v, 0, NULL));
    t = _lease(b, "f", 5000); /* the flushed lease does not hold anyone back */
    EXPECT_STATUS(b, CC_OK, cc_lease_set(b, "f", 1, t, NULL, 0, NULL)); /* none left held */

    /* the same key in another namespace is another lease */
    cc_client *o = _client("inv-other");
    t = _lease(a, "x", 5000);
    uint64_t t3 = _lease(o, "x", 5000);
    EXPECT_STATUS(o, CC_OK, cc_lease_set(o, "x", 1, t3, &other, 0, NULL));
    EXPECT_STATUS(a, CC_OK, cc_lease_set(a, "x", 1, t, &v, 0, NULL));
    assert_true(harness_stat(srv, "lease_lost") >= lost + 5);
    cc_client_destroy(&o);
    cc_client_destroy(&a);
    cc_client_destroy(&b);
}

static int _failing_compute(void *arg, const void *key, size_t klen, cc_value *out)
{
    (void)key;
    (void)klen;
    (void)out;
    (*(int *)arg)++;
    return CC_E_CLIENT_ARGS;
}

static int _int_compute(void *arg, const void *key, size_t klen, cc_value *out)
{
    (void)key;
    (void)klen;
    (*(int *)arg)++;
    *out = cc_value_int(42);
    return CC_OK;
}

static void test_remember_release_and_timeouts(void **state)
{
    (void)state;
    cc_client *a = _client("rem"), *b = _client("rem");
    cc_item it;
    int calls = 0, how = -1;

    /* a compute that fails gives the lease back: the next caller gets it at once */
    EXPECT_STATUS(a, CC_E_CLIENT_ARGS,
                  cc_remember(a, "fail", 4, NULL, _failing_compute, &calls, &it, &how));
    assert_int_equal(calls, 1);
    uint64_t t = _lease(b, "fail", 5000);
    EXPECT_STATUS(b, CC_OK, cc_lease_set(b, "fail", 4, t, NULL, 0, NULL)); /* released */
    t = _lease(b, "fail", 5000);
    EXPECT_STATUS(b, CC_OK, cc_lease_set(b, "fail", 4, t, NULL, 0, NULL));

    /* another caller holds the lease: the wait runs out */
    t = _lease(a, "held", 5000);
    cc_remember_options o;
    cc_remember_options_init(&o);
    o.wait_ms = 100;
    o.timeout_error = true;
    calls = 0;
    uint64_t t0 = _now_ms();
    EXPECT_STATUS(b, CC_E_TIMEOUT, cc_remember(b, "held", 4, &o, _int_compute, &calls, &it, &how));
    assert_true(_now_ms() - t0 >= 100);
    assert_int_equal(calls, 0);
    EXPECT_STATUS(b, CC_OK, cc_ping(b)); /* the connection stayed */
    o.timeout_error = false; /* computes, stores nothing */
    EXPECT_STATUS(b, CC_OK, cc_remember(b, "held", 4, &o, _int_compute, &calls, &it, &how));
    assert_int_equal(calls, 1);
    assert_int_equal(how, CC_REMEMBER_NOT_STORED);
    assert_true(it.value.type == CC_TYPE_INT && it.value.i == 42);
    assert_int_equal(it.version, 0);
    cc_item_release(&it);
    EXPECT_STATUS(b, CC_NOT_FOUND, cc_get(b, "held", 4, &it));
    cc_value v = cc_value_bytes("holder", 6);
    EXPECT_STATUS(a, CC_OK, cc_lease_set(a, "held", 4, t, &v, 0, NULL)); /* still a's */

    /* a waiter gets the value once the holder sets it */
    t = _lease(a, "soon", 5000);
    o.wait_ms = 3000;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cc_client *c = _client("rem");
        _sleep_ms(150);
        cc_value cv = cc_value_bytes("set-by-holder", 13);
        _exit(cc_lease_set(c, "soon", 4, t, &cv, 1000, NULL) == CC_OK ? 0 : 1);
    }
    calls = 0;
    EXPECT_STATUS(b, CC_OK, cc_remember(b, "soon", 4, &o, _int_compute, &calls, &it, &how));
    assert_int_equal(calls, 0);
    assert_int_equal(how, CC_REMEMBER_WAITED);
    assert_memory_equal(it.value.data, "set-by-holder", 13);
    cc_item_release(&it);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

    /* a computed value comes back with its ttl and version */
    calls = 0;
    o.ttl_ms = 30000;
    EXPECT_STATUS(a, CC_OK, cc_remember(a, "int", 3, &o, _int_compute, &calls, &it, &how));
    assert_int_equal(how, CC_REMEMBER_COMPUTED);
    assert_true(it.value.type == CC_TYPE_INT && it.value.i == 42 && it.ttl_ms == 30000);
    uint64_t version = it.version;
    cc_item_release(&it);
    EXPECT_STATUS(a, CC_OK, cc_get(a, "int", 3, &it));
    assert_int_equal(it.version, version);
    cc_item_release(&it);
    cc_client_destroy(&a);
    cc_client_destroy(&b);
}

/* [op, id, args...] sent raw; the reply's status. */
static int _raw_status(int fd, const void *body, size_t len)
{
    uint8_t *reply;
    size_t rlen;
    assert_int_equal(harness_send_frame(fd, body, len), 0);
    assert_int_equal(harness_recv_frame(fd, &reply, &rlen), 0);
    assert_true(rlen >= 3);
    int st = reply[2];
    if (reply[2] == 0xcc) /* uint8 */
        st = reply[3];
    free(reply);
    return st;
}

static void test_bad_arguments_and_the_lease_limit(void **state)
{
    (void)state;
    cc_client *c = _client("args");
    cc_item it;
    uint64_t t;
    cc_value v = cc_value_int(1);
    /* the client refuses what it can tell */
    EXPECT_STATUS(c, CC_E_CLIENT_ARGS, cc_lease_get(c, "k", 1, CC_LEASE_MAX_MS + 1, &it, &t, NULL));
    EXPECT_STATUS(c, CC_E_CLIENT_ARGS, cc_lease_get(c, "", 0, 0, &it, &t, NULL));
    EXPECT_STATUS(c, CC_E_CLIENT_ARGS, cc_lease_set(c, "k", 1, 0, &v, 0, NULL));
    EXPECT_STATUS(c, CC_E_BAD_ARGS, cc_lease_set(c, "k", 1, 5, &v, CC_TTL_MAX_MS + 1, NULL));
    EXPECT_STATUS(c, CC_NOT_STORED, cc_lease_set(c, "k", 1, 12345, &v, 0, NULL)); /* no lease */
    t = _lease(c, "k", 0);
    EXPECT_STATUS(c, CC_NOT_STORED, cc_lease_set(c, "k", 1, t + 1, &v, 0, NULL)); /* not its */
    EXPECT_STATUS(c, CC_OK, cc_lease_set(c, "k", 1, t, &v, 0, NULL));
    /* and the server what the client would not send: [32, id, "k", 0], lease_ms 60001,
     * [33, id, "k", 0, 1], [33, id, "k"], [32, id, 5] */
    int fd = harness_connect(srv);
    assert_int_equal(_raw_status(fd, "\x94\x20\x01\xa1k\x00", 6), CC_E_BAD_ARGS);
    assert_int_equal(_raw_status(fd, "\x94\x20\x02\xa1k\xcd\xea\x61", 8), CC_E_BAD_ARGS);
    assert_int_equal(_raw_status(fd, "\x95\x21\x03\xa1k\x00\x01", 7), CC_E_BAD_ARGS);
    assert_int_equal(_raw_status(fd, "\x93\x21\x04\xa1k", 5), CC_E_BAD_ARGS);
    assert_int_equal(_raw_status(fd, "\x93\x20\x05\x05", 4), CC_E_BAD_ARGS);
    close(fd);

    /* max_leases: E_LIMIT beyond, and room again once one is given back */
    uint64_t full = harness_stat(srv, "lease_full"), held = harness_stat(srv, "leases");
    char lim[16];
    snprintf(lim, sizeof(lim), "%llu", (unsigned long long)held + 2);
    EXPECT_STATUS(c, CC_OK, cc_config_set(c, "max-leases", lim));
    EXPECT_STATUS(c, CC_E_CONFIG, cc_config_set(c, "max-leases", "0"));
    uint64_t t1 = _lease(c, "l1", 5000);
    _lease(c, "l2", 5000);
    EXPECT_STATUS(c, CC_E_LIMIT, cc_lease_get(c, "l3", 2, 5000, &it, &t, NULL));
    assert_int_equal(harness_stat(srv, "lease_full"), full + 1);
    EXPECT_STATUS(c, CC_OK, cc_ping(c)); /* a refusal, the connection stays */
    EXPECT_STATUS(c, CC_OK, cc_lease_set(c, "l1", 2, t1, NULL, 0, NULL));
    _lease(c, "l3", 5000);
    /* a hit needs no lease, even at the limit */
    EXPECT_STATUS(c, CC_OK, cc_lease_get(c, "k", 1, 0, &it, &t, NULL));
    assert_true(it.value.type == CC_TYPE_INT && it.value.i == 1);
    cc_item_release(&it);
    EXPECT_STATUS(c, CC_OK, cc_config_set(c, "max-leases", "16384"));
    /* STATS has the new ops' latencies */
    assert_true(harness_stat(srv, "op.lease_get.count") > 0);
    assert_true(harness_stat(srv, "op.lease_set.count") > 0);
    cc_client_destroy(&c);
}

/* With an SSD tier: a key memory evicted is a LEASE_GET hit from disk, not a lease; only a
 * miss on every tier takes the lease. */
static void test_lease_get_reads_the_disk_tier(void **state)
{
    (void)state;
    char base[256], ssd[300];
    const char *t = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/lease-ssd.XXXXXX", t ? t : "/tmp");
    assert_non_null(mkdtemp(base));
    snprintf(ssd, sizeof(ssd), "%s/ssd", base);
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd, "--demote-unread", "true",
                          "--tier-queue", "100000", NULL};
    struct harness *d = harness_start(args);
    cc_client *c = client_test_new(d, NULL, "test_lease");
    static char val[4000];
    for (int i = 0; i < 1500; i++) { /* 6 MB through 2 MiB of memory */
        char key[32];
        snprintf(key, sizeof(key), "d:%d", i);
        memset(val, 'a' + i % 26, sizeof(val));
        cc_value v = cc_value_bytes(val, sizeof(val));
        EXPECT_STATUS(c, CC_OK, cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL));
    }
    for (int i = 0; i < 3000 && harness_stat(d, "tier_queue_depth") != 0; i++)
        _sleep_ms(10);
    uint64_t reads = harness_stat(d, "ssd_reads"), grants = harness_stat(d, "lease_grants");
    cc_item it;
    uint64_t token = 0;
    /* the first keys written: memory evicted most of them (not necessarily d:0: eviction is
     * per shard), so one of the first ten is read from disk; each is a hit, never a lease */
    for (int i = 0; i < 10 && harness_stat(d, "ssd_reads") == reads; i++) {
        char key[32];
        snprintf(key, sizeof(key), "d:%d", i);
        token = 0;
        EXPECT_STATUS(c, CC_OK, cc_lease_get(c, key, strlen(key), 1000, &it, &token, NULL));
        assert_int_equal(it.value.len, sizeof(val));
        assert_true(it.value.data[0] == 'a' + i % 26 &&
                    it.value.data[sizeof(val) - 1] == 'a' + i % 26);
        cc_item_release(&it);
    }
    assert_true(harness_stat(d, "ssd_reads") > reads);
    token = _lease(c, "d:none", 1000); /* on no tier: the lease */
    assert_int_equal(harness_stat(d, "lease_grants"), grants + 1);
    cc_client_destroy(&c);
    harness_destroy(&d);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eight_processes_compute_once),
        cmocka_unit_test(test_lease_expires_when_its_holder_never_sets),
        cmocka_unit_test(test_changes_between_lease_and_set_lose_the_lease),
        cmocka_unit_test(test_remember_release_and_timeouts),
        cmocka_unit_test(test_bad_arguments_and_the_lease_limit),
        cmocka_unit_test(test_lease_get_reads_the_disk_tier),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
