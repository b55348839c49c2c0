/* A small recursive-descent JSON reader that writes msgpack directly, and the JSON printer
 * for msgpack objects. RFC 8259 grammar; no extensions (no comments, no trailing commas). */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "cacheclient_protocol.h"

struct jp {
    const char *p, *end, *start;
    msgpack_packer pk;
    msgpack_sbuffer scratch; /* decoded string bytes */
    char *err;
    size_t errlen;
};

static int fail(struct jp *j, const char *fmt, ...)
{
    if (j->err[0])
        return -1; /* keep the innermost message */
    int n = snprintf(j->err, j->errlen, "invalid JSON at byte %zu: ", (size_t)(j->p - j->start));
    if (n < 0 || (size_t)n >= j->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err + n, j->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(struct jp *j, unsigned *out)
{
    if (j->end - j->p < 4)
        return fail(j, "short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(j, "bad \\u escape");
    }
    j->p += 4;
    *out = v;
    return 0;
}

static void put_utf8(msgpack_sbuffer *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    msgpack_sbuffer_write(b, u, n);
}

/* Decode a string (j->p at the opening quote) into j->scratch. */
static int read_string(struct jp *j)
{
    j->scratch.size = 0;
    j->p++;
    for (;;) {
        if (j->p >= j->end)
            return fail(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(j, "control character in string");
        if (c != '\\') {
            const char *run = j->p;
            while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20)
                j->p++;
            msgpack_sbuffer_write(&j->scratch, run, (size_t)(j->p - run));
            continue;
        }
        j->p++;
        if (j->p >= j->end)
            return fail(j, "unterminated escape");
        char e = *j->p++;
        char one;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(j, &cp))
                return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                    return fail(j, "lone high surrogate");
                j->p += 2;
                if (hex4(j, &lo))
                    return -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(j, "bad low surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(j, "lone low surrogate");
            }
            put_utf8(&j->scratch, cp);
            continue;
        }
        default:
            return fail(j, "bad escape \\%c", e);
        }
        msgpack_sbuffer_write(&j->scratch, &one, 1);
    }
}

static int read_number(struct jp *j)
{
    const char *s = j->p;
    bool is_float = false;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return fail(j, "expected a value");
    if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9')
        return fail(j, "leading zero");
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    if (j->p < j->end && *j->p == '.') {
        is_float = true;
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return fail(j, "digit expected after '.'");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        is_float = true;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return fail(j, "digit expected in exponent");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    char buf[512];
    size_t n = (size_t)(j->p - s);
    if (n >= sizeof(buf))
        return fail(j, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!is_float) {
        errno = 0;
        if (buf[0] == '-') {
            long long v = strtoll(buf, NULL, 10);
            if (errno == 0)
                return msgpack_pack_int64(&j->pk, v);
        } else {
            unsigned long long v = strtoull(buf, NULL, 10);
            if (errno == 0)
                return msgpack_pack_uint64(&j->pk, v);
        }
        /* out of the 64-bit range: keep it as a float, as most JSON readers do */
    }
    return msgpack_pack_double(&j->pk, strtod(buf, NULL));
}

static int read_value(struct jp *j, int depth);

static int read_container(struct jp *j, int depth, bool is_map)
{
    if (depth >= JSON_MAX_DEPTH)
        return fail(j, "nested deeper than %d", JSON_MAX_DEPTH);
    char close = is_map ? '}' : ']';
    j->p++;
    /* Count the members first would need a second pass; instead encode into a nested
     * buffer and prepend the header once the count is known. */
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer saved = j->pk;
    msgpack_packer_init(&j->pk, &body, msgpack_sbuffer_write);
    uint32_t count = 0;
    int rc = 0;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
    } else {
        for (;;) {
            skip_ws(j);
            if (is_map) {
                if (j->p >= j->end || *j->p != '"') {
                    rc = fail(j, "object key must be a string");
                    break;
                }
                if ((rc = read_string(j)))
                    break;
                msgpack_pack_str(&j->pk, j->scratch.size);
                msgpack_pack_str_body(&j->pk, j->scratch.data, j->scratch.size);
                skip_ws(j);
                if (j->p >= j->end || *j->p != ':') {
                    rc = fail(j, "':' expected");
                    break;
                }
                j->p++;
            }
            if ((rc = read_value(j, depth + 1)))
                break;
            count++;
            skip_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                break;
            }
            rc = fail(j, "',' or '%c' expected", close);
            break;
        }
    }
    j->pk = saved;
    if (rc == 0) {
        if (is_map)
            msgpack_pack_map(&j->pk, count);
        else
            msgpack_pack_array(&j->pk, count);
        msgpack_sbuffer_write(j->pk.data, body.data, body.size);
    }
    msgpack_sbuffer_destroy(&body);
    return rc;
}

