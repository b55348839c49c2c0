/* The tier policy (tiering.h): options and stats, the job queues, the store's eviction and
 * mutation hooks, the writer thread (demotions, persisted changes and deletes in queue
 * order, in batches: one RocksDB write each, group commit) and setup. The readers are in
 * reader.c, streams' hooks in streams.c. */
#include "tiering.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "diskval.h"
#include "histogram.h"
#include "index.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"

struct tiering_options topts;
static struct option_desc opt_desc[] = OPTION_DESCRIBE(TIERING_OPTIONS);
struct tiering_stats tst;
static struct stat_desc st_desc[] = STAT_DESCRIBE(TIERING_STATS);

#define WRITE_BATCH 256 /* jobs per RocksDB write */
#define RECOVER_FREE (1u << 20) /* free bytes a faulty tier's disk needs before a reopen */

struct tier tiers[TIX_TIERS];
struct histogram read_hist[TIX_TIERS];

uint64_t tiering_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

const struct histogram *tiering_read_histogram(int i)
{
    return i >= 0 && i < TIX_TIERS && tiers[i].name ? &read_hist[i] : NULL;
}
#define first (tiers[TIX_SSD].db)
struct queue twq, trq;
static pthread_t writer;
static pthread_t *readers;
static unsigned nreaders;
static atomic_uint_fast64_t seq_counter;
atomic_bool tactive;
enum persist_mode pmode;
static uint64_t pushed;    /* jobs ever pushed to twq (under twq.lock): durability tickets */
static atomic_bool full_logged;

void tiering_options_register(void)
{
    option_bind(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), &topts);
    option_registry_add("tiering", opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]));
}

bool tiering_enabled(void) { return atomic_load(&tactive); }

bool tiering_tier_info(int i, struct tiering_tier_info *out)
{
    if (i < 0 || i >= TIX_TIERS || !tiers[i].name)
        return false;
    struct tier *t = &tiers[i];
    pthread_rwlock_rdlock(&t->lock);
    *out = (struct tiering_tier_info){
        .name = t->name, .path = option_get_s(t->path), .size = option_get_u(t->size),
        .used = tix_live_bytes(i), .disk = t->db ? tierdb_bytes(t->db) : 0, .items = tix_live(i),
        .health = !t->db ? "off" : atomic_load(&t->degraded) ? "degraded" : "ok"};
    pthread_rwlock_unlock(&t->lock);
    return true;
}

const char *tiering_tiers(void)
{
    if (!tiers[TIX_SSD].name)
        return "memory";
    if (tiers[TIX_HDD].name)
        return "memory,ssd,hdd";
    return strcmp(tiers[TIX_SSD].name, "ssd") == 0 ? "memory,ssd" : "memory,hdd";
}

static uint64_t _size(int i) { return option_get_u(tiers[i].size); }

uint64_t tiering_next_seq(void) { return atomic_fetch_add(&seq_counter, 1) + 1; }

void tiering_restore_progress(uint64_t indexed, uint64_t loaded, uint64_t ms)
{
    tst.restore_indexed = indexed;
    tst.restore_loaded = loaded;
    tst.restore_ms = ms;
}

const char *tiering_persist_mode(void)
{
    return pmode == PERSIST_SYNC ? "sync" : pmode == PERSIST_ASYNC ? "async" : "off";
}

uint64_t tiering_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- queues ---- */

static void _q_init(struct queue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
}

/* Append unless the queue holds `limit` jobs already (limit 0 = no limit). */
bool tq_push(struct queue *q, struct tjob *j, size_t limit)
{
    pthread_mutex_lock(&q->lock);
    if ((limit && q->n >= limit) || q->stop) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    j->next = NULL;
    j->t_ms = tiering_now_ms();
    if (q == &twq)
        pushed++;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return true;
}

/* Next job, or NULL once stopped and empty. */
struct tjob *tq_pop(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (!q->head && !q->stop)
        pthread_cond_wait(&q->cond, &q->lock);
    struct tjob *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
    }
    pthread_mutex_unlock(&q->lock);
    return j;
}

