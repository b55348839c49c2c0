#include "tierdb.h"

#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diskval.h"

struct tierdb {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_compactionfilter_t *filter;
    rocksdb_ratelimiter_t *limiter;
    rocksdb_writeoptions_t *w_wal, *w_nowal, *w_sync;
    rocksdb_readoptions_t *r;
    uint64_t (*now_ms)(void);
    void (*expired)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
    void *expired_arg;
    atomic_uint_fast64_t expired_dropped;
};

static unsigned char filter_fn(void *state, int level, const char *key, size_t klen,
                               const char *val, size_t vlen, char **new_val, size_t *new_vlen,
                               unsigned char *changed)
{
    (void)level, (void)new_val, (void)new_vlen;
    struct tierdb *db = state;
    *changed = 0;
    if (diskval_expired((const uint8_t *)val, vlen, db->now_ms())) {
        atomic_fetch_add(&db->expired_dropped, 1);
        if (db->expired)
            db->expired(db->expired_arg, (const uint8_t *)key, klen, (const uint8_t *)val, vlen);
        return 1; /* remove */
    }
    return 0;
}

static const char *filter_name(void *state)
{
    (void)state;
    return "cacheserverd-expiry";
}

static void filter_destroy(void *state) { (void)state; }

static int fail(char *err, size_t errlen, const char *what, char *rerr)
{
    snprintf(err, errlen, "%s: %s", what, rerr ? rerr : "unknown error");
    free(rerr);
    return -1;
}

struct tierdb *tierdb_open(const struct tierdb_opts *o, char *err, size_t errlen)
{
    struct tierdb *db = calloc(1, sizeof(*db));
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db->now_ms = o->now_ms;
    db->expired = o->expired;
    db->expired_arg = o->expired_arg;
    db->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(db->opts, 1);
    rocksdb_options_set_compression(db->opts, rocksdb_no_compression);
    rocksdb_options_set_paranoid_checks(db->opts, 1);
    rocksdb_options_set_max_open_files(db->opts, 256);
    rocksdb_options_set_max_background_jobs(db->opts, 2);
    /* RocksDB's own LOG file lives in the tier's directory: on a full disk its next line
     * would hit an assertion in Debian's build (a write after a failed write). Only fatal
     * messages go there; our log reports every failure. */
    rocksdb_options_set_info_log_level(db->opts, 4 /* FATAL */);
    rocksdb_options_set_keep_log_file_num(db->opts, 2);
    /* a small write-ahead log: after a crash, opening replays it before the first request
     * (a 186 MB log took 1.3 s; see docs/performance.md) */
    rocksdb_options_set_write_buffer_size(db->opts, 32u << 20);
    rocksdb_options_set_max_total_wal_size(db->opts, 48u << 20);
    db->filter = rocksdb_compactionfilter_create(db, filter_destroy, filter_fn, filter_name);
    rocksdb_options_set_compaction_filter(db->opts, db->filter);
    if (o->write_rate_bytes > 0) {
        db->limiter = rocksdb_ratelimiter_create(o->write_rate_bytes, 100000, 10);
        rocksdb_options_set_ratelimiter(db->opts, db->limiter);
    }
    /* Only a directory that already holds a tier (a CURRENT file) can be a damaged one. */
    char current[4096];
    snprintf(current, sizeof(current), "%s/CURRENT", o->path);
    bool existed = access(current, F_OK) == 0;
    char *rerr = NULL;
    db->db = rocksdb_open(db->opts, o->path, &rerr);
    if (!db->db && o->start_empty) {
        /* the operator said to start this tier empty rather than refuse a broken directory */
        free(rerr);
        rerr = NULL;
        rocksdb_destroy_db(db->opts, o->path, &rerr);
        free(rerr);
        rerr = NULL;
        db->db = rocksdb_open(db->opts, o->path, &rerr);
    }
    if (!db->db) {
        const char *hint = "";
        if (rerr && strstr(rerr, "lock file"))
            hint = " (another process has this tier open: a second cacheserverd on the same "
                   "path? Each server needs its own tier directories)";
        else if (existed && !o->start_empty)
            hint = " (a damaged tier can be started empty with tier_start_empty)";
        snprintf(err, errlen, "cannot open %s: %s%s", o->path, rerr ? rerr : "unknown error",
                 hint);
        free(rerr);
        tierdb_close(db);
        return NULL;
    }
    db->w_wal = rocksdb_writeoptions_create();
    db->w_nowal = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(db->w_nowal, 1);
    db->w_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(db->w_sync, 1);
    db->r = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(db->r, 1);
    return db;
}

