/* The load engine. Each thread owns connections t, t+T, t+2T... In a closed loop a thread
 * sends one pipeline of `pipeline` operations on each of its connections in turn and records,
 * for every operation, the time from sending the pipeline to the last reply. In an open loop
 * (one connection per thread) operations are scheduled at fixed intervals; an operation's
 * latency runs from its scheduled start, so when the server stalls, the operations that
 * should have been sent meanwhile all count the stall (no coordinated omission). With one
 * connection the open loop busy-waits for its schedule (give it a CPU of its own). */
#include "run.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

struct worker {
    const struct run_config *cfg;
    int index;
    pthread_t tid;
    struct bench_stats st;
    int connect_failed;
    char err[200];
};

static atomic_int phase;        /* 0 warm-up, 1 measuring, 2 stop */
static atomic_uint_fast64_t progress_ops;

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000ull), .tv_nsec = (long)(t_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void *conn_open(struct worker *wk, const struct run_config *cfg)
{
    void *c = cfg->driver->connect(&cfg->target, wk->err, sizeof(wk->err));
    if (!c)
        bench_error(&wk->st, "connect: %s", wk->err);
    return c;
}

static void *closed_loop(struct worker *wk)
{
    const struct run_config *cfg = wk->cfg;
    int nconn = 0;
    void *conns[1024];
    for (int i = wk->index; i < cfg->connections && nconn < 1024; i += cfg->threads) {
        conns[nconn] = conn_open(wk, cfg);
        if (!conns[nconn]) {
            wk->connect_failed = 1;
            goto out;
        }
        nconn++;
    }
    struct opgen g;
    struct bench_op *ops = calloc((size_t)cfg->pipeline, sizeof(*ops));
    if (!ops || opgen_init(&g, (uint64_t)wk->index + 1, &cfg->w, cfg->pipeline)) {
        free(ops);
        goto out;
    }
    struct bench_stats scratch; /* warm-up counts go here */
    memset(&scratch, 0, sizeof(scratch));
    bench_hist_init(&scratch.lat);
    while (atomic_load_explicit(&phase, memory_order_relaxed) < 2) {
        for (int c = 0; c < nconn; c++) {
            bool measuring = atomic_load_explicit(&phase, memory_order_relaxed) == 1;
            struct bench_stats *st = measuring ? &wk->st : &scratch;
            opgen_fill(&g, &cfg->w, ops, cfg->pipeline);
            uint64_t misses = st->misses;
            uint64_t t0 = bench_now_ns();
            int rc = cfg->driver->exec(conns[c], &cfg->w, ops, cfg->pipeline, st);
            uint64_t dt = bench_now_ns() - t0;
            if (rc == 0 && cfg->fill_misses && ops[0].kind == OP_GET && st->misses > misses) {
                /* what an application does after a miss: fetch the value, store it */
                struct bench_op fill = {.kind = OP_SET, .nkeys = 1, .keys = ops[0].keys};
                rc = cfg->driver->exec(conns[c], &cfg->w, &fill, 1, st);
            }
            if (rc != 0) {
                bench_error(st, "connection failed; reconnecting");
                cfg->driver->close(conns[c]);
                st->reconnects++;
                conns[c] = NULL;
                while (!conns[c] && atomic_load(&phase) < 2) {
                    conns[c] = cfg->driver->connect(&cfg->target, wk->err, sizeof(wk->err));
                    if (!conns[c])
                        usleep(10000);
                }
                if (!conns[c])
                    goto done; /* stopping; `out` closes the others */
                continue;
            }
            for (int i = 0; i < cfg->pipeline; i++) {
                bench_hist_record(&st->lat, dt);
                st->by_kind[ops[i].kind]++;
            }
            st->ops += (uint64_t)cfg->pipeline;
            if (measuring)
                atomic_fetch_add_explicit(&progress_ops, (uint64_t)cfg->pipeline, memory_order_relaxed);
        }
    }
done:
    opgen_free(&g);
    free(ops);
    if (scratch.errors && !wk->st.first_error[0])
        memcpy(wk->st.first_error, scratch.first_error, sizeof(scratch.first_error));
    wk->st.errors += scratch.errors;
    wk->st.mismatches += scratch.mismatches;
out:
    for (int c = 0; c < nconn; c++)
        if (conns[c])
            cfg->driver->close(conns[c]);
    return NULL;
}

static void *open_loop(struct worker *wk)
{
    const struct run_config *cfg = wk->cfg;
    void *conn = conn_open(wk, cfg);
    if (!conn) {
        wk->connect_failed = 1;
        return NULL;
    }
    struct opgen g;
    struct bench_op op;
    if (opgen_init(&g, (uint64_t)wk->index + 1, &cfg->w, 1)) {
        cfg->driver->close(conn);
        return NULL;
    }
    struct bench_stats scratch;
    memset(&scratch, 0, sizeof(scratch));
    bench_hist_init(&scratch.lat);
    double per_conn = cfg->rate / cfg->connections;
    uint64_t interval = (uint64_t)(1e9 / per_conn);
    /* stagger the connections' schedules across one interval */
    uint64_t next = bench_now_ns() + interval * (uint64_t)wk->index / (uint64_t)cfg->connections;
    while (atomic_load_explicit(&phase, memory_order_relaxed) < 2) {
        uint64_t now = bench_now_ns();
        if (now < next && cfg->connections == 1) {
            /* one load thread: busy-wait on the schedule, so its CPU never goes idle and the
             * latency is not the load generator's own wake-up from a sleep (~60 us here) */
            while (bench_now_ns() < next)
                ;
        } else if (now < next) {
            sleep_until(next);
        }
        bool measuring = atomic_load_explicit(&phase, memory_order_relaxed) == 1;
        struct bench_stats *st = measuring ? &wk->st : &scratch;
        opgen_fill(&g, &cfg->w, &op, 1);
        int rc = cfg->driver->exec(conn, &cfg->w, &op, 1, st);
        uint64_t done = bench_now_ns();
        if (rc != 0) {
            bench_error(st, "connection failed; reconnecting");
            cfg->driver->close(conn);
            conn = NULL;
            while (!conn && atomic_load(&phase) < 2) {
                conn = cfg->driver->connect(&cfg->target, wk->err, sizeof(wk->err));
                if (!conn)
                    usleep(10000);
            }
            if (!conn)
                break;
        } else {
            bench_hist_record(&st->lat, done - next); /* from the intended start */
            st->by_kind[op.kind]++;
            st->ops++;
            if (measuring)
                atomic_fetch_add_explicit(&progress_ops, 1, memory_order_relaxed);
        }
        next += interval;
    }
    opgen_free(&g);
    wk->st.errors += scratch.errors;
    wk->st.mismatches += scratch.mismatches;
    if (conn)
        cfg->driver->close(conn);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    bench_pin(wk->cfg->cpu);
    prctl(PR_SET_TIMERSLACK, 1UL); /* precise sleeps for the open-loop schedule */
    return wk->cfg->rate > 0 ? open_loop(wk) : closed_loop(wk);
}

int run_populate(const struct run_config *cfg)
{
    char err[200];
    void *c = cfg->driver->connect(&cfg->target, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "cache-bench: populate: connect: %s\n", err);
        return -1;
    }
    enum { BATCH = 64 };
    struct bench_op ops[BATCH];
    uint32_t ids[BATCH];
    struct bench_stats st;
    memset(&st, 0, sizeof(st));
    int rc = 0;
    uint64_t t0 = bench_now_ns();
    for (uint32_t k = 0; k < cfg->w.keys && rc == 0; k += BATCH) {
        if (cfg->populate_rate > 0) { /* paced: batch k starts at k / rate seconds */
            uint64_t at = t0 + (uint64_t)((double)k * 1e9 / cfg->populate_rate);
            uint64_t now = bench_now_ns();
            if (at > now)
                usleep((useconds_t)((at - now) / 1000));
        }
        int n = 0;
        for (; n < BATCH && k + (uint32_t)n < cfg->w.keys; n++) {
            ids[n] = k + (uint32_t)n;
            ops[n] = (struct bench_op){.kind = OP_SET, .nkeys = 1, .keys = &ids[n]};
        }
        rc = cfg->driver->exec(c, &cfg->w, ops, n, &st);
    }
    cfg->driver->close(c);
    if (rc != 0 || st.errors) {
        fprintf(stderr, "cache-bench: populate failed: %s\n",
                st.first_error[0] ? st.first_error : "connection lost");
        return -1;
    }
    return 0;
}

