/* Private to store/: the item layout, shards and their hash tables, streams, namespaces.
 * `do_` functions expect the caller to hold the shard's lock. */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "keyhash.h"
#include "stats.h"
#include "store.h"

#define ITEM_VISITED 0x01u   /* SIEVE: read since the hand last passed */
#define ITEM_LINKED 0x02u    /* in the table and the SIEVE list */
#define ITEM_EVER_READ 0x04u /* read at least once since written */
#define ITEM_COUNTER 0x08u   /* an int with a replicated counter state after it (counter.h) */
#define ITEM_SEALED 0x10u    /* crc set before linking (off the shard lock); else at link */
#define ITEM_WAS_PUBLISHED 0x20u /* the item it replaced was in the shm region (shm.c) */
#define ITEM_CTR_OFFSET 16   /* where that state starts in the value area (after 9 + pad) */

/* An item's expire_ms and origin as one word (the same bitfields as in struct item). */
union item_meta {
    struct {
        uint64_t expire_ms : 48;
        uint64_t origin : 16;
    };
    uint64_t word;
};

/* 56 bytes of metadata, then the key, then the value encoding (or, for a stream, a
 * struct stream *).
 * A TOUCH (local or a peer's) and an APPEND to a stream change a linked item's version,
 * expire_ms and origin in place, under the shard lock, while whoever holds a reference
 * reads them without it (GET's reply, the link thread's full sync): those changes are atomic
 * stores of version and of meta (store.c's _restamp), and the store_item_ accessors load
 * them atomically. */
struct item {
    struct item *hnext;  /* hash chain */
    struct item *prev;   /* SIEVE list: towards the head (newest) */
    struct item *next;   /* SIEVE list: towards the tail (oldest) */
    uint64_t version;    /* the HLC stamp of the change that made it */
    union {
        struct {
            uint64_t expire_ms : 48; /* absolute unix ms; 0 = never */
            uint64_t origin : 16;    /* node id that made it (0: this node, no node id set) */
        };
        uint64_t meta;   /* the two as one word (union item_meta) */
    };
    uint32_t refcount;   /* the table holds one reference while linked */
    uint32_t vlen;       /* encoding length; sizeof(struct stream *) for streams */
    uint32_t crc;        /* CRC-32C of key, value (and counter state) and type: set before
                          * the item is linked, never changed after (store_item_verify) */
    uint16_t klen;
    uint16_t ns;
    uint16_t gen;        /* namespace generation at write time; stale = flushed */
    uint8_t type;
    uint8_t flags;       /* ITEM_*: once linked, changed under the shard lock with atomic
                          * read-modify-writes (store_item_counter reads it without) */
    uint32_t shm_slot;   /* its copy's slot in the shm region + 1 (shm.c), 0 = none: changed
                          * and read under the shard lock only */
    uint8_t data[];
};
/* shm_slot took padding: an item's metadata is still 64 bytes (item_overhead_bytes). */
_Static_assert(sizeof(struct item) == 64, "struct item stays 64 bytes");

/* A stream: bytes in chunks of at most STREAM_CHUNK, all full but the last, so a byte offset
 * maps to a chunk by division. Chunks are reference counted so readers can hold them
 * without the lock; a shared last chunk is copied before it is appended to.
 * A stream longer than the stream hooks' threshold spills: its full chunks are handed to the
 * spill hook (a disk tier writes them) and, once written (store_stream_spilled), dropped from
 * memory: chunks[i] is NULL for a chunk that lives on disk only. */
#define STREAM_CHUNK STORE_STREAM_CHUNK

/* A chunk's crc is the CRC-32C of data[0, len): an append extends it over the bytes it adds
 * (crc32c is streaming), under the shard lock, with len. A chunk someone else holds a
 * reference to is never written (the append copies it first, _prepare_last), and references
 * are taken under the lock: so whoever took one may read len, crc and the bytes without the
 * lock and check them against each other (store_chunk_intact). */
struct chunk {
    uint32_t refcount;
    uint32_t len;
    uint32_t cap;
    uint32_t crc;
    uint8_t data[];
};

/* Chunks a reader took a reference to under the lock, to check off it (store_chunks_check).
 * Zero it before use. */
struct chunk_set {
    struct chunk **v;  /* one, or a larger array */
    uint32_t n, cap;
    bool corrupt;      /* out of memory for the set: a chunk checked under the lock failed */
    struct chunk *one[4];
};

