/* Streams with bytes the writer could not write (tiering-internal.h, "gaps.c"). Writer
 * thread only, so no lock.
 *
 * A stream's disk state is its head (id, length) plus records of its bytes: whole chunks
 * (0xfe, by index) and, with persistence, the bytes appended to its last chunk (0xfd, by
 * offset). A head may be written only when every byte it names is in such a record. When
 * one of them fails (a full tier, a failed write, a chunk broken in memory), the heads of
 * the stream queued behind it would name the missing bytes, and not only the next one:
 * appends queued before the failure was known each carry a head. So the stream is marked
 * here until what is missing is written again:
 *  - a missing whole chunk: the store offers it again (store_stream_spilled), ahead of the
 *    head of the change that follows; the mark of that index goes when it is written;
 *  - missing appended bytes: they are in the last chunk of that time, which is written again
 *    whole, either as a chunk once full, or, after tiering_stream_resync, as the append
 *    record of the whole last chunk (starting at its first byte). An append record that
 *    starts at a chunk's first byte holds everything of the stream after the whole chunks
 *    before it, so it ends the mark of missing appended bytes.
 * A head of a marked stream is not written (the writer treats it as a change it could not
 * persist). The mark ends with the stream's records (TJOB_CHUNK_DEL). */
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tiering-internal.h"

#define GAP_CHUNKS 8 /* missing whole chunks kept per stream; more: the mark stays */

struct gap {
    uint64_t sid;
    bool tail;       /* appended bytes are missing */
    bool overflow;   /* more than GAP_CHUNKS chunks went missing: marked until deleted */
    uint8_t nchunks;
    uint32_t chunks[GAP_CHUNKS];
};

static struct gap *gaps;
static size_t ngaps, capgaps;

static struct gap *_find(uint64_t sid)
{
    for (size_t i = 0; i < ngaps; i++)
        if (gaps[i].sid == sid)
            return &gaps[i];
    return NULL;
}

static void _drop(struct gap *g)
{
    *g = gaps[--ngaps];
}

/* The stream's mark, made when missing; NULL without memory. */
static struct gap *_get(uint64_t sid)
{
    struct gap *g = _find(sid);
    if (g)
        return g;
    if (ngaps == capgaps) {
        size_t cap = capgaps ? capgaps * 2 : 16;
        struct gap *n = realloc(gaps, cap * sizeof(*n));
        if (!n)
            return NULL;
        gaps = n;
        capgaps = cap;
    }
    g = &gaps[ngaps++];
    *g = (struct gap){.sid = sid};
    return g;
}

static bool _oom; /* a mark could not be made: from then on every stream's heads are
                   * withheld (their changes counted in persist_dropped) */

void tiering_gap_missing(uint64_t sid, bool tail, uint32_t idx)
{
    struct gap *g = _get(sid);
    if (!g) {
        _oom = true;
        return;
    }
    if (tail) {
        g->tail = true;
        return;
    }
    for (unsigned i = 0; i < g->nchunks; i++)
        if (g->chunks[i] == idx)
            return;
    if (g->nchunks == GAP_CHUNKS)
        g->overflow = true;
    else
        g->chunks[g->nchunks++] = idx;
}

void tiering_gap_written(uint64_t sid, bool tail, uint64_t at)
{
    struct gap *g = ngaps ? _find(sid) : NULL;
    if (!g)
        return;
    if (tail) {
        if (at % STORE_STREAM_CHUNK == 0)
            g->tail = false;
    } else {
        for (unsigned i = 0; i < g->nchunks; i++)
            if (g->chunks[i] == (uint32_t)at) {
                g->chunks[i] = g->chunks[--g->nchunks];
                break;
            }
    }
    if (!g->tail && !g->nchunks && !g->overflow)
        _drop(g);
}

void tiering_gap_gone(uint64_t sid)
{
    struct gap *g = ngaps ? _find(sid) : NULL;
    if (g)
        _drop(g);
}

bool tiering_gap_blocks(uint64_t sid)
{
    return _oom || (ngaps && _find(sid));
}

size_t tiering_gap_count(void) { return ngaps; }

void tiering_gap_teardown(void)
{
    free(gaps);
    gaps = NULL;
    ngaps = capgaps = 0;
    _oom = false;
}
