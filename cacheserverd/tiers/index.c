/* A sharded chained hash map from key hash to entry; one mutex per shard, O(1) under it
 * (tix_drop_ns walks everything: FLUSH only). */
#include "index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define TIX_SHARDS 64

struct node {
    struct node *next;
    uint64_t hash;
    struct tix_entry e;
};

struct shard {
    pthread_mutex_t lock;
    struct node **b;
    /* mask and count change under lock, with atomic stores: tix_count and tix_memory (the
     * writer thread's gauges, STATS) read them without it. Relaxed: they are only numbers
     * there, never used to reach a node. */
    uint64_t mask;
    uint64_t count;
};

static struct shard shards[TIX_SHARDS];
static uint64_t live_n[TIX_TIERS], live_b[TIX_TIERS]; /* atomic */
/* live bytes per value-log segment slot (index.h); zero pages until a log tier uses them */
static int64_t seg_live[TIX_TIERS][TIX_SEG_SLOTS]; /* atomic */

static struct shard *_shard(uint64_t h) { return &shards[(h >> 58) % TIX_SHARDS]; }

/* The queued value an entry holds: only a QUEUED entry's union is qv (a LIVE one's may be a
 * location, index.h). */
static struct tix_value *_qv(const struct tix_entry *e)
{
    return e->state == TIX_QUEUED ? e->qv : NULL;
}

/* A copy of an entry to hand out: never a QUEUED entry's value. */
static struct tix_entry _out(struct tix_entry e)
{
    if (e.state == TIX_QUEUED)
        e.qv = NULL;
    return e;
}

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
                tix_value_release(_qv(&n->e));
                free(n);
            }
        free(s->b);
        s->b = NULL;
        s->count = 0;
        pthread_mutex_destroy(&s->lock);
    }
    memset(live_n, 0, sizeof(live_n));
    memset(live_b, 0, sizeof(live_b));
    for (int t = 0; t < TIX_TIERS; t++)
        for (uint32_t i = 0; i < TIX_SEG_SLOTS; i++)
            if (__atomic_load_n(&seg_live[t][i], __ATOMIC_RELAXED)) /* leave untouched pages */
                __atomic_store_n(&seg_live[t][i], 0, __ATOMIC_RELAXED);
}

int64_t tix_seg_live(int tier, uint32_t seg)
{
    return __atomic_load_n(&seg_live[tier][seg % TIX_SEG_SLOTS], __ATOMIC_RELAXED);
}

void tix_seg_reset(int tier, uint32_t seg)
{
    __atomic_store_n(&seg_live[tier][seg % TIX_SEG_SLOTS], 0, __ATOMIC_RELAXED);
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
    __atomic_store_n(&s->mask, nsize - 1, __ATOMIC_RELAXED);
}

struct tix_value *tix_value_new(uint8_t type, uint64_t expire_ms, uint64_t version,
                                const void *data, uint32_t len, const void *ctr,
                                uint32_t ctr_len)
{
    struct tix_value *v = malloc(sizeof(*v) + (size_t)len + ctr_len + 1);
    if (!v)
        return NULL;
    v->refs = 1;
    v->type = type;
    v->expire_ms = expire_ms;
    v->version = version;
    v->len = len;
    v->ctr_len = ctr_len;
    if (len)
        memcpy(v->data, data, len);
    if (ctr_len)
        memcpy(v->data + len, ctr, ctr_len);
    return v;
}

void tix_value_release(struct tix_value *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(v);
}

