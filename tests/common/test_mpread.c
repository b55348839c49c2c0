/* Unit tests of the shared msgpack cursor: every type round-trips through msgpack-c's
 * packer and back, and malformed or hostile input is refused without reading past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "cacheclient_protocol.h"
#include "mpread.h"

struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void _pk_init(struct packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void test_ints_round_trip(void **state)
{
    (void)state;
    static const int64_t vals[] = {0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128,
                                   -129, -32768, -32769, INT32_MIN, INT32_MAX, INT64_MIN,
                                   INT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct packed p;
        _pk_init(&p);
        msgpack_pack_int64(&p.pk, vals[i]);
        struct mp_cursor c;
        mp_cursor_init(&c, p.sb.data, p.sb.size);
        assert_int_equal(mp_peek_type(&c), CC_TYPE_INT);
        int64_t got;
        assert_true(mp_read_int(&c, &got));
        assert_int_equal(got, vals[i]);
        assert_int_equal(mp_remaining(&c), 0);
        msgpack_sbuffer_destroy(&p.sb);
    }
    struct packed p;
    _pk_init(&p);
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    struct mp_cursor c;
    mp_cursor_init(&c, p.sb.data, p.sb.size);
    int64_t s;
    uint64_t u;
    assert_false(mp_read_int(&c, &s)); /* does not fit int64 */
    assert_int_equal(mp_remaining(&c), p.sb.size); /* cursor untouched */
    assert_true(mp_read_uint(&c, &u));
    assert_true(u == UINT64_MAX);
    mp_cursor_init(&c, "\xff", 1); /* -1 */
    assert_false(mp_read_uint(&c, &u));
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_scalars_round_trip(void **state)
{
    (void)state;
    struct packed p;
    _pk_init(&p);
    msgpack_pack_double(&p.pk, 3.25);
    msgpack_pack_double(&p.pk, INFINITY);
    msgpack_pack_double(&p.pk, NAN);
    msgpack_pack_float(&p.pk, 1.5f);
    msgpack_pack_true(&p.pk);
    msgpack_pack_false(&p.pk);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_str(&p.pk, 5);
    msgpack_pack_str_body(&p.pk, "hello", 5);
    msgpack_pack_bin(&p.pk, 3);
    msgpack_pack_bin_body(&p.pk, "\0\1\2", 3);
    struct mp_cursor c;
    mp_cursor_init(&c, p.sb.data, p.sb.size);
    double d;
    bool b;
    const uint8_t *data;
    uint32_t len;
    assert_int_equal(mp_peek_type(&c), CC_TYPE_FLOAT);
    assert_true(mp_read_double(&c, &d) && d == 3.25);
    assert_true(mp_read_double(&c, &d) && isinf(d));
    assert_true(mp_read_double(&c, &d) && isnan(d));
    assert_true(mp_read_double(&c, &d) && d == 1.5);
    assert_int_equal(mp_peek_type(&c), CC_TYPE_BOOL);
    assert_true(mp_read_bool(&c, &b) && b);
    assert_true(mp_read_bool(&c, &b) && !b);
    assert_int_equal(mp_peek_type(&c), CC_TYPE_NULL);
    assert_true(mp_read_nil(&c));
    assert_int_equal(mp_peek_type(&c), CC_TYPE_BYTES);
    assert_true(mp_read_bytes(&c, &data, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    assert_true(mp_read_bytes(&c, &data, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(data, "\0\1\2", 3);
    assert_int_equal(mp_remaining(&c), 0);
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_containers_and_objects(void **state)
{
    (void)state;
    struct packed inner;
    _pk_init(&inner);
    msgpack_pack_array(&inner.pk, 3);
    msgpack_pack_str(&inner.pk, 3);
    msgpack_pack_str_body(&inner.pk, "Foo", 3);
    msgpack_pack_uint8(&inner.pk, 1);
    msgpack_pack_bin(&inner.pk, 2);
    msgpack_pack_bin_body(&inner.pk, "ab", 2);

    struct packed p;
    _pk_init(&p);
    msgpack_pack_map(&p.pk, 2);
    msgpack_pack_int(&p.pk, 1);
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_ext(&p.pk, inner.sb.size, CC_EXT_OBJECT);
    msgpack_pack_ext_body(&p.pk, inner.sb.data, inner.sb.size);
    msgpack_pack_str(&p.pk, 1);
    msgpack_pack_str_body(&p.pk, "k", 1);
    msgpack_pack_map(&p.pk, 0);

    struct mp_cursor c;
    mp_cursor_init(&c, p.sb.data, p.sb.size);
    assert_int_equal(mp_peek_type(&c), CC_TYPE_MAP);
    assert_true(mp_skip(&c, CC_MAX_VALUE_DEPTH));
    assert_int_equal(mp_remaining(&c), 0);

    /* the object alone */
    struct packed o;
    _pk_init(&o);
    msgpack_pack_ext(&o.pk, inner.sb.size, CC_EXT_OBJECT);
    msgpack_pack_ext_body(&o.pk, inner.sb.data, inner.sb.size);
    mp_cursor_init(&c, o.sb.data, o.sb.size);
    assert_int_equal(mp_peek_type(&c), CC_TYPE_OBJECT);

    /* an ext of another type is refused, and so is a malformed object payload */
    struct packed bad;
    _pk_init(&bad);
    msgpack_pack_ext(&bad.pk, 2, 5);
    msgpack_pack_ext_body(&bad.pk, "xy", 2);
    msgpack_pack_ext(&bad.pk, 2, CC_EXT_OBJECT);
    msgpack_pack_ext_body(&bad.pk, "xy", 2);
    mp_cursor_init(&c, bad.sb.data, bad.sb.size);
    assert_int_equal(mp_peek_type(&c), -1);
    assert_false(mp_skip(&c, CC_MAX_VALUE_DEPTH));
    mp_cursor_init(&c, bad.sb.data + 4, bad.sb.size - 4);
    assert_false(mp_skip(&c, CC_MAX_VALUE_DEPTH));

    msgpack_sbuffer_destroy(&inner.sb);
    msgpack_sbuffer_destroy(&p.sb);
    msgpack_sbuffer_destroy(&o.sb);
    msgpack_sbuffer_destroy(&bad.sb);
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* 32 nested arrays are fine; 33 are refused; 10,000 cost no stack */
    for (int depth = 31; depth <= 33; depth++) {
        uint8_t buf[64];
        memset(buf, 0x91, (size_t)depth); /* fixarray of 1 */
        buf[depth] = 0xc0;
        struct mp_cursor c;
        mp_cursor_init(&c, buf, (size_t)depth + 1);
        bool ok = mp_skip(&c, CC_MAX_VALUE_DEPTH);
        if (depth <= CC_MAX_VALUE_DEPTH)
            assert_true(ok);
        else
            assert_false(ok);
    }
    size_t n = 10000;
    uint8_t *deep = malloc(n + 1);
    memset(deep, 0x91, n);
    deep[n] = 0xc0;
    struct mp_cursor c;
    mp_cursor_init(&c, deep, n + 1);
    assert_false(mp_skip(&c, CC_MAX_VALUE_DEPTH));
    assert_int_equal(mp_remaining(&c), n + 1);
    free(deep);
}

static void test_truncated_input_is_refused(void **state)
{
    (void)state;
    struct packed p;
    _pk_init(&p);
    msgpack_pack_array(&p.pk, 4);
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    msgpack_pack_str(&p.pk, 300);
    char s[300];
    memset(s, 'x', sizeof(s));
    msgpack_pack_str_body(&p.pk, s, sizeof(s));
    msgpack_pack_double(&p.pk, 1.0);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_int(&p.pk, -5);
    msgpack_pack_bin(&p.pk, 0);
    /* every strict prefix must be refused, never over-read (ASan would catch it) */
    for (size_t cut = 0; cut < p.sb.size; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, p.sb.data, cut);
        struct mp_cursor c;
        mp_cursor_init(&c, copy, cut);
        assert_false(mp_skip(&c, CC_MAX_VALUE_DEPTH));
        free(copy);
    }
    struct mp_cursor c;
    mp_cursor_init(&c, p.sb.data, p.sb.size);
    assert_true(mp_skip(&c, CC_MAX_VALUE_DEPTH));
    /* container counts larger than the input are refused at once */
    const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    mp_cursor_init(&c, huge, sizeof(huge));
    assert_false(mp_skip(&c, CC_MAX_VALUE_DEPTH));
    /* reserved byte 0xc1 */
    mp_cursor_init(&c, "\xc1", 1);
    assert_false(mp_skip(&c, CC_MAX_VALUE_DEPTH));
    assert_int_equal(mp_peek_type(&c), -1);
    msgpack_sbuffer_destroy(&p.sb);
}

/* One element of every msgpack format family and size class: mp_skip_any consumes exactly
 * the whole array, and every strict prefix is refused. */
static void test_every_format_is_sized_exactly(void **state)
{
    (void)state;
    static char big[70000];
    memset(big, 'b', sizeof(big));
    struct packed p;
    _pk_init(&p);
    msgpack_pack_array(&p.pk, 29);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_true(&p.pk);
    msgpack_pack_int64(&p.pk, -3);        /* negative fixint */
    msgpack_pack_uint64(&p.pk, 200);      /* uint8 */
    msgpack_pack_uint64(&p.pk, 60000);    /* uint16 */
    msgpack_pack_uint64(&p.pk, 1u << 20); /* uint32 */
    msgpack_pack_int64(&p.pk, -100);      /* int8 */
    msgpack_pack_int64(&p.pk, -1000);     /* int16 */
    msgpack_pack_int64(&p.pk, -100000);   /* int32 */
    msgpack_pack_int64(&p.pk, INT64_MIN); /* int64 */
    msgpack_pack_float(&p.pk, 1.5f);
    msgpack_pack_double(&p.pk, 2.5);
    const size_t str_sizes[] = {5, 40, 300, 70000};
    for (size_t i = 0; i < 4; i++) {
        msgpack_pack_str(&p.pk, str_sizes[i]);
        msgpack_pack_str_body(&p.pk, big, str_sizes[i]);
    }
    const size_t bin_sizes[] = {40, 300, 70000};
    for (size_t i = 0; i < 3; i++) {
        msgpack_pack_bin(&p.pk, bin_sizes[i]);
        msgpack_pack_bin_body(&p.pk, big, bin_sizes[i]);
    }
    const size_t ext_sizes[] = {1, 2, 4, 8, 16, 3, 300, 70000}; /* fixext 1..16, ext8/16/32 */
    for (size_t i = 0; i < 8; i++) {
        msgpack_pack_ext(&p.pk, ext_sizes[i], 7);
        msgpack_pack_ext_body(&p.pk, big, ext_sizes[i]);
    }
    msgpack_pack_array(&p.pk, 20); /* array16 */
    for (int i = 0; i < 20; i++)
        msgpack_pack_int(&p.pk, i);
    msgpack_pack_map(&p.pk, 16); /* map16 */
    for (int i = 0; i < 32; i++)
        msgpack_pack_int(&p.pk, i);
    struct mp_cursor c;
    mp_cursor_init(&c, p.sb.data, p.sb.size);
    assert_true(mp_skip_any(&c, CC_MAX_VALUE_DEPTH));
    assert_int_equal(mp_remaining(&c), 0);
    /* ext type 7 is not a stored value type: mp_skip refuses what mp_skip_any accepts */
    mp_cursor_init(&c, p.sb.data, p.sb.size);
    assert_false(mp_skip(&c, CC_MAX_VALUE_DEPTH));
    for (size_t cut = 0; cut < p.sb.size; cut += (cut < 2000 ? 1 : 997)) {
        mp_cursor_init(&c, p.sb.data, cut);
        assert_false(mp_skip_any(&c, CC_MAX_VALUE_DEPTH));
        assert_true(c.p == (const uint8_t *)p.sb.data); /* the cursor is left where it was */
    }
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_random_bytes_never_crash(void **state)
{
    (void)state;
    srand(42);
    uint8_t buf[64];
    unsigned accepted = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n = (size_t)(rand() % (int)sizeof(buf));
        for (size_t j = 0; j < n; j++)
            buf[j] = (uint8_t)rand();
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        struct mp_cursor c;
        mp_cursor_init(&c, copy, n);
        if (mp_skip(&c, CC_MAX_VALUE_DEPTH)) {
            accepted++;
            assert_true(mp_remaining(&c) <= n);
        }
        free(copy);
    }
    assert_true(accepted > 0);
}

static void test_status_and_type_names(void **state)
{
    (void)state;
    assert_string_equal(cc_status_name(CC_E_TYPE), "E_TYPE");
    assert_string_equal(cc_status_name(999), "UNKNOWN");
    assert_string_equal(cc_type_name(CC_TYPE_STREAM), "stream");
    assert_string_equal(cc_op_name(CC_OP_GETRANGE), "GETRANGE");
    assert_true(cc_status_is_error(CC_E_PROTOCOL));
    assert_false(cc_status_is_error(CC_NOT_FOUND));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ints_round_trip),
        cmocka_unit_test(test_scalars_round_trip),
        cmocka_unit_test(test_containers_and_objects),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_truncated_input_is_refused),
        cmocka_unit_test(test_every_format_is_sized_exactly),
        cmocka_unit_test(test_random_bytes_never_crash),
        cmocka_unit_test(test_status_and_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