static int literal(struct jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return fail(j, "expected a value");
    j->p += n;
    return 0;
}

static int read_value(struct jp *j, int depth)
{
    skip_ws(j);
    if (j->p >= j->end)
        return fail(j, "unexpected end");
    switch (*j->p) {
    case '{':
        return read_container(j, depth, true);
    case '[':
        return read_container(j, depth, false);
    case '"':
        if (read_string(j))
            return -1;
        msgpack_pack_str(&j->pk, j->scratch.size);
        return msgpack_pack_str_body(&j->pk, j->scratch.data, j->scratch.size);
    case 't':
        return literal(j, "true") ? -1 : msgpack_pack_true(&j->pk);
    case 'f':
        return literal(j, "false") ? -1 : msgpack_pack_false(&j->pk);
    case 'n':
        return literal(j, "null") ? -1 : msgpack_pack_nil(&j->pk);
    default:
        return read_number(j);
    }
}

int json_to_msgpack(const char *text, size_t len, msgpack_sbuffer *out, char *err, size_t errlen)
{
    struct jp j = {.p = text, .end = text + len, .start = text, .err = err, .errlen = errlen};
    err[0] = '\0';
    msgpack_sbuffer_init(&j.scratch);
    msgpack_packer_init(&j.pk, out, msgpack_sbuffer_write);
    int rc = read_value(&j, 0);
    if (rc == 0) {
        skip_ws(&j);
        if (j.p != j.end)
            rc = fail(&j, "trailing characters");
    }
    msgpack_sbuffer_destroy(&j.scratch);
    return rc;
}

/* ---- printing ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

void json_print_string(FILE *out, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        switch (c) {
        case '"': fputs("\\\"", out); i++; continue;
        case '\\': fputs("\\\\", out); i++; continue;
        case '\n': fputs("\\n", out); i++; continue;
        case '\r': fputs("\\r", out); i++; continue;
        case '\t': fputs("\\t", out); i++; continue;
        case '\b': fputs("\\b", out); i++; continue;
        case '\f': fputs("\\f", out); i++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7F) {
            fprintf(out, "\\u%04x", c);
            i++;
            continue;
        }
        size_t n = utf8_len(u + i, len - i);
        if (n == 0) {
            fprintf(out, "\\u%04x", c); /* not UTF-8: the byte's value */
            i++;
            continue;
        }
        fwrite(u + i, 1, n, out);
        i += n;
    }
    fputc('"', out);
}

void json_format_float(char *buf, size_t n, double d)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, n, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    /* the shortest of 15..17 digits that reads back as the same double */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eE") && strlen(buf) + 3 <= n)
        strcat(buf, ".0"); /* keep it a float when read back */
}

static void print_float(FILE *out, double d)
{
    char buf[64];
    json_format_float(buf, sizeof(buf), d);
    if (isnan(d) || isinf(d))
        fprintf(out, "\"%s\"", buf);
    else
        fputs(buf, out);
}

int json_is_zstd(const char *cls, size_t clen, uint64_t ser)
{
    return ser == 0 && clen == sizeof(CLI_CLASS_ZSTD) - 1 && memcmp(cls, CLI_CLASS_ZSTD, clen) == 0;
}