static void _account(const struct tix_entry *e, int sign)
{
    if (e->state != TIX_LIVE)
        return;
    if (sign > 0) {
        __atomic_fetch_add(&live_n[e->tier], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&live_b[e->tier], e->dlen, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_sub(&live_n[e->tier], 1, __ATOMIC_RELAXED);
        __atomic_fetch_sub(&live_b[e->tier], e->dlen, __ATOMIC_RELAXED);
    }
    if (e->loc.off) /* on a value log */
        __atomic_fetch_add(&seg_live[e->tier][e->loc.seg % TIX_SEG_SLOTS],
                           sign > 0 ? (int64_t)e->dlen : -(int64_t)e->dlen, __ATOMIC_RELAXED);
}

/* The last record of a key whose entry was `old`, into a new QUEUED or TOMB entry e. */
static void _last_from(struct tix_entry *e, const struct tix_entry *old)
{
    e->last_off8 = 0;
    e->last_seg = 0;
    if (old->state == TIX_QUEUED || old->state == TIX_TOMB) {
        e->last_off8 = old->last_off8;
        e->last_seg = old->last_seg;
    } else if (old->state == TIX_LIVE) {
        e->last_off8 = old->loc.off ? old->loc.off / 8 : TIX_LAST_ELSEWHERE;
        e->last_seg = (uint16_t)(old->loc.seg % TIX_SEG_SLOTS);
    }
}

static bool _waits(const struct tix_entry *e)
{
    return e->state == TIX_QUEUED || e->state == TIX_TOMB;
}

bool tix_last_is(const struct tix_entry *e, struct tix_loc loc)
{
    return _waits(e) && loc.off && e->last_off8 == loc.off / 8 &&
           e->last_seg == loc.seg % TIX_SEG_SLOTS;
}

bool tix_last_put(const struct tix_entry *e) { return _waits(e) && e->last_off8; }

/* Replace the entry at *p (absent when *p is NULL) by e under the shard lock; state
 * TIX_NONE removes it. */
static void _put(struct shard *s, struct node **p, uint64_t h, const struct tix_entry *e)
{
    if (*p) {
        _account(&(*p)->e, -1);
        if (_qv(&(*p)->e) != _qv(e))
            tix_value_release(_qv(&(*p)->e));
        if (e->state == TIX_NONE) {
            struct node *n = *p;
            *p = n->next;
            free(n);
            __atomic_store_n(&s->count, s->count - 1, __ATOMIC_RELAXED);
            return;
        }
        (*p)->e = *e;
        _account(e, 1);
        return;
    }
    if (e->state == TIX_NONE) {
        tix_value_release(_qv(e));
        return;
    }
    struct node *n = malloc(sizeof(*n));
    if (!n) {
        tix_value_release(_qv(e));
        return; /* the key reads as not on disk: a miss, never a wrong value */
    }
    n->hash = h;
    n->e = *e;
    n->next = s->b[h & s->mask];
    s->b[h & s->mask] = n;
    _account(e, 1);
    __atomic_store_n(&s->count, s->count + 1, __ATOMIC_RELAXED);
    if (s->count > s->mask + 1)
        _grow(s);
}

/* The entry becomes state st with seq, keeping ns (or taking ns when new). */
static void _put_state(struct shard *s, struct node **p, uint64_t h, uint16_t ns,
                       enum tix_state st, uint64_t seq)
{
    struct tix_entry e = {.state = st, .seq = seq, .ns = *p ? (*p)->e.ns : ns};
    _put(s, p, h, &e);
}

struct tix_entry tix_get(uint64_t h)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    struct tix_entry e = *p ? (*p)->e : (struct tix_entry){0};
    pthread_mutex_unlock(&s->lock);
    return _out(e);
}

struct tix_entry tix_set_queued(uint64_t h, uint16_t ns, uint64_t seq, struct tix_value *qv)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    struct tix_entry before = *p ? (*p)->e : (struct tix_entry){0};
    struct tix_entry e = {.state = TIX_QUEUED, .seq = seq, .ns = ns, .qv = qv,
                          .stream = qv && qv->type == STORE_T_STREAM};
    _last_from(&e, &before);
    _put(s, p, h, &e);
    pthread_mutex_unlock(&s->lock);
    return _out(before);
}

struct tix_value *tix_queued_value(uint64_t h, uint64_t *seq)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    struct tix_value *v = NULL;
    if (*p && (*p)->e.state == TIX_QUEUED && (*p)->e.qv) {
        v = (*p)->e.qv;
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
        *seq = (*p)->e.seq;
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}

