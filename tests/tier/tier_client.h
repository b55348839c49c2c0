/* A libcacheclient client for a harness server, with a 10 s I/O timeout (disk reads under
 * load can take a while); fails the test when it cannot be made. Shared by the tier tests. */
#ifndef TIER_CLIENT_H
#define TIER_CLIENT_H

#include "cacheclient.h"
#include "harness.h"

static inline cc_client *tier_client(const struct harness *h)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = harness_socket(h);
    o.io_timeout_ms = 10000;
    cc_client *c = cc_client_create(&o);
    assert_non_null(c);
    return c;
}

#endif
