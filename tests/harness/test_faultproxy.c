/* The fault-injection proxy (faultproxy.h) in front of an echo server on a thread of this
 * process, all on 127.0.0.1: bytes round-trip intact, and each fault (cut, refuse, blackhole,
 * delay, throttle) does what it says. Time checks are lower bounds only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "faultproxy.h"

#define IO_TIMEOUT_MS 10000
#define ECHO_MAX_CONNS 64
#define ECHO_BUF (64 * 1024)

/* ---- echo server: one thread, poll(), stops when asked ---- */

struct econn {
    int fd;
    size_t len, off;
    uint8_t buf[ECHO_BUF];
};

struct echo {
    int lfd;
    uint16_t port;
    int stop; /* atomic */
    pthread_t thread;
    struct econn *conns[ECHO_MAX_CONNS];
    int n;
};

static uint64_t _now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void _echo_drop(struct echo *e, int i)
{
    close(e->conns[i]->fd);
    free(e->conns[i]);
    e->conns[i] = e->conns[--e->n];
}

static void *_echo_run(void *arg)
{
    struct echo *e = arg;
    struct pollfd pfd[ECHO_MAX_CONNS + 1];
    while (!__atomic_load_n(&e->stop, __ATOMIC_SEQ_CST)) {
        pfd[0] = (struct pollfd){.fd = e->n < ECHO_MAX_CONNS ? e->lfd : -1, .events = POLLIN};
        for (int i = 0; i < e->n; i++) {
            struct econn *c = e->conns[i];
            pfd[i + 1] = (struct pollfd){.fd = c->fd, .events = c->off < c->len ? POLLOUT : POLLIN};
        }
        int nfds = e->n + 1;
        if (poll(pfd, (nfds_t)nfds, 50) <= 0)
            continue;
        for (int i = nfds - 2; i >= 0; i--) {
            struct econn *c = e->conns[i];
            if (!pfd[i + 1].revents)
                continue;
            ssize_t r;
            if (c->off < c->len) {
                r = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (r > 0)
                    c->off += (size_t)r;
            } else {
                r = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
                if (r > 0) {
                    c->len = (size_t)r;
                    c->off = 0;
                }
            }
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                _echo_drop(e, i);
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept(e->lfd, NULL, NULL);
            if (fd >= 0) {
                struct econn *c = calloc(1, sizeof(*c));
                assert_non_null(c);
                c->fd = fd;
                e->conns[e->n++] = c;
            }
        }
    }
    while (e->n > 0)
        _echo_drop(e, e->n - 1);
    return NULL;
}