struct stream {
    uint64_t len;        /* grows under the lock with atomic stores: store_item_strlen reads it
                          * without (GET holds only a reference) */
    uint32_t nchunks;
    uint32_t cap;
    struct chunk **chunks;
    uint64_t id;         /* unique in this run: names its chunks on disk */
    uint32_t spill_next; /* chunks below it were handed to the spill hook */
    uint64_t disk_bytes; /* bytes their records take on disk */
    bool evicted;        /* left memory unchanged (evicted, or a load not done): persisted
                          * chunks are kept */
    bool exposed;        /* its view went out with a change: its chunks may be on disk */
    uint64_t epoch;      /* replication: the (stamp, node id) it started from (the APPEND */
    uint16_t eorigin;    /* that made it, or the bytes value it grew from); 0: not known */
    uint32_t scrub_idx;  /* the scrub (sweep.c): the chunk it checks, how far it got and the */
    uint32_t scrub_off;  /* CRC-32C of the bytes before that (do_store_stream_scrub) */
    uint32_t scrub_crc;
};

/* A power-of-two bucket array. */
struct table {
    struct item **buckets;
    uint64_t mask; /* size - 1; size 0 means unused */
};

#define STORE_LEASE_BUCKETS 16
struct lease;

struct shard {
    pthread_mutex_t lock;
    struct lease *leases[STORE_LEASE_BUCKETS]; /* lease.c: the keys' leases */
    uint32_t nleases;
    struct table t[2];     /* t[1] is the new table while rehashing */
    uint64_t rehash_pos;   /* next bucket of t[0] to move */
    uint64_t count;        /* items linked */
    uint64_t bytes;        /* memory of linked items (relaxed reads pick eviction victims) */
    struct item *head;     /* SIEVE: newest */
    struct item *tail;     /* SIEVE: oldest */
    struct item *hand;     /* SIEVE hand; NULL = start from the tail */
    uint64_t sweep_pos;    /* expiry sweep position in t[0] */
    uint64_t scrub_pos;    /* the checksum scrub's position in t[0] (sweep.c) */
} __attribute__((aligned(64)));

#define STORE_SHARD_BITS 8
#define STORE_SHARDS (1u << STORE_SHARD_BITS)

static inline struct shard *store_shard_of(struct shard *shards, uint64_t hash)
{
    return &shards[hash >> (64 - STORE_SHARD_BITS)];
}

static inline const uint8_t *item_key(const struct item *it) { return it->data; }
static inline uint8_t *item_val(struct item *it) { return it->data + it->klen; }
static inline struct stream *item_stream(const struct item *it)
{
    struct stream *s;
    __builtin_memcpy(&s, it->data + it->klen, sizeof(s));
    return s;
}

/* The key hash (common/keyhash.h, shared with libcacheclient). */
static inline uint64_t store_hash(uint16_t ns, const void *key, size_t len)
{
    return cc_key_hash(ns, key, len);
}
/* Shard locked: does the item still match its checksum? Remove it (a local removal that
 * goes nowhere, like an eviction without its demotion). */
bool do_store_item_intact(const struct item *it);
void do_store_drop(struct shard *s, struct item **slot);

/* table.c: chained hash table with incremental rehash (Redis-style) */
int store_table_init(struct shard *s);
void store_table_free(struct shard *s);
struct item **do_store_table_find(struct shard *s, uint64_t hash, uint16_t ns, const uint8_t *key,
                            uint32_t klen);
void do_store_table_insert(struct shard *s, struct item *it, uint64_t hash);
/* Unlink the item at *slot (as returned by do_store_table_find). */
void do_store_table_remove_at(struct shard *s, struct item **slot);
/* Move a few buckets if a rehash is running; start one if the load is high. Returns true if
 * it did any work. */
bool do_store_table_rehash_step(struct shard *s);
/* Visit buckets for scan: see table.c. Returns the next cursor within the shard (0 = done). */
uint64_t do_store_table_scan(struct shard *s, uint64_t cursor, void (*fn)(void *, struct item *),
                       void *ctx);

/* ns.c */
int store_ns_setup(void);
void store_ns_teardown(void);
uint16_t store_ns_gen(uint16_t ns);
bool store_ns_item_live(const struct item *it);
/* Dead by a FLUSH: of an older generation, or older than a peer's FLUSH of its namespace. */
bool store_ns_item_flushed(const struct item *it);
/* A peer's FLUSH of ns (< 0: every namespace) at (stamp, origin): older items are dead. */
void store_ns_flush_below(int ns, uint64_t stamp, uint16_t origin);
void store_ns_account(const struct item *it, int64_t items, int64_t bytes);
void store_ns_hit(uint16_t ns, bool hit);
/* Bump generations (ns < 0: all); returns live items invalidated. */
uint64_t store_ns_flush(int ns);
/* Copy the names made so far into the shm region's table (store_shm_setup). */
void store_ns_shm_names(void);

