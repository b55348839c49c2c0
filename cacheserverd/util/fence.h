/* Self-fencing (docs/integrity.md): a node whose own checks fail stops trusting itself. While
 * fenced it refuses writes (E_FENCED), serves reads only with fenced-reads = on (else misses),
 * neither sends its changes to peers nor applies theirs, and says why. It stays fenced until
 * an operator clears it (CLUSTER_UNFENCE: `cache-cli cluster unfence`). Any thread. */
#ifndef UTIL_FENCE_H
#define UTIL_FENCE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fenced now? One atomic load: cheap enough for every request. */
bool fence_active(void);
/* Fence this node (the first reason is kept until it is cleared; it is logged as an error).
 * Returns true when this call fenced it. */
bool fence_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Lift the fence (who: for the log). Returns true when it was fenced. */
bool fence_clear(const char *who);
/* Why it is fenced ("" when it is not), and since when (unix ms; 0 when not). */
void fence_reason(char *buf, size_t len);
uint64_t fence_since_ms(void);
/* Times fenced since start. */
uint64_t fence_count(void);
/* fn is called (under the fence's lock, right after the change is visible) each time the node
 * is fenced or the fence lifted: for state that must follow at once, not at its next tick
 * (the shared-memory region's `open`). One hook; NULL removes it. fn must not fence. */
void fence_on_change(void (*fn)(void));
/* STATS fenced (gauge) and fences (counter): once, before serving. */
void fence_stats_register(void);
#endif
