/* What replication asks of the disk tiers (tiering.h): the version of a key's disk copy when
 * a peer's change is compared with it, and the walk of what the tiers hold (a full sync
 * sends it, the receiver's sweep after one checks it). A step holds a tier's read lock
 * (the writer reopens a degraded tier under its write lock) and, on RocksDB, an iterator
 * that starts at the key after the last one visited, so no iterator lives between steps and
 * the writer is never kept waiting for more than one step. A value log has no key order: it
 * is walked in file order by its own cursor (tbe_log_walk), and a record is the key's only
 * when its index entry names exactly that place.
 *
 * Why nothing is missed while items move: the walks go memory, SSD, HDD, the way items flow
 * (demotion, the SSD tier's reclaim), so an item that moves on before a walk reaches it is
 * found further on, and one that moves after was visited already. A log's walk goes on to
 * the head as it is when the walk gets there, where the reclaim's copies and new demotions
 * go. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend_vlog.h"
#include "clock.h"
#include "diskval.h"
#include "index.h"
#include "log.h"
#include "tiering-internal.h"
#include "tiering.h"

struct tiering_scan {
    struct tiering *ctx;
    bool values;
    int tier;       /* the tier being walked; TIX_TIERS when done */
    bool started;   /* last holds the last key visited in this tier */
    size_t lastlen, lastcap;
    uint8_t *last;
    struct tbe_log_pos pos; /* a log tier's cursor */
};

struct tiering_scan *tiering_scan_new(bool values)
{
    struct tiering *ctx = tiering_ctx();
    struct tiering_scan *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ctx = ctx;
    s->values = values;
    s->tier = tiering_enabled() ? TIX_SSD : TIX_TIERS;
    return s;
}

void tiering_scan_free(struct tiering_scan *s)
{
    if (s) {
        free(s->last);
        tbe_log_pos_free(&s->pos);
    }
    free(s);
}

/* Which copy of k is current, given a record of it on tier `tier` (at loc on a log;
 * TIX_NOLOC on RocksDB, which holds one record per key): the record itself (its index entry
 * LIVE on that tier, at loc on a log, or on RocksDB no entry yet during a warm restart's
 * indexing), a write queued for the key (*qv: its value, a reference; on a log only for the
 * key's last record, so that its older ones do not send it again), or none (a stale copy
 * waiting for its delete, one on the other tier, one a change replaced). */
static bool _current(const struct store_key *k, int tier, struct tix_loc loc, uint64_t *seq,
                     struct tix_value **qv)
{
    bool log = !tix_loc_eq(loc, TIX_NOLOC);
    struct tix_entry e = tix_get(k->hash);
    *seq = e.seq;
    *qv = NULL;
    if (e.state == TIX_QUEUED) { /* evicted again since: what is on its way is the key's */
        if (log && !tix_last_is(&e, loc))
            return false;
        return (*qv = tix_queued_value(k->hash, seq)) != NULL;
    }
    if (e.state == TIX_LIVE)
        return e.tier == tier && (!log || tix_loc_eq(e.loc, loc));
    /* a warm restart still indexing: an entry not made yet means "unchanged since" (a log
     * is indexed before the server listens: no entry means dead) */
    return e.state == TIX_NONE && !log && restore_indexing();
}

/* Visit one record; false when it is not one to hand out. */
static bool _record(struct tiering_scan *s, const uint8_t *key, size_t klen, const uint8_t *val,
                    size_t vlen, struct tix_loc loc, uint64_t now, tiering_scan_fn fn,
                    void *arg)
{
    uint64_t sid;
    struct tiering_scan_rec r = {0};
    struct tix_value *qv;
    if (tiering_stream_record(key, klen, &sid) || !tiering_key_parse(key, klen, &r.key) ||
        !_current(&r.key, s->tier, loc, &r.seq, &qv))
        return false;
    struct diskval v;
    uint8_t *owned = NULL;
    bool ok = true;
    if (qv) {
        v = (struct diskval){.type = qv->type, .expire_ms = qv->expire_ms,
                             .version = qv->version, .data = qv->data, .len = qv->len,
                             .ctr = qv->ctr_len ? qv->data + qv->len : NULL,
                             .ctr_len = qv->ctr_len};
        ok = !v.expire_ms || v.expire_ms > now;
    } else if (!s->values) {
        ok = diskval_peek(val, vlen, &v) && (!v.expire_ms || v.expire_ms > now);
        v.data = NULL;
    } else {
        int rc = diskval_decode(val, vlen, now, &v, &owned);
        if (rc == DISKVAL_CORRUPT)
            stat_incr(&s->ctx->stats.checksum_errors);
        ok = rc == DISKVAL_OK;
    }
    if (ok) {
        r.type = v.type;
        r.stream = v.type == STORE_T_STREAM;
        r.value = r.stream || !s->values ? NULL : v.data;
        r.len = r.value ? v.len : 0;
        r.ctr = r.value ? v.ctr : NULL;
        r.ctr_len = r.ctr ? v.ctr_len : 0;
        r.expire_ms = v.expire_ms;
        r.version = v.version;
        fn(arg, &r);
    }
    free(owned);
    if (qv)
        tix_value_release(qv);
    return ok;
}

