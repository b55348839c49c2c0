/* Helpers shared by the core tests that drive a real server: request encoding (msgpack-c's
 * packer), reply decoding (mpread), STATS lookup, /proc memory readings, and a check macro
 * that prints expected vs got and the server log before failing. */
#ifndef TESTS_CORE_TESTUTIL_H
#define TESTS_CORE_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/types.h>

#include "harness.h"

/* Fail with "what: expected E, got G" (and the server log) unless got == expected. */
#define EXPECT_EQ(h, what, expected, got)                                                    \
    do {                                                                                     \
        long long e_ = (long long)(expected), g_ = (long long)(got);                         \
        if (e_ != g_) {                                                                      \
            if (h)                                                                           \
                harness_print_log(h, 40);                                                    \
            fail_msg("%s: expected %lld, got %lld", what, e_, g_);                           \
        }                                                                                    \
    } while (0)

/* Fail with a message (and the server log) unless cond holds. */
#define EXPECT_TRUE(h, cond, ...)                                                            \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            if (h)                                                                           \
                harness_print_log(h, 40);                                                    \
            fail_msg(__VA_ARGS__);                                                           \
        }                                                                                    \
    } while (0)

/* The server still answers PING on a new connection. */
#define EXPECT_PING(h) EXPECT_TRUE(h, harness_ping(h) == 0, "server stopped answering PING")

/* Requests (frame length prefix included). 0 or -1. */
int tu_send_ping(int fd, uint64_t id);
int tu_send_get(int fd, uint64_t id, const char *key);
int tu_send_set(int fd, uint64_t id, const char *key, const void *value, size_t len);
int tu_send_config_set(int fd, uint64_t id, const char *name, const char *value);
/* Append a whole GET frame (length prefix included) to buf; returns the new length, or 0 if
 * it does not fit in cap. */
size_t tu_frame_get(uint8_t *buf, size_t len, size_t cap, uint64_t id, const char *key);
/* Read one reply frame: [id, status, ...]. 0, or -1 on EOF, timeout or a malformed reply. */
int tu_recv_reply(int fd, uint64_t *id, uint64_t *status);
/* Send PING on fd and expect [id, 0]. 0 or -1. */
int tu_ping_fd(int fd, uint64_t id);
/* 1 if the peer closed fd (recv returns 0) within the socket's receive timeout. */
int tu_peer_closed(int fd);
/* A STATS counter, or -1 if the server does not report it. */
long long tu_stat(const struct harness *h, const char *name);
/* A "Vm..." field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1. */
long tu_proc_kb(pid_t pid, const char *field);
/* Milliseconds on a monotonic clock; sleep. */
uint64_t tu_now_ms(void);
void tu_sleep_ms(unsigned ms);

#endif
