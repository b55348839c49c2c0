/* stats, info and config: the admin views. STATS answers a flat map of dotted names
 * (docs/protocol.md); here it becomes a readable table, JSON, or the Prometheus text format. */
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "kvmap.h"
#include "promtext.h"

#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

static void human_bytes(double b, char *buf, size_t n)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

/* Rows of a group ("op." or "ns."): the distinct middle names, in order of first appearance
 * in the sorted map. */
static size_t group_names(const struct kvmap *m, const char *prefix, char names[][96], size_t max)
{
    size_t count = 0, plen = strlen(prefix);
    for (size_t i = 0; i < m->n; i++) {
        const msgpack_object_kv *kv = m->kv[i];
        if (!kvmap_key_starts(kv, prefix))
            continue;
        const char *mid = kv->key.via.str.ptr + plen;
        size_t rest = kv->key.via.str.size - plen;
        const char *dot = memrchr(mid, '.', rest);
        if (!dot)
            continue;
        size_t len = (size_t)(dot - mid);
        if (len >= 96)
            continue;
        if (count > 0 && strlen(names[count - 1]) == len && memcmp(names[count - 1], mid, len) == 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < count && !seen; k++)
            seen = strlen(names[k]) == len && memcmp(names[k], mid, len) == 0;
        if (seen || count == max)
            continue;
        memcpy(names[count], mid, len);
        names[count][len] = '\0';
        count++;
    }
    return count;
}

static double field(const struct kvmap *m, const char *prefix, const char *name, const char *leaf)
{
    char key[256];
    snprintf(key, sizeof(key), "%.16s%.95s.%.32s", prefix, name, leaf);
    const msgpack_object *o = kvmap_get(m, key);
    return o ? kvmap_num(o) : 0;
}

static bool shown_elsewhere(const msgpack_object_kv *kv)
{
    static const char *const top[] = {"items", "bytes_used", "memory_limit", "hits", "misses",
                                      "hit_rate", "evictions", "expirations", "connections",
                                      "connections_total", "connections_refused", "uptime_s"};
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
        if (kvmap_key_is(kv, top[i]))
            return true;
    return kvmap_key_starts(kv, "op.") || kvmap_key_starts(kv, "ns.") || kvmap_key_starts(kv, "ssd_") ||
           kvmap_key_starts(kv, "hdd_") || kvmap_key_starts(kv, "stream_");
}

static double stat_or0(const struct kvmap *m, const char *name)
{
    const msgpack_object *o = kvmap_get(m, name);
    return o ? kvmap_num(o) : 0;
}

/* One row per tier (shown when the server has disk tiers). */
static void tier_table(const struct kvmap *m)
{
    if (!kvmap_get(m, "ssd_items"))
        return;
    printf("\n%-8s %12s %12s %12s %12s %12s\n", "tier", "items", "bytes", "disk bytes", "hits",
           "reads");
    printf("%-8s %12.0f %12.0f %12s %12.0f %12s\n", "memory", stat_or0(m, "items"),
           stat_or0(m, "bytes_used"), "-", stat_or0(m, "hits"), "-");
    static const char *const tiers[] = {"ssd", "hdd"};
    for (size_t t = 0; t < 2; t++) {
        char n[5][32];
        const char *f[] = {"items", "bytes", "disk_bytes", "hits", "reads"};
        for (int i = 0; i < 5; i++)
            snprintf(n[i], sizeof(n[i]), "%s_%s", tiers[t], f[i]);
        if (t == 1 && !stat_or0(m, n[2]))
            continue; /* no HDD tier */
        printf("%-8s %12.0f %12.0f %12.0f %12.0f %12.0f\n", tiers[t], stat_or0(m, n[0]),
               stat_or0(m, n[1]), stat_or0(m, n[2]), stat_or0(m, n[3]), stat_or0(m, n[4]));
    }
    double raw = stat_or0(m, "disk_value_bytes"), stored = stat_or0(m, "disk_stored_bytes");
    printf("moves    %.0f demoted, %.0f skipped (never read), %.0f dropped; %.0f SSD->HDD; "
           "%.0f shed from the last tier; %.0f promoted\n",
           stat_or0(m, "demotions"), stat_or0(m, "demote_skipped"), stat_or0(m, "demote_dropped"),
           stat_or0(m, "hdd_demotions"), stat_or0(m, "tier_evictions"), stat_or0(m, "promotions"));
    printf("disk     compression %.2fx, queue %.0f, errors %.0f, checksum errors %.0f\n",
           stored > 0 ? raw / stored : 1.0, stat_or0(m, "tier_queue_depth"),
           stat_or0(m, "disk_errors"), stat_or0(m, "checksum_errors"));
    printf("streams  %.0f bytes of chunks on disk, %.0f chunks written, %.0f read, %.0f bytes "
           "waiting for the disk\n",
           stat_or0(m, "stream_disk_bytes"), stat_or0(m, "stream_chunks_written"),
           stat_or0(m, "stream_chunk_reads"), stat_or0(m, "stream_backlog_bytes"));
}

