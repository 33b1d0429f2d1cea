/*  test_timers.c - the broker's timer heap: order, due times, growth.      */

#include "timers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static void
test_pops_in_due_order(void **state)
{
    (void) state;
    braid_timers_t *t = braid_timers_new();
    assert_non_null(t);
    assert_int_equal(braid_timers_next(t), INT64_MAX);
    srand(42);
    const int n = 5000;
    for (int i = 0; i < n; i++)
        assert_int_equal(braid_timers_add(t, rand() % 100000, 1, (uint32_t) i, 0), 0);
    assert_int_equal(braid_timers_size(t), n);
    braid_timer_t timer;
    int64_t last = -1;
    int popped = 0;
    while (braid_timers_pop(t, INT64_MAX, &timer)) {
        assert_true(timer.due_msec >= last);
        last = timer.due_msec;
        popped++;
    }
    assert_int_equal(popped, n);
    braid_timers_destroy(&t);
    assert_null(t);
    braid_timers_destroy(&t);
}

static void
test_only_due_timers_pop(void **state)
{
    (void) state;
    braid_timers_t *t = braid_timers_new();
    braid_timers_add(t, 300, 2, 7, 8);
    braid_timers_add(t, 100, 1, 5, 6);
    braid_timers_add(t, 200, 3, 9, 10);
    braid_timer_t timer;
    assert_false(braid_timers_pop(t, 99, &timer));
    assert_int_equal(braid_timers_next(t), 100);
    assert_true(braid_timers_pop(t, 250, &timer));
    assert_int_equal(timer.kind, 1);
    assert_int_equal(timer.a, 5);
    assert_int_equal(timer.b, 6);
    assert_true(braid_timers_pop(t, 250, &timer));
    assert_int_equal(timer.kind, 3);
    assert_false(braid_timers_pop(t, 250, &timer));
    assert_int_equal(braid_timers_next(t), 300);
    braid_timers_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pops_in_due_order),
        cmocka_unit_test(test_only_due_timers_pop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
