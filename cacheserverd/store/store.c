/* The store: items, memory accounting, SIEVE eviction and the single mutation path.
 *
 * Eviction is SIEVE (Zhang et al., "SIEVE is Simpler than LRU: an Efficient Turn-Key Eviction
 * Algorithm for Web Caches", NSDI'24): one FIFO list per shard, a visited bit set on a hit
 * (no list movement on reads), and a hand that walks from the tail clearing visited bits and
 * evicts the first unvisited item. One global limit covers all shards; the victim shard is
 * the fuller of two picked at random (_victim_shard).
 *
 * Every change ends in _emit(): the one place a mutation record leaves the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "counter.h"
#include "crc32c.h"
#include "log.h"
#include "mpread.h"
#include "ratelimit.h"
#include "shm.h"
#include "stats.h"
#include "store-internal.h"

OPTION_STRUCT(store, STORE_OPTIONS);
static struct store_options opts;
static struct option_desc opt_desc[] = OPTION_DESCRIBE(STORE_OPTIONS);
static struct store_stats st;
struct store_stats *const store_stat = &st;
static struct stat_desc st_desc[] = STAT_DESCRIBE(STORE_STATS);

struct shard *store_shards;
static uint32_t evict_cursor;

#define MAX_SUBSCRIBERS 4
static struct {
    store_mutation_fn fn;
    void *arg;
} subscribers[MAX_SUBSCRIBERS];
/* nsubscribers and node_id are set on the main thread at startup (repl_setup), after the
 * tiers' restore thread may have begun loading keys (store_load emits records and stamps
 * them with node_id): so atomics. A subscriber's slot is filled before the release store
 * that counts it; _emit and _emit_change read the count with acquire. */
static int nsubscribers;
static struct store_miss_hooks miss_hooks;
static uint16_t node_id; /* the origin of this node's changes; read it with _self() */

static inline uint16_t _self(void) { return __atomic_load_n(&node_id, __ATOMIC_RELAXED); }

/* What left memory, for last-writer-wins on keys memory no longer holds: per 2^16 slices of
 * the hash space (its top bits, so each slice belongs to one shard and is guarded by its
 * lock), the greatest (stamp, origin) of an item deleted, expired or evicted there, or of a
 * delete. A peer's change for a key memory does not hold wins only above it (else it could
 * bring back what a newer change removed); losing there makes the key a miss, never stale.
 * The origin takes part as in every comparison: two nodes may stamp the same ms and
 * counter, and the greater node id wins there too. */
#define GONE_BITS STORE_GONE_BITS
struct gone_mark {
    uint64_t stamp;
    uint16_t origin;
};
static struct gone_mark *gone;

/* Does (stamp, origin) win over (version, vorigin)? The greater stamp, then the greater
 * node id: the same answer on every node whatever the order changes arrive in. */
static inline bool _wins(uint64_t stamp, uint16_t origin, uint64_t version, uint16_t vorigin)
{
    return stamp > version || (stamp == version && origin > vorigin);
}

static inline struct gone_mark *_gone(uint64_t hash) { return &gone[hash >> (64 - GONE_BITS)]; }
static inline void _do_gone(uint64_t hash, uint64_t stamp, uint16_t origin)
{
    struct gone_mark *g = _gone(hash);
    if (_wins(stamp, origin, g->stamp, g->origin)) {
        g->stamp = stamp;
        g->origin = origin;
    }
}

static int _verify_check(const struct option_desc *d, const struct option_value *v, char *err,
                         size_t errlen);

void store_options_register(void)
{
    option_bind(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), &opts);
    option_registry_add("store", opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]));
    /* docs/config.md lists the same ranges */
    static const struct option_range ranges[] = {
        {"memory", 1ull << 20, 1ull << 50, false},
        {"sweep_interval_ms", 10, 60000, false},
        {"sweep_buckets", 1, 1u << 20, false},
        {"max_leases", 1, 1u << 20, false},
    };
    option_registry_ranges("store", ranges, sizeof(ranges) / sizeof(ranges[0]));
    char err[128];
    option_registry_check("verify_reads", _verify_check, err, sizeof(err));
    option_registry_check("shm_read_size", store_shm_size_check, err, sizeof(err));
}

int store_mutation_subscribe(store_mutation_fn fn, void *arg)
{
    int n = nsubscribers; /* subscribers are added on the main thread only */
    if (n >= MAX_SUBSCRIBERS)
        return -1;
    subscribers[n].fn = fn;
    subscribers[n].arg = arg;
    __atomic_store_n(&nsubscribers, n + 1, __ATOMIC_RELEASE);
    return 0;
}

void store_set_miss_hooks(const struct store_miss_hooks *h)
{
    miss_hooks = h ? *h : (struct store_miss_hooks){0};
}

/* Under the key's lock, memory missed k: may a disk tier hold it? */
static bool _on_disk(const struct store_key *k)
{
    return miss_hooks.on_disk && miss_hooks.on_disk(miss_hooks.arg, k);
}

void store_set_stream_hooks(const struct store_stream_hooks *h) { store_stream_set_hooks(h); }

static uint64_t _expire_at(uint64_t ttl_ms) { return ttl_ms ? clock_wall_ms() + ttl_ms : 0; }

bool store_item_expired(const struct item *it, uint64_t now_ms)
{
    return (it->expire_ms && it->expire_ms <= now_ms) || store_ns_item_flushed(it);
}

size_t store_item_overhead(void) { return sizeof(struct item); }
uint64_t store_bytes_used(void) { return stat_get(&st.bytes_used); }
uint64_t store_memory_limit(void) { return option_get_u(&opts.memory); }

/* ---- items ---- */

static uint64_t _item_mem(const struct item *it)
{
    uint64_t m = sizeof(struct item) + it->klen + it->vlen;
    if (it->flags & ITEM_COUNTER)
        m += ITEM_CTR_OFFSET - it->vlen + ctr_len_at(item_val((struct item *)it) + ITEM_CTR_OFFSET);
    if (it->type == STORE_T_STREAM)
        m += store_stream_mem(item_stream(it));
    return m;
}

/* Allocates an unlinked item with one reference; memory is reserved separately. */
static struct item *_item_new(const struct store_key *k, uint8_t type, uint32_t vlen)
{
    struct item *it = malloc(sizeof(struct item) + k->len + vlen);
    if (!it)
        return NULL;
    memset(it, 0, sizeof(*it));
    it->refcount = 1;
    it->klen = (uint16_t)k->len;
    it->vlen = vlen;
    it->ns = k->ns;
    it->type = type;
    memcpy(it->data, k->data, k->len);
    return it;
}

static enum store_status _reserve(uint64_t bytes);

/* A new item holding data (when not NULL), its memory reserved (evicting as needed). NULL
 * when it does not fit: STORE_ENOMEM. */
uint32_t store_value_crc(const uint8_t *key, uint32_t klen, const uint8_t *value, uint32_t vlen,
                         const uint8_t *ctr, uint32_t ctr_len, uint8_t type)
{
    uint32_t c = crc32c(crc32c(0, key, klen), value, vlen);
    if (ctr_len)
        c = crc32c(c, ctr, ctr_len);
    return crc32c(c, &type, 1);
}

static uint32_t _item_crc(const struct item *it)
{
    const uint8_t *ctr = NULL;
    uint32_t ctr_len = 0;
    if (__atomic_load_n(&it->flags, __ATOMIC_RELAXED) & ITEM_COUNTER) {
        ctr = item_val((struct item *)it) + ITEM_CTR_OFFSET;
        ctr_len = (uint32_t)ctr_len_at(ctr);
    }
    return store_value_crc(item_key(it), it->klen, item_val((struct item *)it), it->vlen, ctr,
                           ctr_len, it->type);
}

uint32_t store_item_crc(const struct item *it) { return it->crc; }
bool do_store_item_intact(const struct item *it) { return _item_crc(it) == it->crc; }

static struct item *_item_reserved(const struct store_key *k, uint8_t type, const void *data,
                                   uint32_t vlen)
{
    struct item *it = _item_new(k, type, vlen);
    if (!it)
        return NULL;
    if (data) {
        memcpy(item_val(it), data, vlen);
        it->crc = _item_crc(it); /* here, off the shard lock: a 64 MiB value takes ms */
        it->flags |= ITEM_SEALED;
    }
    if (_reserve(_item_mem(it)) != STORE_OK) {
        free(it);
        return NULL;
    }
    return it;
}

static void _item_free(struct item *it)
{
    stat_sub(&st.bytes_used, _item_mem(it));
    if (it->type == STORE_T_STREAM)
        store_stream_destroy(item_stream(it));
    free(it);
}

