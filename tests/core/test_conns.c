/* Connections against a real server: many idle connections, max_connections, a client that
 * never reads its replies (backpressure, output timeout, bounded memory), the peer-credential
 * allow list, a second server on a live socket, a stale socket, SIGHUP, and SIGTERM (exit 0,
 * socket removed, replies already produced still delivered). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cacheclient_protocol.h"
#include "testutil.h"

static int teardown(void **state)
{
    struct harness *h = *state;
    harness_destroy(&h);
    return 0;
}

static void test_thousand_idle_connections_while_ping_answers(void **state)
{
    enum { N = 1000 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < N + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct harness *h = *state = harness_start(NULL);
    static int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = harness_connect(h);
        if (fds[i] < 0)
            fail_msg("connection %d of %d: expected to connect, got %s", i + 1, N, strerror(errno));
    }
    EXPECT_PING(h);
    EXPECT_EQ(h, "PING on the first idle connection", 0, tu_ping_fd(fds[0], 1));
    EXPECT_EQ(h, "PING on the last idle connection", 0, tu_ping_fd(fds[N - 1], 2));
    long long open_now = tu_stat(h, "connections");
    EXPECT_TRUE(h, open_now >= N, "connections gauge: expected >= %d, got %lld", N, open_now);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    EXPECT_PING(h);
}

/* Open a connection that the server has registered (answers PING), retrying while slots are
 * still held by connections the server has not yet seen close. */
