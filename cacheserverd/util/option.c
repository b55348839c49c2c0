/* Typed options: text parsers for each option type, option_set/format/free, and the registry
 * that joins every module's table for the config file, the command line, --help and
 * CONFIG GET/SET. See option.h for the contracts and thread-safety rules. */
#include "option.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPTION_MAX_TABLES 32

static struct {
    const char *module;
    struct option_desc *d;
    size_t n;
} tables[OPTION_MAX_TABLES];
static size_t ntables;

/* Strings of OPT_RUNTIME options replaced while other threads may still read them. */
struct _retired {
    struct _retired *next;
    char *s;
};
static struct _retired *retired;
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;

static void _errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void _errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void option_display_name(const char *name, char *buf, size_t len)
{
    if (!len)
        return;
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++)
        buf[i] = name[i] == '_' ? '-' : name[i];
    buf[i] = '\0';
}

/* ---- parsers ---- */

/* Decimal digits only; *end gets the first byte after them. -1 if none or on overflow
 * (*overflow set). */
static int _parse_digits(const char *s, uint64_t *out, const char **end, bool *overflow)
{
    uint64_t v = 0;
    const char *p = s;
    *overflow = false;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *overflow = true;
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    *end = p;
    return 0;
}

static int _uint(const char *text, uint64_t *out, char *why, size_t whylen)
{
    const char *end;
    bool overflow;
    uint64_t v;
    if (_parse_digits(text, &v, &end, &overflow) != 0 || *end != '\0') {
        snprintf(why, whylen, overflow ? "number too large (the maximum is %llu)"
                                       : "expected an unsigned decimal number",
                 (unsigned long long)UINT64_MAX);
        return -1;
    }
    *out = v;
    return 0;
}

/* Units, all powers of 1024; each letter also takes "B" and "iB" ("k", "KB", "KiB"). */
static const char _units[] = "KMGTPE";

/* The power of two a unit suffix stands for ("" and "B": 0). -1 if it is not a unit. */
static int _unit_shift(const char *u, unsigned *shift)
{
    *shift = 0;
    if (!*u || !strcasecmp(u, "b"))
        return 0;
    const char *p = strchr(_units, toupper((unsigned char)*u));
    const char *rest = u + 1;
    if (!p || (*rest && strcasecmp(rest, "b") && strcasecmp(rest, "ib")))
        return -1;
    *shift = 10u * (unsigned)(p - _units + 1);
    return 0;
}

static int _size(const char *text, uint64_t *out, char *why, size_t whylen)
{
    const char *end;
    bool overflow;
    uint64_t v;
    unsigned shift;
    if (_parse_digits(text, &v, &end, &overflow) != 0) {
        snprintf(why, whylen, overflow ? "size too large"
                                       : "expected a size such as 512, 64KiB, 256MiB or 1GiB");
        return -1;
    }
    if (_unit_shift(end, &shift) != 0) {
        snprintf(why, whylen, "unknown unit '%s' (use B, KiB, MiB, GiB, TiB, PiB or EiB)", end);
        return -1;
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        snprintf(why, whylen, "size too large (the maximum is 16EiB - 1)");
        return -1;
    }
    *out = v << shift;
    return 0;
}

static int _bool(const char *text, bool *out, char *why, size_t whylen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcasecmp(text, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(text, no[i])) {
            *out = false;
            return 0;
        }
    }
    snprintf(why, whylen, "expected true/false, yes/no, on/off or 1/0");
    return -1;
}

int option_parse_uint(const char *text, uint64_t *out)
{
    char why[8];
    return _uint(text, out, why, sizeof(why));
}

int option_parse_size(const char *text, uint64_t *out)
{
    char why[8];
    return _size(text, out, why, sizeof(why));
}

int option_parse_bool(const char *text, bool *out)
{
    char why[8];
    return _bool(text, out, why, sizeof(why));
}

/* ---- one option ---- */

