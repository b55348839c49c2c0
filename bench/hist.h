/* A log-linear latency histogram in the HdrHistogram style: 128 linear sub-buckets per power
 * of two, so every recorded value is kept within 1% (1/128); values from 1 ns to ~69 s.
 * Recording is one array increment; histograms of different threads merge by addition. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 36 /* 2^36 ns = 68.7 s; larger values are clamped */
#define HIST_BUCKETS ((HIST_MAX_EXP - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t max_ns;
    uint64_t min_ns;
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
/* The value at percentile p (0..100) in ns: the upper edge of its bucket (never below a
 * recorded value), the exact max for p = 100. 0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, double p);
/* Bucket index and bounds, exposed for the tests. */
uint32_t hist_index(uint64_t ns);
uint64_t hist_bucket_high(uint32_t idx);

#endif
