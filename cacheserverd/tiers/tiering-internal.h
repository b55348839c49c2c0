/* Private to tiers/: what its files share: the context (struct tiering, set up by
 * tiering.c), the jobs and queues (queue.c), the store's hooks (hooks.c), the writer
 * (writer.c), the readers (reader.c), streams (streams.c), the warm restart (restore.c),
 * shedding (shed.c) and the sync waiters (durable.c). */
#ifndef TIERING_INTERNAL_H
#define TIERING_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>

#include "backend.h"
#include "diskval.h"
#include "histogram.h"
#include "index.h"
#include "option.h"
#include "stats.h"
#include "store.h"
#include "tierdb.h"
#include "tiering.h"

enum persist_mode { PERSIST_OFF = 0, PERSIST_ASYNC, PERSIST_SYNC };
/* Async persistence drops a write only when this many times persist_queue are queued. */
#define PERSIST_QUEUE_HARD 4

OPTION_STRUCT(tiering, TIERING_OPTIONS);
STAT_STRUCT(tiering, TIERING_STATS);

/* A job for the writer thread (twq) or the I/O threads (trq). The fields every kind has come
 * first; what only one kind uses lives in its member of the union, named after the kind. */
enum tjob_kind {
    TJOB_PUT,        /* writer: a value (demotion or persisted change) at its key */
    TJOB_DEL,        /* writer: a key's stale copies, on every tier */
    TJOB_DEL_NS,     /* writer: every key of a namespace (or of all), on every tier */
    TJOB_READ,       /* readers: a key's value, from the tier the index names, then the other */
    TJOB_CHUNK_PUT,  /* writer: a stream's full chunk, or (tail) the bytes an APPEND added */
    TJOB_CHUNK_DEL,  /* writer: every record of a stream (chunks and appends) */
    TJOB_CHUNK_READ, /* readers: one chunk of a stream, from the first tier */
};

/* TJOB_PUT */
struct tjob_put {
    struct diskval v;     /* v.data points into qv */
    struct tix_value *qv; /* the value (shared with the index entry) */
    bool hdd_stale;       /* the HDD tier may hold an older copy: delete it */
    bool warm;            /* read in memory before it was evicted */
};

/* TJOB_DEL */
struct tjob_del {
    bool stream_head; /* the record is a stream's head: delete its chunks */
    uint8_t tier;     /* stream_head: where the index said the head was (a value log cannot */
    struct tix_loc loc; /* look it up by key) */
    uint32_t dlen;
};

/* TJOB_DEL_NS (the job's key is the namespace's prefix) */
struct tjob_del_ns {
    bool all; /* every namespace */
    struct tix_entry *heads; /* its stream heads on a value log (tix_drop_ns), malloc'd */
    size_t nheads;
};

/* TJOB_READ and TJOB_CHUNK_READ: the reply is done(arg, result) on the I/O thread */
struct tjob_read {
    tiering_done_fn done;
    void *arg;
    struct tiering *ctx; /* for a read that waits for the writer (tiering_when_durable
                          * passes the callback only the job) */
    uint8_t tier;  /* the tier the index names (chunks: the first) */
    struct tix_loc loc; /* where the index says the record is on it (TIX_NOLOC: unknown) */
    uint32_t dlen;      /* and its length */
    uint64_t t_us; /* when it was queued (monotonic), for the read latency histograms */
};

/* TJOB_CHUNK_PUT: the job's key is the chunk's (tiering_chunk_key) or, for a tail, the
 * append record's (tiering_delta_key) */
