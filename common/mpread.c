/* msgpack cursor: see mpread.h. Formats from the msgpack specification. */
#include "mpread.h"

#include <string.h>

#include "cacheclient_protocol.h"

static inline bool _need(const struct mp_cursor *c, size_t n) { return mp_remaining(c) >= n; }

static inline uint16_t _be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t _be32(const uint8_t *p) { return cc_be32_read(p); }
static inline uint64_t _be64(const uint8_t *p)
{
    return ((uint64_t)_be32(p) << 32) | _be32(p + 4);
}

bool mp_read_array(struct mp_cursor *c, uint32_t *n)
{
    if (!_need(c, 1))
        return false;
    uint8_t b = c->p[0];
    if ((b & 0xf0) == 0x90) {
        *n = b & 0x0f;
        c->p += 1;
        return true;
    }
    if (b == 0xdc && _need(c, 3)) {
        *n = _be16(c->p + 1);
        c->p += 3;
        return true;
    }
    if (b == 0xdd && _need(c, 5)) {
        *n = _be32(c->p + 1);
        c->p += 5;
        return true;
    }
    return false;
}

bool mp_read_map(struct mp_cursor *c, uint32_t *n)
{
    if (!_need(c, 1))
        return false;
    uint8_t b = c->p[0];
    if ((b & 0xf0) == 0x80) {
        *n = b & 0x0f;
        c->p += 1;
        return true;
    }
    if (b == 0xde && _need(c, 3)) {
        *n = _be16(c->p + 1);
        c->p += 3;
        return true;
    }
    if (b == 0xdf && _need(c, 5)) {
        *n = _be32(c->p + 1);
        c->p += 5;
        return true;
    }
    return false;
}

/* Reads any msgpack integer into either a uint64 (neg == false) or a negative int64. */
static bool _read_integer(struct mp_cursor *c, uint64_t *u, int64_t *s, bool *neg)
{
    if (!_need(c, 1))
        return false;
    uint8_t b = c->p[0];
    size_t sz;
    *neg = false;
    if (b <= 0x7f) {
        *u = b;
        sz = 1;
    } else if (b >= 0xe0) {
        *s = (int8_t)b;
        *neg = true;
        sz = 1;
    } else {
        static const uint8_t widths[] = {1, 2, 4, 8};
        if (b >= 0xcc && b <= 0xcf) {
            sz = 1 + widths[b - 0xcc];
            if (!_need(c, sz))
                return false;
            const uint8_t *p = c->p + 1;
            *u = b == 0xcc ? p[0] : b == 0xcd ? _be16(p) : b == 0xce ? _be32(p) : _be64(p);
        } else if (b >= 0xd0 && b <= 0xd3) {
            sz = 1 + widths[b - 0xd0];
            if (!_need(c, sz))
                return false;
            const uint8_t *p = c->p + 1;
            int64_t v = b == 0xd0   ? (int8_t)p[0]
                        : b == 0xd1 ? (int16_t)_be16(p)
                        : b == 0xd2 ? (int32_t)_be32(p)
                                    : (int64_t)_be64(p);
            if (v >= 0) {
                *u = (uint64_t)v;
            } else {
                *s = v;
                *neg = true;
            }
        } else {
            return false;
        }
    }
    c->p += sz;
    return true;
}

bool mp_read_uint(struct mp_cursor *c, uint64_t *v)
{
    struct mp_cursor save = *c;
    uint64_t u;
    int64_t s;
    bool neg;
    if (!_read_integer(c, &u, &s, &neg))
        return false;
    if (neg) {
        *c = save;
        return false;
    }
    *v = u;
    return true;
}

bool mp_read_int(struct mp_cursor *c, int64_t *v)
{
    struct mp_cursor save = *c;
    uint64_t u;
    int64_t s;
    bool neg;
    if (!_read_integer(c, &u, &s, &neg))
        return false;
    if (neg) {
        *v = s;
    } else if (u > (uint64_t)INT64_MAX) {
        *c = save;
        return false;
    } else {
        *v = (int64_t)u;
    }
    return true;
}

bool mp_read_double(struct mp_cursor *c, double *v)
{
    if (!_need(c, 1))
        return false;
    if (c->p[0] == 0xca && _need(c, 5)) {
        uint32_t bits = _be32(c->p + 1);
        float f;
        memcpy(&f, &bits, 4);
        *v = f;
        c->p += 5;
        return true;
    }
    if (c->p[0] == 0xcb && _need(c, 9)) {
        uint64_t bits = _be64(c->p + 1);
        memcpy(v, &bits, 8);
        c->p += 9;
        return true;
    }
    return false;
}

bool mp_read_bool(struct mp_cursor *c, bool *v)
{
    if (!_need(c, 1) || (c->p[0] != 0xc2 && c->p[0] != 0xc3))
        return false;
    *v = c->p[0] == 0xc3;
    c->p += 1;
    return true;
}

