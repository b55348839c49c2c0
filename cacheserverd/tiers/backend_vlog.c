/* The value log back end of the tier seam (backend.h, backend_vlog.h; docs/valuelog.md,
 * step 3): a tier's key records are appended to segment files under <path>/vlog (the format
 * of disk/vlog.h), and the index entry of each key says where its record is; a read is one
 * pread at that place. Streams' chunk and append records stay in a RocksDB database in the
 * tier's directory (the batch's stream part, committed before its log records).
 *
 * Without persistence (the only mode step 3 allows; tiering.c refuses the rest) a delete is
 * an index change alone: nothing is written for it, and a tier starts empty. Space comes back
 * by reclaim.c, which walks the oldest segment and compacts mostly dead ones through the
 * calls of backend_vlog.h; the index counts each segment's live bytes (tix_seg_live).
 *
 * Threads: the writer thread appends, seals, creates and drops segments, and is the only
 * user of the segment list and the write buffer. Readers (any thread) find a segment in the
 * table (disk/vlog.h: a reference held for the pread). Counters read by other threads are
 * atomics. */
#include "backend_vlog.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "diskval.h"
#include "index.h"
#include "le.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"
#include "tiering.h"

#define BUF_SIZE (1u << 20)     /* the writer's buffer: one pwrite per batch, mostly */
#define SYNC_RANGE (8u << 20)   /* start writeback every this many bytes appended */
#define SEG_MAX (64u << 20)     /* segment size for tiers of 2 GiB and more */
#define SEG_PER_TIER 32         /* else a 32nd of the tier */
#define SEG_FLOOR (1u << 20)    /* but at least 1 MiB, or an 8th of a smaller tier */
#define SEG_TINY (64u << 10)

struct vseg {
    struct vlog_seg *s; /* a reference of the table's */
    uint64_t seq;
    uint32_t size;
    uint64_t bytes;     /* records appended */
    bool flush;         /* holds an NSFLUSH record: never compacted (reclaim.c) */
};

struct vlg {
    struct tbe be;
    uint8_t tier;
    bool persist;       /* tombstones and NSFLUSH records are written; segments synced */
    char *dir;          /* <path>/vlog */
    struct tierdb *sdb; /* the streams' records */
    struct vlog_table *table;
    uint32_t seg_size;
    uint64_t next_seq;
    /* writer thread; the list changes under seglock too (a cursor copies it) */
    pthread_mutex_t seglock;
    struct vseg *segs;  /* oldest first (segments of one large record among them) */
    size_t nsegs, segcap;
    struct vlog_seg *active;
    struct vlog_buf buf;
    uint64_t unsynced_off, unsynced; /* the range of the active segment not yet handed to
                                      * writeback (sync_file_range) */
    uint32_t synced_tail; /* the active segment's tail at its last successful fdatasync */
    /* any thread */
    atomic_uint_fast64_t file_bytes, nseg, appended, moved, dropped, foot_bytes;
};

/* A staged record of a batch: its bytes (key, then value) follow in the batch's data. */
struct staged {
    uint64_t hash;
    uint32_t klen, vlen;
    uint8_t kind, flags; /* VLOG_PUT, VLOG_DEL, VLOG_NSFLUSH; VLOG_F_STREAM_HEAD */
    struct tbe_where *where;
};

struct vbatch {
    struct tbe_batch b;
    uint8_t *data;
    size_t len, cap;
    size_t n;
    bool nomem;               /* a record could not be staged: the commit fails */
    struct tierdb_batch *sb;  /* the stream records' puts (written before the log's) */
    struct tierdb_batch *sbl; /* their deletes (written after) */
};

static struct vlg *_v(struct tbe *be) { return (struct vlg *)be; }
static struct vbatch *_b(struct tbe_batch *b) { return (struct vbatch *)b; }

/* The segment size for a tier of `size` bytes (docs/valuelog.md, "Segment"). */
static uint32_t _seg_size(uint64_t size)
{
    uint64_t floor = size / 8 < SEG_FLOOR ? size / 8 : SEG_FLOOR;
    if (floor < SEG_TINY)
        floor = SEG_TINY;
    uint64_t s = size / SEG_PER_TIER;
    if (s < floor)
        s = floor;
    if (s > SEG_MAX)
        s = SEG_MAX;
    /* a log keeps at most TIX_SEG_SLOTS / 2 segments of its size */
    uint64_t fit = size / (TIX_SEG_SLOTS / 2) + 1;
    if (s < fit)
        s = fit;
    s = (s + 4095) / 4096 * 4096;
    return s > VLOG_SIZE_MAX ? VLOG_SIZE_MAX / 4096 * 4096 : (uint32_t)s;
}

/* ---- segments (writer thread) ---- */

static void _seg_path(const struct vlg *v, uint64_t seq, char *buf, size_t n)
{
    char name[64];
    vlog_seg_name(name, sizeof(name), seq);
    snprintf(buf, n, "%s/%s", v->dir, name);
}

/* A new segment of `size` bytes, in the table and the list (newest). */
static int _seg_new(struct vlg *v, uint32_t size, struct vlog_seg **out, char *err,
                    size_t errlen)
{
    if (v->nsegs == v->segcap) {
        size_t cap = v->segcap ? v->segcap * 2 : 64;
        pthread_mutex_lock(&v->seglock);
        struct vseg *n = realloc(v->segs, cap * sizeof(*n));
        if (n) {
            v->segs = n;
            v->segcap = cap;
        }
        pthread_mutex_unlock(&v->seglock);
        if (!n) {
            snprintf(err, errlen, "%s: out of memory", v->dir);
            return -1;
        }
    }
    for (int tries = 0; tries < 64; tries++) {
        uint64_t seq = v->next_seq++;
        char path[4200];
        _seg_path(v, seq, path, sizeof(path));
        struct vlog_seg *s;
        if (vlog_create(path, seq, v->tier, size, clock_wall_ms(), &s, err, errlen) != VLOG_OK)
            return -1;
        s->nosync = !v->persist; /* without persistence nothing of it is read after a crash */
        int rc = vlog_table_add(v->table, s);
        if (rc == VLOG_BUSY) { /* its slot still holds an old segment: take the next number */
            unlink(path);
            vlog_close(s);
            continue;
        }
        if (rc != VLOG_OK) {
            unlink(path);
            vlog_close(s);
            snprintf(err, errlen, "%s: the segment table refused a segment", v->dir);
            return -1;
        }
        tix_seg_reset(v->tier, (uint32_t)seq);
        pthread_mutex_lock(&v->seglock);
        v->segs[v->nsegs++] = (struct vseg){.s = s, .seq = seq, .size = size};
        pthread_mutex_unlock(&v->seglock);
        atomic_fetch_add(&v->file_bytes, size);
        atomic_fetch_add(&v->nseg, 1);
        *out = s;
        return 0;
    }
    snprintf(err, errlen, "%s: no free slot in the segment table", v->dir);
    return -1;
}

