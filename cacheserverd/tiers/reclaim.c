/* Space reclaim of a value log tier (tiering-internal.h; docs/valuelog.md, "Space reclaim"),
 * on the writer thread between batches, so it is ordered with every append:
 *  - the hand: when the tier's files pass 90% of its size, the oldest segment is walked
 *    (its footer) until the files are under 80%. Each record the index still names there is
 *    either read since the hand last passed (the entry's ref bit: CLOCK's second chance), and
 *    rewritten at the head; or cold, and moved to the HDD tier (written there first, then
 *    the index relocated) or, from the last tier, dropped from the index (tier_evictions).
 *    Expired records are dropped. Once walked, the segment's file is removed.
 *  - compaction: when dead bytes (appended, not named by the index) pass 20% of the files,
 *    the segment with the lowest share of live bytes, if under half, has its live records
 *    copied verbatim to the head (both checksums verified first: a record that fails is
 *    dropped and counted, never copied as good), then its file is removed.
 * A record is live when its key's index entry is LIVE on this tier at exactly its location
 * (one index lookup per record). A step looks at RECLAIM_EXAMINE records and moves at most
 * RECLAIM_MOVES (four times as many when a batch waits for room), then lets a batch through;
 * a walk resumes where its last step stopped. Moves are appended through the log's buffer,
 * written at the end of the step, and only then does the index name their new place (a
 * condition on the old place: a key changed meanwhile keeps its change).
 * With persistence, a dead record that is its key's last one on disk while a change of the
 * key waits for the writer (tix_last_is) is copied like a live one, so a segment never waits
 * for the queue; a tombstone is copied while nothing newer of its key is on disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_vlog.h"
#include "clock.h"
#include "index.h"
#include "log.h"
#include "tiering-internal.h"

#define RECLAIM_EXAMINE 4096
#define RECLAIM_MOVES 512
#define HIGH_PCT 90     /* the hand starts above this share of the size */
#define LOW_PCT 80      /* and stops under this one */
#define DEAD_PCT 20     /* compaction when dead bytes pass this share of the files */
#define COMPACT_UNDER 50 /* of a segment whose live share is under this */

struct walk {
    bool on, compact;
    bool walked;     /* every record handled: the segment goes (after a sync) */
    uint64_t seq;
    struct vlog_footer f;
};
static struct walk walks[TIX_TIERS];

struct pending {
    uint64_t hash, seq;
    struct tix_loc from;
    struct tbe_where to;
    bool last; /* a dead record kept as its key's last one on disk (tix_last_move) */
};

static void _walk_end(struct walk *w)
{
    vlog_footer_free(&w->f);
    w->on = w->walked = false;
}

/* Pick what to walk: the oldest segment for the hand (used >= size: over the mark), else the
 * emptiest under COMPACT_UNDER when dead bytes pass DEAD_PCT. False: nothing to do. */
static bool _pick(struct tbe *be, int t, uint64_t used, uint64_t size, struct walk *w)
{
    size_t n = tbe_log_segments(be, NULL, 0);
    if (n < 2)
        return false; /* the active segment alone is never reclaimed */
    struct tbe_log_seg *segs = malloc(n * sizeof(*segs));
    if (!segs)
        return false;
    n = tbe_log_segments(be, segs, n);
    bool found = false;
    if (used >= size) { /* over the mark (reclaim_step decides which) */
        /* only the oldest: with persistence, a record dropped from a younger segment would
         * let an older one of its key win at the next restart */
        if (!segs[0].active) {
            *w = (struct walk){.on = true, .seq = segs[0].seq};
            found = true;
        }
    } else {
        uint64_t bytes, live, files;
        tbe_log_usage(be, &bytes, &live, &files);
        if (bytes > live && bytes - live > files / 100 * DEAD_PCT) {
            double best = COMPACT_UNDER / 100.0;
            for (size_t i = 0; i < n; i++) {
                if (segs[i].active || segs[i].pinned || !segs[i].bytes)
                    continue;
                int64_t l = tix_seg_live(t, (uint32_t)segs[i].seq);
                double share = (double)(l > 0 ? l : 0) / (double)segs[i].bytes;
                if (share < best) {
                    best = share;
                    *w = (struct walk){.on = true, .compact = true, .seq = segs[i].seq};
                    found = true;
                }
            }
        }
    }
    free(segs);
    return found;
}

/* Persistence, compaction: a live record of a segment that is not the oldest leaves without
 * being copied (expired, or failing its checksum): a tombstone takes its place, so that a
 * restart does not find an older record of the key in an older segment. */
static int _bury(struct tbe *be, const struct vlog_entry *e, char *err, size_t errlen,
                 uint64_t *bytes, size_t *n)
{
    struct vlog_entry del = {.hash = e->hash, .kind = VLOG_DEL, .key = e->key, .klen = e->klen};
    if (tbe_log_append(be, &del, NULL, err, errlen) != 0)
        return -1;
    *bytes += vlog_record_size(e->klen, 0);
    ++*n;
    return 0;
}

