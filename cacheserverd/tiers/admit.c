/* Promotion admission (tiering.h): a copy read from disk takes memory from another item, so
 * it is promoted only when it is read more often than the item it would evict (TinyLFU,
 * Einziger, Friedman and Manes, ACM ToS 2017). Reads are counted in a count-min sketch of
 * 4-bit-range counters (one byte each, saturating at 15), four per key, halved every
 * SKETCH_SIZE reads so that old popularity fades. Both memory hits (cmd's GET and MGET) and
 * disk hits count. The store puts each victim to the hook before it evicts it
 * (store_admit_load); a tie refuses, so under a load where every key is as popular as
 * any other (uniform over 5x memory) promotions stop churning memory, while a key hotter
 * than what memory would give up for it still moves up (issue 16, docs/performance.md). */
#include <stdatomic.h>
#include <stdlib.h>

#include "store.h"
#include "tiering-internal.h"
#include "tiering.h"

#define SKETCH_LOG 21 /* 2 MiB of counters: ~2M keys at four counters each, half full */
#define SKETCH_SIZE (1u << SKETCH_LOG)
#define SKETCH_MAX 15

static uint8_t *sketch;
static atomic_uint_fast64_t reads; /* since the last halving */

static inline uint32_t _pos(uint64_t h, unsigned i)
{
    uint64_t h2 = (h >> 32 | h << 32) * 0x9e3779b97f4a7c15ull | 1;
    return (uint32_t)((h + i * h2) >> (64 - SKETCH_LOG));
}

static unsigned _freq(uint64_t h)
{
    unsigned f = SKETCH_MAX;
    for (unsigned i = 0; i < 4; i++) {
        unsigned c = __atomic_load_n(&sketch[_pos(h, i)], __ATOMIC_RELAXED);
        if (c < f)
            f = c;
    }
    return f;
}

void tiering_note_read(uint64_t h)
{
    if (!sketch)
        return;
    /* conservative update: raise only the counters at the minimum (racy by design: a lost
     * increment is an estimate a little low) */
    unsigned f = _freq(h);
    if (f < SKETCH_MAX)
        for (unsigned i = 0; i < 4; i++) {
            uint8_t *c = &sketch[_pos(h, i)];
            if (__atomic_load_n(c, __ATOMIC_RELAXED) == f)
                __atomic_store_n(c, (uint8_t)(f + 1), __ATOMIC_RELAXED);
        }
    atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
}

/* The writer thread, between batches (at least every 100 ms): halve every counter once
 * SKETCH_SIZE reads were counted. 2 MiB, off the request path. */
void tiering_sketch_age(void)
{
    if (!sketch || atomic_load_explicit(&reads, memory_order_relaxed) < SKETCH_SIZE)
        return;
    atomic_store_explicit(&reads, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < SKETCH_SIZE; i++) {
        uint8_t c = __atomic_load_n(&sketch[i], __ATOMIC_RELAXED);
        if (c)
            __atomic_store_n(&sketch[i], (uint8_t)(c >> 1), __ATOMIC_RELAXED);
    }
}

static bool _admit(void *arg, uint64_t cand, uint64_t victim)
{
    (void)arg;
    if (!option_get_b(&tiering_ctx()->opts.promote_admission))
        return true;
    return _freq(cand) > _freq(victim);
}

int tiering_admission_setup(void)
{
    sketch = calloc(SKETCH_SIZE, 1);
    if (!sketch)
        return -1;
    store_set_admission(_admit, NULL);
    return 0;
}

void tiering_admission_teardown(void)
{
    store_set_admission(NULL, NULL);
    free(sketch);
    sketch = NULL;
}
