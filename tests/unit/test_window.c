/*  test_window.c - the broker's sliding windows (window.h): percentiles by
    nearest rank, samples falling out by count and by age, the rate over
    the last minute, and the cumulative histogram Prometheus reads.        */

#include "window.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static const double s_ps[] = {50, 90, 99, 100, 0};

static void
test_empty_window(void **state)
{
    (void) state;
    braid_window_t *w = braid_window_new();
    assert_non_null(w);
    uint64_t out[5] = {7, 7, 7, 7, 7};
    assert_int_equal(braid_window_percentiles(w, 1000, s_ps, out, 5), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(out[i], 0);
    braid_window_destroy(&w);
    assert_null(w);
    braid_window_destroy(&w);   /* NULL-safe */
}

static void
test_nearest_rank(void **state)
{
    (void) state;
    braid_window_t *w = braid_window_new();
    assert_non_null(w);
    /*  1..100 added out of order: p50 is 50, p90 90, p99 99, p100 100,
        p0 the smallest.                                                    */
    for (int i = 0; i < 100; i++)
        braid_window_add(w, 5000, (uint64_t) ((i * 37) % 100 + 1));
    uint64_t out[5];
    assert_int_equal(braid_window_percentiles(w, 5000, s_ps, out, 5), 100);
    assert_int_equal(out[0], 50);
    assert_int_equal(out[1], 90);
    assert_int_equal(out[2], 99);
    assert_int_equal(out[3], 100);
    assert_int_equal(out[4], 1);
    /*  One sample: every percentile is it.                                 */
    braid_window_t *one = braid_window_new();
    assert_non_null(one);
    braid_window_add(one, 0, 42);
    assert_int_equal(braid_window_percentiles(one, 0, s_ps, out, 5), 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(out[i], 42);
    /*  A value beyond 32 bits is capped, not wrapped.                      */
    braid_window_add(one, 0, UINT64_MAX);
    assert_int_equal(braid_window_percentiles(one, 0, s_ps + 3, out, 1), 2);
    assert_int_equal(out[0], UINT32_MAX);
    braid_window_destroy(&one);
    braid_window_destroy(&w);
}

static void
test_oldest_fall_out_by_count(void **state)
{
    (void) state;
    braid_window_t *w = braid_window_new();
    assert_non_null(w);
    /*  Three windows' worth of samples: only the latest
        BRAID_WINDOW_SAMPLES count, all of them at least 1000000.           */
    for (int i = 0; i < 3 * BRAID_WINDOW_SAMPLES; i++)
        braid_window_add(w, 100, i < 2 * BRAID_WINDOW_SAMPLES ? 1 : 1000000 + (uint64_t) i);
    uint64_t out[5];
    assert_int_equal(braid_window_percentiles(w, 100, s_ps, out, 5), BRAID_WINDOW_SAMPLES);
    assert_int_equal(out[4], 1000000 + 2 * BRAID_WINDOW_SAMPLES);
    assert_int_equal(out[3], 1000000 + 3 * BRAID_WINDOW_SAMPLES - 1);
    braid_window_destroy(&w);
}

static void
test_oldest_fall_out_by_age(void **state)
{
    (void) state;
    braid_window_t *w = braid_window_new();
    assert_non_null(w);
    /*  A slow minute long ago, then a fast one: only the fast one counts,
        and once it is a minute old too, nothing does.                      */
    for (int i = 0; i < 10; i++)
        braid_window_add(w, 1000 + i, 5000);
    int64_t later = 1000 + 10 * BRAID_WINDOW_MSEC;
    for (int i = 0; i < 10; i++)
        braid_window_add(w, later + i, 3);
    uint64_t out[5];
    assert_int_equal(braid_window_percentiles(w, later + 10, s_ps, out, 5), 10);
    assert_int_equal(out[3], 3);
    /*  The edge: a sample exactly BRAID_WINDOW_MSEC old still counts.      */
    assert_int_equal(braid_window_percentiles(w, later + 9 + BRAID_WINDOW_MSEC, s_ps, out, 5), 1);
    assert_int_equal(braid_window_percentiles(w, later + 10 + BRAID_WINDOW_MSEC, s_ps, out, 5),
                     0);
    assert_int_equal(out[0], 0);
    braid_window_destroy(&w);
}

static void
test_rate(void **state)
{
    (void) state;
    braid_rate_t r;
    braid_rate_init(&r);
    assert_true(braid_rate_per_second(&r, 5000) == 0);
    /*  10 events in each of the seconds 100..109: over those 10 seconds,
        10 per second.                                                      */
    for (int64_t sec = 100; sec < 110; sec++)
        braid_rate_add(&r, sec * 1000 + 500, 10);
    double rate = braid_rate_per_second(&r, 109999);
    assert_true(rate > 9.99 && rate < 10.01);
    /*  In second 159 the window (the 60 seconds 100..159) still holds all
        100 events, spread over the minute; in second 160 second 100 has
        left it; two minutes on, nothing is left.                           */
    rate = braid_rate_per_second(&r, 159999);
    assert_true(rate > 100.0 / 60 - 0.01 && rate < 100.0 / 60 + 0.01);
    rate = braid_rate_per_second(&r, 160000);
    assert_true(rate > 90.0 / 60 - 0.01 && rate < 90.0 / 60 + 0.01);
    assert_true(braid_rate_per_second(&r, 230000) == 0);
    /*  Second 160 reuses second 100's bucket: it starts again from zero.   */
    braid_rate_add(&r, 160500, 6);
    rate = braid_rate_per_second(&r, 160999);
    assert_true(rate > 96.0 / 60 - 0.01 && rate < 96.0 / 60 + 0.01);
}

static void
test_histogram(void **state)
{
    (void) state;
    braid_hist_t h = {0};
    /*  A value equal to a bound falls in that bound's bucket (le).         */
    braid_hist_add(&h, 0);
    braid_hist_add(&h, 1);
    braid_hist_add(&h, 2);
    braid_hist_add(&h, 1000);
    braid_hist_add(&h, 300000);
    braid_hist_add(&h, 300001);
    assert_int_equal(h.count, 6);
    assert_int_equal(h.sum_msec, 0 + 1 + 2 + 1000 + 300000 + 300001);
    assert_int_equal(braid_hist_bounds_msec[0], 1);
    assert_int_equal(braid_hist_cumulative(&h, 0), 2);     /* le 0.001 */
    assert_int_equal(braid_hist_cumulative(&h, 1), 3);     /* le 0.005 */
    assert_int_equal(braid_hist_cumulative(&h, 8), 4);     /* le 1     */
    assert_int_equal(braid_hist_bounds_msec[BRAID_HIST_BUCKETS - 2], 300000);
    assert_int_equal(braid_hist_cumulative(&h, BRAID_HIST_BUCKETS - 2), 5);
    assert_int_equal(braid_hist_cumulative(&h, BRAID_HIST_BUCKETS - 1), 6);  /* +Inf */
    /*  Cumulative counts never fall.                                       */
    for (size_t b = 1; b < BRAID_HIST_BUCKETS; b++)
        assert_true(braid_hist_cumulative(&h, b) >= braid_hist_cumulative(&h, b - 1));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_window),
        cmocka_unit_test(test_nearest_rank),
        cmocka_unit_test(test_oldest_fall_out_by_count),
        cmocka_unit_test(test_oldest_fall_out_by_age),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
