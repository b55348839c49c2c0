/* Shared by the client tests (test_client.c, test_lease.c): status checks that say what
 * came back, a client on the harness's server, and a monotonic clock. */
#ifndef CLIENT_TEST_H
#define CLIENT_TEST_H

#include <time.h>

#include "cacheclient.h"
#include "harness.h"

#define EXPECT_STATUS(c, want, got)                                                            \
    do {                                                                                       \
        int g_ = (got);                                                                        \
        if (g_ != (want))                                                                      \
            fail_msg("%s: expected %s, got %s (%s)", #got, cc_strstatus(want), cc_strstatus(g_), \
                     cc_errmsg(c));                                                            \
    } while (0)

/* The server a test group runs against: each file's group_setup starts it. */
static struct harness *srv;

static int group_teardown(void **state)
{
    (void)state;
    harness_destroy(&srv);
    return 0;
}

/* A client of h's server in namespace ns (NULL: the default), named name in its logs. */
static inline cc_client *client_test_new(const struct harness *h, const char *ns,
                                         const char *name)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(h);
    o.ns = ns;
    o.client_name = name;
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    return c;
}

static inline uint64_t client_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