static struct vseg *_find(struct vlg *v, uint64_t seq)
{
    for (size_t i = v->nsegs; i-- > 0;)
        if (v->segs[i].seq == seq)
            return &v->segs[i];
    return NULL;
}

/* Hand the active segment's new bytes to writeback once SYNC_RANGE piled up, so no flush
 * ever finds hundreds of MiB dirty (valuelog.md, "Writes", 4). */
static void _writeback(struct vlg *v, bool all)
{
    if (!v->active || !v->unsynced || (!all && v->unsynced < SYNC_RANGE))
        return;
    (void)sync_file_range(v->active->fd, (off_t)v->unsynced_off, (off_t)v->unsynced,
                          SYNC_FILE_RANGE_WRITE); /* a hint: a failure shows at the next write */
    v->unsynced_off += v->unsynced;
    v->unsynced = 0;
}

/* Write the buffer at the active segment's tail. */
static int _flush(struct vlg *v, char *err, size_t errlen)
{
    if (!v->active || !v->buf.len)
        return 0;
    size_t n = v->buf.len;
    struct vseg *m = _find(v, v->active->seq);
    if (vlog_buf_write(v->active, &v->buf, err, errlen) != VLOG_OK)
        return -1;
    if (m) { /* under the lock: replication's walk reads it (tbe_log_walk) */
        pthread_mutex_lock(&v->seglock);
        m->bytes += n;
        pthread_mutex_unlock(&v->seglock);
    }
    atomic_fetch_add(&v->appended, n);
    if (!v->unsynced)
        v->unsynced_off = v->active->tail - n;
    v->unsynced += n;
    _writeback(v, false);
    return 0;
}

static void _seal_active(struct vlg *v);

/* fdatasync the active segment (sealed ones were synced by their seal with persistence). A
 * failure seals it where the last successful one left it (_seal_active). */
static int _sync_active(struct vlg *v, char *err, size_t errlen)
{
    if (!v->active)
        return 0;
    int rc = fdatasync(v->active->fd);
    const char *why = rc == 0 ? NULL : strerror(errno);
#ifdef CACHE_FAULT_INJECTION
    if (rc == 0 && tbe_log_fault_sync()) {
        rc = -1;
        why = "Input/output error (FAULT vlog-sync-fail)";
    }
#endif
    if (rc != 0) {
        snprintf(err, errlen, "%s: fdatasync: %s", v->active->name, why);
        v->active->failed = true; /* what the kernel kept of it is unknown: no more appends */
        _seal_active(v);
        return -1;
    }
    v->synced_tail = v->active->tail;
    return 0;
}

/* After a failed write or fdatasync with persistence: the records after the last successful
 * fdatasync may be gone (the kernel may drop the dirty pages it failed to write), so they
 * leave the index (a read misses rather than finds bytes that may not be there) and the
 * segment is sealed before them (a restart never replays them). valuelog.md, "Faults". */
static void _cut(struct vlg *v, struct vlog_seg *s)
{
    uint32_t cut = v->synced_tail;
    if (cut < VLOG_DATA || cut >= s->tail)
        return;
    struct vlog_footer f;
    struct vlog_entry e;
    uint64_t dropped = 0, live = 0;
    vlog_footer_mem(s, &f);
    while (vlog_footer_next(&f, &e))
        if (e.off >= cut) {
            dropped++;
            live += tix_forget_at(e.hash, v->tier, (struct tix_loc){(uint32_t)s->seq, e.off});
        }
    vlog_footer_free(&f);
    if (vlog_cut(s, cut) != VLOG_OK)
        return;
    pthread_mutex_lock(&v->seglock);
    struct vseg *m = _find(v, s->seq);
    if (m)
        m->bytes = cut - VLOG_DATA;
    pthread_mutex_unlock(&v->seglock);
    log_error("value log %s: segment %llu is sealed at %u, where its last successful fdatasync "
              "ended: %llu records after it are dropped (%llu keys no longer on disk)",
              v->dir, (unsigned long long)s->seq, (unsigned)cut, (unsigned long long)dropped,
              (unsigned long long)live);
}

/* Seal the active segment (full, or failed: with persistence, sealed where its last
 * successful fdatasync ended (_cut); without, where its last good write ended). */
static void _seal_active(struct vlg *v)
{
    struct vlog_seg *s = v->active;
    if (!s)
        return;
    _writeback(v, true);
    v->active = NULL;
    v->unsynced = 0;
    char err[256];
    if (v->persist && !s->failed && s->tail > v->synced_tail && fdatasync(s->fd) != 0) {
        log_error("value log %s: fdatasync: %s", s->name, strerror(errno));
        s->failed = true; /* before its seal, so that the footer names only what is synced */
    }
    if (s->failed) {
        vlog_buf_drop(s, &v->buf);
        if (v->persist)
            _cut(v, s);
        s->failed = false; /* its records up to the tail are good: seal them */
        s->writable = true;
    }
    if (vlog_seal(s, err, sizeof(err)) != VLOG_OK) /* its footer stays in memory */
        log_error("value log %s: %s; its records stay readable until it is reclaimed", v->dir,
                  err);
    vlog_footer_forget(s);
    atomic_store(&v->foot_bytes, 0);
}

static void _drop(struct vlg *v, size_t i)
{
    struct vseg m = v->segs[i];
    if (m.s == v->active)
        v->active = NULL;
    pthread_mutex_lock(&v->seglock);
    memmove(&v->segs[i], &v->segs[i + 1], (v->nsegs - i - 1) * sizeof(*v->segs));
    v->nsegs--;
    pthread_mutex_unlock(&v->seglock);
    vlog_table_remove(v->table, m.seq, true);
    atomic_fetch_sub(&v->file_bytes, m.size);
    atomic_fetch_sub(&v->nseg, 1);
}