static int _open_counted(struct harness *h, uint64_t id)
{
    uint64_t deadline = tu_now_ms() + 5000;
    while (tu_now_ms() < deadline) {
        int fd = harness_connect(h);
        if (fd >= 0 && tu_ping_fd(fd, id) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        tu_sleep_ms(10);
    }
    fail_msg("could not open a served connection within 5 s");
    return -1;
}

static void test_max_connections_exceeded_gets_e_limit_then_close(void **state)
{
    enum { MAX = 4 };
    struct harness *h = *state = harness_start((const char *[]){"--max-connections", "4", NULL});
    int fds[MAX];
    for (int i = 0; i < MAX; i++)
        fds[i] = _open_counted(h, (uint64_t)i + 1);
    int extra = harness_connect(h);
    assert_true(extra >= 0);
    uint64_t id = 99, status = 0;
    EXPECT_EQ(h, "a reply on the connection over the limit", 0, tu_recv_reply(extra, &id, &status));
    EXPECT_EQ(h, "reply id", 0, id);
    EXPECT_EQ(h, "reply status", CC_E_LIMIT, status);
    EXPECT_EQ(h, "connection over the limit closed", 1, tu_peer_closed(extra));
    close(extra);
    /* a freed slot is usable again */
    close(fds[0]);
    fds[0] = _open_counted(h, 10);
    for (int i = 0; i < MAX; i++)
        close(fds[i]);
    long long rejected = -1;
    uint64_t deadline = tu_now_ms() + 5000;
    while (harness_ping(h) != 0 && tu_now_ms() < deadline)
        tu_sleep_ms(10);
    rejected = tu_stat(h, "connections_rejected");
    EXPECT_TRUE(h, rejected >= 1, "connections_rejected: expected >= 1, got %lld", rejected);
    EXPECT_PING(h);
}

/* A client pipelines thousands of GETs of a 1 MiB value and never reads: the server stops
 * parsing its requests once output passes max-output-buffer, keeps serving others, closes it
 * after output-timeout-ms without progress, and its memory stays bounded. */
static void test_client_that_never_reads_is_dropped_with_memory_bounded(void **state)
{
    enum { GETS = 5000 };
    const size_t vlen = 1u << 20;
    struct harness *h = *state = harness_start((const char *[]){
        "--max-output-buffer", "1MiB", "--output-timeout-ms", "300", "--threads", "2", NULL});
    char *value = malloc(vlen);
    assert_non_null(value);
    memset(value, 'x', vlen);
    int fd = harness_connect(h);
    uint64_t id, status = 99;
    assert_int_equal(tu_send_set(fd, 1, "big", value, vlen), 0);
    EXPECT_EQ(h, "SET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "SET status", CC_OK, status);
    close(fd);
    free(value);

    long rss_before = tu_proc_kb(harness_pid(h), "VmRSS");
    int slow = harness_connect(h);
    assert_true(slow >= 0);
    /* All GETs in one non-blocking write: whatever the socket takes (the server stops
     * reading once it stalls, so the rest may never fit). */
    static uint8_t frames[GETS * 16];
    size_t glen = 0;
    for (uint64_t i = 0; i < GETS; i++)
        glen = tu_frame_get(frames, glen, sizeof(frames), 100 + i, "big");
    assert_true(glen > 0);
    ssize_t sent = send(slow, frames, glen, MSG_DONTWAIT | MSG_NOSIGNAL);
    EXPECT_TRUE(h, sent > (ssize_t)glen / 10, "sent %zd of %zu bytes of GETs", sent, glen);
    /* others are served while it stalls; then wait for the server to hang up on it */
    EXPECT_PING(h);
    struct pollfd p = {.fd = slow, .events = POLLRDHUP};
    uint64_t deadline = tu_now_ms() + 10000;
    int hung_up = 0;
    while (!hung_up && tu_now_ms() < deadline) {
        EXPECT_PING(h);
        hung_up = poll(&p, 1, 50) == 1 && (p.revents & (POLLHUP | POLLRDHUP));
    }
    long hwm = tu_proc_kb(harness_pid(h), "VmHWM");
    EXPECT_TRUE(h, hung_up, "expected the server to close the non-reading connection");
    close(slow);
    EXPECT_EQ(h, "connections_dropped_slow", 1, tu_stat(h, "connections_dropped_slow"));
    long long gets = tu_stat(h, "op.get.count");
    EXPECT_TRUE(h, gets >= 1 && gets < 100,
                "GETs parsed from the stalled connection: expected a handful (parsing stops "
                "above max-output-buffer), got %lld of %d", gets, GETS);
    EXPECT_TRUE(h, rss_before > 0 && hwm > 0 && hwm - rss_before < 64 * 1024,
                "server memory: expected peak RSS within 64 MiB of %ld KiB, got %ld KiB",
                rss_before, hwm);
    EXPECT_PING(h);
}

static void test_peer_not_in_allow_list_is_refused(void **state)
{
    char uid[32], gid[32];
    snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
    snprintf(gid, sizeof(gid), "%u", (unsigned)getgid());
    /* only another uid is allowed: we are refused at accept, without a reply */
    struct harness *h = *state = harness_start_listening(
        (const char *[]){"--allow-uids", getuid() == 54321 ? "54322" : "54321", NULL});
    EXPECT_TRUE(h, harness_ping(h) != 0, "PING from uid %s answered despite allow-uids", uid);
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    tu_send_ping(fd, 1); /* may fail with EPIPE: the server may have closed already */
    EXPECT_EQ(h, "refused connection closed without a reply", 1, tu_peer_closed(fd));
    close(fd);
    char want[128];
    snprintf(want, sizeof(want), "refused connection from pid %d uid %s", (int)getpid(), uid);
    uint64_t deadline = tu_now_ms() + 5000;
    while (!harness_log_contains(h, want) && tu_now_ms() < deadline)
        tu_sleep_ms(10);
    EXPECT_TRUE(h, harness_log_contains(h, want), "expected the log to say \"%s\"", want);
    EXPECT_TRUE(h, harness_alive(h), "server died after refusing a peer");
    harness_destroy((struct harness **)state);

    /* our uid, or our gid with another uid, is let in */
    *state = h = harness_start((const char *[]){"--allow-uids", uid, NULL});
    EXPECT_PING(h);
    harness_destroy((struct harness **)state);
    *state = h =
        harness_start((const char *[]){"--allow-uids", "54321", "--allow-gids", gid, NULL});
    EXPECT_PING(h);
    EXPECT_EQ(h, "connections_refused", 0, tu_stat(h, "connections_refused"));
}

static void test_second_server_on_a_live_socket_refuses_to_start(void **state)
{
    struct harness *h = *state = harness_start(NULL);
    const char *bin = getenv("CACHESERVERD");
    char errp[256], data[256];
    snprintf(errp, sizeof(errp), "%s/second.err", harness_dir(h));
    snprintf(data, sizeof(data), "%s/data2", harness_dir(h));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, STDERR_FILENO);
        execl(bin, bin, "--socket", harness_socket(h), "--data-dir", data, (char *)NULL);
        _exit(127);
    }
    int st;
    uint64_t deadline = tu_now_ms() + 10000;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tu_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("second server: expected it to refuse to start, it kept running");
        }
        tu_sleep_ms(10);
    }
    EXPECT_EQ(h, "second server's exit code", 1, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char err[4096] = "";
    FILE *f = fopen(errp, "r");
    if (f) {
        size_t n = fread(err, 1, sizeof(err) - 1, f);
        err[n] = '\0';
        fclose(f);
    }
    EXPECT_TRUE(h, strstr(err, "another server is already listening") != NULL,
                "second server's stderr: expected \"another server is already listening\", "
                "got \"%s\"", err);
    EXPECT_PING(h); /* the first server and its socket are untouched */
}

