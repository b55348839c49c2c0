/* The health monitor (health.h). One thread; every check has its own reference. */
#include "health.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#include "clock.h"
#include "crc32c.h"
#include "fence.h"
#include "log.h"
#include "repl.h"
#include "stats.h"
#include "store.h"
#include "tiering.h"

OPTION_STRUCT(health, HEALTH_OPTIONS);
static struct health_options opts;
static struct option_desc opt_desc[] = OPTION_DESCRIBE(HEALTH_OPTIONS);

#define HEALTH_STATS(ACTION)                                                                 \
    ACTION(health_rounds, STAT_COUNTER, "rounds of the health monitor's checks")            \
    ACTION(health_failures, STAT_COUNTER, "checks of the health monitor that failed")       \
    ACTION(clock_offset_max_ms, STAT_GAUGE,                                                  \
           "the largest clock offset from a peer heard from in the last 5 s (ms)")
STAT_STRUCT(health, HEALTH_STATS);
static struct health_stats st;
static struct stat_desc st_desc[] = STAT_DESCRIBE(HEALTH_STATS);

void health_options_register(void)
{
    option_bind(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), &opts);
    option_registry_add("health", opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]));
    static const struct option_range ranges[] = {
        {"health_interval_ms", 50, 10000, false},
        {"corrupt_fence_limit", 1, 1000000, true},
    };
    option_registry_ranges("health", ranges, sizeof(ranges) / sizeof(ranges[0]));
}

/* ---- known-answer tests ---- */

/* A pseudo-random buffer, the same on every run. */
static void _fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
}

static uint64_t _hash(uint16_t ns, const char *key, uint32_t len)
{
    struct store_key k;
    store_key_init(&k, ns, key, len);
    return k.hash;
}
#define KAT_HASH_EMPTY 0x9ca066f1a4ab2eeaull
#define KAT_HASH_KEY 0xc0f7ed5db453ba17ull

/* NULL, or what failed. */
static const char *_kat(void)
{
    static uint8_t buf[16384], out[16384 + 512], back[16384];
#ifdef CACHE_FAULT_INJECTION
    if (option_get_b(&opts.fault_fail_kat))
        return "the checksum code's known answer (fault injection: fault-fail-kat)";
#endif
    /* CRC-32C: the standard check value, and the instruction against the table */
    if (crc32c(0, "123456789", 9) != 0xE3069283u || crc32c_table(0, "123456789", 9) != 0xE3069283u)
        return "the checksum code's known answer (CRC-32C of \"123456789\")";
    _fill(buf, sizeof(buf), 7);
    if (crc32c(0, buf, sizeof(buf)) != crc32c_table(0, buf, sizeof(buf)))
        return "the checksum code (the CPU's CRC-32C against the table's)";
    /* the key hash: answers computed when this code was written */
    if (_hash(0, "", 0) != KAT_HASH_EMPTY || _hash(3, "key:12345678", 12) != KAT_HASH_KEY)
        return "the key hashing code's known answers";
    /* zstd: a round trip of a compressible buffer */
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)("health monitor "[i % 15] ^ (i >> 10));
    size_t c = ZSTD_compress(out, sizeof(out), buf, sizeof(buf), 1);
    if (ZSTD_isError(c) || c >= sizeof(buf) ||
        ZSTD_decompress(back, sizeof(back), out, c) != sizeof(buf) ||
        memcmp(back, buf, sizeof(buf)) != 0)
        return "the compression code (a zstd round trip)";
    return NULL;
}

/* ---- canaries and the memory test ---- */

#define CANARIES 64
#define CANARY_BYTES 1024
static uint8_t *canary[CANARIES]; /* allocated one by one: spread over the heap */
static uint32_t canary_crc[CANARIES];

static int _canaries_make(void)
{
    for (int i = 0; i < CANARIES; i++) {
        if (!(canary[i] = malloc(CANARY_BYTES)))
            return -1;
        _fill(canary[i], CANARY_BYTES, 1000u + (uint32_t)i);
        canary_crc[i] = crc32c_table(0, canary[i], CANARY_BYTES);
    }
    return 0;
}

static const char *_canaries_check(void)
{
    for (int i = 0; i < CANARIES; i++)
        if (crc32c_table(0, canary[i], CANARY_BYTES) != canary_crc[i])
            return "a canary block changed in memory";
    return NULL;
}

#define MEMTEST_BYTES (256u << 10)
#define MEMTEST_SLICE (16u << 10)
static uint64_t *memtest; /* MEMTEST_BYTES, tested a slice per round */
static size_t memtest_at;

static const char *_memtest_step(void)
{
    uint64_t *p = memtest + memtest_at / 8;
    size_t n = MEMTEST_SLICE / 8;
    memtest_at = (memtest_at + MEMTEST_SLICE) % MEMTEST_BYTES;
    static const uint64_t pats[] = {0x5555555555555555ull, 0xaaaaaaaaaaaaaaaaull, 0, ~0ull};
    for (size_t k = 0; k < sizeof(pats) / sizeof(pats[0]); k++) {
        for (size_t i = 0; i < n; i++)
            __atomic_store_n(&p[i], pats[k] ^ (uint64_t)(uintptr_t)&p[i], __ATOMIC_RELAXED);
        for (size_t i = 0; i < n; i++)
            if (__atomic_load_n(&p[i], __ATOMIC_RELAXED) != (pats[k] ^ (uint64_t)(uintptr_t)&p[i]))
                return "the memory test found a word that did not keep what was written";
    }
    return NULL;
}

/* ---- the rates and the clock ---- */

