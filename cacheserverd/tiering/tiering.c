/* The tier policy and its threads (tiering.h): one writer thread applies demotions and
 * deletes in order from a bounded queue; tier_io_threads readers serve disk reads. */
#include "tiering.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diskval.h"
#include "index.h"
#include "log.h"
#include "store.h"
#include "tierdb.h"

OPTION_STRUCT(tiering, TIERING_OPTIONS);
STAT_STRUCT(tiering, TIERING_STATS);
static struct tiering_options opts;
static struct option_desc opt_desc[] = OPTION_DESCRIBE(TIERING_OPTIONS);
static struct tiering_stats st;
static struct stat_desc st_desc[] = STAT_DESCRIBE(TIERING_STATS);

#define TIER_KEY_MAX (1 + 64 + 65536)

enum job_kind { JOB_PUT, JOB_DEL, JOB_DEL_NS, JOB_READ };

struct job {
    struct job *next;
    enum job_kind kind;
    uint64_t hash, seq;
    uint8_t *key; /* tier key (tierdb_key), malloc'd */
    size_t klen;
    struct diskval v;    /* JOB_PUT: v.data malloc'd */
    tiering_done_fn done; /* JOB_READ */
    void *arg;
    bool all;             /* JOB_DEL_NS: every namespace */
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t n;
    bool stop;
};

static struct tierdb *ssd;
static struct queue wq, rq; /* writer, readers */
static pthread_t writer;
static pthread_t *readers;
static unsigned nreaders;
static atomic_uint_fast64_t seq_counter;
static atomic_bool degraded;
static atomic_bool active; /* hooks and reads are on (between setup and teardown) */

void tiering_options_register(void)
{
    option_bind(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), &opts);
    option_registry_add("tiering", opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]));
}

bool tiering_enabled(void) { return atomic_load(&active); }
const char *tiering_ssd_health(void) { return atomic_load(&degraded) ? "degraded" : "ok"; }
const char *tiering_ssd_path(void) { return option_get_s(&opts.ssd_path); }
uint64_t tiering_ssd_size(void) { return option_get_u(&opts.ssd_size); }
uint64_t tiering_ssd_bytes(void) { return ssd ? tierdb_bytes(ssd) : 0; }

static uint64_t _now_ms(void)
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
    free(j->key);
    free((void *)j->v.data);
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

static void _disk_failed(const char *what, const char *err)
{
    stat_incr(&st.disk_errors);
    if (!atomic_exchange(&degraded, true)) /* once per incident */
        log_error("SSD tier %s: %s: %s; marked degraded, serving from memory",
                  option_get_s(&opts.ssd_path), what, err);
}

static void _disk_ok(void)
{
    if (atomic_load(&degraded) && atomic_exchange(&degraded, false))
        log_info("SSD tier %s: writes succeed again; healthy", option_get_s(&opts.ssd_path));
}

/* ---- the store's hooks (worker threads, under the key's shard lock: never block) ---- */

static void _on_demote(void *arg, const struct mutation *m, bool ever_read)
{
    (void)arg;
    if (!m->value || m->type == STORE_T_STREAM)
        return; /* streams stay in memory in this step */
    if (!ever_read && !option_get_b(&opts.demote_unread)) {
        stat_incr(&st.demote_skipped);
        return;
    }
    struct store_key k;
    store_key_init(&k, (uint16_t)m->ns, m->key, m->klen);
    struct job *j = _job_new(JOB_PUT, m->ns, m->key, m->klen);
    uint8_t *copy = j ? malloc(m->vlen ? m->vlen : 1) : NULL;
    if (!copy) {
        _job_free(j);
        stat_incr(&st.demote_dropped);
        return;
    }
    memcpy(copy, m->value, m->vlen);
    j->v = (struct diskval){.type = m->type, .expire_ms = m->expire_ms, .version = m->version,
                            .hlc = m->hlc, .data = copy, .len = m->vlen};
    j->hash = k.hash;
    j->seq = atomic_fetch_add(&seq_counter, 1) + 1;
    tix_set(k.hash, (uint16_t)m->ns, TIX_QUEUED, j->seq);
    if (!_q_push(&wq, j, option_get_u(&opts.tier_queue))) {
        tix_move(k.hash, TIX_QUEUED, j->seq, TIX_NONE);
        _job_free(j);
        stat_incr(&st.demote_dropped);
        return;
    }
    stat_incr(&st.tier_queue_depth);
}

/* The key changed (or was deleted): its disk copy, if any, is stale from now on; queue its
 * delete behind any demotion of it. Returns the index state the key had. */
