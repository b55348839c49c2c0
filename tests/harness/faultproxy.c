/* Fault-injection TCP proxy (faultproxy.h). One pthread runs a poll() loop over the listening
 * socket, a wake pipe and every connection pair; all sockets are non-blocking. The test thread
 * changes settings under the mutex and waits until the proxy thread acknowledges them at the
 * top of its next loop iteration, so a setter has taken effect when it returns. */
#include "faultproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define FP_MAX_PAIRS 256
#define FP_READ_MAX (64u * 1024)
#define FP_ACCEPTS_PER_LOOP 64
#define FP_MAX_WAIT_MS 1000
#define FP_SYNC_TIMEOUT_MS 10000

enum { PAIR_HOLD, PAIR_CONNECTING, PAIR_OPEN };

struct chunk {
    struct chunk *next;
    uint64_t ready_us; /* not forwarded before this time (delay) */
    size_t len, off;
    uint8_t data[];
};

/* One direction: read from fd[dir], written to fd[1 - dir]. */
struct dirbuf {
    struct chunk *head, *tail;
    size_t bytes;      /* buffered, bounded by FAULTPROXY_BUFFER */
    bool eof;          /* the source sent FIN */
    bool shut;         /* FIN passed on to the destination */
    double tokens;     /* throttle token bucket */
    uint64_t tok_us;   /* last refill */
    uint64_t tok_gen;  /* throttle setting the bucket belongs to */
};

struct pair {
    int fd[2]; /* 0 = client (accepted), 1 = target (-1 while PAIR_HOLD) */
    int state;
    int pidx[2]; /* index in the pollfd array, -1 when not polled */
    struct dirbuf d[2];
};

struct settings {
    bool refuse, blackhole, stop;
    unsigned delay_ms;
    uint64_t throttle;
    uint64_t throttle_gen;
};

struct faultproxy {
    uint16_t port, target;
    int lfd;
    int wake[2];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct settings set;  /* under mu */
    uint64_t cut_req;     /* under mu */
    uint64_t req, ack;    /* under mu: setting changes asked for / acknowledged */
    /* proxy thread only */
    struct pair *pairs[FP_MAX_PAIRS];
    int npairs;
    uint64_t cut_done;
    struct pollfd *pfd;
    uint8_t scratch[FP_READ_MAX];
    /* atomics */
    uint64_t conns;
    uint64_t bytes[2];
};

static uint64_t _now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void _reset_close(int fd)
{
    if (fd < 0)
        return;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void _nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void _pair_free(struct faultproxy *p, int i, bool reset)
{
    struct pair *pr = p->pairs[i];
    for (int s = 0; s < 2; s++) {
        if (reset)
            _reset_close(pr->fd[s]);
        else if (pr->fd[s] >= 0)
            close(pr->fd[s]);
        struct chunk *c = pr->d[s].head;
        while (c) {
            struct chunk *n = c->next;
            free(c);
            c = n;
        }
    }
    free(pr);
    p->pairs[i] = p->pairs[--p->npairs];
    p->pairs[p->npairs] = NULL;
}

static void _wake(struct faultproxy *p)
{
    char b = 1;
    ssize_t n = write(p->wake[1], &b, 1); /* a full pipe already wakes the thread */
    (void)n;
}

static void _accept(struct faultproxy *p, const struct settings *s)
{
    for (int k = 0; k < FP_ACCEPTS_PER_LOOP && p->npairs < FP_MAX_PAIRS; k++) {
        int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: try again on the next POLLIN */
        __atomic_add_fetch(&p->conns, 1, __ATOMIC_SEQ_CST);
        if (s->refuse) {
            _reset_close(fd);
            continue;
        }
        struct pair *pr = calloc(1, sizeof(*pr));
        if (!pr) {
            _reset_close(fd);
            continue;
        }
        _nodelay(fd);
        pr->fd[0] = fd;
        pr->fd[1] = -1;
        pr->state = PAIR_HOLD;
        p->pairs[p->npairs++] = pr;
    }
}

/* Start the non-blocking connect to the target; false if it failed at once. */
static bool _connect(struct faultproxy *p, struct pair *pr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    _nodelay(fd);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p->target),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    pr->fd[1] = fd;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        pr->state = PAIR_OPEN;
        return true;
    }
    if (errno == EINPROGRESS || errno == EINTR) {
        pr->state = PAIR_CONNECTING;
        return true;
    }
    return false;
}

