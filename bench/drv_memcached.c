/* memcached driver: the ASCII protocol over a Unix socket or TCP. get (one or many keys),
 * set, delete, incr. memcached's incr does not create a missing key: that counts as a miss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "sockbuf.h"

static void command(struct sockbuf *s, const char *verb, size_t vlen, const char *key, size_t kl)
{
    sockbuf_append(s, verb, vlen);
    sockbuf_append(s, key, kl);
}

static int encode(struct sockbuf *s, const struct workload *w, const struct bench_op *op)
{
    size_t kl;
    const char *key = workload_key(w, op->keys[0], op->kind, &kl);
    switch (op->kind) {
    case OP_GET:
    case OP_MGET:
        sockbuf_append(s, "get", 3);
        for (uint32_t i = 0; i < op->nkeys; i++) {
            key = workload_key(w, op->keys[i], OP_GET, &kl);
            command(s, " ", 1, key, kl);
        }
        sockbuf_append(s, "\r\n", 2);
        break;
    case OP_SET: {
        uint32_t len;
        const uint8_t *val = sockbuf_value(s, w, op->keys[0], &len);
        if (!val)
            return -1;
        command(s, "set ", 4, key, kl);
        sockbuf_append(s, " 0 ", 3);
        sockbuf_append_u64(s, w->ttl_s);
        sockbuf_append(s, " ", 1);
        sockbuf_append_u64(s, len);
        sockbuf_append(s, "\r\n", 2);
        sockbuf_append(s, val, len);
        sockbuf_append(s, "\r\n", 2);
        break;
    }
    case OP_DEL:
        command(s, "delete ", 7, key, kl);
        sockbuf_append(s, "\r\n", 2);
        break;
    case OP_INCR:
        command(s, "incr ", 5, key, kl);
        sockbuf_append(s, " 1\r\n", 4);
        break;
    default:
        return -1;
    }
    return 0;
}

/* Splits "VALUE <key> <flags> <bytes>[ <cas>]". 0, or -1 when the line is not one. */
static int parse_value_line(char *line, const char **key, size_t *kl, unsigned long *len)
{
    if (strncmp(line, "VALUE ", 6) != 0)
        return -1;
    char *k = line + 6, *sp = strchr(k, ' ');
    if (!sp)
        return -1;
    char *end;
    strtoul(sp + 1, &end, 10); /* flags */
    if (*end != ' ')
        return -1;
    char *lenp = end + 1;
    *len = strtoul(lenp, &end, 10);
    if (end == lenp || (*end != '\0' && *end != ' '))
        return -1;
    *key = k;
    *kl = (size_t)(sp - k);
    return 0;
}

/* VALUE lines until END; keys come back in request order, misses left out. */
static int read_values(struct sockbuf *c, const struct workload *w, const struct bench_op *op,
                       struct bench_stats *st)
{
    uint32_t next = 0;
    for (;;) {
        size_t ll;
        char *line = sockbuf_line(c, &ll);
        if (!line)
            return -1;
        if (strcmp(line, "END") == 0)
            break;
        const char *key;
        size_t kl;
        unsigned long len;
        if (parse_value_line(line, &key, &kl, &len)) {
            bench_error(st, "memcached get: %.100s", line);
            return line[0] == 'V' ? -1 : 0;
        }
        while (next < op->nkeys) {
            size_t wl;
            const char *want = workload_key(w, op->keys[next], OP_GET, &wl);
            if (wl == kl && memcmp(want, key, kl) == 0)
                break;
            st->misses++;
            next++;
        }
        char *data = sockbuf_bytes(c, len + 2);
        if (!data)
            return -1;
        if (next == op->nkeys) {
            bench_error(st, "memcached returned a key that was not asked for");
            continue;
        }
        workload_count_value(w, op->keys[next], data, len, st);
        next++;
    }
    st->misses += op->nkeys - next;
    return 0;
}

static int m_exec(void *p, const struct workload *w, const struct bench_op *ops, int n,
                  struct bench_stats *st)
{
    struct sockbuf *c = p;
    if (sockbuf_send_ops(c, w, ops, n, encode))
        return -1;
    for (int i = 0; i < n; i++) {
        const struct bench_op *op = &ops[i];
        if (op->kind == OP_GET || op->kind == OP_MGET) {
            if (read_values(c, w, op, st))
                return -1;
            continue;
        }
        size_t ll;
        char *line = sockbuf_line(c, &ll);
        if (!line)
            return -1;
        if (op->kind == OP_SET && strcmp(line, "STORED") != 0)
            bench_error(st, "memcached set: %.100s", line);
        else if (op->kind == OP_DEL && strcmp(line, "DELETED") != 0 && strcmp(line, "NOT_FOUND") != 0)
            bench_error(st, "memcached delete: %.100s", line);
        else if (op->kind == OP_INCR) {
            if (strcmp(line, "NOT_FOUND") == 0)
                st->misses++;
            else if (line[0] < '0' || line[0] > '9')
                bench_error(st, "memcached incr: %.100s", line);
        }
    }
    return 0;
}

const struct bench_driver bench_driver_memcached = {"memcached", sockbuf_driver_connect, sockbuf_driver_close, m_exec};
