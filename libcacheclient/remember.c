/* cc_remember: compute-if-absent with a lease, so that one caller per key computes while the
 * others wait for its value (docs/protocol.md, "Leases"). The waiting happens here, in the
 * caller's process, by polling LEASE_GET: the server never parks a request. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client-internal.h"

/* The longest pause between two polls: a waiter sees the value at most this late. */
#define POLL_MAX_MS 20

static void _sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void cc_remember_options_init(cc_remember_options *o)
{
    memset(o, 0, sizeof(*o));
}

/* A server older than leases (E_UNKNOWN_OP): a token that means "store with a plain SET". */
#define NO_LEASES UINT64_MAX

/* Compute the value; with a token, store it under the lease (or, when the compute failed,
 * give the lease back). */
static int _compute(cc_client *c, const void *key, size_t klen, const cc_remember_options *o,
                    uint64_t token, cc_compute_fn fn, void *arg, cc_item *out, int *how)
{
    cc_value v;
    memset(&v, 0, sizeof(v));
    int st = fn(arg, key, klen, &v);
    if (st != CC_OK) {
        if (token && token != NO_LEASES) {
            char err[sizeof(c->err)];
            memcpy(err, c->err, sizeof(err)); /* the compute's own message, if it set one */
            cc_lease_set(c, key, klen, token, NULL, 0, NULL); /* a failure is not ours */
            memcpy(c->err, err, sizeof(err));
        }
        return st;
    }
    if (cc_check_value(&v) != CC_OK)
        st = cc_fail(c, CC_E_CLIENT_ARGS, "the compute callback gave an invalid value (type %d)",
                     v.type);
    uint64_t version = 0;
    if (st == CC_OK && token == NO_LEASES) {
        st = cc_set(c, key, klen, &v, o->ttl_ms, 0, 0, &version);
        if (st == CC_OK)
            *how = CC_REMEMBER_COMPUTED;
    } else if (st == CC_OK && token) {
        st = cc_lease_set(c, key, klen, token, &v, o->ttl_ms, &version);
        if (st == CC_OK) {
            *how = CC_REMEMBER_COMPUTED;
        } else if (st == CC_NOT_STORED) {
            st = CC_OK; /* the lease was lost (the key changed meanwhile): the value stands */
        }
    } else if (st != CC_OK && token && token != NO_LEASES) {
        cc_lease_set(c, key, klen, token, NULL, 0, NULL);
    }
    if (st != CC_OK)
        return st;
    st = cc_item_from_value(&v, o->ttl_ms ? (int64_t)o->ttl_ms : CC_TTL_NONE, version, out);
    if (st != CC_OK)
        return cc_fail(c, st, "out of memory copying the computed value");
    return CC_OK;
}

int cc_remember(cc_client *c, const void *key, size_t klen, const cc_remember_options *opts,
                cc_compute_fn fn, void *arg, cc_item *out, int *how)
{
    cc_remember_options def;
    if (!opts) {
        cc_remember_options_init(&def);
        opts = &def;
    }
    int dummy;
    if (!how)
        how = &dummy;
    *how = CC_REMEMBER_NOT_STORED;
    memset(out, 0, sizeof(*out));
    if (!fn)
        return cc_fail(c, CC_E_CLIENT_ARGS, "a compute callback is needed");
    if (opts->ttl_ms > CC_TTL_MAX_MS || opts->lease_ms > CC_LEASE_MAX_MS)
        return cc_fail(c, CC_E_CLIENT_ARGS, "ttl_ms at most %llu, lease_ms at most %d",
                       CC_TTL_MAX_MS, CC_LEASE_MAX_MS);
    uint32_t lease_ms = opts->lease_ms ? opts->lease_ms : CC_LEASE_DEFAULT_MS;
    int64_t wait_ms = opts->wait_ms ? opts->wait_ms : lease_ms;
    int64_t deadline = cc_now_ms() + wait_ms;
    int64_t pause = 0;
    for (int polls = 0;; polls++) {
        uint64_t token = 0;
        uint32_t retry = 0;
        int st = cc_lease_get(c, key, klen, lease_ms, out, &token, &retry);
        switch (st) {
        case CC_OK:
            *how = polls ? CC_REMEMBER_WAITED : CC_REMEMBER_HIT;
            return CC_OK;
        case CC_LEASED:
            return _compute(c, key, klen, opts, token, fn, arg, out, how);
        case CC_NOT_FOUND: /* no lease to be had (a fenced server): compute, store nothing */
            return _compute(c, key, klen, opts, 0, fn, arg, out, how);
        case CC_LEASE_WAIT:
            break;
        case CC_E_UNKNOWN_OP: /* a server older than leases: GET, compute, SET as before */
            st = cc_get(c, key, klen, out);
            if (st == CC_OK)
                *how = CC_REMEMBER_HIT;
            if (st != CC_NOT_FOUND)
                return st;
            return _compute(c, key, klen, opts, NO_LEASES, fn, arg, out, how);
        default:
            return st;
        }
        int64_t left = deadline - cc_now_ms();
        if (left <= 0) {
            if (opts->timeout_error) {
                snprintf(c->err, sizeof(c->err),
                         "another caller has been computing the key for over %lld ms",
                         (long long)wait_ms);
                return CC_E_TIMEOUT; /* the connection is fine: not cc_fail's E_TIMEOUT */
            }
            return _compute(c, key, klen, opts, 0, fn, arg, out, how);
        }
        /* the server's hint, doubled while the wait goes on, at most POLL_MAX_MS */
        pause = pause ? pause * 2 : (retry ? retry : 1);
        if (pause > POLL_MAX_MS)
            pause = POLL_MAX_MS;
        _sleep_ms(pause < left ? pause : left);
    }
}
