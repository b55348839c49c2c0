/* Requests that wait for a disk tier (cmd-internal.h): keys and stream chunks read from disk
 * before a request runs again, and replies held until a sync-persisted change is durable.
 * Both use core's deferred replies, so only the waiting connection waits. */
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

enum disk_use {
    DISK_LOAD,   /* a key put in memory before the next run */
    DISK_ANSWER, /* a key whose result the next run answers from (cmd_disk_result) */
    DISK_CHUNK,  /* a stream chunk, kept for every later run (cmd_chunk_piece) */
};

/* One key or stream chunk a request reads from disk: recorded by a run, read on an I/O
 * thread, then handed to the next run. Reply pieces may hold it past the request. */
struct disk_read {
    int refs;                   /* atomic: the set it is in and each reply piece */
    uint8_t use;                /* enum disk_use */
    struct load *l;             /* while the read is in flight */
    struct tiering_result *res; /* NULL: out of memory */
    uint64_t sid;               /* DISK_CHUNK: stream id and chunk index */
    uint32_t idx;
    uint16_t ns;                /* a key */
    uint32_t klen;
    uint8_t key[];
};

struct disk_reads {
    uint32_t n;
    struct disk_read *v[];
};

static void _read_unref(void *arg)
{
    struct disk_read *d = arg;
    if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        tiering_result_free(d->res);
        free(d);
    }
}

static void _reads_free(struct disk_reads *set)
{
    for (uint32_t i = 0; set && i < set->n; i++)
        _read_unref(set->v[i]);
    free(set);
}

static void _needs_free(struct req *q)
{
    for (uint32_t i = 0; i < q->nneeds; i++)
        _read_unref(q->needs[i]);
    free(q->needs);
    q->needs = NULL;
    q->nneeds = q->capneeds = 0;
}

/* Record a read for the next run (needs_failed set when out of memory). */
static void _need(struct req *q, enum disk_use use, const struct store_key *k, uint64_t sid,
                  uint32_t idx)
{
    if (q->nneeds == q->capneeds) {
        uint32_t ncap = q->capneeds ? q->capneeds * 2 : 4;
        struct disk_read **nn = realloc(q->needs, ncap * sizeof(*nn));
        if (!nn) {
            q->needs_failed = true;
            return;
        }
        q->needs = nn;
        q->capneeds = ncap;
    }
    uint32_t klen = k ? k->len : 0;
    struct disk_read *d = malloc(sizeof(*d) + klen);
    if (!d) {
        q->needs_failed = true;
        return;
    }
    *d = (struct disk_read){.refs = 1, .use = (uint8_t)use, .sid = sid, .idx = idx};
    if (k) {
        d->ns = k->ns;
        d->klen = klen;
        memcpy(d->key, k->data, klen);
    }
    q->needs[q->nneeds++] = d;
}

static bool _is_key(const struct disk_read *d, const struct store_key *k)
{
    return d->use != DISK_CHUNK && d->ns == k->ns && d->klen == k->len &&
           memcmp(d->key, k->data, k->len) == 0;
}

bool cmd_need_disk(struct req *q, const struct store_key *k)
{
    if (!q->out || !tiering_enabled() || !tiering_on_disk(k->hash))
        return false;
    _need(q, DISK_LOAD, k, 0, 0);
    return true;
}

bool cmd_on_disk(struct req *q, const struct store_key *k, int st)
{
    if (st != STORE_ON_DISK)
        return false;
    _need(q, DISK_LOAD, k, 0, 0);
    return true;
}

bool cmd_read_disk(struct req *q, const struct store_key *k)
{
    if (!q->out || !tiering_enabled() || !tiering_on_disk(k->hash))
        return false;
    _need(q, DISK_ANSWER, k, 0, 0);
    return true;
}

bool cmd_disk_result(const struct req *q, const struct store_key *k,
                     const struct tiering_result **res)
{
    for (uint32_t i = 0; q->disk && i < q->disk->n; i++) {
        const struct disk_read *d = q->disk->v[i];
        if (d->use == DISK_ANSWER && _is_key(d, k)) {
            *res = d->res;
            return true;
        }
    }
    return false;
}

void cmd_reply_disk_bytes(const struct req *q, struct reply *r, const struct tiering_result *res)
{
    for (uint32_t i = 0; q->disk && i < q->disk->n; i++) {
        struct disk_read *d = q->disk->v[i];
        if (d->res == res) {
            __atomic_add_fetch(&d->refs, 1, __ATOMIC_ACQ_REL);
            reply_raw(r, res->data, res->len, _read_unref, d);
            return;
        }
    }
}

