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

/* What a request reads from disk between two runs (cmd_tier.c): keys and stream chunks. */
struct disk_read;
struct disk_reads;
struct tiering_result;

struct req {
    int op;
    uint64_t id;
    uint32_t argc;          /* arguments after op and id */
    struct mp_cursor args;  /* positioned at the first argument */
    struct core_out *out;   /* the connection's output, for a deferred reply */
    int attempt;            /* 0, then 1.. for runs after reading from disk */
    struct disk_read **needs; /* to read before the request can be answered */
    uint32_t nneeds, capneeds;
    bool needs_failed;      /* out of memory recording one */
    const struct disk_reads *disk; /* read for this run (NULL on a first run) */
    const char *disk_error; /* a chunk needed could not be read: the reply is this error */
    bool from_disk;         /* the reply is a disk read's result: no latency sample */
    bool deferred;          /* the handler took a core_defer and answers later (WAIT) */
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
/* false (E_BAD_ARGS written) for a ttl above CC_TTL_MAX_MS */
bool cmd_ttl_ok(struct req *q, struct reply *r, uint64_t ttl_ms);
/* E_BAD_ARGS with the op's usage from the table (a wrong argument count gets it before the
 * handler runs; a handler calls it for an argument of the wrong type). */
void cmd_bad_usage(struct req *q, struct reply *r);
/* false (E_LIMIT written) when a request names more than max_request_keys keys (MGET, MSET,
 * DEL, EXISTS): it would run whole on its worker, and the others there would wait for it. */
bool cmd_keys_ok(struct req *q, struct reply *r, uint64_t n);

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
void cmd_lease_get(struct session *s, struct req *q, struct reply *r);
void cmd_lease_set(struct session *s, struct req *q, struct reply *r);
/* cmd_tier.c: requests that wait for a disk tier, one mechanism for every command.
 * A run that needs something only a disk tier holds records it and returns (or, for a
 * multi-key request, goes on collecting). The dispatcher then drops the reply, reads what
 * was recorded on the I/O threads and, on the worker thread, runs the request again with
 * the results:
 *  - cmd_need_disk (a read that missed memory) and cmd_on_disk (a write that depends on the
 *    value: INCR, APPEND, TOUCH, SET NX/XX/CAS get STORE_ON_DISK from the store, which asked
 *    the tiers under the key's lock): the key is put in memory before the next run, so the
 *    handler sees one tier;
 *  - cmd_read_disk (GET): the key is not loaded; the next run gets the result from
 *    cmd_disk_result and answers from it (tiering_still_current decides about promotion).
 *    When memory holds the key again by then, the next run gets no result and finds it there;
 *  - cmd_chunk_piece: a stream's chunks on disk, kept for every later run.
 * Each returns true when it recorded the key. */
bool cmd_need_disk(struct req *q, const struct store_key *k);
/* st is a store status: when STORE_ON_DISK, record k to be loaded and return true. */
bool cmd_on_disk(struct req *q, const struct store_key *k, int st);
bool cmd_read_disk(struct req *q, const struct store_key *k);
/* True when this run has the result of cmd_read_disk(k) in the run before; *res is NULL when
 * out of memory, else TIER_FOUND, TIER_MISS or TIER_ERROR. Valid until the handler returns. */
bool cmd_disk_result(const struct req *q, const struct store_key *k,
                     const struct tiering_result **res);
/* Append res->data (from cmd_disk_result) to r without copying. */
void cmd_reply_disk_bytes(const struct req *q, struct reply *r, const struct tiering_result *res);
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
bool cmd_tier_after(struct session *s, struct req *q, struct reply *r, const uint8_t *body,
                    size_t len);
/* Run a request (a frame body) again with what was read for it (or NULL). */
enum core_verdict cmd_dispatch(struct session *s, const uint8_t *body, size_t len,
                               struct core_out *out, int attempt,
                               const struct disk_reads *disk);

/* cmd_admin.c */
void cmd_ping(struct session *s, struct req *q, struct reply *r);
void cmd_hello(struct session *s, struct req *q, struct reply *r);
void cmd_flush(struct session *s, struct req *q, struct reply *r);
void cmd_stats(struct session *s, struct req *q, struct reply *r);
void cmd_info(struct session *s, struct req *q, struct reply *r);
void cmd_cluster_status(struct session *s, struct req *q, struct reply *r);
void cmd_cluster_unfence(struct session *s, struct req *q, struct reply *r);
void cmd_cluster_revoke(struct session *s, struct req *q, struct reply *r);
void cmd_cluster_readmit(struct session *s, struct req *q, struct reply *r);
void cmd_cluster_remove(struct session *s, struct req *q, struct reply *r);
void cmd_cluster_add(struct session *s, struct req *q, struct reply *r);
void cmd_cluster_rotate_cert(struct session *s, struct req *q, struct reply *r);
void cmd_config_get(struct session *s, struct req *q, struct reply *r);
void cmd_config_set(struct session *s, struct req *q, struct reply *r);
void cmd_namespace(struct session *s, struct req *q, struct reply *r);
void cmd_shm_report(struct session *s, struct req *q, struct reply *r);

/* cmd_repl.c */
void cmd_wait(struct session *s, struct req *q, struct reply *r);

/* cmd_fault.c: test-only faults, in builds with -Dfault_injection=true only */
void cmd_fault(struct session *s, struct req *q, struct reply *r);

/* per-op latency, for STATS */
struct histogram;
const struct histogram *cmd_op_histogram(int op);
uint64_t cmd_start_time(void);
/* Worker threads running (cmd_set_worker_threads), 0 until set. */
unsigned cmd_worker_threads(void);

#endif
