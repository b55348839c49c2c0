/* A tier directory's back end marker and the move of a RocksDB tier to a value log
 * (docs/valuelog.md, "What stays in RocksDB, and the upgrade"; step 6 of its plan).
 *
 * `<path>/BACKEND` holds "vlog 1" once the directory's key records are in its log: written
 * when a log starts on a directory without key records in RocksDB (a new one), or at the end
 * of a migration. Its absence means RocksDB. The migration, at a persisted log's start,
 * before its segments are loaded and replayed:
 *   1. what a stopped migration left in vlog/ is removed (no marker: it is partial);
 *   2. every RocksDB record below 0xfd (a key's), in key order, is appended to the log
 *      verbatim as a PUT (the same diskval bytes; a stream's head flagged as the writer
 *      flags it);
 *   3. the segments are sealed and fdatasync'ed;
 *   4. the marker is written (temporary file, fsync, rename, directory fsync);
 *   5. the key records are deleted from RocksDB (one range delete) and its files compacted.
 * A kill before 4 leaves RocksDB's records whole and no marker: the next start does it
 * again from 1. A kill after 4 leaves the complete log and the marker: the next start only
 * finishes 5. So the tier's data is always in one complete place. The replay (replay.c)
 * then indexes the migrated records like any others.
 *
 * The way back (a log moved to RocksDB at a rocksdb start) is migrate_back.c; it uses the
 * marker, tbe_log_db_has_keys, tbe_log_db_delete_keys and the fault stop below.
 *
 * Fault builds: CACHESERVERD_FAULT_MIGRATE_STOP makes the process _exit(137) during the
 * migration: "N" after N records were appended and written, "sealed" before the marker,
 * "marked" after it (tests/tier/test_vlog_server.c, test_kill_during_migration; the way
 * back reads it too: test_kill_during_migration_back). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "backend_vlog.h"
#include "clock.h"
#include "diskval.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"

#define MARKER "BACKEND"
#define MARKER_TEXT "vlog 1\n"
#define KEYS_END 0xfd /* RocksDB keys from here on are streams' records: they stay */

static void _marker_path(const char *path, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s/" MARKER "%s", path, suffix);
}

