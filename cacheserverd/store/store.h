/* The memory tier's store: a sharded hash table of typed items with a hard memory limit,
 * SIEVE eviction, TTLs, namespaces, and ONE mutation path that every change (set, delete,
 * incr, append, expiry, eviction, flush) goes through and that emits a mutation record.
 *
 * Thread safety: every function may be called from any thread. Items are reference counted;
 * an item returned to a caller stays valid (and unchanged) until store_item_release().
 * Nothing here blocks on I/O; the only lock is a per-shard mutex held for O(1) work (plus a
 * bounded number of buckets during incremental rehash and scan). */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "option.h"

#define STORE_OPTIONS(ACTION)                                                                \
    ACTION(memory, OPT_SIZE, "256MiB", OPT_RUNTIME,                                          \
           "hard memory limit for items: keys, values and per-item metadata")               \
    ACTION(verify_reads, OPT_STR, "sample", OPT_RUNTIME,                                     \
           "check a value's checksum before it leaves for a client: off, sample (1 read in " \
           "16) or all; a value that fails reads as a miss (corrupt_values)")                \
    ACTION(sweep_interval_ms, OPT_UINT, "100", OPT_RUNTIME,                                  \
           "pause between two steps of the background expiry sweep")                        \
    ACTION(sweep_buckets, OPT_UINT, "256", OPT_RUNTIME,                                      \
           "hash buckets the expiry sweep examines per shard and step")                      \
    ACTION(max_leases, OPT_UINT, "16384", OPT_RUNTIME,                                       \
           "most LEASE_GET leases outstanding at once (E_LIMIT beyond)")                     \
    ACTION(shm_reads, OPT_BOOL, "true", OPT_RUNTIME,                                         \
           "copy hot small items into the shared-memory read region (docs/shm-reads.md); "   \
           "off: nothing is published and readers fall back to the socket")                  \
    ACTION(shm_read_size, OPT_STR, "auto", OPT_STARTUP,                                      \
           "bytes of the shared-memory read region: auto (memory / 8), 0 (off) or a size; "  \
           "below 4MiB it is off")

#define STORE_STATS(ACTION)                                                                  \
    ACTION(items, STAT_GAUGE, "items in memory (including expired ones not yet reclaimed)") \
    ACTION(bytes_used, STAT_GAUGE, "bytes counted against the memory limit")                \
    ACTION(hits, STAT_COUNTER, "reads that found a live item")                              \
    ACTION(misses, STAT_COUNTER, "reads that found nothing")                                \
    ACTION(evictions, STAT_COUNTER, "items evicted to stay under the memory limit")         \
    ACTION(expirations, STAT_COUNTER, "expired items reclaimed")                            \
    ACTION(flushed, STAT_COUNTER, "items removed by FLUSH")                                 \
    ACTION(set_nomem, STAT_COUNTER, "writes refused: no room even after eviction")          \
    ACTION(rehash_steps, STAT_COUNTER, "incremental rehash steps")                          \
    ACTION(mutations, STAT_COUNTER, "mutation records emitted")                            \
    ACTION(corrupt_values, STAT_COUNTER,                                                     \
           "values whose checksum failed (read, sent to a peer, demoted): removed, a miss")  \
    ACTION(leases, STAT_GAUGE, "leases outstanding: LEASE_GET misses whose caller computes")  \
    ACTION(lease_grants, STAT_COUNTER, "LEASE_GET misses that got a lease (the one to compute)") \
    ACTION(lease_waits, STAT_COUNTER,                                                        \
           "LEASE_GET misses told to wait: another caller holds the key's lease (hot misses)") \
    ACTION(lease_lost, STAT_COUNTER,                                                         \
           "LEASE_SETs not stored: the lease expired, or the key changed or was flushed")    \
    ACTION(lease_expired, STAT_COUNTER, "leases that ran out before their LEASE_SET")         \
    ACTION(lease_full, STAT_COUNTER, "LEASE_GET misses refused with E_LIMIT: max_leases held")

/* Streams are kept in chunks of this many bytes (all full but the last). */
#define STORE_STREAM_CHUNK (256u * 1024u)

/* Limits and codes that are the protocol's too (checked at compile time in cmd). */
#define STORE_MAX_NAMESPACES 1024
#define STORE_MAX_NS_LEN 64
#define STORE_TTL_NONE (-1) /* store_item_ttl: no expiry */

