/* The peer-link protocol's encoder and decoder (wire.h). Encoding uses msgpack-c's packer;
 * decoding common/'s bounds-checked cursor. */
#include "wire.h"

#include <string.h>

#include <event2/buffer.h>
#include <msgpack.h>

#include "identity.h"
#include "mpread.h"

/* ---- encoding ---- */

struct rawbuf {
    uint8_t *p;
};

static int _raw_write(void *data, const char *buf, size_t len)
{
    struct rawbuf *r = data;
    memcpy(r->p, buf, len);
    r->p += len;
    return 0;
}

size_t repl_change_bound(const struct repl_change *c)
{
    return 2 + (5 + (size_t)c->nslen) + (5 + (size_t)c->klen) + 9 + 3 + 2 +
           (5 + (size_t)c->vlen) + 9 + (5 + (size_t)c->ctr_len) + 16 +
           (c->op == REPL_OP_APPEND ? 40 : 0) + /* [epoch, origin, offset, prev, origin] */
           5;                                    /* crc */
}

static void _pack_bin(msgpack_packer *pk, const uint8_t *p, uint32_t len)
{
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, p, len);
}

static void _pack_change(msgpack_packer *pk, const struct repl_change *c)
{
    msgpack_pack_uint8(pk, c->op);
    if (c->op == REPL_OP_FLUSH && c->all) {
        msgpack_pack_nil(pk);
    } else {
        msgpack_pack_str(pk, c->nslen);
        msgpack_pack_str_body(pk, c->ns, c->nslen);
    }
    if (c->op == REPL_OP_FLUSH)
        msgpack_pack_nil(pk);
    else
        _pack_bin(pk, c->key, c->klen);
    msgpack_pack_uint64(pk, c->stamp);
    msgpack_pack_uint16(pk, c->origin);
    msgpack_pack_uint8(pk, c->type);
    if (c->op == REPL_OP_SET || c->op == REPL_OP_COUNTER || c->op == REPL_OP_APPEND)
        _pack_bin(pk, c->value, c->vlen);
    else
        msgpack_pack_nil(pk);
    msgpack_pack_uint64(pk, c->expire_ms);
    if (c->op == REPL_OP_COUNTER) {
        _pack_bin(pk, c->ctr, c->ctr_len);
    } else if (c->op == REPL_OP_APPEND) {
        msgpack_pack_array(pk, 5);
        msgpack_pack_uint64(pk, c->s_epoch);
        msgpack_pack_uint16(pk, c->s_eorigin);
        msgpack_pack_uint64(pk, c->s_offset);
        msgpack_pack_uint64(pk, c->s_prev);
        msgpack_pack_uint16(pk, c->s_prev_origin);
    } else {
        msgpack_pack_nil(pk);
    }
    msgpack_pack_uint32(pk, c->crc);
}

size_t repl_change_pack(const struct repl_change *c, uint8_t *out)
{
    struct rawbuf r = {out};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r, _raw_write);
    _pack_change(&pk, c);
    return (size_t)(r.p - out);
}

/* Append the sbuffer as one frame (plus extra bytes after it, in the same frame). */
static int _frame(struct evbuffer *out, msgpack_sbuffer *sb, const uint8_t *extra, size_t elen)
{
    size_t len = sb->size + elen;
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    int rc = evbuffer_add(out, hdr, 4) == 0 && evbuffer_add(out, sb->data, sb->size) == 0 &&
                     (!elen || evbuffer_add(out, extra, elen) == 0)
                 ? 0
                 : -1;
    msgpack_sbuffer_destroy(sb);
    return rc;
}

#define PACKER(sb, pk)              \
    msgpack_sbuffer sb;             \
    msgpack_packer pk;              \
    msgpack_sbuffer_init(&sb);      \
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write)

static void _pack_name(msgpack_packer *pk, const char *name)
{
    size_t n = strlen(name);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, name, n);
}

int repl_send_hello(struct evbuffer *out, uint16_t node_id, const char *name, uint64_t backlog_id)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint8(&pk, REPL_HELLO);
    msgpack_pack_uint8(&pk, REPL_PROTO_VERSION);
    msgpack_pack_uint16(&pk, node_id);
    _pack_name(&pk, name);
    msgpack_pack_uint64(&pk, backlog_id);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_welcome(struct evbuffer *out, uint16_t node_id, const char *name, bool has_pos,
                      uint64_t backlog_id, uint64_t offset, uint64_t seq)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 7);
    msgpack_pack_uint8(&pk, REPL_WELCOME);
    msgpack_pack_uint16(&pk, node_id);
    _pack_name(&pk, name);
    if (has_pos)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    msgpack_pack_uint64(&pk, backlog_id);
    msgpack_pack_uint64(&pk, offset);
    msgpack_pack_uint64(&pk, seq);
    return _frame(out, &sb, NULL, 0);
}

