/* Argument parsing, number and ttl parsing, error reporting and stdin reading for commands. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int _parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, size_t nopts,
                  char **pos, int *npos);

/* What cli_usage says besides the usage line: whether cli_parse already said what was wrong,
 * and how many arguments the command got (cli_run). */
static bool parse_said;
static int given;
void cli_note_args(int argc)
{
    parse_said = false;
    given = argc;
}

int cli_parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, size_t nopts,
              char **pos, int *npos)
{
    int rc = _parse(cmd, argc, argv, opts, nopts, pos, npos);
    parse_said = rc != 0;
    return rc;
}

static int _parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, size_t nopts,
                  char **pos, int *npos)
{
    bool only_pos = false;
    *npos = 0;
    for (size_t i = 0; i < nopts; i++)
        opts[i].value = NULL;
    for (int i = 0; i < argc; i++) {
        char *w = argv[i];
        if (only_pos || strncmp(w, "--", 2) != 0) {
            pos[(*npos)++] = w;
            continue;
        }
        if (w[2] == '\0') {
            only_pos = true;
            continue;
        }
        const char *name = w + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        struct cli_opt *o = NULL;
        for (size_t k = 0; k < nopts; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
                o = &opts[k];
        if (!o) {
            fprintf(stderr, "cache-cli: %s: unknown option --%.*s\n", cmd, (int)nlen, name);
            return -1;
        }
        if (!o->takes_value) {
            if (eq) {
                fprintf(stderr, "cache-cli: %s: --%s takes no value\n", cmd, o->name);
                return -1;
            }
            o->value = "";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "cache-cli: %s: --%s needs a value\n", cmd, o->name);
            return -1;
        }
    }
    return 0;
}

int cli_parse_i64(const char *what, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno) {
        fprintf(stderr, "cache-cli: %s must be a signed 64-bit integer, not '%s'\n", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_u64(const char *what, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno) {
        fprintf(stderr, "cache-cli: %s must be a non-negative integer, not '%s'\n", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_ttl(const char *s, uint64_t *ms_out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double unit = 1000; /* seconds by default */
    if (end != s) {
        if (strcmp(end, "ms") == 0)
            unit = 1;
        else if (strcmp(end, "s") == 0 || *end == '\0')
            unit = 1000;
        else if (strcmp(end, "m") == 0)
            unit = 60e3;
        else if (strcmp(end, "h") == 0)
            unit = 3600e3;
        else if (strcmp(end, "d") == 0)
            unit = 86400e3;
        else
            end = (char *)s; /* unknown unit */
    }
    double ms = v * unit;
    if (end == s || errno || !isfinite(v) || v < 0 || ms > 9.2e18 || (ms > 0 && ms < 1)) {
        fprintf(stderr, "cache-cli: ttl must be a number of seconds, or a number with a unit "
                        "(ms, s, m, h, d), at least 1ms or 0 for none; not '%s'\n", s);
        return -1;
    }
    *ms_out = (uint64_t)llround(ms);
    return 0;
}

int cli_status(struct cli *cli, const char *cmd, int status)
{
    if (status == CC_OK)
        return CLI_OK;
    if (!cc_status_is_error(status)) {
        fprintf(stderr, "(%s)\n", status == CC_NOT_FOUND    ? "not found"
                                  : status == CC_NOT_STORED  ? "not stored"
                                  : status == CC_CAS_MISMATCH ? "version mismatch"
                                                             : cc_status_name(status));
        return CLI_MISS;
    }
    const char *msg = cc_errmsg(cli->c);
    if (!msg || !*msg)
        msg = cc_status_message(status);
    fprintf(stderr, "cache-cli: %s: %s (%d): %s", cmd, cc_status_name(status), status, msg);
    if (status == CC_E_CONNECT)
        fprintf(stderr, " [socket %s]", cli->socket_path);
    fputc('\n', stderr);
    return CLI_ERROR;
}

int cli_usage(const char *cmd)
{
    const struct cli_command *c = cli_find_command(cmd);
    if (!parse_said) /* else cli_parse said what was wrong already */
        fprintf(stderr, "cache-cli: %s: wrong arguments (%d given)\n", cmd, given);
    if (c)
        fprintf(stderr, "usage: cache-cli %s %s\n", c->name, c->usage);
    return CLI_ERROR;
}

int cli_read_stdin(char **buf, size_t *len, size_t max)
{
    size_t cap = 64 * 1024, n = 0;
    char *b = malloc(cap);
    if (!b)
        return -1;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(b);
                fprintf(stderr, "cache-cli: stdin holds more than %zu bytes (use append for "
                                "larger values)\n", max);
                return -1;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fprintf(stderr, "cache-cli: out of memory reading stdin\n");
                return -1;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(STDIN_FILENO, b + n, cap - n);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "cache-cli: reading stdin: %s\n", strerror(errno));
            free(b);
            return -1;
        }
        n += (size_t)r;
    }
    if (n > max) {
        free(b);
        fprintf(stderr, "cache-cli: stdin holds more than %zu bytes (use append for larger "
                        "values)\n", max);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}
