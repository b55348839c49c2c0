/* Unit tests of the memory tier store: operations, the memory limit and SIEVE eviction,
 * TTL expiry and the sweeper, the mutation records, streams, scan across rehash, namespaces
 * and concurrent counters. The store runs for real; nothing is mocked. */
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

#include "option.h"
#include "counter.h"
#include "mpread.h"
#include "stats.h"
#include "store.h"
#include "store_test.h"

static int setup(void **state)
{
    (void)state;
    store_options_register();
    _config("memory", "64MiB");
    _config("sweep_interval_ms", "10"); /* the shortest allowed */
    return store_setup();
}

static int teardown(void **state)
{
    (void)state;
    store_teardown();
    option_registry_teardown();
    return 0;
}

static int _set_str(uint16_t ns, const char *key, const char *val, uint64_t ttl, unsigned flags,
                    uint64_t cas, uint64_t *version)
{
    uint8_t enc[70000];
    struct store_key k;
    store_key_init(&k, ns, key, (uint32_t)strlen(key));
    struct store_value v = {STORE_T_BYTES, enc, _bin(enc, val, strlen(val))};
    return store_set(&k, &v, ttl, flags, cas, version);
}

/* 1 if key holds exactly val (as bin). */
static int _has(uint16_t ns, const char *key, const char *val)
{
    struct store_key k;
    store_key_init(&k, ns, key, (uint32_t)strlen(key));
    struct item *it;
    if (store_get(&k, &it) != STORE_OK)
        return 0;
    uint8_t enc[70000];
    uint32_t n = _bin(enc, val, strlen(val)), len;
    const uint8_t *got = store_item_value(it, &len);
    int same = len == n && memcmp(got, enc, n) == 0;
    store_item_release(it);
    return same ? 1 : -1;
}

static void _key(struct store_key *k, uint16_t ns, const char *s)
{
    store_key_init(k, ns, s, (uint32_t)strlen(s));
}

static void _sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

static uint64_t _wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_set_get_versions_and_conditions(void **state)
{
    (void)state;
    uint64_t v1, v2, v3;
    assert_int_equal(_set_str(0, "a", "one", 0, 0, 0, &v1), STORE_OK);
    assert_int_equal(_has(0, "a", "one"), 1);
    assert_int_equal(_set_str(0, "a", "two", 0, 0, 0, &v2), STORE_OK);
    assert_true(v2 > v1);
    assert_int_equal(_has(0, "a", "two"), 1);
    assert_int_equal(_set_str(0, "a", "x", 0, STORE_SET_NX, 0, NULL), STORE_NOT_STORED);
    assert_int_equal(_set_str(0, "b", "x", 0, STORE_SET_XX, 0, NULL), STORE_NOT_STORED);
    assert_int_equal(_has(0, "b", "x"), 0);
    assert_int_equal(_set_str(0, "b", "x", 0, STORE_SET_NX, 0, NULL), STORE_OK);
    assert_int_equal(_set_str(0, "a", "cas", 0, 0, v1, NULL), STORE_CAS_MISMATCH);
    assert_int_equal(_set_str(0, "zz", "cas", 0, 0, v1, NULL), STORE_NOT_FOUND);
    assert_int_equal(_set_str(0, "a", "cas", 0, 0, v2, &v3), STORE_OK);
    assert_true(v3 > v2);
    assert_int_equal(_has(0, "a", "cas"), 1);
    struct store_key k;
    _key(&k, 0, "a");
    assert_int_equal(store_del(&k), STORE_OK);
    assert_int_equal(store_del(&k), STORE_NOT_FOUND);
    assert_int_equal(_has(0, "a", "cas"), 0);
}

static void test_ttl_expires_and_sweeper_reclaims(void **state)
{
    (void)state;
    assert_int_equal(_set_str(0, "short", "v", 30, 0, 0, NULL), STORE_OK);
    assert_int_equal(_set_str(0, "long", "v", 600000, 0, 0, NULL), STORE_OK);
    struct store_key k;
    struct item *it;
    _key(&k, 0, "long");
    assert_int_equal(store_peek(&k, &it), STORE_OK);
    int64_t ttl = store_item_ttl(it);
    assert_true(ttl > 590000 && ttl <= 600000);
    store_item_release(it);
    /* expired items are never returned: poll until the deadline passes */
    int tries = 0;
    while (_has(0, "short", "v") == 1 && tries++ < 500)
        _sleep_ms(5);
    assert_int_equal(_has(0, "short", "v"), 0);
    /* the sweeper reclaims expired items nobody reads again */
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "exp%d", i);
        assert_int_equal(_set_str(0, key, "payload", 20, 0, 0, NULL), STORE_OK);
    }
    uint64_t before = store_bytes_used();
    tries = 0;
    while (store_bytes_used() > before / 4 && tries++ < 1000)
        _sleep_ms(5);
    assert_true(store_bytes_used() <= before / 4);
    /* touch extends, and 0 removes the ttl */
    _key(&k, 0, "long");
    assert_int_equal(store_touch(&k, 0), STORE_OK);
    assert_int_equal(store_peek(&k, &it), STORE_OK);
    assert_int_equal(store_item_ttl(it), -1);
    store_item_release(it);
}

static void test_memory_limit_is_hard_and_sieve_keeps_hot_items(void **state)
{
    (void)state;
    _config("memory", "4MiB");
    char key[32], val[1024];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    uint64_t limit = store_memory_limit();
    /* 100 hot keys read often, cold keys written once, 30x the limit in total */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "hot%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, NULL), STORE_OK);
    }
    for (int i = 0; i < 120000; i++) {
        snprintf(key, sizeof(key), "cold%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, NULL), STORE_OK);
        assert_true(store_bytes_used() <= limit);
        if (i % 50 == 0)
            for (int h = 0; h < 100; h++) {
                snprintf(key, sizeof(key), "hot%d", h);
                _has(0, key, val);
            }
    }
    int hot_left = 0;
    for (int h = 0; h < 100; h++) {
        snprintf(key, sizeof(key), "hot%d", h);
        hot_left += _has(0, key, val) == 1;
    }
    if (hot_left < 90)
        fail_msg("expected >= 90 of 100 hot keys to survive SIEVE eviction, got %d", hot_left);
    /* a value larger than the whole limit is refused, not an abort (1 MiB is the smallest
     * memory option: a bin32 of 1.5 MiB) */
    uint32_t blen = 3u << 19;
    uint8_t *big = malloc(blen + 5);
    assert_non_null(big);
    big[0] = 0xc6;
    big[1] = (uint8_t)(blen >> 24);
    big[2] = (uint8_t)(blen >> 16);
    big[3] = (uint8_t)(blen >> 8);
    big[4] = (uint8_t)blen;
    memset(big + 5, 'b', blen);
    _config("memory", "1MiB");
    struct store_key bk;
    store_key_init(&bk, 0, "big", 3);
    struct store_value bv = {STORE_T_BYTES, big, blen + 5};
    assert_int_equal(store_set(&bk, &bv, 0, 0, 0, NULL), STORE_ENOMEM);
    free(big);
    _config("memory", "64MiB");
}

