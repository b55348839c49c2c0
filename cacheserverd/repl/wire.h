/* The peer-link protocol: messages between two nodes over a TLS connection, each a frame of
 * a 4-byte big-endian length and a msgpack array whose first element is its type. Encoding
 * appends whole frames to a libevent evbuffer; decoding reads one frame body in place
 * (pointers into it), checks every field and never allocates, so it can take any bytes a
 * peer (or anything else reaching the port) sends. docs/replication.md describes the
 * exchange; this file is its only encoder and decoder.
 *
 * A connection carries one node's changes to another: the dialing node (the sender) sends
 * HELLO, the accepting node (the receiver) answers WELCOME naming how far it got in the
 * sender's backlog; the sender answers START (resume from there, or a full sync of ITEMs
 * ended by SYNCED) and then streams RECs; the receiver sends ACKs. Both send PINGs. */
#ifndef REPL_WIRE_H
#define REPL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define REPL_PROTO_VERSION 6 /* 2: streams (op 6) and anti-entropy (AE, AE_ITEM); 3: streams
                                * copied in parts; 4: every value's checksum; 5: MEMBER;
                                * 6: ACK echoes the PING's clock */
/* The largest frame either side accepts: a value of the largest allowed size and its key. */
#define REPL_MAX_FRAME (512u * 1024u * 1024u)
#define REPL_NAME_MAX 64

enum repl_msg_type {
    REPL_HELLO = 1,   /* sender -> receiver: proto, node_id, name, backlog_id */
    REPL_WELCOME = 2, /* receiver -> sender: node_id, name, has_pos, backlog_id, offset, seq */
    REPL_START = 3,   /* sender: full, offset, seq, stamp: RECs follow from offset, or a
                       * full sync (ITEMs, then SYNCED) of what it held at stamp */
    REPL_REC = 4,     /* sender: one change from its backlog (offset after it, seq) */
    REPL_ITEM = 5,    /* sender: one item of a full sync */
    REPL_SYNCED = 6,  /* sender: the full sync is complete; RECs continue from offset */
    REPL_PING = 7,    /* either: head offset and seq (sender), wall clock ms */
    REPL_ACK = 8,     /* receiver: offset and seq applied, wall clock ms */
    REPL_ERROR = 9,   /* either, then it closes: code, message */
    REPL_VIEW = 10,   /* sender, every second: its own fingerprint, its membership epoch (u[0]) and
                       * how it sees its peers */
    REPL_GONE = 11,   /* sender, in a full sync before the ITEMs: a range of its gone marks */
    REPL_AE = 12,     /* either, anti-entropy (antientropy.c): kind (enum repl_ae_kind),
                       * round, and what the kind carries */
    REPL_AE_ITEM = 13, /* sender, in an anti-entropy round: one item (as an ITEM) */
    REPL_MEMBER = 14, /* either: a membership change, proposed or applied, with its
                       * signatures (members.c encodes and checks it: blob) */
};

/* The kinds of an anti-entropy message. The receiver of a link's changes asks, its sender
 * answers: MARKS (receiver) and BEGIN, MARKS (sender) and DIGEST, WANT, AE_ITEMs and END. */
enum repl_ae_kind {
    REPL_AE_MARKS = 1,  /* a range of the gone marks (as GONE: u[1] first, u[2] n) */
    REPL_AE_BEGIN = 2,  /* u[1]: the round's cutoff stamp (items at or above it are left out) */
    REPL_AE_DIGEST = 3, /* digests: REPL_AE_BUCKETS x 8 bytes LE */
    REPL_AE_WANT = 4,   /* digests: REPL_AE_BUCKETS / 8 bytes, a bit per bucket to send */
    REPL_AE_END = 5,
};
#define REPL_AE_BUCKETS 4096u
#define REPL_GONE_SLICES (1u << 16) /* = STORE_GONE_BITS (checked in link.c) */
#define REPL_GONE_CHUNK 4096u

/* One peer as a node sees it, in a VIEW. */
struct repl_view_entry {
    const uint8_t *name;
    uint32_t nlen;
    const uint8_t *fp; /* REPL_FP_LEN bytes: the fingerprint it pins for that peer */
    bool out_up, in_up;
};
#define REPL_VIEW_MAX 32

/* What a change does, on the wire (a subset of the store's mutation ops). */
enum repl_op {
    REPL_OP_SET = 1,   /* a final value with absolute expiry */
    REPL_OP_DEL = 2,   /* a delete (also: a change not sent as a value, see repl.c) */
    REPL_OP_TOUCH = 3, /* a new absolute expiry */
    REPL_OP_FLUSH = 4, /* a namespace (ns != "" or all) flushed */
    REPL_OP_COUNTER = 5, /* a counter's value and per-origin state (store/counter.h) */
    REPL_OP_APPEND = 6,  /* bytes appended to a stream (in an ITEM: the whole stream) */
};

/* One change: the fields a REC and an ITEM share. Pointers go into the decoded frame. */
struct repl_change {
    uint8_t op;            /* enum repl_op */
    bool all;              /* REPL_OP_FLUSH: every namespace */
    const uint8_t *ns;     /* namespace name ("" is the default one) */
    uint32_t nslen;
    const uint8_t *key;
    uint32_t klen;
    uint64_t stamp;        /* HLC stamp of the change at its origin */
    uint16_t origin;       /* node id */
    uint8_t type;          /* REPL_OP_SET: store_type */
    const uint8_t *value;  /* REPL_OP_SET: the value's msgpack encoding */
    uint32_t vlen;
    uint64_t expire_ms;    /* absolute unix ms, 0 = none */
    const uint8_t *ctr;    /* REPL_OP_COUNTER: the state */
    uint32_t ctr_len;
    uint64_t s_epoch;      /* REPL_OP_APPEND: the stream's epoch (stamp, node id), the */
    uint16_t s_eorigin;    /* offset of the bytes (value, vlen: not a msgpack value) and */
    uint64_t s_offset;     /* the version (stamp, node id) the stream had before them */
    uint64_t s_prev;       /* in an ITEM (a full sync's copy): the stream's whole length */
    uint16_t s_prev_origin; /* when it travels in parts (0: this ITEM holds all of it) */
    uint32_t crc;          /* SET, COUNTER, APPEND: the origin's checksum (store_value_crc of
                            * key, value, ctr and type); the receiver recomputes it */
};

