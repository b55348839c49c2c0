/* The seam between the tier policy (tiers/) and a disk tier's store of KEY records (the
 * records whose key is tierdb_key's: a namespace name and a key; a stream's head is one).
 * The writer, the readers, shedding, the warm restart, replication's walk and the stream
 * code's head lookups call a tier's key records only through these functions, so a second
 * implementation (the value log of docs/valuelog.md, step 3) can take their place.
 * backend_rocksdb.c is the only implementation: thin wrappers over tierdb, the same RocksDB
 * calls in the same order with the same flags as before the seam.
 *
 * What does NOT go through the seam: streams' chunk (0xfe) and append (0xfd) records. They
 * stay in RocksDB whatever the back end (valuelog.md, "What stays in RocksDB": range deletes
 * by stream id, an ordered walk of a stream's appends), so streams.c and reader.c use
 * tierdb directly, on the database tbe_streams() gives:
 *   - tbe_streams(be): the tierdb holding the tier's stream records (RocksDB back end: the
 *     same database as its key records);
 *   - tbe_batch_streams(b): the tierdb batch that tbe_commit(b) writes together with b's key
 *     records. The writer's batch mixes a key's head with its chunks (a chunk put before
 *     the head naming it, a TJOB_DEL deleting a head and its chunks, a TJOB_CHUNK_DEL): with
 *     the RocksDB back end both kinds are ONE rocksdb_write, as before, so a crash keeps all
 *     of a batch or none of it. Only stream code (and the writer on its behalf) may use it.
 *     A log back end commits the two in a fixed order instead (valuelog.md: the three-phase
 *     batch).
 *
 * Recovery: opening replays RocksDB's write-ahead log; the warm restart (restore.c) indexes
 * a tier with a scan; after a write fault the writer closes and reopens the tier, then
 * either empties its key records (tbe_empty, no persistence) or reconciles the index with a
 * scan. A log back end's replay (valuelog.md, step 4) is to plug in as that scan.
 *
 * Threads: as tierdb. A tier's readers hold struct tier's read lock around a use of its
 * back end; the writer closes and reopens it under the write lock. */
#ifndef TIERS_BACKEND_H
#define TIERS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "tierdb.h"

enum tbe_kind { TBE_ROCKSDB = 0, TBE_VLOG = 1 };

struct tbe_opts {
    enum tbe_kind kind;
    const char *path;
    uint8_t tier;             /* TIX_SSD or TIX_HDD: the index slot the log counts in */
    uint64_t size;            /* the tier's size (a log sizes its segments from it) */
    bool persist;             /* persistence: a log writes deletes, syncs and is replayed */
    uint64_t segment_size;    /* a log's segments (0: from size) */
    int64_t write_rate_bytes; /* background write limit, bytes/s (0 = none) */
    bool start_empty;         /* a directory that cannot be opened is wiped instead */
    uint64_t (*now_ms)(void); /* clock for expiry (unix ms) */
    /* Told of each expired record dropped in the background (may be NULL); any thread.
     * Fits tiering_stream_head_gone. */
    void (*expired)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
    void *expired_arg;
};

struct tbe;       /* one open tier's store */
struct tbe_batch; /* key changes committed together (one per tier in the writer) */
struct tbe_scan;  /* a cursor over a tier's records in key order */
struct tbe_ops;

/* Where a put's record went, filled by tbe_commit (RocksDB: by tbe_put already): its
 * location (TIX_NOLOC on RocksDB, which finds keys by their bytes) and the bytes it takes
 * (the index entry's dlen). */
struct tbe_where {
    struct tix_loc loc;
    uint32_t len;
};

/* Every implementation's objects start with their ops. A batch belongs to the back end
 * kind, not to one open store: the writer's outlives a close and reopen of its tier. */
struct tbe {
    const struct tbe_ops *ops;
};
struct tbe_batch {
    const struct tbe_ops *ops;
};
struct tbe_scan {
    const struct tbe_ops *ops;
};

struct tbe_ops {
    const char *name;
    void (*close)(struct tbe *be);

    /* batches */
    struct tbe_batch *(*batch_new)(void);
    void (*batch_free)(struct tbe_batch *b);
    void (*put)(struct tbe_batch *b, uint64_t hash, const void *key, size_t klen,
                const void *val, size_t vlen, struct tbe_where *where);
    void (*del)(struct tbe_batch *b, uint64_t hash, const void *key, size_t klen);
    void (*del_range)(struct tbe_batch *b, const void *start, size_t slen, const void *end,
                      size_t elen);
    size_t (*count)(struct tbe_batch *b);
    int (*commit)(struct tbe *be, struct tbe_batch *b, bool wal, bool sync, char *err,
                  size_t errlen);
    int (*commit_late)(struct tbe *be, struct tbe_batch *b, bool wal, bool sync, char *err,
                       size_t errlen);
    void (*drop_late)(struct tbe_batch *b);
    struct tierdb_batch *(*batch_streams)(struct tbe_batch *b);
    struct tierdb_batch *(*batch_streams_late)(struct tbe_batch *b);

