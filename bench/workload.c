/* Keys, self-checking values, the key distribution and the operation mix. */
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

void bench_error(struct bench_stats *st, const char *fmt, ...)
{
    st->errors++;
    if (st->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->first_error, sizeof(st->first_error), fmt, ap);
    va_end(ap);
}

static const char *const kind_names[OP__COUNT] = {"get", "set", "del", "incr", "mget"};

int workload_parse_mix(struct workload *w, const char *spec, char *err, size_t errlen)
{
    memset(w->mix, 0, sizeof(w->mix));
    w->mix_total = 0;
    char *copy = strdup(spec), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int k = -1;
        if (eq) {
            *eq = '\0';
            for (int i = 0; i < OP_MGET; i++)
                if (strcmp(tok, kind_names[i]) == 0)
                    k = i;
        }
        char *end = NULL;
        long v = eq ? strtol(eq + 1, &end, 10) : -1;
        if (k < 0 || !end || *end || v < 0 || v > 1000000) {
            snprintf(err, errlen, "bad --mix entry '%s' (want get=N,set=N,del=N,incr=N)", tok);
            free(copy);
            return -1;
        }
        w->mix[k] = (unsigned)v;
        w->mix_total += (unsigned)v;
    }
    free(copy);
    if (w->mix_total == 0) {
        snprintf(err, errlen, "--mix has no operation with a weight above 0");
        return -1;
    }
    return 0;
}

/* Key names are made once, in workload_prepare: the load never formats a key. Ids below
 * 10^8 print as 8 digits, so every key of a kind has the same length. */
static char *keytab[2]; /* [0] "key:" names, [1] "ctr:" names (only when the mix has incr) */
static size_t key_len, key_stride;

static void format_key(const struct workload *w, uint32_t id, int ctr, char *buf)
{
    snprintf(buf, key_stride, "%s%s:%08u", w->prefix, ctr ? "ctr" : "key", id);
}

static int make_keys(struct workload *w)
{
    key_len = strlen(w->prefix) + 4 + 8;
    key_stride = (key_len + 1 + 7) & ~(size_t)7;
    for (int k = 0; k < 2; k++) {
        if (k == 1 && w->mix[OP_INCR] == 0)
            break;
        keytab[k] = malloc(key_stride * w->keys);
        if (!keytab[k])
            return -1;
        for (uint32_t id = 0; id < w->keys; id++)
            format_key(w, id, k, keytab[k] + key_stride * id);
    }
    return 0;
}

/* Byte i (>= 16) of the value of key id is 'a' + (id * 31 + i) % 26: a window into a long
 * "abc...zabc..." run, so making a value is one memcpy and checking it one memcmp. */
static uint8_t *alpha;
static size_t alpha_len;

/* --values random: value id's bytes from 16 on are a window at a pseudo-random offset (below
 * RANDOM_SPAN) into a table of random bytes, so a value does not compress on its own. */
#define RANDOM_SPAN (1u << 20)
static bool random_values;

int workload_prepare(struct workload *w)
{
    size_t need = (size_t)w->vmax + (w->random_values ? RANDOM_SPAN : 26);
    if (!alpha || alpha_len < need || random_values != w->random_values) {
        free(alpha);
        alpha_len = need;
        alpha = malloc(alpha_len);
        if (!alpha)
            return -1;
        random_values = w->random_values;
        uint64_t x = 0x243f6a8885a308d3ull; /* xorshift64: the same bytes in every run */
        for (size_t i = 0; i < alpha_len; i++) {
            if (random_values) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                alpha[i] = (uint8_t)(x >> 56);
            } else {
                alpha[i] = (uint8_t)('a' + i % 26);
            }
        }
    }
    if (make_keys(w))
        return -1;
    if (w->zipf_s <= 0)
        return 0;
    w->zipf_cdf = malloc(sizeof(double) * w->keys);
    if (!w->zipf_cdf)
        return -1;
    double sum = 0;
    for (uint32_t i = 0; i < w->keys; i++) {
        sum += 1.0 / pow((double)(i + 1), w->zipf_s);
        w->zipf_cdf[i] = sum;
    }
    for (uint32_t i = 0; i < w->keys; i++)
        w->zipf_cdf[i] /= sum;
    return 0;
}

