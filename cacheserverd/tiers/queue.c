/* The job queues between the threads (tiering-internal.h): a blocking FIFO of jobs, the
 * writer's (wq) and the I/O threads' (rq), and the job objects they carry with the tier keys
 * jobs are named by. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "diskval.h"
#include "index.h"
#include "store.h"
#include "tierdb.h"
#include "tiering-internal.h"
#include "tiering.h"

void tq_init(struct queue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
}

/* q->head_ms follows the head (under the lock), so the age is read without it. */
static void _head_moved(struct queue *q)
{
    __atomic_store_n(&q->head_ms, q->head ? q->head->t_ms : 0, __ATOMIC_RELAXED);
}

bool tq_push(struct queue *q, struct tjob *j, size_t limit)
{
    pthread_mutex_lock(&q->lock);
    if ((limit && q->n >= limit) || q->stop) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    j->next = NULL;
    j->t_ms = clock_wall_ms();
    q->pushed++;
    if (q->tail) {
        q->tail->next = j;
    } else {
        q->head = j;
        _head_moved(q);
    }
    q->tail = j;
    q->n++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return true;
}

uint64_t tq_head_age_ms(struct queue *q, uint64_t now_ms)
{
    uint64_t t = __atomic_load_n(&q->head_ms, __ATOMIC_RELAXED);
    return t && now_ms > t ? now_ms - t : 0;
}

bool tiering_push_write(struct tiering *ctx, struct tjob *j, size_t limit)
{
    stat_incr(&ctx->stats.tier_queue_depth); /* first: the writer may take the job at once */
    if (tq_push(&ctx->wq, j, limit))
        return true;
    stat_decr(&ctx->stats.tier_queue_depth);
    return false;
}

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
        _head_moved(q);
    }
    pthread_mutex_unlock(&q->lock);
    return j;
}

int tq_pop_batch(struct queue *q, struct tjob **out, int max, uint64_t timeout_ms)
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
    if (n)
        _head_moved(q);
    bool done = n == 0 && q->stop;
    pthread_mutex_unlock(&q->lock);
    return done ? -1 : n;
}

void tq_stop(struct queue *q)
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
    case TJOB_DEL_NS:
        free(j->del_ns.heads);
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

bool tiering_key_hash(const uint8_t *key, size_t klen, uint64_t *hash)
{
    if (klen < 2 || key[0] > 64 || klen <= 1u + key[0])
        return false;
    uint16_t ns;
    if (store_ns_find(key + 1, key[0], &ns) != STORE_OK)
        return false;
    struct store_key k;
    store_key_init(&k, ns, key + 1 + key[0], (uint32_t)(klen - 1 - key[0]));
    *hash = k.hash;
    return true;
}

struct tjob *tjob_chunk_new(enum tjob_kind kind, uint64_t sid, uint32_t idx)
{
    struct tjob *j = calloc(1, sizeof(*j));
    uint8_t *key = j ? malloc(TIERING_CHUNK_KEY) : NULL;
    if (!key) {
        free(j);
        return NULL;
    }
    j->kind = kind;
    j->key = key;
    j->klen = TIERING_CHUNK_KEY;
    if (kind == TJOB_CHUNK_PUT) {
        j->chunk_put.sid = sid;
        j->chunk_put.idx = idx;
    } else if (kind == TJOB_CHUNK_DEL) {
        j->chunk_del.sid = sid;
    } /* TJOB_CHUNK_READ: the key names the chunk */
    tiering_chunk_key(key, sid, idx);
    return j;
}