int run_load(const struct run_config *cfg, struct run_result *res)
{
    int nthreads = cfg->rate > 0 ? cfg->connections : cfg->threads;
    struct worker *wks = calloc((size_t)nthreads, sizeof(*wks));
    if (!wks)
        return -1;
    atomic_store(&phase, cfg->warmup_s > 0 ? 0 : 1);
    atomic_store(&progress_ops, 0);
    for (int i = 0; i < nthreads; i++) {
        wks[i].cfg = cfg;
        wks[i].index = i;
        bench_hist_init(&wks[i].st.lat);
        pthread_create(&wks[i].tid, NULL, worker_main, &wks[i]);
    }
    if (cfg->warmup_s > 0) {
        usleep((useconds_t)(cfg->warmup_s * 1e6));
        atomic_store(&phase, 1);
    }
    uint64_t t0 = bench_now_ns(), end = t0 + (uint64_t)(cfg->duration_s * 1e9);
    uint64_t last_ops = 0;
    int sec = 0;
    for (uint64_t now = t0; now < end; now = bench_now_ns()) {
        uint64_t step = end - now < 1000000000ull ? end - now : 1000000000ull;
        sleep_until(now + step);
        if (cfg->progress) {
            uint64_t ops = atomic_load(&progress_ops);
            fprintf(stderr, "\r[%3ds/%3.0fs] %10.0f ops/s   ", ++sec, cfg->duration_s,
                    (double)(ops - last_ops) / ((double)step / 1e9));
            last_ops = ops;
        }
    }
    atomic_store(&phase, 2);
    double elapsed = (double)(bench_now_ns() - t0) / 1e9;
    if (cfg->progress)
        fprintf(stderr, "\r%60s\r", "");
    memset(&res->st, 0, sizeof(res->st));
    bench_hist_init(&res->st.lat);
    int failed = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(wks[i].tid, NULL);
        struct bench_stats *s = &wks[i].st;
        res->st.ops += s->ops;
        res->st.hits += s->hits;
        res->st.region_hits += s->region_hits;
        res->st.misses += s->misses;
        res->st.errors += s->errors;
        res->st.mismatches += s->mismatches;
        res->st.reconnects += s->reconnects;
        for (int k = 0; k < OP__COUNT; k++)
            res->st.by_kind[k] += s->by_kind[k];
        bench_hist_merge(&res->st.lat, &s->lat);
        if (!res->st.first_error[0] && s->first_error[0])
            memcpy(res->st.first_error, s->first_error, sizeof(s->first_error));
        failed |= wks[i].connect_failed;
    }
    free(wks);
    res->elapsed_s = elapsed;
    res->ops_per_s = (double)res->st.ops / elapsed;
    return failed && res->st.ops == 0 ? -1 : 0;
}
