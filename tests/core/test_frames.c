/* Framing against a real server: frames split or truncated at every point, a 4 GiB length
 * prefix, bodies that are not msgpack, a client leaving mid-frame, pipelining and frames far
 * larger than one read. Every test ends by checking the server still answers PING. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cacheclient_protocol.h"
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
