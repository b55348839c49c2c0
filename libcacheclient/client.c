/* The public operations of libcacheclient: each encodes one request into the client's
 * buffer, sends it, reads its reply and decodes the results (see docs/protocol.md). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client-internal.h"

void cc_options_init(cc_options *o)
{
    memset(o, 0, sizeof(*o));
    o->socket_path = CC_DEFAULT_SOCKET;
    o->connect_timeout_ms = 500;
    o->io_timeout_ms = 2000;
    o->shm_reads = 1;
}

static char *_dup(const char *s) { return s ? strdup(s) : NULL; }

cc_client *cc_client_create(const cc_options *opts)
{
    cc_options def;
    if (!opts) {
        cc_options_init(&def);
        opts = &def;
    }
    cc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = -1;
    c->hello_fd = -1;
    c->shm_reads = opts->shm_reads != 0;
    c->shm_ask = c->shm_reads;
    c->shm_ns = -2;
    c->socket_path = _dup(opts->socket_path ? opts->socket_path : CC_DEFAULT_SOCKET);
    c->ns = _dup(opts->ns && opts->ns[0] ? opts->ns : NULL);
    c->client_name = _dup(opts->client_name);
    c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 500;
    c->io_timeout_ms = opts->io_timeout_ms > 0 ? opts->io_timeout_ms : 2000;
    if (!c->socket_path || (opts->ns && opts->ns[0] && !c->ns) ||
        (opts->client_name && !c->client_name)) {
        cc_client_destroy(&c);
        return NULL;
    }
    return c;
}

void cc_client_destroy(cc_client **cp)
{
    cc_client *c = *cp;
    if (!c)
        return;
    if (c->fd >= 0)
        cc_shm_report_now(c, true); /* the process's unreported hits, if any */
    cc_disconnect(c);
    cc_shm_release(c);
    free(c->socket_path);
    free(c->ns);
    free(c->client_name);
    free(c->out.data);
    free(c->in.data);
    free(c);
    *cp = NULL;
}

int cc_connect(cc_client *c) { return cc_conn_ensure(c); }
const char *cc_errmsg(const cc_client *c) { return c->err; }
const char *cc_strstatus(int status) { return cc_status_name(status); }

/* Region hits (or a bad entry) wait to be reported: an SHM_REPORT goes before the request in
 * out, in the same write (docs/shm-reads.md, "Stats"). */
static void _prepend_report(cc_client *c)
{
    struct cc_buf req = cc_out_stash(c);
    c->report_id = cc_shm_report_pack(c);
    if (c->report_id && cc_buf_append(&c->out, req.data, req.len) == 0) {
        free(req.data);
        return;
    }
    c->report_id = 0; /* nothing to report, or no memory for it: the request alone */
    cc_out_restore(c, req);
}

/* The report's reply comes before the request's: read it and let it go. A connection error
 * is the request's too. */
static int _drop_report_reply(cc_client *c, int64_t deadline)
{
    uint64_t id = c->report_id;
    c->report_id = 0;
    char err[sizeof(c->err)];
    memcpy(err, c->err, sizeof(err));
    struct cc_reply r;
    int st = cc_conn_recv(c, &r, deadline);
    if (st != CC_OK)
        return st;
    st = cc_reply_parse(c, &r, id);
    if (st == CC_OK)
        cc_reply_free(&r);
    if (st >= 200 || c->fd < 0)
        return st;
    memcpy(c->err, err, sizeof(err)); /* the report's own error is not the caller's */
    return CC_OK;
}

int cc_roundtrip(cc_client *c, uint64_t want_id, struct cc_reply *r)
{
    int st = cc_conn_ensure(c);
    if (st != CC_OK)
        return st;
    if (c->shm && !c->in_hello && !c->report_id && cc_shm_report_due(c))
        _prepend_report(c);
    int64_t deadline = cc_deadline(c->io_timeout_ms);
    st = cc_conn_send(c, deadline);
    c->out.len = 0;
    if (st != CC_OK) {
        c->report_id = 0;
        return st;
    }
    if (c->report_id && (st = _drop_report_reply(c, deadline)) != CC_OK)
        return st;
    st = cc_conn_recv(c, r, deadline);
    if (st != CC_OK)
        return st;
    return cc_reply_parse(c, r, want_id);
}