bool mp_peek_nil(const struct mp_cursor *c) { return _need(c, 1) && c->p[0] == 0xc0; }

bool mp_read_nil(struct mp_cursor *c)
{
    if (!mp_peek_nil(c))
        return false;
    c->p += 1;
    return true;
}

bool mp_read_bytes(struct mp_cursor *c, const uint8_t **data, uint32_t *len)
{
    if (!_need(c, 1))
        return false;
    uint8_t b = c->p[0];
    size_t hdr;
    uint32_t n;
    if ((b & 0xe0) == 0xa0) {
        hdr = 1;
        n = b & 0x1f;
    } else if ((b == 0xd9 || b == 0xc4) && _need(c, 2)) {
        hdr = 2;
        n = c->p[1];
    } else if ((b == 0xda || b == 0xc5) && _need(c, 3)) {
        hdr = 3;
        n = _be16(c->p + 1);
    } else if ((b == 0xdb || b == 0xc6) && _need(c, 5)) {
        hdr = 5;
        n = _be32(c->p + 1);
    } else {
        return false;
    }
    if (mp_remaining(c) - hdr < n)
        return false;
    *data = c->p + hdr;
    *len = n;
    c->p += hdr + n;
    return true;
}

bool mp_read_ext(struct mp_cursor *c, int8_t *type, const uint8_t **data, uint32_t *len)
{
    if (!_need(c, 1))
        return false;
    uint8_t b = c->p[0];
    size_t hdr;
    uint32_t n;
    switch (b) {
    case 0xd4: hdr = 2; n = 1; break;
    case 0xd5: hdr = 2; n = 2; break;
    case 0xd6: hdr = 2; n = 4; break;
    case 0xd7: hdr = 2; n = 8; break;
    case 0xd8: hdr = 2; n = 16; break;
    case 0xc7:
        if (!_need(c, 3))
            return false;
        hdr = 3;
        n = c->p[1];
        break;
    case 0xc8:
        if (!_need(c, 4))
            return false;
        hdr = 4;
        n = _be16(c->p + 1);
        break;
    case 0xc9:
        if (!_need(c, 6))
            return false;
        hdr = 6;
        n = _be32(c->p + 1);
        break;
    default:
        return false;
    }
    if (mp_remaining(c) < hdr || mp_remaining(c) - hdr < n)
        return false;
    *type = (int8_t)c->p[hdr - 1];
    *data = c->p + hdr;
    *len = n;
    c->p += hdr + n;
    return true;
}

/* An object ext payload is exactly msgpack [class:str, serializer:uint, data:bin]. */
static bool _valid_object(const uint8_t *data, uint32_t len)
{
    struct mp_cursor c;
    mp_cursor_init(&c, data, len);
    uint32_t n, blen;
    const uint8_t *b;
    uint64_t ser;
    if (!mp_read_array(&c, &n) || n != 3)
        return false;
    if (!mp_read_bytes(&c, &b, &blen) || blen == 0)
        return false;
    if (!mp_read_uint(&c, &ser) || !mp_read_bytes(&c, &b, &blen))
        return false;
    return mp_remaining(&c) == 0;
}

/* The shape of the element at the cursor, from its first byte (one switch, no trial reads):
 * header size, payload bytes after the header, and for arrays/maps how many values follow.
 * ext_type is set for ext elements (else left alone). false: truncated header or 0xc1. */
