/* Peer replication (docs/replication.md): every node writable, each sending its own changes
 * to every peer over mutual TLS 1.3, last writer wins by (HLC stamp, node id).
 *
 * Lifecycle, from main: repl_options_register() before the settings load; repl_setup()
 * after the store and the tiers are set up and before serving (it subscribes to the
 * mutation path, starts the link thread, listens and dials); repl_teardown() after the
 * workers stopped. Without peers (the default) setup does nothing: no thread, no socket.
 *
 * Thread safety: repl_setup and repl_teardown run on the main thread; the mutation
 * subscriber runs on whichever thread made a change; everything else on the link thread. */
#ifndef REPL_H
#define REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "option.h"

#define REPL_OPTIONS(ACTION)                                                                 \
    ACTION(node_id, OPT_UINT, "0", OPT_STARTUP,                                              \
           "this node's id in the cluster, 1..65535, unique (0: not in a cluster)")          \
    ACTION(node_name, OPT_STR, "", OPT_STARTUP,                                              \
           "this node's name, as its peers list it (default: the host name)")                \
    ACTION(replication_listen, OPT_STR, "", OPT_STARTUP,                                     \
           "HOST:PORT where peers connect (TLS); needed with peers, \"\" = none")            \
    ACTION(identity, OPT_STR, "", OPT_STARTUP,                                               \
           "directory with this node's key.pem and cert.pem (cacheserverd --gen-identity)")  \
    ACTION(peer, OPT_LIST, "", OPT_STARTUP,                                                  \
           "a peer, \"NAME HOST:PORT FINGERPRINT\"; repeat the option for each peer")        \
    ACTION(max_clock_offset, OPT_UINT, "500", OPT_STARTUP,                                   \
           "ms a peer's stamp may be ahead of this clock; changes further ahead are refused") \
    ACTION(repl_backlog_size, OPT_SIZE, "64MiB", OPT_STARTUP,                                \
           "memory for this node's recent changes, from which a reconnecting peer resumes")  \
    ACTION(anti_entropy_interval, OPT_UINT, "60", OPT_STARTUP,                               \
           "seconds between anti-entropy rounds with each peer (0 = none)")                  \
    ACTION(repl_test_clock_skew_ms, OPT_UINT, "0", OPT_STARTUP,                              \
           "TESTS ONLY: this node's stamps run this many ms ahead of its clock")

/* The cluster as this node sees it, for CLUSTER_STATUS (cache-cli cluster status). */
#define REPL_STATUS_PEERS 32
struct repl_view_status {
    char name[65];
    char fp[65];        /* the fingerprint that node pins for this peer */
    bool out_up, in_up;
};
struct repl_peer_status {
    char name[65];
    char addr[128];
    char fp[65];        /* the fingerprint this node pins for it */
    uint16_t node_id;   /* 0 until it said */
    const char *link;   /* outbound link: "down", "connecting", "handshake", "full-sync", "up" */
    bool in_up;
    bool revoked;       /* by a majority of the members (docs/integrity.md) */
    bool removed;       /* ... a planned removal rather than a revocation */
    uint64_t cert_expiry; /* its certificate's notAfter, unix s (0: not seen) */
    uint64_t lag_records, lag_bytes, lag_ms, partial_resyncs, full_syncs, applied,
        dropped_older, clock_rejected;
    char last_error[160];
    int64_t view_age_ms; /* age of its last VIEW (-1: none yet) */
    char view_fp[65];    /* its own fingerprint, as it says */
    uint64_t view_epoch; /* its membership epoch, as it says */
    uint32_t nview;
    struct repl_view_status view[REPL_STATUS_PEERS];
};
struct repl_status {
    bool enabled;
    uint16_t node_id;
    char name[65];
    char fp[65];
    int64_t cert_expiry;
    uint64_t membership_epoch;
    int npeers;
    struct repl_peer_status peers[REPL_STATUS_PEERS];
};
/* Fill *out (safe from any thread; never blocks on the link thread's I/O). */
void repl_status(struct repl_status *out);

/* Registers the options table (call before settings are loaded). */
void repl_options_register(void);
/* The node id the options give (0: not in a cluster), before repl_setup checks them: main
 * tells the store before the disk tiers load anything (a counter's state needs it). */
uint16_t repl_node_id(void);
/* Checks the options, loads the identity, subscribes to the mutation path, starts the link
 * thread. 0, or -1 with the reason logged and in err. */
int repl_setup(char *err, size_t errlen);
/* Stops the link thread, closes every connection, frees everything. */
void repl_teardown(void);
/* WAIT: how many peers have acknowledged every change this node made before the call?
 * Without replication, *now = 0 and 1 is returned. Otherwise 0: done(arg, n) is called once,
 * on the link thread, when n >= replicas peers have acknowledged, or when timeout_ms passed
 * (n is then how many did), or at shutdown (repl_wait_release); -1 when out of memory.
 * A peer acknowledges a change once it applied it (or found it older than what it holds).
 * Any thread. */
typedef void (*repl_wait_fn)(void *arg, unsigned acked);
int repl_wait(unsigned replicas, uint64_t timeout_ms, repl_wait_fn done, void *arg,
              unsigned *now);
/* Shutdown has begun: answer every WAIT now with what it has. Any thread. */
void repl_wait_release(void);
/* Is this node in a cluster (peers configured)? */
bool repl_enabled(void);
/* The clock offsets (ms, the peer's clock minus this node's) of the peers heard from in the
 * last 5 s, at most max, into out; returns how many. Any thread. */
int repl_clock_offsets(int64_t *out, int max);
/* CLUSTER_REVOKE (any thread): ask for the revocation of the peer named name (members.c):
 * this node proposes and signs it; msg says what happens next. 0, or -1 (msg says why). */
int repl_members_revoke(const char *name, char *msg, size_t mlen);
/* CLUSTER_READMIT: the same for lifting the fence of the peer named name (it fenced itself). */
int repl_members_readmit(const char *name, char *msg, size_t mlen);
/* CLUSTER_REMOVE: the same for removing the member named name (a peer, or this node). */
int repl_members_remove(const char *name, char *msg, size_t mlen);
/* CLUSTER_ADD: the same for adding a member: its name, HOST:PORT and fingerprint (hex). */
int repl_members_add(const char *name, const char *addr, const char *fp_hex, char *msg,
                     size_t mlen);
/* CLUSTER_ROTATE_CERT (any thread): make a new key and certificate for this node (in the
 * identity directory's next/) and propose the rotation to it (members.c). 0, or -1. */
int repl_members_rotate(char *msg, size_t mlen);
/* The membership's epoch: how many changes were applied. */
uint64_t repl_members_epoch(void);
/* max-clock-offset (ms). */
uint64_t repl_max_clock_offset_ms(void);
#ifdef CACHE_FAULT_INJECTION
/* Test only (FAULT corrupt-records): this node's next n changes to its peers carry a value
 * with a bit flipped after their checksum was taken. */
void repl_fault_corrupt_records(uint32_t n);
#endif

#endif
