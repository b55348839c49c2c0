/* The client's connection: connect with a timeout (retrying a full listen backlog), the
 * HELLO handshake, and sending/receiving frames with poll() deadlines. Any I/O failure
 * closes the socket so a half-read reply can never be misread; the next call reconnects. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client-internal.h"

#define CC_READ_CHUNK (64u * 1024)

int64_t cc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cc_deadline(int timeout_ms) { return cc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0); }

static void _close(cc_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->hello_fd >= 0)
        close(c->hello_fd);
    c->hello_fd = -1;
    c->in.len = 0;
    c->in_off = 0;
}

int cc_fail(cc_client *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    if (status == CC_E_IO || status == CC_E_TIMEOUT || status == CC_E_BAD_REPLY ||
        status == CC_E_CONNECT)
        _close(c);
    return status;
}

void cc_disconnect(cc_client *c) { _close(c); }

/* Wait for fd to be ready for `events` until the deadline. 0 ready, or a status. */
static int _wait(cc_client *c, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - cc_now_ms();
        if (left <= 0)
            return cc_fail(c, CC_E_TIMEOUT, "timed out after %d ms waiting for the server",
                           c->io_timeout_ms);
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return cc_fail(c, CC_E_IO, "poll: %s", strerror(errno));
    }
}

static int _connect_socket(cc_client *c, int64_t deadline)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(c->socket_path) >= sizeof(sa.sun_path))
        return cc_fail(c, CC_E_CONNECT, "socket path too long: %s", c->socket_path);
    strcpy(sa.sun_path, c->socket_path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return cc_fail(c, CC_E_CONNECT, "socket: %s", strerror(errno));
    useconds_t pause_us = 200;
    for (;;) {
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return CC_OK;
        /* a full listen backlog answers EAGAIN on a non-blocking Unix socket: retry */
        if (errno != EAGAIN && errno != EINTR)
            return cc_fail(c, CC_E_CONNECT, "cannot connect to %s: %s", c->socket_path,
                           strerror(errno));
        if (cc_now_ms() >= deadline)
            return cc_fail(c, CC_E_CONNECT, "cannot connect to %s: listen backlog full for %d ms",
                           c->socket_path, c->connect_timeout_ms);
        usleep(pause_us);
        if (pause_us < 5000)
            pause_us *= 2;
    }
}

/* Keep what HELLO's map says about limits: max_frame_size, for refusing a request the
 * server would answer E_FRAME_TOO_LARGE and close the connection on; and whether it sent
 * the shared-memory region (shm: true). */
static void _hello_limits(cc_client *c, struct cc_reply *r, bool *shm)
{
    uint32_t n;
    if (r->nresults < 1 || !mp_read_map(&r->rest, &n))
        return;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t klen;
        uint64_t v;
        if (!mp_read_bytes(&r->rest, &k, &klen))
            return;
        if (klen == 14 && memcmp(k, "max_frame_size", 14) == 0 && mp_read_uint(&r->rest, &v)) {
            c->max_frame_size = v;
            continue;
        }
        if (klen == 16 && memcmp(k, "max_request_keys", 16) == 0 && mp_read_uint(&r->rest, &v)) {
            c->max_request_keys = v;
            continue;
        }
        if (klen == 3 && memcmp(k, "shm", 3) == 0 && mp_read_bool(&r->rest, shm))
            continue;
        if (!mp_skip_any(&r->rest, 8))
            return;
    }
}

static int _hello_once(cc_client *c, bool ask_shm, struct cc_reply *r)
{
    uint64_t id;
    c->out.len = 0;
    size_t start = cc_req_begin(c, CC_OP_HELLO, 2, &id);
    msgpack_pack_uint32(&c->pk, CC_PROTOCOL_VERSION);
    int nopts = (c->ns ? 1 : 0) + (c->client_name ? 1 : 0) + (ask_shm ? 1 : 0);
    msgpack_pack_map(&c->pk, (size_t)nopts);
    if (c->ns) {
        cc_pack_str(c, "namespace");
        cc_pack_str(c, c->ns);
    }
    if (c->client_name) {
        cc_pack_str(c, "client");
        cc_pack_str(c, c->client_name);
    }
    if (ask_shm) {
        cc_pack_str(c, "shm");
        cc_pack_str(c, "r");
    }
    cc_req_end(c, start);
    c->in_hello = true;
    int st = cc_roundtrip(c, id, r);
    c->in_hello = false;
    return st;
}

