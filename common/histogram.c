/* The shared latency histogram (see histogram.h): recording, merging, percentiles. The
 * bucket layout is hist_index's; everything here walks the HIST_NBUCKETS of h's precision. */
#include "histogram.h"

#include <stdbool.h>
#include <string.h>

static unsigned _bits(const struct histogram *h)
{
    uint32_t b = __atomic_load_n(&h->sub_bits, __ATOMIC_RELAXED);
    return b ? b : HIST_DEFAULT_SUB_BITS;
}

/* Raise *p to at least v (relaxed; concurrent raisers keep the largest). */
static void _raise(uint64_t *p, uint64_t v)
{
    uint64_t m = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > m && !__atomic_compare_exchange_n(p, &m, v, true, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED))
        ;
}

int hist_init(struct histogram *h, unsigned sub_bits)
{
    if (sub_bits < 1 || sub_bits > HIST_MAX_SUB_BITS)
        return -1;
    memset(h, 0, sizeof(*h));
    h->sub_bits = sub_bits;
    return 0;
}

unsigned hist_sub_bits(const struct histogram *h) { return _bits(h); }

uint64_t hist_bucket_high(unsigned sub_bits, uint32_t idx)
{
    unsigned shift = idx >> sub_bits;
    shift = shift ? shift - 1 : 0; /* the first two rows are values one to one */
    uint64_t top = idx - ((uint64_t)shift << sub_bits);
    return ((top + 1) << shift) - 1;
}

void hist_record(struct histogram *h, uint64_t v)
{
    __atomic_fetch_add(&h->buckets[hist_index(_bits(h), v)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
    _raise(&h->max, v);
    _raise(&h->min_inv, ~v);
}

int hist_merge(struct histogram *into, const struct histogram *from)
{
    unsigned bits = _bits(into);
    if (_bits(from) != bits)
        return -1;
    for (uint32_t i = 0; i < HIST_NBUCKETS(bits); i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    _raise(&into->max, from->max);
    _raise(&into->min_inv, from->min_inv);
    return 0;
}

uint64_t hist_percentile(const struct histogram *h, double p)
{
    unsigned bits = _bits(h);
    uint32_t n = HIST_NBUCKETS(bits);
    uint64_t total = 0; /* from the buckets, not count: a recorder may be between the two */
    for (uint32_t i = 0; i < n; i++)
        total += __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
    if (total == 0)
        return 0;
    uint64_t max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    if (p >= 100)
        return max;
    /* the smallest value v such that at least p% of the samples are <= v */
    uint64_t rank = (uint64_t)((p / 100.0) * (double)total + 0.999999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        seen += __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
        if (seen >= rank) {
            uint64_t u = hist_bucket_high(bits, i);
            return u < max ? u : max;
        }
    }
    return max;
}

uint64_t hist_min(const struct histogram *h)
{
    return ~__atomic_load_n(&h->min_inv, __ATOMIC_RELAXED);
}

void hist_reset(struct histogram *h)
{
    uint32_t bits = h->sub_bits;
    memset(h, 0, sizeof(*h));
    h->sub_bits = bits;
}
