/* Namespaces: up to STORE_MAX_NAMESPACES names, each with an id stored in its items, a
 * generation that FLUSH bumps (items of an older generation are dead and reclaimed lazily),
 * a mark that a peer's FLUSH raises (items older than it are dead, newer ones live),
 * and per-namespace hit/miss/item/byte counters. Lookup by name takes a mutex; connections
 * resolve their namespace once, at selection, and keep the id. */
#include <stdlib.h>
#include <string.h>

#include "shm.h"
#include "store-internal.h"

struct ns {
    char name[STORE_MAX_NS_LEN + 1];
    uint8_t len;
    uint16_t gen;
    uint64_t hits, misses, items, bytes;
    uint64_t flush_stamp;  /* a peer's FLUSH of it: items older than (stamp, origin) are */
    uint16_t flush_origin; /* dead, newer ones (written elsewhere meanwhile) live */
};

/* The same for a peer's FLUSH of every namespace. */
static uint64_t all_flush_stamp;
static uint16_t all_flush_origin;

static struct ns *spaces;
static uint16_t nspaces; /* read without the lock: only grows, entries are set before */
static pthread_mutex_t ns_lock = PTHREAD_MUTEX_INITIALIZER;

int store_ns_setup(void)
{
    spaces = calloc(STORE_MAX_NAMESPACES, sizeof(*spaces));
    if (!spaces)
        return -1;
    nspaces = 1; /* id 0: the default namespace "" */
    return 0;
}

void store_ns_teardown(void)
{
    free(spaces);
    spaces = NULL;
    nspaces = 0;
}

enum store_status store_ns_find(const void *name, size_t len, uint16_t *id)
{
    uint16_t n = __atomic_load_n(&nspaces, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&ns_lock);
    enum store_status st = STORE_NOT_FOUND;
    for (uint16_t i = 0; i < n && st != STORE_OK; i++)
        if (spaces[i].len == len && memcmp(spaces[i].name, name, len) == 0) {
            *id = i;
            st = STORE_OK;
        }
    pthread_mutex_unlock(&ns_lock);
    return st;
}

enum store_status store_ns_id(const void *name, size_t len, uint16_t *id)
{
    if (len > STORE_MAX_NS_LEN)
        return STORE_ELIMIT;
    pthread_mutex_lock(&ns_lock);
    uint16_t n = nspaces;
    for (uint16_t i = 0; i < n; i++) {
        if (spaces[i].len == len && memcmp(spaces[i].name, name, len) == 0) {
            pthread_mutex_unlock(&ns_lock);
            *id = i;
            return STORE_OK;
        }
    }
    if (n >= STORE_MAX_NAMESPACES) {
        pthread_mutex_unlock(&ns_lock);
        return STORE_ELIMIT;
    }
    memcpy(spaces[n].name, name, len);
    spaces[n].name[len] = '\0';
    spaces[n].len = (uint8_t)len;
    store_shm_ns_named(n, spaces[n].name, (uint8_t)len);
    __atomic_store_n(&nspaces, n + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ns_lock);
    *id = n;
    return STORE_OK;
}

void store_ns_shm_names(void)
{
    pthread_mutex_lock(&ns_lock);
    for (uint16_t i = 0; i < nspaces; i++)
        store_shm_ns_named(i, spaces[i].name, spaces[i].len);
    pthread_mutex_unlock(&ns_lock);
}

const char *store_ns_name(uint16_t id) { return id < store_ns_count() ? spaces[id].name : ""; }
uint16_t store_ns_count(void) { return __atomic_load_n(&nspaces, __ATOMIC_ACQUIRE); }

void store_ns_stats(uint16_t id, struct store_ns_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (id >= store_ns_count())
        return;
    out->hits = __atomic_load_n(&spaces[id].hits, __ATOMIC_RELAXED);
    out->misses = __atomic_load_n(&spaces[id].misses, __ATOMIC_RELAXED);
    out->items = __atomic_load_n(&spaces[id].items, __ATOMIC_RELAXED);
    out->bytes = __atomic_load_n(&spaces[id].bytes, __ATOMIC_RELAXED);
}

