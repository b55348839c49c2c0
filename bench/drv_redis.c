/* Redis driver: RESP written by hand over a Unix socket or TCP. GET, SET (EX ttl), DEL,
 * INCR, MGET; every bulk reply is checked against the value written for its key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "sockbuf.h"

static void bulk(struct sockbuf *s, const void *d, size_t n)
{
    sockbuf_append(s, "$", 1);
    sockbuf_append_u64(s, n);
    sockbuf_append(s, "\r\n", 2);
    sockbuf_append(s, d, n);
    sockbuf_append(s, "\r\n", 2);
}

static int encode(struct sockbuf *s, const struct workload *w, const struct bench_op *op)
{
    size_t kl;
    const char *key = workload_key(w, op->keys[0], op->kind, &kl);
    switch (op->kind) {
    case OP_GET:
        sockbuf_append(s, "*2\r\n$3\r\nGET\r\n", 13);
        bulk(s, key, kl);
        break;
    case OP_SET: {
        uint32_t len;
        const uint8_t *val = sockbuf_value(s, w, op->keys[0], &len);
        if (!val)
            return -1;
        sockbuf_append(s, w->ttl_s ? "*5\r\n$3\r\nSET\r\n" : "*3\r\n$3\r\nSET\r\n", 13);
        bulk(s, key, kl);
        bulk(s, val, len);
        if (w->ttl_s) {
            char t[16];
            int tl = snprintf(t, sizeof(t), "%u", w->ttl_s);
            sockbuf_append(s, "$2\r\nEX\r\n", 8);
            bulk(s, t, (size_t)tl);
        }
        break;
    }
    case OP_DEL:
        sockbuf_append(s, "*2\r\n$3\r\nDEL\r\n", 13);
        bulk(s, key, kl);
        break;
    case OP_INCR:
        sockbuf_append(s, "*2\r\n$4\r\nINCR\r\n", 14);
        bulk(s, key, kl);
        break;
    case OP_MGET:
        sockbuf_append(s, "*", 1);
        sockbuf_append_u64(s, op->nkeys + 1);
        sockbuf_append(s, "\r\n$4\r\nMGET\r\n", 12);
        for (uint32_t i = 0; i < op->nkeys; i++) {
            key = workload_key(w, op->keys[i], OP_GET, &kl);
            bulk(s, key, kl);
        }
        break;
    default:
        return -1;
    }
    return 0;
}

/* Read one bulk string reply for key id (GET or an MGET element). */
static int read_bulk(struct sockbuf *c, const struct workload *w, uint32_t id, struct bench_stats *st)
{
    size_t ll;
    char *line = sockbuf_line(c, &ll);
    if (!line)
        return -1;
    if (line[0] == '-') {
        bench_error(st, "redis: %s", line);
        return 0;
    }
    if (line[0] != '$') {
        bench_error(st, "redis: expected a bulk string, got '%.60s'", line);
        return -1;
    }
    long n = strtol(line + 1, NULL, 10);
    if (n < 0) {
        st->misses++;
        return 0;
    }
    char *data = sockbuf_bytes(c, (size_t)n + 2);
    if (!data)
        return -1;
    workload_count_value(w, id, data, (size_t)n, st);
    return 0;
}

static int r_exec(void *p, const struct workload *w, const struct bench_op *ops, int n,
                  struct bench_stats *st)
{
    struct sockbuf *c = p;
    if (sockbuf_send_ops(c, w, ops, n, encode))
        return -1;
    for (int i = 0; i < n; i++) {
        const struct bench_op *op = &ops[i];
        if (op->kind == OP_GET) {
            if (read_bulk(c, w, op->keys[0], st))
                return -1;
            continue;
        }
        size_t ll;
        char *line = sockbuf_line(c, &ll);
        if (!line)
            return -1;
        if (line[0] == '-') {
            bench_error(st, "redis: %s", line);
            continue;
        }
        if (op->kind == OP_MGET) {
            if (line[0] != '*' || strtol(line + 1, NULL, 10) != (long)op->nkeys) {
                bench_error(st, "redis MGET: expected %u elements, got '%.60s'", op->nkeys, line);
                return -1;
            }
            for (uint32_t k = 0; k < op->nkeys; k++)
                if (read_bulk(c, w, op->keys[k], st))
                    return -1;
        } else if (op->kind == OP_SET && strcmp(line, "+OK") != 0) {
            bench_error(st, "redis SET: %s", line);
        } else if ((op->kind == OP_DEL || op->kind == OP_INCR) && line[0] != ':') {
            bench_error(st, "redis: unexpected reply %s", line);
        }
    }
    return 0;
}

const struct bench_driver bench_driver_redis = {"redis", sockbuf_driver_connect, sockbuf_driver_close, r_exec};
