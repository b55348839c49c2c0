/* Unit tests of the shared-memory read region (store/shm.c, docs/shm-reads.md), with the real
 * store: publishing, every kind of change invalidating a copy, ring reclaim, bucket
 * replacement, admission, and a reader that follows the design's seqlock procedure while
 * writers publish. A checker walks the whole region after each test and holds every valid
 * slot to the item linked for its key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "fence.h"
#include "keyhash.h"
#include "option.h"
#include "shm.h"
#include "stats.h"
#include "store-internal.h"
#include "store.h"
#include "store_test.h"

static int setup(void **state)
{
    (void)state;
    store_options_register();
    _config("memory", "64MiB");
    _config("shm_read_size", "4MiB"); /* 64 slots and a 12 KiB ring per shard */
    _config("shm_reads", "true");
    return store_setup();
}

static void _region_problem(char *why, size_t len);

/* The region is checked, then the store goes in any case (a later test starts clean). */
static int teardown(void **state)
{
    (void)state;
    char why[512];
    _region_problem(why, sizeof(why));
    store_teardown();
    option_registry_teardown();
    if (*why)
        fail_msg("%s", why);
    return 0;
}

struct stat_find {
    const char *name;
    uint64_t v;
};
static void _stat_visit(void *arg, const struct stat_desc *d, uint64_t v)
{
    struct stat_find *f = arg;
    if (!strcmp(d->name, f->name))
        f->v = v;
}
static uint64_t _stat(const char *name)
{
    struct stat_find f = {name, UINT64_MAX};
    stats_foreach(_stat_visit, &f);
    if (f.v == UINT64_MAX)
        fail_msg("no stat %s", name);
    return f.v;
}

/* ---- the region as a reader sees it ---- */

struct region {
    const uint8_t *base;
    const struct shm_header *h;
    uint32_t slots, ring;
};

static struct region _region(void)
{
    size_t size;
    struct region r = {store_shm_base(&size), NULL, 0, 0};
    assert_non_null(r.base);
    r.h = (const void *)r.base;
    r.slots = r.h->slots_per_shard;
    r.ring = r.h->ring_size;
    assert_int_equal(r.h->total_size, size);
    return r;
}

static const struct shm_slot *_slots(const struct region *r, unsigned shard)
{
    return (const void *)(r->base + SHM_PARTS_OFF + shard * shm_part_size(r->slots, r->ring));
}
static const uint8_t *_ring(const struct region *r, unsigned shard)
{
    return (const uint8_t *)(_slots(r, shard) + r->slots);
}
static uint64_t _ns_flush(const struct region *r, uint16_t ns)
{
    const uint64_t *f = (const void *)(r->base + SHM_NS_FLUSH_OFF);
    return __atomic_load_n(&f[ns], __ATOMIC_ACQUIRE);
}

enum rd { RD_MISS, RD_HIT, RD_RETRY, RD_BAD };
struct hit {
    uint8_t type;
    uint64_t version, expire_ms;
    uint32_t vlen;
    _Alignas(8) uint8_t buf[SHM_ENTRY_MAX]; /* copied into with 8-byte loads */
    const uint8_t *value;
};

static inline uint64_t _ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* The reader's lookup (docs/shm-reads.md, "The reader", steps 3 to 8). RD_BAD: the slot
 * stayed stable, yet what was read fails a check: a writer bug. */