static int _send4(struct evbuffer *out, enum repl_msg_type t, uint64_t a, uint64_t b, uint64_t c,
                  uint64_t d, unsigned n)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 1 + n);
    msgpack_pack_uint8(&pk, (uint8_t)t);
    uint64_t v[4] = {a, b, c, d};
    for (unsigned i = 0; i < n; i++)
        msgpack_pack_uint64(&pk, v[i]);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_start(struct evbuffer *out, bool full, uint64_t offset, uint64_t seq,
                    uint64_t stamp)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint8(&pk, REPL_START);
    msgpack_pack_uint8(&pk, full ? 1 : 0);
    msgpack_pack_uint64(&pk, offset);
    msgpack_pack_uint64(&pk, seq);
    msgpack_pack_uint64(&pk, stamp);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_rec(struct evbuffer *out, uint64_t offset, uint64_t seq, const uint8_t *body,
                  size_t blen)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 3 + REPL_CHANGE_FIELDS);
    msgpack_pack_uint8(&pk, REPL_REC);
    msgpack_pack_uint64(&pk, offset);
    msgpack_pack_uint64(&pk, seq);
    return _frame(out, &sb, body, blen);
}

static int _send_change(struct evbuffer *out, enum repl_msg_type type, const struct repl_change *c)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 1 + REPL_CHANGE_FIELDS);
    msgpack_pack_uint8(&pk, type);
    _pack_change(&pk, c);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_item(struct evbuffer *out, const struct repl_change *c)
{
    return _send_change(out, REPL_ITEM, c);
}

int repl_send_ae_item(struct evbuffer *out, const struct repl_change *c)
{
    return _send_change(out, REPL_AE_ITEM, c);
}

int repl_send_synced(struct evbuffer *out, uint64_t offset, uint64_t seq)
{
    return _send4(out, REPL_SYNCED, offset, seq, 0, 0, 2);
}

int repl_send_ping(struct evbuffer *out, enum repl_msg_type type, uint64_t offset, uint64_t seq,
                   uint64_t wall_ms, uint64_t echo_ms)
{
    return _send4(out, type, offset, seq, wall_ms, echo_ms, 4);
}

int repl_send_error(struct evbuffer *out, unsigned code, const char *msg)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, REPL_ERROR);
    msgpack_pack_uint32(&pk, code);
    _pack_name(&pk, msg);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_member(struct evbuffer *out, const uint8_t *blob, size_t len)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, REPL_MEMBER);
    _pack_bin(&pk, blob, (uint32_t)len);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_view(struct evbuffer *out, const uint8_t *own_fp, uint64_t epoch,
                   const struct repl_view_entry *v, uint32_t n)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, REPL_VIEW);
    _pack_bin(&pk, own_fp, REPL_FP_LEN);
    msgpack_pack_uint64(&pk, epoch);
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_array(&pk, 4);
        msgpack_pack_str(&pk, v[i].nlen);
        msgpack_pack_str_body(&pk, v[i].name, v[i].nlen);
        _pack_bin(&pk, v[i].fp, REPL_FP_LEN);
        if (v[i].out_up)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        if (v[i].in_up)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
    }
    return _frame(out, &sb, NULL, 0);
}

/* Marks as two byte strings: stamps (8 bytes LE each), origins (2 bytes LE each). */
static void _marks_bytes(uint32_t n, const uint64_t *stamps, const uint16_t *origins,
                         uint8_t *st, uint8_t *org)
{
    for (uint32_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++)
            st[i * 8 + (uint32_t)b] = (uint8_t)(stamps[i] >> (8 * b));
        org[i * 2] = (uint8_t)origins[i];
        org[i * 2 + 1] = (uint8_t)(origins[i] >> 8);
    }
}

