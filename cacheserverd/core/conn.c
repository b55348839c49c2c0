/* One client connection on its worker thread: reads into an evbuffer, cuts complete frames
 * (4-byte big-endian length + body) and hands each body to the handler, writes replies,
 * applies backpressure (no parsing while output is above max_output_buffer) and closes
 * connections whose output stalls. Also the core_out functions handlers write through. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cacheclient_protocol.h"
#include "clock.h"
#include "core-internal.h"
#include "log.h"

#define CONN_READ_MIN (16u * 1024)   /* read size while no large frame is expected */
#define CONN_READ_MAX (1024u * 1024) /* largest single read into a frame being received */
#define CONN_RECHECK_MS 1000u        /* stall timer period while output_timeout_ms is 0 */
/* A frame at least this long that is not all in yet is read straight into a buffer of its
 * own (c->big) rather than into c->in: c->in would hold it in CONN_READ_MAX pieces, and
 * evbuffer_pullup would then copy all of it into one block in the pass that handles it.
 * For a 64 MiB SET that copy (and its page faults) was a third of the time the pass held
 * the worker, every other connection there waiting (bench/bounds, issue 14). Read straight,
 * the body's pages are touched by the reads, a CONN_READ_MAX at a time, one per pass. The
 * block is allocated when the header arrives (a frame is at most max_frame_size); its pages
 * become resident only as the reads fill them.
 * The block is a mapping of its own (mmap), not malloc's: glibc raises its mmap threshold to
 * the size of any mmapped block freed (up to 32 MiB) and its trim threshold to twice that,
 * so after one such frame the next ones came from a worker's malloc arena, and the pages their
 * reads touched stayed resident after free (the top of an arena is given back only past the
 * trim threshold). Under fuzzed frames announcing large lengths the RSS crept up that way
 * (issue 14; docs/reliability.md, "RSS under fuzzed frames"). munmap gives all of it back. */
#define CONN_DIRECT_MIN (256u * 1024)

static const uint8_t _empty_body[1];

/* c->big's block (see CONN_DIRECT_MIN), or NULL. */
static uint8_t *_big_alloc(uint64_t len)
{
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void _big_free(uint8_t *p, uint64_t len)
{
    if (p)
        munmap(p, (size_t)len);
}
static struct ratelimit rl_slow, rl_large;

/* ---- core_out (handler.h) ---- */

void core_out_add(struct core_out *o, const void *data, size_t len)
{
    if (o->failed || len == 0)
        return;
    if (evbuffer_add(o->buf, data, len) != 0)
        o->failed = true;
}

struct _ref {
    void (*release)(void *arg);
    void *arg;
};

static void _ref_cleanup(const void *data, size_t len, void *extra)
{
    (void)data;
    (void)len;
    struct _ref *r = extra;
    r->release(r->arg);
    free(r);
}

void core_out_add_ref(struct core_out *o, const void *data, size_t len,
                      void (*release)(void *arg), void *arg)
{
    struct _ref *r = NULL;
    if (o->failed || len == 0) {
        if (len)
            o->failed = true;
        release(arg);
        return;
    }
    if (!(r = malloc(sizeof(*r)))) {
        /* no memory for the reference: copy the bytes instead (what evbuffer_add fails
         * on, the connection is closed for) */
        core_out_add(o, data, len);
        release(arg);
        return;
    }
    r->release = release;
    r->arg = arg;
    /* On failure libevent does not call the cleanup: release here, exactly once. */
    if (evbuffer_add_reference(o->buf, data, len, _ref_cleanup, r) != 0) {
        o->failed = true;
        free(r);
        release(arg);
    }
}

/* ---- a descriptor with a reply (handler.h) ---- */

bool core_out_attach_fd(struct core_out *o, int fd)
{
    struct conn *c = o->conn;
    if (!c || fd < 0 || o->failed || c->fd_send >= 0) {
        stat_incr(&core_st.fds_dropped);
        if (c && c->fd_send >= 0)
            log_info("connection %llu: a descriptor is already waiting to be sent; this reply "
                     "goes without one", (unsigned long long)c->peer.conn_id);
        return false;
    }
    c->fd_send = fd;
    c->fd_buf = o->buf;
    c->fd_at = evbuffer_get_length(o->buf);
    return true;
}

/* from (a deferred reply's buffer) is about to be appended to the output: a descriptor
 * pending in it now waits in out.buf, behind what out.buf holds. */
static void _fd_follows(struct conn *c, struct evbuffer *from)
{
    if (c->fd_send >= 0 && c->fd_buf == from) {
        c->fd_at += evbuffer_get_length(c->out.buf);
        c->fd_buf = c->out.buf;
    }
}

/* The output's first bytes (at least one) with the pending descriptor, as sendmsg returns. */
static int _send_fd(struct conn *c)
{
    struct evbuffer_iovec v[8];
    int nv = evbuffer_peek(c->out.buf, 64 * 1024, NULL, v, 8);
    if (nv > 8)
        nv = 8;
    struct iovec iov[8];
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)nv, .msg_control = ctl.b,
                       .msg_controllen = sizeof(ctl.b)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &c->fd_send, sizeof(int));
    ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
        evbuffer_drain(c->out.buf, (size_t)n);
        c->fd_send = -1;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
               errno != EPIPE && errno != ECONNRESET) {
        /* the descriptor, not the socket (EBADF, ETOOMANYREFS...): the bytes go without it */
        log_warn("connection %llu: sending a descriptor: %s; the reply goes without it",
                 (unsigned long long)c->peer.conn_id, strerror(errno));
        stat_incr(&core_st.fds_dropped);
        c->fd_send = -1;
        errno = EINTR; /* try again, as a plain write */
    }
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}

