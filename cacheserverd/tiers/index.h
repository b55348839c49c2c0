/* Which keys the disk tiers hold, in memory, so a memory miss knows at once whether a disk
 * read can find anything (most misses never touch the disk). Keyed by the store's 64-bit key
 * hash; each entry has a state and the sequence number of the job that set it:
 *   QUEUED  a write is waiting for the writer      LIVE  on disk (which tier, how many bytes)
 *   TOMB    the key changed in memory: the disk copy is stale and a delete is queued
 * Jobs carry their sequence number, so a late writer never revives a stale entry. */
#ifndef TIERING_INDEX_H
#define TIERING_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tix_state { TIX_NONE = 0, TIX_QUEUED, TIX_LIVE, TIX_TOMB };

enum { TIX_SSD = 0, TIX_HDD = 1, TIX_TIERS = 2 };

/* A value waiting to be written (QUEUED): reads in the window between an eviction and its
 * write are answered from it. Reference counted; the entry holds one reference. */
struct tix_value {
    int refs; /* atomic */
    uint8_t type;
    uint64_t expire_ms, version;
    uint32_t len;
    uint32_t ctr_len; /* a replicated counter's state, at data + len (0: none) */
    uint8_t data[];
};
struct tix_value *tix_value_new(uint8_t type, uint64_t expire_ms, uint64_t version,
                                const void *data, uint32_t len, const void *ctr,
                                uint32_t ctr_len);
void tix_value_release(struct tix_value *v);

/* Where a record is in a value log (valuelog.md): the low 32 bits of its segment's
 * sequence and its byte offset there. Records start after a segment's 4 KiB header, so off
 * 0 never names one: TIX_NOLOC, "unknown" (look the key up). */
struct tix_loc {
    uint32_t seg, off;
};
#define TIX_NOLOC ((struct tix_loc){0, 0})
static inline bool tix_loc_eq(struct tix_loc a, struct tix_loc b)
{
    return a.seg == b.seg && a.off == b.off;
}
/* Live bytes per value-log segment: the index adds each LIVE entry's dlen to its segment's
 * count and takes it off when the entry changes or goes, so the log's space reclaim knows
 * how much of each segment is still named (valuelog.md, "Accounting"). Counted per tier in
 * TIX_SEG_SLOTS slots, by seg modulo TIX_SEG_SLOTS: a log keeps at most that many segments,
 * no two of them in one slot (its segment table has as many slots). */
#define TIX_SEG_SLOTS 65536u
int64_t tix_seg_live(int tier, uint32_t seg);
/* A new segment takes the slot: its count starts at 0. */
void tix_seg_reset(int tier, uint32_t seg);

struct tix_entry {
    enum tix_state state;
    uint32_t last_off8;  /* QUEUED, TOMB: the key's last record on disk, see tix_last_is */
    uint64_t seq;
    uint16_t ns;
    uint8_t tier;        /* LIVE: TIX_SSD or TIX_HDD */
    bool ref;            /* read from disk since the tier's CLOCK hand last passed */
    bool stream;         /* the record is a stream's head (its chunks are records of their own) */
    bool seen;           /* LIVE: its record was found by the last walk (tix_unsee, tix_see) */
    uint16_t last_seg;   /* QUEUED, TOMB: with last_off8 */
    uint32_t last_hit_s; /* for promotion: second hit within a window */
    uint32_t dlen;       /* LIVE: bytes on disk (tier key and encoded value) */
    union {
        struct tix_value *qv; /* QUEUED: the value on its way (never returned by tix_get) */
        struct tix_loc loc;   /* LIVE: where the record is on a value log tier (backend.h;
                               * TIX_NOLOC on a RocksDB tier, which never sets it) */
    };
};
/* The location shares qv's 8 bytes: an entry stays 40 bytes, an index node 56
 * (docs/valuelog.md, "From the index to the record"). index.c releases qv only in a QUEUED
 * entry and hands out loc only in the others. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct tix_entry) == 40,
               "struct tix_entry grew: the location must share qv's bytes");

/* The key's last record written to disk while a change of it waits (QUEUED, TOMB), so that
 * a value log's reclaim keeps it until that change is written (docs/valuelog.md, "Reclaim
 * with persistence"): a crash meanwhile must find it. Taken from the entry the change
 * replaced (LIVE: its record; QUEUED or TOMB: theirs), and moved on by the writer when an
 * older job of the key is written after the entry changed again (tix_written, tix_deleted).
 * Kept in the entry's padding: last_off8 is the byte offset / 8 on the segment of slot
 * last_seg (seg % TIX_SEG_SLOTS, unique among a log's segments); 0: none (its last record is
 * a delete, or it has none); TIX_LAST_ELSEWHERE: a record on a RocksDB tier. */
