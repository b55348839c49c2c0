/* WAIT (repl.h): callers on worker threads register a waiter for the backlog's head; the link
 * thread counts, after every acknowledgment and at each waiter's deadline, the peers whose
 * acknowledged position reached it, and calls the waiter back once enough did or its time is
 * up. The list is short (one entry per waiting connection), so it is walked whole. */
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "repl-internal.h"
#include "repl.h"

struct waiter {
    struct waiter *next;
    uint64_t target;      /* backlog offset every change before the call ends at */
    unsigned replicas;
    uint64_t deadline_us; /* monotonic */
    repl_wait_fn done;
    void *arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiter *waiters;     /* guarded by lock */
static bool released;              /* guarded by lock: shutting down, answer at once */
static struct event *wake_ev, *timer_ev;

static unsigned _count(uint64_t target)
{
    unsigned n = 0;
    for (int i = 0; i < repl.npeers; i++)
        if (repl.peers[i].acked.offset >= target)
            n++;
    return n;
}

/* On the link thread: answer every waiter that is satisfied or out of time (all of them
 * once released), and arm the timer for the next deadline. */
static void _check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    uint64_t now = clock_mono_us(), next = 0;
    struct waiter *ready = NULL;
    pthread_mutex_lock(&lock);
    for (struct waiter **w = &waiters; *w;) {
        struct waiter *x = *w;
        unsigned n = _count(x->target);
        if (released || n >= x->replicas || now >= x->deadline_us) {
            *w = x->next;
            x->replicas = n; /* the answer */
            x->next = ready;
            ready = x;
            continue;
        }
        if (!next || x->deadline_us < next)
            next = x->deadline_us;
        w = &x->next;
    }
    pthread_mutex_unlock(&lock);
    while (ready) {
        struct waiter *x = ready;
        ready = x->next;
        x->done(x->arg, x->replicas);
        free(x);
    }
    if (next && timer_ev) {
        uint64_t us = next - now;
        struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
        evtimer_add(timer_ev, &tv);
    }
}

int repl_wait_setup(struct event_base *base)
{
    wake_ev = event_new(base, -1, 0, _check, NULL);
    timer_ev = evtimer_new(base, _check, NULL);
    return wake_ev && timer_ev ? 0 : -1;
}

/* One lock and a walk of a list that is usually empty: no unlocked peek at the list, which
 * would race with the writers that change it under the lock. */
void repl_wait_acked(void) { _check(-1, 0, NULL); }

void repl_wait_teardown(void)
{
    /* the workers waited for every deferred reply, and repl_wait_release answered them:
     * nothing is left that a worker could still take */
    pthread_mutex_lock(&lock);
    released = true;
    while (waiters) {
        struct waiter *x = waiters;
        waiters = x->next;
        free(x);
    }
    pthread_mutex_unlock(&lock);
    if (wake_ev)
        event_free(wake_ev);
    if (timer_ev)
        event_free(timer_ev);
    wake_ev = timer_ev = NULL;
}

int repl_wait(unsigned replicas, uint64_t timeout_ms, repl_wait_fn done, void *arg,
              unsigned *now)
{
    if (!repl_enabled() || !wake_ev) {
        *now = 0;
        return 1;
    }
    struct waiter *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    x->target = backlog_wait_mark(repl.backlog);
    x->replicas = replicas;
    x->deadline_us = clock_mono_us() + timeout_ms * 1000;
    x->done = done;
    x->arg = arg;
    pthread_mutex_lock(&lock);
    x->next = waiters;
    waiters = x;
    pthread_mutex_unlock(&lock);
    event_active(wake_ev, EV_TIMEOUT, 0);
    return 0;
}

void repl_wait_release(void)
{
    pthread_mutex_lock(&lock);
    released = true;
    pthread_mutex_unlock(&lock);
    if (wake_ev)
        event_active(wake_ev, EV_TIMEOUT, 0);
}
