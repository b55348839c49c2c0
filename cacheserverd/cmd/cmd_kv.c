/* Handlers for the key/value operations: GET, MGET, SET, MSET, DEL, EXISTS, TOUCH, TTL,
 * INCR, DECR, APPEND, GETRANGE, STRLEN, SCAN. Argument rules are in docs/protocol.md. */
#include <stdlib.h>
#include <string.h>

#include "cmd-internal.h"
#include "tiering.h"

/* ---- value output ---- */

/* Collects the pieces of a stream or bytes range so a bin header with the exact total can
 * precede them. */
struct pieces {
    struct reply_seg *v;
    size_t n, cap;
    bool failed;
};

static void _piece(void *ctx, const uint8_t *data, size_t len, void (*release)(void *), void *arg)
{
    struct pieces *p = ctx;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        struct reply_seg *nv = realloc(p->v, ncap * sizeof(*nv));
        if (!nv) {
            p->failed = true;
            release(arg);
            return;
        }
        p->v = nv;
        p->cap = ncap;
    }
    p->v[p->n++] = (struct reply_seg){0, data, len, release, arg};
}

static void _pieces_release(struct pieces *p)
{
    for (size_t i = 0; i < p->n; i++)
        p->v[i].release(p->v[i].arg);
    free(p->v);
}

/* store_range's visitor: memory pieces go where cmd_chunk_piece puts the disk ones. */
static void _range_piece(void *ctx, const uint8_t *data, size_t len, void (*release)(void *),
                         void *arg)
{
    struct cmd_chunk_ctx *c = ctx;
    c->fn(c->ctx, data, len, release, arg);
}

/* Range of a stream/bytes value as a bin. Returns a store status; on STORE_OK the bin is in r.
 * STORE_ON_DISK: a stream's chunks must be read first (recorded in q, see cmd_chunk_piece). */
static int _reply_range(struct req *q, struct reply *r, const struct store_key *k, uint64_t off,
                        uint64_t len)
{
    struct pieces p = {0};
    struct cmd_chunk_ctx cc = {q, _piece, &p};
    uint64_t total;
    int st = store_range(k, off, len, _range_piece, cmd_chunk_piece, &cc, &total);
    if (st != STORE_OK || p.failed) {
        _pieces_release(&p);
        return st != STORE_OK ? st : STORE_ENOMEM;
    }
    msgpack_pack_bin(&r->pk, (size_t)total);
    for (size_t i = 0; i < p.n; i++)
        reply_raw(r, p.v[i].data, p.v[i].len, p.v[i].release, p.v[i].arg);
    free(p.v);
    return STORE_OK;
}

enum pack { PACK_OK, PACK_TOO_LARGE, PACK_ON_DISK, PACK_GONE, PACK_NOMEM };

/* Packs type, value, ttl, version for a found item, taking over the item reference. Else
 * what is in r is incomplete: a stream larger than max_value_size, one with chunks to read
 * from disk first (recorded in q), one that vanished, or no memory to collect its pieces. */
static enum pack _pack_item(struct req *q, struct reply *r, const struct store_key *k,
                            struct item *it)
{
    uint8_t type = store_item_type(it);
    int64_t ttl = store_item_ttl(it);
    uint64_t version = store_item_version(it);
    msgpack_pack_uint8(&r->pk, type);
    if (type == STORE_T_STREAM) {
        uint64_t len = store_item_strlen(it);
        store_item_release(it);
        if (len > option_get_u(&cmd_opts.max_value_size))
            return PACK_TOO_LARGE;
        int st = _reply_range(q, r, k, 0, len);
        if (st != STORE_OK)
            return st == STORE_ON_DISK ? PACK_ON_DISK : st == STORE_ENOMEM ? PACK_NOMEM : PACK_GONE;
    } else {
        uint32_t vlen;
        const uint8_t *v = store_item_value(it, &vlen);
        reply_raw(r, v, vlen, store_item_release, it);
    }
    msgpack_pack_int64(&r->pk, ttl);
    msgpack_pack_uint64(&r->pk, version);
    return PACK_OK;
}