#define TIX_LAST_ELSEWHERE UINT32_MAX
/* Is e waiting for a change, with its last record at loc on a value log? */
bool tix_last_is(const struct tix_entry *e, struct tix_loc loc);
/* Is e waiting for a change, with its last record a put (on a log or elsewhere)? */
bool tix_last_put(const struct tix_entry *e);
/* The reclaim copied the key's last record from `from` to `to`: the entry names the copy if
 * it still names `from`. Returns whether it did. */
bool tix_last_move(uint64_t hash, struct tix_loc from, struct tix_loc to);
/* A delete of the key (a job older than the entry's) was written: its last record is a
 * delete now. */
void tix_deleted(uint64_t hash);

int tix_setup(void);
void tix_teardown(void);
/* Current entry of hash (state TIX_NONE when absent). */
struct tix_entry tix_get(uint64_t hash);
/* Set the entry unconditionally: state QUEUED or TOMB, or a whole entry read by tix_get
 * (put back as it was). */
void tix_set(uint64_t hash, uint16_t ns, enum tix_state st, uint64_t seq);
/* QUEUED with seq, holding a reference to qv (taken over from the caller). Returns the
 * entry it replaced (state TIX_NONE when there was none), as tix_get would have. */
struct tix_entry tix_set_queued(uint64_t hash, uint16_t ns, uint64_t seq, struct tix_value *qv);
/* The value of a QUEUED entry with a new reference (NULL when not QUEUED with a value);
 * *seq gets the entry's sequence. */
struct tix_value *tix_queued_value(uint64_t hash, uint64_t *seq);
/* Put back e, an entry tix_set_queued replaced (its job could not be queued). The key's
 * last record on disk is the current entry's (the reclaim may have moved it): a LIVE e whose
 * record moved comes back as a TOMB naming the new place (read as absent on disk). */
void tix_restore(uint64_t hash, const struct tix_entry *e);
/* If the entry is in state `from` with sequence seq: remove it. Returns whether it did. */
bool tix_remove(uint64_t hash, enum tix_state from, uint64_t seq);
/* A read found no record for the LIVE entry with seq: remove it, or with keep (a warm
 * restart still indexing, when a missing entry means "maybe on disk") make it a TOMB, which
 * says "not on disk" until the indexing ends. Returns whether it did. */
bool tix_absent(uint64_t hash, uint64_t seq, bool keep);
/* QUEUED with seq -> LIVE on tier with dlen bytes at loc (TIX_NOLOC: a RocksDB tier) and
 * the given ref bit. Returns whether it did. When the entry changed meanwhile (QUEUED or
 * TOMB with a later seq), the record is the key's last one on disk (tix_last_is). */
bool tix_written(uint64_t hash, uint64_t seq, uint8_t tier, uint32_t dlen, bool ref,
                 struct tix_loc loc);
/* The entry's state; when it is LIVE and warm, also set its ref bit (an item read in memory
 * was evicted: warm, not cold). */
enum tix_state tix_state_warm(uint64_t hash, bool warm);
/* LIVE with seq: now on tier at loc (a move between tiers; TIX_NOLOC on a RocksDB tier).
 * Returns whether it did. */
bool tix_relocate(uint64_t hash, uint64_t seq, uint8_t tier, struct tix_loc loc);
/* LIVE with seq on tier at `from`: now at `to` on the same tier, dlen bytes (a value log's
 * reclaim moved the record; the ref bit is kept). Returns whether it did. */
