/* Which keys the SSD tier holds, in memory, so a memory miss knows at once whether a disk
 * read can find anything (most misses never touch the disk). Keyed by the store's 64-bit key
 * hash; each entry has a state and the sequence number of the job that set it:
 *   QUEUED  a demotion is waiting for the writer   LIVE  on disk
 *   TOMB    the key changed in memory: the disk copy is stale and a delete is queued
 * Jobs carry their sequence number, so a late writer never revives a stale entry. */
#ifndef TIERING_INDEX_H
#define TIERING_INDEX_H

#include <stdbool.h>
#include <stdint.h>

enum tix_state { TIX_NONE = 0, TIX_QUEUED, TIX_LIVE, TIX_TOMB };

struct tix_entry {
    enum tix_state state;
    uint64_t seq;
    uint16_t ns;
    uint32_t last_hit_s; /* for promotion: second hit within a window */
};

int tix_setup(void);
void tix_teardown(void);
/* Current entry of hash (state TIX_NONE when absent). */
struct tix_entry tix_get(uint64_t hash);
/* Set the entry unconditionally. */
void tix_set(uint64_t hash, uint16_t ns, enum tix_state st, uint64_t seq);
/* If the entry is in state `from` with sequence seq: move it to `to` (TIX_NONE removes it).
 * Returns whether it did. */
bool tix_move(uint64_t hash, enum tix_state from, uint64_t seq, enum tix_state to);
/* Entry exists (any state): returns its state and sets it to TOMB with seq. With always,
 * an absent entry becomes a TOMB too (warm restart: the disk may hold an unindexed copy). */
enum tix_state tix_tomb(uint64_t hash, uint16_t ns, uint64_t seq, bool always);
/* Add the entry only when the hash has none. Returns whether it did. */
bool tix_add(uint64_t hash, uint16_t ns, enum tix_state st, uint64_t seq);
/* Remove every TOMB entry (the end of a warm restart's indexing). */
void tix_drop_tombs(void);
/* Entries of every state (memory accounting). */
uint64_t tix_count(void);
/* Bytes the index uses. */
uint64_t tix_memory(void);
/* Record a read hit at now_s; returns the previous hit time (0 = none). */
uint32_t tix_hit(uint64_t hash, uint64_t seq, uint32_t now_s);
/* Drop every entry of namespace ns (ns < 0: all). Returns how many were LIVE. */
uint64_t tix_drop_ns(int ns);
/* Entries in state LIVE. */
uint64_t tix_live(void);

#endif