/* Start a request in an empty buffer. */
static size_t _begin(cc_client *c, int op, uint32_t nargs, uint64_t *id)
{
    c->out.len = 0;
    c->err[0] = '\0';
    return cc_req_begin(c, op, nargs, id);
}

/* cc_roundtrip for request id: CC_OK with the reply in *r (the caller frees it), or
 * another status with nothing left to free. */
static int _roundtrip_ok(cc_client *c, uint64_t id, struct cc_reply *r)
{
    int st = cc_roundtrip(c, id, r);
    if (st != CC_OK && !cc_status_is_error(st))
        cc_reply_free(r);
    return st;
}

/* Send the request and expect a reply with no results needed beyond its status. */
static int _simple(cc_client *c, size_t start, uint64_t id)
{
    cc_req_end(c, start);
    struct cc_reply r;
    int st = _roundtrip_ok(c, id, &r);
    if (st == CC_OK)
        cc_reply_free(&r);
    return st;
}

/* Send, and on CC_OK read one uint/int result. */
static int _with_number(cc_client *c, size_t start, uint64_t id, uint64_t *u, int64_t *i)
{
    cc_req_end(c, start);
    struct cc_reply r;
    int st = cc_roundtrip(c, id, &r);
    if (cc_status_is_error(st))
        return st;
    if (st == CC_OK) {
        bool ok = u ? mp_read_uint(&r.rest, u) : mp_read_int(&r.rest, i);
        if (!ok) {
            cc_reply_free(&r);
            return cc_fail(c, CC_E_BAD_REPLY, "reply lacks its number");
        }
    }
    cc_reply_free(&r);
    return st;
}

static bool _key_ok(cc_client *c, const void *key, size_t klen)
{
    if (!key || klen == 0) {
        cc_fail(c, CC_E_CLIENT_ARGS, "key must not be empty");
        return false;
    }
    return true;
}

static int _adopt(cc_client *c, cc_item *items, size_t n, struct cc_reply *r)
{
    if (cc_items_adopt(items, n, r) == CC_OK)
        return CC_OK;
    cc_reply_free(r);
    memset(items, 0, n * sizeof(*items));
    return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory");
}

#define CHECK_KEY(c, key, klen)          \
    do {                                 \
        if (!_key_ok(c, key, klen))      \
            return CC_E_CLIENT_ARGS;     \
    } while (0)

int cc_ping(cc_client *c)
{
    uint64_t id;
    size_t s = _begin(c, CC_OP_PING, 0, &id);
    return _simple(c, s, id);
}

int cc_select_ns(cc_client *c, const char *ns)
{
    if (!ns)
        ns = "";
    char *copy = ns[0] ? strdup(ns) : NULL;
    if (ns[0] && !copy)
        return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory");
    free(c->ns);
    c->ns = copy;
    cc_shm_ns_changed(c);
    c->ns_owed = false;
    if (c->fd < 0)
        return cc_conn_ensure(c); /* HELLO selects it */
    if (c->shm_reads && cc_shm_ns_known(c)) {
        /* reads may all come from the region: tell the server only before the next socket
         * request (cc_conn_ensure), so switching costs no round trip until one is needed */
        c->ns_owed = true;
        return CC_OK;
    }
    uint64_t id;
    size_t s = _begin(c, CC_OP_NAMESPACE, 1, &id);
    cc_pack_str(c, ns);
    return _simple(c, s, id);
}

/* Before a read that may come from the region: a client without one adopts its process's
 * region for the socket path, else connects (HELLO brings the region): the connection is
 * needed for a socket read anyway, so a new process's first read is a region hit when the key
 * is there. CC_OK, or the connection's error (the read fails with it, as through the socket). */