/* The region HELLO's reply brought (shm: true and a descriptor), if any: mapped, or
 * refused (and then not asked for again by this client). A descriptor without shm: true
 * is closed. */
static void _hello_region(cc_client *c, bool asked, bool shm)
{
    int fd = c->hello_fd;
    c->hello_fd = -1;
    if (fd < 0 || !shm) {
        if (fd >= 0)
            close(fd);
        /* asked, and this server has no region (off, or a new server without one): a region
         * held from an earlier connection is not this server's to read */
        if (asked)
            cc_shm_forget_path(c);
        return;
    }
    if (cc_shm_attach(c, fd) != 0)
        c->shm_ask = false;
}

static int _hello(cc_client *c)
{
    struct cc_reply r;
    bool ask = c->shm_ask;
    int st = _hello_once(c, ask, &r);
    if (ask && st == CC_E_BAD_ARGS && strstr(c->err, "unknown HELLO option")) {
        /* a server older than the shared-memory region: ask it no more */
        c->shm_ask = false;
        st = _hello_once(c, false, &r);
    }
    if (st == CC_OK) {
        bool shm = false;
        _hello_limits(c, &r, &shm);
        cc_reply_free(&r);
        _hello_region(c, ask && c->shm_ask, shm);
    } else if (st < 200)
        _close(c); /* the server refused the handshake: do not keep a half-set-up connection */
    if (c->hello_fd >= 0) { /* a refused HELLO's reply came with one: not ours to keep */
        close(c->hello_fd);
        c->hello_fd = -1;
    }
    return st;
}

/* Bumped in every child after fork(). Comparing it is cheaper than a getpid() system call
 * on each request (glibc no longer caches the pid). */
static volatile unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void _in_child(void) { fork_generation++; }
unsigned cc_fork_gen(void) { return fork_generation; }
static void _register_atfork(void) { pthread_atfork(NULL, NULL, _in_child); }

/* The NAMESPACE cc_select_ns left owed, sent and answered before the caller's request (which
 * waits in saved). */
static int _pay_ns(cc_client *c)
{
    c->ns_owed = false;
    struct cc_buf saved = cc_out_stash(c);
    uint64_t id;
    size_t start = cc_req_begin(c, CC_OP_NAMESPACE, 1, &id);
    cc_pack_str(c, c->ns ? c->ns : "");
    cc_req_end(c, start);
    struct cc_reply r;
    int st = cc_roundtrip(c, id, &r);
    if (st == CC_OK)
        cc_reply_free(&r);
    else if (st < 200)
        cc_disconnect(c); /* the next call connects, and HELLO selects the namespace */
    cc_out_restore(c, saved);
    return st;
}

int cc_conn_ensure(cc_client *c)
{
    if (c->fd >= 0 && c->fork_gen != fork_generation) {
        /* forked: the parent's socket is not ours to use; close our copy only */
        close(c->fd);
        c->fd = -1;
    }
    if (c->fd >= 0)
        return c->ns_owed && !c->in_hello ? _pay_ns(c) : CC_OK;
    c->ns_owed = false; /* HELLO selects c->ns */
    c->in.len = 0;
    c->in_off = 0;
    c->max_frame_size = 0; /* until this server's HELLO says */
    c->max_request_keys = 0;
    int st = _connect_socket(c, cc_deadline(c->connect_timeout_ms));
    if (st != CC_OK)
        return st;
    pthread_once(&atfork_once, _register_atfork);
    c->fork_gen = fork_generation;
    /* the handshake goes out before the caller's request, which is still being encoded in
     * out: save and restore it */
    struct cc_buf saved = cc_out_stash(c);
    st = _hello(c);
    cc_out_restore(c, saved);
    return st;
}

/* A frame in out longer than the server's max_frame_size: the server would answer
 * E_FRAME_TOO_LARGE and close the connection, and the caller would see only a broken pipe.
 * Refuse the whole write before sending anything; the connection stays usable. */
