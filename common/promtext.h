/* The STATS map in the Prometheus text exposition format (version 0.0.4), written the same way
 * by `cache-cli stats --prometheus` and by the server's metrics-listen endpoint:
 *   - every metric is cacheserverd_<name>, with # HELP and # TYPE lines;
 *   - counters end in _total; times are in seconds (the map's _us, _ms and _s are converted),
 *     sizes in bytes (bytes_used is cacheserverd_used_bytes, memory_limit
 *     cacheserverd_memory_limit_bytes), hit_rate is a *_hit_ratio gauge;
 *   - op.<op>.* and disk_read.<tier>.* are summaries (cacheserverd_op_duration_seconds{op,
 *     quantile} with _sum and _count; cacheserverd_disk_read_duration_seconds{tier, quantile})
 *     plus a *_max_duration_seconds gauge; ns.<namespace>.* carry a namespace label and
 *     repl.<peer>.* a peer label.
 * Types and help come from common/promstats.h (generated from the server's stat tables);
 * an entry it does not know is written as untyped, under its own name. String values are
 * skipped. */
#ifndef COMMON_PROMTEXT_H
#define COMMON_PROMTEXT_H

#include <msgpack.h>
#include <stdio.h>

/* Writes `map` (a msgpack map of str names to numbers, as STATS answers) to out. 0, or -1
 * when map is not a map or out failed. */
int prom_write_stats(FILE *out, const msgpack_object *map);

#endif
