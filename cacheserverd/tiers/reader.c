/* Disk reads (tiering.h): tier_io_threads threads serve the reads a memory miss needs (the
 * tier the index names, then the other), a stream's head with its last chunk, and stream
 * chunks; the worker then checks the copy is still current and may load it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_vlog.h"
#include "clock.h"
#include "diskval.h"
#include "histogram.h"
#include "index.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"
#include "tiering.h"

/* The last chunk of stream sid, bytes [start, start + want), from its append records (with
 * persistence a stream's last chunk is kept as the appends that made it). 0, 1 when some
 * bytes are missing, -1 on an error (message in err). */
static int _read_appends(struct tiering *ctx, uint64_t sid, uint64_t start, size_t want,
                         uint8_t *out, char *err, size_t errlen)
{
    uint8_t from[TIERING_DELTA_KEY];
    tiering_delta_key(from, sid, start);
    size_t have = 0;
    int rc = 1;
    pthread_rwlock_rdlock(&ctx->tiers[TIX_SSD].lock);
    struct tbe *first = ctx->tiers[TIX_SSD].be; /* stream records: its tierdb, directly */
    struct tierdb_iter *it =
        first ? tierdb_iter_from(tbe_streams(first), from, sizeof(from)) : NULL;
    const uint8_t *key, *val;
    size_t klen, vlen;
    while (it && have < want && tierdb_iter_next(it, &key, &klen, &val, &vlen)) {
        if (klen != TIERING_DELTA_KEY || memcmp(key, from, 9) != 0)
            break; /* past this stream's appends */
        uint64_t off = 0;
        for (int i = 9; i < 17; i++)
            off = off << 8 | key[i];
        struct diskval v;
        uint8_t *owned = NULL;
        int d = diskval_decode(val, vlen, 0, &v, &owned);
        if (d != DISKVAL_OK) {
            if (d == DISKVAL_CORRUPT)
                stat_incr(&ctx->stats.checksum_errors);
            snprintf(err, errlen, "an append of the stream failed its checksum");
            free(owned);
            rc = -1;
            break;
        }
        uint64_t at = start + have;
        if (off > at) { /* a gap: never written */
            free(owned);
            break;
        }
        if (off + v.len > at) { /* a whole-chunk rewrite may overlap later appends */
            size_t n = (size_t)(off + v.len - at);
            if (n > want - have)
                n = want - have;
            memcpy(out + have, v.data + (at - off), n);
            have += n;
        }
        free(owned);
    }
    if (rc != -1 && have == want)
        rc = 0;
    if (it && rc == 1 && tierdb_iter_status(it, err, errlen) != 0)
        rc = -1;
    tierdb_iter_free(it);
    pthread_rwlock_unlock(&ctx->tiers[TIX_SSD].lock);
    return rc;
}

/* Bytes [start, start + want) of stream sid from the whole record of their chunk (one
 * chunk: start + want does not pass its end): 0, 1 when there is none, -1 on an error
 * (message in err). */
static int _read_whole(struct tiering *ctx, uint64_t sid, uint64_t start, size_t want, uint8_t *out,
                       char *err, size_t errlen)
{
    size_t in = (size_t)(start % STORE_STREAM_CHUNK);
    uint8_t key[TIERING_CHUNK_KEY], *raw;
    size_t rlen;
    tiering_chunk_key(key, sid, (uint32_t)(start / STORE_STREAM_CHUNK));
    pthread_rwlock_rdlock(&ctx->tiers[TIX_SSD].lock);
    struct tbe *first = ctx->tiers[TIX_SSD].be; /* a stream record: its tierdb, directly */
    int rc =
        first ? tierdb_get(tbe_streams(first), key, sizeof(key), &raw, &rlen, err, errlen) : 1;
    pthread_rwlock_unlock(&ctx->tiers[TIX_SSD].lock);
    if (rc != 0)
        return rc;
    struct diskval v;
    uint8_t *owned = NULL;
    int d = diskval_decode(raw, rlen, 0, &v, &owned);
    if (d == DISKVAL_OK && v.len >= in + want) {
        memcpy(out, v.data + in, want);
    } else {
        if (d == DISKVAL_CORRUPT)
            stat_incr(&ctx->stats.checksum_errors);
        snprintf(err, errlen, d == DISKVAL_OK ? "a chunk of the stream is short"
                                              : "a chunk of the stream failed its checksum");
        rc = -1;
    }
    free(owned);
    free(raw);
    return rc;
}

