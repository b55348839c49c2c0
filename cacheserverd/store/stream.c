/* Streams: values built by APPEND, kept as reference-counted chunks so GETRANGE hands
 * readers chunk references (zero copy) and an append never copies more than one chunk.
 * Long streams spill their full chunks to a disk tier through the stream hooks. Each chunk
 * carries the CRC-32C of its bytes (store-internal.h, struct chunk), extended by appends. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "crc32c.h"
#include "store-internal.h"

static struct store_stream_hooks hooks_copy;
static const struct store_stream_hooks *hooks; /* atomic: NULL = streams stay in memory */
/* Stream ids name chunks on disk, which persistence keeps across restarts: they start at
 * the wall clock in ms << 20, so a later run's ids are above an earlier run's unless it made
 * a million streams a second (or the clock went back). */
static uint64_t next_id;

static uint64_t _next_id(void)
{
    uint64_t id = __atomic_load_n(&next_id, __ATOMIC_RELAXED);
    if (!id) {
        uint64_t base = clock_wall_ms() << 20;
        __atomic_compare_exchange_n(&next_id, &id, base, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    }
    return __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
}

void store_stream_set_hooks(const struct store_stream_hooks *h)
{
    if (h)
        hooks_copy = *h;
    __atomic_store_n(&hooks, h ? &hooks_copy : NULL, __ATOMIC_RELEASE);
}

struct stream *store_stream_create(void)
{
    struct stream *st = calloc(1, sizeof(struct stream));
    if (st)
        st->id = _next_id();
    return st;
}

void store_chunk_release(void *arg)
{
    struct chunk *c = arg;
    if (__atomic_sub_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        free(c);
}

static struct chunk *_chunk_new(uint32_t cap)
{
    struct chunk *c = malloc(sizeof(*c) + cap);
    if (!c)
        return NULL;
    c->refcount = 1;
    c->len = 0;
    c->cap = cap;
    c->crc = 0;
    return c;
}

static uint32_t _grow_cap(uint32_t have, uint32_t need)
{
    uint32_t cap = have ? have : 256;
    while (cap < need)
        cap *= 2;
    return cap > STREAM_CHUNK ? STREAM_CHUNK : cap;
}

/* Make the last chunk private and able to hold `need` bytes; returns capacity added or -1. */
static int64_t _prepare_last(struct stream *st, uint32_t need)
{
    struct chunk *c = st->chunks[st->nchunks - 1];
    bool shared = __atomic_load_n(&c->refcount, __ATOMIC_ACQUIRE) > 1;
    if (!shared && c->cap >= need)
        return 0;
    uint32_t cap = _grow_cap(c->cap, need);
    struct chunk *n = _chunk_new(cap);
    if (!n)
        return -1;
    memcpy(n->data, c->data, c->len);
    n->len = c->len;
    n->crc = c->crc; /* a copy of a broken chunk stays broken */
    st->chunks[st->nchunks - 1] = n;
    int64_t added = (int64_t)cap - (int64_t)c->cap;
    store_chunk_release(c); /* readers keep theirs */
    return added;
}

int64_t do_store_stream_append(struct stream *st, const uint8_t *data, uint32_t len)
{
    int64_t added = 0;
    while (len > 0) {
        if (st->nchunks == 0 || st->chunks[st->nchunks - 1]->len == STREAM_CHUNK) {
            if (st->nchunks == st->cap) {
                uint32_t ncap = st->cap ? st->cap * 2 : 4;
                struct chunk **nc = realloc(st->chunks, ncap * sizeof(*nc));
                if (!nc)
                    return -1;
                added += (int64_t)(ncap - st->cap) * (int64_t)sizeof(*nc);
                st->chunks = nc;
                st->cap = ncap;
            }
            uint32_t cap = _grow_cap(0, len < STREAM_CHUNK ? len : STREAM_CHUNK);
            struct chunk *c = _chunk_new(cap);
            if (!c)
                return -1;
            st->chunks[st->nchunks++] = c;
            added += cap;
        }
        struct chunk *last = st->chunks[st->nchunks - 1];
        uint32_t room = STREAM_CHUNK - last->len;
        uint32_t n = len < room ? len : room;
        int64_t grown = _prepare_last(st, last->len + n);
        if (grown < 0)
            return -1;
        added += grown;
        last = st->chunks[st->nchunks - 1];
        memcpy(last->data + last->len, data, n);
        last->crc = crc32c(last->crc, last->data + last->len, n);
        last->len += n;
        __atomic_store_n(&st->len, st->len + n, __ATOMIC_RELAXED);
        data += n;
        len -= n;
    }
    return added;
}

bool do_store_stream_spill(struct stream *st, uint16_t ns, const uint8_t *key, uint32_t klen)
{
    const struct store_stream_hooks *h = __atomic_load_n(&hooks, __ATOMIC_ACQUIRE);
    if (!h || (!h->persist && st->len <= h->threshold))
        return true;
    /* every chunk but the last is full and never changes again */
    for (; st->spill_next + 1 < st->nchunks; st->spill_next++) {
        struct chunk *c = st->chunks[st->spill_next];
        if (!c)
            continue; /* on disk already (handed over again after a failure) */
        __atomic_add_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL);
        if (!h->spill(h->arg, ns, key, klen, st->id, st->spill_next, c->data, c->len, c->crc,
                      store_chunk_release, c)) {
            store_chunk_release(c);
            return false;
        }
    }
    return true;
}

bool do_store_stream_view(struct stream *st, struct store_stream_view *v)
{
    const struct store_stream_hooks *h = __atomic_load_n(&hooks, __ATOMIC_ACQUIRE);
    if (!h || !h->persist)
        return false; /* nobody writes a stream's changes: no view, no delete when freed */
    st->exposed = true;
    *v = (struct store_stream_view){.sid = st->id, .len = st->len, .epoch = st->epoch,
                                    .eorigin = st->eorigin,
                                    .chunks_handed = st->spill_next + 1 >= st->nchunks};
    if (st->nchunks) {
        struct chunk *c = st->chunks[st->nchunks - 1];
        v->tail_idx = st->nchunks - 1;
        v->tail = c->data;
        v->tail_len = c->len;
    }
    return true;
}

struct stream *store_stream_restore(uint64_t sid, uint64_t len, const void *tail, uint32_t tail_len,
                              uint64_t disk_bytes)
{
    uint32_t n = len ? (uint32_t)((len - 1) / STREAM_CHUNK + 1) : 0;
    if (len && (uint64_t)(n - 1) * STREAM_CHUNK + tail_len != len)
        return NULL;
    struct stream *st = calloc(1, sizeof(*st));
    struct chunk **cs = st ? calloc(n ? n : 1, sizeof(*cs)) : NULL;
    struct chunk *last = cs && n ? _chunk_new(_grow_cap(0, tail_len ? tail_len : 1)) : NULL;
    if (!cs || (n && !last)) {
        free(last);
        free(cs);
        free(st);
        return NULL;
    }
    if (last) {
        memcpy(last->data, tail, tail_len);
        last->len = tail_len;
        last->crc = crc32c(0, tail, tail_len); /* the disk record's own checksum held */
        cs[n - 1] = last;
    }
    *st = (struct stream){.len = len, .nchunks = n, .cap = n ? n : 1, .chunks = cs, .id = sid,
                          .spill_next = n ? n - 1 : 0,
                          .disk_bytes = disk_bytes};
    return st;
}

uint64_t do_store_stream_spilled(struct stream *st, uint32_t idx, bool ok, uint32_t disk_bytes)
{
    if (idx + 1 >= st->nchunks || !st->chunks[idx])
        return 0;
    if (!ok) {
        if (idx < st->spill_next)
            st->spill_next = idx;
        return 0;
    }
    struct chunk *c = st->chunks[idx];
    uint64_t freed = sizeof(struct chunk) + c->cap;
    st->chunks[idx] = NULL;
    st->disk_bytes += disk_bytes;
    store_chunk_release(c); /* readers keep theirs */
    return freed;
}

void store_stream_destroy(struct stream *st)
{
    if (!st)
        return;
    const struct store_stream_hooks *h = __atomic_load_n(&hooks, __ATOMIC_ACQUIRE);
    if (h && (st->spill_next > 0 || st->exposed))
        h->gone(h->arg, st->id, st->disk_bytes, st->evicted);
    for (uint32_t i = 0; i < st->nchunks; i++)
        if (st->chunks[i])
            store_chunk_release(st->chunks[i]);
    free(st->chunks);
    free(st);
}

uint64_t store_stream_mem(const struct stream *st)
{
    uint64_t m = sizeof(*st) + (uint64_t)st->cap * sizeof(struct chunk *);
    for (uint32_t i = 0; i < st->nchunks; i++)
        if (st->chunks[i])
            m += sizeof(struct chunk) + st->chunks[i]->cap;
    return m;
}

bool store_chunk_intact(const struct chunk *c) { return crc32c(0, c->data, c->len) == c->crc; }

/* Keep a reference to c in cs; without memory for it, check c now (shard locked). */
static void _keep(struct chunk_set *cs, struct chunk *c)
{
    if (!cs->v) {
        cs->v = cs->one;
        cs->cap = sizeof(cs->one) / sizeof(cs->one[0]);
    }
    if (cs->n == cs->cap) {
        uint32_t ncap = cs->cap * 2;
        struct chunk **nv = malloc(ncap * sizeof(*nv));
        if (!nv) {
            cs->corrupt |= !store_chunk_intact(c);
            return;
        }
        memcpy(nv, cs->v, cs->n * sizeof(*nv));
        if (cs->v != cs->one)
            free(cs->v);
        cs->v = nv;
        cs->cap = ncap;
    }
    __atomic_add_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL);
    cs->v[cs->n++] = c;
}

