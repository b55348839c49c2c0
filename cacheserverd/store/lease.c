/* Leases (docs/protocol.md, LEASE_GET and LEASE_SET): a miss hands out one token per key, so
 * one caller computes the value and the others wait for it (memcached at Facebook, NSDI'13).
 *
 * A lease lives in its key's shard, under the shard lock, in a small hash of LEASE_BUCKETS
 * chains. Any change of the key drops it: every mutation record leaves the store through
 * _emit, which calls do_store_lease_changed (store.c), so a SET, DEL, INCR, APPEND, TOUCH,
 * expiry, eviction or a peer's change between LEASE_GET and LEASE_SET turns that LEASE_SET
 * into NOT_STORED (a value computed from older data never overwrites newer). A FLUSH changes
 * no key record: it raises a global epoch that every lease taken before it no longer matches.
 *
 * Leases are bounded: at most max_leases at once (E_LIMIT beyond), each living at most
 * STORE_LEASE_MAX_MS; an expired one is freed when its key is next asked for, or by the
 * sweeper (do_store_lease_sweep). Their memory (struct and key) counts in bytes_used. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "stats.h"
#include "store-internal.h"

struct lease {
    struct lease *next;
    uint64_t hash;
    uint64_t token;
    uint64_t expire_us; /* monotonic clock */
    uint64_t epoch;     /* flush_epoch when it was granted */
    uint16_t ns;
    uint32_t klen;
    uint8_t key[];
};

static uint64_t lease_count; /* atomic: leases held over every shard */
static uint64_t flush_epoch; /* atomic: FLUSHes so far (store_lease_flushed) */

static inline struct lease **_bucket(struct shard *s, uint64_t hash)
{
    return &s->leases[hash & (STORE_LEASE_BUCKETS - 1)];
}

static uint64_t _mem(const struct lease *l) { return sizeof(*l) + l->klen; }

static struct lease **_do_find(struct shard *s, uint16_t ns, uint64_t hash, const uint8_t *key,
                               uint32_t klen)
{
    for (struct lease **p = _bucket(s, hash); *p; p = &(*p)->next) {
        struct lease *l = *p;
        if (l->hash == hash && l->ns == ns && l->klen == klen && !memcmp(l->key, key, klen))
            return p;
    }
    return NULL;
}

static void _do_free(struct shard *s, struct lease **p)
{
    struct lease *l = *p;
    *p = l->next;
    s->nleases--;
    __atomic_sub_fetch(&lease_count, 1, __ATOMIC_RELAXED);
    stat_decr(&store_stat->leases);
    stat_sub(&store_stat->bytes_used, _mem(l));
    free(l);
}

void do_store_lease_changed(struct shard *s, uint16_t ns, uint64_t hash, const uint8_t *key,
                            uint32_t klen)
{
    if (s->nleases == 0)
        return;
    struct lease **p = _do_find(s, ns, hash, key, klen);
    if (p)
        _do_free(s, p);
}

void store_lease_flushed(void) { __atomic_add_fetch(&flush_epoch, 1, __ATOMIC_SEQ_CST); }

void do_store_lease_sweep(struct shard *s, uint64_t now_us)
{
    for (unsigned b = 0; s->nleases && b < STORE_LEASE_BUCKETS; b++) {
        struct lease **p = &s->leases[b];
        while (*p) {
            if ((*p)->expire_us <= now_us) {
                stat_incr(&store_stat->lease_expired);
                _do_free(s, p);
            } else {
                p = &(*p)->next;
            }
        }
    }
}

void store_lease_free_all(struct shard *s)
{
    for (unsigned b = 0; b < STORE_LEASE_BUCKETS; b++)
        while (s->leases[b])
            _do_free(s, &s->leases[b]);
}

enum store_status do_store_lease_take(struct shard *s, const struct store_key *k,
                                      uint32_t lease_ms, uint64_t *token, uint32_t *left_ms)
{
    uint64_t now = clock_mono_us();
    struct lease **p = s->nleases ? _do_find(s, k->ns, k->hash, k->data, k->len) : NULL;
    if (p && (*p)->epoch == __atomic_load_n(&flush_epoch, __ATOMIC_SEQ_CST) &&
        (*p)->expire_us > now) {
        uint64_t left = ((*p)->expire_us - now + 999) / 1000;
        *left_ms = (uint32_t)(left ? left : 1);
        stat_incr(&store_stat->lease_waits);
        return STORE_LEASE_WAIT;
    }
    if (p) { /* expired (its holder never came back) or flushed: the next caller computes */
        if ((*p)->expire_us <= now)
            stat_incr(&store_stat->lease_expired);
        _do_free(s, p);
    }
    uint64_t max = option_get_u(store_opt_max_leases());
    if (__atomic_add_fetch(&lease_count, 1, __ATOMIC_RELAXED) > max) {
        __atomic_sub_fetch(&lease_count, 1, __ATOMIC_RELAXED);
        stat_incr(&store_stat->lease_full);
        return STORE_ELIMIT;
    }
    struct lease *l = malloc(sizeof(*l) + k->len);
    if (!l) {
        __atomic_sub_fetch(&lease_count, 1, __ATOMIC_RELAXED);
        return STORE_ENOMEM;
    }
    l->hash = k->hash;
    l->token = store_hlc_now(); /* unique on this node, and never 0 */
    l->expire_us = now + (uint64_t)lease_ms * 1000;
    l->epoch = __atomic_load_n(&flush_epoch, __ATOMIC_SEQ_CST);
    l->ns = k->ns;
    l->klen = k->len;
    memcpy(l->key, k->data, k->len);
    struct lease **b = _bucket(s, k->hash);
    l->next = *b;
    *b = l;
    s->nleases++;
    stat_incr(&store_stat->leases);
    stat_add(&store_stat->bytes_used, _mem(l));
    stat_incr(&store_stat->lease_grants);
    *token = l->token;
    *left_ms = lease_ms;
    return STORE_LEASED;
}

enum store_status do_store_lease_redeem(struct shard *s, const struct store_key *k,
                                        uint64_t token)
{
    struct lease **p = s->nleases ? _do_find(s, k->ns, k->hash, k->data, k->len) : NULL;
    if (!p || (*p)->token != token) {
        stat_incr(&store_stat->lease_lost);
        return STORE_NOT_STORED;
    }
    bool expired = (*p)->expire_us <= clock_mono_us();
    bool flushed = (*p)->epoch != __atomic_load_n(&flush_epoch, __ATOMIC_SEQ_CST);
    if (expired)
        stat_incr(&store_stat->lease_expired);
    _do_free(s, p);
    if (expired || flushed) {
        stat_incr(&store_stat->lease_lost);
        return STORE_NOT_STORED;
    }
    return STORE_OK;
}
