#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

/* Values below 2^SUB_BITS map one to one; above, the top SUB_BITS+1 bits of the value pick
 * the bucket within its power of two. */
uint32_t hist_index(uint64_t ns)
{
    if (ns >= (1ull << HIST_MAX_EXP))
        ns = (1ull << HIST_MAX_EXP) - 1;
    if (ns < HIST_SUB)
        return (uint32_t)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns); /* >= SUB_BITS */
    unsigned shift = msb - HIST_SUB_BITS;
    uint32_t sub = (uint32_t)(ns >> shift) - HIST_SUB; /* 0..SUB-1 */
    return (shift + 1) * HIST_SUB + sub;
}

uint64_t hist_bucket_high(uint32_t idx)
{
    if (idx < HIST_SUB)
        return idx;
    unsigned shift = idx / HIST_SUB - 1;
    uint64_t sub = idx % HIST_SUB;
    return ((HIST_SUB + sub + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t ns)
{
    h->b[hist_index(ns)]++;
    h->count++;
    if (ns > h->max_ns)
        h->max_ns = ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (uint32_t i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
    if (from->min_ns < into->min_ns)
        into->min_ns = from->min_ns;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p >= 100)
        return h->max_ns;
    /* the smallest value v such that at least p% of the samples are <= v */
    uint64_t rank = (uint64_t)((p / 100.0) * (double)h->count + 0.999999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            return v > h->max_ns ? h->max_ns : v;
        }
    }
    return h->max_ns;
}
