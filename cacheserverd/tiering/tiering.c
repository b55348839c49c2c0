/* The tier policy and its threads (tiering.h): one writer thread applies demotions,
 * persisted changes and deletes in queue order, in batches (one RocksDB write each: group
 * commit); tier_io_threads readers serve disk reads. */
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

OPTION_STRUCT(tiering, TIERING_OPTIONS);
STAT_STRUCT(tiering, TIERING_STATS);
static struct tiering_options opts;
static struct option_desc opt_desc[] = OPTION_DESCRIBE(TIERING_OPTIONS);
static struct tiering_stats st;
static struct stat_desc st_desc[] = STAT_DESCRIBE(TIERING_STATS);

#define WRITE_BATCH 256 /* jobs per RocksDB write */
#define RECOVER_FREE (1u << 20) /* free bytes a faulty tier's disk needs before a reopen */

enum job_kind { JOB_PUT, JOB_DEL, JOB_DEL_NS, JOB_READ, JOB_CHUNK_PUT, JOB_CHUNK_DEL, JOB_CHUNK_READ };

struct job {
    struct job *next;
    enum job_kind kind;
    uint64_t hash, seq;
    uint8_t *key; /* tier key (tierdb_key), malloc'd */
    size_t klen;
    struct diskval v;    /* JOB_PUT: v.data points into qv */
    struct tix_value *qv; /* JOB_PUT: the value (shared with the index entry) */
    tiering_done_fn done; /* JOB_READ */
    void *arg;
    bool all;             /* JOB_DEL_NS: every namespace */
    bool persist;         /* a change persistence must keep (never skipped as superseded) */
    bool hdd_stale;       /* JOB_PUT: the HDD tier may hold an older copy: delete it */
    bool warm;            /* JOB_PUT: read in memory before it was evicted */
    uint8_t tier;         /* JOB_READ: the tier the index names */
    uint64_t t_us;        /* JOB_READ: when it was queued (monotonic) */
    uint64_t t_ms;        /* when it was queued (persistence lag) */
    /* a stream's chunk (JOB_CHUNK_PUT: v.data is the chunk; JOB_CHUNK_DEL: all of sid's) */
    uint64_t sid;
    uint32_t idx;
    struct store_key sk;  /* the stream's key (sk.data is skey) */
    uint8_t *skey;
    void (*crelease)(void *); /* gives the chunk back to the store */
    void *carg;
    uint64_t cbytes;          /* JOB_CHUNK_DEL: bytes its records took */
    bool tail;                /* JOB_CHUNK_PUT: a stream's last chunk, written by persistence
                               * (it stays in memory; the record is rewritten as it grows) */
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t n;
    bool stop;
};

/* The disk tiers: [TIX_SSD] is the first configured one (the SSD, or the HDD when it is the
 * only one), [TIX_HDD] the HDD behind an SSD (NULL db otherwise). */
struct tier {
    const char *name; /* "ssd" or "hdd" */
    struct tierdb *db;
    struct option_value *path, *size;
    atomic_bool degraded;
    struct tierdb_batch *batch;
    pthread_rwlock_t lock; /* readers hold it to use db; the writer reopens under it */
    bool write_failed;     /* writer thread: no WAL sync until a write succeeds again */
    uint64_t next_probe_ms; /* writer thread: when to try reopening a degraded tier */
};
static struct tier tiers[TIX_TIERS];
static struct histogram read_hist[TIX_TIERS];

static uint64_t _mono_us(void)
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
static struct queue wq, rq; /* writer, readers */
static pthread_t writer;
static pthread_t *readers;
static unsigned nreaders;
static atomic_uint_fast64_t seq_counter;
static atomic_bool active; /* hooks and reads are on (between setup and teardown) */
static enum persist_mode pmode;
static uint64_t pushed;    /* jobs ever pushed to wq (under wq.lock): durability tickets */
static atomic_bool full_logged;

void tiering_options_register(void)
{
    option_bind(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), &opts);
    option_registry_add("tiering", opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]));
}

