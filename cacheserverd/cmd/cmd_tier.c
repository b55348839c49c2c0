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

/* Record k to be loaded before the request runs again. */
static void _need(struct req *q, const struct store_key *k)
{
    if (q->nneeds == q->capneeds) {
        uint32_t ncap = q->capneeds ? q->capneeds * 2 : 4;
        struct disk_need *nn = realloc(q->needs, ncap * sizeof(*nn));
        if (!nn) {
            q->needs_failed = true;
            return;
        }
        q->needs = nn;
        q->capneeds = ncap;
    }
    uint8_t *key = malloc(k->len);
    if (!key) {
        q->needs_failed = true;
        return;
    }
    memcpy(key, k->data, k->len);
    q->needs[q->nneeds++] = (struct disk_need){k->ns, k->len, key};
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
    int attempt;
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
    free(l->one);
    free(l);
}

/* On the worker: put what was found in memory, then run the request again. */
static void _load_fill(void *arg, struct core_out *out)
{
    struct load *l = arg;
    if (out) {
        for (uint32_t i = 0; i < l->n; i++) {
            struct tiering_result *res = l->one[i].res;
            if (res && res->status == TIER_FOUND)
                tiering_load(l->needs[i].ns, l->needs[i].key, l->needs[i].klen, res);
        }
        /* errors (a checksum mismatch) are not loaded: the run sees a miss */
        cmd_dispatch(l->s, l->body, l->len, out, l->attempt + 1);
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
    l->s = s;
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
        struct store_key k;
        store_key_init(&k, l->needs[i].ns, l->needs[i].key, l->needs[i].klen);
        if (!tiering_read(k.ns, k.data, k.len, k.hash, _load_read, &one[i]))
            atomic_fetch_sub(&l->pending, 1); /* gone from disk meanwhile: the rerun sees it */
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
    char err[200];
    size_t len;
    uint8_t *frame;
};

static void _held_fill(void *arg, struct core_out *out)
{
    struct held *h = arg;
    if (out) {
        if (h->ok) {
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

static bool _hold_until_durable(struct req *q, struct reply *r, uint64_t ticket)
{
    struct held *h = calloc(1, sizeof(*h));
    if (!h)
        return false;
    h->defer = core_defer_begin(q->out);
    if (!h->defer) {
        free(h);
        return false;
    }
    h->id = q->id;
    h->frame = reply_take(r, &h->len);
    if (!h->frame) { /* r was discarded: answer with what we know */
        h->ok = false;
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
    if (q->nneeds || q->needs_failed) {
        reply_discard(r);
        bool started = !q->needs_failed && q->attempt + 1 < MAX_ATTEMPTS &&
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
    return ticket && _hold_until_durable(q, r, ticket);
}