void tierdb_close(struct tierdb *db)
{
    if (!db)
        return;
    if (db->db)
        rocksdb_close(db->db);
    if (db->w_wal)
        rocksdb_writeoptions_destroy(db->w_wal);
    if (db->w_nowal)
        rocksdb_writeoptions_destroy(db->w_nowal);
    if (db->w_sync)
        rocksdb_writeoptions_destroy(db->w_sync);
    if (db->r)
        rocksdb_readoptions_destroy(db->r);
    if (db->opts)
        rocksdb_options_destroy(db->opts);
    if (db->filter)
        rocksdb_compactionfilter_destroy(db->filter);
    if (db->limiter)
        rocksdb_ratelimiter_destroy(db->limiter);
    free(db);
}

size_t tierdb_key(uint8_t *out, const char *ns, size_t nslen, const void *key, size_t klen)
{
    out[0] = (uint8_t)nslen;
    memcpy(out + 1, ns, nslen);
    memcpy(out + 1 + nslen, key, klen);
    return 1 + nslen + klen;
}

int tierdb_put(struct tierdb *db, const void *key, size_t klen, const void *val, size_t vlen,
               bool wal, char *err, size_t errlen)
{
    char *rerr = NULL;
    rocksdb_put(db->db, wal ? db->w_wal : db->w_nowal, key, klen, val, vlen, &rerr);
    return rerr ? fail(err, errlen, "write", rerr) : 0;
}

int tierdb_get(struct tierdb *db, const void *key, size_t klen, uint8_t **val, size_t *vlen,
               char *err, size_t errlen)
{
    char *rerr = NULL;
    char *v = rocksdb_get(db->db, db->r, key, klen, vlen, &rerr);
    if (rerr)
        return fail(err, errlen, "read", rerr);
    if (!v)
        return 1;
    *val = (uint8_t *)v;
    return 0;
}

int tierdb_delete(struct tierdb *db, const void *key, size_t klen, bool wal, char *err,
                  size_t errlen)
{
    char *rerr = NULL;
    rocksdb_delete(db->db, wal ? db->w_wal : db->w_nowal, key, klen, &rerr);
    return rerr ? fail(err, errlen, "delete", rerr) : 0;
}

int tierdb_delete_range(struct tierdb *db, const void *start, size_t slen, const void *end,
                        size_t elen, bool wal, char *err, size_t errlen)
{
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range(b, start, slen, end, elen);
    char *rerr = NULL;
    rocksdb_write(db->db, wal ? db->w_wal : db->w_nowal, b, &rerr);
    rocksdb_writebatch_destroy(b);
    return rerr ? fail(err, errlen, "delete range", rerr) : 0;
}

/* ---- batches ---- */

struct tierdb_batch {
    rocksdb_writebatch_t *b;
};

struct tierdb_batch *tierdb_batch_new(void)
{
    struct tierdb_batch *b = malloc(sizeof(*b));
    if (b)
        b->b = rocksdb_writebatch_create();
    return b;
}

void tierdb_batch_clear(struct tierdb_batch *b) { rocksdb_writebatch_clear(b->b); }

void tierdb_batch_free(struct tierdb_batch *b)
{
    if (b) {
        rocksdb_writebatch_destroy(b->b);
        free(b);
    }
}

void tierdb_batch_put(struct tierdb_batch *b, const void *key, size_t klen, const void *val,
                      size_t vlen)
{
    rocksdb_writebatch_put(b->b, key, klen, val, vlen);
}

void tierdb_batch_delete(struct tierdb_batch *b, const void *key, size_t klen)
{
    rocksdb_writebatch_delete(b->b, key, klen);
}

void tierdb_batch_delete_range(struct tierdb_batch *b, const void *start, size_t slen,
                               const void *end, size_t elen)
{
    rocksdb_writebatch_delete_range(b->b, start, slen, end, elen);
}

size_t tierdb_batch_count(struct tierdb_batch *b) { return (size_t)rocksdb_writebatch_count(b->b); }