/* Up to max jobs into out, waiting at most timeout_ms (0 = no limit) for the first. Returns
 * the count, or -1 once stopped and empty. */
static int _q_pop_batch(struct queue *q, struct tjob **out, int max, uint64_t timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    if (!q->head && !q->stop) {
        if (timeout_ms) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(timeout_ms / 1000);
            ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        } else {
            while (!q->head && !q->stop)
                pthread_cond_wait(&q->cond, &q->lock);
        }
    }
    int n = 0;
    while (q->head && n < max) {
        struct tjob *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
        out[n++] = j;
    }
    bool done = n == 0 && q->stop;
    pthread_mutex_unlock(&q->lock);
    return done ? -1 : n;
}

static void _q_stop(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void tjob_free(struct tjob *j)
{
    if (!j)
        return;
    switch (j->kind) {
    case TJOB_PUT:
        tix_value_release(j->put.qv);
        break;
    case TJOB_CHUNK_PUT:
        if (j->chunk_put.crelease)
            j->chunk_put.crelease(j->chunk_put.carg);
        free(j->chunk_put.skey);
        break;
    default:
        break;
    }
    free(j->key);
    free(j);
}

struct tjob *tjob_new(enum tjob_kind kind, int ns, const void *key, size_t klen)
{
    struct tjob *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = kind;
    const char *name = ns >= 0 ? store_ns_name((uint16_t)ns) : "";
    size_t nlen = strlen(name);
    j->key = malloc(1 + nlen + klen);
    if (!j->key) {
        free(j);
        return NULL;
    }
    j->klen = tierdb_key(j->key, name, nlen, key, klen);
    return j;
}

bool tiering_key_parse(const uint8_t *key, size_t klen, struct store_key *out)
{
    if (klen < 2 || key[0] > 64 || klen <= 1u + key[0])
        return false;
    uint16_t ns;
    if (store_ns_id(key + 1, key[0], &ns) != STORE_OK)
        return false;
    store_key_init(out, ns, key + 1 + key[0], (uint32_t)(klen - 1 - key[0]));
    return true;
}

void tiering_disk_failed(int tier, const char *what, const char *err)
{
    struct tier *t = &tiers[tier];
    stat_incr(&tst.disk_errors);
    if (strcmp(what, "read") != 0)
        t->write_failed = true; /* only the writer thread writes */
    if (!atomic_exchange(&t->degraded, true)) /* once per incident */
        log_error("%s tier %s: %s: %s; marked degraded, serving from the other tiers", t->name,
                  option_get_s(t->path), what, err);
}

static void _disk_ok(int tier)
{
    struct tier *t = &tiers[tier];
    if (atomic_load(&t->degraded) && atomic_exchange(&t->degraded, false))
        log_info("%s tier %s: writes succeed again; healthy", t->name, option_get_s(t->path));
}

/* ---- the store's hooks (worker threads, under the key's shard lock: never block) ---- */

/* Queue a write of the value in m. Returns false when it could not be queued. */
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

/* The key changed (or was deleted): its disk copy, if any, is stale from now on; queue its
 * delete behind any write of the same key. Returns the index state the key had. */
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

/* ---- the writer ---- */

static uint8_t *wenc[WRITE_BATCH]; /* encodings of the batch's puts */
static uint32_t wlen[WRITE_BATCH];  /* their record sizes (tier key and encoding) */

static uint64_t batch_bytes; /* bytes of the puts prepared so far in this batch */
static bool _tier_full(uint64_t more)
{
    return tix_live_bytes(TIX_SSD) + stat_get(&tst.stream_disk_bytes) + batch_bytes + more >
           _size(TIX_SSD);
}

enum outcome {
    W_SKIP,    /* nothing to write (a demotion superseded by a change) */
    W_WRITE,   /* in the batch */
    W_DROP,    /* a demotion not written (tier full, no memory) */
    W_ERASE,   /* a persisted change not written: its key's older copy is deleted instead */
};

/* A delete on every tier (a change or a delete of the key). */
static void _delete_everywhere(const struct tjob *j)
{
    for (int t = 0; t < TIX_TIERS; t++)
        if (tiers[t].db)
            tierdb_batch_delete(tiers[t].batch, j->key, j->klen);
}

/* Encode value v of job j (a put or a chunk put) and add it to the first tier's batch b, as
 * the batch's i-th record. False (nothing added) when it does not fit in the tier (*full) or
 * memory ran out. */
static bool _put_value(const struct tjob *j, const struct diskval *v, int i,
                       struct tierdb_batch *b, bool *full)
{
    size_t elen;
    bool comp;
    struct diskval_opts o = {.zstd_level = (int)option_get_u(&topts.tier_compress_level),
                             .compress_threshold = option_get_u(&topts.tier_compress_threshold)};
    *full = _tier_full(j->klen + v->len / 2); /* zstd may halve it; checked below */
    if (*full || diskval_encode(v, &o, &wenc[i], &elen, &comp) != DISKVAL_OK ||
        (*full = _tier_full(j->klen + elen))) {
        free(wenc[i]);
        wenc[i] = NULL;
        return false;
    }
    tierdb_batch_put(b, j->key, j->klen, wenc[i], elen);
    wlen[i] = (uint32_t)(j->klen + elen);
    batch_bytes += wlen[i];
    stat_add(&tst.disk_value_bytes, v->len);
    stat_add(&tst.disk_stored_bytes, elen);
    return true;
}

/* Add job j (the batch's i-th) to the tiers' batches. */
static enum outcome _prepare(struct tjob *j, int i)
{
    wenc[i] = NULL;
    struct tierdb_batch *b = tiers[TIX_SSD].batch;
    switch (j->kind) {
    case TJOB_PUT: {
        /* a demotion superseded by a change needs no write; a persisted change is written
         * even then (a later change of the key follows it in the queue) */
        if (!j->persist && tix_get(j->hash).seq != j->seq)
            return W_SKIP;
        bool full;
        if (!_put_value(j, &j->put.v, i, b, &full)) {
            if (!j->persist)
                return W_DROP;
            tiering_persist_dropped(full ? "the disk tier is full" : "out of memory");
            _delete_everywhere(j); /* never leave an older copy behind */
            return W_ERASE;
        }
        if (j->put.hdd_stale)
            tierdb_batch_delete(tiers[TIX_HDD].batch, j->key, j->klen);
        return W_WRITE;
    }
    case TJOB_CHUNK_PUT: {
        bool full;
        const struct tjob_chunk_put *c = &j->chunk_put;
        if (!_put_value(j, &c->v, i, b, &full))
            return W_DROP; /* the chunk stays in memory; offered again at the next append */
        if (!c->tail && pmode != PERSIST_OFF) { /* whole now: the appends it holds can go */
            uint8_t df[TIERING_DELTA_KEY], dt[TIERING_DELTA_KEY];
            tiering_delta_key(df, c->sid, (uint64_t)c->idx * STORE_STREAM_CHUNK);
            tiering_delta_key(dt, c->sid, (uint64_t)(c->idx + 1) * STORE_STREAM_CHUNK);
            tierdb_batch_delete_range(b, df, sizeof(df), dt, sizeof(dt));
        }
        return W_WRITE;
    }
    case TJOB_CHUNK_DEL:
        tiering_stream_delete_records(NULL, b, j->chunk_del.sid, false);
        return W_WRITE;
    case TJOB_DEL:
        if (j->del.stream_head)
            tiering_stream_forget(j, b);
        _delete_everywhere(j);
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
        }
        for (int t = 0; t < TIX_TIERS; t++)
            if (tiers[t].db)
                tierdb_batch_delete_range(tiers[t].batch, start, slen, end, elen);
        return W_WRITE;
    }
    default:
        return W_SKIP;
    }
}

