/* STATS as Prometheus text (see promtext.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include "promtext.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "promstats.h"

enum { STAT_COUNTER, STAT_GAUGE, STAT_UNTYPED };

struct meta {
    const char *name;
    int type;
    const char *help;
};
#define PROM_ENTRY(n, t, d) {#n, t, d},
static const struct meta flat_meta[] = {PROM_FLAT_STATS(PROM_ENTRY)};
static const struct meta peer_meta[] = {PROM_PEER_STATS(PROM_ENTRY)};
static const struct meta ns_meta[] = {
    {"hits", STAT_COUNTER, "reads in this namespace that found a live item"},
    {"misses", STAT_COUNTER, "reads in this namespace that found nothing"},
    {"hit_rate", STAT_GAUGE, "hits / (hits + misses) in this namespace"},
    {"items", STAT_GAUGE, "items in this namespace"},
    {"bytes", STAT_GAUGE, "bytes this namespace's items use"},
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Names whose unit or meaning is not in a suffix the rules below convert. */
static const struct {
    const char *from, *to;
} renames[] = {
    {"bytes_used", "used_bytes"},       {"bytes_read", "read_bytes"},
    {"bytes_written", "written_bytes"}, {"memory_limit", "memory_limit_bytes"},
    {"hit_rate", "hit_ratio"},          {"cert_expiry", "cert_expiry_timestamp_seconds"},
};

struct ent {
    const char *k;
    size_t kl;
    const msgpack_object *v;
};

struct ctx {
    FILE *out;
    struct ent *e;
    size_t n;
};

static int _cmp(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;
    size_t l = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->k, y->k, l);
    return c ? c : (x->kl > y->kl) - (x->kl < y->kl);
}

static const msgpack_object *_find(const struct ctx *c, const char *key)
{
    struct ent probe = {key, strlen(key), NULL};
    const struct ent *e = bsearch(&probe, c->e, c->n, sizeof(*c->e), _cmp);
    return e ? e->v : NULL;
}

static bool _is_num(const msgpack_object *v)
{
    return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER || v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
           v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64 ||
           v->type == MSGPACK_OBJECT_BOOLEAN;
}

static double _num(const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)v->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)v->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return v->via.f64;
    case MSGPACK_OBJECT_BOOLEAN: return v->via.boolean;
    default: return 0;
    }
}

static void _value(FILE *out, const msgpack_object *v, double scale)
{
    if (scale == 1 && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        fprintf(out, "%" PRIu64 "\n", v->via.u64);
    else
        fprintf(out, "%.9g\n", _num(v) * scale);
}

static bool _ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The Prometheus name of a stat (without cacheserverd_) and the factor to base units. */
static void _prom_name(const char *stat, int type, char *out, size_t n, double *scale)
{
    char s[160];
    snprintf(s, sizeof(s), "%s", stat);
    *scale = 1;
    for (size_t i = 0; i < NELEM(renames); i++)
        if (strcmp(s, renames[i].from) == 0)
            snprintf(s, sizeof(s), "%s", renames[i].to);
    size_t l = strlen(s);
    if (_ends(s, "_us") || _ends(s, "_ms")) {
        *scale = s[l - 2] == 'u' ? 1e-6 : 1e-3;
        snprintf(s + l - 3, sizeof(s) - (l - 3), "_seconds");
    } else if (_ends(s, "_s")) {
        snprintf(s + l - 2, sizeof(s) - (l - 2), "_seconds");
    }
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    snprintf(out, n, "%s%s", s, type == STAT_COUNTER && !_ends(s, "_total") ? "_total" : "");
}

static void _header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP cacheserverd_%s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fprintf(out, "\n# TYPE cacheserverd_%s %s\n", name, type);
}

static const char *_type_name(int type)
{
    return type == STAT_COUNTER ? "counter" : type == STAT_GAUGE ? "gauge" : "untyped";
}

