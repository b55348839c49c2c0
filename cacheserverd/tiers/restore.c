/* Warm restart (tiering-internal.h): with persistence on, the disk tiers hold every key.
 * At start one thread
 *   1. walks each tier once in key order (SSD first: a key on both tiers, left by a crash
 *      in the middle of a move, is taken from the SSD) and indexes every unexpired record
 *      (the server
 *      answers meanwhile: a memory miss of a key not indexed yet reads the disk), then
 *   2. loads values back into memory until it is 90% full: on the way, in the same
 *      sequential pass, when everything fits (about 1.5x the tiers' file sizes) or the SSD
 *      tier is a value log (whose walk goes newest segment first); else after
 *      the walk, most recently written first (the write stamp is the hotness estimate that
 *      survives a crash), with a point read per key.
 * Changes made meanwhile win: the index is only filled where it has no entry (a change
 * leaves one), a FLUSH stops the namespace's records from being indexed, and a load only
 * happens when memory does not hold the key and the index entry is the one indexed here. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "diskval.h"
#include "index.h"
#include "log.h"
#include "store.h"
#include "tiering-internal.h"
#include "tiering.h"

struct cand {
    uint64_t hlc;
    uint64_t hash, seq;
    uint32_t off, klen; /* tier key in the arena */
    uint8_t tier;
    struct tbe_where at; /* where a log holds it (TIX_NOLOC on RocksDB) */
};

static pthread_t thread;
static bool running;
static atomic_bool indexing, stopping;
static struct tbe *stores[TIX_TIERS]; /* the tiers' stores, as restore_start found them */
/* their cursors, made by restore_start before the server takes a request: a value log's
 * walk and its streams' records are one moment's, before any write (the chunks of a
 * stream written later are never taken for orphans) */
static struct tbe_scan *scans[TIX_TIERS];
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
#define NS_BITS 65536
static uint8_t flushed[NS_BITS / 8]; /* namespaces flushed while indexing */
static bool flushed_all;

static atomic_bool busy; /* the thread runs */

/* Streams: the ids their heads name, and the chunk records found (per stream id, in key
 * order), so chunks no head names (a stream deleted just before a crash) are deleted. */
struct sids {
    uint64_t *v;
    size_t n, cap;
};
struct chunk_run {
    uint64_t sid, bytes;
};
static struct sids heads;
static struct chunk_run *runs;
static size_t nruns, capruns;

static bool _sids_add(struct sids *s, uint64_t sid)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        uint64_t *nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return false;
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = sid;
    return true;
}

/* A chunk record: count it for its stream. False when out of memory. */
static bool _note_chunk(uint64_t sid, size_t bytes)
{
    if (nruns && runs[nruns - 1].sid == sid) {
        runs[nruns - 1].bytes += bytes;
        return true;
    }
    if (nruns == capruns) {
        size_t ncap = capruns ? capruns * 2 : 64;
        struct chunk_run *nr = realloc(runs, ncap * sizeof(*nr));
        if (!nr)
            return false;
        runs = nr;
        capruns = ncap;
    }
    runs[nruns++] = (struct chunk_run){sid, bytes};
    return true;
}

