/* Batches: requests encoded into the batch's own buffer, sent with one write loop, and their
 * replies read back in order (pipelining). */
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"

/* One request of the batch: its op and id, and how many result slots its reply fills (1,
 * or an MGET's key count). */
struct cc_batch_req {
    int op;
    uint32_t nres;
    uint64_t id;
};

struct cc_batch {
    cc_client *c;
    struct cc_buf buf;
    struct cc_batch_req *reqs;
    size_t n, cap; /* requests */
    size_t nres;   /* result slots (cc_batch_count) */
};

cc_batch *cc_batch_create(cc_client *c)
{
    cc_batch *b = calloc(1, sizeof(*b));
    if (b)
        b->c = c;
    return b;
}

void cc_batch_destroy(cc_batch **bp)
{
    cc_batch *b = *bp;
    if (!b)
        return;
    free(b->buf.data);
    free(b->reqs);
    free(b);
    *bp = NULL;
}

size_t cc_batch_count(const cc_batch *b) { return b->nres; }

/* Encode into the batch buffer with the client's packer by swapping buffers. */
static size_t _begin(cc_batch *b, int op, uint32_t nargs, struct cc_buf *saved)
{
    *saved = b->c->out;
    b->c->out = b->buf;
    uint64_t id;
    size_t start = cc_req_begin(b->c, op, nargs, &id);
    b->reqs[b->n].id = id;
    b->reqs[b->n].op = op;
    b->reqs[b->n].nres = 1;
    return start;
}

static int _end(cc_batch *b, size_t start, struct cc_buf *saved)
{
    cc_req_end(b->c, start);
    b->buf = b->c->out;
    b->c->out = *saved;
    b->nres += b->reqs[b->n].nres;
    b->n++;
    return CC_OK;
}

static int _reserve(cc_batch *b)
{
    if (b->n < b->cap)
        return CC_OK;
    size_t ncap = b->cap ? b->cap * 2 : 16;
    struct cc_batch_req *reqs = realloc(b->reqs, ncap * sizeof(*reqs));
    if (!reqs)
        return CC_E_CLIENT_NOMEM;
    b->reqs = reqs;
    b->cap = ncap;
    return CC_OK;
}

#define BATCH_PREP(b, key, klen)                   \
    do {                                           \
        if (!(key) || (klen) == 0)                 \
            return CC_E_CLIENT_ARGS;               \
        if (_reserve(b) != CC_OK)                  \
            return CC_E_CLIENT_NOMEM;              \
    } while (0)

int cc_batch_get(cc_batch *b, const void *key, size_t klen)
{
    BATCH_PREP(b, key, klen);
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_GET, 1, &saved);
    cc_pack_bytes(b->c, key, klen);
    return _end(b, s, &saved);
}

int cc_batch_set(cc_batch *b, const void *key, size_t klen, const cc_value *v, uint64_t ttl_ms)
{
    BATCH_PREP(b, key, klen);
    if (cc_check_value(v) != CC_OK)
        return CC_E_CLIENT_ARGS;
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_SET, 3, &saved);
    cc_pack_bytes(b->c, key, klen);
    cc_pack_value(b->c, v);
    msgpack_pack_uint64(&b->c->pk, ttl_ms);
    return _end(b, s, &saved);
}

int cc_batch_del(cc_batch *b, const void *key, size_t klen)
{
    BATCH_PREP(b, key, klen);
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_DEL, 1, &saved);
    cc_pack_bytes(b->c, key, klen);
    return _end(b, s, &saved);
}

int cc_batch_set_ex(cc_batch *b, const void *key, size_t klen, const cc_value *v,
                    uint64_t ttl_ms, unsigned flags, uint64_t cas)
{
    BATCH_PREP(b, key, klen);
    if (cc_check_value(v) != CC_OK)
        return CC_E_CLIENT_ARGS;
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_SET, 5, &saved);
    cc_pack_bytes(b->c, key, klen);
    cc_pack_value(b->c, v);
    msgpack_pack_uint64(&b->c->pk, ttl_ms);
    msgpack_pack_unsigned_int(&b->c->pk, flags);
    msgpack_pack_uint64(&b->c->pk, cas);
    return _end(b, s, &saved);
}

