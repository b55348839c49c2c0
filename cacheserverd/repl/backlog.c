/* The backlog ring (backlog.h). Each record is contiguous in the ring: when one does not fit
 * before the end, the rest of the ring is padding and it starts again at the beginning.
 *
 *   [hdr: len flags ns klen seq wall_ms hash][key bytes][change fields, repl_change_pack]
 *
 * len covers all of it, rounded up to 8. The coalescing index maps the top bits of a key's
 * hash to the offset of the last record written for some key there; it is a hint, checked
 * against the record's own key before anything is marked. */
#include "backlog.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/buffer.h>

#include "clock.h"

#define REC_PAD 1u        /* padding to the end of the ring */
#define REC_SUPERSEDED 2u /* a later record changes the same key */
#define INDEX_BITS 16

struct rec_hdr {
    uint32_t len;
    uint16_t flags;
    uint16_t ns_len;
    uint32_t klen;
    uint32_t body_len;
    uint64_t seq;
    uint64_t wall_ms;
    uint64_t hash;
};

struct backlog {
    pthread_mutex_t lock;
    uint8_t *ring;
    uint64_t cap;
    uint64_t id;
    uint64_t start;  /* offset of the oldest record kept */
    uint64_t head;   /* offset of the next record */
    uint64_t seq;    /* last sequence number given */
    uint64_t max_stamp;
    uint64_t keep_seq; /* records up to this seq are not superseded (backlog_wait_mark) */
    uint64_t index[1u << INDEX_BITS]; /* offset + 1 of a record of a key there, 0 = none */
    struct backlog_stats st;
};

static inline uint64_t _align8(uint64_t v) { return (v + 7) & ~(uint64_t)7; }

static uint64_t _cap(uint64_t cap)
{
    if (cap < 65536)
        cap = 65536;
    return cap & ~(uint64_t)7;
}

struct backlog *backlog_new(uint64_t cap)
{
    cap = _cap(cap);
    struct backlog *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->ring = malloc(cap);
    if (!b->ring) {
        free(b);
        return NULL;
    }
    b->cap = cap;
    if (getrandom(&b->id, sizeof(b->id), 0) != sizeof(b->id))
        b->id = clock_wall_ms() ^ ((uint64_t)(uintptr_t)b << 20);
    if (!b->id)
        b->id = 1;
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void backlog_free(struct backlog *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b->ring);
    free(b);
}

uint64_t backlog_id(const struct backlog *b) { return b->id; }

size_t backlog_max_record(const struct backlog *b) { return (size_t)(b->cap / 8); }

static inline struct rec_hdr *_at(struct backlog *b, uint64_t off)
{
    return (struct rec_hdr *)(b->ring + off % b->cap);
}

/* Bytes from off to the end of the ring. */
static inline uint64_t _room_to_end(const struct backlog *b, uint64_t off)
{
    return b->cap - off % b->cap;
}

/* The record at off (inside the ring) spans how many bytes, padding included? */
static uint64_t _span(struct backlog *b, uint64_t off)
{
    if (_room_to_end(b, off) < sizeof(struct rec_hdr))
        return _room_to_end(b, off); /* too small for a header: implicit padding */
    return _at(b, off)->len;
}

/* Drop the oldest records until `need` more bytes fit. */
static void _make_room(struct backlog *b, uint64_t need)
{
    while (b->head + need - b->start > b->cap)
        b->start += _span(b, b->start);
}


bool backlog_append(struct backlog *b, const struct repl_change *c, uint64_t hash)
{
    bool keyed = c->op != REPL_OP_FLUSH;
    size_t klen = keyed ? c->klen : 0;
    uint64_t bound = _align8(sizeof(struct rec_hdr) + c->nslen + klen + repl_change_bound(c));
    if (bound > backlog_max_record(b)) {
        __atomic_fetch_add(&b->st.too_large, 1, __ATOMIC_RELAXED);
        return false;
    }
    pthread_mutex_lock(&b->lock);
    uint64_t room = _room_to_end(b, b->head);
    if (room < bound) { /* pad to the end of the ring */
        _make_room(b, room);
        if (room >= sizeof(struct rec_hdr)) {
            struct rec_hdr *pad = _at(b, b->head);
            memset(pad, 0, sizeof(*pad));
            pad->len = (uint32_t)room;
            pad->flags = REC_PAD;
        }
        b->head += room;
    }
    _make_room(b, bound);
    struct rec_hdr *h = _at(b, b->head);
    uint8_t *p = (uint8_t *)(h + 1);
    if (c->nslen)
        memcpy(p, c->ns, c->nslen);
    if (klen) /* a FLUSH has no key (NULL) */
        memcpy(p + c->nslen, c->key, klen);
    size_t body = repl_change_pack(c, p + c->nslen + klen);
    h->len = (uint32_t)_align8(sizeof(*h) + c->nslen + klen + body);
    h->flags = 0;
    h->ns_len = (uint16_t)c->nslen;
    h->klen = (uint32_t)klen;
    h->body_len = (uint32_t)body;
    h->seq = ++b->seq;
    h->wall_ms = clock_wall_ms();
    h->hash = hash;
    if (keyed) {
        uint64_t *slot = &b->index[hash >> (64 - INDEX_BITS)];
        if (*slot && *slot - 1 >= b->start) {
            struct rec_hdr *old = _at(b, *slot - 1);
            const uint8_t *ok = (const uint8_t *)(old + 1);
            /* an APPEND takes nothing's place: the bytes before it must arrive too */
            if (c->op != REPL_OP_APPEND && !(old->flags & REC_PAD) && old->seq > b->keep_seq &&
                old->hash == hash &&
                old->klen == klen &&
                old->ns_len == c->nslen && !memcmp(ok, c->ns, c->nslen) &&
                !memcmp(ok + c->nslen, c->key, klen)) {
                old->flags |= REC_SUPERSEDED;
                b->st.superseded++;
            }
        }
        *slot = b->head + 1;
    }
    b->head += h->len;
    b->st.records++;
    if (c->stamp > b->max_stamp)
        b->max_stamp = c->stamp;
    pthread_mutex_unlock(&b->lock);
    return true;
}