/* Append record r through the buffer; *where gets its place (valid once written). */
static int _append(struct vlg *v, const struct vlog_rec *r, struct tbe_where *where, char *err,
                   size_t errlen)
{
    uint32_t rs = vlog_record_size(r->klen, r->vlen);
    if (!rs) {
        snprintf(err, errlen, "%s: a record of %u bytes is too large for a segment", v->dir,
                 (unsigned)r->vlen);
        return -1;
    }
    if (rs > v->seg_size / 2) {
        /* a segment of its own, sealed at once (what is buffered goes first) */
        if (_flush(v, err, errlen) != 0)
            return -1;
        struct vlog_seg *s;
        struct vlog_buf big = {.data = malloc(rs), .cap = rs};
        uint32_t off, len;
        int rc = -1;
        if (!big.data)
            snprintf(err, errlen, "%s: out of memory", v->dir);
        else if (_seg_new(v, vlog_size_for(r->klen, r->vlen), &s, err, errlen) == 0) {
            if (vlog_buf_add(s, &big, r, &off, &len, err, errlen) == VLOG_OK &&
                vlog_buf_write(s, &big, err, errlen) == VLOG_OK) {
                pthread_mutex_lock(&v->seglock);
                _find(v, s->seq)->bytes = len;
                pthread_mutex_unlock(&v->seglock);
                atomic_fetch_add(&v->appended, len);
                if (where)
                    *where = (struct tbe_where){{(uint32_t)s->seq, off}, len};
                rc = 0;
            }
            char e2[256];
            if (vlog_seal(s, e2, sizeof(e2)) != VLOG_OK)
                log_error("value log %s: %s", v->dir, e2);
            vlog_footer_forget(s);
        }
        free(big.data);
        return rc;
    }
    for (int tries = 0; tries < 4; tries++) {
        if (!v->active || v->active->failed) {
            _seal_active(v);
            if (_seg_new(v, v->seg_size, &v->active, err, errlen) != 0)
                return -1;
            v->synced_tail = v->active->tail; /* its header was synced by vlog_create */
        }
        uint32_t off, len;
        int rc = vlog_buf_add(v->active, &v->buf, r, &off, &len, err, errlen);
        atomic_store(&v->foot_bytes, v->active->foot_cap);
        if (rc == VLOG_OK) {
            if (where)
                *where = (struct tbe_where){{(uint32_t)v->active->seq, off}, len};
            return 0;
        }
        if (rc == VLOG_NOBUF) {
            if (_flush(v, err, errlen) != 0)
                return -1;
        } else if (rc == VLOG_FULL) {
            if (_flush(v, err, errlen) != 0)
                return -1;
            _seal_active(v);
        } else {
            return -1;
        }
    }
    snprintf(err, errlen, "%s: a record found no room", v->dir);
    return -1;
}

/* ---- the seam ---- */

/* Unlink every segment file in dir. */
static int _remove_segments(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    uint64_t seq;
    while ((e = readdir(d)))
        if ((vlog_seg_parse_name(e->d_name, &seq) || vlog_seg_is_partial(e->d_name)) &&
            unlinkat(dirfd(d), e->d_name, 0) != 0) {
            snprintf(err, errlen, "%s/%s: %s", dir, e->d_name, strerror(errno));
            rc = -1;
        }
    closedir(d);
    return rc;
}

int tbe_log_remove_segments(const char *path, char *err, size_t errlen)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/vlog", path);
    return _remove_segments(dir, err, errlen);
}

/* The highest segment number in dir (0 when none). */
static uint64_t _max_seq(const char *dir)
{
    uint64_t max = 0, seq;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (vlog_seg_parse_name(e->d_name, &seq) && seq > max)
            max = seq;
    if (d)
        closedir(d);
    return max;
}

static int _u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Does the footer hold an NSFLUSH record? */
static bool _has_flush(struct vlog_footer *f)
{
    struct vlog_entry e;
    while (vlog_footer_next(f, &e))
        if (e.kind == VLOG_NSFLUSH)
            return true;
    return false;
}

/* With persistence: the segments a previous run left, oldest first. A sealed one is known
 * by its footer; one without a valid footer (the last one after a crash) is scanned up to
 * its first record that fails a check (a torn tail) and sealed there. A segment whose
 * header fails is a damaged tier: refused unless start_empty (then every segment goes). */
static int _load(struct vlg *v, bool start_empty, char *err, size_t errlen)
{
    uint64_t *seqs = NULL, seq;
    size_t n = 0, cap = 0;
    DIR *d = opendir(v->dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (vlog_seg_is_partial(de->d_name)) { /* a creation a crash interrupted */
            unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        if (!vlog_seg_parse_name(de->d_name, &seq))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *ns = realloc(seqs, cap * sizeof(*ns));
            if (!ns) {
                closedir(d);
                free(seqs);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            seqs = ns;
        }
        seqs[n++] = seq;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(seqs, n, sizeof(*seqs), _u64_cmp);
    uint64_t t0 = clock_wall_ms(), scanned = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4200], e2[512];
        _seg_path(v, seqs[i], path, sizeof(path));
        struct vlog_seg *s;
        if (vlog_open(path, true, &s, e2, sizeof(e2)) != VLOG_OK) {
            if (!start_empty) {
                snprintf(err, errlen, "%s (a damaged tier: start with tier_start_empty true to "
                         "start it empty)", e2);
                free(seqs);
                return -1;
            }
            log_error("value log: %s; tier_start_empty: the tier starts empty", e2);
            free(seqs);
            while (v->nsegs)
                _drop(v, v->nsegs - 1);
            return _remove_segments(v->dir, err, errlen);
        }
        s->nosync = false;
        struct vlog_footer f;
        uint32_t end;
        bool flush;
        if (vlog_footer_read(s, &f, e2, sizeof(e2)) == VLOG_OK) {
            end = f.end;
            flush = _has_flush(&f);
            vlog_footer_free(&f);
        } else {
            const char *why = NULL;
            if (vlog_scan(s, &end, &why, e2, sizeof(e2)) != VLOG_OK) {
                snprintf(err, errlen, "%s", e2);
                vlog_close(s);
                free(seqs);
                return -1;
            }
            scanned++;
            if (why && end < s->size)
                log_info("value log %s: its records end at %u (%s)", path, (unsigned)end, why);
            vlog_footer_mem(s, &f);
            flush = _has_flush(&f);
            if (vlog_seal(s, e2, sizeof(e2)) != VLOG_OK) /* its footer stays in memory */
                log_error("value log: %s", e2);
            vlog_footer_forget(s);
        }
        if (vlog_table_add(v->table, s) != VLOG_OK) {
            snprintf(err, errlen, "%s: its slot in the segment table is taken (more than %u "
                     "segments apart)", path, TIX_SEG_SLOTS);
            vlog_close(s);
            free(seqs);
            return -1;
        }
        if (v->nsegs == v->segcap) {
            size_t ncap = v->segcap ? v->segcap * 2 : 64;
            struct vseg *ns = realloc(v->segs, ncap * sizeof(*ns));
            if (!ns) {
                snprintf(err, errlen, "out of memory");
                free(seqs);
                return -1;
            }
            v->segs = ns;
            v->segcap = ncap;
        }
        v->segs[v->nsegs++] = (struct vseg){.s = s, .seq = seqs[i], .size = s->size,
                                            .bytes = end - VLOG_DATA, .flush = flush};
        atomic_fetch_add(&v->file_bytes, s->size);
        atomic_fetch_add(&v->nseg, 1);
    }
    free(seqs);
    if (n)
        log_info("value log %s: %zu segments opened (%llu scanned) in %llu ms", v->dir, n,
                 (unsigned long long)scanned, (unsigned long long)(clock_wall_ms() - t0));
    return 0;
}

