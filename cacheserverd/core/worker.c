/* The worker pool: N threads, each running its own event_base with the connections handed to
 * it. The main thread hands accepted sockets over through a locked queue and wakes the worker
 * with event_active on a user event (thread-safe: libevent runs with pthread locking). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core-internal.h"
#include "log.h"

struct pending {
    struct pending *next;
    int fd;
    struct core_peer peer;
};

struct worker {
    unsigned id;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct event *ev_wake;     /* activated by the main thread: queue or stop changed */
    struct event *ev_deadline; /* shutdown: close whatever is still open */
    struct event *ev_defer;    /* activated by any thread: a deferred reply is ready */
    pthread_mutex_t lock;      /* guards head, tail, stop, done, and ev_defer's activation */
    struct pending *head, *tail;
    bool stop;
    struct core_defer *done;   /* completed deferred replies, newest first */
    /* Worker thread only: */
    bool draining;
    struct conn *conns;
    size_t nconns;
    size_t deferred;           /* tokens taken and not yet processed: shutdown waits */
};

/* Draining ends when no connection is left and no deferred reply is outstanding. */
static void _maybe_exit(struct worker *w)
{
    if (w->draining && !w->nconns && !w->deferred)
        event_base_loopexit(w->base, NULL);
}

static struct worker *workers;
static unsigned nworkers;
static unsigned next_worker; /* main thread only */

static void _drop_pending(struct pending *p)
{
    while (p) {
        struct pending *next = p->next;
        close(p->fd);
        stat_decr(&core_st.connections);
        free(p);
        p = next;
    }
}

static void _on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    if (w->nconns)
        log_warn("worker %u: %zu connections still had output pending at the shutdown "
                 "deadline; closing them", w->id, w->nconns);
    while (w->conns)
        conn_close(w->conns);
    if (w->deferred)
        log_warn("worker %u: waiting for %zu deferred replies before exiting", w->id, w->deferred);
    _maybe_exit(w);
}

static void _start_drain(struct worker *w)
{
    w->draining = true;
    if (!w->nconns) {
        _maybe_exit(w);
        return;
    }
    uint64_t ms = option_get_u(&core_opts.shutdown_timeout_ms);
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(w->ev_deadline, &tv);
    /* conn_drain may close c (and unlink it): take the next one first. The last close
     * ends the loop (worker_conn_closed). */
    for (struct conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        conn_drain(c);
    }
}

static void _on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    pthread_mutex_lock(&w->lock);
    struct pending *p = w->head;
    w->head = w->tail = NULL;
    bool stop = w->stop;
    pthread_mutex_unlock(&w->lock);

    if (stop || w->draining) {
        _drop_pending(p);
        if (!w->draining)
            _start_drain(w);
        return;
    }
    while (p) {
        struct pending *next = p->next;
        conn_open(w, w->base, p->fd, &p->peer);
        free(p);
        p = next;
    }
}

static void *_thread_main(void *arg)
{
    struct worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    if (core_h->thread_exit)
        core_h->thread_exit();
    return NULL;
}

void worker_conn_linked(struct worker *w, struct conn *c)
{
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
}

void worker_conn_closed(struct worker *w, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    _maybe_exit(w);
}

void worker_defer_taken(struct worker *w) { w->deferred++; }

/* Any thread: a disk read's I/O thread, the writer (a reply held until durable), the link
 * thread (WAIT), or the worker itself. The wake-up is made under w->lock and must stay
 * there: the worker takes d only under w->lock (_on_defer), and at shutdown it exits once
 * it has processed its last deferred reply, after which the main thread frees its event
 * base (worker_pool_teardown). With the wake-up after the unlock, as it once was, d was the
 * worker's to take before the wake-up was done: a completing thread that lost the CPU
 * there, or waited inside event_active for the base lock the worker's loop held, let the
 * worker take d, exit and have its base freed, then locked the freed base's lock and
 * blocked for ever, and the main thread with it, joining that thread in tiering_teardown
 * (issue 14; tests/tier/test_shutdown.c). Now the worker cannot take d, so cannot exit,
 * before event_active returned, and nothing touches w after the unlock. No lock is added:
 * w->lock was taken already, and no thread holds a base lock when it takes w->lock (the
 * worker takes it in callbacks, which libevent runs with its lock released), so the order
 * w->lock -> base lock has no reverse. Only the completion that finds the list empty wakes
 * the worker: a list that is not empty had its wake-up made under this lock and not yet
 * consumed, as _on_defer empties the list under the lock before it processes it. */