int json_zstd_decompress(const void *data, size_t len, char **out, size_t *outlen)
{
    unsigned long long sz = ZSTD_getFrameContentSize(data, len);
    if (sz == ZSTD_CONTENTSIZE_ERROR || sz == ZSTD_CONTENTSIZE_UNKNOWN || sz > CLI_ZSTD_MAX)
        return -1;
    char *buf = malloc((size_t)sz + 1);
    if (!buf)
        return -1;
    size_t n = ZSTD_decompress(buf, (size_t)sz, data, len);
    if (ZSTD_isError(n) || n != sz) {
        free(buf);
        return -1;
    }
    buf[sz] = '\0';
    *out = buf;
    *outlen = (size_t)sz;
    return 0;
}

/* Objects inside serializer-3 objects are decoded recursively: bounded, so a crafted value
 * cannot exhaust the stack. */
static int object_depth;

void json_print_object(FILE *out, const char *cls, size_t clen, uint64_t ser, const char *data,
                       size_t len)
{
    if (json_is_zstd(cls, clen, ser)) {
        char *s;
        size_t n;
        if (json_zstd_decompress(data, len, &s, &n) == 0) {
            json_print_string(out, s, n);
            free(s);
            return;
        }
    }
    fputs("{\"@class\": ", out);
    json_print_string(out, cls, clen);
    fprintf(out, ", \"@serializer\": %" PRIu64 ", \"@data\": ", ser);
    if (ser == CLI_SER_MSGPACK && object_depth < JSON_MAX_DEPTH * 2) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        if (msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len &&
            u.data.type == MSGPACK_OBJECT_MAP) {
            object_depth++;
            json_print(out, &u.data);
            object_depth--;
            msgpack_unpacked_destroy(&u);
            fputc('}', out);
            return;
        }
        msgpack_unpacked_destroy(&u);
    }
    json_print_string(out, data, len);
    fputc('}', out);
}

static void print_object_ext(FILE *out, const msgpack_object_ext *e)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (e->type == CC_EXT_OBJECT &&
        msgpack_unpack_next(&u, e->ptr, e->size, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 3) {
        const msgpack_object *f = u.data.via.array.ptr;
        if (f[0].type == MSGPACK_OBJECT_STR && f[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            f[2].type == MSGPACK_OBJECT_BIN) {
            json_print_object(out, f[0].via.str.ptr, f[0].via.str.size, f[1].via.u64,
                              f[2].via.bin.ptr, f[2].via.bin.size);
        } else {
            fputs("{\"@class\": ", out);
            json_print(out, &f[0]);
            fputs(", \"@serializer\": ", out);
            json_print(out, &f[1]);
            fputs(", \"@data\": ", out);
            json_print(out, &f[2]);
            fputc('}', out);
        }
    } else {
        fprintf(out, "{\"@ext\": %d, \"@data\": ", e->type);
        json_print_string(out, e->ptr, e->size);
        fputc('}', out);
    }
    msgpack_unpacked_destroy(&u);
}

void json_print(FILE *out, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        fputs("null", out);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(o->via.boolean ? "true" : "false", out);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(out, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf(out, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        print_float(out, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        json_print_string(out, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        json_print_string(out, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        fputc('[', out);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                fputs(", ", out);
            json_print(out, &o->via.array.ptr[i]);
        }
        fputc(']', out);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc('{', out);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (i)
                fputs(", ", out);
            if (kv->key.type == MSGPACK_OBJECT_STR || kv->key.type == MSGPACK_OBJECT_BIN) {
                json_print(out, &kv->key);
            } else {
                /* JSON keys are strings: print the key, then quote that text */
                char *txt = NULL;
                size_t n = 0;
                FILE *m = open_memstream(&txt, &n);
                if (m) {
                    json_print(m, &kv->key);
                    fclose(m);
                    json_print_string(out, txt, n);
                    free(txt);
                }
            }
            fputs(": ", out);
            json_print(out, &kv->val);
        }
        fputc('}', out);
        break;
    case MSGPACK_OBJECT_EXT:
        print_object_ext(out, &o->via.ext);
        break;
    default:
        fputs("null", out);
        break;
    }
}
