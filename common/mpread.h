/* A bounds-checked msgpack cursor: reads scalars and container headers in place, and
 * validates/skips a whole value with a nesting limit, without allocating. Used by the
 * server to decode requests and to store values as their raw encoding, and by the client
 * to decode replies. Encoding uses msgpack-c's packer. */
#ifndef CC_MPREAD_H
#define CC_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cacheclient_protocol.h"

struct mp_cursor {
    const uint8_t *p;
    const uint8_t *end;
};

static inline void mp_cursor_init(struct mp_cursor *c, const void *buf, size_t len)
{
    c->p = (const uint8_t *)buf;
    c->end = c->p + len;
}

static inline size_t mp_remaining(const struct mp_cursor *c) { return (size_t)(c->end - c->p); }

/* Each reader returns true and advances on success; on a type mismatch, truncation or
 * out-of-range value it returns false and leaves the cursor where it was. */
bool mp_read_array(struct mp_cursor *c, uint32_t *n);
bool mp_read_map(struct mp_cursor *c, uint32_t *n);
bool mp_read_uint(struct mp_cursor *c, uint64_t *v);  /* non-negative ints only */
bool mp_read_int(struct mp_cursor *c, int64_t *v);    /* any int that fits int64 */
bool mp_read_double(struct mp_cursor *c, double *v);  /* float32 or float64 */
bool mp_read_bool(struct mp_cursor *c, bool *v);
bool mp_read_nil(struct mp_cursor *c);
bool mp_peek_nil(const struct mp_cursor *c);
/* str or bin: pointer into the buffer, not NUL-terminated. */
bool mp_read_bytes(struct mp_cursor *c, const uint8_t **data, uint32_t *len);
/* ext: type and payload pointer into the buffer. */
bool mp_read_ext(struct mp_cursor *c, int8_t *type, const uint8_t **data, uint32_t *len);

/* Deepest max_depth mp_skip accepts: a value's limit plus room for the request around it. */
#define MP_MAX_DEPTH (CC_MAX_VALUE_DEPTH + 8)

/* Validate one complete value (any type) nested at most max_depth (<= MP_MAX_DEPTH)
 * containers deep and advance past it. Object exts (CC_EXT_OBJECT) are validated as [str, uint, bin]. */
bool mp_skip(struct mp_cursor *c, int max_depth);

/* Like mp_skip but accepts any ext type and payload: checks structure only (used on whole
 * frames, whose values are checked one by one with mp_skip). */
bool mp_skip_any(struct mp_cursor *c, int max_depth);

/* The cc_type (protocol.h) of the value at the cursor, or -1 if it is not a valid start. */
int mp_peek_type(const struct mp_cursor *c);

#endif
