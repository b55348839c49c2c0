/* Request encoding (msgpack-c's packer into the client's buffer, length prefix patched at
 * the end) and reply decoding (the shared mpread cursor, pointing into the reply body). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"

static int _buf_write(void *data, const char *src, size_t len)
{
    return cc_buf_append(data, src, len);
}

int cc_buf_append(struct cc_buf *b, const void *src, size_t len)
{
    if (b->cap - b->len < len) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap - b->len < len)
            ncap *= 2;
        uint8_t *nd = realloc(b->data, ncap);
        if (!nd)
            return -1;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, src, len);
    b->len += len;
    return 0;
}

size_t cc_req_begin(cc_client *c, int op, uint32_t nargs, uint64_t *id)
{
    msgpack_packer_init(&c->pk, &c->out, _buf_write);
    size_t start = c->out.len;
    static const char zero[CC_FRAME_HEADER_SIZE];
    _buf_write(&c->out, zero, sizeof(zero));
    msgpack_pack_array(&c->pk, 2 + nargs);
    msgpack_pack_uint32(&c->pk, (uint32_t)op);
    *id = ++c->next_id;
    msgpack_pack_uint64(&c->pk, *id);
    return start;
}

void cc_req_end(cc_client *c, size_t start)
{
    if (c->out.data)
        cc_be32_write(c->out.data + start,
                      (uint32_t)(c->out.len - start - CC_FRAME_HEADER_SIZE));
}

void cc_pack_bytes(cc_client *c, const void *data, size_t len)
{
    msgpack_pack_bin(&c->pk, len);
    msgpack_pack_bin_body(&c->pk, data, len);
}

void cc_pack_str(cc_client *c, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(&c->pk, len);
    msgpack_pack_str_body(&c->pk, s, len);
}

int cc_check_value(const cc_value *v)
{
    switch (v->type) {
    case CC_TYPE_NULL:
    case CC_TYPE_BOOL:
    case CC_TYPE_INT:
    case CC_TYPE_FLOAT:
        return CC_OK;
    case CC_TYPE_BYTES:
        return v->data || v->len == 0 ? CC_OK : CC_E_CLIENT_ARGS;
    case CC_TYPE_ARRAY:
    case CC_TYPE_MAP: {
        struct mp_cursor cur;
        mp_cursor_init(&cur, v->data, v->len);
        if (!v->data || mp_peek_type(&cur) != v->type || !mp_skip(&cur, CC_MAX_VALUE_DEPTH) ||
            mp_remaining(&cur) != 0)
            return CC_E_CLIENT_ARGS;
        return CC_OK;
    }
    case CC_TYPE_OBJECT:
        return v->class_name && v->class_len > 0 && (v->data || v->len == 0) ? CC_OK
                                                                              : CC_E_CLIENT_ARGS;
    default:
        return CC_E_CLIENT_ARGS; /* streams are built with cc_append */
    }
}

/* The value's encoding through pk, which writes into out. */
static int _pack_value(msgpack_packer *pk, struct cc_buf *out, const cc_value *v)
{
    int st = cc_check_value(v);
    if (st != CC_OK)
        return st;
    switch (v->type) {
    case CC_TYPE_NULL:
        msgpack_pack_nil(pk);
        break;
    case CC_TYPE_BOOL:
        v->b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        break;
    case CC_TYPE_INT:
        if (v->is_uint)
            msgpack_pack_uint64(pk, v->u);
        else
            msgpack_pack_int64(pk, v->i);
        break;
    case CC_TYPE_FLOAT:
        msgpack_pack_double(pk, v->f);
        break;
    case CC_TYPE_BYTES:
        msgpack_pack_bin(pk, v->len);
        msgpack_pack_bin_body(pk, v->data, v->len);
        break;
    case CC_TYPE_ARRAY:
    case CC_TYPE_MAP:
        _buf_write(out, (const char *)v->data, v->len);
        break;
    case CC_TYPE_OBJECT: {
        /* ext 1 whose payload is msgpack [class, serializer, data] */
        struct cc_buf payload = {0};
        msgpack_packer ppk;
        msgpack_packer_init(&ppk, &payload, _buf_write);
        msgpack_pack_array(&ppk, 3);
        msgpack_pack_str(&ppk, v->class_len);
        msgpack_pack_str_body(&ppk, v->class_name, v->class_len);
        msgpack_pack_uint64(&ppk, v->serializer);
        msgpack_pack_bin(&ppk, v->len);
        msgpack_pack_bin_body(&ppk, v->data, v->len);
        msgpack_pack_ext(pk, payload.len, CC_EXT_OBJECT);
        msgpack_pack_ext_body(pk, payload.data, payload.len);
        free(payload.data);
        break;
    }
    }
    return CC_OK;
}

