/* Requests that wait for a disk tier (cmd-internal.h): keys loaded from disk before a
 * request runs again, and replies held until a sync-persisted change is durable. Both use
 * core's deferred replies, so only the waiting connection waits. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-internal.h"
#include "tiering.h"

/* A request runs at most this many times: a key loaded for it may be evicted again before
 * it runs (memory far too small for the load); then it fails instead of going on. */
#define MAX_ATTEMPTS 3
/* Runs that only wait for stream chunks: chunks keep moving to disk while a range is read,
 * so a run may find more of them there; the chunks read are kept for every later run, so
 * each chunk is read at most once. */
#define MAX_CHUNK_RUNS 16

/* A free slot in q->needs, or NULL (needs_failed set). */
static struct disk_need *_need_slot(struct req *q)
{
    if (q->nneeds == q->capneeds) {
        uint32_t ncap = q->capneeds ? q->capneeds * 2 : 4;
        struct disk_need *nn = realloc(q->needs, ncap * sizeof(*nn));
        if (!nn) {
            q->needs_failed = true;
            return NULL;
        }
        q->needs = nn;
        q->capneeds = ncap;
    }
    return &q->needs[q->nneeds];
}

/* Record k to be loaded before the request runs again. */
static void _need(struct req *q, const struct store_key *k)
{
    struct disk_need *n = _need_slot(q);
    uint8_t *key = n ? malloc(k->len ? k->len : 1) : NULL;
    if (!key) {
        q->needs_failed = true;
        return;
    }
    memcpy(key, k->data, k->len);
    *n = (struct disk_need){.ns = k->ns, .klen = k->len, .key = key};
    q->nneeds++;
}

/* ---- stream chunks on disk ---- */

struct loaded_chunk {
    int refs; /* atomic: the set and each reply piece */
    uint64_t sid;
    uint32_t idx;
    struct tiering_result *res; /* TIER_FOUND: the chunk; else why it is missing */
};

struct loaded_chunks {
    uint32_t n;
    struct loaded_chunk *v[];
};

static void _chunk_release(void *arg)
{
    struct loaded_chunk *c = arg;
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        tiering_result_free(c->res);
        free(c);
    }
}

static void _chunks_free(struct loaded_chunks *set)
{
    for (uint32_t i = 0; set && i < set->n; i++)
        _chunk_release(set->v[i]);
    free(set);
}

bool cmd_chunk_piece(void *ctx, uint64_t sid, uint32_t idx, uint32_t off, uint32_t len)
{
    struct cmd_chunk_ctx *c = ctx;
    struct req *q = c->q;
    for (uint32_t i = 0; q->chunks && i < q->chunks->n; i++) {
        struct loaded_chunk *lc = q->chunks->v[i];
        if (lc->sid != sid || lc->idx != idx)
            continue;
        struct tiering_result *res = lc->res;
        if (!res || res->status != TIER_FOUND || (uint64_t)off + len > res->len) {
            q->disk_error = !res                       ? "out of memory reading a stream chunk"
                            : res->status == TIER_ERROR ? res->err
                                                        : "a chunk of the stream is missing on disk";
            return false;
        }
        __atomic_add_fetch(&lc->refs, 1, __ATOMIC_ACQ_REL);
        c->fn(c->ctx, res->data + off, len, _chunk_release, lc);
        return true;
    }
    for (uint32_t i = 0; i < q->nneeds; i++)
        if (!q->needs[i].key && q->needs[i].sid == sid && q->needs[i].idx == idx)
            return false; /* recorded already */
    struct disk_need *n = _need_slot(q);
    if (n) {
        *n = (struct disk_need){.sid = sid, .idx = idx};
        q->nneeds++;
    }
    return false;
}

bool cmd_need_disk(struct req *q, const struct store_key *k)
{
    if (!q->out || !tiering_enabled() || !tiering_on_disk(k->hash))
        return false;
    _need(q, k);
    return true;
}

bool cmd_on_disk(struct req *q, const struct store_key *k, int st)
{
    if (st != STORE_ON_DISK)
        return false;
    _need(q, k);
    return true;
}

static void _needs_free(struct disk_need *needs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(needs[i].key);
    free(needs);
}

/* ---- loading keys, then running the request again ---- */

struct load;

struct load_one {
    struct load *l;
    struct tiering_result *res;
};

