/* The shared-memory read region (docs/shm-reads.md): a memfd holding copies of small, hot
 * items for readers on this host. Shard s's slots and ring are written only under
 * store_shards[s].lock, so the region adds no lock; each slot is a seqlock, and every byte a
 * reader may copy is written with relaxed 8-byte atomic stores between the odd and the even
 * value of the slot's seq. Outside the shard locks: the namespace flush counters (atomic
 * increments), the name table (ns.c's lock) and the header's heartbeat and open (csd-shm). */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fence.h"
#include "log.h"
#include "option.h"
#include "stats.h"
#include "store-internal.h"

_Static_assert(SHM_NSHARDS == STORE_SHARDS, "a part per shard, under its lock");
_Static_assert(STORE_SHM_RESTART_WAIT_MS > SHM_STALE_MS, "a restart waits out the readers' trust");
_Static_assert(SHM_MAX_NS == STORE_MAX_NAMESPACES, "a namespace id indexes the region's tables");
#define SHM_MIN_SIZE (4ull << 20) /* below: a ring of fewer than three largest entries */
#define SHM_STATS(ACTION)                                                                     \
    ACTION(size, STAT_GAUGE, "bytes of the shared-memory read region (0: off)")                \
    ACTION(entries, STAT_GAUGE, "items published in the shared-memory region now")            \
    ACTION(bytes, STAT_GAUGE, "bytes of the entries published in the shared-memory region")   \
    ACTION(published, STAT_COUNTER, "items copied into the shared-memory region")             \
    ACTION(invalidated, STAT_COUNTER, "published copies invalidated by a change of their item") \
    ACTION(reclaimed, STAT_COUNTER, "published copies dropped to reuse their ring space")     \
    ACTION(replaced, STAT_COUNTER, "published copies dropped for another key of a full bucket") \
    ACTION(offers_dropped, STAT_COUNTER, "items not published: the worker's offer list was full") \
    ACTION(resets, STAT_COUNTER, "shard rings started over after an entry header failed its checks") \
    ACTION(fds_sent, STAT_COUNTER, "read-only descriptors of the region attached to HELLO replies") \
    ACTION(hits, STAT_COUNTER, "reads clients served from the shared-memory region (SHM_REPORT)") \
    ACTION(reports, STAT_COUNTER, "SHM_REPORTs counted: their region is this run's")          \
    ACTION(reports_stale, STAT_COUNTER,                                                       \
           "SHM_REPORTs not counted: their region is an earlier run's, or there is none")

STAT_STRUCT(shm, SHM_STATS);
static struct shm_stats st;
#define SHM_STAT_DESC(name, type, desc) {"shm." #name, type, desc, NULL},
static struct stat_desc st_desc[] = {SHM_STATS(SHM_STAT_DESC)};

/* Server-private state of a shard's part: guarded by that shard's lock. The ring holds the
 * entries at logical positions [tail, head). */
struct part {
    struct shm_slot *slots;
    uint8_t *ring;
    uint64_t head, tail;
    struct item **owner; /* the item each valid slot copies */
};

static struct {
    int fd;
    int client_fd; /* read-only, reopened through /proc: what clients get (HELLO shm) */
    uint8_t *base;
    size_t size;
    struct shm_header *hdr;
    uint64_t *ns_flush;
    struct shm_ns_name *names;
    uint32_t slots, ring; /* S and R */
    struct part parts[SHM_NSHARDS];
    pthread_t thread;
    bool running;
    bool stop; /* atomic: csd-shm's end */
    struct option_desc *fenced_reads; /* cmd's option (NULL in store-only tests: off) */
} rg = {.fd = -1, .client_fd = -1};

/* ---- atomics on the region ---- */

static inline void _st64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t _ld64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* Copy n bytes (a multiple of 8, both 8-aligned) with relaxed 8-byte atomic stores. */
static void _copy_out(uint8_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        __atomic_store_n((uint64_t *)(void *)(dst + i), w, __ATOMIC_RELAXED);
    }
}