/* store_admit_load (a promotion): when memory is full, each victim is put to the admission
 * hook first; a refusal stores nothing, evicts nothing, is no E_NOMEM, and leaves later
 * writes on the same thread alone; an admission stores the copy. */
/* A long burst of writes never read, 10x memory, leaves what was read before it alone:
 * SIEVE's hand evicts the unread newcomers as it moves towards the head and never wraps
 * around to the items it passed (an LRU or a FIFO would have pushed them all out). */
static void test_writes_never_read_do_not_push_out_read_items(void **state)
{
    (void)state;
    _config("memory", "4MiB");
    char key[32], val[1024];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    /* ~3,000 items fill 4 MiB: 1,000 of them read once */
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, NULL), STORE_OK);
    }
    int present = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        present += _has(0, key, val) == 1;
    }
    /* a burst of 40,000 writes, none read */
    for (int i = 0; i < 40000; i++) {
        snprintf(key, sizeof(key), "scan%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, NULL), STORE_OK);
    }
    int kept = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        kept += _has(0, key, val) == 1;
    }
    if (kept < present * 9 / 10)
        fail_msg("%d of the %d items read before the burst survived it (want 90%%)", kept,
                 present);
    /* and the burst did get in: its newest writes are there */
    assert_int_equal(_has(0, "scan39999", val), 1);
    _config("memory", "64MiB");
}

/* Every record a subscriber got, with what it needs to check the mutation path. */
struct rec {
    int op, ns;
    char key[24]; /* "" for a flush */
    uint64_t hash;
    bool ever_read, has_value;
    uint64_t vlen, hlc;
    uint32_t origin;
};
static struct {
    pthread_mutex_t lock; /* the sweeper's expiries come from its own thread */
    struct rec r[16384];
    int n;
} recs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void _record(void *arg, const struct mutation *m)
{
    (void)arg;
    pthread_mutex_lock(&recs.lock);
    if (recs.n < (int)(sizeof(recs.r) / sizeof(recs.r[0]))) {
        struct rec *r = &recs.r[recs.n++];
        *r = (struct rec){.op = m->op, .ns = m->ns, .hash = m->hash, .ever_read = m->ever_read,
                          .has_value = m->value != NULL, .vlen = m->vlen,
                          .hlc = m->hlc, .origin = m->origin};
        if (m->key)
            snprintf(r->key, sizeof(r->key), "%.*s", (int)m->klen, (const char *)m->key);
    }
    pthread_mutex_unlock(&recs.lock);
}

/* The ops recorded for (ns, key), in order, as a string of op digits (in a static buffer:
 * copy it to keep it); checks each record's hash against the key's. */
static const char *_ops_of(uint16_t ns, const char *key)
{
    static char ops[64];
    struct store_key k;
    _key(&k, ns, key);
    int n = 0;
    for (int i = 0; i < recs.n && n < 63; i++) {
        const struct rec *r = &recs.r[i];
        if (r->ns != ns || strcmp(r->key, key) != 0)
            continue;
        if (r->hash != k.hash)
            fail_msg("record %d of %s: hash %llx, the key's is %llx", i, key,
                     (unsigned long long)r->hash, (unsigned long long)k.hash);
        ops[n++] = (char)('0' + r->op);
    }
    ops[n] = '\0';
    return ops;
}

static const struct rec *_last_of(const char *key)
{
    for (int i = recs.n - 1; i >= 0; i--)
        if (strcmp(recs.r[i].key, key) == 0)
            return &recs.r[i];
    return NULL;
}

static bool _in_memory(uint16_t ns, const char *key)
{
    struct store_key k;
    struct item *it;
    _key(&k, ns, key);
    if (store_peek(&k, &it) != STORE_OK)
        return false;
    store_item_release(it);
    return true;
}

#define OPS(...) ((const char[]){__VA_ARGS__, '\0'})
#define D(op) ((char)('0' + (op)))

static void _stat_of(void *arg, const struct stat_desc *d, uint64_t value)
{
    struct {
        const char *name;
        uint64_t v;
    } *want = arg;
    if (strcmp(d->name, want->name) == 0)
        want->v = value;
}

/* A store stat by name (stats_foreach). */
static uint64_t _stat(const char *name)
{
    struct {
        const char *name;
        uint64_t v;
    } want = {name, UINT64_MAX};
    stats_foreach(_stat_of, &want);
    assert_int_not_equal(want.v, UINT64_MAX);
    return want.v;
}

static uint64_t admit_asked;
static bool admit_yes;
static bool _admit_hook(void *arg, uint64_t cand, uint64_t victim)
{
    (void)arg, (void)cand, (void)victim;
    admit_asked++;
    return admit_yes;
}

static void test_admission_refuses_or_admits_a_promotion(void **state)
{
    (void)state;
    _config("memory", "1MiB");
    char key[32], val[1024];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 2000; i++) { /* full */
        snprintf(key, sizeof(key), "fill%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, NULL), STORE_OK);
    }
    store_set_admission(_admit_hook, NULL);
    struct store_key k;
    _key(&k, 0, "promoted");
    /* 16 KiB: more than the room a full memory has left, so something must be evicted */
    static char big[16384];
    static uint8_t enc[16384 + 3];
    memset(big, 'p', sizeof(big));
    struct store_value lv = {STORE_T_BYTES, enc, _bin(enc, big, sizeof(big))};
    uint64_t items = _stat("items"), nomem = _stat("set_nomem");
    admit_yes = false;
    admit_asked = 0;
    assert_int_equal(store_admit_load(&k, &lv, NULL, 0, 0, 7, NULL, NULL), STORE_NOT_STORED);
    assert_true(admit_asked >= 1);
    assert_false(_in_memory(0, "promoted"));
    assert_int_equal(_stat("items"), items);   /* nothing evicted */
    assert_int_equal(_stat("set_nomem"), nomem); /* a refusal is no E_NOMEM */
    assert_int_equal(_set_str(0, "after", val, 0, 0, 0, NULL), STORE_OK); /* evicts as ever */
    admit_yes = true;
    assert_int_equal(store_admit_load(&k, &lv, NULL, 0, 0, 7, NULL, NULL), STORE_OK);
    assert_true(_in_memory(0, "promoted"));
    store_set_admission(NULL, NULL);
    _config("memory", "64MiB");
}