struct log_visit {
    struct tiering_scan *s;
    uint64_t now;
    tiering_scan_fn fn;
    void *arg;
};

static void _log_record(void *arg, const struct vlog_entry *e, struct tix_loc loc)
{
    struct log_visit *lv = arg;
    _record(lv->s, e->key, e->klen, e->val, e->vlen, loc, lv->now, lv->fn, lv->arg);
}

/* A step of a log tier's walk (its read lock held): false when the tier is done. */
static bool _log_step(struct tiering_scan *s, struct tier *t, unsigned max, unsigned *seen,
                      uint64_t now, tiering_scan_fn fn, void *arg)
{
    struct log_visit lv = {s, now, fn, arg};
    unsigned n = 0;
    char err[256];
    int rc = tbe_log_walk(t->be, &s->pos, max, _log_record, &lv, &n, err, sizeof(err));
    *seen += n + (rc == -1); /* a skipped segment counts as a record: a step stays bounded */
    if (rc < 0)
        log_warn("replication: walking the %s tier: %s", t->name, err);
    return rc == 1 || rc == -1;
}

bool tiering_scan_step(struct tiering_scan *s, unsigned max, tiering_scan_fn fn, void *arg)
{
    uint64_t now = clock_wall_ms();
    unsigned seen = 0;
    while (s->tier < TIX_TIERS && seen < max) {
        struct tier *t = &s->ctx->tiers[s->tier];
        pthread_rwlock_rdlock(&t->lock);
        if (t->be && tbe_is_log(t->be) && atomic_load(&s->ctx->active)) {
            bool more = _log_step(s, t, max - seen, &seen, now, fn, arg);
            pthread_rwlock_unlock(&t->lock);
            if (!more) {
                s->tier++;
                tbe_log_pos_free(&s->pos);
            }
            continue;
        }
        struct tbe_scan *it = NULL;
        if (t->be && atomic_load(&s->ctx->active))
            it = s->started ? tbe_scan_new(t->be, s->last, s->lastlen)
                            : tbe_scan_new(t->be, NULL, 0);
        const uint8_t *key, *val;
        size_t klen, vlen;
        bool more = false;
        while (it && seen < max && (more = tbe_scan_next(it, &key, &klen, &val, &vlen))) {
            if (s->started && klen == s->lastlen && memcmp(key, s->last, klen) == 0)
                continue; /* where the last step ended */
            if (klen > s->lastcap) {
                uint8_t *nl = realloc(s->last, klen);
                if (!nl) {
                    more = true; /* out of memory: this step ends here, the next retries */
                    seen = max;
                    break;
                }
                s->last = nl;
                s->lastcap = klen;
            }
            memcpy(s->last, key, klen);
            s->lastlen = klen;
            s->started = true;
            seen++; /* every record counts: a step stays bounded however many are skipped */
            _record(s, key, klen, val, vlen, TIX_NOLOC, now, fn, arg);
        }
        char err[160];
        if (it && !more && tbe_scan_status(it, err, sizeof(err)) != 0)
            log_warn("replication: walking the %s tier stopped: %s", t->name, err);
        tbe_scan_free(it);
        pthread_rwlock_unlock(&t->lock);
        if (!more) { /* this tier is done (or gone): the next */
            s->tier++;
            s->started = false;
            s->lastlen = 0;
        }
    }
    return s->tier < TIX_TIERS;
}

bool tiering_drop_older(const struct tiering_scan_rec *r, uint64_t stamp, uint64_t mark,
                        uint16_t mark_origin)
{
    struct tiering_expect x = {r->key.hash, r->seq};
    return store_drop_older_disk(&r->key, r->version, stamp, mark, mark_origin,
                                 tiering_expect_live, &x);
}

/* The record of k on the tier its LIVE index entry e names, read now (malloc'd into *raw):
 * true when there is one. */
static bool _disk_get(const struct store_key *k, const struct tix_entry *e, uint8_t **raw,
                      size_t *rlen)
{
    struct tiering *ctx = tiering_ctx();
    *raw = NULL;
    if (e->state != TIX_LIVE || e->tier >= TIX_TIERS)
        return false;
    const char *ns = store_ns_name(k->ns);
    size_t nslen = strlen(ns);
    uint8_t *key = malloc(1 + nslen + k->len);
    if (!key)
        return false;
    size_t klen = tierdb_key(key, ns, nslen, k->data, k->len);
    struct tier *t = &ctx->tiers[e->tier];
    char err[160];
    int rc = -1;
    pthread_rwlock_rdlock(&t->lock);
    if (t->be && atomic_load(&ctx->active))
        rc = tbe_get(t->be, key, klen, e->loc, e->dlen, raw, rlen, err, sizeof(err));
    pthread_rwlock_unlock(&t->lock);
    free(key);
    return rc == 0;
}

