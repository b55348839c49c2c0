/* The health monitor (docs/integrity.md): a thread that runs checks independent of each other,
 * each against a reference of its own, so that one broken check cannot vouch for another,
 * and fences this node (util/fence.h) within one interval of a failure:
 *  - known-answer tests of the checksum, compression and key-hashing code (at start, then
 *    every minute): each against fixed answers and a second implementation;
 *  - canaries: blocks written at start with a checksum made by the table CRC, re-read;
 *  - a memory test over a region of its own, a slice per interval (patterns written and
 *    read back, Redis's memtest idea on memory no one else uses);
 *  - values failing their checksum (corrupt_values: reads, the background scrub, full syncs,
 *    disk writes): corrupt-fence-limit of them within 10 s;
 *  - the clock against the peers': offset beyond 80% of max-clock-offset from a strict
 *    majority of the peers heard from (at least two; CockroachDB's rule);
 *  - the disk tiers: values on disk failing their checksum, corrupt-fence-limit in 10 s. */
#ifndef HEALTH_H
#define HEALTH_H
#include <stdbool.h>
#include <stddef.h>

#include "option.h"

#define HEALTH_OPTIONS(ACTION)                                                               \
    ACTION(health_interval_ms, OPT_UINT, "250", OPT_STARTUP,                                 \
           "how often the health monitor runs its checks (it fences within one interval)")  \
    ACTION(corrupt_fence_limit, OPT_UINT, "10", OPT_RUNTIME,                                 \
           "values failing their checksum (in memory or on disk) within 10 s that fence "   \
           "this node; 0 = never fence for them")                                           \
    HEALTH_FAULT_OPTIONS(ACTION)

#ifdef CACHE_FAULT_INJECTION
#define HEALTH_FAULT_OPTIONS(ACTION)                                                         \
    ACTION(fault_fail_kat, OPT_BOOL, "false", OPT_STARTUP,                                   \
           "TEST BUILDS ONLY: the known-answer test of the checksum code fails")
#else
#define HEALTH_FAULT_OPTIONS(ACTION)
#endif

void health_options_register(void);
/* Run the known-answer tests now (a failure fences the node before it serves) and start
 * the monitor's thread. 0 or -1. */
int health_start(void);
void health_stop(void);
#endif
