/* How cache-cli prints values: readable on a terminal, exact for bytes, JSON for structure. */
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"

/* Arrays and maps arrive as their msgpack encoding. */
static void print_encoded_json(const cc_value *v)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *)v->data, v->len, &off) == MSGPACK_UNPACK_SUCCESS)
        json_print(stdout, &u.data);
    else
        fputs("null", stdout);
    msgpack_unpacked_destroy(&u);
}

static void print_float(double d, bool json)
{
    char buf[64];
    json_format_float(buf, sizeof(buf), d);
    printf(json && (isnan(d) || isinf(d)) ? "\"%s\"" : "%s", buf);
}

/* Objects as JSON (json_print_object): a string a client compressed ("@zstd") prints as
 * that string, raw unless json; a msgpack-serialized object with its properties as JSON. */
static void print_object(const cc_value *v, bool json)
{
    if (!json && json_is_zstd(v->class_name, v->class_len, v->serializer)) {
        char *s;
        size_t n;
        if (json_zstd_decompress(v->data, v->len, &s, &n) == 0) {
            fwrite(s, 1, n, stdout);
            free(s);
            return;
        }
        fprintf(stderr, "cache-cli: a zstd-compressed string that cannot be decompressed "
                        "(corrupt, or larger than 1 GiB): printed as an object\n");
    }
    json_print_object(stdout, v->class_name, v->class_len, v->serializer,
                      (const char *)v->data, v->len);
}

static void print_scalar_or_json(const cc_value *v, bool json)
{
    switch (v->type) {
    case CC_TYPE_NULL:
        fputs("null", stdout);
        break;
    case CC_TYPE_BOOL:
        fputs(v->b ? "true" : "false", stdout);
        break;
    case CC_TYPE_INT:
        if (v->is_uint)
            printf("%" PRIu64, v->u);
        else
            printf("%" PRId64, v->i);
        break;
    case CC_TYPE_FLOAT:
        print_float(v->f, json);
        break;
    case CC_TYPE_ARRAY:
    case CC_TYPE_MAP:
        print_encoded_json(v);
        break;
    case CC_TYPE_OBJECT:
        print_object(v, json);
        break;
    case CC_TYPE_BYTES:
    case CC_TYPE_STREAM:
    default:
        if (json)
            json_print_string(stdout, (const char *)v->data, v->len);
        else
            fwrite(v->data, 1, v->len, stdout);
        break;
    }
}

void cli_print_value(const cc_value *v, bool raw)
{
    print_scalar_or_json(v, false);
    if (!raw)
        fputc('\n', stdout);
}

void cli_print_json(const cc_value *v) { print_scalar_or_json(v, true); }

void cli_print_value_json(const cc_value *v)
{
    print_scalar_or_json(v, true);
    fputc('\n', stdout);
}

void cli_print_ttl(int64_t ttl_ms)
{
    if (ttl_ms < 0)
        printf("-1\n");
    else if (ttl_ms % 1000 == 0)
        printf("%" PRId64 "\n", ttl_ms / 1000);
    else
        printf("%" PRId64 ".%03" PRId64 "\n", ttl_ms / 1000, ttl_ms % 1000);
}