static void test_stale_socket_file_is_replaced(void **state)
{
    struct harness *h = *state = harness_start(NULL);
    int st = harness_kill(h, SIGKILL);
    EXPECT_TRUE(h, WIFSIGNALED(st), "expected SIGKILL to kill the server");
    struct stat sb;
    EXPECT_TRUE(h, stat(harness_socket(h), &sb) == 0 && S_ISSOCK(sb.st_mode),
                "expected a stale socket file left by the killed server");
    harness_respawn(h); /* fails the test unless the new server answers PING */
    EXPECT_TRUE(h, harness_log_contains(h, "removed stale socket"),
                "expected the log to mention the stale socket");
    EXPECT_PING(h);
}

/* socket-mode and socket-group are applied to the socket file. The group is another one when
 * we may chown to it (root: gid 1; otherwise a supplementary group), else our own. */
static void test_socket_mode_and_group_are_applied(void **state)
{
    gid_t want = getgid(), groups[64];
    int n = getgroups(64, groups);
    if (getuid() == 0)
        want = 1;
    for (int i = 0; getuid() != 0 && i < n; i++)
        if (groups[i] != getgid())
            want = groups[i];
    char gid[32];
    snprintf(gid, sizeof(gid), "%u", (unsigned)want);
    struct harness *h = *state = harness_start(
        (const char *[]){"--socket-mode", "0640", "--socket-group", gid, NULL});
    struct stat sb;
    assert_int_equal(stat(harness_socket(h), &sb), 0);
    EXPECT_EQ(h, "socket file mode (octal)", 0640, sb.st_mode & 0777);
    EXPECT_EQ(h, "socket file group", want, sb.st_gid);
    EXPECT_PING(h);
}

static void test_sighup_reopens_the_log_file(void **state)
{
    struct harness *h = *state = harness_start(NULL);
    char log[256], rotated[256];
    snprintf(log, sizeof(log), "%s/server.log", harness_dir(h));
    snprintf(rotated, sizeof(rotated), "%s/server.log.1", harness_dir(h));
    assert_int_equal(rename(log, rotated), 0);
    kill(harness_pid(h), SIGHUP);
    uint64_t deadline = tu_now_ms() + 5000;
    while (!harness_log_contains(h, "log file reopened") && tu_now_ms() < deadline)
        tu_sleep_ms(10);
    EXPECT_TRUE(h, harness_log_contains(h, "log file reopened"),
                "expected a new server.log saying \"log file reopened\" after SIGHUP");
    EXPECT_PING(h);
}

static void test_sigterm_delivers_produced_replies_exits_0_and_removes_socket(void **state)
{
    const size_t vlen = 4u << 20;
    struct harness *h = *state = harness_start(NULL);
    char *value = malloc(vlen);
    assert_non_null(value);
    memset(value, 'q', vlen);
    int fd = harness_connect(h);
    int idle = harness_connect(h);
    assert_true(fd >= 0 && idle >= 0);
    uint64_t id, status = 99;
    assert_int_equal(tu_send_set(fd, 1, "k", value, vlen), 0);
    EXPECT_EQ(h, "SET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "SET status", CC_OK, status);
    /* GET a reply much larger than the socket buffer and wait until it starts arriving */
    assert_int_equal(tu_send_get(fd, 2, "k"), 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(h, "GET reply started", 1, poll(&p, 1, 5000));
    kill(harness_pid(h), SIGTERM);
    uint8_t *body;
    size_t blen;
    EXPECT_EQ(h, "whole GET reply after SIGTERM", 0, harness_recv_frame(fd, &body, &blen));
    EXPECT_TRUE(h, blen > vlen && memmem(body, blen, value, vlen),
                "GET reply after SIGTERM: expected the %zu-byte value, got %zu bytes", vlen, blen);
    free(body);
    free(value);
    EXPECT_EQ(h, "connection closed after its reply", 1, tu_peer_closed(fd));
    EXPECT_EQ(h, "idle connection closed on SIGTERM", 1, tu_peer_closed(idle));
    close(fd);
    close(idle);
    EXPECT_EQ(h, "exit code after SIGTERM", 0, harness_stop(h));
    struct stat sb;
    EXPECT_TRUE(h, stat(harness_socket(h), &sb) != 0 && errno == ENOENT,
                "socket %s still exists after SIGTERM", harness_socket(h));
}

int main(void)
{
#define T(test) cmocka_unit_test_teardown(test, teardown)
    const struct CMUnitTest tests[] = {
        T(test_thousand_idle_connections_while_ping_answers),
        T(test_max_connections_exceeded_gets_e_limit_then_close),
        T(test_client_that_never_reads_is_dropped_with_memory_bounded),
        T(test_peer_not_in_allow_list_is_refused),
        T(test_second_server_on_a_live_socket_refuses_to_start),
        T(test_stale_socket_file_is_replaced),
        T(test_socket_mode_and_group_are_applied),
        T(test_sighup_reopens_the_log_file),
        T(test_sigterm_delivers_produced_replies_exits_0_and_removes_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