/* ---- deferred replies in order (handler.h) ----
 * A connection's deferred replies form a queue in request order. Each holds, in `after`,
 * the replies of the requests that followed it up to the next deferred one; while the queue
 * is not empty handlers write into c->aout, the newest one's `after`. A fill runs when its
 * completion reaches the worker, in any order: the oldest one writes straight to the output,
 * a later one into its own `reply` buffer. Then every filled reply at the head of the queue
 * moves to the output with what followed it (_defers_out), so the client reads replies in
 * the order of its requests. What may run while replies are deferred is in _may_overtake:
 * reads behind reads, and nothing behind anything else. Before this, a connection parsed
 * nothing while a reply was deferred, so a pipeline of GETs that went to the disk tier
 * waited for one disk read after another (issue 16; docs/performance.md). */

struct core_defer *core_defer_begin(struct core_out *o)
{
    struct conn *c = o->conn;
    if (!c)
        return NULL;
    struct core_defer *d = calloc(1, sizeof(*d));
    struct evbuffer *after = d ? evbuffer_new() : NULL;
    if (!after) {
        free(d);
        return NULL;
    }
    d->w = c->w;
    d->c = c;
    struct core_defer *at = o->slot;
    if (at) {
        /* begun by at's fill (its request runs again and waits again): d takes the place of
         * at's reply, so what followed at now follows d */
        d->after = at->after;
        at->after = after;
        d->reorderable = at->reorderable;
        d->cnext = at->cnext;
        at->cnext = d;
        if (c->dq_tail == at)
            c->dq_tail = d;
    } else {
        d->after = after;
        if (c->dq_tail)
            c->dq_tail->cnext = d;
        else
            c->dq_head = d;
        c->dq_tail = d;
    }
    c->aout.buf = c->dq_tail->after;
    c->ndefers++;
    worker_defer_taken(c->w);
    return d;
}

void core_defer_complete(struct core_defer *d, void (*fill)(void *arg, struct core_out *out),
                         void *arg)
{
    d->fill = fill;
    d->arg = arg;
    worker_defer_done(d);
}

/* ---- helpers ---- */

static size_t _pending(const struct conn *c) { return evbuffer_get_length(c->out.buf); }

static uint64_t _limit(void) { return option_get_u(&core_opts.max_output_buffer); }

static void _read_start(struct conn *c)
{
    if (!c->reading && !c->closing && !c->paused && !c->held) {
        event_add(c->ev_read, NULL);
        c->reading = true;
    }
}

static void _read_stop(struct conn *c)
{
    if (c->reading) {
        event_del(c->ev_read);
        c->reading = false;
    }
}