void tix_restore(uint64_t h, const struct tix_entry *e)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    struct tix_entry r = *e;
    if (*p && _waits(&(*p)->e)) {
        /* the key's last record may have moved meanwhile (the reclaim, tix_last_move): a
         * waiting entry takes the current place; a LIVE one whose record moved reads as
         * absent (TOMB, keeping that place) rather than name a place that may be gone */
        const struct tix_entry *cur = &(*p)->e;
        if (_waits(&r)) {
            r.last_off8 = cur->last_off8;
            r.last_seg = cur->last_seg;
        } else if (r.state == TIX_LIVE && r.loc.off && !tix_last_is(cur, r.loc)) {
            r = (struct tix_entry){.state = TIX_TOMB, .seq = r.seq, .ns = r.ns,
                                   .last_off8 = cur->last_off8, .last_seg = cur->last_seg};
        }
    }
    _put(s, p, h, &r);
    pthread_mutex_unlock(&s->lock);
}

/* Under the lock: the entry of h when it is in state `from` with seq, else NULL. */
static struct node **_find_at(struct shard *s, uint64_t h, enum tix_state from, uint64_t seq)
{
    struct node **p = _find(s, h);
    return *p && (*p)->e.state == from && (*p)->e.seq == seq ? p : NULL;
}

bool tix_remove(uint64_t h, enum tix_state from, uint64_t seq)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find_at(s, h, from, seq);
    if (p)
        _put(s, p, h, &(struct tix_entry){.state = TIX_NONE});
    pthread_mutex_unlock(&s->lock);
    return p != NULL;
}

bool tix_absent(uint64_t h, uint64_t seq, bool keep)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find_at(s, h, TIX_LIVE, seq);
    if (p)
        _put_state(s, p, h, 0, keep ? TIX_TOMB : TIX_NONE, seq);
    pthread_mutex_unlock(&s->lock);
    return p != NULL;
}

bool tix_written(uint64_t h, uint64_t seq, uint8_t tier, uint32_t dlen, bool ref,
                 struct tix_loc loc)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find_at(s, h, TIX_QUEUED, seq);
    if (p) {
        struct tix_entry e = (*p)->e;
        e.state = TIX_LIVE;
        e.tier = tier;
        e.dlen = dlen;
        e.ref = ref || e.ref; /* a read while queued counts too */
        e.qv = NULL; /* _put releases it */
        e.loc = loc;
        e.last_off8 = 0;
        e.last_seg = 0;
        _put(s, p, h, &e);
    } else {
        struct node **q = _find(s, h);
        if (*q && _waits(&(*q)->e) && (*q)->e.seq != seq) /* changed again meanwhile */
            _last_from(&(*q)->e, &(struct tix_entry){.state = TIX_LIVE, .loc = loc});
    }
    pthread_mutex_unlock(&s->lock);
    return p != NULL;
}

bool tix_last_move(uint64_t h, struct tix_loc from, struct tix_loc to)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    bool moved = *p && tix_last_is(&(*p)->e, from);
    if (moved)
        _last_from(&(*p)->e, &(struct tix_entry){.state = TIX_LIVE, .loc = to});
    pthread_mutex_unlock(&s->lock);
    return moved;
}

void tix_deleted(uint64_t h)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    if (*p && _waits(&(*p)->e))
        (*p)->e.last_off8 = 0;
    pthread_mutex_unlock(&s->lock);
}

bool tix_relocate(uint64_t h, uint64_t seq, uint8_t tier, struct tix_loc loc)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find_at(s, h, TIX_LIVE, seq);
    if (p) {
        struct tix_entry e = (*p)->e;
        e.tier = tier;
        e.ref = false;
        e.loc = loc;
        _put(s, p, h, &e);
    }
    pthread_mutex_unlock(&s->lock);
    return p != NULL;
}

bool tix_move(uint64_t h, uint64_t seq, uint8_t tier, struct tix_loc from, struct tix_loc to,
              uint32_t dlen)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find_at(s, h, TIX_LIVE, seq);
    if (p && ((*p)->e.tier != tier || !tix_loc_eq((*p)->e.loc, from)))
        p = NULL;
    if (p) {
        struct tix_entry e = (*p)->e;
        e.loc = to;
        e.dlen = dlen;
        _put(s, p, h, &e);
    }
    pthread_mutex_unlock(&s->lock);
    return p != NULL;
}