/* One record per change of every kind, in apply order per key, each with the key's hash and
 * whether the item was read; eviction's record carries the value (the tiers demote it). */
static void test_every_change_emits_one_mutation_record(void **state)
{
    (void)state;
    recs.n = 0;
    assert_int_equal(store_mutation_subscribe(_record, NULL), 0);
    struct store_key k;
    int64_t v;
    uint64_t len;
    uint16_t ns1;
    _set_str(0, "m", "1", 0, 0, 0, NULL);
    assert_int_equal(_has(0, "m", "1"), 1);
    _key(&k, 0, "m");
    store_touch(&k, 100000);
    assert_true(_last_of("m")->ever_read);
    store_del(&k);
    store_incr(&k, 5, 10, 0, &v);
    assert_int_equal(store_append(&k, "x", 1, 0, &len), STORE_ETYPE); /* no record */
    _key(&k, 0, "s");
    store_append(&k, "x", 1, 0, &len);
    store_append(&k, "y", 1, 0, &len);
    _set_str(0, "e", "1", 10, 0, 0, NULL);
    _sleep_ms(30);
    assert_int_equal(_has(0, "e", "1"), 0); /* expired: the sweeper or this read reclaims it */
    assert_int_equal(store_ns_id("one", 3, &ns1), STORE_OK);
    _set_str(ns1, "x", "1", 0, 0, 0, NULL);
    store_flush(ns1, NULL);
    assert_int_equal(_has(ns1, "x", "1"), 0); /* flushed: no record of its own */
    uint8_t enc[8];
    struct store_value lv = {STORE_T_BYTES, enc, _bin(enc, "disk", 4)};
    _key(&k, 0, "l");
    assert_int_equal(store_load(&k, &lv, NULL, 0, 0, 7, NULL, NULL), STORE_OK);
    assert_true(_last_of("l")->ever_read);

    /* eviction: 3 MiB of never-read values into 1 MiB */
    _config("memory", "1MiB");
    char key[32], val[1024];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "ev%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, NULL), STORE_OK);
    }
    /* each key: its set, and its eviction when memory lost it (the sweeper may still evict
     * one while this runs: it keeps the limit too) */
    int evicted = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "ev%d", i);
        bool gone = !_in_memory(0, key);
        const char *ops = _ops_of(0, key);
        if (strcmp(ops, OPS(D(MUT_SET))) != 0 || gone) {
            assert_string_equal(ops, OPS(D(MUT_SET), D(MUT_EVICT)));
            const struct rec *r = _last_of(key);
            assert_true(r->has_value && r->vlen == 3 + sizeof(val) - 1);
            assert_false(r->ever_read);
            evicted++;
        }
    }
    if (evicted < 1000)
        fail_msg("expected >= 1000 of 3000 keys evicted from 1 MiB, got %d", evicted);
    _config("memory", "64MiB");
    store_flush(-1, NULL);

    /* per key, in apply order; a key the burst evicted ends with MUT_EVICT */
    char m_ops[64], s_ops[64], l_ops[64];
    strcpy(m_ops, _ops_of(0, "m"));
    assert_true(strcmp(m_ops, OPS(D(MUT_SET), D(MUT_TOUCH), D(MUT_DEL), D(MUT_SET))) == 0 ||
                strcmp(m_ops, OPS(D(MUT_SET), D(MUT_TOUCH), D(MUT_DEL), D(MUT_SET),
                                  D(MUT_EVICT))) == 0);
    strcpy(s_ops, _ops_of(0, "s"));
    assert_true(strcmp(s_ops, OPS(D(MUT_SET), D(MUT_APPEND))) == 0 ||
                strcmp(s_ops, OPS(D(MUT_SET), D(MUT_APPEND), D(MUT_EVICT))) == 0);
    strcpy(l_ops, _ops_of(0, "l"));
    assert_true(strcmp(l_ops, OPS(D(MUT_LOAD))) == 0 ||
                strcmp(l_ops, OPS(D(MUT_LOAD), D(MUT_EVICT))) == 0);
    assert_string_equal(_ops_of(0, "e"), OPS(D(MUT_SET), D(MUT_EXPIRE)));
    assert_string_equal(_ops_of(ns1, "x"), OPS(D(MUT_SET)));
    /* the two flushes, in order, keyless */
    int flushes = 0, keyed = 0;
    for (int i = 0; i < recs.n; i++) {
        const struct rec *r = &recs.r[i];
        if (r->op != MUT_FLUSH) {
            keyed++;
            continue;
        }
        assert_string_equal(r->key, "");
        assert_int_equal(r->ns, flushes == 0 ? ns1 : -1);
        flushes++;
    }
    assert_int_equal(flushes, 2);
    /* nothing else: m 4-5, s 2-3, e 2, x 1, l 1-2, and the burst */
    int burst = 0; /* the burst's records, once nothing evicts any more */
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "ev%d", i);
        const char *ops = _ops_of(0, key);
        if (strcmp(ops, OPS(D(MUT_SET))) != 0)
            assert_string_equal(ops, OPS(D(MUT_SET), D(MUT_EVICT)));
        burst += (int)strlen(ops);
    }
    assert_true(burst >= 3000 + evicted);
    assert_int_equal(keyed, (int)(strlen(m_ops) + strlen(s_ops) + 2 + 1 + strlen(l_ops)) + burst);
}

/* A peer's change (msgpack bin "val") for key in namespace 0. */
static enum store_status _apply(const char *key, enum mutation_op op, uint64_t stamp,
                                uint16_t origin, const char *val, uint64_t expire_ms)
{
    uint8_t enc[300];
    struct store_value v = {STORE_T_BYTES, enc, val ? _bin(enc, val, strlen(val)) : 0};
    struct store_remote r = {.op = op, .stamp = stamp, .origin = origin, .v = val ? &v : NULL,
                             .expire_ms = expire_ms};
    struct store_key k;
    _key(&k, 0, key);
    return store_apply(&k, &r);
}

static uint64_t _version_of(const char *key)
{
    struct store_key k;
    struct item *it;
    _key(&k, 0, key);
    if (store_peek(&k, &it) != STORE_OK)
        return 0;
    uint64_t v = store_item_version(it);
    store_item_release(it);
    return v;
}

static int64_t _int_of(const char *key)
{
    struct store_key k;
    struct item *it;
    int64_t v = -999;
    _key(&k, 0, key);
    if (store_peek(&k, &it) != STORE_OK)
        return v;
    uint32_t len;
    const uint8_t *p = store_item_value(it, &len);
    struct mp_cursor c;
    mp_cursor_init(&c, p, len);
    assert_true(mp_read_int(&c, &v));
    store_item_release(it);
    return v;
}

