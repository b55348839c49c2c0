/* The fault-injection allocator hook (fault_alloc.c): FAULT fail-allocs / skip-allocs.
 * Compiled in every build; it does anything only in builds configured with
 * -Dfault_injection=true, whose cacheserverd executable is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup. */
#ifndef CMD_FAULT_ALLOC_H
#define CMD_FAULT_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#ifdef CACHE_FAULT_INJECTION
/* The calling (worker) thread starts / stops handling a request: only allocations made in
 * between can be failed. */
void fault_alloc_request(bool on);
/* Fail the next n allocations made while handling requests (after the ones fault_alloc_skip
 * lets through); 0 disarms and clears the skip. Returns the failures the previous arming had
 * not used yet. */
uint32_t fault_alloc_arm(uint32_t n);
/* Let the next n allocations succeed before the armed failures start. */
void fault_alloc_skip(uint32_t n);
/* Allocations failed so far (for the FAULT reply of skip-allocs). */
uint64_t fault_alloc_failed(void);
#else
static inline void fault_alloc_request(bool on) { (void)on; }
#endif

#endif