    /* reads */
    int (*get)(struct tbe *be, const void *key, size_t klen, struct tix_loc loc, uint32_t dlen,
               uint8_t **val, size_t *vlen, char *err, size_t errlen);
    struct tbe_scan *(*scan_new)(struct tbe *be, const void *from, size_t flen);
    bool (*scan_next)(struct tbe_scan *s, const uint8_t **key, size_t *klen,
                      const uint8_t **val, size_t *vlen);
    int (*scan_status)(struct tbe_scan *s, char *err, size_t errlen);
    struct tbe_where (*scan_where)(struct tbe_scan *s);
    void (*scan_free)(struct tbe_scan *s);

    /* the store as a whole */
    int (*empty)(struct tbe *be, bool streams, char *err, size_t errlen);
    int (*sync)(struct tbe *be, char *err, size_t errlen);
    void (*flush)(struct tbe *be);
    void (*compact)(struct tbe *be);
    uint64_t (*bytes)(struct tbe *be);
    uint64_t (*memory)(struct tbe *be);
    struct tierdb *(*streams)(struct tbe *be);
};

/* backend_rocksdb.c */
extern const struct tbe_ops tbe_rocksdb_ops;
struct tbe *tbe_rocksdb_open(const struct tbe_opts *o, char *err, size_t errlen);
/* backend_vlog.c (its own calls for the space reclaim: backend_vlog.h) */
extern const struct tbe_ops tbe_vlog_ops;
struct tbe *tbe_vlog_open(const struct tbe_opts *o, char *err, size_t errlen);

/* Open or create the store o->kind names at o->path. NULL with a message in err when the
 * directory cannot be used (a corrupt one is refused unless start_empty). */
static inline struct tbe *tbe_open(const struct tbe_opts *o, char *err, size_t errlen)
{
    return o->kind == TBE_VLOG ? tbe_vlog_open(o, err, errlen) : tbe_rocksdb_open(o, err, errlen);
}
/* Is be a value log (backend_vlog.h)? */
static inline bool tbe_is_log(const struct tbe *be) { return be && be->ops == &tbe_vlog_ops; }
/* NULL is ignored. */
static inline void tbe_close(struct tbe *be)
{
    if (be)
        be->ops->close(be);
}

/* ---- batches: changes to key records, written by tbe_commit at once ---- */
/* A batch for stores of be's kind (it may outlive be: the writer's does). NULL without
 * memory. */
static inline struct tbe_batch *tbe_batch_new(const struct tbe *be) { return be->ops->batch_new(); }
static inline void tbe_batch_free(struct tbe_batch *b)
{
    if (b)
        b->ops->batch_free(b);
}
/* The record of key (whose store hash is hash) is val (a diskval encoding). where (may be
 * NULL) is filled once tbe_commit wrote it: what the index entry must say. key and val are
 * copied. */
static inline void tbe_put(struct tbe_batch *b, uint64_t hash, const void *key, size_t klen,
                           const void *val, size_t vlen, struct tbe_where *where)
{
    b->ops->put(b, hash, key, klen, val, vlen, where);
}
/* The key's record goes (a log writes a tombstone only with persistence: without, the index
 * change is the whole delete). */
static inline void tbe_delete(struct tbe_batch *b, uint64_t hash, const void *key, size_t klen)
{
    b->ops->del(b, hash, key, klen);
}
/* Every key record in [start, end): a namespace's, or (start "", end 0xff) all of them (a
 * FLUSH of every namespace). RocksDB: one range delete over the whole database, so that
 * last range takes the streams' records (0xfd, 0xfe) too, as it always did; a log back end
 * must then delete them itself, in the batch's stream part. */
static inline void tbe_delete_range(struct tbe_batch *b, const void *start, size_t slen,
                                    const void *end, size_t elen)
{
    b->ops->del_range(b, start, slen, end, elen);
}
/* Changes in b, its stream records' included (nothing to commit when 0). */
static inline size_t tbe_batch_count(struct tbe_batch *b) { return b->ops->count(b); }
/* Write and empty b but for its late part (see tbe_batch_streams_late). wal = through the write-ahead log
 * (false for demoted copies: a crash only loses cache contents); sync = durable against
 * power loss before returning. 0, or -1 with a message in err. */
static inline int tbe_commit(struct tbe *be, struct tbe_batch *b, bool wal, bool sync,
                             char *err, size_t errlen)
{
    return be->ops->commit(be, b, wal, sync, err, errlen);
}
/* The stream records' part of b (see the top of this file): stream code only. Puts of
 * chunks and appends go to tbe_batch_streams, written by tbe_commit before b's key records
 * (RocksDB: in the same write); deletes of them to tbe_batch_streams_late, written by
 * tbe_commit_late, which the writer calls once every tier's tbe_commit succeeded: a head is
 * written after the chunks it names, and the chunks a replaced or deleted head named are
 * deleted only once that change is on every tier (an HDD copy of the old head deleted too;
 * a crash in between leaves orphaned chunks, which a restart deletes, never a head naming
 * chunks that are gone). */
