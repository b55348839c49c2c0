/* The reader of the shared-memory region (docs/shm-reads.md, "The reader"): one key looked
 * up in a mapping that passed the map-time checks, with no lock, no write and no system call.
 * Everything read from the region is bounds-checked before it is used, and every hit is a
 * stable seqlock copy whose key and CRC-32C match: a torn, corrupt or hostile region makes a
 * lookup answer "not here", never a wrong value or an access outside the mapping. This file
 * knows nothing of clients, so the fuzz target calls it as it is. */
#include <string.h>

#include "crc32c.h"
#include "keyhash.h"
#include "shm-internal.h"

static inline uint64_t _ld64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

static inline const struct shm_header *_hdr(const struct cc_shm_view *v)
{
    return (const struct shm_header *)(const void *)v->base;
}

enum cc_shm_result cc_shm_check_live(const struct cc_shm_view *v, uint64_t now_mono_ms)
{
    const struct shm_header *h = _hdr(v);
    if (__atomic_load_n(&h->dead, __ATOMIC_ACQUIRE))
        return CC_SHM_DEAD;
    if (!__atomic_load_n(&h->open, __ATOMIC_RELAXED))
        return CC_SHM_STALE;
    uint64_t hb = __atomic_load_n(&h->heartbeat_ms, __ATOMIC_RELAXED);
    if (now_mono_ms > hb + SHM_STALE_MS || hb > now_mono_ms + CC_SHM_CLOCK_AHEAD_MS)
        return CC_SHM_STALE;
    return CC_SHM_HIT;
}

int cc_shm_ns_find(const struct cc_shm_view *v, const char *name, size_t len)
{
    const struct shm_header *h = _hdr(v);
    uint32_t n = __atomic_load_n(&h->ns_count, __ATOMIC_ACQUIRE);
    if (n > SHM_MAX_NS)
        n = SHM_MAX_NS;
    if (len > SHM_NS_NAME_MAX)
        return -1;
    const struct shm_ns_name *t = (const void *)(v->base + SHM_NS_NAMES_OFF);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t l = __atomic_load_n(&t[i].len, __ATOMIC_RELAXED);
        if (l == len && memcmp(t[i].name, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/* Copy n bytes (a multiple of 8, both 8-aligned) with relaxed 8-byte atomic loads: a byte
 * the server overwrites during the copy is a race the seqlock detects, not undefined
 * behaviour. */
static void _copy_in(uint64_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n / 8; i++)
        dst[i] = _ld64((const uint64_t *)(const void *)(src + 8 * i));
}

/* What one stable read of a slot saw. */
struct seen {
    uint64_t pos, version, expire_ms, nsflush;
    uint32_t len;
    uint16_t ns, klen;
    uint8_t type;
};

/* The slot's fields are in bounds for a key of klen in namespace ns: the entry lies inside
 * the ring and can hold the key. */
static bool _slot_ok(const struct cc_shm_view *v, const struct seen *s, uint16_t ns, size_t klen)
{
    return s->len % 8 == 0 && s->len >= sizeof(struct shm_entry) + klen &&
           s->len <= SHM_ENTRY_MAX && s->klen == klen && s->ns == ns &&
           s->pos % v->ring + s->len <= v->ring && s->type < 8;
}

/* The copy in hit->buf matches the slot and the key, and its checksum is right. */
static bool _entry_ok(const struct seen *s, const void *key, size_t klen, struct cc_shm_hit *hit)
{
    const struct shm_entry *e = (const void *)hit->buf;
    if (e->pos != s->pos || e->len != s->len || e->klen != klen || e->type != s->type ||
        (e->flags & SHM_ENTRY_SKIP) || sizeof(*e) + klen + (uint64_t)e->vlen > s->len)
        return false;
    const uint8_t *k = (const uint8_t *)(e + 1);
    if (memcmp(k, key, klen) != 0)
        return false;
    uint32_t c = crc32c(crc32c(0, k, klen), k + klen, e->vlen);
    if (crc32c(c, &e->type, 1) != e->crc)
        return false;
    hit->value = k + klen;
    hit->vlen = e->vlen;
    return true;
}

enum cc_shm_result cc_shm_lookup(const struct cc_shm_view *v, uint16_t ns, const void *key,
                                 size_t klen, uint64_t now_mono_ms, uint64_t now_wall_ms,
                                 struct cc_shm_hit *hit)
{
    hit->hash = 0;
    enum cc_shm_result live = cc_shm_check_live(v, now_mono_ms);
    if (live != CC_SHM_HIT)
        return live;
    if (ns >= SHM_MAX_NS || klen == 0 || klen > SHM_ENTRY_MAX)
        return CC_SHM_MISS;
    uint64_t h = cc_key_hash(ns, key, klen);
    hit->hash = h;
    const uint8_t *part =
        v->base + SHM_PARTS_OFF + (size_t)(h >> 56) * shm_part_size(v->slots, v->ring);
    const struct shm_slot *slots = (const void *)part;
    const uint8_t *ring = part + (size_t)v->slots * sizeof(struct shm_slot);
    uint32_t b = (uint32_t)(h & (v->slots / SHM_WAYS - 1)) * SHM_WAYS;
    const uint64_t *ns_flush = (const void *)(v->base + SHM_NS_FLUSH_OFF);
    int attempts = 2;
    for (uint32_t w = b; w < b + SHM_WAYS; w++) {
        const struct shm_slot *sl = &slots[w];
    again:;
        uint64_t s1 = __atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1 || _ld64(&sl->hash) != h)
            continue;
        struct seen s = {
            .pos = _ld64(&sl->pos),
            .version = _ld64(&sl->version),
            .expire_ms = _ld64(&sl->expire_ms),
            .nsflush = _ld64(&sl->nsflush),
            .len = __atomic_load_n(&sl->len, __ATOMIC_RELAXED),
            .ns = __atomic_load_n(&sl->ns, __ATOMIC_RELAXED),
            .klen = __atomic_load_n(&sl->klen, __ATOMIC_RELAXED),
            .type = __atomic_load_n(&sl->type, __ATOMIC_RELAXED),
        };
        bool in_bounds = _slot_ok(v, &s, ns, klen);
        if (in_bounds)
            _copy_in(hit->buf, ring + s.pos % v->ring, s.len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (_ld64(&sl->seq) != s1) { /* changed under us: the copy proves nothing */
            if (--attempts > 0)
                goto again;
            return CC_SHM_RETRY;
        }
        if (!in_bounds) {
            if (s.ns != ns || s.klen != klen)
                continue; /* another namespace's or key's hash: a collision, not damage */
            return CC_SHM_BAD;
        }
        if (!_entry_ok(&s, key, klen, hit)) {
            const struct shm_entry *e = (const void *)hit->buf;
            if (e->klen == klen && e->pos == s.pos && memcmp(e + 1, key, klen) != 0)
                continue; /* a stable entry of another key with the same hash */
            return CC_SHM_BAD;
        }
        if (s.nsflush != __atomic_load_n(&ns_flush[ns], __ATOMIC_ACQUIRE))
            return CC_SHM_MISS; /* the namespace was flushed since it was published */
        if (s.expire_ms && s.expire_ms <= now_wall_ms)
            return CC_SHM_MISS; /* the server answers, and reclaims it */
        hit->type = s.type;
        hit->version = s.version;
        hit->expire_ms = s.expire_ms;
        return CC_SHM_HIT;
    }
    return CC_SHM_MISS;
}