/* A segment whose records were all handled goes, with persistence once what moved out of
 * it is durable. 0, or -1. */
static int _finish_walk(struct tbe *be, struct walk *w, char *err, size_t errlen)
{
    if (tbe_log_persisted(be) && tbe_log_sync(be, err, errlen) != 0)
        return -1;
    _walk_end(w);
    tbe_log_drop(be, w->seq);
    return 0;
}

/* One walk's step on segment w: at most *examine records looked at, *moves moved (both
 * counted down). 0, -1 (a write of the log failed), -2 (one of to failed). */
static int _walk_step(struct tiering *ctx, const struct shed_tier *from,
                      const struct shed_tier *to, struct walk *w, int *examine, int *moves,
                      bool wal, struct shed_result *r, char *err, size_t errlen)
{
    struct tbe *be = from->be;
    int t = from->id;
    struct pending *pend = malloc((size_t)*moves * sizeof(*pend));
    struct pending *down = malloc((size_t)*moves * sizeof(*down));
    struct tbe_batch *out = to ? tbe_batch_new(to->be) : NULL;
    size_t bufcap = 0, np = 0, nd = 0, np_dels = 0;
    uint8_t *buf = NULL;
    int rc = 0;
    bool done = false;
    uint64_t now = clock_wall_ms(), moved_bytes = 0;
    bool persist = tbe_log_persisted(be);
    if (!pend || !down || (to && !out)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    struct vlog_entry e;
    while (*examine > 0 && *moves > 0) {
        if (!vlog_footer_next(&w->f, &e)) {
            done = true;
            break;
        }
        --*examine;
        /* the index's hash of the key now (a record carries the one it was written with) */
        if (e.kind != VLOG_NSFLUSH && !tiering_key_hash(e.key, e.klen, &e.hash))
            e.hash = 0; /* no such namespace: nothing names it (a DEL is still copied) */
        if (e.kind == VLOG_DEL && w->compact) {
            /* persistence: a tombstone is kept while it is the key's newest state (nothing
             * LIVE: an older record of the key may be in an older segment), moved with its
             * segment's live records; the hand drops it with the oldest segment, where
             * nothing older is left for it to hide. An NSFLUSH is never moved (_pick). */
            struct tix_entry k = tix_get(e.hash);
            /* LIVE, or a change waits and the key's last record is a put: that put is newer
             * than this tombstone and hides what it hid (a put on the HDD tier came from the
             * oldest segment, where this tombstone then is too) */
            if (k.state == TIX_LIVE || tix_last_put(&k))
                continue;
            struct vlog_entry del = {.hash = e.hash, .kind = VLOG_DEL, .key = e.key,
                                     .klen = e.klen};
            if (tbe_log_append(be, &del, NULL, err, errlen) != 0) {
                rc = -1;
                break;
            }
            --*moves;
            moved_bytes += e.len;
            np_dels++;
            continue;
        }
        if (e.kind != VLOG_PUT)
            continue;
        struct tix_loc loc = {(uint32_t)w->seq, e.off};
        struct tix_entry x = w->compact ? tix_get(e.hash) : tix_pass_at(e.hash, (uint8_t)t, loc);
        bool last = false;
        if (x.state != TIX_LIVE || x.tier != t || !tix_loc_eq(x.loc, loc)) {
            /* dead: nothing names it. But with persistence, the last record on disk of a
             * key whose change waits (tix_last_is) is copied to the head like a live one
             * (nothing newer of the key is on disk, and the change, written later, is newer
             * than the copy): a crash before that change is written must find it */
            if (!persist || (e.expire_ms && e.expire_ms <= now))
                continue;
            struct tix_entry k = w->compact ? x : tix_get(e.hash);
            if (!tix_last_is(&k, loc))
                continue;
            last = true;
        } else if (e.expire_ms && e.expire_ms <= now) {
            if (w->compact && tbe_log_persisted(be) &&
                _bury(be, &e, err, errlen, &moved_bytes, &np_dels) != 0) {
                rc = -1;
                break;
            }
            if (tix_remove(e.hash, TIX_LIVE, x.seq))
                stat_incr(&ctx->stats.vlog_expired_dropped);
            continue;
        }
        bool keep = last || w->compact || x.ref;
        --*moves;
        if (!keep && !to) { /* cold, on the last tier: leaves the cache */
            if (tix_remove(e.hash, TIX_LIVE, x.seq)) {
                r->dropped++;
                continue;
            }
            /* changed since it was looked at: it may be the key's last record now */
            struct tix_entry k = tix_get(e.hash);
            if (!persist || !tix_last_is(&k, loc))
                continue;
            last = keep = true;
        }
        if (e.len > bufcap) {
            uint8_t *nb = realloc(buf, e.len);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            buf = nb;
            bufcap = e.len;
        }
        struct vlog_entry rec;
        int rr = tbe_log_read(be, loc.seg, loc.off, e.len, buf, w->compact, &rec, err, errlen);
        if (rr == -2) { /* never copied as good */
            stat_incr(&ctx->stats.checksum_errors);
            log_error("%s tier: %s; the key is no longer on disk", ctx->tiers[t].name, err);
            if (w->compact && tbe_log_persisted(be) &&
                _bury(be, &e, err, errlen, &moved_bytes, &np_dels) != 0) {
                rc = -1;
                break;
            }
            if (!last)
                tix_remove(e.hash, TIX_LIVE, x.seq);
            continue;
        }
        if (rr != 0) {
            if (rr == 1)
                snprintf(err, errlen, "value log segment %llu went while walked",
                         (unsigned long long)w->seq);
            rc = -1;
            break;
        }
        if (keep) {
            struct tbe_where at;
            if (tbe_log_append(be, &rec, &at, err, errlen) != 0) {
                rc = -1;
                break;
            }
            pend[np++] = (struct pending){e.hash, x.seq, loc, at, last};
            moved_bytes += e.len;
        } else {
            tbe_put(out, e.hash, rec.key, rec.klen, rec.val, rec.vlen, NULL);
            down[nd++] = (struct pending){.hash = e.hash, .seq = x.seq, .from = loc};
        }
    }
    /* the copies first, then the index names them */
    if ((np || np_dels) && rc == 0 && tbe_log_flush(be, err, errlen) != 0)
        rc = -1;
    if (rc == 0)
        for (size_t i = 0; i < np; i++) /* a key changed meanwhile: its last record moved */
            if (pend[i].last || !tix_move(pend[i].hash, pend[i].seq, (uint8_t)t, pend[i].from,
                                          pend[i].to.loc, pend[i].to.len))
                tix_last_move(pend[i].hash, pend[i].from, pend[i].to.loc);
    if (rc == 0 && nd) {
        if (tbe_commit(to->be, out, wal, false, err, errlen) != 0)
            rc = -2; /* the HDD tier's write failed */
        else
            for (size_t i = 0; i < nd; i++) {
                if (tix_relocate(down[i].hash, down[i].seq, to->id, TIX_NOLOC))
                    r->moved++;
                else /* changed meanwhile: its last record is on the HDD tier now */
                    tix_last_move(down[i].hash, down[i].from, TIX_NOLOC);
            }
    }
    if (rc == 0)
        tbe_log_moved(be, moved_bytes);
out:
    if (rc != 0) {
        _walk_end(w); /* the next step walks the segment again from its first record */
    } else if (done) {
        w->walked = true;
        rc = _finish_walk(be, w, err, errlen);
    }
    free(buf);
    free(pend);
    free(down);
    tbe_batch_free(out);
    return rc;
}

int reclaim_step(struct tiering *ctx, const struct shed_tier *from, const struct shed_tier *to,
                 uint64_t incoming, bool wal, struct shed_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct tbe *be = from->be;
    struct walk *w = &walks[from->id];
    if (restore_busy())
        return 0; /* the warm restart walks the segments */
    bool hurry = incoming != 0; /* a batch waits for room: try harder */
    int moves = hurry ? RECLAIM_MOVES * 4 : RECLAIM_MOVES;
    int examine = hurry ? RECLAIM_EXAMINE * 4 : RECLAIM_EXAMINE;
    while (examine > 0 && moves > 0) {
        uint64_t used = tbe_log_file_bytes(be) + incoming;
        if (w->on && !w->compact && used < from->size / 100 * LOW_PCT)
            _walk_end(w); /* under the low mark: the rest of the oldest segment may stay */
        if (!w->on) {
            /* a new walk: the hand while over the high mark (or, for a waiting batch, until
             * under the low one), else a compaction */
            uint64_t mark = hurry ? from->size / 100 * LOW_PCT : from->size / 100 * HIGH_PCT;
            if (!_pick(be, from->id, used > mark ? from->size : 0, from->size, w))
                return 0;
            int rc = tbe_log_footer(be, w->seq, &w->f, err, errlen);
            if (rc != 0) {
                /* gone, or its footer unreadable: its records become misses when read */
                if (rc < 0)
                    log_error("%s tier: value log segment %llu: %s; dropped",
                              ctx->tiers[from->id].name, (unsigned long long)w->seq, err);
                tbe_log_drop(be, w->seq);
                w->on = false;
                continue;
            }
        }
        if (w->walked) { /* its last sync failed: again */
            int rc = _finish_walk(be, w, err, errlen);
            if (rc != 0 || w->on)
                return rc;
            continue;
        }
        struct shed_result one = {0};
        int rc = _walk_step(ctx, from, to, w, &examine, &moves, wal, &one, err, errlen);
        r->moved += one.moved;
        r->dropped += one.dropped;
        if (rc != 0)
            return rc;
        if (w->on)
            return 0; /* the step's budget ran out inside the segment */
    }
    return 0;
}

void reclaim_teardown(void)
{
    for (int t = 0; t < TIX_TIERS; t++)
        _walk_end(&walks[t]);
}
