/* Private to tiering/: what the policy (tiering.c), the warm restart (restore.c) and the
 * durable-write waiters (durable.c) share. */
#ifndef TIERING_INTERNAL_H
#define TIERING_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tierdb.h"

enum persist_mode { PERSIST_OFF = 0, PERSIST_ASYNC, PERSIST_SYNC };

uint64_t tiering_now_ms(void);
/* For store_load's still(): is the index entry of hash still LIVE with sequence seq? */
struct tiering_expect {
    uint64_t hash, seq;
};
bool tiering_expect_live(void *expect);
uint64_t tiering_next_seq(void);

/* For STATS: keys indexed, loaded, and ms the restore took (0 while loading). */
void tiering_restore_progress(uint64_t indexed, uint64_t loaded, uint64_t ms);

/* ---- restore.c: warm restart ---- */
/* Start indexing what db holds and refilling memory, on a thread of its own. While the index
 * is incomplete, restore_indexing() is true: a memory miss must look on disk even when the
 * index has no entry. 0 or -1. */
int restore_start(struct tierdb *db);
/* Stop and join the thread (shutdown). */
void restore_stop(void);
bool restore_indexing(void);
/* A FLUSH while indexing: records of ns (ns < 0: every namespace) are no longer indexed.
 * Call with the index entries already dropped. */
void restore_note_flush(int ns);

/* ---- durable.c: sync persistence ---- */
void durable_setup(void);
/* Writer thread: jobs up to `committed` (a count of jobs taken from the queue) are on disk;
 * ok = false when the batch holding the last of them failed (err says why). */
void durable_advance(uint64_t committed, bool ok, const char *err);
/* Complete every waiter (shutdown, after the writer drained the queue). */
void durable_teardown(void);

#endif
