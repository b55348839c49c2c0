/* Framing against a real server: frames split or truncated at every point, a 4 GiB length
 * prefix, bodies that are not msgpack, a client leaving mid-frame, pipelining and frames far
 * larger than one read. Also the bounds on one request's work (docs/protocol.md, "Limits"):
 * keys per multi-key request (max-request-keys) and the buckets one SCAN call visits. Every
 * test ends by checking the server still answers PING. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.h>

#include "cacheclient_protocol.h"
#include "mpread.h"
#include "testutil.h"

static int setup(void **state)
{
    *state = harness_start((const char *[]){"--threads", "2", NULL});
    return 0;
}

static int teardown(void **state)
{
    struct harness *h = *state;
    harness_destroy(&h);
    return 0;
}

static const uint8_t ping_frame[] = {0, 0, 0, 3, 0x92, 0x00, 0x07}; /* [0 (PING), 7] */

static void test_partial_header_or_body_then_close_leaves_server_serving(void **state)
{
    struct harness *h = *state;
    for (size_t cut = 1; cut < sizeof(ping_frame); cut++) {
        int fd = harness_connect(h);
        assert_true(fd >= 0);
        assert_int_equal(harness_send(fd, ping_frame, cut), 0);
        close(fd);
    }
    /* a header announcing 100 bytes followed by 50 */
    uint8_t buf[54] = {0, 0, 0, 100};
    memset(buf + 4, 0x90, 50);
    int fd = harness_connect(h);
    assert_int_equal(harness_send(fd, buf, sizeof(buf)), 0);
    close(fd);
    EXPECT_PING(h);
}

static void test_frame_sent_byte_by_byte_is_reassembled(void **state)
{
    struct harness *h = *state;
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    for (size_t i = 0; i < sizeof(ping_frame); i++) {
        assert_int_equal(harness_send(fd, ping_frame + i, 1), 0);
        tu_sleep_ms(2); /* encourage one read per byte; correctness does not depend on it */
    }
    uint64_t id = 0, status = 99;
    EXPECT_EQ(h, "reply to a byte-by-byte frame", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "reply id", 7, id);
    EXPECT_EQ(h, "reply status", CC_OK, status);
    close(fd);
    EXPECT_PING(h);
}

static void test_truncated_frame_waits_for_the_rest(void **state)
{
    struct harness *h = *state;
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    assert_int_equal(harness_send(fd, ping_frame, 5), 0);
    EXPECT_PING(h); /* other connections are served meanwhile */
    assert_int_equal(harness_send(fd, ping_frame + 5, sizeof(ping_frame) - 5), 0);
    uint64_t id = 0, status = 99;
    EXPECT_EQ(h, "reply once the frame is complete", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "reply id", 7, id);
    EXPECT_EQ(h, "reply status", CC_OK, status);
    close(fd);
}

static void test_4gib_length_prefix_gets_frame_too_large_then_close(void **state)
{
    struct harness *h = *state;
    long long before = tu_stat(h, "frames_too_large");
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x92, 0x00, 0x01};
    assert_int_equal(harness_send(fd, huge, sizeof(huge)), 0);
    uint64_t id = 99, status = 0;
    EXPECT_EQ(h, "a reply to the 4 GiB prefix", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "reply id", 0, id);
    EXPECT_EQ(h, "reply status", CC_E_FRAME_TOO_LARGE, status);
    EXPECT_EQ(h, "connection closed after E_FRAME_TOO_LARGE", 1, tu_peer_closed(fd));
    close(fd);
    EXPECT_EQ(h, "frames_too_large counted", before + 1, tu_stat(h, "frames_too_large"));
    EXPECT_PING(h);
}

static void test_body_that_is_not_msgpack_gets_e_protocol_and_connection_stays(void **state)
{
    struct harness *h = *state;
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    static const struct {
        const char *what;
        uint8_t body[8];
        size_t len;
    } bad[] = {
        {"reserved byte 0xc1", {0xc1}, 1},
        {"empty body", {0}, 0},
        {"array with a byte after it", {0x92, 0x00, 0x01, 0xc0}, 4},
        {"truncated array", {0x93, 0x00}, 2},
        {"a map instead of an array", {0x81, 0x00, 0x00}, 3},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t id = 99, status = 0;
        assert_int_equal(harness_send_frame(fd, bad[i].body, bad[i].len), 0);
        if (tu_recv_reply(fd, &id, &status) != 0)
            fail_msg("%s: expected a [0, 100, msg] reply, got none", bad[i].what);
        if (id != 0 || status != CC_E_PROTOCOL)
            fail_msg("%s: expected id 0 status 100, got id %llu status %llu", bad[i].what,
                     (unsigned long long)id, (unsigned long long)status);
        EXPECT_EQ(h, "PING on the same connection afterwards", 0, tu_ping_fd(fd, 100 + i));
    }
    close(fd);
    EXPECT_PING(h);
}

