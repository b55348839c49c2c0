/* Private to cmd/: the request being handled, sessions, and the handler table. */
#ifndef CMD_INTERNAL_H
#define CMD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cacheclient_protocol.h"
#include "cmd.h"
#include "mpread.h"
#include "reply.h"
#include "store.h"

struct session {
    uint16_t ns;
    struct core_peer peer;
    char client[64];
};

/* A key a handler found only on a disk tier (cmd_need_disk, cmd_on_disk), or a stream's
 * chunk that lives on disk (cmd_chunk_piece: key NULL). */
struct disk_need {
    uint16_t ns;
    uint32_t klen;
    uint8_t *key; /* malloc'd */
    uint64_t sid; /* a chunk: stream id and chunk index */
    uint32_t idx;
};

/* Stream chunks read from disk for a request's next run (cmd_tier.c). */
struct loaded_chunks;

struct req {
    uint64_t id;
    uint32_t argc;          /* arguments after op and id */
    struct mp_cursor args;  /* positioned at the first argument */
    struct core_out *out;   /* the connection's output, for a deferred reply */
    bool deferred;          /* the handler took a core_defer: it answers later */
    int attempt;            /* 0, then 1.. for runs after loading keys from disk */
    struct disk_need *needs; /* keys to load before the request can be answered */
    uint32_t nneeds, capneeds;
    bool needs_failed;      /* out of memory recording one */
    const struct loaded_chunks *chunks; /* read for this run (NULL on a first run) */
    const char *disk_error; /* a chunk needed could not be read: the reply is this error */
    struct session *s;
    const uint8_t *body;    /* the request's frame body (valid during the handler) */
    size_t blen;
};

typedef void (*cmd_fn)(struct session *s, struct req *q, struct reply *r);

OPTION_STRUCT(cmd, CMD_OPTIONS);
extern struct cmd_options cmd_opts;

/* Read the next argument as a key; on failure writes the error reply and returns false. */
bool cmd_arg_key(struct req *q, struct reply *r, struct store_key *k, uint16_t ns);
/* Reply with the protocol status for a store status (for errors, with a message). */
void cmd_reply_store_status(struct req *q, struct reply *r, int st);
void cmd_bad_args(struct req *q, struct reply *r, const char *what);

/* cmd_kv.c */
void cmd_get(struct session *s, struct req *q, struct reply *r);
void cmd_mget(struct session *s, struct req *q, struct reply *r);
void cmd_set(struct session *s, struct req *q, struct reply *r);
void cmd_mset(struct session *s, struct req *q, struct reply *r);
void cmd_del(struct session *s, struct req *q, struct reply *r);
void cmd_exists(struct session *s, struct req *q, struct reply *r);
void cmd_touch(struct session *s, struct req *q, struct reply *r);
void cmd_ttl(struct session *s, struct req *q, struct reply *r);
void cmd_incr(struct session *s, struct req *q, struct reply *r);
void cmd_decr(struct session *s, struct req *q, struct reply *r);
void cmd_append(struct session *s, struct req *q, struct reply *r);
void cmd_getrange(struct session *s, struct req *q, struct reply *r);
void cmd_strlen(struct session *s, struct req *q, struct reply *r);
void cmd_scan(struct session *s, struct req *q, struct reply *r);
/* cmd_tier.c: requests that wait for a disk tier.
 * A handler whose read missed memory calls cmd_need_disk; a write that depends on the value
 * (INCR, APPEND, TOUCH, SET NX/XX/CAS) gets STORE_ON_DISK from the store, which asked the
 * tiers under the key's lock, and calls cmd_on_disk. When either returns true, the handler
 * stops (or, for a multi-key request, goes on collecting). The dispatcher then drops the
 * reply, reads those keys on the I/O threads, puts them in memory and runs the request
 * again: handlers see one tier. */
bool cmd_need_disk(struct req *q, const struct store_key *k);
/* st is a store status: when STORE_ON_DISK, record k to be loaded and return true. */
bool cmd_on_disk(struct req *q, const struct store_key *k, int st);
/* A store_spilled_fn for a request (ctx: cmd_chunk_ctx): hands the piece to fn from the chunks
 * read for this run, or records the chunk to be read before the next run. */
struct cmd_chunk_ctx {
    struct req *q;
    store_piece_fn fn;
    void *ctx;
};
bool cmd_chunk_piece(void *ctx, uint64_t sid, uint32_t idx, uint32_t off, uint32_t len);
/* Dispatcher: after the handler. Returns true when the reply is deferred (loads started, or
 * a sync-persistence wait), false when r holds the reply to send now. */
bool cmd_tier_after(struct session *s, struct req *q, struct reply *r, uint64_t op,
                    const uint8_t *body, size_t len);
/* Run a request (a frame body) again with the chunks read for it (or NULL). */
enum core_verdict cmd_dispatch(struct session *s, const uint8_t *body, size_t len,
                               struct core_out *out, int attempt,
                               const struct loaded_chunks *chunks);

/* A memory miss of GET: when the SSD tier has the key, defer the reply until it is read. */
bool cmd_defer_disk_get(struct req *q, struct reply *r, const struct store_key *k);
void cmd_disk_get_fill(void *arg, struct core_out *out);

/* cmd_admin.c */
void cmd_ping(struct session *s, struct req *q, struct reply *r);
void cmd_hello(struct session *s, struct req *q, struct reply *r);
void cmd_flush(struct session *s, struct req *q, struct reply *r);
void cmd_stats(struct session *s, struct req *q, struct reply *r);
void cmd_info(struct session *s, struct req *q, struct reply *r);
void cmd_config_get(struct session *s, struct req *q, struct reply *r);
void cmd_config_set(struct session *s, struct req *q, struct reply *r);
void cmd_namespace(struct session *s, struct req *q, struct reply *r);

/* per-op latency, for STATS */
struct histogram;
const struct histogram *cmd_op_histogram(int op);
uint64_t cmd_start_time(void);

#endif