/* Value type codes: the same numbers as enum cc_type (checked at compile time in cmd). */
enum store_type {
    STORE_T_NULL = 0,
    STORE_T_BOOL = 1,
    STORE_T_INT = 2,
    STORE_T_FLOAT = 3,
    STORE_T_BYTES = 4,
    STORE_T_ARRAY = 5,
    STORE_T_MAP = 6,
    STORE_T_OBJECT = 7,
    STORE_T_STREAM = 8,
};

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_NOT_STORED,   /* NX/XX condition */
    STORE_CAS_MISMATCH,
    STORE_ETYPE,        /* wrong type for the operation */
    STORE_EOVERFLOW,
    STORE_ENOMEM,       /* cannot fit within the memory limit */
    STORE_ELIMIT,       /* too many namespaces */
    STORE_ON_DISK,      /* memory misses the key, a disk tier may hold it: load it first */
    STORE_LEASED,       /* store_lease_get: a miss, and the caller now holds the key's lease */
    STORE_LEASE_WAIT,   /* store_lease_get: a miss, and another caller holds the lease */
};

#define STORE_SET_NX 1u
#define STORE_SET_XX 2u

struct item; /* opaque outside store/ */

/* A key in a namespace, with its hash. Build with store_key_init. */
struct store_key {
    const uint8_t *data;
    uint32_t len;
    uint16_t ns;
    uint64_t hash;
};

/* A value to store: type and its exact msgpack encoding (streams are built by append). */
struct store_value {
    uint8_t type;
    const uint8_t *data;
    uint32_t len;
};

/* ---- mutation records: the one path every change takes ---- */
enum mutation_op {
    MUT_SET,    /* value replaced or created (also the result of INCR) */
    MUT_APPEND, /* data appended to a stream */
    MUT_DEL,
    MUT_TOUCH,  /* ttl changed */
    MUT_EXPIRE, /* reclaimed because its ttl passed */
    MUT_EVICT,  /* removed to make room (the value comes with it: the tiers may demote it) */
    MUT_FLUSH,  /* a namespace (ns >= 0) or everything (ns < 0) was flushed */
    MUT_LOAD,   /* a copy from a disk tier was put back in memory (store_load) */
};

/* A stream as a change left it (persistence writes its head and last chunk). */
struct store_stream_view {
    uint64_t sid, len;
    uint64_t epoch;        /* replication: the stream's epoch (0: not known) and the node */
    uint16_t eorigin;      /* ids of its epoch and of its last change (0: this node) */
    uint16_t origin;
    bool chunks_handed;    /* every full chunk was handed to the stream hooks' spill */
    uint32_t tail_idx;     /* the last chunk: its index and its bytes (valid during the */
    const uint8_t *tail;   /* subscriber's call only: copy them); tail_len 0 for an empty */
    uint32_t tail_len;     /* stream */
};

struct mutation {
    enum mutation_op op;
    int ns;               /* namespace id, -1 for a flush of everything */
    const uint8_t *key;   /* NULL for MUT_FLUSH */
    uint32_t klen;
    uint64_t hash;        /* the key's hash (store_key.hash); 0 for MUT_FLUSH */
    uint8_t type;
    bool ever_read;       /* the item was read since it was written (MUT_LOAD: always) */
    const uint8_t *value; /* MUT_SET, MUT_TOUCH, MUT_LOAD, MUT_EVICT: the encoding (NULL for
                           * a stream); MUT_APPEND: the appended bytes */
    uint64_t vlen;        /* for a stream's MUT_SET/TOUCH/LOAD: its whole length */
    uint64_t expire_ms;   /* absolute unix ms, 0 = none */
    uint64_t version;     /* the item's version (what a DEL or expiry removed: its last one;
                           * 0 for a DEL of a key memory did not hold) */
    uint32_t origin;      /* node id that made the change (0 = this node until replication) */
    uint64_t hlc;         /* the change's hybrid-logical-clock stamp (unix ms << 16 | logical
                           * counter): the new version for SET, APPEND, TOUCH; a stamp of
                           * its own for the others */
    bool local;           /* MUT_DEL: not a change to send anywhere (store_drop_older) */
    const uint8_t *ctr;   /* a replicated counter's state (counter.h) in MUT_SET, MUT_TOUCH,
                           * MUT_EVICT and MUT_LOAD records (what the disk keeps), else NULL */
    uint32_t ctr_len;
    uint32_t crc;         /* MUT_SET, TOUCH, LOAD, EVICT of a value: the item's checksum
                           * (store_value_crc of key, value, ctr and type) */
    /* a stream's MUT_SET, APPEND, TOUCH, LOAD, when streams are persisted (NULL otherwise) */
    const struct store_stream_view *stream;
    /* an APPEND's MUT_SET (it made the stream) or MUT_APPEND: what it added where */
    const struct store_append_info *append;
};

