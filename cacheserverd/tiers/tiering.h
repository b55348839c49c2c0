/* The tier policy between the memory store and the disk tiers (DESIGN.md, docs/design.md):
 * what an eviction demotes, where a memory miss looks next, what a read promotes back,
 * persistence, and keeping disk copies consistent with later changes.
 *
 *  - Demotion: the store's demote hook hands over each evicted item. Items never read since
 *    they were written are not demoted (S3-FIFO's insight: most of them are never read
 *    again; SIEVE's read bit is our filter). The others go to a bounded queue; one writer
 *    thread writes them in batches. A full queue or a full tier drops the item (counted).
 *  - Reads: a memory miss consults an in-memory index of what the disk holds (index.h); only
 *    when the key is there does a read go to an I/O thread, and the connection's reply is
 *    deferred (core's core_defer) while other connections go on.
 *  - Promotion: the second disk hit of a key within promote_window_s copies it back into
 *    memory (store_load).
 *  - Persistence (persist = async | sync): every change is also queued for the SSD tier,
 *    through RocksDB's write-ahead log, so the disk holds every key and survives a crash:
 *    async writes reach the OS at once and are fsynced every persist_sync_ms; sync writes
 *    are acknowledged only after the fsync of their batch (group commit, tiering_when_durable).
 *    On start the index is rebuilt from the disk and memory refilled, newest writes first,
 *    while the server already answers (restore.c).
 *  - Consistency: every change of a key (set, append, delete, touch, flush) marks its index
 *    entry at once, under the key's lock, and the matching disk write or delete is queued in
 *    the same order; a read that completes after a change re-checks memory and the index on
 *    the worker thread before it answers.
 *  - Tiers: up to two disk tiers (SSD, then HDD). Evicted items and persisted changes go to
 *    the first; when a tier's records pass 90% of its size, a CLOCK hand (shed.c) moves the
 *    coldest (not read from disk since it last passed) to the next tier, or out of the cache
 *    from the last one, until under 80%.
 *  - Streams: a stream longer than stream_spill_size keeps its full chunks on the first disk
 *    tier (written by the writer thread, then dropped from memory); reads of them go to the
 *    I/O threads (tiering_read_chunk). With persistence every stream spills, and each
 *    change writes its last chunk, then its head (id and length) at its key. */
#ifndef TIERING_H
#define TIERING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "option.h"
#include "stats.h"
#include "store.h"