/* A peer's counter state for key: its epoch, and one entry (origin, sum, stamp). */
static enum store_status _apply_ctr(const char *key, const struct ctr *c, uint16_t origin)
{
    uint8_t st[CTR_HEADER + CTR_MAX_ENTRIES * CTR_ENTRY], enc[9];
    int64_t v;
    assert_true(ctr_value(c, &v));
    enc[0] = 0xd3;
    for (int i = 0; i < 8; i++)
        enc[1 + i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    struct store_value sv = {STORE_T_INT, enc, 9};
    struct store_remote r = {.op = MUT_SET, .stamp = ctr_version(c), .origin = origin,
                             .v = &sv, .ctr = st, .ctr_len = (uint32_t)ctr_write(c, st)};
    struct store_key k;
    _key(&k, 0, key);
    return store_apply(&k, &r);
}

/* With a node id, INCR keeps per-origin sums: a peer's state of the same epoch adds its
 * increments once (applying it again changes nothing, an older one neither); a newer epoch
 * replaces the state; a SET newer than the epoch resets the counter, an older one does not;
 * a malformed state is refused. */
/* The key's lease: its token. */
static uint64_t _lease(const char *key)
{
    struct store_key k;
    _key(&k, 0, key);
    struct item *it = NULL;
    uint64_t token = 0;
    uint32_t left = 0;
    assert_int_equal(store_lease_get(&k, 5000, false, &it, &token, &left), STORE_LEASED);
    assert_true(token > 0 && left == 5000);
    return token;
}

static enum store_status _lease_set(const char *key, uint64_t token)
{
    uint8_t enc[16];
    struct store_value v = {STORE_T_BYTES, enc, _bin(enc, "computed", 8)};
    struct store_key k;
    _key(&k, 0, key);
    return store_lease_set(&k, token, &v, 0, NULL);
}

/* Every kind of change of a key between its lease and the lease's set ends the lease, with
 * and without mutation subscribers (the record is built only with them); a load does not. */
static void test_leases_end_with_any_change(void **state)
{
    (void)state;
    store_set_node_id(1);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            assert_int_equal(store_mutation_subscribe(_record, NULL), 0);
        recs.n = 0;
        struct store_key k;
        struct item *it;
        uint64_t t, t2, len;
        uint32_t left;
        int64_t r;
        /* a second caller waits; the holder's set is stored and ends the lease */
        t = _lease("a");
        _key(&k, 0, "a");
        assert_int_equal(store_lease_get(&k, 5000, false, &it, &t2, &left), STORE_LEASE_WAIT);
        assert_true(left > 4000 && left <= 5000);
        assert_int_equal(_lease_set("a", t + 1), STORE_NOT_STORED); /* not its token */
        assert_int_equal(_lease_set("a", t), STORE_OK);
        assert_int_equal(_has(0, "a", "computed"), 1);
        assert_int_equal(_lease_set("a", t), STORE_NOT_STORED);
        assert_int_equal(store_lease_get(&k, 5000, false, &it, &t2, &left), STORE_OK);
        store_item_release(it);
        assert_int_equal(store_del(&k), STORE_OK);
        /* local changes */
        t = _lease("s");
        assert_int_equal(_set_str(0, "s", "x", 0, 0, 0, NULL), STORE_OK);
        assert_int_equal(_lease_set("s", t), STORE_NOT_STORED);
        t = _lease("i");
        _key(&k, 0, "i");
        assert_int_equal(store_incr(&k, 1, 0, 0, &r), STORE_OK);
        assert_int_equal(_lease_set("i", t), STORE_NOT_STORED);
        t = _lease("ap");
        _key(&k, 0, "ap");
        assert_int_equal(store_append(&k, "x", 1, 0, &len), STORE_OK);
        assert_int_equal(_lease_set("ap", t), STORE_NOT_STORED);
        t = _lease("d");
        _key(&k, 0, "d");
        assert_int_equal(store_del(&k), STORE_NOT_FOUND); /* nothing held: still a change */
        assert_int_equal(_lease_set("d", t), STORE_NOT_STORED);
        t = _lease("f");
        store_flush(5, NULL); /* another namespace: every lease goes */
        assert_int_equal(_lease_set("f", t), STORE_NOT_STORED);
        _lease("f"); /* and the flushed one holds no one back */
        /* a peer's set, delete, and flush */
        t = _lease("ps");
        assert_int_equal(_apply("ps", MUT_SET, store_clock_now() + 1000, 2, "peer", 0), STORE_OK);
        assert_int_equal(_lease_set("ps", t), STORE_NOT_STORED);
        assert_int_equal(_has(0, "ps", "peer"), 1);
        t = _lease("pd");
        assert_int_equal(_apply("pd", MUT_DEL, store_clock_now() + 1000, 2, NULL, 0), STORE_OK);
        assert_int_equal(_lease_set("pd", t), STORE_NOT_STORED);
        t = _lease("pf");
        store_flush_remote(0, 2, store_clock_now() + 1000);
        assert_int_equal(_lease_set("pf", t), STORE_NOT_STORED);
        /* a copy loaded from disk is no change: the lease still holds */
        t = _lease("ld");
        uint8_t enc[16];
        struct store_value lv = {STORE_T_BYTES, enc, _bin(enc, "disk", 4)};
        _key(&k, 0, "ld");
        assert_int_equal(store_load(&k, &lv, NULL, 0, 0, 7, NULL, NULL), STORE_OK);
        assert_int_equal(_lease_set("ld", t), STORE_OK);
        assert_int_equal(_has(0, "ld", "computed"), 1);
        /* a lease runs out: the next caller gets a new one, the old holder's set fails */
        _key(&k, 0, "x");
        assert_int_equal(store_lease_get(&k, 20, false, &it, &t, &left), STORE_LEASED);
        _sleep_ms(30);
        t2 = _lease("x");
        assert_true(t2 != t);
        assert_int_equal(_lease_set("x", t), STORE_NOT_STORED);
        assert_int_equal(_lease_set("x", t2), STORE_OK);
        /* given back without a value: the next caller gets it at once */
        t = _lease("g");
        _key(&k, 0, "g");
        assert_int_equal(store_lease_set(&k, t, NULL, 0, NULL), STORE_OK);
        assert_int_equal(store_lease_set(&k, t, NULL, 0, NULL), STORE_NOT_STORED);
        t = _lease("g");
        assert_int_equal(store_lease_set(&k, t, NULL, 0, NULL), STORE_OK);
        store_flush(-1, NULL);
    }
}