static enum tix_state _invalidate(uint16_t ns, const void *key, uint32_t klen, uint64_t hash)
{
    uint64_t seq = atomic_fetch_add(&seq_counter, 1) + 1;
    enum tix_state was = tix_tomb_if_present(hash, seq);
    if (was == TIX_NONE)
        return was; /* never demoted: nothing on disk (the common case) */
    /* The stale copy is never read again (the entry is a tombstone); the delete may wait. */
    struct job *j = _job_new(JOB_DEL, ns, key, klen);
    if (!j)
        return was; /* the tombstone stays: still never read */
    j->hash = hash;
    j->seq = seq;
    if (_q_push(&wq, j, 0)) /* deletes are never dropped: they keep the index small */
        stat_incr(&st.tier_queue_depth);
    else
        _job_free(j);
    return was;
}

static void _on_mutation(void *arg, const struct mutation *m)
{
    (void)arg;
    if (!atomic_load(&active))
        return;
    if (m->op == MUT_EVICT || m->op == MUT_EXPIRE)
        return; /* eviction is the demote hook's; an expired disk copy expires there too */
    if (m->op == MUT_FLUSH) {
        tix_drop_ns(m->ns);
        struct job *j = _job_new(JOB_DEL_NS, m->ns, "", 0);
        if (j)
            j->all = m->ns < 0;
        if (j && _q_push(&wq, j, 0))
            stat_incr(&st.tier_queue_depth);
        else
            _job_free(j);
        return;
    }
    struct store_key k;
    store_key_init(&k, (uint16_t)m->ns, m->key, m->klen);
    _invalidate((uint16_t)m->ns, m->key, m->klen, k.hash);
}

bool tiering_forget(uint16_t ns, const void *key, uint32_t klen, uint64_t hash)
{
    if (!atomic_load(&active))
        return false;
    enum tix_state was = _invalidate(ns, key, klen, hash);
    return was == TIX_LIVE || was == TIX_QUEUED;
}

/* ---- the writer ---- */

static void _write_put(struct job *j)
{
    char err[256];
    if (tix_get(j->hash).seq != j->seq) {
        return; /* changed since it was queued */
    }
    if (tierdb_bytes(ssd) >= option_get_u(&opts.ssd_size)) {
        stat_incr(&st.demote_dropped);
        tix_move(j->hash, TIX_QUEUED, j->seq, TIX_NONE);
        return;
    }
    struct diskval_opts o = {.zstd_level = (int)option_get_u(&opts.tier_compress_level),
                             .compress_threshold = option_get_u(&opts.tier_compress_threshold)};
    uint8_t *enc;
    size_t elen;
    bool comp;
    if (diskval_encode(&j->v, &o, &enc, &elen, &comp) != DISKVAL_OK) {
        stat_incr(&st.demote_dropped);
        tix_move(j->hash, TIX_QUEUED, j->seq, TIX_NONE);
        return;
    }
    int rc = tierdb_put(ssd, j->key, j->klen, enc, elen, false, err, sizeof(err));
    free(enc);
    if (rc != 0) {
        _disk_failed("write", err);
        stat_incr(&st.demote_dropped);
        tix_move(j->hash, TIX_QUEUED, j->seq, TIX_NONE);
        return;
    }
    _disk_ok();
    stat_incr(&st.demotions);
    stat_add(&st.disk_value_bytes, j->v.len);
    stat_add(&st.disk_stored_bytes, elen);
    /* LIVE only if nothing changed meanwhile; else a delete job for the key follows */
    tix_move(j->hash, TIX_QUEUED, j->seq, TIX_LIVE);
}

static void _write_del(struct job *j)
{
    char err[256];
    if (tierdb_delete(ssd, j->key, j->klen, false, err, sizeof(err)) != 0) {
        _disk_failed("delete", err);
        return; /* the tombstone stays: the stale copy is never read */
    }
    stat_incr(&st.disk_deletes);
    tix_move(j->hash, TIX_TOMB, j->seq, TIX_NONE);
}

/* Tier keys start with [name length][name]; the next name length byte ends the range of one
 * namespace, and 0xff (above every length, at most 64) ends all of them. */
static void _write_del_ns(struct job *j)
{
    char err[256];
    uint8_t start[1 + 64], end[1 + 64];
    size_t slen = j->all ? 0 : j->klen;
    memcpy(start, j->key, slen);
    memcpy(end, j->key, slen);
    size_t elen = slen + 1;
    end[slen] = 0xff; /* after every key of this namespace (its keys are longer than slen) */
    if (j->all) {
        end[0] = 0xff;
        elen = 1;
    }
    if (tierdb_delete_range(ssd, start, slen, end, elen, err, sizeof(err)) != 0)
        _disk_failed("flush", err);
}

static void *_writer_main(void *arg)
{
    (void)arg;
    for (struct job *j; (j = _q_pop(&wq));) {
        stat_decr(&st.tier_queue_depth);
        switch (j->kind) {
        case JOB_PUT: _write_put(j); break;
        case JOB_DEL: _write_del(j); break;
        case JOB_DEL_NS: _write_del_ns(j); break;
        default: break;
        }
        _job_free(j);
        st.ssd_items = tix_live();
        st.ssd_bytes = tierdb_bytes(ssd);
    }
    return NULL;
}

