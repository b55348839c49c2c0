/* Running a load: threads, connections, closed and open loop, populate, progress. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include "bench.h"

struct run_config {
    const struct bench_driver *driver;
    struct bench_target target;
    struct workload w;
    int connections;
    int threads;       /* connections are spread over threads; default one per connection */
    int pipeline;
    double duration_s;
    double warmup_s;
    double rate;       /* open loop: total operations per second; 0 = closed loop */
    bool populate;
    double populate_rate; /* SETs per second while populating; 0 = as fast as it goes */
    bool fill_misses;  /* cache-aside: a GET that misses is followed by a SET of its key */
    bool progress;
    int cpu;           /* pin every load thread to this CPU, -1 = not pinned */
};

struct run_result {
    struct bench_stats st;
    double elapsed_s;
    double ops_per_s;
};

/* Write every key once (pipelined). 0, or -1 with a message on stderr. */
int run_populate(const struct run_config *cfg);
/* Run the load; fills res. 0, or -1 when no connection could be made. */
int run_load(const struct run_config *cfg, struct run_result *res);

#endif