bool store_chunks_check(struct chunk_set *cs)
{
    bool ok = !cs->corrupt;
    for (uint32_t i = 0; i < cs->n; i++) {
        ok = ok && store_chunk_intact(cs->v[i]); /* held: nobody writes it */
        store_chunk_release(cs->v[i]);
    }
    if (cs->v != cs->one)
        free(cs->v);
    *cs = (struct chunk_set){0};
    return ok;
}

bool do_store_stream_scrub(struct stream *st, uint32_t *budget)
{
    /* at most one pass over the chunk array: the ones on disk cost nothing here */
    for (uint32_t seen = 0; *budget > 0 && st->nchunks > 0 && seen <= st->nchunks; seen++) {
        if (st->scrub_idx >= st->nchunks)
            st->scrub_idx = st->scrub_off = st->scrub_crc = 0; /* round again */
        struct chunk *c = st->chunks[st->scrub_idx];
        if (c && st->scrub_off < c->len) {
            uint32_t n = c->len - st->scrub_off;
            if (n > *budget)
                n = *budget;
            st->scrub_crc = crc32c(st->scrub_crc, c->data + st->scrub_off, n);
            st->scrub_off += n;
            *budget -= n;
            if (st->scrub_off < c->len)
                return true; /* on from here next time (appends only add after it) */
        }
        bool ok = !c || st->scrub_off > c->len || st->scrub_crc == c->crc;
        st->scrub_idx++;
        st->scrub_off = st->scrub_crc = 0;
        if (!ok)
            return false;
    }
    return true;
}

