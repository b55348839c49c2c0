/* libFuzzer target: the config-file reader (cacheserverd/settings.c: `name = value` lines,
 * quoting, comments) and the option parsers and checks behind it (cacheserverd/util/option.c,
 * every module's validation hooks), i.e. what cacheserverd --config FILE reads.
 *
 * The input is the text of a config file, loaded by settings_load exactly as main() calls it
 * (cacheserverd --config FILE, through a memfd, no file on disk), with every module's real
 * table registered plus a small table of our own with one option of each type. When the
 * load succeeds, every option's printed value (CONFIG GET's) must be accepted again by
 * option_set and print the same: a value the server took but cannot take back abort()s.
 * Between inputs every option is put back to its default, so each input starts from the
 * same registry. The reader's error lines go to stderr (scripts/fuzz.sh closes it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "option.h"
#include "settings.h"

#define FZ_OPTIONS(ACTION)                                                        \
    ACTION(fz_size, OPT_SIZE, "64KiB", OPT_STARTUP, "a size")                     \
    ACTION(fz_uint, OPT_UINT, "7", OPT_RUNTIME, "a number")                       \
    ACTION(fz_bool, OPT_BOOL, "no", OPT_RUNTIME, "a flag")                        \
    ACTION(fz_name, OPT_STR, "first", OPT_RUNTIME, "a string")                    \
    ACTION(fz_fixed, OPT_STR, "", OPT_STARTUP, "a startup-only string")

OPTION_STRUCT(fz, FZ_OPTIONS);
static struct fz_options fzopts;
static struct option_desc fzdesc[] = OPTION_DESCRIBE(FZ_OPTIONS);
#define NFZ (sizeof(fzdesc) / sizeof(fzdesc[0]))

/* fz_name refuses "bad": a hook on a string, as core's log_level has. */
static int _check_name(const struct option_desc *d, const struct option_value *v, char *err,
                       size_t errlen)
{
    (void)d;
    if (strcmp(v->s, "bad") != 0)
        return 0;
    snprintf(err, errlen, "must not be 'bad'");
    return -1;
}

struct _ctx {
    char *buf, *again;
    size_t len;
};

/* Loaded: the printed value must be accepted again and print the same. */
static void _reparse(void *arg, const char *module, struct option_desc *d)
{
    struct _ctx *c = arg;
    char err[1024];
    option_format(d, c->buf, c->len);
    if (option_set(d, c->buf, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_option: %s option '%s' = '%s' refused its own value: %s\n",
                module, d->name, c->buf, err);
        abort();
    }
    option_format(d, c->again, c->len);
    if (strcmp(c->buf, c->again) != 0) {
        fprintf(stderr, "fuzz_option: %s option '%s': '%s' set back prints '%s'\n", module,
                d->name, c->buf, c->again);
        abort();
    }
}

/* Back to the defaults: numbers and flags here (the registry keeps them across teardown),
 * strings by the teardown itself. Hooks come back when the modules register again. */
static void _reset(void *arg, const char *module, struct option_desc *d)
{
    (void)arg;
    char err[1024];
    d->check = NULL;
    if (d->type != OPT_STR && option_set(d, d->def, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_option: %s option '%s': bad default: %s\n", module, d->name, err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_option.conf", 0);
        if (fd < 0) {
            perror("fuzz_option: memfd_create");
            abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_option: writing the memfd");
        abort();
    }

    option_bind(fzdesc, NFZ, &fzopts);
    option_registry_add("fuzz", fzdesc, NFZ);
    char err[512];
    if (option_registry_check("fz_name", _check_name, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_option: %s\n", err);
        abort();
    }
    char *argv[] = {"cacheserverd", "--config", path, NULL};
    int code;
    if (settings_load(3, argv, &code)) {
        struct _ctx c = {.len = size + 256};
        c.buf = malloc(c.len);
        c.again = malloc(c.len);
        if (c.buf && c.again)
            option_registry_foreach(_reparse, &c);
        free(c.buf);
        free(c.again);
    }
    option_registry_foreach(_reset, NULL);
    settings_teardown();
    return 0;
}
