/* Counters and gauges declared once per module as X-macro tables and registered in one
 * place, so STATS, cache-cli and the Prometheus output list the same names.
 *
 *   #define STORE_STATS(ACTION)                                   \
 *       ACTION(items, STAT_GAUGE, "items stored in memory")
 *   STAT_STRUCT(store, STORE_STATS);         // struct store_stats { uint64_t items; ... }
 *   static struct store_stats st;
 *   static struct stat_desc st_desc[] = STAT_DESCRIBE(STORE_STATS);
 *   stats_register(st_desc, STAT_COUNT(st_desc), &st);
 *
 * Updates are relaxed atomics: safe from any thread. */
#ifndef UTIL_STATS_H
#define UTIL_STATS_H

#include <stddef.h>
#include <stdint.h>

enum stat_type {
    STAT_COUNTER, /* only grows */
    STAT_GAUGE,   /* goes up and down */
};

struct stat_desc {
    const char *name;
    enum stat_type type;
    const char *desc;
    uint64_t *value;
};

#define STAT_FIELD(name, type, desc) uint64_t name;
#define STAT_STRUCT(prefix, TABLE) \
    struct prefix##_stats {        \
        TABLE(STAT_FIELD)          \
    }
#define STAT_DESC_ENTRY(name, type, desc) {#name, type, desc, NULL},
#define STAT_DESCRIBE(TABLE) {TABLE(STAT_DESC_ENTRY)}
#define STAT_COUNT(arr) (sizeof(arr) / sizeof((arr)[0]))

/* Bind desc[i].value to the i-th uint64_t of stats_struct and add the table to the registry.
 * Tables live for the process; register each once (a second call with the same desc is a no-op). */
void stats_register(struct stat_desc *desc, size_t n, void *stats_struct);
/* Call fn for every registered stat, in registration order. */
void stats_foreach(void (*fn)(void *arg, const struct stat_desc *d, uint64_t value), void *arg);

static inline void stat_incr(uint64_t *v) { __atomic_fetch_add(v, 1, __ATOMIC_RELAXED); }
static inline void stat_add(uint64_t *v, uint64_t n) { __atomic_fetch_add(v, n, __ATOMIC_RELAXED); }
static inline void stat_sub(uint64_t *v, uint64_t n) { __atomic_fetch_sub(v, n, __ATOMIC_RELAXED); }
static inline void stat_decr(uint64_t *v) { __atomic_fetch_sub(v, 1, __ATOMIC_RELAXED); }
static inline uint64_t stat_get(const uint64_t *v) { return __atomic_load_n(v, __ATOMIC_RELAXED); }
/* A gauge one thread computes and sets (never a plain assignment: STATS reads it meanwhile). */
static inline void stat_set(uint64_t *v, uint64_t n) { __atomic_store_n(v, n, __ATOMIC_RELAXED); }

#endif