/* With persistence: the marker, and a RocksDB tier's migration (migrate.c). 1 when the
 * migration appended the segments (they are in the list, sealed: nothing to load), 0 when
 * the segments are to be loaded, -1 (message in err). A copy that failed with
 * tier_start_empty leaves no segment and starts the tier empty. */
static int _upgrade(struct vlg *v, const struct tbe_opts *o, char *err, size_t errlen)
{
    int rc = tbe_log_upgrade(&v->be, v->sdb, o->path, v->seg_size, o->start_empty, err, errlen);
    if (rc != -2)
        return rc;
    if (v->active)
        vlog_buf_drop(v->active, &v->buf);
    while (v->nsegs) /* their files are gone already */
        _drop(v, v->nsegs - 1);
    char why[600];
    snprintf(why, sizeof(why), "%s", err);
    return tbe_log_upgrade_empty(v->sdb, o->path, why, err, errlen) == 0 ? 1 : -1;
}

struct tbe *tbe_vlog_open(const struct tbe_opts *o, char *err, size_t errlen)
{
    struct vlg *v = calloc(1, sizeof(*v));
    size_t dlen = strlen(o->path) + 6;
    if (!v || !(v->dir = malloc(dlen)) || !(v->buf.data = malloc(BUF_SIZE)) ||
        !(v->table = vlog_table_new(TIX_SEG_SLOTS))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    v->be.ops = &tbe_vlog_ops;
    pthread_mutex_init(&v->seglock, NULL);
    v->tier = o->tier;
    v->buf.cap = BUF_SIZE;
    v->seg_size = _seg_size(o->size);
    if (o->segment_size) { /* set: but never so small that the tier needs too many */
        uint64_t want = (o->segment_size + 4095) / 4096 * 4096;
        uint64_t fit = (o->size / (TIX_SEG_SLOTS / 2) + 4096) / 4096 * 4096;
        if (want > o->size / 8) /* the hand needs segments to give back: 8 at least */
            want = o->size / 8 / 4096 * 4096;
        if (want < SEG_TINY)
            want = SEG_TINY;
        if (want < fit)
            want = fit;
        v->seg_size = want > VLOG_SIZE_MAX ? VLOG_SIZE_MAX / 4096 * 4096 : (uint32_t)want;
    }
    snprintf(v->dir, dlen, "%s/vlog", o->path);
    if (mkdir(v->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", v->dir, strerror(errno));
        goto fail;
    }
    /* Numbers are never reused, across runs too. Without persistence what a previous run
     * left is of no use (a cache's older copies): the tier starts empty, as a RocksDB tier
     * without persistence does. With it, the segments are opened here and the index is
     * filled from them by tiering (replay.c) before the server listens. */
    v->persist = o->persist;
    v->next_seq = _max_seq(v->dir) + 1;
    if (!v->persist && tbe_log_remove_segments(o->path, err, errlen) != 0)
        goto fail;
    struct tierdb_opts to = {.path = o->path,
                             .write_rate_bytes = o->write_rate_bytes,
                             .start_empty = o->start_empty,
                             .now_ms = o->now_ms,
                             .expired = o->expired,
                             .expired_arg = o->expired_arg};
    v->sdb = tierdb_open(&to, err, errlen);
    if (!v->sdb)
        goto fail;
    /* RocksDB's key records (a tier persisted by ssd_backend rocksdb) are moved to the log
     * before its segments are loaded (migrate.c); without persistence they are deleted with
     * the rest by the tier's start (tbe_empty), and the marker says the directory is a log */
    int up = v->persist ? _upgrade(v, o, err, errlen)
                        : tbe_log_marker_write(o->path, err, errlen);
    if (up < 0 || (v->persist && up == 0 && _load(v, o->start_empty, err, errlen) != 0)) {
        tierdb_close(v->sdb);
        goto fail;
    }
    log_info("value log at %s: segments of %u bytes%s", v->dir, (unsigned)v->seg_size,
             v->persist ? "; persisted" : "");
    return &v->be;
fail:
    if (v) {
        free(v->segs);
        vlog_table_free(v->table); /* closes the segments opened */
        free(v->buf.data);
        free(v->dir);
        free(v);
    }
    return NULL;
}

static void _close(struct tbe *be)
{
    struct vlg *v = _v(be);
    char err[256];
    if (_flush(v, err, sizeof(err)) != 0)
        log_error("value log %s: %s", v->dir, err);
    else if (v->persist)
        _seal_active(v); /* synced, with its footer: the next start reads the footer instead
                          * of scanning the segment (a start seals it anyway: no room lost) */
    free(v->segs);
    pthread_mutex_destroy(&v->seglock);
    vlog_table_free(v->table); /* closes every segment */
    tierdb_close(v->sdb);
    free(v->buf.data);
    free(v->dir);
    free(v);
}

static struct tbe_batch *_batch_new(void)
{
    struct vbatch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->b.ops = &tbe_vlog_ops;
    b->sb = tierdb_batch_new();
    b->sbl = tierdb_batch_new();
    if (!b->sb || !b->sbl) {
        tierdb_batch_free(b->sb);
        tierdb_batch_free(b->sbl);
        free(b);
        return NULL;
    }
    return &b->b;
}

static void _batch_free(struct tbe_batch *b)
{
    tierdb_batch_free(_b(b)->sb);
    tierdb_batch_free(_b(b)->sbl);
    free(_b(b)->data);
    free(b);
}

static void _stage(struct vbatch *b, uint8_t kind, uint8_t flags, uint64_t hash, const void *key,
                   size_t klen, const void *val, size_t vlen, struct tbe_where *where)
{
    size_t need = sizeof(struct staged) + klen + vlen + 8;
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap : 64 << 10;
        while (cap < b->len + need)
            cap *= 2;
        uint8_t *n = realloc(b->data, cap);
        if (!n) {
            b->nomem = true;
            return;
        }
        b->data = n;
        b->cap = cap;
    }
    struct staged st = {.hash = hash, .klen = (uint32_t)klen, .vlen = (uint32_t)vlen,
                        .kind = kind, .flags = flags, .where = where};
    memcpy(b->data + b->len, &st, sizeof(st));
    if (klen)
        memcpy(b->data + b->len + sizeof(st), key, klen);
    if (vlen)
        memcpy(b->data + b->len + sizeof(st) + klen, val, vlen);
    b->len += (sizeof(st) + klen + vlen + 7) / 8 * 8;
    b->n++;
}

static void _put(struct tbe_batch *bb, uint64_t hash, const void *key, size_t klen,
                 const void *val, size_t vlen, struct tbe_where *where)
{
    struct diskval h;
    uint8_t flags = diskval_peek(val, vlen, &h) && h.type == STORE_T_STREAM ? VLOG_F_STREAM_HEAD
                                                                             : 0;
    _stage(_b(bb), VLOG_PUT, flags, hash, key, klen, val, vlen, where);
    if (where) /* its length is known now; its place once written */
        *where = (struct tbe_where){TIX_NOLOC, vlog_record_size(klen, vlen)};
}

/* A tombstone: written with persistence only (the commit drops it otherwise: without
 * persistence nothing is replayed, and the index change is the whole delete). */
static void _del(struct tbe_batch *b, uint64_t hash, const void *key, size_t klen)
{
    _stage(_b(b), VLOG_DEL, 0, hash, key, klen, NULL, 0, NULL);
}

/* A namespace's FLUSH (start: its [length][name] prefix) or every namespace's (start empty,
 * end 0xff): an NSFLUSH record naming the prefix (persistence only, as a tombstone); the
 * second also deletes every stream record. */
static void _del_range(struct tbe_batch *b, const void *start, size_t slen, const void *end,
                       size_t elen)
{
    _stage(_b(b), VLOG_NSFLUSH, 0, 0, start, slen, NULL, 0, NULL);
    if (slen == 0 && elen == 1 && ((const uint8_t *)end)[0] == 0xff)
        tierdb_batch_delete_range(_b(b)->sbl, "\xfd", 1, "\xff", 1);
}

static size_t _count(struct tbe_batch *b)
{
    struct vbatch *vb = _b(b);
    return vb->n + vb->nomem + tierdb_batch_count(vb->sb) + tierdb_batch_count(vb->sbl);
}

/* Three phases (valuelog.md, "Writes"): the streams' chunk and append puts, the log's
 * records (stream heads among them), then (_commit_late, once every tier's batch is
 * written) the streams' deletes; with sync, each made durable before the next. A head is never on disk before the chunks it names, and the chunks a
 * replaced head named are deleted only once the new head is. */
static int _commit(struct tbe *be, struct tbe_batch *bb, bool wal, bool sync, char *err,
                   size_t errlen)
{
    struct vlg *v = _v(be);
    struct vbatch *b = _b(bb);
    int rc = 0;
    if (tierdb_batch_count(b->sb) && tierdb_batch_write(v->sdb, b->sb, wal, sync, err, errlen) != 0)
        rc = -1;
    if (rc == 0 && b->nomem) {
        snprintf(err, errlen, "out of memory for a batch");
        rc = -1;
    }
    for (size_t pos = 0, i = 0; rc == 0 && i < b->n; i++) {
        struct staged st;
        memcpy(&st, b->data + pos, sizeof(st));
        const uint8_t *key = b->data + pos + sizeof(st);
        pos += (sizeof(st) + st.klen + st.vlen + 7) / 8 * 8;
        if (st.kind != VLOG_PUT && !v->persist)
            continue;
        struct vlog_rec r = {.kind = st.kind, .flags = st.flags, .hash = st.hash, .key = key,
                             .klen = (uint16_t)st.klen, .val = key + st.klen, .vlen = st.vlen};
        if (_append(v, &r, st.where, err, errlen) != 0)
            rc = -1;
        else if (st.kind == VLOG_NSFLUSH)
            _find(v, v->active->seq)->flush = true;
    }
    if (rc == 0)
        rc = _flush(v, err, errlen);
    if (rc == 0 && sync)
        rc = _sync_active(v, err, errlen);
    if (rc != 0 && v->active)
        vlog_buf_drop(v->active, &v->buf);
    tierdb_batch_clear(b->sb);
    b->len = 0;
    b->n = 0;
    b->nomem = false;
    return rc;
}

static int _commit_late(struct tbe *be, struct tbe_batch *bb, bool wal, bool sync, char *err,
                        size_t errlen)
{
    struct vbatch *b = _b(bb);
    return tierdb_batch_count(b->sbl)
               ? tierdb_batch_write(_v(be)->sdb, b->sbl, wal, sync, err, errlen)
               : 0;
}

static void _drop_late(struct tbe_batch *b) { tierdb_batch_clear(_b(b)->sbl); }

static struct tierdb_batch *_batch_streams(struct tbe_batch *b) { return _b(b)->sb; }
static struct tierdb_batch *_batch_streams_late(struct tbe_batch *b) { return _b(b)->sbl; }

static int _get(struct tbe *be, const void *key, size_t klen, struct tix_loc loc, uint32_t dlen,
                uint8_t **val, size_t *vlen, char *err, size_t errlen)
{
    if (!loc.off || !dlen)
        return 1; /* a log is not searched by key */
    uint8_t *buf = malloc(dlen);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct vlog_entry e;
    int rc = tbe_log_read(be, loc.seg, loc.off, dlen, buf, false, &e, err, errlen);
    if (rc == 0 && (e.kind != VLOG_PUT || e.klen != klen || memcmp(e.key, key, klen) != 0))
        rc = 1; /* another key's record (a 64-bit hash collision): not this key's */
    if (rc != 0) {
        free(buf);
        return rc < 0 ? -1 : 1; /* a record that fails a check is an error too */
    }
    /* the value to the front of the buffer: callers free() it */
    memmove(buf, e.val, e.vlen);
    *val = buf;
    *vlen = e.vlen;
    return 0;
}

/* A log has no key order. Its cursor yields the records the index names on this tier, the
 * sealed segments' newest first, each in file order (one pread per record), then the
 * streams' records from RocksDB as they were when the cursor was made (the segments it walks
 * are those of that moment too, less the active one); `from` is not supported (a namespace's walk and
 * replication's resumption need it: docs/valuelog.md, steps 5 and later). Its callers are
 * the warm restart's load after the replay and the writer's check of the index after a
 * fault. Segments created after the cursor are not walked. Any thread. */
struct vscan {
    struct tbe_scan s;
    struct vlg *v;
    uint64_t *seqs; /* newest first */
    size_t n, i;
    struct vlog_footer f;
    bool fopen, log_done;
    uint8_t *buf;
    size_t cap;
    struct tierdb_iter *it;
    struct tbe_where where;
    char err[256];
    bool failed;
};

static struct tbe_scan *_scan_new(struct tbe *be, const void *from, size_t flen)
{
    (void)from;
    (void)flen;
    struct vlg *v = _v(be);
    struct vscan *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->s.ops = &tbe_vlog_ops;
    s->v = v;
    pthread_mutex_lock(&v->seglock);
    s->seqs = v->nsegs ? malloc(v->nsegs * sizeof(*s->seqs)) : NULL;
    for (size_t i = v->nsegs; s->seqs && i-- > 0;)
        if (v->segs[i].s != v->active)
            s->seqs[s->n++] = v->segs[i].seq;
    bool nomem = v->nsegs && !s->seqs;
    pthread_mutex_unlock(&v->seglock);
    /* the streams' records as they are now too: what the cursor yields is one moment's
     * (restore.c finds orphaned chunks by the heads of the same walk) */
    if (!nomem)
        s->it = tierdb_iter_from(v->sdb, "\xfd", 1);
    if (nomem || !s->it) {
        free(s->seqs);
        free(s);
        return NULL;
    }
    return &s->s;
}

static bool _scan_next(struct tbe_scan *ss, const uint8_t **key, size_t *klen,
                       const uint8_t **val, size_t *vlen)
{
    struct vscan *s = (struct vscan *)ss;
    struct vlg *v = s->v;
    while (!s->log_done && !s->failed) {
        if (!s->fopen) {
            if (s->i == s->n) {
                s->log_done = true;
                break;
            }
            uint64_t seq = s->seqs[s->i++];
            int rc = tbe_log_footer(&v->be, seq, &s->f, s->err, sizeof(s->err));
            if (rc < 0)
                s->failed = true;
            s->fopen = rc == 0;
            if (!s->fopen)
                continue;
            s->where.loc.seg = (uint32_t)seq;
        }
        struct vlog_entry e, rec;
        if (!vlog_footer_next(&s->f, &e)) {
            vlog_footer_free(&s->f);
            s->fopen = false;
            continue;
        }
        struct tix_loc loc = {s->where.loc.seg, e.off};
        uint64_t hash;
        if (e.kind != VLOG_PUT || !tiering_key_hash(e.key, e.klen, &hash))
            continue;
        struct tix_entry x = tix_get(hash);
        /* dead: a newer record, or none, is the key's. Except a stream's head: a newer one
         * written since the cursor was made may name the same stream, and restore.c takes
         * chunks that no head of its walk names for orphans (a dead head's chunks then wait
         * for a restart after its record is reclaimed) */
        if ((x.state != TIX_LIVE || x.tier != v->tier || !tix_loc_eq(x.loc, loc)) &&
            !(e.flags & VLOG_F_STREAM_HEAD))
            continue;
        if (e.len > s->cap) {
            uint8_t *nb = realloc(s->buf, e.len);
            if (!nb) {
                snprintf(s->err, sizeof(s->err), "out of memory");
                s->failed = true;
                break;
            }
            s->buf = nb;
            s->cap = e.len;
        }
        char e2[256];
        if (tbe_log_read(&v->be, loc.seg, loc.off, e.len, s->buf, false, &rec, e2, sizeof(e2)) != 0)
            continue; /* gone meanwhile, or unreadable: its read will say */
        *key = rec.key;
        *klen = rec.klen;
        *val = rec.val;
        *vlen = rec.vlen;
        s->where = (struct tbe_where){loc, e.len};
        return true;
    }
    if (s->failed)
        return false;
    bool more = tierdb_iter_next(s->it, key, klen, val, vlen);
    s->where = (struct tbe_where){TIX_NOLOC, more ? (uint32_t)(*klen + *vlen) : 0};
    return more;
}

static int _scan_status(struct tbe_scan *ss, char *err, size_t errlen)
{
    struct vscan *s = (struct vscan *)ss;
    if (s->failed) {
        snprintf(err, errlen, "%s", s->err);
        return -1;
    }
    return s->it ? tierdb_iter_status(s->it, err, errlen) : 0;
}

static struct tbe_where _scan_where(struct tbe_scan *ss) { return ((struct vscan *)ss)->where; }

static void _scan_free(struct tbe_scan *ss)
{
    struct vscan *s = (struct vscan *)ss;
    if (s->fopen)
        vlog_footer_free(&s->f);
    tierdb_iter_free(s->it);
    free(s->seqs);
    free(s->buf);
    free(s);
}

static int _empty(struct tbe *be, bool streams, char *err, size_t errlen)
{
    struct vlg *v = _v(be);
    if (v->active)
        vlog_buf_drop(v->active, &v->buf);
    v->buf.len = 0;
    while (v->nsegs)
        _drop(v, v->nsegs - 1);
    v->active = NULL;
    v->unsynced = 0;
    if (!streams)
        return 0;
    return tierdb_delete_range(v->sdb, "\xfd", 1, "\xff", 1, false, err, errlen);
}

static int _sync(struct tbe *be, char *err, size_t errlen)
{
    struct vlg *v = _v(be);
    if (_sync_active(v, err, errlen) != 0)
        return -1;
    return tierdb_sync_wal(v->sdb, err, errlen);
}

static void _flush_all(struct tbe *be) { tierdb_flush(_v(be)->sdb); }
static void _compact(struct tbe *be) { tierdb_compact(_v(be)->sdb); }

static uint64_t _bytes(struct tbe *be)
{
    return atomic_load(&_v(be)->file_bytes) + tierdb_bytes(_v(be)->sdb);
}

static uint64_t _memory(struct tbe *be)
{
    struct vlg *v = _v(be);
    /* the write buffer, the active segment's footer entries, the table's slots */
    return BUF_SIZE + atomic_load(&v->foot_bytes) + TIX_SEG_SLOTS * sizeof(void *) +
           tierdb_memory(v->sdb);
}

static struct tierdb *_streams(struct tbe *be) { return _v(be)->sdb; }

const struct tbe_ops tbe_vlog_ops = {
    .name = "vlog",
    .close = _close,
    .batch_new = _batch_new,
    .batch_free = _batch_free,
    .put = _put,
    .del = _del,
    .del_range = _del_range,
    .count = _count,
    .commit = _commit,
    .batch_streams = _batch_streams,
    .batch_streams_late = _batch_streams_late,
    .commit_late = _commit_late,
    .drop_late = _drop_late,
    .get = _get,
    .scan_new = _scan_new,
    .scan_next = _scan_next,
    .scan_status = _scan_status,
    .scan_where = _scan_where,
    .scan_free = _scan_free,
    .empty = _empty,
    .sync = _sync,
    .flush = _flush_all,
    .compact = _compact,
    .bytes = _bytes,
    .memory = _memory,
    .streams = _streams,
};

/* ---- backend_vlog.h ---- */

size_t tbe_log_segments(struct tbe *be, struct tbe_log_seg *out, size_t max)
{
    struct vlg *v = _v(be);
    for (size_t i = 0; i < v->nsegs && i < max; i++)
        out[i] = (struct tbe_log_seg){.seq = v->segs[i].seq, .size = v->segs[i].size,
                                      .bytes = v->segs[i].bytes,
                                      .active = v->segs[i].s == v->active,
                                      .pinned = v->segs[i].flush};
    return v->nsegs;
}

void tbe_log_usage(struct tbe *be, uint64_t *bytes, uint64_t *live, uint64_t *files)
{
    struct vlg *v = _v(be);
    *bytes = *live = *files = 0;
    for (size_t i = 0; i < v->nsegs; i++) {
        int64_t l = tix_seg_live(v->tier, (uint32_t)v->segs[i].seq);
        *bytes += v->segs[i].bytes;
        *live += l > 0 ? (uint64_t)l : 0;
        *files += v->segs[i].size;
    }
}

uint64_t tbe_log_file_bytes(struct tbe *be) { return _bytes(be); }

bool tbe_log_fits(struct tbe *be, uint64_t need, uint64_t size)
{
    struct vlg *v = _v(be);
    need += need / 4 + 64; /* headers, padding and footer entries: at most about this */
    uint64_t room = 0;
    struct vlog_seg *a = v->active;
    if (a && !a->failed && a->tail + a->foot_len + VLOG_TRAILER + v->buf.len < a->size)
        room = a->size - a->tail - a->foot_len - VLOG_TRAILER - v->buf.len;
    if (need <= room)
        return true;
    uint64_t per = v->seg_size - VLOG_DATA - VLOG_TRAILER;
    uint64_t more = (need - room + per - 1) / per * v->seg_size;
    return _bytes(be) + more <= size;
}

int tbe_log_footer(struct tbe *be, uint64_t seq, struct vlog_footer *f, char *err,
                   size_t errlen)
{
    struct vlg *v = _v(be);
    struct vlog_seg *s = vlog_table_get(v->table, seq);
    if (!s)
        return 1;
    int rc = 0;
    if (s->have_foot) /* one whose seal failed: its entries are still in memory */
        vlog_footer_mem(s, f);
    else
        rc = vlog_footer_read(s, f, err, errlen) == VLOG_OK ? 0 : -1;
    vlog_table_put(v->table, s);
    return rc;
}

int tbe_log_read(struct tbe *be, uint32_t seg, uint32_t off, uint32_t len, uint8_t *buf,
                 bool check_value, struct vlog_entry *e, char *err, size_t errlen)
{
    struct vlg *v = _v(be);
    struct vlog_seg *s = vlog_table_get32(v->table, seg);
    if (!s)
        return 1; /* reclaimed: the record moved or left */
    int rc = vlog_read(s, off, len, buf, e, err, errlen);
    vlog_table_put(v->table, s);
    if (rc == VLOG_OK && check_value && e->kind == VLOG_PUT) {
        struct diskval dv;
        uint8_t *owned = NULL;
        int d = diskval_decode(e->val, e->vlen, 0, &dv, &owned);
        free(owned);
        if (d == DISKVAL_CORRUPT) {
            snprintf(err, errlen, "%s: the value at %u of segment %u failed its checksum",
                     v->dir, (unsigned)off, (unsigned)seg);
            return -2;
        }
    }
    return rc == VLOG_OK ? 0 : rc == VLOG_IO ? -1 : -2;
}

int tbe_log_read_cached(struct tbe *be, uint32_t seg, uint32_t off, uint32_t len,
                        uint8_t *buf, struct vlog_entry *e)
{
    struct vlg *v = _v(be);
    struct vlog_seg *s = vlog_table_get32(v->table, seg);
    if (!s)
        return 1;
    int rc = vlog_read_cached(s, off, len, buf, e, NULL, 0);
    vlog_table_put(v->table, s);
    return rc == VLOG_OK ? 0 : 1;
}

int tbe_log_append(struct tbe *be, const struct vlog_entry *e, struct tbe_where *where,
                   char *err, size_t errlen)
{
    struct vlog_rec r = {.kind = e->kind, .flags = e->flags, .hash = e->hash, .key = e->key,
                         .klen = e->klen, .val = e->val, .vlen = e->vlen};
    return _append(_v(be), &r, where, err, errlen);
}

int tbe_log_flush(struct tbe *be, char *err, size_t errlen)
{
    struct vlg *v = _v(be);
    int rc = _flush(v, err, errlen);
    if (rc != 0 && v->active)
        vlog_buf_drop(v->active, &v->buf);
    return rc;
}

int tbe_log_sync(struct tbe *be, char *err, size_t errlen)
{
    return _sync_active(_v(be), err, errlen);
}

int tbe_log_seal(struct tbe *be, char *err, size_t errlen)
{
    struct vlg *v = _v(be);
    if (_flush(v, err, errlen) != 0 || _sync_active(v, err, errlen) != 0)
        return -1;
    _seal_active(v);
    /* a seal that failed is only logged (its records are synced and a scan finds them);
     * one more fdatasync of each file makes sure of every record, large ones included */
    for (size_t i = 0; i < v->nsegs; i++)
        if (fdatasync(v->segs[i].s->fd) != 0) {
            snprintf(err, errlen, "%s: fdatasync: %s", v->segs[i].s->name, strerror(errno));
            return -1;
        }
    return 0;
}

bool tbe_log_persisted(struct tbe *be) { return _v(be)->persist; }

bool tbe_log_has_segments(const char *path)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/vlog", path);
    return _max_seq(dir) != 0;
}