static int _shm_ready(cc_client *c)
{
    if (c->shm)
        return CC_OK;
    cc_shm_adopt(c);
    if (c->shm || c->fd >= 0 || !c->shm_ask)
        return CC_OK;
    return cc_conn_ensure(c);
}

int cc_get(cc_client *c, const void *key, size_t klen, cc_item *out)
{
    memset(out, 0, sizeof(*out));
    CHECK_KEY(c, key, klen);
    if (c->shm_reads) {
        int st = _shm_ready(c);
        if (st != CC_OK)
            return st;
        if (cc_shm_get(c, key, klen, out))
            return CC_OK;
    }
    cc_shm_count_socket(c, 1);
    uint64_t id;
    size_t s = _begin(c, CC_OP_GET, 1, &id);
    cc_pack_bytes(c, key, klen);
    cc_req_end(c, s);
    struct cc_reply r;
    int st = _roundtrip_ok(c, id, &r);
    if (st != CC_OK)
        return st;
    if (cc_decode_item(&r.rest, out) != CC_OK) {
        cc_reply_free(&r);
        memset(out, 0, sizeof(*out));
        return cc_fail(c, CC_E_BAD_REPLY, "malformed GET reply");
    }
    return _adopt(c, out, 1, &r);
}

/* The server takes at most max_request_keys keys per MGET, MSET, DEL or EXISTS (HELLO says
 * how many): a longer call is sent as several requests of that many, in order. The size of
 * the first piece of n keys (n when the server has no limit, or does not say). */
static size_t _piece(cc_client *c, size_t n)
{
    if (!c->max_request_keys && n > 1)
        cc_conn_ensure(c); /* its HELLO says the limit; an error shows in the request */
    return c->max_request_keys && n > c->max_request_keys ? (size_t)c->max_request_keys : n;
}

static int _mget_piece(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                       cc_item *out);

static int _mget_socket(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                        cc_item *out);

/* The keys the region answered are filled in out; the others go to the server in one MGET
 * (in pieces as _mget_socket sends them), their results put back in order. */
static int _mget_region(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                        cc_item *out)
{
    size_t *idx = malloc(n * sizeof(*idx));
    if (!idx)
        return _mget_socket(c, n, keys, klens, out);
    size_t miss = 0;
    for (size_t i = 0; i < n; i++)
        if (!cc_shm_get(c, keys[i], klens[i], &out[i]))
            idx[miss++] = i;
    int st = CC_OK;
    if (miss == n) {
        st = _mget_socket(c, n, keys, klens, out);
    } else if (miss) {
        const void **mk = malloc(miss * sizeof(*mk));
        size_t *ml = malloc(miss * sizeof(*ml));
        cc_item *mo = calloc(miss, sizeof(*mo)); /* misses stay zeroed items */
        if (!mk || !ml || !mo) {
            st = cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory");
        } else {
            for (size_t j = 0; j < miss; j++) {
                mk[j] = keys[idx[j]];
                ml[j] = klens[idx[j]];
            }
            st = _mget_socket(c, miss, mk, ml, mo);
            if (st == CC_OK)
                for (size_t j = 0; j < miss; j++)
                    out[idx[j]] = mo[j];
        }
        free(mk);
        free(ml);
        free(mo);
        if (st != CC_OK)
            for (size_t i = 0; i < n; i++)
                cc_item_release(&out[i]);
    }
    free(idx);
    return st;
}

int cc_mget(cc_client *c, size_t n, const void *const *keys, const size_t *klens, cc_item *out)
{
    memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        CHECK_KEY(c, keys[i], klens[i]);
    if (c->shm_reads && n) {
        int st = _shm_ready(c);
        if (st != CC_OK)
            return st;
        return _mget_region(c, n, keys, klens, out);
    }
    return _mget_socket(c, n, keys, klens, out);
}

