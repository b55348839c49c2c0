/* Replicated counter states (counter.h). */
#include "counter.h"

#include <string.h>

static void _put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t _get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

size_t ctr_write(const struct ctr *c, uint8_t *out)
{
    _put(out, c->epoch, 8);
    _put(out + 8, c->eorigin, 2);
    _put(out + 10, (uint64_t)c->base, 8);
    _put(out + 18, c->n, 2);
    for (uint16_t i = 0; i < c->n; i++) {
        uint8_t *e = out + CTR_HEADER + (size_t)i * CTR_ENTRY;
        _put(e, c->e[i].origin, 2);
        _put(e + 2, (uint64_t)c->e[i].sum, 8);
        _put(e + 10, c->e[i].stamp, 8);
    }
    return ctr_size(c->n);
}

size_t ctr_len_at(const uint8_t *p) { return ctr_size((uint16_t)_get(p + 18, 2)); }

bool ctr_read(const uint8_t *p, size_t len, struct ctr *c)
{
    if (len < CTR_HEADER)
        return false;
    uint64_t n = _get(p + 18, 2);
    if (n > CTR_MAX_ENTRIES || len != ctr_size((uint16_t)n))
        return false;
    c->epoch = _get(p, 8);
    c->eorigin = (uint16_t)_get(p + 8, 2);
    c->base = (int64_t)_get(p + 10, 8);
    c->n = (uint16_t)n;
    for (uint16_t i = 0; i < c->n; i++) {
        const uint8_t *e = p + CTR_HEADER + (size_t)i * CTR_ENTRY;
        c->e[i].origin = (uint16_t)_get(e, 2);
        c->e[i].sum = (int64_t)_get(e + 2, 8);
        c->e[i].stamp = _get(e + 10, 8);
        for (uint16_t j = 0; j < i; j++)
            if (c->e[j].origin == c->e[i].origin)
                return false;
    }
    return true;
}

bool ctr_value(const struct ctr *c, int64_t *v)
{
    int64_t t = c->base;
    for (uint16_t i = 0; i < c->n; i++)
        if (__builtin_add_overflow(t, c->e[i].sum, &t))
            return false;
    *v = t;
    return true;
}

uint64_t ctr_version(const struct ctr *c)
{
    uint64_t v = c->epoch;
    for (uint16_t i = 0; i < c->n; i++)
        if (c->e[i].stamp > v)
            v = c->e[i].stamp;
    return v;
}

static int _find(const struct ctr *c, uint16_t origin)
{
    for (uint16_t i = 0; i < c->n; i++)
        if (c->e[i].origin == origin)
            return i;
    return -1;
}

bool ctr_add(struct ctr *c, uint16_t origin, int64_t delta, uint64_t stamp)
{
    int i = _find(c, origin);
    if (i < 0) {
        if (c->n == CTR_MAX_ENTRIES)
            return false;
        i = c->n++;
        c->e[i].origin = origin;
        c->e[i].sum = 0;
    }
    c->e[i].sum = (int64_t)((uint64_t)c->e[i].sum + (uint64_t)delta);
    c->e[i].stamp = stamp;
    return true;
}

bool ctr_merge(struct ctr *into, const struct ctr *from)
{
    struct ctr out = *into;
    bool changed = false;
    for (uint16_t k = 0; k < from->n; k++) {
        int i = _find(&out, from->e[k].origin);
        if (i < 0) {
            if (out.n == CTR_MAX_ENTRIES)
                return false;
            out.e[out.n++] = from->e[k];
            changed = true;
        } else if (from->e[k].stamp > out.e[i].stamp) {
            out.e[i] = from->e[k];
            changed = true;
        }
    }
    if (changed)
        *into = out;
    return changed;
}