void store_item_release(void *arg)
{
    struct item *it = arg;
    if (__atomic_sub_fetch(&it->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        _item_free(it);
}

static inline void _item_ref(struct item *it) { __atomic_add_fetch(&it->refcount, 1, __ATOMIC_ACQ_REL); }

/* A linked item's version, expire_ms and origin change in place (TOUCH, a peer's TOUCH,
 * APPEND) under the shard lock: atomic stores, as readers holding only a reference load
 * them (struct item). */
static void _restamp(struct item *it, uint64_t expire_ms, uint64_t version, uint16_t origin)
{
    if (it->shm_slot) /* its copy carries the old version and expiry */
        do_store_shm_invalidate(it);
    union item_meta m = {.word = it->meta};
    m.expire_ms = expire_ms;
    m.origin = origin;
    __atomic_store_n(&it->meta, m.word, __ATOMIC_RELAXED);
    __atomic_store_n(&it->version, version, __ATOMIC_RELAXED);
}

static union item_meta _meta(const struct item *it)
{
    return (union item_meta){.word = __atomic_load_n(&it->meta, __ATOMIC_RELAXED)};
}

_Static_assert(sizeof(union item_meta) == sizeof(uint64_t), "item_meta is one word");

uint8_t store_item_type(const struct item *it) { return it->type; }
uint64_t store_item_version(const struct item *it)
{
    return __atomic_load_n(&it->version, __ATOMIC_RELAXED);
}
uint16_t store_item_origin(const struct item *it) { return (uint16_t)_meta(it).origin; }

const uint8_t *store_item_counter(const struct item *it, uint32_t *len)
{
    /* without the shard lock (a reference is held): ITEM_COUNTER never changes once the
     * item is linked, but the other bits of the byte do (under the lock) */
    if (!(__atomic_load_n(&it->flags, __ATOMIC_RELAXED) & ITEM_COUNTER))
        return NULL;
    const uint8_t *p = item_val((struct item *)it) + ITEM_CTR_OFFSET;
    *len = (uint32_t)ctr_len_at(p);
    return p;
}
uint64_t store_item_expire_ms(const struct item *it) { return _meta(it).expire_ms; }

const uint8_t *store_item_value(const struct item *it, uint32_t *len)
{
    *len = it->vlen;
    return it->data + it->klen;
}

int64_t store_item_ttl(const struct item *it)
{
    uint64_t expire_ms = _meta(it).expire_ms;
    if (!expire_ms)
        return STORE_TTL_NONE;
    uint64_t now = clock_wall_ms();
    return expire_ms > now ? (int64_t)(expire_ms - now) : 0;
}

/* Content of a bytes value (the str/bin payload inside its encoding). */
static const uint8_t *_bytes_content(const struct item *it, uint32_t *len)
{
    struct mp_cursor c;
    const uint8_t *d = NULL;
    mp_cursor_init(&c, it->data + it->klen, it->vlen);
    if (!mp_read_bytes(&c, &d, len))
        *len = 0;
    return d;
}

uint64_t store_item_strlen(const struct item *it)
{
    if (it->type == STORE_T_STREAM)
        return __atomic_load_n(&item_stream(it)->len, __ATOMIC_RELAXED);
    if (it->type == STORE_T_BYTES) {
        uint32_t len;
        _bytes_content(it, &len);
        return len;
    }
    return 0;
}

/* ---- the mutation path ---- */

/* A change of a key ends its lease (lease.c): a value computed before it must not be stored
 * after it. A load is no change. Shard locked. */
static inline void _lease_change(enum mutation_op op, uint16_t ns, uint64_t hash,
                                 const uint8_t *key, uint32_t klen)
{
    if (key && op != MUT_LOAD)
        do_store_lease_changed(store_shard_of(store_shards, hash), ns, hash, key, klen);
}

/* The one exit of the mutation path: every change's record leaves the store here. A
 * record without a stamp (m->hlc 0) gets one now. */
static void _emit(struct mutation *m)
{
    _lease_change(m->op, (uint16_t)m->ns, m->hash, m->key, m->klen);
    stat_incr(&st.mutations);
    int n = __atomic_load_n(&nsubscribers, __ATOMIC_ACQUIRE);
    if (n == 0)
        return;
    if (!m->hlc)
        m->hlc = store_hlc_now();
    for (int i = 0; i < n; i++)
        subscribers[i].fn(subscribers[i].arg, m);
}

/* A change of item it (shard locked) at key hash: its record, with value bytes (NULL and 0
 * for none; a stream's length for its MUT_SET/TOUCH/LOAD/EVICT) and, for a persisted
 * stream, its view. */
static void _emit_record(enum mutation_op op, struct item *it, uint64_t hash,
                         const uint8_t *value, uint64_t vlen, uint64_t stamp, uint16_t origin,
                         const struct store_append_info *app)
{
    if (__atomic_load_n(&nsubscribers, __ATOMIC_RELAXED) == 0) { /* _emit loads it again */
        _lease_change(op, it->ns, hash, item_key(it), it->klen);
        stat_incr(&st.mutations);
        return;
    }
    struct mutation m = {
        .op = op,
        .ns = it->ns,
        .key = item_key(it),
        .klen = it->klen,
        .hash = hash,
        .type = it->type,
        .ever_read = (it->flags & ITEM_EVER_READ) != 0,
        .value = value,
        .vlen = vlen,
        .expire_ms = it->expire_ms,
        .version = it->version,
        .origin = origin,
        .hlc = stamp,
    };
    if ((it->flags & ITEM_COUNTER) &&
        (op == MUT_SET || op == MUT_TOUCH || op == MUT_EVICT || op == MUT_LOAD)) {
        m.ctr = item_val(it) + ITEM_CTR_OFFSET;
        m.ctr_len = (uint32_t)ctr_len_at(m.ctr);
    }
    m.crc = it->crc;
    struct store_stream_view view;
    if (it->type == STORE_T_STREAM &&
        (op == MUT_SET || op == MUT_APPEND || op == MUT_TOUCH || op == MUT_LOAD) &&
        do_store_stream_view(item_stream(it), &view)) {
        view.origin = (uint16_t)it->origin;
        m.stream = &view;
    }
    m.append = app;
    _emit(&m);
}

static void _emit_change(enum mutation_op op, struct item *it, uint64_t hash, const uint8_t *value,
                         uint64_t vlen, uint64_t stamp, uint16_t origin)
{
    _emit_record(op, it, hash, value, vlen, stamp, origin, NULL);
}

/* A change of it: one that made the item (set, append, incr, touch) is stamped with its new
 * version and origin; the others (expiry, eviction, load) get a stamp of their own. */
static void _emit_item(enum mutation_op op, struct item *it, uint64_t hash, const uint8_t *value,
                       uint64_t vlen)
{
    bool made = op == MUT_SET || op == MUT_APPEND || op == MUT_TOUCH;
    _emit_change(op, it, hash, value, vlen, made ? it->version : 0,
                 made ? (uint16_t)it->origin : _self());
}

/* A change whose record carries the item's value (its encoding, or a stream's length). */
static void _emit_value(enum mutation_op op, struct item *it, uint64_t hash)
{
    if (it->type == STORE_T_STREAM)
        _emit_item(op, it, hash, NULL, item_stream(it)->len);
    else
        _emit_item(op, it, hash, item_val(it), it->vlen);
}

static void _list_push(struct shard *s, struct item *it)
{
    it->prev = NULL;
    it->next = s->head;
    if (s->head)
        s->head->prev = it;
    s->head = it;
    if (!s->tail)
        s->tail = it;
}

static void _list_remove(struct shard *s, struct item *it)
{
    if (s->hand == it)
        s->hand = it->prev;
    if (it->prev)
        it->prev->next = it->next;
    else
        s->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        s->tail = it->prev;
    it->prev = it->next = NULL;
}

/* Link a new item (its memory already reserved); the table takes the caller's reference. */
static void _do_link(struct shard *s, struct item *it, uint64_t hash)
{
    if (!(it->flags & ITEM_SEALED)) /* made here: small (an int, a counter, a stream) */
        it->crc = _item_crc(it);
    it->flags = (uint8_t)(ITEM_LINKED | (it->flags & (ITEM_EVER_READ | ITEM_COUNTER)));
    it->gen = store_ns_gen(it->ns);
    do_store_table_insert(s, it, hash);
    _list_push(s, it);
    __atomic_store_n(&s->bytes, s->bytes + _item_mem(it), __ATOMIC_RELAXED);
    stat_incr(&st.items);
    store_ns_account(it, 1, (int64_t)_item_mem(it));
}

/* Unlink the item at *slot and drop the table's reference. */
static void _do_unlink(struct shard *s, struct item **slot)
{
    struct item *it = *slot;
    if (it->shm_slot) /* before the change is acknowledged: no reader gets the old copy */
        do_store_shm_invalidate(it);
    do_store_table_remove_at(s, slot);
    _list_remove(s, it);
    __atomic_store_n(&s->bytes, s->bytes - _item_mem(it), __ATOMIC_RELAXED);
    __atomic_fetch_and(&it->flags, (uint8_t)~ITEM_LINKED, __ATOMIC_RELAXED);
    stat_decr(&st.items);
    store_ns_account(it, -1, -(int64_t)_item_mem(it));
    store_item_release(it);
}

/* Replace old (at *slot) by new in the table, or link new if there was none. The old item
 * is freed only after the new one's record left: freeing a persisted stream tells the
 * stream hooks to delete its chunks (gone), and persistence must queue that delete behind
 * the write that replaces the stream's head. The other way round a crash between the two
 * left the old head on disk naming chunks already deleted, and the key answered E_DISK
 * ("the end of the stream is missing on disk") until it was overwritten. */
static void _do_replace_rec(struct shard *s, struct item **slot, struct item *nit,
                            uint64_t hash, enum mutation_op op,
                            const struct store_append_info *app)
{
    struct item *old = slot ? *slot : NULL;
    bool was_published = old && old->shm_slot; /* read before _do_unlink clears it */
    if (old) {
        _item_ref(old);
        _do_unlink(s, slot);
    }
    _do_link(s, nit, hash);
    if (was_published) /* hot before its write: published at its first read (shm.c) */
        __atomic_fetch_or(&nit->flags, ITEM_WAS_PUBLISHED, __ATOMIC_RELAXED);
    if (app) /* a stream an APPEND made: its record says what the append added where */
        _emit_record(MUT_SET, nit, hash, NULL, item_stream(nit)->len, nit->version,
                     (uint16_t)nit->origin, app);
    else
        _emit_value(op, nit, hash);
    if (old)
        store_item_release(old);
}

static void _do_replace(struct shard *s, struct item **slot, struct item *nit, uint64_t hash,
                        enum mutation_op op)
{
    _do_replace_rec(s, slot, nit, hash, op, NULL);
}

/* The same for a stream an APPEND made. */
static void _do_replace_stream(struct shard *s, struct item **slot, struct item *nit,
                               uint64_t hash, const struct store_append_info *app)
{
    _do_replace_rec(s, slot, nit, hash, MUT_SET, app);
}

/* Append to the stream item it (shard locked) as a change of version/origin (and its new
 * expiry), with its record. The bytes added, or -1 without memory. */
static int64_t _do_stream_append(struct shard *s, struct item *it, uint64_t hash,
                                 const uint8_t *data, uint32_t len, uint64_t expire_ms,
                                 uint64_t version, uint16_t origin)
{
    struct stream *stm = item_stream(it);
    uint64_t offset = stm->len, prev = it->version;
    uint16_t prev_origin = (uint16_t)it->origin;
    uint64_t before = _item_mem(it);
    int64_t added = do_store_stream_append(stm, data, len);
    uint64_t grown = _item_mem(it) - before;
    stat_add(&st.bytes_used, grown);
    __atomic_store_n(&s->bytes, s->bytes + grown, __ATOMIC_RELAXED);
    store_ns_account(it, 0, (int64_t)grown);
    if (added < 0)
        return added;
    _restamp(it, expire_ms, version, origin);
    /* chunks first: persistence writes them before the stream's head */
    do_store_stream_spill(stm, it->ns, item_key(it), it->klen);
    struct store_append_info app = {stm->epoch, stm->eorigin, offset, data, len, prev,
                                    prev_origin};
    _emit_record(MUT_APPEND, it, hash, data, len, version, origin, &app);
    return added;
}

void do_store_reclaim(struct shard *s, struct item **slot, uint64_t hash)
{
    struct item *it = *slot;
    if (!store_ns_item_flushed(it)) { /* a flushed item's record was the flush */
        _do_gone(hash, it->version, (uint16_t)it->origin);
        stat_incr(&st.expirations);
        _emit_item(MUT_EXPIRE, it, hash, NULL, 0);
    }
    _do_unlink(s, slot);
}

/* Find a live item; reclaims an expired or flushed one on the way. */
static struct item **_do_find(struct shard *s, const struct store_key *k)
{
    if (do_store_table_rehash_step(s))
        stat_incr(&st.rehash_steps);
    struct item **slot = do_store_table_find(s, k->hash, k->ns, k->data, k->len);
    if (slot && store_item_expired(*slot, clock_wall_ms())) {
        do_store_reclaim(s, slot, k->hash);
        return NULL;
    }
    return slot;
}

/* ---- memory limit and eviction ---- */

/* Admission (store_admit_load): while this thread reserves memory for a copy that may be
 * refused, each victim is put to the hook first; a refusal stops the eviction. */
static struct {
    bool (*fn)(void *arg, uint64_t cand, uint64_t victim);
    void *arg;
} admit_hook;
static __thread struct {
    bool on, refused;
    uint64_t cand;
} admit_tl;

void store_set_admission(bool (*fn)(void *arg, uint64_t cand, uint64_t victim), void *arg)
{
    admit_hook.arg = arg;
    __atomic_store_n(&admit_hook.fn, fn, __ATOMIC_RELEASE);
}

/* SIEVE: evict one item from shard s (locked). Returns false if the shard is empty, or if
 * the admission hook refused the victim (admit_tl.refused). */
static bool _do_evict_one(struct shard *s)
{
    if (!s->tail)
        return false;
    struct item *h = s->hand ? s->hand : s->tail;
    uint64_t now = clock_wall_ms();
    for (uint64_t steps = 0; steps <= 2 * s->count + 1; steps++) {
        /* a published item counts as visited (its reads in the region are not seen here),
         * until the hand went round the whole shard: then it may be the victim */
        bool published = h->shm_slot && steps < s->count;
        if (!store_item_expired(h, now) && ((h->flags & ITEM_VISITED) || published)) {
            __atomic_fetch_and(&h->flags, (uint8_t)~ITEM_VISITED, __ATOMIC_RELAXED);
            h = h->prev ? h->prev : s->tail;
            continue;
        }
        uint64_t hash = store_hash(h->ns, item_key(h), h->klen);
        if (admit_tl.on && !store_item_expired(h, now)) {
            bool (*fn)(void *, uint64_t, uint64_t) = __atomic_load_n(&admit_hook.fn, __ATOMIC_ACQUIRE);
            if (fn && !fn(admit_hook.arg, admit_tl.cand, hash)) {
                s->hand = h; /* the victim stays next */
                admit_tl.refused = true;
                return false;
            }
        }
        s->hand = h->prev;
        struct item **slot = do_store_table_find(s, hash, h->ns, item_key(h), h->klen);
        if (!slot) /* cannot happen: every listed item is in the table */
            return false;
        if (store_item_expired(h, now)) {
            do_store_reclaim(s, slot, hash);
        } else {
            stat_incr(&st.evictions);
            _do_gone(hash, h->version, (uint16_t)h->origin);
            if (h->type == STORE_T_STREAM)
                item_stream(h)->evicted = true;
            _emit_value(MUT_EVICT, h, hash);
            _do_unlink(s, slot);
        }
        return true;
    }
    return false;
}

/* Victim shard: the fuller of two picked at random ("power of two choices"), so shards stay
 * balanced by bytes. Evicting round-robin instead drains shards that random inserts left
 * small, and SIEVE in a near-empty shard evicts even its hot items. */
static struct shard *_victim_shard(void)
{
    static __thread uint64_t rnd;
    if (!rnd)
        rnd = (uint64_t)(uintptr_t)&rnd ^ clock_wall_ms() ^ 0x9e3779b97f4a7c15ull;
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    struct shard *a = &store_shards[rnd % STORE_SHARDS];
    struct shard *b = &store_shards[(rnd >> 32) % STORE_SHARDS];
    return __atomic_load_n(&a->bytes, __ATOMIC_RELAXED) >= __atomic_load_n(&b->bytes, __ATOMIC_RELAXED)
               ? a
               : b;
}

/* Evict until bytes_used + extra fits the limit. No shard lock may be held. */
static bool _make_room(uint64_t extra)
{
    uint64_t limit = option_get_u(&opts.memory);
    unsigned misses = 0;
    while (stat_get(&st.bytes_used) + extra > limit) {
        struct shard *s = _victim_shard();
        if (misses >= 8) /* mostly empty: walk every shard once */
            s = &store_shards[__atomic_fetch_add(&evict_cursor, 1, __ATOMIC_RELAXED) % STORE_SHARDS];
        pthread_mutex_lock(&s->lock);
        bool ok = _do_evict_one(s);
        pthread_mutex_unlock(&s->lock);
        if (admit_tl.on && admit_tl.refused)
            return false;
        if (ok)
            misses = 0;
        else if (++misses >= 8 + STORE_SHARDS)
            return false; /* nothing left to evict (memory held by readers) */
    }
    return true;
}

/* Reserve memory for a new item, evicting as needed. */
static enum store_status _reserve(uint64_t bytes)
{
    if (bytes > option_get_u(&opts.memory) || !_make_room(bytes)) {
        if (admit_tl.on && admit_tl.refused)
            return STORE_NOT_STORED;
        stat_incr(&st.set_nomem);
        return STORE_ENOMEM;
    }
    stat_add(&st.bytes_used, bytes);
    return STORE_OK;
}

/* ---- lifecycle ---- */

int store_setup(void)
{
    stats_register(st_desc, STAT_COUNT(st_desc), &st);
    if (!opts.memory.set && option_set_defaults(opt_desc, STAT_COUNT(opt_desc), NULL, 0) != 0)
        return -1;
    if (store_ns_setup() != 0)
        return -1;
    gone = calloc((size_t)1 << GONE_BITS, sizeof(*gone));
    if (!gone)
        return -1;
    if (posix_memalign((void **)&store_shards, 64, STORE_SHARDS * sizeof(struct shard)) != 0)
        return -1;
    memset(store_shards, 0, STORE_SHARDS * sizeof(struct shard));
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        pthread_mutex_init(&store_shards[i].lock, NULL);
        if (store_table_init(&store_shards[i]) != 0)
            return -1;
    }
    if (store_shm_setup() != 0)
        return -1;
    return store_sweep_start();
}

void store_teardown(void)
{
    if (!store_shards)
        return;
    store_sweep_stop();
    store_shm_teardown();
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        struct shard *s = &store_shards[i];
        struct item *it = s->head;
        while (it) {
            struct item *next = it->next;
            store_item_release(it);
            it = next;
        }
        store_lease_free_all(s);
        store_table_free(s);
        pthread_mutex_destroy(&s->lock);
    }
    free(store_shards);
    store_shards = NULL;
    free(gone);
    gone = NULL;
    node_id = 0;
    store_ns_teardown();
    nsubscribers = 0;
    miss_hooks = (struct store_miss_hooks){0};
    store_stream_set_hooks(NULL);
}