static void _label(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%s=\"", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* The distinct middles of the entries "<prefix><middle>.<leaf>", in order. */
static size_t _middles(const struct ctx *c, const char *prefix, char (*names)[128], size_t max)
{
    size_t count = 0, pl = strlen(prefix);
    for (size_t i = 0; i < c->n; i++) {
        const struct ent *e = &c->e[i];
        if (e->kl <= pl || memcmp(e->k, prefix, pl) != 0)
            continue;
        const char *mid = e->k + pl;
        const char *dot = memrchr(mid, '.', e->kl - pl);
        if (!dot || (size_t)(dot - mid) == 0 || (size_t)(dot - mid) >= 128)
            continue;
        size_t len = (size_t)(dot - mid);
        bool seen = false;
        for (size_t k = 0; k < count && !seen; k++)
            seen = strlen(names[k]) == len && memcmp(names[k], mid, len) == 0;
        if (seen || count == max)
            continue;
        memcpy(names[count], mid, len);
        names[count][len] = '\0';
        count++;
    }
    return count;
}

static bool _is_hist_prefix(const char *k, size_t kl)
{
    return (kl > 3 && memcmp(k, "op.", 3) == 0) || (kl > 10 && memcmp(k, "disk_read.", 10) == 0);
}

/* A histogram family: a summary of seconds with quantile labels, and the max as a gauge. */
static void _summary(const struct ctx *c, const char *prefix, const char *label, const char *base,
                     const char *help)
{
    char names[64][128], key[300];
    size_t n = _middles(c, prefix, names, 64);
    if (!n)
        return;
    static const struct {
        const char *leaf, *q;
    } qs[] = {{"p50_us", "0.5"}, {"p99_us", "0.99"}, {"p999_us", "0.999"}};
    char name[96];
    snprintf(name, sizeof(name), "%s_duration_seconds", base);
    _header(c->out, name, "summary", help);
    for (size_t i = 0; i < n; i++) {
        for (size_t q = 0; q < NELEM(qs); q++) {
            snprintf(key, sizeof(key), "%s%s.%s", prefix, names[i], qs[q].leaf);
            const msgpack_object *v = _find(c, key);
            if (!v)
                continue;
            fprintf(c->out, "cacheserverd_%s{", name);
            _label(c->out, label, names[i]);
            fprintf(c->out, ",quantile=\"%s\"} ", qs[q].q);
            _value(c->out, v, 1e-6);
        }
        static const struct {
            const char *leaf, *suffix;
            double scale;
        } tail[] = {{"sum_us", "_sum", 1e-6}, {"count", "_count", 1}};
        for (size_t t = 0; t < NELEM(tail); t++) {
            snprintf(key, sizeof(key), "%s%s.%s", prefix, names[i], tail[t].leaf);
            const msgpack_object *v = _find(c, key);
            if (!v)
                continue;
            fprintf(c->out, "cacheserverd_%s%s{", name, tail[t].suffix);
            _label(c->out, label, names[i]);
            fputs("} ", c->out);
            _value(c->out, v, tail[t].scale);
        }
    }
    snprintf(name, sizeof(name), "%s_max_duration_seconds", base);
    _header(c->out, name, "gauge", "the longest of those since the server started");
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s%s.max_us", prefix, names[i]);
        const msgpack_object *v = _find(c, key);
        if (!v)
            continue;
        fprintf(c->out, "cacheserverd_%s{", name);
        _label(c->out, label, names[i]);
        fputs("} ", c->out);
        _value(c->out, v, 1e-6);
    }
}

/* A labelled family: one metric per known leaf, one sample per label value. */
static void _labelled(const struct ctx *c, const char *prefix, const char *label,
                      const char *base, const struct meta *leaves, size_t nleaves)
{
    char names[64][128], key[300];
    size_t n = _middles(c, prefix, names, 64);
    for (size_t l = 0; l < nleaves; l++) {
        char pn[128], name[160];
        double scale;
        _prom_name(leaves[l].name, leaves[l].type, pn, sizeof(pn), &scale);
        snprintf(name, sizeof(name), "%s_%s", base, pn);
        bool header = false;
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "%s%s.%s", prefix, names[i], leaves[l].name);
            const msgpack_object *v = _find(c, key);
            if (!v)
                continue;
            if (!header)
                _header(c->out, name, _type_name(leaves[l].type), leaves[l].help);
            header = true;
            fprintf(c->out, "cacheserverd_%s{", name);
            _label(c->out, label, names[i]);
            fputs("} ", c->out);
            _value(c->out, v, scale);
        }
    }
}

int prom_write_stats(FILE *out, const msgpack_object *map)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return -1;
    struct ctx c = {out, calloc(map->via.map.size + 1, sizeof(struct ent)), 0};
    if (!c.e)
        return -1;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || !_is_num(&kv->val))
            continue;
        c.e[c.n++] = (struct ent){kv->key.via.str.ptr, kv->key.via.str.size, &kv->val};
    }
    qsort(c.e, c.n, sizeof(*c.e), _cmp);

    /* the plain stats, one family each */
    for (size_t i = 0; i < c.n; i++) {
        const struct ent *e = &c.e[i];
        if (_is_hist_prefix(e->k, e->kl) || (e->kl > 3 && memcmp(e->k, "ns.", 3) == 0) ||
            (e->kl > 5 && memcmp(e->k, "repl.", 5) == 0))
            continue;
        char stat[160];
        snprintf(stat, sizeof(stat), "%.*s", (int)e->kl, e->k);
        const struct meta *m = NULL;
        for (size_t k = 0; k < NELEM(flat_meta) && !m; k++)
            if (strcmp(flat_meta[k].name, stat) == 0)
                m = &flat_meta[k];
        int type = m ? m->type : STAT_UNTYPED;
        char pn[192], help[200];
        double scale;
        _prom_name(stat, type, pn, sizeof(pn), &scale);
        snprintf(help, sizeof(help), "%s", m ? m->help : "STATS entry");
        _header(out, pn, _type_name(type), help);
        fprintf(out, "cacheserverd_%s ", pn);
        _value(out, e->v, scale);
    }
    _summary(&c, "op.", "op", "op",
             "time spent in the handler of each operation (quantiles within 6.25%)");
    _summary(&c, "disk_read.", "tier", "disk_read",
             "disk reads per tier, from queued until read and checksum verified");
    _labelled(&c, "ns.", "namespace", "ns", ns_meta, NELEM(ns_meta));
    _labelled(&c, "repl.", "peer", "repl", peer_meta, NELEM(peer_meta));
    free(c.e);
    return ferror(out) ? -1 : 0;
}