/* A single-key reply for an item (GET). */
static void _reply_item(struct req *q, struct reply *r, const struct store_key *k,
                        struct item *it)
{
    reply_begin(r, q->id, CC_OK, 4);
    switch (_pack_item(q, r, k, it)) {
    case PACK_OK:
    case PACK_ON_DISK: /* dropped: the request runs again once the chunks are read */
        return;
    case PACK_TOO_LARGE:
        reply_discard(r);
        reply_error(r, q->id, CC_E_VALUE_TOO_LARGE,
                    "stream longer than max_value_size: read it with GETRANGE");
        return;
    case PACK_GONE:
        reply_discard(r);
        reply_begin(r, q->id, CC_NOT_FOUND, 0); /* deleted while it was read */
        return;
    case PACK_NOMEM: /* not a miss: the value is there */
        reply_discard(r);
        cmd_reply_store_status(q, r, STORE_ENOMEM);
        return;
    }
}

/* A GET's run after its memory miss was read from disk (cmd_read_disk): answers from the
 * result and returns true, or loads a stream into memory and returns false (the GET goes on
 * from memory). A miss on disk too: NOT_FOUND, or (quiet_miss, LEASE_GET) false and no
 * reply: the caller goes on as for a miss. */
static bool _get_from_disk(struct req *q, struct reply *r, const struct store_key *k,
                           const struct tiering_result *res, bool quiet_miss)
{
    bool promote = false;
    q->from_disk = true;
    if (!res) {
        reply_error(r, q->id, CC_E_NOMEM, "out of memory reading the key from disk");
    } else if (res->status == TIER_ERROR) {
        reply_error(r, q->id, CC_E_DISK, "SSD tier: %s", res->err);
    } else if (res->status != TIER_FOUND || !tiering_still_current(res, &promote)) {
        if (quiet_miss) {
            q->from_disk = false;
            return false;
        }
        reply_begin(r, q->id, CC_NOT_FOUND, 0);
    } else if (res->type == STORE_T_STREAM) {
        /* its chunks stay on disk */
        if (tiering_load(k->ns, k->data, k->len, res) != STORE_ENOMEM) {
            q->from_disk = false;
            return false;
        }
        reply_error(r, q->id, CC_E_NOMEM, "no room in memory to load the stream");
    } else {
        if (promote)
            tiering_promote(k->ns, k->data, k->len, res);
        reply_begin(r, q->id, CC_OK, 4);
        msgpack_pack_uint8(&r->pk, res->type);
        cmd_reply_disk_bytes(q, r, res);
        msgpack_pack_int64(&r->pk, tiering_ttl_ms(res));
        msgpack_pack_uint64(&r->pk, res->version);
    }
    return true;
}

void cmd_get(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return;
    const struct tiering_result *res;
    if (cmd_disk_result(q, &k, &res) && _get_from_disk(q, r, &k, res, false))
        return;
    struct item *it;
    if (store_get(&k, &it) != STORE_OK) {
        if (!cmd_read_disk(q, &k))
            reply_begin(r, q->id, CC_NOT_FOUND, 0);
        return;
    }
    tiering_note_read(k.hash);
    _reply_item(q, r, &k, it);
}

/* LEASE_GET: GET's answer for a hit (memory, then the disk tiers as GET reads them); on a
 * miss the key's lease (LEASED with the token) or, while another caller holds it,
 * LEASE_WAIT with a retry delay and the time the lease has left. The server never waits:
 * the client polls (docs/protocol.md, "Leases"). */
