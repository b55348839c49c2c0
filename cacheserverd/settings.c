/* settings: joins every module's option table in the registry and loads it: built-in
 * defaults (each table's), then the config file (`name = value` lines), then the command line
 * (`--name value` / `--name=value`). Also --help (generated from the registry), --version,
 * and the checks that span several options. */
#include "settings.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core.h"
#include "option.h"
#include "health.h"
#include "repl.h"
#include "store.h"
#include "tiering.h"
#include "version.h"

#define PROG "cacheserverd"
#define FRAME_SLACK 1024 /* bytes of a frame beyond its key and value (op, id, headers) */

/* Every module's table, in the order --help lists them. */
static void _register_all(void)
{
    core_options_register();
    store_options_register();
    cmd_options_register();
    tiering_options_register();
    repl_options_register();
    health_options_register();
    /* A new module with options adds its <module>_options_register() call here. */
}

static void _usage_error(const char *where, const char *msg)
{
    fprintf(stderr, PROG ": %s: %s\n", where, msg);
}

/* ---- --help ---- */

static const char *_type_name(enum option_type t)
{
    switch (t) {
    case OPT_BOOL:
        return "BOOL";
    case OPT_UINT:
        return "NUM";
    case OPT_SIZE:
        return "SIZE";
    case OPT_STR:
        return "STR";
    case OPT_LIST:
        return "STR...";
    }
    return "?";
}

static void _help_one(void *arg, const char *module, struct option_desc *d)
{
    const char **last_module = arg;
    char name[128], left[192];
    if (!*last_module || strcmp(*last_module, module) != 0) {
        printf("\n%s options:\n", module);
        *last_module = module;
    }
    char range[96], range_note[112] = "";
    option_display_name(d->name, name, sizeof(name));
    snprintf(left, sizeof(left), "--%s %s", name, _type_name(d->type));
    option_format_range(d, range, sizeof(range));
    if (*range)
        snprintf(range_note, sizeof(range_note), "  range: %s", range);
    printf("  %-32s default: %s%s%s\n      %s\n", left, *d->def ? d->def : "\"\"", range_note,
           d->when == OPT_RUNTIME ? "  [runtime]" : "", d->desc);
}

static void _help(void)
{
    const char *last_module = NULL;
    printf("Usage: " PROG " [--config FILE] [--NAME VALUE | --NAME=VALUE ...] [--help] "
           "[--version]\n       " PROG " --gen-identity DIR\n\n"
           "Every option can be given on the command line or as a `name = value` line in the\n"
           "config file. Precedence: built-in defaults < config file < command line.\n"
           "[runtime] marks options CONFIG SET can change while the server runs.\n"
           "SIZE takes a byte count with an optional unit: K/KB/KiB, M/MB/MiB, G/GB/GiB, T...\n"
           "(all powers of 1024). BOOL takes true/false, yes/no, on/off or 1/0.\n\n"
           "  --config FILE                    read options from FILE first\n"
           "  --help                           show this help and exit\n"
           "  --version                        print the version and exit\n"
           "  --gen-identity DIR               make this node's key and certificate for peer\n"
           "                                   links in DIR; prints the fingerprint last\n");
    option_registry_foreach(_help_one, &last_module);
}

/* ---- config file ---- */

static char *_trim(char *s)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* The value after '=' (leading blanks skipped), unquoted in place. Double quotes take \" and
 * \\ escapes, single quotes none. Unquoted, a '#' after a blank starts a comment. NULL with
 * *why on a syntax error. */