struct tjob_chunk_put {
    struct diskval v;         /* v.data is the chunk (or the appended bytes) */
    uint64_t sid;             /* the stream */
    uint32_t idx;             /* the chunk's index (a tail: unused) */
    struct store_key sk;      /* the stream's key (sk.data is skey) */
    uint8_t *skey;
    void (*crelease)(void *); /* gives the chunk back to the store (a tail: frees the copy) */
    void *carg;
    bool tail;                /* the bytes an APPEND added, written by persistence (the last
                               * chunk stays in memory; its record is rewritten as it grows) */
    bool fresh;               /* a tail: the whole last chunk, the first record of a stream
                               * since it was loaded from disk; the writer deletes the
                               * stream's records after it (a previous run's: streams.c,
                               * tiering_stream_loaded) */
    uint32_t crc;             /* not a tail: the chunk's CRC-32C in memory, checked before the
                               * write (a chunk that fails it is never written as good) */
};

/* TJOB_CHUNK_DEL */
struct tjob_chunk_del {
    uint64_t sid;    /* the stream */
    uint64_t cbytes; /* bytes its records took */
};

struct tjob {
    struct tjob *next;
    enum tjob_kind kind;
    uint64_t hash, seq; /* the key's hash and the index sequence the job carries */
    uint8_t *key;       /* tier key (tierdb_key, or a stream record's), malloc'd */
    size_t klen;
    bool persist;       /* a change persistence must keep (never skipped as superseded) */
    uint64_t t_ms;      /* when it was queued (persistence lag) */
    union {
        struct tjob_put put;
        struct tjob_del del;
        struct tjob_del_ns del_ns;
        struct tjob_read read; /* TJOB_READ and TJOB_CHUNK_READ */
        struct tjob_chunk_put chunk_put;
        struct tjob_chunk_del chunk_del;
    };
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct tjob *head, *tail;
    size_t n;
    uint64_t pushed; /* jobs ever pushed (the writer's: durability tickets) */
    uint64_t head_ms; /* atomic: when the head job was queued (0: empty), for
                       * tq_head_age_ms without the lock */
    bool stop;
};

/* The disk tiers: [TIX_SSD] is the first configured one (the SSD, or the HDD when it is the
 * only one), [TIX_HDD] the HDD behind an SSD (NULL be otherwise). */
struct tier {
    const char *name; /* "ssd" or "hdd" */
    struct tbe *be;   /* its store (backend.h); streams' records in tbe_streams(be) */
    enum tbe_kind kind; /* RocksDB, or a value log (backend_vlog.h) */
    struct option_value *path, *size;
    atomic_bool degraded;
    struct tbe_batch *batch; /* the writer's */
    pthread_rwlock_t lock; /* readers hold it to use be; the writer reopens under it */
    bool write_failed;     /* writer thread: no WAL sync until a write succeeds again */
    uint64_t next_probe_ms; /* writer thread: when to try reopening a degraded tier */
    /* writer thread: what the tier's file system can take (writer.c, _room) */
    uint64_t disk_size;    /* bytes of its file system (0: unknown) */
    uint64_t room;         /* bytes its files take plus the free bytes there (0: unknown) */
    uint64_t wal_bytes;    /* bytes of its write-ahead log files */
    uint64_t file_bytes;   /* bytes its files take */
    uint64_t compacted_bytes; /* file_bytes after the last compaction the writer asked for */
    uint64_t unflushed;    /* bytes of records written since its memtables were last flushed */
    uint64_t next_room_ms; /* when to look at the file system again */
};

/* The tier policy's state: one instance, set up by tiering_setup (tiering.c) and passed to
 * every internal function; the threads get it as their argument, the store's hooks as
 * their arg. Written at setup and teardown only, unless a field says otherwise. */
struct tiering {
    struct tiering_options opts;
    struct tiering_stats stats;
    struct tier tiers[TIX_TIERS];
    struct histogram read_hist[TIX_TIERS]; /* disk read latency per tier */
    struct queue wq;                       /* the writer's jobs */
    struct queue rq;                       /* the I/O threads' reads */
    atomic_bool active;   /* hooks and reads are on (between setup and teardown; off when a
                           * degraded tier cannot be reopened) */
    enum persist_mode pmode;
    atomic_uint_fast64_t seq;      /* the last index sequence number (tiering_next_seq) */
    atomic_bool drop_logged;       /* a dropped change was logged since writes last succeeded */
    uint64_t committed;            /* writer thread: jobs taken from the queue and written
                                    * (or failed): every job pushed up to it is done */
    pthread_t writer;
    pthread_t *readers;
    unsigned nreaders;
};

