/* The shared histogram (common/histogram.h) as the server uses it: a zeroed one is ready at
 * the default precision, threads record into one histogram at once, reset keeps the
 * precision, and histograms of different precisions refuse to merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "histogram.h"

static void test_zeroed_is_default_precision(void **state)
{
    (void)state;
    static struct histogram h; /* static storage, never hist_init'ed: like STATS' */
    assert_int_equal(hist_sub_bits(&h), HIST_DEFAULT_SUB_BITS);
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_int_equal(hist_min(&h), UINT64_MAX);
    for (uint64_t v = 1; v < (1ull << 39); v = v * 5 / 4 + 1) {
        uint32_t i = hist_index(HIST_DEFAULT_SUB_BITS, v);
        uint64_t hi = hist_bucket_high(HIST_DEFAULT_SUB_BITS, i);
        assert_true(i < HIST_NBUCKETS(HIST_DEFAULT_SUB_BITS));
        assert_true(hi >= v && (double)(hi - v) <= (double)v / 16.0 + 1);
        if (i > 0)
            assert_true(hist_bucket_high(HIST_DEFAULT_SUB_BITS, i - 1) < v);
    }
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(&h, v);
    assert_int_equal(h.count, 1000);
    assert_int_equal(h.max, 1000);
    assert_int_equal(hist_min(&h), 1);
    uint64_t p50 = hist_percentile(&h, 50), p999 = hist_percentile(&h, 99.9);
    assert_true(p50 >= 500 && p50 <= 500 + 500 / 16 + 1);
    assert_true(p999 >= 999 && p999 <= 1000);
    assert_int_equal(hist_percentile(&h, 100), 1000);
}

static void test_init_precision(void **state)
{
    (void)state;
    static struct histogram h;
    assert_int_equal(hist_init(&h, 0), -1);
    assert_int_equal(hist_init(&h, HIST_MAX_SUB_BITS + 1), -1);
    for (unsigned bits = 1; bits <= HIST_MAX_SUB_BITS; bits++) {
        assert_int_equal(hist_init(&h, bits), 0);
        assert_int_equal(hist_sub_bits(&h), bits);
        hist_record(&h, 12345);
        hist_record(&h, UINT64_MAX); /* clamped into the last bucket */
        assert_int_equal(hist_index(bits, UINT64_MAX), HIST_NBUCKETS(bits) - 1);
        uint64_t p = hist_percentile(&h, 50);
        assert_true(p >= 12345 && (double)(p - 12345) <= 12345.0 / (double)(1u << bits) + 1);
        assert_int_equal(hist_percentile(&h, 100), UINT64_MAX);
    }
}

static void test_reset_and_merge(void **state)
{
    (void)state;
    static struct histogram fine, coarse, other;
    hist_init(&fine, 7);
    hist_record(&fine, 99);
    hist_reset(&fine);
    assert_int_equal(fine.count, 0);
    assert_int_equal(hist_sub_bits(&fine), 7);
    assert_int_equal(hist_min(&fine), UINT64_MAX);
    hist_record(&fine, 5);
    hist_record(&coarse, 7); /* zeroed: the default precision */
    assert_int_equal(hist_merge(&fine, &coarse), -1);
    assert_int_equal(fine.count, 1);
    hist_record(&other, 3);
    assert_int_equal(hist_merge(&coarse, &other), 0);
    assert_int_equal(coarse.count, 2);
    assert_int_equal(hist_min(&coarse), 3);
    assert_int_equal(coarse.max, 7);
}

#define THREADS 4
#define PER_THREAD 200000
static struct histogram shared;

static void *_recorder(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < PER_THREAD; i++)
        hist_record(&shared, base + i % 5000);
    return NULL;
}

static void test_concurrent_recorders(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, _recorder, (void *)(i * 10000 + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t total = 0;
    for (uint32_t i = 0; i < HIST_NBUCKETS(HIST_DEFAULT_SUB_BITS); i++)
        total += shared.buckets[i];
    assert_int_equal(shared.count, (uint64_t)THREADS * PER_THREAD);
    assert_int_equal(total, (uint64_t)THREADS * PER_THREAD);
    assert_int_equal(shared.max, (THREADS - 1) * 10000 + 1 + 4999);
    assert_int_equal(hist_min(&shared), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zeroed_is_default_precision),
        cmocka_unit_test(test_init_precision),
        cmocka_unit_test(test_reset_and_merge),
        cmocka_unit_test(test_concurrent_recorders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