static int _counter(cc_batch *b, int op, const void *key, size_t klen, int64_t delta,
                    int64_t initial, uint64_t ttl_ms, bool full)
{
    BATCH_PREP(b, key, klen);
    struct cc_buf saved;
    size_t s = _begin(b, op, full ? 4 : 2, &saved);
    cc_pack_bytes(b->c, key, klen);
    msgpack_pack_int64(&b->c->pk, delta);
    if (full) {
        msgpack_pack_int64(&b->c->pk, initial);
        msgpack_pack_uint64(&b->c->pk, ttl_ms);
    }
    return _end(b, s, &saved);
}

int cc_batch_incr(cc_batch *b, const void *key, size_t klen, int64_t delta)
{
    return _counter(b, CC_OP_INCR, key, klen, delta, 0, 0, false);
}

int cc_batch_decr(cc_batch *b, const void *key, size_t klen, int64_t delta)
{
    return _counter(b, CC_OP_DECR, key, klen, delta, 0, 0, false);
}

int cc_batch_incr_ex(cc_batch *b, const void *key, size_t klen, int64_t delta, int64_t initial,
                     uint64_t ttl_ms)
{
    return _counter(b, CC_OP_INCR, key, klen, delta, initial, ttl_ms, true);
}

int cc_batch_decr_ex(cc_batch *b, const void *key, size_t klen, int64_t delta, int64_t initial,
                     uint64_t ttl_ms)
{
    return _counter(b, CC_OP_DECR, key, klen, delta, initial, ttl_ms, true);
}

int cc_batch_ttl(cc_batch *b, const void *key, size_t klen)
{
    BATCH_PREP(b, key, klen);
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_TTL, 1, &saved);
    cc_pack_bytes(b->c, key, klen);
    return _end(b, s, &saved);
}

int cc_batch_touch(cc_batch *b, const void *key, size_t klen, uint64_t ttl_ms)
{
    BATCH_PREP(b, key, klen);
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_TOUCH, 2, &saved);
    cc_pack_bytes(b->c, key, klen);
    msgpack_pack_uint64(&b->c->pk, ttl_ms);
    return _end(b, s, &saved);
}

int cc_batch_exists(cc_batch *b, const void *key, size_t klen)
{
    BATCH_PREP(b, key, klen);
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_EXISTS, 1, &saved);
    cc_pack_bytes(b->c, key, klen);
    return _end(b, s, &saved);
}

int cc_batch_mget(cc_batch *b, size_t n, const void *const *keys, const size_t *klens)
{
    if (n == 0 || !keys || !klens)
        return CC_E_CLIENT_ARGS;
    for (size_t i = 0; i < n; i++)
        if (!keys[i] || klens[i] == 0)
            return CC_E_CLIENT_ARGS;
    /* the server takes at most max_request_keys per MGET (HELLO says how many): more go in
     * several MGETs of the batch, their results still one per key, in order */
    if (!b->c->max_request_keys && n > 1)
        cc_conn_ensure(b->c); /* an error shows at cc_batch_exec */
    size_t piece = b->c->max_request_keys && n > b->c->max_request_keys
                       ? (size_t)b->c->max_request_keys
                       : n;
    if (piece > UINT32_MAX)
        piece = UINT32_MAX;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < piece ? n - done : piece;
        if (_reserve(b) != CC_OK)
            return CC_E_CLIENT_NOMEM;
        struct cc_buf saved;
        size_t s = _begin(b, CC_OP_MGET, 1, &saved);
        b->reqs[b->n].nres = (uint32_t)k;
        msgpack_pack_array(&b->c->pk, k);
        for (size_t i = done; i < done + k; i++)
            cc_pack_bytes(b->c, keys[i], klens[i]);
        _end(b, s, &saved);
        done += k;
    }
    return CC_OK;
}

/* Decode the reply of an MGET into its nres result slots: a hit is CC_OK with the item, a
 * miss CC_NOT_FOUND (as cc_batch_get answers). The items share the reply body. */