/* Where an APPEND put its bytes: the stream's epoch (the (stamp, node id) it started from:
 * the APPEND that created it, or the bytes value it grew from), the offset of data, and
 * the version (stamp, node id) the key had before (0 for a stream made from nothing). */
struct store_append_info {
    uint64_t epoch;
    uint16_t eorigin;
    uint64_t offset;
    const uint8_t *data;
    uint32_t len;
    uint64_t prev;
    uint16_t prev_origin;
};

/* Every change of the store, exactly one record each, in the order changes are applied to
 * that key: set, append, incr (MUT_SET), del, touch, expiry, eviction (with the value, so
 * the disk tiers can demote it), flush, load. Called synchronously, under the key's shard
 * lock (a flush: no lock), on the thread that made the change. Must not block or call back
 * into the store; copy what it keeps. */
typedef void (*store_mutation_fn)(void *arg, const struct mutation *m);
/* At most 4 subscribers, called in the order they subscribed; returns 0 or -1 when full.
 * Subscribe before serving. */
int store_mutation_subscribe(store_mutation_fn fn, void *arg);

/* What the disk tiers say of a key memory does not hold, asked under the key's lock (so no
 * change of the key can come between). Must not block.
 *  on_disk: may a disk tier hold it? Then the writes that depend on the current value
 *           (INCR, APPEND, TOUCH, SET with NX/XX/CAS) change nothing and return STORE_ON_DISK:
 *           the caller loads the key (store_load) and tries again.
 *  forget:  DEL: drop the disk copy; true when there was one (store_del then says deleted). */
struct store_miss_hooks {
    bool (*on_disk)(void *arg, const struct store_key *k);
    bool (*forget)(void *arg, const struct store_key *k);
    void *arg;
};
/* NULL removes them. */
void store_set_miss_hooks(const struct store_miss_hooks *h);

/* ---- lifecycle ---- */
/* Registers the options table (call before settings are loaded). */
void store_options_register(void);
/* Allocate tables, register stats, start the expiry sweeper. Returns 0 or -1. */
int store_setup(void);
/* Stop the sweeper and free every item. */
void store_teardown(void);

/* ---- the shared-memory read region (store/shm.c, docs/shm-reads.md) ---- */
/* Publish the offers a GET hit queued on this thread (at most 32): call after the reply is
 * written (core's after_flush). Each is copied only if it is still the key's current item. */
void store_shm_drain(void);
/* The server is stopping: dead = 1 and open = 0 in the header, first thing, so readers stop
 * using the region before the workers drain (teardown unmaps it later). */
void store_shm_dead(void);
/* Drop this thread's offers (a worker's exit). */
void store_shm_thread_exit(void);
/* Copy it (a reference held) into the region if it is still its key's item, unpublished,
 * small enough, not a stream, intact, and the node is not fenced. True when published. */
bool store_shm_publish(struct item *it);
/* The region's read-only descriptor for a client (HELLO shm; in fault builds an armed FAULT
 * shm-bad-size or shm-unsealed region instead), -1 when there is no region or it is not
 * published to now (shm-reads off, or fenced). The store keeps
 * it open until store_teardown: whoever sends it does not close it. */
int store_shm_client_fd(void);
/* Count a descriptor attached to a HELLO reply (shm.fds_sent). */
void store_shm_fd_sent(void);
/* The region exists (it stays for the run once made; shm-reads only opens or closes it). */
bool store_shm_exists(void);
/* The region's size in bytes (shm.size), 0 when there is none. */
uint64_t store_shm_size(void);
/* This run's region id (the header's region_id: random per run), 0 when there is no region. */
uint64_t store_shm_region_id(void);
/* A server that removed a stale socket file (its predecessor crashed) waits this long before
 * it listens while it has a region: longer than SHM_STALE_MS, after which readers stop
 * trusting a region whose heartbeat stopped (docs/shm-reads.md, "Restart and replacement"). */
#define STORE_SHM_RESTART_WAIT_MS 250
/* SHM_REPORT (docs/shm-reads.md, "Stats"): a report of this run's region counted, with the
 * region hits it carried (shm.reports, shm.hits); the namespaces' hits are added with
 * store_ns_add_hits. */
void store_shm_report_counted(uint64_t hits);
/* A report of another run's region (or of one while there is none): shm.reports_stale. */
void store_shm_report_stale(void);
/* A client's reader found the region entry of key hash `hash` failing its checksum. Under
 * the hash's shard lock, each valid slot of its bucket holding that hash is checked with the
 * server's own checks (the entry header matches the slot, the CRC-32C of key, value and type
 * equals the entry's crc, which equals the item's for an item without counter state). Only
 * a copy that fails them is invalidated, counted in corrupt_values and logged; a good one is
 * left alone, so a report alone can neither empty the region nor fence the node. Returns the
 * copies invalidated. */
