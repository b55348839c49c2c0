/* Shared-memory reads across a restart (docs/shm-reads.md, "Restart and replacement", and its
 * Tests line `shm_restart`), against real cacheserverd processes:
 *   A reader process holds the region's mapping and reads a set of published keys in a loop,
 *   with a long-lived client and, now and then, a fresh client (which adopts the process's
 *   current region before it connects), recording every answer. The test process kill -9s
 *   the server, starts it again on the same socket path and data directory (persist sync:
 *   the old values come back from the disk), SETs new values through a fresh client and,
 *   once every SET is acknowledged, says so in a page shared with the reader. From then on
 *   the reader must never read an older value, from the region or from anywhere, and never
 *   miss a key whose new value was acknowledged. Then the same after a clean stop (SIGTERM:
 *   the region's `dead` flag).
 * The reader must have read the keys from the region before each stop (else the test
 * proves nothing), and gets region hits from the new server afterwards.
 * No time is asserted: the times printed (since the kill, since the acknowledgement) only
 * explain a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client-internal.h"
#include "harness.h"

#define NKEYS 16
#define NGEN 3 /* generations 1..2 */

/* The page shared by the test process and the reader. */
struct shared {
    int stop;              /* the reader ends its loop */
    uint32_t acked;        /* every key's generation `acked` value is acknowledged */
    uint64_t acked_ms;     /* monotonic ms when it was (0: before any stop) */
    uint64_t stop_ms;      /* monotonic ms of the last kill or SIGTERM */
    uint64_t region[NGEN]; /* region_id of the server that acknowledged generation g */
    /* the reader's counts, per generation acknowledged when the read began */
    uint64_t reads[NGEN], hits[NGEN], fresh_hits[NGEN], errors[NGEN];
    uint64_t own_hits[NGEN]; /* region hits from the region of generation g's server */
    uint64_t violations;
    uint64_t last_violation_ms; /* the latest violating read's end, ms after the stop */
    uint64_t old_hits_after_stop; /* region hits from the stopped server's region, read
                                   * after the stop began (before SIGTERM or SIGKILL landed, or
                                   * from a killed server's region until its heartbeat is old) */
    char first[1024];         /* the first violation, in words */
};

static struct shared *sh;
static struct harness *srv;
static char ssd_dir[64];

static void _rm_ssd(void)
{
    if (!ssd_dir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ssd_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", ssd_dir);
    ssd_dir[0] = 0;
}

static uint64_t _now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void _key(int i, char *buf, size_t len) { snprintf(buf, len, "rk%02d", i); }

static size_t _val(int gen, int i, char *buf, size_t len)
{
    return (size_t)snprintf(buf, len, "g%d-rk%02d-%s", gen, i,
                            gen == 1 ? "before the stop" : "after the restart");
}

static cc_client *_client(int shm_reads)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(srv);
    o.client_name = "test_shm_restart";
    o.shm_reads = shm_reads;
    cc_client *c = cc_client_create(&o);
    return c;
}

static uint64_t _hits(const cc_client *c)
{
    cc_shm_info s;
    cc_shm_stats(c, &s);
    return s.hits;
}

/* ---- the reader (a child process: no cmocka here, only the shared page) ---- */

static void _violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void _violation(const char *fmt, ...)
{
    if (__atomic_fetch_add(&sh->violations, 1, __ATOMIC_RELAXED) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->first, sizeof(sh->first), fmt, ap);
        va_end(ap);
    }
}