static int _decode_mget(cc_client *c, struct cc_reply *r, cc_result *res, uint32_t nres)
{
    uint32_t m;
    cc_item *items = calloc(nres, sizeof(*items));
    if (!items) {
        cc_reply_free(r);
        return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory");
    }
    if (!mp_read_array(&r->rest, &m) || m != nres)
        goto bad;
    for (uint32_t i = 0; i < nres; i++) {
        uint32_t four;
        if (mp_read_nil(&r->rest))
            continue;
        if (!mp_read_array(&r->rest, &four) || four != 4 ||
            cc_decode_item(&r->rest, &items[i]) != CC_OK)
            goto bad;
    }
    if (cc_items_adopt(items, nres, r) != CC_OK) {
        cc_reply_free(r);
        free(items);
        return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < nres; i++) {
        res[i].status = items[i].found ? CC_OK : CC_NOT_FOUND;
        res[i].item = items[i];
    }
    free(items);
    return CC_OK;
bad:
    free(items);
    cc_reply_free(r);
    return cc_fail(c, CC_E_BAD_REPLY, "malformed MGET reply in a batch");
}

/* Decode one reply's results into res. */
static int _decode(cc_client *c, int op, struct cc_reply *r, cc_result *res)
{
    if (r->status != CC_OK) {
        cc_reply_free(r);
        return CC_OK;
    }
    bool ok = true;
    if (op == CC_OP_GET) {
        ok = cc_decode_item(&r->rest, &res->item) == CC_OK;
        if (ok && cc_items_adopt(&res->item, 1, r) != CC_OK) { /* out of memory, not a bad reply */
            cc_reply_free(r);
            memset(&res->item, 0, sizeof(res->item));
            return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory");
        }
    } else if (op == CC_OP_INCR || op == CC_OP_DECR || op == CC_OP_TTL) {
        ok = mp_read_int(&r->rest, &res->num);
    } else if (op == CC_OP_TOUCH) {
        res->num = 0; /* no result */
    } else {
        uint64_t u;
        ok = mp_read_uint(&r->rest, &u);
        res->num = (int64_t)u;
    }
    cc_reply_free(r);
    if (!ok) {
        memset(&res->item, 0, sizeof(res->item));
        return cc_fail(c, CC_E_BAD_REPLY, "malformed reply in a batch");
    }
    return CC_OK;
}

int cc_batch_exec(cc_batch *b, cc_result *results)
{
    cc_client *c = b->c;
    size_t n = b->n, nres = b->nres;
    memset(results, 0, nres * sizeof(*results));
    b->n = 0;
    b->nres = 0;
    int st = cc_conn_ensure(c);
    if (st == CC_OK) {
        struct cc_buf saved = c->out;
        c->out = b->buf;
        st = cc_conn_send(c, cc_deadline(c->io_timeout_ms));
        b->buf = c->out;
        c->out = saved;
    }
    b->buf.len = 0;
    size_t i = 0, slot = 0;
    for (; st == CC_OK && i < n; i++) {
        const struct cc_batch_req *q = &b->reqs[i];
        struct cc_reply r;
        st = cc_conn_recv(c, &r, cc_deadline(c->io_timeout_ms));
        if (st != CC_OK)
            break;
        int rs = cc_reply_parse(c, &r, q->id);
        if (rs >= 200 || (cc_status_is_error(rs) && r.id != q->id && r.id != 0)) {
            st = rs;
            break;
        }
        if (q->op == CC_OP_MGET && rs == CC_OK) {
            st = _decode_mget(c, &r, &results[slot], q->nres);
        } else {
            for (uint32_t k = 0; k < q->nres; k++)
                results[slot + k].status = rs;
            if (!cc_status_is_error(rs))
                st = _decode(c, q->op, &r, &results[slot]);
        }
        if (st != CC_OK) {
            /* the results of this request are not there: its slots say why */
            for (uint32_t k = 0; k < q->nres; k++) {
                cc_item_release(&results[slot + k].item);
                results[slot + k].status = st;
            }
        }
        slot += q->nres;
    }
    for (; slot < nres; slot++)
        results[slot].status = st;
    return st;
}