static inline struct tierdb_batch *tbe_batch_streams(struct tbe_batch *b)
{
    return b->ops->batch_streams(b);
}
static inline struct tierdb_batch *tbe_batch_streams_late(struct tbe_batch *b)
{
    return b->ops->batch_streams_late(b);
}
/* Write b's late part (after tbe_commit of every tier's batch). 0, or -1. */
static inline int tbe_commit_late(struct tbe *be, struct tbe_batch *b, bool wal, bool sync,
                                  char *err, size_t errlen)
{
    return be->ops->commit_late(be, b, wal, sync, err, errlen);
}
/* Forget b's late part (a tier's commit failed: the deletes wait for a restart's walk). */
static inline void tbe_drop_late(struct tbe_batch *b) { b->ops->drop_late(b); }

/* ---- reads ---- */
/* The record of key. loc and dlen are where the index says it is and its length (a log
 * back end reads it there; TIX_NOLOC: unknown, which a log cannot look up by key: missing);
 * the RocksDB back end ignores them. 0 found (*val malloc'd, free() it), 1 missing, -1 error
 * (message in err). */
static inline int tbe_get(struct tbe *be, const void *key, size_t klen, struct tix_loc loc,
                          uint32_t dlen, uint8_t **val, size_t *vlen, char *err, size_t errlen)
{
    return be->ops->get(be, key, klen, loc, dlen, val, vlen, err, errlen);
}
/* A cursor over the tier's records in key order, from the first at or after `from` (NULL,
 * 0: from the first); NULL without memory. The RocksDB back end's cursor is the database's
 * iterator, one snapshot: after the key records it also yields the stream records (their
 * keys start with 0xfd and 0xfe, after every key record's name length, at most 64), which
 * every caller skips by key (tiering_key_parse, tiering_stream_record) except restore.c,
 * which counts them on the same walk and relies on that one snapshot (a chunk is an orphan
 * only when no head of the same snapshot names its stream). */
static inline struct tbe_scan *tbe_scan_new(struct tbe *be, const void *from, size_t flen)
{
    return be->ops->scan_new(be, from, flen);
}
/* The next record; key and val stay valid until the next call. False at the end (or on an
 * error: tbe_scan_status). */
static inline bool tbe_scan_next(struct tbe_scan *s, const uint8_t **key, size_t *klen,
                                 const uint8_t **val, size_t *vlen)
{
    return s->ops->scan_next(s, key, klen, val, vlen);
}
/* After the last record: 0, or -1 with a message when the scan stopped on an error. */
static inline int tbe_scan_status(struct tbe_scan *s, char *err, size_t errlen)
{
    return s->ops->scan_status(s, err, errlen);
}
/* Where the record tbe_scan_next gave is (a log: its location and length, what its index
 * entry must say; RocksDB: TIX_NOLOC and the key's and value's bytes). */
static inline struct tbe_where tbe_scan_where(struct tbe_scan *s)
{
    return s->ops->scan_where(s);
}
/* NULL is ignored. */
static inline void tbe_scan_free(struct tbe_scan *s)
{
    if (s)
        s->ops->scan_free(s);
}

/* ---- the store as a whole ---- */
/* Delete every key record now, without the write-ahead log; with streams, the stream
 * records too (a tier starting empty without persistence: RocksDB's range "" to 0xff; a
 * tier reopened after a fault keeps its spilled streams' chunks: "" to 0xfd). 0, or -1. */
static inline int tbe_empty(struct tbe *be, bool streams, char *err, size_t errlen)
{
    return be->ops->empty(be, streams, err, errlen);
}
/* Make what was committed without sync durable (async persistence, once a second). */
static inline int tbe_sync(struct tbe *be, char *err, size_t errlen)
{
    return be->ops->sync(be, err, errlen);
}
/* Write what is held in memory to files (clean shutdown; a small disk's room). */
static inline void tbe_flush(struct tbe *be) { be->ops->flush(be); }
/* Give the space of deleted and overwritten records back now (a small disk's room). */
static inline void tbe_compact(struct tbe *be) { be->ops->compact(be); }
/* Bytes on disk plus what is held in memory to be written: what counts against the tier's
 * size (ssd_disk_bytes). */
static inline uint64_t tbe_bytes(struct tbe *be) { return be->ops->bytes(be); }
/* The store's own memory (tier_rocksdb_bytes). */
static inline uint64_t tbe_memory(struct tbe *be) { return be->ops->memory(be); }
/* The tierdb holding the tier's stream records (see the top of this file). */
static inline struct tierdb *tbe_streams(struct tbe *be) { return be->ops->streams(be); }

/* Per-segment live bytes (what a log back end's space reclaim ranks segments by) are kept
 * by the index (index.h, tix_seg_live). */

#endif
