/* The key-hash set of keyset.h: linear probing in a power-of-two table kept at most half
 * full; the hash 0 is stored as 1 (a false "has" for one key in 2^64 at worst). */
#include "keyset.h"

#include <stdlib.h>

struct keyset {
    uint64_t *slot;
    uint64_t cap, n;
    bool failed;
};

struct keyset *keyset_new(void)
{
    struct keyset *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cap = 1024;
    s->slot = calloc(s->cap, sizeof(*s->slot));
    if (!s->slot) {
        free(s);
        return NULL;
    }
    return s;
}

void keyset_free(struct keyset *s)
{
    if (s) {
        free(s->slot);
        free(s);
    }
}

/* true when h was not there yet */
static bool _put(uint64_t *slot, uint64_t cap, uint64_t h)
{
    for (uint64_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (slot[i] == h)
            return false;
        if (!slot[i]) {
            slot[i] = h;
            return true;
        }
    }
}

bool keyset_add(struct keyset *s, uint64_t hash)
{
    uint64_t h = hash ? hash : 1;
    if ((s->n + 1) * 2 > s->cap) {
        uint64_t cap = s->cap * 2;
        uint64_t *slot = calloc(cap, sizeof(*slot));
        if (!slot) {
            s->failed = true;
            return false;
        }
        for (uint64_t i = 0; i < s->cap; i++)
            if (s->slot[i])
                _put(slot, cap, s->slot[i]);
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    s->n += _put(s->slot, s->cap, h);
    return true;
}

bool keyset_has(const struct keyset *s, uint64_t hash)
{
    uint64_t h = hash ? hash : 1;
    for (uint64_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slot[i] == h)
            return true;
        if (!s->slot[i])
            return false;
    }
}

bool keyset_failed(const struct keyset *s) { return s->failed; }
