/* The backlog ring (cacheserverd/repl/backlog.c): coalescing, what WAIT's mark keeps, and a
 * reader that falls out of the ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "backlog.h"
#include "wire.h"

/* A SET of key to the bytes val (as msgpack bin 16: the value's encoding). */
static void _set(struct backlog *b, const char *key, const char *val, uint64_t stamp)
{
    uint8_t enc[1024];
    size_t n = strlen(val);
    enc[0] = 0xc5;
    enc[1] = (uint8_t)(n >> 8);
    enc[2] = (uint8_t)n;
    memcpy(enc + 3, val, n);
    struct repl_change c = {.op = REPL_OP_SET, .ns = (const uint8_t *)"", .key = (const uint8_t *)key,
                            .klen = (uint32_t)strlen(key), .stamp = stamp, .origin = 1, .type = 4,
                            .value = enc, .vlen = (uint32_t)(n + 3)};
    uint64_t hash = 0x9e3779b97f4a7c15ull * (uint64_t)(key[0] + 1);
    assert_true(backlog_append(b, &c, hash));
}

/* Read everything from pos; the values of the RECs read, in order, joined by ','. */
static int _read_all(struct backlog *b, struct backlog_pos *pos, char *vals, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    int rc;
    while ((rc = backlog_read(b, pos, out, 1u << 20)) == 1)
        ;
    vals[0] = '\0';
    while (evbuffer_get_length(out) >= 4) {
        uint8_t hdr[4];
        evbuffer_copyout(out, hdr, 4);
        uint32_t flen = repl_frame_len(hdr);
        const uint8_t *f = evbuffer_pullup(out, 4 + (ssize_t)flen);
        struct repl_msg m;
        const char *why = NULL;
        if (repl_decode(f + 4, flen, &m, &why) != 0)
            fail_msg("a record does not decode: %s", why);
        assert_int_equal(m.type, REPL_REC);
        size_t n = strlen(vals);
        snprintf(vals + n, len - n, "%s%.*s", n ? "," : "", (int)m.c.vlen - 3,
                 (const char *)m.c.value + 3);
        evbuffer_drain(out, 4 + flen);
    }
    evbuffer_free(out);
    return rc;
}

static void test_coalescing_sends_the_last_change_once(void **state)
{
    (void)state;
    struct backlog *b = backlog_new(1 << 20);
    _set(b, "a", "a1", 10);
    _set(b, "b", "b1", 11);
    _set(b, "a", "a2", 12);
    _set(b, "a", "a3", 13);
    struct backlog_pos pos = {0, 0};
    char vals[256];
    assert_int_equal(_read_all(b, &pos, vals, sizeof(vals)), 0);
    assert_string_equal(vals, "b1,a3");
    assert_int_equal(pos.seq, 4);
    struct backlog_stats st;
    backlog_stats(b, &st);
    assert_int_equal(st.superseded, 2);
    backlog_free(b);
}

/* After WAIT's mark, a record before it is never skipped for a later one: a peer that
 * acknowledges the mark has the change itself, not only a promise of a newer one. */
static void test_wait_mark_keeps_what_came_before(void **state)
{
    (void)state;
    struct backlog *b = backlog_new(1 << 20);
    _set(b, "a", "a1", 10);
    _set(b, "a", "a2", 11); /* supersedes a1 */
    uint64_t mark = backlog_wait_mark(b);
    assert_int_equal(mark, backlog_head(b).offset);
    _set(b, "a", "a3", 12); /* a2 is before the mark: kept */
    _set(b, "a", "a4", 13); /* a3 is after it: superseded */
    struct backlog_pos pos = {0, 0};
    char vals[256];
    assert_int_equal(_read_all(b, &pos, vals, sizeof(vals)), 0);
    assert_string_equal(vals, "a2,a4");
    backlog_free(b);
}

static void test_reader_behind_the_ring_needs_a_full_sync(void **state)
{
    (void)state;
    struct backlog *b = backlog_new(65536);
    char key[16], val[600];
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 400; i++) { /* ~250 KB through a 64 KiB ring */
        snprintf(key, sizeof(key), "%c%d", 'a' + i % 26, i);
        _set(b, key, val, 100 + (uint64_t)i);
    }
    struct backlog_pos pos = {0, 0};
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(backlog_read(b, &pos, out, 1u << 20), -1);
    assert_false(backlog_has(b, 0));
    assert_true(backlog_has(b, backlog_head(b).offset));
    evbuffer_free(out);
    backlog_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coalescing_sends_the_last_change_once),
        cmocka_unit_test(test_wait_mark_keeps_what_came_before),
        cmocka_unit_test(test_reader_behind_the_ring_needs_a_full_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