static void _refill(struct dirbuf *d, const struct settings *s, uint64_t now)
{
    if (d->tok_gen != s->throttle_gen) {
        d->tok_gen = s->throttle_gen;
        d->tokens = 0;
        d->tok_us = now;
    }
    if (!s->throttle)
        return;
    double cap = (double)s->throttle / 10;
    if (cap < 1)
        cap = 1;
    d->tokens += (double)s->throttle * (double)(now - d->tok_us) / 1e6;
    if (d->tokens > cap)
        d->tokens = cap;
    d->tok_us = now;
}

/* How long (us) until the head chunk of d may be written; 0 = now. */
static uint64_t _wait_us(struct dirbuf *d, const struct settings *s, uint64_t now)
{
    if (!d->head)
        return UINT64_MAX;
    if (d->head->ready_us > now)
        return d->head->ready_us - now;
    if (!s->throttle)
        return 0;
    _refill(d, s, now);
    double cap = (double)s->throttle / 10;
    if (cap < 1)
        cap = 1;
    double want = (double)(d->head->len - d->head->off);
    if (want > cap)
        want = cap;
    if (d->tokens >= want || d->tokens >= 1)
        return 0;
    return (uint64_t)((want - d->tokens) * 1e6 / (double)s->throttle) + 1;
}

/* Read once from the source of direction dir. false: the pair must be reset. */
static bool _read(struct faultproxy *p, struct pair *pr, int dir, const struct settings *s,
                  uint64_t now)
{
    struct dirbuf *d = &pr->d[dir];
    size_t room = FAULTPROXY_BUFFER - d->bytes;
    if (room > FP_READ_MAX)
        room = FP_READ_MAX;
    ssize_t n = recv(pr->fd[dir], p->scratch, room, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0) {
        d->eof = true;
        return true;
    }
    struct chunk *c = malloc(sizeof(*c) + (size_t)n);
    if (!c)
        return false;
    memcpy(c->data, p->scratch, (size_t)n);
    c->len = (size_t)n;
    c->off = 0;
    c->next = NULL;
    c->ready_us = now + (uint64_t)s->delay_ms * 1000;
    if (d->tail)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    d->bytes += (size_t)n;
    return true;
}