int repl_send_gone(struct evbuffer *out, uint32_t first, uint32_t n, const uint64_t *stamps,
                   const uint16_t *origins)
{
    static uint8_t st[REPL_GONE_CHUNK * 8], org[REPL_GONE_CHUNK * 2]; /* link thread only */
    if (n > REPL_GONE_CHUNK)
        return -1;
    _marks_bytes(n, stamps, origins, st, org);
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, REPL_GONE);
    msgpack_pack_uint32(&pk, first);
    _pack_bin(&pk, st, n * 8);
    _pack_bin(&pk, org, n * 2);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_ae_marks(struct evbuffer *out, uint64_t round, uint32_t first, uint32_t n,
                       const uint64_t *stamps, const uint16_t *origins)
{
    static uint8_t st[REPL_GONE_CHUNK * 8], org[REPL_GONE_CHUNK * 2]; /* link thread only */
    if (n > REPL_GONE_CHUNK)
        return -1;
    _marks_bytes(n, stamps, origins, st, org);
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 6);
    msgpack_pack_uint8(&pk, REPL_AE);
    msgpack_pack_uint8(&pk, REPL_AE_MARKS);
    msgpack_pack_uint64(&pk, round);
    msgpack_pack_uint32(&pk, first);
    _pack_bin(&pk, st, n * 8);
    _pack_bin(&pk, org, n * 2);
    return _frame(out, &sb, NULL, 0);
}

int repl_send_ae(struct evbuffer *out, enum repl_ae_kind kind, uint64_t round, uint64_t arg,
                 const uint8_t *bin, uint32_t blen)
{
    PACKER(sb, pk);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint8(&pk, REPL_AE);
    msgpack_pack_uint8(&pk, (uint8_t)kind);
    msgpack_pack_uint64(&pk, round);
    msgpack_pack_uint64(&pk, arg);
    if (bin)
        _pack_bin(&pk, bin, blen);
    else
        msgpack_pack_nil(&pk);
    return _frame(out, &sb, NULL, 0);
}

void repl_marks_decode(const struct repl_msg *m, uint64_t *stamps, uint16_t *origins,
                       uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--)
            v = v << 8 | m->gone_stamps[i * 8 + (uint64_t)b];
        stamps[i] = v;
        origins[i] = (uint16_t)(m->gone_origins[i * 2] | m->gone_origins[i * 2 + 1] << 8);
    }
}

uint32_t repl_frame_len(const uint8_t hdr[4])
{
    return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
}

/* ---- decoding ---- */

#define FAIL(msg)         \
    do {                  \
        *why = (msg);     \
        return -1;        \
    } while (0)

static bool _read_u(struct mp_cursor *c, uint64_t *v, uint64_t max)
{
    return mp_read_uint(c, v) && *v <= max;
}

static bool _read_name(struct mp_cursor *c, const uint8_t **p, uint32_t *len, uint32_t max)
{
    return mp_read_bytes(c, p, len) && *len <= max;
}

/* A value's encoding: exactly one valid msgpack value of the announced type. */
static bool _valid_value(const uint8_t *v, uint32_t len, uint8_t type)
{
    struct mp_cursor c;
    mp_cursor_init(&c, v, len);
    int t = mp_peek_type(&c);
    if (t < 0 || (uint8_t)t != type || !mp_skip(&c, CC_MAX_VALUE_DEPTH))
        return false;
    return mp_remaining(&c) == 0;
}

