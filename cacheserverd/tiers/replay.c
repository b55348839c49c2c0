/* The replay of a persisted value log tier (tiering-internal.h; docs/valuelog.md, "Recovery
 * after kill -9"): at start, before the server listens, the index is filled from the
 * segments' footers, newest segment first and each from its last record to its first, so
 * the first record seen of a key is its newest and decides it:
 *   PUT, unexpired  LIVE at its location (its stream-head flag kept);
 *   PUT, expired    a TOMB (older records of the key stay hidden);
 *   DEL             a TOMB;
 *   NSFLUSH         every older record of its namespace (or of all) is ignored.
 * The TOMBs are dropped at the end. The backend opened the segments (a torn last segment
 * scanned and sealed where its records end). Values are loaded back into memory afterwards
 * by the warm restart (restore.c), whose cursor over a log yields what the index names.
 *
 * The walk itself (vlog_walk_deciding: order, NSFLUSH, expiry) is shared with the way back
 * to RocksDB (migrate_back.c), which copies the live records the same walk decides; only
 * what is done with a deciding record differs (the index here, RocksDB there). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_vlog.h"
#include "clock.h"
#include "index.h"
#include "log.h"
#include "store.h"
#include "tiering-internal.h"

/* Namespace prefixes ([length][name]) flushed by an NSFLUSH seen so far. */
struct flushed {
    uint8_t (*p)[65];
    size_t n, cap;
    bool all;
};

static bool _is_flushed(const struct flushed *fl, const uint8_t *key, size_t klen)
{
    if (fl->all)
        return true;
    for (size_t i = 0; i < fl->n; i++) {
        size_t plen = 1 + (size_t)fl->p[i][0];
        if (klen >= plen && memcmp(key, fl->p[i], plen) == 0)
            return true;
    }
    return false;
}

static void _note_flush(struct flushed *fl, const uint8_t *prefix, size_t plen)
{
    if (plen == 0 || plen > 65 || plen != 1 + (size_t)prefix[0]) {
        fl->all = true; /* every namespace (or a prefix not understood: the safe reading) */
        return;
    }
    if (fl->n == fl->cap) {
        size_t cap = fl->cap ? fl->cap * 2 : 16;
        void *np = realloc(fl->p, cap * sizeof(*fl->p));
        if (!np) {
            fl->all = true; /* out of memory: hide more, never less */
            return;
        }
        fl->p = np;
        fl->cap = cap;
    }
    memcpy(fl->p[fl->n++], prefix, plen);
}

int vlog_walk_deciding(struct tbe *be, uint64_t now, vlog_deciding_fn fn, void *arg,
                       struct vlog_walk_counts *c, char *err, size_t errlen)
{
    size_t n = tbe_log_segments(be, NULL, 0);
    struct tbe_log_seg *segs = n ? malloc(n * sizeof(*segs)) : NULL;
    struct vlog_entry *ents = NULL;
    size_t ecap = 0;
    struct flushed fl = {0};
    int rc = 0;
    *c = (struct vlog_walk_counts){0};
    if (n && !segs) {
        snprintf(err, errlen, "out of memory");
        return -2;
    }
    n = tbe_log_segments(be, segs, n);
    c->segments = n;
    for (size_t i = n; rc == 0 && i-- > 0 && !fl.all;) {
        struct vlog_footer f;
        int r = tbe_log_footer(be, segs[i].seq, &f, err, errlen);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r > 0)
            continue;
        size_t ne = 0;
        struct vlog_entry e;
        while (vlog_footer_next(&f, &e)) {
            if (ne == ecap) {
                size_t cap = ecap ? ecap * 2 : 4096;
                struct vlog_entry *nv = realloc(ents, cap * sizeof(*nv));
                if (!nv) {
                    snprintf(err, errlen, "out of memory");
                    rc = -2;
                    break;
                }
                ents = nv;
                ecap = cap;
            }
            ents[ne++] = e;
        }
        for (size_t j = ne; rc == 0 && j-- > 0 && !fl.all;) {
            const struct vlog_entry *x = &ents[j];
            c->records++;
            if (x->kind == VLOG_NSFLUSH) {
                _note_flush(&fl, x->key, x->klen);
                continue;
            }
            struct store_key k;
            if (_is_flushed(&fl, x->key, x->klen) || !tiering_key_parse(x->key, x->klen, &k))
                continue;
            bool live = x->kind == VLOG_PUT && !(x->expire_ms && x->expire_ms <= now);
            int d = fn(arg, segs[i].seq, x, &k, live);
            if (d < 0)
                rc = -3; /* fn's reason is its own */
            else if (d > 0)
                *(live ? &c->live : &c->dead) += 1;
        }
        vlog_footer_free(&f);
    }
    free(ents);
    free(segs);
    free(fl.p);
    return rc;
}

/* The replay's fn: the index decides which record is a key's first (it adds an entry only
 * for a hash that has none). The records are added in batches (tix_add_many: one lock per
 * shard, buckets fetched ahead), in the walk's order, and counted when the batch goes in. */
#define REPLAY_BATCH 8192

struct replay {
    struct tiering *ctx;
    int t;
    struct tix_add *batch;
    size_t n;
    uint64_t live, dead;
};

static void _add_batch(struct replay *r)
{
    tix_add_many(r->batch, r->n);
    for (size_t i = 0; i < r->n; i++)
        if (r->batch[i].added)
            *(r->batch[i].live ? &r->live : &r->dead) += 1;
    r->n = 0;
}

static int _index(void *arg, uint64_t seg, const struct vlog_entry *x, const struct store_key *k,
                  bool live)
{
    struct replay *r = arg;
    r->batch[r->n++] = (struct tix_add){.hash = k->hash, .seq = tiering_next_seq(r->ctx),
                                        .loc = {(uint32_t)seg, x->off}, .dlen = x->len,
                                        .ns = k->ns, .tier = (uint8_t)r->t, .live = live,
                                        .stream = x->flags & VLOG_F_STREAM_HEAD};
    if (r->n == REPLAY_BATCH)
        _add_batch(r);
    return 0; /* counted by _add_batch */
}

int vlog_replay(struct tiering *ctx, int t)
{
    struct tbe *be = ctx->tiers[t].be;
    uint64_t t0 = clock_wall_ms();
    struct replay r = {ctx, t, malloc(REPLAY_BATCH * sizeof(*r.batch)), 0, 0, 0};
    struct vlog_walk_counts c;
    char err[512];
    if (!r.batch) {
        log_error("%s tier: out of memory replaying its value log", ctx->tiers[t].name);
        return -1;
    }
    int rc = vlog_walk_deciding(be, t0, _index, &r, &c, err, sizeof(err));
    _add_batch(&r);
    free(r.batch);
    c.live = r.live;
    c.dead = r.dead;
    if (c.dead)
        tix_drop_tombs(); /* they only hid older records (a walk of the whole index) */
    if (rc == -1)
        log_error("%s tier: %s; the value log cannot be replayed", ctx->tiers[t].name, err);
    else if (rc != 0)
        log_error("%s tier: out of memory replaying its value log", ctx->tiers[t].name);
    else
        log_info("%s tier: value log replayed: %llu keys on it (%llu records, %llu deleted or "
                 "expired keys) from %zu segments in %llu ms", ctx->tiers[t].name,
                 (unsigned long long)c.live, (unsigned long long)c.records,
                 (unsigned long long)c.dead, c.segments,
                 (unsigned long long)(clock_wall_ms() - t0));
    return rc == 0 ? 0 : -1;
}