struct load {
    struct core_defer *defer;
    struct session *s;
    uint64_t id; /* the request's */
    int attempt;
    struct loaded_chunks *carry; /* chunks read for earlier runs (references taken) */
    atomic_uint pending;
    struct disk_need *needs;
    uint32_t n;
    struct load_one *one;
    size_t len;
    uint8_t body[];
};

static void _load_free(struct load *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        tiering_result_free(l->one[i].res);
    _needs_free(l->needs, l->n);
    _chunks_free(l->carry);
    free(l->one);
    free(l);
}

/* A key the request needs could not be read (a checksum mismatch, an I/O error): the
 * request fails with that error rather than running as if the key were missing. */
static const char *_key_error(const struct load *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const struct tiering_result *res = l->one[i].res;
        if (l->needs[i].key && (!res || res->status == TIER_ERROR))
            return res ? res->err : "out of memory";
    }
    return NULL;
}

/* On the worker: put the keys found in memory, then run the request again with the stream
 * chunks read for it. */
static void _load_fill(void *arg, struct core_out *out)
{
    struct load *l = arg;
    const char *err = out ? _key_error(l) : NULL;
    if (err) {
        struct reply *r = reply_get();
        reply_error(r, l->id, CC_E_DISK, "disk tier: %s", err);
        reply_finish(r, out);
    } else if (out) {
        uint32_t ncarry = l->carry ? l->carry->n : 0;
        struct loaded_chunks *set = calloc(1, sizeof(*set) + (ncarry + l->n) * sizeof(set->v[0]));
        if (set && ncarry) { /* the references move to the new set */
            memcpy(set->v, l->carry->v, ncarry * sizeof(set->v[0]));
            set->n = ncarry;
            l->carry->n = 0;
        }
        for (uint32_t i = 0; i < l->n; i++) {
            struct tiering_result *res = l->one[i].res;
            if (l->needs[i].key) {
                if (res && res->status == TIER_FOUND)
                    tiering_load(l->needs[i].ns, l->needs[i].key, l->needs[i].klen, res);
                continue;
            }
            struct loaded_chunk *lc = set ? malloc(sizeof(*lc)) : NULL;
            if (!lc)
                continue; /* the run asks for it again */
            *lc = (struct loaded_chunk){1, l->needs[i].sid, l->needs[i].idx, res};
            l->one[i].res = NULL;
            set->v[set->n++] = lc;
        }
        cmd_dispatch(l->s, l->body, l->len, out, l->attempt + 1, set);
        _chunks_free(set); /* the reply holds references to what it sends */
    }
    _load_free(l);
}

/* On an I/O thread. */
static void _load_read(void *arg, struct tiering_result *res)
{
    struct load_one *o = arg;
    o->res = res;
    if (atomic_fetch_sub(&o->l->pending, 1) == 1)
        core_defer_complete(o->l->defer, _load_fill, o->l);
}

static bool _start_loads(struct session *s, struct req *q, const uint8_t *body, size_t len)
{
    struct load *l = calloc(1, sizeof(*l) + len);
    struct load_one *one = l ? calloc(q->nneeds, sizeof(*one)) : NULL;
    if (!one) {
        free(l);
        return false;
    }
    l->defer = core_defer_begin(q->out);
    if (!l->defer) {
        free(one);
        free(l);
        return false;
    }
    if (q->chunks && q->chunks->n) {
        l->carry = malloc(sizeof(*l->carry) + q->chunks->n * sizeof(l->carry->v[0]));
        if (l->carry) {
            l->carry->n = q->chunks->n;
            for (uint32_t i = 0; i < q->chunks->n; i++) {
                l->carry->v[i] = q->chunks->v[i];
                __atomic_add_fetch(&l->carry->v[i]->refs, 1, __ATOMIC_ACQ_REL);
            }
        }
    }
    l->s = s;
    l->id = q->id;
    l->attempt = q->attempt;
    l->needs = q->needs;
    l->n = q->nneeds;
    l->one = one;
    l->len = len;
    memcpy(l->body, body, len);
    q->needs = NULL;
    q->nneeds = q->capneeds = 0;
    /* one more than the reads, dropped below: no read can complete the defer early */
    atomic_store(&l->pending, l->n + 1);
    for (uint32_t i = 0; i < l->n; i++) {
        one[i].l = l;
        bool queued;
        if (l->needs[i].key) {
            struct store_key k;
            store_key_init(&k, l->needs[i].ns, l->needs[i].key, l->needs[i].klen);
            queued = tiering_read(k.ns, k.data, k.len, k.hash, _load_read, &one[i]);
        } else {
            queued = tiering_read_chunk(l->needs[i].sid, l->needs[i].idx, _load_read, &one[i]);
        }
        if (!queued) /* gone from disk meanwhile (the rerun sees it), or no memory */
            atomic_fetch_sub(&l->pending, 1);
    }
    if (atomic_fetch_sub(&l->pending, 1) == 1)
        core_defer_complete(l->defer, _load_fill, l);
    return true;
}

