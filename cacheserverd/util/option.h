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
        char *s;         /* OPT_STR: heap string owned by the option */
    };
};

struct option_desc {
    const char *name;     /* C identifier, e.g. "max_key_size" */
    enum option_type type;
    const char *def;      /* default as text */
    enum option_when when;
    const char *desc;
    struct option_value *value;
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
/* Write the current value as text (sizes in bytes). */
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
#endif