static int _cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* After indexing: count the chunks of streams a head names, delete the others. */
static void _settle_streams(struct tiering *ctx, bool complete)
{
    if (heads.n)
        qsort(heads.v, heads.n, sizeof(*heads.v), _cmp_u64);
    /* a stream's appends (0xfd) and chunks (0xfe) are two runs: one per stream */
    if (nruns)
        qsort(runs, nruns, sizeof(*runs), _cmp_u64); /* sid is the first member */
    size_t n = 0;
    for (size_t i = 0; i < nruns; i++) {
        if (n && runs[n - 1].sid == runs[i].sid)
            runs[n - 1].bytes += runs[i].bytes;
        else
            runs[n++] = runs[i];
    }
    nruns = n;
    uint64_t kept = 0, dropped = 0;
    for (size_t i = 0; i < nruns; i++) {
        if (!complete ||
            (heads.n && bsearch(&runs[i].sid, heads.v, heads.n, sizeof(*heads.v), _cmp_u64))) {
            tiering_stream_bytes_add(ctx, runs[i].bytes);
            kept++;
            continue;
        }
        struct tierdb *sdb = tbe_streams(stores[TIX_SSD]); /* stream records: tierdb */
        if (tiering_stream_delete_records(sdb, NULL, runs[i].sid, true) == 0)
            dropped++;
    }
    if (kept || dropped)
        log_info("warm restart: %llu streams on disk, %llu streams' orphaned chunks deleted",
                 (unsigned long long)kept, (unsigned long long)dropped);
    free(heads.v);
    heads = (struct sids){0};
    free(runs);
    runs = NULL;
    nruns = capruns = 0;
}

bool restore_indexing(void) { return atomic_load(&indexing); }
bool restore_busy(void) { return atomic_load(&busy); }

void restore_note_flush(int ns)
{
    if (!atomic_load(&indexing))
        return;
    pthread_mutex_lock(&flush_lock);
    if (ns < 0 || ns >= NS_BITS)
        flushed_all = true;
    else
        flushed[ns / 8] |= (uint8_t)(1u << (ns % 8));
    pthread_mutex_unlock(&flush_lock);
}

static bool _flushed(uint16_t ns)
{
    return flushed_all || (flushed[ns / 8] & (1u << (ns % 8)));
}

struct arena {
    struct cand *c;
    size_t n, cap;
    uint8_t *keys;
    size_t klen, kcap;
};

static bool _keep(struct arena *a, const uint8_t *key, size_t klen, uint64_t hlc, uint64_t hash,
                  uint64_t seq, uint8_t tier, struct tbe_where at)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 4096;
        struct cand *nc = realloc(a->c, ncap * sizeof(*nc));
        if (!nc)
            return false;
        a->c = nc;
        a->cap = ncap;
    }
    if (a->klen + klen > a->kcap) {
        size_t ncap = a->kcap ? a->kcap * 2 : 1u << 20;
        while (ncap < a->klen + klen)
            ncap *= 2;
        uint8_t *nk = realloc(a->keys, ncap);
        if (!nk)
            return false;
        a->keys = nk;
        a->kcap = ncap;
    }
    memcpy(a->keys + a->klen, key, klen);
    a->c[a->n++] = (struct cand){hlc, hash, seq, (uint32_t)a->klen, (uint32_t)klen, tier, at};
    a->klen += klen;
    return true;
}

static int _newest_first(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    return a->hlc < b->hlc ? 1 : a->hlc > b->hlc ? -1 : 0;
}

/* Load one record into memory (if its index entry is still the walk's). */
static bool _load_one(const uint8_t *key, size_t klen, const uint8_t *raw, size_t rlen,
                      uint64_t hash, uint64_t seq, uint64_t now, int *rc)
{
    struct diskval v;
    uint8_t *owned = NULL;
    struct store_key k;
    *rc = STORE_NOT_STORED;
    if (!tiering_key_parse(key, klen, &k) ||
        diskval_decode(raw, rlen, now, &v, &owned) != DISKVAL_OK || v.type == STORE_T_STREAM)
        return false;
    struct store_value sv = {.type = v.type, .data = v.data, .len = (uint32_t)v.len};
    struct tiering_expect x = {hash, seq};
    *rc = store_load(&k, &sv, v.ctr, v.ctr_len, v.expire_ms, v.version, tiering_expect_live,
                     &x);
    free(owned);
    return *rc == STORE_OK;
}

/* Phase 1, for one tier. Returns the count of keys indexed. With *direct, values are
 * loaded into memory on the way (one sequential pass) until memory is 90% full; after that
 * the records are kept for phase 2. */