bool tix_forget_at(uint64_t h, uint8_t tier, struct tix_loc loc)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    bool gone = *p && (*p)->e.state == TIX_LIVE && (*p)->e.tier == tier &&
                tix_loc_eq((*p)->e.loc, loc);
    if (gone)
        _put(s, p, h, &(struct tix_entry){.state = TIX_NONE});
    else if (*p && tix_last_is(&(*p)->e, loc))
        (*p)->e.last_off8 = 0;
    pthread_mutex_unlock(&s->lock);
    return gone;
}

bool tix_add_live(uint64_t h, uint16_t ns, uint64_t seq, uint8_t tier, uint32_t dlen,
                  bool stream, struct tix_loc loc)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    bool added = !*p;
    if (added)
        _put(s, p, h, &(struct tix_entry){.state = TIX_LIVE, .seq = seq, .ns = ns, .tier = tier,
                                          .dlen = dlen, .stream = stream, .loc = loc});
    pthread_mutex_unlock(&s->lock);
    return added;
}

bool tix_add_tomb(uint64_t h, uint16_t ns, uint64_t seq)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    bool added = !*p;
    if (added)
        _put_state(s, p, h, ns, TIX_TOMB, seq);
    pthread_mutex_unlock(&s->lock);
    return added;
}

void tix_add_many(struct tix_add *a, size_t n)
{
    enum { AHEAD = 8 }; /* entries between a bucket's fetch and its use */
    size_t count[TIX_SHARDS + 1] = {0};
    uint32_t *order = n ? malloc(n * sizeof(*order)) : NULL;
    if (!order) { /* one at a time, as tix_add_live and tix_add_tomb do */
        for (size_t i = 0; i < n; i++)
            a[i].added = a[i].live ? tix_add_live(a[i].hash, a[i].ns, a[i].seq, a[i].tier,
                                                  a[i].dlen, a[i].stream, a[i].loc)
                                   : tix_add_tomb(a[i].hash, a[i].ns, a[i].seq);
        return;
    }
    /* a stable counting sort by shard: a hash's entries keep their order */
    for (size_t i = 0; i < n; i++)
        count[_shard(a[i].hash) - shards + 1]++;
    for (int k = 0; k < TIX_SHARDS; k++)
        count[k + 1] += count[k];
    size_t at[TIX_SHARDS];
    memcpy(at, count, sizeof(at));
    for (size_t i = 0; i < n; i++)
        order[at[_shard(a[i].hash) - shards]++] = (uint32_t)i;
    for (int k = 0; k < TIX_SHARDS; k++) {
        if (count[k] == count[k + 1])
            continue;
        struct shard *s = &shards[k];
        pthread_mutex_lock(&s->lock);
        for (size_t j = count[k]; j < count[k + 1]; j++) {
            if (j + AHEAD < count[k + 1]) {
                struct node *head = s->b[a[order[j + AHEAD]].hash & s->mask];
                if (head)
                    __builtin_prefetch(head);
            }
            if (j + 2 * AHEAD < count[k + 1])
                __builtin_prefetch(&s->b[a[order[j + 2 * AHEAD]].hash & s->mask]);
            struct tix_add *x = &a[order[j]];
            struct node **p = _find(s, x->hash);
            x->added = !*p;
            if (!x->added)
                continue;
            if (x->live)
                _put(s, p, x->hash,
                     &(struct tix_entry){.state = TIX_LIVE, .seq = x->seq, .ns = x->ns,
                                         .tier = x->tier, .dlen = x->dlen,
                                         .stream = x->stream, .loc = x->loc});
            else
                _put_state(s, p, x->hash, x->ns, TIX_TOMB, x->seq);
        }
        pthread_mutex_unlock(&s->lock);
    }
    free(order);
}

enum tix_state tix_state_warm(uint64_t h, bool warm)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    enum tix_state st = *p ? (*p)->e.state : TIX_NONE;
    if (warm && st == TIX_LIVE)
        (*p)->e.ref = true;
    pthread_mutex_unlock(&s->lock);
    return st;
}

struct tix_entry tix_pass(uint64_t h)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    struct tix_entry e = *p ? (*p)->e : (struct tix_entry){0};
    if (*p)
        (*p)->e.ref = false;
    pthread_mutex_unlock(&s->lock);
    return _out(e);
}

