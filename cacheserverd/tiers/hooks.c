/* The store's hooks into the tiers (tiering-internal.h): the mutation subscriber (demotion
 * of an eviction, persistence of a change, the delete of a stale disk copy, a FLUSH) and the
 * miss hooks. They run on worker threads under the key's shard lock: they never block, they
 * queue jobs for the writer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskval.h"
#include "index.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"
#include "tiering.h"

bool tiering_queue_put(struct tiering *ctx, const struct mutation *m, uint64_t hash,
                       bool persist, bool warm, size_t limit)
{
    struct tjob *j = tjob_new(TJOB_PUT, m->ns, m->key, m->klen);
    struct tix_value *qv = j ? tix_value_new(m->type, m->expire_ms, m->version, m->value,
                                             (uint32_t)m->vlen, m->ctr, m->ctr_len)
                             : NULL;
    if (!qv) {
        tjob_free(j);
        return false;
    }
    /* the copy for the disk is checked against the item's checksum: a value broken in
     * memory never gets a fresh checksum on disk (a stream's head is no item's value) */
    if (m->type != STORE_T_STREAM &&
        store_value_crc(m->key, m->klen, qv->data, (uint32_t)m->vlen,
                        qv->ctr_len ? qv->data + qv->len : NULL, qv->ctr_len,
                        m->type) != m->crc) {
        store_corrupt_found("a write to a disk tier");
        tix_value_release(qv);
        tjob_free(j);
        return false;
    }
    j->put.qv = qv;
    j->put.v = (struct diskval){.type = m->type, .expire_ms = m->expire_ms,
                                .version = m->version, .hlc = m->hlc, .data = qv->data,
                                .len = m->vlen, .ctr = qv->ctr_len ? qv->data + qv->len : NULL,
                                .ctr_len = qv->ctr_len};
    j->hash = hash;
    j->persist = persist;
    j->put.warm = warm;
    j->seq = tiering_next_seq(ctx);
    __atomic_add_fetch(&qv->refs, 1, __ATOMIC_RELAXED); /* one for the index entry */
    struct tix_entry before = tix_set_queued(hash, (uint16_t)m->ns, j->seq, qv);
    j->put.hdd_stale = ctx->tiers[TIX_HDD].be &&
                       ((before.state == TIX_LIVE && before.tier == TIX_HDD) || restore_indexing());
    if (!tiering_push_write(ctx, j, limit)) {
        /* back to what it was: the queued job of `before`, if any, still comes */
        if (before.state == TIX_NONE)
            tix_remove(hash, TIX_QUEUED, j->seq);
        else
            tix_restore(hash, &before);
        tjob_free(j);
        return false;
    }
    return true;
}

/* MUT_EVICT: demote the evicted item's value to the first disk tier. */
static void _demote(struct tiering *ctx, const struct mutation *m)
{
    if (!m->value || m->type == STORE_T_STREAM)
        return; /* streams stay in memory */
    /* The disk holds this very value, or will: persistence wrote it, or it was loaded from
     * there and not changed since (a change replaces the entry with a tombstone). Read in
     * memory, it is warm for the CLOCK. */
    enum tix_state s = tix_state_warm(m->hash, m->ever_read);
    if (s == TIX_LIVE || s == TIX_QUEUED)
        return;
    if (!m->ever_read && !option_get_b(&ctx->opts.demote_unread)) {
        stat_incr(&ctx->stats.demote_skipped);
        return;
    }
    if (!tiering_queue_put(ctx, m, m->hash, false, m->ever_read,
                           option_get_u(&ctx->opts.tier_queue)))
        stat_incr(&ctx->stats.demote_dropped);
}

enum tix_state tiering_invalidate(struct tiering *ctx, uint16_t ns, const void *key, uint32_t klen,
                                  uint64_t hash)
{
    uint64_t seq = tiering_next_seq(ctx);
    /* while a warm restart indexes, the disk may hold a copy the index does not know yet */
    bool indexing = restore_indexing();
    bool stream;
    struct tix_entry before;
    enum tix_state was = tix_tomb(hash, ns, seq, indexing, &stream, &before);
    if (was == TIX_NONE && !indexing)
        return was; /* never on disk: nothing to delete (the common case) */
    /* The stale copy is never read again (the entry is a tombstone); the delete may wait. */
    struct tjob *j = tjob_new(TJOB_DEL, ns, key, klen);
    if (!j)
        return was; /* the tombstone stays: still never read */
    j->hash = hash;
    j->seq = seq;
    j->persist = ctx->pmode != PERSIST_OFF;
    j->del.stream_head = stream && (was == TIX_LIVE || was == TIX_QUEUED);
    if (was == TIX_LIVE) {
        j->del.tier = before.tier;
        j->del.loc = before.loc;
        j->del.dlen = before.dlen;
    }
    /* deletes are never dropped (no limit): they keep the disk consistent */
    if (!tiering_push_write(ctx, j, 0))
        tjob_free(j);
    return was;
}

