/* The expiry sweeper: a background thread that walks every shard's buckets a few at a time
 * (sweep_buckets per shard and step, then sweep_interval_ms of rest), reclaiming expired and
 * flushed items, so memory comes back without any request paying for it. It also re-applies
 * the memory limit after CONFIG SET lowers it. */
#include <errno.h>
#include <time.h>

#include "store-internal.h"

static pthread_t thread;
static bool running;
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond;


static void _sweep_shard(struct shard *s, uint64_t buckets, uint64_t now)
{
    pthread_mutex_lock(&s->lock);
    if (s->t[1].buckets) { /* rehash in progress: help it instead */
        do_table_rehash_step(s);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    for (uint64_t n = 0; n < buckets; n++) {
        if (s->sweep_pos > s->t[0].mask)
            s->sweep_pos = 0;
        struct item **slot = &s->t[0].buckets[s->sweep_pos++];
        while (*slot) {
            if (item_expired(*slot, now))
                do_store_reclaim(s, slot, MUT_EXPIRE); /* *slot is now the next item */
            else
                slot = &(*slot)->hnext;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void *_sweep_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wait_lock);
    while (running) {
        pthread_mutex_unlock(&wait_lock);
        uint64_t buckets = option_get_u(store_opt_sweep_buckets());
        uint64_t now = store_now_ms();
        for (unsigned i = 0; i < STORE_SHARDS; i++)
            _sweep_shard(&store_shards[i], buckets ? buckets : 1, now);
        store_enforce_limit();
        uint64_t ms = option_get_u(store_opt_sweep_interval());
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&wait_lock);
        while (running && pthread_cond_timedwait(&wait_cond, &wait_lock, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&wait_lock);
    return NULL;
}

int sweep_start(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wait_cond, &attr);
    pthread_condattr_destroy(&attr);
    running = true;
    if (pthread_create(&thread, NULL, _sweep_main, NULL) != 0) {
        running = false;
        return -1;
    }
    return 0;
}

void sweep_stop(void)
{
    pthread_mutex_lock(&wait_lock);
    if (!running) {
        pthread_mutex_unlock(&wait_lock);
        return;
    }
    running = false;
    pthread_cond_signal(&wait_cond);
    pthread_mutex_unlock(&wait_lock);
    pthread_join(thread, NULL);
    pthread_cond_destroy(&wait_cond);
}
