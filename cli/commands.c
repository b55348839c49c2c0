/* The command table and the key/value commands. Every command returns CLI_OK, CLI_MISS or
 * CLI_ERROR; messages go to stderr, results to stdout. */
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "cli.h"
#include "json.h"

/* Largest value `set` reads from stdin; the server's max_value_size decides what it stores. */
#define STDIN_VALUE_MAX ((size_t)1 << 30)
/* Chunk size `append` sends when streaming stdin. */
#define APPEND_CHUNK ((size_t)1 << 20)

#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

static int cmd_ping(struct cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return cli_usage("ping");
    int rc = cc_ping(cli->c);
    if (rc != CC_OK)
        return cli_status(cli, "ping", rc);
    printf("PONG\n");
    return CLI_OK;
}

static int cmd_get(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"meta", false, NULL}, {"raw", false, NULL}, {"json", false, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("get", argc, argv, o, NOPTS(o), pos, &np) || np != 1)
        return cli_usage("get");
    cc_item it = {0};
    int rc = cc_get(cli->c, pos[0], strlen(pos[0]), &it);
    if (rc != CC_OK)
        return cli_status(cli, "get", rc);
    if (o[0].value) {
        /* A string a client stored compressed (PHP's compression_threshold) is an object to
         * the server; get prints the string, so --meta says what is stored. */
        bool zstd = it.value.type == CC_TYPE_OBJECT &&
                    json_is_zstd(it.value.class_name, it.value.class_len, it.value.serializer);
        unsigned long long zlen = zstd ? ZSTD_getFrameContentSize(it.value.data, it.value.len) : 0;
        if (zstd && zlen != ZSTD_CONTENTSIZE_ERROR && zlen != ZSTD_CONTENTSIZE_UNKNOWN)
            printf("type: bytes (zstd-compressed by a client, %zu bytes stored)\nttl: ",
                   it.value.len);
        else
            printf("type: %s\nttl: ", cc_type_name(it.value.type));
        /* the ttl as `ttl` prints it: seconds, -1 = no expiry */
        cli_print_ttl(it.ttl_ms);
        printf("version: %" PRIu64 "\n", it.version);
        if (it.value.type == CC_TYPE_BYTES || it.value.type == CC_TYPE_STREAM)
            printf("length: %zu\n", it.value.len);
        else if (zstd && zlen != ZSTD_CONTENTSIZE_ERROR && zlen != ZSTD_CONTENTSIZE_UNKNOWN)
            printf("length: %llu\n", zlen);
        printf("value: ");
    }
    if (o[2].value)
        cli_print_value_json(&it.value);
    else
        cli_print_value(&it.value, o[1].value != NULL);
    cc_item_release(&it);
    return CLI_OK;
}