static void test_counters_merge_per_origin(void **state)
{
    (void)state;
    store_set_node_id(1);
    struct store_key k;
    _key(&k, 0, "cn");
    int64_t r;
    assert_int_equal(store_incr(&k, 1, 10, 0, &r), STORE_OK); /* created at 10, plus 1 */
    assert_int_equal(r, 11);
    assert_int_equal(store_incr(&k, 2, 0, 0, &r), STORE_OK);
    assert_int_equal(r, 13);
    struct item *it;
    assert_int_equal(store_peek(&k, &it), STORE_OK);
    uint32_t len;
    const uint8_t *p = store_item_counter(it, &len);
    assert_non_null(p);
    struct ctr here, peer;
    assert_true(ctr_read(p, len, &here));
    store_item_release(it);
    assert_int_equal(here.base, 10);
    assert_int_equal(here.n, 1);
    /* node 2 added 5 in the same epoch */
    peer = here;
    peer.n = 0;
    uint64_t t = ctr_version(&here) + 100;
    assert_true(ctr_add(&peer, 2, 5, t));
    assert_int_equal(_apply_ctr("cn", &peer, 2), STORE_OK);
    assert_int_equal(_int_of("cn"), 18);
    assert_int_equal(_apply_ctr("cn", &peer, 2), STORE_NOT_STORED); /* again: once */
    assert_int_equal(_int_of("cn"), 18);
    struct ctr older = here;
    older.n = 0;
    assert_true(ctr_add(&older, 2, 3, t - 1));
    assert_int_equal(_apply_ctr("cn", &older, 2), STORE_NOT_STORED);
    assert_int_equal(store_incr(&k, 1, 0, 0, &r), STORE_OK); /* this node's sum still counts */
    assert_int_equal(r, 19);
    /* a SET older than the epoch does not reset it; a newer one does */
    assert_int_equal(_apply("cn", MUT_SET, here.epoch - 1, 3, "x", 0), STORE_NOT_STORED);
    assert_int_equal(_int_of("cn"), 19);
    /* a newer epoch replaces the state */
    struct ctr fresh = {.epoch = t + 1000, .eorigin = 3, .base = 100, .n = 0};
    assert_true(ctr_add(&fresh, 3, 1, t + 1001));
    assert_int_equal(_apply_ctr("cn", &fresh, 3), STORE_OK);
    assert_int_equal(_int_of("cn"), 101);
    assert_int_equal(_apply_ctr("cn", &peer, 2), STORE_NOT_STORED); /* the old epoch */
    assert_int_equal(_apply("cn", MUT_SET, t + 5000, 3, "reset", 0), STORE_OK);
    assert_int_equal(_has(0, "cn", "reset"), 1);
    /* malformed */
    uint8_t bad[19] = {0}, enc[9] = {0xd3};
    struct store_value sv = {STORE_T_INT, enc, 9};
    struct store_remote rr = {.op = MUT_SET, .stamp = t + 6000, .origin = 2, .v = &sv,
                              .ctr = bad, .ctr_len = sizeof(bad)};
    assert_int_equal(store_apply(&k, &rr), STORE_ETYPE);
}

/* Last writer wins on (stamp, node id) whatever order peers' changes arrive in, and nothing a
 * newer change removed (delete, expiry, eviction) comes back. */
static void test_peer_changes_last_writer_wins(void **state)
{
    (void)state;
    store_set_node_id(1);
    recs.n = 0;
    assert_int_equal(store_mutation_subscribe(_record, NULL), 0);
    uint64_t v1;
    assert_int_equal(_set_str(0, "k", "local", 0, 0, 0, &v1), STORE_OK);
    /* older than the local write: dropped; newer: replaces it, its stamp is the version */
    assert_int_equal(_apply("k", MUT_SET, v1 - 1, 2, "old", 0), STORE_NOT_STORED);
    assert_int_equal(_has(0, "k", "local"), 1);
    assert_int_equal(_apply("k", MUT_SET, v1 + 10, 2, "peer", 0), STORE_OK);
    assert_int_equal(_has(0, "k", "peer"), 1);
    assert_int_equal(_version_of("k"), v1 + 10);
    /* its record carries the peer's node id and stamp (replication sends only its own) */
    assert_int_equal(_last_of("k")->origin, 2);
    assert_int_equal(_last_of("k")->hlc, v1 + 10);
    /* the same stamp: the greater node id wins, on every node */
    assert_int_equal(_apply("k", MUT_SET, v1 + 10, 1, "tie1", 0), STORE_NOT_STORED);
    assert_int_equal(_apply("k", MUT_SET, v1 + 10, 3, "tie3", 0), STORE_OK);
    assert_int_equal(_has(0, "k", "tie3"), 1);
    /* the clock moved past the peer's stamp: a local write after it wins */
    uint64_t v2;
    assert_int_equal(_set_str(0, "k", "after", 0, 0, 0, &v2), STORE_OK);
    assert_true(v2 > v1 + 10);
    assert_int_equal(_last_of("k")->origin, 1);
    /* a delete older than the value loses; a newer one removes it, and a set older than the
     * delete, arriving late, does not bring it back */
    assert_int_equal(_apply("k", MUT_DEL, v2 - 1, 2, NULL, 0), STORE_NOT_STORED);
    assert_int_equal(_apply("k", MUT_DEL, v2 + 5, 2, NULL, 0), STORE_OK);
    assert_int_equal(_has(0, "k", "after"), 0);
    assert_int_equal(_apply("k", MUT_SET, v2 + 4, 3, "zombie", 0), STORE_NOT_STORED);
    assert_int_equal(_has(0, "k", "zombie"), 0);
    assert_int_equal(_apply("k", MUT_SET, v2 + 6, 3, "new", 0), STORE_OK);
    assert_int_equal(_has(0, "k", "new"), 1);
    /* a delete and a set with the same stamp from two nodes, the delete first: the greater
     * node id wins here too, although the key is gone from memory (a node that deleted at
     * that stamp and one that set at it must end up the same) */
    assert_int_equal(_apply("k", MUT_DEL, v2 + 8, 2, NULL, 0), STORE_OK);
    assert_int_equal(_apply("k", MUT_SET, v2 + 8, 1, "tie-lower", 0), STORE_NOT_STORED);
    assert_int_equal(_apply("k", MUT_SET, v2 + 8, 3, "tie-higher", 0), STORE_OK);
    assert_int_equal(_has(0, "k", "tie-higher"), 1);
    /* a local delete counts the same */
    struct store_key k;
    _key(&k, 0, "k");
    assert_int_equal(store_del(&k), STORE_OK);
    uint64_t del_stamp = _last_of("k")->hlc;
    assert_int_equal(_apply("k", MUT_SET, del_stamp - 1, 3, "late", 0), STORE_NOT_STORED);
    assert_int_equal(_has(0, "k", "late"), 0);
    /* a touch from a peer: new expiry and version; of a missing key: not found */
    uint64_t v3;
    assert_int_equal(_set_str(0, "t", "x", 0, 0, 0, &v3), STORE_OK);
    assert_int_equal(_apply("t", MUT_TOUCH, v3 + 1, 2, NULL, _wall_ms() + 20),
                     STORE_OK);
    assert_int_equal(_version_of("t"), v3 + 1);
    _sleep_ms(40);
    assert_int_equal(_has(0, "t", "x"), 0);
    assert_int_equal(_apply("nothere", MUT_TOUCH, v3 + 100, 2, NULL, 0), STORE_NOT_FOUND);
    /* a set already expired is a delete at its stamp */
    assert_int_equal(_set_str(0, "x", "live", 0, 0, 0, &v3), STORE_OK);
    assert_int_equal(_apply("x", MUT_SET, v3 + 1, 2, "dead", 1), STORE_OK);
    assert_int_equal(_has(0, "x", "live"), 0);
    assert_int_equal(_has(0, "x", "dead"), 0);
    /* what is not a value change is refused */
    assert_int_equal(_apply("x", MUT_APPEND, v3 + 9, 2, "a", 0), STORE_ETYPE);
    assert_int_equal(_apply("x", MUT_SET, 0, 2, "a", 0), STORE_ETYPE);
}

