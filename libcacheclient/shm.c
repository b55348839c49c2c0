/* The shared-memory read region on the client's side (docs/shm-reads.md, "Handing the
 * region to clients"): the checks a descriptor from HELLO must pass before it is mapped, the
 * read-only mapping, and the process-wide registry (socket path -> region) whose entries
 * clients hold references to. Nothing reads the mapping yet (that is step 4). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client-internal.h"
#include "shm_format.h"

#define CC_SHM_CLOCK_AHEAD_MS 50u /* a header's heartbeat ahead of our clock by more: another
                                   * time namespace */

struct cc_shm_region {
    struct cc_shm_region *next;
    char *path;            /* the socket path it came from */
    const void *base;      /* mapped PROT_READ, MAP_SHARED */
    size_t size;
    uint64_t region_id;
    unsigned refs;         /* clients holding it */
    bool current;          /* the one a new client of path uses (a newer one replaces it) */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cc_shm_region *regions;
static unsigned nmapped;

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
        for (struct cc_shm_region *x = regions; x; x = x->next)
            if (x->current && !strcmp(x->path, path))
                x->current = false;
        *g = (struct cc_shm_region){.next = regions, .path = path, .base = base,
                                    .size = (size_t)h.total_size, .region_id = h.region_id,
                                    .current = true};
        regions = g;
        nmapped++;
    }
    g->refs++;
    if (c->shm)
        _put_locked(c->shm);
    c->shm = g;
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
