/* One RocksDB instance for one disk tier (SSD or HDD). Keys are the tier key (namespace name
 * and key, see tierdb_key), values the diskval format. RocksDB's own compression is off (zstd
 * is applied per value, so the ratio is known); a compaction filter drops expired values; a
 * rate limiter caps background writes (flush and compaction) so reads are not starved. */
#ifndef TIER_TIERDB_H
#define TIER_TIERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tierdb;

struct tierdb_opts {
    const char *path;
    int64_t write_rate_bytes;   /* background write limit, bytes/s (0 = none) */
    bool start_empty;           /* a directory that cannot be opened is wiped instead */
    uint64_t (*now_ms)(void);   /* clock for the compaction filter (unix ms) */
    /* Told of each expired record the compaction filter drops (may be NULL). Runs on
     * RocksDB's background threads: must be quick and thread-safe. */
    void (*expired)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
    void *expired_arg;
};

/* Open or create. NULL with a message in err when the directory cannot be used (a corrupt
 * directory is refused unless start_empty). */
struct tierdb *tierdb_open(const struct tierdb_opts *o, char *err, size_t errlen);
void tierdb_close(struct tierdb *db);

/* The tier key of (namespace name, key): a length byte, the name, then the key. Returns the
 * length written to out (out holds at least 1 + nslen + klen bytes). */
size_t tierdb_key(uint8_t *out, const char *ns, size_t nslen, const void *key, size_t klen);

/* wal = false for demoted copies (losing the newest on a crash only loses cache contents).
 * 0, or -1 with a message in err. */
int tierdb_put(struct tierdb *db, const void *key, size_t klen, const void *val, size_t vlen,
               bool wal, char *err, size_t errlen);
/* 0 found (*val malloc'd, free() it), 1 missing, -1 error (message in err). */
int tierdb_get(struct tierdb *db, const void *key, size_t klen, uint8_t **val, size_t *vlen,
               char *err, size_t errlen);
int tierdb_delete(struct tierdb *db, const void *key, size_t klen, bool wal, char *err,
                  size_t errlen);
/* Delete every key in [start, end). 0, or -1 with a message in err. */
int tierdb_delete_range(struct tierdb *db, const void *start, size_t slen, const void *end,
                        size_t elen, bool wal, char *err, size_t errlen);

/* A group of changes written at once (group commit): one WAL record, one fsync when sync. */
struct tierdb_batch;
struct tierdb_batch *tierdb_batch_new(void);
void tierdb_batch_free(struct tierdb_batch *b);
/* Forget what b holds (a batch not written). */
void tierdb_batch_clear(struct tierdb_batch *b);
void tierdb_batch_put(struct tierdb_batch *b, const void *key, size_t klen, const void *val,
                      size_t vlen);
void tierdb_batch_delete(struct tierdb_batch *b, const void *key, size_t klen);
void tierdb_batch_delete_range(struct tierdb_batch *b, const void *start, size_t slen,
                               const void *end, size_t elen);
size_t tierdb_batch_count(struct tierdb_batch *b);
/* Write and empty the batch. wal = through the write-ahead log; sync = fsync it before
 * returning (durable against power loss). 0, or -1 with a message in err. */
int tierdb_batch_write(struct tierdb *db, struct tierdb_batch *b, bool wal, bool sync, char *err,
                       size_t errlen);
/* fsync the write-ahead log (async persistence, once a second). 0 or -1. */
int tierdb_sync_wal(struct tierdb *db, char *err, size_t errlen);

/* Every record in key order (warm restart). key/val stay valid until the next call. */
struct tierdb_iter;
struct tierdb_iter *tierdb_iter_new(struct tierdb *db);
/* From the first record at or after key (a CLOCK hand resuming). */
struct tierdb_iter *tierdb_iter_from(struct tierdb *db, const void *key, size_t klen);
bool tierdb_iter_next(struct tierdb_iter *it, const uint8_t **key, size_t *klen,
                      const uint8_t **val, size_t *vlen);
/* After the last record: 0, or -1 with a message when the iteration stopped on an error. */
int tierdb_iter_status(struct tierdb_iter *it, char *err, size_t errlen);
void tierdb_iter_free(struct tierdb_iter *it);
/* Bytes on disk (SST files) plus the memtables: what counts against the tier's size. */
uint64_t tierdb_bytes(struct tierdb *db);
/* The memtables' part of tierdb_bytes (what a flush writes out). */
uint64_t tierdb_unflushed(struct tierdb *db);
/* RocksDB's own memory: memtables, block cache, table readers (bytes). */
uint64_t tierdb_memory(struct tierdb *db);
/* Write the memtables to files (clean shutdown: the next open replays no log). */
void tierdb_flush(struct tierdb *db);
/* Flush and compact everything now (tests; the expiry filter runs during compactions). */
void tierdb_compact(struct tierdb *db);
/* Count of values the compaction filter dropped because they expired. */
uint64_t tierdb_expired_dropped(struct tierdb *db);

#endif