struct repl_msg {
    enum repl_msg_type type;
    uint64_t u[4];            /* HELLO: proto, node_id, backlog_id; WELCOME: node_id,
                               * has_pos, backlog_id, offset; START: full, offset, seq, stamp;
                               * REC: offset, seq; SYNCED: offset, seq; PING/ACK: offset,
                               * seq, wall_ms, echo_ms; ERROR: code */
    uint64_t seq;             /* WELCOME: seq */
    const uint8_t *text;      /* HELLO, WELCOME: node name; ERROR: message */
    uint32_t tlen;
    struct repl_change c;     /* REC, ITEM */
    const uint8_t *gone_stamps;  /* GONE: u[0] = first slice, u[1] = n; n x 8 bytes LE */
    const uint8_t *gone_origins; /* GONE: n x 2 bytes LE */
    uint32_t ae_kind;         /* AE: enum repl_ae_kind; u[0] the round */
    const uint8_t *ae_bin;    /* AE DIGEST, WANT: the bytes */
    const uint8_t *fp;        /* VIEW: the sender's own fingerprint */
    const uint8_t *blob;      /* MEMBER: the change (members.c) */
    uint32_t blen;
    uint32_t nview;           /* VIEW: entries */
    struct repl_view_entry view[REPL_VIEW_MAX];
};

/* The size of a change's fields as repl_change_pack writes them, at most. */
size_t repl_change_bound(const struct repl_change *c);
/* Write the change's fields (not an array header) to out (at least repl_change_bound bytes);
 * returns the bytes written. */
size_t repl_change_pack(const struct repl_change *c, uint8_t *out);
/* Number of msgpack elements repl_change_pack writes. */
#define REPL_CHANGE_FIELDS 10

/* Encoders: each appends one whole frame to out. 0, or -1 when out of memory. */
int repl_send_hello(struct evbuffer *out, uint16_t node_id, const char *name, uint64_t backlog_id);
int repl_send_welcome(struct evbuffer *out, uint16_t node_id, const char *name, bool has_pos,
                      uint64_t backlog_id, uint64_t offset, uint64_t seq);
/* stamp: the sender's clock when the full sync began (what it holds is at least that new) */
int repl_send_start(struct evbuffer *out, bool full, uint64_t offset, uint64_t seq,
                    uint64_t stamp);
/* A REC whose change fields (repl_change_pack's output) are body. */
int repl_send_rec(struct evbuffer *out, uint64_t offset, uint64_t seq, const uint8_t *body,
                  size_t blen);
int repl_send_item(struct evbuffer *out, const struct repl_change *c);
int repl_send_synced(struct evbuffer *out, uint64_t offset, uint64_t seq);
/* PING or ACK: the sender's position, its clock (wall ms) and, an ACK, the clock of the PING
 * it answers (0: none), so the PING's sender bounds the clock offset by the round trip. */
int repl_send_ping(struct evbuffer *out, enum repl_msg_type type, uint64_t offset, uint64_t seq,
                   uint64_t wall_ms, uint64_t echo_ms);
int repl_send_error(struct evbuffer *out, unsigned code, const char *msg);
int repl_send_member(struct evbuffer *out, const uint8_t *blob, size_t len);
/* members.c: does a MEMBER frame's blob decode as a change (nothing else checked)? For the
 * peer-wire fuzz target. */
bool repl_members_parse(const uint8_t *blob, uint32_t len);
/* Slices [first, first+n) of the sender's gone marks, n <= REPL_GONE_CHUNK. */
int repl_send_gone(struct evbuffer *out, uint32_t first, uint32_t n, const uint64_t *stamps,
                   const uint16_t *origins);
/* Anti-entropy: marks [first, first+n) (n <= REPL_GONE_CHUNK), BEGIN, DIGEST, WANT, END;
 * an AE_ITEM. */
int repl_send_ae_marks(struct evbuffer *out, uint64_t round, uint32_t first, uint32_t n,
                       const uint64_t *stamps, const uint16_t *origins);
int repl_send_ae(struct evbuffer *out, enum repl_ae_kind kind, uint64_t round, uint64_t arg,
                 const uint8_t *bin, uint32_t blen);
int repl_send_ae_item(struct evbuffer *out, const struct repl_change *c);
/* n <= REPL_VIEW_MAX entries (fp: REPL_FP_LEN bytes each) */
int repl_send_view(struct evbuffer *out, const uint8_t *own_fp, uint64_t epoch,
                   const struct repl_view_entry *v, uint32_t n);

/* The n gone marks a GONE or an AE MARKS message carries, into stamps and origins. */
void repl_marks_decode(const struct repl_msg *m, uint64_t *stamps, uint16_t *origins,
                       uint64_t n);

/* Frame cutting: the body length announced at the start of buf (at least 4 bytes). */
uint32_t repl_frame_len(const uint8_t hdr[4]);

/* Decode one frame body. 0, or -1 with a reason in *why (a static string) for anything
 * malformed: unknown type, wrong field count or types, out-of-range values, trailing bytes. */
int repl_decode(const uint8_t *body, size_t len, struct repl_msg *out, const char **why);

#endif