bool cmd_chunk_piece(void *ctx, uint64_t sid, uint32_t idx, uint32_t off, uint32_t len)
{
    struct cmd_chunk_ctx *c = ctx;
    struct req *q = c->q;
    for (uint32_t i = 0; q->disk && i < q->disk->n; i++) {
        struct disk_read *d = q->disk->v[i];
        if (d->use != DISK_CHUNK || d->sid != sid || d->idx != idx)
            continue;
        struct tiering_result *res = d->res;
        if (!res) { /* out of memory: E_NOMEM, not a disk error */
            q->needs_failed = true;
            return false;
        }
        if (res->status != TIER_FOUND || (uint64_t)off + len > res->len) {
            q->disk_error = res->status == TIER_ERROR ? res->err
                                                      : "a chunk of the stream is missing on disk";
            return false;
        }
        __atomic_add_fetch(&d->refs, 1, __ATOMIC_ACQ_REL);
        c->fn(c->ctx, res->data + off, len, _read_unref, d);
        return true;
    }
    for (uint32_t i = 0; i < q->nneeds; i++)
        if (q->needs[i]->use == DISK_CHUNK && q->needs[i]->sid == sid && q->needs[i]->idx == idx)
            return false; /* recorded already */
    _need(q, DISK_CHUNK, NULL, sid, idx);
    return false;
}

/* ---- reading, then running the request again ---- */

struct load {
    struct core_defer *defer;
    struct session *s;
    uint64_t id; /* the request's */
    int attempt;
    struct disk_reads *carry; /* chunks read for earlier runs (references taken) */
    atomic_uint pending;
    struct disk_read **v;     /* this round's reads */
    uint32_t n;
    size_t len;
    uint8_t body[];
};

static void _load_free(struct load *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i])
            _read_unref(l->v[i]);
    free(l->v);
    _reads_free(l->carry);
    free(l);
}

/* A key the request needs in memory could not be read (a checksum mismatch, an I/O error,
 * or no memory for the result: *status E_NOMEM then, else E_DISK): the request fails with
 * that error rather than running as if the key were missing. */
static const char *_key_error(const struct load *l, int *status)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const struct tiering_result *res = l->v[i]->res;
        if (l->v[i]->use != DISK_LOAD || (res && res->status != TIER_ERROR))
            continue;
        if (res)
            return res->err;
        *status = CC_E_NOMEM;
        return "out of memory reading a key from disk";
    }
    return NULL;
}

/* A key read to answer from that memory holds again (changed meanwhile): the next run
 * finds it there instead. */
static bool _back_in_memory(const struct disk_read *d)
{
    struct store_key k;
    struct item *it;
    store_key_init(&k, d->ns, d->key, d->klen);
    if (store_peek(&k, &it) != STORE_OK)
        return false;
    store_item_release(it);
    return true;
}

/* On the worker: put the keys to load in memory, then run the request again with what was
 * read for it. */
static void _load_fill(void *arg, struct core_out *out)
{
    struct load *l = arg;
    int status = CC_E_DISK;
    const char *err = out ? _key_error(l, &status) : NULL;
    if (err) {
        struct reply *r = reply_get();
        reply_error(r, l->id, status, "disk tier: %s", err);
        reply_finish(r, out);
    } else if (out) {
        uint32_t ncarry = l->carry ? l->carry->n : 0;
        struct disk_reads *set = calloc(1, sizeof(*set) + (ncarry + l->n) * sizeof(set->v[0]));
        if (set && ncarry) { /* the references move to the new set */
            memcpy(set->v, l->carry->v, ncarry * sizeof(set->v[0]));
            set->n = ncarry;
            l->carry->n = 0;
        }
        for (uint32_t i = 0; i < l->n; i++) {
            struct disk_read *d = l->v[i];
            if (d->use == DISK_LOAD) {
                if (d->res && d->res->status == TIER_FOUND)
                    tiering_load(d->ns, d->key, d->klen, d->res);
                continue;
            }
            if (!set || (d->use == DISK_ANSWER && _back_in_memory(d)))
                continue; /* the run finds it in memory, or asks for it again */
            set->v[set->n++] = d;
            l->v[i] = NULL;
        }
        cmd_dispatch(l->s, l->body, l->len, out, l->attempt + 1, set);
        _reads_free(set); /* the reply holds references to what it sends */
    }
    _load_free(l);
}

/* On an I/O thread. */
static void _load_read(void *arg, struct tiering_result *res)
{
    struct disk_read *d = arg;
    struct load *l = d->l;
    d->res = res;
    if (atomic_fetch_sub(&l->pending, 1) == 1)
        core_defer_complete(l->defer, _load_fill, l);
}