/* Build the value `set` stores from its text and --type. *enc holds encoded arrays/maps. */
static int make_value(const char *type, const char *text, size_t len, cc_value *v,
                      msgpack_sbuffer *enc)
{
    if (!type || strcmp(type, "bytes") == 0) {
        *v = cc_value_bytes(text, len);
        return 0;
    }
    if (strcmp(type, "null") == 0) {
        *v = cc_value_null();
        return 0;
    }
    if (memchr(text, '\0', len)) {
        fprintf(stderr, "cache-cli: set: a %s value cannot hold NUL bytes\n", type);
        return -1;
    }
    if (strcmp(type, "int") == 0) {
        int64_t i;
        if (cli_parse_i64("an int value", text, &i))
            return -1;
        *v = cc_value_int(i);
        return 0;
    }
    if (strcmp(type, "float") == 0) {
        char *end;
        double d = strtod(text, &end);
        if (*text == '\0' || *end != '\0') {
            fprintf(stderr, "cache-cli: set: a float value must be a number, not '%s'\n", text);
            return -1;
        }
        *v = cc_value_float(d);
        return 0;
    }
    if (strcmp(type, "bool") == 0) {
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            *v = cc_value_bool(true);
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
            *v = cc_value_bool(false);
        else {
            fprintf(stderr, "cache-cli: set: a bool value is true, false, 1 or 0; not '%s'\n", text);
            return -1;
        }
        return 0;
    }
    if (strcmp(type, "json") == 0) {
        char err[160];
        if (json_to_msgpack(text, len, enc, err, sizeof(err))) {
            fprintf(stderr, "cache-cli: set: %s\n", err);
            return -1;
        }
        /* Scalars are stored as their own types; arrays and maps as their encoding. */
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        msgpack_unpack_next(&u, enc->data, enc->size, &off);
        const msgpack_object *ob = &u.data;
        switch (ob->type) {
        case MSGPACK_OBJECT_ARRAY:
            *v = cc_value_msgpack(CC_TYPE_ARRAY, enc->data, enc->size);
            break;
        case MSGPACK_OBJECT_MAP:
            *v = cc_value_msgpack(CC_TYPE_MAP, enc->data, enc->size);
            break;
        case MSGPACK_OBJECT_STR: /* points into enc, which outlives the call */
            *v = cc_value_bytes(ob->via.str.ptr, ob->via.str.size);
            break;
        case MSGPACK_OBJECT_NIL:
            *v = cc_value_null();
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            *v = cc_value_bool(ob->via.boolean);
            break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if (ob->via.u64 > INT64_MAX) {
                *v = (cc_value){.type = CC_TYPE_INT, .is_uint = true, .u = ob->via.u64};
            } else {
                *v = cc_value_int((int64_t)ob->via.u64);
            }
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            *v = cc_value_int(ob->via.i64);
            break;
        default:
            *v = cc_value_float(ob->via.f64);
            break;
        }
        msgpack_unpacked_destroy(&u);
        return 0;
    }
    fprintf(stderr, "cache-cli: set: unknown --type '%s' (bytes, int, float, bool, null, json)\n",
            type);
    return -1;
}

static int cmd_set(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"ttl", true, NULL}, {"type", true, NULL}, {"nx", false, NULL},
                          {"xx", false, NULL}, {"cas", true, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("set", argc, argv, o, NOPTS(o), pos, &np) || np < 1 || np > 2)
        return cli_usage("set");
    uint64_t ttl = 0, cas = 0;
    unsigned flags = 0;
    if (o[0].value && cli_parse_ttl(o[0].value, &ttl))
        return CLI_ERROR;
    if (o[4].value && cli_parse_u64("--cas", o[4].value, &cas))
        return CLI_ERROR;
    if (o[2].value && o[3].value) {
        fprintf(stderr, "cache-cli: set: --nx and --xx exclude each other\n");
        return CLI_ERROR;
    }
    flags |= o[2].value ? CC_SET_NX : 0;
    flags |= o[3].value ? CC_SET_XX : 0;

    const char *type = o[1].value;
    char *text = NULL, *owned = NULL;
    size_t len = 0;
    bool is_null = type && strcmp(type, "null") == 0;
    if (np == 2) {
        text = pos[1];
        len = strlen(text);
    } else if (!is_null) {
        if (cli->in_repl) {
            fprintf(stderr, "cache-cli: set: give the value (quote it if it has spaces)\n");
            return CLI_ERROR;
        }
        if (isatty(STDIN_FILENO))
            fprintf(stderr, "(reading the value from stdin; end with Ctrl-D)\n");
        if (cli_read_stdin(&owned, &len, STDIN_VALUE_MAX))
            return CLI_ERROR;
        /* text values from a pipe usually end with one newline that is not part of them */
        if (type && strcmp(type, "bytes") != 0) {
            while (len > 0 && (owned[len - 1] == '\n' || owned[len - 1] == '\r'))
                len--;
        }
        char *nt = realloc(owned, len + 1); /* NUL-terminate for the number parsers */
        if (!nt) {
            free(owned);
            return CLI_ERROR;
        }
        owned = nt;
        owned[len] = '\0';
        text = owned;
    } else {
        text = "";
    }
    if (is_null && np == 2) {
        free(owned);
        fprintf(stderr, "cache-cli: set: --type null takes no value\n");
        return CLI_ERROR;
    }
    cc_value v;
    msgpack_sbuffer enc;
    msgpack_sbuffer_init(&enc);
    int ret;
    if (make_value(type, text, len, &v, &enc)) {
        ret = CLI_ERROR;
    } else {
        uint64_t version = 0;
        int rc = cc_set(cli->c, pos[0], strlen(pos[0]), &v, ttl, flags, cas, &version);
        ret = cli_status(cli, "set", rc);
        if (rc == CC_OK)
            printf("OK\n");
    }
    msgpack_sbuffer_destroy(&enc);
    free(owned);
    return ret;
}

