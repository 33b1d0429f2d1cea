/*  test_num.c - the shared unsigned-integer parser.                        */

#include "braid_num.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/*  Texts every program must refuse, whatever the range.                    */
static void
test_refused_texts(void **state)
{
    (void) state;
    const char *bad[] = {"",     " 1",  "1 ",  "+1",  "-1",  "-0",   "0x10", "1e3", "1.0",
                         "1,000", "\t7", "7\n", "abc", "1a",  "a1",   "٣",   "18446744073709551616",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 42;
        assert_int_equal(braid_parse_u64(bad[i], 0, UINT64_MAX, &v), -1);
        assert_int_equal(v, 42);    /* untouched on failure                */
    }
    uint64_t v = 42;
    assert_int_equal(braid_parse_u64(NULL, 0, UINT64_MAX, &v), -1);
    assert_int_equal(v, 42);
}

static void
test_accepted_texts(void **state)
{
    (void) state;
    const struct {
        const char *text;
        uint64_t value;
    } ok[] = {{"0", 0}, {"7", 7}, {"007", 7}, {"604800000", 604800000ull},
              {"18446744073709551615", UINT64_MAX}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        assert_int_equal(braid_parse_u64(ok[i].text, 0, UINT64_MAX, &v), 0);
        assert_true(v == ok[i].value);
    }
}

/*  The bounds are inclusive, and outside them is an error, not a clamp.    */
static void
test_range(void **state)
{
    (void) state;
    uint64_t v = 0;
    assert_int_equal(braid_parse_u64("1", 1, 10, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(braid_parse_u64("10", 1, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(braid_parse_u64("0", 1, 10, &v), -1);
    assert_int_equal(braid_parse_u64("11", 1, 10, &v), -1);
    assert_int_equal(v, 10);

    uint32_t w = 5;
    assert_int_equal(braid_parse_u32("4294967295", 0, UINT32_MAX, &w), 0);
    assert_true(w == UINT32_MAX);
    assert_int_equal(braid_parse_u32("4294967296", 0, UINT32_MAX, &w), -1);
    assert_int_equal(braid_parse_u32("65536", 1, 65535, &w), -1);
    assert_int_equal(braid_parse_u32("", 0, 65535, &w), -1);
    assert_true(w == UINT32_MAX);
}

/*  A number inside a longer string: only len bytes count.                  */
static void
test_len(void **state)
{
    (void) state;
    uint64_t v = 0;
    assert_int_equal(braid_parse_u64_len("12x", 2, 0, 100, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(braid_parse_u64_len("12x", 3, 0, 100, &v), -1);
    assert_int_equal(braid_parse_u64_len("12", 0, 0, 100, &v), -1);
    assert_int_equal(v, 12);
}

/*  Durations: a unit or none (msec), a fraction only with a unit, whole
    msec only, within the bounds.                                           */
static void
test_msec(void **state)
{
    (void) state;
    const struct {
        const char *text;
        uint32_t msec;
    } ok[] = {{"0", 0},          {"250", 250},     {"250ms", 250},  {"5s", 5000},
              {"1.5s", 1500},    {"1.50s", 1500},  {"0.001s", 1},   {"2m", 120000},
              {"0.5m", 30000},   {"0s", 0},        {"007s", 7000},  {"10080m", 604800000u}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint32_t v = 1;
        if (braid_parse_msec(ok[i].text, 0, 604800000u, &v) != 0)
            fail_msg("'%s' refused", ok[i].text);
        if (v != ok[i].msec)
            fail_msg("'%s' = %u, want %u", ok[i].text, v, ok[i].msec);
    }
    const char *bad[] = {"",    "s",    "ms",   " 5s",  "5 s",   "5S",     "5sec",  "-1s",
                         "1h",  ".5s",  "5.s",  "1.5",  "1.5ms", "0.0001s", "1e3",  "5s ",
                         "1..5s", "10081m", "604800001", "99999999999999999999s",
                         "0.00000000000000000000001m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t v = 42;
        if (braid_parse_msec(bad[i], 0, 604800000u, &v) != -1)
            fail_msg("'%s' accepted as %u", bad[i], v);
        assert_int_equal(v, 42);
    }
    uint32_t v = 42;
    assert_int_equal(braid_parse_msec(NULL, 0, 10, &v), -1);
    assert_int_equal(braid_parse_msec("0s", 1, 10, &v), -1);     /* below min */
    assert_int_equal(braid_parse_msec("1s", 1, 1000, &v), 0);
    assert_int_equal(v, 1000);
}

/*  Decimals: finite and bounded, or refused; never nan, inf, hex or a
    value that would overflow a later division.                            */
static void
test_decimal(void **state)
{
    (void) state;
    const struct {
        const char *text;
        double value;
    } ok[] = {{"0", 0}, {"10", 10}, {"2.5", 2.5}, {".5", 0.5}, {"2.", 2}, {"1e3", 1000},
              {"1E-2", 0.01}, {"0.001", 0.001}, {"1e+2", 100}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -1;
        assert_int_equal(braid_parse_decimal(ok[i].text, 0, 1e9, &v), 0);
        assert_true(v == ok[i].value);
    }
    const char *bad[] = {"", ".", "e3", "1e", "1e+", "-1", "+1", " 1", "1 ", "nan", "NaN",
                         "inf", "infinity", "0x10", "1,5", "1.2.3", "1e999", "1e-300"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 42;
        /*  1e-300 is finite but under the minimum a rate may have.         */
        assert_int_equal(braid_parse_decimal(bad[i], 0.001, 1e9, &v), -1);
        assert_true(v == 42);
    }
    double v = 42;
    assert_int_equal(braid_parse_decimal("1e10", 0, 1e9, &v), -1);
    assert_int_equal(braid_parse_decimal(NULL, 0, 1e9, &v), -1);
    assert_true(v == 42);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_texts),
        cmocka_unit_test(test_accepted_texts),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_len),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_msec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
