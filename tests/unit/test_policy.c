/*  test_policy.c - source limits (semaphore, token bucket) and backoff.    */

#include "policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void
test_max_concurrent_is_a_semaphore(void **state)
{
    (void) state;
    braid_policy_t p;
    braid_policy_defaults(&p);
    p.max_concurrent = 3;
    braid_limiter_t lim;
    braid_limiter_init(&lim, &p, 0);
    for (int i = 0; i < 3; i++) {
        assert_true(braid_limiter_allows(&lim, 0));
        braid_limiter_start(&lim);
    }
    assert_false(braid_limiter_allows(&lim, 0));
    braid_limiter_stop(&lim);
    assert_true(braid_limiter_allows(&lim, 0));
}

static void
test_token_bucket_rate(void **state)
{
    (void) state;
    braid_policy_t p;
    braid_policy_defaults(&p);
    p.rate = 10;    /* one token per 100 ms */
    p.burst = 2;
    braid_limiter_t lim;
    braid_limiter_init(&lim, &p, 1000);
    /*  The bucket starts full: a burst of 2, then nothing.                 */
    int started = 0;
    while (braid_limiter_allows(&lim, 1000) && started < 10) {
        braid_limiter_start(&lim);
        braid_limiter_stop(&lim);
        started++;
    }
    assert_int_equal(started, 2);
    assert_int_equal(braid_limiter_next_msec(&lim, 1000), 1100);
    assert_false(braid_limiter_allows(&lim, 1099));
    assert_true(braid_limiter_allows(&lim, 1100));
    /*  Over one simulated second at most rate + burst starts.              */
    braid_limiter_init(&lim, &p, 0);
    started = 0;
    for (int64_t now = 0; now <= 1000; now++)
        while (braid_limiter_allows(&lim, now)) {
            braid_limiter_start(&lim);
            braid_limiter_stop(&lim);
            started++;
        }
    assert_true(started >= 11 && started <= 12);
}

static void
test_backoff_doubles_with_jitter_under_cap(void **state)
{
    (void) state;
    braid_policy_t p;
    braid_policy_defaults(&p);
    p.backoff_msec = 100;
    p.backoff_max_msec = 1000;
    assert_int_equal(braid_policy_backoff(&p, 1, 0.999999), 99);
    assert_int_equal(braid_policy_backoff(&p, 2, 0.999999), 199);
    assert_int_equal(braid_policy_backoff(&p, 3, 0.5), 200);
    assert_int_equal(braid_policy_backoff(&p, 10, 0.999999), 999);
    assert_int_equal(braid_policy_backoff(&p, 40, 0.0), 0);
}

static void
test_on_retry_names(void **state)
{
    (void) state;
    assert_int_equal(braid_on_retry_parse("resume"), BRAID_ON_RETRY_RESUME);
    assert_int_equal(braid_on_retry_parse("restart"), BRAID_ON_RETRY_RESTART);
    assert_int_equal(braid_on_retry_parse("fail"), BRAID_ON_RETRY_FAIL);
    assert_int_equal(braid_on_retry_parse("again"), -1);
    assert_string_equal(braid_on_retry_name(BRAID_ON_RETRY_RESTART), "restart");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_concurrent_is_a_semaphore),
        cmocka_unit_test(test_token_bucket_rate),
        cmocka_unit_test(test_backoff_doubles_with_jitter_under_cap),
        cmocka_unit_test(test_on_retry_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