static enum rd _read(uint16_t ns, const void *key, uint16_t klen, struct hit *o)
{
    struct region r = _region();
    if (__atomic_load_n(&r.h->dead, __ATOMIC_ACQUIRE) || !__atomic_load_n(&r.h->open, __ATOMIC_RELAXED))
        return RD_MISS;
    uint64_t h = cc_key_hash(ns, key, klen);
    unsigned shard = (unsigned)(h >> 56);
    const struct shm_slot *sl = _slots(&r, shard) + (h & (r.slots / SHM_WAYS - 1)) * SHM_WAYS;
    const uint8_t *ring = _ring(&r, shard);
    int attempts = 0;
    for (unsigned w = 0; w < SHM_WAYS; w++) {
        const struct shm_slot *s = &sl[w];
    again:;
        uint64_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1)
            continue;
        if (_ld(&s->hash) != h)
            continue;
        uint64_t pos = _ld(&s->pos);
        uint32_t len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
        o->version = _ld(&s->version);
        o->expire_ms = _ld(&s->expire_ms);
        uint64_t nsflush = _ld(&s->nsflush);
        uint16_t sns = __atomic_load_n(&s->ns, __ATOMIC_RELAXED);
        uint16_t sklen = __atomic_load_n(&s->klen, __ATOMIC_RELAXED);
        o->type = __atomic_load_n(&s->type, __ATOMIC_RELAXED);
        if (len % 8 || len < sizeof(struct shm_entry) + klen || len > SHM_ENTRY_MAX ||
            sklen != klen || sns != ns || pos % r.ring + len > r.ring) {
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            return __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == s1 ? RD_BAD : RD_RETRY;
        }
        const uint64_t *src = (const void *)(ring + pos % r.ring);
        uint64_t *dst = (uint64_t *)(void *)o->buf;
        for (uint32_t i = 0; i < len / 8; i++)
            dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != s1) {
            if (++attempts < 2)
                goto again;
            return RD_RETRY;
        }
        struct shm_entry e;
        memcpy(&e, o->buf, sizeof(e));
        const uint8_t *k = o->buf + sizeof(e);
        if (e.pos != pos || e.klen != klen || e.len != len ||
            sizeof(e) + e.klen + e.vlen > len || memcmp(k, key, klen) != 0)
            return RD_BAD;
        o->value = k + klen;
        o->vlen = e.vlen;
        uint32_t crc = crc32c(crc32c(crc32c(0, k, klen), o->value, e.vlen), &o->type, 1);
        if (crc != e.crc)
            return RD_BAD;
        if (nsflush != _ns_flush(&r, ns))
            return RD_MISS;
        if (o->expire_ms && o->expire_ms <= clock_wall_ms())
            return RD_MISS;
        return RD_HIT;
    }
    return RD_MISS;
}

/* Every valid slot (even seq, hash != 0) copies the item linked for its key: key, value
 * bytes, version, expiry, type, CRC, and that item names this slot. The sweeper, which
 * reclaims expired and flushed items, is stopped meanwhile (the count of valid slots must
 * match shm.entries), and each shard's part is read under its lock; a failure is reported
 * once the lock is released. */
#define CHECK(cond, what)                                                                 \
    if (!(cond)) {                                                                        \
        if (!*why)                                                                        \
            snprintf(why, len, "region check: shard %u slot %u: %s", shard, i, what);    \
        continue;                                                                         \
    }

