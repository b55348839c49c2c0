/* A lock-free latency histogram (HDR-style log-linear buckets: 16 sub-buckets per power of
 * two, so any recorded value is reported within 6.25%). Recording is one relaxed atomic add;
 * any thread may record while another reads percentiles. Values are microseconds (or any
 * unit; the histogram does not care) from 0 to 2^40. */
#ifndef UTIL_HISTOGRAM_H
#define UTIL_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 4
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((41 - HIST_SUB_BITS) * HIST_SUB + HIST_SUB)

struct histogram {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t buckets[HIST_BUCKETS];
};

void hist_record(struct histogram *h, uint64_t v);
/* The value at percentile p (0..100], as the upper edge of its bucket; 0 when empty. */
uint64_t hist_percentile(const struct histogram *h, double p);
void hist_reset(struct histogram *h);

#endif