#define WINDOW_MS 10000
struct rate {
    uint64_t base, base_ms; /* the count at the window's start */
};

/* Has count grown by limit or more within the last WINDOW_MS? */
static bool _too_many(struct rate *r, uint64_t count, uint64_t limit, uint64_t now)
{
    if (!r->base_ms || now - r->base_ms >= WINDOW_MS || count < r->base) {
        r->base = count;
        r->base_ms = now;
    }
    return limit && count - r->base >= limit;
}

static const char *_clock_check(char *buf, size_t len)
{
    int64_t off[64];
    int n = repl_clock_offsets(off, 64);
    uint64_t limit = repl_max_clock_offset_ms() * 8 / 10, max = 0;
    int beyond = 0;
    for (int i = 0; i < n; i++) {
        uint64_t a = off[i] < 0 ? (uint64_t)-off[i] : (uint64_t)off[i];
        max = a > max ? a : max;
        beyond += a > limit;
    }
    stat_set(&st.clock_offset_max_ms, max);
    /* a strict majority of at least two: with one peer, or half of them, it cannot tell
     * which clock is wrong (in a cluster of three, the two good nodes each see one bad
     * peer out of two, and stay up) */
    if (n >= 2 && beyond * 2 > n) {
        snprintf(buf, len, "this node's clock is more than %llu ms (80%% of max-clock-offset) "
                 "off from %d of the %d peers heard from (up to %llu ms)",
                 (unsigned long long)limit, beyond, n, (unsigned long long)max);
        return buf;
    }
    return NULL;
}

/* ---- the thread ---- */

static pthread_t thread;
static bool running;                /* atomic */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static struct rate corrupt_rate, disk_rate;
static bool was_fenced;   /* at the end of the last round */
static uint64_t seen_gen; /* fence_count() then */

static void _failed(const char *why)
{
    stat_incr(&st.health_failures);
    fence_set("%s", why);
}

static void _round(uint64_t *next_kat)
{
    char buf[256];
    const char *why = NULL;
    uint64_t now = (clock_mono_us() / 1000);
    stat_incr(&st.health_rounds);
    /* lifted by an operator since the last round: what made it fence counts no more (the
     * windows start again from now, or the same failures would fence it at once) */
    if (!fence_active() && (was_fenced || fence_count() != seen_gen)) {
        corrupt_rate.base_ms = disk_rate.base_ms = 0;
        _too_many(&corrupt_rate, store_corrupt_count(), 0, now);
        _too_many(&disk_rate, tiering_checksum_errors(), 0, now);
    }
    if (now >= *next_kat) {
        *next_kat = now + 60000;
        why = _kat();
    }
    if (!why)
        why = _canaries_check();
    if (!why)
        why = _memtest_step();
    uint64_t limit = option_get_u(&opts.corrupt_fence_limit);
    if (!why && _too_many(&corrupt_rate, store_corrupt_count(), limit, now)) {
        snprintf(buf, sizeof(buf), "%llu or more values failed their checksum in memory within "
                 "10 s (corrupt_values; corrupt-fence-limit %llu)", (unsigned long long)limit,
                 (unsigned long long)limit);
        why = buf;
    }
    if (!why && _too_many(&disk_rate, tiering_checksum_errors(), limit, now)) {
        snprintf(buf, sizeof(buf), "%llu or more values failed their checksum on the disk tiers "
                 "within 10 s (checksum_errors)", (unsigned long long)limit);
        why = buf;
    }
    if (!why)
        why = _clock_check(buf, sizeof(buf));
    if (why)
        _failed(why);
    was_fenced = fence_active();
    seen_gen = fence_count();
}

static void *_main(void *arg)
{
    (void)arg;
    uint64_t next_kat = (clock_mono_us() / 1000) + 60000; /* the first ran in health_start */
    uint64_t every = option_get_u(&opts.health_interval_ms);
    pthread_mutex_lock(&stop_lock);
    while (__atomic_load_n(&running, __ATOMIC_ACQUIRE)) {
        pthread_mutex_unlock(&stop_lock);
        _round(&next_kat);
        pthread_mutex_lock(&stop_lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + every * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        if (__atomic_load_n(&running, __ATOMIC_ACQUIRE))
            pthread_cond_timedwait(&stop_cond, &stop_lock, &ts);
    }
    pthread_mutex_unlock(&stop_lock);
    return NULL;
}

int health_start(void)
{
    stats_register(st_desc, STAT_COUNT(st_desc), &st);
    fence_stats_register();
    if (!(memtest = malloc(MEMTEST_BYTES)) || _canaries_make() != 0) {
        log_error("health monitor: out of memory");
        return -1;
    }
    const char *why = _kat();
    if (why) { /* before the first request: the node starts fenced */
        char buf[256];
        snprintf(buf, sizeof(buf), "a known-answer test failed at start: %s", why);
        _failed(buf);
    }
    was_fenced = fence_active();
    seen_gen = fence_count();
    __atomic_store_n(&running, true, __ATOMIC_RELEASE);
    if (pthread_create(&thread, NULL, _main, NULL) != 0) {
        __atomic_store_n(&running, false, __ATOMIC_RELEASE);
        log_error("health monitor: cannot start its thread");
        return -1;
    }
    pthread_setname_np(thread, "csd-health");
    return 0;
}

void health_stop(void)
{
    if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&stop_lock);
    __atomic_store_n(&running, false, __ATOMIC_RELEASE);
    pthread_cond_signal(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
    pthread_join(thread, NULL);
    for (int i = 0; i < CANARIES; i++)
        free(canary[i]);
    free(memtest);
    memtest = NULL;
}
