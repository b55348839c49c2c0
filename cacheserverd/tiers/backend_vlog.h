/* The value log back end's own calls (backend_vlog.c; docs/valuelog.md): what the space
 * reclaim (reclaim.c) and the writer need beyond the seam of backend.h. Writer thread only,
 * unless a function says otherwise; be must be a log (tbe_is_log). */
#ifndef TIERS_BACKEND_VLOG_H
#define TIERS_BACKEND_VLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "vlog.h"

/* A segment, as the reclaim sees it. */
struct tbe_log_seg {
    uint64_t seq;
    uint32_t size;  /* its file's bytes */
    uint64_t bytes; /* bytes of records appended to it */
    bool active;    /* the one appends go to: not to be reclaimed */
    bool pinned;    /* holds an NSFLUSH record: compaction must not move it (reclaim.c) */
};

/* The segments, oldest first, into out (at most max); returns how many there are. */
size_t tbe_log_segments(struct tbe *be, struct tbe_log_seg *out, size_t max);
/* Bytes of records appended to the segments and bytes of them the index still names (live;
 * the rest is dead space), and the segments' file bytes. */
void tbe_log_usage(struct tbe *be, uint64_t *bytes, uint64_t *live, uint64_t *files);
/* Bytes the tier's files take: segment files (preallocated: their whole size) and the
 * streams' RocksDB. Any thread. */
uint64_t tbe_log_file_bytes(struct tbe *be);
/* Would `need` more bytes of records fit in a tier of `size` bytes (in the active segment,
 * or in new segments)? */
bool tbe_log_fits(struct tbe *be, uint64_t need, uint64_t size);
/* The footer of segment seq (not the active one), read from its file, or from memory when
 * its seal failed (vlog_footer_free it either way). 0, 1 when the segment is gone, -1
 * (message in err). */
int tbe_log_footer(struct tbe *be, uint64_t seq, struct vlog_footer *f, char *err,
                   size_t errlen);
/* Read and check the record at (seg, off, len) into buf (len bytes), its value's CRC too
 * when check_value. 0 (*e filled, pointing into buf), 1 when the segment is gone, -1 a read
 * error, -2 a record that fails a check (message in err). */
int tbe_log_read(struct tbe *be, uint32_t seg, uint32_t off, uint32_t len, uint8_t *buf,
                 bool check_value, struct vlog_entry *e, char *err, size_t errlen);
/* The same, for a worker that must not wait on the device: only when every byte is in the
 * page cache (preadv2 with RWF_NOWAIT), any thread. 0 (*e filled, the key and value not
 * checked beyond vlog_record_check), 1 otherwise (not cached, gone, a short or failed read,
 * a record that fails a check: the I/O thread's read decides and reports). */
int tbe_log_read_cached(struct tbe *be, uint32_t seg, uint32_t off, uint32_t len,
                        uint8_t *buf, struct vlog_entry *e);
/* Append a copy of record e (kind, flags, hash, key, val) at the head, through the write
 * buffer: *where is valid once tbe_log_flush returned 0. 0, or -1 (message in err). */
int tbe_log_append(struct tbe *be, const struct vlog_entry *e, struct tbe_where *where,
                   char *err, size_t errlen);
/* Write what tbe_log_append buffered. 0, or -1 (message in err). */
int tbe_log_flush(struct tbe *be, char *err, size_t errlen);
/* fdatasync the active segment (moves made durable before the segment they left goes). */
int tbe_log_sync(struct tbe *be, char *err, size_t errlen);
/* Write what is buffered, fdatasync and seal the active segment, and fdatasync every
 * segment (a migration's end: the marker follows). 0, or -1 (message in err). */
int tbe_log_seal(struct tbe *be, char *err, size_t errlen);
/* Opened with persistence (tombstones and NSFLUSH records are written, segments synced). */
bool tbe_log_persisted(struct tbe *be);
/* Does the tier directory at path hold a log's segments? Any thread. */
bool tbe_log_has_segments(const char *path);
/* Remove segment seq: no new read finds it, its file is unlinked (reads in flight finish
 * on the open descriptor). */
void tbe_log_drop(struct tbe *be, uint64_t seq);
/* Counters for STATS (any thread). */
struct tbe_log_stats {
    uint64_t segments;      /* segment files */
    uint64_t appended;      /* bytes of records appended, moves included */
    uint64_t moved;         /* bytes of records the reclaim copied to the head */
    uint64_t dropped;       /* segments removed by the reclaim */
};
void tbe_log_stats(struct tbe *be, struct tbe_log_stats *out);
/* Count bytes moved by the reclaim. */
void tbe_log_moved(struct tbe *be, uint64_t bytes);
/* A tier directory's segments (<path>/vlog), removed: a RocksDB tier on a directory a log
 * used (the back end changed), or a log starting empty. 0, or -1 (message in err). */
int tbe_log_remove_segments(const char *path, char *err, size_t errlen);

