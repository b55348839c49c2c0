/* SIGTERM with disk reads queued and in flight (issue 14): the server must exit, and exit
 * cleanly, within shutdown_timeout_ms, however the shutdown falls against the I/O threads'
 * completions. The hang this guards against: a disk read completed for a connection of a
 * worker that had just exited, and the I/O thread woke that worker's event base after the
 * main thread had freed it, and blocked forever on the freed base's lock (in an ASan build
 * too: libevent is not instrumented); the main thread waited for it in tiering_teardown.
 * Before the fix (cacheserverd/core/worker.c) about one shutdown in four hung here.
 *
 * A real cacheserverd with 16 MiB of memory, an SSD tier with persistence (so the same
 * directory serves every cycle without loading it again) and 60,000 keys of 1 KiB, so most
 * keys live only on disk. Every cycle opens 8 connections, sends each a few pipelined MGETs
 * of 48 random keys (a few hundred disk reads queued for the 2 I/O threads), then SIGTERMs
 * the server at once, a few ms later, or a few ms after the clients disconnected (the
 * issue's case), and requires exit code 0 within shutdown_timeout_ms; a server that is
 * still running then is killed and the test fails. The server's threads are pinned to one
 * CPU, as in the report: completions, the workers' exit and the main thread's teardown
 * then interleave at every preemption. TEST_SHUTDOWN_CYCLES=N runs N cycles instead of 30;
 * TEST_SHUTDOWN_GDB=1 prints the stacks of a server that hangs (with gdb) before killing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <msgpack.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"
#include "cacheclient_protocol.h"
#include "harness.h"
#include "tier_client.h"

#define NKEYS 60000
#define VLEN 1024          /* 60,000 x 1 KiB: almost 4x the 16 MiB memory tier */
#define CYCLES 30
#define NCONN 8
#define FRAMES 3           /* pipelined MGETs per connection */
#define KEYS_PER_MGET 48
#define SHUTDOWN_MS 3000   /* --shutdown-timeout-ms, and how long an exit may take */

static struct harness *srv;
static char base_dir[256], ssd_dir[300];
static cpu_set_t all_cpus;

static uint64_t _now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void _sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Run f with this process pinned to one CPU: the server it forks keeps that CPU, this test
 * (and its clients) goes back to all of them. */
static void _pinned(void (*f)(void))
{
    cpu_set_t one;
    CPU_ZERO(&one);
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &all_cpus))
        cpu++;
    CPU_SET(cpu < CPU_SETSIZE ? cpu : 0, &one);
    bool pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
    f();
    if (pinned)
        sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
}

static const char *const *_args(void)
{
    static char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", SHUTDOWN_MS);
    static const char *args[] = {"--memory", "16MiB", "--ssd-path", ssd_dir, "--persist", "async",
                                 "--demote-unread", "true", "--tier-queue", "100000",
                                 "--threads", "4", "--tier-io-threads", "2",
                                 "--shutdown-timeout-ms", timeout, NULL};
    return args;
}

static void _start(void) { srv = harness_start(_args()); }
static void _respawn(void) { harness_respawn(srv); }

static int _key(char *buf, size_t n, int i) { return snprintf(buf, n, "sd:%06d", i); }

static int group_setup(void **state)
{
    (void)state;
    if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus) != 0)
        return -1;
    if (!tier_tmpdir(base_dir, sizeof(base_dir), "tier-shutdown"))
        return -1;
    snprintf(ssd_dir, sizeof(ssd_dir), "%s/ssd", base_dir);
    _start(); /* unpinned: loading is faster on every CPU */
    return srv ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    harness_destroy(&srv);
    return tier_rmdir(base_dir);
}

/* Write every key (MSETs of 100) and wait until the writer has them all on the SSD. */
static void _load(void)
{
    cc_client *c = tier_client(srv);
    enum { B = 100 };
    static char keys[B][16], val[VLEN];
    memset(val, 'v', sizeof(val));
    const void *kp[B];
    size_t kl[B];
    cc_value vals[B];
    uint64_t ttls[B] = {0};
    for (int i = 0; i < NKEYS; i += B) {
        for (int j = 0; j < B; j++) {
            kl[j] = (size_t)_key(keys[j], sizeof(keys[j]), i + j);
            kp[j] = keys[j];
            vals[j] = cc_value_bytes(val, VLEN);
        }
        assert_int_equal(cc_mset(c, B, kp, kl, vals, ttls), CC_OK);
    }
    for (int i = 0; i < 3000 && harness_stat(srv, "ssd_items") < NKEYS; i++)
        _sleep_ms(10);
    assert_true(harness_stat(srv, "ssd_items") >= NKEYS);
    cc_client_destroy(&c);
}

