/* Shared between repl.c (options, peers, the mutation subscriber, stats) and link.c (the
 * link thread: connections, the exchange of wire.h, applying peers' changes). */
#ifndef REPL_INTERNAL_H
#define REPL_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backlog.h"
#include "store.h"
#include "identity.h"
#include "stats.h"
#include "wire.h"

#define REPL_MAX_PEERS 32

struct conn;
struct keyset;
struct tiering_scan;
struct evbuffer;

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
    ACTION(stream_lost, STAT_COUNTER,                                                        \
           "its appends this node could not follow (a gap, or a newer branch): a miss here") \
    ACTION(corrupt, STAT_COUNTER,                                                            \
           "its changes refused: their values failed the checksum it sent with them")        \
    ACTION(streams_in_parts, STAT_COUNTER,                                                   \
           "its streams too long for one copy that a full sync brought here in parts")       \
    ACTION(ae_rounds, STAT_COUNTER, "anti-entropy rounds this node ran against it")        \
    ACTION(ae_buckets, STAT_COUNTER, "buckets those rounds found different")               \
    ACTION(ae_repaired, STAT_COUNTER, "items those rounds brought here and applied")       \
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
    struct tiering_scan *fs_disk; /* full sync: the walk of the disk tiers, after memory */
    bool fs_disk_done;
    bool fs_waited;            /* full sync: the wait for the disk writer before the disk */
    bool fs_waiting;           /* walk was begun; it is not over (fullsync.c, _disk_step) */
    uint64_t fs_wait_gen;      /* waits begun */
    uint64_t fs_written;       /* atomic: the wait that ended */
    struct backlog_pos fs_end; /* full sync: where the backlog continues after it */
    struct fs_part *fs_parts;  /* full sync: streams to send in parts, in order (fullsync.c) */
    uint32_t fs_nparts, fs_partcap;
    bool fs_sending;           /* the first one's parts are going: */
    struct store_stream_info fs_si; /* which stream, */
    uint64_t fs_off;           /* and how much of it went */
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
    struct store_stage *rx_stage; /* a stream of that sync arriving in parts */
    bool rx_paused;            /* not reading until the disk writer caught up with its chunks */
    uint64_t rx_pause_gen;     /* atomic: pauses begun */
    uint64_t rx_written;       /* atomic: the pause whose wait for the writer ended */
    uint64_t *gone_s;          /* its gone marks at that sync's start (REPL_GONE_SLICES) */
    uint16_t *gone_o;
    struct event *sweep;       /* after SYNCED: removes what it did not send (link.c) */
    uint16_t sweep_ns;
    uint64_t sweep_cursor;
    enum { SWEEP_MEMORY, SWEEP_WAIT, SWEEP_DISK } sweep_stage;
    uint64_t sweep_gen;              /* atomic: counts sweeps begun and cancelled */
    uint64_t sweep_written;          /* atomic: the sweep whose wait for the writer ended */
    struct tiering_scan *sweep_disk; /* the sweep's walk of the disk tiers, after memory */
    uint64_t sweep_dropped;          /* what this sweep removed */
    uint64_t unacked;          /* changes applied since the last ACK */
    bool revoked;              /* by a majority of the members (members.c): never linked again */
    bool removed;              /* atomic: ... and it was a removal, not a revocation */
    uint64_t fenced_seen_ms;   /* atomic: when it last said it fenced itself (wall ms) */
    int64_t clock_offset_ms;   /* atomic: its clock minus ours, at least (_clock_sample) */
    uint64_t ping_echo_ms;     /* its last PING's clock, for the next ACK to echo (0: sent) */
    uint64_t clock_seen_ms;    /* atomic: when (monotonic ms; 0: never) */
    struct ae *ae;             /* anti-entropy with it (antientropy.c) */

    /* guarded by repl.status_lock (read by CLUSTER_STATUS on a worker) */
    char last_error[160];
    uint64_t view_ms;          /* when its last VIEW arrived (monotonic ms; 0: never) */
    uint8_t view_fp[REPL_FP_LEN];
    uint64_t view_epoch;       /* its membership epoch, as its VIEW says */
    uint32_t nview;
    struct {
        char name[REPL_NAME_MAX + 1];
        uint8_t fp[REPL_FP_LEN];
        bool out_up, in_up;
    } view[REPL_VIEW_MAX];

    struct peer_stats st;
    struct stat_desc st_desc[24];
    char st_names[24][REPL_NAME_MAX + 32];
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
    uint64_t ae_interval_ms; /* anti-entropy rounds with each peer this often (0: none) */
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

/* fullsync.c, on the link thread. The sender: begin (the gone marks, then memory and the
 * disk tiers from the start), one step into out (false when everything was sent), cancel
 * (the link went). The receiver, after SYNCED: begin the sweep (p->synced, gone marks and
 * sync_stamp set; p->sweep is its event, run with repl_sweep_cb), poke it, cancel it. */
struct store_key;
struct item;
/* One step of a walk of memory (every namespace, from ns and cursor 0): fn for each item
 * of about 64 keys (a reference held during the call). False once the walk is over. */