/* The first problem the check found in why ("" when none). */
static void _region_problem(char *why, size_t len)
{
    *why = '\0';
    size_t size;
    if (!store_shm_base(&size))
        return;
    struct region r = _region();
    uint64_t valid = 0;
    store_sweep_stop();
    for (unsigned shard = 0; shard < SHM_NSHARDS && !*why; shard++) {
        pthread_mutex_lock(&store_shards[shard].lock);
        const struct shm_slot *sl = _slots(&r, shard);
        for (uint32_t i = 0; i < r.slots; i++) {
            const struct shm_slot *s = &sl[i];
            if ((s->seq & 1) || s->hash == 0) {
                CHECK(!(s->seq & 1), "seq odd with every lock held");
                continue;
            }
            valid++;
            CHECK(s->len % 8 == 0 && s->len <= SHM_ENTRY_MAX, "len");
            CHECK(s->pos % r.ring + s->len <= r.ring, "pos and len past the ring");
            const uint8_t *p = _ring(&r, shard) + s->pos % r.ring;
            struct shm_entry e;
            memcpy(&e, p, sizeof(e));
            CHECK(e.pos == s->pos && e.len == s->len && e.slot == i && e.klen == s->klen &&
                      e.type == s->type && e.flags == 0, "entry header");
            const uint8_t *key = p + sizeof(e), *val = key + e.klen;
            CHECK(s->hash == cc_key_hash(s->ns, key, e.klen) && s->hash >> 56 == shard,
                  "hash");
            CHECK(e.crc == store_value_crc(key, e.klen, val, e.vlen, NULL, 0, e.type), "crc");
            struct item **at = do_store_table_find(&store_shards[shard], s->hash, s->ns, key,
                                                   e.klen);
            CHECK(at, "a copy of a key memory does not hold");
            struct item *it = *at;
            uint32_t vlen;
            const uint8_t *v = store_item_value(it, &vlen);
            CHECK(vlen == e.vlen && memcmp(v, val, vlen) == 0, "value");
            CHECK(store_item_version(it) == s->version, "version");
            CHECK(store_item_expire_ms(it) == s->expire_ms, "expiry");
            CHECK(store_item_type(it) == s->type, "type");
            CHECK(it->shm_slot == shard * r.slots + i + 1, "the item names another slot");
        }
        pthread_mutex_unlock(&store_shards[shard].lock);
    }
    uint64_t entries = _stat("shm.entries");
    if (store_sweep_start() != 0 && !*why)
        snprintf(why, len, "region check: cannot restart the sweeper");
    if (valid != entries && !*why)
        snprintf(why, len, "region check: %llu valid slots, shm.entries %llu",
                 (unsigned long long)valid, (unsigned long long)entries);
}
#undef CHECK

static void _check_region(void)
{
    char why[512];
    _region_problem(why, sizeof(why));
    if (*why)
        fail_msg("%s", why);
}

/* ---- helpers ---- */

static struct store_key _key(uint16_t ns, const char *key)
{
    struct store_key k;
    store_key_init(&k, ns, key, (uint32_t)strlen(key));
    return k;
}

static void _set(uint16_t ns, const char *key, const char *val, uint64_t ttl)
{
    uint8_t enc[70000];
    struct store_key k = _key(ns, key);
    struct store_value v = {STORE_T_BYTES, enc, _bin(enc, val, strlen(val))};
    assert_int_equal(store_set(&k, &v, ttl, 0, 0, NULL), STORE_OK);
}

