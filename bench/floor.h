#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H
#include "run.h"
/* Ping-pong 16 bytes between two processes for duration_s; pins each side when >= 0.
 * rate > 0: round trips start on a fixed schedule of `rate` per second (open loop). */
int floor_run(double duration_s, int cpu_client, int cpu_server, double rate, struct run_result *res);
#endif
