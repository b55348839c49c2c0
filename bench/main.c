/* cache-bench: load generator for cacheserverd, Redis and memcached (docs/performance.md).
 *   cache-bench [OPTIONS]                 run one load and print its results
 *   cache-bench floor [OPTIONS]           16-byte ping-pong between two processes
 *   cache-bench plot OUT.svg FILE.json... latency-percentile curves of several runs
 * Exit status: 0 ok, 1 when any reply was an error or a value did not match, 2 bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floor.h"
#include "report.h"
#include "run.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: cache-bench [OPTIONS]\n"
        "       cache-bench floor [--duration S] [--cpu-client N] [--cpu-server N] [--rate R] [--label L] [--json]\n"
        "       cache-bench plot OUT.svg RESULTS.json...\n"
        "\n"
        "Target:\n"
        "  --driver NAME        native (libcacheclient), redis (RESP) or memcached (ASCII); default native\n"
        "  --socket PATH        Unix socket of the server\n"
        "  --host H --port P    TCP instead (redis, memcached)\n"
        "Load:\n"
        "  --connections N      connections (default 1)\n"
        "  --threads N          threads the connections are spread over (default: one per connection)\n"
        "  --pipeline D         requests in flight per connection (default 1)\n"
        "  --keys N             key space (default 10000)\n"
        "  --value-size N|A..B  value size in bytes, fixed or a range (default 32; at least 16)\n"
        "  --dist D             uniform or zipf:S (default uniform)\n"
        "  --mix SPEC           weights, e.g. get=90,set=10,del=0,incr=0 (default get=90,set=10)\n"
        "  --mget N             keys per get (a multi-get when N > 1; default 1)\n"
        "  --prefix P           prepend P (up to 8 characters) to every key\n"
        "  --ttl S              ttl of written values in seconds (default 0: none)\n"
        "  --populate           write every key before the run\n"
        "  --populate-rate OPS  write them at this many SETs per second (default: at once)\n"
        "  --values KIND        letters (default; compress well) or random (bytes that do\n"
        "                       not compress)\n"
        "  --shm-reads on|off   native driver: read hot keys from the server's shared-memory\n"
        "                       region (default on, as libcacheclient; docs/shm-reads.md);\n"
        "                       region hits are counted apart (\"region\" column, JSON\n"
        "                       region_hits; pipelines never read the region)\n"
        "  --fill-misses        cache-aside: each GET that misses is followed by a SET of its\n"
        "                       key (not counted as an operation; closed loop, pipeline 1)\n"
        "  --duration S         measured seconds (default 5)\n"
        "  --warmup S           unmeasured seconds first (default 0.5)\n"
        "  --rate OPS           open loop: this many operations per second in total, each\n"
        "                       connection on a fixed schedule; latency from the intended start\n"
        "  --cpu N              pin the load threads to CPU N\n"
        "Output:\n"
        "  --label NAME         name of the run in tables and plots\n"
        "  --json               one JSON object on stdout instead of the table\n"
        "  --progress           a progress line on stderr (default: when stderr is a terminal\n"
        "                       and the run is longer than 3 s)\n"
        "Every value read is checked against what was written for its key; errors and\n"
        "mismatches are counted and make the exit status 1.\n");
}

static int parse_range(const char *s, uint32_t *lo, uint32_t *hi)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10), b = a;
    if (end == s)
        return -1;
    if (strncmp(end, "..", 2) == 0) {
        const char *t = end + 2;
        b = strtoul(t, &end, 10);
        if (end == t)
            return -1;
    }
    if (*end || a < BENCH_VALUE_MIN || b < a || b > (64ul << 20))
        return -1;
    *lo = (uint32_t)a;
    *hi = (uint32_t)b;
    return 0;
}

static int cmd_floor(int argc, char **argv)
{
    static const struct option lo[] = {{"duration", 1, NULL, 'd'}, {"cpu-client", 1, NULL, 'c'},
                                       {"cpu-server", 1, NULL, 's'}, {"label", 1, NULL, 'l'},
                                       {"json", 0, NULL, 'j'}, {"rate", 1, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
    double dur = 3, rate = 0;
    int cc = -1, cs = -1, json = 0, o;
    const char *label = "floor";
    optind = 1;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'd': dur = atof(optarg); break;
        case 'c': cc = atoi(optarg); break;
        case 's': cs = atoi(optarg); break;
        case 'l': label = optarg; break;
        case 'j': json = 1; break;
        case 'r': rate = atof(optarg); break;
        default: usage(stderr); return 2;
        }
    }
    if (dur <= 0 || rate < 0) {
        fprintf(stderr, "cache-bench floor: --duration must be > 0\n");
        return 2;
    }
    struct run_result r;
    int rc = floor_run(dur, cc, cs, rate, &r);
    char target[64];
    snprintf(target, sizeof(target), "socketpair cpu %d<->%d", cc, cs);
    struct run_meta m = {.label = label, .mode = rate > 0 ? "floor-open" : "floor", .driver = "floor", .target = target};
    if (json) {
        report_json(stdout, &m, &r);
    } else {
        report_table_header(stdout);
        report_table_row(stdout, &m, &r);
    }
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "floor") == 0)
        return cmd_floor(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "plot") == 0) {
        if (argc < 4) {
            usage(stderr);
            return 2;
        }
        return report_plot(argv[2], argc - 3, argv + 3) ? 1 : 0;
    }
    enum { O_DRIVER = 256, O_SOCKET, O_HOST, O_PORT, O_CONNS, O_THREADS, O_PIPE, O_KEYS, O_VSIZE,
           O_DIST, O_MIX, O_MGET, O_TTL, O_POP, O_DUR, O_WARM, O_RATE, O_CPU, O_LABEL, O_JSON,
           O_PROGRESS, O_HELP, O_PREFIX, O_FILL, O_POPRATE, O_VALUES, O_SHM };
    static const struct option lo[] = {
        {"driver", 1, NULL, O_DRIVER}, {"socket", 1, NULL, O_SOCKET}, {"host", 1, NULL, O_HOST},
        {"port", 1, NULL, O_PORT}, {"connections", 1, NULL, O_CONNS}, {"threads", 1, NULL, O_THREADS},
        {"pipeline", 1, NULL, O_PIPE}, {"keys", 1, NULL, O_KEYS}, {"value-size", 1, NULL, O_VSIZE},
        {"dist", 1, NULL, O_DIST}, {"mix", 1, NULL, O_MIX}, {"mget", 1, NULL, O_MGET},
        {"ttl", 1, NULL, O_TTL}, {"populate", 0, NULL, O_POP}, {"duration", 1, NULL, O_DUR},
        {"warmup", 1, NULL, O_WARM}, {"rate", 1, NULL, O_RATE}, {"cpu", 1, NULL, O_CPU},
        {"label", 1, NULL, O_LABEL}, {"json", 0, NULL, O_JSON}, {"progress", 0, NULL, O_PROGRESS},
        {"help", 0, NULL, O_HELP}, {"prefix", 1, NULL, O_PREFIX}, {"fill-misses", 0, NULL, O_FILL},
        {"populate-rate", 1, NULL, O_POPRATE}, {"values", 1, NULL, O_VALUES},
        {"shm-reads", 1, NULL, O_SHM}, {NULL, 0, NULL, 0}};
    struct run_config cfg = {.driver = &bench_driver_native, .connections = 1, .pipeline = 1,
                             .duration_s = 5, .warmup_s = 0.5, .cpu = -1,
                             .w = {.keys = 10000, .vmin = 32, .vmax = 32, .mget = 1}};
    const char *dist = "uniform", *mix = "get=90,set=10", *label = NULL;
    int json = 0, progress = -1, o;
    char err[200];
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case O_DRIVER:
            if (!(cfg.driver = bench_driver_find(optarg))) {
                fprintf(stderr, "cache-bench: unknown driver '%s' (%s)\n", optarg, bench_driver_names());
                return 2;
            }
            break;
        case O_SOCKET: cfg.target.socket_path = optarg; break;
        case O_HOST: cfg.target.host = optarg; break;
        case O_PORT: cfg.target.port = atoi(optarg); break;
        case O_CONNS: cfg.connections = atoi(optarg); break;
        case O_THREADS: cfg.threads = atoi(optarg); break;
        case O_PIPE: cfg.pipeline = atoi(optarg); break;
        case O_KEYS: cfg.w.keys = (uint32_t)strtoul(optarg, NULL, 10); break;
        case O_VSIZE:
            if (parse_range(optarg, &cfg.w.vmin, &cfg.w.vmax)) {
                fprintf(stderr, "cache-bench: --value-size is N or MIN..MAX, 16..64MiB\n");
                return 2;
            }
            break;
        case O_DIST: dist = optarg; break;
        case O_MIX: mix = optarg; break;
        case O_MGET: cfg.w.mget = (uint32_t)strtoul(optarg, NULL, 10); break;
        case O_TTL: cfg.w.ttl_s = (uint32_t)strtoul(optarg, NULL, 10); break;
        case O_POP: cfg.populate = true; break;
        case O_FILL: cfg.fill_misses = true; break;
        case O_POPRATE: cfg.populate_rate = atof(optarg); break;
        case O_VALUES:
            if (strcmp(optarg, "letters") != 0 && strcmp(optarg, "random") != 0) {
                fprintf(stderr, "cache-bench: --values is letters or random\n");
                return 2;
            }
            cfg.w.random_values = strcmp(optarg, "random") == 0;
            break;
        case O_SHM:
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
                fprintf(stderr, "cache-bench: --shm-reads is on or off\n");
                return 2;
            }
            cfg.target.shm_off = strcmp(optarg, "off") == 0;
            break;
        case O_DUR: cfg.duration_s = atof(optarg); break;
        case O_WARM: cfg.warmup_s = atof(optarg); break;
        case O_RATE: cfg.rate = atof(optarg); break;
        case O_CPU: cfg.cpu = atoi(optarg); break;
        case O_LABEL: label = optarg; break;
        case O_JSON: json = 1; break;
        case O_PROGRESS: progress = 1; break;
        case O_PREFIX:
            if (strlen(optarg) >= sizeof(cfg.w.prefix) || strpbrk(optarg, " \t\r\n")) {
                fprintf(stderr, "cache-bench: --prefix is at most 8 characters, no spaces\n");
                return 2;
            }
            strcpy(cfg.w.prefix, optarg);
            break;
        case O_HELP: case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cache-bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!cfg.target.socket_path && !cfg.target.port) {
        fprintf(stderr, "cache-bench: say where the server is: --socket PATH or --host H --port P\n");
        return 2;
    }
    if (cfg.threads <= 0 || cfg.threads > cfg.connections)
        cfg.threads = cfg.connections;
    if (cfg.connections < 1 || cfg.connections > 1024 || cfg.pipeline < 1 ||
        cfg.pipeline > BENCH_MAX_PIPELINE || cfg.w.keys < 1 || cfg.w.keys > BENCH_MAX_KEYS || cfg.w.mget < 1 ||
        cfg.w.mget > BENCH_MAX_MGET || cfg.duration_s <= 0 || cfg.warmup_s < 0 || cfg.rate < 0 ||
        cfg.populate_rate < 0) {
        fprintf(stderr, "cache-bench: limits: connections 1..1024, pipeline 1..%d, keys 1..%u, "
                        "mget 1..%d, duration > 0\n", BENCH_MAX_PIPELINE, BENCH_MAX_KEYS, BENCH_MAX_MGET);
        return 2;
    }
    if (cfg.fill_misses && (cfg.rate > 0 || cfg.pipeline != 1 || cfg.w.mget != 1)) {
        fprintf(stderr, "cache-bench: --fill-misses needs the closed loop, pipeline 1, mget 1\n");
        return 2;
    }
    if (cfg.rate > 0 && cfg.pipeline != 1) {
        fprintf(stderr, "cache-bench: the open loop (--rate) sends one request at a time per connection\n");
        return 2;
    }
    if (strcmp(dist, "uniform") == 0) {
        cfg.w.zipf_s = 0;
    } else if (strncmp(dist, "zipf:", 5) == 0 && atof(dist + 5) > 0) {
        cfg.w.zipf_s = atof(dist + 5);
    } else {
        fprintf(stderr, "cache-bench: --dist is uniform or zipf:S with S > 0\n");
        return 2;
    }
    if (workload_parse_mix(&cfg.w, mix, err, sizeof(err))) {
        fprintf(stderr, "cache-bench: %s\n", err);
        return 2;
    }
    if (workload_prepare(&cfg.w)) {
        fprintf(stderr, "cache-bench: out of memory\n");
        return 2;
    }
    cfg.progress = progress == 1 || (progress < 0 && isatty(2) && cfg.duration_s > 3);
    if (cfg.populate && run_populate(&cfg)) {
        workload_free(&cfg.w);
        return 1;
    }
    struct run_result r;
    if (run_load(&cfg, &r)) {
        fprintf(stderr, "cache-bench: no connection could be made: %s\n", r.st.first_error);
        workload_free(&cfg.w);
        return 1;
    }
    char target[300], autolabel[128];
    if (cfg.target.socket_path)
        snprintf(target, sizeof(target), "unix:%s", cfg.target.socket_path);
    else
        snprintf(target, sizeof(target), "tcp:%s:%d", cfg.target.host ? cfg.target.host : "127.0.0.1", cfg.target.port);
    snprintf(autolabel, sizeof(autolabel), "%s c%d p%d%s", cfg.driver->name, cfg.connections,
             cfg.pipeline, cfg.rate > 0 ? " open" : "");
    struct run_meta m = {.label = label ? label : autolabel, .mode = cfg.rate > 0 ? "open" : "closed",
                         .driver = cfg.driver->name, .target = target, .cfg = &cfg, .dist = dist,
                         .mix = mix};
    if (json) {
        report_json(stdout, &m, &r);
    } else {
        report_table_header(stdout);
        report_table_row(stdout, &m, &r);
    }
    if (r.st.errors || r.st.mismatches)
        fprintf(stderr, "cache-bench: %llu errors, %llu mismatches; first: %s\n",
                (unsigned long long)r.st.errors, (unsigned long long)r.st.mismatches,
                r.st.first_error);
    workload_free(&cfg.w);
    return r.st.errors || r.st.mismatches ? 1 : 0;
}