static void _set_int(uint16_t ns, const char *key, int64_t n)
{
    uint8_t enc[9] = {0xd3};
    for (int i = 0; i < 8; i++)
        enc[1 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    struct store_key k = _key(ns, key);
    struct store_value v = {STORE_T_INT, enc, 9};
    assert_int_equal(store_set(&k, &v, 0, 0, 0, NULL), STORE_OK);
}

/* Publish key's current item directly (as a drained offer would). */
static bool _publish(uint16_t ns, const char *key)
{
    struct store_key k = _key(ns, key);
    struct item *it;
    if (store_peek(&k, &it) != STORE_OK)
        return false;
    bool ok = store_shm_publish(it);
    store_item_release(it);
    return ok;
}

/* A socket GET: hit or miss, the item released. */
static bool _get(uint16_t ns, const char *key)
{
    struct store_key k = _key(ns, key);
    struct item *it;
    if (store_get(&k, &it) != STORE_OK)
        return false;
    store_item_release(it);
    return true;
}

static enum rd _rd(uint16_t ns, const char *key, struct hit *o)
{
    return _read(ns, key, (uint16_t)strlen(key), o);
}

/* Is the key's copy in a valid slot (whatever its flush counter and expiry say)? */
static bool _in_region(uint16_t ns, const char *key)
{
    struct region r = _region();
    uint64_t h = cc_key_hash(ns, key, strlen(key));
    const struct shm_slot *sl = _slots(&r, (unsigned)(h >> 56)) +
                                (h & (r.slots / SHM_WAYS - 1)) * SHM_WAYS;
    for (unsigned w = 0; w < SHM_WAYS; w++) /* the sweeper may invalidate meanwhile */
        if (_ld(&sl[w].hash) == h && !(__atomic_load_n(&sl[w].seq, __ATOMIC_ACQUIRE) & 1))
            return true;
    return false;
}

/* ---- tests ---- */

static void test_shm_region_header_and_a_published_copy_read_back(void **state)
{
    (void)state;
    struct region r = _region();
    assert_int_equal(r.h->magic, SHM_MAGIC);
    assert_memory_equal(&r.h->magic, "CSDSHM\0\1", 8);
    assert_int_equal(r.h->format, SHM_FORMAT);
    assert_int_equal(r.h->nshards, SHM_NSHARDS);
    assert_int_equal(r.slots, 64);
    assert_int_equal(r.ring, 12288);
    assert_int_equal(__atomic_load_n(&r.h->open, __ATOMIC_RELAXED), 1); /* csd-shm writes it */
    assert_int_equal(__atomic_load_n(&r.h->dead, __ATOMIC_RELAXED), 0);
    assert_int_equal(_stat("shm.size"), r.h->total_size);
    uint64_t now = clock_mono_us() / 1000, hb = __atomic_load_n(&r.h->heartbeat_ms, __ATOMIC_RELAXED);
    assert_true(hb <= now + 1 && now - hb < 1000);
    uint16_t ns;
    assert_int_equal(store_ns_id("app", 3, &ns), STORE_OK);
    const struct shm_ns_name *names = (const void *)(r.base + SHM_NS_NAMES_OFF);
    assert_true(__atomic_load_n(&r.h->ns_count, __ATOMIC_ACQUIRE) > ns);
    assert_int_equal(names[ns].len, 3);
    assert_memory_equal(names[ns].name, "app", 3);

    struct hit o;
    _set(ns, "k1", "hello", 0);
    assert_int_equal(_rd(ns, "k1", &o), RD_MISS);
    assert_true(_publish(ns, "k1"));
    assert_false(_publish(ns, "k1")); /* already published */
    assert_int_equal(_rd(ns, "k1", &o), RD_HIT);
    assert_int_equal(o.type, STORE_T_BYTES);
    assert_int_equal(o.vlen, 7);
    assert_memory_equal(o.value, "\xc4\x05hello", 7);
    assert_int_equal(o.expire_ms, 0);
    assert_int_equal(_rd(0, "k1", &o), RD_MISS); /* another namespace */
    assert_int_equal(_stat("shm.published"), 1);

    /* a counter's entry carries the CRC of its value alone */
    _set_int(0, "n", 41);
    int64_t v;
    store_set_node_id(1);
    struct store_key kn = _key(0, "n");
    assert_int_equal(store_incr(&kn, 1, 0, 0, &v), STORE_OK); /* now a replicated counter */
    assert_int_equal(v, 42);
    store_set_node_id(0);
    assert_true(_publish(0, "n"));
    assert_int_equal(_rd(0, "n", &o), RD_HIT);
    assert_int_equal(o.type, STORE_T_INT);
    assert_int_equal(o.vlen, 9);

    /* too large, and streams: never */
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    _set(0, "big", big, 0);
    assert_false(_publish(0, "big"));
    struct store_key ka = _key(0, "s");
    uint64_t len;
    assert_int_equal(store_append(&ka, "abc", 3, 0, &len), STORE_OK);
    assert_false(_publish(0, "s"));
}

static void test_shm_every_change_of_a_published_item_invalidates_it(void **state)
{
    (void)state;
    struct hit o;
    /* SET replace */
    _set(0, "a", "1", 0);
    assert_true(_publish(0, "a"));
    _set(0, "a", "2", 0);
    assert_false(_in_region(0, "a"));
    assert_true(_publish(0, "a"));
    assert_int_equal(_rd(0, "a", &o), RD_HIT);
    assert_memory_equal(o.value, "\xc4\x01" "2", 3);
    /* DEL */
    struct store_key k = _key(0, "a");
    assert_int_equal(store_del(&k), STORE_OK);
    assert_false(_in_region(0, "a"));
    /* INCR */
    _set_int(0, "n", 1);
    assert_true(_publish(0, "n"));
    int64_t v;
    k = _key(0, "n");
    assert_int_equal(store_incr(&k, 5, 0, 0, &v), STORE_OK);
    assert_false(_in_region(0, "n"));
    /* APPEND: bytes become a stream */
    _set(0, "b", "xy", 0);
    assert_true(_publish(0, "b"));
    k = _key(0, "b");
    uint64_t len;
    assert_int_equal(store_append(&k, "z", 1, 0, &len), STORE_OK);
    assert_int_equal(len, 3);
    assert_false(_in_region(0, "b"));
    /* TOUCH: the copy carries the old expiry and version */
    _set(0, "t", "v", 0);
    assert_true(_publish(0, "t"));
    k = _key(0, "t");
    assert_int_equal(store_touch(&k, 60000), STORE_OK);
    assert_false(_in_region(0, "t"));
    assert_true(_publish(0, "t"));
    assert_int_equal(_rd(0, "t", &o), RD_HIT);
    assert_true(o.expire_ms > clock_wall_ms());
    /* expiry: the reader refuses it by itself, and its reclaim invalidates the slot */
    _set(0, "e", "v", 300);
    assert_true(_publish(0, "e"));
    assert_int_equal(_rd(0, "e", &o), RD_HIT);
    usleep(350 * 1000);
    assert_int_equal(_rd(0, "e", &o), RD_MISS);
    assert_false(_get(0, "e")); /* reclaimed on the read */
    assert_false(_in_region(0, "e"));
    /* FLUSH of a namespace: its counter moves, the other namespace's copies stay good */
    uint16_t ns;
    assert_int_equal(store_ns_id("other", 5, &ns), STORE_OK);
    _set(ns, "f", "v", 0);
    _set(0, "g", "v", 0);
    assert_true(_publish(ns, "f"));
    assert_true(_publish(0, "g"));
    struct region r = _region();
    uint64_t before = _ns_flush(&r, ns), before0 = _ns_flush(&r, 0);
    store_flush(ns, NULL);
    assert_int_equal(_ns_flush(&r, ns), before + 1);
    assert_int_equal(_ns_flush(&r, 0), before0);
    assert_int_equal(_rd(ns, "f", &o), RD_MISS);
    assert_int_equal(_rd(0, "g", &o), RD_HIT);
    store_flush(-1, NULL); /* everything: every counter */
    assert_int_equal(_ns_flush(&r, 0), before0 + 1);
    assert_int_equal(_rd(0, "g", &o), RD_MISS);
    assert_true(_stat("shm.invalidated") >= 6);
}

static void test_shm_eviction_invalidates_and_published_items_count_as_visited(void **state)
{
    (void)state;
    char key[32], val[2000];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = 0;
    /* a published item counts as visited: unpublished ones are evicted around it */
    _set(0, "hot", "v", 0);
    assert_true(_publish(0, "hot"));
    _config("memory", "16MiB"); /* about 30 items a shard: none is left with "hot" alone */
    for (int i = 0; i < 16000; i++) {
        snprintf(key, sizeof(key), "fill:%d", i);
        _set(0, key, val, 0);
    }
    assert_true(_stat("evictions") > 4000);
    struct item *it;
    struct store_key hk = _key(0, "hot");
    assert_int_equal(store_peek(&hk, &it), STORE_OK);
    store_item_release(it);
    assert_true(_in_region(0, "hot"));

    /* shards whose items are all published: the hand's second round evicts them, and
     * every copy of an evicted item goes with it */
    _config("memory", "64MiB");
    char big[3900];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    int published = 0;
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "pub:%d", i);
        _set(0, key, big, 0);
        published += _publish(0, key);
    }
    assert_true(published > 500);
    for (int i = 0; i < 16000; i++) { /* the fillers leave: memory holds published items */
        snprintf(key, sizeof(key), "fill:%d", i);
        struct store_key k = _key(0, key);
        store_del(&k);
    }
    uint64_t inval = _stat("shm.invalidated"), ev = _stat("evictions");
    _config("memory", "1MiB");
    store_enforce_limit();
    assert_true(_stat("evictions") - ev > 100);
    int gone = 0;
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "pub:%d", i);
        struct store_key k = _key(0, key);
        if (store_peek(&k, &it) == STORE_OK) {
            store_item_release(it);
            continue;
        }
        gone++;
        assert_false(_in_region(0, key));
    }
    assert_true(gone > 100);
    assert_true(_stat("shm.invalidated") - inval > 100);
}