/* stream.c */
struct stream *store_stream_create(void);
/* Append; returns bytes of memory added (capacity), or -1 when out of memory. */
int64_t do_store_stream_append(struct stream *st, const uint8_t *data, uint32_t len);
void store_stream_destroy(struct stream *st);
uint64_t store_stream_mem(const struct stream *st);
void store_chunk_release(void *chunk);
/* Hands [off, off+len) to fn, chunks on disk to spilled (when NULL, or when it returns false,
 * the range is incomplete). Returns false when some bytes were not handed over. With keep,
 * every chunk handed to fn is also kept there (a reference) to be checked off the lock. */
bool do_store_stream_range(struct stream *st, uint64_t off, uint64_t len, store_piece_fn fn,
                     store_spilled_fn spilled, void *ctx, struct chunk_set *keep);
/* Do the chunk's bytes match its crc? Shard locked, or a reference taken under it held. */
bool store_chunk_intact(const struct chunk *c);
/* Off the lock: check every chunk kept in cs and drop their references. False when one
 * failed (then the stream must not be served or sent). */
bool store_chunks_check(struct chunk_set *cs);
/* Shard locked: the scrub's next *budget bytes of the stream's chunks in memory, going on
 * from where it stopped (it wraps around); *budget is lowered by what it checked. False
 * when a chunk it finished failed its crc. */
bool do_store_stream_scrub(struct stream *st, uint32_t *budget);
#ifdef CACHE_FAULT_INJECTION
/* Shard locked: flip a byte of the stream's first chunk in memory, leaving its crc. */
bool do_store_stream_fault(struct stream *st);
#endif
/* The stream hooks (store_set_stream_hooks); store_stream_destroy tells `gone`. */
void store_stream_set_hooks(const struct store_stream_hooks *h);
/* Hand full chunks not handed yet to the spill hook while it takes them (stream item it,
 * shard locked). Returns whether every full chunk has been handed over. */
bool do_store_stream_spill(struct stream *st, uint16_t ns, const uint8_t *key, uint32_t klen);
/* With persisted streams (the hooks say so): fill v from st (shard locked) and return
 * true; else false. */
bool do_store_stream_view(struct stream *st, struct store_stream_view *v);
/* A stream of len bytes whose chunks but the last are on disk (store_load_stream). */
struct stream *store_stream_restore(uint64_t sid, uint64_t len, const void *tail, uint32_t tail_len,
                              uint64_t disk_bytes);
/* Chunk idx was written to disk (ok) or not: drop it from memory, or hand it over again at
 * the next append. Returns the bytes of memory freed. */
uint64_t do_store_stream_spilled(struct stream *st, uint32_t idx, bool ok, uint32_t disk_bytes);

/* sweep.c */
int store_sweep_start(void);
void store_sweep_stop(void);

/* store.c internals used by sweep.c */
extern struct shard *store_shards;
/* Reclaim an expired or flushed item found at *slot, its key's hash `hash` (shard locked):
 * an expired one's record is MUT_EXPIRE, a flushed one's was the flush. */
void do_store_reclaim(struct shard *s, struct item **slot, uint64_t hash);
void store_enforce_limit(void);
struct option_value *store_opt_sweep_interval(void);
struct option_value *store_opt_sweep_buckets(void);
bool store_item_expired(const struct item *it, uint64_t now_ms);

/* store.c's stats, for the files of store/ that count too */
STAT_STRUCT(store, STORE_STATS);
extern struct store_stats *const store_stat;
struct option_value *store_opt_max_leases(void);
struct option_value *store_opt_memory(void);
struct option_value *store_opt_shm_reads(void);
struct option_value *store_opt_shm_read_size(void);

/* lease.c */
/* A change of the key (any mutation record but MUT_LOAD): its lease, if any, is gone. */
void do_store_lease_changed(struct shard *s, uint16_t ns, uint64_t hash, const uint8_t *key,
                            uint32_t klen);
/* A FLUSH (local or a peer's): every lease granted before it is lost. */
void store_lease_flushed(void);
/* Free the shard's expired leases (the sweeper). */
void do_store_lease_sweep(struct shard *s, uint64_t now_us);
void store_lease_free_all(struct shard *s);
/* The key's lease (no live item at k): STORE_LEASED (granted), STORE_LEASE_WAIT,
 * STORE_ELIMIT, STORE_ENOMEM. */
enum store_status do_store_lease_take(struct shard *s, const struct store_key *k,
                                      uint32_t lease_ms, uint64_t *token, uint32_t *left_ms);
/* End the key's lease if token is it and it is live: STORE_OK, else STORE_NOT_STORED. */
enum store_status do_store_lease_redeem(struct shard *s, const struct store_key *k,
                                        uint64_t token);

/* hlc.c */
/* A new stamp, greater than every one before (and than any floor). */
uint64_t store_hlc_now(void);
/* Stamps handed out from now on are above v. */
void store_hlc_floor(uint64_t v);

#endif
