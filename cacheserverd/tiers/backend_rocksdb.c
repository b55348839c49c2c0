/* The RocksDB back end of the tier seam (backend.h): one tierdb per tier holds its key
 * records and its streams' records alike, so every function is one tierdb call; a batch's
 * key records and stream puts are one tierdb batch (one write), its streams' deletes a
 * second one, written after (tbe_commit_late). */
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "tierdb.h"

struct rdb {
    struct tbe be;
    struct tierdb *db;
};

struct rdb_batch {
    struct tbe_batch b;
    struct tierdb_batch *tb;
    struct tierdb_batch *late; /* streams' deletes, written by _commit_late */
};

struct rdb_scan {
    struct tbe_scan s;
    struct tierdb_iter *it;
    uint32_t len; /* the last record's key and value bytes */
};

static struct tierdb *_db(struct tbe *be) { return ((struct rdb *)be)->db; }
static struct tierdb_batch *_tb(struct tbe_batch *b) { return ((struct rdb_batch *)b)->tb; }
static struct tierdb_iter *_it(struct tbe_scan *s) { return ((struct rdb_scan *)s)->it; }

struct tbe *tbe_rocksdb_open(const struct tbe_opts *o, char *err, size_t errlen)
{
    struct rdb *r = malloc(sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct tierdb_opts to = {.path = o->path,
                             .write_rate_bytes = o->write_rate_bytes,
                             .start_empty = o->start_empty,
                             .now_ms = o->now_ms,
                             .expired = o->expired,
                             .expired_arg = o->expired_arg};
    r->be.ops = &tbe_rocksdb_ops;
    r->db = tierdb_open(&to, err, errlen);
    if (!r->db) {
        free(r);
        return NULL;
    }
    return &r->be;
}

static void _close(struct tbe *be)
{
    tierdb_close(_db(be));
    free(be);
}

static struct tbe_batch *_batch_new(void)
{
    struct rdb_batch *b = malloc(sizeof(*b));
    if (!b)
        return NULL;
    b->b.ops = &tbe_rocksdb_ops;
    b->tb = tierdb_batch_new();
    b->late = tierdb_batch_new();
    if (!b->tb || !b->late) {
        tierdb_batch_free(b->tb);
        tierdb_batch_free(b->late);
        free(b);
        return NULL;
    }
    return &b->b;
}

static struct tierdb_batch *_late(struct tbe_batch *b) { return ((struct rdb_batch *)b)->late; }

static void _batch_free(struct tbe_batch *b)
{
    tierdb_batch_free(_tb(b));
    tierdb_batch_free(_late(b));
    free(b);
}

static void _put(struct tbe_batch *b, uint64_t hash, const void *key, size_t klen,
                 const void *val, size_t vlen, struct tbe_where *where)
{
    (void)hash;
    tierdb_batch_put(_tb(b), key, klen, val, vlen);
    if (where) /* found by its key: no location */
        *where = (struct tbe_where){TIX_NOLOC, (uint32_t)(klen + vlen)};
}

static void _del(struct tbe_batch *b, uint64_t hash, const void *key, size_t klen)
{
    (void)hash;
    tierdb_batch_delete(_tb(b), key, klen);
}

static void _del_range(struct tbe_batch *b, const void *start, size_t slen, const void *end,
                       size_t elen)
{
    tierdb_batch_delete_range(_tb(b), start, slen, end, elen);
}

static size_t _count(struct tbe_batch *b)
{
    return tierdb_batch_count(_tb(b)) + tierdb_batch_count(_late(b));
}

static int _commit(struct tbe *be, struct tbe_batch *b, bool wal, bool sync, char *err,
                   size_t errlen)
{
    return tierdb_batch_count(_tb(b)) ? tierdb_batch_write(_db(be), _tb(b), wal, sync, err, errlen)
                                      : 0;
}

static int _commit_late(struct tbe *be, struct tbe_batch *b, bool wal, bool sync, char *err,
                        size_t errlen)
{
    return tierdb_batch_count(_late(b)) ? tierdb_batch_write(_db(be), _late(b), wal, sync, err,
                                                             errlen)
                                        : 0;
}

static void _drop_late(struct tbe_batch *b) { tierdb_batch_clear(_late(b)); }

static int _get(struct tbe *be, const void *key, size_t klen, struct tix_loc loc, uint32_t dlen,
                uint8_t **val, size_t *vlen, char *err, size_t errlen)
{
    (void)loc; /* a key lookup */
    (void)dlen;
    return tierdb_get(_db(be), key, klen, val, vlen, err, errlen);
}

static struct tbe_scan *_scan_new(struct tbe *be, const void *from, size_t flen)
{
    struct rdb_scan *s = malloc(sizeof(*s));
    if (!s)
        return NULL;
    s->s.ops = &tbe_rocksdb_ops;
    /* (tierdb_iter_from with no key is tierdb_iter_new) */
    s->it = flen ? tierdb_iter_from(_db(be), from, flen) : tierdb_iter_new(_db(be));
    if (!s->it) {
        free(s);
        return NULL;
    }
    return &s->s;
}

static bool _scan_next(struct tbe_scan *s, const uint8_t **key, size_t *klen,
                       const uint8_t **val, size_t *vlen)
{
    bool more = tierdb_iter_next(_it(s), key, klen, val, vlen);
    ((struct rdb_scan *)s)->len = more ? (uint32_t)(*klen + *vlen) : 0;
    return more;
}

static struct tbe_where _scan_where(struct tbe_scan *s)
{
    return (struct tbe_where){TIX_NOLOC, ((struct rdb_scan *)s)->len};
}

static int _scan_status(struct tbe_scan *s, char *err, size_t errlen)
{
    return tierdb_iter_status(_it(s), err, errlen);
}

static void _scan_free(struct tbe_scan *s)
{
    tierdb_iter_free(_it(s));
    free(s);
}

static int _empty(struct tbe *be, bool streams, char *err, size_t errlen)
{
    /* key records sort below 0xfd (a name length, at most 64); appends at 0xfd, chunks 0xfe */
    return tierdb_delete_range(_db(be), "", 0, streams ? "\xff" : "\xfd", 1, false, err, errlen);
}

static int _sync(struct tbe *be, char *err, size_t errlen)
{
    return tierdb_sync_wal(_db(be), err, errlen);
}

static void _flush(struct tbe *be) { tierdb_flush(_db(be)); }
static void _compact(struct tbe *be) { tierdb_compact(_db(be)); }
static uint64_t _bytes(struct tbe *be) { return tierdb_bytes(_db(be)); }
static uint64_t _memory(struct tbe *be) { return tierdb_memory(_db(be)); }
static struct tierdb *_streams(struct tbe *be) { return _db(be); }
static struct tierdb_batch *_batch_streams(struct tbe_batch *b) { return _tb(b); }

const struct tbe_ops tbe_rocksdb_ops = {
    .name = "rocksdb",
    .close = _close,
    .batch_new = _batch_new,
    .batch_free = _batch_free,
    .put = _put,
    .del = _del,
    .del_range = _del_range,
    .count = _count,
    .commit = _commit,
    .batch_streams = _batch_streams,
    .batch_streams_late = _late,
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
    .flush = _flush,
    .compact = _compact,
    .bytes = _bytes,
    .memory = _memory,
    .streams = _streams,
};
