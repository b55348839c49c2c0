/* cache-bench: shared definitions. A run = a workload (keys, values, mix, distribution)
 * driven through one driver (native, redis, memcached) by N connections, closed loop (each
 * connection keeps `pipeline` requests in flight) or open loop (a fixed arrival schedule;
 * latency counted from each operation's intended start, so stalls are not hidden). */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define BENCH_MAX_MGET 1000
#define BENCH_MAX_PIPELINE 1024
#define BENCH_KEY_MAX 32        /* longest key name, with its NUL */
#define BENCH_MAX_KEYS 10000000u /* key names are made up front: 10M is 240 MB of names */
#define BENCH_VALUE_MIN 16 /* values carry a 16-byte self-describing header */

enum bench_op_kind { OP_GET, OP_SET, OP_DEL, OP_INCR, OP_MGET, OP__COUNT };

struct bench_target {
    const char *socket_path; /* Unix socket, or NULL for TCP */
    const char *host;
    int port;
    bool shm_off; /* native: cc_options.shm_reads = 0 (--shm-reads off) */
};

struct workload {
    uint32_t keys;
    uint32_t vmin, vmax;    /* value size range (bytes) */
    double zipf_s;          /* 0 = uniform */
    double *zipf_cdf;       /* keys entries when zipf_s > 0 */
    unsigned mix[OP__COUNT]; /* weights of get/set/del/incr (mget replaces get when mget > 1) */
    unsigned mix_total;
    uint32_t mget;          /* keys per multi-get; 1 = plain GET */
    uint32_t ttl_s;
    bool random_values;     /* values of random bytes (do not compress) instead of letters */
    char prefix[9];         /* prepended to every key, so runs with other value sizes do not meet */
};

/* One operation of a pipeline. */
struct bench_op {
    enum bench_op_kind kind;
    uint32_t nkeys;
    uint32_t *keys; /* nkeys key ids (1 except for MGET) */
};

/* Counters of one thread; merged at the end. */
struct bench_stats {
    uint64_t ops, hits, misses, errors, mismatches, reconnects;
    uint64_t region_hits; /* of hits: read from the shared-memory region (native driver) */
    uint64_t by_kind[OP__COUNT];
    struct hist lat;
    char first_error[200];
};

/* A driver: one file each, listed in the table in drivers.c. exec queues n operations,
 * sends them in one write (a pipeline), collects the n replies in order, verifies every
 * value read (workload_count_value) and counts into st. Returns 0, or -1 when the connection
 * failed (the caller closes it and reconnects). A connection is used by one thread. */
struct bench_driver {
    const char *name;
    void *(*connect)(const struct bench_target *t, char *err, size_t errlen);
    void (*close)(void *conn);
    int (*exec)(void *conn, const struct workload *w, const struct bench_op *ops, int n,
                struct bench_stats *st);
};

/* ---- drivers.c ---- */
const struct bench_driver *bench_driver_find(const char *name);
/* "native, redis, memcached": for messages. */
const char *bench_driver_names(void);
extern const struct bench_driver bench_driver_native, bench_driver_redis, bench_driver_memcached;

/* ---- workload.c ---- */
int workload_parse_mix(struct workload *w, const char *spec, char *err, size_t errlen);
/* Builds the key names, the value pattern and the zipf table. 0, or -1 when out of memory. */
int workload_prepare(struct workload *w);
void workload_free(struct workload *w);
/* The name of key id (*len bytes and a NUL), made by workload_prepare and valid until
 * workload_free. INCR uses its own keys ("ctr:"), so a
 * counter never meets a value that GET checks. */
const char *workload_key(const struct workload *w, uint32_t id, enum bench_op_kind kind, size_t *len);
/* The value of key id: deterministic length and bytes, so any reply can be checked. */
uint32_t workload_value_len(const struct workload *w, uint32_t id);
void workload_value(const struct workload *w, uint32_t id, uint8_t *buf, uint32_t len);
/* 1 if data is exactly the value of key id. */
int workload_check(const struct workload *w, uint32_t id, const void *data, size_t len);
/* Counts a value read for key id as a hit or a mismatch. */
void workload_count_value(const struct workload *w, uint32_t id, const void *data, size_t len,
                          struct bench_stats *st);
void bench_error(struct bench_stats *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A per-thread generator of operations. */
struct opgen {
    uint64_t rng;
    uint32_t *keybuf; /* pipeline * max(mget, 1) ids */
};
int opgen_init(struct opgen *g, uint64_t seed, const struct workload *w, int pipeline);
void opgen_free(struct opgen *g);
uint32_t opgen_key(struct opgen *g, const struct workload *w);
/* Fill n operations; MGET key lists are drawn into g->keybuf. */
void opgen_fill(struct opgen *g, const struct workload *w, struct bench_op *ops, int n);

uint64_t bench_now_ns(void);
/* Pin the calling thread (or process) to one CPU; cpu < 0 leaves it alone. */
void bench_pin(int cpu);

#endif