static int _decode_change(struct mp_cursor *c, struct repl_change *ch, const char **why)
{
    uint64_t op, stamp, origin, type, expire;
    memset(ch, 0, sizeof(*ch));
    if (!_read_u(c, &op, REPL_OP_APPEND) || op == 0)
        FAIL("bad change op");
    ch->op = (uint8_t)op;
    if (mp_peek_nil(c)) {
        if (op != REPL_OP_FLUSH)
            FAIL("a namespace is missing");
        mp_read_nil(c);
        ch->all = true;
        ch->ns = (const uint8_t *)"";
    } else if (!_read_name(c, &ch->ns, &ch->nslen, 64)) {
        FAIL("bad namespace");
    }
    if (op == REPL_OP_FLUSH) {
        if (!mp_read_nil(c))
            FAIL("a flush has no key");
        ch->key = (const uint8_t *)"";
    } else if (!mp_read_bytes(c, &ch->key, &ch->klen) || ch->klen == 0) {
        FAIL("bad key");
    }
    if (!mp_read_uint(c, &stamp) || stamp == 0)
        FAIL("bad stamp");
    if (!_read_u(c, &origin, UINT16_MAX) || origin == 0)
        FAIL("bad origin");
    if (!_read_u(c, &type, UINT8_MAX))
        FAIL("bad type");
    ch->stamp = stamp;
    ch->origin = (uint16_t)origin;
    ch->type = (uint8_t)type;
    if (op == REPL_OP_SET || op == REPL_OP_COUNTER) {
        if (!mp_read_bytes(c, &ch->value, &ch->vlen))
            FAIL("a set has no value");
        if (!_valid_value(ch->value, ch->vlen, ch->type))
            FAIL("the value is not one msgpack value of its type");
        if (op == REPL_OP_COUNTER && ch->type != 2 /* STORE_T_INT */)
            FAIL("a counter is an int");
    } else if (op == REPL_OP_APPEND) {
        if (!mp_read_bytes(c, &ch->value, &ch->vlen))
            FAIL("an append has no bytes");
    } else if (!mp_read_nil(c)) {
        FAIL("only a set carries a value");
    }
    if (!mp_read_uint(c, &expire))
        FAIL("bad expiry");
    ch->expire_ms = expire;
    if (op == REPL_OP_COUNTER) {
        if (!mp_read_bytes(c, &ch->ctr, &ch->ctr_len) || ch->ctr_len < 20)
            FAIL("a counter has no state");
    } else if (op == REPL_OP_APPEND) {
        uint32_t n;
        uint64_t epoch, eorigin, offset, prev, prev_origin;
        if (!mp_read_array(c, &n) || n != 5 || !mp_read_uint(c, &epoch) || epoch == 0 ||
            !_read_u(c, &eorigin, UINT16_MAX) || !mp_read_uint(c, &offset) ||
            offset > UINT64_MAX - ch->vlen || !mp_read_uint(c, &prev) ||
            !_read_u(c, &prev_origin, UINT16_MAX))
            FAIL("an append has no place in its stream");
        ch->s_epoch = epoch;
        ch->s_eorigin = (uint16_t)eorigin;
        ch->s_offset = offset;
        ch->s_prev = prev;
        ch->s_prev_origin = (uint16_t)prev_origin;
    } else if (!mp_read_nil(c)) {
        FAIL("only a counter or an append carries a state");
    }
    uint64_t crc;
    if (!_read_u(c, &crc, UINT32_MAX))
        FAIL("bad checksum");
    ch->crc = (uint32_t)crc;
    return 0;
}

