/* The tier policy's setup (tiering.h): the one struct tiering (options, stats, tiers, queues),
 * opening the disk tiers and starting the writer and reader threads, teardown, and what INFO
 * and STATS ask of it. The queues are in queue.c, the store's hooks in hooks.c, the writer in
 * writer.c, the readers in reader.c, streams in streams.c. */
#include "tiering.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "clock.h"
#include "fsutil.h"
#include "histogram.h"
#include "index.h"
#include "log.h"
#include "store.h"
#include "backend_vlog.h"
#include "tierdb.h"
#include "tiering-internal.h"

static struct option_desc opt_desc[] = OPTION_DESCRIBE(TIERING_OPTIONS);
static struct stat_desc st_desc[] = STAT_DESCRIBE(TIERING_STATS);

/* The one instance: its options are bound at registration, the rest is set up by
 * tiering_setup. Only the public API's entry points reach it (tiering_ctx). */
static struct tiering the_tiering;

struct tiering *tiering_ctx(void) { return &the_tiering; }

const struct histogram *tiering_read_histogram(int i)
{
    struct tiering *ctx = &the_tiering;
    return i >= 0 && i < TIX_TIERS && ctx->tiers[i].name ? &ctx->read_hist[i] : NULL;
}

void tiering_options_register(void)
{
    option_bind(opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]), &the_tiering.opts);
    option_registry_add("tiering", opt_desc, sizeof(opt_desc) / sizeof(opt_desc[0]));
    /* docs/config.md lists the same ranges */
    static const struct option_range ranges[] = {
        {"ssd_size", 1ull << 20, 1ull << 60, false},
        {"hdd_size", 1ull << 20, 1ull << 60, false},
        {"tier_compress_level", 1, 19, false},
        {"tier_compress_threshold", 0, 4ull << 30, false},
        {"tier_queue", 16, 1u << 24, false},
        {"tier_io_threads", 1, 256, false},
        {"tier_write_rate", 1ull << 20, 1ull << 40, true}, /* 0 = no limit */
        {"promote_window_s", 0, 86400, false},              /* 0 = never */
        {"stream_spill_size", 256ull << 10, 1ull << 40, false},
        {"persist_sync_ms", 1, 60000, false},
        {"persist_queue", 16, 1u << 24, false},
        {"vlog_segment_size", 64ull << 10, 1ull << 30, true}, /* 0 = from the tier's size */
    };
    option_registry_ranges("tiering", ranges, sizeof(ranges) / sizeof(ranges[0]));
}

bool tiering_enabled(void) { return atomic_load(&the_tiering.active); }

bool tiering_tier_info(int i, struct tiering_tier_info *out)
{
    if (i < 0 || i >= TIX_TIERS || !the_tiering.tiers[i].name)
        return false;
    struct tier *t = &the_tiering.tiers[i];
    pthread_rwlock_rdlock(&t->lock);
    *out = (struct tiering_tier_info){
        .name = t->name, .path = option_get_s(t->path), .size = option_get_u(t->size),
        .used = tix_live_bytes(i), .disk = t->be ? tbe_bytes(t->be) : 0, .items = tix_live(i),
        .health = !t->be ? "off" : atomic_load(&t->degraded) ? "degraded" : "ok"};
    pthread_rwlock_unlock(&t->lock);
    return true;
}

const char *tiering_tiers(void)
{
    const struct tiering *ctx = &the_tiering;
    if (!ctx->tiers[TIX_SSD].name)
        return "memory";
    if (ctx->tiers[TIX_HDD].name)
        return "memory,ssd,hdd";
    return strcmp(ctx->tiers[TIX_SSD].name, "ssd") == 0 ? "memory,ssd" : "memory,hdd";
}

uint64_t tiering_next_seq(struct tiering *ctx) { return atomic_fetch_add(&ctx->seq, 1) + 1; }

void tiering_restore_progress(struct tiering *ctx, uint64_t indexed, uint64_t loaded, uint64_t ms)
{
    stat_set(&ctx->stats.restore_indexed, indexed);
    stat_set(&ctx->stats.restore_loaded, loaded);
    stat_set(&ctx->stats.restore_ms, ms);
}

const char *tiering_persist_mode(void)
{
    const struct tiering *ctx = &the_tiering;
    return ctx->pmode == PERSIST_SYNC ? "sync" : ctx->pmode == PERSIST_ASYNC ? "async" : "off";
}

/* ---- lifecycle ---- */