/* The store's forget hook: DEL of a key memory does not hold. True when a disk tier had it. */
static bool _on_del_miss(void *arg, const struct store_key *k)
{
    struct tiering *ctx = arg;
    if (!atomic_load(&ctx->active))
        return false;
    enum tix_state was = tiering_invalidate(ctx, k->ns, k->data, k->len, k->hash);
    return was == TIX_LIVE || was == TIX_QUEUED;
}

static bool _on_disk_hook(void *arg, const struct store_key *k)
{
    return tiering_may_hold(arg, k->hash);
}

void tiering_persist_dropped(struct tiering *ctx, const char *why)
{
    stat_incr(&ctx->stats.persist_dropped);
    if (!atomic_exchange(&ctx->drop_logged, true))
        log_error("persistence: a change was not written to disk (%s); its older disk copy is "
                  "deleted. Logged once until writes succeed again.", why);
}

/* The mutation subscriber: every change of the store, in apply order per key. */
static void _on_mutation(void *arg, const struct mutation *m)
{
    struct tiering *ctx = arg;
    if (!atomic_load(&ctx->active))
        return;
    switch (m->op) {
    case MUT_EVICT:
        _demote(ctx, m);
        return;
    case MUT_EXPIRE: /* the disk copy carries the same expiry */
        return;
    case MUT_DEL:
        if (!m->version)
            return; /* memory held nothing: the del-miss hook (forget) already dropped it */
        break;
    case MUT_FLUSH: {
        struct tix_entry *heads = NULL;
        size_t nheads = 0;
        tix_drop_ns(m->ns, &heads, &nheads);
        restore_note_flush(m->ns);
        struct tjob *j = tjob_new(TJOB_DEL_NS, m->ns, "", 0);
        if (j) {
            j->del_ns.all = m->ns < 0;
            j->persist = ctx->pmode != PERSIST_OFF;
            j->del_ns.heads = heads; /* their chunks go too (tiering_streams_flush_ns) */
            j->del_ns.nheads = nheads;
            heads = NULL;
        }
        free(heads);
        if (!j || !tiering_push_write(ctx, j, 0))
            tjob_free(j);
        return;
    }
    case MUT_LOAD:
        /* A stream read back: its records on disk may go on past its head (streams.c) */
        if (ctx->pmode != PERSIST_OFF && m->stream)
            tiering_stream_loaded(m->stream->sid);
        /* The disk copy is the same value: keep it, so that evicting the item again writes
         * nothing (_demote). Deleting it, as a load once did without persistence, made each
         * promotion a delete now and a compressed rewrite at its eviction: under a uniform
         * load over 5x memory, that churn was most of the tier writer's and RocksDB's work
         * (issue 16, docs/performance.md). */
        return;
    default:
        break;
    }
    /* sync: the writer keeps up with the connections (each waits for its write); async:
     * replies wait once persist_queue writes are queued (tiering_backpressure_ticket), so
     * the queue passes it only by what is in flight; a write is dropped (counted) only
     * beyond PERSIST_QUEUE_HARD times it, a bound on memory */
    size_t limit = ctx->pmode == PERSIST_SYNC
                       ? 0
                       : option_get_u(&ctx->opts.persist_queue) * PERSIST_QUEUE_HARD;
    if (ctx->pmode != PERSIST_OFF && (m->op == MUT_SET || m->op == MUT_TOUCH) && m->value &&
        m->type != STORE_T_STREAM) {
        if (tiering_queue_put(ctx, m, m->hash, true, false, limit))
            return;
        tiering_persist_dropped(ctx, "the persistence queue is full");
    } else if (ctx->pmode != PERSIST_OFF && m->stream &&
               (m->op == MUT_SET || m->op == MUT_APPEND || m->op == MUT_TOUCH)) {
        if (tiering_persist_stream(ctx, m, m->hash, limit))
            return;
    }
    tiering_invalidate(ctx, (uint16_t)m->ns, m->key, m->klen, m->hash);
}

void tiering_hooks_install(struct tiering *ctx)
{
    /* the store keeps a copy of each */
    struct store_miss_hooks hooks = {.on_disk = _on_disk_hook, .forget = _on_del_miss,
                                     .arg = ctx};
    store_set_miss_hooks(&hooks);
    struct store_stream_hooks sh = tiering_stream_hooks(ctx);
    store_set_stream_hooks(&sh);
}

int tiering_mutations_subscribe(struct tiering *ctx)
{
    return store_mutation_subscribe(_on_mutation, ctx);
}

void tiering_hooks_remove(void)
{
    store_set_miss_hooks(NULL);
    store_set_stream_hooks(NULL);
}
