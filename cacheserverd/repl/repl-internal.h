/* Shared between repl.c (options, peers, the mutation subscriber, stats) and link.c (the
 * link thread: connections, the exchange of wire.h, applying peers' changes). */
#ifndef REPL_INTERNAL_H
#define REPL_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "backlog.h"
#include "identity.h"
#include "stats.h"
#include "wire.h"

#define REPL_MAX_PEERS 32

struct conn;

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
    enum out_state ostate;
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
    uint16_t node_id;          /* its id, once a HELLO named it */
    bool have_pos;             /* rx_* hold a position in its backlog */
    uint64_t rx_backlog_id, rx_offset, rx_seq;
    bool rx_full;              /* receiving a full sync */
    uint64_t unacked;          /* changes applied since the last ACK */

    char last_error[160];
    struct peer_stats st;
    struct stat_desc st_desc[16];
    char st_names[16][REPL_NAME_MAX + 32];
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
};

extern struct repl repl;

/* Parse "HOST:PORT" (an IPv4 address) into out. 0 or -1. */
int repl_parse_addr(const char *text, struct sockaddr_in *out);

/* link.c: start the link thread (listener, one outbound link per peer). 0 or -1 (err). */
int repl_link_start(char *err, size_t errlen);
/* Wake the link thread: the backlog has new records. Any thread, cheap when already woken. */
void repl_link_notify(void);
void repl_link_stop(void);

#endif
