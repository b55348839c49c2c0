/* Replicated counters (docs/replication.md, "Counters"): beside its int, a counter item keeps
 * an epoch (the (stamp, node id) its history starts from), the base value at that epoch,
 * and per origin node the sum of its increments since and the stamp of the last one. Its
 * value is base + the sums. Two states of one epoch merge by taking, per origin, the entry
 * with the greater stamp, so every increment counts once however often and in whatever
 * order states arrive; a greater epoch (a SET, or a newer creation) replaces a state.
 *
 * The serialized form (what items hold after their int and what travels to peers), little
 * endian: epoch u64, epoch origin u16, base i64, n u16, n x (origin u16, sum i64, stamp u64).
 * Pure functions: no locks, no allocation. */
#ifndef STORE_COUNTER_H
#define STORE_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTR_MAX_ENTRIES 64
#define CTR_HEADER 20
#define CTR_ENTRY 18

struct ctr {
    uint64_t epoch;
    uint16_t eorigin;
    int64_t base;
    uint16_t n;
    struct {
        uint16_t origin;
        int64_t sum;
        uint64_t stamp;
    } e[CTR_MAX_ENTRIES];
};

static inline size_t ctr_size(uint16_t n) { return CTR_HEADER + (size_t)n * CTR_ENTRY; }
size_t ctr_write(const struct ctr *c, uint8_t *out);
/* false for anything malformed (length, n, duplicate origins) */
bool ctr_read(const uint8_t *p, size_t len, struct ctr *c);
/* The serialized size at p (which holds a state written by ctr_write). */
size_t ctr_len_at(const uint8_t *p);
/* base + every sum; false on overflow */
bool ctr_value(const struct ctr *c, int64_t *v);
/* The greatest stamp in it (epoch or entry): the item's version. */
uint64_t ctr_version(const struct ctr *c);
/* Add delta to origin's sum, at stamp. false when there is no room for another origin. */
bool ctr_add(struct ctr *c, uint16_t origin, int64_t delta, uint64_t stamp);
/* Same epoch: take from's newer entries. Returns whether into changed; false too when an
 * entry does not fit (into is then unchanged). */
bool ctr_merge(struct ctr *into, const struct ctr *from);

#endif