/* ---- readers ---- */

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
            int rc = tierdb_get(ssd, j->key, j->klen, &raw, &rlen, res->err, sizeof(res->err));
            stat_incr(&st.ssd_reads);
            if (rc < 0) {
                _disk_failed("read", res->err);
                res->status = TIER_ERROR;
            } else if (rc == 0) {
                struct diskval v;
                uint8_t *owned;
                int d = diskval_decode(raw, rlen, _now_ms(), &v, &owned);
                if (d == DISKVAL_OK) {
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
                    log_error("SSD tier: a value failed its checksum (%zu bytes); not returned",
                              rlen);
                    res->status = TIER_ERROR;
                    snprintf(res->err, sizeof(res->err), "value on disk failed its checksum");
                } else if (d == DISKVAL_NOMEM) {
                    res->status = TIER_ERROR;
                    snprintf(res->err, sizeof(res->err), "out of memory");
                }
                free(raw);
            }
        }
        j->done(j->arg, res);
        _job_free(j);
    }
    return NULL;
}

bool tiering_on_disk(uint64_t hash)
{
    return atomic_load(&active) && tix_get(hash).state == TIX_LIVE;
}

int64_t tiering_ttl_ms(const struct tiering_result *res)
{
    if (!res->expire_ms)
        return -1;
    uint64_t now = _now_ms();
    return res->expire_ms > now ? (int64_t)(res->expire_ms - now) : 1;
}

bool tiering_read(uint16_t ns, const void *key, uint32_t klen, uint64_t hash, tiering_done_fn done,
                  void *arg)
{
    if (!atomic_load(&active))
        return false;
    struct tix_entry e = tix_get(hash);
    if (e.state != TIX_LIVE)
        return false;
    struct job *j = _job_new(JOB_READ, ns, key, klen);
    if (!j)
        return false;
    j->hash = hash;
    j->seq = e.seq;
    j->done = done;
    j->arg = arg;
    if (!_q_push(&rq, j, 0)) {
        _job_free(j);
        return false;
    }
    return true;
}

bool tiering_still_current(const struct tiering_result *res, bool *promote)
{
    *promote = false;
    struct tix_entry e = tix_get(res->hash);
    if (e.state != TIX_LIVE || e.seq != res->seq)
        return false;
    stat_incr(&st.ssd_hits);
    uint32_t now_s = (uint32_t)(_now_ms() / 1000);
    uint32_t prev = tix_hit(res->hash, res->seq, now_s);
    uint64_t window = option_get_u(&opts.promote_window_s);
    if (prev && now_s - prev <= window) {
        *promote = true;
        stat_incr(&st.promotions);
    }
    return true;
}

void tiering_result_free(struct tiering_result *res)
{
    if (res) {
        free(res->data);
        free(res);
    }
}

/* ---- lifecycle ---- */

int tiering_setup(void)
{
    stats_register(st_desc, STAT_COUNT(st_desc), &st);
    const char *path = option_get_s(&opts.ssd_path);
    if (!path || !*path)
        return 0;
    uint64_t level = option_get_u(&opts.tier_compress_level);
    if (level < 1 || level > 19) {
        log_error("tier_compress_level must be 1..19, not %llu", (unsigned long long)level);
        return -1;
    }
    if (tix_setup() != 0)
        return -1;
    char err[512];
    struct tierdb_opts o = {.path = path,
                            .write_rate_bytes = (int64_t)option_get_u(&opts.tier_write_rate),
                            .start_empty = option_get_b(&opts.tier_start_empty),
                            .now_ms = _now_ms};
    ssd = tierdb_open(&o, err, sizeof(err));
    if (!ssd) {
        log_error("SSD tier: %s", err);
        return -1;
    }
    /* What a previous run left there is not indexed yet (warm restart is a later step):
     * start from an empty tier so nothing stale can ever be read. */
    if (tierdb_delete_range(ssd, "", 0, "\xff", 1, err, sizeof(err)) != 0) {
        log_error("SSD tier: %s", err);
        return -1;
    }
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
    if (store_mutation_subscribe(_on_mutation, NULL) != 0)
        return -1;
    atomic_store(&active, true);
    log_info("SSD tier at %s, up to %llu bytes", path,
             (unsigned long long)option_get_u(&opts.ssd_size));
    return 0;
}

void tiering_teardown(void)
{
    if (!ssd)
        return;
    store_set_demote_hook(NULL, NULL);
    atomic_store(&active, false); /* the mutation subscriber ignores changes from now on */
    _q_stop(&rq);
    for (unsigned i = 0; i < nreaders; i++)
        pthread_join(readers[i], NULL);
    free(readers);
    readers = NULL;
    _q_stop(&wq);
    pthread_join(writer, NULL);
    tierdb_close(ssd);
    ssd = NULL;
    tix_teardown();
}