static struct sockaddr_in _loopback(uint16_t port)
{
    return (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

/* A TCP socket bound to 127.0.0.1:<ephemeral>; *port gets the port. */
static int _bound(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = _loopback(0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct echo *_echo_start(void)
{
    struct echo *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->lfd = _bound(&e->port);
    assert_int_equal(listen(e->lfd, 64), 0);
    assert_int_equal(pthread_create(&e->thread, NULL, _echo_run, e), 0);
    return e;
}

static void _echo_stop(struct echo *e)
{
    __atomic_store_n(&e->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(e->thread, NULL);
    close(e->lfd);
    free(e);
}

/* ---- client helpers ---- */

static void _rcvtimeo(int fd, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

static int _connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = _loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect 127.0.0.1:%u: %s", port, strerror(errno));
    _rcvtimeo(fd, IO_TIMEOUT_MS);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static uint8_t _pattern(size_t i) { return (uint8_t)(i * 131 + (i >> 9) + (i >> 17)); }

/* Send out[0..len) and read len bytes back into in, interleaved (so neither side's buffers
 * need to hold everything). Fails the test on error, EOF or after IO_TIMEOUT_MS. */
static void _roundtrip(int fd, const uint8_t *out, uint8_t *in, size_t len)
{
    size_t sent = 0, got = 0;
    uint64_t deadline = _now_ms() + IO_TIMEOUT_MS;
    while (got < len) {
        uint64_t now = _now_ms();
        if (now >= deadline)
            fail_msg("round trip: %zu of %zu bytes sent, %zu back after %d ms", sent, len, got,
                     IO_TIMEOUT_MS);
        struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
            continue;
        if (sent < len && (pfd.revents & POLLOUT)) {
            ssize_t n = send(fd, out + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                fail_msg("round trip: send: %s", strerror(errno));
            if (n > 0)
                sent += (size_t)n;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in + got, len - got, MSG_DONTWAIT);
            if (n == 0)
                fail_msg("round trip: EOF after %zu of %zu bytes", got, len);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                fail_msg("round trip: recv: %s", strerror(errno));
            if (n > 0)
                got += (size_t)n;
        }
    }
}

static void _echo_ok(int fd, const char *msg)
{
    size_t len = strlen(msg);
    char back[256] = {0};
    assert_true(len < sizeof(back));
    _roundtrip(fd, (const uint8_t *)msg, (uint8_t *)back, len);
    assert_memory_equal(back, msg, len);
}

/* The peer went away: a read gives EOF or ECONNRESET (never data, never a timeout). */
static void _assert_closed(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, 0);
    if (n < 0 && errno != ECONNRESET)
        fail_msg("expected EOF or ECONNRESET, got %s", strerror(errno));
    assert_true(n <= 0);
}

static uint64_t _elapsed_ms(uint64_t since) { return _now_ms() - since; }

/* ---- fixture: one echo server and one proxy per test ---- */

struct fx {
    struct echo *echo;
    struct faultproxy *proxy;
};

static int _setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->echo = _echo_start();
    f->proxy = faultproxy_start(f->echo->port);
    assert_non_null(f->proxy);
    assert_int_not_equal(faultproxy_port(f->proxy), 0);
    assert_int_not_equal(faultproxy_port(f->proxy), f->echo->port);
    *state = f;
    return 0;
}

static int _teardown(void **state)
{
    struct fx *f = *state;
    faultproxy_stop(&f->proxy);
    assert_null(f->proxy);
    _echo_stop(f->echo);
    free(f);
    return 0;
}

/* ---- tests ---- */

static void test_roundtrip_1mib(void **state)
{
    struct fx *f = *state;
    size_t len = 1u << 20;
    uint8_t *out = malloc(len), *in = calloc(1, len);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < len; i++)
        out[i] = _pattern(i);
    int fd = _connect(faultproxy_port(f->proxy));
    _roundtrip(fd, out, in, len);
    for (size_t i = 0; i < len; i++)
        if (in[i] != out[i])
            fail_msg("byte %zu: sent 0x%02x, got back 0x%02x", i, out[i], in[i]);
    close(fd);
    free(out);
    free(in);
}

static void test_cut(void **state)
{
    struct fx *f = *state;
    int fd = _connect(faultproxy_port(f->proxy));
    _echo_ok(fd, "before the cut");
    faultproxy_cut(f->proxy);
    _assert_closed(fd);
    close(fd);

    fd = _connect(faultproxy_port(f->proxy));
    _echo_ok(fd, "after the cut");
    close(fd);
    assert_int_equal(faultproxy_connections(f->proxy), 2);
}

static void test_refuse(void **state)
{
    struct fx *f = *state;
    faultproxy_refuse(f->proxy, true);
    int fd = _connect(faultproxy_port(f->proxy)); /* the kernel completes the handshake */
    _assert_closed(fd);
    close(fd);
    assert_int_equal(faultproxy_bytes(f->proxy, 0), 0);

    faultproxy_refuse(f->proxy, false);
    fd = _connect(faultproxy_port(f->proxy));
    _echo_ok(fd, "refusing no more");
    close(fd);
    assert_int_equal(faultproxy_connections(f->proxy), 2);
}

static void test_blackhole(void **state)
{
    struct fx *f = *state;
    int fd = _connect(faultproxy_port(f->proxy));
    _echo_ok(fd, "a");
    faultproxy_blackhole(f->proxy, true);
    assert_int_equal(send(fd, "ping", 4, MSG_NOSIGNAL), 4);
    /* A connection accepted while blackholed hangs as well. */
    int fd2 = _connect(faultproxy_port(f->proxy));
    assert_int_equal(send(fd2, "late", 4, MSG_NOSIGNAL), 4);

    char buf[8] = {0};
    int fds[2] = {fd, fd2};
    for (int i = 0; i < 2; i++) {
        _rcvtimeo(fds[i], 300);
        errno = 0;
        ssize_t n = recv(fds[i], buf, sizeof(buf), 0);
        if (n != -1 || (errno != EAGAIN && errno != EWOULDBLOCK))
            fail_msg("blackholed connection %d: recv gave %zd (%s), expected a timeout", i, n,
                     strerror(errno));
    }

    faultproxy_blackhole(f->proxy, false);
    const char *want[2] = {"ping", "late"};
    for (int i = 0; i < 2; i++) {
        _rcvtimeo(fds[i], IO_TIMEOUT_MS);
        size_t got = 0;
        memset(buf, 0, sizeof(buf));
        for (int k = 0; k < 8 && got < 4; k++) {
            ssize_t n = recv(fds[i], buf + got, 4 - got, 0);
            if (n <= 0)
                fail_msg("after the blackhole, connection %d: recv %zd (%s)", i, n,
                         strerror(errno));
            got += (size_t)n;
        }
        assert_int_equal(got, 4);
        assert_memory_equal(buf, want[i], 4);
        close(fds[i]);
    }
}

static void test_delay(void **state)
{
    struct fx *f = *state;
    faultproxy_delay(f->proxy, 200);
    int fd = _connect(faultproxy_port(f->proxy));
    uint64_t t0 = _now_ms();
    _echo_ok(fd, "slow");
    uint64_t ms = _elapsed_ms(t0);
    assert_true(ms >= 200);
    faultproxy_delay(f->proxy, 0);
    _echo_ok(fd, "fast again");
    close(fd);
}

static void test_throttle(void **state)
{
    struct fx *f = *state;
    size_t len = 50 * 1024;
    uint8_t *out = malloc(len), *in = calloc(1, len);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < len; i++)
        out[i] = _pattern(i);
    faultproxy_throttle(f->proxy, 100 * 1024);
    int fd = _connect(faultproxy_port(f->proxy));
    uint64_t t0 = _now_ms();
    _roundtrip(fd, out, in, len);
    uint64_t ms = _elapsed_ms(t0);
    if (ms < 300)
        fail_msg("50 KiB at 100 KiB/s took only %llu ms", (unsigned long long)ms);
    assert_memory_equal(in, out, len);
    faultproxy_throttle(f->proxy, 0);
    _echo_ok(fd, "unlimited");
    close(fd);
    free(out);
    free(in);
}

static void test_counters(void **state)
{
    struct fx *f = *state;
    assert_int_equal(faultproxy_connections(f->proxy), 0);
    assert_int_equal(faultproxy_bytes(f->proxy, 0), 0);
    assert_int_equal(faultproxy_bytes(f->proxy, 1), 0);
    uint8_t out[1000], in[1000];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = _pattern(i);
    for (int i = 0; i < 3; i++) {
        int fd = _connect(faultproxy_port(f->proxy));
        _roundtrip(fd, out, in, sizeof(out));
        close(fd);
    }
    assert_int_equal(faultproxy_connections(f->proxy), 3);
    /* The client may read the last reply before the proxy thread has counted it. */
    for (int i = 0; i < 500 && faultproxy_bytes(f->proxy, 1) < 3000; i++)
        usleep(10000);
    assert_int_equal(faultproxy_bytes(f->proxy, 0), 3000);
    assert_int_equal(faultproxy_bytes(f->proxy, 1), 3000);
}

/* Nothing listens on the target port: the accepted client is closed. */
static void test_no_target(void **state)
{
    (void)state;
    uint16_t port;
    int hold = _bound(&port); /* bound, not listening: nobody else takes the port meanwhile */
    struct faultproxy *p = faultproxy_start(port);
    int fd = _connect(faultproxy_port(p));
    _assert_closed(fd);
    close(fd);
    assert_int_equal(faultproxy_connections(p), 1);
    faultproxy_stop(&p);
    assert_null(p);
    close(hold);
}

/* A client that only writes fills the bounded buffers and then stalls; reading then brings
 * everything back in order. */
static void test_backpressure(void **state)
{
    struct fx *f = *state;
    const size_t limit = 256u << 20;
    int fd = _connect(faultproxy_port(f->proxy));
    uint8_t buf[64 * 1024];
    size_t sent = 0;
    bool stalled = false;
    while (sent < limit) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, 500) == 0) {
            stalled = true;
            break;
        }
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = _pattern(sent + i);
        ssize_t n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            fail_msg("send: %s", strerror(errno));
        if (n > 0)
            sent += (size_t)n;
    }
    if (!stalled)
        fail_msg("sent %zu bytes without reading and never stalled", sent);
    size_t got = 0;
    while (got < sent) {
        size_t want = sent - got < sizeof(buf) ? sent - got : sizeof(buf);
        ssize_t n = recv(fd, buf, want, 0);
        if (n <= 0)
            fail_msg("reading back: recv %zd (%s) after %zu of %zu", n, strerror(errno), got,
                     sent);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != _pattern(got + (size_t)i))
                fail_msg("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
    }
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_1mib, _setup, _teardown),
        cmocka_unit_test_setup_teardown(test_cut, _setup, _teardown),
        cmocka_unit_test_setup_teardown(test_refuse, _setup, _teardown),
        cmocka_unit_test_setup_teardown(test_blackhole, _setup, _teardown),
        cmocka_unit_test_setup_teardown(test_delay, _setup, _teardown),
        cmocka_unit_test_setup_teardown(test_throttle, _setup, _teardown),
        cmocka_unit_test_setup_teardown(test_counters, _setup, _teardown),
        cmocka_unit_test(test_no_target),
        cmocka_unit_test_setup_teardown(test_backpressure, _setup, _teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