/* ---- tiering.c: setup ---- */
/* The instance, for the entry points of the public API (tiering.h) only. */
struct tiering *tiering_ctx(void);
/* The next index sequence number (every queued change gets one). */
uint64_t tiering_next_seq(struct tiering *ctx);
/* For STATS: keys indexed, loaded, and ms the restore took (0 while loading). */
void tiering_restore_progress(struct tiering *ctx, uint64_t indexed, uint64_t loaded,
                              uint64_t ms);


/* ---- queue.c: the job queues and the jobs ---- */
void tq_init(struct queue *q);
/* Append j unless the queue holds `limit` jobs already (0 = no limit) or is stopped. */
bool tq_push(struct queue *q, struct tjob *j, size_t limit);
/* How long the oldest job has waited in q (0 when empty); no lock: a write's reply asks. */
uint64_t tq_head_age_ms(struct queue *q, uint64_t now_ms);
/* tq_push to the writer's queue, counted in tier_queue_depth (from before the push: the
 * writer subtracts what it takes). */
bool tiering_push_write(struct tiering *ctx, struct tjob *j, size_t limit);
/* Next job, or NULL once stopped and empty. */
struct tjob *tq_pop(struct queue *q);
/* Up to max jobs into out, waiting at most timeout_ms (0 = no limit) for the first. Returns
 * the count, or -1 once stopped and empty. */
int tq_pop_batch(struct queue *q, struct tjob **out, int max, uint64_t timeout_ms);
/* No more pushes; pops drain what is queued, then return NULL (-1). */
void tq_stop(struct queue *q);
/* A job for (namespace ns, key): its tier key made; NULL without memory. */
struct tjob *tjob_new(enum tjob_kind kind, int ns, const void *key, size_t klen);
/* A job for chunk idx of stream sid (TJOB_CHUNK_PUT, TJOB_CHUNK_DEL, TJOB_CHUNK_READ). */
struct tjob *tjob_chunk_new(enum tjob_kind kind, uint64_t sid, uint32_t idx);
/* Frees j with what its kind owns (a put's value reference, a chunk given back). */
void tjob_free(struct tjob *j);
/* The store key of a tier key (tierdb_key's layout: name length, namespace name, key), its
 * namespace found or created by name; data points into key. False when it is not one. */
bool tiering_key_parse(const uint8_t *key, size_t klen, struct store_key *out);
/* The store hash of a tier key whose namespace exists (no namespace is created): false when
 * it does not (no index entry can be the key's then). A value log's records carry the hash
 * they were written with, which a restart may change (namespace ids are given in order of
 * use): what maps a record to the index computes it again. */
bool tiering_key_hash(const uint8_t *key, size_t klen, uint64_t *hash);

/* ---- writer.c: the writer thread ---- */
/* The bytes of records a tier of `size` may hold on a file system of `disk` bytes (0:
 * unknown): its size, or less when the file system is too small for that (a size set above
 * the disk's): a quarter of a small disk (RocksDB's flushes and compactions need the rest),
 * two thirds of a large one less 1 GiB. Not less when the disk fills up with other files:
 * that is a fault (the tier is degraded until there is room again), never a reason to drop
 * what the tier holds. */
uint64_t tiering_size_cap(uint64_t size, uint64_t disk);
/* The writer thread's entry point; arg is the struct tiering. */
void *tiering_writer_main(void *arg);
/* Jobs ever pushed to the writer's queue: a ticket for tiering_when_durable. */
uint64_t tiering_pushed(struct tiering *ctx);
/* A read or write of tier `tier` failed: counted, the tier marked degraded (logged once). */
void tiering_disk_failed(struct tiering *ctx, int tier, const char *what, const char *err);