/* Open tier t on path; a tier without persistence starts empty. 0 or -1 (logged). */
static int _open_tier(struct tiering *ctx, int t, const char *name, struct option_value *path,
                      struct option_value *size, enum tbe_kind kind)
{
    struct tier *tr = &ctx->tiers[t];
    tr->kind = kind;
    pthread_rwlock_init(&tr->lock, NULL);
    tr->name = name;
    tr->path = path;
    tr->size = size;
    atomic_store(&tr->degraded, false);
    char err[512];
    /* a path whose parents are missing (a fresh machine) is created, as the socket's and
     * data-dir are; one that cannot be is said plainly (it is not a damaged tier) */
    if (util_mkdirs(option_get_s(path), 0750) != 0) {
        log_error("%s tier: cannot create the tier directory %s: %s", name, option_get_s(path),
                  strerror(errno));
        return -1;
    }
    /* a log sizes its segments from what the tier may hold on its file system */
    struct statvfs vfs;
    uint64_t disk = statvfs(option_get_s(path), &vfs) == 0
                        ? (uint64_t)vfs.f_blocks * vfs.f_frsize : 0;
    struct tbe_opts o = {.kind = kind,
                         .path = option_get_s(path),
                         .tier = (uint8_t)t,
                         .size = tiering_size_cap(option_get_u(size), disk),
                         .persist = ctx->pmode != PERSIST_OFF,
                         .segment_size = option_get_u(&ctx->opts.vlog_segment_size),
                         .write_rate_bytes = (int64_t)option_get_u(&ctx->opts.tier_write_rate),
                         .start_empty = option_get_b(&ctx->opts.tier_start_empty),
                         .now_ms = clock_wall_ms,
                         .expired = tiering_stream_head_gone};
    /* a RocksDB tier where a value log was: with persistence its segments hold acknowledged
     * data, moved into RocksDB now ("the way back", migrate_back.c: the live records become
     * key records, then the marker and the segments go; refused without room unless
     * tier_start_empty, which drops the log; segments left without a marker beside RocksDB's
     * key records just go). Without persistence they are of no use and would take the disk. */
    if (kind == TBE_ROCKSDB && ctx->pmode != PERSIST_OFF &&
        tbe_log_way_back(&o, err, sizeof(err)) != 0) {
        log_error("%s tier: %s", name, err);
        return -1;
    }
    if (kind == TBE_ROCKSDB && ctx->pmode == PERSIST_OFF &&
        tbe_log_remove_segments(option_get_s(path), err, sizeof(err)) != 0)
        log_error("%s tier: removing a value log's segments: %s", name, err);
    /* the directory is RocksDB's from now on: a log's marker left would make a later log
     * start take the key records RocksDB writes for a migration's leftovers (migrate.c) */
    if (kind == TBE_ROCKSDB && tbe_log_marker_remove(option_get_s(path), err, sizeof(err)) != 0) {
        log_error("%s tier: %s", name, err);
        return -1;
    }
    tr->be = tbe_open(&o, err, sizeof(err));
    if (!tr->be) {
        log_error("%s tier: %s", name, err);
        return -1;
    }
    /* Without persistence, what a previous run left there may be older than what was
     * written since (it was a cache): start from an empty tier. */
    if (ctx->pmode == PERSIST_OFF && tbe_empty(tr->be, true, err, sizeof(err)) != 0) {
        log_error("%s tier: %s", name, err);
        return -1;
    }
    tr->batch = tbe_batch_new(tr->be);
    if (!tr->batch)
        return -1;
    log_info("%s tier at %s (%s), up to %llu bytes of records", name, option_get_s(path),
             tr->be->ops->name, (unsigned long long)option_get_u(size));
    return 0;
}