static void _timer_arm_ms(struct conn *c, uint64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(c->ev_timer, &tv);
}

/* Start the stall clock: progress_us is now, the timer fires when output_timeout_ms passes. */
static void _stall_start(struct conn *c)
{
    uint64_t t = option_get_u(&core_opts.output_timeout_ms);
    c->progress_us = clock_mono_us();
    _timer_arm_ms(c, t ? t : CONN_RECHECK_MS);
}

static void _pause(struct conn *c)
{
    c->paused = true;
    _read_stop(c);
    _stall_start(c);
}

static void _resume(struct conn *c)
{
    c->paused = false;
    if (!c->closing)
        evtimer_del(c->ev_timer);
    _read_start(c);
}

/* No more requests: flush what is pending, then close (see _flush). */
static void _begin_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    _read_stop(c);
    if (!c->paused)
        _stall_start(c);
}

/* Write as much pending output as the socket takes. Returns false if the connection was
 * closed (write error, or closing and everything sent): c is freed then. */
static bool _flush(struct conn *c)
{
    while (_pending(c)) {
        /* a pending descriptor: the bytes before it as usual, then it with the next ones */
        bool fd_next = c->fd_send >= 0 && c->fd_buf == c->out.buf;
        int n = !fd_next       ? evbuffer_write(c->out.buf, c->fd)
                : c->fd_at > 0 ? evbuffer_write_atmost(c->out.buf, c->fd, (ev_ssize_t)c->fd_at)
                               : _send_fd(c);
        if (n > 0) {
            if (fd_next && c->fd_at > 0)
                c->fd_at -= (size_t)n;
            stat_add(&core_st.bytes_written, (uint64_t)n);
            if (c->paused || c->closing)
                c->progress_us = clock_mono_us();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->writing) {
                event_add(c->ev_write, NULL);
                c->writing = true;
            }
            return true;
        }
        if (n < 0 && errno != EPIPE && errno != ECONNRESET)
            log_debug("connection %llu: write: %s", (unsigned long long)c->peer.conn_id,
                      strerror(errno));
        conn_close(c);
        return false;
    }
    if (c->writing) {
        event_del(c->ev_write);
        c->writing = false;
    }
    if (c->closing && !c->ndefers) { /* a deferred reply is still to come: wait for it */
        conn_close(c);
        return false;
    }
    return true;
}

/* Where a handler writes a frame's reply: behind the newest deferred reply, if any. */
static struct core_out *_hout(struct conn *c) { return c->ndefers ? &c->aout : &c->out; }

/* Parsing waits until every deferred reply is out (or fewer are deferred). */
static void _hold(struct conn *c)
{
    c->held = true;
    _read_stop(c);
}

/* Behind deferred replies, whether the request in this complete frame may run now: while
 * fewer than CORE_MAX_DEFERS are deferred, every one of them from a reorderable request, the
 * replies written behind them within max_output_buffer, and this request reorderable too. */
static bool _may_overtake(struct conn *c, const uint8_t *body, size_t len)
{
    if (c->ndefers >= CORE_MAX_DEFERS || !core_h->reorderable)
        return false;
    size_t behind = 0;
    for (const struct core_defer *d = c->dq_head; d; d = d->cnext) {
        if (!d->reorderable)
            return false;
        behind += evbuffer_get_length(d->after) + (d->reply ? evbuffer_get_length(d->reply) : 0);
    }
    return behind <= _limit() && core_h->reorderable(c->session, body, len);
}

/* Hand every complete frame in the input to the handler until the input runs out, output
 * goes above the limit, the connection starts closing, or a frame must wait for deferred
 * replies. Returns false if c was freed. */
static bool _after_frame(struct conn *c, enum core_verdict v);

