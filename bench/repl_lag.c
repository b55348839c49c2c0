/* cache-repl-lag: replication lag between two nodes, measured per write. A writer SETs
 * "lag:<i>" on the first node at a fixed rate (open loop), the value being the time it was
 * sent (a prefix unique to the run keeps an earlier run's keys out); a reader GETs each key in turn on the second node until it appears, and records
 * the time from the write's send to the read that found it (so the figure includes the
 * write's own round trip and up to one read round trip and a 50 us pause of polling).
 *   cache-repl-lag --from SOCK --to SOCK [--rate N] [--duration S] [--cpu-writer N]
 *                  [--cpu-reader N] [--sample N] [--json]
 * --sample N: the reader follows every N-th write only (one GET round trip per write read
 * limits how many it can follow; the writer still writes them all).
 * Prints count, lost (not seen within 5 s) and p50/p99/p99.9/max in µs. Exit 1 when a
 * write failed or a key was lost. bench/repl runs it. */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"
#include "histogram.h"

#define LOST_AFTER_NS 5000000000ull

static const char *from, *to;
static double rate = 1000, duration = 10;
static int cpu_writer = -1, cpu_reader = -1;
static unsigned sample = 1; /* the reader follows every sample-th write */
static atomic_ullong written;  /* keys written so far */
static char prefix[48];        /* unique per run: keys of an earlier run are not this one's */
static atomic_int writer_done;
static atomic_int write_errors;

static uint64_t _now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void _pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static cc_client *_client(const char *sock)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = sock;
    cc_client *c = cc_client_create(&o);
    if (!c || cc_connect(c) != CC_OK) {
        fprintf(stderr, "cache-repl-lag: cannot connect to %s\n", sock);
        exit(2);
    }
    return c;
}

static void *_writer(void *arg)
{
    (void)arg;
    _pin(cpu_writer);
    cc_client *c = _client(from);
    uint64_t start = _now_ns(), n = (uint64_t)(rate * duration);
    char key[80];
    for (uint64_t i = 0; i < n; i++) {
        uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
        uint64_t now;
        while ((now = _now_ns()) < due) {
            uint64_t d = due - now;
            if (d > 50000) {
                struct timespec ts = {0, (long)(d - 20000)};
                nanosleep(&ts, NULL);
            }
        }
        snprintf(key, sizeof(key), "%s%llu", prefix, (unsigned long long)i);
        cc_value v = cc_value_int((int64_t)_now_ns());
        if (cc_set(c, key, strlen(key), &v, 60000, 0, 0, NULL) != CC_OK)
            atomic_fetch_add(&write_errors, 1);
        atomic_store(&written, i + 1);
    }
    atomic_store(&writer_done, 1);
    cc_client_destroy(&c);
    return NULL;
}

int main(int argc, char **argv)
{
    bool json = false;
    static const struct option lo[] = {
        {"from", 1, 0, 'f'},       {"to", 1, 0, 't'},         {"rate", 1, 0, 'r'},
        {"duration", 1, 0, 'd'},   {"cpu-writer", 1, 0, 'w'}, {"cpu-reader", 1, 0, 'R'},
        {"json", 0, 0, 'j'},       {"sample", 1, 0, 's'},     {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': cpu_writer = atoi(optarg); break;
        case 'R': cpu_reader = atoi(optarg); break;
        case 'j': json = true; break;
        case 's': sample = (unsigned)atoi(optarg); break;
        default:
            fprintf(stderr, "usage: cache-repl-lag --from SOCK --to SOCK [--rate N] "
                            "[--duration S] [--cpu-writer N] [--cpu-reader N] [--sample N] "
                            "[--json]\n");
            return 2;
        }
    }
    if (!from || !to || rate <= 0 || duration <= 0 || sample == 0) {
        fprintf(stderr, "cache-repl-lag: --from and --to are needed\n");
        return 2;
    }
    snprintf(prefix, sizeof(prefix), "lag:%d:%llu:", (int)getpid(),
             (unsigned long long)(_now_ns() / 1000));
    _pin(cpu_reader);
    cc_client *c = _client(to);
    static struct histogram h;
    hist_init(&h, HIST_MAX_SUB_BITS);
    pthread_t t;
    pthread_create(&t, NULL, _writer, NULL);
    uint64_t lost = 0;
    char key[80];
    for (uint64_t j = 0;; j += sample) {
        while (atomic_load(&written) <= j) {
            if (atomic_load(&writer_done))
                goto done;
            usleep(20);
        }
        snprintf(key, sizeof(key), "%s%llu", prefix, (unsigned long long)j);
        uint64_t first_miss = 0;
        for (;;) {
            cc_item it = {0};
            int rc = cc_get(c, key, strlen(key), &it);
            uint64_t now = _now_ns();
            if (rc == CC_OK && it.value.type == CC_TYPE_INT) {
                hist_record(&h, (now - (uint64_t)it.value.i) / 1000);
                cc_item_release(&it);
                break;
            }
            cc_item_release(&it);
            /* the write's send time is not known before it arrives: give up 5 s after
             * the first read that missed it */
            if (!first_miss)
                first_miss = now;
            if (now - first_miss > LOST_AFTER_NS) {
                lost++;
                break;
            }
            if (rc == CC_OK || rc == CC_NOT_FOUND) {
                usleep(50); /* poll, but do not flood the node being measured */
                continue;
            }
            fprintf(stderr, "cache-repl-lag: GET on %s: %s\n", to, cc_strstatus(rc));
            return 2;
        }
    }
done:
    pthread_join(t, NULL);
    cc_client_destroy(&c);
    /* the same figures, as JSON or as a line */
    const char *fmt = json ? "{\"rate\": %.0f, \"count\": %llu, \"lost\": %llu, "
                             "\"write_errors\": %d, \"p50_us\": %llu, \"p99_us\": %llu, "
                             "\"p999_us\": %llu, \"max_us\": %llu}\n"
                           : "rate %.0f/s: %llu writes seen, %llu lost, %d write errors; lag "
                             "p50 %llu us, p99 %llu us, p99.9 %llu us, max %llu us\n";
    printf(fmt, rate, (unsigned long long)h.count, (unsigned long long)lost,
           atomic_load(&write_errors), (unsigned long long)hist_percentile(&h, 50),
           (unsigned long long)hist_percentile(&h, 99),
           (unsigned long long)hist_percentile(&h, 99.9), (unsigned long long)h.max);
    return lost || atomic_load(&write_errors) ? 1 : 0;
}