void cmd_lease_get(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    uint64_t lease_ms = CC_LEASE_DEFAULT_MS;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return;
    if (q->argc > 1 && (!mp_read_uint(&q->args, &lease_ms) || lease_ms < 1 ||
                        lease_ms > CC_LEASE_MAX_MS)) {
        reply_error(r, q->id, CC_E_BAD_ARGS, "LEASE_GET lease_ms must be 1..%d (ms)",
                    CC_LEASE_MAX_MS);
        return;
    }
    const struct tiering_result *res;
    bool asked = cmd_disk_result(q, &k, &res);
    if (asked && _get_from_disk(q, r, &k, res, true))
        return;
    struct item *it = NULL;
    uint64_t token = 0;
    uint32_t left = 0;
    int st = store_lease_get(&k, (uint32_t)lease_ms, !asked, &it, &token, &left);
    if (st == STORE_ON_DISK) {
        if (cmd_read_disk(q, &k))
            return; /* runs again with the disk's answer */
        st = store_lease_get(&k, (uint32_t)lease_ms, false, &it, &token, &left);
    }
    switch (st) {
    case STORE_OK:
        _reply_item(q, r, &k, it);
        return;
    case STORE_LEASED:
        reply_begin(r, q->id, CC_LEASED, 1);
        msgpack_pack_uint64(&r->pk, token);
        return;
    case STORE_LEASE_WAIT:
        reply_begin(r, q->id, CC_LEASE_WAIT, 2);
        msgpack_pack_uint32(&r->pk, left < CC_LEASE_RETRY_MS ? left : CC_LEASE_RETRY_MS);
        msgpack_pack_uint32(&r->pk, left);
        return;
    case STORE_ELIMIT:
        reply_error(r, q->id, CC_E_LIMIT,
                    "max_leases (%llu) leases are held: compute without a lease, or raise it",
                    (unsigned long long)store_max_leases());
        return;
    default:
        cmd_reply_store_status(q, r, st);
    }
}

void cmd_mget(struct session *s, struct req *q, struct reply *r)
{
    uint32_t n;
    if (!mp_read_array(&q->args, &n)) {
        cmd_bad_usage(q, r);
        return;
    }
    if (!cmd_keys_ok(q, r, n))
        return;
    /* validate every key first so an error reply is never half built */
    struct mp_cursor keys = q->args;
    struct store_key k;
    for (uint32_t i = 0; i < n; i++)
        if (!cmd_arg_key(q, r, &k, s->ns))
            return;
    q->args = keys;
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_array(&r->pk, n);
    uint64_t limit = option_get_u(&cmd_opts.max_value_size);
    for (uint32_t i = 0; i < n; i++) {
        cmd_arg_key(q, r, &k, s->ns);
        struct item *it;
        if (store_get(&k, &it) != STORE_OK) {
            cmd_need_disk(q, &k); /* then this reply is dropped and MGET runs again */
            msgpack_pack_nil(&r->pk);
            continue;
        }
        tiering_note_read(k.hash);
        size_t mark = r->buf.size; /* nothing is referenced past it on PACK_GONE */
        msgpack_pack_array(&r->pk, 4);
        enum pack pk = _pack_item(q, r, &k, it);
        if (pk == PACK_ON_DISK)
            continue; /* this reply is dropped: MGET runs again once the chunks are read */
        if (pk == PACK_GONE) { /* deleted while it was read: a miss, like a key not there */
            r->buf.size = mark;
            msgpack_pack_nil(&r->pk);
            continue;
        }
        if (pk == PACK_NOMEM) {
            reply_discard(r);
            cmd_reply_store_status(q, r, STORE_ENOMEM);
            return;
        }
        if (pk != PACK_OK || r->buf.size + r->reflen > 2 * limit) {
            reply_discard(r);
            reply_error(r, q->id, CC_E_VALUE_TOO_LARGE,
                        "MGET reply would exceed 2 x max_value_size: ask for fewer keys");
            return;
        }
    }
}

/* Reads a value argument; on failure writes the error and returns false. */
static bool _arg_value(struct req *q, struct reply *r, struct store_value *v)
{
    const uint8_t *start = q->args.p;
    int type = mp_peek_type(&q->args);
    if (type < 0 || !mp_skip(&q->args, CC_MAX_VALUE_DEPTH)) {
        reply_error(r, q->id, CC_E_BAD_VALUE,
                    "value must be one msgpack value (ext only as type 1 objects), nested at "
                    "most %d deep",
                    CC_MAX_VALUE_DEPTH);
        return false;
    }
    size_t len = (size_t)(q->args.p - start);
    uint64_t max = option_get_u(&cmd_opts.max_value_size);
    if (len > max) {
        reply_error(r, q->id, CC_E_VALUE_TOO_LARGE,
                    "value of %zu bytes exceeds max_value_size %llu: use APPEND", len,
                    (unsigned long long)max);
        return false;
    }
    v->type = (uint8_t)type;
    v->data = start;
    v->len = (uint32_t)len;
    return true;
}