/* After the batch was written (ok) or not. */
static void _finish(struct tjob *j, int i, enum outcome w, bool ok)
{
    free(wenc[i]);
    wenc[i] = NULL;
    switch (j->kind) {
    case TJOB_PUT:
        if (w == W_WRITE && ok) {
            stat_incr(j->persist ? &tst.persist_writes : &tst.demotions);
            /* LIVE only if nothing changed meanwhile; else a later job for the key follows */
            tix_written(j->hash, j->seq, TIX_SSD, wlen[i], j->put.warm);
            return;
        }
        if (w == W_DROP || (w == W_WRITE && !ok))
            stat_incr(j->persist ? &tst.persist_dropped : &tst.demote_dropped);
        tix_remove(j->hash, TIX_QUEUED, j->seq);
        return;
    case TJOB_CHUNK_PUT: {
        const struct tjob_chunk_put *c = &j->chunk_put;
        bool written = w == W_WRITE && ok;
        stat_sub(&tst.stream_backlog_bytes, c->v.len);
        if (c->tail) { /* the last chunk stays in memory: only its record was rewritten */
            if (!written) { /* the head queued behind it must not name it */
                stat_incr(&tst.persist_dropped);
                tiering_stream_resync(c->sid);
                tiering_invalidate(c->sk.ns, c->sk.data, c->sk.len, c->sk.hash);
            }
            return;
        }
        if (written)
            stat_incr(&tst.stream_chunks_written);
        else
            stat_incr(&tst.stream_chunks_deferred);
        /* the store counts the record's bytes only when the stream still wants it; a stream
         * gone meanwhile has its delete queued behind this job */
        if (store_stream_spilled(&c->sk, c->sid, c->idx, written, wlen[i]))
            stat_add(&tst.stream_disk_bytes, wlen[i]);
        else if (!written && pmode != PERSIST_OFF)
            /* a head already queued may name this chunk: no stale head may outlive it */
            tiering_invalidate(c->sk.ns, c->sk.data, c->sk.len, c->sk.hash);
        return;
    }
    case TJOB_CHUNK_DEL:
        if (ok) { /* saturating: a restored stream's bytes are an estimate */
            uint64_t cur = stat_get(&tst.stream_disk_bytes);
            uint64_t cbytes = j->chunk_del.cbytes;
            stat_sub(&tst.stream_disk_bytes, cbytes < cur ? cbytes : cur);
        }
        return;
    case TJOB_DEL:
        if (ok) {
            stat_incr(&tst.disk_deletes);
            if (!restore_indexing()) /* a tombstone also keeps the restore from reviving it */
                tix_remove(j->hash, TIX_TOMB, j->seq);
        }
        return;
    default:
        return;
    }
}