/* Every key through the socket, in requests of at most max_request_keys. */
static int _mget_socket(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                        cc_item *out)
{
    cc_shm_count_socket(c, n);
    for (size_t done = 0; done < n;) {
        size_t k = _piece(c, n - done);
        int st = _mget_piece(c, k, keys + done, klens + done, out + done);
        if (st != CC_OK) {
            for (size_t i = 0; i < done; i++)
                cc_item_release(&out[i]);
            memset(out, 0, n * sizeof(*out));
            return st;
        }
        done += k;
    }
    return CC_OK;
}

static int _mget_piece(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                       cc_item *out)
{
    uint64_t id;
    size_t s = _begin(c, CC_OP_MGET, 1, &id);
    msgpack_pack_array(&c->pk, n);
    for (size_t i = 0; i < n; i++)
        cc_pack_bytes(c, keys[i], klens[i]);
    cc_req_end(c, s);
    struct cc_reply r;
    int st = _roundtrip_ok(c, id, &r);
    if (st != CC_OK)
        return st;
    uint32_t m;
    if (!mp_read_array(&r.rest, &m) || m != n)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        uint32_t four;
        if (mp_read_nil(&r.rest))
            continue;
        if (!mp_read_array(&r.rest, &four) || four != 4 || cc_decode_item(&r.rest, &out[i]))
            goto bad;
    }
    return _adopt(c, out, n, &r);
bad:
    cc_reply_free(&r);
    memset(out, 0, n * sizeof(*out));
    return cc_fail(c, CC_E_BAD_REPLY, "malformed MGET reply");
}

int cc_set(cc_client *c, const void *key, size_t klen, const cc_value *v, uint64_t ttl_ms,
           unsigned flags, uint64_t cas, uint64_t *version_out)
{
    CHECK_KEY(c, key, klen);
    if (cc_check_value(v) != CC_OK)
        return cc_fail(c, CC_E_CLIENT_ARGS, "invalid value (type %d)", v->type);
    uint64_t id, version = 0;
    size_t s = _begin(c, CC_OP_SET, 5, &id);
    cc_pack_bytes(c, key, klen);
    cc_pack_value(c, v);
    msgpack_pack_uint64(&c->pk, ttl_ms);
    msgpack_pack_unsigned_int(&c->pk, flags);
    msgpack_pack_uint64(&c->pk, cas);
    int st = _with_number(c, s, id, &version, NULL);
    if (version_out)
        *version_out = st == CC_OK ? version : 0;
    return st;
}

static int _mset_piece(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                       const cc_value *values, const uint64_t *ttls_ms);

int cc_mset(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
            const cc_value *values, const uint64_t *ttls_ms)
{
    for (size_t i = 0; i < n; i++) {
        CHECK_KEY(c, keys[i], klens[i]);
        if (cc_check_value(&values[i]) != CC_OK)
            return cc_fail(c, CC_E_CLIENT_ARGS, "invalid value at index %zu", i);
    }
    size_t done = 0;
    do { /* pieces in order: a failure leaves the earlier ones written, as separate MSETs */
        size_t k = _piece(c, n - done);
        int st = _mset_piece(c, k, keys + done, klens + done, values + done,
                             ttls_ms ? ttls_ms + done : NULL);
        if (st != CC_OK)
            return st;
        done += k;
    } while (done < n);
    return CC_OK;
}

static int _mset_piece(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                       const cc_value *values, const uint64_t *ttls_ms)
{
    uint64_t id, count;
    size_t s = _begin(c, CC_OP_MSET, 1, &id);
    msgpack_pack_array(&c->pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(&c->pk, 3);
        cc_pack_bytes(c, keys[i], klens[i]);
        cc_pack_value(c, &values[i]);
        msgpack_pack_uint64(&c->pk, ttls_ms ? ttls_ms[i] : 0);
    }
    return _with_number(c, s, id, &count, NULL);
}