int cc_pack_value(cc_client *c, const cc_value *v) { return _pack_value(&c->pk, &c->out, v); }

int cc_item_from_value(const cc_value *v, int64_t ttl_ms, uint64_t version, cc_item *out)
{
    memset(out, 0, sizeof(*out));
    struct cc_buf b = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, _buf_write);
    msgpack_pack_uint8(&pk, (uint8_t)v->type);
    int st = _pack_value(&pk, &b, v);
    msgpack_pack_int64(&pk, ttl_ms);
    msgpack_pack_uint64(&pk, version);
    if (st != CC_OK || !b.data) { /* a write that failed leaves the buffer short */
        free(b.data);
        return st != CC_OK ? st : CC_E_CLIENT_NOMEM;
    }
    struct cc_reply r = {.body = b.data, .len = b.len};
    struct mp_cursor cur;
    mp_cursor_init(&cur, r.body, r.len);
    if (cc_decode_item(&cur, out) != CC_OK || cc_items_adopt(out, 1, &r) != CC_OK) {
        free(b.data);
        memset(out, 0, sizeof(*out));
        return CC_E_CLIENT_NOMEM; /* a value cc_check_value took always decodes */
    }
    return CC_OK;
}

void cc_reply_free(struct cc_reply *r)
{
    free(r->body);
    r->body = NULL;
}

int cc_reply_parse(cc_client *c, struct cc_reply *r, uint64_t want_id)
{
    uint32_t n;
    uint64_t status;
    mp_cursor_init(&r->rest, r->body, r->len);
    if (!mp_read_array(&r->rest, &n) || n < 2 || !mp_read_uint(&r->rest, &r->id) ||
        !mp_read_uint(&r->rest, &status)) {
        cc_reply_free(r);
        return cc_fail(c, CC_E_BAD_REPLY, "malformed reply frame");
    }
    /* the wire status is a uint64: any value beyond int is an error code too */
    bool is_error = status > INT_MAX || cc_status_is_error((int)status);
    if (r->id != want_id && !(r->id == 0 && is_error)) {
        cc_reply_free(r);
        return cc_fail(c, CC_E_BAD_REPLY, "reply id %llu does not match request id %llu",
                       (unsigned long long)r->id, (unsigned long long)want_id);
    }
    r->status = (int)status;
    r->nresults = n - 2;
    if (is_error) {
        const uint8_t *msg;
        uint32_t len;
        if (n >= 3 && mp_read_bytes(&r->rest, &msg, &len))
            cc_fail(c, (int)status, "%.*s", (int)len, msg);
        else
            cc_fail(c, (int)status, "%s", cc_status_message((int)status));
        cc_reply_free(r);
        /* a protocol-level error from the server leaves the stream in an unknown state */
        if (status == CC_E_PROTOCOL || status == CC_E_FRAME_TOO_LARGE)
            cc_disconnect(c);
        return (int)status;
    }
    return (int)status;
}