static uint64_t _index(struct tiering *ctx, struct arena *a, uint8_t tier, bool *direct,
                       uint64_t *loaded, bool *complete)
{
    /* one walk of the back end's records: key records, then the streams' (backend.h) */
    struct tbe_scan *it = scans[tier];
    scans[tier] = NULL;
    if (!it) {
        log_error("warm restart: out of memory for the walk of a tier; keys not indexed are "
                  "read from disk when asked for");
        *complete = false;
        return 0;
    }
    uint64_t now = clock_wall_ms(), n = 0, max_version = 0;
    const uint8_t *key, *val;
    size_t klen, vlen;
    bool keep = true;
    while (!atomic_load(&stopping) && tbe_scan_next(it, &key, &klen, &val, &vlen)) {
        struct diskval h;
        struct store_key k;
        uint64_t rsid;
        if (tiering_stream_record(key, klen, &rsid)) {
            /* appends (0xfd) are not counted in the gauge: they go once their chunk is whole */
            if (tier == TIX_SSD && !_note_chunk(rsid, key[0] == 0xfe ? klen + vlen : 0))
                *complete = false; /* out of memory: delete nothing */
            continue;
        }
        if (!diskval_peek(val, vlen, &h) || !tiering_key_parse(key, klen, &k))
            continue;
        if (h.expire_ms && h.expire_ms <= now)
            continue; /* compaction reclaims it */
        uint64_t seq = tiering_next_seq(ctx);
        struct tbe_where at = tbe_scan_where(it);
        bool added;
        if (at.loc.off) {
            /* a value log: its replay indexed the tier before the server listened (and the
             * cursor yields only what the index names); what is left is to load it */
            struct tix_entry e = tix_get(k.hash);
            added = e.state == TIX_LIVE && e.tier == tier && tix_loc_eq(e.loc, at.loc);
            seq = e.seq;
        } else {
            pthread_mutex_lock(&flush_lock);
            added = !_flushed(k.ns) && tix_add_live(k.hash, k.ns, seq, tier, at.len,
                                                    h.type == STORE_T_STREAM, TIX_NOLOC);
            pthread_mutex_unlock(&flush_lock);
        }
        if (h.type == STORE_T_STREAM) {
            /* indexed or not (a stream loaded meanwhile keeps its chunks on disk) */
            uint64_t sid, slen;
            if (tiering_stream_head_decode(val, vlen, now, &sid, &slen) && !_sids_add(&heads, sid))
                *complete = false;
        }
        if (!added)
            continue;
        n++;
        if (h.version > max_version)
            max_version = h.version;
        if (*direct) {
            int rc;
            *loaded += _load_one(key, klen, val, vlen, k.hash, seq, now, &rc);
            if (rc == STORE_ENOMEM || store_bytes_used() >= store_memory_limit() / 10 * 9)
                *direct = false;
            continue;
        }
        if (keep && !_keep(a, key, klen, h.hlc, k.hash, seq, tier, at)) {
            log_warn("warm restart: out of memory for the load list; the rest is read from "
                     "disk when asked for");
            keep = false;
        }
    }
    char err[256];
    if (tbe_scan_status(it, err, sizeof(err)) != 0)
        log_error("warm restart: %s; keys not indexed are read from disk when asked for", err);
    tbe_scan_free(it);
    store_version_floor(max_version);
    return n;
}


/* Phase 2. Returns the count loaded into memory. */
static uint64_t _load(struct arena *a)
{
    if (a->n)
        qsort(a->c, a->n, sizeof(*a->c), _newest_first);
    uint64_t limit = store_memory_limit() / 10 * 9, loaded = 0, now = clock_wall_ms();
    char err[256];
    for (size_t i = 0; i < a->n && !atomic_load(&stopping); i++) {
        if (store_bytes_used() >= limit)
            break;
        struct cand *c = &a->c[i];
        struct tiering_expect x = {c->hash, c->seq};
        if (!tiering_expect_live(&x))
            continue; /* changed since it was indexed */
        const uint8_t *key = a->keys + c->off;
        uint8_t *raw;
        size_t rlen;
        if (tbe_get(stores[c->tier], key, c->klen, c->at.loc, c->at.len, &raw, &rlen, err,
                    sizeof(err)) != 0)
            continue;
        int rc;
        loaded += _load_one(key, c->klen, raw, rlen, c->hash, c->seq, now, &rc);
        free(raw);
        if (rc == STORE_ENOMEM)
            break;
    }
    return loaded;
}