static int _check_frames(cc_client *c)
{
    if (!c->max_frame_size)
        return CC_OK;
    for (size_t off = 0; off + CC_FRAME_HEADER_SIZE <= c->out.len;) {
        uint64_t len = cc_be32_read(c->out.data + off);
        if (len > c->max_frame_size) {
            c->out.len = 0;
            return cc_fail(c, CC_E_FRAME_TOO_LARGE,
                           "request of %llu bytes exceeds the server's max_frame_size %llu: "
                           "store a value this large in pieces with APPEND (cc_append, "
                           "cache-cli append, PHP append() or the cache:// stream wrapper)",
                           (unsigned long long)len, (unsigned long long)c->max_frame_size);
        }
        off += CC_FRAME_HEADER_SIZE + len;
    }
    return CC_OK;
}

int cc_conn_send(cc_client *c, int64_t deadline)
{
    int st = _check_frames(c);
    if (st != CC_OK)
        return st;
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            st = _wait(c, POLLOUT, deadline);
            if (st)
                return st;
            continue;
        }
        return cc_fail(c, CC_E_IO, "connection lost while sending: %s",
                       n < 0 ? strerror(errno) : "closed");
    }
    return CC_OK;
}

ssize_t cc_recv_fd(int s, void *buf, size_t len, int *keep)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                       .msg_controllen = sizeof(ctl.b)};
    ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 || m.msg_controllen == 0)
        return n;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (keep && *keep < 0)
                *keep = fd;
            else
                close(fd);
        }
    }
    return n;
}

/* Make at least `need` unconsumed bytes available in c->in. */
static int _fill(cc_client *c, size_t need, int64_t deadline)
{
    while (c->in.len - c->in_off < need) {
        if (c->in_off > 0 && c->in_off == c->in.len) {
            c->in.len = c->in_off = 0;
        }
        size_t want = need - (c->in.len - c->in_off);
        if (want < CC_READ_CHUNK)
            want = CC_READ_CHUNK;
        if (c->in.cap - c->in.len < want) {
            if (c->in_off > 0) { /* compact before growing */
                memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
                c->in.len -= c->in_off;
                c->in_off = 0;
            }
            if (c->in.cap - c->in.len < want) {
                size_t ncap = c->in.len + want;
                uint8_t *nd = realloc(c->in.data, ncap);
                if (!nd)
                    return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory reading a reply");
                c->in.data = nd;
                c->in.cap = ncap;
            }
        }
        if (c->in.len == c->in_off) {
            /* nothing buffered: the reply is rarely there yet, so wait before reading (one
             * syscall fewer than a read that fails with EAGAIN first) */
            int st = _wait(c, POLLIN, deadline);
            if (st)
                return st;
        }
        /* a descriptor arrives only with HELLO's reply; any other is closed at once */
        ssize_t n = cc_recv_fd(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len,
                               c->in_hello ? &c->hello_fd : NULL);
        if (n > 0) {
            c->in.len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int st = _wait(c, POLLIN, deadline);
            if (st)
                return st;
            continue;
        }
        return cc_fail(c, CC_E_IO, "connection lost while reading a reply: %s",
                       n < 0 ? strerror(errno) : "closed by the server");
    }
    return CC_OK;
}

int cc_conn_recv(cc_client *c, struct cc_reply *r, int64_t deadline)
{
    memset(r, 0, sizeof(*r));
    int st = _fill(c, CC_FRAME_HEADER_SIZE, deadline);
    if (st)
        return st;
    size_t len = cc_be32_read(c->in.data + c->in_off);
    st = _fill(c, CC_FRAME_HEADER_SIZE + len, deadline);
    if (st)
        return st;
    c->in_off += CC_FRAME_HEADER_SIZE;
    if (c->in_off == 0 + CC_FRAME_HEADER_SIZE && c->in.len == c->in_off + len &&
        len >= CC_READ_CHUNK) {
        /* a large reply that is the whole buffer: hand the buffer over instead of copying */
        memmove(c->in.data, c->in.data + CC_FRAME_HEADER_SIZE, len);
        r->body = c->in.data;
        c->in = (struct cc_buf){0};
        c->in_off = 0;
    } else {
        r->body = malloc(len ? len : 1);
        if (!r->body)
            return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory reading a reply");
        memcpy(r->body, c->in.data + c->in_off, len);
        c->in_off += len;
    }
    r->len = len;
    return CC_OK;
}