#define TIERING_OPTIONS(ACTION)                                                                \
    ACTION(ssd_path, OPT_STR, "", OPT_STARTUP,                                                 \
           "directory of the SSD tier (a RocksDB instance; created with its parents if "       \
           "missing); empty = no SSD tier")                                                    \
    ACTION(ssd_size, OPT_SIZE, "1GiB", OPT_STARTUP,                                            \
           "bytes of records (keys and stored values) the SSD tier may hold; above 90% the "   \
           "coldest move to the HDD tier (or leave the cache) until under 80%. With "          \
           "ssd_backend vlog: bytes of its files")                                              \
    ACTION(ssd_backend, OPT_STR, "vlog", OPT_STARTUP,                                          \
           "vlog | rocksdb: how the SSD tier stores values (vlog: a value log of segment "     \
           "files, one pread per read; rocksdb: a RocksDB database found by key); a "          \
           "persisted tier of the other kind is moved at start")                                \
    ACTION(vlog_segment_size, OPT_SIZE, "0", OPT_STARTUP,                                      \
           "ssd_backend vlog: bytes of a segment file (0 = a 32nd of the tier, 1 MiB to "      \
           "64 MiB; at most an 8th of the tier)")                                              \
    ACTION(vlog_inline_reads, OPT_BOOL, "false", OPT_RUNTIME,                                  \
           "ssd_backend vlog: read a disk record on the worker when it is in the page cache "  \
           "(no hop to an I/O thread); records up to 16 KiB, never a stream's head")            \
    ACTION(hdd_path, OPT_STR, "", OPT_STARTUP,                                                 \
           "directory of the HDD tier (a RocksDB instance; created with its parents if "       \
           "missing); empty = no HDD tier. Without an "                                        \
           "SSD tier it is the only disk tier")                                                \
    ACTION(hdd_size, OPT_SIZE, "10GiB", OPT_STARTUP,                                           \
           "bytes of records the HDD tier may hold; above 90% the coldest leave the cache")    \
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
           "start a disk tier empty when its existing directory cannot be opened (damaged; "   \
           "else refuse)")                                                                     \
    ACTION(demote_unread, OPT_BOOL, "false", OPT_RUNTIME,                                    \
           "also demote evicted items that were never read since written (default: they "    \
           "leave, as in S3-FIFO's small queue)")                                              \
    ACTION(promote_window_s, OPT_UINT, "60", OPT_RUNTIME,                                      \
           "a key read from disk twice within this many seconds moves back to memory (0 = never)")         \
    ACTION(promote_admission, OPT_BOOL, "true", OPT_RUNTIME,                                   \
           "promote a key only when it is read more often than the item memory would evict "   \
           "for it (a frequency sketch, TinyLFU); false: always")                              \
    ACTION(stream_spill_size, OPT_SIZE, "4MiB", OPT_STARTUP,                                   \
           "a stream (APPEND) longer than this keeps its full 256 KiB chunks on the first disk "\
           "tier and only its last chunk in memory")                                           \
    ACTION(persist, OPT_STR, "off", OPT_STARTUP,                                               \
           "off | async | sync: keep every write on the SSD tier to survive restarts and "      \
           "crashes (async: on disk within persist_sync_ms; sync: acknowledged once durable)") \
    ACTION(persist_sync_ms, OPT_UINT, "1000", OPT_STARTUP,                                     \
           "async persistence: fsync the write-ahead log this often")                          \
    ACTION(persist_queue, OPT_UINT, "65536", OPT_STARTUP,                                      \
           "async persistence: writes waiting for the disk; beyond it a write's reply waits "  \
           "until the disk caught up (as with sync); only beyond 4 times it is a write not "   \
           "persisted (counted in persist_dropped, its older disk copy deleted)")