/* ---- hooks.c: the store's hooks ---- */
/* Hand the store the miss and stream hooks, with ctx as their arg. */
void tiering_hooks_install(struct tiering *ctx);
/* Subscribe to the store's mutation records. 0 or -1. */
int tiering_mutations_subscribe(struct tiering *ctx);
void tiering_hooks_remove(void);
/* A change was not persisted (counted; logged once until a batch is written again). */
void tiering_persist_dropped(struct tiering *ctx, const char *why);
/* Queue a write of m's value at its key. False when it could not be queued. */
bool tiering_queue_put(struct tiering *ctx, const struct mutation *m, uint64_t hash,
                       bool persist, bool warm, size_t limit);
/* The key changed or went: its disk copy is stale; queue its delete. Returns the index
 * state the key had. */
enum tix_state tiering_invalidate(struct tiering *ctx, uint16_t ns, const void *key, uint32_t klen,
                                  uint64_t hash);

/* ---- reader.c: the I/O threads ---- */
/* An I/O thread's entry point; arg is the struct tiering. */
void *tiering_reader_main(void *arg);
/* A stream's head (its payload) was read: fill res with the stream's id, length, epoch and
 * last chunk (TIER_FOUND), or say why not (TIER_ERROR). */
void tiering_read_stream(struct tiering *ctx, struct tiering_result *res, const uint8_t *head,
                         size_t hlen);
/* tiering_on_disk of ctx (the store's on_disk hook). */
bool tiering_may_hold(struct tiering *ctx, uint64_t hash);

/* ---- streams.c: streams on disk ---- */
/* A record leaves the disk without a change of its key (the compaction filter dropped it
 * expired; the last tier shed it): when it is a stream's head, its chunks are deleted by the
 * writer's next tiering_streams_reap, unless the key's current head or memory still names
 * that stream. Any thread (RocksDB's compaction threads). Fits tbe_opts.expired. */
void tiering_stream_head_gone(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
                              size_t vlen);
/* An append of stream sid was not written: its next change writes its whole last chunk. */
void tiering_stream_resync(uint64_t sid);
/* Stream sid was loaded from disk into memory (MUT_LOAD): its next persisted change writes
 * its whole last chunk and deletes the stream's records after it, which a previous run may
 * have left beyond the head it was loaded from (tjob_chunk_put.fresh). Any thread. */
void tiering_stream_loaded(uint64_t sid);
/* ---- gaps.c: streams with bytes not written (writer thread only) ---- */
/* A record of stream sid was not written: appended bytes (tail), or whole chunk idx. */
void tiering_gap_missing(uint64_t sid, bool tail, uint32_t idx);
/* A record of stream sid was written: appended bytes from offset `at` (tail), or whole
 * chunk `at`. */
void tiering_gap_written(uint64_t sid, bool tail, uint64_t at);
/* Stream sid's records were deleted. */
void tiering_gap_gone(uint64_t sid);
/* Would a head of stream sid name bytes that are not on disk? */
bool tiering_gap_blocks(uint64_t sid);
/* Streams marked (tests, stats). */
size_t tiering_gap_count(void);
void tiering_gap_teardown(void);

/* Writer thread: delete the chunks of the heads that went. */
void tiering_streams_reap(struct tiering *ctx);
/* Writer thread, while preparing the batch that range-deletes a namespace's key records
 * (prefix, plen: its [length][name]), before that batch is written: with persistence, start
 * the walk of the namespace's records on every tier, whose stream heads then go to
 * tiering_stream_head_gone, so that the reap deletes their chunk and append records (keyed
 * by stream id, outside the range). Nothing on the request path: the walk goes in bounded
 * steps (tiering_streams_walk). */
void tiering_streams_flush_ns(struct tiering *ctx, const uint8_t *prefix, size_t plen);
/* Writer thread, the same for a value log (which has no key order to walk): the stream
 * heads tix_drop_ns found on it, read at their places and handed to
 * tiering_stream_head_gone. */