uint32_t store_shm_check_reported(uint64_t hash);

/* ---- namespaces ---- */
/* Find or create a namespace by name (<= STORE_MAX_NS_LEN bytes). STORE_OK with *id, or
 * STORE_ELIMIT (STORE_MAX_NAMESPACES exist, or the name is too long). */
enum store_status store_ns_id(const void *name, size_t len, uint16_t *id);
/* Find a namespace by name without creating it: STORE_OK with *id, or STORE_NOT_FOUND. */
enum store_status store_ns_find(const void *name, size_t len, uint16_t *id);
/* Name of a namespace id ("" for the default one). */
const char *store_ns_name(uint16_t id);
uint16_t store_ns_count(void);
/* Add n reads served from the shared-memory region (SHM_REPORT) to the hits of namespace ns
 * (< store_ns_count()) and to the store's `hits`. */
void store_ns_add_hits(uint16_t ns, uint64_t n);
struct store_ns_stats {
    uint64_t hits, misses, items, bytes;
};
void store_ns_stats(uint16_t id, struct store_ns_stats *out);

/* ---- keys and items ---- */
void store_key_init(struct store_key *k, uint16_t ns, const void *data, uint32_t len);

uint8_t store_item_type(const struct item *it);
/* Encoded value (not valid for streams: use store_range). */
const uint8_t *store_item_value(const struct item *it, uint32_t *len);
uint64_t store_item_version(const struct item *it);
/* The node id that made the item's version (0 before a node id is set). */
uint16_t store_item_origin(const struct item *it);
/* Absolute expiry in unix ms, 0 = none. */
uint64_t store_item_expire_ms(const struct item *it);
/* A replicated counter's state (INCR with a node id; docs/replication.md), or NULL. */
const uint8_t *store_item_counter(const struct item *it, uint32_t *len);
/* Remaining ttl in ms, or STORE_TTL_NONE. */
int64_t store_item_ttl(const struct item *it);
/* Length of a stream or of a bytes value's content; other types: 0. */
uint64_t store_item_strlen(const struct item *it);
/* Drop a reference. Safe to call from any thread. Signature fits core_out_add_ref. */
void store_item_release(void *it);

/* ---- checksums (docs/design.md, "Checksums") ---- */
/* The checksum of a value as the store keeps it with each item and peers carry it: CRC-32C
 * of the key, the value's encoding, a counter's state (ctr, may be NULL) and the type. */
uint32_t store_value_crc(const uint8_t *key, uint32_t klen, const uint8_t *value, uint32_t vlen,
                         const uint8_t *ctr, uint32_t ctr_len, uint8_t type);
/* The item's checksum, as set when it was made. */
uint32_t store_item_crc(const struct item *it);
/* Does the item still match its checksum? On a mismatch (with k, the key it is at): it is
 * removed from memory if still there (a miss from now on: never served, never sent),
 * counted in corrupt_values and logged; `what` says who found it ("a read", "a full sync").
 * The caller still holds its reference and must not use the value. */
bool store_item_verify(const struct store_key *k, struct item *it, const char *what);
/* Values found corrupt so far (the health monitor watches it). */
uint64_t store_corrupt_count(void);
/* Count and log a corrupt value found outside the store (a peer's record, the disk). */
void store_corrupt_found(const char *what);
/* A stream found corrupt off the lock (a chunk failed its crc): removed from memory if k
 * still holds the stream sid, counted and logged as store_corrupt_found(what). */
void store_stream_corrupt(const struct store_key *k, uint64_t sid, const char *what);
#ifdef CACHE_FAULT_INJECTION
/* Test only (FAULT corrupt-values, corrupt-streams): flip a bit in the value of up to n items
 * in memory (not streams), or with streams in a byte of a chunk of up to n streams in memory,
 * leaving their checksums as they were. Returns how many. */
uint32_t store_fault_corrupt_values(uint32_t n, bool streams);
/* FAULT shm-bad-size / shm-unsealed: the next n HELLOs that ask for the region get a memfd
 * of the header and namespace tables whose header claims more than its size (sealed) / a copy of the header that is not sealed.
 * Answers n, or 0 when there is no region. */
enum store_shm_fault { STORE_SHM_FAULT_BAD_SIZE = 0, STORE_SHM_FAULT_UNSEALED = 1 };
uint32_t store_shm_fault_arm(enum store_shm_fault kind, uint32_t n);
/* FAULT corrupt-shm: flip a byte in the value part of up to n entries published in the
 * region, leaving their slots' seq and the entries' crc as they were (a reader's checksum
 * fails). Returns how many. */