/* One read of key i through c; fresh: c was created for this read. */
static void _check_read(cc_client *c, int i, bool fresh)
{
    char key[16];
    _key(i, key, sizeof(key));
    /* what is acknowledged is loaded before the read starts */
    uint32_t acked = __atomic_load_n(&sh->acked, __ATOMIC_ACQUIRE);
    uint64_t acked_ms = __atomic_load_n(&sh->acked_ms, __ATOMIC_RELAXED);
    uint64_t stop_ms = __atomic_load_n(&sh->stop_ms, __ATOMIC_RELAXED);
    uint64_t region = cc_shm_region_id(c), h0 = _hits(c);
    cc_item it;
    int st = cc_get(c, key, strlen(key), &it);
    bool hit = _hits(c) > h0;
    if (st != CC_OK && st != CC_NOT_FOUND) { /* the server is down or restarting: the next
                                              * call reconnects */
        __atomic_fetch_add(&sh->errors[acked], 1, __ATOMIC_RELAXED);
        usleep(2000);
        return;
    }
    __atomic_fetch_add(&sh->reads[acked], 1, __ATOMIC_RELAXED);
    if (hit) {
        __atomic_fetch_add(fresh ? &sh->fresh_hits[acked] : &sh->hits[acked], 1,
                           __ATOMIC_RELAXED);
        if (!fresh && region == sh->region[acked])
            __atomic_fetch_add(&sh->own_hits[acked], 1, __ATOMIC_RELAXED);
        if (stop_ms && region == sh->region[1])
            __atomic_fetch_add(&sh->old_hits_after_stop, 1, __ATOMIC_RELAXED);
    }
    int gen = 0;
    if (it.found && it.value.len > 1 && ((const char *)it.value.data)[0] == 'g')
        gen = ((const char *)it.value.data)[1] - '0';
    uint64_t now = _now_ms();
    if (!it.found || gen < (int)acked) {
        if (stop_ms)
            __atomic_store_n(&sh->last_violation_ms, now - stop_ms, __ATOMIC_RELAXED);
        int gi;
        for (gi = 1; gi < NGEN && sh->region[gi] != region; gi++)
            ;
        _violation("%s client read %s %s as \"%.*s\" (%s) with generation %u acknowledged "
                   "%lld ms before the read began and the server stopped %lld ms before "
                   "it; the client held region %016llx (%s%d) before the read, %016llx after",
                   fresh ? "a fresh" : "the long-lived", key,
                   hit ? "from the region" : "through the socket",
                   it.found ? (int)it.value.len : 9, it.found ? (const char *)it.value.data
                                                              : "not found",
                   it.found ? "an old value" : "a lost acknowledged value", acked,
                   (long long)(now - acked_ms), stop_ms ? (long long)(now - stop_ms) : -1LL,
                   (unsigned long long)region,
                   region == 0 ? "none" : gi < NGEN ? "the region of the server of generation "
                                                    : "unknown",
                   region && gi < NGEN ? gi : 0, (unsigned long long)cc_shm_region_id(c));
    }
    cc_item_release(&it);
}

static _Noreturn void _reader(void)
{
    cc_client *c = _client(1);
    if (!c)
        _exit(3);
    uint64_t end = _now_ms() + 60000; /* a bound, should the test process die */
    for (unsigned pass = 0; !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) && _now_ms() < end;
         pass++) {
        for (int i = 0; i < NKEYS; i++)
            _check_read(c, i, false);
        if (pass % 8 == 0) { /* a fresh client adopts the process's current region */
            cc_client *f = _client(1);
            if (!f)
                _exit(3);
            _check_read(f, (int)(pass / 8 % NKEYS), true);
            cc_client_destroy(&f);
        }
        usleep(200);
    }
    cc_client_destroy(&c);
    _exit(0);
}

/* ---- the test process ---- */

/* SET generation gen of every key through a fresh client; then tell the reader. */
static void _set_generation(int gen)
{
    cc_client *c = _client(1);
    assert_non_null(c);
    int st = cc_connect(c);
    if (st != CC_OK)
        fail_msg("connect after the restart: %s (%s)", cc_strstatus(st), cc_errmsg(c));
    sh->region[gen] = cc_shm_region_id(c);
    assert_int_not_equal(sh->region[gen], 0);
    for (int i = 0; i < NKEYS; i++) {
        char key[16], val[64];
        _key(i, key, sizeof(key));
        size_t vl = _val(gen, i, val, sizeof(val));
        cc_value v = cc_value_bytes(val, vl);
        st = cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL);
        if (st != CC_OK)
            fail_msg("SET %s: %s (%s)", key, cc_strstatus(st), cc_errmsg(c));
    }
    __atomic_store_n(&sh->acked_ms, _now_ms(), __ATOMIC_RELAXED);
    __atomic_store_n(&sh->acked, (uint32_t)gen, __ATOMIC_RELEASE);
    /* this process too: a fresh client, and one more made now, read only the new values */
    cc_client *r = _client(1);
    assert_non_null(r);
    for (int i = 0; i < NKEYS; i++) {
        char key[16], val[64];
        _key(i, key, sizeof(key));
        size_t vl = _val(gen, i, val, sizeof(val));
        for (int k = 0; k < 2; k++) {
            cc_client *x = k ? r : c;
            cc_item it;
            st = cc_get(x, key, strlen(key), &it);
            if (st != CC_OK)
                fail_msg("GET %s: %s (%s)", key, cc_strstatus(st), cc_errmsg(x));
            if (!it.found || it.value.len != vl || memcmp(it.value.data, val, vl))
                fail_msg("the test process read %s as \"%.*s\" right after \"%s\" was "
                         "acknowledged", key, it.found ? (int)it.value.len : 9,
                         it.found ? (const char *)it.value.data : "not found", val);
            cc_item_release(&it);
        }
    }
    cc_client_destroy(&r);
    cc_client_destroy(&c);
}

/* Wait (bounded) until the reader counted at least n region hits from the region of the
 * server that acknowledged generation gen, with gen acknowledged. */