void tiering_streams_flush_heads(struct tiering *ctx, const struct tix_entry *heads, size_t n);
/* Writer thread: one step of the walks (at most WALK_STEP records; none while a warm restart
 * runs, unless stopping). True while walks remain. */
bool tiering_streams_walk(struct tiering *ctx, bool stopping);
/* Writer thread: walks under way. */
bool tiering_streams_walking(void);
/* Writer thread, before tier `tier` (-1: every tier) closes: end its walks (the chunks they
 * did not reach wait for the next restart's walk of orphans). */
void tiering_streams_walks_drop(int tier);
/* After the tiers were closed: drop what was not reaped. */
void tiering_streams_teardown(void);
/* Bytes the chunk records of a stream of len bytes take at most (uncompressed). */
uint64_t tiering_stream_disk_estimate(uint64_t len);
/* The key of TJOB_DEL j holds a stream's head on disk: add the delete of its chunks to b, the
 * stream part of the first tier's batch (tbe_batch_streams), unless memory still holds that
 * stream (writer thread). */
void tiering_stream_forget(struct tiering *ctx, const struct tjob *j, struct tierdb_batch *b);
/* The store's stream hooks, with ctx as their arg. */
struct store_stream_hooks tiering_stream_hooks(struct tiering *ctx);
/* Persistence of a changed stream (its view in m): false when it could not be queued. */
bool tiering_persist_stream(struct tiering *ctx, const struct mutation *m, uint64_t hash,
                            size_t limit);

/* For store_load's still(): is the index entry of hash still LIVE with sequence seq? */
struct tiering_expect {
    uint64_t hash, seq;
};
bool tiering_expect_live(void *expect);

/* Streams on disk: a chunk's tier key (0xfe, stream id, chunk index: TIERING_CHUNK_KEY
 * bytes), a stream head's payload, and the gauge of chunk bytes on the first tier. */
#define TIERING_CHUNK_KEY 13
void tiering_chunk_key(uint8_t *out, uint64_t sid, uint32_t idx);
/* With persistence, the bytes an APPEND added to a stream's last chunk: a record at 0xfd,
 * stream id, byte offset (TIERING_DELTA_KEY bytes), until the chunk is written whole. */
#define TIERING_DELTA_KEY 17
void tiering_delta_key(uint8_t *out, uint64_t sid, uint64_t off);
/* The offset in an append record's key (TIERING_DELTA_KEY bytes, as tiering_delta_key made). */
uint64_t tiering_delta_off(const uint8_t *key);
/* The stream id of a chunk or append record's key; false for other keys. */
bool tiering_stream_record(const uint8_t *key, size_t klen, uint64_t *sid);
/* Delete every record of stream sid (chunks and appends): into batch b, or, when b is NULL,
 * at once in db. 0, or -1 (a direct delete failed). */
int tiering_stream_delete_records(struct tierdb *db, struct tierdb_batch *b, uint64_t sid,
                                  bool wal);
bool tiering_stream_head_parse(const uint8_t *p, size_t n, uint64_t *sid, uint64_t *len);
/* The rest of a head: its stream's epoch and origins (all 0 in a head that has none). */
void tiering_stream_head_meta(const uint8_t *p, size_t n, struct store_stream_meta *m);
/* A record's value (diskval): is it a stream's head (unexpired at now_ms; 0 = any)? Then its
 * stream id and length. */
bool tiering_stream_head_decode(const uint8_t *val, size_t vlen, uint64_t now_ms, uint64_t *sid,
                                uint64_t *len);
void tiering_stream_bytes_add(struct tiering *ctx, uint64_t bytes);

/* ---- restore.c: warm restart ---- */
/* Start indexing what ctx's tiers hold (the first, then the HDD behind an SSD, if any)
 * and refilling memory, on a thread of its own. While the index is incomplete,
 * restore_indexing() is true: a memory miss must look on disk even when the index has no
 * entry. 0 or -1. */