uint32_t store_shm_fault_corrupt(uint32_t n);
#endif

/* ---- operations (see docs/protocol.md for their semantics) ---- */
/* STORE_OK with a new reference in *out, or STORE_NOT_FOUND. Counts a hit or a miss. */
enum store_status store_get(const struct store_key *k, struct item **out);
/* Count a read that did not go through store_get (GETRANGE) in hits or misses, and in its
 * namespace's. */
void store_count_read(const struct store_key *k, bool hit);
/* Like store_get but counts nothing and does not mark the item as read. */
enum store_status store_peek(const struct store_key *k, struct item **out);
enum store_status store_set(const struct store_key *k, const struct store_value *v, uint64_t ttl_ms,
                            unsigned flags, uint64_t cas, uint64_t *version);
/* STORE_OK when memory or (through the del-miss hook) a disk tier held the key. */
/* A delete is a change even when nothing holds the key: its record goes out (peers may). */
enum store_status store_del(const struct store_key *k);
/* Put a copy read from a disk tier back in memory (promotion, warm restart, a command that
 * needs the value). Not a change: its record is MUT_LOAD, the item counts as read, version
 * and absolute expiry are kept, and so is a replicated counter's state (ctr, ctr_len: what
 * the item's records carried; NULL for none, or without a node id). Stored only when memory
 * does not hold the key and still(arg) says the copy is current; still() runs under the
 * key's lock, where every change of the key is ordered. STORE_OK, STORE_NOT_STORED or
 * STORE_ENOMEM. */
enum store_status store_load(const struct store_key *k, const struct store_value *v,
                             const uint8_t *ctr, uint32_t ctr_len, uint64_t expire_ms,
                             uint64_t version, bool (*still)(void *arg), void *arg);
/* store_load for an optional copy (a promotion): each item memory would evict to make room
 * is put to the admission hook first (store_set_admission), and when the hook refuses one,
 * nothing is evicted and the copy is not stored (STORE_NOT_STORED). */
enum store_status store_admit_load(const struct store_key *k, const struct store_value *v,
                                   const uint8_t *ctr, uint32_t ctr_len, uint64_t expire_ms,
                                   uint64_t version, bool (*still)(void *arg), void *arg);
/* The admission hook: true when the copy of key hash cand may take the place of key hash
 * victim. Any thread; NULL = admit all. */
void store_set_admission(bool (*fn)(void *arg, uint64_t cand, uint64_t victim), void *arg);
enum store_status store_touch(const struct store_key *k, uint64_t ttl_ms);
/* A missing key is created as initial + delta (E_OVERFLOW beyond int64), as INCR of a
 * missing key is in Redis. With a node id set (replication), the int keeps a per-origin counter state so that
 * increments made on several nodes add up (docs/replication.md, "Counters"); STORE_ELIMIT
 * when a counter has had more than 64 origins. */
enum store_status store_incr(const struct store_key *k, int64_t delta, int64_t initial,
                             uint64_t ttl_ms, int64_t *result);
enum store_status store_append(const struct store_key *k, const void *data, uint32_t len,
                               uint64_t ttl_ms, uint64_t *new_len);

/* A piece of a value handed to a range visitor: the bytes stay valid until release(arg). */
typedef void (*store_piece_fn)(void *ctx, const uint8_t *data, size_t len,
                               void (*release)(void *arg), void *arg);
/* A piece of a stream that lives on disk: bytes [off, off+len) of chunk idx of stream sid.
 * Returns true when the visitor supplied those bytes itself (it had read the chunk), false
 * when it must read the chunk first. */
typedef bool (*store_spilled_fn)(void *ctx, uint64_t sid, uint32_t idx, uint32_t off,
                                 uint32_t len);
/* Hands the bytes [offset, offset+length) of a stream or bytes value (clamped to its end) to
 * fn as one or more pieces, and the pieces of a stream on disk to spilled (may be NULL).
 * *total gets the length of the range. STORE_ON_DISK when spilled did not supply some piece
 * (the pieces handed to fn are then incomplete: release them, read the chunks named, try
 * again); STORE_ETYPE for other types. As store_get, it checks the value's checksum (a
 * stream's: those of the chunks handed out, after fn had them) as verify-reads says:
 * STORE_NOT_FOUND when it failed (release the pieces fn had; never send them). */
enum store_status store_range(const struct store_key *k, uint64_t offset, uint64_t length,
                              store_piece_fn fn, store_spilled_fn spilled, void *ctx,
                              uint64_t *total);