/* Write every tier's batch, the first tier first (a crash in between leaves an older copy
 * on the HDD, which the index and a restart rank below the SSD's). */
static bool _write_batches(bool wal, bool sync, char *err, size_t errlen)
{
    bool ok = true;
    for (int t = 0; t < TIX_TIERS; t++) {
        struct tier *tr = &tiers[t];
        if (!tr->db || !tierdb_batch_count(tr->batch))
            continue;
        if (tierdb_batch_write(tr->db, tr->batch, wal, sync, err, errlen) == 0) {
            tr->write_failed = false;
            _disk_ok(t);
        } else {
            tiering_disk_failed(t, "write", err);
            ok = false;
        }
    }
    return ok;
}

/* Make room on tiers past 90% of their size (shed.c); incoming bytes are about to be
 * written to the first tier. */
static void _shed(bool wal, uint64_t incoming)
{
    char err[256];
    for (int t = 0; t < TIX_TIERS; t++) {
        if (!tiers[t].db || tiers[t].write_failed)
            continue;
        bool next = t == TIX_SSD && tiers[TIX_HDD].db && !tiers[TIX_HDD].write_failed;
        struct shed_tier from = {tiers[t].db, (uint8_t)t, _size(t)};
        struct shed_tier to = {tiers[TIX_HDD].db, TIX_HDD, next ? _size(TIX_HDD) : 0};
        struct shed_result r;
        uint64_t more = t == TIX_SSD ? incoming + stat_get(&tst.stream_disk_bytes) : 0;
        if (shed_step(&from, next ? &to : NULL, more, wal, false, &r,
                      err, sizeof(err)) != 0)
            tiering_disk_failed(next ? TIX_HDD : t, "moving cold keys", err);
        stat_add(&tst.hdd_demotions, r.moved);
        stat_add(&tst.tier_evictions, r.dropped);
    }
}