/* Key arrays for the multi-key commands. */
static void key_arrays(int n, char **words, const void **keys, size_t *lens)
{
    for (int i = 0; i < n; i++) {
        keys[i] = words[i];
        lens[i] = strlen(words[i]);
    }
}

typedef int (*keys_call)(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                         uint64_t *count);

/* del and exists: many keys in, one count out. exists is a miss unless every key exists. */
static int count_keys(struct cli *cli, const char *cmd, int argc, char **argv, keys_call call,
                      bool all_or_miss)
{
    char *pos[argc + 1];
    int np;
    if (cli_parse(cmd, argc, argv, NULL, 0, pos, &np) || np < 1)
        return cli_usage(cmd);
    const void *keys[np];
    size_t lens[np];
    key_arrays(np, pos, keys, lens);
    uint64_t n = 0;
    int rc = call(cli->c, (size_t)np, keys, lens, &n);
    if (rc != CC_OK)
        return cli_status(cli, cmd, rc);
    printf("%" PRIu64 "\n", n);
    return !all_or_miss || n == (uint64_t)np ? CLI_OK : CLI_MISS;
}

static int cmd_del(struct cli *cli, int argc, char **argv)
{
    return count_keys(cli, "del", argc, argv, cc_del, false);
}

static int cmd_exists(struct cli *cli, int argc, char **argv)
{
    return count_keys(cli, "exists", argc, argv, cc_exists, true);
}

static int cmd_mget(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"json", false, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("mget", argc, argv, o, NOPTS(o), pos, &np) || np < 1)
        return cli_usage("mget");
    const void *keys[np];
    size_t lens[np];
    key_arrays(np, pos, keys, lens);
    cc_item *items = calloc((size_t)np, sizeof(*items));
    if (!items)
        return CLI_ERROR;
    int rc = cc_mget(cli->c, (size_t)np, keys, lens, items);
    int ret = cli_status(cli, "mget", rc);
    bool missed = false;
    for (int i = 0; rc == CC_OK && i < np; i++) {
        if (!items[i].found)
            missed = true;
        if (o[0].value) {
            /* one object per key, so a miss never reads as a stored null */
            printf("{\"key\": ");
            json_print_string(stdout, pos[i], lens[i]);
            if (items[i].found) {
                printf(", \"found\": true, \"value\": ");
                cli_print_json(&items[i].value);
                printf("}\n");
            } else {
                printf(", \"found\": false}\n");
            }
        } else if (!items[i].found) {
            printf("(not found)\n");
        } else {
            cli_print_value(&items[i].value, false);
        }
        cc_item_release(&items[i]);
    }
    free(items);
    if (ret == CLI_OK && missed)
        ret = CLI_MISS;
    return ret;
}