/* ---- streams on disk ---- */
/* A stream longer than threshold bytes keeps only its last chunk, and the full chunks not
 * yet written, in memory: each full chunk is handed to spill (under the key's lock: must not
 * block; false = not now, it is offered again at the next append); whoever took it calls
 * store_stream_spilled once it is written or failed. When a stream that handed out chunks
 * is freed, gone() is called (from any thread, no lock held) to delete them. */
struct store_stream_hooks {
    uint64_t threshold;
    bool persist; /* every stream's full chunks are handed over (threshold ignored), and
                   * changes of a stream come with its view (struct mutation.stream) */
    /* crc: the chunk's CRC-32C as memory keeps it; a chunk whose bytes no longer match it
     * must not be written (store_stream_corrupt) */
    bool (*spill)(void *arg, uint16_t ns, const uint8_t *key, uint32_t klen, uint64_t sid,
                  uint32_t idx, const uint8_t *data, uint32_t len, uint32_t crc,
                  void (*release)(void *), void *rarg);
    /* evicted: the stream left memory by eviction (not by a change or expiry) */
    void (*gone)(void *arg, uint64_t sid, uint64_t disk_bytes, bool evicted);
    void *arg;
};
/* NULL removes them. Set before serving, remove after the workers stopped. */
void store_set_stream_hooks(const struct store_stream_hooks *h);
/* Put a stream read from a disk tier back in memory: its chunks but the last stay on disk
 * (stream sid, len bytes), the last (tail, len - its offset bytes) in memory. As store_load
 * otherwise. */
struct store_stream_meta {
    uint64_t epoch;    /* what a stream's head on disk keeps for replication (0: not known) */
    uint16_t eorigin, origin;
};
enum store_status store_load_stream(const struct store_key *k, uint64_t sid, uint64_t len,
                                    const void *tail, uint32_t tail_len, uint64_t disk_bytes,
                                    const struct store_stream_meta *meta, uint64_t expire_ms,
                                    uint64_t version, bool (*still)(void *arg), void *arg);
/* Does memory hold, at k, the stream sid (whose chunks on disk it then still needs)? */
bool store_has_stream(const struct store_key *k, uint64_t sid);
/* Chunk idx of stream sid (the key's current stream, or nothing happens) was written (ok:
 * memory drops it; disk_bytes its record's size) or could not be. Returns true when the
 * stream took the written chunk: its disk_bytes are then reported to gone(). */
bool store_stream_spilled(const struct store_key *k, uint64_t sid, uint32_t idx, bool ok,
                          uint32_t disk_bytes);

/* Visits up to about `count` live keys of namespace ns starting with prefix; returns the next
 * cursor (0 when done). */
typedef void (*store_key_fn)(void *ctx, const uint8_t *key, uint32_t klen);
uint64_t store_scan(uint16_t ns, uint64_t cursor, const void *prefix, uint32_t plen,
                    uint32_t count, store_key_fn fn, void *ctx);

/* ---- leases (docs/protocol.md, LEASE_GET and LEASE_SET; store/lease.c) ---- */
#define STORE_LEASE_MAX_MS 60000
/* A read like store_get (counts a hit or a miss, but not a LEASE_WAIT) that, on a miss, hands out the key's lease:
 * STORE_OK (a hit: *out as store_get), STORE_LEASED (*token, held for lease_ms, 1..
 * STORE_LEASE_MAX_MS; *left_ms = lease_ms), STORE_LEASE_WAIT (another caller holds it for
 * *left_ms more), STORE_ELIMIT (max_leases held), STORE_ENOMEM, or, with ask_disk, STORE_ON_DISK
 * (memory misses the key and a disk tier may hold it: nothing counted, no lease). */
enum store_status store_lease_get(const struct store_key *k, uint32_t lease_ms, bool ask_disk,
                                  struct item **out, uint64_t *token, uint32_t *left_ms);
/* Store v (as store_set without flags) only when token is the key's live lease, which it
 * ends; v NULL ends it without storing (a compute that failed). STORE_OK (*version set when
 * v), STORE_NOT_STORED (the lease expired, or the key changed or was flushed since it was
 * granted), STORE_ENOMEM. */
/* The max_leases option. */
uint64_t store_max_leases(void);
enum store_status store_lease_set(const struct store_key *k, uint64_t token,
                                  const struct store_value *v, uint64_t ttl_ms,
                                  uint64_t *version);

/* Flush one namespace (ns >= 0) or everything (ns < 0). O(number of namespaces): items are
 * invalidated at once and reclaimed by the sweeper. *removed = live items invalidated. */
void store_flush(int ns, uint64_t *removed);