void tbe_log_drop(struct tbe *be, uint64_t seq)
{
    struct vlg *v = _v(be);
    for (size_t i = 0; i < v->nsegs; i++)
        if (v->segs[i].seq == seq) {
            _drop(v, i);
            atomic_fetch_add(&v->dropped, 1);
            return;
        }
}

void tbe_log_stats(struct tbe *be, struct tbe_log_stats *out)
{
    struct vlg *v = _v(be);
    *out = (struct tbe_log_stats){.segments = atomic_load(&v->nseg),
                                  .appended = atomic_load(&v->appended),
                                  .moved = atomic_load(&v->moved),
                                  .dropped = atomic_load(&v->dropped)};
}

void tbe_log_moved(struct tbe *be, uint64_t bytes) { atomic_fetch_add(&_v(be)->moved, bytes); }

/* ---- replication's walk (peer.c) ---- */

#define WALK_SPAN (256u << 10) /* bytes of records read at once */

/* Read span bytes of records at pos->off of sg into pos->buf. */
static int _walk_read(struct tbe_log_pos *pos, struct vlog_seg *sg, uint32_t span, char *err,
                      size_t errlen)
{
    if (pos->cap < span) {
        uint8_t *nb = realloc(pos->buf, span);
        if (!nb) {
            snprintf(err, errlen, "%s: out of memory for a walk's read", sg->name);
            return -1;
        }
        pos->buf = nb;
        pos->cap = span;
    }
    return vlog_read_span(sg, pos->off, span, pos->buf, err, errlen) == VLOG_OK ? 0 : -1;
}