/* ---- geometry ---- */

/* S slots (a power of two, S x 64 about B / 1024, at least 64) and a ring of R bytes (the
 * rest of B / 256, a multiple of 4 KiB) per shard for a region of about B bytes. */
static void _geometry(uint64_t b, uint32_t *slots, uint32_t *ring)
{
    uint64_t part = b / SHM_NSHARDS;
    uint64_t s = 64;
    while ((s * 2) * sizeof(struct shm_slot) <= part / 4)
        s *= 2;
    *slots = (uint32_t)s;
    *ring = (uint32_t)((part - s * sizeof(struct shm_slot)) & ~(uint64_t)4095);
}

#define SHM_MAX_SIZE (64ull << 30) /* slot numbers (shm_slot) fit 32 bits */

/* shm-read-size as bytes: false when it is neither auto nor a size up to SHM_MAX_SIZE. */
static bool _parse_size(const char *v, uint64_t *bytes)
{
    if (!strcmp(v, "auto")) {
        *bytes = option_get_u(store_opt_memory()) / 8;
        return true;
    }
    struct option_value tmp = {0};
    struct option_desc d = {"shm_read_size", OPT_SIZE, "0", OPT_STARTUP, "", &tmp};
    char err[128];
    if (option_set(&d, v, err, sizeof(err)) != 0 || tmp.u > SHM_MAX_SIZE)
        return false;
    *bytes = tmp.u;
    return true;
}

int store_shm_size_check(const struct option_desc *d, const struct option_value *v, char *err,
                         size_t errlen)
{
    (void)d;
    uint64_t b;
    if (_parse_size(v->s, &b))
        return 0;
    snprintf(err, errlen, "must be auto, 0 (off) or a size up to 64GiB");
    return -1;
}

static uint64_t _read_size(void)
{
    uint64_t b;
    return _parse_size(option_get_s(store_opt_shm_read_size()), &b) ? b : 0;
}

/* ---- slots ---- */

static inline struct part *_part_of(uint32_t gslot) { return &rg.parts[gslot / rg.slots]; }

/* Invalidate slot i of part p (its shard locked): seq odd, release fence, hash 0, seq even
 * (release). The item it copied, if any, is no longer published. */