static void _gauges(void)
{
    tst.ssd_items = tix_live(TIX_SSD);
    tst.ssd_bytes = tix_live_bytes(TIX_SSD);
    tst.ssd_disk_bytes = first ? tierdb_bytes(first) : 0;
    if (tiers[TIX_HDD].db) {
        tst.hdd_items = tix_live(TIX_HDD);
        tst.hdd_bytes = tix_live_bytes(TIX_HDD);
        tst.hdd_disk_bytes = tierdb_bytes(tiers[TIX_HDD].db);
    }
    tst.ssd_index_bytes = tix_memory();
}

/* A tier whose writes fail (a full disk, a path turned read-only) stays degraded: RocksDB
 * refuses writes after such an error until it is reopened. Once a second, when the disk has
 * room again, reopen it (readers wait on the tier's lock meanwhile). */
static void _recover(void)
{
    uint64_t now = tiering_now_ms();
    for (int t = 0; t < TIX_TIERS; t++) {
        struct tier *tr = &tiers[t];
        if (!tr->db || !tr->write_failed || now < tr->next_probe_ms || restore_busy())
            continue;
        tr->next_probe_ms = now + 1000;
        const char *path = option_get_s(tr->path);
        struct statvfs vfs;
        if (statvfs(path, &vfs) != 0 || (uint64_t)vfs.f_bavail * vfs.f_frsize < RECOVER_FREE ||
            access(path, W_OK) != 0)
            continue; /* still full or read-only */
        char err[512];
        struct tierdb_opts o = {.path = path,
                                .write_rate_bytes = (int64_t)option_get_u(&topts.tier_write_rate),
                                .start_empty = false,
                                .now_ms = tiering_now_ms,
                                .expired = tiering_stream_head_gone};
        pthread_rwlock_wrlock(&tr->lock);
        tierdb_close(tr->db);
        tr->db = tierdb_open(&o, err, sizeof(err));
        pthread_rwlock_unlock(&tr->lock);
        if (!tr->db) {
            /* cannot happen short of a damaged directory: stay without the tier */
            log_error("%s tier %s: reopening after the fault failed: %s; the tier is off until "
                      "restart", tr->name, path, err);
            atomic_store(&tactive, false);
            continue;
        }
        tr->write_failed = false;
        log_info("%s tier %s: reopened after the fault; writes resume", tr->name, path);
        _disk_ok(t);
    }
}

