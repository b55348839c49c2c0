/* Typed options declared once per module as X-macro tables, joined in one registry
 * (cacheserverd/settings.c) that serves the config file, the command line, --help,
 * CONFIG GET and CONFIG SET, so they cannot drift apart.
 *
 * A module declares its table like this:
 *   #define STORE_OPTIONS(ACTION)                                              \
 *       ACTION(memory, OPT_SIZE, "256MiB", OPT_RUNTIME, "memory limit for items")
 * fields: name (a C identifier; the config name replaces '_' with '-'), type, default as
 * text, whether CONFIG SET may change it at run time, and a one-line description.
 * It then declares its storage with OPTION_STRUCT and registers it with
 * OPTION_DESCRIBE (see below). Values are validated on every set: a bad value is refused
 * with a message naming the option, never silently clamped. */
#ifndef UTIL_OPTION_H
#define UTIL_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum option_type {
    OPT_BOOL,   /* true/false, yes/no, on/off, 1/0 */
    OPT_UINT,   /* unsigned decimal */
    OPT_SIZE,   /* bytes with optional suffix: 512, 64KiB, 256MiB, 1GiB (also k/m/g, KB/MB/GB as powers of 1024) */
    OPT_STR,    /* any text; "" allowed */
    OPT_LIST,   /* repeatable text: each set adds one entry ("" empties the list); the
                 * entries are kept joined by '\n' in s (option_list_next walks them) */
};

enum option_when {
    OPT_STARTUP = 0, /* only from the config file or the command line */
    OPT_RUNTIME = 1, /* also CONFIG SET while running */
};

struct option_value {
    bool set;            /* true once loaded (default or explicit) */
    union {
        bool b;
        uint64_t u;      /* OPT_UINT and OPT_SIZE */
        char *s;         /* OPT_STR, OPT_LIST: heap string owned by the option */
    };
};

struct option_desc {
    const char *name;     /* C identifier, e.g. "max_key_size" */
    enum option_type type;
    const char *def;      /* default as text */
    enum option_when when;
    const char *desc;
    struct option_value *value;
    /* Optional validation hook (NULL = none), run on every set after the text parsed: it gets
     * the candidate value (for OPT_STR, v->s is the candidate text) and returns 0 to accept or
     * -1 with the reason in err (without the option's name; option_set adds it). Attach with
     * option_registry_check. Must not block: it also runs for CONFIG SET on a worker. */
    int (*check)(const struct option_desc *d, const struct option_value *v, char *err,
                 size_t errlen);
    /* The range of an OPT_UINT or OPT_SIZE option (option_registry_ranges): a value outside
     * min..max is refused with a message naming the range, before `check` runs; with zero_ok,
     * 0 (a documented "off") is accepted too. Every numeric option has one. */
    bool has_range, zero_ok;
    uint64_t min, max;
};

/* Declares `struct <prefix>_options { struct option_value memory; ... }`. */
#define OPTION_FIELD(name, type, def, when, desc) struct option_value name;
#define OPTION_STRUCT(prefix, TABLE) \
    struct prefix##_options {        \
        TABLE(OPTION_FIELD)          \
    }

/* Expands to initialisers of struct option_desc pointing into an options struct `inst`. */
#define OPTION_DESC_ENTRY(name, type, def, when, desc) {#name, type, def, when, desc, NULL},
#define OPTION_DESCRIBE(TABLE) {TABLE(OPTION_DESC_ENTRY)}

/* Binding descriptors to storage: after OPTION_DESCRIBE, set each desc[i].value to the
 * i-th field; option_bind does that for a struct made only of struct option_value. */
static inline void option_bind(struct option_desc *desc, size_t n, void *options_struct)
{
    struct option_value *v = (struct option_value *)options_struct;
    for (size_t i = 0; i < n; i++)
        desc[i].value = &v[i];
}


/* ---- implemented in option.c ---- */

/* Parse `text` for option d and store it (atomically for numbers, so OPT_RUNTIME options may be
 * read by other threads with option_get_u/option_get_b). Returns 0, or -1 with a message
 * naming the option in err. */