int tiering_stream_read(uint64_t sid, uint64_t start, size_t want, uint8_t *out, char *err,
                        size_t errlen)
{
    struct tiering *ctx = tiering_ctx();
    stat_incr(&ctx->stats.stream_chunk_reads);
    int rc = _read_whole(ctx, sid, start, want, out, err, errlen);
    if (rc == 1)
        snprintf(err, errlen, "a chunk of the stream is missing on disk");
    return rc ? -1 : 0;
}

/* A stream's head was read: fill res with its id, length and last chunk. */
void tiering_read_stream(struct tiering *ctx, struct tiering_result *res, const uint8_t *head,
                         size_t hlen)
{
    uint64_t sid, len;
    if (!tiering_stream_head_parse(head, hlen, &sid, &len)) {
        stat_incr(&ctx->stats.checksum_errors);
        res->status = TIER_ERROR;
        snprintf(res->err, sizeof(res->err), "a stream's head on disk is malformed");
        return;
    }
    res->sid = sid;
    res->slen = len;
    tiering_stream_head_meta(head, hlen, &res->smeta);
    res->status = TIER_FOUND;
    if (len == 0)
        return;
    uint64_t start = (len - 1) / STORE_STREAM_CHUNK * STORE_STREAM_CHUNK;
    size_t want = (size_t)(len - start);
    uint8_t *data = malloc(want);
    stat_incr(&ctx->stats.stream_chunk_reads);
    /* the last chunk's appends, or, when it was written whole (its appends then deleted: a
     * crash came before the head of the append that followed), its record */
    int rc = data ? _read_whole(ctx, sid, start, want, data, res->err, sizeof(res->err)) : -1;
    if (rc == 1)
        rc = _read_appends(ctx, sid, start, want, data, res->err, sizeof(res->err));
    if (!data)
        snprintf(res->err, sizeof(res->err), "out of memory");
    if (rc != 0) {
        free(data);
        res->status = TIER_ERROR;
        if (rc == 1)
            snprintf(res->err, sizeof(res->err), "the end of the stream is missing on disk");
        return;
    }
    res->data = data;
    res->len = want;
}

/* Fill res from a key record's value (raw, a diskval encoding): TIER_FOUND with the value,
 * or a stream's head with its last chunk (heads: when head is true), or TIER_ERROR. */
static void _result_from(struct tiering *ctx, struct tiering_result *res, const uint8_t *raw,
                         size_t rlen, bool head)
{
    struct diskval v;
    uint8_t *owned;
    int d = diskval_decode(raw, rlen, clock_wall_ms(), &v, &owned);
    if (d == DISKVAL_OK && v.type == STORE_T_STREAM && head) {
        tiering_read_stream(ctx, res, v.data, v.len);
        free(owned);
        res->type = v.type;
        res->expire_ms = v.expire_ms;
        res->version = v.version;
    } else if (d == DISKVAL_OK) {
        res->status = TIER_FOUND;
        res->type = v.type;
        res->expire_ms = v.expire_ms;
        res->version = v.version;
        res->len = v.len;
        res->ctr_len = v.ctr_len; /* right after the value, in both buffers */
        res->data = owned ? owned : malloc(v.len + v.ctr_len + 1);
        if (!res->data) {
            res->status = TIER_ERROR;
            snprintf(res->err, sizeof(res->err), "out of memory");
        } else if (!owned) {
            memcpy(res->data, v.data, v.len + v.ctr_len);
        }
    } else if (d == DISKVAL_CORRUPT) {
        stat_incr(&ctx->stats.checksum_errors);
        log_error("%s tier: a value failed its checksum (%zu bytes); not returned",
                  ctx->tiers[res->tier].name, rlen);
        res->status = TIER_ERROR;
        snprintf(res->err, sizeof(res->err), "value on disk failed its checksum");
    } else if (d == DISKVAL_NOMEM) {
        res->status = TIER_ERROR;
        snprintf(res->err, sizeof(res->err), "out of memory");
    }
}