int tierdb_batch_write(struct tierdb *db, struct tierdb_batch *b, bool wal, bool sync, char *err,
                       size_t errlen)
{
    char *rerr = NULL;
    rocksdb_write(db->db, !wal ? db->w_nowal : sync ? db->w_sync : db->w_wal, b->b, &rerr);
    rocksdb_writebatch_clear(b->b);
    return rerr ? fail(err, errlen, "write", rerr) : 0;
}

int tierdb_sync_wal(struct tierdb *db, char *err, size_t errlen)
{
    char *rerr = NULL;
    rocksdb_flush_wal(db->db, 1, &rerr);
    return rerr ? fail(err, errlen, "sync of the write-ahead log", rerr) : 0;
}

/* ---- iteration ---- */

struct tierdb_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *r;
    bool started;
    uint8_t *from; /* seek target of the first step (NULL = the first record) */
    size_t from_len;
};

struct tierdb_iter *tierdb_iter_new(struct tierdb *db)
{
    struct tierdb_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return NULL;
    it->r = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(it->r, 1);
    rocksdb_readoptions_set_fill_cache(it->r, 0); /* one pass over everything */
    it->it = rocksdb_create_iterator(db->db, it->r);
    return it;
}

bool tierdb_iter_next(struct tierdb_iter *it, const uint8_t **key, size_t *klen,
                      const uint8_t **val, size_t *vlen)
{
    if (!it->started) {
        if (it->from)
            rocksdb_iter_seek(it->it, (const char *)it->from, it->from_len);
        else
            rocksdb_iter_seek_to_first(it->it);
        it->started = true;
    } else {
        rocksdb_iter_next(it->it);
    }
    if (!rocksdb_iter_valid(it->it))
        return false;
    *key = (const uint8_t *)rocksdb_iter_key(it->it, klen);
    *val = (const uint8_t *)rocksdb_iter_value(it->it, vlen);
    return true;
}

int tierdb_iter_status(struct tierdb_iter *it, char *err, size_t errlen)
{
    char *rerr = NULL;
    rocksdb_iter_get_error(it->it, &rerr);
    return rerr ? fail(err, errlen, "iteration", rerr) : 0;
}

struct tierdb_iter *tierdb_iter_from(struct tierdb *db, const void *key, size_t klen)
{
    struct tierdb_iter *it = tierdb_iter_new(db);
    if (it && klen) {
        it->from = malloc(klen);
        if (!it->from) {
            tierdb_iter_free(it);
            return NULL;
        }
        memcpy(it->from, key, klen);
        it->from_len = klen;
    }
    return it;
}

void tierdb_iter_free(struct tierdb_iter *it)
{
    if (!it)
        return;
    free(it->from);
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->r);
    free(it);
}

uint64_t tierdb_bytes(struct tierdb *db)
{
    uint64_t sst = 0, mem = 0;
    rocksdb_property_int(db->db, "rocksdb.total-sst-files-size", &sst);
    rocksdb_property_int(db->db, "rocksdb.cur-size-all-mem-tables", &mem);
    return sst + mem;
}

uint64_t tierdb_unflushed(struct tierdb *db)
{
    uint64_t mem = 0;
    rocksdb_property_int(db->db, "rocksdb.cur-size-all-mem-tables", &mem);
    return mem;
}

uint64_t tierdb_memory(struct tierdb *db)
{
    uint64_t mem = 0, cache = 0, readers = 0;
    rocksdb_property_int(db->db, "rocksdb.cur-size-all-mem-tables", &mem);
    rocksdb_property_int(db->db, "rocksdb.block-cache-usage", &cache);
    rocksdb_property_int(db->db, "rocksdb.estimate-table-readers-mem", &readers);
    return mem + cache + readers;
}

void tierdb_flush(struct tierdb *db)
{
    rocksdb_flushoptions_t *f = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(f, 1);
    char *rerr = NULL;
    rocksdb_flush(db->db, f, &rerr);
    free(rerr);
    rocksdb_flushoptions_destroy(f);
}

void tierdb_compact(struct tierdb *db)
{
    tierdb_flush(db);
    rocksdb_compact_range(db->db, NULL, 0, NULL, 0);
}

uint64_t tierdb_expired_dropped(struct tierdb *db) { return atomic_load(&db->expired_dropped); }
