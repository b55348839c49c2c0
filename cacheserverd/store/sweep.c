/* The expiry sweeper: a background thread that walks every shard's buckets a few at a time,
 * reclaiming expired and flushed items, so memory comes back without any request paying for
 * it. It also re-applies the memory limit after CONFIG SET lowers it.
 *
 * A round (sweep_buckets buckets of every shard, then sweep_interval_ms of rest) is cut into
 * steps of SWEEP_STEP_SHARDS shards with a pause between them, and the thread runs as
 * SCHED_BATCH: a whole round at once kept a worker on the same CPU waiting ~2 ms (max GET
 * latency 2.3 ms vs 0.35 ms with the sweep off). SCHED_IDLE is not used: a sweeper preempted
 * while holding a shard lock could then wait indefinitely, and the worker with it. */
#include <errno.h>
#include <sched.h>
#include <time.h>

#define SWEEP_STEP_SHARDS 16
#define SWEEP_STEPS (STORE_SHARDS / SWEEP_STEP_SHARDS)

#include "clock.h"
#include "store-internal.h"

static pthread_t thread;
static bool running;
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond;


/* The sweep scrubs too (docs/design.md, "Checksums"): each step it checks the checksums of
 * up to SCRUB_ITEMS items of each shard (of at most SCRUB_MAX bytes, so the shard lock is
 * held a microsecond or so), going on from where the last step stopped, so a value broken
 * in memory is found even if nobody reads it: every item of a store of N items within
 * about N / (256 x SCRUB_ITEMS) rounds (1M items: 25 s at the default sweep interval).
 * Checking every item the expiry sweep passes cost GETs milliseconds at p99 (bench/repl).
 * Larger values are checked when read or sent, never under the shard lock. A stream's chunks
 * are checked a slice at a time within the same bound: what is left of the step's
 * SCRUB_ITEMS x SCRUB_MAX bytes (at least SCRUB_MAX), counted as that many items, going on
 * from where its last slice stopped (do_store_stream_scrub). */
#define SCRUB_MAX 4096
#define SCRUB_ITEMS 16
#define SCRUB_BUCKETS 256 /* at most this many buckets looked at per shard and step */

/* The next slice of a stream's chunks (other items: nothing); false when one failed. */
static bool _scrub_stream(struct item *it, unsigned *checked)
{
    if (it->type != STORE_T_STREAM)
        return true;
    uint32_t budget = (*checked < SCRUB_ITEMS ? SCRUB_ITEMS - *checked + 1 : 1) * SCRUB_MAX;
    uint32_t left = budget;
    bool ok = do_store_stream_scrub(item_stream(it), &left);
    uint32_t slices = (budget - left + SCRUB_MAX - 1) / SCRUB_MAX;
    if (slices > 1)
        *checked += slices - 1; /* the item counted one already */
    return ok;
}

/* The expiry walk slows down while it finds next to nothing: each round in which fewer than
 * 1 in SWEEP_FOUND_RATIO of the items it looked at were expired or flushed halves its pace
 * (sweep_buckets >> level), down to 1/2^SWEEP_MAX_LEVEL; a round that finds more goes back to
 * full pace at once. At full pace the walk passed over a store of 180,000 items four times a
 * second and, idle, cost 10% of a CPU (issue 16); slowed down, a pass over 1M items takes
 * one to two minutes, and expired items are invisible to reads and evicted first in any case. */
#define SWEEP_FOUND_RATIO 100
#define SWEEP_MAX_LEVEL 6
static unsigned level; /* the sweeper thread's */

struct sweep_count {
    uint64_t seen, reclaimed;
};

static void _sweep_shard(struct shard *s, uint64_t buckets, uint64_t now, struct sweep_count *cnt)
{
    unsigned corrupt = 0;
    pthread_mutex_lock(&s->lock);
    do_store_lease_sweep(s, clock_mono_us()); /* leases whose holder never came back */
    if (s->t[1].buckets) { /* rehash in progress: help it instead */
        do_store_table_rehash_step(s);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    for (uint64_t n = 0; n < buckets; n++) {
        if (s->sweep_pos > s->t[0].mask)
            s->sweep_pos = 0;
        struct item **slot = &s->t[0].buckets[s->sweep_pos++];
        while (*slot) {
            struct item *it = *slot;
            cnt->seen++;
            if (store_item_expired(it, now)) { /* *slot is now the next item */
                do_store_reclaim(s, slot, store_hash(it->ns, item_key(it), it->klen));
                cnt->reclaimed++;
            } else {
                slot = &(*slot)->hnext;
            }
        }
    }
    unsigned checked = 0;
    for (unsigned n = 0; n < SCRUB_BUCKETS && checked < SCRUB_ITEMS; n++) {
        if (s->scrub_pos > s->t[0].mask)
            s->scrub_pos = 0;
        struct item **slot = &s->t[0].buckets[s->scrub_pos++];
        while (*slot) {
            struct item *it = *slot;
            if (it->vlen <= SCRUB_MAX && (checked++, !do_store_item_intact(it) ||
                                          !_scrub_stream(it, &checked))) {
                do_store_drop(s, slot); /* *slot is now the next item */
                corrupt++;
            } else {
                slot = &(*slot)->hnext;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    while (corrupt--)
        store_corrupt_found("the background scrub");
}

/* Sleep until ms from now or until stopped. Returns false when stopped. */
static bool _rest(uint64_t ms)
{
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
    bool go_on = running;
    pthread_mutex_unlock(&wait_lock);
    return go_on;
}

static void *_sweep_main(void *arg)
{
    (void)arg;
    struct sched_param sp = {.sched_priority = 0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    for (;;) {
        uint64_t interval = option_get_u(store_opt_sweep_interval());
        struct sweep_count cnt = {0};
        for (unsigned step = 0; step < SWEEP_STEPS; step++) {
            uint64_t buckets = option_get_u(store_opt_sweep_buckets()) >> level;
            uint64_t now = clock_wall_ms();
            for (unsigned i = 0; i < SWEEP_STEP_SHARDS; i++)
                _sweep_shard(&store_shards[step * SWEEP_STEP_SHARDS + i], buckets ? buckets : 1,
                             now, &cnt);
            /* spread the round over about a tenth of the interval, then rest the remainder */
            if (!_rest(step + 1 < SWEEP_STEPS ? (interval / 10 + SWEEP_STEPS - 1) / SWEEP_STEPS
                                              : 0))
                return NULL;
        }
        if (cnt.reclaimed && cnt.reclaimed * SWEEP_FOUND_RATIO >= cnt.seen)
            level = 0;
        else if (level < SWEEP_MAX_LEVEL)
            level++;
        store_enforce_limit();
        if (!_rest(interval - interval / 10))
            return NULL;
    }
}

int store_sweep_start(void)
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
    pthread_setname_np(thread, "csd-sweep");
    return 0;
}

void store_sweep_stop(void)
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
