/* cacheclient.h's value reader: the public face of common/'s msgpack cursor (mpread), so
 * programs built against an installed libcacheclient read values the way the client does,
 * with nothing from the source tree. */
#include <stddef.h>

#include "cacheclient.h"
#include "client-internal.h"
#include "mpread.h"

_Static_assert(sizeof(cc_reader) == sizeof(struct mp_cursor) &&
                   offsetof(cc_reader, p) == offsetof(struct mp_cursor, p) &&
                   offsetof(cc_reader, end) == offsetof(struct mp_cursor, end),
               "cc_reader is struct mp_cursor");

#define CUR(r) ((struct mp_cursor *)(void *)(r))

int cc_read_peek_type(const cc_reader *r)
{
    return mp_peek_type((const struct mp_cursor *)(const void *)r);
}
bool cc_read_array(cc_reader *r, uint32_t *n) { return mp_read_array(CUR(r), n); }
bool cc_read_map(cc_reader *r, uint32_t *n) { return mp_read_map(CUR(r), n); }
bool cc_read_uint(cc_reader *r, uint64_t *v) { return mp_read_uint(CUR(r), v); }
bool cc_read_int(cc_reader *r, int64_t *v) { return mp_read_int(CUR(r), v); }
bool cc_read_double(cc_reader *r, double *v) { return mp_read_double(CUR(r), v); }
bool cc_read_bool(cc_reader *r, bool *v) { return mp_read_bool(CUR(r), v); }
bool cc_read_nil(cc_reader *r) { return mp_read_nil(CUR(r)); }
bool cc_read_bytes(cc_reader *r, const uint8_t **data, uint32_t *len)
{
    return mp_read_bytes(CUR(r), data, len);
}
bool cc_read_ext(cc_reader *r, int8_t *type, const uint8_t **data, uint32_t *len)
{
    return mp_read_ext(CUR(r), type, data, len);
}
