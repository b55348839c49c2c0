/* Hybrid logical clock: unix milliseconds in the top 48 bits, a logical counter in the low
 * 16, never going backwards even if the wall clock does. Replication will merge remote stamps
 * into it (last-writer-wins with the node id as tie-break). */
#include <time.h>

#include "store-internal.h"

static uint64_t last;

uint64_t store_hlc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t phys = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 16;
    uint64_t prev = __atomic_load_n(&last, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t next = phys > prev ? phys : prev + 1;
        if (__atomic_compare_exchange_n(&last, &prev, next, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return next;
    }
}