struct tix_entry tix_pass_at(uint64_t h, uint8_t tier, struct tix_loc loc)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    struct tix_entry e = {0};
    if (*p && (*p)->e.state == TIX_LIVE && (*p)->e.tier == tier &&
        tix_loc_eq((*p)->e.loc, loc)) {
        e = (*p)->e;
        (*p)->e.ref = false;
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

enum tix_state tix_tomb(uint64_t h, uint16_t ns, uint64_t seq, bool always, bool *was_stream,
                        struct tix_entry *before)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    enum tix_state was = *p ? (*p)->e.state : TIX_NONE;
    *was_stream = *p && (*p)->e.stream;
    struct tix_entry old = *p ? (*p)->e : (struct tix_entry){0};
    if (before)
        *before = _out(old);
    if (*p || always) {
        struct tix_entry e = {.state = TIX_TOMB, .seq = seq, .ns = *p ? old.ns : ns};
        _last_from(&e, &old);
        _put(s, p, h, &e);
    }
    pthread_mutex_unlock(&s->lock);
    return was;
}

/* Remove every entry drop() selects; returns how many of them were LIVE. Walks everything
 * (FLUSH, the end of a warm restart's indexing). With heads, collects the LIVE stream heads
 * on a value log (tix_drop_ns). */
static uint64_t _drop_where(bool (*drop)(const struct tix_entry *e, int arg), int arg,
                            struct tix_entry **heads, size_t *nheads)
{
    uint64_t live_dropped = 0;
    size_t cap = 0;
    for (int i = 0; i < TIX_SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        for (uint64_t j = 0; j <= s->mask; j++) {
            struct node **p = &s->b[j];
            while (*p) {
                if (drop(&(*p)->e, arg)) {
                    live_dropped += (*p)->e.state == TIX_LIVE;
                    const struct tix_entry *e = &(*p)->e;
                    if (heads && e->state == TIX_LIVE && e->stream && e->loc.off) {
                        if (*nheads == cap) {
                            size_t ncap = cap ? cap * 2 : 16;
                            struct tix_entry *nh = realloc(*heads, ncap * sizeof(*nh));
                            if (nh) {
                                *heads = nh;
                                cap = ncap;
                            }
                        }
                        if (*nheads < cap)
                            (*heads)[(*nheads)++] = *e;
                    }
                    _put(s, p, (*p)->hash, &(struct tix_entry){.state = TIX_NONE});
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

uint64_t tix_drop_ns(int ns, struct tix_entry **heads, size_t *nheads)
{
    if (heads) {
        *heads = NULL;
        *nheads = 0;
    }
    return _drop_where(_in_ns, ns, heads, nheads);
}
void tix_drop_tombs(void) { _drop_where(_is_tomb, 0, NULL, NULL); }

static bool _unseen(const struct tix_entry *e, int tier)
{
    return e->state == TIX_LIVE && e->tier == tier && !e->seen;
}

void tix_unsee(int tier)
{
    for (int i = 0; i < TIX_SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        for (uint64_t j = 0; j <= s->mask; j++)
            for (struct node *n = s->b[j]; n; n = n->next)
                if (n->e.state == TIX_LIVE && n->e.tier == tier)
                    n->e.seen = false;
        pthread_mutex_unlock(&s->lock);
    }
}

void tix_see(uint64_t h, int tier)
{
    struct shard *s = _shard(h);
    pthread_mutex_lock(&s->lock);
    struct node **p = _find(s, h);
    if (*p && (*p)->e.state == TIX_LIVE && (*p)->e.tier == tier)
        (*p)->e.seen = true;
    pthread_mutex_unlock(&s->lock);
}

uint64_t tix_drop_unseen(int tier) { return _drop_where(_unseen, tier, NULL, NULL); }

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
        (*p)->e.ref = true;
    }
    pthread_mutex_unlock(&s->lock);
    return prev;
}

static uint64_t _sum(uint64_t *v, int tier)
{
    if (tier >= 0)
        return __atomic_load_n(&v[tier], __ATOMIC_RELAXED);
    uint64_t n = 0;
    for (int t = 0; t < TIX_TIERS; t++)
        n += __atomic_load_n(&v[t], __ATOMIC_RELAXED);
    return n;
}

uint64_t tix_live(int tier) { return _sum(live_n, tier); }
uint64_t tix_live_bytes(int tier) { return _sum(live_b, tier); }