bool tiering_enabled(void) { return atomic_load(&active); }

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
    st.restore_indexed = indexed;
    st.restore_loaded = loaded;
    st.restore_ms = ms;
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
static bool _q_push(struct queue *q, struct job *j, size_t limit)
{
    pthread_mutex_lock(&q->lock);
    if ((limit && q->n >= limit) || q->stop) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    j->next = NULL;
    j->t_ms = tiering_now_ms();
    if (q == &wq)
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
static struct job *_q_pop(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (!q->head && !q->stop)
        pthread_cond_wait(&q->cond, &q->lock);
    struct job *j = q->head;
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
static int _q_pop_batch(struct queue *q, struct job **out, int max, uint64_t timeout_ms)
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
        struct job *j = q->head;
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

static void _job_free(struct job *j)
{
    if (!j)
        return;
    if (j->crelease)
        j->crelease(j->carg);
    free(j->skey);
    free(j->key);
    tix_value_release(j->qv);
    free(j);
}

static struct job *_job_new(enum job_kind kind, int ns, const void *key, size_t klen)
{
    struct job *j = calloc(1, sizeof(*j));
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

static void _disk_failed(int tier, const char *what, const char *err)
{
    struct tier *t = &tiers[tier];
    stat_incr(&st.disk_errors);
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
static bool _queue_put(const struct mutation *m, uint64_t hash, bool persist, bool warm,
                       size_t limit)
{
    struct job *j = _job_new(JOB_PUT, m->ns, m->key, m->klen);
    struct tix_value *qv = j ? tix_value_new(m->type, m->expire_ms, m->version, m->value,
                                             (uint32_t)m->vlen)
                             : NULL;
    if (!qv) {
        _job_free(j);
        return false;
    }
    j->qv = qv;
    j->v = (struct diskval){.type = m->type, .expire_ms = m->expire_ms, .version = m->version,
                            .hlc = m->hlc, .data = qv->data, .len = m->vlen};
    j->hash = hash;
    j->persist = persist;
    j->warm = warm;
    j->seq = tiering_next_seq();
    __atomic_add_fetch(&qv->refs, 1, __ATOMIC_RELAXED); /* one for the index entry */
    struct tix_entry before = tix_set_queued(hash, (uint16_t)m->ns, j->seq, qv);
    j->hdd_stale = tiers[TIX_HDD].db &&
                   ((before.state == TIX_LIVE && before.tier == TIX_HDD) || restore_indexing());
    if (!_q_push(&wq, j, limit)) {
        /* back to what it was: the queued job of `before`, if any, still comes */
        if (before.state == TIX_NONE)
            tix_remove(hash, TIX_QUEUED, j->seq);
        else
            tix_restore(hash, &before);
        _job_free(j);
        return false;
    }
    stat_incr(&st.tier_queue_depth);
    return true;
}

static void _on_demote(void *arg, const struct mutation *m, bool ever_read)
{
    (void)arg;
    if (!m->value || m->type == STORE_T_STREAM)
        return; /* streams stay in memory */
    struct store_key k;
    store_key_init(&k, (uint16_t)m->ns, m->key, m->klen);
    if (pmode != PERSIST_OFF) {
        /* persistence has written it, or will; read in memory, it is warm for the CLOCK */
        enum tix_state s = tix_state_warm(k.hash, ever_read);
        if (s == TIX_LIVE || s == TIX_QUEUED)
            return;
    }
    if (!ever_read && !option_get_b(&opts.demote_unread)) {
        stat_incr(&st.demote_skipped);
        return;
    }
    if (!_queue_put(m, k.hash, false, ever_read, option_get_u(&opts.tier_queue)))
        stat_incr(&st.demote_dropped);
}

/* The key changed (or was deleted): its disk copy, if any, is stale from now on; queue its
 * delete behind any write of the same key. Returns the index state the key had. */
static enum tix_state _invalidate(uint16_t ns, const void *key, uint32_t klen, uint64_t hash)
{
    uint64_t seq = tiering_next_seq();
    /* while a warm restart indexes, the disk may hold a copy the index does not know yet */
    bool indexing = restore_indexing();
    enum tix_state was = tix_tomb(hash, ns, seq, indexing);
    if (was == TIX_NONE && !indexing)
        return was; /* never on disk: nothing to delete (the common case) */
    /* The stale copy is never read again (the entry is a tombstone); the delete may wait. */
    struct job *j = _job_new(JOB_DEL, ns, key, klen);
    if (!j)
        return was; /* the tombstone stays: still never read */
    j->hash = hash;
    j->seq = seq;
    j->persist = pmode != PERSIST_OFF;
    if (_q_push(&wq, j, 0)) /* deletes are never dropped: they keep the disk consistent */
        stat_incr(&st.tier_queue_depth);
    else
        _job_free(j);
    return was;
}

static bool _on_del_miss(void *arg, const struct store_key *k)
{
    (void)arg;
    if (!atomic_load(&active))
        return false;
    enum tix_state was = _invalidate(k->ns, k->data, k->len, k->hash);
    return was == TIX_LIVE || was == TIX_QUEUED;
}

static bool _on_disk_hook(void *arg, const struct store_key *k)
{
    (void)arg;
    return tiering_on_disk(k->hash);
}

static void _persist_dropped(const char *why)
{
    stat_incr(&st.persist_dropped);
    if (!atomic_exchange(&full_logged, true))
        log_error("persistence: a change was not written to disk (%s); its older disk copy is "
                  "deleted. Logged once until writes succeed again.", why);
}

static bool _persist_stream(const struct mutation *m, uint64_t hash, size_t limit);

static void _on_mutation(void *arg, const struct mutation *m)
{
    (void)arg;
    if (!atomic_load(&active))
        return;
    switch (m->op) {
    case MUT_EVICT:  /* the demote hook's */
    case MUT_EXPIRE: /* the disk copy carries the same expiry */
        return;
    case MUT_FLUSH: {
        tix_drop_ns(m->ns);
        restore_note_flush(m->ns);
        struct job *j = _job_new(JOB_DEL_NS, m->ns, "", 0);
        if (j) {
            j->all = m->ns < 0;
            j->persist = pmode != PERSIST_OFF;
        }
        if (j && _q_push(&wq, j, 0))
            stat_incr(&st.tier_queue_depth);
        else
            _job_free(j);
        return;
    }
    case MUT_LOAD:
        if (pmode != PERSIST_OFF)
            return; /* the disk copy is the same value: keep it */
        break;      /* memory owns it again; it is demoted anew when evicted */
    default:
        break;
    }
    struct store_key k;
    store_key_init(&k, (uint16_t)m->ns, m->key, m->klen);
    /* sync: the writer keeps up with the connections (each waits for its write) */
    size_t limit = pmode == PERSIST_SYNC ? 0 : option_get_u(&opts.persist_queue);
    if (pmode != PERSIST_OFF && (m->op == MUT_SET || m->op == MUT_TOUCH) && m->value &&
        m->type != STORE_T_STREAM) {
        if (_queue_put(m, k.hash, true, false, limit))
            return;
        _persist_dropped("the persistence queue is full");
    } else if (pmode != PERSIST_OFF && m->stream &&
               (m->op == MUT_SET || m->op == MUT_APPEND || m->op == MUT_TOUCH)) {
        if (_persist_stream(m, k.hash, limit))
            return;
    }
    _invalidate((uint16_t)m->ns, m->key, m->klen, k.hash);
}

/* ---- streams on disk (the store's stream hooks) ---- */

/* A chunk's tier key: 0xfe (above every namespace-name length, so no key of an item is
 * one), the stream id and the chunk index, big-endian: a stream's chunks are contiguous. */
#define CHUNK_KEY TIERING_CHUNK_KEY
#define _chunk_key tiering_chunk_key
void tiering_chunk_key(uint8_t *out, uint64_t sid, uint32_t idx)
{
    out[0] = 0xfe;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(sid >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[9 + i] = (uint8_t)(idx >> (24 - 8 * i));
}

/* st.stream_disk_bytes: chunk records on the first tier; st.stream_backlog_bytes: chunks
 * queued, not written yet (it drops only after the store was told) */
#define STREAM_BACKLOG (8u << 20)           /* beyond it APPEND replies wait for the writer */

static struct job *_chunk_job(enum job_kind kind, uint64_t sid, uint32_t idx)
{
    struct job *j = calloc(1, sizeof(*j));
    uint8_t *key = j ? malloc(CHUNK_KEY) : NULL;
    if (!key) {
        free(j);
        return NULL;
    }
    j->kind = kind;
    j->key = key;
    j->klen = CHUNK_KEY;
    j->sid = sid;
    j->idx = idx;
    _chunk_key(key, sid, idx);
    return j;
}

static bool _on_spill(void *arg, uint16_t ns, const uint8_t *key, uint32_t klen, uint64_t sid,
                      uint32_t idx, const uint8_t *data, uint32_t len, void (*release)(void *),
                      void *rarg)
{
    (void)arg;
    if (!atomic_load(&active) || atomic_load(&tiers[TIX_SSD].degraded))
        return false;
    struct job *j = _chunk_job(JOB_CHUNK_PUT, sid, idx);
    uint8_t *skey = j ? malloc(klen ? klen : 1) : NULL;
    if (!skey) {
        _job_free(j);
        return false;
    }
    memcpy(skey, key, klen);
    j->skey = skey;
    store_key_init(&j->sk, ns, skey, klen);
    j->v = (struct diskval){.type = STORE_T_BYTES, .data = data, .len = len};
    if (!_q_push(&wq, j, option_get_u(&opts.tier_queue))) {
        _job_free(j); /* the store keeps its reference: the chunk stays in memory */
        stat_incr(&st.stream_chunks_deferred);
        return false;
    }
    j->crelease = release;
    j->carg = rarg;
    stat_add(&st.stream_backlog_bytes, len);
    stat_incr(&st.tier_queue_depth);
    return true;
}

void tiering_stream_bytes_add(uint64_t bytes) { stat_add(&st.stream_disk_bytes, bytes); }

uint64_t tiering_stream_ticket(void)
{
    if (!atomic_load(&active) || stat_get(&st.stream_backlog_bytes) <= STREAM_BACKLOG)
        return 0;
    pthread_mutex_lock(&wq.lock);
    uint64_t t = pushed;
    pthread_mutex_unlock(&wq.lock);
    return t;
}

/* A stream's head record: its id and length (little-endian); its chunks are records of
 * their own. */
#define STREAM_HEAD 16
static void _stream_head(uint8_t *out, uint64_t sid, uint64_t len)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(sid >> (8 * i));
        out[8 + i] = (uint8_t)(len >> (8 * i));
    }
}

bool tiering_stream_head_parse(const uint8_t *p, size_t n, uint64_t *sid, uint64_t *len)
{
    if (n != STREAM_HEAD)
        return false;
    *sid = *len = 0;
    for (int i = 7; i >= 0; i--) {
        *sid = *sid << 8 | p[i];
        *len = *len << 8 | p[8 + i];
    }
    return true;
}

/* Persistence of a changed stream (worker thread, key locked): its full chunks were handed
 * to _on_spill already (the store does that first); queue its last chunk, then its head,
 * so a crash never leaves a head whose chunks are not on disk. False when it could not be
 * persisted (counted): the caller deletes the older disk copy. */
static bool _persist_stream(const struct mutation *m, uint64_t hash, size_t limit)
{
    const struct store_stream_view *v = m->stream;
    if (!v->chunks_handed) {
        _persist_dropped("stream chunks are waiting for the writer queue");
        return false;
    }
    if (m->op != MUT_TOUCH && v->tail_chunk) {
        struct job *j = _chunk_job(JOB_CHUNK_PUT, v->sid, v->tail_idx);
        if (!j) {
            _persist_dropped("out of memory");
            return false;
        }
        uint8_t *skey = malloc(m->klen ? m->klen : 1);
        if (!skey) {
            _job_free(j);
            _persist_dropped("out of memory");
            return false;
        }
        memcpy(skey, m->key, m->klen);
        j->skey = skey;
        store_key_init(&j->sk, (uint16_t)m->ns, skey, m->klen);
        j->tail = true;
        j->persist = true;
        j->v = (struct diskval){.type = STORE_T_BYTES, .data = v->tail, .len = v->tail_len};
        store_chunk_hold(v->tail_chunk);
        j->crelease = store_chunk_release;
        j->carg = v->tail_chunk;
        if (!_q_push(&wq, j, limit)) {
            _job_free(j);
            _persist_dropped("the persistence queue is full");
            return false;
        }
        stat_add(&st.stream_backlog_bytes, v->tail_len);
        stat_incr(&st.tier_queue_depth);
    }
    uint8_t head[STREAM_HEAD];
    _stream_head(head, v->sid, v->len);
    struct mutation hm = *m;
    hm.value = head;
    hm.vlen = STREAM_HEAD;
    if (_queue_put(&hm, hash, true, false, limit))
        return true;
    _persist_dropped("the persistence queue is full");
    return false;
}

static void _on_stream_gone(void *arg, uint64_t sid, uint64_t disk_bytes, bool evicted)
{
    (void)arg;
    if (evicted && pmode != PERSIST_OFF)
        return; /* its head on disk still names its chunks */
    struct job *j = _chunk_job(JOB_CHUNK_DEL, sid, 0);
    if (!j)
        return; /* its records stay until the next start wipes them */
    j->cbytes = disk_bytes;
    if (_q_push(&wq, j, 0))
        stat_incr(&st.tier_queue_depth);
    else
        _job_free(j);
}

/* ---- the writer ---- */

static uint8_t *wenc[WRITE_BATCH]; /* encodings of the batch's puts */
static uint32_t wlen[WRITE_BATCH];  /* their record sizes (tier key and encoding) */

static uint64_t batch_bytes; /* bytes of the puts prepared so far in this batch */
static bool _tier_full(uint64_t more)
{
    return tix_live_bytes(TIX_SSD) + stat_get(&st.stream_disk_bytes) + batch_bytes + more >
           _size(TIX_SSD);
}

enum outcome {
    W_SKIP,    /* nothing to write (a demotion superseded by a change) */
    W_WRITE,   /* in the batch */
    W_DROP,    /* a demotion not written (tier full, no memory) */
    W_ERASE,   /* a persisted change not written: its key's older copy is deleted instead */
};

/* A delete on every tier (a change or a delete of the key). */
static void _delete_everywhere(const struct job *j)
{
    for (int t = 0; t < TIX_TIERS; t++)
        if (tiers[t].db)
            tierdb_batch_delete(tiers[t].batch, j->key, j->klen);
}

/* Add job j (the batch's i-th) to the tiers' batches. */
static enum outcome _prepare(struct job *j, int i)
{
    wenc[i] = NULL;
    struct tierdb_batch *b = tiers[TIX_SSD].batch;
    switch (j->kind) {
    case JOB_PUT: {
        /* a demotion superseded by a change needs no write; a persisted change is written
         * even then (a later change of the key follows it in the queue) */
        if (!j->persist && tix_get(j->hash).seq != j->seq)
            return W_SKIP;
        size_t elen;
        bool comp;
        struct diskval_opts o = {.zstd_level = (int)option_get_u(&opts.tier_compress_level),
                                 .compress_threshold = option_get_u(&opts.tier_compress_threshold)};
        bool full = _tier_full(j->klen + j->v.len / 2); /* zstd may halve it; checked below */
        if (full || diskval_encode(&j->v, &o, &wenc[i], &elen, &comp) != DISKVAL_OK ||
            (full = _tier_full(j->klen + elen))) {
            free(wenc[i]);
            wenc[i] = NULL;
            if (!j->persist)
                return W_DROP;
            _persist_dropped(full ? "the disk tier is full" : "out of memory");
            _delete_everywhere(j); /* never leave an older copy behind */
            return W_ERASE;
        }
        tierdb_batch_put(b, j->key, j->klen, wenc[i], elen);
        if (j->hdd_stale)
            tierdb_batch_delete(tiers[TIX_HDD].batch, j->key, j->klen);
        wlen[i] = (uint32_t)(j->klen + elen);
        batch_bytes += wlen[i];
        stat_add(&st.disk_value_bytes, j->v.len);
        stat_add(&st.disk_stored_bytes, elen);
        return W_WRITE;
    }
    case JOB_CHUNK_PUT: {
        size_t elen;
        bool comp;
        struct diskval_opts o = {.zstd_level = (int)option_get_u(&opts.tier_compress_level),
                                 .compress_threshold = option_get_u(&opts.tier_compress_threshold)};
        if (_tier_full(j->klen + j->v.len / 2) ||
            diskval_encode(&j->v, &o, &wenc[i], &elen, &comp) != DISKVAL_OK ||
            _tier_full(j->klen + elen)) {
            free(wenc[i]);
            wenc[i] = NULL;
            return W_DROP; /* the chunk stays in memory; offered again at the next append */
        }
        tierdb_batch_put(b, j->key, j->klen, wenc[i], elen);
        wlen[i] = (uint32_t)(j->klen + elen);
        batch_bytes += wlen[i];
        stat_add(&st.disk_value_bytes, j->v.len);
        stat_add(&st.disk_stored_bytes, elen);
        return W_WRITE;
    }
    case JOB_CHUNK_DEL: {
        uint8_t end[CHUNK_KEY];
        _chunk_key(end, j->sid + 1, 0);
        tierdb_batch_delete_range(b, j->key, j->klen, end, sizeof(end));
        return W_WRITE;
    }
    case JOB_DEL:
        _delete_everywhere(j);
        return W_WRITE;
    case JOB_DEL_NS: {
        /* Tier keys start with [name length][name]; 0xff after the name ends one namespace
         * (its keys are longer), and 0xff alone (above every length, at most 64) ends all. */
        uint8_t start[1 + 64], end[1 + 64 + 1];
        size_t slen = j->all ? 0 : j->klen;
        memcpy(start, j->key, slen);
        memcpy(end, j->key, slen);
        end[slen] = 0xff;
        size_t elen = slen + 1;
        if (j->all) {
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
static void _finish(struct job *j, int i, enum outcome w, bool ok)
{
    free(wenc[i]);
    wenc[i] = NULL;
    switch (j->kind) {
    case JOB_PUT:
        if (w == W_WRITE && ok) {
            stat_incr(j->persist ? &st.persist_writes : &st.demotions);
            /* LIVE only if nothing changed meanwhile; else a later job for the key follows */
            tix_written(j->hash, j->seq, TIX_SSD, wlen[i], j->warm);
            return;
        }
        if (w == W_DROP || (w == W_WRITE && !ok))
            stat_incr(j->persist ? &st.persist_dropped : &st.demote_dropped);
        tix_remove(j->hash, TIX_QUEUED, j->seq);
        return;
    case JOB_CHUNK_PUT: {
        bool written = w == W_WRITE && ok;
        stat_sub(&st.stream_backlog_bytes, j->v.len);
        if (j->tail) { /* the last chunk stays in memory: only its record was rewritten */
            if (!written) { /* the head queued behind it must not name it */
                stat_incr(&st.persist_dropped);
                _invalidate(j->sk.ns, j->sk.data, j->sk.len, j->sk.hash);
            }
            return;
        }
        if (written)
            stat_incr(&st.stream_chunks_written);
        else
            stat_incr(&st.stream_chunks_deferred);
        /* the store counts the record's bytes only when the stream still wants it; a stream
         * gone meanwhile has its delete queued behind this job */
        if (store_stream_spilled(&j->sk, j->sid, j->idx, written, wlen[i]))
            stat_add(&st.stream_disk_bytes, wlen[i]);
        else if (!written && pmode != PERSIST_OFF)
            /* a head already queued may name this chunk: no stale head may outlive it */
            _invalidate(j->sk.ns, j->sk.data, j->sk.len, j->sk.hash);
        return;
    }
    case JOB_CHUNK_DEL:
        if (ok) { /* saturating: a restored stream's bytes are an estimate */
            uint64_t cur = stat_get(&st.stream_disk_bytes);
            stat_sub(&st.stream_disk_bytes, j->cbytes < cur ? j->cbytes : cur);
        }
        return;
    case JOB_DEL:
        if (ok) {
            stat_incr(&st.disk_deletes);
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
            _disk_failed(t, "write", err);
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
        uint64_t more = t == TIX_SSD ? incoming + stat_get(&st.stream_disk_bytes) : 0;
        if (shed_step(&from, next ? &to : NULL, more, wal, false, &r,
                      err, sizeof(err)) != 0)
            _disk_failed(next ? TIX_HDD : t, "moving cold keys", err);
        stat_add(&st.hdd_demotions, r.moved);
        stat_add(&st.tier_evictions, r.dropped);
    }
}

static void _gauges(void)
{
    st.ssd_items = tix_live(TIX_SSD);
    st.ssd_bytes = tix_live_bytes(TIX_SSD);
    st.ssd_disk_bytes = first ? tierdb_bytes(first) : 0;
    if (tiers[TIX_HDD].db) {
        st.hdd_items = tix_live(TIX_HDD);
        st.hdd_bytes = tix_live_bytes(TIX_HDD);
        st.hdd_disk_bytes = tierdb_bytes(tiers[TIX_HDD].db);
    }
    st.ssd_index_bytes = tix_memory();
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
                                .write_rate_bytes = (int64_t)option_get_u(&opts.tier_write_rate),
                                .start_empty = false,
                                .now_ms = tiering_now_ms};
        pthread_rwlock_wrlock(&tr->lock);
        tierdb_close(tr->db);
        tr->db = tierdb_open(&o, err, sizeof(err));
        pthread_rwlock_unlock(&tr->lock);
        if (!tr->db) {
            /* cannot happen short of a damaged directory: stay without the tier */
            log_error("%s tier %s: reopening after the fault failed: %s; the tier is off until "
                      "restart", tr->name, path, err);
            atomic_store(&active, false);
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
    struct job *jobs[WRITE_BATCH];
    bool wal = pmode != PERSIST_OFF, sync = pmode == PERSIST_SYNC;
    uint64_t sync_every = option_get_u(&opts.persist_sync_ms);
    uint64_t committed = 0, last_sync = tiering_now_ms();
    bool unsynced = false;
    char err[256];
    for (;;) {
        /* wake at least every 100 ms: shedding and the async fsync run between batches */
        uint64_t wait = pmode == PERSIST_ASYNC && sync_every < 100 ? sync_every : 100;
        int n = _q_pop_batch(&wq, jobs, WRITE_BATCH, wait ? wait : 1);
        if (n < 0)
            break;
        if (n > 0) {
            stat_sub(&st.tier_queue_depth, (uint64_t)n);
            uint64_t incoming = 0;
            for (int i = 0; i < n; i++)
                if (jobs[i]->kind == JOB_PUT || jobs[i]->kind == JOB_CHUNK_PUT)
                    incoming += jobs[i]->klen + jobs[i]->v.len;
            _shed(wal, incoming); /* room first, so the batch is not dropped */
            enum outcome w[WRITE_BATCH];
            batch_bytes = 0;
            for (int i = 0; i < n; i++)
                w[i] = _prepare(jobs[i], i);
            bool ok = _write_batches(wal, sync, err, sizeof(err));
            stat_incr(&st.persist_batches);
            if (ok) {
                atomic_store(&full_logged, false);
                unsynced = unsynced || (wal && !sync);
            }
            st.persist_lag_ms = tiering_now_ms() - jobs[n - 1]->t_ms;
            for (int i = 0; i < n; i++) {
                _finish(jobs[i], i, w[i], ok);
                _job_free(jobs[i]);
            }
            committed += (uint64_t)n;
            durable_advance(committed, ok, ok ? NULL : err);
        }
        _recover();
        _shed(wal, 0);
        _gauges();
        if (unsynced && tiering_now_ms() - last_sync >= sync_every) {
            for (int t = 0; t < TIX_TIERS; t++)
                if (tiers[t].db && !tiers[t].write_failed &&
                    tierdb_sync_wal(tiers[t].db, err, sizeof(err)) != 0)
                    _disk_failed(t, "fsync", err);
            unsynced = false;
            last_sync = tiering_now_ms();
        } else if (!unsynced) {
            last_sync = tiering_now_ms();
        }
    }
    for (int t = 0; unsynced && t < TIX_TIERS; t++)
        if (tiers[t].db && !tiers[t].write_failed &&
            tierdb_sync_wal(tiers[t].db, err, sizeof(err)) != 0)
            _disk_failed(t, "fsync", err);
    return NULL;
}

uint64_t tiering_durable_ticket(void)
{
    if (pmode != PERSIST_SYNC || !atomic_load(&active))
        return 0;
    pthread_mutex_lock(&wq.lock);
    uint64_t t = pushed;
    pthread_mutex_unlock(&wq.lock);
    return t;
}

/* ---- readers ---- */

/* Read one record of the first tier, verified: 0 with the value (malloc'd), 1 missing, -1
 * error (message in err). */
static int _read_first(const uint8_t *key, size_t klen, uint8_t **out, size_t *outlen, char *err,
                       size_t errlen)
{
    uint8_t *raw;
    size_t rlen;
    pthread_rwlock_rdlock(&tiers[TIX_SSD].lock);
    int rc = tiers[TIX_SSD].db ? tierdb_get(tiers[TIX_SSD].db, key, klen, &raw, &rlen, err, errlen)
                               : (snprintf(err, errlen, "the tier is off"), -1);
    pthread_rwlock_unlock(&tiers[TIX_SSD].lock);
    if (rc != 0)
        return rc;
    struct diskval v;
    uint8_t *owned;
    int d = diskval_decode(raw, rlen, tiering_now_ms(), &v, &owned);
    if (d != DISKVAL_OK) {
        if (d == DISKVAL_CORRUPT)
            stat_incr(&st.checksum_errors);
        snprintf(err, errlen, d == DISKVAL_CORRUPT ? "a stream chunk failed its checksum"
                                                   : "out of memory");
        free(raw);
        return -1;
    }
    *out = owned ? owned : malloc(v.len ? v.len : 1);
    if (*out && !owned)
        memcpy(*out, v.data, v.len);
    *outlen = v.len;
    free(raw);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* A stream's head was read: fill res with its id, length and last chunk. */
static void _read_stream(struct tiering_result *res, const uint8_t *head, size_t hlen)
{
    uint64_t sid, len;
    if (!tiering_stream_head_parse(head, hlen, &sid, &len)) {
        stat_incr(&st.checksum_errors);
        res->status = TIER_ERROR;
        snprintf(res->err, sizeof(res->err), "a stream's head on disk is malformed");
        return;
    }
    res->sid = sid;
    res->slen = len;
    res->status = TIER_FOUND;
    if (len == 0)
        return;
    uint32_t idx = (uint32_t)((len - 1) / STORE_STREAM_CHUNK);
    size_t want = (size_t)(len - (uint64_t)idx * STORE_STREAM_CHUNK), got = 0;
    uint8_t key[CHUNK_KEY], *data = NULL;
    _chunk_key(key, sid, idx);
    stat_incr(&st.stream_chunk_reads);
    int rc = _read_first(key, sizeof(key), &data, &got, res->err, sizeof(res->err));
    if (rc == 0 && got < want)
        rc = 1;
    if (rc != 0) {
        free(data);
        res->status = TIER_ERROR;
        if (rc == 1)
            snprintf(res->err, sizeof(res->err), "the last chunk of the stream is missing on disk");
        return;
    }
    res->data = data;
    res->len = want; /* a longer record was written for a later length */
}

static void *_reader_main(void *arg)
{
    (void)arg;
    for (struct job *j; (j = _q_pop(&rq));) {
        struct tiering_result *res = calloc(1, sizeof(*res));
        if (res) {
            res->hash = j->hash;
            res->seq = j->seq;
            res->status = TIER_MISS;
            uint8_t *raw;
            size_t rlen;
            /* the tier the index named, then the other: a move may have run meanwhile */
            int rc = 1;
            int tries = j->kind == JOB_READ ? TIX_TIERS : 1; /* chunks: the first tier only */
            for (int k = 0; k < tries && rc == 1; k++) {
                int t = k == 0 ? j->tier : 1 - j->tier;
                if (!tiers[t].db)
                    continue;
                pthread_rwlock_rdlock(&tiers[t].lock);
                rc = -1;
                snprintf(res->err, sizeof(res->err), "the tier is off");
                if (tiers[t].db)
                    rc = tierdb_get(tiers[t].db, j->key, j->klen, &raw, &rlen, res->err,
                                    sizeof(res->err));
                pthread_rwlock_unlock(&tiers[t].lock);
                stat_incr(j->kind == JOB_CHUNK_READ ? &st.stream_chunk_reads
                          : t == TIX_SSD                ? &st.ssd_reads
                                                        : &st.hdd_reads);
                res->tier = (uint8_t)t;
                if (rc < 0)
                    _disk_failed(t, "read", res->err);
            }
            if (rc == 1 && j->kind == JOB_READ) /* a key the disk does not have (a guess) */
                tix_absent(j->hash, j->seq, restore_indexing());
            if (rc < 0) {
                res->status = TIER_ERROR;
            } else if (rc == 0) {
                struct diskval v;
                uint8_t *owned;
                int d = diskval_decode(raw, rlen, tiering_now_ms(), &v, &owned);
                if (d == DISKVAL_OK && v.type == STORE_T_STREAM && j->kind == JOB_READ) {
                    _read_stream(res, v.data, v.len);
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
                    res->data = owned ? owned : malloc(v.len ? v.len : 1);
                    if (!res->data) {
                        res->status = TIER_ERROR;
                        snprintf(res->err, sizeof(res->err), "out of memory");
                    } else if (!owned) {
                        memcpy(res->data, v.data, v.len);
                    }
                } else if (d == DISKVAL_CORRUPT) {
                    stat_incr(&st.checksum_errors);
                    log_error("%s tier: a value failed its checksum (%zu bytes); not returned",
                              tiers[res->tier].name, rlen);
                    res->status = TIER_ERROR;
                    snprintf(res->err, sizeof(res->err), "value on disk failed its checksum");
                } else if (d == DISKVAL_NOMEM) {
                    res->status = TIER_ERROR;
                    snprintf(res->err, sizeof(res->err), "out of memory");
                }
                free(raw);
            }
        }
        if (res && res->status != TIER_ERROR)
            hist_record(&read_hist[res->tier], _mono_us() - j->t_us);
        j->done(j->arg, res);
        _job_free(j);
    }
    return NULL;
}

bool tiering_on_disk(uint64_t hash)
{
    if (!atomic_load(&active))
        return false;
    enum tix_state st_ = tix_get(hash).state;
    return st_ == TIX_LIVE || st_ == TIX_QUEUED || (st_ == TIX_NONE && restore_indexing());
}

int64_t tiering_ttl_ms(const struct tiering_result *res)
{
    if (!res->expire_ms)
        return -1;
    uint64_t now = tiering_now_ms();
    return res->expire_ms > now ? (int64_t)(res->expire_ms - now) : 1;
}

/* tiering_when_durable's callback: the writes a read waited for are done (or failed). */
static void _read_when_written(void *arg, bool ok, const char *err)
{
    (void)ok;
    (void)err;
    struct job *j = arg;
    if (_q_push(&rq, j, 0))
        return;
    struct tiering_result *res = calloc(1, sizeof(*res));
    if (res) {
        res->status = TIER_ERROR;
        snprintf(res->err, sizeof(res->err), "the server is stopping");
    }
    j->done(j->arg, res);
    _job_free(j);
}

/* Hand a read job to the I/O threads (freed when it cannot be queued). */
static bool _queue_read(struct job *j, uint8_t tier, tiering_done_fn done, void *arg)
{
    j->tier = tier;
    j->t_us = _mono_us();
    j->done = done;
    j->arg = arg;
    if (!_q_push(&rq, j, 0)) {
        _job_free(j);
        return false;
    }
    return true;
}

bool tiering_read(uint16_t ns, const void *key, uint32_t klen, uint64_t hash, tiering_done_fn done,
                  void *arg)
{
    if (!atomic_load(&active))
        return false;
    struct tix_entry e = tix_get(hash);
    if (e.state == TIX_NONE && restore_indexing()) {
        /* not indexed yet: the disk may have it. Index it now; a miss removes the entry. */
        e = (struct tix_entry){.state = TIX_LIVE, .seq = tiering_next_seq(), .ns = ns};
        if (!tix_add_live(hash, ns, e.seq, TIX_SSD, 0))
            e = tix_get(hash);
    }
    if (e.state == TIX_QUEUED) { /* evicted, not written yet: answer from the queued value */
        uint64_t seq;
        struct tix_value *v = tix_queued_value(hash, &seq);
        if (!v)
            return false;
        if (v->type == STORE_T_STREAM) {
            /* a stream's head names chunks queued before it: read once they are written */
            tix_value_release(v);
            struct job *j = _job_new(JOB_READ, ns, key, klen);
            if (!j)
                return false;
            j->hash = hash;
            j->seq = seq;
            j->tier = TIX_SSD;
            j->t_us = _mono_us();
            j->done = done;
            j->arg = arg;
            pthread_mutex_lock(&wq.lock);
            uint64_t ticket = pushed;
            pthread_mutex_unlock(&wq.lock);
            tiering_when_durable(ticket, _read_when_written, j);
            return true;
        }
        struct tiering_result *res = calloc(1, sizeof(*res));
        uint8_t *data = res ? malloc(v->len ? v->len : 1) : NULL;
        if (!data) {
            free(res);
            tix_value_release(v);
            return false;
        }
        memcpy(data, v->data, v->len);
        *res = (struct tiering_result){.status = TIER_FOUND, .tier = TIX_SSD, .type = v->type,
                                       .data = data, .len = v->len, .expire_ms = v->expire_ms,
                                       .version = v->version, .hash = hash, .seq = seq};
        tix_value_release(v);
        if (res->expire_ms && res->expire_ms <= tiering_now_ms()) {
            free(res->data);
            res->data = NULL;
            res->status = TIER_MISS;
        }
        done(arg, res);
        return true;
    }
    if (e.state != TIX_LIVE)
        return false;
    struct job *j = _job_new(JOB_READ, ns, key, klen);
    if (!j)
        return false;
    j->hash = hash;
    j->seq = e.seq;
    return _queue_read(j, e.tier, done, arg);
}

bool tiering_read_chunk(uint64_t sid, uint32_t idx, tiering_done_fn done, void *arg)
{
    if (!atomic_load(&active))
        return false;
    struct job *j = _chunk_job(JOB_CHUNK_READ, sid, idx);
    return j && _queue_read(j, TIX_SSD, done, arg);
}

bool tiering_still_current(const struct tiering_result *res, bool *promote)
{
    *promote = false;
    struct tix_entry e = tix_get(res->hash);
    /* the same sequence is the same value, queued or written */
    if ((e.state != TIX_LIVE && e.state != TIX_QUEUED) || e.seq != res->seq)
        return false;
    stat_incr(res->tier == TIX_SSD ? &st.ssd_hits : &st.hdd_hits);
    uint32_t now_s = (uint32_t)(tiering_now_ms() / 1000);
    uint32_t prev = tix_hit(res->hash, res->seq, now_s);
    uint64_t window = option_get_u(&opts.promote_window_s);
    if (window && prev && now_s - prev <= window) {
        *promote = true;
        stat_incr(&st.promotions);
    }
    return true;
}

bool tiering_expect_live(void *expect)
{
    struct tiering_expect *x = expect;
    struct tix_entry e = tix_get(x->hash);
    return (e.state == TIX_LIVE || e.state == TIX_QUEUED) && e.seq == x->seq;
}

int tiering_load(uint16_t ns, const void *key, uint32_t klen, const struct tiering_result *res)
{
    if (res->status != TIER_FOUND)
        return STORE_NOT_STORED;
    struct store_key k;
    store_key_init(&k, ns, key, klen);
    if (res->type == STORE_T_STREAM) {
        struct tiering_expect x = {res->hash, res->seq};
        uint64_t full = res->slen ? (res->slen - 1) / STORE_STREAM_CHUNK : 0;
        return store_load_stream(&k, res->sid, res->slen, res->data, (uint32_t)res->len,
                                 full * (STORE_STREAM_CHUNK + CHUNK_KEY + DISKVAL_HEADER),
                                 res->expire_ms, res->version, tiering_expect_live, &x);
    }
    struct store_value v = {.type = res->type, .data = res->data, .len = (uint32_t)res->len};
    struct tiering_expect x = {res->hash, res->seq};
    return store_load(&k, &v, res->expire_ms, res->version, tiering_expect_live, &x);
}

void tiering_result_free(struct tiering_result *res)
{
    if (res) {
        free(res->data);
        free(res);
    }
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
                            .write_rate_bytes = (int64_t)option_get_u(&opts.tier_write_rate),
                            .start_empty = option_get_b(&opts.tier_start_empty),
                            .now_ms = tiering_now_ms};
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
    stats_register(st_desc, STAT_COUNT(st_desc), &st);
    const char *spath = option_get_s(&opts.ssd_path), *hpath = option_get_s(&opts.hdd_path);
    bool has_ssd = spath && *spath, has_hdd = hpath && *hpath;
    if (!has_ssd && !has_hdd) {
        if (strcmp(option_get_s(&opts.persist), "off") != 0) {
            log_error("persist needs a disk tier to write to: set ssd_path (or hdd_path)");
            return -1;
        }
        return 0;
    }
    uint64_t level = option_get_u(&opts.tier_compress_level);
    if (level < 1 || level > 19) {
        log_error("tier_compress_level must be 1..19, not %llu", (unsigned long long)level);
        return -1;
    }
    const char *pm = option_get_s(&opts.persist);
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
    if (has_ssd ? _open_tier(TIX_SSD, "ssd", &opts.ssd_path, &opts.ssd_size)
                : _open_tier(TIX_SSD, "hdd", &opts.hdd_path, &opts.hdd_size))
        return -1;
    if (has_ssd && has_hdd && _open_tier(TIX_HDD, "hdd", &opts.hdd_path, &opts.hdd_size))
        return -1;
    durable_setup();
    _q_init(&wq);
    _q_init(&rq);
    nreaders = (unsigned)option_get_u(&opts.tier_io_threads);
    if (nreaders == 0)
        nreaders = 1;
    readers = calloc(nreaders, sizeof(*readers));
    if (!readers || pthread_create(&writer, NULL, _writer_main, NULL) != 0)
        return -1;
    for (unsigned i = 0; i < nreaders; i++)
        if (pthread_create(&readers[i], NULL, _reader_main, NULL) != 0)
            return -1;
    store_set_demote_hook(_on_demote, NULL);
    static const struct store_miss_hooks hooks = {.on_disk = _on_disk_hook,
                                                  .forget = _on_del_miss};
    store_set_miss_hooks(&hooks);
    static struct store_stream_hooks sh = {.spill = _on_spill, .gone = _on_stream_gone};
    sh.threshold = option_get_u(&opts.stream_spill_size);
    sh.persist = pmode != PERSIST_OFF;
    store_set_stream_hooks(&sh);
    if (store_mutation_subscribe(_on_mutation, NULL) != 0)
        return -1;
    atomic_store(&active, true);
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
    store_set_demote_hook(NULL, NULL);
    store_set_miss_hooks(NULL);
    store_set_stream_hooks(NULL);
    atomic_store(&active, false); /* the mutation subscriber ignores changes from now on */
    _q_stop(&rq);
    for (unsigned i = 0; i < nreaders; i++)
        pthread_join(readers[i], NULL);
    free(readers);
    readers = NULL;
    _q_stop(&wq);
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
    tix_teardown();
}