void *tiering_reader_main(void *arg)
{
    struct tiering *ctx = arg;
    for (struct tjob *j; (j = tq_pop(&ctx->rq));) {
        struct tiering_result *res = calloc(1, sizeof(*res));
        if (res) {
            res->hash = j->hash;
            res->seq = j->seq;
            res->status = TIER_MISS;
            uint8_t *raw;
            size_t rlen;
            /* the tier the index named, then the other: a move may have run meanwhile */
            int rc = 1;
            int tries = j->kind == TJOB_READ ? TIX_TIERS : 1; /* chunks: the first tier only */
            uint8_t first = j->read.tier;
            struct tix_loc loc = j->read.loc;
            uint32_t dlen = j->read.dlen;
            for (int k = 0, moved = 0; k < tries && rc == 1; k++) {
                int t = k == 0 ? first : 1 - first;
                if (!ctx->tiers[t].be)
                    continue;
                pthread_rwlock_rdlock(&ctx->tiers[t].lock);
                rc = -1;
                snprintf(res->err, sizeof(res->err), "the tier is off");
                struct tbe *be = ctx->tiers[t].be;
                if (be && j->kind == TJOB_CHUNK_READ) /* a stream record: its tierdb */
                    rc = tierdb_get(tbe_streams(be), j->key, j->klen, &raw, &rlen, res->err,
                                    sizeof(res->err));
                else if (be) /* a key record, where the index said (the other tier: by key) */
                    rc = tbe_get(be, j->key, j->klen, k == 0 ? loc : TIX_NOLOC,
                                 k == 0 ? dlen : 0, &raw, &rlen, res->err, sizeof(res->err));
                bool log = be && tbe_is_log(be);
                pthread_rwlock_unlock(&ctx->tiers[t].lock);
                stat_incr(j->kind == TJOB_CHUNK_READ ? &ctx->stats.stream_chunk_reads
                          : t == TIX_SSD                ? &ctx->stats.ssd_reads
                                                        : &ctx->stats.hdd_reads);
                res->tier = (uint8_t)t;
                if (rc < 0)
                    tiering_disk_failed(ctx, t, "read", res->err);
                if (rc == 1 && k == 0 && log && j->kind == TJOB_READ && moved < 4) {
                    /* a value log's reclaim may have moved the record since the job was
                     * queued (same sequence, new place): read it where the index says now */
                    struct tix_entry e = tix_get(j->hash);
                    if (e.state == TIX_LIVE && e.seq == j->seq &&
                        (e.tier != first || !tix_loc_eq(e.loc, loc))) {
                        first = e.tier;
                        loc = e.loc;
                        dlen = e.dlen;
                        moved++;
                        k = -1; /* again, from the new place */
                    }
                }
            }
            if (rc == 1 && j->kind == TJOB_READ) /* a key the disk does not have (a guess) */
                tix_absent(j->hash, j->seq, restore_indexing());
            if (rc < 0) {
                res->status = TIER_ERROR;
            } else if (rc == 0) {
                _result_from(ctx, res, raw, rlen, j->kind == TJOB_READ);
                free(raw);
            }
        }
        if (res && res->status != TIER_ERROR)
            hist_record(&ctx->read_hist[res->tier], clock_mono_us() - j->read.t_us);
        j->read.done(j->read.arg, res);
        tjob_free(j);
    }
    return NULL;
}