static void test_client_leaving_mid_frame_applies_nothing(void **state)
{
    struct harness *h = *state;
    /* Build a complete SET frame, send all of it but the last byte, and leave. */
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    char value[1000];
    memset(value, 'v', sizeof(value));
    /* Capture the frame tu_send_set would send by sending it into a socketpair first. */
    assert_int_equal(tu_send_set(sp[1], 1, "midframe", value, sizeof(value)), 0);
    close(sp[1]);
    uint8_t frame[2048];
    ssize_t n = read(sp[0], frame, sizeof(frame));
    close(sp[0]);
    assert_true(n > 1000);
    assert_int_equal(harness_send(fd, frame, (size_t)n - 1), 0);
    close(fd);

    fd = harness_connect(h);
    uint64_t id = 0, status = 99;
    assert_int_equal(tu_send_get(fd, 2, "midframe"), 0);
    EXPECT_EQ(h, "GET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "GET status of the key whose SET was cut off", CC_NOT_FOUND, status);
    close(fd);
    EXPECT_PING(h);
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    struct harness *h = *state;
    enum { N = 500 };
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(tu_send_ping(fd, 1000 + i), 0);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t id = 0, status = 99;
        EXPECT_EQ(h, "pipelined reply", 0, tu_recv_reply(fd, &id, &status));
        EXPECT_EQ(h, "pipelined reply id (in request order)", 1000 + i, id);
        EXPECT_EQ(h, "pipelined reply status", CC_OK, status);
    }
    close(fd);
}

