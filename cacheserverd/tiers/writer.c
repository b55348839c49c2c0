/* The writer thread (tiering-internal.h): demotions, persisted changes and deletes in queue
 * order, in batches of one RocksDB write per tier (group commit for sync persistence, the
 * fsync of async persistence); between batches it sheds nearly full tiers (shed.c) and
 * reopens a degraded tier once its disk has room again.
 *
 * The index and the gauges (ssd_items, ssd_bytes) count only records the tier holds:
 *  - a record is indexed (LIVE) only once the write that holds it succeeded (_finish);
 *  - a tier never takes more records than its file system can hold, whatever its size
 *    option says (_size), and on a small file system the writer flushes and compacts it
 *    before RocksDB would need more space than there is (_make_room);
 *  - a tier reopened after a fault is checked against the index (_recover): without a
 *    write-ahead log, what its memtables held is lost with the fault, so it starts empty;
 *    with one, the records are walked and only the keys found stay indexed. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "diskval.h"
#include "index.h"
#include "backend_vlog.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"
#include "tiering.h"

#define WRITE_BATCH 256 /* jobs per RocksDB write */
#define RECOVER_FREE (1u << 20) /* free bytes a faulty tier's disk needs before a reopen, beyond
                                 * its write-ahead log (replayed and flushed by the open) */
/* A tier's room: the bytes its files take plus the free bytes of its file system. Below
 * SMALL_ROOM, RocksDB's own steps (memtables flushed at 32 MiB, compactions after four
 * flushes, up to twice the data meanwhile) do not fit: the writer flushes and compacts. */
#define SMALL_ROOM (512ull << 20)
#define FLUSH_DEN 8   /* then flush once the memtables (or the log) hold room/FLUSH_DEN */
#define FLUSH_MIN (1u << 20) /* ... and at least this much */
#define COMPACT_DEN 3 /* and compact everything once the files take room/COMPACT_DEN, */
#define REGROW_DEN 10 /* and room/REGROW_DEN more than after the last such compaction */
#define ROOM_EVERY_MS 100 /* how often a tier with more room looks at its file system */

/* The batch being written: one record per job (a put's encoding and its size). */
struct wbatch {
    uint8_t *enc[WRITE_BATCH]; /* encodings of the batch's puts */
    uint32_t len[WRITE_BATCH]; /* their record sizes (tier key and encoding; a log's
                                * records: with their header and padding) */
    struct tbe_where where[WRITE_BATCH]; /* where the key records went (tbe_commit) */
    uint64_t bytes;            /* bytes of the puts prepared so far in this batch */
};

/* Where the record of chunk put c starts: its chunk's index, or for appended bytes (a tail)
 * their offset in the stream (in its append record's key). */
static uint64_t _chunk_at(const struct tjob *j)
{
    const struct tjob_chunk_put *c = &j->chunk_put;
    return c->tail ? tiering_delta_off(j->key) : c->idx;
}

/* Is put j a stream's head that would name bytes not on disk (gaps.c)? Then the stream's
 * next change is asked again to write its whole last chunk (the resync list is bounded and
 * may have lost the request), so the mark ends. */
static bool _head_blocked(const struct tjob *j)
{
    uint64_t sid, len;
    if (j->put.v.type != STORE_T_STREAM ||
        !tiering_stream_head_parse(j->put.v.data, j->put.v.len, &sid, &len) ||
        !tiering_gap_blocks(sid))
        return false;
    tiering_stream_resync(sid);
    return true;
}

uint64_t tiering_size_cap(uint64_t size, uint64_t disk)
{
    uint64_t fits = disk / 4, large = disk - disk / 3;
    if (large > (1ull << 30) && large - (1ull << 30) > fits)
        fits = large - (1ull << 30);
    return disk && fits < size ? fits : size;
}

/* The bytes of records tier i may hold (tiering_size_cap of its configured size). */
static uint64_t _size(const struct tiering *ctx, int i)
{
    const struct tier *t = &ctx->tiers[i];
    return tiering_size_cap(option_get_u(t->size), t->disk_size);
}

/* Bytes the files in directory path take on disk (*all), and the bytes written to the
 * write-ahead logs (*.log) among them (*wal: what reopening replays). */
static void _dir_bytes(const char *path, uint64_t *all, uint64_t *wal)
{
    *all = *wal = 0;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        *all += (uint64_t)st.st_blocks * 512; /* preallocated blocks too */
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0)
            *wal += (uint64_t)st.st_size;
    }
    closedir(d);
}