bool tiering_may_hold(struct tiering *ctx, uint64_t hash)
{
    if (!atomic_load(&ctx->active))
        return false;
    enum tix_state st_ = tix_get(hash).state;
    return st_ == TIX_LIVE || st_ == TIX_QUEUED || (st_ == TIX_NONE && restore_indexing());
}

bool tiering_on_disk(uint64_t hash) { return tiering_may_hold(tiering_ctx(), hash); }

int64_t tiering_ttl_ms(const struct tiering_result *res)
{
    if (!res->expire_ms)
        return -1;
    uint64_t now = clock_wall_ms();
    return res->expire_ms > now ? (int64_t)(res->expire_ms - now) : 1;
}

/* tiering_when_durable's callback: the writes a read waited for are done (or failed). */
static void _read_when_written(void *arg, bool ok, const char *err)
{
    (void)ok;
    (void)err;
    struct tjob *j = arg;
    if (tq_push(&j->read.ctx->rq, j, 0))
        return;
    struct tiering_result *res = calloc(1, sizeof(*res));
    if (res) {
        res->status = TIER_ERROR;
        snprintf(res->err, sizeof(res->err), "the server is stopping");
    }
    j->read.done(j->read.arg, res);
    tjob_free(j);
}

/* Hand a read job (NULL: its allocation failed) to the I/O threads (freed when it cannot be
 * queued: the tiers are stopping). */
static enum tiering_queued _queue_read(struct tiering *ctx, struct tjob *j, uint8_t tier,
                                       struct tix_loc loc, uint32_t dlen, tiering_done_fn done,
                                       void *arg)
{
    if (!j)
        return TIERING_NO_MEMORY;
    j->read = (struct tjob_read){.done = done, .arg = arg, .ctx = ctx, .tier = tier,
                                 .loc = loc, .dlen = dlen, .t_us = clock_mono_us()};
    if (!tq_push(&ctx->rq, j, 0)) {
        tjob_free(j);
        return TIERING_NOT_THERE;
    }
    return TIERING_QUEUED;
}

/* vlog_inline_reads (docs/valuelog.md, step 7): a record of a value log tier whose bytes are
 * all in the page cache is read on the worker, with no hop to an I/O thread and back. Only
 * records of at most INLINE_MAX bytes and never a stream's head (its chunks are read from
 * RocksDB, which may block): the worker's work stays O(1) and never waits on the device.
 * NULL: read on an I/O thread as usual (not cached, not a log, off, or anything unusual). */
#define INLINE_MAX (16u << 10)
static struct tiering_result *_read_inline(struct tiering *ctx, const struct tix_entry *e,
                                           uint16_t ns, const void *key, uint32_t klen,
                                           uint64_t hash)
{
    if (!e->loc.off || e->dlen > INLINE_MAX || e->stream || e->tier >= TIX_TIERS ||
        !option_get_b(&ctx->opts.vlog_inline_reads))
        return NULL;
    uint64_t t0 = clock_mono_us();
    struct tier *tr = &ctx->tiers[e->tier];
    uint8_t buf[INLINE_MAX];
    struct vlog_entry rec;
    int rc = 1;
    pthread_rwlock_rdlock(&tr->lock);
    if (tr->be && tbe_is_log(tr->be))
        rc = tbe_log_read_cached(tr->be, e->loc.seg, e->loc.off, e->dlen, buf, &rec);
    pthread_rwlock_unlock(&tr->lock);
    /* the record must be this key's (a 64-bit hash collision is another key's): its tier key
     * is [name length][namespace name][key] */
    const char *name = rc == 0 ? store_ns_name(ns) : NULL;
    size_t nlen = name ? strlen(name) : 0;
    if (!name || rec.kind != VLOG_PUT || rec.klen != 1 + nlen + klen || rec.key[0] != nlen ||
        memcmp(rec.key + 1, name, nlen) != 0 || memcmp(rec.key + 1 + nlen, key, klen) != 0) {
        if (rc == 0)
            stat_incr(&ctx->stats.vlog_inline_missed);
        return NULL;
    }
    struct tiering_result *res = calloc(1, sizeof(*res));
    if (!res)
        return NULL;
    res->hash = hash;
    res->seq = e->seq;
    res->tier = e->tier;
    res->status = TIER_MISS;
    _result_from(ctx, res, rec.val, rec.vlen, false);
    if (res->type == STORE_T_STREAM && res->status == TIER_FOUND) { /* a head after all */
        tiering_result_free(res);
        return NULL;
    }
    stat_incr(e->tier == TIX_SSD ? &ctx->stats.ssd_reads : &ctx->stats.hdd_reads);
    stat_incr(&ctx->stats.vlog_inline_reads);
    if (res->status != TIER_ERROR)
        hist_record(&ctx->read_hist[res->tier], clock_mono_us() - t0);
    return res;
}

