/* Log-linear histogram: see histogram.h. */
#include "histogram.h"

#include <stdbool.h>
#include <string.h>

static unsigned _bucket(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    if (v >= (1ull << 40))
        return HIST_BUCKETS - 1;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
    unsigned shift = msb - HIST_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) & (HIST_SUB - 1);
    return (shift + 1) * HIST_SUB + sub;
}

/* Largest value that falls in bucket b. */
static uint64_t _upper(unsigned b)
{
    if (b < HIST_SUB)
        return b;
    unsigned shift = b / HIST_SUB - 1;
    unsigned sub = b % HIST_SUB;
    return (((uint64_t)(HIST_SUB + sub) + 1) << shift) - 1;
}

void hist_record(struct histogram *h, uint64_t v)
{
    __atomic_fetch_add(&h->buckets[_bucket(v)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    while (v > m && !__atomic_compare_exchange_n(&h->max, &m, v, true, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED))
        ;
}

uint64_t hist_percentile(const struct histogram *h, double p)
{
    uint64_t total = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++)
        total += __atomic_load_n(&h->buckets[b], __ATOMIC_RELAXED);
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)((p / 100.0) * (double)total + 0.999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    uint64_t max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += __atomic_load_n(&h->buckets[b], __ATOMIC_RELAXED);
        if (seen >= rank) {
            uint64_t u = _upper(b);
            return u < max ? u : max;
        }
    }
    return max;
}

void hist_reset(struct histogram *h) { memset(h, 0, sizeof(*h)); }