int option_set(struct option_desc *d, const char *text, char *err, size_t errlen)
{
    char why[256] = "";
    char name[128];
    struct option_value cand = {.set = true};
    int rc = 0;

    option_display_name(d->name, name, sizeof(name));
    switch (d->type) {
    case OPT_BOOL:
        rc = _bool(text, &cand.b, why, sizeof(why));
        break;
    case OPT_UINT:
        rc = _uint(text, &cand.u, why, sizeof(why));
        break;
    case OPT_SIZE:
        rc = _size(text, &cand.u, why, sizeof(why));
        break;
    case OPT_STR:
        cand.s = (char *)text;
        break;
    case OPT_LIST:
        cand.s = (char *)text;
        if (strchr(text, '\n')) {
            snprintf(why, sizeof(why), "an entry cannot contain a newline");
            rc = -1;
        }
        break;
    }
    if (rc == 0 && d->has_range && (d->type == OPT_UINT || d->type == OPT_SIZE) &&
        !(d->zero_ok && cand.u == 0) && (cand.u < d->min || cand.u > d->max)) {
        char range[96];
        option_format_range(d, range, sizeof(range));
        snprintf(why, sizeof(why), "out of range: must be %s", range);
        rc = -1;
    }
    if (rc == 0 && d->check && !(d->type == OPT_LIST && !*text))
        rc = d->check(d, &cand, why, sizeof(why));
    if (rc != 0) {
        _errf(err, errlen, "invalid value '%s' for option '%s': %s", text, name, why);
        return -1;
    }

    struct option_value *v = d->value;
    switch (d->type) {
    case OPT_BOOL:
        __atomic_store_n(&v->b, cand.b, __ATOMIC_RELAXED);
        break;
    case OPT_UINT:
    case OPT_SIZE:
        __atomic_store_n(&v->u, cand.u, __ATOMIC_RELAXED);
        break;
    case OPT_STR:
    case OPT_LIST: {
        char *copy = NULL;
        const char *cur = v->s;
        if (d->type == OPT_LIST && *text && cur && *cur) {
            if (asprintf(&copy, "%s\n%s", cur, text) < 0)
                copy = NULL;
        } else {
            copy = strdup(text);
        }
        if (!copy) {
            _errf(err, errlen, "invalid value '%s' for option '%s': out of memory", text, name);
            return -1;
        }
        bool keep_old = d->when == OPT_RUNTIME && v->set;
        struct _retired *r = NULL;
        if (keep_old) {
            /* Strings of a runtime option are kept once per distinct value, not once per
             * CONFIG SET (a client setting it in a loop would grow the heap for ever): the
             * same value is no change, and a value the option had before takes its kept
             * string back, which then keeps the one it replaces. */
            if (cur && !strcmp(cur, copy)) {
                free(copy);
                break;
            }
            for (r = retired; r && strcmp(r->s, copy); r = r->next)
                ;
            if (r) {
                free(copy);
                r->s = __atomic_exchange_n(&v->s, r->s, __ATOMIC_ACQ_REL);
                break;
            }
            if (!(r = malloc(sizeof(*r)))) {
                free(copy);
                _errf(err, errlen, "invalid value '%s' for option '%s': out of memory", text,
                      name);
                return -1;
            }
        }
        char *old = __atomic_exchange_n(&v->s, copy, __ATOMIC_ACQ_REL);
        if (r) {
            /* Another thread may be reading the old string: keep it until teardown. */
            r->s = old;
            r->next = retired;
            retired = r;
        } else {
            free(old);
        }
        break;
    }
    }
    v->set = true;
    return 0;
}

int option_set_defaults(struct option_desc *d, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (option_set(&d[i], d[i].def, err, errlen) != 0)
            return -1;
    return 0;
}

void option_format(const struct option_desc *d, char *buf, size_t len)
{
    if (!len)
        return;
    switch (d->type) {
    case OPT_BOOL:
        snprintf(buf, len, "%s", option_get_b(d->value) ? "true" : "false");
        break;
    case OPT_UINT:
    case OPT_SIZE:
        snprintf(buf, len, "%llu", (unsigned long long)option_get_u(d->value));
        break;
    case OPT_STR: {
        const char *s = option_get_s(d->value);
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    case OPT_LIST: {
        const char *pos = option_get_s(d->value);
        char entry[1024];
        size_t used = 0;
        buf[0] = '\0';
        while (pos && option_list_next(&pos, entry, sizeof(entry)) && used + 1 < len) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", entry);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        break;
    }
    }
}

bool option_list_next(const char **pos, char *buf, size_t len)
{
    const char *p = *pos;
    if (!p || !*p)
        return false;
    size_t n = strcspn(p, "\n");
    if (len) {
        size_t c = n < len - 1 ? n : len - 1;
        memcpy(buf, p, c);
        buf[c] = '\0';
    }
    *pos = p[n] ? p + n + 1 : p + n;
    return true;
}

void option_free(struct option_desc *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((d[i].type == OPT_STR || d[i].type == OPT_LIST) && d[i].value) {
            free(d[i].value->s);
            d[i].value->s = NULL;
            d[i].value->set = false;
        }
    }
}

/* ---- registry ---- */

/* Name comparison where '-' and '_' are the same character. */
static bool _name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a == '-' ? '_' : *a;
        char y = *b == '-' ? '_' : *b;
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

void option_registry_add(const char *module, struct option_desc *d, size_t n)
{
    char err[512];
    for (size_t t = 0; t < ntables; t++)
        if (tables[t].d == d)
            return;
    if (ntables == OPTION_MAX_TABLES) {
        fprintf(stderr, "option_registry_add: too many option tables (%s)\n", module);
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (option_registry_find(d[i].name)) {
            fprintf(stderr, "option_registry_add: option '%s' of %s is already registered\n",
                    d[i].name, module);
            abort();
        }
        if (!d[i].value->set && option_set(&d[i], d[i].def, err, sizeof(err)) != 0) {
            fprintf(stderr, "option_registry_add: bad default in %s: %s\n", module, err);
            abort();
        }
    }
    tables[ntables].module = module;
    tables[ntables].d = d;
    tables[ntables].n = n;
    ntables++;
}

