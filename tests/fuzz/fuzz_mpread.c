/* libFuzzer target: common/mpread.c, the bounds-checked msgpack cursor that decodes every
 * request the server reads and every reply the client reads.
 *
 * The input is a sequence of msgpack values. Each is walked with the typed readers
 * (mp_peek_type, then mp_read_uint/int/double/bool/nil/bytes/ext/array/map, nested arrays
 * and maps included, object exts decoded as [class, serializer, data]), and the walk is
 * compared with the validators: mp_skip_any must accept exactly what a structural walk
 * accepts, and mp_skip exactly what a walk that takes only object exts accepts, both ending
 * at the same byte. Every reader that fails must leave the cursor where it was (mpread.h).
 * A disagreement abort()s: it is a finding like a crash. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheclient_protocol.h"
#include "mpread.h"

static volatile uint64_t sink; /* keeps the reads of decoded bytes */

static void _fail(const char *what)
{
    fprintf(stderr, "fuzz_mpread: %s\n", what);
    abort();
}

/* A reader returned false: the cursor must not have moved. */
static void _unmoved(const struct mp_cursor *c, const struct mp_cursor *save, const char *fn)
{
    if (c->p != save->p || c->end != save->end)
        _fail(fn);
}

static void _touch(const uint8_t *d, uint32_t len)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i < len; i++)
        s += d[i];
    sink += s;
}

/* An object ext's payload: exactly [class:str or bin (not empty), serializer:uint, data]. */
static bool _object_payload(const uint8_t *d, uint32_t len)
{
    struct mp_cursor c;
    uint32_t n, blen;
    const uint8_t *b;
    uint64_t ser;
    mp_cursor_init(&c, d, len);
    if (!mp_read_array(&c, &n) || n != 3)
        return false;
    if (!mp_read_bytes(&c, &b, &blen) || blen == 0)
        return false;
    _touch(b, blen);
    if (!mp_read_uint(&c, &ser) || !mp_read_bytes(&c, &b, &blen))
        return false;
    _touch(b, blen);
    return mp_remaining(&c) == 0;
}

/* Walk one value nested in `depth` containers. objects_only: an ext other than a well-formed
 * object fails (mp_skip's rule), else any ext is taken whole (mp_skip_any's). */
static bool _walk(struct mp_cursor *c, int depth, int max_depth, bool objects_only)
{
    struct mp_cursor save = *c;
    int t = mp_peek_type(c);
    switch (t) {
    case CC_TYPE_NULL:
        if (!mp_read_nil(c))
            _fail("peek says nil, mp_read_nil refuses");
        return true;
    case CC_TYPE_BOOL: {
        bool b;
        if (!mp_read_bool(c, &b))
            _fail("peek says bool, mp_read_bool refuses");
        sink += b;
        return true;
    }
    case CC_TYPE_INT: {
        int64_t s;
        uint64_t u;
        if (mp_read_int(c, &s)) {
            /* the same bytes as a uint: only when non-negative, and then the same number */
            struct mp_cursor again = save;
            bool ok = mp_read_uint(&again, &u);
            if (ok != (s >= 0) || (ok && (u != (uint64_t)s || again.p != c->p)))
                _fail("mp_read_int and mp_read_uint disagree");
            sink += (uint64_t)s;
            return true;
        }
        _unmoved(c, &save, "mp_read_int moved the cursor on failure");
        if (mp_read_uint(c, &u)) {
            if (u <= (uint64_t)INT64_MAX)
                _fail("mp_read_int refused a uint that fits int64");
            sink += u;
            return true;
        }
        _unmoved(c, &save, "mp_read_uint moved the cursor on failure");
        return false; /* truncated */
    }
    case CC_TYPE_FLOAT: {
        double d;
        if (!mp_read_double(c, &d)) {
            _unmoved(c, &save, "mp_read_double moved the cursor on failure");
            return false;
        }
        sink += d == d;
        return true;
    }
    case CC_TYPE_BYTES: {
        const uint8_t *d;
        uint32_t len;
        if (!mp_read_bytes(c, &d, &len)) {
            _unmoved(c, &save, "mp_read_bytes moved the cursor on failure");
            return false;
        }
        if (d < save.p || len > (size_t)(c->end - d) || c->p != d + len)
            _fail("mp_read_bytes returned bytes outside the buffer");
        _touch(d, len);
        return true;
    }
    case CC_TYPE_ARRAY:
    case CC_TYPE_MAP: {
        uint32_t n;
        bool ok = t == CC_TYPE_ARRAY ? mp_read_array(c, &n) : mp_read_map(c, &n);
        if (!ok) {
            _unmoved(c, &save, "mp_read_array/map moved the cursor on failure");
            return false;
        }
        if (depth >= max_depth)
            return false;
        uint64_t items = t == CC_TYPE_MAP ? 2ull * n : n;
        for (uint64_t i = 0; i < items; i++)
            if (!_walk(c, depth + 1, max_depth, objects_only))
                return false;
        return true;
    }
    case CC_TYPE_OBJECT:
    default: {
        int8_t et;
        const uint8_t *d;
        uint32_t len;
        if (!mp_read_ext(c, &et, &d, &len)) {
            _unmoved(c, &save, "mp_read_ext moved the cursor on failure");
            if (t == CC_TYPE_OBJECT)
                _fail("peek says object, mp_read_ext refuses");
            return false;
        }
        if (len > (size_t)(c->end - d) || c->p != d + len)
            _fail("mp_read_ext returned bytes outside the buffer");
        _touch(d, len);
        if ((t == CC_TYPE_OBJECT) != (et == CC_EXT_OBJECT))
            _fail("mp_peek_type and mp_read_ext disagree on the ext type");
        if (!objects_only)
            return true;
        return et == CC_EXT_OBJECT && _object_payload(d, len);
    }
    }
}

/* The walk and validator `skip` over the value at c must agree, and end at the same byte. */
static void _compare(const struct mp_cursor *c, int max_depth, bool objects_only)
{
    struct mp_cursor w = *c, s = *c;
    bool walked = _walk(&w, 0, max_depth, objects_only);
    bool skipped = objects_only ? mp_skip(&s, max_depth) : mp_skip_any(&s, max_depth);
    if (walked != skipped) {
        fprintf(stderr, "fuzz_mpread: walk %s, %s %s (max_depth %d)\n",
                walked ? "accepts" : "refuses", objects_only ? "mp_skip" : "mp_skip_any",
                skipped ? "accepts" : "refuses", max_depth);
        abort();
    }
    if (skipped && w.p != s.p)
        _fail("the walk and mp_skip end at different bytes");
    if (!skipped)
        _unmoved(&s, c, "mp_skip moved the cursor on failure");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mp_cursor c;
    mp_cursor_init(&c, data, size);
    /* the first byte picks a depth limit too, so the limit's edge is reached */
    int small_depth = size ? data[0] % 6 : 0;
    for (unsigned values = 0; mp_remaining(&c) > 0 && values < 4096; values++) {
        _compare(&c, MP_MAX_DEPTH, false);
        _compare(&c, CC_MAX_VALUE_DEPTH, true);
        _compare(&c, small_depth, true);
        struct mp_cursor next = c;
        if (!mp_skip_any(&next, MP_MAX_DEPTH))
            break;
        if (next.p <= c.p)
            _fail("mp_skip_any accepted a value without advancing");
        c = next;
    }
    return 0;
}