static void test_frame_larger_than_many_reads_round_trips(void **state)
{
    struct harness *h = *state;
    size_t len = 6u << 20;
    char *value = malloc(len);
    assert_non_null(value);
    for (size_t i = 0; i < len; i++)
        value[i] = (char)(i * 131 + 7);
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    uint64_t id = 0, status = 99;
    assert_int_equal(tu_send_set(fd, 1, "big", value, len), 0);
    EXPECT_EQ(h, "SET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "SET status", CC_OK, status);
    assert_int_equal(tu_send_get(fd, 2, "big"), 0);
    uint8_t *body;
    size_t blen;
    EXPECT_EQ(h, "GET reply frame", 0, harness_recv_frame(fd, &body, &blen));
    /* [2, 0, type, bin(len), ttl, version]: the value bytes end the reply minus a few */
    EXPECT_TRUE(h, blen > len && memmem(body, blen, value, len) != NULL,
                "GET of a %zu-byte value: expected the bytes back in a reply, got %zu bytes",
                len, blen);
    free(body);
    free(value);
    close(fd);
    EXPECT_PING(h);
}

/* A frame of 256 KiB or more that is not all in yet is read into a buffer of its own
 * (conn.c, CONN_DIRECT_MIN): frames right behind it in the same write are read after it,
 * and one cut off applies nothing. */
static void test_large_frame_read_on_its_own_then_the_next_frames(void **state)
{
    struct harness *h = *state;
    size_t len = (1u << 20) + 12345;
    char *value = malloc(len);
    assert_non_null(value);
    for (size_t i = 0; i < len; i++)
        value[i] = (char)(i * 7 + 3);
    /* capture a SET frame through a socketpair, then send it with a GET and a PING behind */
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    size_t cap = len + 4096, n = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    /* the frame is larger than the socketpair buffer: read it back as it is written */
    if (fork() == 0) {
        tu_send_set(sp[1], 1, "direct", value, len);
        _exit(0);
    }
    close(sp[1]);
    for (ssize_t r; (r = read(sp[0], buf + n, cap - n)) > 0;)
        n += (size_t)r;
    close(sp[0]);
    int wst;
    wait(&wst);
    assert_true(n > len);
    size_t set_len = n;
    n = tu_frame_get(buf, n, cap, 2, "direct");
    assert_true(n > set_len);
    assert_int_equal(harness_send(fd, buf, n), 0);
    assert_int_equal(tu_send_ping(fd, 3), 0);
    uint64_t id = 0, status = 99;
    EXPECT_EQ(h, "SET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "SET id", 1, id);
    EXPECT_EQ(h, "SET status", CC_OK, status);
    uint8_t *body;
    size_t blen;
    EXPECT_EQ(h, "GET reply frame", 0, harness_recv_frame(fd, &body, &blen));
    EXPECT_TRUE(h, blen > len && memmem(body, blen, value, len) != NULL,
                "GET right behind a large SET: expected its %zu bytes back", len);
    free(body);
    EXPECT_EQ(h, "PING reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "PING id", 3, id);
    close(fd);

    /* the same SET cut off 1 KiB before its end, sent as a different key */
    memcpy(memmem(buf, set_len, "direct", 6), "cutoff", 6);
    fd = harness_connect(h);
    assert_int_equal(harness_send(fd, buf, set_len - 1024), 0);
    close(fd);
    fd = harness_connect(h);
    assert_int_equal(tu_send_get(fd, 4, "cutoff"), 0);
    EXPECT_EQ(h, "GET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "GET of the key whose large SET was cut off", CC_NOT_FOUND, status);
    close(fd);
    free(buf);
    free(value);
    EXPECT_PING(h);
}

/* A large frame's buffer goes back whole when its connection ends (issue 14: the release
 * server's RSS crept up under fuzzed frames). From malloc, after glibc had freed one such
 * block it served the next ones from a worker's arena (its mmap threshold follows the largest
 * block freed) and kept the pages their reads had touched: 20 connections each announcing a
 * 16 MiB frame and sending 4 MiB of it left 4-8 MiB more resident. */
static void test_large_frames_cut_off_leave_nothing_resident(void **state)
{
    struct harness *h = *state;
    const size_t announced = 16u << 20, sent = 4u << 20;
    uint8_t *buf = malloc(4 + sent);
    assert_non_null(buf);
    buf[0] = (uint8_t)(announced >> 24), buf[1] = (uint8_t)(announced >> 16);
    buf[2] = (uint8_t)(announced >> 8), buf[3] = (uint8_t)announced;
    memset(buf + 4, 0xc4, sent);
    long base = 0;
    for (int i = 0; i < 21; i++) {
        int fd = harness_connect(h);
        assert_true(fd >= 0);
        assert_int_equal(harness_send(fd, buf, 4 + sent), 0);
        close(fd);
        /* wait until the server has read it all and closed it: only tu_stat's connection */
        for (int t = 0; t < 500 && tu_stat(h, "connections") != 1; t++)
            tu_sleep_ms(10);
        if (i == 0) /* after the first one, which glibc served from a mapping of its own */
            base = tu_proc_kb(harness_pid(h), "RssAnon");
    }
    long now = tu_proc_kb(harness_pid(h), "RssAnon");
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer's allocator and shadow memory stay resident over the freed mappings:
     * ~2.4 MiB on one machine, 5.4-5.6 MiB on this VM (kernel 6.18, the same code), so under
     * it the bound says nothing; the plain and ASan builds check it (as tsan.sh leaves
     * server_memory out) */
    printf("# RSS bound not checked under ThreadSanitizer: %ld KiB after the first frame, "
           "%ld KiB after 21\n", base, now);
#else
    /* 4 MiB: with malloc's arenas the 20 frames kept 8 MiB and more */
    EXPECT_TRUE(h, base > 0 && now - base < 4096,
                "anonymous RSS after 20 large frames cut off at 4 of 16 MiB: expected within "
                "4 MiB of %ld KiB, got %ld KiB", base, now);
#endif
    free(buf);
    EXPECT_PING(h);
}

/* A request naming n keys k0..k(n-1): MGET [keys], MSET [[k, v]...], DEL/EXISTS k... */
static int _send_keys(int fd, uint64_t op, uint64_t id, uint32_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    bool variadic = op == CC_OP_DEL || op == CC_OP_EXISTS;
    msgpack_pack_array(&pk, variadic ? 2 + n : 3);
    msgpack_pack_uint64(&pk, op);
    msgpack_pack_uint64(&pk, id);
    if (!variadic)
        msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "k%u", i);
        if (op == CC_OP_MSET) {
            msgpack_pack_array(&pk, 2);
            msgpack_pack_str_with_body(&pk, k, (size_t)kl);
            msgpack_pack_str_with_body(&pk, "v", 1);
        } else {
            msgpack_pack_str_with_body(&pk, k, (size_t)kl);
        }
    }
    int rc = harness_send_frame(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static uint64_t _status_of(struct harness *h, int fd, uint64_t op, uint64_t id, uint32_t n)
{
    uint64_t rid = 0, status = 999;
    assert_int_equal(_send_keys(fd, op, id, n), 0);
    EXPECT_EQ(h, "a reply to a multi-key request", 0, tu_recv_reply(fd, &rid, &status));
    EXPECT_EQ(h, "reply id", id, rid);
    return status;
}

/* max-request-keys (default 1024) bounds MGET, MSET, DEL and EXISTS: one more key is E_LIMIT
 * and nothing is applied; the connection stays open. The MGET of 100,000 keys is
 * refused with the default. */
static void test_multi_key_requests_are_bounded_by_max_request_keys(void **state)
{
    struct harness *h = *state;
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    EXPECT_EQ(h, "MGET of 100,000 keys (default limit 1024)", CC_E_LIMIT,
              _status_of(h, fd, CC_OP_MGET, 1, 100000));
    EXPECT_EQ(h, "MGET of 1024 keys", CC_OK, _status_of(h, fd, CC_OP_MGET, 2, 1024));
    EXPECT_EQ(h, "MGET of 1025 keys", CC_E_LIMIT, _status_of(h, fd, CC_OP_MGET, 3, 1025));

    uint64_t id = 0, status = 99;
    assert_int_equal(tu_send_config_set(fd, 4, "max-request-keys", "10"), 0);
    EXPECT_EQ(h, "CONFIG SET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "CONFIG SET max-request-keys 10", CC_OK, status);
    static const uint64_t ops[] = {CC_OP_MGET, CC_OP_MSET, CC_OP_DEL, CC_OP_EXISTS};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "%s of 11 keys (limit 10)", cc_op_name((int)ops[i]));
        EXPECT_EQ(h, what, CC_E_LIMIT, _status_of(h, fd, ops[i], 10 + i, 11));
        if (ops[i] == CC_OP_MSET) {
            assert_int_equal(tu_send_get(fd, 20, "k0"), 0);
            EXPECT_EQ(h, "GET reply", 0, tu_recv_reply(fd, &id, &status));
            EXPECT_EQ(h, "GET k0 after the refused MSET (nothing written)", CC_NOT_FOUND, status);
        }
        snprintf(what, sizeof(what), "%s of 10 keys (limit 10)", cc_op_name((int)ops[i]));
        EXPECT_EQ(h, what, CC_OK, _status_of(h, fd, ops[i], 30 + i, 10));
    }
    EXPECT_EQ(h, "PING on the same connection afterwards", 0, tu_ping_fd(fd, 40));
    close(fd);
    EXPECT_PING(h);
}

/* An MGET reply is at most 2 x max-value-size: E_VALUE_TOO_LARGE beyond, whatever the key
 * count (the bound on what one MGET makes the server hold and write). */
static void test_mget_reply_is_bounded_by_twice_max_value_size(void **state)
{
    struct harness *h = *state;
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    uint64_t id = 0, status = 99;
    assert_int_equal(tu_send_config_set(fd, 1, "max-value-size", "1MiB"), 0);
    EXPECT_EQ(h, "CONFIG SET reply", 0, tu_recv_reply(fd, &id, &status));
    EXPECT_EQ(h, "CONFIG SET max-value-size 1MiB", CC_OK, status);
    size_t len = 900u << 10;
    char *value = malloc(len);
    assert_non_null(value);
    memset(value, 'm', len);
    for (int i = 0; i < 3; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(tu_send_set(fd, 2, k, value, len), 0);
        EXPECT_EQ(h, "SET reply", 0, tu_recv_reply(fd, &id, &status));
        EXPECT_EQ(h, "SET of 900 KiB", CC_OK, status);
    }
    free(value);
    EXPECT_EQ(h, "MGET of two 900 KiB values (1.8 MiB, limit 2 MiB)", CC_OK,
              _status_of(h, fd, CC_OP_MGET, 3, 2));
    EXPECT_EQ(h, "MGET of three 900 KiB values (2.7 MiB, limit 2 MiB)", CC_E_VALUE_TOO_LARGE,
              _status_of(h, fd, CC_OP_MGET, 4, 3));
    EXPECT_EQ(h, "PING on the same connection afterwards", 0, tu_ping_fd(fd, 5));
    close(fd);
    EXPECT_PING(h);
}

/* SCAN [cursor, prefix, count] -> next cursor and the number of keys returned. */
static void _scan(struct harness *h, int fd, uint64_t cursor, const char *prefix, uint64_t count,
                  uint64_t *next, uint32_t *nkeys)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint64(&pk, CC_OP_SCAN);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_uint64(&pk, cursor);
    msgpack_pack_bin_with_body(&pk, prefix, strlen(prefix));
    msgpack_pack_uint64(&pk, count);
    assert_int_equal(harness_send_frame(fd, sb.data, sb.size), 0);
    msgpack_sbuffer_destroy(&sb);
    uint8_t *body;
    size_t len;
    EXPECT_EQ(h, "SCAN reply", 0, harness_recv_frame(fd, &body, &len));
    struct mp_cursor c;
    uint32_t n;
    uint64_t id, status;
    mp_cursor_init(&c, body, len);
    bool ok = mp_read_array(&c, &n) && n == 4 && mp_read_uint(&c, &id) &&
              mp_read_uint(&c, &status) && status == CC_OK && mp_read_uint(&c, next) &&
              mp_read_array(&c, nkeys);
    free(body);
    EXPECT_TRUE(h, ok, "SCAN reply is not [id, 0, next_cursor, keys]");
}

/* One SCAN call visits at most 16 x count + 256 hash buckets, however few of them hold
 * matching keys: a call may return no key with a cursor that is not 0. The store has at
 * least 256 shards x 64 buckets, so a prefix matching nothing cannot be settled in one
 * call of count 1 (272 buckets); the scan still ends, in more calls. */
static void test_scan_call_visits_a_bounded_number_of_buckets(void **state)
{
    struct harness *h = *state;
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    uint64_t id, status, next;
    uint32_t nkeys;
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "other%d", i);
        assert_int_equal(tu_send_set(fd, 1, k, "v", 1), 0);
        EXPECT_EQ(h, "SET reply", 0, tu_recv_reply(fd, &id, &status));
    }
    _scan(h, fd, 0, "nomatch", 1, &next, &nkeys);
    EXPECT_EQ(h, "keys from the first SCAN call of a prefix matching nothing", 0, nkeys);
    EXPECT_TRUE(h, next != 0,
                "SCAN count 1 walked every bucket in one call (cursor 0): no bound on its work");
    unsigned calls = 1;
    while (next != 0 && calls < 100000) {
        _scan(h, fd, next, "nomatch", 1, &next, &nkeys);
        EXPECT_EQ(h, "keys from a SCAN call of a prefix matching nothing", 0, nkeys);
        calls++;
    }
    EXPECT_EQ(h, "the scan ended (cursor 0)", 0, next);
    EXPECT_TRUE(h, calls >= 256 * 64 / 272, "SCAN of %u calls visited more than its budget",
                calls);
    /* every key is still found by a whole scan of count 1000 */
    unsigned found = 0;
    next = 0;
    do {
        _scan(h, fd, next, "other", 1000, &next, &nkeys);
        found += nkeys;
    } while (next != 0);
    EXPECT_EQ(h, "keys found by a whole SCAN", 100, found);
    close(fd);
    EXPECT_PING(h);
}

int main(void)
{
#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_partial_header_or_body_then_close_leaves_server_serving),
        T(test_frame_sent_byte_by_byte_is_reassembled),
        T(test_truncated_frame_waits_for_the_rest),
        T(test_4gib_length_prefix_gets_frame_too_large_then_close),
        T(test_body_that_is_not_msgpack_gets_e_protocol_and_connection_stays),
        T(test_client_leaving_mid_frame_applies_nothing),
        T(test_pipelined_requests_are_answered_in_order),
        T(test_frame_larger_than_many_reads_round_trips),
        T(test_large_frame_read_on_its_own_then_the_next_frames),
        T(test_large_frames_cut_off_leave_nothing_resident),
        T(test_multi_key_requests_are_bounded_by_max_request_keys),
        T(test_mget_reply_is_bounded_by_twice_max_value_size),
        T(test_scan_call_visits_a_bounded_number_of_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