static int _keys_op(cc_client *c, int op, size_t n, const void *const *keys, const size_t *klens,
                    uint64_t *result)
{
    if (n == 0)
        return cc_fail(c, CC_E_CLIENT_ARGS, "at least one key is needed");
    for (size_t i = 0; i < n; i++)
        CHECK_KEY(c, keys[i], klens[i]);
    uint64_t total = 0;
    for (size_t done = 0; done < n;) {
        size_t k = _piece(c, n - done);
        uint64_t id, count = 0;
        size_t s = _begin(c, op, (uint32_t)k, &id);
        for (size_t i = done; i < done + k; i++)
            cc_pack_bytes(c, keys[i], klens[i]);
        int st = _with_number(c, s, id, &count, NULL);
        if (st != CC_OK) {
            if (result)
                *result = total; /* what the pieces before did (DEL: deleted) */
            return st;
        }
        total += count;
        done += k;
    }
    if (result)
        *result = total;
    return CC_OK;
}

int cc_del(cc_client *c, size_t n, const void *const *keys, const size_t *klens, uint64_t *deleted)
{
    return _keys_op(c, CC_OP_DEL, n, keys, klens, deleted);
}

int cc_exists(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
              uint64_t *count)
{
    return _keys_op(c, CC_OP_EXISTS, n, keys, klens, count);
}

int cc_touch(cc_client *c, const void *key, size_t klen, uint64_t ttl_ms)
{
    CHECK_KEY(c, key, klen);
    uint64_t id;
    size_t s = _begin(c, CC_OP_TOUCH, 2, &id);
    cc_pack_bytes(c, key, klen);
    msgpack_pack_uint64(&c->pk, ttl_ms);
    return _simple(c, s, id);
}

int cc_ttl(cc_client *c, const void *key, size_t klen, int64_t *ttl_ms)
{
    CHECK_KEY(c, key, klen);
    uint64_t id;
    size_t s = _begin(c, CC_OP_TTL, 1, &id);
    cc_pack_bytes(c, key, klen);
    return _with_number(c, s, id, NULL, ttl_ms);
}

static int _incr(cc_client *c, int op, const void *key, size_t klen, int64_t delta,
                 int64_t initial, uint64_t ttl_ms, int64_t *result)
{
    CHECK_KEY(c, key, klen);
    uint64_t id;
    int64_t v = 0;
    size_t s = _begin(c, op, 4, &id);
    cc_pack_bytes(c, key, klen);
    msgpack_pack_int64(&c->pk, delta);
    msgpack_pack_int64(&c->pk, initial);
    msgpack_pack_uint64(&c->pk, ttl_ms);
    int st = _with_number(c, s, id, NULL, &v);
    if (result && st == CC_OK)
        *result = v;
    return st;
}

int cc_incr(cc_client *c, const void *key, size_t klen, int64_t delta, int64_t initial,
            uint64_t ttl_ms, int64_t *result)
{
    return _incr(c, CC_OP_INCR, key, klen, delta, initial, ttl_ms, result);
}

int cc_decr(cc_client *c, const void *key, size_t klen, int64_t delta, int64_t initial,
            uint64_t ttl_ms, int64_t *result)
{
    return _incr(c, CC_OP_DECR, key, klen, delta, initial, ttl_ms, result);
}

int cc_append(cc_client *c, const void *key, size_t klen, const void *data, size_t len,
              uint64_t ttl_ms, uint64_t *new_len)
{
    CHECK_KEY(c, key, klen);
    if (!data && len)
        return cc_fail(c, CC_E_CLIENT_ARGS, "data is NULL");
    uint64_t id, n = 0;
    size_t s = _begin(c, CC_OP_APPEND, 3, &id);
    cc_pack_bytes(c, key, klen);
    cc_pack_bytes(c, data, len);
    msgpack_pack_uint64(&c->pk, ttl_ms);
    int st = _with_number(c, s, id, &n, NULL);
    if (new_len && st == CC_OK)
        *new_len = n;
    return st;
}

