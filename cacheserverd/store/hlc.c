/* Hybrid logical clock: unix milliseconds in the top 48 bits, a logical counter in the low
 * 16, never going backwards even if the wall clock does. Every stamp is unique and greater
 * than the one before: it is each item's version (the CAS token) and the stamp of every
 * mutation record. Replication will merge remote stamps into it (last-writer-wins with the
 * node id as tie-break). */
#include "clock.h"
#include "store-internal.h"

static uint64_t last;
static uint64_t skew_ms; /* atomic: set at startup while the restore thread may stamp */

void store_hlc_skew(uint64_t ms) { __atomic_store_n(&skew_ms, ms, __ATOMIC_RELAXED); }

uint64_t store_hlc_wall_ms(void)
{
    return clock_wall_ms() + __atomic_load_n(&skew_ms, __ATOMIC_RELAXED);
}

uint64_t store_hlc_now(void)
{
    uint64_t phys = (clock_wall_ms() + __atomic_load_n(&skew_ms, __ATOMIC_RELAXED)) << 16;
    uint64_t prev = __atomic_load_n(&last, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t next = phys > prev ? phys : prev + 1;
        if (__atomic_compare_exchange_n(&last, &prev, next, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return next;
    }
}

void store_hlc_floor(uint64_t v)
{
    uint64_t cur = __atomic_load_n(&last, __ATOMIC_RELAXED);
    while (cur < v && !__atomic_compare_exchange_n(&last, &cur, v, true, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}