#ifdef CACHE_FAULT_INJECTION
bool do_store_stream_fault(struct stream *st)
{
    for (uint32_t i = 0; i < st->nchunks; i++) {
        struct chunk *c = st->chunks[i];
        if (!c || !c->len)
            continue;
        if (__atomic_load_n(&c->refcount, __ATOMIC_ACQUIRE) > 1) { /* a reader's stays */
            struct chunk *n = _chunk_new(c->cap);
            if (!n)
                return false;
            memcpy(n->data, c->data, c->len);
            n->len = c->len;
            n->crc = c->crc;
            st->chunks[i] = n;
            store_chunk_release(c);
            c = n;
        }
        c->data[c->len / 2] ^= 0x20;
        return true;
    }
    return false;
}
#endif

bool do_store_stream_range(struct stream *st, uint64_t off, uint64_t len, store_piece_fn fn,
                     store_spilled_fn spilled, void *ctx, struct chunk_set *keep)
{
    bool complete = true;
    while (len > 0 && off < st->len) {
        uint32_t idx = (uint32_t)(off / STREAM_CHUNK);
        struct chunk *c = st->chunks[idx];
        uint32_t in = (uint32_t)(off % STREAM_CHUNK);
        uint64_t n = (c ? c->len : STREAM_CHUNK) - in; /* a chunk on disk is a full one */
        if (n > len)
            n = len;
        if (c) {
            if (keep)
                _keep(keep, c);
            __atomic_add_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL);
            fn(ctx, c->data + in, (size_t)n, store_chunk_release, c);
        } else if (!spilled || !spilled(ctx, st->id, idx, in, (uint32_t)n)) {
            complete = false;
        }
        off += n;
        len -= n;
    }
    return complete;
}
