/* Per-shard chained hash table that grows by incremental rehash: while a rehash runs, every
 * operation on the shard moves a few buckets from t[0] to t[1], so no request pays for
 * moving the whole table. Scan uses the reverse-binary cursor (as Redis's dictScan does) so a
 * key present for the whole scan is seen at least once even across a resize. */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

#define TABLE_INITIAL 64
#define REHASH_BUCKETS 8     /* non-empty buckets moved per step */
#define REHASH_EMPTY_VISITS 64

static inline bool _rehashing(const struct shard *s) { return s->t[1].buckets != NULL; }

int store_table_init(struct shard *s)
{
    memset(s->t, 0, sizeof(s->t));
    s->t[0].buckets = calloc(TABLE_INITIAL, sizeof(struct item *));
    if (!s->t[0].buckets)
        return -1;
    s->t[0].mask = TABLE_INITIAL - 1;
    s->rehash_pos = 0;
    return 0;
}

void store_table_free(struct shard *s)
{
    free(s->t[0].buckets);
    free(s->t[1].buckets);
    memset(s->t, 0, sizeof(s->t));
}

static inline bool _match(const struct item *it, uint16_t ns, const uint8_t *key, uint32_t klen)
{
    return it->ns == ns && it->klen == klen && memcmp(item_key(it), key, klen) == 0;
}

struct item **do_store_table_find(struct shard *s, uint64_t hash, uint16_t ns, const uint8_t *key,
                            uint32_t klen)
{
    for (int t = 0; t < 2; t++) {
        if (!s->t[t].buckets)
            break;
        struct item **slot = &s->t[t].buckets[hash & s->t[t].mask];
        for (; *slot; slot = &(*slot)->hnext)
            if (_match(*slot, ns, key, klen))
                return slot;
    }
    return NULL;
}

void do_store_table_insert(struct shard *s, struct item *it, uint64_t hash)
{
    struct table *t = _rehashing(s) ? &s->t[1] : &s->t[0];
    struct item **b = &t->buckets[hash & t->mask];
    it->hnext = *b;
    *b = it;
    s->count++;
}

void do_store_table_remove_at(struct shard *s, struct item **slot)
{
    struct item *it = *slot;
    *slot = it->hnext;
    it->hnext = NULL;
    s->count--;
}

bool do_store_table_rehash_step(struct shard *s)
{
    if (!_rehashing(s)) {
        if (s->count <= s->t[0].mask + 1)
            return false;
        uint64_t size = (s->t[0].mask + 1) * 2;
        struct item **nb = calloc(size, sizeof(struct item *));
        if (!nb)
            return false; /* try again on a later operation */
        s->t[1].buckets = nb;
        s->t[1].mask = size - 1;
        s->rehash_pos = 0;
    }
    int moved = 0, empty = 0;
    uint64_t size0 = s->t[0].mask + 1;
    while (s->rehash_pos < size0 && moved < REHASH_BUCKETS && empty < REHASH_EMPTY_VISITS) {
        struct item *it = s->t[0].buckets[s->rehash_pos];
        if (!it) {
            empty++;
            s->rehash_pos++;
            continue;
        }
        while (it) {
            struct item *next = it->hnext;
            uint64_t h = store_hash(it->ns, item_key(it), it->klen);
            struct item **b = &s->t[1].buckets[h & s->t[1].mask];
            it->hnext = *b;
            *b = it;
            it = next;
        }
        s->t[0].buckets[s->rehash_pos++] = NULL;
        moved++;
    }
    if (s->rehash_pos >= size0) {
        free(s->t[0].buckets);
        s->t[0] = s->t[1];
        memset(&s->t[1], 0, sizeof(s->t[1]));
        s->rehash_pos = 0;
        s->sweep_pos = 0;
        s->scrub_pos = 0;
    }
    return true;
}

static uint64_t _rev(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
    return __builtin_bswap64(v);
}

static void _visit(struct item *it, void (*fn)(void *, struct item *), void *ctx)
{
    while (it) {
        struct item *next = it->hnext;
        fn(ctx, it);
        it = next;
    }
}

uint64_t do_store_table_scan(struct shard *s, uint64_t v, void (*fn)(void *, struct item *), void *ctx)
{
    if (!_rehashing(s)) {
        uint64_t m0 = s->t[0].mask;
        _visit(s->t[0].buckets[v & m0], fn, ctx);
        v |= ~m0;
        v = _rev(v);
        v++;
        return _rev(v);
    }
    /* t[0] is the smaller table (tables only grow) */
    uint64_t m0 = s->t[0].mask, m1 = s->t[1].mask;
    _visit(s->t[0].buckets[v & m0], fn, ctx);
    do {
        _visit(s->t[1].buckets[v & m1], fn, ctx);
        v |= ~m1;
        v = _rev(v);
        v++;
        v = _rev(v);
    } while (v & (m0 ^ m1));
    return v;
}