typedef void (*repl_item_fn)(void *arg, const struct store_key *k, struct item *it);
bool repl_walk_step(uint16_t *ns, uint64_t *cursor, repl_item_fn fn, void *arg);
/* An item memory holds, as an ITEM (ae: an AE_ITEM) into out. */
void repl_item_send(struct evbuffer *out, const struct store_key *k, const char *nsname,
                    struct item *it, bool ae);
/* A full sync's item: as repl_item_send, but a stream too long for one copy goes in parts
 * (queued for the next steps). */
void repl_full_item(struct peer *p, struct evbuffer *out, const struct store_key *k,
                    struct item *it);
/* The receiver: a part of a stream a full sync copies in parts (an ITEM of op APPEND whose
 * total, s_prev, is more than it holds). -1 while the copy is not complete, else as
 * store_stage_commit (or STORE_NOT_STORED: a part of no copy begun here, STORE_ENOMEM). */
int repl_stream_part(struct peer *p, const struct store_key *k, const struct repl_change *ch);
/* Drop the stream arriving in parts (the sync ended, failed or started again). */
void repl_stream_part_cancel(struct peer *p);
/* After repl_link_notify: a link that paused reading for the disk writer reads again. */
void repl_stream_part_poke(struct peer *p, void (*resume)(struct peer *p));
void repl_full_begin(struct peer *p, struct evbuffer *out);
bool repl_full_step(struct peer *p, struct evbuffer *out);
/* Is the full sync waiting for the disk writer (nothing to send until it is done)? */
bool repl_full_waits(struct peer *p);
void repl_full_cancel(struct peer *p);
void repl_sweep_begin(struct peer *p);
void repl_sweep_cb(int fd, short what, void *arg);
/* After repl_link_notify: a sweep waiting for the disk writer goes on when it is done. */
void repl_sweep_poke(struct peer *p);
void repl_sweep_cancel(struct peer *p);

/* members.c (docs/integrity.md): setup after the identity and the peers, before the link
 * thread (replays membership.state; -1: a state that does not check); on the link thread:
 * a MEMBER frame's blob, a link up (send what was applied and the proposal under way), and
 * a step (take the operator's request, sign on evidence, apply what a majority signed). */
int repl_members_setup(char *err, size_t errlen);
void repl_members_teardown(void);
void repl_members_on_msg(const uint8_t *blob, uint32_t len);
void repl_members_link_up(struct evbuffer *out);
void repl_members_step(void);
/* Did an operator's request (revoke, rotate-cert) come since the last call? (It clears it.)
 * The link thread's wake-up runs a step only then: a wake-up comes with every write. */
bool repl_members_asked(void);
/* link.c for members.c: the outputs of the established links (to one peer, or to every peer
 * not revoked); a peer revoked: close its links, unpin it, dial it no more. */
int repl_link_outputs(const struct peer *only, struct evbuffer **outs, int max);
void repl_link_revoked(struct peer *p);
/* A membership change added p (repl_peer_add): pin it, and dial it once the link thread runs
 * (at once when it does). Link thread, or start before it. */
void repl_link_peer_added(struct peer *p);
/* repl.c: a peer as a membership change adds it; NULL (err says why) when it cannot be. */
struct peer *repl_peer_add(const char *name, const char *addr, const uint8_t *fp, char *err,
                           size_t errlen);
/* A peer's pinned fingerprint becomes fp (when not NULL), and next (NULL: none) is accepted
 * besides it: a rotation under way. */
void repl_link_pin(struct peer *p, const uint8_t *fp, const uint8_t *next);
/* This node's identity becomes *nid (taken: *nid is emptied): new TLS contexts for the
 * connections made from now on. 0, or -1 (err) with nothing changed. */
int repl_link_swap_identity(struct repl_identity *nid, char *err, size_t errlen);

/* antientropy.c, on the link thread: set up a peer's (0 or -1), a message of an
 * anti-entropy round on its inbound (the receiver's side) or outbound link (the sender's):
 * 0, or -1 after a protocol error closed it; a link went down; free everything. */
struct repl_msg;
struct event_base;
int repl_ae_setup(struct event_base *base, struct peer *p);
int repl_ae_on_inbound(struct peer *p, const struct repl_msg *m);
int repl_ae_on_outbound(struct peer *p, const struct repl_msg *m);
void repl_ae_link_down(struct peer *p, bool outbound);
/* The sender's side: its output drained (or more may go): send more of what a round wants. */
void repl_ae_fill(struct peer *p);
/* link.c: the output buffer of a link. */
struct evbuffer *repl_conn_output(struct conn *c);
void repl_ae_teardown(struct peer *p);
/* link.c: apply a change of p (item: from a full sync or an anti-entropy round); *hash
 * gets its key's hash. Returns the store's answer. */
int repl_apply(struct peer *p, const struct repl_change *ch, bool item, uint64_t *hash);
/* link.c: close c for a malformed or unexpected message (why), as a protocol error. */
void repl_protocol_error(struct conn *c, const char *why);

/* wait.c, on the link thread: make its events (0 or -1); a peer acknowledged more: answer the
 * waiters it satisfies; free what is left after the loop stopped. */
struct event_base;
int repl_wait_setup(struct event_base *base);
void repl_wait_acked(void);
void repl_wait_teardown(void);

#endif
