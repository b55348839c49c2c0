/* The tier policy between the memory store and the disk tiers (DESIGN.md): what an eviction
 * demotes, where a memory miss looks next, what a read promotes back, and keeping disk copies
 * consistent with later changes. This step has an SSD tier only (no HDD tier yet).
 *
 *  - Demotion: the store's demote hook hands over each evicted item. Items never read since
 *    they were written are not demoted (S3-FIFO's insight: most of them are never read
 *    again; SIEVE's read bit is our filter). The others go to a bounded queue; one writer
 *    thread writes them (WAL off). A full queue or a full tier drops the item (counted).
 *  - Reads: a memory miss consults an in-memory index of what the SSD holds (index.h); only
 *    when the key is there does a read go to an I/O thread, and the connection's reply is
 *    deferred (core's core_defer) while other connections go on.
 *  - Promotion: the second disk hit of a key within promote_window_s copies it back into
 *    memory (and the disk copy is then dropped, as for any change).
 *  - Consistency: every change of a key (set, append, delete, touch, flush) marks its index
 *    entry stale at once, under the key's lock, and queues the disk delete behind any
 *    demotion of the same key; a read that completes after a change re-checks memory and the
 *    index on the worker thread before it answers.
 * Not yet: the HDD tier, persistence and warm restart, streams on disk, disk reads for MGET,
 * EXISTS, TTL, GETRANGE and STRLEN (they see the memory tier), INCR/APPEND of a key that only
 * the disk holds (they start from nothing). */
#ifndef TIERING_H
#define TIERING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "option.h"
#include "stats.h"

#define TIERING_OPTIONS(ACTION)                                                                \
    ACTION(ssd_path, OPT_STR, "", OPT_STARTUP,                                                 \
           "directory of the SSD tier (a RocksDB instance); empty = no SSD tier")              \
    ACTION(ssd_size, OPT_SIZE, "1GiB", OPT_STARTUP,                                            \
           "bytes the SSD tier may hold; demotions beyond it are dropped and counted")         \
    ACTION(tier_compress_level, OPT_UINT, "3", OPT_STARTUP,                                    \
           "zstd level (1..19) for values written to a disk tier")                             \
    ACTION(tier_compress_threshold, OPT_SIZE, "512", OPT_STARTUP,                              \
           "values at least this long are zstd-compressed on disk when that saves an eighth")  \
    ACTION(tier_queue, OPT_UINT, "8192", OPT_STARTUP,                                          \
           "demotions and disk deletes waiting for the writer thread; a demotion beyond it "   \
           "is dropped")                                                                       \
    ACTION(tier_io_threads, OPT_UINT, "2", OPT_STARTUP, "threads reading from the disk tiers")\
    ACTION(tier_write_rate, OPT_SIZE, "64MiB", OPT_STARTUP,                                    \
           "background write limit (flush and compaction) of each disk tier, bytes/s")         \
    ACTION(tier_start_empty, OPT_BOOL, "false", OPT_STARTUP,                                   \
           "start a disk tier empty when its directory cannot be opened (else refuse)")        \
    ACTION(demote_unread, OPT_BOOL, "false", OPT_RUNTIME,                                    \
           "also demote evicted items that were never read since written (default: they "    \
           "leave, as in S3-FIFO's small queue)")                                              \
    ACTION(promote_window_s, OPT_UINT, "60", OPT_RUNTIME,                                      \
           "a key read from disk twice within this many seconds moves back to memory")

#define TIERING_STATS(ACTION)                                                                  \
    ACTION(ssd_items, STAT_GAUGE, "keys on the SSD tier")                                      \
    ACTION(ssd_bytes, STAT_GAUGE, "bytes the SSD tier uses (files and memtables)")             \
    ACTION(ssd_hits, STAT_COUNTER, "memory misses answered from the SSD tier")                 \
    ACTION(ssd_reads, STAT_COUNTER, "reads that went to the SSD tier")                         \
    ACTION(demotions, STAT_COUNTER, "evicted items written to the SSD tier")                   \
    ACTION(demote_skipped, STAT_COUNTER, "evicted items never read since written: not demoted")\
    ACTION(demote_dropped, STAT_COUNTER, "demotions dropped: queue full, tier full or write error") \
    ACTION(promotions, STAT_COUNTER, "keys copied back from disk into memory")                 \
    ACTION(disk_deletes, STAT_COUNTER, "stale disk copies deleted after a change")             \
    ACTION(disk_errors, STAT_COUNTER, "disk reads or writes that failed")                      \
    ACTION(checksum_errors, STAT_COUNTER, "disk values whose checksum did not match (never returned)") \
    ACTION(tier_queue_depth, STAT_GAUGE, "jobs waiting for the writer thread")                 \
    ACTION(disk_value_bytes, STAT_COUNTER, "bytes of values demoted (before compression)")     \
    ACTION(disk_stored_bytes, STAT_COUNTER, "bytes written for them (after compression)")

void tiering_options_register(void);
/* Open the configured tiers, hook into the store, start the threads. 0, or -1 (logged). */
int tiering_setup(void);
/* Stop the threads (after the workers stopped), flush and close the tiers. */
void tiering_teardown(void);
bool tiering_enabled(void);
/* "ok" or "degraded" (a write or read failed since the last success), for INFO. */
const char *tiering_ssd_health(void);
const char *tiering_ssd_path(void);
uint64_t tiering_ssd_size(void);
/* Bytes the SSD tier uses now. */
uint64_t tiering_ssd_bytes(void);

/* A value read from disk. data is malloc'd (free with tiering_result_free). */
struct tiering_result {
    int status;      /* TIER_FOUND, TIER_MISS, TIER_ERROR */
    uint8_t type;
    uint8_t *data;
    size_t len;
    uint64_t expire_ms;
    uint64_t version;
    uint64_t hash, seq;
    char err[120];
};
enum { TIER_FOUND = 0, TIER_MISS = 1, TIER_ERROR = 2 };

/* Cheap (index only): may the SSD tier hold this key? */
bool tiering_on_disk(uint64_t hash);
/* DEL of a key memory does not hold: drop the SSD's copy. True if the SSD had it. */
bool tiering_forget(uint16_t ns, const void *key, uint32_t klen, uint64_t hash);
/* Remaining ttl of a result in ms, -1 for none. */
int64_t tiering_ttl_ms(const struct tiering_result *res);
/* After a memory miss: when the SSD may hold the key, queue a read and return true; done()
 * is later called once on an I/O thread (it must not block; hand over to the worker). */
typedef void (*tiering_done_fn)(void *arg, struct tiering_result *res);
bool tiering_read(uint16_t ns, const void *key, uint32_t klen, uint64_t hash, tiering_done_fn done,
                  void *arg);
/* On the worker thread, before answering with res: is the disk copy still current (no change
 * since the read was queued)? Counts the hit and tells whether to promote the key. */
bool tiering_still_current(const struct tiering_result *res, bool *promote);
void tiering_result_free(struct tiering_result *res);

#endif