void workload_free(struct workload *w)
{
    free(w->zipf_cdf);
    w->zipf_cdf = NULL;
    free(alpha);
    alpha = NULL;
    alpha_len = 0;
    for (int k = 0; k < 2; k++) {
        free(keytab[k]);
        keytab[k] = NULL;
    }
}

const char *workload_key(const struct workload *w, uint32_t id, enum bench_op_kind kind, size_t *len)
{
    (void)w;
    *len = key_len;
    return keytab[kind == OP_INCR] + key_stride * id;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

uint32_t workload_value_len(const struct workload *w, uint32_t id)
{
    if (w->vmax <= w->vmin)
        return w->vmin;
    return w->vmin + (uint32_t)(mix64(id) % (uint64_t)(w->vmax - w->vmin + 1));
}

/* The bytes of value id from byte 16 on (workload_prepare made the table long enough). */
static const uint8_t *letters(uint32_t id)
{
    if (random_values)
        return alpha + (id * 2654435761u) % RANDOM_SPAN;
    return alpha + (id * 31u + 16u) % 26u;
}

/* 8 lowercase hex digits of v. */
static void hex8(uint32_t v, uint8_t *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)digits[v & 15];
        v >>= 4;
    }
}

/* Header: key id and length as 16 hex digits ("%08x%08x"), then the letters (printable, so
 * cache-cli shows what it is) or the random bytes. */
void workload_value(const struct workload *w, uint32_t id, uint8_t *buf, uint32_t len)
{
    (void)w;
    hex8(id, buf);
    hex8(len, buf + 8);
    memcpy(buf + 16, letters(id), len - 16);
}

int workload_check(const struct workload *w, uint32_t id, const void *data, size_t len)
{
    if (len != workload_value_len(w, id) || len < 16)
        return 0;
    const uint8_t *p = data;
    uint8_t hdr[16];
    hex8(id, hdr);
    hex8((uint32_t)len, hdr + 8);
    return memcmp(p, hdr, 16) == 0 && memcmp(p + 16, letters(id), len - 16) == 0;
}

void workload_count_value(const struct workload *w, uint32_t id, const void *data, size_t len,
                          struct bench_stats *st)
{
    if (workload_check(w, id, data, len)) {
        st->hits++;
        return;
    }
    st->mismatches++;
    if (!st->first_error[0])
        snprintf(st->first_error, sizeof(st->first_error),
                 "value of key %u does not match what was written (%zu bytes)", id, len);
}

int opgen_init(struct opgen *g, uint64_t seed, const struct workload *w, int pipeline)
{
    g->rng = seed * 0x9e3779b97f4a7c15ull + 1;
    g->keybuf = malloc(sizeof(uint32_t) * (size_t)pipeline * (w->mget > 1 ? w->mget : 1));
    return g->keybuf ? 0 : -1;
}

void opgen_free(struct opgen *g)
{
    free(g->keybuf);
    g->keybuf = NULL;
}

static uint64_t rnd(struct opgen *g)
{
    /* xorshift64* */
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 2685821657736338717ull;
}

uint32_t opgen_key(struct opgen *g, const struct workload *w)
{
    if (!w->zipf_cdf)
        return (uint32_t)(rnd(g) % w->keys);
    double u = (double)(rnd(g) >> 11) / 9007199254740992.0;
    uint32_t lo = 0, hi = w->keys - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* rank r is key id r scrambled, so hot keys are not neighbours */
    return (uint32_t)((uint64_t)lo * 2654435761u % w->keys);
}

void opgen_fill(struct opgen *g, const struct workload *w, struct bench_op *ops, int n)
{
    uint32_t *kb = g->keybuf;
    for (int i = 0; i < n; i++) {
        unsigned r = (unsigned)(rnd(g) % w->mix_total), k = 0;
        while (r >= w->mix[k]) {
            r -= w->mix[k];
            k++;
        }
        ops[i].kind = (enum bench_op_kind)k;
        ops[i].nkeys = 1;
        if (k == OP_GET && w->mget > 1) {
            ops[i].kind = OP_MGET;
            ops[i].nkeys = w->mget;
        }
        ops[i].keys = kb;
        for (uint32_t j = 0; j < ops[i].nkeys; j++)
            *kb++ = opgen_key(g, w);
    }
}
