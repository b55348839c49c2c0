/* Private to store/: the shared-memory read region (docs/shm-reads.md). shm.c owns the
 * region; store.c calls it from the mutation path with the key's shard lock held (`do_`). */
#ifndef STORE_SHM_H
#define STORE_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm_format.h"

struct item;
struct option_desc;
struct option_value;

/* The option check of shm-read-size: auto, 0 or a size up to 64 GiB. */
int store_shm_size_check(const struct option_desc *d, const struct option_value *v, char *err,
                         size_t errlen);

/* Create the region (shm-read-size; off, with a log line, when 0 or too small) and start
 * csd-shm. 0, or -1 only on out of memory; a region the kernel refuses leaves it off. */
int store_shm_setup(void);
/* Mark the region dead, stop csd-shm, unmap it, drop this thread's offers. */
void store_shm_teardown(void);

/* shm-reads is on and the region exists: publishing is allowed. */
bool store_shm_publishing(void);

/* Shard locked: it->shm_slot != 0 (it is published): invalidate its slot and clear it. */
void do_store_shm_invalidate(struct item *it);
/* A FLUSH of ns (< 0: every namespace) changed the store: bump its flush counter(s). */
void store_shm_flushed(int ns);
/* ns_flush[ns] (acquire): a publish reads it before it checks the item under the lock. */
uint64_t store_shm_ns_snapshot(uint16_t ns);
/* Would an entry for it fit (SHM_ENTRY_MAX) and may its type be published? */
bool store_shm_fits(const struct item *it);
/* Shard locked, it linked, current, unpublished and intact: copy it into the region with
 * the flush counter snapshot snap. True when published. */
bool do_store_shm_write(struct item *it, uint64_t hash, uint64_t snap);
/* Shard locked: a GET hit of it whose flags were prev_flags before the hit: should it be
 * offered? */
bool do_store_shm_wants(const struct item *it, uint8_t prev_flags);
/* Off the lock: queue a referenced item for publication on this thread (the reference goes
 * with it; a full list drops it, counted in shm.offers_dropped). */
void store_shm_offer(struct item *it);
/* The region's mapping and size (NULL when off): for tests that read it as a client would. */
const void *store_shm_base(size_t *size);
/* ns.c, under its lock: namespace id got its name (before the release of ns_count). */
void store_shm_ns_named(uint16_t id, const char *name, uint8_t len);

#endif