void tbe_log_pos_free(struct tbe_log_pos *pos)
{
    free(pos->buf);
    *pos = (struct tbe_log_pos){0};
}

/* Under seglock: the first segment at or after seq, or NULL. */
static struct vseg *_at_or_after(struct vlg *v, uint64_t seq)
{
    for (size_t i = 0; i < v->nsegs; i++)
        if (v->segs[i].seq >= seq)
            return &v->segs[i];
    return NULL;
}

int tbe_log_walk(struct tbe *be, struct tbe_log_pos *pos, unsigned max, tbe_log_walk_fn fn,
                 void *arg, unsigned *visited, char *err, size_t errlen)
{
    struct vlg *v = _v(be);
    *visited = 0;
    if (!pos->limit) /* a walk that never reaches the head (demotions faster than it) ends */
        pos->limit = 2 * atomic_load(&v->file_bytes) + 2 * (uint64_t)v->seg_size;
    while (*visited < max) {
        if (pos->walked > pos->limit) {
            snprintf(err, errlen, "%s: the walk passed %" PRIu64 " bytes of records without "
                     "reaching the head (appends outran it); it ends here", v->dir,
                     pos->walked);
            return -2;
        }
        pthread_mutex_lock(&v->seglock);
        struct vseg *m = _at_or_after(v, pos->seq);
        bool last = m && m == &v->segs[v->nsegs - 1];
        uint64_t seq = m ? m->seq : 0;
        uint64_t end = m ? VLOG_DATA + m->bytes : 0;
        struct vlog_seg *sg = m ? vlog_table_get(v->table, seq) : NULL;
        pthread_mutex_unlock(&v->seglock);
        if (!m)
            return 0; /* past the newest segment */
        if (seq != pos->seq || pos->off < VLOG_DATA) { /* the next one: from its first record */
            pos->seq = seq;
            pos->off = VLOG_DATA;
        }
        if (!sg || pos->off >= end) {
            if (sg)
                vlog_table_put(v->table, sg);
            if (last)
                return 0; /* the head as it is now: the end */
            pos->seq = seq + 1;
            pos->off = 0; /* whichever segment that is, from its first record */
            continue;
        }
        uint32_t span = (uint32_t)(end - pos->off < WALK_SPAN ? end - pos->off : WALK_SPAN);
        const char *why = NULL;
        int rc = _walk_read(pos, sg, span, err, errlen);
        uint32_t p = 0;
        while (rc == 0 && *visited < max && p + VLOG_REC_HEADER <= span) {
            uint32_t rlen = get32(pos->buf + p + 4);
            if (rlen < VLOG_REC_HEADER || rlen > end - (pos->off + p)) {
                why = "its length runs past the segment's records";
                break;
            }
            if (p + rlen > span) {
                if (p)
                    break; /* the next read starts with it */
                span = rlen; /* one record larger than a span: read whole */
                rc = _walk_read(pos, sg, span, err, errlen);
                continue;
            }
            struct vlog_entry e;
            if (vlog_record_check(pos->buf + p, rlen, false, &e, &why) != VLOG_OK)
                break;
            e.off = pos->off + p;
            p += rlen;
            pos->walked += rlen;
            (*visited)++; /* every record counts: a step stays bounded */
            if (e.kind == VLOG_PUT)
                fn(arg, &e, (struct tix_loc){(uint32_t)seq, e.off});
        }
        if (rc == 0 && !why && !p && *visited < max)
            why = "a record is cut short";
        vlog_table_put(v->table, sg);
        if (rc != 0 || why) { /* the rest of this segment is skipped; its reads will say */
            if (why)
                snprintf(err, errlen, "%s: segment %" PRIu64 ", record at %" PRIu32 ": %s; the "
                         "walk goes on at the next segment", v->dir, seq, pos->off + p, why);
            pos->seq = seq + 1;
            pos->off = 0;
            return -1;
        }
        pos->off += p;
    }
    return 1;
}

#ifdef CACHE_FAULT_INJECTION
static atomic_uint fault_sync_fail;

uint32_t tiering_fault_sync_fail(uint32_t n)
{
    atomic_store(&fault_sync_fail, n);
    return n;
}

bool tbe_log_fault_sync(void)
{
    unsigned n = atomic_load(&fault_sync_fail);
    while (n && !atomic_compare_exchange_weak(&fault_sync_fail, &n, n - 1))
        ;
    return n != 0;
}
#endif
