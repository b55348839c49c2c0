/* Sync persistence: replies that wait until their change is on disk (tiering.h).
 *
 * A ticket is the number of jobs pushed to the writer's queue when the change was made;
 * the queue is FIFO, so once the writer has committed that many jobs the change is durable.
 * Waiters are kept in a list; each batch the writer commits releases those it covers. A
 * connection has at most one waiting change (core parses nothing behind it) or up to
 * CORE_MAX_DEFERS (64) waiting reads (GETs of a stream whose head is still queued; GETs run
 * behind GETs), so the list is bounded by the connections. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "tiering-internal.h"
#include "tiering.h"

struct waiter {
    struct waiter *next;
    uint64_t ticket;
    tiering_durable_fn fn;
    void *arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiter *waiters;
static uint64_t committed;
/* the last failed batch ended at this job count: waiters it covers get an error */
static uint64_t failed_from, failed_to;
static char failed_err[256];

void durable_setup(void)
{
    pthread_mutex_lock(&lock);
    committed = failed_from = failed_to = 0;
    pthread_mutex_unlock(&lock);
}

void tiering_when_durable(uint64_t ticket, tiering_durable_fn fn, void *arg)
{
    struct waiter *w = malloc(sizeof(*w));
    pthread_mutex_lock(&lock);
    if (committed >= ticket || !w) {
        bool ok = !(ticket > failed_from && ticket <= failed_to);
        pthread_mutex_unlock(&lock);
        free(w);
        /* without memory for a waiter, answer as if durable only when it is */
        if (!w && committed < ticket)
            fn(arg, false, "out of memory while waiting for the disk");
        else
            fn(arg, ok, ok ? NULL : failed_err);
        return;
    }
    *w = (struct waiter){waiters, ticket, fn, arg};
    waiters = w;
    pthread_mutex_unlock(&lock);
}

static void _release(struct waiter *done, bool ok, const char *err)
{
    while (done) {
        struct waiter *next = done->next;
        done->fn(done->arg, ok, err);
        free(done);
        done = next;
    }
}

void durable_advance(uint64_t now_committed, bool ok, const char *err)
{
    struct waiter *done = NULL;
    pthread_mutex_lock(&lock);
    if (!ok) {
        failed_from = committed;
        failed_to = now_committed;
        snprintf(failed_err, sizeof(failed_err), "%s", err ? err : "write failed");
    }
    committed = now_committed;
    for (struct waiter **p = &waiters; *p;) {
        if ((*p)->ticket <= committed) {
            struct waiter *w = *p;
            *p = w->next;
            w->next = done;
            done = w;
        } else {
            p = &(*p)->next;
        }
    }
    pthread_mutex_unlock(&lock);
    _release(done, ok, ok ? NULL : err);
}

void durable_teardown(void)
{
    pthread_mutex_lock(&lock);
    struct waiter *rest = waiters;
    waiters = NULL;
    pthread_mutex_unlock(&lock);
    _release(rest, false, "the server stopped before the write reached the disk");
}
