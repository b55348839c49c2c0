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

static atomic_bool full_logged; /* tiering_persist_dropped logged since writes last succeeded */

bool tiering_queue_put(const struct mutation *m, uint64_t hash, bool persist, bool warm,
                       size_t limit)
{
    struct tjob *j = tjob_new(TJOB_PUT, m->ns, m->key, m->klen);
    struct tix_value *qv = j ? tix_value_new(m->type, m->expire_ms, m->version, m->value,
                                             (uint32_t)m->vlen)
                             : NULL;
    if (!qv) {
        tjob_free(j);
        return false;
    }
    j->put.qv = qv;
    j->put.v = (struct diskval){.type = m->type, .expire_ms = m->expire_ms, .version = m->version,
                            .hlc = m->hlc, .data = qv->data, .len = m->vlen};
    j->hash = hash;
    j->persist = persist;
    j->put.warm = warm;
    j->seq = tiering_next_seq();
    __atomic_add_fetch(&qv->refs, 1, __ATOMIC_RELAXED); /* one for the index entry */
    struct tix_entry before = tix_set_queued(hash, (uint16_t)m->ns, j->seq, qv);
    j->put.hdd_stale = tiers[TIX_HDD].db &&
                   ((before.state == TIX_LIVE && before.tier == TIX_HDD) || restore_indexing());
    if (!tq_push(&twq, j, limit)) {
        /* back to what it was: the queued job of `before`, if any, still comes */
        if (before.state == TIX_NONE)
            tix_remove(hash, TIX_QUEUED, j->seq);
        else
            tix_restore(hash, &before);
        tjob_free(j);
        return false;
    }
    stat_incr(&tst.tier_queue_depth);
    return true;
}

/* MUT_EVICT: demote the evicted item's value to the first disk tier. */
static void _demote(const struct mutation *m)
{
    if (!m->value || m->type == STORE_T_STREAM)
        return; /* streams stay in memory */
    if (pmode != PERSIST_OFF) {
        /* persistence has written it, or will; read in memory, it is warm for the CLOCK */
        enum tix_state s = tix_state_warm(m->hash, m->ever_read);
        if (s == TIX_LIVE || s == TIX_QUEUED)
            return;
    }
    if (!m->ever_read && !option_get_b(&topts.demote_unread)) {
        stat_incr(&tst.demote_skipped);
        return;
    }
    if (!tiering_queue_put(m, m->hash, false, m->ever_read, option_get_u(&topts.tier_queue)))
        stat_incr(&tst.demote_dropped);
}

enum tix_state tiering_invalidate(uint16_t ns, const void *key, uint32_t klen, uint64_t hash)
{
    uint64_t seq = tiering_next_seq();
    /* while a warm restart indexes, the disk may hold a copy the index does not know yet */
    bool indexing = restore_indexing();
    bool stream;
    enum tix_state was = tix_tomb(hash, ns, seq, indexing, &stream);
    if (was == TIX_NONE && !indexing)
        return was; /* never on disk: nothing to delete (the common case) */
    /* The stale copy is never read again (the entry is a tombstone); the delete may wait. */
    struct tjob *j = tjob_new(TJOB_DEL, ns, key, klen);
    if (!j)
        return was; /* the tombstone stays: still never read */
    j->hash = hash;
    j->seq = seq;
    j->persist = pmode != PERSIST_OFF;
    j->del.stream_head = stream && (was == TIX_LIVE || was == TIX_QUEUED);
    if (tq_push(&twq, j, 0)) /* deletes are never dropped: they keep the disk consistent */
        stat_incr(&tst.tier_queue_depth);
    else
        tjob_free(j);
    return was;
}

static bool _on_del_miss(void *arg, const struct store_key *k)
{
    (void)arg;
    if (!atomic_load(&tactive))
        return false;
    enum tix_state was = tiering_invalidate(k->ns, k->data, k->len, k->hash);
    return was == TIX_LIVE || was == TIX_QUEUED;
}

static bool _on_disk_hook(void *arg, const struct store_key *k)
{
    (void)arg;
    return tiering_on_disk(k->hash);
}

void tiering_persist_dropped(const char *why)
{
    stat_incr(&tst.persist_dropped);
    if (!atomic_exchange(&full_logged, true))
        log_error("persistence: a change was not written to disk (%s); its older disk copy is "
                  "deleted. Logged once until writes succeed again.", why);
}

static void _on_mutation(void *arg, const struct mutation *m)
{
    (void)arg;
    if (!atomic_load(&tactive))
        return;
    switch (m->op) {
    case MUT_EVICT:
        _demote(m);
        return;
    case MUT_EXPIRE: /* the disk copy carries the same expiry */
        return;
    case MUT_FLUSH: {
        tix_drop_ns(m->ns);
        restore_note_flush(m->ns);
        struct tjob *j = tjob_new(TJOB_DEL_NS, m->ns, "", 0);
        if (j) {
            j->del_ns.all = m->ns < 0;
            j->persist = pmode != PERSIST_OFF;
        }
        if (j && tq_push(&twq, j, 0))
            stat_incr(&tst.tier_queue_depth);
        else
            tjob_free(j);
        return;
    }
    case MUT_LOAD:
        if (pmode != PERSIST_OFF)
            return; /* the disk copy is the same value: keep it */
        break;      /* memory owns it again; it is demoted anew when evicted */
    default:
        break;
    }
    /* sync: the writer keeps up with the connections (each waits for its write) */
    size_t limit = pmode == PERSIST_SYNC ? 0 : option_get_u(&topts.persist_queue);
    if (pmode != PERSIST_OFF && (m->op == MUT_SET || m->op == MUT_TOUCH) && m->value &&
        m->type != STORE_T_STREAM) {
        if (tiering_queue_put(m, m->hash, true, false, limit))
            return;
        tiering_persist_dropped("the persistence queue is full");
    } else if (pmode != PERSIST_OFF && m->stream &&
               (m->op == MUT_SET || m->op == MUT_APPEND || m->op == MUT_TOUCH)) {
        if (tiering_persist_stream(m, m->hash, limit))
            return;
    }
    tiering_invalidate((uint16_t)m->ns, m->key, m->klen, m->hash);
}

void tiering_persist_resumed(void) { atomic_store(&full_logged, false); }

void tiering_hooks_install(void)
{
    static const struct store_miss_hooks hooks = {.on_disk = _on_disk_hook,
                                                  .forget = _on_del_miss};
    store_set_miss_hooks(&hooks);
    store_set_stream_hooks(tiering_stream_hooks());
}

int tiering_mutations_subscribe(void) { return store_mutation_subscribe(_on_mutation, NULL); }

void tiering_hooks_remove(void)
{
    store_set_miss_hooks(NULL);
    store_set_stream_hooks(NULL);
}