static void _invalidate(struct part *p, uint32_t i)
{
    struct shm_slot *sl = &p->slots[i];
    uint64_t s = _ld64(&sl->seq);
    _st64(&sl->seq, s + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    _st64(&sl->hash, 0);
    __atomic_store_n(&sl->seq, s + 2, __ATOMIC_RELEASE);
    stat_decr(&st.entries);
    stat_sub(&st.bytes, __atomic_load_n(&sl->len, __ATOMIC_RELAXED));
    struct item *it = p->owner[i];
    if (it) {
        it->shm_slot = 0;
        p->owner[i] = NULL;
    }
}

static inline bool _valid(const struct shm_slot *sl) { return _ld64(&sl->hash) != 0; }

void do_store_shm_invalidate(struct item *it)
{
    uint32_t g = it->shm_slot - 1;
    struct part *p = _part_of(g);
    uint32_t i = g % rg.slots;
    if (p->owner[i] != it) { /* cannot happen: shm_slot and owner change together */
        it->shm_slot = 0;
        return;
    }
    _invalidate(p, i);
    stat_incr(&st.invalidated);
}

/* Every valid slot of p invalidated, its ring empty (a header failed its checks). */
static void _reset(struct part *p)
{
    for (uint32_t i = 0; i < rg.slots; i++)
        if (_valid(&p->slots[i]))
            _invalidate(p, i);
    p->tail = p->head;
    stat_incr(&st.resets);
}

/* Reclaim ring space until the entry at [start, end) fits: the entries it would overwrite
 * lose their slots first. */
static void _reclaim(struct part *p, uint64_t end)
{
    uint64_t r = rg.ring;
    while (p->tail + r < end) {
        uint64_t off = p->tail % r;
        if (r - off < sizeof(struct shm_entry)) { /* too short for a header: skipped */
            p->tail += r - off;
            continue;
        }
        const struct shm_entry *e = (const void *)(p->ring + off);
        uint64_t pos = _ld64(&e->pos);
        uint32_t len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
        if (pos != p->tail || len < sizeof(*e) || len % 8 || len > r - off) {
            log_warn("shm: a ring entry failed its checks (pos %llu, len %u at %llu): the "
                     "shard's part starts over", (unsigned long long)pos, len,
                     (unsigned long long)p->tail);
            _reset(p);
            return;
        }
        uint32_t i = __atomic_load_n(&e->slot, __ATOMIC_RELAXED);
        uint8_t flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
        if (!(flags & SHM_ENTRY_SKIP) && i < rg.slots && _valid(&p->slots[i]) &&
            _ld64(&p->slots[i].pos) == p->tail) {
            _invalidate(p, i);
            stat_incr(&st.reclaimed);
        }
        p->tail += len;
    }
}

bool store_shm_fits(const struct item *it)
{
    return it->type != STORE_T_STREAM &&
           sizeof(struct shm_entry) + it->klen + it->vlen <= SHM_ENTRY_MAX;
}

bool do_store_shm_write(struct item *it, uint64_t hash, uint64_t snap)
{
    if (!store_shm_publishing() || it->shm_slot || !store_shm_fits(it))
        return false;
    struct part *p = &rg.parts[hash >> (64 - STORE_SHARD_BITS)];
    uint64_t r = rg.ring;
    uint32_t need = (uint32_t)((sizeof(struct shm_entry) + it->klen + it->vlen + 7) & ~7u);
    /* an entry never wraps: the rest of the ring is skipped when it does not fit there */
    uint64_t start = p->head;
    if (start % r + need > r)
        start += r - start % r;
    _reclaim(p, start + need);
    start = p->head; /* a reset moved tail, never head: the same answer */
    if (start % r + need > r)
        start += r - start % r;

    /* the slot: an empty way of the bucket, else the oldest publication */
    uint32_t b = (uint32_t)(hash & (rg.slots / SHM_WAYS - 1)) * SHM_WAYS, way = b;
    bool empty = false;
    for (uint32_t i = b; i < b + SHM_WAYS && !empty; i++) {
        if (!_valid(&p->slots[i])) {
            way = i;
            empty = true;
        } else if (_ld64(&p->slots[i].pos) < _ld64(&p->slots[way].pos)) {
            way = i;
        }
    }
    if (!empty) {
        _invalidate(p, way);
        stat_incr(&st.replaced);
    }

    /* the entry, built here, copied with 8-byte atomic stores */
    uint64_t ebuf[SHM_ENTRY_MAX / 8];
    uint8_t *e = (uint8_t *)ebuf;
    const uint8_t *val = item_val(it);
    struct shm_entry h = {
        .pos = start,
        .slot = way,
        .len = need,
        .vlen = it->vlen,
        .crc = (it->flags & ITEM_COUNTER)
                   ? store_value_crc(item_key(it), it->klen, val, it->vlen, NULL, 0, it->type)
                   : it->crc,
        .klen = it->klen,
        .type = it->type,
    };
    memcpy(e, &h, sizeof(h));
    memcpy(e + sizeof(h), item_key(it), it->klen);
    memcpy(e + sizeof(h) + it->klen, val, it->vlen);
    size_t used = sizeof(h) + it->klen + it->vlen;
    memset(e + used, 0, need - used);

    struct shm_slot *sl = &p->slots[way];
    uint64_t s = _ld64(&sl->seq);
    _st64(&sl->seq, s + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (start != p->head && start - p->head >= sizeof(struct shm_entry)) {
        /* a skip record over the rest of the ring, for the reclaim walk */
        struct shm_entry skip = {.pos = p->head, .slot = UINT32_MAX,
                                 .len = (uint32_t)(start - p->head), .flags = SHM_ENTRY_SKIP};
        _copy_out(p->ring + p->head % r, (const uint8_t *)&skip, sizeof(skip));
    }
    _copy_out(p->ring + start % r, e, need);
    _st64(&sl->hash, hash);
    _st64(&sl->pos, start);
    _st64(&sl->version, __atomic_load_n(&it->version, __ATOMIC_RELAXED));
    union item_meta m = {.word = __atomic_load_n(&it->meta, __ATOMIC_RELAXED)};
    _st64(&sl->expire_ms, m.expire_ms);
    _st64(&sl->nsflush, snap);
    __atomic_store_n(&sl->len, need, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->ns, it->ns, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->klen, it->klen, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->type, it->type, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->seq, s + 2, __ATOMIC_RELEASE);

    p->head = start + need;
    p->owner[way] = it;
    it->shm_slot = (uint32_t)(p - rg.parts) * rg.slots + way + 1;
    stat_incr(&st.published);
    stat_incr(&st.entries);
    stat_add(&st.bytes, need);
    return true;
}

/* ---- admission: offers, drained after the reply is flushed ---- */

#define SHM_OFFERS 32
static __thread struct {
    struct item *v[SHM_OFFERS];
    uint32_t n;
} offers;

bool do_store_shm_wants(const struct item *it, uint8_t prev_flags)
{
    return (prev_flags & (ITEM_VISITED | ITEM_WAS_PUBLISHED)) && !it->shm_slot &&
           store_shm_publishing() && store_shm_fits(it);
}

void store_shm_offer(struct item *it)
{
    if (offers.n < SHM_OFFERS) {
        offers.v[offers.n++] = it;
        return;
    }
    stat_incr(&st.offers_dropped);
    store_item_release(it);
}

void store_shm_drain(void)
{
    uint32_t n = offers.n;
    offers.n = 0;
    for (uint32_t i = 0; i < n; i++) {
        store_shm_publish(offers.v[i]);
        store_item_release(offers.v[i]);
    }
}

void store_shm_thread_exit(void)
{
    for (uint32_t i = 0; i < offers.n; i++)
        store_item_release(offers.v[i]);
    offers.n = 0;
}

/* ---- namespaces ---- */

void store_shm_flushed(int ns)
{
    if (!rg.base)
        return;
    if (ns >= 0) {
        __atomic_fetch_add(&rg.ns_flush[ns], 1, __ATOMIC_RELEASE);
        return;
    }
    for (unsigned i = 0; i < SHM_MAX_NS; i++)
        __atomic_fetch_add(&rg.ns_flush[i], 1, __ATOMIC_RELEASE);
}

uint64_t store_shm_ns_snapshot(uint16_t ns)
{
    return rg.base ? __atomic_load_n(&rg.ns_flush[ns], __ATOMIC_ACQUIRE) : 0;
}

void store_shm_ns_named(uint16_t id, const char *name, uint8_t len)
{
    if (!rg.base || id >= SHM_MAX_NS)
        return;
    rg.names[id].len = len;
    memcpy(rg.names[id].name, name, len);
    __atomic_store_n(&rg.hdr->ns_count, (uint32_t)id + 1, __ATOMIC_RELEASE);
}

/* ---- the region's life ---- */

bool store_shm_exists(void) { return rg.base != NULL; }

bool store_shm_publishing(void)
{
    return rg.base && option_get_b(store_opt_shm_reads()) && !fence_active();
}

/* open: shm-reads on, and not fenced with fenced-reads off (docs/integrity.md); never
 * again once the region is dead. */
static uint32_t _open_now(void)
{
    if (__atomic_load_n(&rg.hdr->dead, __ATOMIC_RELAXED) || !option_get_b(store_opt_shm_reads()))
        return 0;
    if (!fence_active())
        return 1;
    return rg.fenced_reads && option_get_b(rg.fenced_reads->value);
}

/* fence_on_change's hook: a fence closes the region at once (fenced-reads = off promises
 * misses from the moment the node is fenced), not at csd-shm's next tick. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER; /* computing and storing open */

/* open recomputed and stored under open_lock: csd-shm's tick cannot store a value it computed
 * before a fence after the fence's own store. */
static void _store_open(void)
{
    pthread_mutex_lock(&open_lock);
    __atomic_store_n(&rg.hdr->open, _open_now(), __ATOMIC_RELEASE);
    pthread_mutex_unlock(&open_lock);
}

static void _fence_changed(void) { _store_open(); }

void store_shm_dead(void)
{
    if (!rg.base)
        return;
    pthread_mutex_lock(&open_lock);
    __atomic_store_n(&rg.hdr->dead, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&rg.hdr->open, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&open_lock);
}

/* csd-shm: the heartbeat, and open recomputed, every SHM_HEARTBEAT_MS. It sleeps, and
 * teardown waits at most one tick for it: with a timed condition wait per tick instead, a
 * ThreadSanitizer build's anonymous memory grew by megabytes a second (the RSS bound of
 * tests/core/test_frames.c failed under scripts/tsan.sh). */
static void *_heartbeat(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "csd-shm");
    const struct timespec tick = {0, SHM_HEARTBEAT_MS * 1000000L};
    while (!__atomic_load_n(&rg.stop, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&rg.hdr->heartbeat_ms, clock_mono_us() / 1000, __ATOMIC_RELAXED);
        _store_open();
        nanosleep(&tick, NULL);
    }
    return NULL;
}

/* The memfd: sized, sealed against shrinking and growing, mapped read-write. */
static int _map(size_t size)
{
    int fd = memfd_create("cacheserverd-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        log_warn("shm: memfd_create: %s; shared-memory reads are off", strerror(errno));
        return -1;
    }
    if (ftruncate(fd, (off_t)size) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
        log_warn("shm: sizing or sealing the region: %s; shared-memory reads are off",
                 strerror(errno));
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        log_warn("shm: mmap of %zu bytes: %s; shared-memory reads are off", size,
                 strerror(errno));
        close(fd);
        return -1;
    }
    rg.fd = fd;
    rg.base = p;
    rg.size = size;
    return 0;
}

/* ---- FAULT shm-bad-size, shm-unsealed: the next HELLOs that ask get a broken region ---- */

#ifdef CACHE_FAULT_INJECTION
static struct {
    pthread_mutex_t lock;
    int fd[2];         /* STORE_SHM_FAULT_*: made once, kept until teardown (core may be
                        * sending one) */
    uint32_t armed[2]; /* HELLOs left that get it */
} flt = {PTHREAD_MUTEX_INITIALIZER, {-1, -1}, {0, 0}};

/* A memfd of `size` bytes starting with a copy of the header (which claims rg.size), sealed
 * against shrinking and growing or not at all. -1 on failure. */
static int _fault_region(size_t size, bool seal)
{
    int fd = memfd_create("cacheserverd-shm-fault", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    /* the header copied with atomic loads: csd-shm writes the heartbeat meanwhile */
    static uint64_t hdr[SHM_HEADER_SIZE / 8];
    for (size_t i = 0; i < SHM_HEADER_SIZE / 8; i++)
        hdr[i] = _ld64((const uint64_t *)(const void *)rg.base + i);
    if (ftruncate(fd, (off_t)size) != 0 ||
        pwrite(fd, hdr, SHM_HEADER_SIZE, 0) != (ssize_t)SHM_HEADER_SIZE ||
        (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

uint32_t store_shm_fault_arm(enum store_shm_fault kind, uint32_t n)
{
    if (!rg.base || rg.client_fd < 0)
        return 0; /* no region: HELLO hands nothing out anyway */
    pthread_mutex_lock(&flt.lock);
    if (flt.fd[kind] < 0)
        flt.fd[kind] = kind == STORE_SHM_FAULT_BAD_SIZE ? _fault_region(SHM_PARTS_OFF, true)
                                                        : _fault_region(rg.size, false);
    flt.armed[kind] = flt.fd[kind] < 0 ? 0 : n;
    pthread_mutex_unlock(&flt.lock);
    return flt.armed[kind];
}

/* The descriptor the next HELLO gets: an armed fault's, else fd. */
static int _fault_fd(int fd)
{
    pthread_mutex_lock(&flt.lock);
    for (int k = 0; k < 2; k++)
        if (flt.armed[k]) {
            flt.armed[k]--;
            fd = flt.fd[k];
            break;
        }
    pthread_mutex_unlock(&flt.lock);
    return fd;
}

static void _fault_teardown(void)
{
    for (int k = 0; k < 2; k++) {
        if (flt.fd[k] >= 0)
            close(flt.fd[k]);
        flt.fd[k] = -1;
        flt.armed[k] = 0;
    }
}
#else
static inline int _fault_fd(int fd) { return fd; }
static inline void _fault_teardown(void) {}
#endif

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010 /* Linux 5.1; older headers lack it */
#endif

/* After the header is filled: no new writable mapping or write() for anyone (the server's
 * own mapping keeps writing), mode 0400, and the read-only descriptor clients get. Without
 * that descriptor the region stays, but HELLO hands nothing out. */
static void _harden(void)
{
    if (fcntl(rg.fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) != 0)
        log_info("shm: the kernel refuses F_SEAL_FUTURE_WRITE (%s): clients get a read-only "
                 "descriptor of a mode-0400 file only", strerror(errno));
    if (fchmod(rg.fd, 0400) != 0)
        log_warn("shm: fchmod 0400: %s", strerror(errno));
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", rg.fd);
    rg.client_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (rg.client_fd < 0)
        log_warn("shm: reopening the region read-only (%s): %s; it is not handed to clients",
                 path, strerror(errno));
}

int store_shm_client_fd(void)
{
    return rg.client_fd < 0 || !store_shm_publishing() ? -1 : _fault_fd(rg.client_fd);
}

void store_shm_fd_sent(void) { stat_incr(&st.fds_sent); }

int store_shm_setup(void)
{
    stats_register(st_desc, STAT_COUNT(st_desc), &st);
    memset(&st, 0, sizeof(st));
    uint64_t b = _read_size();
    if (b == 0)
        return 0;
    if (b < SHM_MIN_SIZE) {
        log_info("shm: shm-read-size %llu is below 4 MiB; shared-memory reads are off",
                 (unsigned long long)b);
        return 0;
    }
    uint32_t slots, ring;
    _geometry(b, &slots, &ring);
    size_t size = SHM_PARTS_OFF + (size_t)SHM_NSHARDS * shm_part_size(slots, ring);
    if (_map(size) != 0)
        return 0;
    rg.slots = slots;
    rg.ring = ring;
    rg.hdr = (struct shm_header *)(void *)rg.base;
    rg.ns_flush = (uint64_t *)(void *)(rg.base + SHM_NS_FLUSH_OFF);
    rg.names = (struct shm_ns_name *)(void *)(rg.base + SHM_NS_NAMES_OFF);
    for (unsigned s = 0; s < SHM_NSHARDS; s++) {
        struct part *p = &rg.parts[s];
        p->slots = (struct shm_slot *)(void *)(rg.base + SHM_PARTS_OFF +
                                               s * shm_part_size(slots, ring));
        p->ring = (uint8_t *)(p->slots + slots);
        p->head = p->tail = 0;
        p->owner = calloc(slots, sizeof(*p->owner));
        if (!p->owner) {
            store_shm_teardown();
            return -1;
        }
    }
    struct shm_header *h = rg.hdr;
    h->magic = SHM_MAGIC;
    h->format = SHM_FORMAT;
    h->header_size = SHM_HEADER_SIZE;
    h->nshards = SHM_NSHARDS;
    h->slots_per_shard = slots;
    h->ring_size = ring;
    h->total_size = size;
    if (getrandom(&h->region_id, sizeof(h->region_id), 0) != sizeof(h->region_id))
        h->region_id = clock_mono_us() ^ ((uint64_t)getpid() << 32);
    h->server_pid = (uint32_t)getpid();
    rg.fenced_reads = option_registry_find("fenced_reads");
    h->heartbeat_ms = clock_mono_us() / 1000;
    h->open = _open_now();
    store_ns_shm_names(); /* the names made so far; ns.c adds later ones */
    _harden();
    stat_set(&st.size, size);
    __atomic_store_n(&rg.stop, false, __ATOMIC_RELAXED);
    if (pthread_create(&rg.thread, NULL, _heartbeat, NULL) != 0) {
        log_warn("shm: cannot start csd-shm; shared-memory reads are off");
        store_shm_teardown();
        return 0;
    }
    rg.running = true;
    fence_on_change(_fence_changed);
    log_info("shm: region of %zu bytes (%u slots and a %u-byte ring per shard)%s", size, slots,
             ring, option_get_b(store_opt_shm_reads()) ? "" : "; shm-reads is off");
    return 0;
}

void store_shm_teardown(void)
{
    store_shm_thread_exit();
    if (rg.base)
        fence_on_change(NULL);
    if (rg.running) {
        __atomic_store_n(&rg.stop, true, __ATOMIC_RELEASE);
        pthread_join(rg.thread, NULL);
        rg.running = false;
    }
    if (rg.base) {
        store_shm_dead();
        munmap(rg.base, rg.size);
    }
    if (rg.fd >= 0)
        close(rg.fd);
    if (rg.client_fd >= 0)
        close(rg.client_fd);
    _fault_teardown();
    for (unsigned s = 0; s < SHM_NSHARDS; s++)
        free(rg.parts[s].owner);
    memset(rg.parts, 0, sizeof(rg.parts));
    rg.fd = -1;
    rg.client_fd = -1;
    rg.base = NULL;
    rg.size = 0;
    rg.hdr = NULL;
    rg.ns_flush = NULL;
    rg.names = NULL;
    rg.fenced_reads = NULL;
    stat_set(&st.size, 0);
    stat_set(&st.entries, 0);
    stat_set(&st.bytes, 0);
}

const void *store_shm_base(size_t *size)
{
    *size = rg.size;
    return rg.base;
}

uint64_t store_shm_size(void) { return rg.base ? rg.size : 0; }

uint64_t store_shm_region_id(void) { return rg.base ? rg.hdr->region_id : 0; }

/* ---- SHM_REPORT: clients' counts and the entries their readers found bad ---- */

void store_shm_report_counted(uint64_t hits)
{
    stat_incr(&st.reports);
    stat_add(&st.hits, hits);
}

void store_shm_report_stale(void) { stat_incr(&st.reports_stale); }

/* Shard locked, slot i of p valid: does its entry pass the server's own checks (those of a
 * reader, docs/shm-reads.md "The reader" step 6, and the item's own checksum)? *why says
 * which failed. Plain reads: this thread holds the only lock that writes the part. */
static bool _entry_ok(const struct part *p, uint32_t i, const char **why)
{
    const struct shm_slot *sl = &p->slots[i];
    uint64_t r = rg.ring, pos = _ld64(&sl->pos);
    uint32_t len = __atomic_load_n(&sl->len, __ATOMIC_RELAXED);
    uint16_t klen = __atomic_load_n(&sl->klen, __ATOMIC_RELAXED);
    uint8_t type = __atomic_load_n(&sl->type, __ATOMIC_RELAXED);
    if (len % 8 || len < sizeof(struct shm_entry) + klen || len > SHM_ENTRY_MAX ||
        pos % r + len > r || pos < p->tail || pos + len > p->head) {
        *why = "the slot's position or length";
        return false;
    }
    const uint8_t *e = p->ring + pos % r;
    struct shm_entry h;
    memcpy(&h, e, sizeof(h));
    if (h.pos != pos || h.len != len || h.klen != klen || h.type != type || h.slot != i ||
        (h.flags & SHM_ENTRY_SKIP) || sizeof(h) + (uint64_t)klen + h.vlen > len) {
        *why = "the entry's header does not match its slot";
        return false;
    }
    const uint8_t *key = e + sizeof(h), *val = key + klen;
    if (store_value_crc(key, klen, val, h.vlen, NULL, 0, type) != h.crc) {
        *why = "the CRC-32C of its key, value and type";
        return false;
    }
    const struct item *it = p->owner[i];
    if (it && (it->klen != klen || memcmp(item_key(it), key, klen) != 0)) {
        *why = "its key is not its item's";
        return false;
    }
    if (it && !(__atomic_load_n(&it->flags, __ATOMIC_RELAXED) & ITEM_COUNTER) &&
        h.crc != it->crc) {
        *why = "its checksum is not its item's";
        return false;
    }
    return true;
}

uint32_t store_shm_check_reported(uint64_t hash)
{
    if (!rg.base || hash == 0)
        return 0;
    unsigned s = (unsigned)(hash >> (64 - STORE_SHARD_BITS));
    struct part *p = &rg.parts[s];
    uint32_t b = (uint32_t)(hash & (rg.slots / SHM_WAYS - 1)) * SHM_WAYS, bad = 0;
    uint32_t which[SHM_WAYS];
    const char *why[SHM_WAYS];
    pthread_mutex_lock(&store_shards[s].lock);
    for (uint32_t i = b; i < b + SHM_WAYS; i++) {
        if (_ld64(&p->slots[i].hash) != hash || _entry_ok(p, i, &why[bad]))
            continue;
        _invalidate(p, i);
        which[bad++] = i;
    }
    pthread_mutex_unlock(&store_shards[s].lock);
    for (uint32_t k = 0; k < bad; k++) {
        log_warn("shm: a client's reader reported the region entry of key hash %016llx "
                 "(shard %u, slot %u) failing its checksum, and the server's check fails too "
                 "(%s): the copy is invalidated", (unsigned long long)hash, s, which[k], why[k]);
        store_corrupt_found("a copy in the shared-memory region, reported by a client");
    }
    return bad;
}

#ifdef CACHE_FAULT_INJECTION
uint32_t store_shm_fault_corrupt(uint32_t n)
{
    uint32_t done = 0;
    if (!rg.base)
        return 0;
    for (unsigned s = 0; s < SHM_NSHARDS && done < n; s++) {
        struct part *p = &rg.parts[s];
        pthread_mutex_lock(&store_shards[s].lock);
        for (uint32_t i = 0; i < rg.slots && done < n; i++) {
            if (!_valid(&p->slots[i]))
                continue;
            uint64_t off = _ld64(&p->slots[i].pos) % rg.ring;
            const struct shm_entry *e = (const void *)(p->ring + off);
            if (e->vlen == 0 || sizeof(*e) + (uint64_t)e->klen + e->vlen > e->len ||
                off + e->len > rg.ring)
                continue;
            /* the value's last byte, in its 8-byte word (readers copy words atomically) */
            uint64_t at = off + sizeof(*e) + e->klen + e->vlen - 1;
            uint64_t *w = (uint64_t *)(void *)(p->ring + (at & ~(uint64_t)7));
            uint64_t v = _ld64(w);
            uint8_t bytes[8];
            memcpy(bytes, &v, 8);
            bytes[at & 7] ^= 0x20;
            memcpy(&v, bytes, 8);
            _st64(w, v);
            done++;
        }
        pthread_mutex_unlock(&store_shards[s].lock);
    }
    return done;
}
#endif
