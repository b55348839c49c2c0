/* Shared between repl.c (options, peers, the mutation subscriber, stats) and link.c (the
 * link thread: connections, the exchange of wire.h, applying peers' changes). */
#ifndef REPL_INTERNAL_H
#define REPL_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backlog.h"
#include "identity.h"
#include "stats.h"
#include "wire.h"

#define REPL_MAX_PEERS 32

struct conn;
struct keyset;

/* Per-peer figures: STATS shows them as repl.<peer>.<name>. */
#define PEER_STATS(ACTION)                                                                   \
    ACTION(out_up, STAT_GAUGE, "1 while the link sending this node's changes to it is up")  \
    ACTION(in_up, STAT_GAUGE, "1 while the link bringing its changes here is up")           \
    ACTION(sent, STAT_COUNTER, "changes sent to it (full-sync items included)")             \
    ACTION(lag_records, STAT_GAUGE, "this node's changes it has not acknowledged")          \
    ACTION(lag_bytes, STAT_GAUGE, "backlog bytes it has not acknowledged")                  \
    ACTION(lag_ms, STAT_GAUGE, "age of the oldest change it has not acknowledged")          \
    ACTION(partial_resyncs, STAT_COUNTER, "reconnections that resumed from the backlog")    \
    ACTION(full_syncs, STAT_COUNTER, "full syncs sent to it")                               \
    ACTION(applied, STAT_COUNTER, "its changes applied here")                               \
    ACTION(dropped_older, STAT_COUNTER, "its changes not applied: older than what is here") \
    ACTION(clock_rejected, STAT_COUNTER, "its changes refused: stamped beyond max-clock-offset") \
    ACTION(dropped_nomem, STAT_COUNTER, "its changes not applied: no room in memory")       \
    ACTION(sync_dropped, STAT_COUNTER,                                                       \
           "items removed after a full sync from it: older than the sync, and it had none")  \
    ACTION(connects, STAT_COUNTER, "links to or from it established")                       \
    ACTION(disconnects, STAT_COUNTER, "links to or from it lost")                           \
    ACTION(cert_expiry, STAT_GAUGE, "its certificate's notAfter, unix seconds (0: not seen)")

STAT_STRUCT(peer, PEER_STATS);

enum out_state {
    OUT_IDLE,       /* not connected; a retry is scheduled */
    OUT_CONNECTING, /* TCP connect and TLS handshake */
    OUT_HELLO,      /* HELLO sent, waiting for WELCOME */
    OUT_FULL,       /* sending a full sync */
    OUT_STREAM,     /* sending the backlog */
};

struct peer {
    int idx;
    char name[REPL_NAME_MAX + 1];
    char addr_text[128];
    struct sockaddr_in addr;
    uint8_t fp[REPL_FP_LEN];
    char fp_hex[REPL_FP_HEX_SIZE];

    /* outbound: this node's changes to the peer */
    struct conn *out;
    enum out_state ostate;     /* atomic stores (link.c's _set_ostate): read by repl_status */
    struct backlog_pos send;   /* next record to send */
    struct backlog_pos acked;  /* what it acknowledged */
    uint16_t fs_ns;            /* full sync: namespace and scan cursor */
    uint64_t fs_cursor;
    struct backlog_pos fs_end; /* full sync: where the backlog continues after it */
    struct event *retry;
    unsigned backoff_ms;
    bool down_logged;          /* a failure to connect was logged (until it connects) */

    /* inbound: the peer's changes to this node */
    struct conn *in;
    uint16_t node_id;          /* its id, once a HELLO named it (atomic stores, as ostate) */
    bool have_pos;             /* rx_* hold a position in its backlog */
    uint64_t rx_backlog_id, rx_offset, rx_seq;
    bool rx_full;              /* receiving a full sync */
    uint64_t sync_stamp;       /* its clock when that sync began */
    struct keyset *synced;     /* the keys (hashes) it sent in that sync */
    uint64_t *gone_s;          /* its gone marks at that sync's start (REPL_GONE_SLICES) */
    uint16_t *gone_o;
    struct event *sweep;       /* after SYNCED: removes what it did not send (link.c) */
    uint16_t sweep_ns;
    uint64_t sweep_cursor;
    uint64_t unacked;          /* changes applied since the last ACK */

    /* guarded by repl.status_lock (read by CLUSTER_STATUS on a worker) */
    char last_error[160];
    uint64_t view_ms;          /* when its last VIEW arrived (monotonic ms; 0: never) */
    uint8_t view_fp[REPL_FP_LEN];
    uint32_t nview;
    struct {
        char name[REPL_NAME_MAX + 1];
        uint8_t fp[REPL_FP_LEN];
        bool out_up, in_up;
    } view[REPL_VIEW_MAX];

    struct peer_stats st;
    struct stat_desc st_desc[20];
    char st_names[20][REPL_NAME_MAX + 32];
};

/* The process's replication state. */
struct repl {
    uint16_t node_id;
    char node_name[REPL_NAME_MAX + 1];
    struct sockaddr_in listen_addr;
    struct repl_identity id;
    SSL_CTX *client_ctx, *server_ctx;
    uint8_t (*pins)[REPL_FP_LEN]; /* every peer's fingerprint: the listener's allow-list */
    struct peer peers[REPL_MAX_PEERS];
    int npeers;
    struct backlog *backlog;
    uint64_t max_offset_ms;
    pthread_mutex_t status_lock; /* peers' last_error and view */
};

extern struct repl repl;

/* Parse "HOST:PORT" (an IPv4 address) into out. 0 or -1. */
int repl_parse_addr(const char *text, struct sockaddr_in *out);

/* state.c: keep the backlog and this node's positions in its peers' backlogs across a clean
 * restart. save: 0 or -1. load: the saved backlog if there is one of capacity cap (NULL:
 * make a new one); restores the positions only when `positions` (the data survived); the
 * file is removed once read. */
int repl_state_save(const char *path, bool positions);
struct backlog *repl_state_load(const char *path, uint64_t cap, bool positions);

/* link.c: start the link thread (listener, one outbound link per peer). 0 or -1 (err). */
int repl_link_start(char *err, size_t errlen);
/* Wake the link thread: the backlog has new records. Any thread, cheap when already woken. */
void repl_link_notify(void);
void repl_link_stop(void);

/* wait.c, on the link thread: make its events (0 or -1); a peer acknowledged more: answer the
 * waiters it satisfies; free what is left after the loop stopped. */
struct event_base;
int repl_wait_setup(struct event_base *base);
void repl_wait_acked(void);
void repl_wait_teardown(void);

#endif