/* The restore thread; arg is the struct tiering. */
static void *_main(void *arg)
{
    struct tiering *ctx = arg;
    uint64_t t0 = clock_wall_ms();
    struct arena a = {0};
    uint64_t n = 0, loaded = 0, disk = 0;
    for (uint8_t t = 0; t < TIX_TIERS; t++)
        if (stores[t])
            disk += tbe_bytes(stores[t]);
    /* When it all fits (items take about 1.5x their disk size in memory), load while
     * indexing: one sequential pass instead of a point read per key. Else the newest first,
     * after the walk. A value log's walk is newest first already (its segments newest
     * first), so on one the values are always loaded on the way, until memory is 90% full:
     * its preallocated files made 1M records of 100 bytes (448 MB of segments) look too
     * large for 256 MiB of memory, and a second pass of point reads took 6.6-8.4 s where
     * the walk takes 3. */
    bool direct = disk / 2 * 3 <= store_memory_limit() / 10 * 9 ||
                  (stores[TIX_SSD] && tbe_is_log(stores[TIX_SSD]));
    bool complete = true;
    for (uint8_t t = 0; t < TIX_TIERS; t++)
        if (stores[t])
            n += _index(ctx, &a, t, &direct, &loaded, &complete);
    _settle_streams(ctx, complete && !atomic_load(&stopping));
    atomic_store(&indexing, false);
    tix_drop_tombs(); /* they only kept the walk from reviving deleted keys */
    uint64_t t1 = clock_wall_ms();
    tiering_restore_progress(ctx, n, 0, 0);
    log_info("warm restart: %llu keys indexed from disk in %llu ms (%llu loaded on the way); "
             "serving meanwhile", (unsigned long long)n, (unsigned long long)(t1 - t0),
             (unsigned long long)loaded);
    loaded += _load(&a);
    uint64_t t2 = clock_wall_ms();
    free(a.c);
    free(a.keys);
    tiering_restore_progress(ctx, n, loaded, t2 - t0 ? t2 - t0 : 1);
    log_info("warm restart: %llu of %llu keys loaded into memory in %llu ms (%llu ms in all)%s",
             (unsigned long long)loaded, (unsigned long long)n, (unsigned long long)(t2 - t1),
             (unsigned long long)(t2 - t0), atomic_load(&stopping) ? "; stopped by shutdown" : "");
    atomic_store(&busy, false);
    return NULL;
}

int restore_start(struct tiering *ctx)
{
    for (int t = 0; t < TIX_TIERS; t++) {
        stores[t] = ctx->tiers[t].be;
        scans[t] = stores[t] ? tbe_scan_new(stores[t], NULL, 0) : NULL;
    }
    memset(flushed, 0, sizeof(flushed));
    flushed_all = false;
    atomic_store(&stopping, false);
    atomic_store(&indexing, true);
    atomic_store(&busy, true);
    if (pthread_create(&thread, NULL, _main, ctx) != 0) {
        atomic_store(&indexing, false);
        atomic_store(&busy, false);
        for (int t = 0; t < TIX_TIERS; t++) {
            tbe_scan_free(scans[t]);
            scans[t] = NULL;
        }
        return -1;
    }
    pthread_setname_np(thread, "csd-restore");
    running = true;
    return 0;
}

void restore_stop(void)
{
    if (!running)
        return;
    atomic_store(&stopping, true);
    pthread_join(thread, NULL);
    running = false;
    atomic_store(&indexing, false);
}