static void test_shm_ring_reclaims_the_oldest_copies_over_many_publishes(void **state)
{
    (void)state;
    char key[32], val[1000];
    memset(val, 'r', sizeof(val) - 1);
    val[sizeof(val) - 1] = 0;
    /* 256 shards x 12 KiB rings hold about 3 MiB: 8000 entries of about 1 KiB wrap them */
    for (int i = 0; i < 8000; i++) {
        snprintf(key, sizeof(key), "ring:%d", i);
        _set(0, key, val, 0);
        assert_true(_publish(0, key));
    }
    assert_int_equal(_stat("shm.published"), 8000);
    assert_true(_stat("shm.reclaimed") > 4000);
    assert_true(_stat("shm.entries") <= 256 * (12288 / 1024));
    assert_int_equal(_stat("shm.resets"), 0);
    /* the newest copies are still there; every slot left matches its item */
    struct hit o;
    assert_int_equal(_rd(0, "ring:7999", &o), RD_HIT);
    _check_region();
}

static void test_shm_full_bucket_replaces_its_oldest_copy(void **state)
{
    (void)state;
    struct region r = _region();
    /* five keys of the same shard and bucket */
    char keys[5][32];
    uint64_t want = UINT64_MAX;
    int n = 0;
    for (int i = 0; n < 5 && i < 10000000; i++) {
        char k[32];
        snprintf(k, sizeof(k), "b:%d", i);
        uint64_t h = cc_key_hash(0, k, strlen(k));
        uint64_t where = (h >> 56) << 32 | (h & (r.slots / SHM_WAYS - 1));
        if (want == UINT64_MAX)
            want = where;
        if (where == want)
            strcpy(keys[n++], k);
    }
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) {
        _set(0, keys[i], "v", 0);
        assert_true(_publish(0, keys[i]));
    }
    assert_int_equal(_stat("shm.replaced"), 1);
    assert_false(_in_region(0, keys[0])); /* the oldest publication went */
    for (int i = 1; i < 5; i++)
        assert_true(_in_region(0, keys[i]));
    /* and its item knows it is no longer published: it can be again */
    assert_true(_publish(0, keys[0]));
    assert_false(_in_region(0, keys[1]));
}