static void *_writer_main(void *arg)
{
    (void)arg;
    struct tjob *jobs[WRITE_BATCH];
    bool wal = pmode != PERSIST_OFF, sync = pmode == PERSIST_SYNC;
    uint64_t sync_every = option_get_u(&topts.persist_sync_ms);
    uint64_t committed = 0, last_sync = tiering_now_ms();
    bool unsynced = false;
    char err[256];
    for (;;) {
        /* wake at least every 100 ms: shedding and the async fsync run between batches */
        uint64_t wait = pmode == PERSIST_ASYNC && sync_every < 100 ? sync_every : 100;
        int n = _q_pop_batch(&twq, jobs, WRITE_BATCH, wait ? wait : 1);
        if (n < 0)
            break;
        if (n > 0) {
            stat_sub(&tst.tier_queue_depth, (uint64_t)n);
            uint64_t incoming = 0;
            for (int i = 0; i < n; i++)
                if (jobs[i]->kind == TJOB_PUT)
                    incoming += jobs[i]->klen + jobs[i]->put.v.len;
                else if (jobs[i]->kind == TJOB_CHUNK_PUT)
                    incoming += jobs[i]->klen + jobs[i]->chunk_put.v.len;
            _shed(wal, incoming); /* room first, so the batch is not dropped */
            enum outcome w[WRITE_BATCH];
            batch_bytes = 0;
            for (int i = 0; i < n; i++)
                w[i] = _prepare(jobs[i], i);
            bool ok = _write_batches(wal, sync, err, sizeof(err));
            stat_incr(&tst.persist_batches);
            if (ok) {
                atomic_store(&full_logged, false);
                unsynced = unsynced || (wal && !sync);
            }
            tst.persist_lag_ms = tiering_now_ms() - jobs[n - 1]->t_ms;
            for (int i = 0; i < n; i++) {
                _finish(jobs[i], i, w[i], ok);
                tjob_free(jobs[i]);
            }
            committed += (uint64_t)n;
            durable_advance(committed, ok, ok ? NULL : err);
        }
        _recover();
        _shed(wal, 0);
        tiering_streams_reap();
        _gauges();
        if (unsynced && tiering_now_ms() - last_sync >= sync_every) {
            for (int t = 0; t < TIX_TIERS; t++)
                if (tiers[t].db && !tiers[t].write_failed &&
                    tierdb_sync_wal(tiers[t].db, err, sizeof(err)) != 0)
                    tiering_disk_failed(t, "fsync", err);
            unsynced = false;
            last_sync = tiering_now_ms();
        } else if (!unsynced) {
            last_sync = tiering_now_ms();
        }
    }
    for (int t = 0; unsynced && t < TIX_TIERS; t++)
        if (tiers[t].db && !tiers[t].write_failed &&
            tierdb_sync_wal(tiers[t].db, err, sizeof(err)) != 0)
            tiering_disk_failed(t, "fsync", err);
    return NULL;
}

uint64_t tiering_pushed(void)
{
    pthread_mutex_lock(&twq.lock);
    uint64_t t = pushed;
    pthread_mutex_unlock(&twq.lock);
    return t;
}

uint64_t tiering_durable_ticket(void)
{
    if (pmode != PERSIST_SYNC || !atomic_load(&tactive))
        return 0;
    pthread_mutex_lock(&twq.lock);
    uint64_t t = pushed;
    pthread_mutex_unlock(&twq.lock);
    return t;
}

/* ---- lifecycle ---- */

/* Open tier t on path; a tier without persistence starts empty. 0 or -1 (logged). */
static int _open_tier(int t, const char *name, struct option_value *path,
                      struct option_value *size)
{
    struct tier *tr = &tiers[t];
    pthread_rwlock_init(&tr->lock, NULL);
    tr->name = name;
    tr->path = path;
    tr->size = size;
    atomic_store(&tr->degraded, false);
    char err[512];
    struct tierdb_opts o = {.path = option_get_s(path),
                            .write_rate_bytes = (int64_t)option_get_u(&topts.tier_write_rate),
                            .start_empty = option_get_b(&topts.tier_start_empty),
                            .now_ms = tiering_now_ms,
                            .expired = tiering_stream_head_gone};
    tr->db = tierdb_open(&o, err, sizeof(err));
    if (!tr->db) {
        log_error("%s tier: %s", name, err);
        return -1;
    }
    /* Without persistence, what a previous run left there may be older than what was
     * written since (it was a cache): start from an empty tier. */
    if (pmode == PERSIST_OFF &&
        tierdb_delete_range(tr->db, "", 0, "\xff", 1, false, err, sizeof(err)) != 0) {
        log_error("%s tier: %s", name, err);
        return -1;
    }
    tr->batch = tierdb_batch_new();
    if (!tr->batch)
        return -1;
    log_info("%s tier at %s, up to %llu bytes of records", name, option_get_s(path),
             (unsigned long long)option_get_u(size));
    return 0;
}