static char *_config_value(char *v, const char **why)
{
    if (*v == '"' || *v == '\'') {
        char q = *v++;
        char *dst = v, *src = v;
        while (*src != q) {
            if (!*src || *src == '\n' || *src == '\r') {
                *why = "unterminated quoted value";
                return NULL;
            }
            if (q == '"' && *src == '\\' && (src[1] == '"' || src[1] == '\\'))
                src++;
            *dst++ = *src++;
        }
        char *rest = _trim(src + 1);
        *dst = '\0';
        if (*rest && *rest != '#') {
            *why = "unexpected text after the quoted value";
            return NULL;
        }
        return v;
    }
    for (char *p = v; *p; p++) {
        if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    return _trim(v);
}

static int _load_file(const char *path)
{
    char where[4200], err[1024];
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, sizeof(err), "cannot read config file: %s", strerror(errno));
        _usage_error(path, err);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (unsigned lineno = 1; getline(&line, &cap, f) >= 0; lineno++) {
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        char *s = _trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        const char *why = NULL;
        if (!eq) {
            _usage_error(where, "expected 'name = value'");
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = _trim(s);
        char *value = _config_value(eq + 1 + strspn(eq + 1, " \t"), &why);
        if (!*name || strpbrk(name, " \t")) {
            _usage_error(where, "expected 'name = value'");
            rc = -1;
            break;
        }
        if (!value) {
            snprintf(err, sizeof(err), "option '%s': %s", name, why);
            _usage_error(where, err);
            rc = -1;
            break;
        }
        if (option_registry_set(name, value, false, err, sizeof(err)) != 0) {
            _usage_error(where, err);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- command line ---- */

/* argv[i] is "--config" or "--config=FILE": *path gets FILE. Returns the index consumed. */
static int _config_arg(int argc, char **argv, int i, const char **path)
{
    const char *a = argv[i] + 2;
    if (!strncmp(a, "config=", 7)) {
        *path = a + 7;
        return i;
    }
    if (i + 1 >= argc) {
        _usage_error("command line", "option '--config' needs a value");
        return -1;
    }
    *path = argv[i + 1];
    return i + 1;
}

static bool _is_flag(const char *a, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(a, "--", 2) && !strncmp(a + 2, name, n) &&
           (a[2 + n] == '\0' || a[2 + n] == '=');
}

static int _apply_args(int argc, char **argv)
{
    char err[1024], name[256];
    /* A list given on the command line replaces the config file's: cleared at its first
     * occurrence here. */
    const struct option_desc *cleared[16];
    size_t ncleared = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (_is_flag(a, "config")) {
            if (!strchr(a, '='))
                i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            snprintf(err, sizeof(err), "unexpected argument '%s' (options are --name value)", a);
            _usage_error("command line", err);
            return -1;
        }
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (nlen >= sizeof(name))
            nlen = sizeof(name) - 1;
        memcpy(name, a + 2, nlen);
        name[nlen] = '\0';
        struct option_desc *d = option_registry_find(name);
        if (!d) {
            snprintf(err, sizeof(err), "unknown option '%s'", name);
            _usage_error("command line", err);
            return -1;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && (d->type != OPT_BOOL || strncmp(argv[i + 1], "--", 2) != 0)) {
            value = argv[++i];
        } else if (d->type == OPT_BOOL) {
            value = "true"; /* a bare boolean flag */
        } else {
            snprintf(err, sizeof(err), "option '--%s' needs a value", name);
            _usage_error("command line", err);
            return -1;
        }
        if (d->type == OPT_LIST) {
            bool seen = false;
            for (size_t j = 0; j < ncleared; j++)
                seen |= cleared[j] == d;
            if (!seen && ncleared < sizeof(cleared) / sizeof(cleared[0])) {
                cleared[ncleared++] = d;
                option_registry_set(name, "", false, NULL, 0);
            }
        }
        if (option_registry_set(name, value, false, err, sizeof(err)) != 0) {
            _usage_error("command line", err);
            return -1;
        }
    }
    return 0;
}

/* ---- checks spanning options ---- */

static uint64_t _u(const char *name, bool *found)
{
    struct option_desc *d = option_registry_find(name);
    if (!d) {
        *found = false;
        return 0;
    }
    return option_get_u(d->value);
}

/* A request carrying a value of max_value_size and a key of max_key_size must fit in a frame. */
static int _check_frame_fits(uint64_t frame, uint64_t value, uint64_t key, char *err,
                             size_t errlen)
{
    uint64_t need = value + key + FRAME_SLACK;
    if (need >= value && frame >= need)
        return 0;
    snprintf(err, errlen,
             "max-frame-size (%llu) must be at least max-value-size (%llu) + max-key-size "
             "(%llu) + %d", (unsigned long long)frame, (unsigned long long)value,
             (unsigned long long)key, FRAME_SLACK);
    return -1;
}

static int _check_startup(void)
{
    bool found = true;
    char err[512], msg[700], fs[32];
    uint64_t frame = _u("max_frame_size", &found);
    uint64_t value = _u("max_value_size", &found);
    uint64_t key = _u("max_key_size", &found);
    if (!found || _check_frame_fits(frame, value, key, err, sizeof(err)) == 0)
        return 0;
    snprintf(fs, sizeof(fs), "%llu", (unsigned long long)frame);
    snprintf(msg, sizeof(msg), "invalid value '%s' for option 'max-frame-size': %s", fs, err);
    _usage_error("configuration", msg);
    return -1;
}

/* Run-time hook on max_value_size and max_key_size (CONFIG SET): keep the invariant. */
static int _check_runtime_fits(const struct option_desc *d, const struct option_value *v,
                               char *err, size_t errlen)
{
    bool found = true;
    bool is_value = !strcmp(d->name, "max_value_size");
    uint64_t frame = _u("max_frame_size", &found);
    uint64_t other = _u(is_value ? "max_key_size" : "max_value_size", &found);
    if (!found)
        return 0;
    return _check_frame_fits(frame, is_value ? v->u : other, is_value ? other : v->u, err,
                             errlen);
}

static void _attach_runtime_checks(void)
{
    static const char *const names[] = {"max_value_size", "max_key_size"};
    for (size_t i = 0; i < 2; i++) {
        struct option_desc *d = option_registry_find(names[i]);
        /* Leave a module's own hook alone (it then owns this invariant too). */
        if (d && !d->check)
            option_registry_check(names[i], _check_runtime_fits, NULL, 0);
    }
}

bool settings_load(int argc, char **argv, int *exit_code)
{
    const char *config = NULL;
    *exit_code = SETTINGS_EXIT_USAGE;
    _register_all();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            _help();
            *exit_code = 0;
            return false;
        }
        if (!strcmp(argv[i], "--version")) {
            printf(PROG " " CACHESERVERD_VERSION "\n");
            *exit_code = 0;
            return false;
        }
        if (_is_flag(argv[i], "config") && (i = _config_arg(argc, argv, i, &config)) < 0)
            return false;
    }
    if (config && _load_file(config) != 0)
        return false;
    if (_apply_args(argc, argv) != 0 || _check_startup() != 0)
        return false;
    _attach_runtime_checks();
    *exit_code = 0;
    return true;
}

void settings_teardown(void) { option_registry_teardown(); }