void store_key_init(struct store_key *k, uint16_t ns, const void *data, uint32_t len)
{
    k->data = data;
    k->len = len;
    k->ns = ns;
    k->hash = store_hash(ns, data, len);
}

static inline struct shard *_shard(const struct store_key *k)
{
    return store_shard_of(store_shards, k->hash);
}

/* ---- reads ---- */

static enum store_status _lookup(const struct store_key *k, struct item **out, bool count)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    if (!slot) {
        pthread_mutex_unlock(&s->lock);
        if (count) {
            stat_incr(&st.misses);
            store_ns_hit(k->ns, false);
        }
        return STORE_NOT_FOUND;
    }
    struct item *it = *slot;
    bool offer = false;
    if (count) {
        uint8_t prev = __atomic_fetch_or(&it->flags, ITEM_VISITED | ITEM_EVER_READ,
                                         __ATOMIC_RELAXED);
        if ((offer = do_store_shm_wants(it, prev)))
            _item_ref(it); /* the offer's */
    }
    _item_ref(it);
    pthread_mutex_unlock(&s->lock);
    if (offer)
        store_shm_offer(it);
    if (count) {
        stat_incr(&st.hits);
        store_ns_hit(k->ns, true);
    }
    *out = it;
    return STORE_OK;
}

/* ---- checksums ---- */

enum { VERIFY_OFF, VERIFY_SAMPLE, VERIFY_ALL };
#define VERIFY_SAMPLE_EVERY 16 /* docs/performance.md, "Checksums": what it costs */
static int verify_mode = VERIFY_SAMPLE; /* atomic: set by the option's check */

static int _verify_check(const struct option_desc *d, const struct option_value *v, char *err,
                         size_t errlen)
{
    (void)d;
    int m = !strcmp(v->s, "off") ? VERIFY_OFF
            : !strcmp(v->s, "sample") ? VERIFY_SAMPLE
            : !strcmp(v->s, "all")    ? VERIFY_ALL
                                      : -1;
    if (m < 0) {
        snprintf(err, errlen, "must be off, sample or all");
        return -1;
    }
    __atomic_store_n(&verify_mode, m, __ATOMIC_RELAXED);
    return 0;
}

/* Should this read check the value's checksum? */
static bool _verify_this_read(void)
{
    int m = __atomic_load_n(&verify_mode, __ATOMIC_RELAXED);
    if (m != VERIFY_SAMPLE)
        return m == VERIFY_ALL;
    static __thread unsigned n;
    return ++n % VERIFY_SAMPLE_EVERY == 0;
}

/* The same for a read of n bytes of a stream. A check covers the whole chunks the read
 * touched (256 KiB each), so `sample` checks one read per VERIFY_SAMPLE_EVERY chunks' worth
 * of bytes served, not one read in VERIFY_SAMPLE_EVERY: about one byte in 16 of what is
 * served, as for values (a 4 KiB GETRANGE is checked about one time in 1,024). */
static bool _verify_this_range(uint64_t n)
{
    int m = __atomic_load_n(&verify_mode, __ATOMIC_RELAXED);
    if (m != VERIFY_SAMPLE)
        return m == VERIFY_ALL;
    static __thread uint64_t served;
    served += n ? n : 1;
    if (served < (uint64_t)VERIFY_SAMPLE_EVERY * STORE_STREAM_CHUNK)
        return false;
    served = 0;
    return true;
}

uint64_t store_corrupt_count(void) { return stat_get(&st.corrupt_values); }

void store_corrupt_found(const char *what)
{
    stat_incr(&st.corrupt_values);
    static struct ratelimit rl = {.interval_ms = 10000}; /* a line per 10 s at most */
    uint64_t skipped;
    if (ratelimit_ok(&rl, &skipped))
        log_warn("E_CORRUPT: a value failed its checksum (%s); it is removed, never served or "
                 "sent (corrupt_values: %llu so far)", what,
                 (unsigned long long)stat_get(&st.corrupt_values));
}

void do_store_drop(struct shard *s, struct item **slot) { _do_unlink(s, slot); }

bool store_item_verify(const struct store_key *k, struct item *it, const char *what)
{
    if (_item_crc(it) == it->crc)
        return true;
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    if (slot && *slot == it)
        _do_unlink(s, slot); /* local, like an eviction without its demotion */
    pthread_mutex_unlock(&s->lock);
    store_corrupt_found(what);
    return false;
}

void store_stream_corrupt(const struct store_key *k, uint64_t sid, const char *what)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    if (slot && (*slot)->type == STORE_T_STREAM && item_stream(*slot)->id == sid)
        _do_unlink(s, slot); /* local, like an eviction without its demotion */
    pthread_mutex_unlock(&s->lock);
    store_corrupt_found(what);
}

