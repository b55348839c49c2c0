/* Streams on disk (tiering.h): the store's stream hooks (full chunks to the writer, a freed
 * stream's records deleted), persistence of a changed stream (its last chunk, then its
 * head), and APPEND's wait when chunks pile up before the writer. */
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

/* A chunk's tier key: 0xfe (above every namespace-name length, so no key of an item is
 * one), the stream id and the chunk index, big-endian: a stream's chunks are contiguous. */
void tiering_chunk_key(uint8_t *out, uint64_t sid, uint32_t idx)
{
    out[0] = 0xfe;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(sid >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[9 + i] = (uint8_t)(idx >> (24 - 8 * i));
}

void tiering_delta_key(uint8_t *out, uint64_t sid, uint64_t off)
{
    out[0] = 0xfd;
    for (int i = 0; i < 8; i++) {
        out[1 + i] = (uint8_t)(sid >> (56 - 8 * i));
        out[9 + i] = (uint8_t)(off >> (56 - 8 * i));
    }
}

uint64_t tiering_delta_off(const uint8_t *key)
{
    uint64_t off = 0;
    for (int i = 9; i < 17; i++)
        off = off << 8 | key[i];
    return off;
}

bool tiering_stream_record(const uint8_t *key, size_t klen, uint64_t *sid)
{
    if (!((klen == TIERING_CHUNK_KEY && key[0] == 0xfe) ||
          (klen == TIERING_DELTA_KEY && key[0] == 0xfd)))
        return false;
    *sid = 0;
    for (int i = 1; i <= 8; i++)
        *sid = *sid << 8 | key[i];
    return true;
}

int tiering_stream_delete_records(struct tierdb *db, struct tierdb_batch *b, uint64_t sid,
                                  bool wal)
{
    uint8_t cf[TIERING_CHUNK_KEY], ct[TIERING_CHUNK_KEY], df[TIERING_DELTA_KEY],
        dt[TIERING_DELTA_KEY];
    tiering_chunk_key(cf, sid, 0);
    tiering_chunk_key(ct, sid + 1, 0);
    tiering_delta_key(df, sid, 0);
    tiering_delta_key(dt, sid + 1, 0);
    if (b) {
        tierdb_batch_delete_range(b, cf, sizeof(cf), ct, sizeof(ct));
        tierdb_batch_delete_range(b, df, sizeof(df), dt, sizeof(dt));
        return 0;
    }
    char err[256];
    return tierdb_delete_range(db, cf, sizeof(cf), ct, sizeof(ct), wal, err, sizeof(err)) ||
                   tierdb_delete_range(db, df, sizeof(df), dt, sizeof(dt), wal, err, sizeof(err))
               ? -1
               : 0;
}

/* stats.stream_disk_bytes: chunk records on the first tier; stats.stream_backlog_bytes: chunks
 * queued, not written yet (it drops only after the store was told) */
/* Beyond this many bytes of chunks waiting for the writer, APPEND replies wait: 8 MiB, or
 * a quarter of the memory limit when that is less (the chunks count against it). */
static uint64_t _stream_backlog(void)
{
    uint64_t quarter = store_memory_limit() / 4;
    return quarter < (8u << 20) ? quarter : (8u << 20);
}

/* The stream's key, for the store when chunk put j is done (sk, a copy in skey). */
static bool _set_stream_key(struct tjob *j, uint16_t ns, const uint8_t *key, uint32_t klen)
{
    struct tjob_chunk_put *c = &j->chunk_put;
    c->skey = malloc(klen ? klen : 1);
    if (!c->skey)
        return false;
    memcpy(c->skey, key, klen);
    store_key_init(&c->sk, ns, c->skey, klen);
    return true;
}

static bool _on_spill(void *arg, uint16_t ns, const uint8_t *key, uint32_t klen, uint64_t sid,
                      uint32_t idx, const uint8_t *data, uint32_t len, uint32_t crc,
                      void (*release)(void *), void *rarg)
{
    struct tiering *ctx = arg;
    if (!atomic_load(&ctx->active) || atomic_load(&ctx->tiers[TIX_SSD].degraded))
        return false;
    struct tjob *j = tjob_chunk_new(TJOB_CHUNK_PUT, sid, idx);
    if (!j || !_set_stream_key(j, ns, key, klen)) {
        tjob_free(j);
        return false;
    }
    j->chunk_put.v = (struct diskval){.type = STORE_T_BYTES, .data = data, .len = len};
    j->chunk_put.crc = crc;
    /* all of it before the push: from then on the writer may finish and free the job */
    j->chunk_put.crelease = release;
    j->chunk_put.carg = rarg;
    stat_add(&ctx->stats.stream_backlog_bytes, len);
    if (!tiering_push_write(ctx, j, option_get_u(&ctx->opts.tier_queue))) {
        stat_sub(&ctx->stats.stream_backlog_bytes, len);
        j->chunk_put.crelease = NULL; /* the store keeps its reference: the chunk stays */
        tjob_free(j);
        stat_incr(&ctx->stats.stream_chunks_deferred);
        return false;
    }
    return true;
}

void tiering_stream_bytes_add(struct tiering *ctx, uint64_t bytes)
{
    stat_add(&ctx->stats.stream_disk_bytes, bytes);
}

uint64_t tiering_stream_ticket(void)
{
    struct tiering *ctx = tiering_ctx();
    if (!atomic_load(&ctx->active) ||
        stat_get(&ctx->stats.stream_backlog_bytes) <= _stream_backlog())
        return 0;
    return tiering_pushed(ctx);
}

/* A stream's head record: its id and length, then what replication needs to go on with it
 * after it comes back from disk (its epoch, the epoch's node id and the node id of its
 * last change), all little-endian; its chunks are records of their own. A head of 16 bytes
 * (written before the epoch was kept) has an epoch not known. */
#define STREAM_HEAD_V1 16
#define STREAM_HEAD 28
static void _put_le(uint8_t *out, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t _get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void _stream_head(uint8_t *out, const struct store_stream_view *v)
{
    _put_le(out, v->sid, 8);
    _put_le(out + 8, v->len, 8);
    _put_le(out + 16, v->epoch, 8);
    _put_le(out + 24, v->eorigin, 2);
    _put_le(out + 26, v->origin, 2);
}

bool tiering_stream_head_parse(const uint8_t *p, size_t n, uint64_t *sid, uint64_t *len)
{
    if (n != STREAM_HEAD && n != STREAM_HEAD_V1)
        return false;
    *sid = _get_le(p, 8);
    *len = _get_le(p + 8, 8);
    return true;
}

void tiering_stream_head_meta(const uint8_t *p, size_t n, struct store_stream_meta *m)
{
    *m = (struct store_stream_meta){0};
    if (n == STREAM_HEAD)
        *m = (struct store_stream_meta){.epoch = _get_le(p + 16, 8),
                                        .eorigin = (uint16_t)_get_le(p + 24, 2),
                                        .origin = (uint16_t)_get_le(p + 26, 2)};
}

/* Persistence of a changed stream (worker thread, key locked): its full chunks were handed
 * to _on_spill already (the store does that first); queue its last chunk, then its head,
 * so a crash never leaves a head whose chunks are not on disk. False when it could not be
 * persisted (counted): the caller deletes the older disk copy. */
/* Streams one of whose appends was not written: their next change writes the whole last
 * chunk again, so no head names bytes that are not on disk. */
#define RESYNC_MAX 64
static pthread_mutex_t resync_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t resync[RESYNC_MAX];
/* Changed under resync_lock, with atomic stores: _take_resync reads it without the lock
 * first, to skip the lock when the list is empty (nearly always). Relaxed: the list itself
 * is read under the lock; a stale 0 is an append that ran before the failure was recorded,
 * which a writer thread recording it at any moment makes possible anyway. */
static unsigned nresync;

void tiering_stream_resync(uint64_t sid)
{
    pthread_mutex_lock(&resync_lock);
    unsigned n = nresync;
    bool have = false;
    for (unsigned i = 0; i < n && !have; i++)
        have = resync[i] == sid;
    if (!have) {
        if (n == RESYNC_MAX) /* the oldest: its stream may be gone long since */
            memmove(resync, resync + 1, --n * sizeof(resync[0]));
        resync[n++] = sid;
        __atomic_store_n(&nresync, n, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&resync_lock);
}

/* Take sid off the resync list; true when it was there. */
static bool _take_resync(uint64_t sid)
{
    if (!__atomic_load_n(&nresync, __ATOMIC_RELAXED))
        return false;
    pthread_mutex_lock(&resync_lock);
    bool had = false;
    for (unsigned i = 0, n = nresync; i < n; i++)
        if (resync[i] == sid) {
            resync[i] = resync[n - 1];
            __atomic_store_n(&nresync, n - 1, __ATOMIC_RELAXED);
            had = true;
            break;
        }
    pthread_mutex_unlock(&resync_lock);
    return had;
}

/* Streams loaded from disk into memory (MUT_LOAD) whose next change is not queued yet: the
 * first record that change writes is their whole last chunk, with what follows it on disk
 * deleted (tjob_chunk_put.fresh). Why: a value log writes a batch's stream records (RocksDB)
 * before its key records (the heads, in the log), so a kill between the two keeps the
 * append records of changes whose heads are lost. The restart then serves the older head,
 * the client appends other bytes from there, and those land at other offsets than the lost
 * ones: an old append record that starts before a new one and reaches past it was read as
 * part of the stream (reader.c, _read_appends), bytes the key never held. A whole chunk of a
 * lost future (kept by _read_whole before the appends) was the same. So a stream read back
 * from disk gets its records past its head removed before anything new is written after it.
 * Open addressing (0: a free slot; stream ids are never 0), under loaded_lock. An entry
 * leaves at the stream's next persisted change or when memory drops the stream; at most one
 * per stream read from disk. Out of memory: every stream counts as loaded (safe, slower). */
static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *loaded;
static size_t loaded_cap, loaded_n; /* loaded_n: atomic, read without the lock when 0 */
static bool loaded_all;

static size_t _loaded_slot(uint64_t sid, size_t cap)
{
    uint64_t h = sid * 0x9e3779b97f4a7c15ull;
    return (size_t)(h ^ h >> 29) & (cap - 1);
}

static bool _loaded_grow(void)
{
    size_t cap = loaded_cap ? loaded_cap * 2 : 256;
    uint64_t *nv = calloc(cap, sizeof(*nv));
    if (!nv)
        return false;
    for (size_t i = 0; i < loaded_cap; i++) {
        if (!loaded[i])
            continue;
        size_t j = _loaded_slot(loaded[i], cap);
        while (nv[j])
            j = (j + 1) & (cap - 1);
        nv[j] = loaded[i];
    }
    free(loaded);
    loaded = nv;
    loaded_cap = cap;
    return true;
}

void tiering_stream_loaded(uint64_t sid)
{
    if (!sid)
        return;
    pthread_mutex_lock(&loaded_lock);
    if (!loaded_all && (loaded_n + 1) * 2 > loaded_cap && !_loaded_grow())
        __atomic_store_n(&loaded_all, true, __ATOMIC_RELAXED);
    if (!loaded_all) {
        size_t i = _loaded_slot(sid, loaded_cap);
        while (loaded[i] && loaded[i] != sid)
            i = (i + 1) & (loaded_cap - 1);
        if (!loaded[i]) {
            loaded[i] = sid;
            __atomic_store_n(&loaded_n, loaded_n + 1, __ATOMIC_RELAXED);
        }
    }
    pthread_mutex_unlock(&loaded_lock);
}

/* Take sid out of the loaded set; true when it was there. */
static bool _take_loaded(uint64_t sid)
{
    if (!__atomic_load_n(&loaded_n, __ATOMIC_RELAXED) && !__atomic_load_n(&loaded_all, __ATOMIC_RELAXED))
        return false;
    pthread_mutex_lock(&loaded_lock);
    bool had = loaded_all;
    size_t m = loaded_cap - 1, i = loaded_cap ? _loaded_slot(sid, loaded_cap) : 0;
    while (loaded_n && loaded[i] && loaded[i] != sid)
        i = (i + 1) & m;
    if (loaded_n && loaded[i] == sid) {
        had = true;
        /* backward-shift deletion: no entry after the hole may become unreachable */
        for (size_t j = (i + 1) & m; loaded[j]; j = (j + 1) & m) {
            size_t k = _loaded_slot(loaded[j], loaded_cap);
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                continue; /* its probe starts after the hole: it stays */
            loaded[i] = loaded[j];
            i = j;
        }
        loaded[i] = 0;
        __atomic_store_n(&loaded_n, loaded_n - 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&loaded_lock);
    return had;
}

/* Queue a record of bytes [off, off + len) of stream sid (a copy); fresh: a stream's whole
 * last chunk, the first record since it was loaded from disk. */
static bool _queue_delta(struct tiering *ctx, const struct mutation *m, uint64_t sid, uint64_t off,
                         const uint8_t *data, size_t len, size_t limit, bool fresh)
{
    struct tjob *j = calloc(1, sizeof(*j));
    uint8_t *key = j ? malloc(TIERING_DELTA_KEY) : NULL;
    uint8_t *copy = key ? malloc(len ? len : 1) : NULL;
    if (!copy) {
        free(key);
        free(j);
        tiering_persist_dropped(ctx, "out of memory");
        return false;
    }
    tiering_delta_key(key, sid, off);
    memcpy(copy, data, len);
    *j = (struct tjob){.kind = TJOB_CHUNK_PUT, .key = key, .klen = TIERING_DELTA_KEY,
                       .persist = true,
                       .chunk_put = {.sid = sid, .tail = true, .fresh = fresh, .crelease = free,
                                     .carg = copy}};
    if (!_set_stream_key(j, (uint16_t)m->ns, m->key, m->klen)) {
        tjob_free(j);
        tiering_persist_dropped(ctx, "out of memory");
        return false;
    }
    j->chunk_put.v = (struct diskval){.type = STORE_T_BYTES, .data = copy, .len = len};
    stat_add(&ctx->stats.stream_backlog_bytes, len); /* first, as for the depth */
    if (!tiering_push_write(ctx, j, limit)) {
        stat_sub(&ctx->stats.stream_backlog_bytes, len);
        tjob_free(j);
        tiering_persist_dropped(ctx, "the persistence queue is full");
        return false;
    }
    return true;
}

/* The bytes of the last chunk a change added: the appended ones that fall in it, or all of
 * it (a new stream, one whose earlier append was not written, or one loaded from disk). */
static bool _persist_tail(struct tiering *ctx, const struct mutation *m,
                          const struct store_stream_view *v, size_t limit)
{
    uint64_t tail_start = (uint64_t)v->tail_idx * STORE_STREAM_CHUNK;
    bool fresh = _take_loaded(v->sid);
    if (m->op == MUT_APPEND && !fresh && !_take_resync(v->sid)) {
        uint64_t from = v->len - m->vlen;
        if (from < tail_start) /* the part in earlier chunks went with their whole records */
            from = tail_start;
        return _queue_delta(ctx, m, v->sid, from, m->value + (from - (v->len - m->vlen)),
                            (size_t)(v->len - from), limit, false);
    }
    if (_queue_delta(ctx, m, v->sid, tail_start, v->tail, v->tail_len, limit, fresh))
        return true;
    if (fresh) /* the next change does it */
        tiering_stream_loaded(v->sid);
    return false;
}

bool tiering_persist_stream(struct tiering *ctx, const struct mutation *m, uint64_t hash,
                            size_t limit)
{
    const struct store_stream_view *v = m->stream;
    if (!v->chunks_handed) {
        tiering_persist_dropped(ctx, "stream chunks are waiting for the writer queue");
        tiering_stream_resync(v->sid);
        return false;
    }
    if (m->op != MUT_TOUCH && v->tail_len && !_persist_tail(ctx, m, v, limit)) {
        tiering_stream_resync(v->sid);
        return false;
    }
    uint8_t head[STREAM_HEAD];
    _stream_head(head, v);
    struct mutation hm = *m;
    hm.value = head;
    hm.vlen = STREAM_HEAD;
    if (tiering_queue_put(ctx, &hm, hash, true, false, limit))
        return true;
    tiering_persist_dropped(ctx, "the persistence queue is full");
    return false;
}

static void _on_stream_gone(void *arg, uint64_t sid, uint64_t disk_bytes, bool evicted)
{
    struct tiering *ctx = arg;
    _take_loaded(sid); /* read back from disk again, it is marked again */
    if (evicted && ctx->pmode != PERSIST_OFF)
        return; /* its head on disk still names its chunks */
    struct tjob *j = tjob_chunk_new(TJOB_CHUNK_DEL, sid, 0);
    if (!j)
        return; /* its records stay until the next start wipes them */
    j->chunk_del.cbytes = disk_bytes;
    if (!tiering_push_write(ctx, j, 0))
        tjob_free(j);
}


struct store_stream_hooks tiering_stream_hooks(struct tiering *ctx)
{
    return (struct store_stream_hooks){.spill = _on_spill,
                                       .gone = _on_stream_gone,
                                       .threshold = option_get_u(&ctx->opts.stream_spill_size),
                                       .persist = ctx->pmode != PERSIST_OFF,
                                       .arg = ctx};
}

bool tiering_stream_head_decode(const uint8_t *val, size_t vlen, uint64_t now_ms, uint64_t *sid,
                                uint64_t *len)
{
    struct diskval v;
    uint8_t *owned = NULL;
    bool head = diskval_decode(val, vlen, now_ms, &v, &owned) == DISKVAL_OK &&
                v.type == STORE_T_STREAM && tiering_stream_head_parse(v.data, v.len, sid, len);
    free(owned);
    return head;
}

/* The stream head a tier holds at key (unexpired at now_ms; 0 = any), the first tier first.
 * A value log is not searched by key: at holds where its head is (a TOMB's previous entry),
 * or, when NULL, the key's index entry says. Writer thread: the only one that reopens a tier,
 * so no lock is needed. */
static bool _disk_head(struct tiering *ctx, const uint8_t *key, size_t klen, uint64_t now_ms,
                       const struct tix_entry *at, uint64_t *sid, uint64_t *len)
{
    char err[256];
    struct tix_entry cur = {0};
    struct store_key k;
    if (!at && tiering_key_parse(key, klen, &k)) {
        cur = tix_get(k.hash);
        at = &cur;
    }
    for (int t = 0; t < TIX_TIERS; t++) {
        uint8_t *raw;
        size_t rlen;
        struct tbe *be = ctx->tiers[t].be; /* a head is a key record */
        bool here = at && at->state == TIX_LIVE && at->tier == t;
        if (!be || tbe_get(be, key, klen, here ? at->loc : TIX_NOLOC, here ? at->dlen : 0, &raw,
                           &rlen, err, sizeof(err)) != 0)
            continue;
        bool head = tiering_stream_head_decode(raw, rlen, now_ms, sid, len);
        free(raw);
        if (head)
            return true;
    }
    return false;
}

uint64_t tiering_stream_disk_estimate(uint64_t len)
{
    uint64_t full = len ? (len - 1) / STORE_STREAM_CHUNK : 0;
    return full * (STORE_STREAM_CHUNK + TIERING_CHUNK_KEY + DISKVAL_HEADER);
}

/* The records of a stream of len bytes were deleted. Their exact size is not known here:
 * take off what they take uncompressed (saturating). Writer thread. */
static void _drop_stream_bytes(struct tiering *ctx, uint64_t len)
{
    uint64_t est = tiering_stream_disk_estimate(len);
    uint64_t cur = stat_get(&ctx->stats.stream_disk_bytes);
    stat_sub(&ctx->stats.stream_disk_bytes, est < cur ? est : cur);
}

void tiering_stream_forget(struct tiering *ctx, const struct tjob *j, struct tierdb_batch *b)
{
    uint64_t sid, len;
    struct store_key k;
    struct tix_entry was = {.state = TIX_LIVE, .tier = j->del.tier, .loc = j->del.loc,
                            .dlen = j->del.dlen};
    if (!_disk_head(ctx, j->key, j->klen, 0, &was, &sid, &len) ||
        !tiering_key_parse(j->key, j->klen, &k) || store_has_stream(&k, sid))
        return; /* not a stream after all, or memory still reads its chunks */
    tiering_stream_delete_records(NULL, b, sid, false);
    _drop_stream_bytes(ctx, len);
}

/* Heads that left the disk without a change of their key, for tiering_streams_reap. */
struct gone_head {
    struct gone_head *next;
    uint64_t sid, len;
    size_t klen;
    uint8_t key[];
};
static pthread_mutex_t gone_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gone_head *gone_list;
static size_t gone_n;
#define GONE_MAX 100000 /* beyond it, the chunks wait for the next restart's walk */

void tiering_stream_head_gone(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
                              size_t vlen)
{
    (void)arg;
    struct diskval v;
    uint64_t rsid;
    if (tiering_stream_record(key, klen, &rsid) || !diskval_peek(val, vlen, &v) ||
        v.type != STORE_T_STREAM)
        return;
    uint64_t sid, len;
    struct gone_head *g = tiering_stream_head_decode(val, vlen, 0, &sid, &len)
                              ? malloc(sizeof(*g) + klen)
                              : NULL;
    if (!g)
        return;
    *g = (struct gone_head){.sid = sid, .len = len, .klen = klen};
    memcpy(g->key, key, klen);
    pthread_mutex_lock(&gone_lock);
    if (gone_n < GONE_MAX) {
        g->next = gone_list;
        gone_list = g;
        gone_n++;
        g = NULL;
    }
    pthread_mutex_unlock(&gone_lock);
    free(g);
}


void tiering_streams_reap(struct tiering *ctx)
{
    pthread_mutex_lock(&gone_lock);
    struct gone_head *list = gone_list;
    gone_list = NULL;
    gone_n = 0;
    pthread_mutex_unlock(&gone_lock);
    while (list) {
        struct gone_head *g = list;
        list = g->next;
        struct store_key k;
        uint64_t sid, len;
        /* an older version of the head, or a stream memory still reads, keeps its chunks */
        if (ctx->tiers[TIX_SSD].be && tiering_key_parse(g->key, g->klen, &k) &&
            !(_disk_head(ctx, g->key, g->klen, clock_wall_ms(), NULL, &sid, &len) &&
              sid == g->sid) &&
            !store_has_stream(&k, g->sid)) {
            if (tiering_stream_delete_records(tbe_streams(ctx->tiers[TIX_SSD].be), NULL, g->sid,
                                              ctx->pmode != PERSIST_OFF) == 0)
                _drop_stream_bytes(ctx, g->len);
        }
        free(g);
    }
}

/* FLUSH of one namespace (tiering_streams_flush_ns): the walk of its heads on one tier. The
 * cursor is opened before the batch with the namespace's range delete is written, so its
 * snapshot still holds the heads; each step hands up to WALK_STEP of the namespace's records
 * to tiering_stream_head_gone, and the reap after it deletes the chunks of those heads that
 * went. Writer thread only: no lock. */
struct ns_walk {
    struct ns_walk *next;
    int tier;
    struct tbe_scan *scan;
    size_t plen;
    uint8_t prefix[];
};
static struct ns_walk *walks;
#define WALK_STEP 4096 /* records looked at per step, over all walks */

void tiering_streams_flush_ns(struct tiering *ctx, const uint8_t *prefix, size_t plen)
{
    if (ctx->pmode == PERSIST_OFF)
        return; /* no head outlives its stream in memory: freeing it deletes the chunks */
    struct ns_walk **tail = &walks;
    while (*tail)
        tail = &(*tail)->next;
    for (int t = 0; t < TIX_TIERS; t++) { /* shedding moves heads to the second tier */
        struct tbe *be = ctx->tiers[t].be;
        if (!be || tbe_is_log(be)) /* a log: tiering_streams_flush_heads */
            continue;
        struct ns_walk *w = malloc(sizeof(*w) + (plen ? plen : 1));
        struct tbe_scan *it = w ? tbe_scan_new(be, prefix, plen) : NULL;
        if (!it) { /* the chunks wait for the next restart's walk */
            free(w);
            log_error("FLUSH of a namespace: out of memory for the walk of its streams on the %s "
                      "tier; their chunks stay until the next restart",
                      ctx->tiers[t].name);
            continue;
        }
        *w = (struct ns_walk){.tier = t, .scan = it, .plen = plen};
        memcpy(w->prefix, prefix, plen);
        *tail = w;
        tail = &w->next;
    }
}

void tiering_streams_flush_heads(struct tiering *ctx, const struct tix_entry *heads, size_t n)
{
    if (ctx->pmode == PERSIST_OFF)
        return;
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tix_entry *e = &heads[i];
        struct tbe *be = e->tier < TIX_TIERS ? ctx->tiers[e->tier].be : NULL;
        if (!tbe_is_log(be))
            continue;
        if (e->dlen > cap) {
            uint8_t *nb = realloc(buf, e->dlen);
            if (!nb)
                break; /* the chunks wait for the next restart's walk of orphans */
            buf = nb;
            cap = e->dlen;
        }
        struct vlog_entry rec;
        char err[256];
        if (tbe_log_read(be, e->loc.seg, e->loc.off, e->dlen, buf, false, &rec, err,
                         sizeof(err)) == 0 && rec.kind == VLOG_PUT)
            tiering_stream_head_gone(NULL, rec.key, rec.klen, rec.val, rec.vlen);
    }
    free(buf);
}

/* Not while a warm restart still runs: it counts the chunks of the heads its own snapshot
 * holds into stream_disk_bytes at its end, so the reap taking them off goes after it. */
bool tiering_streams_walking(void) { return walks != NULL && !restore_busy(); }

bool tiering_streams_walk(struct tiering *ctx, bool stopping)
{
    if (!stopping && !tiering_streams_walking())
        return walks != NULL;
    unsigned budget = WALK_STEP;
    while (walks && budget) {
        struct ns_walk *w = walks;
        const uint8_t *key, *val;
        size_t klen, vlen;
        bool done = false;
        while (!done && budget) {
            budget--;
            done = !tbe_scan_next(w->scan, &key, &klen, &val, &vlen) || klen < w->plen ||
                   memcmp(key, w->prefix, w->plen) != 0;
            if (!done) /* keys longer than the prefix: the namespace's own */
                tiering_stream_head_gone(NULL, key, klen, val, vlen);
        }
        if (!done)
            break;
        char err[256];
        if (tbe_scan_status(w->scan, err, sizeof(err)) != 0)
            log_error("FLUSH of a namespace: the walk of its streams on the %s tier stopped: "
                      "%s; the chunks of the rest stay until the next restart",
                      ctx->tiers[w->tier].name, err);
        tbe_scan_free(w->scan);
        walks = w->next;
        free(w);
    }
    return walks != NULL;
}

void tiering_streams_walks_drop(int tier)
{
    for (struct ns_walk **p = &walks; *p;) {
        struct ns_walk *w = *p;
        if (tier >= 0 && w->tier != tier) {
            p = &w->next;
            continue;
        }
        tbe_scan_free(w->scan);
        *p = w->next;
        free(w);
    }
}

void tiering_streams_teardown(void)
{
    pthread_mutex_lock(&loaded_lock);
    free(loaded);
    loaded = NULL;
    loaded_cap = 0;
    __atomic_store_n(&loaded_n, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&loaded_all, false, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&loaded_lock);
    pthread_mutex_lock(&gone_lock);
    while (gone_list) {
        struct gone_head *g = gone_list;
        gone_list = g->next;
        free(g);
    }
    gone_n = 0;
    pthread_mutex_unlock(&gone_lock);
}
