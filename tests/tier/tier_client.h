/* A libcacheclient client for a harness server, with a 10 s I/O timeout (disk reads under
 * load can take a while); fails the test when it cannot be made. Shared by the tier tests. */
#ifndef TIER_CLIENT_H
#define TIER_CLIENT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "cacheclient.h"
#include "harness.h"

/* A client of the server at sock (NULL when it cannot be made: for a forked load process,
 * which must not fail the test itself). */
static inline cc_client *tier_client_at(const char *sock, int timeout_ms)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = sock;
    o.io_timeout_ms = timeout_ms;
    return cc_client_create(&o);
}

static inline cc_client *tier_client(const struct harness *h)
{
    cc_client *c = tier_client_at(harness_socket(h), 10000);
    assert_non_null(c);
    return c;
}

/* A fresh directory $TMPDIR/<tag>.XXXXXX (in dir, of size n) for tier directories; false
 * when it cannot be made. */
static inline bool tier_tmpdir(char *dir, size_t n, const char *tag)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, n, "%s/%s.XXXXXX", t ? t : "/tmp", tag);
    return mkdtemp(dir) != NULL;
}

/* Remove what tier_tmpdir made; 0 or -1. */
static inline int tier_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Run the server with args (a printf format whose %s are each dir) for at most 20 s, its
 * output in out; returns its exit code (124: still running when the timeout stopped it). */
static inline int tier_run_server(const char *out, const char *fmt, const char *dir)
{
    char args[2048], cmd[4096];
    snprintf(args, sizeof(args), fmt, dir, dir, dir, dir, dir, dir);
    snprintf(cmd, sizeof(cmd), "timeout 20 '%s' %s >%s 2>&1", getenv("CACHESERVERD"), args, out);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* Does file contain needle (a fixed string)? */
static inline bool tier_file_contains(const char *file, const char *needle)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "grep -qF -- '%s' %s", needle, file);
    return system(cmd) == 0;
}

#endif