static void test_shm_admission_publishes_items_read_twice_or_hot_before_their_write(void **state)
{
    (void)state;
    _set(0, "a", "1", 0);
    assert_true(_get(0, "a"));
    store_shm_drain();
    assert_false(_in_region(0, "a")); /* read once: not yet */
    assert_true(_get(0, "a"));
    store_shm_drain();
    assert_true(_in_region(0, "a")); /* read twice */
    _set(0, "a", "2", 0);
    assert_false(_in_region(0, "a"));
    assert_true(_get(0, "a"));
    store_shm_drain();
    assert_true(_in_region(0, "a")); /* its predecessor was published */
    /* LEASE_GET hits offer as GET's do */
    _set(0, "l", "1", 0);
    struct store_key k = _key(0, "l");
    for (int i = 0; i < 2; i++) {
        struct item *it;
        uint64_t token;
        uint32_t left;
        assert_int_equal(store_lease_get(&k, 1000, false, &it, &token, &left), STORE_OK);
        store_item_release(it);
    }
    store_shm_drain();
    assert_true(_in_region(0, "l"));
    /* more than 32 offers before a drain: the rest are dropped and counted */
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "o:%d", i);
        _set(0, key, "v", 0);
        _get(0, key);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "o:%d", i);
        _get(0, key);
    }
    assert_int_equal(_stat("shm.offers_dropped"), 8);
    store_shm_drain();
    /* shm-reads off: closed, nothing published, invalidation goes on */
    _set(0, "c", "1", 0);
    assert_true(_publish(0, "c"));
    _config("shm_reads", "false");
    _set(0, "d", "1", 0);
    assert_false(_publish(0, "d"));
    _get(0, "d");
    _get(0, "d");
    store_shm_drain();
    assert_false(_in_region(0, "d"));
    _set(0, "c", "2", 0);
    assert_false(_in_region(0, "c"));
    usleep(3 * SHM_HEARTBEAT_MS * 1000);
    struct region r = _region();
    assert_int_equal(__atomic_load_n(&r.h->open, __ATOMIC_RELAXED), 0);
    _config("shm_reads", "true");
}