static bool _wait_hits(int gen, uint64_t n)
{
    for (int i = 0; i < 1000; i++) {
        if (__atomic_load_n(&sh->own_hits[gen], __ATOMIC_RELAXED) >= n)
            return true;
        usleep(10000);
    }
    return false;
}

static void _report(const char *when)
{
    printf("# %s: reads/hits/hits from its server's region/fresh client hits/errors per "
           "generation acknowledged:", when);
    for (int g = 1; g < NGEN; g++)
        printf(" g%d %llu/%llu/%llu/%llu/%llu", g, (unsigned long long)sh->reads[g],
               (unsigned long long)sh->hits[g], (unsigned long long)sh->own_hits[g],
               (unsigned long long)sh->fresh_hits[g], (unsigned long long)sh->errors[g]);
    printf("; hits from the old server's region after the stop began: %llu\n",
           (unsigned long long)sh->old_hits_after_stop);
    fflush(stdout);
}

static void _fail_violation(pid_t child, const char *when)
{
    _report(when);
    bool stale_socket = harness_log_contains(srv, "removed stale socket");
    __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
    waitpid(child, NULL, 0);
    harness_print_log(srv, 12);
    fail_msg("%s: %llu reads returned an old value, the last %llu ms after the stop; the "
             "first: %s (the new server %s a stale socket)", when,
             (unsigned long long)sh->violations, (unsigned long long)sh->last_violation_ms,
             sh->first, stale_socket ? "removed" : "found no");
}

/* Start a server, SET generation 1, start the reader and wait for its region hits; stop the
 * server (clean: SIGTERM, else kill -9), start it again on the same path, SET generation 2,
 * and read on until the reader has region hits from the new server. */
static void _run(bool clean)
{
    const char *what = clean ? "clean stop" : "kill -9";
    snprintf(ssd_dir, sizeof(ssd_dir), "/tmp/csd-shmrestart.XXXXXX");
    assert_non_null(mkdtemp(ssd_dir));
    const char *args[] = {"--memory", "64MiB", "--shm-reads", "true", "--ssd-path", ssd_dir,
                          "--ssd-size", "256MiB", "--persist", "sync", NULL};
    srv = harness_start(args);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    memset(sh, 0, sizeof(*sh));

    _set_generation(1);
    fflush(stdout);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _reader();

    /* the reader reads the keys from the region; then the stop */
    if (!_wait_hits(1, 4 * NKEYS)) {
        if (sh->violations)
            _fail_violation(child, "before the stop");
        _report("before the stop");
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        fail_msg("the reader had only %llu region hits in 10 s: the test would prove nothing",
                 (unsigned long long)sh->own_hits[1]);
    }
    uint64_t hits_before = sh->own_hits[1];
    __atomic_store_n(&sh->stop_ms, _now_ms(), __ATOMIC_RELAXED);
    if (clean) {
        harness_restart(srv);
    } else {
        int ws = harness_kill(srv, SIGKILL);
        assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
        harness_respawn(srv);
    }
    uint64_t respawn_ms = _now_ms() - sh->stop_ms;
    _set_generation(2);
    uint64_t ack_ms = sh->acked_ms - sh->stop_ms;
    bool hits2 = _wait_hits(2, 4 * NKEYS);
    printf("# %s: the new server answered PING %llu ms after the stop, the new values were "
           "acknowledged %llu ms after it; the reader had %llu region hits before\n", what,
           (unsigned long long)respawn_ms, (unsigned long long)ack_ms,
           (unsigned long long)hits_before);
    if (sh->violations)
        _fail_violation(child, what);
    if (!hits2) {
        _report(what);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        fail_msg("the reader never read the new server's region (%llu hits)",
                 (unsigned long long)sh->own_hits[2]);
    }

    /* a last stretch of reads with generation 2 acknowledged */
    usleep(200000);
    __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
    int cs;
    assert_int_equal(waitpid(child, &cs, 0), child);
    _report(what);
    if (sh->violations)
        _fail_violation(child, what);
    assert_true(WIFEXITED(cs) && WEXITSTATUS(cs) == 0);
    harness_destroy(&srv);
    munmap(sh, sizeof(*sh));
    sh = NULL;
    _rm_ssd();
}

static void test_shm_restart_kill(void **state)
{
    (void)state;
    _run(false);
}

static void test_shm_restart_clean(void **state)
{
    (void)state;
    _run(true);
}

static int _teardown(void **state)
{
    (void)state;
    harness_destroy(&srv);
    _rm_ssd();
    if (sh)
        munmap(sh, sizeof(*sh));
    sh = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_shm_restart_kill, _teardown),
        cmocka_unit_test_teardown(test_shm_restart_clean, _teardown),
    };
    return cmocka_run_group_tests_name("shm_restart", tests, NULL, NULL);
}