uint16_t store_ns_gen(uint16_t ns) { return __atomic_load_n(&spaces[ns].gen, __ATOMIC_ACQUIRE); }

bool store_ns_item_live(const struct item *it) { return it->gen == store_ns_gen(it->ns); }

/* (v, o) at or below (s, so)? */
static inline bool _at_or_below(uint64_t v, uint16_t o, uint64_t s, uint16_t so)
{
    return v < s || (v == s && o <= so);
}

bool store_ns_item_flushed(const struct item *it)
{
    if (!store_ns_item_live(it))
        return true;
    const struct ns *n = &spaces[it->ns];
    uint64_t s = __atomic_load_n(&n->flush_stamp, __ATOMIC_ACQUIRE);
    uint64_t a = __atomic_load_n(&all_flush_stamp, __ATOMIC_ACQUIRE);
    return (s && _at_or_below(it->version, (uint16_t)it->origin, s,
                              __atomic_load_n(&n->flush_origin, __ATOMIC_RELAXED))) ||
           (a && _at_or_below(it->version, (uint16_t)it->origin, a,
                              __atomic_load_n(&all_flush_origin, __ATOMIC_RELAXED)));
}

/* Raise (*stamp, *origin) to (s, o) if above; origin first, so a reader that sees the new
 * stamp sees its origin (marks only grow; a flush is rare). */
static void _raise(uint64_t *stamp, uint16_t *origin, uint64_t s, uint16_t o)
{
    if (_at_or_below(s, o, __atomic_load_n(stamp, __ATOMIC_ACQUIRE), *origin))
        return;
    __atomic_store_n(origin, o, __ATOMIC_RELAXED);
    __atomic_store_n(stamp, s, __ATOMIC_RELEASE);
}

void store_ns_flush_below(int ns, uint64_t stamp, uint16_t origin)
{
    pthread_mutex_lock(&ns_lock);
    if (ns < 0)
        _raise(&all_flush_stamp, &all_flush_origin, stamp, origin);
    else if (ns < store_ns_count())
        _raise(&spaces[ns].flush_stamp, &spaces[ns].flush_origin, stamp, origin);
    pthread_mutex_unlock(&ns_lock);
}

/* Items of a flushed generation no longer count: the flush zeroed the counters. */
void store_ns_account(const struct item *it, int64_t items, int64_t bytes)
{
    if (!store_ns_item_live(it))
        return;
    __atomic_fetch_add(&spaces[it->ns].items, (uint64_t)items, __ATOMIC_RELAXED);
    __atomic_fetch_add(&spaces[it->ns].bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
}

void store_ns_hit(uint16_t ns, bool hit)
{
    __atomic_fetch_add(hit ? &spaces[ns].hits : &spaces[ns].misses, 1, __ATOMIC_RELAXED);
}

void store_ns_add_hits(uint16_t ns, uint64_t n)
{
    if (ns >= store_ns_count())
        return;
    __atomic_fetch_add(&spaces[ns].hits, n, __ATOMIC_RELAXED);
    stat_add(&store_stat->hits, n);
}

static uint64_t _flush_one(uint16_t i)
{
    __atomic_fetch_add(&spaces[i].gen, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&spaces[i].bytes, 0, __ATOMIC_RELAXED);
    return __atomic_exchange_n(&spaces[i].items, 0, __ATOMIC_RELAXED);
}

uint64_t store_ns_flush(int ns)
{
    uint64_t removed = 0;
    if (ns >= 0) {
        if (ns < store_ns_count())
            removed = _flush_one((uint16_t)ns);
        return removed;
    }
    uint16_t n = store_ns_count();
    for (uint16_t i = 0; i < n; i++)
        removed += _flush_one(i);
    return removed;
}