/* An evicted key takes no peer change older than what was evicted near it. */
static void test_peer_changes_do_not_undo_eviction(void **state)
{
    (void)state;
    store_set_node_id(1);
    _config("memory", "1MiB");
    char key[32], val[200];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    uint64_t first = 0, v;
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, &v), STORE_OK);
        if (i == 0)
            first = v;
    }
    assert_int_equal(_version_of("e0"), 0); /* evicted */
    /* older than its last write: it must not come back with that value */
    assert_int_equal(_apply("e0", MUT_SET, first - 1, 2, "stale", 0), STORE_NOT_STORED);
    assert_int_equal(_has(0, "e0", "stale"), 0);
    /* newer than everything: taken */
    assert_int_equal(_apply("e0", MUT_SET, v + 1000, 2, "fresh", 0), STORE_OK);
    assert_int_equal(_has(0, "e0", "fresh"), 1);
    _config("memory", "64MiB");
}

/* A disk tier, as the store's miss hooks see it: one key it holds, and the forgets. */
static const char *disk_key;
static int disk_forgets;
static bool _disk_on(void *arg, const struct store_key *k)
{
    (void)arg;
    return disk_key && k->len == strlen(disk_key) && memcmp(k->data, disk_key, k->len) == 0;
}
static bool _disk_forget(void *arg, const struct store_key *k)
{
    disk_forgets++;
    return _disk_on(arg, k);
}
static bool _still_yes(void *arg)
{
    (void)arg;
    return true;
}

/* A key memory evicted and a disk tier holds: a peer's change of it is compared with the
 * disk copy's version (STORE_ON_DISK asks for it), not with the slice's gone mark, so a
 * change delivered again (a full sync after the stream) leaves the copy alone. */
static void test_peer_change_compared_with_disk_copy(void **state)
{
    (void)state;
    store_set_node_id(1);
    _config("memory", "1MiB");
    uint64_t s = store_clock_now();
    assert_int_equal(_apply("d0", MUT_SET, s, 2, "from-2", 0), STORE_OK);
    char key[32], val[200];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 20000; i++) { /* newer writes evict it: the gone marks pass s */
        snprintf(key, sizeof(key), "f%d", i);
        assert_int_equal(_set_str(0, key, val, 0, 0, 0, NULL), STORE_OK);
    }
    assert_int_equal(_version_of("d0"), 0);
    struct store_miss_hooks hooks = {.on_disk = _disk_on, .forget = _disk_forget};
    store_set_miss_hooks(&hooks);
    disk_key = "d0";
    disk_forgets = 0;

    struct store_key k;
    _key(&k, 0, "d0");
    uint8_t enc[32];
    struct store_value v = {STORE_T_BYTES, enc, _bin(enc, "from-2", 6)};
    struct store_remote r = {.op = MUT_SET, .stamp = s, .origin = 2, .v = &v};
    /* the same change again: the store asks for the disk copy's version first */
    assert_int_equal(store_apply(&k, &r), STORE_ON_DISK);
    r.disk_known = true;
    r.disk_version = s;
    r.still = _still_yes;
    assert_int_equal(store_apply(&k, &r), STORE_NOT_STORED);
    assert_int_equal(disk_forgets, 0); /* the disk copy stays */
    assert_int_equal(_version_of("d0"), 0);
    /* a change newer than the disk copy (though not above the gone mark) wins */
    r.disk_version = s - 5;
    assert_int_equal(store_apply(&k, &r), STORE_OK);
    assert_int_equal(_version_of("d0"), s);
    /* no current disk copy (still NULL): below the gone mark it is a miss, disk copy too */
    assert_int_equal(store_del(&k), STORE_OK); /* memory held it: the disk is not asked */
    assert_int_equal(disk_forgets, 0);
    r.disk_known = false;
    assert_int_equal(store_apply(&k, &r), STORE_ON_DISK);
    r.disk_known = true;
    r.disk_version = 0;
    r.still = NULL;
    assert_int_equal(store_apply(&k, &r), STORE_NOT_STORED);
    assert_int_equal(disk_forgets, 1);
    store_set_miss_hooks(NULL);
    disk_key = NULL;
    store_set_node_id(0);
    _config("memory", "64MiB");
}

/* A counter put back from a disk tier (store_load with the state its records carried) is a
 * counter again: a peer's increments in its epoch merge with it instead of losing to it. */