int tiering_setup(void)
{
    struct tiering *ctx = &the_tiering;
    const char *spath = option_get_s(&ctx->opts.ssd_path);
    const char *hpath = option_get_s(&ctx->opts.hdd_path);
    bool has_ssd = spath && *spath, has_hdd = hpath && *hpath;
    if (!has_ssd && !has_hdd) {
        if (strcmp(option_get_s(&ctx->opts.persist), "off") != 0) {
            log_error("persist needs a disk tier to write to: set ssd_path (or hdd_path)");
            return -1;
        }
        return 0; /* no tier stats either: STATS lists what exists */
    }
    stats_register(st_desc, STAT_COUNT(st_desc), &ctx->stats);
    uint64_t level = option_get_u(&ctx->opts.tier_compress_level);
    if (level < 1 || level > 19) {
        log_error("tier_compress_level must be 1..19, not %llu", (unsigned long long)level);
        return -1;
    }
    const char *pm = option_get_s(&ctx->opts.persist);
    if (strcmp(pm, "off") == 0)
        ctx->pmode = PERSIST_OFF;
    else if (strcmp(pm, "async") == 0)
        ctx->pmode = PERSIST_ASYNC;
    else if (strcmp(pm, "sync") == 0)
        ctx->pmode = PERSIST_SYNC;
    else {
        log_error("persist must be off, async or sync, not '%s'", pm);
        return -1;
    }
    if (has_ssd && has_hdd && strcmp(spath, hpath) == 0) {
        log_error("ssd_path and hdd_path must be different directories");
        return -1;
    }
    const char *backend = option_get_s(&ctx->opts.ssd_backend);
    enum tbe_kind ssd_kind = TBE_ROCKSDB;
    if (strcmp(backend, "vlog") == 0) {
        ssd_kind = TBE_VLOG;
    } else if (strcmp(backend, "rocksdb") != 0) {
        log_error("ssd_backend must be rocksdb or vlog, not '%s'", backend);
        return -1;
    }
    if (tix_setup() != 0)
        return -1;
    if (has_ssd ? _open_tier(ctx, TIX_SSD, "ssd", &ctx->opts.ssd_path, &ctx->opts.ssd_size,
                             ssd_kind)
                : _open_tier(ctx, TIX_SSD, "hdd", &ctx->opts.hdd_path, &ctx->opts.hdd_size,
                             TBE_ROCKSDB))
        return -1;
    if (has_ssd && has_hdd &&
        _open_tier(ctx, TIX_HDD, "hdd", &ctx->opts.hdd_path, &ctx->opts.hdd_size, TBE_ROCKSDB))
        return -1;
    /* a persisted value log is indexed now, before the server listens: it cannot be searched
     * by key, so no miss may go to it before its index is complete */
    if (ctx->pmode != PERSIST_OFF && tbe_is_log(ctx->tiers[TIX_SSD].be) &&
        vlog_replay(ctx, TIX_SSD) != 0)
        return -1;
    durable_setup();
    if (tiering_admission_setup() != 0) /* before the writer, which ages its sketch */
        return -1;
    tq_init(&ctx->wq);
    tq_init(&ctx->rq);
    ctx->nreaders = (unsigned)option_get_u(&ctx->opts.tier_io_threads);
    if (ctx->nreaders == 0)
        ctx->nreaders = 1;
    ctx->readers = calloc(ctx->nreaders, sizeof(*ctx->readers));
    if (!ctx->readers || pthread_create(&ctx->writer, NULL, tiering_writer_main, ctx) != 0)
        return -1;
    pthread_setname_np(ctx->writer, "csd-tier-write");
    for (unsigned i = 0; i < ctx->nreaders; i++) {
        if (pthread_create(&ctx->readers[i], NULL, tiering_reader_main, ctx) != 0)
            return -1;
        char name[32];
        snprintf(name, sizeof(name), "csd-tier-read%u", i);
        name[15] = '\0'; /* the kernel keeps 15 characters */
        pthread_setname_np(ctx->readers[i], name);
    }
    tiering_hooks_install(ctx);
    if (tiering_mutations_subscribe(ctx) != 0)
        return -1;
    atomic_store(&ctx->active, true);
    log_info("tiers %s; persistence %s", tiering_tiers(), tiering_persist_mode());
    if (ctx->pmode != PERSIST_OFF && restore_start(ctx) != 0)
        return -1;
    return 0;
}

void tiering_teardown(void)
{
    struct tiering *ctx = &the_tiering;
    if (!ctx->tiers[TIX_SSD].name)
        return;
    restore_stop();
    tiering_hooks_remove();
    atomic_store(&ctx->active, false); /* the mutation subscriber ignores changes from now on */
    tq_stop(&ctx->rq);
    for (unsigned i = 0; i < ctx->nreaders; i++)
        pthread_join(ctx->readers[i], NULL);
    free(ctx->readers);
    ctx->readers = NULL;
    tq_stop(&ctx->wq);
    pthread_join(ctx->writer, NULL); /* after it wrote everything queued */
    durable_teardown();
    shed_teardown();
    reclaim_teardown();
    for (int t = 0; t < TIX_TIERS; t++) {
        /* persisted tiers: memtables to files, so the next start replays no log */
        if (ctx->pmode != PERSIST_OFF && ctx->tiers[t].be && !ctx->tiers[t].write_failed)
            tbe_flush(ctx->tiers[t].be);
        tbe_batch_free(ctx->tiers[t].batch);
        tbe_close(ctx->tiers[t].be);
        if (ctx->tiers[t].name)
            pthread_rwlock_destroy(&ctx->tiers[t].lock);
        ctx->tiers[t] = (struct tier){0};
    }
    tiering_streams_teardown(); /* compactions during the close may have added some */
    tiering_gap_teardown();
    tiering_admission_teardown();
    tix_teardown();
}


uint64_t tiering_checksum_errors(void)
{
    return tiering_enabled() ? stat_get(&tiering_ctx()->stats.checksum_errors) : 0;
}