int option_set(struct option_desc *d, const char *text, char *err, size_t errlen);
/* Set every option of a table to its default. Returns 0 or -1 (a bad default is a bug). */
int option_set_defaults(struct option_desc *d, size_t n, char *err, size_t errlen);
/* Walk a list's entries: *pos starts at the value's string (option_get_s); each call copies
 * the next entry to buf (NUL-terminated, truncated to len) and returns true, or false at the
 * end. */
bool option_list_next(const char **pos, char *buf, size_t len);
/* Write the current value as text (sizes in bytes; a list's entries joined by ", "). */
void option_format(const struct option_desc *d, char *buf, size_t len);
/* Free string values of a table. */
void option_free(struct option_desc *d, size_t n);

static inline uint64_t option_get_u(const struct option_value *v)
{
    return __atomic_load_n(&v->u, __ATOMIC_RELAXED);
}
static inline bool option_get_b(const struct option_value *v)
{
    return __atomic_load_n(&v->b, __ATOMIC_RELAXED);
}
/* An OPT_STR value. Strings of OPT_RUNTIME options replaced by CONFIG SET are kept until
 * option_registry_teardown, so a pointer read here stays valid for the process. */
static inline const char *option_get_s(const struct option_value *v)
{
    return __atomic_load_n(&v->s, __ATOMIC_ACQUIRE);
}

/* The user-facing name of an option: '_' replaced by '-' ("max-key-size"). */
void option_display_name(const char *name, char *buf, size_t len);

/* ---- the registry: every module's table, joined (option.c) ----
 * Thread safety: add, check and teardown run at startup/shutdown on one thread, before or
 * after any reader. find, foreach and format are read-only and safe from any thread after
 * startup. option_registry_set is serialised by a lock and may run on any thread. */
typedef int (*option_check_fn)(const struct option_desc *d, const struct option_value *v,
                               char *err, size_t errlen);

/* Add a table under a module name ("core", "store"...). Options not yet set get their
 * defaults (a bad default aborts: it is a bug). Names must be unique across tables. */
void option_registry_add(const char *module, struct option_desc *d, size_t n);
/* The option named `name` ('_' and '-' are equivalent), or NULL. */
struct option_desc *option_registry_find(const char *name);
/* Call fn for every option, tables in registration order. */
void option_registry_foreach(void (*fn)(void *arg, const char *module, struct option_desc *d),
                             void *arg);
/* The text of the OPT_STR or OPT_LIST option `name` (a list: its items as stored), or ""
 * when there is no such option. */
const char *option_registry_str(const char *name);
/* Set an option from text. runtime=true is CONFIG SET: options declared OPT_STARTUP are
 * refused. Returns 0, or -1 with a message in err: "unknown option 'x'", "option 'x' can
 * only be set at startup ...", or option_set's "invalid value ..." message. */
int option_registry_set(const char *name, const char *value, bool runtime, char *err,
                        size_t errlen);
/* Attach a validation hook to a registered option and check its current value with it.
 * Returns 0, or -1 (err set) if there is no such option or the current value fails. */
int option_registry_check(const char *name, option_check_fn fn, char *err, size_t errlen);
/* The ranges of a module's numeric options. */
struct option_range {
    const char *name;
    uint64_t min, max;
    bool zero_ok; /* 0 is accepted too (it means "off" or "none") */
};
/* Give registered options their ranges and check their current values; an unknown name or
 * a default outside its range is a bug: it aborts, naming the module. */
void option_registry_ranges(const char *module, const struct option_range *r, size_t n);
/* The range as text ("1MiB..1PiB", "0 or 1MiB..1TiB", "100..3600000"; sizes in units when
 * exact, "4GiB - 1" for one below a unit); "" when the option has none. */
void option_format_range(const struct option_desc *d, char *buf, size_t len);
/* How many replaced strings of OPT_RUNTIME options are kept: one per distinct value such an
 * option had besides its current one, however often CONFIG SET ran (for tests). */
size_t option_retired_count(void);
/* Free every registered table's strings and the retired strings; empty the registry. */
void option_registry_teardown(void);

/* Parsers behind option_set, exposed for values that are lists or sizes inside other
 * options. Return 0 or -1 (out untouched). */
int option_parse_uint(const char *text, uint64_t *out);
int option_parse_size(const char *text, uint64_t *out);
int option_parse_bool(const char *text, bool *out);
#endif