/* Look at tier t's file system: its size, the tier's room there, the size of its log.
 * With force, or a small room, now; else at most every ROOM_EVERY_MS. */
static void _room(struct tiering *ctx, int t, bool force)
{
    struct tier *tr = &ctx->tiers[t];
    uint64_t now = clock_wall_ms();
    if (!tr->be || (!force && tr->room >= SMALL_ROOM && now < tr->next_room_ms))
        return;
    tr->next_room_ms = now + ROOM_EVERY_MS;
    const char *path = option_get_s(tr->path);
    struct statvfs vfs;
    _dir_bytes(path, &tr->file_bytes, &tr->wal_bytes);
    bool ok = statvfs(path, &vfs) == 0;
    tr->room = ok ? tr->file_bytes + (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
    if (ok && vfs.f_blocks) /* else keep what was seen */
        tr->disk_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
}

/* A value log's streams are a RocksDB database beside its segments, and its memtables and
 * files count in the tier's size (tbe_log_fits): appends and the range deletes that follow
 * them would hold up to two 32 MiB memtables, most of it dead, and fill a small tier with
 * what a flush drops. Flush them once they hold a 16th of the tier; compact once the files
 * take a quarter of it and grew by a 10th since the last compaction. */
static void _log_streams_room(struct tiering *ctx, int t)
{
    struct tier *tr = &ctx->tiers[t];
    struct tierdb *db = tbe_streams(tr->be);
    uint64_t size = _size(ctx, t);
    uint64_t limit = size / 16 > FLUSH_MIN ? size / 16 : FLUSH_MIN;
    if (tierdb_unflushed(db) >= limit)
        tierdb_flush(db);
    uint64_t files = tierdb_bytes(db);
    if (files >= size / 4 && files >= tr->compacted_bytes + size / 10) {
        tierdb_compact(db);
        tr->compacted_bytes = tierdb_bytes(db);
    }
}

/* On a tier with a small room, before `incoming` bytes are written to the first tier (and
 * after a batch, with 0): flush its memtables once they (or its log) would hold an eighth
 * of the room, so that a flush always finds the space it needs; compact it all once its
 * files take a third of the room, since shed and overwritten records keep their space until
 * a compaction. Failures show in the next write (the tier is then degraded). */
static void _make_room(struct tiering *ctx, uint64_t incoming)
{
    for (int t = 0; t < TIX_TIERS; t++) {
        struct tier *tr = &ctx->tiers[t];
        _room(ctx, t, false);
        if (tr->be && !tr->write_failed && tbe_is_log(tr->be)) {
            _log_streams_room(ctx, t); /* its segments are preallocated: no flush needs room */
            continue;
        }
        if (!tr->be || tr->write_failed || !tr->room || tr->room >= SMALL_ROOM)
            continue;
        uint64_t held = tr->unflushed > tr->wal_bytes ? tr->unflushed : tr->wal_bytes;
        uint64_t limit = tr->room / FLUSH_DEN > FLUSH_MIN ? tr->room / FLUSH_DEN : FLUSH_MIN;
        if (held && held + (t == TIX_SSD ? incoming : 0) >= limit) {
            tbe_flush(tr->be);
            tr->unflushed = 0;
            _room(ctx, t, true);
        }
        if (tr->file_bytes >= tr->room / COMPACT_DEN &&
            tr->file_bytes >= tr->compacted_bytes + tr->room / REGROW_DEN) {
            tbe_compact(tr->be);
            _room(ctx, t, true);
            tr->compacted_bytes = tr->file_bytes;
        }
    }
}

void tiering_disk_failed(struct tiering *ctx, int tier, const char *what, const char *err)
{
    struct tier *t = &ctx->tiers[tier];
    stat_incr(&ctx->stats.disk_errors);
    if (strcmp(what, "read") != 0)
        t->write_failed = true; /* only the writer thread writes */
    if (!atomic_exchange(&t->degraded, true)) /* once per incident */
        log_error("%s tier %s: %s: %s; marked degraded, serving from the other tiers", t->name,
                  option_get_s(t->path), what, err);
}

static void _disk_ok(struct tiering *ctx, int tier)
{
    struct tier *t = &ctx->tiers[tier];
    if (atomic_load(&t->degraded) && atomic_exchange(&t->degraded, false))
        log_info("%s tier %s: writes succeed again; healthy", t->name, option_get_s(t->path));
}

/* Would `more` bytes on the first tier, after the batch's, pass its size? A value log
 * counts its files (valuelog.md, "What ssd-size bounds"). */
static bool _tier_full(struct tiering *ctx, const struct wbatch *wb, uint64_t more)
{
    struct tbe *be = ctx->tiers[TIX_SSD].be;
    if (tbe_is_log(be))
        return !tbe_log_fits(be, wb->bytes + more, _size(ctx, TIX_SSD));
    return tix_live_bytes(TIX_SSD) + stat_get(&ctx->stats.stream_disk_bytes) + wb->bytes + more >
           _size(ctx, TIX_SSD);
}

enum outcome {
    W_SKIP,    /* nothing to write (a demotion superseded by a change) */
    W_WRITE,   /* in the batch */
    W_DROP,    /* a demotion not written (tier full, no memory) */
    W_ERASE,   /* a persisted change not written: its key's older copy is deleted instead */
};

/* A delete on every tier (a change or a delete of the key). */
static void _delete_everywhere(struct tiering *ctx, const struct tjob *j)
{
    for (int t = 0; t < TIX_TIERS; t++)
        if (ctx->tiers[t].be)
            tbe_delete(ctx->tiers[t].batch, j->hash, j->key, j->klen);
}

/* Encode value v of job j (a put or a chunk put) and add it to the first tier's batch b, as
 * the batch's i-th record: a key record, or with stream a stream record (b's stream part,
 * written in the same commit). False (nothing added) when it does not fit in the tier
 * (*full) or memory ran out. */
static bool _put_value(struct tiering *ctx, struct wbatch *wb, const struct tjob *j,
                       const struct diskval *v, int i, struct tbe_batch *b, bool stream,
                       bool *full)
{
    size_t elen;
    bool comp;
    struct diskval_opts o = {
        .zstd_level = (int)option_get_u(&ctx->opts.tier_compress_level),
        .compress_threshold = option_get_u(&ctx->opts.tier_compress_threshold)};
    *full = _tier_full(ctx, wb, j->klen + v->len / 2); /* zstd may halve it; checked below */
    if (*full || diskval_encode(v, &o, &wb->enc[i], &elen, &comp) != DISKVAL_OK ||
        (*full = _tier_full(ctx, wb, j->klen + elen))) {
        free(wb->enc[i]);
        wb->enc[i] = NULL;
        return false;
    }
    wb->len[i] = (uint32_t)(j->klen + elen);
    if (stream) {
        tierdb_batch_put(tbe_batch_streams(b), j->key, j->klen, wb->enc[i], elen);
    } else {
        tbe_put(b, j->hash, j->key, j->klen, wb->enc[i], elen, &wb->where[i]);
        wb->len[i] = wb->where[i].len;
    }
    wb->bytes += wb->len[i];
    stat_add(&ctx->stats.disk_value_bytes, v->len);
    stat_add(&ctx->stats.disk_stored_bytes, elen);
    return true;
}

/* Add job j (the batch's i-th) to the tiers' batches. */
static enum outcome _prepare(struct tiering *ctx, struct wbatch *wb, struct tjob *j, int i)
{
    wb->enc[i] = NULL;
    struct tbe_batch *b = ctx->tiers[TIX_SSD].batch;
    switch (j->kind) {
    case TJOB_PUT: {
        /* a demotion superseded by a change needs no write; a persisted change is written
         * even then (a later change of the key follows it in the queue) */
        if (!j->persist && tix_get(j->hash).seq != j->seq)
            return W_SKIP;
        bool full = false;
        /* a stream's head naming bytes that were not written: not written either, treated
         * as a change that could not be */
        bool orphan = _head_blocked(j);
        if (orphan || !_put_value(ctx, wb, j, &j->put.v, i, b, false, &full)) {
            if (!j->persist)
                return W_DROP;
            tiering_persist_dropped(ctx, orphan ? "a stream's bytes before it were not written"
                                         : full ? "the disk tier is full" : "out of memory");
            _delete_everywhere(ctx, j); /* never leave an older copy behind */
            return W_ERASE;
        }
        if (j->put.hdd_stale)
            tbe_delete(ctx->tiers[TIX_HDD].batch, j->hash, j->key, j->klen);
        return W_WRITE;
    }
    case TJOB_CHUNK_PUT: {
        bool full;
        const struct tjob_chunk_put *c = &j->chunk_put;
        if (!c->tail && crc32c(0, c->v.data, c->v.len) != c->crc) {
            /* broken in memory: never written; the stream is removed (a miss) */
            store_stream_corrupt(&c->sk, c->sid, "a write to disk");
            tiering_gap_missing(c->sid, c->tail, c->idx);
            return W_DROP;
        }
        if (!_put_value(ctx, wb, j, &c->v, i, b, true, &full)) {
            tiering_gap_missing(c->sid, c->tail, c->idx);
            return W_DROP; /* the chunk stays in memory; offered again at the next append */
        }
        /* written with the batch (a failed batch marks it again in _finish) */
        tiering_gap_written(c->sid, c->tail, _chunk_at(j));
        if (c->fresh) {
            /* The first record of a stream loaded from disk: its whole last chunk, from its
             * start. What the stream has on disk after that start may be a previous run's
             * appends and chunks whose heads were lost in a kill (a log writes them before
             * the head), bytes the stream as loaded never held: read with the appends made
             * now, they became part of the value (streams.c, tiering_stream_loaded). Delete
             * them in the same write; this put is outside both ranges, and nothing of the
             * stream after it was queued before it. */
            uint64_t at = _chunk_at(j);
            uint8_t df[TIERING_DELTA_KEY], dt[TIERING_DELTA_KEY], cf[TIERING_CHUNK_KEY],
                ct[TIERING_CHUNK_KEY];
            tiering_delta_key(df, c->sid, at + 1);
            tiering_delta_key(dt, c->sid + 1, 0);
            tiering_chunk_key(cf, c->sid, (uint32_t)(at / STORE_STREAM_CHUNK));
            tiering_chunk_key(ct, c->sid + 1, 0);
            tierdb_batch_delete_range(tbe_batch_streams(b), df, sizeof(df), dt, sizeof(dt));
            tierdb_batch_delete_range(tbe_batch_streams(b), cf, sizeof(cf), ct, sizeof(ct));
        }
        if (!c->tail && ctx->pmode != PERSIST_OFF) { /* whole now: the appends it holds can go */
            uint8_t df[TIERING_DELTA_KEY], dt[TIERING_DELTA_KEY];
            tiering_delta_key(df, c->sid, (uint64_t)c->idx * STORE_STREAM_CHUNK);
            tiering_delta_key(dt, c->sid, (uint64_t)(c->idx + 1) * STORE_STREAM_CHUNK);
            tierdb_batch_delete_range(tbe_batch_streams_late(b), df, sizeof(df), dt, sizeof(dt));
        }
        return W_WRITE;
    }
    case TJOB_CHUNK_DEL:
        tiering_gap_gone(j->chunk_del.sid);
        tiering_stream_delete_records(NULL, tbe_batch_streams_late(b), j->chunk_del.sid, false);
        return W_WRITE;
    case TJOB_DEL:
        if (j->del.stream_head)
            tiering_stream_forget(ctx, j, tbe_batch_streams_late(b));
        _delete_everywhere(ctx, j);
        return W_WRITE;
    case TJOB_DEL_NS: {
        /* Tier keys start with [name length][name]; 0xff after the name ends one namespace
         * (its keys are longer), and 0xff alone (above every length, at most 64) ends all. */
        uint8_t start[1 + 64], end[1 + 64 + 1];
        size_t slen = j->del_ns.all ? 0 : j->klen;
        memcpy(start, j->key, slen);
        memcpy(end, j->key, slen);
        end[slen] = 0xff;
        size_t elen = slen + 1;
        if (j->del_ns.all) {
            end[0] = 0xff;
            elen = 1;
        } else {
            /* the range holds the namespace's stream heads, not their chunk and append
             * records (keyed by stream id): walk the heads, from a snapshot taken before
             * this batch is written (the batch starts with this job: see the main loop) */
            tiering_streams_flush_ns(ctx, start, slen);
            tiering_streams_flush_heads(ctx, j->del_ns.heads, j->del_ns.nheads);
        }
        for (int t = 0; t < TIX_TIERS; t++)
            if (ctx->tiers[t].be)
                tbe_delete_range(ctx->tiers[t].batch, start, slen, end, elen);
        return W_WRITE;
    }
    default:
        return W_SKIP;
    }
}

/* After the batch was written (ok) or not. */
static void _finish(struct tiering *ctx, struct wbatch *wb, struct tjob *j, int i,
                    enum outcome w, bool ok)
{
    free(wb->enc[i]);
    wb->enc[i] = NULL;
    switch (j->kind) {
    case TJOB_PUT:
        if (w == W_WRITE && ok) {
            stat_incr(j->persist ? &ctx->stats.persist_writes : &ctx->stats.demotions);
            /* LIVE only if nothing changed meanwhile; else a later job for the key follows */
            tix_written(j->hash, j->seq, TIX_SSD, wb->where[i].len, j->put.warm,
                        wb->where[i].loc);
            return;
        }
        if (w == W_DROP || (w == W_WRITE && !ok))
            stat_incr(j->persist ? &ctx->stats.persist_dropped : &ctx->stats.demote_dropped);
        if (!tix_remove(j->hash, TIX_QUEUED, j->seq) && w == W_ERASE && ok)
            tix_deleted(j->hash); /* its older copy was deleted instead */
        return;
    case TJOB_CHUNK_PUT: {
        const struct tjob_chunk_put *c = &j->chunk_put;
        bool written = w == W_WRITE && ok;
        stat_sub(&ctx->stats.stream_backlog_bytes, c->v.len);
        if (w == W_WRITE && !ok)
            tiering_gap_missing(c->sid, c->tail, c->idx);
        if (c->tail) { /* the last chunk stays in memory: only its record was rewritten */
            if (!written && c->fresh) /* what follows it on disk is still there */
                tiering_stream_loaded(c->sid);
            if (!written) { /* the head queued behind it must not name it */
                stat_incr(&ctx->stats.persist_dropped);
                tiering_stream_resync(c->sid);
                tiering_invalidate(ctx, c->sk.ns, c->sk.data, c->sk.len, c->sk.hash);
            }
            return;
        }
        if (written)
            stat_incr(&ctx->stats.stream_chunks_written);
        else
            stat_incr(&ctx->stats.stream_chunks_deferred);
        /* the store counts the record's bytes only when the stream still wants it; a stream
         * gone meanwhile has its delete queued behind this job */
        if (store_stream_spilled(&c->sk, c->sid, c->idx, written, wb->len[i]))
            stat_add(&ctx->stats.stream_disk_bytes, wb->len[i]);
        else if (!written && ctx->pmode != PERSIST_OFF)
            /* a head already queued may name this chunk: no stale head may outlive it */
            tiering_invalidate(ctx, c->sk.ns, c->sk.data, c->sk.len, c->sk.hash);
        return;
    }
    case TJOB_CHUNK_DEL:
        if (ok) { /* saturating: a restored stream's bytes are an estimate */
            uint64_t cur = stat_get(&ctx->stats.stream_disk_bytes);
            uint64_t cbytes = j->chunk_del.cbytes;
            stat_sub(&ctx->stats.stream_disk_bytes, cbytes < cur ? cbytes : cur);
        }
        return;
    case TJOB_DEL:
        if (ok) {
            stat_incr(&ctx->stats.disk_deletes);
            /* while a warm restart indexes, the TOMB stays: it keeps the restore from
             * reviving the key; an entry that changed again meanwhile stays too. Either
             * way the key's last record on disk is a delete now. */
            if (restore_indexing() || !tix_remove(j->hash, TIX_TOMB, j->seq))
                tix_deleted(j->hash);
        }
        return;
    default:
        return;
    }
}

/* Write every tier's batch, the first tier first (a crash in between leaves an older copy
 * on the HDD, which the index and a restart rank below the SSD's). */
static bool _write_batches(struct tiering *ctx, bool wal, bool sync, char *err, size_t errlen)
{
    bool ok = true;
    for (int t = 0; t < TIX_TIERS; t++) {
        struct tier *tr = &ctx->tiers[t];
        if (!tr->be || !tbe_batch_count(tr->batch))
            continue;
        if (tbe_commit(tr->be, tr->batch, wal, sync, err, errlen) == 0) {
            tr->write_failed = false;
            _disk_ok(ctx, t);
        } else {
            tiering_disk_failed(ctx, t, "write", err);
            ok = false;
        }
    }
    /* the streams' chunk deletes last, once the heads that named them are gone from every
     * tier (backend.h, tbe_batch_streams_late); after a failure they are dropped: orphans,
     * which the next restart deletes, never chunks a head still names */
    for (int t = 0; t < TIX_TIERS; t++) {
        struct tier *tr = &ctx->tiers[t];
        if (!tr->be)
            continue;
        if (!ok) {
            tbe_drop_late(tr->batch);
        } else if (tbe_commit_late(tr->be, tr->batch, wal, sync, err, errlen) != 0) {
            tiering_disk_failed(ctx, t, "write", err);
            ok = false;
        }
    }
    return ok;
}

/* Make room on tiers past 90% of their size (shed.c); incoming bytes are about to be
 * written to the first tier. */
static void _shed(struct tiering *ctx, bool wal, uint64_t incoming)
{
    char err[256];
    for (int t = 0; t < TIX_TIERS; t++) {
        if (!ctx->tiers[t].be || ctx->tiers[t].write_failed)
            continue;
        bool next =
            t == TIX_SSD && ctx->tiers[TIX_HDD].be && !ctx->tiers[TIX_HDD].write_failed;
        struct shed_tier from = {ctx->tiers[t].be, (uint8_t)t, _size(ctx, t)};
        struct shed_tier to = {ctx->tiers[TIX_HDD].be, TIX_HDD, next ? _size(ctx, TIX_HDD) : 0};
        struct shed_result r;
        if (tbe_is_log(from.be)) { /* the streams' records are in its files' bytes */
            int rc = reclaim_step(ctx, &from, next ? &to : NULL, t == TIX_SSD ? incoming : 0,
                                  wal, &r, err, sizeof(err));
            if (rc != 0)
                tiering_disk_failed(ctx, rc == -2 ? TIX_HDD : t, "reclaiming space", err);
        } else {
            uint64_t more =
                t == TIX_SSD ? incoming + stat_get(&ctx->stats.stream_disk_bytes) : 0;
            if (shed_step(&from, next ? &to : NULL, more, wal, false, &r, err, sizeof(err)) != 0)
                tiering_disk_failed(ctx, next ? TIX_HDD : t, "moving cold keys", err);
        }
        stat_add(&ctx->stats.hdd_demotions, r.moved);
        stat_add(&ctx->stats.tier_evictions, r.dropped);
    }
}

static void _gauges(struct tiering *ctx)
{
    stat_set(&ctx->stats.ssd_items, tix_live(TIX_SSD));
    stat_set(&ctx->stats.ssd_bytes, tix_live_bytes(TIX_SSD));
    struct tbe *first = ctx->tiers[TIX_SSD].be;
    stat_set(&ctx->stats.ssd_disk_bytes, first ? tbe_bytes(first) : 0);
    if (ctx->tiers[TIX_HDD].be) {
        stat_set(&ctx->stats.hdd_items, tix_live(TIX_HDD));
        stat_set(&ctx->stats.hdd_bytes, tix_live_bytes(TIX_HDD));
        stat_set(&ctx->stats.hdd_disk_bytes, tbe_bytes(ctx->tiers[TIX_HDD].be));
    }
    stat_set(&ctx->stats.ssd_index_bytes, tix_memory());
    uint64_t rdb = 0;
    for (int t = 0; t < TIX_TIERS; t++)
        if (ctx->tiers[t].be)
            rdb += tbe_memory(ctx->tiers[t].be);
    stat_set(&ctx->stats.tier_rocksdb_bytes, rdb);
    if (tbe_is_log(first)) { /* the SSD tier's value log */
        struct tbe_log_stats ls;
        tbe_log_stats(first, &ls);
        stat_set(&ctx->stats.vlog_segments, ls.segments);
        stat_set(&ctx->stats.vlog_bytes_appended, ls.appended);
        stat_set(&ctx->stats.vlog_bytes_moved, ls.moved);
        stat_set(&ctx->stats.vlog_segments_dropped, ls.dropped);
        uint64_t bytes, live, files;
        tbe_log_usage(first, &bytes, &live, &files);
        stat_set(&ctx->stats.vlog_dead_bytes, bytes > live ? bytes - live : 0);
    }
}

/* A tier reopened after a fault, with persistence: its write-ahead log kept every write that
 * succeeded, but check the index against the records anyway, so that it names none that is
 * not there (a miss, never an error). A walk over the tier; faults are rare. */
static void _reconcile(struct tiering *ctx, int t)
{
    struct tier *tr = &ctx->tiers[t];
    uint64_t t0 = clock_wall_ms(), before = tix_live(t);
    struct tbe_scan *it = tbe_scan_new(tr->be, NULL, 0);
    if (!it)
        return;
    tix_unsee(t);
    const uint8_t *key, *val;
    size_t klen, vlen;
    while (tbe_scan_next(it, &key, &klen, &val, &vlen)) {
        struct store_key k;
        if (tiering_key_parse(key, klen, &k))
            tix_see(k.hash, t);
    }
    char err[256];
    int rc = tbe_scan_status(it, err, sizeof(err));
    tbe_scan_free(it);
    if (rc != 0) {
        log_error("%s tier %s: checking the index after the fault: %s; index kept", tr->name,
                  option_get_s(tr->path), err);
        return;
    }
    uint64_t gone = tix_drop_unseen(t);
    if (gone)
        log_error("%s tier %s: %llu of %llu indexed keys were not on it after the fault: no "
                  "longer indexed (%llu ms)", tr->name, option_get_s(tr->path),
                  (unsigned long long)gone, (unsigned long long)before,
                  (unsigned long long)(clock_wall_ms() - t0));
}

/* A tier reopened after a fault, without persistence: its writes bypass the write-ahead log,
 * so what its memtables held (demotions and deletes) is gone, and an older copy of a key
 * may be back where its delete was lost. As at start (tiering.c), the tier starts empty;
 * the chunks of spilled streams (keys from 0xfd) stay. */
static void _restart_empty(struct tiering *ctx, int t)
{
    struct tier *tr = &ctx->tiers[t];
    tix_unsee(t);
    uint64_t gone = tix_drop_unseen(t); /* every LIVE entry of the tier */
    char err[256];
    if (tbe_empty(tr->be, false, err, sizeof(err)) == 0)
        tbe_compact(tr->be); /* gives their space back now */
    else
        log_error("%s tier %s: emptying it after the fault: %s", tr->name,
                  option_get_s(tr->path), err);
    log_info("%s tier %s: without persistence, the writes it held in memory were lost with the "
             "fault: its %llu keys are no longer indexed; it starts empty", tr->name,
             option_get_s(tr->path), (unsigned long long)gone);
}

/* A tier whose writes fail (a full disk, a path turned read-only) stays degraded: RocksDB
 * refuses writes after such an error until it is reopened. Once a second, when the disk has
 * room again, reopen it (readers wait on the tier's lock meanwhile). */
static void _recover(struct tiering *ctx)
{
    uint64_t now = clock_wall_ms();
    for (int t = 0; t < TIX_TIERS; t++) {
        struct tier *tr = &ctx->tiers[t];
        if (!tr->be || !tr->write_failed || now < tr->next_probe_ms || restore_busy())
            continue;
        tr->next_probe_ms = now + 1000;
        const char *path = option_get_s(tr->path);
        struct statvfs vfs;
        uint64_t all, log;
        _dir_bytes(path, &all, &log);
        if (statvfs(path, &vfs) != 0 ||
            (uint64_t)vfs.f_bavail * vfs.f_frsize < RECOVER_FREE + log ||
            access(path, W_OK) != 0)
            continue; /* still full (the open could not flush the log) or read-only */
        char err[512];
        struct tbe_opts o = {
            .kind = tr->kind,
            .path = path,
            .tier = (uint8_t)t,
            .size = _size(ctx, t),
            .persist = ctx->pmode != PERSIST_OFF,
            .segment_size = option_get_u(&ctx->opts.vlog_segment_size),
            .write_rate_bytes = (int64_t)option_get_u(&ctx->opts.tier_write_rate),
            .start_empty = false,
            .now_ms = clock_wall_ms,
            .expired = tiering_stream_head_gone};
        tiering_streams_walks_drop(t); /* its cursors pin the store */
        pthread_rwlock_wrlock(&tr->lock);
        tbe_close(tr->be);
        tr->be = tbe_open(&o, err, sizeof(err));
        pthread_rwlock_unlock(&tr->lock);
        if (!tr->be) {
            /* cannot happen short of a damaged directory: stay without the tier */
            log_error("%s tier %s: reopening after the fault failed: %s; the tier is off until "
                      "restart", tr->name, path, err);
            atomic_store(&ctx->active, false);
            continue;
        }
        tr->write_failed = false;
        tr->unflushed = 0;
        tr->compacted_bytes = 0;
        log_info("%s tier %s: reopened after the fault; writes resume", tr->name, path);
        if (ctx->pmode == PERSIST_OFF)
            _restart_empty(ctx, t);
        else
            _reconcile(ctx, t);
        _disk_ok(ctx, t);
    }
}

void *tiering_writer_main(void *arg)
{
    struct tiering *ctx = arg;
    struct tjob *jobs[WRITE_BATCH];
    struct wbatch batch = {0}, *wb = &batch;
    bool wal = ctx->pmode != PERSIST_OFF, sync = ctx->pmode == PERSIST_SYNC;
    uint64_t sync_every = option_get_u(&ctx->opts.persist_sync_ms);
    uint64_t committed = 0, last_sync = clock_wall_ms();
    bool unsynced = false;
    char err[256];
    for (int t = 0; t < TIX_TIERS; t++)
        _room(ctx, t, true); /* the file systems' sizes, before the first batch */
    for (;;) {
        /* wake at least every 100 ms: shedding and the async fsync run between batches */
        uint64_t wait = ctx->pmode == PERSIST_ASYNC && sync_every < 100 ? sync_every : 100;
        if (tiering_streams_walking())
            wait = 1; /* a FLUSH's walk goes on at once, in steps between the batches */
        int n = tq_pop_batch(&ctx->wq, jobs, WRITE_BATCH, wait ? wait : 1);
        if (n < 0)
            break;
        tiering_sketch_age();
        if (n > 0) {
            stat_sub(&ctx->stats.tier_queue_depth, (uint64_t)n);
            uint64_t incoming = 0;
            for (int i = 0; i < n; i++)
                if (jobs[i]->kind == TJOB_PUT)
                    incoming += jobs[i]->klen + jobs[i]->put.v.len;
                else if (jobs[i]->kind == TJOB_CHUNK_PUT)
                    incoming += jobs[i]->klen + jobs[i]->chunk_put.v.len;
            _shed(ctx, wal, incoming); /* room first, so the batch is not dropped */
            _make_room(ctx, incoming);
            enum outcome w[WRITE_BATCH];
            /* A namespace's FLUSH (TJOB_DEL_NS) starts a write of its own: its _prepare opens
             * the walk of the namespace's stream heads, which must see every head the jobs
             * before it wrote, and none of them is written yet in the same batch. */
            for (int s = 0, e; s < n; s = e) {
                for (e = s + 1; e < n && jobs[e]->kind != TJOB_DEL_NS; e++)
                    ;
                wb->bytes = 0;
                for (int i = s; i < e; i++)
                    w[i] = _prepare(ctx, wb, jobs[i], i);
                bool ok = _write_batches(ctx, wal, sync, err, sizeof(err));
                stat_incr(&ctx->stats.persist_batches);
                if (ok) {
                    ctx->tiers[TIX_SSD].unflushed += wb->bytes;
                    atomic_store(&ctx->drop_logged, false);
                    unsynced = unsynced || (wal && !sync);
                }
                stat_set(&ctx->stats.persist_lag_ms, clock_wall_ms() - jobs[e - 1]->t_ms);
                for (int i = s; i < e; i++) {
                    _finish(ctx, wb, jobs[i], i, w[i], ok);
                    tjob_free(jobs[i]);
                }
                committed += (uint64_t)(e - s);
                ctx->committed = committed;
                durable_advance(committed, ok, ok ? NULL : err);
            }
        }
        _recover(ctx);
        _shed(ctx, wal, 0);
        _make_room(ctx, 0);
        tiering_streams_walk(ctx, false);
        tiering_streams_reap(ctx);
        _gauges(ctx);
        if (unsynced && clock_wall_ms() - last_sync >= sync_every) {
            for (int t = 0; t < TIX_TIERS; t++)
                if (ctx->tiers[t].be && !ctx->tiers[t].write_failed &&
                    tbe_sync(ctx->tiers[t].be, err, sizeof(err)) != 0)
                    tiering_disk_failed(ctx, t, "fsync", err);
            unsynced = false;
            last_sync = clock_wall_ms();
        } else if (!unsynced) {
            last_sync = clock_wall_ms();
        }
    }
    /* a clean stop leaves no FLUSHed namespace's chunks for the next start's walk */
    bool more;
    do { /* in steps: the reap's list is bounded */
        more = tiering_streams_walk(ctx, true);
        tiering_streams_reap(ctx);
    } while (more);
    for (int t = 0; unsynced && t < TIX_TIERS; t++)
        if (ctx->tiers[t].be && !ctx->tiers[t].write_failed &&
            tbe_sync(ctx->tiers[t].be, err, sizeof(err)) != 0)
            tiering_disk_failed(ctx, t, "fsync", err);
    return NULL;
}

uint64_t tiering_pushed(struct tiering *ctx)
{
    pthread_mutex_lock(&ctx->wq.lock);
    uint64_t t = ctx->wq.pushed;
    pthread_mutex_unlock(&ctx->wq.lock);
    return t;
}

uint64_t tiering_backpressure_ticket(void)
{
    struct tiering *ctx = tiering_ctx();
    if (ctx->pmode != PERSIST_ASYNC || !atomic_load(&ctx->active))
        return 0;
    if (stat_get(&ctx->stats.tier_queue_depth) < option_get_u(&ctx->opts.persist_queue) &&
        tq_head_age_ms(&ctx->wq, clock_wall_ms()) < option_get_u(&ctx->opts.persist_sync_ms))
        return 0;
    stat_incr(&ctx->stats.persist_waits);
    return tiering_pushed(ctx);
}

uint64_t tiering_durable_ticket(void)
{
    struct tiering *ctx = tiering_ctx();
    if (ctx->pmode != PERSIST_SYNC || !atomic_load(&ctx->active))
        return 0;
    return tiering_pushed(ctx);
}