/* The version of the key's current disk copy (a queued write's from memory, else read from
 * the tier the index names); false when there is none. */
static bool _disk_version(const struct store_key *k, uint64_t *version, uint64_t *seq)
{
    struct tix_entry e = tix_get(k->hash);
    if (e.state == TIX_QUEUED) {
        struct tix_value *qv = tix_queued_value(k->hash, seq);
        if (!qv)
            return false;
        *version = qv->version;
        tix_value_release(qv);
        return true;
    }
    *seq = e.seq;
    uint8_t *raw;
    size_t rlen = 0;
    struct diskval v;
    bool found = _disk_get(k, &e, &raw, &rlen) && diskval_peek(raw, rlen, &v);
    if (found)
        *version = v.version;
    free(raw);
    return found;
}

/* A counter's change for a key only a disk tier holds: its disk copy, with its per-origin
 * state, back in memory first, where the change merges with it. */
static void _load_counter(const struct store_key *k)
{
    struct tix_entry e = tix_get(k->hash); /* a queued write: _load_queued_counter */
    uint8_t *raw, *owned = NULL;
    size_t rlen = 0;
    struct diskval v;
    if (_disk_get(k, &e, &raw, &rlen) &&
        diskval_decode(raw, rlen, clock_wall_ms(), &v, &owned) == DISKVAL_OK &&
        v.type != STORE_T_STREAM) {
        struct store_value sv = {.type = v.type, .data = v.data, .len = (uint32_t)v.len};
        struct tiering_expect x = {k->hash, e.seq};
        store_load(k, &sv, v.ctr, v.ctr_len, v.expire_ms, v.version, tiering_expect_live, &x);
    }
    free(owned);
    free(raw);
}

static void _load_queued_counter(const struct store_key *k)
{
    uint64_t seq;
    struct tix_value *qv = tix_queued_value(k->hash, &seq);
    if (!qv)
        return;
    if (qv->type != STORE_T_STREAM) {
        struct store_value sv = {.type = qv->type, .data = qv->data, .len = qv->len};
        struct tiering_expect x = {k->hash, seq};
        store_load(k, &sv, qv->ctr_len ? qv->data + qv->len : NULL, qv->ctr_len,
                   qv->expire_ms, qv->version, tiering_expect_live, &x);
    }
    tix_value_release(qv);
}

bool tiering_stream_load(const struct store_key *k)
{
    struct tix_entry e = tix_get(k->hash);
    uint8_t *raw, *owned = NULL;
    size_t rlen = 0;
    struct diskval v;
    struct tiering_result res = {.status = TIER_MISS};
    if (_disk_get(k, &e, &raw, &rlen) &&
        diskval_decode(raw, rlen, clock_wall_ms(), &v, &owned) == DISKVAL_OK &&
        v.type == STORE_T_STREAM)
        tiering_read_stream(tiering_ctx(), &res, v.data, v.len);
    bool loaded = false;
    if (res.status == TIER_FOUND) {
        struct tiering_expect x = {k->hash, e.seq};
        loaded = store_load_stream(k, res.sid, res.slen, res.data, (uint32_t)res.len,
                                   tiering_stream_disk_estimate(res.slen), &res.smeta,
                                   v.expire_ms, v.version, tiering_expect_live,
                                   &x) == STORE_OK;
    }
    free(res.data);
    free(owned);
    free(raw);
    return loaded;
}

enum store_status tiering_apply_remote(const struct store_key *k, struct store_remote *r)
{
    enum store_status rc = store_apply(k, r);
    if (rc != STORE_ON_DISK)
        return rc;
    if (r->ctr) {
        _load_counter(k);
        _load_queued_counter(k);
        r->disk_known = true; /* loaded, or not: in memory now, or as if nothing were on disk */
        rc = store_apply(k, r);
        r->disk_known = false;
        return rc;
    }
    struct tiering_expect x = {k->hash, 0};
    r->disk_known = true;
    r->still = _disk_version(k, &r->disk_version, &x.seq) ? tiering_expect_live : NULL;
    r->still_arg = &x;
    rc = store_apply(k, r);
    r->disk_known = false;
    r->still = NULL;
    r->still_arg = NULL;
    return rc;
}

void tiering_when_written(tiering_durable_fn fn, void *arg)
{
    tiering_when_durable(tiering_pushed(tiering_ctx()), fn, arg);
}
