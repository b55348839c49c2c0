/* The way back: a persisted value log moved into RocksDB at a `rocksdb` start (docs/
 * valuelog.md, "What stays in RocksDB, and the upgrade", step 6 of its plan; migrate.c does
 * the other way). A log record's key is the RocksDB key and its value the diskval RocksDB
 * stores for it, so each live record becomes one RocksDB put of the same bytes; the streams'
 * records (0xfd, 0xfe) are in the directory's RocksDB with either back end and stay.
 *
 * At the start of a RocksDB tier with persistence whose directory holds a log's segments,
 * before the tier's RocksDB is opened:
 *   a. key records a stopped earlier attempt left in RocksDB are deleted (below 0xfd);
 *   b. the log is opened (tbe_vlog_open: its segments validated, a torn tail sealed), walked
 *      as the replay walks it (vlog_walk_deciding: the same records are live), the live
 *      records read back with their checksums checked (one that fails is skipped, counted)
 *      and written to RocksDB in batches, the last one synced;
 *   c. the marker (BACKEND) is removed, the directory fsync'ed;
 *   d. the segments are removed (and the vlog/ directory fsync'ed).
 * A kill before c leaves the complete log and its marker: the next rocksdb start does it all
 * again from a. A kill after c leaves RocksDB complete and segments without a marker.
 *
 * How a start tells segments without a marker apart: a log start writes the marker before
 * its first segment on a directory without key records in RocksDB (migrate.c), and a
 * migration to the log writes it once the log is complete. So segments without a marker
 * beside key records in RocksDB are never the tier's only copy: a way back that finished c
 * (RocksDB has everything) or a migration to the log a kill stopped before its marker
 * (RocksDB still has everything): the segments are removed, nothing is copied. Segments
 * without a marker and without key records are a log from before the marker: moved like any
 * (the log's open writes its marker first). That is also what a way back of a log without a
 * live key stopped between c and d looks like; moving it again copies nothing new (the
 * server did not serve in between: d is done, synced, before it listens).
 *
 * Room: RocksDB writes the values twice (its write-ahead log, then its files) while the log
 * is still there, so twice the live records' bytes and some slack must be free; without that
 * the start is refused, or with tier_start_empty the log is dropped (the tier starts empty).
 *
 * Fault builds: CACHESERVERD_FAULT_MIGRATE_STOP as for the other way (migrate.c): "N" after N
 * records were written to RocksDB, "sealed" once all are synced (before c), "marked" after c
 * (tests/tier/test_vlog_server.c, test_kill_during_migration_back). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "backend_vlog.h"
#include "clock.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"

#define BATCH_RECORDS 1024
#define BATCH_BYTES (4u << 20)
#define SLACK (8ull << 20) /* RocksDB's manifest, logs and an L0 file's worth */

/* A live record to copy. */
struct rec {
    uint64_t seg;
    uint32_t off, len;
};

struct back {
    uint64_t *seen; /* hashes of keys decided (open addressing; 0 marks a free slot) */
    size_t mask, nseen;
    bool zero;      /* hash 0 was seen */
    struct rec *live;
    size_t n, cap;
    uint64_t bytes; /* the live records' bytes on the log */
};

/* 1 when hash is new to the set (added), 0 when seen before, -1 out of memory. */
static int _seen_add(struct back *b, uint64_t h)
{
    if (!h) {
        bool was = b->zero;
        b->zero = true;
        return !was;
    }
    if (!b->seen || (b->nseen + 1) * 2 > b->mask + 1) {
        size_t size = b->seen ? (b->mask + 1) * 2 : 4096;
        uint64_t *t = calloc(size, sizeof(*t));
        if (!t)
            return -1;
        for (size_t i = 0; b->seen && i <= b->mask; i++)
            if (b->seen[i])
                for (size_t j = b->seen[i] & (size - 1);; j = (j + 1) & (size - 1))
                    if (!t[j]) {
                        t[j] = b->seen[i];
                        break;
                    }
        free(b->seen);
        b->seen = t;
        b->mask = size - 1;
    }
    size_t i = (h ^ h >> 31) & b->mask;
    for (; b->seen[i]; i = (i + 1) & b->mask)
        if (b->seen[i] == h)
            return 0;
    b->seen[i] = h;
    b->nseen++;
    return 1;
}