static bool _cut_frames(struct conn *c)
{
    uint64_t max = option_get_u(&core_opts.max_frame_size);
    while (!c->paused && !c->closing && !c->held) {
        size_t avail = evbuffer_get_length(c->in);
        if (avail < CC_FRAME_HEADER_SIZE) {
            c->need = CC_FRAME_HEADER_SIZE - avail;
            break;
        }
        uint8_t hdr[CC_FRAME_HEADER_SIZE];
        evbuffer_copyout(c->in, hdr, sizeof(hdr));
        uint64_t len = cc_be32_read(hdr);
        if (len > max) {
            uint64_t skipped;
            char note[64];
            stat_incr(&core_st.frames_too_large);
            if (ratelimit_ok(&rl_large, &skipped))
                log_info("connection %llu (pid %d uid %u): frame of %llu bytes is over "
                         "max-frame-size %llu; closing%s",
                         (unsigned long long)c->peer.conn_id, (int)c->peer.pid,
                         (unsigned)c->peer.uid, (unsigned long long)len,
                         (unsigned long long)max, ratelimit_note(skipped, note, sizeof(note)));
            core_h->frame_too_large(c->session, len, max, _hout(c));
            _begin_close(c);
            break;
        }
        if (c->ndefers && len >= CONN_DIRECT_MIN) { /* never read around deferred replies */
            _hold(c);
            break;
        }
        if (avail - CC_FRAME_HEADER_SIZE < len) {
            c->need = len + CC_FRAME_HEADER_SIZE - avail;
            if (len >= CONN_DIRECT_MIN) {
                /* the rest is read into c->big (_on_read), which c->in then precedes no more */
                if (!(c->big = _big_alloc(len))) {
                    log_error("connection %llu: out of memory for a %llu-byte frame",
                              (unsigned long long)c->peer.conn_id, (unsigned long long)len);
                    conn_close(c);
                    return false;
                }
                evbuffer_drain(c->in, CC_FRAME_HEADER_SIZE);
                c->big_len = len;
                c->big_have = avail - CC_FRAME_HEADER_SIZE;
                evbuffer_remove(c->in, c->big, c->big_have);
            }
            break;
        }
        c->need = 0;
        const uint8_t *frame = evbuffer_pullup(c->in, (ev_ssize_t)(CC_FRAME_HEADER_SIZE + len));
        if (!frame) {
            log_error("connection %llu: out of memory for a %llu-byte frame",
                      (unsigned long long)c->peer.conn_id, (unsigned long long)len);
            conn_close(c);
            return false;
        }
        const uint8_t *body = len ? frame + CC_FRAME_HEADER_SIZE : _empty_body;
        if (c->ndefers && !_may_overtake(c, body, len)) {
            _hold(c); /* the frame stays in c->in */
            break;
        }
        enum core_verdict v = core_h->frame(c->session, body, len, _hout(c));
        if (v == CORE_PENDING && c->dq_tail && !c->dq_tail->filled && core_h->reorderable)
            c->dq_tail->reorderable = core_h->reorderable(c->session, body, len);
        evbuffer_drain(c->in, CC_FRAME_HEADER_SIZE + len);
        if (!_after_frame(c, v))
            return false;
    }
    return true;
}

/* A large frame read into c->big: once complete, hand it to the handler (unless parsing is
 * held), then go on with c->in as _cut_frames does. Returns false if c was freed. */
static bool _big_frame(struct conn *c)
{
    if (c->paused || c->closing || c->held)
        return true;
    if (c->big_have < c->big_len) {
        c->need = c->big_len - c->big_have;
        return true;
    }
    c->need = 0;
    uint8_t *body = c->big;
    c->big = NULL;
    /* begun with nothing deferred (_cut_frames), and nothing was parsed since */
    enum core_verdict v = core_h->frame(c->session, body, c->big_len, &c->out);
    /* as with c->in's bytes, the handler keeps no pointer into a body */
    _big_free(body, c->big_len);
    return _after_frame(c, v) && _cut_frames(c);
}

/* After the handler ran on a frame: close on a failed reply, start closing, or pause above
 * the output limit. Returns false if c was freed. */
static bool _after_frame(struct conn *c, enum core_verdict v)
{
    if (c->out.failed || c->aout.failed) {
        log_error("connection %llu: out of memory for a reply; closing",
                  (unsigned long long)c->peer.conn_id);
        conn_close(c);
        return false;
    }
    if (v == CORE_CLOSE) {
        _begin_close(c);
        return true;
    }
    if (_pending(c) > _limit()) {
        if (!_flush(c))
            return false;
        if (_pending(c) > _limit())
            _pause(c);
    }
    return true;
}

