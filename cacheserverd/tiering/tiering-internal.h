/* Private to tiering/: what the policy (tiering.c), the warm restart (restore.c) and the
 * durable-write waiters (durable.c) share. */
#ifndef TIERING_INTERNAL_H
#define TIERING_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "tierdb.h"

enum persist_mode { PERSIST_OFF = 0, PERSIST_ASYNC, PERSIST_SYNC };

uint64_t tiering_now_ms(void);
/* The store key of a tier key (tierdb_key's layout: name length, namespace name, key), its
 * namespace found or created by name; data points into key. False when it is not one. */
bool tiering_key_parse(const uint8_t *key, size_t klen, struct store_key *out);
/* For store_load's still(): is the index entry of hash still LIVE with sequence seq? */
struct tiering_expect {
    uint64_t hash, seq;
};
bool tiering_expect_live(void *expect);
uint64_t tiering_next_seq(void);

/* Streams on disk: a chunk's tier key (0xfe, stream id, chunk index: TIERING_CHUNK_KEY
 * bytes), a stream head's payload, and the gauge of chunk bytes on the first tier. */
#define TIERING_CHUNK_KEY 13
void tiering_chunk_key(uint8_t *out, uint64_t sid, uint32_t idx);
bool tiering_stream_head_parse(const uint8_t *p, size_t n, uint64_t *sid, uint64_t *len);
void tiering_stream_bytes_add(uint64_t bytes);

/* For STATS: keys indexed, loaded, and ms the restore took (0 while loading). */
void tiering_restore_progress(uint64_t indexed, uint64_t loaded, uint64_t ms);

/* ---- restore.c: warm restart ---- */
/* Start indexing what the tiers hold (dbs[TIX_SSD] first, then dbs[TIX_HDD] if not NULL)
 * and refilling memory, on a thread of its own. While the index is incomplete,
 * restore_indexing() is true: a memory miss must look on disk even when the index has no
 * entry. 0 or -1. */
int restore_start(struct tierdb *const *dbs);
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
    struct tierdb *db;
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

/* ---- durable.c: sync persistence ---- */
void durable_setup(void);
/* Writer thread: jobs up to `committed` (a count of jobs taken from the queue) are on disk;
 * ok = false when the batch holding the last of them failed (err says why). */
void durable_advance(uint64_t committed, bool ok, const char *err);
/* Complete every waiter (shutdown, after the writer drained the queue). */
void durable_teardown(void);

#endif