void worker_defer_done(struct core_defer *d)
{
    struct worker *w = d->w;
    pthread_mutex_lock(&w->lock);
    bool wake = !w->done;
    d->next = w->done;
    w->done = d;
    if (wake)
        event_active(w->ev_defer, EV_READ, 0);
    pthread_mutex_unlock(&w->lock);
}

static void _on_defer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    pthread_mutex_lock(&w->lock);
    struct core_defer *d = w->done, *rev = NULL;
    w->done = NULL;
    pthread_mutex_unlock(&w->lock);
    while (d) { /* oldest first */
        struct core_defer *next = d->next;
        d->next = rev;
        rev = d;
        d = next;
    }
    for (d = rev; d;) {
        struct core_defer *next = d->next;
        struct conn *c = d->c;
        w->deferred--;
        if (c) {
            conn_defer_fill(c, d); /* c owns d from here */
        } else {
            d->fill(d->arg, NULL);
            free(d);
        }
        d = next;
    }
    _maybe_exit(w);
}

int worker_pool_setup(unsigned n)
{
    workers = calloc(n, sizeof(*workers));
    if (!workers)
        return -1;
    nworkers = n;
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &workers[i];
        w->id = i;
        pthread_mutex_init(&w->lock, NULL);
        w->base = event_base_new();
        if (!w->base)
            goto fail;
        w->ev_wake = event_new(w->base, -1, 0, _on_wake, w);
        w->ev_deadline = evtimer_new(w->base, _on_deadline, w);
        w->ev_defer = event_new(w->base, -1, 0, _on_defer, w);
        if (!w->ev_wake || !w->ev_deadline || !w->ev_defer)
            goto fail;
    }
    /* Workers never handle signals: the main thread's loop owns them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < n; i++) {
        int rc = pthread_create(&workers[i].thread, NULL, _thread_main, &workers[i]);
        if (rc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            log_error("cannot start worker thread %u: %s", i, strerror(rc));
            worker_pool_stop();
            worker_pool_teardown();
            return -1;
        }
        char name[32]; /* top -H, perf and gdb tell the threads apart by these */
        snprintf(name, sizeof(name), "csd-worker-%u", i);
        name[15] = '\0'; /* the kernel keeps 15 characters */
        pthread_setname_np(workers[i].thread, name);
        workers[i].started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
fail:
    log_error("out of memory creating worker event loops");
    worker_pool_teardown();
    return -1;
}

void worker_pool_dispatch(int fd, const struct core_peer *peer)
{
    struct pending *p = malloc(sizeof(*p));
    if (!p) {
        log_error("out of memory handing a connection to a worker");
        close(fd);
        stat_decr(&core_st.connections);
        return;
    }
    p->next = NULL;
    p->fd = fd;
    p->peer = *peer;
    struct worker *w = &workers[next_worker++ % nworkers];
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = p;
    else
        w->head = p;
    w->tail = p;
    pthread_mutex_unlock(&w->lock);
    event_active(w->ev_wake, EV_READ, 0);
}

void worker_pool_stop(void)
{
    for (unsigned i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        if (!w->started)
            continue;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_mutex_unlock(&w->lock);
        event_active(w->ev_wake, EV_READ, 0);
    }
    for (unsigned i = 0; i < nworkers; i++) {
        if (workers[i].started) {
            pthread_join(workers[i].thread, NULL);
            workers[i].started = false;
        }
    }
}

void worker_pool_teardown(void)
{
    if (!workers)
        return;
    for (unsigned i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        /* Threads are joined: whatever is left is closed from here. */
        while (w->conns)
            conn_close(w->conns);
        _drop_pending(w->head);
        if (w->ev_wake)
            event_free(w->ev_wake);
        if (w->ev_deadline)
            event_free(w->ev_deadline);
        if (w->ev_defer)
            event_free(w->ev_defer);
        if (w->base)
            event_base_free(w->base);
        pthread_mutex_destroy(&w->lock);
    }
    free(workers);
    workers = NULL;
    nworkers = 0;
    next_worker = 0;
}
