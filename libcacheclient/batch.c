/* Batches: requests encoded into the batch's own buffer, sent with one write loop, and their
 * replies read back in order (pipelining). */
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"

struct cc_batch {
    cc_client *c;
    struct cc_buf buf;
    int *ops;
    uint64_t *ids;
    size_t n, cap;
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
    free(b->ops);
    free(b->ids);
    free(b);
    *bp = NULL;
}

size_t cc_batch_count(const cc_batch *b) { return b->n; }

/* Encode into the batch buffer with the client's packer by swapping buffers. */
static size_t _begin(cc_batch *b, int op, uint32_t nargs, struct cc_buf *saved)
{
    *saved = b->c->out;
    b->c->out = b->buf;
    uint64_t id;
    size_t start = cc_req_begin(b->c, op, nargs, &id);
    b->ids[b->n] = id;
    b->ops[b->n] = op;
    return start;
}

static int _end(cc_batch *b, size_t start, struct cc_buf *saved)
{
    cc_req_end(b->c, start);
    b->buf = b->c->out;
    b->c->out = *saved;
    b->n++;
    return CC_OK;
}

static int _reserve(cc_batch *b)
{
    if (b->n < b->cap)
        return CC_OK;
    size_t ncap = b->cap ? b->cap * 2 : 16;
    int *ops = realloc(b->ops, ncap * sizeof(*ops));
    if (!ops)
        return CC_E_CLIENT_NOMEM;
    b->ops = ops;
    uint64_t *ids = realloc(b->ids, ncap * sizeof(*ids));
    if (!ids)
        return CC_E_CLIENT_NOMEM;
    b->ids = ids;
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

int cc_batch_incr(cc_batch *b, const void *key, size_t klen, int64_t delta)
{
    BATCH_PREP(b, key, klen);
    struct cc_buf saved;
    size_t s = _begin(b, CC_OP_INCR, 2, &saved);
    cc_pack_bytes(b->c, key, klen);
    msgpack_pack_int64(&b->c->pk, delta);
    return _end(b, s, &saved);
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
        ok = cc_decode_item(&r->rest, &res->item) == CC_OK &&
             cc_items_adopt(&res->item, 1, r) == CC_OK;
    } else if (op == CC_OP_INCR) {
        ok = mp_read_int(&r->rest, &res->num);
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
    size_t n = b->n;
    memset(results, 0, n * sizeof(*results));
    b->n = 0;
    int st = cc_conn_ensure(c);
    if (st == CC_OK) {
        struct cc_buf saved = c->out;
        c->out = b->buf;
        st = cc_conn_send(c, cc_deadline(c->io_timeout_ms));
        b->buf = c->out;
        c->out = saved;
    }
    b->buf.len = 0;
    size_t i = 0;
    for (; st == CC_OK && i < n; i++) {
        struct cc_reply r;
        st = cc_conn_recv(c, &r, cc_deadline(c->io_timeout_ms));
        if (st != CC_OK)
            break;
        int rs = cc_reply_parse(c, &r, b->ids[i]);
        if (rs >= 200 || (cc_status_is_error(rs) && r.id != b->ids[i] && r.id != 0)) {
            st = rs;
            break;
        }
        results[i].status = rs;
        if (!cc_status_is_error(rs))
            st = _decode(c, b->ops[i], &r, &results[i]);
    }
    for (; i < n; i++)
        results[i].status = st;
    return st;
}