struct option_desc *option_registry_find(const char *name)
{
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (_name_eq(tables[t].d[i].name, name))
                return &tables[t].d[i];
    return NULL;
}

void option_registry_foreach(void (*fn)(void *arg, const char *module, struct option_desc *d),
                             void *arg)
{
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            fn(arg, tables[t].module, &tables[t].d[i]);
}

const char *option_registry_str(const char *name)
{
    struct option_desc *d = option_registry_find(name);
    const char *v = d && (d->type == OPT_STR || d->type == OPT_LIST) ? option_get_s(d->value)
                                                                      : NULL;
    return v ? v : "";
}

int option_registry_set(const char *name, const char *value, bool runtime, char *err,
                        size_t errlen)
{
    struct option_desc *d = option_registry_find(name);
    if (!d) {
        _errf(err, errlen, "unknown option '%s'", name);
        return -1;
    }
    if (runtime && d->when != OPT_RUNTIME) {
        char dn[128];
        option_display_name(d->name, dn, sizeof(dn));
        _errf(err, errlen,
              "option '%s' can only be set at startup (config file or command line), "
              "not at run time", dn);
        return -1;
    }
    pthread_mutex_lock(&set_lock);
    int rc = option_set(d, value, err, errlen);
    pthread_mutex_unlock(&set_lock);
    return rc;
}

int option_registry_check(const char *name, option_check_fn fn, char *err, size_t errlen)
{
    struct option_desc *d = option_registry_find(name);
    if (!d) {
        _errf(err, errlen, "unknown option '%s'", name);
        return -1;
    }
    d->check = fn;
    char why[256] = "", text[256], dn[128];
    if (!fn || fn(d, d->value, why, sizeof(why)) == 0)
        return 0;
    option_format(d, text, sizeof(text));
    option_display_name(d->name, dn, sizeof(dn));
    _errf(err, errlen, "invalid value '%s' for option '%s': %s", text, dn, why);
    return -1;
}

/* x in its largest exact unit ("64KiB"), with suffix; false when x is 0 or not a multiple of
 * 1KiB. */
static bool _fmt_unit(uint64_t x, const char *suffix, char *buf, size_t len)
{
    static const char *const names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = -1;
    while (x && u < 5 && x % 1024 == 0) {
        x /= 1024;
        u++;
    }
    if (u < 0)
        return false;
    snprintf(buf, len, "%llu%s%s", (unsigned long long)x, names[u], suffix);
    return true;
}

/* A size as text: "64KiB", "4GiB - 1" (one below a unit), else bytes. */
static void _fmt_size(uint64_t v, char *buf, size_t len)
{
    if (_fmt_unit(v, "", buf, len) || (v != UINT64_MAX && _fmt_unit(v + 1, " - 1", buf, len)))
        return;
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

void option_format_range(const struct option_desc *d, char *buf, size_t len)
{
    if (!len)
        return;
    buf[0] = '\0';
    if (!d->has_range)
        return;
    char lo[48], hi[48];
    if (d->type == OPT_SIZE) {
        _fmt_size(d->min, lo, sizeof(lo));
        _fmt_size(d->max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%llu", (unsigned long long)d->min);
        snprintf(hi, sizeof(hi), "%llu", (unsigned long long)d->max);
    }
    snprintf(buf, len, "%s%s..%s", d->zero_ok && d->min > 0 ? "0 or " : "", lo, hi);
}

void option_registry_ranges(const char *module, const struct option_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct option_desc *d = option_registry_find(r[i].name);
        if (!d || (d->type != OPT_UINT && d->type != OPT_SIZE) || r[i].min > r[i].max) {
            fprintf(stderr, "option_registry_ranges: %s: no numeric option '%s'\n", module,
                    r[i].name);
            abort();
        }
        d->has_range = true;
        d->zero_ok = r[i].zero_ok;
        d->min = r[i].min;
        d->max = r[i].max;
        uint64_t v = option_get_u(d->value);
        if (!(d->zero_ok && v == 0) && (v < d->min || v > d->max)) {
            fprintf(stderr, "option_registry_ranges: %s: the default of '%s' is out of its "
                    "range\n", module, r[i].name);
            abort();
        }
    }
}

size_t option_retired_count(void)
{
    size_t n = 0;
    for (const struct _retired *r = retired; r; r = r->next)
        n++;
    return n;
}

void option_registry_teardown(void)
{
    for (size_t t = 0; t < ntables; t++)
        option_free(tables[t].d, tables[t].n);
    ntables = 0;
    while (retired) {
        struct _retired *r = retired;
        retired = r->next;
        free(r->s);
        free(r);
    }
}