enum store_status store_get(const struct store_key *k, struct item **out)
{
    enum store_status rc = _lookup(k, out, true);
    if (rc == STORE_OK && _verify_this_read() && !store_item_verify(k, *out, "a read")) {
        store_item_release(*out);
        stat_incr(&st.misses); /* counted a hit: it is a miss after all */
        stat_decr(&st.hits);
        return STORE_NOT_FOUND;
    }
    return rc;
}
enum store_status store_peek(const struct store_key *k, struct item **out) { return _lookup(k, out,
                             false); }

void store_count_read(const struct store_key *k, bool hit)
{
    stat_incr(hit ? &st.hits : &st.misses);
    store_ns_hit(k->ns, hit);
}

enum store_status store_range(const struct store_key *k, uint64_t offset, uint64_t length,
                              store_piece_fn fn, store_spilled_fn spilled, void *ctx,
                              uint64_t *total)
{
    struct shard *s = _shard(k);
    *total = 0;
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    if (!slot) {
        pthread_mutex_unlock(&s->lock);
        return STORE_NOT_FOUND;
    }
    struct item *it = *slot;
    __atomic_fetch_or(&it->flags, ITEM_VISITED | ITEM_EVER_READ, __ATOMIC_RELAXED);
    enum store_status rc = STORE_OK;
    uint64_t len = store_item_strlen(it);
    uint64_t n = offset >= len ? 0 : (len - offset < length ? len - offset : length);
    if (it->type == STORE_T_STREAM) {
        struct stream *stm = item_stream(it);
        struct chunk_set keep = {0};
        bool verify = _verify_this_range(n);
        if (!do_store_stream_range(stm, offset, n, fn, spilled, ctx, verify ? &keep : NULL))
            rc = STORE_ON_DISK;
        *total = n;
        if (verify) { /* the chunks handed out, checked off the lock: 256 KiB each */
            uint64_t sid = stm->id;
            bool intact = do_store_item_intact(it);
            pthread_mutex_unlock(&s->lock);
            if (!store_chunks_check(&keep) || !intact) {
                store_stream_corrupt(k, sid, "a read");
                *total = 0;
                return STORE_NOT_FOUND; /* the pieces handed to fn are released by the caller */
            }
            return rc;
        }
    } else if (it->type == STORE_T_BYTES) {
        uint32_t blen;
        const uint8_t *b = _bytes_content(it, &blen);
        _item_ref(it);
        if (_verify_this_read()) { /* checked off the lock: a value may be 64 MiB */
            pthread_mutex_unlock(&s->lock);
            if (!store_item_verify(k, it, "a read")) {
                store_item_release(it);
                return STORE_NOT_FOUND;
            }
            if (n > 0)
                fn(ctx, b + offset, (size_t)n, store_item_release, it);
            else
                store_item_release(it);
            *total = n;
            return STORE_OK;
        }
        if (n > 0)
            fn(ctx, b + offset, (size_t)n, store_item_release, it);
        else
            store_item_release(it);
        *total = n;
    } else {
        rc = STORE_ETYPE;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* A piece of a stream, copied into the buffer behind ctx. */
struct copy_buf {
    uint8_t *p;
    size_t used;
};
static void _copy_piece(void *ctx, const uint8_t *data, size_t len, void (*release)(void *),
                        void *arg)
{
    struct copy_buf *b = ctx;
    memcpy(b->p + b->used, data, len);
    b->used += len;
    if (release)
        release(arg);
}

enum store_status store_stream_copy(const struct store_key *k, uint64_t max,
                                    struct store_stream_copy *out, const char *what)
{
    struct shard *s = _shard(k);
    memset(out, 0, sizeof(*out));
    struct chunk_set keep = {0};
    uint64_t sid = 0;
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    enum store_status rc = STORE_NOT_FOUND;
    if (slot && (*slot)->type == STORE_T_STREAM) {
        struct item *it = *slot;
        struct stream *stm = item_stream(it);
        struct copy_buf b = {NULL, 0};
        rc = STORE_ELIMIT;
        sid = stm->id;
        if (stm->len <= max && stm->epoch && (b.p = malloc(stm->len ? stm->len : 1))) {
            if (do_store_stream_range(stm, 0, stm->len, _copy_piece, NULL, &b, &keep)) {
                *out = (struct store_stream_copy){.data = b.p, .len = stm->len,
                                                  .version = it->version,
                                                  .origin = (uint16_t)it->origin,
                                                  .epoch = stm->epoch, .eorigin = stm->eorigin,
                                                  .expire_ms = it->expire_ms};
                rc = STORE_OK;
            } else {
                free(b.p); /* some of it is on disk */
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!store_chunks_check(&keep)) { /* what it copied is what they hold: never sent */
        if (rc == STORE_OK)
            free(out->data);
        memset(out, 0, sizeof(*out));
        out->corrupt = true;
        store_stream_corrupt(k, sid, what);
        return STORE_NOT_FOUND;
    }
    return rc;
}

enum store_status store_stream_info(const struct store_key *k, struct store_stream_info *out)
{
    struct shard *s = _shard(k);
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    enum store_status rc = STORE_NOT_FOUND;
    if (slot && (*slot)->type == STORE_T_STREAM && item_stream(*slot)->epoch) {
        struct item *it = *slot;
        struct stream *stm = item_stream(it);
        *out = (struct store_stream_info){.sid = stm->id, .len = stm->len,
                                          .version = it->version, .epoch = stm->epoch,
                                          .expire_ms = it->expire_ms,
                                          .origin = (uint16_t)it->origin,
                                          .eorigin = stm->eorigin};
        rc = STORE_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

enum store_status store_stream_read(const struct store_key *k, uint64_t sid, uint64_t off,
                                    uint32_t max, uint8_t *buf, uint32_t *n)
{
    struct shard *s = _shard(k);
    *n = 0;
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    struct stream *stm = slot && (*slot)->type == STORE_T_STREAM ? item_stream(*slot) : NULL;
    enum store_status rc = STORE_NOT_FOUND;
    struct chunk *c = NULL;
    uint32_t in = 0;
    if (stm && stm->id == sid && off < stm->len) {
        uint32_t idx = (uint32_t)(off / STREAM_CHUNK);
        in = (uint32_t)(off % STREAM_CHUNK);
        c = stm->chunks[idx];
        uint64_t avail = (c ? c->len : STREAM_CHUNK) - in; /* a chunk on disk is a full one */
        if (avail > stm->len - off)
            avail = stm->len - off;
        if (avail > max)
            avail = max;
        *n = (uint32_t)avail;
        if (c) /* copied and checked off the lock: held, nobody writes it */
            __atomic_add_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL);
        rc = c ? STORE_OK : STORE_ON_DISK;
    }
    pthread_mutex_unlock(&s->lock);
    if (c) {
        bool ok = store_chunk_intact(c); /* the whole chunk, whatever part of it goes */
        if (ok)
            memcpy(buf, c->data + in, *n);
        store_chunk_release(c);
        if (!ok) {
            *n = 0;
            store_stream_corrupt(k, sid, "a full sync");
            return STORE_NOT_FOUND;
        }
    }
    return rc;
}

/* ---- writes ---- */

enum store_status store_set(const struct store_key *k, const struct store_value *v, uint64_t ttl_ms,
                            unsigned flags, uint64_t cas, uint64_t *version)
{
    struct item *nit = _item_reserved(k, v->type, v->data, v->len);
    if (!nit)
        return STORE_ENOMEM;
    nit->expire_ms = _expire_at(ttl_ms);
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    enum store_status rc = STORE_OK;
    if (!slot && (flags || cas) && _on_disk(k))
        rc = STORE_ON_DISK; /* NX, XX and CAS must see the value the disk holds */
    else if ((flags & STORE_SET_NX) && slot)
        rc = STORE_NOT_STORED;
    else if ((flags & STORE_SET_XX) && !slot)
        rc = STORE_NOT_STORED;
    else if (cas && !slot)
        rc = STORE_NOT_FOUND;
    else if (cas && (*slot)->version != cas)
        rc = STORE_CAS_MISMATCH;
    if (rc == STORE_OK) {
        nit->version = store_hlc_now();
        nit->origin = _self();
        if (version)
            *version = nit->version;
        _do_replace(s, slot, nit, k->hash, MUT_SET);
        nit = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit); /* gives back the reservation */
    return rc;
}

/* ---- leases (lease.c holds the table) ---- */

enum store_status store_lease_get(const struct store_key *k, uint32_t lease_ms, bool ask_disk,
                                  struct item **out, uint64_t *token, uint32_t *left_ms)
{
    struct shard *s = _shard(k);
    for (int pass = 0;; pass++) {
        pthread_mutex_lock(&s->lock);
        struct item **slot = _do_find(s, k);
        if (slot) {
            struct item *it = *slot;
            uint8_t prev = __atomic_fetch_or(&it->flags, ITEM_VISITED | ITEM_EVER_READ,
                                             __ATOMIC_RELAXED);
            bool offer = do_store_shm_wants(it, prev);
            if (offer)
                _item_ref(it); /* the offer's */
            _item_ref(it);
            pthread_mutex_unlock(&s->lock);
            if (offer)
                store_shm_offer(it);
            if (pass == 0 && _verify_this_read() && !store_item_verify(k, it, "a read")) {
                store_item_release(it); /* removed: a miss, which may take the lease */
                continue;
            }
            stat_incr(&st.hits);
            store_ns_hit(k->ns, true);
            *out = it;
            return STORE_OK;
        }
        if (ask_disk && _on_disk(k)) {
            pthread_mutex_unlock(&s->lock);
            return STORE_ON_DISK;
        }
        enum store_status rc = do_store_lease_take(s, k, lease_ms, token, left_ms);
        pthread_mutex_unlock(&s->lock);
        if (rc != STORE_LEASE_WAIT) { /* a waiter's polls count in lease_waits only */
            stat_incr(&st.misses);
            store_ns_hit(k->ns, false);
        }
        if (rc == STORE_LEASED)
            _make_room(0); /* the lease's bytes count against the limit too */
        return rc;
    }
}

enum store_status store_lease_set(const struct store_key *k, uint64_t token,
                                  const struct store_value *v, uint64_t ttl_ms,
                                  uint64_t *version)
{
    struct item *nit = NULL;
    if (v) {
        nit = _item_reserved(k, v->type, v->data, v->len);
        if (!nit)
            return STORE_ENOMEM;
        nit->expire_ms = _expire_at(ttl_ms);
    }
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    enum store_status rc = do_store_lease_redeem(s, k, token);
    if (rc == STORE_OK && nit) {
        nit->version = store_hlc_now();
        nit->origin = _self();
        if (version)
            *version = nit->version;
        _do_replace(s, _do_find(s, k), nit, k->hash, MUT_SET);
        nit = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit); /* gives back the reservation */
    return rc;
}

/* Link nit (reserved, unlinked), a copy read from disk, unless memory holds the key or
 * still(arg) says the copy is no longer current; else free it. */
static enum store_status _load_item(const struct store_key *k, struct item *nit, uint64_t expire_ms,
                                    uint64_t version, bool (*still)(void *arg), void *arg)
{
    nit->expire_ms = expire_ms;
    nit->version = version;
    nit->flags = (nit->flags & ITEM_COUNTER) | ITEM_EVER_READ; /* _do_link keeps these */
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    enum store_status rc = STORE_NOT_STORED;
    if (!slot && (!still || still(arg))) {
        if (nit->type == STORE_T_STREAM)
            item_stream(nit)->evicted = false; /* linked: a change may delete its chunks */
        _do_replace(s, NULL, nit, k->hash, MUT_LOAD);
        nit = NULL;
        rc = STORE_OK;
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit);
    return rc;
}

static struct item *_counter_item(const struct store_key *k, const struct ctr *c,
                                  uint64_t expire_ms, uint16_t origin);

enum store_status store_admit_load(const struct store_key *k, const struct store_value *v,
                                   const uint8_t *ctr, uint32_t ctr_len, uint64_t expire_ms,
                                   uint64_t version, bool (*still)(void *arg), void *arg)
{
    admit_tl.on = true;
    admit_tl.refused = false;
    admit_tl.cand = k->hash;
    enum store_status rc = store_load(k, v, ctr, ctr_len, expire_ms, version, still, arg);
    if (rc == STORE_ENOMEM && admit_tl.refused)
        rc = STORE_NOT_STORED;
    admit_tl.on = admit_tl.refused = false;
    return rc;
}

enum store_status store_load(const struct store_key *k, const struct store_value *v,
                             const uint8_t *ctr, uint32_t ctr_len, uint64_t expire_ms,
                             uint64_t version, bool (*still)(void *arg), void *arg)
{
    if (expire_ms && expire_ms <= clock_wall_ms())
        return STORE_NOT_STORED;
    struct ctr c;
    struct item *nit;
    if (ctr && _self() && v->type == STORE_T_INT && ctr_read(ctr, ctr_len, &c))
        nit = _counter_item(k, &c, expire_ms, _self()); /* the origin is not kept on disk */
    else
        nit = _item_reserved(k, v->type, v->data, v->len);
    if (!nit)
        return STORE_ENOMEM;
    return _load_item(k, nit, expire_ms, version, still, arg);
}

enum store_status store_load_stream(const struct store_key *k, uint64_t sid, uint64_t len,
                                    const void *tail, uint32_t tail_len, uint64_t disk_bytes,
                                    const struct store_stream_meta *meta, uint64_t expire_ms,
                                    uint64_t version, bool (*still)(void *arg), void *arg)
{
    if (expire_ms && expire_ms <= clock_wall_ms())
        return STORE_NOT_STORED;
    struct item *nit = _item_new(k, STORE_T_STREAM, sizeof(struct stream *));
    struct stream *stm = nit ? store_stream_restore(sid, len, tail, tail_len, disk_bytes) : NULL;
    if (!stm) {
        free(nit);
        return STORE_ENOMEM;
    }
    stm->evicted = true; /* until it is linked: freeing it must not delete its chunks */
    if (meta && meta->epoch) {
        stm->epoch = meta->epoch;
        stm->eorigin = meta->eorigin;
        nit->origin = meta->origin;
    }
    memcpy(item_val(nit), &stm, sizeof(stm));
    if (_reserve(_item_mem(nit)) != STORE_OK) {
        store_stream_destroy(stm);
        free(nit);
        return STORE_ENOMEM;
    }
    return _load_item(k, nit, expire_ms, version, still, arg);
}

enum store_status store_del(const struct store_key *k)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    uint64_t stamp = store_hlc_now();
    _do_gone(k->hash, stamp, _self());
    if (!slot) {
        bool elsewhere = miss_hooks.forget && miss_hooks.forget(miss_hooks.arg, k);
        /* still a change: peers may hold the key (its record has no value and type 0) */
        struct mutation m = {.op = MUT_DEL, .ns = k->ns, .key = k->data, .klen = k->len,
                             .hash = k->hash, .origin = _self(), .hlc = stamp};
        _emit(&m);
        pthread_mutex_unlock(&s->lock);
        return elsewhere ? STORE_OK : STORE_NOT_FOUND;
    }
    _emit_change(MUT_DEL, *slot, k->hash, NULL, 0, stamp, _self());
    _do_unlink(s, slot);
    pthread_mutex_unlock(&s->lock);
    return STORE_OK;
}

enum store_status store_touch(const struct store_key *k, uint64_t ttl_ms)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    if (!slot) {
        enum store_status rc = _on_disk(k) ? STORE_ON_DISK : STORE_NOT_FOUND;
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    /* a change like any other: a new stamp */
    _restamp(*slot, _expire_at(ttl_ms), store_hlc_now(), _self());
    _emit_value(MUT_TOUCH, *slot, k->hash);
    pthread_mutex_unlock(&s->lock);
    return STORE_OK;
}

/* Canonical decimal int64 ("0", "-12", no '+', no leading zeros, no spaces). */
static bool _parse_decimal(const uint8_t *p, uint32_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    bool neg = p[0] == '-';
    uint32_t i = neg ? 1 : 0;
    if (i == len || (p[i] == '0' && len > i + 1) || (neg && p[i] == '0'))
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* msgpack int64 encoding (always 9 bytes: 0xd3 + big-endian), valid for any value. */
static uint32_t _encode_int(uint8_t *out, int64_t v)
{
    uint64_t u = (uint64_t)v;
    out[0] = 0xd3;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(u >> (56 - 8 * i));
    return 9;
}

static enum store_status _current_int(const struct item *it, int64_t *cur)
{
    if (it->type == STORE_T_INT) {
        struct mp_cursor c;
        mp_cursor_init(&c, it->data + it->klen, it->vlen);
        return mp_read_int(&c, cur) ? STORE_OK : STORE_EOVERFLOW; /* uint64 > INT64_MAX */
    }
    if (it->type == STORE_T_BYTES) {
        uint32_t len;
        const uint8_t *b = _bytes_content(it, &len);
        return b && _parse_decimal(b, len, cur) ? STORE_OK : STORE_ETYPE;
    }
    return STORE_ETYPE;
}

/* ---- replicated counters (counter.h): with a node id, INCR keeps per-origin state ---- */

/* A new unlinked counter item holding c and its value, memory reserved; NULL (ENOMEM or an
 * overflowing value). */
static struct item *_counter_item(const struct store_key *k, const struct ctr *c,
                                  uint64_t expire_ms, uint16_t origin)
{
    int64_t v;
    if (!ctr_value(c, &v))
        return NULL;
    struct item *it = _item_new(k, STORE_T_INT, ITEM_CTR_OFFSET + (uint32_t)ctr_size(c->n));
    if (!it)
        return NULL;
    it->vlen = _encode_int(item_val(it), v);
    memset(item_val(it) + it->vlen, 0, ITEM_CTR_OFFSET - it->vlen);
    ctr_write(c, item_val(it) + ITEM_CTR_OFFSET);
    it->flags = ITEM_COUNTER;
    it->version = ctr_version(c);
    it->origin = origin;
    it->expire_ms = expire_ms;
    if (_reserve(_item_mem(it)) != STORE_OK) {
        free(it);
        return NULL;
    }
    return it;
}

/* The counter state an item stands for: its own, or for a plain int (or decimal bytes) an
 * epoch at its version with its value as the base. false for other types. */
static bool _item_ctr(struct item *it, struct ctr *c)
{
    if (it->flags & ITEM_COUNTER) {
        const uint8_t *p = item_val(it) + ITEM_CTR_OFFSET;
        return ctr_read(p, ctr_len_at(p), c);
    }
    int64_t cur;
    if (_current_int(it, &cur) != STORE_OK)
        return false;
    c->epoch = it->version;
    c->eorigin = (uint16_t)it->origin;
    c->base = cur;
    c->n = 0;
    return true;
}

/* The epoch a SET or DEL from a peer competes with: a counter's, else the version. */
static void _epoch_of(const struct item *it, uint64_t *stamp, uint16_t *origin)
{
    if (it->flags & ITEM_COUNTER) {
        struct ctr c;
        const uint8_t *p = item_val((struct item *)it) + ITEM_CTR_OFFSET;
        if (ctr_read(p, ctr_len_at(p), &c)) {
            *stamp = c.epoch;
            *origin = c.eorigin;
            return;
        }
    }
    *stamp = it->version;
    *origin = (uint16_t)it->origin;
}

/* Install nit at k if memory still holds `seen` there (NULL: still nothing). `seen` is
 * referenced by the caller, so its address cannot have been reused. */
static bool _install_if_unchanged(const struct store_key *k, struct item *seen, struct item *nit)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    bool same = slot ? *slot == seen : !seen;
    if (same)
        _do_replace(s, slot, nit, k->hash, MUT_SET);
    pthread_mutex_unlock(&s->lock);
    return same;
}

/* INCR with a node id: this node's sum grows in the counter's state. The state is computed
 * under the lock, the item allocated outside it, and installed if the key did not change
 * meanwhile (else again). */
static enum store_status _incr_counter(const struct store_key *k, int64_t delta, int64_t initial,
                                       uint64_t ttl_ms, int64_t *result)
{
    struct shard *s = _shard(k);
    for (int attempt = 0; attempt < 16; attempt++) {
        struct ctr c;
        uint64_t expire;
        struct item *seen = NULL; /* referenced: its address cannot be reused meanwhile */
        pthread_mutex_lock(&s->lock);
        struct item **slot = _do_find(s, k);
        uint64_t stamp = store_hlc_now();
        if (slot) {
            if (!_item_ctr(*slot, &c)) {
                enum store_status rc = _current_int(*slot, &(int64_t){0});
                pthread_mutex_unlock(&s->lock);
                return rc == STORE_OK ? STORE_ETYPE : rc;
            }
            seen = *slot;
            _item_ref(seen);
            expire = (*slot)->expire_ms;
            if (!ctr_add(&c, _self(), delta, stamp)) {
                store_item_release(seen);
                pthread_mutex_unlock(&s->lock);
                return STORE_ELIMIT;
            }
        } else if (_on_disk(k)) {
            pthread_mutex_unlock(&s->lock);
            return STORE_ON_DISK;
        } else {
            /* created here: an epoch of its own, counting from initial, then this node's
             * delta added (as INCR of a missing key does in Redis) */
            c.epoch = stamp;
            c.eorigin = _self();
            c.base = initial;
            c.n = 0;
            ctr_add(&c, _self(), delta, stamp); /* n was 0: there is room */
            expire = _expire_at(ttl_ms);
        }
        pthread_mutex_unlock(&s->lock);
        int64_t v;
        struct item *nit = NULL;
        enum store_status rc = !ctr_value(&c, &v) ? STORE_EOVERFLOW
                               : !(nit = _counter_item(k, &c, expire, _self())) ? STORE_ENOMEM
                                                                                 : STORE_OK;
        if (rc == STORE_OK) {
            if (_install_if_unchanged(k, seen, nit)) {
                nit = NULL;
                *result = v;
            } else {
                rc = STORE_NOT_STORED; /* the key changed meanwhile: again */
            }
        }
        if (nit)
            _item_free(nit);
        if (seen)
            store_item_release(seen);
        if (rc != STORE_NOT_STORED)
            return rc;
    }
    return STORE_ENOMEM;
}

/* A peer's counter state: merged with what is here (same epoch), or replacing it (newer
 * epoch), or dropped (older). Two-phase like _incr_counter. */
static enum store_status _apply_counter(const struct store_key *k, const struct store_remote *r)
{
    struct ctr in;
    if (!r->v || r->v->type != STORE_T_INT || !ctr_read(r->ctr, r->ctr_len, &in))
        return STORE_ETYPE;
    store_hlc_floor(ctr_version(&in));
    struct shard *s = _shard(k);
    for (int attempt = 0; attempt < 16; attempt++) {
        struct ctr c;
        uint64_t expire = r->expire_ms;
        struct item *seen = NULL; /* referenced, as in _incr_counter */
        pthread_mutex_lock(&s->lock);
        struct item **slot = _do_find(s, k);
        enum store_status rc = STORE_OK;
        if (!slot && !r->disk_known && _on_disk(k)) {
            /* a disk copy keeps its own state: the caller loads it, then this merges */
            pthread_mutex_unlock(&s->lock);
            return STORE_ON_DISK;
        }
        if (!slot) {
            /* something at or after its epoch left memory here (a delete resets a counter,
             * and an eviction cannot be told from one): a miss, never a reset undone */
            struct gone_mark *g = _gone(k->hash);
            if (!_wins(in.epoch, in.eorigin, g->stamp, g->origin))
                rc = STORE_NOT_STORED;
            if (rc != STORE_OK && miss_hooks.forget)
                miss_hooks.forget(miss_hooks.arg, k);
            c = in;
        } else {
            seen = *slot;
            _item_ref(seen);
            expire = (*slot)->expire_ms;
            struct ctr here;
            if (!_item_ctr(*slot, &here)) {
                /* another type: the newer of its version and the counter's epoch wins */
                rc = _wins(in.epoch, in.eorigin, (*slot)->version, (uint16_t)(*slot)->origin)
                         ? STORE_OK
                         : STORE_NOT_STORED;
                c = in;
                expire = r->expire_ms;
            } else if (in.epoch == here.epoch && in.eorigin == here.eorigin) {
                c = here;
                if (!ctr_merge(&c, &in))
                    rc = STORE_NOT_STORED; /* nothing new */
                if (r->expire_ms != expire && ctr_version(&in) >= ctr_version(&here))
                    expire = r->expire_ms;
            } else if (_wins(in.epoch, in.eorigin, here.epoch, here.eorigin)) {
                c = in;
                expire = r->expire_ms;
            } else {
                rc = STORE_NOT_STORED;
            }
        }
        pthread_mutex_unlock(&s->lock);
        struct item *nit = NULL;
        if (rc == STORE_OK && !(nit = _counter_item(k, &c, expire, r->origin)))
            rc = STORE_ENOMEM;
        bool again = false;
        if (rc == STORE_OK) {
            if (_install_if_unchanged(k, seen, nit))
                nit = NULL;
            else
                again = true; /* the key changed meanwhile */
        }
        if (nit)
            _item_free(nit);
        if (seen)
            store_item_release(seen);
        if (!again)
            return rc;
    }
    return STORE_ENOMEM;
}

enum store_status store_incr(const struct store_key *k, int64_t delta, int64_t initial,
                             uint64_t ttl_ms, int64_t *result)
{
    if (_self())
        return _incr_counter(k, delta, initial, ttl_ms, result);
    struct item *nit = _item_reserved(k, STORE_T_INT, NULL, 9);
    if (!nit)
        return STORE_ENOMEM;
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    enum store_status rc = STORE_OK;
    int64_t v = initial;
    if (slot) {
        int64_t cur;
        rc = _current_int(*slot, &cur);
        if (rc == STORE_OK && __builtin_add_overflow(cur, delta, &v))
            rc = STORE_EOVERFLOW;
        nit->expire_ms = (*slot)->expire_ms; /* INCR keeps the ttl, as in Redis */
    } else if (_on_disk(k)) {
        rc = STORE_ON_DISK;
    } else {
        /* a missing key counts from initial, then delta is added (as in Redis) */
        if (__builtin_add_overflow(initial, delta, &v))
            rc = STORE_EOVERFLOW;
        nit->expire_ms = _expire_at(ttl_ms);
    }
    if (rc == STORE_OK) {
        _encode_int(item_val(nit), v);
        nit->version = store_hlc_now();
        nit->origin = _self();
        _do_replace(s, slot, nit, k->hash, MUT_SET);
        nit = NULL;
        *result = v;
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit);
    return rc;
}

/* An unlinked stream item for k, its memory reserved (*base: what it costs empty) and room
 * made for `extra` more bytes; false without memory. */
static bool _new_stream_item(const struct store_key *k, uint64_t extra, struct item **nit,
                             struct stream **nst, uint64_t *base)
{
    *nit = _item_new(k, STORE_T_STREAM, sizeof(struct stream *));
    *nst = store_stream_create();
    if (!*nit || !*nst) {
        free(*nit);
        free(*nst);
        return false;
    }
    memcpy(item_val(*nit), nst, sizeof(*nst));
    *base = _item_mem(*nit);
    if (_reserve(*base) != STORE_OK || !_make_room(extra)) {
        store_stream_destroy(*nst);
        free(*nit);
        return false;
    }
    return true;
}

enum store_status store_append(const struct store_key *k, const void *data, uint32_t len,
                               uint64_t ttl_ms, uint64_t *new_len)
{
    /* A fresh stream item, used when the key is missing or holds bytes. */
    struct item *nit;
    struct stream *nst;
    uint64_t base;
    if (!_new_stream_item(k, len, &nit, &nst, &base))
        return STORE_ENOMEM;
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    enum store_status rc = STORE_OK;
    uint64_t version = store_hlc_now();
    if (slot && (*slot)->type == STORE_T_STREAM) {
        struct item *it = *slot;
        if (_do_stream_append(s, it, k->hash, data, len, it->expire_ms, version, _self()) < 0)
            rc = STORE_ENOMEM;
        else
            *new_len = item_stream(it)->len;
    } else if (slot && (*slot)->type != STORE_T_BYTES) {
        rc = STORE_ETYPE;
    } else if (!slot && _on_disk(k)) {
        rc = STORE_ON_DISK;
    } else {
        int64_t added = 0;
        /* its epoch: this change, or the bytes value it grows from (whose content it starts
         * with, so a peer holding that value can do the same) */
        nst->epoch = version;
        nst->eorigin = _self();
        if (slot) { /* bytes become a stream: copy the content once */
            uint32_t blen;
            const uint8_t *b = _bytes_content(*slot, &blen);
            added = blen ? do_store_stream_append(nst, b, blen) : 0;
            nit->expire_ms = (*slot)->expire_ms;
            nst->epoch = (*slot)->version;
            nst->eorigin = (uint16_t)(*slot)->origin;
        } else {
            nit->expire_ms = _expire_at(ttl_ms);
        }
        uint64_t offset = nst->len;
        if (added >= 0)
            added = do_store_stream_append(nst, data, len);
        stat_add(&st.bytes_used, _item_mem(nit) - base);
        if (added < 0) {
            rc = STORE_ENOMEM;
        } else {
            nit->version = version;
            nit->origin = _self();
            *new_len = nst->len;
            do_store_stream_spill(nst, nit->ns, item_key(nit), nit->klen);
            /* grown from a bytes value: that value was the version before */
            struct store_append_info app = {nst->epoch, nst->eorigin, offset, data, len,
                                            slot ? nst->epoch : 0, slot ? nst->eorigin : 0};
            _do_replace_stream(s, slot, nit, k->hash, &app);
            nit = NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit); /* unused: gives back everything charged for it */
    if (rc == STORE_OK)
        _make_room(0);
    return rc;
}

bool store_has_stream(const struct store_key *k, uint64_t sid)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = do_store_table_find(s, k->hash, k->ns, k->data, k->len);
    bool has = slot && (*slot)->type == STORE_T_STREAM && item_stream(*slot)->id == sid;
    pthread_mutex_unlock(&s->lock);
    return has;
}

static uint64_t _staged_spilled(uint64_t sid, uint32_t idx, bool ok, uint32_t disk_bytes);

bool store_stream_spilled(const struct store_key *k, uint64_t sid, uint32_t idx, bool ok,
                          uint32_t disk_bytes)
{
    uint64_t freed = 0;
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = do_store_table_find(s, k->hash, k->ns, k->data, k->len);
    struct item *it = slot ? *slot : NULL;
    if (it && it->type == STORE_T_STREAM && item_stream(it)->id == sid) {
        freed = do_store_stream_spilled(item_stream(it), idx, ok, disk_bytes);
        stat_sub(&st.bytes_used, freed);
        __atomic_store_n(&s->bytes, s->bytes - freed, __ATOMIC_RELAXED);
        store_ns_account(it, 0, -(int64_t)freed);
    } else {
        freed = _staged_spilled(sid, idx, ok, disk_bytes); /* a peer's copy being built */
    }
    pthread_mutex_unlock(&s->lock);
    return freed > 0;
}

/* Every slice's gone mark at least (v, origin). */
static void _gone_floor(uint64_t v, uint16_t origin)
{
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        struct shard *s = &store_shards[i];
        pthread_mutex_lock(&s->lock);
        uint64_t per = (1u << GONE_BITS) / STORE_SHARDS;
        for (uint64_t j = i * per; j < (i + 1) * per; j++)
            if (_wins(v, origin, gone[j].stamp, gone[j].origin))
                gone[j] = (struct gone_mark){v, origin};
        pthread_mutex_unlock(&s->lock);
    }
}

void store_version_floor(uint64_t v)
{
    store_hlc_floor(v);
    /* what the disk holds is not compared with a peer's change: treat it as gone at v */
    _gone_floor(v, UINT16_MAX); /* no peer's (v, id) wins */
}

void store_set_node_id(uint16_t id) { __atomic_store_n(&node_id, id, __ATOMIC_RELAXED); }

void store_clock_floor(uint64_t v) { store_hlc_floor(v); }
uint64_t store_clock_now(void) { return store_hlc_now(); }

void store_gone_marks(uint32_t first, uint32_t n, uint64_t *stamps, uint16_t *origins)
{
    for (uint32_t i = first; i < first + n && i < (1u << GONE_BITS); i++) {
        /* slice i belongs to the shard of the hashes whose top bits are i */
        struct shard *s = &store_shards[i >> (GONE_BITS - STORE_SHARD_BITS)];
        pthread_mutex_lock(&s->lock);
        stamps[i - first] = gone[i].stamp;
        origins[i - first] = gone[i].origin;
        pthread_mutex_unlock(&s->lock);
    }
}

bool store_drop_older(const struct store_key *k, uint64_t stamp, uint64_t mark,
                      uint16_t mark_origin)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    bool dropped = slot && (*slot)->version < stamp &&
                   !_wins((*slot)->version, (uint16_t)(*slot)->origin, mark, mark_origin);
    if (dropped) {
        struct item *it = *slot;
        _do_gone(k->hash, it->version, (uint16_t)it->origin);
        struct mutation m = {.op = MUT_DEL, .ns = it->ns, .key = item_key(it), .klen = it->klen,
                             .hash = k->hash, .type = it->type, .version = it->version,
                             .origin = it->origin, .hlc = it->version, .local = true};
        _emit(&m);
        _do_unlink(s, slot);
    }
    pthread_mutex_unlock(&s->lock);
    return dropped;
}

bool store_drop_older_disk(const struct store_key *k, uint64_t version, uint64_t stamp,
                           uint64_t mark, uint16_t mark_origin, bool (*still)(void *arg),
                           void *arg)
{
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    bool dropped = false;
    if (_do_find(s, k)) {
        pthread_mutex_unlock(&s->lock);
        return store_drop_older(k, stamp, mark, mark_origin); /* loaded since: the same rule */
    }
    /* the disk copy's origin is not kept on disk: 0 compares below every node's own */
    if (version < stamp && !_wins(version, 0, mark, mark_origin) && still(arg) &&
        miss_hooks.forget) {
        _do_gone(k->hash, version, 0);
        dropped = miss_hooks.forget(miss_hooks.arg, k);
    }
    pthread_mutex_unlock(&s->lock);
    return dropped;
}

enum store_status store_apply(const struct store_key *k, const struct store_remote *r)
{
    enum mutation_op op = r->op;
    if (op == MUT_SET && r->expire_ms && r->expire_ms <= clock_wall_ms())
        op = MUT_DEL; /* gone at that stamp: it still removes what is older */
    if ((op == MUT_SET && (!r->v || r->v->type == STORE_T_STREAM)) ||
        (op != MUT_SET && op != MUT_DEL && op != MUT_TOUCH) || r->stamp == 0)
        return STORE_ETYPE;
    if (op == MUT_SET && r->ctr)
        return _apply_counter(k, r);
    struct item *nit = NULL;
    if (op == MUT_SET) {
        nit = _item_reserved(k, r->v->type, r->v->data, r->v->len);
        if (!nit)
            return STORE_ENOMEM;
        nit->version = r->stamp;
        nit->origin = r->origin;
        nit->expire_ms = r->expire_ms;
    }
    store_hlc_floor(r->stamp); /* the HLC's receive rule: later local stamps are above it */
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    enum store_status rc = STORE_OK;
    uint64_t here = 0;
    uint16_t here_origin = 0;
    if (slot) {
        /* a SET or DEL resets a counter when it is newer than the counter's epoch */
        if (op == MUT_TOUCH) {
            here = (*slot)->version;
            here_origin = (uint16_t)(*slot)->origin;
        } else {
            _epoch_of(*slot, &here, &here_origin);
        }
    }
    /* Without the key in memory, the slice's gone mark decides, unless the key's current
     * copy is on disk: nothing changed the key since that copy was made (every change drops
     * it), so its version is the key's here, and the change is compared with it exactly
     * (the caller reads it when asked with STORE_ON_DISK). */
    bool lost = false, keep = false;
    if (slot) {
        keep = !_wins(r->stamp, r->origin, here, here_origin); /* memory holds a newer change */
    } else if (!_wins(r->stamp, r->origin, _gone(k->hash)->stamp, _gone(k->hash)->origin)) {
        if (r->disk_known && r->still && r->still(r->still_arg))
            keep = r->stamp <= r->disk_version; /* the disk copy is as new: it stays */
        else if (!r->disk_known && _on_disk(k))
            rc = STORE_ON_DISK;
        else
            lost = true; /* what left memory may be newer: a miss, and no disk copy */
    }
    if (rc == STORE_ON_DISK) {
        /* nothing changes: the caller asks again with the disk copy's version */
    } else if (keep) {
        rc = STORE_NOT_STORED;
    } else if (lost) {
        rc = STORE_NOT_STORED;
        do_store_lease_changed(s, k->ns, k->hash, k->data, k->len); /* the key changed */
        if (miss_hooks.forget)
            miss_hooks.forget(miss_hooks.arg, k);
    } else if (op == MUT_SET) {
        _do_replace(s, slot, nit, k->hash, MUT_SET); /* its record drops a disk copy */
        nit = NULL;
    } else if (op == MUT_DEL) {
        _do_gone(k->hash, r->stamp, r->origin);
        if (slot) {
            _emit_change(MUT_DEL, *slot, k->hash, NULL, 0, r->stamp, r->origin);
            _do_unlink(s, slot);
        } else {
            /* no record (memory held nothing to remove), but the key changed: a value
             * computed under a lease taken before the delete must not be stored after it */
            do_store_lease_changed(s, k->ns, k->hash, k->data, k->len);
            if (miss_hooks.forget)
                miss_hooks.forget(miss_hooks.arg, k);
        }
    } else if (slot) { /* MUT_TOUCH */
        _restamp(*slot, r->expire_ms, r->stamp, r->origin);
        _emit_value(MUT_TOUCH, *slot, k->hash);
    } else {
        /* a touch of a key memory does not hold: a disk copy would keep the old expiry */
        rc = STORE_NOT_FOUND;
        if (miss_hooks.forget)
            miss_hooks.forget(miss_hooks.arg, k);
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit);
    return rc;
}

/* ---- a peer's APPEND ---- */

/* Remove what memory holds at *slot (or the disk copy when slot is NULL) because a newer
 * state of the key, which this node cannot build, exists at (stamp, origin): a local
 * removal (its record has `local` set), and nothing older comes back. */
static void _do_lose(struct shard *s, struct item **slot, const struct store_key *k,
                     uint64_t stamp, uint16_t origin)
{
    _do_gone(k->hash, stamp, origin);
    if (!slot) {
        if (miss_hooks.forget)
            miss_hooks.forget(miss_hooks.arg, k);
        return;
    }
    struct item *it = *slot;
    struct mutation m = {.op = MUT_DEL, .ns = it->ns, .key = item_key(it), .klen = it->klen,
                         .hash = k->hash, .type = it->type, .version = it->version,
                         .origin = it->origin, .hlc = it->version, .local = true};
    _emit(&m);
    _do_unlink(s, slot);
}

enum store_status store_apply_append(const struct store_key *k,
                                     const struct store_remote_append *r)
{
    const struct store_append_info *a = &r->a;
    if (!r->stamp || !a->epoch || (r->whole && a->offset))
        return STORE_ETYPE;
    if (r->expire_ms && r->expire_ms <= clock_wall_ms()) { /* gone at that stamp */
        struct store_remote d = {.op = MUT_DEL, .stamp = r->stamp, .origin = r->origin};
        return store_apply(k, &d);
    }
    bool starts = a->offset == 0 && (r->whole || (r->stamp == a->epoch && r->origin == a->eorigin));
    struct item *nit;
    struct stream *nst;
    uint64_t base;
    if (!_new_stream_item(k, a->len, &nit, &nst, &base))
        return STORE_ENOMEM;
    store_hlc_floor(r->stamp);
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, k);
    struct item *it = slot ? *slot : NULL;
    struct stream *here = it && it->type == STORE_T_STREAM ? item_stream(it) : NULL;
    uint64_t hv = it ? it->version : _gone(k->hash)->stamp;
    uint16_t ho = it ? (uint16_t)it->origin : _gone(k->hash)->origin;
    bool newer = _wins(r->stamp, r->origin, hv, ho);
    uint32_t blen = 0;
    const uint8_t *bytes = it && it->type == STORE_T_BYTES ? _bytes_content(it, &blen) : NULL;
    enum store_status rc = STORE_NOT_STORED;
    bool made = false; /* nit holds a stream to link in */
    if (here && !r->whole && here->epoch == a->epoch && here->eorigin == a->eorigin) {
        if (here->len == a->offset && it->version == a->prev && ho == a->prev_origin) {
            /* the next bytes of this very stream, as it is here */
            rc = _do_stream_append(s, it, k->hash, a->data, a->len, r->expire_ms, r->stamp,
                                   r->origin) < 0
                     ? STORE_ENOMEM
                     : STORE_OK;
        } else if (newer) {
            _do_lose(s, slot, k, r->stamp, r->origin); /* a gap, or another branch won */
            rc = STORE_NOT_FOUND;
        } /* else: this append again, or one of a branch older than what is here */
    } else if (bytes && !r->whole && it->version == a->epoch && ho == a->eorigin &&
               blen == a->offset && a->prev == a->epoch && a->prev_origin == a->eorigin) { /* the bytes value it grew from: grow it the same way */
        int64_t added = blen ? do_store_stream_append(nst, bytes, blen) : 0;
        if (added >= 0)
            added = do_store_stream_append(nst, a->data, a->len);
        stat_add(&st.bytes_used, _item_mem(nit) - base);
        rc = added < 0 ? STORE_ENOMEM : STORE_OK;
        made = rc == STORE_OK;
    } else if (starts && newer) { /* a new stream, or a full sync's copy of one */
        rc = do_store_stream_append(nst, a->data, a->len) < 0 ? STORE_ENOMEM : STORE_OK;
        stat_add(&st.bytes_used, _item_mem(nit) - base);
        made = rc == STORE_OK; /* its record drops an older disk copy */
    } else if (newer) { /* a state this node cannot build: a miss here */
        _do_lose(s, slot, k, r->stamp, r->origin);
        rc = STORE_NOT_FOUND;
    }
    if (made) { /* a stream made here (not an append to the one memory holds): link it in */
        nst->epoch = a->epoch;
        nst->eorigin = a->eorigin;
        nit->version = r->stamp;
        nit->origin = r->origin;
        nit->expire_ms = r->expire_ms;
        do_store_stream_spill(nst, nit->ns, item_key(nit), nit->klen);
        _do_replace_stream(s, slot, nit, k->hash, a);
        nit = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit); /* unused: gives back everything charged for it */
    if (rc == STORE_OK)
        _make_room(0);
    return rc;
}

#ifdef CACHE_FAULT_INJECTION
struct fault_ctx {
    uint16_t ns;
    uint32_t want, done;
    bool streams;
};

/* store_scan's callback: its shard is locked */
static void _fault_key(void *ctx, const uint8_t *key, uint32_t klen)
{
    struct fault_ctx *f = ctx;
    struct store_key k;
    store_key_init(&k, f->ns, key, klen);
    struct item **slot = f->done < f->want ? _do_find(_shard(&k), &k) : NULL;
    if (!slot || ((*slot)->type == STORE_T_STREAM) != f->streams)
        return;
    if (f->streams ? do_store_stream_fault(item_stream(*slot)) : (*slot)->vlen > 1) {
        if (!f->streams)
            item_val(*slot)[(*slot)->vlen - 1] ^= 0x20;
        f->done++;
    }
}

uint32_t store_fault_corrupt_values(uint32_t n, bool streams)
{
    struct fault_ctx f = {.want = n, .streams = streams};
    for (uint16_t ns = 0; ns < store_ns_count() && f.done < n; ns++) {
        f.ns = ns;
        uint64_t cursor = 0;
        do
            cursor = store_scan(ns, cursor, "", 0, 1000, _fault_key, &f);
        while (cursor && f.done < n);
    }
    return f.done;
}
#endif

/* ---- a peer's copy of a long stream, built aside (store.h, store_stage_*) ---- */

struct store_stage {
    struct store_stage *next, **pprev; /* stages, under stage_lock */
    struct store_key k;                /* its data is the item's key */
    struct item *nit;
    struct stream *nst;
    uint64_t stamp, expire_ms;
    uint16_t origin;
};

/* Staged streams, for the writer's word that one of their chunks is on disk
 * (store_stream_spilled): taken inside a shard lock, never the other way round. */
static pthread_mutex_t stage_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_stage *stages;

static uint64_t _staged_spilled(uint64_t sid, uint32_t idx, bool ok, uint32_t disk_bytes)
{
    uint64_t freed = 0;
    pthread_mutex_lock(&stage_lock);
    for (struct store_stage *sg = stages; sg; sg = sg->next)
        if (sg->nst->id == sid) {
            freed = do_store_stream_spilled(sg->nst, idx, ok, disk_bytes);
            stat_sub(&st.bytes_used, freed);
            break;
        }
    pthread_mutex_unlock(&stage_lock);
    return freed;
}

static void _stage_unlist(struct store_stage *sg)
{
    pthread_mutex_lock(&stage_lock);
    if ((*sg->pprev = sg->next))
        sg->next->pprev = sg->pprev;
    pthread_mutex_unlock(&stage_lock);
}

struct store_stage *store_stage_begin(const struct store_key *k,
                                      const struct store_remote_append *r)
{
    if (!r->stamp || !r->a.epoch)
        return NULL;
    struct store_stage *sg = calloc(1, sizeof(*sg));
    uint64_t base;
    if (!sg || !_new_stream_item(k, 0, &sg->nit, &sg->nst, &base)) {
        free(sg);
        return NULL;
    }
    sg->k = *k;
    sg->k.data = item_key(sg->nit);
    sg->stamp = r->stamp;
    sg->origin = r->origin;
    sg->expire_ms = r->expire_ms;
    sg->nst->epoch = r->a.epoch;
    sg->nst->eorigin = r->a.eorigin;
    pthread_mutex_lock(&stage_lock);
    if ((sg->next = stages))
        stages->pprev = &sg->next;
    stages = sg;
    sg->pprev = &stages;
    pthread_mutex_unlock(&stage_lock);
    return sg;
}

enum store_status store_stage_add(struct store_stage *sg, const uint8_t *data, uint32_t len)
{
    if (!_make_room(len))
        return STORE_ENOMEM;
    pthread_mutex_lock(&stage_lock); /* the writer may drop a spilled chunk meanwhile */
    uint64_t before = _item_mem(sg->nit);
    int64_t added = do_store_stream_append(sg->nst, data, len);
    stat_add(&st.bytes_used, _item_mem(sg->nit) - before);
    if (added >= 0) /* full chunks to the disk tier as they fill: never all of it in memory */
        do_store_stream_spill(sg->nst, sg->nit->ns, item_key(sg->nit), sg->nit->klen);
    pthread_mutex_unlock(&stage_lock);
    return added < 0 ? STORE_ENOMEM : STORE_OK;
}

uint64_t store_stage_len(const struct store_stage *sg)
{
    return __atomic_load_n(&sg->nst->len, __ATOMIC_RELAXED);
}

bool store_stage_is(const struct store_stage *sg, const struct store_key *k, uint64_t stamp,
                    uint16_t origin)
{
    return sg->stamp == stamp && sg->origin == origin && sg->k.hash == k->hash &&
           sg->k.ns == k->ns && sg->k.len == k->len && memcmp(sg->k.data, k->data, k->len) == 0;
}

void store_stage_abort(struct store_stage *sg)
{
    if (!sg)
        return;
    _stage_unlist(sg);
    _item_free(sg->nit); /* its chunks on disk are deleted with it */
    free(sg);
}

enum store_status store_stage_commit(struct store_stage *sg)
{
    const struct store_key *k = &sg->k;
    if (sg->expire_ms && sg->expire_ms <= clock_wall_ms()) { /* gone at that stamp */
        struct store_remote d = {.op = MUT_DEL, .stamp = sg->stamp, .origin = sg->origin};
        enum store_status rc = store_apply(k, &d);
        store_stage_abort(sg);
        return rc == STORE_ON_DISK ? STORE_OK : rc;
    }
    store_hlc_floor(sg->stamp);
    struct shard *s = _shard(k);
    pthread_mutex_lock(&s->lock);
    _stage_unlist(sg); /* linked or freed below: the writer finds it in the table from now */
    struct item **slot = _do_find(s, k);
    struct item *it = slot ? *slot : NULL;
    uint64_t hv = it ? it->version : _gone(k->hash)->stamp;
    uint16_t ho = it ? (uint16_t)it->origin : _gone(k->hash)->origin;
    struct item *nit = sg->nit;
    enum store_status rc = STORE_NOT_STORED;
    if (_wins(sg->stamp, sg->origin, hv, ho)) {
        nit->version = sg->stamp;
        nit->origin = sg->origin;
        nit->expire_ms = sg->expire_ms;
        struct store_append_info a = {.epoch = sg->nst->epoch, .eorigin = sg->nst->eorigin};
        do_store_stream_spill(sg->nst, nit->ns, item_key(nit), nit->klen);
        _do_replace_stream(s, slot, nit, k->hash, &a);
        nit = NULL;
        rc = STORE_OK;
    }
    pthread_mutex_unlock(&s->lock);
    if (nit)
        _item_free(nit);
    free(sg);
    if (rc == STORE_OK)
        _make_room(0);
    return rc;
}

/* ---- scan and flush ---- */

struct scan_ctx {
    uint16_t ns;
    const uint8_t *prefix;
    uint32_t plen;
    uint64_t now;
    uint32_t emitted;
    store_key_fn fn;
    void *ctx;
};

static void _scan_visit(void *arg, struct item *it)
{
    struct scan_ctx *c = arg;
    if (it->ns != c->ns || store_item_expired(it, c->now) || it->klen < c->plen ||
        memcmp(item_key(it), c->prefix, c->plen) != 0)
        return;
    c->fn(c->ctx, item_key(it), it->klen);
    c->emitted++;
}

#define SCAN_SHARD_SHIFT (64 - STORE_SHARD_BITS)
#define SCAN_POS_MASK ((1ull << SCAN_SHARD_SHIFT) - 1)

uint64_t store_scan(uint16_t ns, uint64_t cursor, const void *prefix, uint32_t plen,
                    uint32_t count, store_key_fn fn, void *ctx)
{
    struct scan_ctx c = {ns, prefix, plen, clock_wall_ms(), 0, fn, ctx};
    uint64_t shard = cursor >> SCAN_SHARD_SHIFT;
    uint64_t pos = cursor & SCAN_POS_MASK;
    uint64_t budget = (uint64_t)count * 16 + 256; /* buckets visited per call */
    while (shard < STORE_SHARDS && c.emitted < count && budget > 0) {
        struct shard *s = &store_shards[shard];
        pthread_mutex_lock(&s->lock);
        do {
            pos = do_store_table_scan(s, pos, _scan_visit, &c);
            budget--;
        } while (pos != 0 && c.emitted < count && budget > 0);
        pthread_mutex_unlock(&s->lock);
        if (pos == 0)
            shard++;
    }
    if (shard >= STORE_SHARDS)
        return 0;
    return (shard << SCAN_SHARD_SHIFT) | pos;
}

/* A FLUSH is a change at (stamp, origin) like any other: what a peer made before it and
 * sends later must not bring a flushed key back, so every slice's gone mark rises to it
 * (for a flush of one namespace that holds back, as a miss, a peer's change older than it
 * in the others too: changes in flight for a few ms). */
static void _flush(int ns, uint16_t origin, uint64_t stamp, uint64_t n, uint64_t *removed)
{
    /* after the store's own change (generation or mark), before the reply: every copy of
     * the namespace in the shm region is dead (docs/shm-reads.md, "FLUSH") */
    store_shm_flushed(ns);
    stat_add(&st.flushed, n);
    _gone_floor(stamp, origin);
    struct mutation m = {.op = MUT_FLUSH, .ns = ns, .origin = origin, .hlc = stamp};
    _emit(&m);
    if (removed)
        *removed = n;
}

void store_flush(int ns, uint64_t *removed)
{
    store_lease_flushed(); /* before the items die: a lease set after it sees it */
    uint64_t stamp = store_hlc_now();
    _flush(ns, _self(), stamp, store_ns_flush(ns), removed);
}

void store_flush_remote(int ns, uint16_t origin, uint64_t stamp)
{
    store_hlc_floor(stamp);
    store_lease_flushed();
    /* ordered by its stamp: what this node wrote after it (in that namespace) stays; the
     * older items die now and are reclaimed as they are met, like expired ones */
    store_ns_flush_below(ns, stamp, origin);
    _flush(ns, origin, stamp, 0, NULL);
}

/* Used by the sweeper to keep the limit after CONFIG SET memory lowers it. */
void store_enforce_limit(void) { _make_room(0); }

struct option_value *store_opt_sweep_interval(void) { return &opts.sweep_interval_ms; }
struct option_value *store_opt_sweep_buckets(void) { return &opts.sweep_buckets; }
struct option_value *store_opt_max_leases(void) { return &opts.max_leases; }
struct option_value *store_opt_memory(void) { return &opts.memory; }
struct option_value *store_opt_shm_reads(void) { return &opts.shm_reads; }
struct option_value *store_opt_shm_read_size(void) { return &opts.shm_read_size; }

bool store_shm_publish(struct item *it)
{
    if (!store_shm_publishing() || !store_shm_fits(it))
        return false;
    uint64_t snap = store_shm_ns_snapshot(it->ns); /* before the item's liveness is checked */
    struct store_key k;
    store_key_init(&k, it->ns, item_key(it), it->klen);
    struct shard *s = _shard(&k);
    pthread_mutex_lock(&s->lock);
    struct item **slot = _do_find(s, &k);
    if (!slot || *slot != it || it->shm_slot) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    if (!do_store_item_intact(it)) {
        pthread_mutex_unlock(&s->lock);
        store_item_verify(&k, it, "a publish to shared memory"); /* removes it, counts it */
        return false;
    }
    bool ok = do_store_shm_write(it, k.hash, snap);
    pthread_mutex_unlock(&s->lock);
    return ok;
}
uint64_t store_max_leases(void) { return option_get_u(&opts.max_leases); }
