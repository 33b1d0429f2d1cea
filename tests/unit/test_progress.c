/*  test_progress.c - the progress line's text and durations for people
    (client/progress.c): the units and their boundaries, the rate and the
    ETA before, during and after a run, and a line cut to its buffer.      */

#include "progress.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void
s_expect_duration(uint64_t msec, const char *want)
{
    char buf[BRAID_DURATION_MAX];
    const char *got = braid_progress_duration(buf, sizeof buf, msec);
    assert_ptr_equal(got, buf);
    if (strcmp(got, want) != 0)
        fail_msg("%llu msec: got '%s', want '%s'", (unsigned long long) msec, got, want);
}

static void
test_duration(void **state)
{
    (void) state;
    s_expect_duration(0, "0.0s");
    s_expect_duration(99, "0.0s");
    s_expect_duration(450, "0.4s");
    s_expect_duration(9999, "9.9s");
    s_expect_duration(10000, "10s");
    s_expect_duration(59999, "59s");
    s_expect_duration(60000, "1m00s");
    s_expect_duration(185000, "3m05s");
    s_expect_duration(3599999, "59m59s");
    s_expect_duration(3600000, "1h00m");
    s_expect_duration(7620000, "2h07m");
    s_expect_duration(86399999, "23h59m");
    s_expect_duration(86400000, "1d00h");
    s_expect_duration(274000000, "3d04h");
    s_expect_duration(UINT64_MAX, "213503982334d14h");
}

static void
s_expect_line(uint64_t done, uint64_t total, uint64_t not_ok, uint64_t elapsed, const char *want)
{
    char buf[BRAID_PROGRESS_MAX];
    const char *got = braid_progress_line(buf, sizeof buf, done, total, not_ok, elapsed);
    assert_ptr_equal(got, buf);
    if (strcmp(got, want) != 0)
        fail_msg("got '%s', want '%s'", got, want);
}

static void
test_line(void **state)
{
    (void) state;
    /*  Nothing done (or no time passed): no rate, no ETA.                  */
    s_expect_line(0, 200, 0, 5000, "braid: 0/200 tasks done, 0 not ok, -/s, ETA -");
    s_expect_line(3, 200, 0, 0, "braid: 3/200 tasks done, 0 not ok, -/s, ETA -");
    /*  37 in 3 s: 12.3/s, 163 left: 13.2 s.                                */
    s_expect_line(37, 200, 2, 3000, "braid: 37/200 tasks done, 2 not ok, 12.3/s, ETA 13s");
    /*  Fast runs: whole tasks a second.                                   */
    s_expect_line(5000, 10000, 0, 2000, "braid: 5000/10000 tasks done, 0 not ok, 2500/s, ETA 2.0s");
    /*  Slow ones: minutes and hours.                                       */
    s_expect_line(1, 100, 1, 60000, "braid: 1/100 tasks done, 1 not ok, 0.0/s, ETA 1h39m");
    s_expect_line(200, 200, 20, 4000, "braid: 200/200 tasks done, 20 not ok, 50.0/s, ETA 0.0s");
    /*  The largest run there can be: no overflow.                          */
    s_expect_line(1, 320000000, 0, 604800000,
                  "braid: 1/320000000 tasks done, 0 not ok, 0.0/s, ETA 2239999993d00h");
}

/*  A small buffer gets the start of the line, NUL-terminated.              */
static void
test_cut(void **state)
{
    (void) state;
    char buf[12];
    braid_progress_line(buf, sizeof buf, 1, 2, 0, 10);
    assert_string_equal(buf, "braid: 1/2 ");
    char small[4];
    braid_progress_duration(small, sizeof small, 185000);
    assert_string_equal(small, "3m0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_line),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