/* Parse, write, and resume parsing whenever output has drained below the limit. */
static void _process(struct conn *c)
{
    for (;;) {
        bool alive = (c->big ? _big_frame(c) : _cut_frames(c)) && _flush(c);
        if (core_h->after_flush) /* the replies went out first */
            core_h->after_flush();
        if (!alive || !c->paused || _pending(c) > _limit())
            return;
        _resume(c);
    }
}

/* Move every filled reply at the head of the queue, and what followed it, to the output. */
static void _defers_out(struct conn *c)
{
    struct core_defer *d;
    while ((d = c->dq_head) && d->filled) {
        if (d->reply)
            _fd_follows(c, d->reply);
        if (d->reply && evbuffer_add_buffer(c->out.buf, d->reply) != 0)
            c->out.failed = true;
        _fd_follows(c, d->after);
        if (evbuffer_add_buffer(c->out.buf, d->after) != 0)
            c->out.failed = true;
        if (d->reply)
            evbuffer_free(d->reply);
        evbuffer_free(d->after);
        c->dq_head = d->cnext;
        c->ndefers--;
        free(d);
    }
    if (!c->dq_head)
        c->dq_tail = NULL;
    c->aout.buf = c->dq_tail ? c->dq_tail->after : NULL;
}

void conn_defer_fill(struct conn *c, struct core_defer *d)
{
    /* the oldest writes straight to the output; a later one waits in its own buffer */
    struct core_out o = {.conn = c, .slot = d,
                         .buf = c->dq_head == d ? c->out.buf : (d->reply = evbuffer_new())};
    o.failed = !o.buf;
    d->fill(d->arg, &o);
    d->filled = true; /* c owns d now (_defers_out or conn_close frees it) */
    if (!o.failed)
        _defers_out(c);
    if (o.failed || c->out.failed) {
        log_error("connection %llu: out of memory for a reply; closing",
                  (unsigned long long)c->peer.conn_id);
        conn_close(c);
        return;
    }
    c->held = false; /* parsing goes on, or holds again (_cut_frames) */
    _read_start(c);
    _process(c);
}

/* ---- event callbacks ---- */

static void _read_failed(struct conn *c, ssize_t n);

static void _on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    if (c->big && c->big_have < c->big_len) {
        /* the rest of a large frame, straight into its buffer, a CONN_READ_MAX per pass */
        uint64_t left = c->big_len - c->big_have;
        ssize_t n = read(fd, c->big + c->big_have, left < CONN_READ_MAX ? left : CONN_READ_MAX);
        if (n > 0) {
            c->big_have += (uint64_t)n;
            stat_add(&core_st.bytes_read, (uint64_t)n);
            _process(c);
        } else {
            _read_failed(c, n);
        }
        return;
    }
    size_t want = CONN_READ_MIN;
    if (c->need > want)
        want = c->need < CONN_READ_MAX ? (size_t)c->need : CONN_READ_MAX;
    struct evbuffer_iovec vec[2];
    int nv = evbuffer_reserve_space(c->in, (ev_ssize_t)want, vec, 2);
    if (nv <= 0) {
        log_error("connection %llu: out of memory for input", (unsigned long long)c->peer.conn_id);
        conn_close(c);
        return;
    }
    struct iovec iov[2];
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = vec[i].iov_base;
        iov[i].iov_len = vec[i].iov_len;
    }
    ssize_t n = readv(fd, iov, nv);
    if (n > 0) {
        size_t left = (size_t)n;
        int used = 0;
        for (; used < nv && left; used++) {
            if (vec[used].iov_len > left)
                vec[used].iov_len = left;
            left -= vec[used].iov_len;
        }
        evbuffer_commit_space(c->in, vec, used);
        stat_add(&core_st.bytes_read, (uint64_t)n);
        _process(c);
        return;
    }
    _read_failed(c, n);
}