static bool _start_loads(struct session *s, struct req *q, const uint8_t *body, size_t len)
{
    struct load *l = calloc(1, sizeof(*l) + len);
    if (!l)
        return false;
    l->defer = core_defer_begin(q->out);
    if (!l->defer) {
        free(l);
        return false;
    }
    uint32_t nchunks = 0;
    for (uint32_t i = 0; q->disk && i < q->disk->n; i++)
        nchunks += q->disk->v[i]->use == DISK_CHUNK;
    if (nchunks) {
        l->carry = malloc(sizeof(*l->carry) + nchunks * sizeof(l->carry->v[0]));
        if (l->carry) {
            l->carry->n = 0;
            for (uint32_t i = 0; i < q->disk->n; i++) {
                struct disk_read *d = q->disk->v[i];
                if (d->use != DISK_CHUNK)
                    continue; /* a key's result serves the next run only */
                __atomic_add_fetch(&d->refs, 1, __ATOMIC_ACQ_REL);
                l->carry->v[l->carry->n++] = d;
            }
        }
    }
    l->s = s;
    l->id = q->id;
    l->attempt = q->attempt;
    l->v = q->needs;
    l->n = q->nneeds;
    l->len = len;
    memcpy(l->body, body, len);
    q->needs = NULL;
    q->nneeds = q->capneeds = 0;
    /* one more than the reads, dropped below: no read can complete the defer early */
    atomic_store(&l->pending, l->n + 1);
    for (uint32_t i = 0; i < l->n; i++) {
        struct disk_read *d = l->v[i];
        d->l = l;
        enum tiering_queued qd;
        if (d->use == DISK_CHUNK) {
            qd = tiering_read_chunk(d->sid, d->idx, _load_read, d);
        } else {
            struct store_key k;
            store_key_init(&k, d->ns, d->key, d->klen);
            qd = tiering_read(k.ns, k.data, k.len, k.hash, _load_read, d);
        }
        if (qd == TIERING_QUEUED)
            continue;
        /* Out of memory: no result, which is E_NOMEM. Else gone from disk meanwhile (the
         * key was written or deleted since the run that asked): an answer reads it as a miss,
         * and a load has nothing to load; the next run finds the key as it is now. */
        if (qd == TIERING_NOT_THERE && (d->res = calloc(1, sizeof(*d->res))))
            d->res->status = TIER_MISS;
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
        if (!h->frame) { /* the change was made; its reply could not be kept */
            struct reply *r = reply_get();
            reply_error(r, h->id, CC_E_NOMEM, "out of memory keeping the reply");
            reply_finish(r, out);
        } else if (h->ok || h->flow) {
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

static bool _writes(int op)
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
    if (!h->frame) { /* r was discarded: E_NOMEM (_held_fill) */
        core_defer_complete(h->defer, _held_fill, h);
        return true;
    }
    tiering_when_durable(ticket, _durable, h);
    return true;
}

bool cmd_tier_after(struct session *s, struct req *q, struct reply *r, const uint8_t *body,
                    size_t len)
{
    if (q->disk_error) {
        reply_discard(r);
        reply_error(r, q->id, CC_E_DISK, "stream on disk: %s", q->disk_error);
        _needs_free(q);
        return false;
    }
    if (q->nneeds || q->needs_failed) {
        reply_discard(r);
        bool keys = false;
        for (uint32_t i = 0; i < q->nneeds; i++)
            keys = keys || q->needs[i]->use != DISK_CHUNK;
        bool retry = q->attempt + 1 < (keys ? MAX_ATTEMPTS : MAX_CHUNK_RUNS);
        bool started = !q->needs_failed && retry && _start_loads(s, q, body, len);
        if (!started) {
            if (q->needs_failed || retry) /* recording or starting the reads ran out */
                reply_error(r, q->id, CC_E_NOMEM, "out of memory while loading keys from disk");
            else
                reply_error(r, q->id, CC_E_NOMEM,
                            "keys loaded from disk were evicted before the request could run: "
                            "memory is too small for this request");
        }
        _needs_free(q);
        if (started)
            return true;
    }
    if (!q->out || !_writes(q->op))
        return false;
    uint64_t ticket = tiering_durable_ticket();
    if (ticket)
        return _hold_until_durable(q, r, ticket, false);
    /* async persistence behind the connections: this write's reply waits for the writer
     * (flow control: the reply is the one the write made) instead of a later write being
     * dropped */
    ticket = tiering_backpressure_ticket();
    if (ticket)
        return _hold_until_durable(q, r, ticket, true);
    /* streams spilling faster than the disk takes them: this APPEND waits for the writer */
    ticket = q->op == CC_OP_APPEND ? tiering_stream_ticket() : 0;
    return ticket && _hold_until_durable(q, r, ticket, true);
}