/* ---- changes from peers (replication) ---- */
/* This node's id (1..65535), the origin of its changes; 0 (the default) without peers. */
void store_set_node_id(uint16_t id);
/* A change another node made, as replication carries it: a final value, a delete, or a new
 * expiry, with the origin's stamp (the version it made) and node id. */
struct store_remote {
    enum mutation_op op;          /* MUT_SET, MUT_DEL or MUT_TOUCH */
    uint64_t stamp;               /* > 0 */
    uint16_t origin;
    const struct store_value *v;  /* MUT_SET: not a stream */
    uint64_t expire_ms;           /* MUT_SET, MUT_TOUCH: absolute unix ms, 0 = none */
    const uint8_t *ctr;           /* MUT_SET of a counter: its state (v is its int); merged
                                   * with what is here instead of replacing it */
    uint32_t ctr_len;
    /* After STORE_ON_DISK: the caller read the version of the key's disk copy. still(arg),
     * asked under the key's lock, says that copy is still the current one (NULL: there
     * was none). */
    bool disk_known;
    uint64_t disk_version;
    bool (*still)(void *arg);
    void *still_arg;
};
/* Apply r to k if it is the last writer: the greater (stamp, origin) wins against what
 * memory holds, and a key memory does not hold takes it when its stamp is above every
 * stamp that left memory near that key (deleted, expired, evicted: see `gone` in store.c).
 * Otherwise, when a disk tier may hold the key, STORE_ON_DISK asks the caller for the
 * version of that copy (r->disk_known, tiering_apply_remote does it): the current copy on
 * disk is the key's last state here, so the change wins only when newer than it, and a
 * change as old leaves the copy alone. Without one, the key becomes a miss here (any disk
 * copy too): never older than the winner. A SET already expired is a delete. Records go
 * out as for local changes, with r's origin and stamp; the clock moves above the stamp.
 * STORE_OK (applied), STORE_NOT_STORED (older: dropped), STORE_NOT_FOUND (a touch of a
 * missing key), STORE_ON_DISK, STORE_ENOMEM, STORE_ETYPE (not one of the three, a stream,
 * stamp 0). */
enum store_status store_apply(const struct store_key *k, const struct store_remote *r);

/* A peer's APPEND (docs/replication.md, "Streams"): a.len bytes at a.offset of the stream
 * a.epoch/a.eorigin names, made at stamp by origin, with the stream's absolute expiry. Taken
 * when memory holds that stream (or the bytes value it grew from) exactly as it was before
 * (a.offset long, at version a.prev/a.prev_origin), or holds nothing older and the append
 * starts the stream (offset 0 at its own stamp, or a full sync's whole stream): then the
 * stream grows (or is made) with the new version. A
 * copy of the stream already that long: STORE_NOT_STORED. Anything this node cannot bring
 * to that state (a gap, another stream newer than what it holds here) makes the key a
 * miss here when the append is newer (STORE_NOT_FOUND), else STORE_NOT_STORED. */
struct store_remote_append {
    struct store_append_info a;
    uint64_t stamp;
    uint16_t origin;
    uint64_t expire_ms;
    bool whole; /* a full sync: a.data is the whole stream (a.offset 0) at version stamp */
};
enum store_status store_apply_append(const struct store_key *k,
                                     const struct store_remote_append *r);

/* A consistent copy of the stream at k for a full sync: its bytes (malloc'd: free data),
 * version, origin, epoch and expiry. STORE_OK, STORE_NOT_FOUND (not a stream, or one whose
 * chunks failed their checksums: corrupt set, store_stream_corrupt(what)), STORE_ELIMIT (longer than max,
 * some of it on disk, its epoch not known, or no memory). It copies under the key's shard
 * lock: keep max small (the link thread uses 1 MiB); the chunks are checked off it. */
struct store_stream_copy {
    uint8_t *data;
    uint64_t len, version, epoch, expire_ms;
    uint16_t origin, eorigin;
    bool corrupt; /* STORE_NOT_FOUND: it was removed for a failed checksum */
};
enum store_status store_stream_copy(const struct store_key *k, uint64_t max,
                                    struct store_stream_copy *out, const char *what);

/* A stream too long for one copy goes in parts (docs/replication.md, "Streams"): the
 * sender notes which stream the key holds (its id names it while it lives: its first len
 * bytes never change, appends only add), then reads it part by part with
 * store_stream_read. STORE_OK, STORE_NOT_FOUND (not a stream, or its epoch not known). */