/* vlog_walk_deciding's fn: the first record of a key decides; a live one is kept to copy. */
static int _decide(void *arg, uint64_t seg, const struct vlog_entry *x, const struct store_key *k,
                   bool live)
{
    struct back *b = arg;
    int r = _seen_add(b, k->hash);
    if (r <= 0 || !live)
        return r;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        struct rec *nl = realloc(b->live, cap * sizeof(*nl));
        if (!nl)
            return -1;
        b->live = nl;
        b->cap = cap;
    }
    b->live[b->n++] = (struct rec){seg, x->off, x->len};
    b->bytes += x->len;
    return 1;
}

static int _rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The segments, then the vlog/ directory (when empty); the tier directory is synced so the
 * removals stay removed. 0 or -1. */
static int _remove_log(const char *path, char *err, size_t errlen)
{
    char dir[4200];
    if (tbe_log_remove_segments(path, err, errlen) != 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/vlog", path);
    if (rmdir(dir) != 0 && errno != ENOENT) { /* not empty (a file of another kind): kept */
        int fd = open(dir, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
    }
    return tbe_log_sync_dir(path, err, errlen);
}

/* tier_start_empty when the log cannot be moved: what was written to RocksDB goes, then the
 * segments, then the marker (a kill before the segments go does it again). */
static int _drop(struct tbe *be, const char *path, const char *why, char *err, size_t errlen)
{
    log_error("%s: %s; tier_start_empty: its value log is dropped, the tier starts empty on "
              "RocksDB", path, why);
    int rc = tbe_log_db_delete_keys(tbe_streams(be), err, errlen);
    tbe_close(be);
    if (rc != 0 || _remove_log(path, err, errlen) != 0)
        return -1;
    return tbe_log_marker_remove(path, err, errlen);
}

struct copied {
    uint64_t records, bytes, failed;
};

/* Step b's copy: the live records, in log order, into db; the last batch synced. */
static int _copy(struct tbe *be, struct back *b, const char *path, struct copied *m, char *err,
                 size_t errlen)
{
    struct tierdb *db = tbe_streams(be);
    struct tierdb_batch *tb = tierdb_batch_new();
    uint8_t *buf = NULL;
    size_t cap = 0, pending = 0;
    int rc = tb ? 0 : -1;
    bool fault = false;
#ifdef CACHE_FAULT_INJECTION
    fault = getenv("CACHESERVERD_FAULT_MIGRATE_STOP") != NULL;
#endif
    if (!tb)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const struct rec *r = &b->live[i];
        if (r->len > cap) {
            uint8_t *nb = realloc(buf, r->len);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            buf = nb;
            cap = r->len;
        }
        struct vlog_entry e;
        char e2[512];
        int rr = tbe_log_read(be, (uint32_t)r->seg, r->off, r->len, buf, true, &e, e2,
                              sizeof(e2));
        if (rr == -2 || (rr == 0 && e.kind != VLOG_PUT)) {
            if (rr == 0)
                snprintf(e2, sizeof(e2), "segment %llu, offset %u: not a put",
                         (unsigned long long)r->seg, (unsigned)r->off);
            log_error("%s: %s: not copied to RocksDB", path, e2);
            m->failed++;
            continue;
        }
        if (rr != 0) {
            snprintf(err, errlen, "%s", rr == 1 ? "a segment went during the copy" : e2);
            rc = -1;
            break;
        }
        tierdb_batch_put(tb, e.key, e.klen, e.val, e.vlen);
        m->records++;
        m->bytes += e.vlen;
        pending += (size_t)e.klen + e.vlen;
        if (fault || tierdb_batch_count(tb) >= BATCH_RECORDS || pending >= BATCH_BYTES) {
            rc = tierdb_batch_write(db, tb, true, false, err, errlen);
            pending = 0;
            if (rc == 0 && fault)
                tbe_log_fault_migrate_stop("record", m->records);
        }
    }
    /* the last batch synced: RocksDB syncs every write-ahead log file before it, and the
     * files its flushes wrote are synced by it; then its memtables are written out, so the
     * next open replays little */
    if (rc == 0)
        rc = tierdb_batch_write(db, tb, true, true, err, errlen);
    if (rc == 0)
        rc = tierdb_sync_wal(db, err, errlen);
    if (rc == 0)
        tierdb_flush(db);
    tierdb_batch_free(tb);
    free(buf);
    return rc;
}

/* Steps b to d on the opened log be. */
static int _move(struct tbe *be, const struct tbe_opts *o, char *err, size_t errlen)
{
    static const char opts[] = "start with --ssd-backend vlog to keep the tier in its value "
                               "log, or with --tier-start-empty true to start it empty";
    const char *path = o->path;
    uint64_t t0 = clock_wall_ms();
    struct back b = {0};
    struct vlog_walk_counts c;
    int rc = vlog_walk_deciding(be, t0, _decide, &b, &c, err, errlen);
    free(b.seen);
    if (rc != 0) {
        if (rc == -3)
            snprintf(err, errlen, "out of memory");
        snprintf(err + strlen(err), errlen - strlen(err), " (walking the value log to move "
                 "it to RocksDB)");
        free(b.live);
        tbe_close(be);
        return -1;
    }
    if (b.n)
        qsort(b.live, b.n, sizeof(*b.live), _rec_cmp); /* read in file order */
    uint64_t need = 2 * b.bytes + SLACK;
    struct statvfs vfs;
    uint64_t room = statvfs(path, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
    char why[700];
    if (need > room) {
        free(b.live);
        snprintf(why, sizeof(why), "no room to move its value log's %zu records to RocksDB "
                 "(%llu bytes needed, %llu free)", b.n, (unsigned long long)need,
                 (unsigned long long)room);
        if (o->start_empty)
            return _drop(be, path, why, err, errlen);
        snprintf(err, errlen, "%s: %s: %s", path, why, opts);
        tbe_close(be);
        return -1;
    }
    log_info("%s: moving %zu records persisted by ssd_backend vlog to RocksDB", path, b.n);
    struct copied m = {0};
    rc = _copy(be, &b, path, &m, err, errlen);
    free(b.live);
    if (rc != 0) {
        /* most likely a full file system: RocksDB's partial copy goes, the log stays whole */
        snprintf(why, sizeof(why), "moving its value log to RocksDB failed: %s", err);
        if (o->start_empty)
            return _drop(be, path, why, err, errlen);
        char e2[256];
        if (tbe_log_db_delete_keys(tbe_streams(be), e2, sizeof(e2)) != 0)
            log_error("%s", e2);
        tbe_close(be);
        snprintf(err, errlen, "%s: %s; %s", path, why, opts);
        return -1;
    }
    tbe_log_fault_migrate_stop("sealed", m.records);
    if (tbe_log_marker_remove(path, err, errlen) != 0) {
        tbe_close(be);
        return -1;
    }
    tbe_log_fault_migrate_stop("marked", m.records);
    tbe_close(be);
    if (_remove_log(path, err, errlen) != 0)
        return -1;
    char failed[120] = "";
    if (m.failed)
        snprintf(failed, sizeof(failed), "; %llu records failed their checks and were not "
                 "copied", (unsigned long long)m.failed);
    log_info("%s: migrated %llu records (%llu bytes of values) from the value log to RocksDB "
             "in %llu ms%s", path, (unsigned long long)m.records, (unsigned long long)m.bytes,
             (unsigned long long)(clock_wall_ms() - t0), failed);
    return 0;
}

int tbe_log_way_back(const struct tbe_opts *o, char *err, size_t errlen)
{
    const char *path = o->path;
    if (!tbe_log_has_segments(path))
        return 0;
    bool marker = tbe_log_marker_exists(path);
    struct tierdb_opts to = {.path = path,
                             .write_rate_bytes = o->write_rate_bytes,
                             .start_empty = o->start_empty,
                             .now_ms = o->now_ms,
                             .expired = o->expired,
                             .expired_arg = o->expired_arg};
    struct tierdb *db = tierdb_open(&to, err, errlen);
    if (!db)
        return -1;
    bool keyrec = tbe_log_db_has_keys(db);
    int rc = 0;
    if (!marker && keyrec) { /* RocksDB has everything: see the top of this file */
        tierdb_close(db);
        log_info("%s: removing a value log's segments left without its marker beside "
                 "RocksDB's records (they hold the tier)", path);
        return _remove_log(path, err, errlen);
    }
    if (keyrec) { /* a: a way back a kill stopped before its marker went */
        log_info("%s: deleting RocksDB's records a stopped move from the value log left", path);
        rc = tbe_log_db_delete_keys(db, err, errlen);
    }
    tierdb_close(db);
    if (rc != 0)
        return -1;
    struct tbe_opts lo = *o;
    lo.kind = TBE_VLOG;
    lo.persist = true;
    struct tbe *be = tbe_vlog_open(&lo, err, errlen); /* without a marker, it writes one */
    if (!be)
        return -1;
    return _move(be, o, err, errlen);
}