struct backlog_pos backlog_head(struct backlog *b)
{
    pthread_mutex_lock(&b->lock);
    struct backlog_pos p = {b->head, b->seq};
    pthread_mutex_unlock(&b->lock);
    return p;
}

uint64_t backlog_wait_mark(struct backlog *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t head = b->head;
    b->keep_seq = b->seq;
    pthread_mutex_unlock(&b->lock);
    return head;
}

bool backlog_has(struct backlog *b, uint64_t offset)
{
    pthread_mutex_lock(&b->lock);
    bool ok = offset >= b->start && offset <= b->head;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

int backlog_read(struct backlog *b, struct backlog_pos *pos, struct evbuffer *out, size_t fill)
{
    int rc = 0;
    pthread_mutex_lock(&b->lock);
    if (pos->offset < b->start || pos->offset > b->head) {
        pthread_mutex_unlock(&b->lock);
        return -1;
    }
    while (pos->offset < b->head && evbuffer_get_length(out) <= fill) {
        uint64_t span = _span(b, pos->offset);
        if (_room_to_end(b, pos->offset) >= sizeof(struct rec_hdr)) {
            struct rec_hdr *h = _at(b, pos->offset);
            if (!(h->flags & REC_PAD)) {
                pos->seq = h->seq;
                if (!(h->flags & REC_SUPERSEDED)) {
                    const uint8_t *body = (const uint8_t *)(h + 1) + h->ns_len + h->klen;
                    if (repl_send_rec(out, pos->offset + span, h->seq, body, h->body_len) != 0) {
                        rc = -1;
                        break;
                    }
                }
            }
        }
        pos->offset += span;
        rc = 1;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

uint64_t backlog_first_time(struct backlog *b, uint64_t offset)
{
    uint64_t t = 0;
    pthread_mutex_lock(&b->lock);
    if (offset < b->start)
        offset = b->start;
    while (offset < b->head) {
        if (_room_to_end(b, offset) >= sizeof(struct rec_hdr) && !(_at(b, offset)->flags & REC_PAD)) {
            t = _at(b, offset)->wall_ms;
            break;
        }
        offset += _span(b, offset);
    }
    pthread_mutex_unlock(&b->lock);
    return t;
}

void backlog_stats(struct backlog *b, struct backlog_stats *out)
{
    pthread_mutex_lock(&b->lock);
    /* field by field: too_large is added to without the lock, so not part of a plain copy */
    out->records = b->st.records;
    out->superseded = b->st.superseded;
    out->bytes = b->head - b->start;
    pthread_mutex_unlock(&b->lock);
    out->too_large = __atomic_load_n(&b->st.too_large, __ATOMIC_RELAXED);
}

uint64_t backlog_max_stamp(struct backlog *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t v = b->max_stamp;
    pthread_mutex_unlock(&b->lock);
    return v;
}

/* What a saved backlog starts with. */
struct saved_hdr {
    uint64_t cap, id, start, head, seq, max_stamp;
};

int backlog_save(struct backlog *b, FILE *f)
{
    pthread_mutex_lock(&b->lock);
    struct saved_hdr h = {b->cap, b->id, b->start, b->head, b->seq, b->max_stamp};
    int rc = fwrite(&h, sizeof(h), 1, f) == 1 ? 0 : -1;
    /* the live bytes, in offset order: up to the end of the ring, then from its start */
    for (uint64_t off = b->start; rc == 0 && off < b->head;) {
        uint64_t n = _room_to_end(b, off);
        if (n > b->head - off)
            n = b->head - off;
        if (fwrite(b->ring + off % b->cap, 1, n, f) != n)
            rc = -1;
        off += n;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

struct backlog *backlog_load(FILE *f, uint64_t cap)
{
    struct saved_hdr h;
    cap = _cap(cap);
    if (fread(&h, sizeof(h), 1, f) != 1 || h.cap != cap || h.start > h.head ||
        h.head - h.start > cap || !h.id)
        return NULL;
    struct backlog *b = backlog_new(cap);
    if (!b)
        return NULL;
    b->id = h.id;
    b->start = b->head = h.start;
    for (uint64_t off = h.start; off < h.head;) {
        uint64_t n = _room_to_end(b, off);
        if (n > h.head - off)
            n = h.head - off;
        if (fread(b->ring + off % cap, 1, n, f) != n) {
            backlog_free(b);
            return NULL;
        }
        off += n;
    }
    /* every record must lie inside what was read: a torn file is no backlog */
    for (uint64_t off = h.start; off < h.head;) {
        uint64_t span = _span(b, off);
        if (span == 0 || span % 8 || span > h.head - off) {
            backlog_free(b);
            return NULL;
        }
        off += span;
    }
    b->head = h.head;
    b->seq = h.seq;
    b->max_stamp = h.max_stamp;
    return b;
}
