/*  test_broker_joblog.c - a job's log (joblog.h): what END's W, B, Q, U and X say
    for a task that never ran, one that ran and ended, one that ran again
    elsewhere, and one whose end was never heard; worker names outlive
    their worker (ASan would see a use after free).                        */

#include "joblog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define S_ACCEPT 10000          /* monotonic msec at the job's accept      */
#define S_WALL 1700000000000    /* wall clock msec at the job's accept     */

static void
test_never_ran(void **state)
{
    (void) state;
    braid_joblog_t *log = braid_joblog_new(4, S_ACCEPT, S_WALL);
    assert_non_null(log);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_END);
    strcpy(msg.worker, "junk");
    msg.queue_msec = msg.run_msec = msg.started_msec = msg.exit_value = 9;
    braid_joblog_describe(log, 2, S_ACCEPT + 500, &msg);
    assert_string_equal(msg.worker, "");
    assert_int_equal(msg.started_msec, 0);
    assert_int_equal(msg.queue_msec, 0);
    assert_int_equal(msg.run_msec, 0);
    assert_int_equal(msg.exit_value, 0);
    /*  An index beyond the job: the same, and nothing recorded.            */
    assert_int_equal(braid_joblog_start(log, 4, NULL, S_ACCEPT), 0);
    braid_joblog_end(log, 4, 3, S_ACCEPT);
    braid_joblog_describe(log, 4, S_ACCEPT, &msg);
    assert_int_equal(msg.started_msec, 0);
    braid_joblog_destroy(&log);
    assert_null(log);
    braid_joblog_destroy(&log);
}

static void
test_ran_and_ended(void **state)
{
    (void) state;
    braid_joblog_t *log = braid_joblog_new(3, S_ACCEPT, S_WALL);
    braid_name_t *w1 = braid_name_new("w1");
    assert_non_null(log);
    assert_non_null(w1);
    assert_int_equal(braid_joblog_start(log, 1, w1, S_ACCEPT + 250), 250);
    braid_joblog_end(log, 1, 137, S_ACCEPT + 1250);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_END);
    braid_joblog_describe(log, 1, S_ACCEPT + 99999, &msg);
    assert_string_equal(msg.worker, "w1");
    assert_int_equal(msg.started_msec, S_WALL + 250);
    assert_int_equal(msg.queue_msec, 250);
    assert_int_equal(msg.run_msec, 1000);
    assert_int_equal(msg.exit_value, 137);
    /*  The worker leaves (its record drops its reference): the log still
        names it.                                                           */
    braid_name_unref(&w1);
    assert_null(w1);
    braid_joblog_describe(log, 1, S_ACCEPT + 99999, &msg);
    assert_string_equal(msg.worker, "w1");
    /*  An exit value beyond the protocol's bound is capped.                */
    braid_name_t *w2 = braid_name_new("w2");
    braid_joblog_start(log, 0, w2, S_ACCEPT);
    braid_joblog_end(log, 0, 5000, S_ACCEPT);
    braid_joblog_describe(log, 0, S_ACCEPT, &msg);
    assert_int_equal(msg.exit_value, BRAID_MAX_EXIT_VALUE);
    assert_int_equal(msg.run_msec, 0);
    braid_name_unref(&w2);
    braid_joblog_destroy(&log);
}

static void
test_ran_again_elsewhere(void **state)
{
    (void) state;
    braid_joblog_t *log = braid_joblog_new(1, S_ACCEPT, S_WALL);
    braid_name_t *w1 = braid_name_new("w1");
    braid_name_t *w2 = braid_name_new("w2");
    assert_non_null(log);
    /*  The first attempt ended (a transient failure), the second ran on
        w2: END tells of the last one only.                                 */
    braid_joblog_start(log, 0, w1, S_ACCEPT + 10);
    braid_joblog_end(log, 0, 75, S_ACCEPT + 20);
    braid_joblog_start(log, 0, w2, S_ACCEPT + 300);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_END);
    /*  Not ended yet (its worker was lost, or it was cancelled): it ran
        until the END went out.                                             */
    braid_joblog_describe(log, 0, S_ACCEPT + 700, &msg);
    assert_string_equal(msg.worker, "w2");
    assert_int_equal(msg.queue_msec, 300);
    assert_int_equal(msg.started_msec, S_WALL + 300);
    assert_int_equal(msg.run_msec, 400);
    assert_int_equal(msg.exit_value, 0);
    braid_joblog_end(log, 0, 0, S_ACCEPT + 350);
    braid_joblog_describe(log, 0, S_ACCEPT + 700, &msg);
    assert_int_equal(msg.run_msec, 50);
    /*  Both workers gone, then the log: every reference is dropped once
        (ASan: no leak, no double free).                                    */
    braid_name_unref(&w1);
    braid_name_unref(&w2);
    braid_joblog_destroy(&log);
}

static void
test_name_cut_to_bound(void **state)
{
    (void) state;
    char long_name[200];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    braid_name_t *n = braid_name_new(long_name);
    assert_non_null(n);
    assert_int_equal(strlen(braid_name_text(n)), BRAID_MAX_NAME);
    /*  Two references: the first unref leaves it, the second frees it.    */
    braid_name_t *again = braid_name_ref(n);
    assert_ptr_equal(again, n);
    braid_name_unref(&n);
    assert_null(n);
    assert_int_equal(strlen(braid_name_text(again)), BRAID_MAX_NAME);
    braid_name_unref(&again);
    /*  NULL refs are fine both ways.                                       */
    assert_null(braid_name_ref(NULL));
    braid_name_unref(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_ran),
        cmocka_unit_test(test_ran_and_ended),
        cmocka_unit_test(test_ran_again_elsewhere),
        cmocka_unit_test(test_name_cut_to_bound),
    };
    return cmocka_run_group_tests_name("joblog", tests, NULL, NULL);
}