static int counter(struct cli *cli, const char *cmd, int argc, char **argv, bool decr)
{
    struct cli_opt o[] = {{"initial", true, NULL}, {"ttl", true, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse(cmd, argc, argv, o, NOPTS(o), pos, &np) || np < 1 || np > 2)
        return cli_usage(cmd);
    int64_t delta = 1, initial = 0;
    uint64_t ttl = 0;
    if (np == 2 && cli_parse_i64("DELTA", pos[1], &delta))
        return CLI_ERROR;
    /* A missing key counts from 0 (as in Redis) or --initial; the server adds DELTA. */
    if (o[0].value && cli_parse_i64("--initial", o[0].value, &initial))
        return CLI_ERROR;
    if (o[1].value && cli_parse_ttl(o[1].value, &ttl))
        return CLI_ERROR;
    int64_t result = 0;
    int rc = decr ? cc_decr(cli->c, pos[0], strlen(pos[0]), delta, initial, ttl, &result)
                  : cc_incr(cli->c, pos[0], strlen(pos[0]), delta, initial, ttl, &result);
    if (rc != CC_OK)
        return cli_status(cli, cmd, rc);
    printf("%" PRId64 "\n", result);
    return CLI_OK;
}

static int cmd_incr(struct cli *cli, int argc, char **argv) { return counter(cli, "incr", argc, argv, false); }
static int cmd_decr(struct cli *cli, int argc, char **argv) { return counter(cli, "decr", argc, argv, true); }

static int cmd_ttl(struct cli *cli, int argc, char **argv)
{
    if (argc != 1)
        return cli_usage("ttl");
    int64_t ttl = 0;
    int rc = cc_ttl(cli->c, argv[0], strlen(argv[0]), &ttl);
    if (rc != CC_OK)
        return cli_status(cli, "ttl", rc);
    cli_print_ttl(ttl);
    return CLI_OK;
}

static int cmd_touch(struct cli *cli, int argc, char **argv)
{
    uint64_t ttl;
    if (argc != 2)
        return cli_usage("touch");
    if (cli_parse_ttl(argv[1], &ttl))
        return CLI_ERROR;
    int rc = cc_touch(cli->c, argv[0], strlen(argv[0]), ttl);
    if (rc != CC_OK)
        return cli_status(cli, "touch", rc);
    printf("OK\n");
    return CLI_OK;
}

static int cmd_append(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"ttl", true, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("append", argc, argv, o, NOPTS(o), pos, &np) || np < 1 || np > 2)
        return cli_usage("append");
    uint64_t ttl = 0, len = 0;
    if (o[0].value && cli_parse_ttl(o[0].value, &ttl))
        return CLI_ERROR;
    int rc;
    if (np == 2) {
        rc = cc_append(cli->c, pos[0], strlen(pos[0]), pos[1], strlen(pos[1]), ttl, &len);
    } else if (cli->in_repl) {
        fprintf(stderr, "cache-cli: append: give the data (quote it if it has spaces)\n");
        return CLI_ERROR;
    } else {
        /* Stream stdin: one APPEND per chunk, so a value of any size never sits whole here. */
        char *buf = malloc(APPEND_CHUNK);
        if (!buf)
            return CLI_ERROR;
        rc = CC_OK;
        for (;;) {
            size_t n = 0;
            while (n < APPEND_CHUNK) {
                ssize_t r = read(STDIN_FILENO, buf + n, APPEND_CHUNK - n);
                if (r < 0) {
                    perror("cache-cli: append: reading stdin");
                    free(buf);
                    return CLI_ERROR;
                }
                if (r == 0)
                    break;
                n += (size_t)r;
            }
            if (n == 0)
                break;
            rc = cc_append(cli->c, pos[0], strlen(pos[0]), buf, n, ttl, &len);
            if (rc != CC_OK || n < APPEND_CHUNK)
                break;
        }
        free(buf);
    }
    if (rc != CC_OK)
        return cli_status(cli, "append", rc);
    printf("%" PRIu64 "\n", len);
    return CLI_OK;
}

static int cmd_getrange(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"raw", false, NULL}};
    char *pos[argc + 1];
    int np;
    uint64_t off, len;
    if (cli_parse("getrange", argc, argv, o, NOPTS(o), pos, &np) || np != 3)
        return cli_usage("getrange");
    if (cli_parse_u64("OFFSET", pos[1], &off) || cli_parse_u64("LENGTH", pos[2], &len))
        return CLI_ERROR;
    cc_item it = {0};
    int rc = cc_getrange(cli->c, pos[0], strlen(pos[0]), off, len, &it);
    if (rc != CC_OK)
        return cli_status(cli, "getrange", rc);
    cli_print_value(&it.value, o[0].value != NULL);
    cc_item_release(&it);
    return CLI_OK;
}

