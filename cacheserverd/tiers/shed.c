/* Shedding a disk tier that is nearly full (tiering-internal.h): a CLOCK hand walks the
 * tier's records in key order, resuming where it stopped. A record whose key was read from
 * disk since the hand last passed (the index entry's ref bit) gets a second chance; the
 * others are the coldest and leave: to the next tier (SSD -> HDD) or, from the last tier,
 * out of the cache (counted). Records the index does not point at (a copy left behind on the
 * other tier, or one nothing indexes) are deleted on the way. Runs on the writer thread, so
 * it is ordered with every other disk write. */
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "store.h"
#include "tiering-internal.h"

#define SHED_EXAMINE 4096 /* records looked at per step */
#define SHED_MOVES 512    /* records moved or dropped per step */

struct hand {
    uint8_t *key;
    size_t klen;
};
static struct hand hands[TIX_TIERS];

struct victim {
    uint64_t hash, seq;
};

static void _save_hand(struct hand *h, const uint8_t *key, size_t klen)
{
    uint8_t *copy = klen ? malloc(klen) : NULL;
    if (copy)
        memcpy(copy, key, klen);
    free(h->key);
    h->key = copy;
    h->klen = copy ? klen : 0;
}

int shed_step(const struct shed_tier *from, const struct shed_tier *to, uint64_t incoming,
              bool wal, bool sync, struct shed_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    uint64_t live = tix_live_bytes(from->id) + incoming;
    if (live <= from->size / 10 * 9 || restore_indexing())
        return 0;
    uint64_t over = live - from->size / 10 * 8, freed = 0;
    struct hand *h = &hands[from->id];
    struct tbe_scan *it = tbe_scan_new(from->be, h->key, h->klen);
    struct tbe_batch *out = to ? tbe_batch_new(to->be) : NULL;
    struct tbe_batch *gone = tbe_batch_new(from->be);
    struct victim *v = malloc(SHED_MOVES * 4 * sizeof(*v));
    int rc = 0;
    if (!it || (to && !out) || !gone || !v)
        goto done;
    const uint8_t *key, *val;
    size_t klen, vlen;
    bool wrapped = false, at_end = false;
    size_t nv = 0;
    int max_moves = incoming ? SHED_MOVES * 4 : SHED_MOVES; /* room for a batch: try harder */
    for (int examined = 0; examined < SHED_EXAMINE * 4 && nv < (size_t)max_moves && freed < over;) {
        if (!tbe_scan_next(it, &key, &klen, &val, &vlen)) {
            if (wrapped) {
                at_end = true;
                break;
            }
            wrapped = true; /* around to the first record */
            tbe_scan_free(it);
            it = tbe_scan_new(from->be, NULL, 0);
            if (!it)
                goto done;
            continue;
        }
        examined++;
        struct store_key k;
        if (!tiering_key_parse(key, klen, &k))
            continue;
        uint64_t hash = k.hash;
        struct tix_entry e = tix_pass(hash);
        if (e.state == TIX_LIVE && e.tier == from->id) {
            if (e.ref)
                continue; /* read since the last pass: a second chance */
            if (to)
                tbe_put(out, hash, key, klen, val, vlen, NULL);
            else /* a stream's head leaving the cache: its chunks go too */
                tiering_stream_head_gone(NULL, key, klen, val, vlen);
            tbe_delete(gone, hash, key, klen);
            v[nv++] = (struct victim){hash, e.seq};
            freed += e.dlen;
        } else if ((e.state == TIX_LIVE && e.tier != from->id) || e.state == TIX_NONE) {
            tbe_delete(gone, hash, key, klen); /* a copy nothing points at */
            r->stale++;
        } /* QUEUED or TOMB: a job for the key is queued behind this step; it decides */
    }
    if (at_end)
        _save_hand(h, NULL, 0);
    else if (tbe_scan_next(it, &key, &klen, &val, &vlen))
        _save_hand(h, key, klen); /* the next step starts here */
    /* first the copies on the next tier, then the deletes: a crash in between leaves a key
     * on both tiers (the first wins at restart), never on none */
    if (to && nv && tbe_commit(to->be, out, wal, sync, err, errlen) != 0) {
        rc = -1;
        goto done;
    }
    for (size_t i = 0; i < nv; i++) {
        if (to)
            r->moved += tix_relocate(v[i].hash, v[i].seq, to->id, TIX_NOLOC);
        else
            r->dropped += tix_remove(v[i].hash, TIX_LIVE, v[i].seq);
    }
    if (tbe_batch_count(gone) && tbe_commit(from->be, gone, wal, false, err, errlen) != 0)
        rc = -1;
done:
    free(v);
    tbe_batch_free(out);
    tbe_batch_free(gone);
    tbe_scan_free(it);
    return rc;
}

void shed_teardown(void)
{
    for (int i = 0; i < TIX_TIERS; i++)
        _save_hand(&hands[i], NULL, 0);
}