int restore_start(struct tiering *ctx);
/* Stop and join the thread (shutdown). */
void restore_stop(void);
bool restore_indexing(void);
/* The restore thread still runs (it uses the tiers' databases directly). */
bool restore_busy(void);
/* A FLUSH while indexing: records of ns (ns < 0: every namespace) are no longer indexed.
 * Call with the index entries already dropped. */
void restore_note_flush(int ns);

/* ---- shed.c: making room on a nearly full tier ---- */
struct shed_tier {
    struct tbe *be;
    uint8_t id;    /* TIX_SSD or TIX_HDD */
    uint64_t size; /* bytes of records the tier may hold */
};
struct shed_result {
    uint64_t moved, dropped, stale;
};
/* When from's records, plus `incoming` bytes about to be written, exceed 90% of its size,
 * move the coldest to `to` (or, when to is NULL, delete them) until under 80%, a bounded
 * amount per call. 0, or -1 with a message in err when a write failed. */
int shed_step(const struct shed_tier *from, const struct shed_tier *to, uint64_t incoming,
              bool wal, bool sync, struct shed_result *r, char *err, size_t errlen);
void shed_teardown(void);
/* The same for a value log tier (reclaim.c): the oldest segment's hand when its files pass
 * 90% of its size (to the low mark of 80%), else compaction of a mostly dead segment. One
 * bounded step per call. 0; -1 when a write of from failed, -2 when one of to failed
 * (message in err). */
int reclaim_step(struct tiering *ctx, const struct shed_tier *from, const struct shed_tier *to,
                 uint64_t incoming, bool wal, struct shed_result *r, char *err, size_t errlen);
void reclaim_teardown(void);

/* ---- replay.c: a persisted value log at start ---- */
/* Fill the index from tier t's value log (before the server listens). 0, or -1 (logged). */
int vlog_replay(struct tiering *ctx, int t);
/* The walk that decides a persisted log's keys, shared by the replay and the way back to
 * RocksDB (migrate_back.c): segments newest first, each from its last footer entry to its
 * first; an NSFLUSH hides every older record of its namespace prefix (or of all: the walk
 * ends); for every other record not hidden and whose key parses (tiering_key_parse), fn is
 * called with its segment's sequence, its footer entry (key pointing into the footer, no
 * value) and live (an unexpired PUT at now; an expired PUT or a DEL is not). The first record
 * of a key decides it: fn returns 1 when the record is its key's first (fn keeps the set of
 * keys seen: the replay's is the index), 0 when an earlier one decided, < 0 to stop the walk.
 * c counts records walked, keys decided live and dead, and segments. 0; -1 a footer could not
 * be read, -2 out of memory (message in err); -3 fn stopped it (its reason is its own). */
struct vlog_entry;
struct vlog_walk_counts {
    uint64_t records, live, dead;
    size_t segments;
};
typedef int (*vlog_deciding_fn)(void *arg, uint64_t seg, const struct vlog_entry *x,
                                const struct store_key *k, bool live);
int vlog_walk_deciding(struct tbe *be, uint64_t now, vlog_deciding_fn fn, void *arg,
                       struct vlog_walk_counts *c, char *err, size_t errlen);

/* ---- durable.c: sync persistence ---- */
void durable_setup(void);
/* Writer thread: jobs up to `committed` (a count of jobs taken from the queue) are on disk;
 * ok = false when the batch holding the last of them failed (err says why). */
void durable_advance(uint64_t committed, bool ok, const char *err);
/* Complete every waiter (shutdown, after the writer drained the queue). */
void durable_teardown(void);

/* admit.c: promotion admission's frequency sketch (tiering_note_read in tiering.h) */
int tiering_admission_setup(void);
void tiering_admission_teardown(void);
void tiering_sketch_age(void); /* the writer, between batches */

#endif
