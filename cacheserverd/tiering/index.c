/* A sharded chained hash map from key hash to entry; one mutex per shard, O(1) under it
 * (tix_drop_ns walks everything: FLUSH only). */
#include "index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TIX_SHARDS 64

struct node {
    struct node *next;
    uint64_t hash;
    struct tix_entry e;
};

struct shard {
    pthread_mutex_t lock;
    struct node **b;
    uint64_t mask;
    uint64_t count;
};

static struct shard shards[TIX_SHARDS];
static uint64_t live; /* atomic */

static struct shard *_shard(uint64_t h) { return &shards[(h >> 58) % TIX_SHARDS]; }

int tix_setup(void)
{
    for (int i = 0; i < TIX_SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        shards[i].mask = 255;
        shards[i].b = calloc(256, sizeof(struct node *));
        if (!shards[i].b)
            return -1;
    }
    return 0;
}

void tix_teardown(void)
{
    for (int i = 0; i < TIX_SHARDS; i++) {
        struct shard *s = &shards[i];
        for (uint64_t j = 0; s->b && j <= s->mask; j++)
            for (struct node *n = s->b[j], *next; n; n = next) {
                next = n->next;
                free(n);
            }
        free(s->b);
        s->b = NULL;
        s->count = 0;
        pthread_mutex_destroy(&s->lock);
    }
    live = 0;
}

static struct node **_find(struct shard *s, uint64_t h)
{
    struct node **p = &s->b[h & s->mask];
    while (*p && (*p)->hash != h)
        p = &(*p)->next;
    return p;
}

static void _grow(struct shard *s)
{
    uint64_t nsize = (s->mask + 1) * 2;
    struct node **nb = calloc(nsize, sizeof(*nb));
    if (!nb)
        return; /* keep the longer chains */
    for (uint64_t j = 0; j <= s->mask; j++)
        for (struct node *n = s->b[j], *next; n; n = next) {
            next = n->next;
            n->next = nb[n->hash & (nsize - 1)];
            nb[n->hash & (nsize - 1)] = n;
        }
    free(s->b);
    s->b = nb;
    s->mask = nsize - 1;
}

static void _live_delta(enum tix_state from, enum tix_state to)
{
    if (from == TIX_LIVE && to != TIX_LIVE)
        __atomic_fetch_sub(&live, 1, __ATOMIC_RELAXED);
    else if (from != TIX_LIVE && to == TIX_LIVE)
        __atomic_fetch_add(&live, 1, __ATOMIC_RELAXED);
}

/* Set under the shard lock; TIX_NONE removes. */
static void _put(struct shard *s, struct node **p, uint64_t h, uint16_t ns, enum tix_state st,
                 uint64_t seq)
{
    if (*p) {
        _live_delta((*p)->e.state, st);
        if (st == TIX_NONE) {
            struct node *n = *p;
            *p = n->next;
            free(n);
            s->count--;
            return;
        }
        (*p)->e.state = st;
        (*p)->e.seq = seq;
        (*p)->e.ns = ns;
        return;
    }
    if (st == TIX_NONE)
        return;
    struct node *n = calloc(1, sizeof(*n));
    if (!n)
        return; /* the key reads as not on disk: a miss, never a wrong value */
    n->hash = h;
    n->e = (struct tix_entry){.state = st, .seq = seq, .ns = ns};
    n->next = s->b[h & s->mask];
    s->b[h & s->mask] = n;
    _live_delta(TIX_NONE, st);
    if (++s->count > s->mask + 1)
        _grow(s);
}

struct tix_entry tix_get(uint64_t h)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    struct tix_entry e = *p ? (*p)->e : (struct tix_entry){0};
    pthread_mutex_unlock(&s->lock);
    return e;
}

void tix_set(uint64_t h, uint16_t ns, enum tix_state st, uint64_t seq)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    _put(s, _find(s, h), h, ns, st, seq);
    pthread_mutex_unlock(&s->lock);
}

bool tix_move(uint64_t h, enum tix_state from, uint64_t seq, enum tix_state to)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    bool ok = *p && (*p)->e.state == from && (*p)->e.seq == seq;
    if (ok)
        _put(s, p, h, (*p)->e.ns, to, seq);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

enum tix_state tix_tomb(uint64_t h, uint16_t ns, uint64_t seq, bool always)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    enum tix_state was = *p ? (*p)->e.state : TIX_NONE;
    if (*p || always)
        _put(s, p, h, *p ? (*p)->e.ns : ns, TIX_TOMB, seq);
    pthread_mutex_unlock(&s->lock);
    return was;
}

bool tix_add(uint64_t h, uint16_t ns, enum tix_state st, uint64_t seq)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    bool added = !*p;
    if (added)
        _put(s, p, h, ns, st, seq);
    pthread_mutex_unlock(&s->lock);
    return added;
}

uint64_t tix_count(void)
{
    uint64_t n = 0;
    for (int i = 0; i < TIX_SHARDS; i++)
        n += __atomic_load_n(&shards[i].count, __ATOMIC_RELAXED);
    return n;
}

uint64_t tix_memory(void)
{
    uint64_t b = 0;
    for (int i = 0; i < TIX_SHARDS; i++)
        b += (__atomic_load_n(&shards[i].mask, __ATOMIC_RELAXED) + 1) * sizeof(struct node *);
    /* malloc rounds a node up to 48 bytes */
    return b + tix_count() * 48;
}

uint32_t tix_hit(uint64_t h, uint64_t seq, uint32_t now_s)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    uint32_t prev = 0;
    if (*p && (*p)->e.seq == seq) {
        prev = (*p)->e.last_hit_s;
        (*p)->e.last_hit_s = now_s;
    }
    pthread_mutex_unlock(&s->lock);
    return prev;
}

/* Remove every entry drop() selects; returns how many of them were LIVE. Walks everything
 * (FLUSH, the end of a warm restart's indexing). */
static uint64_t _drop_where(bool (*drop)(const struct tix_entry *e, int arg), int arg)
{
    uint64_t live_dropped = 0;
    for (int i = 0; i < TIX_SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        for (uint64_t j = 0; j <= s->mask; j++) {
            struct node **p = &s->b[j];
            while (*p) {
                if (drop(&(*p)->e, arg)) {
                    live_dropped += (*p)->e.state == TIX_LIVE;
                    _put(s, p, (*p)->hash, 0, TIX_NONE, 0);
                } else {
                    p = &(*p)->next;
                }
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return live_dropped;
}

static bool _in_ns(const struct tix_entry *e, int ns) { return ns < 0 || e->ns == ns; }
static bool _is_tomb(const struct tix_entry *e, int unused)
{
    (void)unused;
    return e->state == TIX_TOMB;
}

uint64_t tix_drop_ns(int ns) { return _drop_where(_in_ns, ns); }
void tix_drop_tombs(void) { _drop_where(_is_tomb, 0); }

uint64_t tix_live(void) { return __atomic_load_n(&live, __ATOMIC_RELAXED); }
