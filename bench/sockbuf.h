/* A blocking stream socket with buffered reads and one write buffer per pipeline, for the
 * text-protocol drivers (RESP, memcached ASCII). */
#ifndef BENCH_SOCKBUF_H
#define BENCH_SOCKBUF_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

struct sockbuf {
    int fd;
    char *r;
    size_t rlen, roff, rcap;
    char *w;
    size_t wlen, wcap;
    int failed;   /* an append ran out of memory: the next flush fails */
    uint8_t *val; /* scratch for the value a SET sends */
    size_t valcap;
};

/* Connect (Unix socket or TCP, 5 s timeouts). NULL with a message in err. */
struct sockbuf *sockbuf_connect(const struct bench_target *t, char *err, size_t errlen);
void sockbuf_close(struct sockbuf *s);
int sockbuf_append(struct sockbuf *s, const void *data, size_t len);
/* Append v in decimal. */
int sockbuf_append_u64(struct sockbuf *s, uint64_t v);
/* The driver vtable's connect and close for text-protocol drivers (the connection is the
 * sockbuf itself). */
void *sockbuf_driver_connect(const struct bench_target *t, char *err, size_t errlen);
void sockbuf_driver_close(void *conn);
/* The value of key id in the scratch buffer (*len bytes); NULL when out of memory. */
const uint8_t *sockbuf_value(struct sockbuf *s, const struct workload *w, uint32_t id, uint32_t *len);
/* Encode n operations with the driver's encoder into the write buffer and send them in one
 * write (a pipeline). 0 or -1. */
typedef int (*sockbuf_encoder)(struct sockbuf *s, const struct workload *w, const struct bench_op *op);
int sockbuf_send_ops(struct sockbuf *s, const struct workload *w, const struct bench_op *ops,
                     int n, sockbuf_encoder encode);
/* Send the write buffer and empty it. 0, or -1 (also when an append failed). */
int sockbuf_flush(struct sockbuf *s);
/* The next line without its "\r\n" (valid until the next read). NULL on EOF/error. */
char *sockbuf_line(struct sockbuf *s, size_t *len);
/* The next n bytes (valid until the next read). NULL on EOF/error. */
char *sockbuf_bytes(struct sockbuf *s, size_t n);

#endif