/* Optional trailing uint argument. */
static bool _opt_uint(struct req *q, uint32_t index, uint64_t *v, uint64_t def)
{
    if (q->argc <= index) {
        *v = def;
        return true;
    }
    return mp_read_uint(&q->args, v);
}

void cmd_set(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    struct store_value v;
    uint64_t ttl, flags, cas;
    if (!cmd_arg_key(q, r, &k, s->ns) || !_arg_value(q, r, &v))
        return;
    if (!_opt_uint(q, 2, &ttl, 0) || !_opt_uint(q, 3, &flags, 0) || !_opt_uint(q, 4, &cas, 0) ||
        flags > (CC_SET_NX | CC_SET_XX) || flags == (CC_SET_NX | CC_SET_XX)) {
        cmd_bad_args(q, r, "SET ttl, flags (1 NX or 2 XX) and cas must be uints");
        return;
    }
    if (!cmd_ttl_ok(q, r, ttl))
        return;
    uint64_t version = 0;
    int st = store_set(&k, &v, ttl, (unsigned)flags, cas, &version);
    if (cmd_on_disk(q, &k, st))
        return; /* NX, XX and CAS must see a value only the disk holds */
    if (st != STORE_OK) {
        cmd_reply_store_status(q, r, st);
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint64(&r->pk, version);
}

/* LEASE_SET key, token[, value[, ttl]]: stores the value only while token is the key's live
 * lease (which it ends); without a value it ends the lease (a compute that failed). */
void cmd_lease_set(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    struct store_value v;
    uint64_t token, ttl = 0;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return;
    if (!mp_read_uint(&q->args, &token) || token == 0) {
        cmd_bad_args(q, r, "LEASE_SET token must be the uint LEASE_GET answered");
        return;
    }
    bool store = q->argc > 2;
    if (store && !_arg_value(q, r, &v))
        return;
    if (!_opt_uint(q, 3, &ttl, 0)) {
        cmd_bad_args(q, r, "LEASE_SET ttl must be a uint");
        return;
    }
    if (!cmd_ttl_ok(q, r, ttl))
        return;
    uint64_t version = 0;
    int st = store_lease_set(&k, token, store ? &v : NULL, ttl, &version);
    if (st != STORE_OK) {
        cmd_reply_store_status(q, r, st);
        return;
    }
    reply_begin(r, q->id, CC_OK, store ? 1 : 0);
    if (store)
        msgpack_pack_uint64(&r->pk, version);
}

void cmd_mset(struct session *s, struct req *q, struct reply *r)
{
    uint32_t n, m;
    if (!mp_read_array(&q->args, &n)) {
        cmd_bad_usage(q, r);
        return;
    }
    if (!cmd_keys_ok(q, r, n))
        return; /* nothing written */
    struct mp_cursor items = q->args;
    struct store_key k;
    struct store_value v;
    uint64_t ttl;
    for (int pass = 0; pass < 2; pass++) { /* validate all, then write all */
        q->args = items;
        for (uint32_t i = 0; i < n; i++) {
            if (!mp_read_array(&q->args, &m) || (m != 2 && m != 3)) {
                cmd_bad_args(q, r, "each MSET item is [key, value, ttl]");
                return;
            }
            if (!cmd_arg_key(q, r, &k, s->ns) || !_arg_value(q, r, &v))
                return;
            ttl = 0;
            if (m == 3 && !mp_read_uint(&q->args, &ttl)) {
                cmd_bad_args(q, r, "MSET ttl must be a uint");
                return;
            }
            if (!cmd_ttl_ok(q, r, ttl))
                return;
            if (pass == 1) {
                int st = store_set(&k, &v, ttl, 0, 0, NULL);
                if (st != STORE_OK) {
                    cmd_reply_store_status(q, r, st);
                    return;
                }
            }
        }
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint32(&r->pk, n);
}

/* DEL and EXISTS: variadic keys, counted. */
static void _count_keys(struct session *s, struct req *q, struct reply *r, bool del)
{
    if (!cmd_keys_ok(q, r, q->argc))
        return; /* nothing deleted */
    struct mp_cursor keys = q->args;
    struct store_key k;
    for (uint32_t i = 0; i < q->argc; i++)
        if (!cmd_arg_key(q, r, &k, s->ns))
            return;
    q->args = keys;
    uint64_t count = 0;
    for (uint32_t i = 0; i < q->argc; i++) {
        cmd_arg_key(q, r, &k, s->ns);
        if (del) {
            /* a key only a disk tier holds is deleted there too (store's del-miss hook) */
            count += store_del(&k) == STORE_OK;
        } else {
            struct item *it;
            if (store_peek(&k, &it) == STORE_OK) {
                count++;
                store_item_release(it);
            } else if (cmd_need_disk(q, &k)) {
                count++; /* the reply is dropped: EXISTS runs again once it is loaded */
            }
        }
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint64(&r->pk, count);
}

void cmd_del(struct session *s, struct req *q, struct reply *r) { _count_keys(s, q, r, true); }
void cmd_exists(struct session *s, struct req *q, struct reply *r) { _count_keys(s, q, r, false); }

void cmd_touch(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    uint64_t ttl;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return;
    if (!mp_read_uint(&q->args, &ttl)) {
        cmd_bad_args(q, r, "TOUCH ttl must be a uint");
        return;
    }
    if (!cmd_ttl_ok(q, r, ttl))
        return;
    int st = store_touch(&k, ttl);
    if (!cmd_on_disk(q, &k, st))
        cmd_reply_store_status(q, r, st);
}

/* The request's key argument, looked at without counting a read (TTL, STRLEN); NULL when
 * the reply is written (a bad key, NOT_FOUND) or the key must come from disk first. */
static struct item *_peek_arg(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    struct item *it;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return NULL;
    if (store_peek(&k, &it) == STORE_OK)
        return it;
    if (!cmd_need_disk(q, &k))
        reply_begin(r, q->id, CC_NOT_FOUND, 0);
    return NULL;
}

void cmd_ttl(struct session *s, struct req *q, struct reply *r)
{
    struct item *it = _peek_arg(s, q, r);
    if (!it)
        return;
    int64_t ttl = store_item_ttl(it);
    store_item_release(it);
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_int64(&r->pk, ttl);
}

static void _incr(struct session *s, struct req *q, struct reply *r, bool negate)
{
    struct store_key k;
    int64_t delta, initial = 0;
    uint64_t ttl = 0;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return;
    if (!mp_read_int(&q->args, &delta) || (q->argc > 2 && !mp_read_int(&q->args, &initial)) ||
        (q->argc > 3 && !mp_read_uint(&q->args, &ttl))) {
        cmd_bad_args(q, r, "INCR/DECR delta and initial must be int64, ttl a uint");
        return;
    }
    if (!cmd_ttl_ok(q, r, ttl))
        return;
    if (negate) {
        if (delta == INT64_MIN) {
            cmd_reply_store_status(q, r, STORE_EOVERFLOW);
            return;
        }
        delta = -delta;
    }
    int64_t result;
    int st = store_incr(&k, delta, initial, ttl, &result);
    if (cmd_on_disk(q, &k, st))
        return;
    if (st != STORE_OK) {
        cmd_reply_store_status(q, r, st);
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_int64(&r->pk, result);
}

void cmd_incr(struct session *s, struct req *q, struct reply *r) { _incr(s, q, r, false); }
void cmd_decr(struct session *s, struct req *q, struct reply *r) { _incr(s, q, r, true); }

void cmd_append(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    const uint8_t *d;
    uint32_t len;
    uint64_t ttl = 0;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return;
    if (!mp_read_bytes(&q->args, &d, &len) || (q->argc > 2 && !mp_read_uint(&q->args, &ttl))) {
        cmd_bad_args(q, r, "APPEND data must be bytes, ttl a uint");
        return;
    }
    if (!cmd_ttl_ok(q, r, ttl))
        return;
    uint64_t max = option_get_u(&cmd_opts.max_value_size);
    if (len > max) {
        reply_error(r, q->id, CC_E_VALUE_TOO_LARGE,
                    "APPEND of %u bytes exceeds max_value_size %llu: append in smaller pieces",
                    len, (unsigned long long)max);
        return;
    }
    uint64_t new_len;
    int st = store_append(&k, d, len, ttl, &new_len);
    if (cmd_on_disk(q, &k, st))
        return;
    if (st != STORE_OK) {
        cmd_reply_store_status(q, r, st);
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint64(&r->pk, new_len);
}

void cmd_getrange(struct session *s, struct req *q, struct reply *r)
{
    struct store_key k;
    uint64_t off, len;
    if (!cmd_arg_key(q, r, &k, s->ns))
        return;
    if (!mp_read_uint(&q->args, &off) || !mp_read_uint(&q->args, &len)) {
        cmd_bad_args(q, r, "GETRANGE offset and length must be uints");
        return;
    }
    uint64_t max = option_get_u(&cmd_opts.max_value_size);
    if (len > max)
        len = max;
    reply_begin(r, q->id, CC_OK, 1);
    int st = _reply_range(q, r, &k, off, len);
    if (st == STORE_ON_DISK)
        return; /* the reply is dropped: GETRANGE runs again once the chunks are read */
    if (st == STORE_NOT_FOUND && cmd_need_disk(q, &k)) {
        reply_discard(r);
        return; /* loaded from disk, then GETRANGE runs again (and counts then) */
    }
    /* a read like GET: a hit when the key was there (E_TYPE included), else a miss */
    store_count_read(&k, st != STORE_NOT_FOUND);
    if (st != STORE_OK) {
        reply_discard(r);
        cmd_reply_store_status(q, r, st);
    }
}

void cmd_strlen(struct session *s, struct req *q, struct reply *r)
{
    struct item *it = _peek_arg(s, q, r);
    if (!it)
        return;
    uint8_t type = store_item_type(it);
    uint64_t len = store_item_strlen(it);
    store_item_release(it);
    if (type != STORE_T_STREAM && type != STORE_T_BYTES) {
        cmd_reply_store_status(q, r, STORE_ETYPE);
        return;
    }
    reply_begin(r, q->id, CC_OK, 1);
    msgpack_pack_uint64(&r->pk, len);
}

struct scan_out {
    struct rbuf rb; /* rb.failed: out of memory, the keys are incomplete */
    uint32_t n;
};

static void _scan_key(void *ctx, const uint8_t *key, uint32_t klen)
{
    struct scan_out *o = ctx;
    msgpack_pack_bin(&o->rb.pk, klen);
    msgpack_pack_bin_body(&o->rb.pk, key, klen);
    o->n++;
}

void cmd_scan(struct session *s, struct req *q, struct reply *r)
{
    uint64_t cursor, count;
    const uint8_t *prefix;
    uint32_t plen;
    if (!mp_read_uint(&q->args, &cursor) || !mp_read_bytes(&q->args, &prefix, &plen) ||
        !mp_read_uint(&q->args, &count) || count < 1 || count > 1000) {
        cmd_bad_usage(q, r);
        return;
    }
    struct scan_out o = {.n = 0};
    rbuf_init(&o.rb);
    uint64_t next = store_scan(s->ns, cursor, prefix, plen, (uint32_t)count, _scan_key, &o);
    if (o.rb.failed) {
        rbuf_destroy(&o.rb);
        cmd_reply_store_status(q, r, STORE_ENOMEM);
        return;
    }
    reply_begin(r, q->id, CC_OK, 2);
    msgpack_pack_uint64(&r->pk, next);
    msgpack_pack_array(&r->pk, o.n);
    reply_write_rbuf(r, &o.rb);
}
