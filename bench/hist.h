/* cache-bench's latency histogram: the shared one (common/histogram.h) at 7 sub-bucket bits,
 * so every value is kept within 1% (1/128); values in ns. One per thread, merged at the end.
 * A struct of its own only because bench.h names it `struct hist`. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#include "histogram.h"

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_BUCKETS HIST_NBUCKETS(BENCH_HIST_SUB_BITS)

struct hist {
    struct histogram h;
};

static inline void bench_hist_init(struct hist *h) { hist_init(&h->h, BENCH_HIST_SUB_BITS); }
static inline void bench_hist_record(struct hist *h, uint64_t ns) { hist_record(&h->h, ns); }
static inline void bench_hist_merge(struct hist *into, const struct hist *from)
{
    hist_merge(&into->h, &from->h); /* both bench_hist_init'ed: same precision */
}
/* The value at percentile p (0..100) in ns: see hist_percentile. */
static inline uint64_t bench_hist_percentile(const struct hist *h, double p)
{
    return hist_percentile(&h->h, p);
}
/* Bucket index and bounds at bench's precision, exposed for the tests. */
static inline uint32_t bench_hist_index(uint64_t ns)
{
    return hist_index(BENCH_HIST_SUB_BITS, ns);
}
static inline uint64_t bench_hist_bucket_high(uint32_t idx)
{
    return hist_bucket_high(BENCH_HIST_SUB_BITS, idx);
}

#endif