/* ---- replies held until durable ---- */

struct held {
    struct core_defer *defer;
    uint64_t id;
    bool ok;
    bool flow; /* held only to let the disk catch up: the reply stands either way */
    char err[200];
    size_t len;
    uint8_t *frame;
};

static void _held_fill(void *arg, struct core_out *out)
{
    struct held *h = arg;
    if (out) {
        if (h->ok || h->flow) {
            core_out_add(out, h->frame, h->len);
        } else {
            struct reply *r = reply_get();
            reply_error(r, h->id, CC_E_DISK,
                        "applied in memory but not durable (persist = sync): %s", h->err);
            reply_finish(r, out);
        }
    }
    free(h->frame);
    free(h);
}

static void _durable(void *arg, bool ok, const char *err)
{
    struct held *h = arg;
    h->ok = ok;
    if (!ok)
        snprintf(h->err, sizeof(h->err), "%s", err ? err : "write failed");
    core_defer_complete(h->defer, _held_fill, h);
}

static bool _writes(uint64_t op)
{
    switch (op) {
    case CC_OP_SET: case CC_OP_MSET: case CC_OP_DEL: case CC_OP_TOUCH: case CC_OP_INCR:
    case CC_OP_DECR: case CC_OP_APPEND: case CC_OP_FLUSH:
        return true;
    default:
        return false;
    }
}

static bool _hold_until_durable(struct req *q, struct reply *r, uint64_t ticket, bool flow)
{
    struct held *h = calloc(1, sizeof(*h));
    if (!h)
        return false;
    h->flow = flow;
    h->defer = core_defer_begin(q->out);
    if (!h->defer) {
        free(h);
        return false;
    }
    h->id = q->id;
    h->frame = reply_take(r, &h->len);
    if (!h->frame) { /* r was discarded: answer with what we know */
        h->ok = h->flow = false;
        snprintf(h->err, sizeof(h->err), "out of memory for the reply");
        core_defer_complete(h->defer, _held_fill, h);
        return true;
    }
    tiering_when_durable(ticket, _durable, h);
    return true;
}

bool cmd_tier_after(struct session *s, struct req *q, struct reply *r, uint64_t op,
                    const uint8_t *body, size_t len)
{
    if (q->disk_error) {
        reply_discard(r);
        reply_error(r, q->id, CC_E_DISK, "stream on disk: %s", q->disk_error);
        _needs_free(q->needs, q->nneeds);
        q->needs = NULL;
        q->nneeds = 0;
        return false;
    }
    if (q->nneeds || q->needs_failed) {
        reply_discard(r);
        bool keys = false;
        for (uint32_t i = 0; i < q->nneeds; i++)
            keys = keys || q->needs[i].key;
        bool started = !q->needs_failed &&
                       q->attempt + 1 < (keys ? MAX_ATTEMPTS : MAX_CHUNK_RUNS) &&
                       _start_loads(s, q, body, len);
        if (!started) {
            if (q->needs_failed)
                reply_error(r, q->id, CC_E_NOMEM, "out of memory while loading keys from disk");
            else
                reply_error(r, q->id, CC_E_NOMEM,
                            "keys loaded from disk were evicted before the request could run: "
                            "memory is too small for this request");
        }
        _needs_free(q->needs, q->nneeds);
        q->needs = NULL;
        q->nneeds = 0;
        if (started)
            return true;
    }
    if (!q->out || !_writes(op))
        return false;
    uint64_t ticket = tiering_durable_ticket();
    if (ticket)
        return _hold_until_durable(q, r, ticket, false);
    /* streams spilling faster than the disk takes them: this APPEND waits for the writer */
    ticket = op == CC_OP_APPEND ? tiering_stream_ticket() : 0;
    return ticket && _hold_until_durable(q, r, ticket, true);
}
