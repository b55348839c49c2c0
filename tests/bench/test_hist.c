/* The benchmark's histogram: bucket edges keep every value within 1%, percentiles of known
 * distributions come out right, and merging equals recording into one histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "hist.h"

static void test_bucket_precision(void **state)
{
    (void)state;
    for (uint64_t v = 1; v < (1ull << 35); v = v * 3 / 2 + 1) {
        uint32_t i = bench_hist_index(v);
        uint64_t hi = bench_hist_bucket_high(i);
        assert_true(hi >= v);                          /* never reports below the value */
        assert_true((double)(hi - v) <= (double)v / 128.0 + 1); /* within 1/128 */
        assert_true(i < BENCH_HIST_BUCKETS);
        if (i > 0)
            assert_true(bench_hist_bucket_high(i - 1) < v);  /* and v is in no lower bucket */
    }
}

static void test_percentiles_of_uniform_values(void **state)
{
    (void)state;
    static struct hist h;
    bench_hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        bench_hist_record(&h, v * 1000); /* 1 us .. 100 ms */
    assert_int_equal(h.h.count, 100000);
    double p50 = (double)bench_hist_percentile(&h, 50);
    double p99 = (double)bench_hist_percentile(&h, 99);
    assert_true(p50 >= 50000e3 && p50 <= 50000e3 * 1.01);
    assert_true(p99 >= 99000e3 && p99 <= 99000e3 * 1.01);
    assert_int_equal(bench_hist_percentile(&h, 100), 100000000);
    assert_int_equal(hist_min(&h.h), 1000);
}

static void test_merge_equals_single(void **state)
{
    (void)state;
    static struct hist a, b, all;
    bench_hist_init(&a);
    bench_hist_init(&b);
    bench_hist_init(&all);
    srand(7);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = (uint64_t)rand() % 10000000;
        bench_hist_record(i % 2 ? &a : &b, v);
        bench_hist_record(&all, v);
    }
    bench_hist_merge(&a, &b);
    for (double p = 0; p <= 100; p += 0.5)
        assert_int_equal(bench_hist_percentile(&a, p), bench_hist_percentile(&all, p));
    assert_int_equal(a.h.max, all.h.max);
}

static void test_empty_and_huge(void **state)
{
    (void)state;
    static struct hist h;
    bench_hist_init(&h);
    assert_int_equal(bench_hist_percentile(&h, 99), 0);
    bench_hist_record(&h, UINT64_MAX); /* clamped into the last bucket, max kept exactly */
    assert_int_equal(bench_hist_percentile(&h, 100), UINT64_MAX);
    assert_true(bench_hist_percentile(&h, 50) >= (1ull << 35));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_precision),
        cmocka_unit_test(test_percentiles_of_uniform_values),
        cmocka_unit_test(test_merge_equals_single),
        cmocka_unit_test(test_empty_and_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