static int setup_small(void **state)
{
    (void)state;
    store_options_register();
    _config("memory", "64MiB");
    _config("shm_read_size", "2MiB"); /* below 4 MiB: off */
    _config("shm_reads", "true");
    return store_setup();
}

static void test_shm_read_size_below_4mib_or_invalid_leaves_it_off(void **state)
{
    (void)state;
    size_t size;
    assert_null(store_shm_base(&size));
    assert_int_equal(_stat("shm.size"), 0);
    _set(0, "a", "1", 0);
    assert_false(_publish(0, "a"));
    _get(0, "a");
    _get(0, "a");
    store_shm_drain();
    assert_int_equal(_stat("shm.published"), 0);
    char err[256];
    assert_int_not_equal(option_registry_set("shm_read_size", "lots", false, err, sizeof(err)), 0);
    assert_int_not_equal(option_registry_set("shm_read_size", "65GiB", false, err, sizeof(err)), 0);
    assert_int_not_equal(option_registry_set("shm_read_size", "8MiB", true, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("shm_read_size", "0", false, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("shm_read_size", "auto", false, err, sizeof(err)), 0);
}

/* ---- writers and a reader at once ---- */

#define CK 64 /* keys; key i is written by writer i % 2 */
static uint64_t acked[CK]; /* the highest sequence a writer's SET returned for the key */
static int stop_flag;

struct wr {
    int id;
};

static void *_writer(void *arg)
{
    struct wr *w = arg;
    char key[16], val[600];
    for (uint64_t seq = 1; !__atomic_load_n(&stop_flag, __ATOMIC_RELAXED); seq++) {
        for (int i = w->id; i < CK; i += 2) {
            snprintf(key, sizeof(key), "c:%d", i);
            /* the sequence, then filler so entries vary in length (the ring wraps) */
            int n = snprintf(val, sizeof(val), "%llu:", (unsigned long long)seq);
            int pad = (int)((seq * 7 + (uint64_t)i * 13) % 500);
            memset(val + n, 'a' + i % 26, (size_t)pad);
            val[n + pad] = 0;
            _set(0, key, val, 0);
            __atomic_store_n(&acked[i], seq, __ATOMIC_RELEASE);
            _publish(0, key);
            if (seq % 16 == 0) {
                struct store_key k = _key(0, key);
                store_touch(&k, 0); /* invalidates by _restamp */
            }
        }
    }
    return NULL;
}

static void test_shm_reader_never_accepts_a_torn_or_stale_copy(void **state)
{
    (void)state;
    memset(acked, 0, sizeof(acked));
    stop_flag = 0;
    pthread_t t[2];
    struct wr w[2] = {{0}, {1}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, _writer, &w[i]), 0);
    uint64_t hits = 0, reads = 0, retries = 0;
    struct hit o;
    uint64_t until = clock_mono_us() + 1500 * 1000;
    uint32_t rnd = 1;
    while (clock_mono_us() < until || hits < 100) {
        rnd = rnd * 1103515245u + 12345u;
        int i = (int)((rnd >> 8) % CK);
        char key[16];
        snprintf(key, sizeof(key), "c:%d", i);
        uint64_t floor = __atomic_load_n(&acked[i], __ATOMIC_ACQUIRE);
        enum rd rc = _rd(0, key, &o);
        reads++;
        if (rc == RD_BAD)
            fail_msg("a stable slot failed the reader's checks (key %s)", key);
        if (rc == RD_RETRY)
            retries++;
        if (rc != RD_HIT)
            continue;
        hits++;
        /* a bin (8- or 16-bit length) whose content starts with the sequence */
        uint32_t hl = o.value[0] == 0xc4 ? 2 : o.value[0] == 0xc5 ? 3 : 0;
        if (!hl || o.vlen < hl + 2)
            fail_msg("key %s: a hit that is not the writer's value (%u bytes)", key, o.vlen);
        unsigned long long seq = strtoull((const char *)o.value + hl, NULL, 10);
        if (seq < floor)
            fail_msg("key %s: read sequence %llu after %llu was acknowledged", key, seq,
                     (unsigned long long)floor);
        if (clock_mono_us() > until + 20 * 1000 * 1000)
            break;
    }
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    print_message("shm reader: %llu reads, %llu hits, %llu retries exhausted\n",
                  (unsigned long long)reads, (unsigned long long)hits,
                  (unsigned long long)retries);
    assert_true(hits > 0);
}

/* A fence closes the region at once, not at csd-shm's next tick (fenced-reads is not
 * registered here, so it counts as off); lifting it opens it again; a stopping server's
 * region is dead and stays closed, whatever the heartbeat thread computes after. */
static void test_shm_fence_closes_at_once_and_a_dead_region_stays_closed(void **state)
{
    (void)state;
    struct region r = _region();
    for (int i = 0; i < 50; i++) { /* each round races csd-shm's tick */
        assert_true(fence_set("test round %d", i));
        assert_int_equal(__atomic_load_n(&r.h->open, __ATOMIC_ACQUIRE), 0);
        usleep(1000 * (unsigned)(i % 3));
        assert_int_equal(__atomic_load_n(&r.h->open, __ATOMIC_ACQUIRE), 0);
        assert_true(fence_clear("the test"));
        assert_int_equal(__atomic_load_n(&r.h->open, __ATOMIC_ACQUIRE), 1);
    }
    store_shm_dead();
    assert_int_equal(__atomic_load_n(&r.h->dead, __ATOMIC_ACQUIRE), 1);
    usleep(50 * 1000); /* two ticks of csd-shm */
    assert_int_equal(__atomic_load_n(&r.h->open, __ATOMIC_ACQUIRE), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shm_region_header_and_a_published_copy_read_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_every_change_of_a_published_item_invalidates_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_shm_eviction_invalidates_and_published_items_count_as_visited, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_shm_ring_reclaims_the_oldest_copies_over_many_publishes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_full_bucket_replaces_its_oldest_copy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_shm_admission_publishes_items_read_twice_or_hot_before_their_write, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_shm_reader_never_accepts_a_torn_or_stale_copy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_shm_fence_closes_at_once_and_a_dead_region_stays_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_read_size_below_4mib_or_invalid_leaves_it_off,
                                        setup_small, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