static bool _decode_value(struct mp_cursor *cur, int type, cc_value *v)
{
    memset(v, 0, sizeof(*v));
    v->type = type;
    switch (type) {
    case CC_TYPE_NULL:
        return mp_read_nil(cur);
    case CC_TYPE_BOOL:
        return mp_read_bool(cur, &v->b);
    case CC_TYPE_INT:
        if (mp_read_int(cur, &v->i))
            return true;
        v->is_uint = true;
        return mp_read_uint(cur, &v->u);
    case CC_TYPE_FLOAT:
        return mp_read_double(cur, &v->f);
    case CC_TYPE_BYTES:
    case CC_TYPE_STREAM: {
        uint32_t len;
        if (!mp_read_bytes(cur, &v->data, &len))
            return false;
        v->len = len;
        return true;
    }
    case CC_TYPE_ARRAY:
    case CC_TYPE_MAP: {
        const uint8_t *start = cur->p;
        if (mp_peek_type(cur) != type || !mp_skip(cur, CC_MAX_VALUE_DEPTH))
            return false;
        v->data = start;
        v->len = (size_t)(cur->p - start);
        return true;
    }
    case CC_TYPE_OBJECT: {
        int8_t et;
        const uint8_t *payload;
        uint32_t plen, n, cl, dl;
        if (!mp_read_ext(cur, &et, &payload, &plen) || et != CC_EXT_OBJECT)
            return false;
        struct mp_cursor p;
        mp_cursor_init(&p, payload, plen);
        const uint8_t *cls;
        if (!mp_read_array(&p, &n) || n != 3 || !mp_read_bytes(&p, &cls, &cl) ||
            !mp_read_uint(&p, &v->serializer) || !mp_read_bytes(&p, &v->data, &dl))
            return false;
        v->class_name = (const char *)cls;
        v->class_len = cl;
        v->len = dl;
        return true;
    }
    }
    return false;
}

int cc_decode_item(struct mp_cursor *cur, cc_item *item)
{
    uint64_t type, version;
    int64_t ttl;
    if (!mp_read_uint(cur, &type) || type >= CC_TYPE__COUNT ||
        !_decode_value(cur, (int)type, &item->value) || !mp_read_int(cur, &ttl) ||
        !mp_read_uint(cur, &version))
        return CC_E_BAD_REPLY;
    item->found = true;
    item->ttl_ms = ttl;
    item->version = version;
    return CC_OK;
}

struct cc_shared {
    unsigned refs;
    uint8_t *body; /* a reply's body, or NULL when the bytes follow this header (a region hit) */
};

static bool _decode_value(struct mp_cursor *cur, int type, cc_value *v);

int cc_item_from_encoded(int type, const uint8_t *enc, size_t len, int64_t ttl_ms,
                         uint64_t version, cc_item *out)
{
    memset(out, 0, sizeof(*out));
    if (type < 0 || type >= CC_TYPE__COUNT || type == CC_TYPE_STREAM)
        return CC_E_BAD_REPLY;
    struct cc_shared *sh = malloc(sizeof(*sh) + len);
    if (!sh)
        return CC_E_CLIENT_NOMEM;
    uint8_t *copy = (uint8_t *)(sh + 1);
    memcpy(copy, enc, len);
    struct mp_cursor cur;
    mp_cursor_init(&cur, copy, len);
    if (!_decode_value(&cur, type, &out->value) || cur.p != copy + len) {
        free(sh);
        memset(out, 0, sizeof(*out));
        return CC_E_BAD_REPLY;
    }
    *sh = (struct cc_shared){.refs = 1, .body = NULL};
    out->found = true;
    out->ttl_ms = ttl_ms;
    out->version = version;
    out->_buf = sh;
    return CC_OK;
}

int cc_items_adopt(cc_item *items, size_t n, struct cc_reply *r)
{
    unsigned refs = 0;
    for (size_t i = 0; i < n; i++)
        refs += items[i].found;
    if (refs == 0) {
        cc_reply_free(r);
        return CC_OK;
    }
    struct cc_shared *sh = malloc(sizeof(*sh));
    if (!sh)
        return CC_E_CLIENT_NOMEM;
    sh->refs = refs;
    sh->body = r->body;
    r->body = NULL;
    for (size_t i = 0; i < n; i++)
        if (items[i].found)
            items[i]._buf = sh;
    return CC_OK;
}

void cc_item_release(cc_item *item)
{
    if (!item)
        return;
    struct cc_shared *sh = item->_buf;
    if (sh && --sh->refs == 0) {
        free(sh->body);
        free(sh);
    }
    memset(item, 0, sizeof(*item));
}