/* A read returned n <= 0: EOF, a passing condition, or an error. */
static void _read_failed(struct conn *c, ssize_t n)
{
    if (n == 0) {
        /* Peer closed (or half-closed): a partial frame is dropped, replies still go out. */
        if (evbuffer_get_length(c->in) || c->big)
            log_debug("connection %llu: closed by peer mid-frame (%zu bytes dropped)",
                      (unsigned long long)c->peer.conn_id,
                      evbuffer_get_length(c->in) + (size_t)(c->big ? c->big_have : 0));
        _begin_close(c);
        _flush(c);
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
    if (errno != ECONNRESET)
        log_debug("connection %llu: read: %s", (unsigned long long)c->peer.conn_id,
                  strerror(errno));
    conn_close(c);
}

static void _on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    _process(arg);
}

/* The stall timer: close when output has made no progress for output_timeout_ms while above
 * the limit (counted as dropped_slow) or while closing. */
static void _on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (!c->paused && !c->closing)
        return;
    uint64_t t = option_get_u(&core_opts.output_timeout_ms);
    if (t == 0) {
        _timer_arm_ms(c, CONN_RECHECK_MS);
        return;
    }
    uint64_t idle_us = clock_mono_us() - c->progress_us;
    if (idle_us < t * 1000) {
        _timer_arm_ms(c, t - idle_us / 1000);
        return;
    }
    if (c->paused) {
        uint64_t skipped;
        char note[64];
        stat_incr(&core_st.connections_dropped_slow);
        if (ratelimit_ok(&rl_slow, &skipped))
            log_warn("connection %llu (pid %d uid %u): closed, no reply progress for %llu ms "
                     "with %zu bytes pending%s",
                     (unsigned long long)c->peer.conn_id, (int)c->peer.pid,
                     (unsigned)c->peer.uid, (unsigned long long)t, _pending(c),
                     ratelimit_note(skipped, note, sizeof(note)));
    }
    conn_close(c);
}

/* ---- lifecycle ---- */

void conn_open(struct worker *w, struct event_base *base, int fd, const struct core_peer *peer)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        stat_decr(&core_st.connections);
        log_error("out of memory accepting a connection");
        return;
    }
    c->w = w;
    c->fd = fd;
    c->fd_send = -1;
    c->peer = *peer;
    c->in = evbuffer_new();
    c->out.buf = evbuffer_new();
    c->out.conn = c;
    c->aout.conn = c; /* its buf is set while replies are deferred */
    c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, _on_read, c);
    c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, _on_write, c);
    c->ev_timer = evtimer_new(base, _on_timer, c);
    worker_conn_linked(w, c);
    if (!c->in || !c->out.buf || !c->ev_read || !c->ev_write || !c->ev_timer) {
        log_error("out of memory accepting a connection");
        conn_close(c);
        return;
    }
    c->session = core_h->session_open(core_h->ctx, peer);
    if (!c->session) {
        conn_close(c);
        return;
    }
    _read_start(c);
}

void conn_drain(struct conn *c)
{
    _begin_close(c);
    _flush(c);
}

void conn_close(struct conn *c)
{
    for (struct core_defer *d = c->dq_head, *next; d; d = next) {
        next = d->cnext;
        if (d->reply)
            evbuffer_free(d->reply); /* runs the release callbacks of unsent references */
        evbuffer_free(d->after);
        if (d->filled) {
            free(d);
        } else {
            d->reply = d->after = NULL;
            d->c = NULL; /* its completion frees what it holds (fill with out NULL) */
        }
    }
    if (c->out.buf)
        evbuffer_free(c->out.buf); /* runs the release callbacks of unsent references */
    if (c->session)
        core_h->session_close(c->session);
    if (c->ev_read)
        event_free(c->ev_read);
    if (c->ev_write)
        event_free(c->ev_write);
    if (c->ev_timer)
        event_free(c->ev_timer);
    if (c->in)
        evbuffer_free(c->in);
    _big_free(c->big, c->big_len);
    close(c->fd);
    stat_decr(&core_st.connections);
    worker_conn_closed(c->w, c);
    free(c);
}

void conn_reject(int fd)
{
    struct core_out o = {.buf = evbuffer_new()};
    if (o.buf) {
        core_h->too_many_connections(&o);
        /* A fresh socket's buffer takes a short reply whole; nothing more is tried. */
        if (!o.failed)
            evbuffer_write(o.buf, fd);
        evbuffer_free(o.buf);
    }
    close(fd);
}
