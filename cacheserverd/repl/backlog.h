/* The backlog: this node's own changes, in the order they were made, in a ring of fixed size
 * (repl-backlog-size) that every peer link reads from its own position. A position is a
 * byte offset that only grows (from 0 when the backlog was made; its id names that run), and
 * each change also has a sequence number, so lag is told in records and in bytes.
 *
 * Coalescing: a change of a key marks the key's previous record in the ring superseded, so a
 * peer behind it gets only the last one (a key written ten times is sent once). Appending is
 * O(size of the record) under one mutex, called under the key's shard lock; readers take the
 * same mutex for the copy of each record. When the ring is full, the oldest records go: a
 * peer whose position they held needs a full sync.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef REPL_BACKLOG_H
#define REPL_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

struct evbuffer;
struct backlog;

/* A ring of cap bytes (at least 64 KiB; rounded down to a multiple of 8) and a random id.
 * NULL when out of memory. */
struct backlog *backlog_new(uint64_t cap);
void backlog_free(struct backlog *b);

uint64_t backlog_id(const struct backlog *b);
/* A record larger than this is not kept: the change goes out as a delete (repl.c). */
size_t backlog_max_record(const struct backlog *b);

/* Append one change of key (ns, key) with hash (0 and no key for a flush). Returns false
 * when the change is too large for the ring (nothing appended). */
bool backlog_append(struct backlog *b, const struct repl_change *c, uint64_t hash);

struct backlog_pos {
    uint64_t offset; /* the next byte to read */
    uint64_t seq;    /* the sequence number of the last record read (0: none yet) */
};

/* The head: where the next record will go, and the last sequence number given out. */
struct backlog_pos backlog_head(struct backlog *b);
/* For WAIT: the head's offset, and no record before it is marked superseded from now on (a
 * peer that acknowledges the head then has every one of them, not a later change of the same
 * key that has yet to reach it). */
uint64_t backlog_wait_mark(struct backlog *b);
/* Is offset still inside the ring (a reader there can go on)? */
bool backlog_has(struct backlog *b, uint64_t offset);
/* Copy the records from *pos, as REC frames, into out, until out holds more than
 * `fill` bytes or the head is reached; superseded records are skipped (their bytes still
 * count as read). Advances *pos. Returns 1 when it copied or skipped something, 0 at the
 * head, -1 when *pos is no longer in the ring (a full sync is needed) or out of memory. */
int backlog_read(struct backlog *b, struct backlog_pos *pos, struct evbuffer *out, size_t fill);
/* The wall-clock ms when the first record after offset was appended (0 when none): the
 * age of the oldest change a peer at offset has not acknowledged. */
uint64_t backlog_first_time(struct backlog *b, uint64_t offset);

/* The greatest stamp of a change appended (the clock must not go below it after a restart). */
uint64_t backlog_max_stamp(struct backlog *b);

/* Saving across a clean restart: write the ring's live bytes and positions to f (0 or -1),
 * and read them back into a new backlog of the same capacity. NULL when f does not hold a
 * backlog of cap bytes (the caller then makes a new one: a new id, and peers full-sync). */
int backlog_save(struct backlog *b, FILE *f);
struct backlog *backlog_load(FILE *f, uint64_t cap);

/* Figures for STATS. */
struct backlog_stats {
    uint64_t bytes;      /* bytes in the ring (head - oldest kept) */
    uint64_t records;    /* records appended */
    uint64_t superseded; /* records marked superseded by a later change of the key */
    uint64_t too_large;  /* changes refused because they exceed backlog_max_record */
};
void backlog_stats(struct backlog *b, struct backlog_stats *out);

#endif