static void stats_table(const struct kvmap *m)
{
    char a[32], b[32];
    double used = kvmap_get(m, "bytes_used") ? kvmap_num(kvmap_get(m, "bytes_used")) : 0;
    double limit = kvmap_get(m, "memory_limit") ? kvmap_num(kvmap_get(m, "memory_limit")) : 0;
    double hits = kvmap_get(m, "hits") ? kvmap_num(kvmap_get(m, "hits")) : 0;
    double misses = kvmap_get(m, "misses") ? kvmap_num(kvmap_get(m, "misses")) : 0;
    human_bytes(used, a, sizeof(a));
    human_bytes(limit, b, sizeof(b));
    printf("items        %.0f\n", kvmap_get(m, "items") ? kvmap_num(kvmap_get(m, "items")) : 0);
    printf("memory       %s of %s (%.1f%%)\n", a, b, limit > 0 ? 100 * used / limit : 0);
    printf("hits         %.0f   misses %.0f   hit rate %.1f%%\n", hits, misses,
           hits + misses > 0 ? 100 * hits / (hits + misses) : 0);
    printf("evictions    %.0f   expirations %.0f\n",
           kvmap_get(m, "evictions") ? kvmap_num(kvmap_get(m, "evictions")) : 0,
           kvmap_get(m, "expirations") ? kvmap_num(kvmap_get(m, "expirations")) : 0);
    printf("connections  %.0f open, %.0f total, %.0f refused\n",
           kvmap_get(m, "connections") ? kvmap_num(kvmap_get(m, "connections")) : 0,
           kvmap_get(m, "connections_total") ? kvmap_num(kvmap_get(m, "connections_total")) : 0,
           kvmap_get(m, "connections_refused") ? kvmap_num(kvmap_get(m, "connections_refused")) : 0);
    printf("uptime       %.0f s\n", kvmap_get(m, "uptime_s") ? kvmap_num(kvmap_get(m, "uptime_s")) : 0);
    tier_table(m);

    char names[64][96];
    size_t n = group_names(m, "op.", names, 64);
    if (n) {
        printf("\n%-12s %12s %10s %10s %10s %10s\n", "operation", "count", "p50 us", "p99 us",
               "p99.9 us", "max us");
        for (size_t i = 0; i < n; i++)
            printf("%-12s %12.0f %10.0f %10.0f %10.0f %10.0f\n", names[i],
                   field(m, "op.", names[i], "count"), field(m, "op.", names[i], "p50_us"),
                   field(m, "op.", names[i], "p99_us"), field(m, "op.", names[i], "p999_us"),
                   field(m, "op.", names[i], "max_us"));
    }
    n = group_names(m, "ns.", names, 64);
    if (n) {
        printf("\n%-20s %12s %12s %9s %12s %12s\n", "namespace", "hits", "misses", "hit rate",
               "items", "bytes");
        for (size_t i = 0; i < n; i++) {
            double h = field(m, "ns.", names[i], "hits"), mi = field(m, "ns.", names[i], "misses");
            printf("%-20s %12.0f %12.0f %8.1f%% %12.0f %12.0f\n", names[i], h, mi,
                   h + mi > 0 ? 100 * h / (h + mi) : 0, field(m, "ns.", names[i], "items"),
                   field(m, "ns.", names[i], "bytes"));
        }
    }
    printf("\n");
    for (size_t i = 0; i < m->n; i++) {
        if (shown_elsewhere(m->kv[i]))
            continue;
        printf("%-28.*s ", (int)m->kv[i]->key.via.str.size, m->kv[i]->key.via.str.ptr);
        kvmap_print_plain(&m->kv[i]->val);
        printf("\n");
    }
}

int cli_cmd_stats(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"json", false, NULL}, {"prometheus", false, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("stats", argc, argv, o, NOPTS(o), pos, &np) || np != 0 || (o[0].value && o[1].value))
        return cli_usage("stats");
    struct kvmap m;
    int ret = kvmap_fetch(cli, "stats", cc_stats, &m);
    if (ret != CLI_OK)
        return ret;
    if (o[0].value)
        kvmap_print_json(&m);
    else if (o[1].value)
        prom_write_stats(stdout, &m.u.data);
    else
        stats_table(&m);
    kvmap_free(&m);
    return CLI_OK;
}

int cli_cmd_info(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"json", false, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("info", argc, argv, o, NOPTS(o), pos, &np) || np != 0)
        return cli_usage("info");
    struct kvmap m;
    int ret = kvmap_fetch(cli, "info", cc_info, &m);
    if (ret != CLI_OK)
        return ret;
    if (o[0].value) {
        kvmap_print_json(&m);
    } else {
        for (size_t i = 0; i < m.n; i++) {
            printf("%-24.*s ", (int)m.kv[i]->key.via.str.size, m.kv[i]->key.via.str.ptr);
            kvmap_print_plain(&m.kv[i]->val);
            printf("\n");
        }
    }
    kvmap_free(&m);
    return CLI_OK;
}

int cli_cmd_config(struct cli *cli, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "get") == 0 && argc <= 2) {
        cc_item it = {0};
        int rc = cc_config_get(cli->c, argc == 2 ? argv[1] : "*", &it);
        if (rc != CC_OK)
            return cli_status(cli, "config get", rc);
        struct kvmap m;
        if (kvmap_load(&m, &it))
            return CLI_ERROR;
        for (size_t i = 0; i < m.n; i++) {
            printf("%.*s = ", (int)m.kv[i]->key.via.str.size, m.kv[i]->key.via.str.ptr);
            kvmap_print_plain(&m.kv[i]->val);
            printf("\n");
        }
        int ret = m.n ? CLI_OK : CLI_MISS;
        if (!m.n)
            fprintf(stderr, "(no option matches)\n");
        kvmap_free(&m);
        return ret;
    }
    if (argc == 3 && strcmp(argv[0], "set") == 0) {
        int rc = cc_config_set(cli->c, argv[1], argv[2]);
        if (rc != CC_OK)
            return cli_status(cli, "config set", rc);
        printf("OK\n");
        return CLI_OK;
    }
    return cli_usage("config");
}