/* One MGET frame of KEYS_PER_MGET pseudo-random keys. */
static void _send_mget(int fd, uint64_t id, unsigned *seed)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, CC_OP_MGET);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_array(&pk, KEYS_PER_MGET);
    for (int k = 0; k < KEYS_PER_MGET; k++) {
        char key[16];
        int n = _key(key, sizeof(key), (int)(rand_r(seed) % NKEYS));
        msgpack_pack_str(&pk, (size_t)n);
        msgpack_pack_str_body(&pk, key, (size_t)n);
    }
    assert_int_equal(harness_send_frame(fd, sb.data, sb.size), 0);
    msgpack_sbuffer_destroy(&sb);
}

/* Most keys are on disk only: a run of MGETs reads from the SSD (else the test tests nothing). */
static void _check_reads_go_to_disk(void)
{
    uint64_t before = harness_stat(srv, "ssd_reads");
    int fd = harness_connect(srv);
    assert_true(fd >= 0);
    unsigned seed = 1;
    for (int f = 0; f < 4; f++) {
        _send_mget(fd, (uint64_t)f + 1, &seed);
        uint8_t *body;
        size_t len;
        assert_int_equal(harness_recv_frame(fd, &body, &len), 0);
        free(body);
    }
    close(fd);
    assert_true(harness_stat(srv, "ssd_reads") >= before + KEYS_PER_MGET);
}

static void _close_all(int *fds)
{
    for (int i = 0; i < NCONN; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

static void test_sigterm_with_reads_queued_exits_in_time(void **state)
{
    (void)state;
    _load();
    _check_reads_go_to_disk();
    /* from here the server runs on one CPU */
    assert_int_equal(harness_stop(srv), 0);
    _pinned(_respawn);

    const char *env = getenv("TEST_SHUTDOWN_CYCLES");
    int cycles = env && atoi(env) > 0 ? atoi(env) : CYCLES;
    uint64_t slowest = 0;
    for (int cycle = 0; cycle < cycles; cycle++) {
        unsigned seed = (unsigned)cycle * 2654435761u + 7;
        int fds[NCONN];
        for (int i = 0; i < NCONN; i++) {
            fds[i] = harness_connect(srv);
            assert_true(fds[i] >= 0);
        }
        for (int f = 0; f < FRAMES; f++)
            for (int i = 0; i < NCONN; i++)
                _send_mget(fds[i], (uint64_t)(f * NCONN + i + 1), &seed);
        /* three ways for the SIGTERM to meet the reads, each with a varying delay */
        int mode = cycle % 3;
        unsigned delay = (unsigned)(cycle / 3) % 5; /* 0..4 ms */
        if (mode == 1)
            _close_all(fds); /* the case: the clients went away, their reads did not */
        _sleep_ms(mode == 0 ? 0 : delay + 1);
        pid_t pid = harness_pid(srv);
        uint64_t t0 = _now_ms();
        assert_int_equal(kill(pid, SIGTERM), 0);
        /* connected clients go away too, so no reply waits for a reader: the exit must not
         * depend on the drain's deadline */
        _sleep_ms(delay);
        _close_all(fds);
        while (harness_alive(srv) && _now_ms() - t0 < SHUTDOWN_MS)
            _sleep_ms(2);
        uint64_t took = _now_ms() - t0;
        if (harness_alive(srv)) {
            harness_print_log(srv, 20);
            if (getenv("TEST_SHUTDOWN_GDB")) { /* where it hangs: every thread's stack */
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "gdb -p %d -batch -ex 'thread apply all bt' >&2",
                         (int)pid);
                if (system(cmd) != 0)
                    fprintf(stderr, "(gdb could not attach)\n");
            }
            harness_kill(srv, SIGKILL);
            fail_msg("cycle %d (mode %d): the server (pid %d) was still running %d ms after "
                     "SIGTERM with disk reads in flight; killed", cycle, mode, (int)pid,
                     SHUTDOWN_MS);
        }
        int st = harness_kill(srv, 0); /* reaped: its wait status */
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            harness_print_log(srv, 40);
            fail_msg("cycle %d (mode %d): the server exited with %s %d after SIGTERM", cycle,
                     mode, WIFEXITED(st) ? "code" : "signal",
                     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
        if (took > slowest)
            slowest = took;
        if (cycle + 1 < cycles)
            _pinned(_respawn);
    }
    fprintf(stderr, "%d shutdowns with disk reads in flight; slowest exit %llu ms (limit %d)\n",
            cycles, (unsigned long long)slowest, SHUTDOWN_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_with_reads_queued_exits_in_time),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