int tiering_setup(void)
{
    const char *spath = option_get_s(&topts.ssd_path), *hpath = option_get_s(&topts.hdd_path);
    bool has_ssd = spath && *spath, has_hdd = hpath && *hpath;
    if (!has_ssd && !has_hdd) {
        if (strcmp(option_get_s(&topts.persist), "off") != 0) {
            log_error("persist needs a disk tier to write to: set ssd_path (or hdd_path)");
            return -1;
        }
        return 0; /* no tier stats either: STATS lists what exists */
    }
    stats_register(st_desc, STAT_COUNT(st_desc), &tst);
    uint64_t level = option_get_u(&topts.tier_compress_level);
    if (level < 1 || level > 19) {
        log_error("tier_compress_level must be 1..19, not %llu", (unsigned long long)level);
        return -1;
    }
    const char *pm = option_get_s(&topts.persist);
    if (strcmp(pm, "off") == 0)
        pmode = PERSIST_OFF;
    else if (strcmp(pm, "async") == 0)
        pmode = PERSIST_ASYNC;
    else if (strcmp(pm, "sync") == 0)
        pmode = PERSIST_SYNC;
    else {
        log_error("persist must be off, async or sync, not '%s'", pm);
        return -1;
    }
    if (has_ssd && has_hdd && strcmp(spath, hpath) == 0) {
        log_error("ssd_path and hdd_path must be different directories");
        return -1;
    }
    if (tix_setup() != 0)
        return -1;
    if (has_ssd ? _open_tier(TIX_SSD, "ssd", &topts.ssd_path, &topts.ssd_size)
                : _open_tier(TIX_SSD, "hdd", &topts.hdd_path, &topts.hdd_size))
        return -1;
    if (has_ssd && has_hdd && _open_tier(TIX_HDD, "hdd", &topts.hdd_path, &topts.hdd_size))
        return -1;
    durable_setup();
    _q_init(&twq);
    _q_init(&trq);
    nreaders = (unsigned)option_get_u(&topts.tier_io_threads);
    if (nreaders == 0)
        nreaders = 1;
    readers = calloc(nreaders, sizeof(*readers));
    if (!readers || pthread_create(&writer, NULL, _writer_main, NULL) != 0)
        return -1;
    for (unsigned i = 0; i < nreaders; i++)
        if (pthread_create(&readers[i], NULL, tiering_reader_main, NULL) != 0)
            return -1;
    static const struct store_miss_hooks hooks = {.on_disk = _on_disk_hook,
                                                  .forget = _on_del_miss};
    store_set_miss_hooks(&hooks);
    store_set_stream_hooks(tiering_stream_hooks());
    if (store_mutation_subscribe(_on_mutation, NULL) != 0)
        return -1;
    atomic_store(&tactive, true);
    log_info("tiers %s; persistence %s", tiering_tiers(), tiering_persist_mode());
    struct tierdb *dbs[TIX_TIERS] = {tiers[TIX_SSD].db, tiers[TIX_HDD].db};
    if (pmode != PERSIST_OFF && restore_start(dbs) != 0)
        return -1;
    return 0;
}

void tiering_teardown(void)
{
    if (!tiers[TIX_SSD].name)
        return;
    restore_stop();
    store_set_miss_hooks(NULL);
    store_set_stream_hooks(NULL);
    atomic_store(&tactive, false); /* the mutation subscriber ignores changes from now on */
    _q_stop(&trq);
    for (unsigned i = 0; i < nreaders; i++)
        pthread_join(readers[i], NULL);
    free(readers);
    readers = NULL;
    _q_stop(&twq);
    pthread_join(writer, NULL); /* after it wrote everything queued */
    durable_teardown();
    shed_teardown();
    for (int t = 0; t < TIX_TIERS; t++) {
        /* persisted tiers: memtables to files, so the next start replays no log */
        if (pmode != PERSIST_OFF && tiers[t].db && !tiers[t].write_failed)
            tierdb_flush(tiers[t].db);
        tierdb_batch_free(tiers[t].batch);
        tierdb_close(tiers[t].db);
        if (tiers[t].name)
            pthread_rwlock_destroy(&tiers[t].lock);
        tiers[t] = (struct tier){0};
    }
    tiering_streams_teardown(); /* compactions during the close may have added some */
    tix_teardown();
}
