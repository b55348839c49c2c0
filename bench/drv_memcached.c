/* memcached driver: the ASCII protocol over a Unix socket or TCP. get (one or many keys),
 * set, delete, incr. memcached's incr does not create a missing key: that counts as a miss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "sockbuf.h"

static int encode(struct sockbuf *s, const struct workload *w, const struct bench_op *op)
{
    char key[BENCH_KEY_MAX];
    size_t kl = workload_key(w, op->keys[0], op->kind, key);
    switch (op->kind) {
    case OP_GET:
    case OP_MGET:
        sockbuf_append(s, "get", 3);
        for (uint32_t i = 0; i < op->nkeys; i++) {
            kl = workload_key(w, op->keys[i], OP_GET, key);
            sockbuf_append(s, " ", 1);
            sockbuf_append(s, key, kl);
        }
        sockbuf_append(s, "\r\n", 2);
        break;
    case OP_SET: {
        uint32_t len;
        const uint8_t *val = sockbuf_value(s, w, op->keys[0], &len);
        if (!val)
            return -1;
        sockbuf_appendf(s, "set %s 0 %u %u\r\n", key, w->ttl_s, len);
        sockbuf_append(s, val, len);
        sockbuf_append(s, "\r\n", 2);
        break;
    }
    case OP_DEL:
        sockbuf_appendf(s, "delete %s\r\n", key);
        break;
    case OP_INCR:
        sockbuf_appendf(s, "incr %s 1\r\n", key);
        break;
    default:
        return -1;
    }
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
        char key[BENCH_KEY_MAX + 8];
        unsigned flags;
        unsigned long len;
        if (sscanf(line, "VALUE %39s %u %lu", key, &flags, &len) != 3) {
            bench_error(st, "memcached: %s", line);
            return line[0] == 'V' ? -1 : 0;
        }
        char want[BENCH_KEY_MAX];
        while (next < op->nkeys) {
            workload_key(w, op->keys[next], OP_GET, want);
            if (strcmp(want, key) == 0)
                break;
            st->misses++;
            next++;
        }
        char *data = sockbuf_bytes(c, len + 2);
        if (!data)
            return -1;
        if (next == op->nkeys) {
            bench_error(st, "memcached returned key %s that was not asked for", key);
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
            bench_error(st, "memcached set: %s", line);
        else if (op->kind == OP_DEL && strcmp(line, "DELETED") != 0 && strcmp(line, "NOT_FOUND") != 0)
            bench_error(st, "memcached delete: %s", line);
        else if (op->kind == OP_INCR) {
            if (strcmp(line, "NOT_FOUND") == 0)
                st->misses++;
            else if (line[0] < '0' || line[0] > '9')
                bench_error(st, "memcached incr: %s", line);
        }
    }
    return 0;
}

const struct bench_driver bench_driver_memcached = {"memcached", sockbuf_driver_connect, sockbuf_driver_close, m_exec};