static int cmd_strlen(struct cli *cli, int argc, char **argv)
{
    if (argc != 1)
        return cli_usage("strlen");
    uint64_t len = 0;
    int rc = cc_strlen(cli->c, argv[0], strlen(argv[0]), &len);
    if (rc == CC_E_TYPE) {
        /* The server sees a string a client stored compressed as an object (E_TYPE): read it
         * and answer the length of the string, which the zstd frame records. */
        const char *m = cc_errmsg(cli->c);
        char *msg = strdup(m && *m ? m : cc_status_message(rc));
        cc_item it = {0};
        int grc = cc_get(cli->c, argv[0], strlen(argv[0]), &it);
        unsigned long long zlen = ZSTD_CONTENTSIZE_ERROR;
        if (grc == CC_OK && it.value.type == CC_TYPE_OBJECT &&
            json_is_zstd(it.value.class_name, it.value.class_len, it.value.serializer))
            zlen = ZSTD_getFrameContentSize(it.value.data, it.value.len);
        cc_item_release(&it);
        if (grc != CC_OK) {
            free(msg);
            return cli_status(cli, "strlen", grc);
        }
        if (zlen != ZSTD_CONTENTSIZE_ERROR && zlen != ZSTD_CONTENTSIZE_UNKNOWN) {
            free(msg);
            printf("%llu\n", zlen);
            return CLI_OK;
        }
        fprintf(stderr, "cache-cli: strlen: %s (%d): %s\n", cc_status_name(rc), rc,
                msg ? msg : "");
        free(msg);
        return CLI_ERROR;
    }
    if (rc != CC_OK)
        return cli_status(cli, "strlen", rc);
    printf("%" PRIu64 "\n", len);
    return CLI_OK;
}

static int cmd_scan(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"count", true, NULL}, {"limit", true, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("scan", argc, argv, o, NOPTS(o), pos, &np) || np > 1)
        return cli_usage("scan");
    uint64_t count = 100, limit = UINT64_MAX, printed = 0, cursor = 0;
    if (o[0].value && (cli_parse_u64("--count", o[0].value, &count) || count == 0 || count > 1000)) {
        fprintf(stderr, "cache-cli: scan: --count is 1..1000\n");
        return CLI_ERROR;
    }
    if (o[1].value && cli_parse_u64("--limit", o[1].value, &limit))
        return CLI_ERROR;
    const char *prefix = np ? pos[0] : "";
    do {
        cc_keys keys = {0};
        int rc = cc_scan(cli->c, cursor, prefix, strlen(prefix), (uint32_t)count, &cursor, &keys);
        if (rc != CC_OK)
            return cli_status(cli, "scan", rc);
        for (size_t i = 0; i < keys.n && printed < limit; i++, printed++) {
            fwrite(keys.keys[i], 1, keys.lens[i], stdout);
            fputc('\n', stdout);
        }
        cc_keys_release(&keys);
    } while (cursor != 0 && printed < limit);
    return CLI_OK;
}

static int cmd_flush(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"all", false, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("flush", argc, argv, o, NOPTS(o), pos, &np) || np > 1 || (np == 1 && o[0].value))
        return cli_usage("flush");
    const char *ns = o[0].value ? NULL : np ? pos[0] : (cli->ns ? cli->ns : "");
    uint64_t removed = 0;
    int rc = cc_flush(cli->c, ns, &removed);
    if (rc != CC_OK)
        return cli_status(cli, "flush", rc);
    printf("removed %" PRIu64 " items from %s%s%s\n", removed, ns ? "namespace '" : "every namespace",
           ns ? (*ns ? ns : "default") : "", ns ? "'" : "");
    return CLI_OK;
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    if (argc == 1) {
        const struct cli_command *c = cli_find_command(argv[0]);
        if (!c) {
            fprintf(stderr, "cache-cli: unknown command '%s'\n", argv[0]);
            return CLI_ERROR;
        }
        printf("%s %s\n    %s\n", c->name, c->usage, c->help);
        return CLI_OK;
    }
    cli_print_commands(stdout);
    return CLI_OK;
}