#define TIERING_STATS(ACTION)                                                                  \
    ACTION(ssd_items, STAT_GAUGE, "keys on the SSD tier")                                      \
    ACTION(ssd_bytes, STAT_GAUGE, "bytes of the SSD tier's records (what ssd_size limits)")    \
    ACTION(ssd_disk_bytes, STAT_GAUGE, "bytes the SSD tier's RocksDB files and memtables use") \
    ACTION(ssd_hits, STAT_COUNTER, "memory misses answered from the SSD tier")                 \
    ACTION(ssd_reads, STAT_COUNTER, "reads that went to the SSD tier")                         \
    ACTION(hdd_items, STAT_GAUGE, "keys on the HDD tier")                                      \
    ACTION(hdd_bytes, STAT_GAUGE, "bytes of the HDD tier's records (what hdd_size limits)")    \
    ACTION(hdd_disk_bytes, STAT_GAUGE, "bytes the HDD tier's RocksDB files and memtables use") \
    ACTION(hdd_hits, STAT_COUNTER, "memory misses answered from the HDD tier")                 \
    ACTION(hdd_reads, STAT_COUNTER, "reads that went to the HDD tier")                         \
    ACTION(hdd_demotions, STAT_COUNTER, "cold keys moved from the SSD to the HDD tier")        \
    ACTION(tier_evictions, STAT_COUNTER, "cold keys the last disk tier shed: gone from the cache") \
    ACTION(demotions, STAT_COUNTER, "evicted items written to the first disk tier")           \
    ACTION(demote_skipped, STAT_COUNTER, "evicted items never read since written: not demoted")\
    ACTION(demote_dropped, STAT_COUNTER, "demotions dropped: queue full, tier full or write error") \
    ACTION(promotions, STAT_COUNTER, "keys copied back from disk into memory")                 \
    ACTION(promotions_refused, STAT_COUNTER, "promotions refused: the key was read no more "   \
           "often than the item memory would have evicted for it")                             \
    ACTION(disk_deletes, STAT_COUNTER, "stale disk copies deleted after a change")             \
    ACTION(disk_errors, STAT_COUNTER, "disk reads or writes that failed")                      \
    ACTION(checksum_errors, STAT_COUNTER, "disk values whose checksum did not match (never returned)") \
    ACTION(tier_queue_depth, STAT_GAUGE, "jobs waiting for the writer thread")                 \
    ACTION(disk_value_bytes, STAT_COUNTER, "bytes of values demoted (before compression)")     \
    ACTION(disk_stored_bytes, STAT_COUNTER, "bytes written for them (after compression)")     \
    ACTION(persist_writes, STAT_COUNTER, "changes written to disk by persistence")             \
    ACTION(persist_dropped, STAT_COUNTER, "changes not persisted: queue or tier full, or error")\
    ACTION(persist_waits, STAT_COUNTER,                                                        \
           "async persistence: replies held until the disk caught up (queue full or behind)") \
    ACTION(persist_batches, STAT_COUNTER, "group commits (one write-ahead-log write each)")    \
    ACTION(persist_lag_ms, STAT_GAUGE, "age of the newest change in the last batch written")   \
    ACTION(restore_indexed, STAT_GAUGE, "keys found on disk at start (warm restart)")          \
    ACTION(restore_loaded, STAT_GAUGE, "of those, loaded back into memory")                    \
    ACTION(restore_ms, STAT_GAUGE, "warm restart: ms until memory was refilled (0 = running)") \
    ACTION(ssd_index_bytes, STAT_GAUGE, "memory of the index of disk-held keys")              \
    ACTION(tier_rocksdb_bytes, STAT_GAUGE,                                                   \
           "RocksDB's own memory: memtables, block cache and table readers, every tier")     \
    ACTION(stream_chunks_written, STAT_COUNTER, "stream chunks written to the first disk tier") \
    ACTION(stream_chunks_deferred, STAT_COUNTER,                                               \
           "stream chunks not written yet (queue or tier full, write error): kept in memory")  \
    ACTION(stream_chunk_reads, STAT_COUNTER, "stream chunks read from disk")                   \
    ACTION(stream_disk_bytes, STAT_GAUGE, "bytes of stream chunk records on the first tier")   \
    ACTION(stream_backlog_bytes, STAT_GAUGE,                                                   \
           "bytes of stream chunks waiting for the writer (above 8 MiB or memory/4, APPENDs wait)") \
    ACTION(vlog_segments, STAT_GAUGE, "ssd_backend vlog: segment files of the SSD tier")       \
    ACTION(vlog_dead_bytes, STAT_GAUGE,                                                        \
           "ssd_backend vlog: bytes of records in its segments that no key names any more")    \
    ACTION(vlog_bytes_appended, STAT_COUNTER,                                                  \
           "ssd_backend vlog: bytes of records appended (moves included)")                     \
    ACTION(vlog_bytes_moved, STAT_COUNTER,                                                     \
           "ssd_backend vlog: bytes of live records the reclaim copied to the head")           \
    ACTION(vlog_segments_dropped, STAT_COUNTER,                                                \
           "ssd_backend vlog: segments the reclaim emptied and removed")                       \
    ACTION(vlog_expired_dropped, STAT_COUNTER,                                                 \
           "ssd_backend vlog: expired records the reclaim dropped from the index") \
    ACTION(vlog_inline_reads, STAT_COUNTER,                                                    \
           "vlog_inline_reads: disk reads answered on the worker from the page cache")          \
    ACTION(vlog_inline_missed, STAT_COUNTER,                                                   \
           "vlog_inline_reads: cached records that were not the key's (sent to an I/O thread)")

void tiering_options_register(void);
/* Open the configured tiers, hook into the store, start the threads. 0, or -1 (logged). */
int tiering_setup(void);
/* Stop the threads (after the workers stopped), flush and close the tiers. */
void tiering_teardown(void);
bool tiering_enabled(void);
/* The disk tiers, for INFO: i = 0, 1, ... while tiering_tier_info returns true. */
struct tiering_tier_info {
    const char *name;   /* "ssd" or "hdd" */
    const char *path;
    uint64_t size;      /* the configured limit */
    uint64_t used;      /* bytes of records */
    uint64_t disk;      /* bytes of RocksDB files and memtables */
    uint64_t items;
    const char *health; /* "ok", or "degraded" (a write or read failed since the last success) */
};
bool tiering_tier_info(int i, struct tiering_tier_info *out);
/* Latency of the disk reads of tier i (0 = first, 1 = HDD behind an SSD), in µs from the
 * moment the read was queued until it was read and verified; NULL when there is no such tier. */
