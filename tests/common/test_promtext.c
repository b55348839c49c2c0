/* common/promtext.c on a STATS map made here: the families only a cluster or disk tiers show
 * (repl.<peer>.*, disk_read.<tier>.*), label escaping, and the unit conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "promtext.h"

struct kv {
    const char *k;
    uint64_t u;
};

static char *_format(const struct kv *kv, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, (uint32_t)n + 1);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, kv[i].k, strlen(kv[i].k));
        msgpack_pack_uint64(&pk, kv[i].u);
    }
    msgpack_pack_str_with_body(&pk, "hit_rate", 8);
    msgpack_pack_double(&pk, 0.25);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(prom_write_stats(f, &u.data), 0);
    fclose(f);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return text;
}

static void _has(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\n%s\n", line);
    if (!strstr(text, want) && strncmp(text, want + 1, strlen(want + 1)) != 0)
        fail_msg("missing line: %s\nin:\n%s", line, text);
}

static void test_peer_label_and_units(void **state)
{
    (void)state;
    const struct kv kv[] = {
        {"repl.n2.lag_ms", 1500},       {"repl.n2.sent", 7},         {"repl.n2.out_up", 1},
        {"repl.n2.cert_expiry", 1900000000},
        {"repl.n\"3.sent", 1},          {"repl_backlog_records", 9}, {"repl_backlog_bytes", 10},
        {"persist_lag_ms", 250},        {"uptime_s", 12},            {"bytes_used", 100},
        {"disk_read.ssd.count", 4},     {"disk_read.ssd.p50_us", 100},
        {"disk_read.ssd.p99_us", 2000}, {"disk_read.ssd.p999_us", 3000},
        {"disk_read.ssd.max_us", 4000}, {"disk_read.ssd.sum_us", 6000},
        {"some_new_stat", 3},
    };
    char *t = _format(kv, sizeof(kv) / sizeof(kv[0]));
    _has(t, "# TYPE cacheserverd_repl_lag_seconds gauge");
    _has(t, "cacheserverd_repl_lag_seconds{peer=\"n2\"} 1.5");
    _has(t, "# TYPE cacheserverd_repl_sent_total counter");
    _has(t, "cacheserverd_repl_sent_total{peer=\"n2\"} 7");
    _has(t, "cacheserverd_repl_sent_total{peer=\"n\\\"3\"} 1");
    _has(t, "cacheserverd_repl_out_up{peer=\"n2\"} 1");
    _has(t, "cacheserverd_repl_cert_expiry_timestamp_seconds{peer=\"n2\"} 1900000000");
    _has(t, "cacheserverd_repl_backlog_records_total 9");
    _has(t, "# TYPE cacheserverd_repl_backlog_bytes gauge");
    _has(t, "cacheserverd_persist_lag_seconds 0.25");
    _has(t, "cacheserverd_uptime_seconds 12");
    _has(t, "cacheserverd_used_bytes 100");
    _has(t, "cacheserverd_hit_ratio 0.25");
    _has(t, "# TYPE cacheserverd_disk_read_duration_seconds summary");
    _has(t, "cacheserverd_disk_read_duration_seconds{tier=\"ssd\",quantile=\"0.5\"} 0.0001");
    _has(t, "cacheserverd_disk_read_duration_seconds{tier=\"ssd\",quantile=\"0.999\"} 0.003");
    _has(t, "cacheserverd_disk_read_duration_seconds_sum{tier=\"ssd\"} 0.006");
    _has(t, "cacheserverd_disk_read_duration_seconds_count{tier=\"ssd\"} 4");
    _has(t, "cacheserverd_disk_read_max_duration_seconds{tier=\"ssd\"} 0.004");
    _has(t, "# TYPE cacheserverd_some_new_stat untyped"); /* not guessed a counter */
    assert_null(strstr(t, "_us "));
    assert_null(strstr(t, "_us{"));
    assert_null(strstr(t, "_ms "));
    assert_null(strstr(t, "_ms{"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_peer_label_and_units)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