const struct cli_command cli_commands[] = {
    {"ping", "", "check the server answers", cmd_ping},
    {"get", "KEY [--meta] [--raw] [--json]", "print a value (--meta: type, ttl in seconds or -1, version too)", cmd_get},
    {"set", "KEY [VALUE] [--ttl T] [--type bytes|int|float|bool|null|json] [--nx|--xx] [--cas VERSION]",
     "store a value (read from stdin when VALUE is left out)", cmd_set},
    {"del", "KEY...", "delete keys; prints how many existed", cmd_del},
    {"exists", "KEY...", "count keys that exist (exit 1 unless all do)", cmd_exists},
    {"mget", "KEY... [--json]", "print many values, one per line (--json: {\"key\", \"found\", \"value\"} per key)", cmd_mget},
    {"incr", "KEY [DELTA] [--initial N] [--ttl T]", "add DELTA (default 1); a missing key counts from N (default 0)", cmd_incr},
    {"decr", "KEY [DELTA] [--initial N] [--ttl T]", "subtract DELTA (default 1); a missing key counts from N (default 0)", cmd_decr},
    {"ttl", "KEY", "remaining time to live in seconds (-1: none)", cmd_ttl},
    {"touch", "KEY TTL", "set a key's time to live in seconds or with a unit (0: none)", cmd_touch},
    {"append", "KEY [DATA] [--ttl T]", "append to a stream (stdin in 1 MiB chunks when DATA is left out)", cmd_append},
    {"getrange", "KEY OFFSET LENGTH [--raw]", "print LENGTH bytes of a stream from OFFSET", cmd_getrange},
    {"strlen", "KEY", "length of a stream or bytes value (or of a string a client stored zstd-compressed)", cmd_strlen},
    {"scan", "[PREFIX] [--count N] [--limit M]", "list keys (of the namespace) starting with PREFIX", cmd_scan},
    {"stats", "[--json|--prometheus]", "counters, hit rates and latency per operation", cli_cmd_stats},
    {"info", "[--json]", "server description and settings", cli_cmd_info},
    {"flush", "[NAMESPACE | --all]", "delete the namespace's keys (default: the current one) or all", cmd_flush},
    {"config", "get [PATTERN] | set NAME VALUE", "read or change configuration options", cli_cmd_config},
    {"cluster",
     "status [--all] [--json] | unfence | revoke PEER | readmit PEER | remove NODE | add NAME "
     "HOST:PORT FINGERPRINT | rotate-cert",
     "replication peers as this node sees them (--all: and as each peer does; exit 1 when "
     "they disagree); unfence: lift the node's self-fencing; revoke: ask a majority to lock "
     "PEER out; readmit: ask a majority to lift fenced PEER's fence; remove: ask a majority to "
     "remove NODE (a peer or this node) from the cluster; add: ask a majority to add a new "
     "member; rotate-cert: give this node a new certificate", cli_cmd_cluster},
    {"wait", "REPLICAS TIMEOUT",
     "wait until REPLICAS peers have every change made so far, at most TIMEOUT (e.g. 500ms, "
     "max 60s); prints how many did (exit 1 when fewer)", cli_cmd_wait},
    {"help", "[COMMAND]", "list commands, or describe one", cmd_help},
    {NULL, NULL, NULL, NULL},
};

const char *cli_command_name(int i)
{
    static int n = -1;
    if (n < 0)
        for (n = 0; cli_commands[n].name; n++)
            ;
    return i >= 0 && i < n ? cli_commands[i].name : NULL;
}

const struct cli_command *cli_find_command(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (strcasecmp(c->name, name) == 0)
            return c;
    return NULL;
}

void cli_print_commands(FILE *out)
{
    fprintf(out, "Commands:\n");
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(out, "  %s%s%s\n      %s\n", c->name, *c->usage ? " " : "", c->usage, c->help);
    fprintf(out, "TTL values are seconds (1.5 allowed) or carry a unit: 500ms, 30s, 10m, 2h, 1d.\n");
}

int cli_run(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *c = cli_find_command(argv[0]);
    if (!c) {
        fprintf(stderr, "cache-cli: unknown command '%s' (try: help)\n", argv[0]);
        return CLI_ERROR;
    }
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { /* `get --help` */
            printf("usage: cache-cli %s%s%s\n    %s\n", c->name, *c->usage ? " " : "", c->usage,
                   c->help);
            return CLI_OK;
        }
    cli_note_args(argc - 1);
    return c->run(cli, argc - 1, argv + 1);
}