enum tiering_queued tiering_read(uint16_t ns, const void *key, uint32_t klen, uint64_t hash,
                                 tiering_done_fn done, void *arg)
{
    struct tiering *ctx = tiering_ctx();
    if (!atomic_load(&ctx->active))
        return TIERING_NOT_THERE;
    struct tix_entry e = tix_get(hash);
    if (e.state == TIX_NONE && restore_indexing()) {
        /* not indexed yet: the disk may have it. Index it now; a miss removes the entry. */
        e = (struct tix_entry){.state = TIX_LIVE, .seq = tiering_next_seq(ctx), .ns = ns};
        if (!tix_add_live(hash, ns, e.seq, TIX_SSD, 0, false, TIX_NOLOC))
            e = tix_get(hash);
    }
    if (e.state == TIX_QUEUED) { /* evicted, not written yet: answer from the queued value */
        uint64_t seq;
        struct tix_value *v = tix_queued_value(hash, &seq);
        if (!v)
            return TIERING_NOT_THERE; /* written meanwhile, and gone since */
        if (v->type == STORE_T_STREAM) {
            /* a stream's head names chunks queued before it: read once they are written */
            tix_value_release(v);
            struct tjob *j = tjob_new(TJOB_READ, ns, key, klen);
            if (!j)
                return TIERING_NO_MEMORY;
            j->hash = hash;
            j->seq = seq;
            j->read = (struct tjob_read){.done = done, .arg = arg, .ctx = ctx, .tier = TIX_SSD,
                                         .loc = TIX_NOLOC, .t_us = clock_mono_us()};
            tiering_when_durable(tiering_pushed(ctx), _read_when_written, j);
            return TIERING_QUEUED;
        }
        struct tiering_result *res = calloc(1, sizeof(*res));
        uint8_t *data = res ? malloc((size_t)v->len + v->ctr_len + 1) : NULL;
        if (!data) {
            free(res);
            tix_value_release(v);
            return TIERING_NO_MEMORY;
        }
        memcpy(data, v->data, (size_t)v->len + v->ctr_len); /* a counter's state follows */
        *res = (struct tiering_result){.status = TIER_FOUND, .tier = TIX_SSD, .type = v->type,
                                       .data = data, .len = v->len, .ctr_len = v->ctr_len,
                                       .expire_ms = v->expire_ms, .version = v->version,
                                       .hash = hash, .seq = seq};
        tix_value_release(v);
        if (res->expire_ms && res->expire_ms <= clock_wall_ms()) {
            free(res->data);
            res->data = NULL;
            res->status = TIER_MISS;
        }
        done(arg, res);
        return TIERING_QUEUED;
    }
    if (e.state != TIX_LIVE)
        return TIERING_NOT_THERE;
    struct tiering_result *res = _read_inline(ctx, &e, ns, key, klen, hash);
    if (res) {
        done(arg, res);
        return TIERING_QUEUED;
    }
    struct tjob *j = tjob_new(TJOB_READ, ns, key, klen);
    if (j) {
        j->hash = hash;
        j->seq = e.seq;
    }
    return _queue_read(ctx, j, e.tier, e.loc, e.dlen, done, arg);
}