int repl_decode(const uint8_t *body, size_t len, struct repl_msg *m, const char **why)
{
    struct mp_cursor c;
    uint32_t n;
    uint64_t t;
    mp_cursor_init(&c, body, len);
    memset(m, 0, sizeof(*m));
    if (!mp_read_array(&c, &n) || n == 0 || !_read_u(&c, &t, REPL_MEMBER) || t == 0)
        FAIL("not a peer-link message");
    m->type = (enum repl_msg_type)t;
    n--;
    switch (m->type) {
    case REPL_HELLO:
        if (n != 4 || !_read_u(&c, &m->u[0], UINT8_MAX) || !_read_u(&c, &m->u[1], UINT16_MAX) ||
            !_read_name(&c, &m->text, &m->tlen, REPL_NAME_MAX) || !mp_read_uint(&c, &m->u[2]))
            FAIL("bad HELLO");
        break;
    case REPL_WELCOME: {
        bool has;
        if (n != 6 || !_read_u(&c, &m->u[0], UINT16_MAX) ||
            !_read_name(&c, &m->text, &m->tlen, REPL_NAME_MAX) || !mp_read_bool(&c, &has) ||
            !mp_read_uint(&c, &m->u[2]) || !mp_read_uint(&c, &m->u[3]) ||
            !mp_read_uint(&c, &m->seq))
            FAIL("bad WELCOME");
        m->u[1] = has;
        break;
    }
    case REPL_START:
        if (n != 4 || !_read_u(&c, &m->u[0], 1) || !mp_read_uint(&c, &m->u[1]) ||
            !mp_read_uint(&c, &m->u[2]) || !mp_read_uint(&c, &m->u[3]))
            FAIL("bad START");
        break;
    case REPL_PING:
    case REPL_ACK:
        if (n != 4 || !mp_read_uint(&c, &m->u[0]) || !mp_read_uint(&c, &m->u[1]) ||
            !mp_read_uint(&c, &m->u[2]) || !mp_read_uint(&c, &m->u[3]))
            FAIL("bad PING or ACK");
        break;
    case REPL_SYNCED:
        if (n != 2 || !mp_read_uint(&c, &m->u[0]) || !mp_read_uint(&c, &m->u[1]))
            FAIL("bad SYNCED");
        break;
    case REPL_REC:
        if (n != 2 + REPL_CHANGE_FIELDS || !mp_read_uint(&c, &m->u[0]) ||
            !mp_read_uint(&c, &m->u[1]))
            FAIL("bad REC");
        if (_decode_change(&c, &m->c, why) != 0)
            return -1;
        break;
    case REPL_ITEM:
    case REPL_AE_ITEM:
        if (n != REPL_CHANGE_FIELDS)
            FAIL("bad ITEM");
        if (_decode_change(&c, &m->c, why) != 0)
            return -1;
        if (m->c.op != REPL_OP_SET && m->c.op != REPL_OP_DEL && m->c.op != REPL_OP_COUNTER &&
            m->c.op != REPL_OP_APPEND)
            FAIL("an ITEM is a value, a counter, a stream or a delete");
        /* a stream in an ITEM: the whole of it (offset 0, total 0 or its length), or a
         * part of a copy in parts: total its whole length, the part inside it */
        if (m->c.op == REPL_OP_APPEND &&
            (m->c.s_prev ? m->c.s_offset > m->c.s_prev || m->c.vlen > m->c.s_prev - m->c.s_offset
                         : m->c.s_offset != 0))
            FAIL("an ITEM's stream part is outside its stream");
        break;
    case REPL_ERROR:
        if (n != 2 || !_read_u(&c, &m->u[0], UINT32_MAX) ||
            !_read_name(&c, &m->text, &m->tlen, 1024))
            FAIL("bad ERROR");
        break;
    case REPL_GONE: {
        uint32_t sl, ol;
        if (n != 3 || !_read_u(&c, &m->u[0], REPL_GONE_SLICES - 1) ||
            !mp_read_bytes(&c, &m->gone_stamps, &sl) || !mp_read_bytes(&c, &m->gone_origins, &ol) ||
            sl % 8 || sl / 8 > REPL_GONE_CHUNK || ol != sl / 4 ||
            m->u[0] + sl / 8 > REPL_GONE_SLICES)
            FAIL("bad GONE");
        m->u[1] = sl / 8;
        break;
    }
    case REPL_AE: {
        uint64_t kind;
        uint32_t sl, ol;
        if (!_read_u(&c, &kind, REPL_AE_END) || kind == 0 || !mp_read_uint(&c, &m->u[0]))
            FAIL("bad AE");
        m->ae_kind = (uint32_t)kind;
        if (kind == REPL_AE_MARKS) {
            if (n != 5 || !_read_u(&c, &m->u[1], REPL_GONE_SLICES - 1) ||
                !mp_read_bytes(&c, &m->gone_stamps, &sl) ||
                !mp_read_bytes(&c, &m->gone_origins, &ol) || sl % 8 ||
                sl / 8 > REPL_GONE_CHUNK || ol != sl / 4 || m->u[1] + sl / 8 > REPL_GONE_SLICES)
                FAIL("bad AE marks");
            m->u[2] = sl / 8;
            break;
        }
        if (n != 4 || !mp_read_uint(&c, &m->u[1]))
            FAIL("bad AE");
        if (kind == REPL_AE_DIGEST || kind == REPL_AE_WANT) {
            uint32_t want = kind == REPL_AE_DIGEST ? REPL_AE_BUCKETS * 8 : REPL_AE_BUCKETS / 8;
            if (!mp_read_bytes(&c, &m->ae_bin, &sl) || sl != want)
                FAIL("bad AE digests");
        } else if (!mp_read_nil(&c)) {
            FAIL("bad AE");
        }
        break;
    }
    case REPL_MEMBER:
        if (n != 1 || !mp_read_bytes(&c, &m->blob, &m->blen) || m->blen == 0)
            FAIL("bad MEMBER");
        break;
    case REPL_VIEW: {
        uint32_t fplen, k;
        if (n != 3 || !mp_read_bytes(&c, &m->fp, &fplen) || fplen != REPL_FP_LEN ||
            !mp_read_uint(&c, &m->u[0]) || !mp_read_array(&c, &m->nview) ||
            m->nview > REPL_VIEW_MAX)
            FAIL("bad VIEW");
        for (uint32_t i = 0; i < m->nview; i++) {
            struct repl_view_entry *e = &m->view[i];
            if (!mp_read_array(&c, &k) || k != 4 ||
                !_read_name(&c, &e->name, &e->nlen, REPL_NAME_MAX) ||
                !mp_read_bytes(&c, &e->fp, &fplen) || fplen != REPL_FP_LEN ||
                !mp_read_bool(&c, &e->out_up) || !mp_read_bool(&c, &e->in_up))
                FAIL("bad VIEW entry");
        }
        break;
    }
    }
    if (mp_remaining(&c) != 0)
        FAIL("trailing bytes after the message");
    return 0;
}