struct histogram;
const struct histogram *tiering_read_histogram(int i);
/* "memory", "memory,ssd", "memory,ssd,hdd" or "memory,hdd". */
const char *tiering_tiers(void);

/* A value read from disk. data is malloc'd (free with tiering_result_free). */
struct tiering_result {
    int status;      /* TIER_FOUND, TIER_MISS, TIER_ERROR */
    uint8_t tier;    /* where it was found */
    uint8_t type;
    uint8_t *data;
    size_t len;
    uint32_t ctr_len;   /* a replicated counter's state, at data + len (0: none) */
    uint64_t expire_ms;
    uint64_t version;
    uint64_t hash, seq;
    uint64_t sid, slen; /* type STREAM: the stream's id and length; data is its last chunk */
    struct store_stream_meta smeta; /* and its epoch and origins, when its head keeps them */
    char err[120];
};
enum { TIER_FOUND = 0, TIER_MISS = 1, TIER_ERROR = 2 };

/* Cheap (index only), after a memory miss: may a disk tier hold this key? True when the
 * index says so, and during a warm restart's indexing for keys not indexed yet. */
bool tiering_on_disk(uint64_t hash);
/* "off", "async" or "sync". */
const char *tiering_persist_mode(void);
/* Async persistence falling behind (persist_queue writes queued, or the oldest waiting
 * longer than persist_sync_ms): a ticket covering every change queued so far, for the
 * reply of a write to wait on (tiering_when_durable), so a burst slows its writers instead
 * of losing what was acknowledged and the loss window of a crash stays near
 * persist_sync_ms; else 0. */
uint64_t tiering_backpressure_ticket(void);
/* Sync persistence: a ticket covering every change queued so far (0 when writes need no
 * wait). tiering_when_durable calls fn(arg, ok, err) once they are all on disk, at once
 * (on the caller's thread) when they already are, else on the writer thread. */
uint64_t tiering_durable_ticket(void);
typedef void (*tiering_durable_fn)(void *arg, bool ok, const char *err);
void tiering_when_durable(uint64_t ticket, tiering_durable_fn fn, void *arg);
/* Remaining ttl of a result in ms, -1 for none. */
int64_t tiering_ttl_ms(const struct tiering_result *res);
/* What tiering_read and tiering_read_chunk did with the read. */
enum tiering_queued {
    TIERING_QUEUED = 0, /* done() is called once, later, on an I/O thread */
    TIERING_NOT_THERE,  /* the disk does not hold it (or the tiers are off or stopping): a miss */
    TIERING_NO_MEMORY,  /* an allocation failed: the request answers E_NOMEM */
};
/* After a memory miss: when the SSD may hold the key, queue a read; done() is later called
 * once on an I/O thread (it must not block; hand over to the worker). */
typedef void (*tiering_done_fn)(void *arg, struct tiering_result *res);
enum tiering_queued tiering_read(uint16_t ns, const void *key, uint32_t klen, uint64_t hash,
                                 tiering_done_fn done, void *arg);
/* When more than 8 MiB (or a quarter of the memory limit) of stream chunks wait for the
 * writer: a ticket covering every job queued so far (for tiering_when_durable), so an APPEND
 * reply waits until they are written and memory never holds more than a bounded part of
 * the streams on disk; else 0. */
uint64_t tiering_stream_ticket(void);
/* Values read from a disk tier that failed their checksum, so far (the health monitor). */
uint64_t tiering_checksum_errors(void);
/* Read chunk idx of stream sid (store_spilled_fn) from the first tier; done() as for
 * tiering_read (res->data, res->len: the chunk). False when it could not be queued. */
enum tiering_queued tiering_read_chunk(uint64_t sid, uint32_t idx, tiering_done_fn done,
                                       void *arg);
/* Now, on the calling thread (replication's full sync): bytes [start, start + want) of
 * stream sid, within one of its full chunks on the first tier. 0, or -1 (err says why: the
 * stream is gone, a read error). */