static void test_counter_loaded_with_its_state(void **state)
{
    (void)state;
    store_set_node_id(1);
    struct ctr c = {.epoch = 1000, .eorigin = 2, .base = 10};
    assert_true(ctr_add(&c, 2, 5, 1100));
    assert_true(ctr_add(&c, 1, 7, 1200));
    uint8_t st[CTR_HEADER + CTR_MAX_ENTRIES * CTR_ENTRY], enc[9] = {0xd3};
    enc[8] = 22;
    size_t n = ctr_write(&c, st);
    struct store_value v = {STORE_T_INT, enc, 9};
    struct store_key k;
    _key(&k, 0, "loaded");
    assert_int_equal(store_load(&k, &v, st, (uint32_t)n, 0, 1200, NULL, NULL), STORE_OK);
    struct item *it;
    uint32_t len;
    assert_int_equal(store_peek(&k, &it), STORE_OK);
    assert_non_null(store_item_counter(it, &len));
    store_item_release(it);
    struct ctr peer = c;
    peer.n = 0;
    assert_true(ctr_add(&peer, 2, 9, 1300)); /* node 2: 9 in all now */
    assert_int_equal(_apply_ctr("loaded", &peer, 2), STORE_OK);
    assert_int_equal(_int_of("loaded"), 10 + 9 + 7);
    int64_t r;
    assert_int_equal(store_incr(&k, 1, 0, 0, &r), STORE_OK); /* the same epoch goes on */
    assert_int_equal(r, 27);
    store_set_node_id(0);
}

static void test_incr_initial_overflow_and_types(void **state)
{
    (void)state;
    struct store_key k;
    int64_t v;
    _key(&k, 0, "ctr");
    assert_int_equal(store_incr(&k, 5, 100, 0, &v), STORE_OK);
    assert_int_equal(v, 105); /* created as initial, then delta added (as in Redis) */
    assert_int_equal(store_incr(&k, 0, 0, 0, &v), STORE_OK);
    assert_int_equal(v, 105);
    assert_int_equal(store_incr(&k, -205, 0, 0, &v), STORE_OK);
    assert_int_equal(v, -100);
    assert_int_equal(store_incr(&k, INT64_MIN, 0, 0, &v), STORE_EOVERFLOW);
    assert_int_equal(store_incr(&k, 0, 0, 0, &v), STORE_OK);
    assert_int_equal(v, -100); /* unchanged by the failed incr */
    _key(&k, 0, "ovf"); /* a missing key whose initial + delta leaves int64: not created */
    assert_int_equal(store_incr(&k, 1, INT64_MAX, 0, &v), STORE_EOVERFLOW);
    struct item *it;
    assert_int_equal(store_peek(&k, &it), STORE_NOT_FOUND);
    store_set_node_id(1); /* the same with a replicated counter */
    assert_int_equal(store_incr(&k, -1, INT64_MIN, 0, &v), STORE_EOVERFLOW);
    assert_int_equal(store_peek(&k, &it), STORE_NOT_FOUND);
    assert_int_equal(store_incr(&k, 3, 4, 0, &v), STORE_OK);
    assert_int_equal(v, 7);
    store_set_node_id(0);
    _set_str(0, "dec", "41", 0, 0, 0, NULL);
    _key(&k, 0, "dec");
    assert_int_equal(store_incr(&k, 1, 0, 0, &v), STORE_OK);
    assert_int_equal(v, 42);
    _set_str(0, "txt", "4x", 0, 0, 0, NULL);
    _key(&k, 0, "txt");
    assert_int_equal(store_incr(&k, 1, 0, 0, &v), STORE_ETYPE);
    _set_str(0, "lead0", "007", 0, 0, 0, NULL);
    _key(&k, 0, "lead0");
    assert_int_equal(store_incr(&k, 1, 0, 0, &v), STORE_ETYPE);
}

struct collect {
    uint8_t *buf;
    size_t len;
};

static void _collect(void *ctx, const uint8_t *data, size_t len, void (*release)(void *), void *arg)
{
    struct collect *c = ctx;
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    release(arg);
}

static void test_stream_append_and_ranges(void **state)
{
    (void)state;
    size_t total = 3 * 1024 * 1024 + 1234;
    uint8_t *want = malloc(total);
    for (size_t i = 0; i < total; i++)
        want[i] = (uint8_t)(i * 7 + i / 251);
    struct store_key k;
    _key(&k, 0, "stream");
    uint64_t len = 0;
    for (size_t off = 0; off < total;) {
        size_t n = total - off < 7777 ? total - off : 7777;
        assert_int_equal(store_append(&k, want + off, (uint32_t)n, 0, &len), STORE_OK);
        off += n;
        assert_int_equal(len, off);
    }
    struct collect c = {malloc(total), 0};
    uint64_t got;
    const uint64_t ranges[][2] = {{0, 10},       {262140, 10}, {262144, 262144},
                                         {1000, 900000}, {total - 5, 100}, {total + 5, 10}};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        c.len = 0;
        assert_int_equal(store_range(&k, ranges[i][0], ranges[i][1], _collect, NULL, &c, &got),
                         STORE_OK);
        uint64_t expect = ranges[i][0] >= total ? 0
                          : total - ranges[i][0] < ranges[i][1] ? total - ranges[i][0]
                                                                 : ranges[i][1];
        assert_int_equal(got, expect);
        assert_int_equal(c.len, expect);
        if (expect)
            assert_memory_equal(c.buf, want + ranges[i][0], expect);
    }
    /* bytes become a stream on append */
    _set_str(0, "b2s", "abc", 0, 0, 0, NULL);
    _key(&k, 0, "b2s");
    assert_int_equal(store_append(&k, "def", 3, 0, &len), STORE_OK);
    assert_int_equal(len, 6);
    c.len = 0;
    assert_int_equal(store_range(&k, 0, 100, _collect, NULL, &c, &got), STORE_OK);
    assert_memory_equal(c.buf, "abcdef", 6);
    free(c.buf);
    free(want);
}

/* Streams' chunk checksums (docs/integrity.md, "Checksums"): every read checked, a reader
 * in another thread holding the pieces of the last chunk it read while appends of odd sizes
 * go on into that chunk (they copy it first), and the scrub (every 10 ms here) going over
 * the growing stream: nothing ever reads as corrupt, and the bytes are right. */
#define CRC_TOTAL (1200u * 1024u)
static uint8_t _crc_byte(size_t i) { return (uint8_t)(i * 13 + i / 509); }
struct crc_reader {
    volatile int stop;
    int bad;    /* reads that were not STORE_OK or had wrong bytes */
    int reads;
};
struct hold {
    size_t n;
    uint64_t from;
    bool wrong;
    void (*release[8])(void *);
    void *arg[8];
};
static void _hold_piece(void *ctx, const uint8_t *data, size_t len, void (*release)(void *),
                        void *arg)
{
    struct hold *h = ctx;
    for (size_t i = 0; i < len; i++)
        h->wrong |= data[i] != _crc_byte(h->from + i);
    h->from += len;
    h->release[h->n] = release;
    h->arg[h->n++] = arg;
}
static void _drop_held(struct hold *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->release[i](h->arg[i]);
    h->n = 0;
}
static void *_crc_read_loop(void *arg)
{
    struct crc_reader *r = arg;
    struct store_key k;
    _key(&k, 0, "crcs");
    struct hold held = {0};
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        struct hold h = {0};
        uint64_t total;
        struct item *it;
        if (store_peek(&k, &it) != STORE_OK)
            continue;
        uint64_t len = store_item_strlen(it);
        store_item_release(it);
        h.from = len > 1000 ? len - 1000 : 0;
        enum store_status rc = store_range(&k, h.from, 1000, _hold_piece, NULL, &h, &total);
        r->bad += rc != STORE_OK || h.wrong;
        r->reads++;
        _drop_held(&held); /* the previous read's pieces, held until now */
        held = h;
    }
    _drop_held(&held);
    return NULL;
}

