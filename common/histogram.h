/* The latency histogram shared by the server (STATS) and cache-bench: HDR-style log-linear
 * buckets, 2^sub_bits linear sub-buckets per power of two, so a value is reported within
 * 1/2^sub_bits. The precision is set by hist_init; a zeroed histogram (static storage) is an
 * empty one of HIST_DEFAULT_SUB_BITS. Recording is lock-free (relaxed atomics): any thread
 * may record while another reads. Values (any unit) from 0 to 2^HIST_MAX_EXP - 1; larger
 * ones are counted in the last bucket, the max is kept exactly. */
#ifndef COMMON_HISTOGRAM_H
#define COMMON_HISTOGRAM_H

#include <stdint.h>

#define HIST_DEFAULT_SUB_BITS 4 /* within 1/16: the server's */
#define HIST_MAX_SUB_BITS 7     /* within 1/128: cache-bench's */
#define HIST_MAX_EXP 40
/* Buckets used at a precision: rows of 2^bits for the powers of two from 2^bits up, and
 * the 2^(bits+1) values below them one to one. */
#define HIST_NBUCKETS(bits) ((uint32_t)(HIST_MAX_EXP + 1 - (bits)) << (bits))

struct histogram {
    uint64_t count;
    uint64_t max;
    uint64_t sum;      /* of every value recorded (Prometheus summaries' _sum) */
    uint64_t min_inv;  /* ~min, so that a zeroed histogram has none yet: see hist_min */
    uint32_t sub_bits; /* 0 stands for HIST_DEFAULT_SUB_BITS */
    uint64_t buckets[HIST_NBUCKETS(HIST_MAX_SUB_BITS)];
};

/* Empty h with 2^sub_bits sub-buckets per power of two; -1 when sub_bits is not in
 * 1..HIST_MAX_SUB_BITS (h is then left untouched). */
int hist_init(struct histogram *h, unsigned sub_bits);
unsigned hist_sub_bits(const struct histogram *h);

/* The bucket of v at a precision: the value's top bits, found with a shift and an add. */
static inline uint32_t hist_index(unsigned sub_bits, uint64_t v)
{
    if (v >> HIST_MAX_EXP)
        v = (1ull << HIST_MAX_EXP) - 1;
    unsigned shift = 63u - (unsigned)__builtin_clzll(v | (1ull << sub_bits)) - sub_bits;
    return (uint32_t)((shift << sub_bits) + (v >> shift));
}
/* Largest value that falls in bucket idx. */
uint64_t hist_bucket_high(unsigned sub_bits, uint32_t idx);

void hist_record(struct histogram *h, uint64_t v);
/* Adds from's samples to into's; -1 (nothing added) when their precisions differ. Neither
 * may be recorded into meanwhile. */
int hist_merge(struct histogram *into, const struct histogram *from);
/* The value at percentile p (0..100]: the upper edge of its bucket, never above the max;
 * the exact max for p >= 100; 0 when empty. */
uint64_t hist_percentile(const struct histogram *h, double p);
uint64_t hist_min(const struct histogram *h); /* UINT64_MAX when empty */
/* Empties h and keeps its precision. */
void hist_reset(struct histogram *h);

#endif