/* Write what direction dir may send now. false: the pair must be reset. */
static bool _write(struct faultproxy *p, struct pair *pr, int dir, const struct settings *s,
                   uint64_t now)
{
    struct dirbuf *d = &pr->d[dir];
    int fd = pr->fd[1 - dir];
    while (d->head && _wait_us(d, s, now) == 0) {
        struct chunk *c = d->head;
        size_t len = c->len - c->off;
        if (s->throttle && (double)len > d->tokens)
            len = (size_t)d->tokens;
        ssize_t n = send(fd, c->data + c->off, len, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        __atomic_add_fetch(&p->bytes[dir], (uint64_t)n, __ATOMIC_SEQ_CST);
        if (s->throttle)
            d->tokens -= (double)n;
        c->off += (size_t)n;
        d->bytes -= (size_t)n;
        if (c->off == c->len) {
            d->head = c->next;
            if (!d->head)
                d->tail = NULL;
            free(c);
        }
        if ((size_t)n < len)
            break; /* socket buffer full */
    }
    if (d->eof && !d->head && !d->shut) {
        shutdown(fd, SHUT_WR);
        d->shut = true;
    }
    return true;
}

static void _cut_all(struct faultproxy *p)
{
    while (p->npairs > 0)
        _pair_free(p, p->npairs - 1, true);
}

static int _add_pfd(struct faultproxy *p, int *n, int fd, short events)
{
    if (!events)
        return -1;
    p->pfd[*n] = (struct pollfd){.fd = fd, .events = events};
    return (*n)++;
}

static void *_run(void *arg)
{
    struct faultproxy *p = arg;
    for (;;) {
        struct settings s;
        pthread_mutex_lock(&p->mu);
        s = p->set;
        if (p->cut_req != p->cut_done) {
            _cut_all(p);
            p->cut_done = p->cut_req;
        }
        p->ack = p->req;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
        if (s.stop)
            break;

        uint64_t now = _now_us();
        /* Start held connections (none while blackholed); drop those that fail at once. */
        for (int i = p->npairs - 1; i >= 0; i--) {
            struct pair *pr = p->pairs[i];
            if (pr->state == PAIR_HOLD && !s.blackhole && !_connect(p, pr))
                _pair_free(p, i, true);
        }

        int n = 0;
        uint64_t wait = (uint64_t)FP_MAX_WAIT_MS * 1000;
        _add_pfd(p, &n, p->wake[0], POLLIN);
        int lidx = _add_pfd(p, &n, p->lfd, p->npairs < FP_MAX_PAIRS ? POLLIN : 0);
        for (int i = 0; i < p->npairs; i++) {
            struct pair *pr = p->pairs[i];
            pr->pidx[0] = pr->pidx[1] = -1;
            if (pr->state == PAIR_CONNECTING) {
                pr->pidx[1] = _add_pfd(p, &n, pr->fd[1], POLLOUT);
                continue;
            }
            if (pr->state != PAIR_OPEN || s.blackhole)
                continue;
            short ev[2] = {0, 0};
            for (int dir = 0; dir < 2; dir++) {
                struct dirbuf *d = &pr->d[dir];
                if (!d->eof && d->bytes < FAULTPROXY_BUFFER)
                    ev[dir] |= POLLIN;
                uint64_t w = _wait_us(d, &s, now);
                if (w == 0)
                    ev[1 - dir] |= POLLOUT;
                else if (w < wait)
                    wait = w;
            }
            pr->pidx[0] = _add_pfd(p, &n, pr->fd[0], ev[0]);
            pr->pidx[1] = _add_pfd(p, &n, pr->fd[1], ev[1]);
        }

        int rc = poll(p->pfd, (nfds_t)n, (int)((wait + 999) / 1000));
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "faultproxy: poll: %s\n", strerror(errno));
            break; /* cannot happen with valid fds; the setters then time out loudly */
        }
        if (rc <= 0)
            rc = 0;
        if (rc > 0 && (p->pfd[0].revents & POLLIN)) {
            char buf[64];
            while (read(p->wake[0], buf, sizeof(buf)) > 0)
                ;
        }
        now = _now_us();
        for (int i = p->npairs - 1; i >= 0; i--) {
            struct pair *pr = p->pairs[i];
            bool ok = true;
            if (pr->state == PAIR_CONNECTING) {
                if (pr->pidx[1] < 0 || !p->pfd[pr->pidx[1]].revents)
                    continue;
                int err = 0;
                socklen_t el = sizeof(err);
                if (getsockopt(pr->fd[1], SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
                    ok = false;
                else
                    pr->state = PAIR_OPEN;
            } else if (pr->state == PAIR_OPEN && !s.blackhole) {
                for (int dir = 0; dir < 2 && ok; dir++) {
                    int idx = pr->pidx[dir];
                    if (idx >= 0 && (p->pfd[idx].events & POLLIN) && p->pfd[idx].revents)
                        ok = _read(p, pr, dir, &s, now);
                }
                for (int dir = 0; dir < 2 && ok; dir++)
                    ok = _write(p, pr, dir, &s, now);
                if (ok && pr->d[0].shut && pr->d[1].shut) {
                    _pair_free(p, i, false);
                    continue;
                }
            }
            if (!ok)
                _pair_free(p, i, true);
        }
        /* Accept last: new pairs have no pollfd slot in this round. */
        if (lidx >= 0 && p->pfd[lidx].revents)
            _accept(p, &s);
    }
    return NULL;
}

static void _setup_fail(struct faultproxy *p, const char *what)
{
    int e = errno;
    if (p) {
        if (p->lfd >= 0)
            close(p->lfd);
        if (p->wake[0] >= 0)
            close(p->wake[0]);
        if (p->wake[1] >= 0)
            close(p->wake[1]);
        free(p->pfd);
        free(p);
    }
    fprintf(stderr, "faultproxy: %s: %s\n", what, strerror(e));
    fail_msg("faultproxy: %s: %s", what, strerror(e));
}

struct faultproxy *faultproxy_start(uint16_t target_port)
{
    struct faultproxy *p = calloc(1, sizeof(*p));
    if (!p)
        _setup_fail(NULL, "calloc");
    p->lfd = p->wake[0] = p->wake[1] = -1;
    p->target = target_port;
    p->pfd = calloc(2 + 2 * FP_MAX_PAIRS, sizeof(*p->pfd));
    if (!p->pfd)
        _setup_fail(p, "calloc");
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        _setup_fail(p, "pipe2");
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->lfd < 0)
        _setup_fail(p, "socket");
    int one = 1;
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        _setup_fail(p, "bind 127.0.0.1:0");
    if (listen(p->lfd, 128) != 0)
        _setup_fail(p, "listen");
    if (getsockname(p->lfd, (struct sockaddr *)&sa, &sl) != 0)
        _setup_fail(p, "getsockname");
    p->port = ntohs(sa.sin_port);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    int rc = pthread_create(&p->thread, NULL, _run, p);
    if (rc != 0) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        errno = rc;
        _setup_fail(p, "pthread_create");
    }
    return p;
}

