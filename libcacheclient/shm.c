/* The shared-memory read region on the client's side (docs/shm-reads.md, "Handing the
 * region to clients" and "Stats"): the checks a descriptor from HELLO must pass before it is
 * mapped, the read-only mapping, the process-wide registry (socket path -> region) whose
 * entries clients hold references to, a client's reads from it (the lookup itself is
 * shm_read.c's), and the hits the process counted there, reported with SHM_REPORT. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client-internal.h"

struct cc_shm_region {
    struct cc_shm_region *next;
    char *path;            /* the socket path it came from */
    const void *base;      /* mapped PROT_READ, MAP_SHARED */
    size_t size;
    uint64_t region_id;
    struct cc_shm_view view;
    unsigned refs;         /* clients holding it, and the registry while it is current */
    bool current;          /* the one a new client of path uses (a newer one replaces it, a
                            * dead one stops being it): it stays mapped while current, so a
                            * process's next client reads it before it connects */
    /* Hits not reported yet, shared by the process's clients (relaxed atomics): */
    unsigned fork_gen;     /* cc_fork_gen() the counts belong to (a child zeroes them) */
    uint64_t pending;      /* their sum */
    uint64_t first_ms;     /* CLOCK_MONOTONIC ms of the oldest one, 0 = none */
    uint32_t ns_top;       /* 1 + the highest namespace id counted */
    uint64_t bad[CC_SHM_REPORT_MAX_BAD]; /* key hashes of entries that failed their checks, 0 */
    uint64_t hits[SHM_MAX_NS];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cc_shm_region *regions;
static unsigned nmapped;
static unsigned current_gen; /* atomic: bumped when a region becomes some path's current one */

static int _refuse(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int _refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The map-time checks of docs/shm-reads.md on fd, reading its header with pread: seals,
 * size, magic, format and geometry, heartbeat. 0 with *h filled, or -1 with the reason. */
static int _check(int fd, struct shm_header *h, char *err, size_t errlen)
{
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return _refuse(err, errlen, "F_GET_SEALS: %s", strerror(errno));
    if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
        return _refuse(err, errlen, "not sealed against shrinking and growing (seals 0x%x)",
                       (unsigned)seals);
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return _refuse(err, errlen, "fstat: %s", strerror(errno));
    if (sb.st_size < (off_t)SHM_PARTS_OFF)
        return _refuse(err, errlen, "%lld bytes: smaller than a header", (long long)sb.st_size);
    if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h))
        return _refuse(err, errlen, "cannot read the header: %s", strerror(errno));
    if (h->magic != SHM_MAGIC || h->format != SHM_FORMAT)
        return _refuse(err, errlen, "magic %016llx format %u: not a region this client reads",
                       (unsigned long long)h->magic, h->format);
    if (h->total_size != (uint64_t)sb.st_size)
        return _refuse(err, errlen, "header says %llu bytes, the file has %lld",
                       (unsigned long long)h->total_size, (long long)sb.st_size);
    uint32_t s = h->slots_per_shard, r = h->ring_size;
    if (h->header_size != SHM_HEADER_SIZE || h->nshards != SHM_NSHARDS || s < 64 ||
        (s & (s - 1)) || r == 0 || r % 4096)
        return _refuse(err, errlen, "geometry (header %u, %u shards, %u slots, ring %u) is wrong",
                       h->header_size, h->nshards, s, r);
    if (SHM_PARTS_OFF + (uint64_t)SHM_NSHARDS * shm_part_size(s, r) != h->total_size)
        return _refuse(err, errlen, "geometry does not add up to %llu bytes",
                       (unsigned long long)h->total_size);
    /* the server's heartbeat (every 20 ms) against our CLOCK_MONOTONIC: ahead means another
     * time namespace; behind by more than the staleness bound, a dead or stalled server */
    uint64_t hb = __atomic_load_n(&h->heartbeat_ms, __ATOMIC_RELAXED), now = (uint64_t)cc_now_ms();
    if (hb > now + CC_SHM_CLOCK_AHEAD_MS || now > hb + SHM_STALE_MS)
        return _refuse(err, errlen, "heartbeat %llu ms against our clock's %llu: another clock "
                       "namespace or a stalled server", (unsigned long long)hb,
                       (unsigned long long)now);
    return 0;
}