bool tix_move(uint64_t hash, uint64_t seq, uint8_t tier, struct tix_loc from, struct tix_loc to,
              uint32_t dlen);
/* The record at loc on tier's log is gone (its segment was cut after a failed fdatasync):
 * a LIVE entry naming it is removed (a read misses), a waiting entry whose last record it
 * was has none now. Returns whether a LIVE entry went. */
bool tix_forget_at(uint64_t hash, uint8_t tier, struct tix_loc loc);
/* Add a LIVE entry at loc (TIX_NOLOC: a RocksDB tier) only when the hash has none (warm
 * restart). Returns whether it did. */
bool tix_add_live(uint64_t hash, uint16_t ns, uint64_t seq, uint8_t tier, uint32_t dlen,
                  bool stream, struct tix_loc loc);
/* Add a TOMB only when the hash has none (a value log's replay: a newer delete hides the
 * key's older records; tix_drop_tombs ends them). Returns whether it did. */
bool tix_add_tomb(uint64_t hash, uint16_t ns, uint64_t seq);
/* One entry for tix_add_many: LIVE at loc, or a TOMB. */
struct tix_add {
    uint64_t hash, seq;
    struct tix_loc loc;
    uint32_t dlen;
    uint16_t ns;
    uint8_t tier;
    bool live, stream;
    bool added; /* out: whether it was added */
};
/* tix_add_live or tix_add_tomb for each of a[0..n-1], in that order for a hash (its first
 * entry decides), taking each shard's lock once and fetching buckets ahead: a replay's
 * million inserts are cache misses more than anything else. */
void tix_add_many(struct tix_add *a, size_t n);
/* The CLOCK hand: returns the entry and clears its ref bit. */
struct tix_entry tix_pass(uint64_t hash);
/* A value log's hand at the record (tier, loc): the entry when it is LIVE there (its ref bit
 * cleared), else an entry of state TIX_NONE (the record is dead: nothing names it). */
struct tix_entry tix_pass_at(uint64_t hash, uint8_t tier, struct tix_loc loc);
/* Entry exists (any state): returns its state and sets it to TOMB with seq. With always,
 * an absent entry becomes a TOMB too (warm restart: the disk may hold an unindexed copy).
 * *before (may be NULL) gets the entry it replaced, as tix_get would have. */
enum tix_state tix_tomb(uint64_t hash, uint16_t ns, uint64_t seq, bool always, bool *was_stream,
                        struct tix_entry *before);
/* Remove every TOMB entry (the end of a warm restart's indexing). */
void tix_drop_tombs(void);
/* Reconciling the index with a tier's records (after a reopen that may have lost the
 * writes a failed flush held only in memory): tix_unsee(tier) clears the mark of every
 * LIVE entry of the tier, tix_see marks the entry of each record found on it, and
 * tix_drop_unseen(tier) removes the LIVE entries of the tier left unmarked (whose records
 * are gone), returning how many. Writer thread (no other thread makes entries LIVE then). */
void tix_unsee(int tier);
void tix_see(uint64_t hash, int tier);
uint64_t tix_drop_unseen(int tier);
/* Entries of every state (memory accounting). */
uint64_t tix_count(void);
/* Bytes the index uses. */
uint64_t tix_memory(void);
/* Record a read hit at now_s (sets ref); returns the previous hit time (0 = none). */
uint32_t tix_hit(uint64_t hash, uint64_t seq, uint32_t now_s);
/* Drop every entry of namespace ns (ns < 0: all). Returns how many were LIVE. With heads
 * (may be NULL), the LIVE stream heads on a value log among them are returned too, a
 * malloc'd array of *nheads entries (a log cannot find them by key to delete their chunks;
 * out of memory: fewer). */
uint64_t tix_drop_ns(int ns, struct tix_entry **heads, size_t *nheads);
/* Entries in state LIVE (on tier, or on both when tier < 0), and their bytes. */
uint64_t tix_live(int tier);
uint64_t tix_live_bytes(int tier);

#endif