/* ---- migrate.c: the directory's marker and the move from RocksDB ---- */
/* <path>/BACKEND ("vlog 1"): the directory's key records are all in its value log. */
bool tbe_log_marker_exists(const char *path);
/* Written as a temporary file, fsync'ed, renamed, the directory fsync'ed. 0 or -1. */
int tbe_log_marker_write(const char *path, char *err, size_t errlen);
/* Removed (a RocksDB tier starting there); 0 also when there is none, or -1. */
int tbe_log_marker_remove(const char *path, char *err, size_t errlen);
struct tierdb;
/* At a persisted log's start, before its segments are loaded (be holds none; db is the
 * directory's RocksDB): with key records in db and no marker, removes any partial log and
 * moves them into be's segments (sealed, synced), writes the marker, deletes them from db.
 * With the marker and key records, only deletes them (a migration stopped after the
 * marker); without either, writes the marker. 1 when it migrated (be's segments hold the
 * records: not to be loaded again), 0 otherwise, -1 with a message in err (a refusal), -2
 * when the copy failed and start_empty: the caller forgets be's segments (their files are
 * gone) and calls tbe_log_upgrade_empty. */
int tbe_log_upgrade(struct tbe *be, struct tierdb *db, const char *path, uint32_t seg_size,
                    bool start_empty, char *err, size_t errlen);
/* The tier starts empty (why: what could not be done): segments, db's key records, then
 * the marker. 0 or -1. */
int tbe_log_upgrade_empty(struct tierdb *db, const char *path, const char *why, char *err,
                          size_t errlen);
/* Does db hold a key's record (below 0xfd, where the streams' records start)? */
bool tbe_log_db_has_keys(struct tierdb *db);
/* fsync the directory at path, so that a rename or unlink in it survives a power loss.
 * 0, or -1 with the reason in err. */
int tbe_log_sync_dir(const char *path, char *err, size_t errlen);
/* Delete db's key records (one range delete; the streams' stay) and compact. 0 or -1. */
int tbe_log_db_delete_keys(struct tierdb *db, char *err, size_t errlen);
/* Fault builds: _exit(137) at `point` of a migration when CACHESERVERD_FAULT_MIGRATE_STOP
 * names it ("sealed", "marked"), or at point "record" when it is the count records; a no-op
 * in other builds. */
void tbe_log_fault_migrate_stop(const char *point, uint64_t records);

/* ---- migrate_back.c: the way back, a persisted log moved to RocksDB ---- */
/* At a persisted RocksDB tier's start, before its RocksDB is opened (o: the tier's options):
 * a value log left in the directory moves into RocksDB as key records and is removed (see
 * migrate_back.c for the steps and how a stopped one is told apart). 0 (nothing to do, done,
 * or the log dropped with o->start_empty), -1 with a message in err (a refusal). */
int tbe_log_way_back(const struct tbe_opts *o, char *err, size_t errlen);

/* Replication's walk of a log (peer.c; docs/valuelog.md, "Replication and anti-entropy"):
 * every record in file order, segment after segment oldest first, up to the head as it is
 * when the walk reaches it. The cursor is kept between steps; no reference or lock is held
 * between them. A record the reclaim moves during the walk goes to the head, ahead of the
 * cursor, so it is visited there (again, if it was visited before). Any thread; the caller
 * holds its tier's read lock for a step. */
struct tbe_log_pos {
    uint64_t seq;    /* the segment the walk is in (0: not started) */
    uint32_t off;    /* the next record's offset in it (0: its first) */
    uint64_t walked; /* bytes of records visited */
    uint64_t limit;  /* the walk ends past this many (twice the tier's files, at its start) */
    uint8_t *buf;    /* the step's reads */
    size_t cap;
};
/* A PUT record found: e's key and value point into the walk's buffer until fn returns; loc is
 * its place (what a LIVE index entry of it names). */
typedef void (*tbe_log_walk_fn)(void *arg, const struct vlog_entry *e, struct tix_loc loc);
/* Visit up to max records from pos (*visited gets how many, DEL and NSFLUSH included), fn
 * called for each PUT. 1 when there is more, 0 at the head (the walk is over), -1 with a
 * message in err: a segment that could not be read or holds a record that fails its checks
 * (the walk goes on at the next segment when called again), -2 with a message: the walk
 * passed its limit and is over. */
int tbe_log_walk(struct tbe *be, struct tbe_log_pos *pos, unsigned max, tbe_log_walk_fn fn,
                 void *arg, unsigned *visited, char *err, size_t errlen);
/* Free the cursor's buffer and reset it to the start. */
void tbe_log_pos_free(struct tbe_log_pos *pos);

#ifdef CACHE_FAULT_INJECTION
/* Does this fdatasync fail (one failure armed by tiering_fault_sync_fail taken)? */
bool tbe_log_fault_sync(void);
#endif

#endif