/* Map fd, whose header h passed _check, read-only. */
static int _map(int fd, const struct shm_header *h, const void **base, char *err, size_t errlen)
{
    void *p = mmap(NULL, (size_t)h->total_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return _refuse(err, errlen, "mmap: %s", strerror(errno));
    *base = p;
    return 0;
}

int cc_shm_map(int fd, const void **base, size_t *size, uint64_t *region_id, char *err,
               size_t errlen)
{
    struct shm_header h;
    if (_check(fd, &h, err, errlen) != 0 || _map(fd, &h, base, err, errlen) != 0)
        return -1;
    *size = (size_t)h.total_size;
    *region_id = h.region_id;
    return 0;
}

/* Registry lock held: drop a reference; the last one unmaps. */
static void _put_locked(struct cc_shm_region *g)
{
    if (--g->refs)
        return;
    for (struct cc_shm_region **pp = &regions; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    munmap((void *)g->base, g->size);
    nmapped--;
    free(g->path);
    free(g);
}

/* Registry lock held: path's current region, if any, is current no more (the registry's
 * reference dropped: unmapped unless a client still holds it). */
static void _uncurrent_locked(const char *path)
{
    for (struct cc_shm_region **pp = &regions; *pp;) {
        struct cc_shm_region *x = *pp;
        if (x->current && !strcmp(x->path, path)) {
            x->current = false;
            _put_locked(x); /* x may be gone now, and *pp its successor */
            continue;
        }
        pp = &x->next;
    }
}

int cc_shm_attach(cc_client *c, int fd)
{
    char err[200];
    struct shm_header h;
    int rc = -1;
    if (_check(fd, &h, err, sizeof(err)) != 0)
        goto out;
    pthread_mutex_lock(&reg_lock);
    struct cc_shm_region *g = NULL;
    for (struct cc_shm_region *x = regions; x; x = x->next)
        if (x->current && x->region_id == h.region_id && !strcmp(x->path, c->socket_path))
            g = x;
    if (!g) { /* a region this process has not mapped yet: it replaces the path's old one */
        g = calloc(1, sizeof(*g));
        char *path = g ? strdup(c->socket_path) : NULL;
        const void *base = NULL; /* h passed _check above: mapped without reading it again */
        if (!path || _map(fd, &h, &base, err, sizeof(err)) != 0) {
            free(g);
            free(path);
            pthread_mutex_unlock(&reg_lock);
            goto out;
        }
        _uncurrent_locked(path);
        *g = (struct cc_shm_region){.next = regions, .path = path, .base = base,
                                    .size = (size_t)h.total_size, .region_id = h.region_id,
                                    .view = {base, h.slots_per_shard, h.ring_size},
                                    .current = true, .fork_gen = cc_fork_gen(),
                                    .refs = 1 /* the registry's, while current */};
        regions = g;
        nmapped++;
        __atomic_add_fetch(&current_gen, 1, __ATOMIC_RELEASE);
    }
    g->refs++;
    if (c->shm)
        _put_locked(c->shm);
    c->shm = g;
    c->shm_ns = -2;
    pthread_mutex_unlock(&reg_lock);
    rc = 0;
out:
    if (rc != 0)
        snprintf(c->shm_err, sizeof(c->shm_err), "%s", err);
    close(fd); /* the mapping, if any, keeps the memory */
    return rc;
}

void cc_shm_release(cc_client *c)
{
    if (!c->shm)
        return;
    pthread_mutex_lock(&reg_lock);
    _put_locked(c->shm);
    c->shm = NULL;
    pthread_mutex_unlock(&reg_lock);
}

uint64_t cc_shm_region_id(const cc_client *c) { return c->shm ? c->shm->region_id : 0; }

unsigned cc_shm_mappings(void)
{
    pthread_mutex_lock(&reg_lock);
    unsigned n = nmapped;
    pthread_mutex_unlock(&reg_lock);
    return n;
}

void cc_shm_adopt(cc_client *c)
{
    if (c->shm || !c->shm_reads || !c->shm_ask)
        return;
    /* nothing became current since this client last looked: no lock on every read of a
     * client whose server gives no region */
    unsigned gen = __atomic_load_n(&current_gen, __ATOMIC_ACQUIRE);
    if (c->shm_adopt_tried && gen == c->shm_adopt_gen)
        return;
    c->shm_adopt_tried = true;
    c->shm_adopt_gen = gen;
    pthread_mutex_lock(&reg_lock);
    for (struct cc_shm_region *x = regions; x; x = x->next)
        if (x->current && !strcmp(x->path, c->socket_path)) {
            x->refs++;
            c->shm = x;
            c->shm_ns = -2;
            break;
        }
    pthread_mutex_unlock(&reg_lock);
}

/* The region said it is dead: no new client adopts it, and c lets it go. */
static void _retire(cc_client *c)
{
    pthread_mutex_lock(&reg_lock);
    if (c->shm->current) {
        c->shm->current = false;
        _put_locked(c->shm); /* the registry's: c still holds one */
    }
    _put_locked(c->shm);
    c->shm = NULL;
    pthread_mutex_unlock(&reg_lock);
}

void cc_shm_forget_path(cc_client *c)
{
    pthread_mutex_lock(&reg_lock);
    _uncurrent_locked(c->socket_path);
    pthread_mutex_unlock(&reg_lock);
    cc_shm_release(c);
}

void cc_shm_ns_changed(cc_client *c) { c->shm_ns = -2; }

/* The selected namespace's id in g, looked up again only when the table grew. */
static int _ns_id(cc_client *c, const struct cc_shm_region *g)
{
    if (c->shm_ns >= 0)
        return c->shm_ns;
    const struct shm_header *h = g->base;
    uint32_t n = __atomic_load_n(&h->ns_count, __ATOMIC_ACQUIRE);
    if (c->shm_ns == -1 && n == c->shm_ns_seen)
        return -1;
    const char *ns = c->ns ? c->ns : "";
    c->shm_ns = cc_shm_ns_find(&g->view, ns, strlen(ns));
    c->shm_ns_seen = n;
    return c->shm_ns;
}

bool cc_shm_ns_known(cc_client *c) { return c->shm && _ns_id(c, c->shm) >= 0; }

/* In a forked child, the counts g inherited from its parent are not ours to report: zero
 * them once (under the registry lock). */
static void _fork_check(struct cc_shm_region *g)
{
    unsigned gen = cc_fork_gen();
    if (__atomic_load_n(&g->fork_gen, __ATOMIC_RELAXED) == gen)
        return;
    pthread_mutex_lock(&reg_lock);
    if (g->fork_gen != gen) {
        memset(g->hits, 0, sizeof(g->hits));
        memset(g->bad, 0, sizeof(g->bad));
        g->pending = g->first_ms = 0;
        g->ns_top = 0;
        __atomic_store_n(&g->fork_gen, gen, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&reg_lock);
}

static uint64_t _mono_coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t _wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* the server's expiry clock (vDSO: no system call) */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void _count_hit(struct cc_shm_region *g, uint16_t ns, uint64_t now)
{
    __atomic_fetch_add(&g->hits[ns], 1, __ATOMIC_RELAXED);
    uint32_t top = __atomic_load_n(&g->ns_top, __ATOMIC_RELAXED);
    while (top <= ns && !__atomic_compare_exchange_n(&g->ns_top, &top, (uint32_t)ns + 1, true,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    if (__atomic_fetch_add(&g->pending, 1, __ATOMIC_RELAXED) == 0) {
        uint64_t zero = 0;
        __atomic_compare_exchange_n(&g->first_ms, &zero, now ? now : 1, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
}

static void _note_bad(struct cc_shm_region *g, uint64_t hash)
{
    if (!hash)
        return;
    for (unsigned i = 0; i < CC_SHM_REPORT_MAX_BAD; i++) {
        uint64_t zero = 0;
        uint64_t cur = __atomic_load_n(&g->bad[i], __ATOMIC_RELAXED);
        if (cur == hash)
            return;
        if (!cur && __atomic_compare_exchange_n(&g->bad[i], &zero, hash, false,
                                                __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return;
    }
}

bool cc_shm_get(cc_client *c, const void *key, size_t klen, cc_item *out)
{
    struct cc_shm_region *g = c->shm;
    if (!g)
        return false;
    uint64_t now = _mono_coarse_ms(), wall = 0;
    int ns = _ns_id(c, g);
    struct cc_shm_hit hit;
    hit.hash = 0;
    enum cc_shm_result res;
    if (ns < 0) { /* not named there yet: nothing of it is published */
        res = cc_shm_check_live(&g->view, now);
        if (res == CC_SHM_HIT)
            res = CC_SHM_MISS;
    } else {
        wall = _wall_ms();
        res = cc_shm_lookup(&g->view, (uint16_t)ns, key, klen, now, wall, &hit);
    }
    if (res == CC_SHM_HIT) {
        /* not expired at wall: the lookup checked */
        int64_t ttl = hit.expire_ms ? (int64_t)(hit.expire_ms - wall) : -1;
        int st = cc_item_from_encoded(hit.type, hit.value, hit.vlen, ttl, hit.version, out);
        if (st == CC_OK) {
            _fork_check(g);
            _count_hit(g, (uint16_t)ns, now);
            c->shm_stats.hits++;
            uint64_t first = __atomic_load_n(&g->first_ms, __ATOMIC_RELAXED);
            if (first && now >= first + CC_SHM_REPORT_MS)
                cc_shm_report_now(c, false);
            return true;
        }
        res = st == CC_E_BAD_REPLY ? CC_SHM_BAD : CC_SHM_MISS; /* no memory: the socket's turn */
    }
    switch (res) {
    case CC_SHM_MISS: c->shm_stats.misses++; break;
    case CC_SHM_RETRY: c->shm_stats.retries++; break;
    case CC_SHM_STALE: c->shm_stats.stale++; break;
    case CC_SHM_DEAD:
        c->shm_stats.stale++;
        _retire(c);
        break;
    case CC_SHM_BAD:
        c->shm_stats.checksum++;
        _fork_check(g);
        _note_bad(g, hit.hash);
        break;
    case CC_SHM_HIT: break;
    }
    return false;
}

void cc_shm_count_socket(cc_client *c, size_t n) { c->shm_stats.socket_reads += n; }

uint64_t cc_shm_report_pack(cc_client *c)
{
    struct cc_shm_region *g = c->shm;
    if (!g)
        return 0;
    _fork_check(g);
    uint64_t bad[CC_SHM_REPORT_MAX_BAD];
    unsigned nbad = 0;
    for (unsigned i = 0; i < CC_SHM_REPORT_MAX_BAD; i++)
        if (__atomic_load_n(&g->bad[i], __ATOMIC_RELAXED) &&
            (bad[nbad] = __atomic_exchange_n(&g->bad[i], 0, __ATOMIC_RELAXED)))
            nbad++;
    if (!nbad && !__atomic_load_n(&g->pending, __ATOMIC_RELAXED))
        return 0;
    __atomic_store_n(&g->first_ms, 0, __ATOMIC_RELAXED); /* a hit from now on starts a new wait */
    uint32_t top = __atomic_load_n(&g->ns_top, __ATOMIC_RELAXED);
    uint32_t npairs = 0;
    uint64_t taken = 0;
    uint16_t ids[SHM_MAX_NS];
    uint64_t counts[SHM_MAX_NS];
    for (uint32_t i = 0; i < top && i < SHM_MAX_NS; i++) {
        if (!__atomic_load_n(&g->hits[i], __ATOMIC_RELAXED))
            continue;
        uint64_t n = __atomic_exchange_n(&g->hits[i], 0, __ATOMIC_RELAXED);
        if (!n)
            continue;
        ids[npairs] = (uint16_t)i;
        counts[npairs++] = n;
        taken += n;
    }
    __atomic_fetch_sub(&g->pending, taken, __ATOMIC_RELAXED);
    if (!npairs && !nbad)
        return 0;
    uint64_t id;
    size_t start = cc_req_begin(c, CC_OP_SHM_REPORT, 3, &id);
    msgpack_pack_uint64(&c->pk, g->region_id);
    msgpack_pack_map(&c->pk, npairs);
    for (uint32_t i = 0; i < npairs; i++) {
        msgpack_pack_uint16(&c->pk, ids[i]);
        msgpack_pack_uint64(&c->pk, counts[i]);
    }
    msgpack_pack_array(&c->pk, nbad);
    for (unsigned i = 0; i < nbad; i++)
        msgpack_pack_uint64(&c->pk, bad[i]);
    cc_req_end(c, start);
    return id;
}

bool cc_shm_report_due(const cc_client *c)
{
    const struct cc_shm_region *g = c->shm;
    if (!g)
        return false;
    for (unsigned i = 0; i < CC_SHM_REPORT_MAX_BAD; i++)
        if (__atomic_load_n(&g->bad[i], __ATOMIC_RELAXED))
            return true;
    uint64_t first = __atomic_load_n(&g->first_ms, __ATOMIC_RELAXED);
    return first && _mono_coarse_ms() >= first + CC_SHM_PIGGYBACK_MS;
}

void cc_shm_report_now(cc_client *c, bool force)
{
    if (!c->shm || c->report_id)
        return;
    if (!force) {
        uint64_t first = __atomic_load_n(&c->shm->first_ms, __ATOMIC_RELAXED);
        if (!first || _mono_coarse_ms() < first + CC_SHM_REPORT_MS)
            return;
    }
    struct cc_buf saved = cc_out_stash(c); /* the caller's request, if one is being encoded */
    char err[sizeof(c->err)];
    memcpy(err, c->err, sizeof(err));
    uint64_t id = cc_shm_report_pack(c);
    if (id) {
        struct cc_reply r;
        if (cc_roundtrip(c, id, &r) == CC_OK)
            cc_reply_free(&r);
        memcpy(c->err, err, sizeof(err)); /* the report's outcome is not the caller's */
    }
    cc_out_restore(c, saved);
}

void cc_shm_stats(const cc_client *c, cc_shm_info *out)
{
    *out = c->shm_stats;
    out->mapped = c->shm != NULL;
}