int cc_getrange(cc_client *c, const void *key, size_t klen, uint64_t offset, uint64_t length,
                cc_item *out)
{
    memset(out, 0, sizeof(*out));
    CHECK_KEY(c, key, klen);
    uint64_t id;
    size_t s = _begin(c, CC_OP_GETRANGE, 3, &id);
    cc_pack_bytes(c, key, klen);
    msgpack_pack_uint64(&c->pk, offset);
    msgpack_pack_uint64(&c->pk, length);
    cc_req_end(c, s);
    struct cc_reply r;
    int st = _roundtrip_ok(c, id, &r);
    if (st != CC_OK)
        return st;
    uint32_t len;
    if (!mp_read_bytes(&r.rest, &out->value.data, &len)) {
        cc_reply_free(&r);
        memset(out, 0, sizeof(*out));
        return cc_fail(c, CC_E_BAD_REPLY, "malformed GETRANGE reply");
    }
    out->value.type = CC_TYPE_BYTES;
    out->value.len = len;
    out->found = true;
    out->ttl_ms = -1;
    return _adopt(c, out, 1, &r);
}

int cc_strlen(cc_client *c, const void *key, size_t klen, uint64_t *len)
{
    CHECK_KEY(c, key, klen);
    uint64_t id;
    size_t s = _begin(c, CC_OP_STRLEN, 1, &id);
    cc_pack_bytes(c, key, klen);
    return _with_number(c, s, id, len, NULL);
}