static bool _shape(const struct mp_cursor *c, size_t *hdr, uint64_t *payload, uint64_t *items,
                   bool *container, bool *is_ext, int8_t *ext_type)
{
    if (!_need(c, 1))
        return false;
    const uint8_t *p = c->p;
    uint8_t b = p[0];
    *payload = 0;
    *container = false;
    *is_ext = false;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        *hdr = 1;
        return true;
    }
    if (b <= 0x8f || (b >= 0x90 && b <= 0x9f)) {
        *hdr = 1;
        *container = true;
        *items = b <= 0x8f ? 2ull * (b & 0x0f) : (uint64_t)(b & 0x0f);
        return true;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        *hdr = 1;
        *payload = b & 0x1f;
        return true;
    }
    /* sizes of the 0xc4..0xdf headers (0 = needs more than the table) */
    static const uint8_t fixed_hdr[32] = {
        [0xc4 - 0xc4] = 2, [0xc5 - 0xc4] = 3, [0xc6 - 0xc4] = 5,                     /* bin */
        [0xc7 - 0xc4] = 3, [0xc8 - 0xc4] = 4, [0xc9 - 0xc4] = 6,                     /* ext */
        [0xca - 0xc4] = 5, [0xcb - 0xc4] = 9,                                        /* float */
        [0xcc - 0xc4] = 2, [0xcd - 0xc4] = 3, [0xce - 0xc4] = 5, [0xcf - 0xc4] = 9, /* uint */
        [0xd0 - 0xc4] = 2, [0xd1 - 0xc4] = 3, [0xd2 - 0xc4] = 5, [0xd3 - 0xc4] = 9, /* int */
        [0xd4 - 0xc4] = 2, [0xd5 - 0xc4] = 2, [0xd6 - 0xc4] = 2, [0xd7 - 0xc4] = 2,
        [0xd8 - 0xc4] = 2,                                                           /* fixext */
        [0xd9 - 0xc4] = 2, [0xda - 0xc4] = 3, [0xdb - 0xc4] = 5,                     /* str */
        [0xdc - 0xc4] = 3, [0xdd - 0xc4] = 5, [0xde - 0xc4] = 3, [0xdf - 0xc4] = 5, /* array, map */
    };
    if (b < 0xc4)
        return false; /* 0xc1: never used */
    *hdr = fixed_hdr[b - 0xc4];
    if (!_need(c, *hdr))
        return false;
    switch (b) {
    case 0xc4: case 0xd9: *payload = p[1]; break;
    case 0xc5: case 0xda: *payload = _be16(p + 1); break;
    case 0xc6: case 0xdb: *payload = _be32(p + 1); break;
    case 0xc7: *payload = p[1]; *is_ext = true; *ext_type = (int8_t)p[2]; break;
    case 0xc8: *payload = _be16(p + 1); *is_ext = true; *ext_type = (int8_t)p[3]; break;
    case 0xc9: *payload = _be32(p + 1); *is_ext = true; *ext_type = (int8_t)p[5]; break;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        *payload = 1u << (b - 0xd4);
        *is_ext = true;
        *ext_type = (int8_t)p[1];
        break;
    case 0xdc: *container = true; *items = _be16(p + 1); break;
    case 0xdd: *container = true; *items = _be32(p + 1); break;
    case 0xde: *container = true; *items = 2ull * _be16(p + 1); break;
    case 0xdf: *container = true; *items = 2ull * _be32(p + 1); break;
    default: break; /* numbers: the header is the whole element */
    }
    return true;
}

/* Iterative skip: an explicit stack of remaining-element counts bounded by max_depth, so
 * hostile nesting costs no C stack. */
static bool _skip(struct mp_cursor *c, int max_depth, bool values_only)
{
    if (max_depth > MP_MAX_DEPTH)
        max_depth = MP_MAX_DEPTH;
    uint64_t pending[MP_MAX_DEPTH + 1];
    int depth = 0;
    struct mp_cursor save = *c;
    uint64_t todo = 1; /* values still to read at the current level */
    for (;;) {
        while (todo == 0) {
            if (depth == 0)
                return true;
            todo = pending[--depth];
        }
        todo--;
        size_t hdr;
        uint64_t payload, items = 0;
        bool container, is_ext;
        int8_t et = 0;
        if (!_shape(c, &hdr, &payload, &items, &container, &is_ext, &et))
            goto fail;
        if (mp_remaining(c) - hdr < payload)
            goto fail;
        const uint8_t *data = c->p + hdr;
        c->p += hdr + payload;
        if (container) {
            if (depth >= max_depth || items > mp_remaining(c))
                goto fail; /* each value needs at least one byte */
            pending[depth++] = todo;
            todo = items;
            continue;
        }
        if (is_ext && values_only && (et != CC_EXT_OBJECT || !_valid_object(data, (uint32_t)payload)))
            goto fail;
    }
fail:
    *c = save;
    return false;
}

bool mp_skip(struct mp_cursor *c, int max_depth) { return _skip(c, max_depth, true); }

bool mp_skip_any(struct mp_cursor *c, int max_depth) { return _skip(c, max_depth, false); }

int mp_peek_type(const struct mp_cursor *c)
{
    if (!_need(c, 1))
        return -1;
    uint8_t b = c->p[0];
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
        return CC_TYPE_INT;
    if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd)
        return CC_TYPE_ARRAY;
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf)
        return CC_TYPE_MAP;
    if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb || b == 0xc4 || b == 0xc5 ||
        b == 0xc6)
        return CC_TYPE_BYTES;
    if (b == 0xc0)
        return CC_TYPE_NULL;
    if (b == 0xc2 || b == 0xc3)
        return CC_TYPE_BOOL;
    if (b == 0xca || b == 0xcb)
        return CC_TYPE_FLOAT;
    if ((b >= 0xd4 && b <= 0xd8) || (b >= 0xc7 && b <= 0xc9)) {
        struct mp_cursor t = *c;
        int8_t et;
        const uint8_t *d;
        uint32_t l;
        if (mp_read_ext(&t, &et, &d, &l) && et == CC_EXT_OBJECT)
            return CC_TYPE_OBJECT;
        return -1;
    }
    return -1;
}