uint16_t faultproxy_port(const struct faultproxy *p) { return p->port; }

/* Called with mu held after changing settings: wait until the proxy thread has seen them. */
static void _sync_locked(struct faultproxy *p)
{
    uint64_t want = ++p->req;
    _wake(p);
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += FP_SYNC_TIMEOUT_MS / 1000;
    while (p->ack < want) {
        if (pthread_cond_timedwait(&p->cond, &p->mu, &dl) == ETIMEDOUT && p->ack < want) {
            pthread_mutex_unlock(&p->mu);
            fail_msg("faultproxy: the proxy thread did not answer within %d ms",
                     FP_SYNC_TIMEOUT_MS);
        }
    }
}

void faultproxy_cut(struct faultproxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->cut_req++;
    _sync_locked(p);
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_refuse(struct faultproxy *p, bool on)
{
    pthread_mutex_lock(&p->mu);
    p->set.refuse = on;
    _sync_locked(p);
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_blackhole(struct faultproxy *p, bool on)
{
    pthread_mutex_lock(&p->mu);
    p->set.blackhole = on;
    _sync_locked(p);
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_delay(struct faultproxy *p, unsigned ms)
{
    pthread_mutex_lock(&p->mu);
    p->set.delay_ms = ms;
    _sync_locked(p);
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_throttle(struct faultproxy *p, uint64_t bytes_per_sec)
{
    pthread_mutex_lock(&p->mu);
    p->set.throttle = bytes_per_sec;
    p->set.throttle_gen++;
    _sync_locked(p);
    pthread_mutex_unlock(&p->mu);
}

uint64_t faultproxy_connections(const struct faultproxy *p)
{
    return __atomic_load_n(&p->conns, __ATOMIC_SEQ_CST);
}

uint64_t faultproxy_bytes(const struct faultproxy *p, int dir)
{
    return __atomic_load_n(&p->bytes[dir ? 1 : 0], __ATOMIC_SEQ_CST);
}

void faultproxy_stop(struct faultproxy **pp)
{
    struct faultproxy *p = *pp;
    if (!p)
        return;
    *pp = NULL;
    pthread_mutex_lock(&p->mu);
    p->set.stop = true;
    _wake(p);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    while (p->npairs > 0)
        _pair_free(p, p->npairs - 1, false);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p->pfd);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
