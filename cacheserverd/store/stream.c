/* Streams: values built by APPEND, kept as reference-counted chunks so GETRANGE hands
 * readers chunk references (zero copy) and an append never copies more than one chunk. */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

struct stream *stream_create(void) { return calloc(1, sizeof(struct stream)); }

void chunk_release(void *arg)
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
    st->chunks[st->nchunks - 1] = n;
    int64_t added = (int64_t)cap - (int64_t)c->cap;
    chunk_release(c); /* readers keep theirs */
    return added;
}

int64_t do_stream_append(struct stream *st, const uint8_t *data, uint32_t len)
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
        last->len += n;
        st->len += n;
        data += n;
        len -= n;
    }
    return added;
}

void stream_destroy(struct stream *st)
{
    if (!st)
        return;
    for (uint32_t i = 0; i < st->nchunks; i++)
        chunk_release(st->chunks[i]);
    free(st->chunks);
    free(st);
}

uint64_t stream_mem(const struct stream *st)
{
    uint64_t m = sizeof(*st) + (uint64_t)st->cap * sizeof(struct chunk *);
    for (uint32_t i = 0; i < st->nchunks; i++)
        m += sizeof(struct chunk) + st->chunks[i]->cap;
    return m;
}

void do_stream_range(struct stream *st, uint64_t off, uint64_t len, store_piece_fn fn, void *ctx)
{
    while (len > 0 && off < st->len) {
        struct chunk *c = st->chunks[off / STREAM_CHUNK];
        uint32_t in = (uint32_t)(off % STREAM_CHUNK);
        uint64_t n = c->len - in;
        if (n > len)
            n = len;
        __atomic_add_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL);
        fn(ctx, c->data + in, (size_t)n, chunk_release, c);
        off += n;
        len -= n;
    }
}