static void test_stream_chunk_checksums_hold_under_appends(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(option_registry_set("verify_reads", "all", false, err, sizeof(err)), 0);
    uint64_t corrupt = store_corrupt_count();
    uint8_t *buf = malloc(5000);
    struct store_key k;
    _key(&k, 0, "crcs");
    uint64_t len = 0;
    assert_int_equal(store_append(&k, "\0", 1, 0, &len), STORE_OK); /* _crc_byte(0) */
    struct crc_reader r = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, _crc_read_loop, &r), 0);
    for (size_t n = 1; len < CRC_TOTAL; n = n * 7 % 4999 + 1) {
        for (size_t i = 0; i < n; i++)
            buf[i] = _crc_byte(len + i);
        assert_int_equal(store_append(&k, buf, (uint32_t)n, 0, &len), STORE_OK);
    }
    usleep(50000); /* a few scrub steps over the whole of it */
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    assert_int_equal(r.bad, 0);
    assert_true(r.reads > 0);
    struct hold h = {0};
    uint64_t total = 0;
    for (uint64_t off = 0; off < len; off += total) { /* all of it, a chunk at a time */
        h.from = off;
        assert_int_equal(store_range(&k, off, 256 * 1024, _hold_piece, NULL, &h, &total),
                         STORE_OK);
        _drop_held(&h);
        assert_false(h.wrong);
    }
    assert_int_equal(store_corrupt_count(), corrupt);
    assert_int_equal(option_registry_set("verify_reads", "sample", false, err, sizeof(err)), 0);
    free(buf);
}

struct seen {
    char *marks;
    int n;
    int dup;
};

static void _seen(void *ctx, const uint8_t *key, uint32_t klen)
{
    struct seen *s = ctx;
    char buf[32];
    if (klen >= sizeof(buf) || klen < 5 || memcmp(key, "scan:", 5) != 0)
        fail_msg("scan returned a key outside the prefix: %.*s", (int)klen, key);
    memcpy(buf, key + 5, klen - 5);
    buf[klen - 5] = '\0';
    int i = atoi(buf);
    if (s->marks[i])
        s->dup++;
    s->marks[i] = 1;
    s->n++;
}

static void test_scan_sees_every_key_while_the_table_grows(void **state)
{
    (void)state;
    int n = 20000;
    struct seen s = {calloc((size_t)n * 2, 1), 0, 0};
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "scan:%d", i);
        _set_str(0, key, "v", 0, 0, 0, NULL);
    }
    _set_str(0, "other", "v", 0, 0, 0, NULL);
    uint64_t cursor = 0;
    int calls = 0, added = n;
    do {
        cursor = store_scan(0, cursor, "scan:", 5, 100, _seen, &s);
        /* keep growing the table during the scan */
        for (int j = 0; j < 20 && added < 2 * n; j++, added++) {
            snprintf(key, sizeof(key), "scan:%d", added);
            _set_str(0, key, "v", 0, 0, 0, NULL);
        }
        calls++;
    } while (cursor != 0 && calls < 100000);
    for (int i = 0; i < n; i++)
        if (!s.marks[i])
            fail_msg("key scan:%d present for the whole scan was never returned", i);
    free(s.marks);
}

static void test_namespaces_and_flush(void **state)
{
    (void)state;
    uint16_t a, b, a2;
    assert_int_equal(store_ns_id("app-a", 5, &a), STORE_OK);
    assert_int_equal(store_ns_id("app-b", 5, &b), STORE_OK);
    assert_int_equal(store_ns_id("app-a", 5, &a2), STORE_OK);
    assert_int_equal(a, a2);
    assert_true(a != b && a != 0);
    _set_str(a, "k", "in-a", 0, 0, 0, NULL);
    _set_str(b, "k", "in-b", 0, 0, 0, NULL);
    assert_int_equal(_has(a, "k", "in-a"), 1);
    assert_int_equal(_has(b, "k", "in-b"), 1);
    _has(a, "missing", "x");
    struct store_ns_stats st;
    store_ns_stats(a, &st);
    assert_int_equal(st.items, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 1);
    uint64_t removed;
    store_flush(a, &removed);
    assert_int_equal(removed, 1);
    assert_int_equal(_has(a, "k", "in-a"), 0);
    assert_int_equal(_has(b, "k", "in-b"), 1);
    _set_str(a, "k", "again", 0, 0, 0, NULL); /* the namespace is usable after a flush */
    assert_int_equal(_has(a, "k", "again"), 1);
    char name[80];
    memset(name, 'n', sizeof(name));
    assert_int_equal(store_ns_id(name, 65, &a2), STORE_ELIMIT);
}

#define THREADS 4
#define KEYS 8
#define PER_THREAD 25000

static void *_incr_worker(void *arg)
{
    (void)arg;
    struct store_key k;
    char key[16];
    int64_t v;
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(key, sizeof(key), "cnt%d", i % KEYS);
        _key(&k, 0, key);
        if (store_incr(&k, 1, 0, 0, &v) != STORE_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_incr_totals_are_exact(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, _incr_worker, NULL);
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        assert_null(rc);
    }
    int64_t total = 0, v;
    struct store_key k;
    char key[16];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "cnt%d", i);
        _key(&k, 0, key);
        assert_int_equal(store_incr(&k, 0, 0, 0, &v), STORE_OK);
        total += v;
    }
    assert_int_equal(total, THREADS * PER_THREAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_get_versions_and_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leases_end_with_any_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expires_and_sweeper_reclaims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_limit_is_hard_and_sieve_keeps_hot_items,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_never_read_do_not_push_out_read_items, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_every_change_emits_one_mutation_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incr_initial_overflow_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_changes_last_writer_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_changes_do_not_undo_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_change_compared_with_disk_copy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_counters_merge_per_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_loaded_with_its_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_append_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_chunk_checksums_hold_under_appends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scan_sees_every_key_while_the_table_grows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_namespaces_and_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admission_refuses_or_admits_a_promotion, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_incr_totals_are_exact, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