struct store_stream_info {
    uint64_t sid, len, version, epoch, expire_ms;
    uint16_t origin, eorigin;
};
enum store_status store_stream_info(const struct store_key *k, struct store_stream_info *out);
/* Bytes of stream sid at k from off: at most max, never past the end of the chunk holding
 * off. STORE_OK (*n bytes copied into buf), STORE_ON_DISK (that chunk is on a disk tier:
 * read *n bytes of it with tiering_stream_read), STORE_NOT_FOUND (k holds no stream sid
 * any more, or one not longer than off, or the chunk failed its checksum: the stream is
 * removed, store_stream_corrupt). The whole chunk is checked, off the lock. */
enum store_status store_stream_read(const struct store_key *k, uint64_t sid, uint64_t off,
                                    uint32_t max, uint8_t *buf, uint32_t *n);

/* The receiving side: a peer's copy of a stream arriving in parts, built aside (nothing
 * reads it), its full chunks spilled to disk as it grows like any long stream's, then
 * linked in at once by store_stage_commit as store_apply_append links a whole copy (when
 * newer than what the key holds), or dropped by store_stage_abort (its chunks on disk go
 * too). r is the first part's (offset 0); begin takes no bytes, add takes them in order.
 * NULL / STORE_ENOMEM without memory. */
struct store_stage;
struct store_stage *store_stage_begin(const struct store_key *k,
                                      const struct store_remote_append *r);
enum store_status store_stage_add(struct store_stage *sg, const uint8_t *data, uint32_t len);
uint64_t store_stage_len(const struct store_stage *sg);
/* Is sg the copy of this key at this version? */
bool store_stage_is(const struct store_stage *sg, const struct store_key *k, uint64_t stamp,
                    uint16_t origin);
/* STORE_OK (linked in), STORE_NOT_STORED (older than what the key holds: dropped). sg is
 * freed either way. */
enum store_status store_stage_commit(struct store_stage *sg);
void store_stage_abort(struct store_stage *sg);

/* A peer flushed a namespace (ns >= 0) or everything (ns < 0) at stamp: what is older than
 * (stamp, origin) there is gone here too, what was written after it stays (a flush is
 * ordered by its stamp like any change); recorded with origin. A local FLUSH and a peer's
 * both raise every gone mark to their stamp, so a change made before them arriving later
 * brings nothing back. */
void store_flush_remote(int ns, uint16_t origin, uint64_t stamp);

/* Memory accounting for tests and INFO. */
uint64_t store_bytes_used(void);
uint64_t store_memory_limit(void);
/* Versions handed out from now on are above v (warm restart: CAS stays unique), and a
 * peer's change at or below v does not replace what only a disk tier holds. A version is
 * the hybrid-logical-clock stamp of the change that made the item (store/hlc.c). */
void store_version_floor(uint64_t v);
/* Stamps handed out from now on are above v (and nothing else changes). */
void store_clock_floor(uint64_t v);
/* A new stamp of this node's clock. */
uint64_t store_clock_now(void);
/* The "gone" marks (what left memory, see store_apply): 2^STORE_GONE_BITS slices of the
 * hash space, slice = hash >> (64 - STORE_GONE_BITS). Copies slices [first, first+n). */
#define STORE_GONE_BITS 16
void store_gone_marks(uint32_t first, uint32_t n, uint64_t *stamps, uint16_t *origins);
/* Remove k if memory holds it with a version below stamp and not above (mark, mark_origin):
 * a local removal, not a change (its MUT_DEL record has `local` set, and its own version and
 * origin), which also drops a disk copy. What a full sync does with what its sender did not
 * send although the sender removed something there since (mark: the sender's gone mark for
 * the key's slice). True when it removed something. */
bool store_drop_older(const struct store_key *k, uint64_t stamp, uint64_t mark,
                      uint16_t mark_origin);
/* The same for a key memory does not hold and a disk tier holds at `version` (the disk
 * keeps no origin: it counts as 0), when still(arg), asked under the key's lock, says that
 * copy is still the current one: the disk copy is dropped through the miss hooks' forget,
 * a local removal that goes nowhere. When memory holds the key (loaded since the caller
 * read the disk), store_drop_older's rule applies to it. True when it removed something. */
bool store_drop_older_disk(const struct store_key *k, uint64_t version, uint64_t stamp,
                           uint64_t mark, uint16_t mark_origin, bool (*still)(void *arg),
                           void *arg);
/* TESTS ONLY (option repl-test-clock-skew-ms): stamps run ms ahead of the wall clock. */
void store_hlc_skew(uint64_t ms);
/* This node's clock as its stamps see it (unix ms; the wall clock, plus that skew): what it
 * tells its peers, who compare it with theirs (the health monitor's clock check). */
uint64_t store_hlc_wall_ms(void);
/* Per-item overhead counted against the limit besides key and value bytes. */
size_t store_item_overhead(void);

#endif