enum tiering_queued tiering_read_chunk(uint64_t sid, uint32_t idx, tiering_done_fn done,
                                       void *arg)
{
    struct tiering *ctx = tiering_ctx();
    if (!atomic_load(&ctx->active))
        return TIERING_NOT_THERE;
    return _queue_read(ctx, tjob_chunk_new(TJOB_CHUNK_READ, sid, idx), TIX_SSD, TIX_NOLOC, 0, done,
                       arg);
}

bool tiering_still_current(const struct tiering_result *res, bool *promote)
{
    struct tiering *ctx = tiering_ctx();
    *promote = false;
    struct tix_entry e = tix_get(res->hash);
    /* the same sequence is the same value, queued or written */
    if ((e.state != TIX_LIVE && e.state != TIX_QUEUED) || e.seq != res->seq)
        return false;
    stat_incr(res->tier == TIX_SSD ? &ctx->stats.ssd_hits : &ctx->stats.hdd_hits);
    tiering_note_read(res->hash);
    uint32_t now_s = (uint32_t)(clock_wall_ms() / 1000);
    uint32_t prev = tix_hit(res->hash, res->seq, now_s);
    uint64_t window = option_get_u(&ctx->opts.promote_window_s);
    if (window && prev && now_s - prev <= window)
        *promote = true;
    return true;
}

bool tiering_expect_live(void *expect)
{
    struct tiering_expect *x = expect;
    struct tix_entry e = tix_get(x->hash);
    return (e.state == TIX_LIVE || e.state == TIX_QUEUED) && e.seq == x->seq;
}

/* tiering_load, and for a promotion (admit) with the store's admission check. */
static int _load(uint16_t ns, const void *key, uint32_t klen, const struct tiering_result *res,
                 bool admit)
{
    if (res->status != TIER_FOUND)
        return STORE_NOT_STORED;
    struct store_key k;
    store_key_init(&k, ns, key, klen);
    if (res->type == STORE_T_STREAM) {
        struct tiering_expect x = {res->hash, res->seq};
        return store_load_stream(&k, res->sid, res->slen, res->data, (uint32_t)res->len,
                                 tiering_stream_disk_estimate(res->slen), &res->smeta,
                                 res->expire_ms,
                                 res->version, tiering_expect_live, &x);
    }
    struct store_value v = {.type = res->type, .data = res->data, .len = (uint32_t)res->len};
    struct tiering_expect x = {res->hash, res->seq};
    return (admit ? store_admit_load : store_load)(&k, &v,
                                                   res->ctr_len ? res->data + res->len : NULL,
                                                   res->ctr_len, res->expire_ms, res->version,
                                                   tiering_expect_live, &x);
}

int tiering_load(uint16_t ns, const void *key, uint32_t klen, const struct tiering_result *res)
{
    return _load(ns, key, klen, res, false);
}

void tiering_promote(uint16_t ns, const void *key, uint32_t klen, const struct tiering_result *res)
{
    struct tiering *ctx = tiering_ctx();
    int rc = _load(ns, key, klen, res, true);
    if (rc == STORE_OK)
        stat_incr(&ctx->stats.promotions);
    else if (rc == STORE_NOT_STORED && res->status == TIER_FOUND)
        stat_incr(&ctx->stats.promotions_refused); /* (or changed meanwhile: rare) */
}

void tiering_result_free(struct tiering_result *res)
{
    if (res) {
        free(res->data);
        free(res);
    }
}