int tiering_stream_read(uint64_t sid, uint64_t start, size_t want, uint8_t *out, char *err,
                        size_t errlen);
/* Now, on the calling thread: put the stream a disk tier holds at k (its current copy: the
 * index entry LIVE) back in memory, its chunks but the last staying on disk, as a read
 * would. True when memory holds it afterwards. */
bool tiering_stream_load(const struct store_key *k);
/* On the worker thread, before answering with res: is the disk copy still current (no change
 * since the read was queued)? Counts the hit and tells whether to promote the key. */
bool tiering_still_current(const struct tiering_result *res, bool *promote);
/* Put a found result back in memory (promotion, or a command that needs the value) unless
 * the key changed since the read. STORE_OK, STORE_NOT_STORED or STORE_ENOMEM. */
int tiering_load(uint16_t ns, const void *key, uint32_t klen, const struct tiering_result *res);
/* A promotion (tiering_still_current said so): tiering_load, unless admission refuses it
 * (promote_admission); counts promotions and promotions_refused. */
void tiering_promote(uint16_t ns, const void *key, uint32_t klen, const struct tiering_result *res);
/* A read of key hash h that memory answered (GET, MGET): counted for promotion admission. */
void tiering_note_read(uint64_t h);
void tiering_result_free(struct tiering_result *res);

/* fn(arg, ok, err) once the writer has written (or failed) every job queued so far: at once
 * on the caller's thread when it has, else on the writer's thread (as tiering_when_durable,
 * whatever the persistence). */
void tiering_when_written(tiering_durable_fn fn, void *arg);
/* store_apply of a peer's change, and when it answers STORE_ON_DISK, again with the version
 * of the key's disk copy, read on the caller's thread (a disk read: the link thread's); a
 * counter's state is merged with the disk copy's, loaded back into memory first. */
enum store_status tiering_apply_remote(const struct store_key *k, struct store_remote *r);

/* Replication's walk of what the disk tiers hold: a full sync sends it, the receiver's
 * sweep after one checks it (docs/replication.md, "Full sync"). Records in tier-key order,
 * the first tier, then the HDD behind an SSD; only each key's current copy (its index entry
 * LIVE on that tier, or no entry yet during a warm restart's indexing; when a write of the
 * key is queued, the value on its way instead): no stale copy waiting for its delete, no
 * stream chunk, nothing expired. It reads the disk on the
 * caller's thread, a bounded number of records per step. */
struct tiering_scan;
struct tiering_scan_rec {
    struct store_key key;  /* its namespace found or created by name; data valid in fn only */
    uint8_t type;
    bool stream;           /* a stream's head (value NULL) */
    const uint8_t *value;  /* the value's encoding, with values (valid in fn only) */
    size_t len;
    const uint8_t *ctr;    /* with values: a replicated counter's state, or NULL */
    uint32_t ctr_len;
    uint64_t expire_ms, version;
    uint64_t seq;          /* the index entry's sequence (tiering_drop_older) */
};
typedef void (*tiering_scan_fn)(void *arg, const struct tiering_scan_rec *r);
/* values: decode (and verify) each value; without, only the header is read. NULL when out
 * of memory; a walk of nothing without disk tiers. */
struct tiering_scan *tiering_scan_new(bool values);
/* Hand up to max records (skipped ones count too) to fn. False once the walk is over. */
bool tiering_scan_step(struct tiering_scan *s, unsigned max, tiering_scan_fn fn, void *arg);
void tiering_scan_free(struct tiering_scan *s);
/* store_drop_older_disk for the record r: drop the key's copy here when it is older than
 * stamp and not above (mark, mark_origin), unless it changed since the walk read it. */
bool tiering_drop_older(const struct tiering_scan_rec *r, uint64_t stamp, uint64_t mark,
                        uint16_t mark_origin);

#ifdef CACHE_FAULT_INJECTION
/* FAULT vlog-sync-fail n: the next n fdatasyncs of a value log's active segment fail with
 * EIO, the data written left as it is (what a real failure leaves is unknown; the log treats
 * it as lost: backend_vlog.c, _cut). Answers n. */
uint32_t tiering_fault_sync_fail(uint32_t n);
#endif

#endif