int cc_scan(cc_client *c, uint64_t cursor, const void *prefix, size_t plen, uint32_t count,
            uint64_t *next_cursor, cc_keys *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t id;
    size_t s = _begin(c, CC_OP_SCAN, 3, &id);
    msgpack_pack_uint64(&c->pk, cursor);
    cc_pack_bytes(c, prefix ? prefix : "", prefix ? plen : 0);
    msgpack_pack_uint32(&c->pk, count);
    cc_req_end(c, s);
    struct cc_reply r;
    int st = _roundtrip_ok(c, id, &r);
    if (st != CC_OK)
        return st;
    uint32_t n;
    if (!mp_read_uint(&r.rest, next_cursor) || !mp_read_array(&r.rest, &n))
        goto bad;
    out->keys = calloc(n ? n : 1, sizeof(*out->keys));
    out->lens = calloc(n ? n : 1, sizeof(*out->lens));
    if (!out->keys || !out->lens) {
        cc_keys_release(out);
        cc_reply_free(&r);
        return cc_fail(c, CC_E_CLIENT_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        if (!mp_read_bytes(&r.rest, &out->keys[i], &kl))
            goto bad;
        out->lens[i] = kl;
    }
    out->n = n;
    out->_buf = r.body;
    return CC_OK;
bad:
    cc_keys_release(out);
    cc_reply_free(&r);
    return cc_fail(c, CC_E_BAD_REPLY, "malformed SCAN reply");
}

int cc_flush(cc_client *c, const char *ns, uint64_t *removed)
{
    uint64_t id, n = 0;
    size_t s = _begin(c, CC_OP_FLUSH, 1, &id);
    if (ns)
        cc_pack_str(c, ns);
    else
        msgpack_pack_nil(&c->pk);
    int st = _with_number(c, s, id, &n, NULL);
    if (removed && st == CC_OK)
        *removed = n;
    return st;
}

/* STATS, INFO, CONFIG GET: one map result, returned as an item of type map. */
static int _map_op(cc_client *c, int op, const char *arg, cc_item *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t id;
    size_t s = _begin(c, op, arg ? 1 : 0, &id);
    if (arg)
        cc_pack_str(c, arg);
    cc_req_end(c, s);
    struct cc_reply r;
    int st = _roundtrip_ok(c, id, &r);
    if (st != CC_OK)
        return st;
    const uint8_t *start = r.rest.p;
    if (mp_peek_type(&r.rest) != CC_TYPE_MAP || !mp_skip(&r.rest, CC_MAX_VALUE_DEPTH)) {
        cc_reply_free(&r);
        return cc_fail(c, CC_E_BAD_REPLY, "malformed map reply");
    }
    out->found = true;
    out->ttl_ms = -1;
    out->value.type = CC_TYPE_MAP;
    out->value.data = start;
    out->value.len = (size_t)(r.rest.p - start);
    return _adopt(c, out, 1, &r);
}

int cc_stats(cc_client *c, cc_item *out) { return _map_op(c, CC_OP_STATS, NULL, out); }
int cc_info(cc_client *c, cc_item *out) { return _map_op(c, CC_OP_INFO, NULL, out); }
int cc_cluster_status(cc_client *c, cc_item *out)
{
    return _map_op(c, CC_OP_CLUSTER_STATUS, NULL, out);
}
/* CLUSTER_REVOKE, _READMIT, _REMOVE: a membership change naming one member. */
static int _cluster_named(cc_client *c, enum cc_op op, const char *name)
{
    if (!name || !*name)
        return cc_fail(c, CC_E_CLIENT_ARGS, "a member's name is needed");
    uint64_t id;
    size_t s = _begin(c, op, 1, &id);
    cc_pack_str(c, name);
    return _simple(c, s, id);
}

int cc_cluster_revoke(cc_client *c, const char *peer)
{
    return _cluster_named(c, CC_OP_CLUSTER_REVOKE, peer);
}

int cc_cluster_readmit(cc_client *c, const char *peer)
{
    return _cluster_named(c, CC_OP_CLUSTER_READMIT, peer);
}

int cc_cluster_remove(cc_client *c, const char *member)
{
    return _cluster_named(c, CC_OP_CLUSTER_REMOVE, member);
}

int cc_cluster_add(cc_client *c, const char *name, const char *addr, const char *fingerprint)
{
    if (!name || !*name || !addr || !*addr || !fingerprint || !*fingerprint)
        return cc_fail(c, CC_E_CLIENT_ARGS, "a name, a HOST:PORT and a fingerprint are needed");
    uint64_t id;
    size_t s = _begin(c, CC_OP_CLUSTER_ADD, 3, &id);
    cc_pack_str(c, name);
    cc_pack_str(c, addr);
    cc_pack_str(c, fingerprint);
    return _simple(c, s, id);
}

int cc_cluster_rotate_cert(cc_client *c)
{
    uint64_t id;
    size_t s = _begin(c, CC_OP_CLUSTER_ROTATE_CERT, 0, &id);
    return _simple(c, s, id);
}

int cc_cluster_unfence(cc_client *c, int *was)
{
    uint64_t id, n = 0;
    size_t s = _begin(c, CC_OP_CLUSTER_UNFENCE, 0, &id);
    int st = _with_number(c, s, id, &n, NULL);
    if (was && st == CC_OK)
        *was = n != 0;
    return st;
}

int cc_wait(cc_client *c, unsigned replicas, uint32_t timeout_ms, unsigned *acked)
{
    if (replicas > CC_WAIT_MAX_REPLICAS || timeout_ms > CC_WAIT_MAX_TIMEOUT_MS)
        return cc_fail(c, CC_E_CLIENT_ARGS, "WAIT takes replicas 0..%d and timeout_ms 0..%d",
                       CC_WAIT_MAX_REPLICAS, CC_WAIT_MAX_TIMEOUT_MS);
    uint64_t id, n = 0;
    size_t s = _begin(c, CC_OP_WAIT, 2, &id);
    msgpack_pack_unsigned_int(&c->pk, replicas);
    msgpack_pack_uint32(&c->pk, timeout_ms);
    /* the reply may take the whole wait: this call's I/O timeout starts after it */
    int io = c->io_timeout_ms;
    c->io_timeout_ms = io + (int)timeout_ms;
    int st = _with_number(c, s, id, &n, NULL);
    c->io_timeout_ms = io;
    if (acked && st == CC_OK)
        *acked = (unsigned)n;
    return st;
}

int cc_config_get(cc_client *c, const char *pattern, cc_item *out)
{
    return _map_op(c, CC_OP_CONFIG_GET, pattern ? pattern : "*", out);
}

int cc_config_set(cc_client *c, const char *name, const char *value)
{
    if (!name || !value)
        return cc_fail(c, CC_E_CLIENT_ARGS, "name and value are required");
    uint64_t id;
    size_t s = _begin(c, CC_OP_CONFIG_SET, 2, &id);
    cc_pack_str(c, name);
    cc_pack_str(c, value);
    return _simple(c, s, id);
}

int cc_lease_get(cc_client *c, const void *key, size_t klen, uint32_t lease_ms, cc_item *out,
                 uint64_t *token, uint32_t *retry_ms)
{
    memset(out, 0, sizeof(*out));
    CHECK_KEY(c, key, klen);
    if (lease_ms > CC_LEASE_MAX_MS)
        return cc_fail(c, CC_E_CLIENT_ARGS, "lease_ms must be 0 (the default, %d) or 1..%d",
                       CC_LEASE_DEFAULT_MS, CC_LEASE_MAX_MS);
    if (token)
        *token = 0;
    if (retry_ms)
        *retry_ms = 0;
    if (c->shm_reads) {
        int st = _shm_ready(c);
        if (st != CC_OK)
            return st;
        if (cc_shm_get(c, key, klen, out))
            return CC_OK; /* a hit needs no lease */
    }
    cc_shm_count_socket(c, 1);
    uint64_t id;
    size_t s = _begin(c, CC_OP_LEASE_GET, lease_ms ? 2 : 1, &id);
    cc_pack_bytes(c, key, klen);
    if (lease_ms)
        msgpack_pack_uint32(&c->pk, lease_ms);
    cc_req_end(c, s);
    struct cc_reply r;
    int st = cc_roundtrip(c, id, &r);
    if (cc_status_is_error(st))
        return st;
    uint64_t tok = 0, retry = 0;
    bool ok = true;
    if (st == CC_OK)
        ok = cc_decode_item(&r.rest, out) == CC_OK;
    else if (st == CC_LEASED)
        ok = mp_read_uint(&r.rest, &tok) && tok != 0;
    else if (st == CC_LEASE_WAIT)
        ok = mp_read_uint(&r.rest, &retry);
    if (!ok) {
        cc_reply_free(&r);
        memset(out, 0, sizeof(*out));
        return cc_fail(c, CC_E_BAD_REPLY, "malformed LEASE_GET reply");
    }
    if (token)
        *token = tok;
    if (retry_ms)
        *retry_ms = (uint32_t)(retry > CC_LEASE_MAX_MS ? CC_LEASE_MAX_MS : retry);
    if (st == CC_OK)
        return _adopt(c, out, 1, &r);
    cc_reply_free(&r);
    return st;
}

int cc_lease_set(cc_client *c, const void *key, size_t klen, uint64_t token, const cc_value *v,
                 uint64_t ttl_ms, uint64_t *version_out)
{
    if (version_out)
        *version_out = 0;
    CHECK_KEY(c, key, klen);
    if (token == 0)
        return cc_fail(c, CC_E_CLIENT_ARGS, "token must be the one cc_lease_get gave");
    if (v && cc_check_value(v) != CC_OK)
        return cc_fail(c, CC_E_CLIENT_ARGS, "invalid value (type %d)", v->type);
    uint64_t id, version = 0;
    size_t s = _begin(c, CC_OP_LEASE_SET, v ? 4 : 2, &id);
    cc_pack_bytes(c, key, klen);
    msgpack_pack_uint64(&c->pk, token);
    if (!v)
        return _simple(c, s, id);
    cc_pack_value(c, v);
    msgpack_pack_uint64(&c->pk, ttl_ms);
    int st = _with_number(c, s, id, &version, NULL);
    if (version_out)
        *version_out = st == CC_OK ? version : 0;
    return st;
}