int tbe_log_sync_dir(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: fsync of the directory: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

bool tbe_log_marker_exists(const char *path)
{
    char p[4200];
    _marker_path(path, "", p, sizeof(p));
    return access(p, F_OK) == 0;
}

int tbe_log_marker_write(const char *path, char *err, size_t errlen)
{
    char tmp[4200], p[4200];
    _marker_path(path, ".new", tmp, sizeof(tmp));
    _marker_path(path, "", p, sizeof(p));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    size_t n = strlen(MARKER_TEXT);
    if (fd < 0 || write(fd, MARKER_TEXT, n) != (ssize_t)n || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno ? errno : EIO));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, p) != 0) {
        snprintf(err, errlen, "%s: rename to %s: %s", tmp, p, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return tbe_log_sync_dir(path, err, errlen);
}

int tbe_log_marker_remove(const char *path, char *err, size_t errlen)
{
    char p[4200];
    _marker_path(path, "", p, sizeof(p));
    if (unlink(p) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", p, strerror(errno));
        return -1;
    }
    return tbe_log_sync_dir(path, err, errlen);
}

bool tbe_log_db_has_keys(struct tierdb *db)
{
    struct tierdb_iter *it = tierdb_iter_new(db);
    const uint8_t *k, *val;
    size_t kl, vl;
    bool keyrec = it && tierdb_iter_next(it, &k, &kl, &val, &vl) && (!kl || k[0] < KEYS_END);
    tierdb_iter_free(it);
    return keyrec;
}

int tbe_log_db_delete_keys(struct tierdb *db, char *err, size_t errlen)
{
    static const uint8_t end = KEYS_END;
    if (tierdb_delete_range(db, "", 0, &end, 1, true, err, errlen) != 0)
        return -1;
    tierdb_compact(db);
    return 0;
}

/* ---- fault builds: a kill at a chosen point of the migration ---- */

void tbe_log_fault_migrate_stop(const char *point, uint64_t records)
{
#ifdef CACHE_FAULT_INJECTION
    const char *want = getenv("CACHESERVERD_FAULT_MIGRATE_STOP");
    if (!want || !*want)
        return;
    char *end;
    unsigned long long n = strtoull(want, &end, 10);
    bool at = *end ? strcmp(want, point) == 0 : (!strcmp(point, "record") && records == n);
    if (at) {
        log_error("FAULT migrate-stop: exit at %s (%llu records)", point,
                  (unsigned long long)records);
        _exit(137);
    }
#else
    (void)point;
    (void)records;
#endif
}

/* ---- the copy ---- */

struct mig {
    uint64_t records, bytes; /* appended */
    uint64_t skipped;        /* keys no tier key parse accepts: never readable */
};

/* Bytes the log needs for RocksDB's key records (records, footer entries, a header and
 * trailer per segment, the last segment's preallocated rest), and how many there are. */
static int _need(struct tierdb *db, uint32_t seg_size, uint64_t *need, uint64_t *n, char *err,
                 size_t errlen)
{
    struct tierdb_iter *it = tierdb_iter_new(db);
    if (!it) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const uint8_t *k, *val;
    size_t kl, vl;
    uint64_t sum = 0, count = 0;
    while (tierdb_iter_next(it, &k, &kl, &val, &vl) && kl && k[0] < KEYS_END) {
        uint32_t rs = vlog_record_size(kl, vl);
        sum += rs > seg_size / 2 ? vlog_size_for(kl, vl) : rs + VLOG_ENTRY + kl;
        count++;
    }
    int rc = tierdb_iter_status(it, err, errlen);
    tierdb_iter_free(it);
    uint64_t per = seg_size - VLOG_DATA - VLOG_TRAILER;
    *need = sum + (sum / per + 1) * (VLOG_DATA + VLOG_TRAILER) + seg_size;
    *n = count;
    return rc;
}

/* Append every key record of db to the log be, in key order; then flush and seal. */
static int _copy(struct tbe *be, struct tierdb *db, struct mig *m, char *err, size_t errlen)
{
    struct tierdb_iter *it = tierdb_iter_new(db);
    if (!it) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const uint8_t *k, *val;
    size_t kl, vl;
    int rc = 0;
    while (rc == 0 && tierdb_iter_next(it, &k, &kl, &val, &vl) && kl && k[0] < KEYS_END) {
        struct store_key sk;
        /* the hash the replay would give it (it computes its own from the key anyway) */
        if (kl > UINT16_MAX || !tiering_key_parse(k, kl, &sk)) {
            m->skipped++;
            continue;
        }
        struct diskval h;
        bool head = diskval_peek(val, vl, &h) && h.type == STORE_T_STREAM; /* as _put does */
        struct vlog_entry e = {.kind = VLOG_PUT, .flags = head ? VLOG_F_STREAM_HEAD : 0,
                               .hash = sk.hash, .key = k, .klen = (uint16_t)kl, .val = val,
                               .vlen = (uint32_t)vl};
        rc = tbe_log_append(be, &e, NULL, err, errlen);
        m->records++;
        m->bytes += vl;
#ifdef CACHE_FAULT_INJECTION
        if (rc == 0 && getenv("CACHESERVERD_FAULT_MIGRATE_STOP") &&
            (rc = tbe_log_flush(be, err, errlen)) == 0)
            tbe_log_fault_migrate_stop("record", m->records);
#endif
    }
    if (rc == 0)
        rc = tierdb_iter_status(it, err, errlen);
    tierdb_iter_free(it);
    return rc == 0 ? tbe_log_seal(be, err, errlen) : -1;
}

/* The tier starts without RocksDB's key records (tier_start_empty when they cannot be
 * moved): the partial log goes, then the records, then the marker says the log is it. */
static int _start_empty(struct tierdb *db, const char *path, const char *why, char *err,
                        size_t errlen)
{
    log_error("%s: %s; tier_start_empty: its RocksDB records are dropped, the tier starts "
              "empty on a value log", path, why);
    if (tbe_log_remove_segments(path, err, errlen) != 0 ||
        tbe_log_db_delete_keys(db, err, errlen) != 0)
        return -1;
    return tbe_log_marker_write(path, err, errlen);
}

/* Steps 2 to 5 of the migration (the caller did 1). */
static int _migrate(struct tbe *be, struct tierdb *db, const char *path, uint32_t seg_size,
                    bool start_empty, char *err, size_t errlen)
{
    static const char opts[] = "start with --ssd-backend rocksdb to keep the tier in RocksDB, "
                               "or with --tier-start-empty true to start it empty";
    uint64_t t0 = clock_wall_ms(), need, n;
    if (_need(db, seg_size, &need, &n, err, errlen) != 0)
        return -1;
    struct statvfs vfs;
    uint64_t room = statvfs(path, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
    char why[700];
    if (need > room) {
        snprintf(why, sizeof(why), "no room to move its %llu RocksDB records to a value log "
                 "(%llu bytes needed, %llu free)", (unsigned long long)n,
                 (unsigned long long)need, (unsigned long long)room);
        if (start_empty)
            return _start_empty(db, path, why, err, errlen);
        snprintf(err, errlen, "%s: %s: %s", path, why, opts);
        return -1;
    }
    log_info("%s: moving %llu records persisted by ssd_backend rocksdb to a value log", path,
             (unsigned long long)n);
    struct mig m = {0};
    if (_copy(be, db, &m, err, errlen) != 0) {
        /* most likely a full file system: the partial log goes, RocksDB keeps the records */
        snprintf(why, sizeof(why), "moving its RocksDB records to a value log failed: %s", err);
        char e2[256];
        if (tbe_log_remove_segments(path, e2, sizeof(e2)) != 0)
            log_error("%s", e2);
        if (start_empty)
            return -2; /* the caller closes the log's segments, then starts empty */
        snprintf(err, errlen, "%s: %s; %s", path, why, opts);
        return -1;
    }
    tbe_log_fault_migrate_stop("sealed", m.records);
    if (tbe_log_marker_write(path, err, errlen) != 0)
        return -1;
    tbe_log_fault_migrate_stop("marked", m.records);
    if (tbe_log_db_delete_keys(db, err, errlen) != 0)
        return -1;
    log_info("%s: migrated %llu records (%llu bytes of values) from RocksDB to the value log "
             "in %llu ms%s", path, (unsigned long long)m.records, (unsigned long long)m.bytes,
             (unsigned long long)(clock_wall_ms() - t0), m.skipped ? " (some keys skipped: "
             "not tier keys)" : "");
    return 0;
}

int tbe_log_upgrade(struct tbe *be, struct tierdb *db, const char *path, uint32_t seg_size,
                    bool start_empty, char *err, size_t errlen)
{
    bool marker = tbe_log_marker_exists(path), keyrec = tbe_log_db_has_keys(db);
    if (marker && keyrec) { /* a migration stopped after its marker: the log is complete */
        log_info("%s: deleting RocksDB's records a migration to the value log left", path);
        return tbe_log_db_delete_keys(db, err, errlen) == 0 ? 0 : -1;
    }
    if (marker)
        return 0;
    if (!keyrec) /* a new directory, or a log from before the marker */
        return tbe_log_marker_write(path, err, errlen) == 0 ? 0 : -1;
    if (tbe_log_remove_segments(path, err, errlen) != 0) /* a migration a kill stopped */
        return -1;
    int rc = _migrate(be, db, path, seg_size, start_empty, err, errlen);
    return rc == 0 ? 1 : rc;
}

int tbe_log_upgrade_empty(struct tierdb *db, const char *path, const char *why, char *err,
                          size_t errlen)
{
    return _start_empty(db, path, why, err, errlen);
}
